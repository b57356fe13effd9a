import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { isSwitchboardError, type SwitchboardError } from '../core/errors.ts';
import { fullJitterDelay, MllpClient, MllpNakError, type MllpClientOptions } from './mllp-client.ts';
import { MllpServer, type MllpHandler, type MllpServerOptions } from './mllp-server.ts';
import { buildTestAck, makeTlsFixtures, sleep, testMessage, waitFor } from './mllp-test-kit.ts';

async function startServer(t: TestContext, handler: MllpHandler, options: Partial<MllpServerOptions> = {}): Promise<MllpServer> {
  const server = new MllpServer({ host: '127.0.0.1', port: 0, handler, closeTimeoutMs: 1000, ...options });
  await server.listen();
  t.after(() => server.close());
  return server;
}

function startClient(t: TestContext, port: number, options: Partial<MllpClientOptions> = {}): MllpClient {
  const client = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 5000, connectTimeoutMs: 2000, reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options });
  t.after(() => client.close());
  return client;
}

/** Asserts a promise rejects with the given Switchboard code and failure class; returns the error. */
async function rejectsWith(promise: Promise<unknown>, code: string, failureClass: string): Promise<SwitchboardError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isSwitchboardError(error), `not a SwitchboardError: ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.failureClass, failureClass);
    return error;
  }
  assert.fail(`expected ${code}`);
}

const echoAck: MllpHandler = async (m) => buildTestAck(m.payload);

describe('MllpClient', () => {
  test('send resolves with the matched ACK and its timing', async (t) => {
    const server = await startServer(t, echoAck);
    const client = startClient(t, server.port);
    const reply = await client.send(testMessage('ONE'));
    assert.equal(reply.controlId, 'ONE');
    assert.equal(reply.ack?.code, 'AA');
    assert.equal(reply.ack?.controlId, 'ONE');
    assert.match(reply.raw, /^MSH\|/);
    assert.equal(reply.attempts, 1);
    assert.ok(reply.timing.totalMs >= reply.timing.roundTripMs);
    assert.ok(reply.timing.startedAt instanceof Date);
    assert.equal(client.target, `mllp://127.0.0.1:${server.port}`);
  });

  test('a pool sends concurrently but never more than one message in flight per connection', async (t) => {
    const active = new Map<string, number>();
    let maxPerConnection = 0;
    const server = await startServer(t, async (m) => {
      const n = (active.get(m.connectionId) ?? 0) + 1;
      active.set(m.connectionId, n);
      maxPerConnection = Math.max(maxPerConnection, n);
      await sleep(Math.floor(Math.random() * 10));
      active.set(m.connectionId, n - 1);
      return buildTestAck(m.payload);
    });
    const client = startClient(t, server.port, { poolSize: 4 });
    const ids = Array.from({ length: 60 }, (_, i) => `POOL${i}`);
    const replies = await Promise.all(ids.map((id) => client.send(testMessage(id))));
    assert.deepEqual(
      replies.map((r) => r.ack?.controlId),
      ids,
    );
    assert.equal(maxPerConnection, 1);
    assert.ok(active.size > 1 && active.size <= 4, `used ${active.size} connections`);
    assert.equal(server.stats.messages, 60);
  });

  test('an ACK timeout is ambiguous, destroys the connection, and the late ACK is not matched to the next message', async (t) => {
    const server = await startServer(t, async (m) => {
      if (m.payload.includes('SLOWACK')) await sleep(600);
      return buildTestAck(m.payload);
    });
    const client = startClient(t, server.port, { poolSize: 1, ackTimeoutMs: 150 });
    const error = await rejectsWith(client.send(testMessage('LATE', 'SLOWACK')), 'SWB_ERR_MLLP_ACK_TIMEOUT', 'ambiguous');
    assert.equal(error.params['ms'], 150);
    // The next message goes out while the late ACK is still being produced, and again after it.
    const next = await client.send(testMessage('NEXT'));
    assert.equal(next.ack?.controlId, 'NEXT');
    await sleep(700);
    const after = await client.send(testMessage('AFTER'));
    assert.equal(after.ack?.controlId, 'AFTER');
    assert.equal(client.stats.timeouts, 1);
    assert.equal(server.stats.connectionsTotal, 2);
  });

  test('the server closing mid-message gives CONNECTION_LOST (ambiguous)', async (t) => {
    const server = await startServer(t, () => new Promise<string>(() => undefined), { closeTimeoutMs: 100 });
    const client = startClient(t, server.port);
    const sending = client.send(testMessage('LOST'));
    await waitFor(() => server.stats.messages === 1, 5000, 'message received');
    await server.close();
    await rejectsWith(sending, 'SWB_ERR_MLLP_CONNECTION_LOST', 'ambiguous');
  });

  test('connect failures are transient; the client reconnects once the server is back on the same port', async (t) => {
    const first = await startServer(t, echoAck);
    const port = first.port;
    const client = startClient(t, port, { poolSize: 2 });
    assert.equal((await client.send(testMessage('BEFORE'))).ack?.controlId, 'BEFORE');
    await first.close();
    await rejectsWith(client.send(testMessage('DOWN')), 'SWB_ERR_MLLP_CONNECT_FAILED', 'transient');
    const second = new MllpServer({ host: '127.0.0.1', port, handler: echoAck });
    await second.listen();
    t.after(() => second.close());
    const reply = await client.send(testMessage('AGAIN'));
    assert.equal(reply.ack?.controlId, 'AGAIN');
    assert.equal(second.stats.messages, 1);
    assert.ok(client.stats.connectFailures >= 1);
  });

  test('AR is resent up to resend.maxAttempts, then fails with NAK_REJECT (transient)', async (t) => {
    let deliveries = 0;
    const server = await startServer(t, async (m) => {
      deliveries += 1;
      return buildTestAck(m.payload, 'AR', { errorCode: '207' });
    });
    const client = startClient(t, server.port, { resend: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 20 } });
    const error = await rejectsWith(client.sendWithPolicy(testMessage('REJ')), 'SWB_ERR_MLLP_NAK_REJECT', 'transient');
    assert.equal(deliveries, 3);
    assert.ok(error instanceof MllpNakError);
    assert.equal(error.reply.ack.code, 'AR');
    assert.equal(error.reply.ack.errorCode, '207');
    assert.equal(error.reply.attempts, 3);
  });

  test('AR then AA succeeds on the second attempt', async (t) => {
    let deliveries = 0;
    const server = await startServer(t, async (m) => {
      deliveries += 1;
      return buildTestAck(m.payload, deliveries === 1 ? 'AR' : 'AA');
    });
    const client = startClient(t, server.port, { resend: { maxAttempts: 5, initialDelayMs: 5 } });
    const reply = await client.sendWithPolicy(testMessage('RETRY'));
    assert.equal(reply.ack?.code, 'AA');
    assert.equal(reply.attempts, 2);
    assert.equal(deliveries, 2);
  });

  test('AE is never resent: NAK_ERROR (permanent) after exactly one delivery', async (t) => {
    let deliveries = 0;
    const server = await startServer(t, async (m) => {
      deliveries += 1;
      return buildTestAck(m.payload, 'AE', { errorCode: '101' });
    });
    const client = startClient(t, server.port, { resend: { maxAttempts: 5, initialDelayMs: 5 } });
    const error = await rejectsWith(client.sendWithPolicy(testMessage('BAD')), 'SWB_ERR_MLLP_NAK_ERROR', 'permanent');
    assert.equal(deliveries, 1);
    assert.ok(error instanceof MllpNakError);
    assert.equal(error.reply.ack.code, 'AE');
    // Plain send reports AE as a reply, not an error: the caller decides.
    assert.equal((await client.send(testMessage('BAD2'))).ack?.code, 'AE');
  });

  test('CA and CE follow the same rules as AA and AE', async (t) => {
    const server = await startServer(t, async (m) => buildTestAck(m.payload, m.payload.includes('CE-ME') ? 'CE' : 'CA'));
    const client = startClient(t, server.port, { resend: { maxAttempts: 3, initialDelayMs: 5 } });
    assert.equal((await client.sendWithPolicy(testMessage('C1'))).ack?.code, 'CA');
    await rejectsWith(client.sendWithPolicy(testMessage('C2', 'CE-ME')), 'SWB_ERR_MLLP_NAK_ERROR', 'permanent');
  });

  test('an ACK whose MSA-2 is another control id is detected as ACK_MISMATCH', async (t) => {
    const server = await startServer(t, async (m) => (m.payload.includes('WRONG') ? buildTestAck(m.payload, 'AA', { controlId: 'SOMEONE-ELSE' }) : buildTestAck(m.payload)));
    const client = startClient(t, server.port, { poolSize: 1 });
    const error = await rejectsWith(client.send(testMessage('MINE', 'WRONG')), 'SWB_ERR_MLLP_ACK_MISMATCH', 'ambiguous');
    assert.equal(error.params['got'], 'SOMEONE-ELSE');
    assert.equal(error.params['expected'], 'MINE');
    // The connection was dropped; the next send works on a fresh one.
    assert.equal((await client.send(testMessage('OK'))).ack?.controlId, 'OK');
    assert.equal(server.stats.connectionsTotal, 2);
  });

  test('a reply without MSA is ACK_INVALID; an ambiguous failure is not resent by default', async (t) => {
    let deliveries = 0;
    const server = await startServer(t, async () => {
      deliveries += 1;
      return 'MSH|^~\\&|X|Y|||20240101||ACK|1|P|2.5.1\r';
    });
    const client = startClient(t, server.port, { resend: { maxAttempts: 3, initialDelayMs: 5 } });
    await rejectsWith(client.sendWithPolicy(testMessage('NOMSA')), 'SWB_ERR_MLLP_ACK_INVALID', 'ambiguous');
    assert.equal(deliveries, 1);
  });

  test('resend.retryAmbiguous resends after an ACK timeout', async (t) => {
    let deliveries = 0;
    const server = await startServer(t, async (m) => {
      deliveries += 1;
      if (deliveries === 1) await sleep(400);
      return buildTestAck(m.payload);
    });
    const client = startClient(t, server.port, { ackTimeoutMs: 100, resend: { maxAttempts: 2, initialDelayMs: 5, retryAmbiguous: true } });
    const reply = await client.sendWithPolicy(testMessage('AMB'));
    assert.equal(reply.attempts, 2);
    assert.equal(deliveries, 2);
  });

  test('a message without MSH-10 is refused before sending', async (t) => {
    const server = await startServer(t, echoAck);
    const client = startClient(t, server.port);
    await rejectsWith(client.send('MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5.1\r'), 'SWB_ERR_MLLP_NO_CONTROL_ID', 'permanent');
    await rejectsWith(client.send('PID|1\r'), 'SWB_ERR_MLLP_NO_CONTROL_ID', 'permanent');
    // An explicit control id is used when given.
    const reply = await client.send('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X9|P|2.5.1\r', { controlId: 'X9' });
    assert.equal(reply.controlId, 'X9');
    assert.equal(server.stats.messages, 1);
  });

  test('close() lets a send in flight finish, then refuses new sends', async (t) => {
    const server = await startServer(t, async (m) => {
      await sleep(200);
      return buildTestAck(m.payload);
    });
    const client = startClient(t, server.port);
    const inFlight = client.send(testMessage('INFLIGHT'));
    await waitFor(() => server.stats.messages === 1, 5000, 'message received');
    await client.close();
    assert.equal((await inFlight).ack?.controlId, 'INFLIGHT');
    await rejectsWith(client.send(testMessage('AFTERCLOSE')), 'SWB_ERR_MLLP_CLIENT_CLOSED', 'permanent');
    await waitFor(() => server.stats.connections === 0, 5000, 'connection closed');
  });

  test('mutual TLS end to end', async (t) => {
    const f = makeTlsFixtures();
    if (f === undefined) {
      t.skip('openssl CLI not found: cannot generate test certificates');
      return;
    }
    const cns: (string | undefined)[] = [];
    const server = await startServer(
      t,
      async (m) => {
        cns.push(m.tls?.peerCommonName);
        return buildTestAck(m.payload);
      },
      { tls: { key: f.serverKey, cert: f.serverCert, ca: f.ca, requestCert: true } },
    );
    const client = startClient(t, server.port, { tls: { ca: f.ca, key: f.clientKey, cert: f.clientCert, servername: 'localhost' } });
    assert.equal((await client.send(testMessage('TLS1'))).ack?.controlId, 'TLS1');
    assert.deepEqual(cns, ['test-sender']);
    const untrusted = startClient(t, server.port, { tls: { servername: 'localhost' } });
    await rejectsWith(untrusted.send(testMessage('TLS2')), 'SWB_ERR_MLLP_CONNECT_FAILED', 'transient');
  });
});

describe('fullJitterDelay', () => {
  test('stays within [0, min(max, initial * 2^(n-1))]', () => {
    assert.equal(fullJitterDelay(1, 100, 1000, () => 0.999), 99);
    assert.equal(fullJitterDelay(3, 100, 1000, () => 0.5), 200);
    assert.equal(fullJitterDelay(10, 100, 1000, () => 0.999), 999);
    assert.equal(fullJitterDelay(4, 100, 1000, () => 0), 0);
  });
  test('a message asking for no ACK at all (MSH-15 NE, MSH-16 NE) resolves once written, and the pool goes on', async (t) => {
    const seen: string[] = [];
    const server = await startServer(t, async (m) => {
      seen.push(m.payload.split('\r')[0]?.split('|')[9] ?? '');
      // Enhanced mode NE/NE: the receiver sends nothing (HL7 v2.5.1 ch.2 2.9.2).
      return /\|NE\|NE/.test(m.payload) ? undefined : buildTestAck(m.payload);
    });
    const client = startClient(t, server.port, { ackTimeoutMs: 60_000 });
    const quiet = testMessage('QUIET').replace(/^(MSH(?:\|[^|\r]*){11})/, '$1|||NE|NE');
    assert.match(quiet, /^MSH(\|[^|\r]*){11}\|\|\|NE\|NE/);
    const reply = await client.send(quiet);
    assert.equal(reply.ack, null);
    assert.equal(reply.raw, '');
    const next = await client.send(testMessage('LOUD'));
    assert.equal(next.ack?.code, 'AA');
    assert.equal(next.ack?.controlId, 'LOUD');
    await waitFor(() => seen.length === 2, 5000, 'both messages at the server');
    assert.deepEqual(seen, ['QUIET', 'LOUD']);
  });
  test('enhanced ER/NE: silence counts as accepted after noAckWaitMs, and a NAK is still returned', async (t) => {
    const server = await startServer(t, async (m) => (m.payload.includes('BAD') ? buildTestAck(m.payload, 'CE') : undefined));
    const client = startClient(t, server.port, { ackTimeoutMs: 60_000, noAckWaitMs: 100 });
    const withModes = (id: string): string => testMessage(id).replace(/^(MSH(?:\|[^|\r]*){11})/, '$1|||ER|NE');
    const ok = await client.send(withModes('QUIET1'));
    assert.equal(ok.ack, null);
    const bad = await client.send(withModes('BAD1'));
    assert.equal(bad.ack?.code, 'CE');
    assert.equal(bad.ack?.controlId, 'BAD1');
    assert.equal(server.stats.messages, 2);
  });

  test('a second frame for an answered message (CA then AA) is dropped, not read as the next answer', async (t) => {
    const { createServer } = await import('node:net');
    const { encodeMllpFrame, MllpFramer } = await import('./mllp-framer.ts');
    const open: Socket[] = [];
    const raw = createServer((socket) => {
      open.push(socket);
      const framer = new MllpFramer({
        maxFrameBytes: 1024 * 1024,
        onFrame: (payload) => {
          const text = payload.toString('utf8');
          // Enhanced AL/AL on one connection: the commit ACK, then the application ACK.
          socket.write(Buffer.concat([encodeMllpFrame(buildTestAck(text, 'CA')), encodeMllpFrame(buildTestAck(text, 'AA'))]));
        },
      });
      socket.on('data', (d: Buffer) => framer.push(d));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    });
    const port = (raw.address() as { port: number }).port;
    const client = startClient(t, port, { poolSize: 1 });
    for (const id of ['E1', 'E2', 'E3']) {
      const reply = await client.send(testMessage(id).replace(/^(MSH(?:\|[^|\r]*){11})/, '$1|||AL|AL'));
      assert.equal(reply.ack?.code, 'CA');
      assert.equal(reply.ack?.controlId, id);
    }
    assert.equal(client.stats.mismatches, 0);
  });

  test('a no-ACK message to a peer that stops reading fails (ambiguous) instead of hanging, and close() returns', async (t) => {
    const { createServer } = await import('node:net');
    const sockets: Socket[] = [];
    const raw = createServer((socket) => {
      socket.pause(); // never reads
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => raw.close(() => resolve()));
    });
    const port = (raw.address() as { port: number }).port;
    const client = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 500, maxFrameBytes: 64 * 1024 * 1024 });
    const big = testMessage('BIG', 'x'.repeat(32 * 1024 * 1024)).replace(/^(MSH(?:\|[^|\r]*){11})/, '$1|||NE|NE');
    await rejectsWith(client.send(big), 'SWB_ERR_MLLP_ACK_TIMEOUT', 'ambiguous');
    await client.close();
  });

  test('close() does not wait out a reconnect backoff', async (t) => {
    const client = new MllpClient({ host: '127.0.0.1', port: 1, connectTimeoutMs: 1000, reconnect: { initialDelayMs: 120_000, maxDelayMs: 120_000 } });
    await rejectsWith(client.send(testMessage('NOPE1')), 'SWB_ERR_MLLP_CONNECT_FAILED', 'transient');
    // The next connect waits a backoff of up to 2 minutes; close() must cut it short.
    const second = client.send(testMessage('NOPE2')).catch((e: unknown) => e);
    await sleep(50);
    const guard = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 10_000).unref());
    const closed = await Promise.race([client.close().then(() => 'closed'), guard]);
    assert.equal(closed, 'closed');
    const error = await second;
    assert.ok(isSwitchboardError(error));
    t.diagnostic(`second send ended with ${error.code}`);
  });
});
