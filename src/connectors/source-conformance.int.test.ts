import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMllpFrame } from '../mllp/mllp-framer.ts';
import { connectRaw, sleep, waitFor } from '../mllp/mllp-test-kit.ts';
import { DirectorySource } from './directory/directory-source.ts';
import { HttpSource } from './http/http-source.ts';
import { MllpSource } from './mllp/mllp-source.ts';
import { runSourceSuite, type RecordingContext, type SenderOutcome, type SourceHarness } from './source-conformance.ts';
import { closedPort } from './test-support.ts';

/** MSA-1 of an ACK: CA/AA is accepted, anything else (AR, AE) tells the sender it was not. */
function ackOutcome(ack: string): SenderOutcome {
  const code = /(?:^|\r)MSA\|([A-Z]{2})/.exec(ack)?.[1];
  return code === 'AA' || code === 'CA' ? 'accepted' : 'rejected';
}

async function refused(port: number): Promise<void> {
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e));
  });
  assert.equal(error?.code, 'ECONNREFUSED', 'the port should be released');
}

runSourceSuite('mllp', async () => {
  const port = await closedPort();
  const sendMany = async (contents: readonly string[]): Promise<SenderOutcome[]> => {
    const peer = await connectRaw(port);
    try {
      // One connection, pipelined: the order a sender relies on (HL7 v2 Appendix C).
      peer.socket.write(Buffer.concat(contents.map((c) => encodeMllpFrame(c))));
      const frames = await peer.waitFrames(contents.length);
      return frames.map(ackOutcome);
    } finally {
      peer.socket.destroy();
    }
  };
  const send = async (content: string): Promise<SenderOutcome> => (await sendMany([content]))[0] ?? 'rejected';
  return {
    create: () => new MllpSource({ host: '127.0.0.1', port, closeTimeoutMs: 5000 }),
    send,
    sendMany,
    resend: send,
    assertStopped: () => refused(port),
    describes: /^mllp:\/\/127\.0\.0\.1:\d+$/,
    cleanup: async () => undefined,
  } satisfies SourceHarness;
});

runSourceSuite('http', async () => {
  const port = await closedPort();
  const send = async (content: string): Promise<SenderOutcome> => {
    const response = await fetch(`http://127.0.0.1:${port}/in`, {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2', connection: 'close' },
      body: content,
    });
    const body = await response.text();
    if (response.status === 200) return ackOutcome(body);
    assert.equal(response.status, 503, `unexpected status ${response.status}`);
    assert.ok(response.headers.get('retry-after'));
    return 'rejected';
  };
  return {
    create: () => new HttpSource({ host: '127.0.0.1', port, path: '/in' }),
    send,
    async sendMany(contents) {
      // HTTP keeps one sender's order by waiting for each answer before the next request.
      const out: SenderOutcome[] = [];
      for (const c of contents) out.push(await send(c));
      return out;
    },
    resend: send,
    assertStopped: () => refused(port),
    describes: /^http:\/\/127\.0\.0\.1:\d+\/in$/,
    cleanup: async () => undefined,
  } satisfies SourceHarness;
});

runSourceSuite('directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-dir-source-'));
  let seq = 0;
  const pollMs = 40;
  /** Written under a dot-name, then renamed: the poller never sees a partial file. */
  const drop = async (content: string): Promise<string> => {
    seq += 1;
    const name = `${String(seq).padStart(6, '0')}.hl7`;
    await writeFile(join(dir, `.${name}.tmp`), content);
    await rename(join(dir, `.${name}.tmp`), join(dir, name));
    return name;
  };
  const outcomeOf = async (name: string, context: RecordingContext, rejectedBefore: number): Promise<SenderOutcome> => {
    let outcome: SenderOutcome | undefined;
    await waitFor(
      () => {
        if (!existsSync(join(dir, name))) outcome = 'accepted';
        else if (context.rejected.length > rejectedBefore) outcome = 'rejected';
        return outcome !== undefined;
      },
      10_000,
      `${name} to be taken`,
    );
    if (outcome === 'accepted') assert.ok(existsSync(join(dir, 'done', name)), `${name} should be in done/`);
    return outcome ?? 'rejected';
  };
  let last = '';
  return {
    create: () => new DirectorySource({ path: dir, pollMs, minAgeMs: 0 }),
    async send(content, context) {
      const before = context.rejected.length;
      last = await drop(content);
      return outcomeOf(last, context, before);
    },
    async sendMany(contents, context) {
      const names: string[] = [];
      for (const c of contents) names.push(await drop(c));
      const out: SenderOutcome[] = [];
      for (const n of names) out.push(await outcomeOf(n, context, context.rejected.length));
      return out;
    },
    // The file was kept in place: the next poll reads it again; nothing to resend.
    resend: (_content, context) => outcomeOf(last, context, context.rejected.length),
    async assertStopped(context) {
      const before = context.accepted.length + context.rejected.length;
      const name = await drop('MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|STOPPED|P|2.5.1\r');
      await sleep(pollMs * 6);
      assert.equal(context.accepted.length + context.rejected.length, before, 'a stopped source must not poll');
      assert.ok(existsSync(join(dir, name)));
      await rm(join(dir, name));
      assert.deepEqual((await readdir(dir)).filter((n) => !['done', 'error'].includes(n)), []);
    },
    describes: /^dir:\//,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  } satisfies SourceHarness;
});
