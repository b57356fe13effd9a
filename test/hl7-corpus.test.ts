import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Hl7ParseError, parseBatch } from '../src/hl7v2/index.ts';

/**
 * Conformance over every HL7 v2 text file of the public corpus (read here, never copied into the
 * repository; see ../shared/corpus/README.md). Each file must either round-trip exactly or be
 * rejected with a typed, located Hl7ParseError: zero crashes, zero mismatches.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const corpusRoot = process.env['SWITCHBOARD_CORPUS'] ?? path.resolve(repoRoot, '../shared/corpus');
const hl7Root = path.join(corpusRoot, 'hl7v2');

// Not messages: provenance, licences, docs, and the FHIR/CSV/JSON side of the corpus.
const SKIP_NAME = /^(PROVENANCE|UPSTREAM-LICENSE|LICENSE|README)/i;
const SKIP_EXT = new Set(['.md', '.csv', '.json', '.fhir', '.ndjson', '.fsh', '.properties']);

// Codes that are about a segment, and so must say where.
const LOCATED = new Set(['SWB_ERR_HL7_NO_MSH', 'SWB_ERR_HL7_BAD_ENCODING_CHARS', 'SWB_ERR_HL7_BAD_SEGMENT_ID', 'SWB_ERR_HL7_BATCH_STRUCTURE', 'SWB_ERR_HL7_BATCH_COUNT']);

// Folders whose files are all valid ER7 messages: none may be rejected.
const ALL_VALID = new Set(['microsoft-fhir-converter', 'reportstream']);

function listFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) listFiles(p, out);
    else if (!SKIP_NAME.test(name) && !SKIP_EXT.has(path.extname(name).toLowerCase())) out.push(p);
  }
  return out;
}

/**
 * What toString({ terminator: '\r' }) must give: a leading BOM kept; leading blank lines and
 * whitespace dropped; every run of CR/LF, together with whitespace-only lines inside it (or after
 * the last segment), collapsed to one CR; no terminator added where the input had none.
 */
function normaliseTerminators(text: string): string {
  const bom = text.startsWith('\uFEFF') ? '\uFEFF' : '';
  return bom + text.slice(bom.length).replace(/^[\r\n \t]+/, '').replace(/[\r\n]+(?:[ \t\f\v]*[\r\n]+)*(?:[ \t\f\v]*$)?/g, '\r');
}

interface FolderStats {
  files: number;
  roundTripped: number;
  rejected: Map<string, number>;
  failed: number;
}

void test('HL7 v2 corpus: every file round-trips exactly or is rejected with a typed, located error', (t) => {
  if (!existsSync(hl7Root)) {
    t.skip(`corpus not found at ${hl7Root} (set SWITCHBOARD_CORPUS)`);
    return;
  }
  const files = listFiles(hl7Root);
  assert.ok(files.length > 0, `no files under ${hl7Root}`);
  const stats = new Map<string, FolderStats>();
  const failures: string[] = [];
  const rejections: Array<{ file: string; code: string; message: string }> = [];

  for (const file of files) {
    const rel = path.relative(hl7Root, file);
    const folder = rel.split(path.sep)[0] as string;
    let s = stats.get(folder);
    if (s === undefined) {
      s = { files: 0, roundTripped: 0, rejected: new Map(), failed: 0 };
      stats.set(folder, s);
    }
    s.files++;
    const bytes = readFileSync(file);
    const text = bytes.toString('utf8');
    try {
      const batch = parseBatch(bytes);
      const exact = batch.toString();
      const normalised = batch.toString({ terminator: '\r' });
      if (exact !== text) throw new Error(`toString() differs from the input at offset ${firstDifference(exact, text)}`);
      if (normalised !== normaliseTerminators(text)) throw new Error(`toString({terminator:'\\r'}) differs from the normalised input at offset ${firstDifference(normalised, normaliseTerminators(text))}`);
      if (batch.messages.length === 0) throw new Error('parsed, but holds no message');
      s.roundTripped++;
    } catch (e) {
      if (e instanceof Hl7ParseError && e.code.startsWith('SWB_ERR_HL7_') && (!LOCATED.has(e.code) || e.location !== undefined)) {
        s.rejected.set(e.code, (s.rejected.get(e.code) ?? 0) + 1);
        rejections.push({ file: rel, code: e.code, message: e.message });
      } else {
        s.failed++;
        failures.push(`${rel}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    }
  }

  const rows = [...stats].map(([folder, s]) => ({
    folder,
    files: s.files,
    'round-tripped': s.roundTripped,
    rejected: [...s.rejected].map(([code, n]) => `${n} ${code.replace('SWB_ERR_HL7_', '')}`).join(', ') || 0,
    failed: s.failed,
  }));
  const total = (k: 'files' | 'round-tripped' | 'failed'): number => rows.reduce((n, r) => n + r[k], 0);
  rows.push({ folder: 'TOTAL', files: total('files'), 'round-tripped': total('round-tripped'), rejected: rejections.length, failed: total('failed') });
  console.log(`HL7 v2 corpus at ${hl7Root}`);
  console.table(rows);
  console.log('Rejected files:');
  for (const r of rejections) console.log(`  ${r.file}  ${r.code}  ${r.message}`);

  assert.deepEqual(failures, [], `crashes or mismatches:\n${failures.join('\n')}`);

  // The deliberately malformed python-hl7 samples must be rejected, and only those of that folder.
  const pyRejected = rejections.filter((r) => r.file.startsWith(`python-hl7${path.sep}`)).map((r) => path.basename(r.file)).sort();
  const pyBad = files.filter((f) => path.basename(f).startsWith('sample_bad_')).map((f) => path.basename(f)).sort();
  assert.ok(pyBad.length > 0, 'the python-hl7 sample_bad_* files are missing from the corpus');
  assert.deepEqual(pyRejected, pyBad);
  for (const r of rejections.filter((x) => path.basename(x.file).startsWith('sample_bad_'))) assert.equal(r.code, 'SWB_ERR_HL7_BATCH_STRUCTURE', r.file);

  for (const folder of ALL_VALID) {
    if (!stats.has(folder)) continue;
    assert.deepEqual(rejections.filter((r) => r.file.startsWith(folder + path.sep)), [], `${folder} holds only valid messages`);
  }
});

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}
