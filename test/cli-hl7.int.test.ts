import assert from 'node:assert/strict';
import { test } from 'node:test';
import { distBuilt, runCli, tempDir, writeTemp } from './cli-helpers.ts';

// Messages written here for these tests.
const ADT = [
  'MSH|^~\\&|REG|HOSP|LAB|HOSP|20240305103000-0500||ADT^A01^ADT_A01|CTRL-1|P|2.5.1',
  'EVN|A01|20240305103000-0500',
  'PID|1||MRN123^^^HOSP^MR~555^^^SSA^SS||DOE^JANE^Q||19800101|F|||1 MAIN ST\\F\\UNIT 2^^TOWN^ST^12345',
  'PV1|1|I|WARD^101^A',
].join('\r');
const ORU_BAD_DATE = [
  'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240305103000||ORU^R01^ORU_R01|CTRL-2|P|2.5.1',
  'PID|1||MRN123^^^HOSP^MR||DOE^JANE||1980130|F',
  'OBR|1||F1|1234-5^Panel^LN',
  'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-99||||F',
].join('\r');

const dir = tempDir();
const adtFile = writeTemp(dir, 'adt.hl7', `${ADT}\r`);
const lfFile = writeTemp(dir, 'lf.hl7', `${ADT.replace(/\r/g, '\n')}\n`);
const badDateFile = writeTemp(dir, 'oru-bad-date.hl7', ORU_BAD_DATE);
const garbageFile = writeTemp(dir, 'garbage.hl7', 'MSH|^~\\&|A|B\rPI|broken segment id\r');

void test('hl7 parse prints the tree as JSON on stdout', async () => {
  const r = await runCli(['hl7', 'parse', adtFile]);
  assert.equal(r.code, 0, r.stderr);
  const tree = JSON.parse(r.stdout) as { segments: Array<{ id: string; fields: Record<string, unknown> }> };
  assert.deepEqual(tree.segments.map((s) => s.id), ['MSH', 'EVN', 'PID', 'PV1']);
  const pid = tree.segments[2];
  assert.deepEqual(pid?.fields['PID-3'], { repetitions: [['MRN123', '', '', 'HOSP', 'MR'], ['555', '', '', 'SSA', 'SS']] });
  // The escaped field separator is decoded in the leaf.
  assert.deepEqual((pid?.fields['PID-11'] as string[])[0], '1 MAIN ST|UNIT 2');
});

void test('hl7 parse exits 1 with a located, coded error on bad input and prints nothing on stdout', async () => {
  const r = await runCli(['hl7', 'parse', garbageFile]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /SWB_ERR_HL7_BAD_SEGMENT_ID/);
  assert.match(r.stderr, /PI\[2\]/);
});

void test('hl7 validate reports a located datatype error and exits 1; a valid message exits 0', async () => {
  const bad = await runCli(['hl7', 'validate', badDateFile]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stdout, /INVALID/);
  assert.match(bad.stdout, /102 PID\[2\]-7/);
  assert.doesNotMatch(bad.stdout, /1980130/, 'the report must not quote the value');
  const good = await runCli(['hl7', 'validate', adtFile]);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /ADT_A01 v2\.5\.1: valid/);
});

void test('hl7 roundtrip counts messages, prints failures and exits by outcome', async () => {
  const ok = await runCli(['hl7', 'roundtrip', adtFile, lfFile]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal(ok.stdout.trim(), '2 passed, 0 failed');
  const mixed = await runCli(['hl7', 'roundtrip', dir]);
  assert.equal(mixed.code, 1);
  const lines = mixed.stdout.trim().split('\n');
  assert.equal(lines.at(-1), '3 passed, 1 failed');
  assert.match(lines[0] ?? '', /^FAIL .*garbage\.hl7: SWB_ERR_HL7_BAD_SEGMENT_ID|^FAIL .*garbage\.hl7: PI\[2\]/);
});

void test('the installed bin runs the built CLI', async (t) => {
  if (!distBuilt()) {
    t.skip('dist/ not built (npm ci builds it through prepare)');
    return;
  }
  const r = await runCli(['hl7', 'roundtrip', adtFile], { useBin: true });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1 passed, 0 failed');
});
