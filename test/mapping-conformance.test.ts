import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatConformance, type ConformanceResult } from '../src/mapping/conformance/conformance-run.ts';
import { corpusRoot, type CorpusSource } from '../src/mapping/conformance/corpus-sources.ts';
import { mappingConformance, problemLines } from '../scripts/mapping-conformance.ts';

/**
 * Conformance of HL7 v2 -> FHIR over the public corpus (issue 4, "Proof"): every message of a
 * supported type converts, every bundle passes structural validation, and the facts matched
 * against each source's expected bundles do not fall below what was last measured (update the
 * floors upward as the mapping improves; docs/mapping.md explains the remaining differences).
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Matched facts per source at the last measurement, less a small margin.
const MATCHED_FLOOR: Readonly<Record<CorpusSource, number>> = {
  'microsoft-fhir-converter': 2400,
  reportstream: 1350,
  'v2-to-fhir-ig': 38,
};

// Messages that are expected to fail conversion, with why (a located SwitchboardError, never a crash).
const EXPECTED_ERRORS: ReadonlyMap<string, string> = new Map();

interface Run {
  readonly result: ConformanceResult;
  readonly validated: boolean;
  readonly skipReason?: string;
}

let cached: Run | undefined;

/** Runs scripts/mapping-conformance.ts once for all the tests below. */
function run(): Run {
  if (cached !== undefined) return cached;
  // The brief of this test: validation only once src/fhir/fhir-validator.ts exists.
  const validatorThere = existsSync(path.join(repoRoot, 'src/fhir/fhir-validator.ts'));
  const r = mappingConformance({ validate: validatorThere });
  if (r === undefined) throw new Error('corpus vanished during the run');
  cached = { result: r.result, validated: validatorThere, ...(validatorThere ? {} : { skipReason: 'src/fhir/fhir-validator.ts does not exist yet' }) };
  return cached;
}

const corpusMissing = (): string | undefined => (existsSync(path.join(corpusRoot(repoRoot), 'hl7v2')) ? undefined : `corpus not found at ${corpusRoot(repoRoot)} (set SWITCHBOARD_CORPUS)`);

void test('corpus conformance: tables per source', (t) => {
  const missing = corpusMissing();
  if (missing !== undefined) return t.skip(missing);
  const { result } = run();
  for (const line of [...formatConformance(result).split('\n'), ...problemLines(result, false)]) t.diagnostic(line);
  assert.equal(result.sources.length, 3);
  for (const s of result.sources) assert.ok(s.messages > 0, `${s.source}: no messages found`);
});

void test('corpus conformance: every parsed message of a supported type converts without an error', (t) => {
  const missing = corpusMissing();
  if (missing !== undefined) return t.skip(missing);
  const { result } = run();
  const failed = result.outcomes.filter((o) => o.status === 'error' && !EXPECTED_ERRORS.has(`${o.source}/${o.id}`));
  assert.deepEqual(
    failed.map((o) => `${o.source}/${o.id}#${o.message} ${o.messageType}: ${o.error ?? ''}`),
    [],
  );
  // The corpus pairs are all valid ER7: none may fail to parse.
  assert.deepEqual(
    result.outcomes.filter((o) => o.status === 'unparsed').map((o) => `${o.source}/${o.id}: ${o.error ?? ''}`),
    [],
  );
});

void test('corpus conformance: every produced bundle passes FHIR R4 structural validation', (t) => {
  const missing = corpusMissing();
  if (missing !== undefined) return t.skip(missing);
  const { result, validated, skipReason } = run();
  if (!validated) return t.skip(skipReason ?? 'no validator');
  const invalid = result.outcomes.filter((o) => o.invalid !== undefined);
  assert.deepEqual(
    invalid.map((o) => `${o.source}/${o.id}#${o.message} ${o.messageType}: ${(o.invalid ?? []).slice(0, 3).map((i) => `${i.expression}: ${i.diagnostics}`).join('; ')}`),
    [],
  );
  assert.ok(
    result.outcomes.some((o) => o.status === 'converted'),
    'nothing converted, so nothing was validated',
  );
});

void test('corpus conformance: matched facts per source do not regress', (t) => {
  const missing = corpusMissing();
  if (missing !== undefined) return t.skip(missing);
  const { result } = run();
  for (const s of result.sources) {
    t.diagnostic(`${s.source}: ${s.matched} facts matched (floor ${MATCHED_FLOOR[s.source]})`);
    assert.ok(s.matched >= MATCHED_FLOOR[s.source], `${s.source}: ${s.matched} facts matched, below the floor of ${MATCHED_FLOOR[s.source]}`);
  }
});
