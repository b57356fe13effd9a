import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseBatch, type Hl7Batch } from './hl7-batch.ts';
import { validateMessage } from './hl7-validator.ts';

/**
 * Smoke check over the public HL7 corpora in ../shared/corpus (STYLE.md "Conformance"): every
 * message of every file that parseBatch accepts is validated, and the validator must never throw.
 * Many corpus files are deliberately partial test fragments, so errors are counted, not failed.
 */

const corpusRoot = process.env['SWITCHBOARD_CORPUS'] ?? fileURLToPath(new URL('../../../shared/corpus', import.meta.url));
const hl7Root = join(corpusRoot, 'hl7v2');

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) filesUnder(p, out);
    else if (/\.(hl7|txt)$/i.test(name)) out.push(p);
  }
  return out;
}

interface Row {
  messages: number;
  valid: number;
  withErrors: number;
}

test('the validator never throws on a corpus message', (t) => {
  if (!existsSync(hl7Root)) {
    t.skip(`corpus not found at ${hl7Root} (set SWITCHBOARD_CORPUS)`);
    return;
  }
  const rows = new Map<string, Row>();
  const folders = new Map<string, Row>();
  let files = 0;
  let unparsed = 0;
  const bump = (m: Map<string, Row>, key: string, valid: boolean): void => {
    const r = m.get(key) ?? { messages: 0, valid: 0, withErrors: 0 };
    r.messages++;
    if (valid) r.valid++;
    else r.withErrors++;
    m.set(key, r);
  };
  for (const file of filesUnder(hl7Root)) {
    files++;
    let batch: Hl7Batch;
    try {
      batch = parseBatch(readFileSync(file));
    } catch {
      // Not ours to judge here: the parser's own tests cover what it refuses.
      unparsed++;
      continue;
    }
    const folder = relative(hl7Root, file).split(/[\\/]/)[0] ?? '';
    for (const [i, m] of batch.messages.entries()) {
      let result;
      try {
        result = validateMessage(m);
      } catch (e) {
        assert.fail(`validateMessage threw on ${relative(corpusRoot, file)} message ${i + 1}: ${String(e)}`);
      }
      assert.equal(result.valid, !result.issues.some((x) => x.severity === 'error'));
      bump(rows, result.structure ?? '(unknown structure)', result.valid);
      bump(folders, folder, result.valid);
    }
  }
  const table = (title: string, m: Map<string, Row>): string => {
    const lines = [`${title.padEnd(22)} ${'messages'.padStart(8)} ${'valid'.padStart(6)} ${'errors'.padStart(6)}`];
    for (const [k, r] of [...m].sort(([a], [b]) => a.localeCompare(b))) lines.push(`${k.padEnd(22)} ${String(r.messages).padStart(8)} ${String(r.valid).padStart(6)} ${String(r.withErrors).padStart(6)}`);
    return lines.join('\n');
  };
  console.log(`\ncorpus: ${files} files, ${unparsed} refused by parseBatch\n${table('structure', rows)}\n\n${table('folder', folders)}\n`);
  assert.ok(rows.size > 0, 'no message was validated');
});
