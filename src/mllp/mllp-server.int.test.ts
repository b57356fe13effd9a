import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import tls from 'node:tls';
import { encodeMllpFrame, MllpFramer } from './mllp-framer.ts';
import { MllpServer, type MllpInboundMessage, type MllpServerEvent, type MllpServerOptions } from './mllp-server.ts';
import { buildTestAck, connectRaw, makeTlsFixtures, sleep, testMessage, waitFor, type TlsFixtures } from './mllp-test-kit.ts';
import { peekEr7 } from './peek-er7.ts';

const ackOf = async (m: MllpInboundMessage): Promise<string> => buildTestAck(m.payload);

async function startServer(t: TestContext, options: Partial<MllpServerOptions> = {}): Promise<{ server: MllpServer; events: MllpServerEvent[] }> {
  const events: MllpServerEvent[] = [];
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    handler: ackOf,
    closeTimeoutMs: 2000,
    ...options,
    onEvent: (e) => {
      events.push(e);
      options.onEvent?.(e);
    },
  });
  await server.listen();
  t.after(() => server.close());
  return { server, events };
}

/** MSA-2 of each reply: which message each ACK answers. */
const acked = (frames: readonly string[]): (string | undefined)[] => frames.map((f) => peekEr7(f).msa?.controlId);

describe('MllpServer over TCP', () => {
  test('listen on port 0 exposes the ephemeral port; a second listen on it fails', async (t) => {
    const { server } = await startServer(t);
    assert.ok(server.port > 0);
    assert.equal(server.address().address, '127.0.0.1');
    const clash = new MllpServer({ host: '127.0.0.1', port: server.port, handler: ackOf });
    await assert.rejects(clash.listen(), /EADDRINUSE/);
  });

  test('a frame written byte by byte, with pauses, is decoded and answered', async (t) => {
    const seen: MllpInboundMessage[] = [];
    const { server } = await startServer(t, {
      handler: async (m) => {
        seen.push(m);
        return buildTestAck(m.payload);
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    const frame = encodeMllpFrame(testMessage('BYTE1'));
    for (const b of frame) {
      peer.socket.write(Buffer.of(b));
      await sleep(1);
    }
    const frames = await peer.waitFrames(1);
    assert.deepEqual(acked(frames), ['BYTE1']);
    assert.equal(seen[0]?.payload, testMessage('BYTE1'));
    assert.equal(seen[0]?.raw.toString('utf8'), testMessage('BYTE1'));
    assert.equal(seen[0]?.remoteAddress, '127.0.0.1');
    assert.equal(seen[0]?.remotePort, peer.socket.localPort);
    assert.equal(seen[0]?.tls, null);
    assert.equal(seen[0]?.sequence, 1);
    assert.ok(seen[0]?.receivedAt instanceof Date);
  });

  test('several frames in one write, with junk between them, each get their ACK in order', async (t) => {
    const { server, events } = await startServer(t);
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    const ids = ['C1', 'C2', 'C3', 'C4', 'C5'];
    peer.socket.write(Buffer.concat(ids.flatMap((id) => [encodeMllpFrame(testMessage(id)), Buffer.from('\r\n')])));
    const frames = await peer.waitFrames(5);
    assert.deepEqual(acked(frames), ids);
    await waitFor(() => server.stats.junkBytes === 10, 5000, 'junk count');
    assert.ok(events.some((e) => e.kind === 'junk-skipped'));
    assert.equal(server.stats.messages, 5);
    assert.equal(server.stats.replies, 5);
  });

  test('pipelined messages get replies in arrival order when handlers finish in reverse', async (t) => {
    // Handlers park here in arrival order and are released below in reverse.
    const parked: { payload: string; release: () => void }[] = [];
    const finished: string[] = [];
    const { server } = await startServer(t, {
      maxInFlightPerConnection: 5,
      handler: (m) =>
        new Promise<string>((resolve) => {
          parked.push({
            payload: m.payload,
            release: () => {
              finished.push(peekEr7(m.payload).controlId ?? '');
              resolve(buildTestAck(m.payload));
            },
          });
        }),
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    const ids = ['P1', 'P2', 'P3', 'P4', 'P5'];
    peer.socket.write(Buffer.concat(ids.map((id) => encodeMllpFrame(testMessage(id)))));
    await waitFor(() => parked.length === 5, 5000, 'five handlers running');
    for (let i = 4; i >= 0; i -= 1) {
      parked[i]?.release();
      await sleep(10);
      // Nothing may be written before P1's handler finished.
      if (i > 0) assert.equal(peer.frames.length, 0, `reply written before P1 finished (after releasing P${i + 1})`);
    }
    const frames = await peer.waitFrames(5);
    assert.deepEqual(finished, ['P5', 'P4', 'P3', 'P2', 'P1']);
    assert.deepEqual(acked(frames), ids);
  });

  test('maxInFlightPerConnection caps the handlers running for one connection', async (t) => {
    const parked: (() => void)[] = [];
    let running = 0;
    let peak = 0;
    const { server } = await startServer(t, {
      maxInFlightPerConnection: 2,
      handler: async (m) => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise<void>((resolve) => parked.push(resolve));
        running -= 1;
        return buildTestAck(m.payload);
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    const ids = Array.from({ length: 10 }, (_, i) => `CAP${i}`);
    peer.socket.write(Buffer.concat(ids.map((id) => encodeMllpFrame(testMessage(id)))));
    await waitFor(() => server.stats.messages === 10, 5000, 'ten frames read');
    let released = 0;
    while (released < 10) {
      await waitFor(() => parked.length > 0, 5000, 'a parked handler');
      assert.ok(running <= 2, `${running} handlers running`);
      parked.shift()?.();
      released += 1;
    }
    assert.deepEqual(acked(await peer.waitFrames(10)), ids);
    assert.equal(peak, 2);
  });

  test('an oversize frame closes its connection; the server keeps serving others', async (t) => {
    const { server, events } = await startServer(t, { maxFrameBytes: 1024 });
    const good = await connectRaw(server.port);
    const bad = await connectRaw(server.port);
    t.after(() => {
      good.socket.destroy();
      bad.socket.destroy();
    });
    bad.socket.write(Buffer.concat([Buffer.of(0x0b), Buffer.alloc(4096, 0x41)]));
    await bad.closed;
    assert.equal(bad.frames.length, 0);
    await waitFor(() => events.some((e) => e.kind === 'connection-closed'), 5000, 'connection-closed event');
    const closed = events.find((e) => e.kind === 'connection-closed' && e.reason === 'oversize');
    assert.ok(closed, 'connection-closed with reason oversize');
    assert.equal(closed.kind === 'connection-closed' ? closed.error?.code : undefined, 'SWB_ERR_MLLP_FRAME_TOO_LARGE');
    assert.ok(events.some((e) => e.kind === 'protocol-error' && e.error.code === 'SWB_ERR_MLLP_FRAME_TOO_LARGE'));
    assert.equal(server.stats.protocolErrors, 1);

    good.socket.write(encodeMllpFrame(testMessage('AFTER1')));
    assert.deepEqual(acked(await good.waitFrames(1)), ['AFTER1']);
    const fresh = await connectRaw(server.port);
    t.after(() => fresh.socket.destroy());
    fresh.socket.write(encodeMllpFrame(testMessage('AFTER2')));
    assert.deepEqual(acked(await fresh.waitFrames(1)), ['AFTER2']);
  });

  test('replies already due before an oversize frame are still written', async (t) => {
    const { server } = await startServer(t, {
      maxFrameBytes: 1024,
      handler: async (m) => {
        await sleep(100);
        return buildTestAck(m.payload);
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat([encodeMllpFrame(testMessage('BEFORE')), Buffer.of(0x0b), Buffer.alloc(2048, 0x41)]));
    await peer.closed;
    assert.deepEqual(acked(peer.frames), ['BEFORE']);
  });

  test('a client that does not read its ACKs is paused (bounded), others are served, and it gets every ACK in order once it reads', async (t) => {
    const padding = 'x'.repeat(256 * 1024);
    let handled = 0;
    const { server } = await startServer(t, {
      maxInFlightPerConnection: 4,
      handler: async (m) => {
        handled += 1;
        // A large reply fills the socket buffers quickly.
        return `${buildTestAck(m.payload)}NTE|1||${padding}\r`;
      },
    });
    const slow = await connectRaw(server.port);
    t.after(() => slow.socket.destroy());
    slow.socket.pause();
    const count = 200;
    const ids = Array.from({ length: count }, (_, i) => `S${i}`);
    slow.socket.write(Buffer.concat(ids.map((id) => encodeMllpFrame(testMessage(id)))));
    // Let the server fill every buffer it can, then check it stopped taking messages.
    let last = -1;
    while (handled !== last) {
      last = handled;
      await sleep(300);
    }
    assert.ok(handled < count, `server handled all ${handled} messages of a client that does not read`);

    const other = await connectRaw(server.port);
    t.after(() => other.socket.destroy());
    other.socket.write(encodeMllpFrame(testMessage('OTHER')));
    assert.deepEqual(acked(await other.waitFrames(1)), ['OTHER']);

    slow.socket.resume();
    const frames = await slow.waitFrames(count, 30_000);
    assert.deepEqual(acked(frames), ids);
  });

  test('100 connections x 10 messages each all get the right ACKs', async (t) => {
    const { server } = await startServer(t, {
      handler: async (m) => {
        await sleep(Math.floor(Math.random() * 5));
        return buildTestAck(m.payload);
      },
    });
    const peers = await Promise.all(Array.from({ length: 100 }, () => connectRaw(server.port)));
    t.after(() => peers.forEach((p) => p.socket.destroy()));
    await Promise.all(
      peers.map(async (peer, c) => {
        const ids = Array.from({ length: 10 }, (_, i) => `K${c}-${i}`);
        // Half pipeline everything at once; half send one at a time as MLLP senders usually do.
        if (c % 2 === 0) {
          peer.socket.write(Buffer.concat(ids.map((id) => encodeMllpFrame(testMessage(id)))));
        } else {
          for (const [i, id] of ids.entries()) {
            peer.socket.write(encodeMllpFrame(testMessage(id)));
            await peer.waitFrames(i + 1, 20_000);
          }
        }
        const frames = await peer.waitFrames(10, 20_000);
        assert.deepEqual(acked(frames), ids);
      }),
    );
    assert.equal(server.stats.messages, 1000);
    assert.equal(server.stats.connections, 100);
  });

  test('an idle connection is closed after idleTimeoutMs; a busy one is not', async (t) => {
    const { server, events } = await startServer(t, {
      idleTimeoutMs: 200,
      handler: async (m) => {
        await sleep(700);
        return buildTestAck(m.payload);
      },
    });
    const idle = await connectRaw(server.port);
    const busy = await connectRaw(server.port);
    t.after(() => {
      idle.socket.destroy();
      busy.socket.destroy();
    });
    const started = Date.now();
    busy.socket.write(encodeMllpFrame(testMessage('SLOW')));
    await idle.closed;
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 5000, `idle close after ${elapsed} ms`);
    await waitFor(
      () => events.some((e) => e.kind === 'connection-closed' && e.reason === 'idle' && e.error?.code === 'SWB_ERR_MLLP_IDLE_TIMEOUT'),
      5000,
      'idle connection-closed event',
    );
    // The handler takes longer than the idle timeout: the peer waiting for its ACK is not idle.
    assert.deepEqual(acked(await busy.waitFrames(1)), ['SLOW']);
    await busy.closed; // then it goes idle and is closed too
  });

  test('a connection whose message got no reply (and outlived the idle timeout) still idle-closes', async (t) => {
    const { server } = await startServer(t, {
      idleTimeoutMs: 200,
      handler: async () => {
        await sleep(500);
        return undefined; // enhanced mode NE/NE: nothing to write, so nothing re-arms the timer
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(encodeMllpFrame(testMessage('QUIET')));
    const outcome = await Promise.race([peer.closed.then(() => 'closed'), sleep(8000).then(() => 'still open')]);
    assert.equal(outcome, 'closed');
  });

  test('mutual TLS without a CA of our own is refused at construction (public roots would pass)', () => {
    assert.throws(
      () => new MllpServer({ port: 0, handler: async () => undefined, tls: { requestCert: true, key: 'k', cert: 'c' } }),
      /requestCert needs tls\.ca/,
    );
  });

  test('a handler that throws gets the onHandlerError reply; later messages are still served', async (t) => {
    const errors: unknown[] = [];
    const { server } = await startServer(t, {
      handler: async (m) => {
        if (m.payload.includes('BOOM')) throw new Error('store unavailable');
        return buildTestAck(m.payload);
      },
      onHandlerError: (error, m) => {
        errors.push(error);
        return buildTestAck(m.payload, 'AR');
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat([encodeMllpFrame(testMessage('H1')), encodeMllpFrame(testMessage('H2', 'BOOM')), encodeMllpFrame(testMessage('H3'))]));
    const frames = await peer.waitFrames(3);
    assert.deepEqual(acked(frames), ['H1', 'H2', 'H3']);
    assert.deepEqual(frames.map((f) => peekEr7(f).msa?.code), ['AA', 'AR', 'AA']);
    assert.equal(errors.length, 1);
    assert.equal(server.stats.handlerErrors, 1);
  });

  test('a handler that throws synchronously, with no onHandlerError, closes the connection after earlier replies', async (t) => {
    const { server, events } = await startServer(t, {
      handler: (m) => {
        if (m.payload.includes('BOOM')) throw new Error('sync failure');
        return Promise.resolve(buildTestAck(m.payload));
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat([encodeMllpFrame(testMessage('E1')), encodeMllpFrame(testMessage('E2', 'BOOM')), encodeMllpFrame(testMessage('E3'))]));
    await peer.closed;
    assert.deepEqual(acked(peer.frames), ['E1']);
    assert.ok(events.some((e) => e.kind === 'handler-error' && !e.replied));
    await waitFor(() => events.some((e) => e.kind === 'connection-closed' && e.reason === 'handler-error'), 5000, 'handler-error close');
  });

  test('a handler resolving undefined sends nothing for that message and keeps the order', async (t) => {
    const { server } = await startServer(t, {
      handler: async (m) => (m.payload.includes('SILENT') ? undefined : buildTestAck(m.payload)),
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(Buffer.concat([encodeMllpFrame(testMessage('U1', 'SILENT')), encodeMllpFrame(testMessage('U2'))]));
    assert.deepEqual(acked(await peer.waitFrames(1)), ['U2']);
  });

  test('a sender that half-closes after sending still gets its ACK', async (t) => {
    const { server } = await startServer(t, {
      handler: async (m) => {
        await sleep(50);
        return buildTestAck(m.payload);
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.end(encodeMllpFrame(testMessage('HALF')));
    await peer.closed;
    assert.deepEqual(acked(peer.frames), ['HALF']);
  });

  test('maxConnections refuses connections beyond the limit', async (t) => {
    const { server, events } = await startServer(t, { maxConnections: 2 });
    const a = await connectRaw(server.port);
    const b = await connectRaw(server.port);
    t.after(() => {
      a.socket.destroy();
      b.socket.destroy();
    });
    await waitFor(() => server.stats.connections === 2, 5000, 'two connections');
    const c = await connectRaw(server.port);
    t.after(() => c.socket.destroy());
    await c.closed;
    assert.equal(server.stats.connectionsDropped, 1);
    assert.ok(events.some((e) => e.kind === 'connection-dropped'));
    a.socket.write(encodeMllpFrame(testMessage('LIMIT')));
    assert.deepEqual(acked(await a.waitFrames(1)), ['LIMIT']);
  });

  test('close() waits for a handler in flight, writes its ACK, and refuses new connections', async (t) => {
    const { server } = await startServer(t, {
      handler: async (m) => {
        await sleep(300);
        return buildTestAck(m.payload);
      },
    });
    const port = server.port;
    const peer = await connectRaw(port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(encodeMllpFrame(testMessage('LAST')));
    await waitFor(() => server.stats.messages === 1, 5000, 'message received');
    await server.close();
    assert.deepEqual(acked(peer.frames), ['LAST']);
    await peer.closed;
    assert.equal(server.listening, false);
    await assert.rejects(connectRaw(port), /ECONNREFUSED/);
  });

  test('close() destroys connections whose handlers never finish, after closeTimeoutMs', async (t) => {
    const { server } = await startServer(t, {
      closeTimeoutMs: 200,
      handler: () => new Promise<string>(() => undefined),
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(encodeMllpFrame(testMessage('STUCK')));
    await waitFor(() => server.stats.messages === 1, 5000, 'message received');
    await server.close();
    await peer.closed;
    assert.equal(peer.frames.length, 0);
  });

  test('latin1 encoding decodes and encodes ISO 8859-1 payloads', async (t) => {
    let seen = '';
    const { server } = await startServer(t, {
      encoding: 'latin1',
      handler: async (m) => {
        seen = m.payload;
        return buildTestAck(m.payload);
      },
    });
    const peer = await connectRaw(server.port);
    t.after(() => peer.socket.destroy());
    peer.socket.write(encodeMllpFrame(testMessage('L1', 'Müller'), 'latin1'));
    await peer.waitFrames(1);
    assert.ok(seen.includes('Müller'));
  });
});

// ---- TLS ------------------------------------------------------------------------------------

let fixtures: TlsFixtures | undefined | null = null;
function tlsFixtures(): TlsFixtures | undefined {
  if (fixtures === null) fixtures = makeTlsFixtures();
  return fixtures;
}

interface TlsOutcome {
  readonly frames: string[];
  readonly error: Error | undefined;
}

/** Connects with TLS, sends one message, and collects what comes back until the socket closes or a reply arrives. */
async function tlsExchange(port: number, options: tls.ConnectionOptions, payload: string): Promise<TlsOutcome> {
  const frames: string[] = [];
  let error: Error | undefined;
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const replied = new Promise<void>((resolve) => {
    const framer = new MllpFramer({
      onFrame: (p) => {
        frames.push(p.toString('utf8'));
        resolve();
      },
    });
    socket.on('data', (c: Buffer) => framer.push(c));
  });
  socket.on('error', (e) => {
    error = e;
  });
  socket.once('secureConnect', () => socket.write(encodeMllpFrame(payload)));
  await Promise.race([closed, replied]);
  socket.destroy();
  await closed;
  return { frames, error };
}

describe('MllpServer over TLS', () => {
  test('TLS: a client trusting the CA gets its ACK; tls info is exposed', async (t) => {
    const f = tlsFixtures();
    if (f === undefined) {
      t.skip('openssl CLI not found: cannot generate test certificates');
      return;
    }
    const seen: MllpInboundMessage[] = [];
    const { server } = await startServer(t, {
      tls: { key: f.serverKey, cert: f.serverCert },
      handler: async (m) => {
        seen.push(m);
        return buildTestAck(m.payload);
      },
    });
    assert.equal(server.tls, true);
    const out = await tlsExchange(server.port, { ca: f.ca }, testMessage('T1'));
    assert.deepEqual(acked(out.frames), ['T1']);
    assert.equal(seen[0]?.tls?.authorized, false); // no client certificate was requested
    assert.match(seen[0]?.tls?.protocol ?? '', /^TLSv1\.[23]$/);
  });

  test('TLS: a client that does not trust the server certificate fails the handshake', async (t) => {
    const f = tlsFixtures();
    if (f === undefined) {
      t.skip('openssl CLI not found: cannot generate test certificates');
      return;
    }
    let handled = 0;
    const { server } = await startServer(t, {
      tls: { key: f.serverKey, cert: f.serverCert },
      handler: async (m) => {
        handled += 1;
        return buildTestAck(m.payload);
      },
    });
    const out = await tlsExchange(server.port, {}, testMessage('T2'));
    assert.equal(out.frames.length, 0);
    assert.ok(out.error !== undefined);
    assert.equal(handled, 0);
  });

  test('mutual TLS: a client certificate from the CA is accepted and its CN is exposed', async (t) => {
    const f = tlsFixtures();
    if (f === undefined) {
      t.skip('openssl CLI not found: cannot generate test certificates');
      return;
    }
    const seen: MllpInboundMessage[] = [];
    const { server } = await startServer(t, {
      tls: { key: f.serverKey, cert: f.serverCert, ca: f.ca, requestCert: true, rejectUnauthorized: true },
      handler: async (m) => {
        seen.push(m);
        return buildTestAck(m.payload);
      },
    });
    const out = await tlsExchange(server.port, { ca: f.ca, key: f.clientKey, cert: f.clientCert }, testMessage('M1'));
    assert.deepEqual(acked(out.frames), ['M1']);
    assert.equal(seen[0]?.tls?.authorized, true);
    assert.equal(seen[0]?.tls?.peerCommonName, 'test-sender');
  });

  test('mutual TLS: clients without a certificate, or with one from another CA, are refused', async (t) => {
    const f = tlsFixtures();
    if (f === undefined) {
      t.skip('openssl CLI not found: cannot generate test certificates');
      return;
    }
    let handled = 0;
    const { server, events } = await startServer(t, {
      tls: { key: f.serverKey, cert: f.serverCert, ca: f.ca, requestCert: true },
      handler: async (m) => {
        handled += 1;
        return buildTestAck(m.payload);
      },
    });
    const none = await tlsExchange(server.port, { ca: f.ca }, testMessage('M2'));
    assert.equal(none.frames.length, 0);
    const rogue = await tlsExchange(server.port, { ca: f.ca, key: f.rogueKey, cert: f.rogueCert }, testMessage('M3'));
    assert.equal(rogue.frames.length, 0);
    assert.equal(handled, 0);
    await waitFor(() => server.stats.tlsErrors === 2, 5000, 'two TLS errors');
    assert.equal(events.filter((e) => e.kind === 'tls-error').length, 2);
    // And the server still serves a proper client.
    const good = await tlsExchange(server.port, { ca: f.ca, key: f.clientKey, cert: f.clientCert }, testMessage('M4'));
    assert.deepEqual(acked(good.frames), ['M4']);
  });
});
