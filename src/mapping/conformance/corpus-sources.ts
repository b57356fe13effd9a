import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * The corpus messages the conversion is measured on, each with the expected FHIR bundle shipped
 * beside it when there is one. Read at run time from the shared corpus (never copied here):
 *
 * - `microsoft-fhir-converter`: `messages/<stem>.hl7`, expected in `expected/<TYPE>/<stem>-expected.json`
 *   (its PROVENANCE: 132 of 139 messages have one; outputs of Microsoft's Liquid templates).
 * - `reportstream`: `<name>.hl7` beside `<name>.fhir` (the mapping-inventory pairs and HL7_to_FHIR).
 * - `v2-to-fhir-ig`: `test-conversions-messages/NN_<TYPE>.hl7` and `samples/messages/Message.hl7_<TYPE>.txt`;
 *   expected `samples/fhir-bundles/FHIR_bundle.hl7_<TYPE>.xml`, else `.json` (sample message first,
 *   else the test-conversions message of that type, as its PROVENANCE states for ADT_A01). These
 *   bundles say they were made with the Microsoft FHIR Converter, not by hand from the IG.
 */

export const CORPUS_SOURCES = ['microsoft-fhir-converter', 'reportstream', 'v2-to-fhir-ig'] as const;
export type CorpusSource = (typeof CORPUS_SOURCES)[number];

export interface CorpusCase {
  readonly source: CorpusSource;
  /** Path relative to the source folder, for tables and messages (no content). */
  readonly id: string;
  readonly messageFile: string;
  readonly expectedFile?: string;
}

/** The corpus root: SWITCHBOARD_CORPUS, else `../shared/corpus` beside the repository. */
export function corpusRoot(repoRoot: string): string {
  return path.resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const withExpected = (c: Omit<CorpusCase, 'expectedFile'>, expected: string | undefined): CorpusCase => (expected === undefined ? c : { ...c, expectedFile: expected });

function microsoftCases(root: string): CorpusCase[] {
  const messages = path.join(root, 'messages');
  const expectedDir = path.join(root, 'expected');
  if (!existsSync(messages)) return [];
  const expectedByStem = new Map<string, string>();
  if (existsSync(expectedDir)) {
    for (const f of walk(expectedDir)) {
      const m = /^(.*)-expected\.json$/.exec(path.basename(f));
      if (m !== null) expectedByStem.set(m[1] as string, f);
    }
  }
  return readdirSync(messages)
    .filter((n) => n.endsWith('.hl7'))
    .sort()
    .map((n) => withExpected({ source: 'microsoft-fhir-converter', id: `messages/${n}`, messageFile: path.join(messages, n) }, expectedByStem.get(n.slice(0, -4))));
}

function reportstreamCases(root: string): CorpusCase[] {
  if (!existsSync(root)) return [];
  const out: CorpusCase[] = [];
  for (const f of walk(root)) {
    if (!f.endsWith('.hl7')) continue;
    const expected = `${f.slice(0, -4)}.fhir`;
    // Only the pairs: the unit-test resources without an expected bundle include deliberately broken input.
    if (!existsSync(expected)) continue;
    out.push({ source: 'reportstream', id: path.relative(root, f), messageFile: f, expectedFile: expected });
  }
  return out;
}

function igCases(root: string): CorpusCase[] {
  const conversions = path.join(root, 'test-conversions-messages');
  const samples = path.join(root, 'samples', 'messages');
  const bundles = path.join(root, 'samples', 'fhir-bundles');
  const messages: Array<{ id: string; file: string; type: string }> = [];
  if (existsSync(samples)) {
    for (const n of readdirSync(samples).sort()) {
      const m = /^Message\.hl7_(.+)\.txt$/.exec(n);
      if (m !== null) messages.push({ id: `samples/messages/${n}`, file: path.join(samples, n), type: m[1] as string });
    }
  }
  if (existsSync(conversions)) {
    for (const n of readdirSync(conversions).sort()) {
      const m = /^\d+_(.+)\.hl7$/.exec(n);
      if (m !== null) messages.push({ id: `test-conversions-messages/${n}`, file: path.join(conversions, n), type: m[1] as string });
    }
  }
  const paired = new Set<string>();
  return messages.map((m) => {
    // MDM_T02 ships twice: the .xml bundle has the DocumentReference the .json one (XML too) lacks.
    const xml = path.join(bundles, `FHIR_bundle.hl7_${m.type}.xml`);
    const expected = existsSync(xml) ? xml : path.join(bundles, `FHIR_bundle.hl7_${m.type}.json`);
    const useIt = existsSync(expected) && !paired.has(m.type);
    if (useIt) paired.add(m.type);
    return withExpected({ source: 'v2-to-fhir-ig', id: m.id, messageFile: m.file }, useIt ? expected : undefined);
  });
}

/** Every case of every source found under `<corpusRoot>/hl7v2/`. */
export function corpusCases(root: string): CorpusCase[] {
  const hl7 = path.join(root, 'hl7v2');
  return [...microsoftCases(path.join(hl7, 'microsoft-fhir-converter')), ...reportstreamCases(path.join(hl7, 'reportstream')), ...igCases(path.join(hl7, 'v2-to-fhir-ig'))];
}
