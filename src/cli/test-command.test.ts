import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, tempDir, writeTemp } from '../../test/cli-helpers.ts';

const CHANNEL = `id: adt-in
source: {kind: mllp, settings: {port: 0}}
tables: {ward: {W1: WARD-A}}
filters:
  - reject: {messageType: 'ADT^A08'}
    reason: updates are not forwarded
transformers:
  - removeSegment: NTE
destinations:
  - name: lab
    kind: file
    settings: {dir: /tmp/never-written}
    when: {messageType: 'ADT^A0*'}
    transformers: [{map: {path: PV1-3.1, table: ward}}]
  - name: archive
    kind: file
    settings: {dir: /tmp/never-written}
    transformers: [{module: ./stamp.mjs}]
`;

const A01 = `MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240305103000||ADT^A01^ADT_A01|MSG001|P|2.5.1
      PID|1||12345^^^HOSP^MR||DOE^JANE||19800101|F
      PV1|1|I|W1^101^A
      NTE|1||a note`;

function passing(): string {
  return `tests:
  - name: admits go to the lab feed with the ward mapped
    input: |
      ${A01}
    expect:
      ack: AA
      status: queued
      destinations:
        lab:
          fields: {'PV1-3.1': WARD-A, 'PV1-3.2': '101', NTE: null}
        archive:
          fields: {'ZST-1': archive, 'PV1-3.1': W1}
  - name: updates are filtered
    inputFile: fixtures/a08.hl7
    expect: {ack: AA, status: filtered, reason: updates are not forwarded, destinations: {}}
  - name: the exact lab payload
    input: |
      ${A01}
    expect:
      destinations:
        lab: |
          MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240305103000||ADT^A01^ADT_A01|MSG001|P|2.5.1
          PID|1||12345^^^HOSP^MR||DOE^JANE||19800101|F
          PV1|1|I|WARD-A^101^A
        archive: {fields: {}}
`;
}

function failing(): string {
  return `channel: adt-in
tests:
  - name: a wrong expectation
    input: |
      ${A01}
    expect:
      status: filtered
      destinations:
        lab: {fields: {'PV1-3.1': WARD-B}}
  - name: a right one
    input: |
      ${A01}
    expect: {ack: AA}
`;
}

function setup(): string {
  const dir = tempDir('swb-chtest-');
  writeTemp(dir, 'adt-in.yaml', CHANNEL);
  writeTemp(dir, 'stamp.mjs', "export default function (m, ctx) { m.addSegment('ZST').set('1', ctx.destination); }\n");
  mkdirSync(join(dir, 'fixtures'));
  writeTemp(dir, 'fixtures/a08.hl7', A01.replace('ADT^A01^ADT_A01', 'ADT^A08^ADT_A01').replace(/\n {6}/g, '\r\n'));
  writeTemp(dir, 'adt-in_test.yaml', passing());
  return dir;
}

test('switchboard test: every case passes -> ok lines and exit 0', async () => {
  const dir = setup();
  const r = await runCli(['test', dir]);
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.stdout.trim().split('\n'), [
    'ok adt-in: admits go to the lab feed with the ward mapped',
    'ok adt-in: updates are filtered',
    'ok adt-in: the exact lab payload',
    '3 passed, 0 failed',
  ]);
});

test('switchboard test: a failing case prints what differs and exits 1 (test files found recursively)', async () => {
  const dir = setup();
  mkdirSync(join(dir, 'more'));
  writeTemp(dir, 'more/adt-in.yaml', CHANNEL);
  writeTemp(dir, 'more/stamp.mjs', 'export default function () {}\n');
  writeTemp(dir, 'more/adt-in_test.yaml', failing());
  const r = await runCli(['test', dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, 4);
  const fail = lines.find((l) => l.startsWith('FAIL '));
  assert.equal(fail, 'FAIL adt-in: a wrong expectation: expected status filtered, got queued; expected "WARD-B" at destinations.lab.PV1-3.1, got "WARD-A"; expected nothing at destinations.archive, got a message');
  assert.equal(lines.at(-1), '4 passed, 1 failed');
});

test('switchboard test: a wrong exact payload names the first differing segment', async () => {
  const dir = setup();
  writeTemp(dir, 'adt-in_test.yaml', passing().replace('PV1|1|I|WARD-A^101^A', 'PV1|1|I|WARD-Z^101^A'));
  const r = await runCli(['test', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL adt-in: the exact lab payload: expected "PV1\|1\|I\|WARD-Z\^101\^A" at destinations\.lab segment 3, got "PV1\|1\|I\|WARD-A\^101\^A"/);
});

test('switchboard test: config errors (test file or channel) exit 2 naming file and path', async () => {
  const dir = setup();
  writeTemp(dir, 'adt-in_test.yaml', passing().replace('    expect:\n      ack: AA', '    expect:\n      akc: AA'));
  const r = await runCli(['test', dir]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /ERROR adt-in_test\.yaml: SWB_ERR_CONFIG_INVALID: adt-in_test\.yaml: tests\[0\]\.expect\.akc is not a known key/);

  writeTemp(dir, 'adt-in_test.yaml', passing().replace('        lab:\n          fields', '        labs:\n          fields'));
  const unknown = await runCli(['test', dir]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /tests\[0\]\.expect\.destinations\.labs is not a destination of channel adt-in/);

  writeTemp(dir, 'adt-in.yaml', CHANNEL.replace('kind: file\n    settings', 'kind: file\n    setings'));
  const channel = await runCli(['test', dir]);
  assert.equal(channel.code, 2);
  assert.match(channel.stderr, /adt-in\.yaml: destinations\[0\]\.setings is not a known key/);

  const empty = await runCli(['test', tempDir('swb-chtest-')]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /no channel test files/);
});
