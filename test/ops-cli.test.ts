import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openStore } from '../src/store/open-store.ts';
import { runCli, tempDir, writeTemp } from './cli-helpers.ts';
import { CHANNEL_V2, seedOpsStore, type OpsFixture } from './ops-fixture.ts';

// One store for the file, as a user's: tests run in order, reads before the actions that change it.
let dir: string;
let fx: OpsFixture;

before(async () => {
  dir = tempDir('swb-ops-cli-');
  fx = await seedOpsStore(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]): ReturnType<typeof runCli> => runCli([...args, '--store', fx.url]);

async function withStore<T>(use: (s: Awaited<ReturnType<typeof openStore>>) => Promise<T>): Promise<T> {
  const s = await openStore(fx.url);
  try {
    return await use(s);
  } finally {
    await s.close();
  }
}

test('exceptions lists the exception queue, one line each, no payload or patient data; --limit is checked', async () => {
  const r = await cli('exceptions');
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', new RegExp(`  ${fx.failedLab}  adt-in/lab  failed  attempts 1/3  SWB_ERR_HTTP_DEST_STATUS  message ${fx.messageIds.m1}$`));
  assert.match(lines[1] ?? '', new RegExp(`  ${fx.ambiguousEhr}  adt-in/ehr  ambiguous  attempts 1/5  SWB_ERR_HTTP_DEST_TIMEOUT  message ${fx.messageIds.m2}$`));
  assert.doesNotMatch(r.stdout, /MRN-|ZZ[A-Z]*\^|WARD-/);
  const json = await cli('exceptions', '--destination', 'adt-in/ehr', '--json');
  assert.deepEqual((JSON.parse(json.stdout) as { items: Array<{ id: string }> }).items.map((i) => i.id), [fx.ambiguousEhr]);
  const bad = await cli('exceptions', '--limit', '0');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^SWB_ERR_CLI_USAGE: --limit must be an integer 1-1000/);
});

test('replay --dry-run prints counts and diffs and sends nothing; a bad flag is a usage error naming it', async () => {
  const before = await withStore(async (s) => JSON.stringify(await s.queue.forMessage(fx.messageIds.m1)));
  const r = await cli('replay', '--dry-run', '--revision', 'current', '--channel', 'adt-in', '--config', fx.channelDir);
  assert.equal(r.code, 0, r.stderr);
  const [first, second, third, fourth] = r.stdout.split('\n');
  assert.equal(first, 'dry run under the current revision: 4 message(s)');
  assert.equal(second, '  routed 3, filtered 1, errors 0, pruned 0');
  assert.equal(third, '  destinations: 3 changed, 0 unchanged, 3 new, 2 not routed now');
  assert.equal(fourth, '  would enqueue 6 deliveries');
  assert.match(r.stdout, new RegExp(`${fx.messageIds.m1}  adt-in  ADT\\^A01  CTL-1  rev 2  lab: changed, archive: new, ehr: not-routed\\n--- lab delivery `));
  assert.match(r.stdout, /\n-PV1\|1\|I\|WARD-A\n\+PV1\|1\|I\|WARD-B\n/);
  assert.match(r.stdout, /CTL-3 {2}rev 2 {2}filtered: A08 not wanted\n/);
  assert.equal(await withStore(async (s) => JSON.stringify(await s.queue.forMessage(fx.messageIds.m1))), before);

  const bad = await cli('replay', '--dry-run', '--from', 'yesterday');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^SWB_ERR_CLI_USAGE: --from must be an ISO 8601 date/);
  const badRev = await cli('replay', '--dry-run', '--revision', 'newest');
  assert.equal(badRev.code, 2);
  assert.match(badRev.stderr, /--revision must be "pinned" or "current"/);
});

test('replay enqueues for the chosen destination only', async () => {
  const r = await cli('replay', '--revision', 'current', '--control-id', 'CTL-2', '--destination', 'lab', '--config', fx.channelDir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^replay under the current revision: 1 message\(s\)\n/);
  assert.match(r.stdout, /\n {2}enqueued 1 deliveries\n/);
  const lab = await withStore(async (s) => (await s.queue.forMessage(fx.messageIds.m2)).filter((d) => d.destination === 'adt-in/lab'));
  assert.deepEqual(lab.map((d) => d.status), ['delivered', 'pending']);
  const unknown = await cli('replay', '--revision', 'current', '--destination', 'ehr', '--config', fx.channelDir);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^SWB_ERR_REPLAY_UNKNOWN_DESTINATION: /);
});

test('messages retry with an edited payload file, then retry and resolve that report per-item failures with exit 1', async () => {
  const file = writeTemp(dir, 'edited.hl7', 'MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305100000+0000||ADT^A01|CTL-1|P|2.5.1\nPID|1||MRN-1\nPV1|1|I|WARD-C\n');
  const twoIds = await cli('messages', 'retry', fx.failedLab, fx.ambiguousEhr, '--payload-file', file);
  assert.equal(twoIds.code, 2);
  const edited = await cli('messages', 'retry', fx.failedLab, '--payload-file', file);
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(edited.stdout, `${fx.failedLab}  retried with an edited payload  adt-in/lab  (was failed)\n`);
  const stored = await withStore((s) => s.queue.get(fx.failedLab));
  assert.equal(stored?.payload, 'MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305100000+0000||ADT^A01|CTL-1|P|2.5.1\rPID|1||MRN-1\rPV1|1|I|WARD-C');
  assert.equal(stored?.status, 'pending');

  const again = await cli('messages', 'retry', fx.failedLab);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`^${fx.failedLab}  not retried: SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS: delivery ${fx.failedLab} is pending`));

  const resolved = await cli('messages', 'resolve', fx.ambiguousEhr, '01NOSUCH', '--reason', 'sent by hand');
  assert.equal(resolved.code, 1);
  assert.equal(resolved.stdout, `${fx.ambiguousEhr}  resolved  adt-in/ehr  (was ambiguous)\n`);
  assert.equal(resolved.stderr, '01NOSUCH  not resolved: SWB_ERR_STORE_NOT_FOUND: delivery 01NOSUCH does not exist\n');
  const audit = await withStore((s) => s.audit.list({ limit: 2 }));
  assert.deepEqual(audit.map((a) => [a.action, a.actor]), [
    ['delivery.resolve', `cli:${userInfo().username}`],
    ['delivery.edit-retry', `cli:${userInfo().username}`],
  ]);
});

test('channels history, diff and export; export is byte-identical and applies back unchanged', async () => {
  const history = await cli('channels', 'history', 'adt-in');
  assert.equal(history.code, 0, history.stderr);
  assert.match(history.stdout, /^ {3}2 {2}\S+ {2}test:seed {2}[0-9a-f]{12}\n {3}1 {2}\S+ {2}test:seed {2}[0-9a-f]{12}\n$/);
  const missing = await cli('channels', 'history', 'nope');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^SWB_ERR_STORE_NOT_FOUND: channel nope does not exist/);

  const diff = await cli('channels', 'diff', 'adt-in', '1', '2');
  assert.equal(diff.code, 0);
  assert.match(diff.stdout, /^--- adt-in revision 1\n\+\+\+ adt-in revision 2\n@@ /);
  assert.match(diff.stdout, /\n\+ *reason: A08 not wanted\n/);

  const outDir = join(dir, 'export');
  const e1 = await cli('channels', 'export', '--out', outDir);
  assert.equal(e1.code, 0, e1.stderr);
  const first = readFileSync(join(outDir, 'adt-in.yaml'));
  const e2 = await cli('channels', 'export', '--out', outDir);
  assert.equal(e2.code, 0);
  assert.ok(readFileSync(join(outDir, 'adt-in.yaml')).equals(first), 'byte-identical on re-export');
  const stdout = await cli('channels', 'export', 'adt-in', '--revision', '1');
  assert.equal(stdout.stdout, `${await withStore(async (s) => (await s.channels.get('adt-in', 1))?.document)}`);

  const back = await cli('channels', 'apply', outDir);
  assert.equal(back.code, 0, back.stderr);
  assert.equal(back.stdout, 'adt-in  unchanged at revision 2\n');
});

test('channels apply stores a changed file as a new revision; an invalid one is a config error (exit 2)', async () => {
  writeFileSync(join(fx.channelDir, 'adt-in.yaml'), `${CHANNEL_V2}description: now with a description\n`);
  const r = await cli('channels', 'apply', fx.channelDir, '--comment', 'describe it');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'adt-in  revision 3 (was 2)\n');
  const latest = await withStore((s) => s.channels.latest('adt-in'));
  assert.equal(latest?.comment, 'describe it');
  assert.equal(latest?.author, `cli:${userInfo().username}`);

  const badDir = join(dir, 'bad');
  writeFileSync(join(fx.channelDir, 'broken.yaml'), 'id: Broken!\nsource: {kind: mllp}\n');
  const bad = await cli('channels', 'apply', fx.channelDir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^SWB_ERR_CONFIG_INVALID: .*broken\.yaml/);
  const empty = await cli('channels', 'apply', badDir);
  assert.equal(empty.code, 2);
});
