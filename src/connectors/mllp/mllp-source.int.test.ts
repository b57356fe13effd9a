import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { InboundMessage, ReceiveResult, SourceContext } from '../../engine/source-connector.ts';
import { MllpClient } from '../../mllp/mllp-client.ts';
import { encodeMllpFrame } from '../../mllp/mllp-framer.ts';
import type { MllpServerEvent } from '../../mllp/mllp-server.ts';
import { buildTestAck, connectRaw, makeTlsFixtures, testMessage, waitFor } from '../../mllp/mllp-test-kit.ts';
import { MllpSource } from './mllp-source.ts';

function context(answer: (m: InboundMessage) => Promise<ReceiveResult>): SourceContext & { seen: InboundMessage[] } {
  const seen: InboundMessage[] = [];
  return {
    channelId: 'test',
    seen,
    receive(m) {
      seen.push(m);
      return answer(m);
    },
  };
}

const ca = (m: InboundMessage): Promise<ReceiveResult> => Promise.resolve({ kind: 'accepted', messageId: 'm', duplicate: false, status: 'queued', ack: buildTestAck(m.content, 'CA') });

async function started(t: TestContext, ctx: SourceContext, settings: Record<string, unknown> = {}): Promise<{ source: MllpSource; port: number }> {
  const source = new MllpSource({ host: '127.0.0.1', port: 0, closeTimeoutMs: 1000, ...settings });
  await source.start(ctx);
  t.after(() => source.stop());
  const port = source.server?.port;
  assert.ok(port !== undefined && port > 0);
  return { source, port };
}

describe('MllpSource', () => {
  test('each frame reaches the channel as hl7v2 with an mllp:// source; the ACK goes back', async (t) => {
    const ctx = context(ca);
    const { source, port } = await started(t, ctx);
    assert.equal(source.describe(), `mllp://127.0.0.1:${port}`);
    const peer = await connectRaw(port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(encodeMllpFrame(testMessage('S-1')));
    const [ack] = await peer.waitFrames(1);
    assert.match(ack ?? '', /MSA\|CA\|S-1/);
    const m = ctx.seen[0];
    assert.equal(m?.contentType, 'hl7v2');
    assert.equal(m?.content, testMessage('S-1'));
    assert.match(m?.source ?? '', /^mllp:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(m?.source, `mllp://127.0.0.1:${port}`, 'the source is the sender, not the listener');
    assert.ok(m?.receivedAt instanceof Date);
  });

  test('no ACK due (ack undefined) sends nothing for that message; later replies keep their order', async (t) => {
    const ctx = context((m) => (m.content.includes('|SILENT') ? Promise.resolve({ kind: 'accepted', messageId: 'm', duplicate: false, status: 'queued', ack: undefined }) : ca(m)));
    const { port } = await started(t, ctx);
    const peer = await connectRaw(port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat([encodeMllpFrame(testMessage('A-1')), encodeMllpFrame(testMessage('SILENT')), encodeMllpFrame(testMessage('A-2'))]));
    const frames = await peer.waitFrames(2);
    await waitFor(() => ctx.seen.length === 3);
    assert.equal(frames.length, 2);
    assert.match(frames[0] ?? '', /MSA\|CA\|A-1/);
    assert.match(frames[1] ?? '', /MSA\|CA\|A-2/);
  });

  test('a rejected result answers its AR; a receive that throws answers AR with SWB_ERR_MLLP_HANDLER_FAILED', async (t) => {
    const ctx = context((m) => {
      if (m.content.includes('|THROW|')) return Promise.reject(new Error('bug'));
      return Promise.resolve({ kind: 'rejected', errorCode: 'SWB_ERR_STORE_UNAVAILABLE', ack: buildTestAck(m.content, 'AR', { errorCode: '207' }) });
    });
    const { source, port } = await started(t, ctx);
    const peer = await connectRaw(port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat([encodeMllpFrame(testMessage('REJ-1')), encodeMllpFrame(testMessage('THROW'))]));
    const frames = await peer.waitFrames(2);
    assert.match(frames[0] ?? '', /MSA\|AR\|REJ-1/);
    assert.match(frames[1] ?? '', /MSA\|AR\|THROW/);
    assert.match(frames[1] ?? '', /SWB_ERR_MLLP_HANDLER_FAILED/);
    assert.equal(source.stats?.handlerErrors, 1);
  });

  test('onEvent sees connections and protocol errors (for metrics); stats count them', async (t) => {
    const ctx = context(ca);
    const source = new MllpSource({ host: '127.0.0.1', port: 0, maxFrameBytes: 64 });
    const events: MllpServerEvent['kind'][] = [];
    source.onEvent((e) => events.push(e.kind));
    await source.start(ctx);
    t.after(() => source.stop());
    const port = source.server?.port ?? 0;
    const peer = await connectRaw(port);
    peer.socket.write(encodeMllpFrame(testMessage('BIG', 'x'.repeat(200))));
    await peer.closed;
    await waitFor(() => events.includes('connection-closed'));
    assert.ok(events.includes('connection-opened'));
    assert.ok(events.includes('protocol-error'));
    assert.equal(source.stats?.protocolErrors, 1);
    assert.equal(ctx.seen.length, 0);
  });

  test('mutual TLS from certFile/keyFile/caFile: a client with a CA-signed certificate gets its ACK', async (t) => {
    const f = makeTlsFixtures();
    if (f === undefined) {
      t.skip('openssl is not installed');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'swb-mllp-source-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, data: Buffer): string => {
      writeFileSync(join(dir, name), data);
      return join(dir, name);
    };
    const tlsFiles = { certFile: file('server.crt', f.serverCert), keyFile: file('server.key', f.serverKey), caFile: file('ca.crt', f.ca) };
    const ctx = context(ca);
    const { source, port } = await started(t, ctx, { tls: tlsFiles });
    assert.equal(source.describe(), `mllps://127.0.0.1:${port}`);
    const client = new MllpClient({ host: '127.0.0.1', port, tls: { ca: f.ca, cert: f.clientCert, key: f.clientKey, servername: 'localhost' }, ackTimeoutMs: 5000 });
    t.after(() => client.close());
    const reply = await client.send(testMessage('TLS-1'));
    assert.equal(reply.ack?.code, 'CA');
    // Without a client certificate the handshake fails: nothing reaches the channel.
    const anonymous = new MllpClient({ host: '127.0.0.1', port, tls: { ca: f.ca, servername: 'localhost' }, ackTimeoutMs: 2000, connectTimeoutMs: 2000 });
    t.after(() => anonymous.close());
    await assert.rejects(anonymous.send(testMessage('TLS-2')));
    assert.equal(ctx.seen.length, 1);
  });

  test('a missing TLS file fails start with SWB_ERR_IO_READ_FAILED; a taken port fails start', async (t) => {
    const bad = new MllpSource({ host: '127.0.0.1', port: 0, tls: { certFile: '/nonexistent/cert.pem', keyFile: '/nonexistent/key.pem' } });
    await assert.rejects(bad.start(context(ca)), /SWB_ERR_IO_READ_FAILED|cannot read \/nonexistent/);
    const { port } = await started(t, context(ca));
    const second = new MllpSource({ host: '127.0.0.1', port });
    await assert.rejects(second.start(context(ca)), /EADDRINUSE/);
  });
});
