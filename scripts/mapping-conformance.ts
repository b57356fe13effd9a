// `node --import tsx scripts/mapping-conformance.ts [--details] [--source NAME]`: converts every
// corpus message with an expected FHIR bundle (see src/mapping/conformance/corpus-sources.ts) and
// prints, per source, messages / converted / errors and the facts matched, differing and missing,
// then the fact kinds that differ most. `--details` lists each message's differences (codes, keys
// and values from the public corpus: test data, not PHI). test/mapping-conformance.test.ts runs
// the same through `mappingConformance`.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { validateBundle } from '../src/fhir/fhir-validator.ts';
import { formatConformance, runConformance, type BundleValidation, type ConformanceResult } from '../src/mapping/conformance/conformance-run.ts';
import { CORPUS_SOURCES, corpusRoot, type CorpusSource } from '../src/mapping/conformance/corpus-sources.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface MappingConformanceOptions {
  readonly sources?: readonly CorpusSource[];
  /** Validate each produced bundle (FHIR R4 structure); default true. */
  readonly validate?: boolean;
}

/** Runs the conformance over the corpus; undefined when the corpus is absent. */
export function mappingConformance(options: MappingConformanceOptions = {}): { root: string; result: ConformanceResult } | undefined {
  const root = corpusRoot(repoRoot);
  if (!existsSync(path.join(root, 'hl7v2'))) return undefined;
  const result = runConformance({
    corpusRoot: root,
    ...(options.validate === false ? {} : { validate: (b): BundleValidation => validateBundle(b) }),
    ...(options.sources !== undefined ? { sources: options.sources } : {}),
  });
  return { root, result };
}

/** The lines printed after the tables: conversion errors and invalid bundles, then per-message differences. */
export function problemLines(result: ConformanceResult, details: boolean): string[] {
  const lines: string[] = [];
  const problems = result.outcomes.filter((o) => o.status === 'error' || o.status === 'unparsed' || o.invalid !== undefined);
  if (problems.length > 0) {
    lines.push('', 'conversion errors and invalid bundles:');
    for (const o of problems) {
      const what = o.error ?? (o.invalid ?? []).slice(0, 3).map((i) => `${i.expression}: ${i.diagnostics}`).join('; ');
      lines.push(`  ${o.source}/${o.id}#${o.message} ${o.messageType} ${o.status}${o.invalid !== undefined ? ' invalid' : ''}: ${what}`);
    }
  }
  if (!details) return lines;
  for (const o of result.outcomes) {
    const c = o.comparison;
    if (c === undefined || c.differing.length + c.missing.length + c.extra.length === 0) continue;
    lines.push('', `${o.source}/${o.id} ${o.messageType}: matched ${c.matched}`);
    for (const d of c.differing) lines.push(`  differ  ${d.kind}[${d.key}] expected ${d.expected ?? ''} ours ${d.ours ?? ''}`);
    for (const d of c.missing) lines.push(`  missing ${d.kind}[${d.key}] ${d.expected ?? ''}`);
    for (const d of c.extra) lines.push(`  extra   ${d.kind}[${d.key}] ${d.ours ?? ''}`);
  }
  return lines;
}

function main(): void {
  const args = process.argv.slice(2);
  const at = args.indexOf('--source');
  const only = at === -1 ? undefined : args[at + 1];
  if (only !== undefined && !(CORPUS_SOURCES as readonly string[]).includes(only)) {
    console.error(`unknown source ${only} (${CORPUS_SOURCES.join(', ')})`);
    process.exit(2);
  }
  const run = mappingConformance(only !== undefined ? { sources: [only as CorpusSource] } : {});
  if (run === undefined) {
    console.error(`corpus not found at ${corpusRoot(repoRoot)} (set SWITCHBOARD_CORPUS)`);
    process.exit(2);
  }
  console.log(formatConformance(run.result));
  for (const line of problemLines(run.result, args.includes('--details'))) console.log(line);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
