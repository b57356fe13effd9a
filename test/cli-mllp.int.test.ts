import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { repoRoot, runCli, tempDir, writeTemp } from './cli-helpers.ts';

// Written here for this test. The family name is a marker that the listener must never print.
const msg = (id: string, pid3 = 'MRN1^^^H^MR'): string =>
  [`MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305103000||ADT^A04^ADT_A01|${id}|P|2.5.1`, 'EVN|A04|20240305103000', `PID|1||${pid3}||ZZMARKER^ANN||19700101|F`, 'PV1|1|O'].join('\n');

let listener: ChildProcessWithoutNullStreams;
let port = 0;
let listenOut = '';

before(async () => {
  listener = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'listen', '--port', '0', '--validate'], { cwd: repoRoot });
  listener.stdout.on('data', (d: Buffer) => (listenOut += d.toString()));
  port = await new Promise<number>((resolve, reject) => {
    let errText = '';
    const timer = setTimeout(() => reject(new Error(`listener did not start: ${errText}`)), 20_000);
    listener.stderr.on('data', (d: Buffer) => {
      errText += d.toString();
      const m = /listening on mllp:\/\/127\.0\.0\.1:(\d+)/.exec(errText);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
});

after(() => {
  listener.kill('SIGTERM');
});

test('send delivers every message of a directory (LF files, a batch) and exits 0 when all are AA', async () => {
  const dir = tempDir();
  writeTemp(dir, 'a.hl7', msg('S-1'));
  writeTemp(dir, 'b.hl7', `BHS|^~\\&|SEND\n${msg('S-2')}\n${msg('S-3')}\nBTS|2\n`);
  const r = await runCli(['send', dir, '--to', `mllp://127.0.0.1:${port}`, '--concurrency', '2']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trim(), `sent 3 to mllp://127.0.0.1:${port}: AA 3`);
  for (const id of ['S-1', 'S-2', 'S-3']) assert.match(listenOut, new RegExp(` ${id} ADT\\^A04 \\d+B AA`));
  assert.doesNotMatch(listenOut, /ZZMARKER|19700101/, 'the listener prints ids, never content');
});

test('send exits 1 and names each message that was not accepted', async () => {
  const dir = tempDir();
  writeTemp(dir, 'good.hl7', msg('S-4'));
  writeTemp(dir, 'bad.hl7', msg('S-5', ''));
  const r = await runCli(['send', dir, '--to', `mllp://127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /NOT ACCEPTED .*bad\.hl7: AE \(MSA-2 S-5\) ERR 101/);
  assert.match(r.stdout, /: AA 1, AE 1$/m);
});

test('send to a port nobody listens on fails with a transport error, not a hang', async () => {
  const dir = tempDir();
  writeTemp(dir, 'a.hl7', msg('S-6'));
  const r = await runCli(['send', dir, '--to', 'mllp://127.0.0.1:1', '--timeout', '2000']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /SWB_ERR_MLLP_CONNECT_FAILED/);
});

test('send rejects a malformed --to, and a missing argument, with usage errors (exit 2)', async () => {
  const r = await runCli(['send', repoRoot, '--to', 'http://x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /SWB_ERR_CLI_USAGE/);
  const missing = await runCli(['send', repoRoot]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--to/);
});
