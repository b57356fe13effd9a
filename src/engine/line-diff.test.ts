import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { diffLines, splitLines, unifiedDiff } from './line-diff.ts';

test('splitLines splits on CR, LF and CRLF and ignores a final terminator', () => {
  assert.deepEqual(splitLines('MSH|a\rPID|b\r'), ['MSH|a', 'PID|b']);
  assert.deepEqual(splitLines('a\nb\r\nc'), ['a', 'b', 'c']);
  assert.deepEqual(splitLines(''), []);
  assert.deepEqual(splitLines('\n'), ['']);
});

test('an HL7 payload with one changed segment gives one hunk with three lines of context', () => {
  const from = ['MSH|^~\\&|A|B|C|D|20240305||ADT^A01|1|P|2.5.1', 'EVN|A01', 'PID|1||M1', 'PV1|1|I', 'OBX|1|NM|X||1', 'OBX|2|NM|Y||2', 'OBX|3|NM|Z||3', 'NTE|1'].join('\r');
  const to = from.replace('PV1|1|I', 'PV1|1|O');
  assert.equal(
    unifiedDiff(from, to, { fromLabel: 'delivered', toLabel: 'replay' }),
    ['--- delivered', '+++ replay', '@@ -1,7 +1,7 @@', ' MSH|^~\\&|A|B|C|D|20240305||ADT^A01|1|P|2.5.1', ' EVN|A01', ' PID|1||M1', '-PV1|1|I', '+PV1|1|O', ' OBX|1|NM|X||1', ' OBX|2|NM|Y||2', ' OBX|3|NM|Z||3'].join('\n'),
  );
  assert.equal(unifiedDiff(from, `${from}\r`), '', 'same lines, only a final terminator differs');
});

test('distant changes make separate hunks; an added segment at the end is an insertion', () => {
  const a = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8', 'l9', 'l10'].join('\n');
  const b = ['L1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8', 'l9', 'l10', 'ZPI|1'].join('\n');
  assert.equal(unifiedDiff(a, b, { context: 1 }), ['--- a', '+++ b', '@@ -1,2 +1,2 @@', '-l1', '+L1', ' l2', '@@ -10 +10,2 @@', ' l10', '+ZPI|1'].join('\n'));
  assert.equal(unifiedDiff('', 'x\ny', { context: 0 }), ['--- a', '+++ b', '@@ -0,0 +1,2 @@', '+x', '+y'].join('\n'));
});

test('the edit script rebuilds both sides and keeps a longest common subsequence', () => {
  // Length of an LCS by plain recursion with memo, independent of diffLines' table.
  const lcsLength = (a: readonly string[], b: readonly string[]): number => {
    const memo = new Map<string, number>();
    const go = (i: number, j: number): number => {
      if (i === a.length || j === b.length) return 0;
      const key = `${i},${j}`;
      const hit = memo.get(key);
      if (hit !== undefined) return hit;
      const r = a[i] === b[j] ? 1 + go(i + 1, j + 1) : Math.max(go(i + 1, j), go(i, j + 1));
      memo.set(key, r);
      return r;
    };
    return go(0, 0);
  };
  const lines = fc.array(fc.constantFrom('MSH|x', 'PID|1', 'PV1|1', 'OBX|1', 'OBX|2', 'NTE|a', ''), { maxLength: 14 });
  fc.assert(
    fc.property(lines, lines, (a, b) => {
      const ops = diffLines(a, b);
      assert.deepEqual(ops.filter((o) => o.kind !== 'insert').map((o) => o.line), a);
      assert.deepEqual(ops.filter((o) => o.kind !== 'delete').map((o) => o.line), b);
      assert.equal(ops.filter((o) => o.kind === 'equal').length, lcsLength(a, b));
    }),
    { numRuns: 300 },
  );
});

test('past the size cap the middle is replaced wholesale (bounded memory), still a correct script', () => {
  const a = Array.from({ length: 2100 }, (_, i) => `a${i}`);
  const b = Array.from({ length: 2100 }, (_, i) => (i % 2 === 0 ? `a${i}` : `b${i}`));
  const ops = diffLines(a, b);
  assert.deepEqual(ops.filter((o) => o.kind !== 'insert').map((o) => o.line), a);
  assert.deepEqual(ops.filter((o) => o.kind !== 'delete').map((o) => o.line), b);
});

const patchAvailable = spawnSync('patch', ['--version']).status === 0;

test('GNU patch applies the unified diff: the format is the standard one', { skip: patchAvailable ? false : 'GNU patch is not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-line-diff-'));
  try {
    const lines = fc.array(fc.constantFrom('MSH|x', 'PID|1', 'PV1|1', 'OBX|1', 'OBX|2', 'NTE|a'), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(lines, lines, fc.integer({ min: 0, max: 3 }), (a, b, context) => {
        const from = `${a.join('\n')}\n`;
        const to = `${b.join('\n')}\n`;
        const diff = unifiedDiff(from, to, { context });
        if (diff === '') return assert.equal(from, to);
        const file = join(dir, 'f.txt');
        writeFileSync(file, from);
        writeFileSync(join(dir, 'd.patch'), `${diff}\n`);
        const r = spawnSync('patch', ['--silent', '--force', '-F', '0', file, join(dir, 'd.patch')], { encoding: 'utf8' });
        assert.equal(r.status, 0, `${r.stdout}${r.stderr}\n${diff}`);
        assert.equal(readFileSync(file, 'utf8'), to);
      }),
      { numRuns: 60 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
