import { readFileSync } from 'node:fs';
import type { Bundle } from '@medplum/fhirtypes';
import { isSwitchboardError } from '../../core/errors.ts';
import { parseBatch, type Hl7Message } from '../../hl7v2/index.ts';
import type { TenantMappingConfig } from '../tenant-config.ts';
import { convertV2ToFhir, mapperFor } from '../v2-to-fhir.ts';
import { extractFacts, FactKind, type Fact } from './bundle-facts.ts';
import { CORPUS_SOURCES, corpusCases, type CorpusCase, type CorpusSource } from './corpus-sources.ts';
import { compareFacts, type FactComparison } from './fact-compare.ts';
import { fhirXmlToJson } from './fhir-xml.ts';

/** What a structural validator returns (src/fhir/fhir-validator.ts validateBundle has this shape). */
export interface BundleValidation {
  readonly valid: boolean;
  readonly issues: ReadonlyArray<{ readonly severity: string; readonly expression: string; readonly diagnostics: string }>;
}

export interface ConformanceOptions {
  readonly corpusRoot: string;
  readonly tenant?: TenantMappingConfig;
  /** Structural validation of each produced bundle; skipped when absent. */
  readonly validate?: (bundle: Bundle) => BundleValidation;
  /** Only these sources (default: all). */
  readonly sources?: readonly CorpusSource[];
}

export type CaseStatus = 'converted' | 'unsupported' | 'error' | 'unparsed';

export interface CaseOutcome {
  readonly source: CorpusSource;
  readonly id: string;
  /** Message index in the file (1-based; files rarely hold more than one). */
  readonly message: number;
  /** MSH-9 as sent, e.g. `ORU^R01`. */
  readonly messageType: string;
  readonly status: CaseStatus;
  /** The error's stable code and located message (no field values) when status is error or unparsed. */
  readonly error?: string;
  /** Fact comparison, for the first message of a file that has an expected bundle. */
  readonly comparison?: FactComparison;
  /** Validation issues of the produced bundle (errors only). */
  readonly invalid?: BundleValidation['issues'];
}

export interface KindTally {
  matched: number;
  differing: number;
  missing: number;
  extra: number;
}

export interface SourceSummary {
  readonly source: CorpusSource;
  messages: number;
  converted: number;
  unsupported: number;
  errors: number;
  unparsed: number;
  /** Messages compared with an expected bundle. */
  compared: number;
  matched: number;
  differing: number;
  missing: number;
  extra: number;
  /** Bundles that failed structural validation (undefined when no validator was given). */
  invalidBundles: number | undefined;
  readonly kinds: Map<FactKind, KindTally>;
}

export interface ConformanceResult {
  readonly outcomes: readonly CaseOutcome[];
  readonly sources: readonly SourceSummary[];
}

/** Reads an expected bundle: JSON, or FHIR XML (one IG sample is XML under a .json name). */
export function readExpectedBundle(file: string): unknown {
  const text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  return text.trimStart().startsWith('<') ? fhirXmlToJson(text) : JSON.parse(text);
}

function describe(e: unknown): string {
  if (isSwitchboardError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

const FIXED_NOW = (): Date => new Date('2024-01-01T00:00:00Z');

/** Converts one corpus case (every message in its file) and compares the first with its expected bundle. */
export function runCase(c: CorpusCase, options: Omit<ConformanceOptions, 'corpusRoot' | 'sources'> = {}): CaseOutcome[] {
  let messages: Hl7Message[];
  try {
    messages = [...parseBatch(readFileSync(c.messageFile)).messages];
  } catch (e) {
    return [{ source: c.source, id: c.id, message: 1, messageType: '', status: 'unparsed', error: describe(e) }];
  }
  let expectedFacts: Fact[] | undefined;
  if (c.expectedFile !== undefined) expectedFacts = extractFacts(readExpectedBundle(c.expectedFile));
  return messages.map((msg, i): CaseOutcome => {
    const base = { source: c.source, id: c.id, message: i + 1, messageType: `${msg.messageCode}^${msg.triggerEvent}` };
    const compareWith = i === 0 ? expectedFacts : undefined;
    if (mapperFor(msg) === undefined) return { ...base, status: 'unsupported' };
    let bundle: Bundle;
    try {
      bundle = convertV2ToFhir(msg, { now: FIXED_NOW, ...(options.tenant !== undefined ? { tenant: options.tenant } : {}) }).bundle;
    } catch (e) {
      // A failed conversion loses every expected fact: they count as missing.
      return { ...base, status: 'error', error: describe(e), ...(compareWith !== undefined ? { comparison: compareFacts(compareWith, []) } : {}) };
    }
    let invalid: BundleValidation['issues'] | undefined;
    if (options.validate !== undefined) {
      const v = options.validate(bundle);
      const errors = v.issues.filter((x) => x.severity === 'error' || x.severity === 'fatal');
      if (!v.valid || errors.length > 0) invalid = errors.length > 0 ? errors : v.issues;
    }
    return {
      ...base,
      status: 'converted',
      ...(compareWith !== undefined ? { comparison: compareFacts(compareWith, extractFacts(bundle)) } : {}),
      ...(invalid !== undefined ? { invalid } : {}),
    };
  });
}

/** Converts every corpus message of the chosen sources and tallies the fact comparisons per source. */
export function runConformance(options: ConformanceOptions): ConformanceResult {
  const wanted = new Set<CorpusSource>(options.sources ?? CORPUS_SOURCES);
  const outcomes: CaseOutcome[] = [];
  for (const c of corpusCases(options.corpusRoot)) if (wanted.has(c.source)) outcomes.push(...runCase(c, options));
  const sources: SourceSummary[] = [];
  for (const source of CORPUS_SOURCES) {
    if (!wanted.has(source)) continue;
    const s: SourceSummary = {
      source,
      messages: 0,
      converted: 0,
      unsupported: 0,
      errors: 0,
      unparsed: 0,
      compared: 0,
      matched: 0,
      differing: 0,
      missing: 0,
      extra: 0,
      invalidBundles: options.validate === undefined ? undefined : 0,
      kinds: new Map(),
    };
    for (const o of outcomes) {
      if (o.source !== source) continue;
      s.messages++;
      if (o.status === 'converted') s.converted++;
      else if (o.status === 'unsupported') s.unsupported++;
      else if (o.status === 'error') s.errors++;
      else s.unparsed++;
      if (o.invalid !== undefined && s.invalidBundles !== undefined) s.invalidBundles++;
      const c = o.comparison;
      if (c === undefined) continue;
      s.compared++;
      s.matched += c.matched;
      s.differing += c.differing.length;
      s.missing += c.missing.length;
      s.extra += c.extra.length;
      const tally = (kind: FactKind): KindTally => {
        let t = s.kinds.get(kind);
        if (t === undefined) s.kinds.set(kind, (t = { matched: 0, differing: 0, missing: 0, extra: 0 }));
        return t;
      };
      for (const [kind, n] of c.matchedByKind) tally(kind).matched += n;
      for (const d of c.differing) tally(d.kind).differing++;
      for (const d of c.missing) tally(d.kind).missing++;
      for (const d of c.extra) tally(d.kind).extra++;
    }
    sources.push(s);
  }
  return { outcomes, sources };
}

/** Share of expected facts matched for a source, 0..1; `withoutCounts` leaves the resource counts out. */
export function sourceShare(s: SourceSummary, options: { withoutCounts?: boolean } = {}): number {
  let { matched, differing, missing } = s;
  const counts = s.kinds.get(FactKind.count);
  if (options.withoutCounts === true && counts !== undefined) {
    matched -= counts.matched;
    differing -= counts.differing;
    missing -= counts.missing;
  }
  const total = matched + differing + missing;
  return total === 0 ? 1 : matched / total;
}

const pad = (v: string | number, n: number): string => String(v).padStart(n);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The per-source tables and the top differing fact kinds, as printed by the script and the test. */
export function formatConformance(result: ConformanceResult, options: { topKinds?: number } = {}): string {
  const lines: string[] = [];
  const header = `${'source'.padEnd(26)}${pad('msgs', 6)}${pad('conv', 6)}${pad('unsup', 6)}${pad('err', 5)}${pad('unpar', 6)}${pad('invalid', 8)}${pad('cmp', 5)}${pad('matched', 9)}${pad('differ', 8)}${pad('missing', 9)}${pad('extra', 7)}${pad('%match', 8)}${pad('%no-cnt', 9)}`;
  lines.push(header, '-'.repeat(header.length));
  // %no-cnt: the same share without the resource-count facts (converters differ most in how many
  // Practitioner/Location/Organization resources they mint; docs/mapping.md).
  for (const s of result.sources) {
    lines.push(
      `${s.source.padEnd(26)}${pad(s.messages, 6)}${pad(s.converted, 6)}${pad(s.unsupported, 6)}${pad(s.errors, 5)}${pad(s.unparsed, 6)}${pad(s.invalidBundles ?? '-', 8)}${pad(s.compared, 5)}${pad(s.matched, 9)}${pad(s.differing, 8)}${pad(s.missing, 9)}${pad(s.extra, 7)}${pad(pct(sourceShare(s)), 8)}${pad(pct(sourceShare(s, { withoutCounts: true })), 9)}`,
    );
  }
  const top = options.topKinds ?? 8;
  for (const s of result.sources) {
    const kinds = [...s.kinds.entries()].filter(([, t]) => t.differing + t.missing > 0).sort((a, b) => b[1].differing + b[1].missing - (a[1].differing + a[1].missing));
    if (kinds.length === 0) continue;
    lines.push('', `${s.source}: top differing fact kinds (differing / missing / extra)`);
    for (const [kind, t] of kinds.slice(0, top)) lines.push(`  ${kind.padEnd(28)}${pad(t.differing, 6)}${pad(t.missing, 8)}${pad(t.extra, 7)}`);
  }
  return lines.join('\n');
}
