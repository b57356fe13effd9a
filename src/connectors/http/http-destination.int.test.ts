import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { getEventListeners } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { waitFor } from '../../mllp/mllp-test-kit.ts';
import { assertDelivered, assertFailed, closedPort, delivery, never } from '../test-support.ts';
import { HttpDestination, parseRetryAfter, signBody } from './http-destination.ts';

interface Received {
  readonly method: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

interface TestServer {
  readonly url: string;
  readonly received: Received[];
  /** Sockets open now. */
  connections(): number;
  /** Sockets that carried a request and are still open. */
  requestSocketsOpen(): number;
  /** Drops every open connection from the server side. */
  destroyConnections(): void;
}

type Answer = (req: Received, res: http.ServerResponse) => void;

async function startServer(t: TestContext, answer: Answer): Promise<TestServer> {
  const received: Received[] = [];
  const requestSockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    requestSockets.add(req.socket);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      answer(r, res);
    });
  });
  let open = 0;
  server.on('connection', (socket) => {
    open += 1;
    socket.on('close', () => (open -= 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}/hook?token=secret-token`,
    received,
    connections: () => open,
    requestSocketsOpen: () => [...requestSockets].filter((sock) => !sock.destroyed).length,
    destroyConnections: () => server.closeAllConnections(),
  };
}

function destination(t: TestContext, settings: Record<string, unknown>): HttpDestination {
  const d = new HttpDestination({ timeoutMs: 5000, ...settings });
  t.after(() => d.close());
  return d;
}

const reply =
  (status: number, body = '', headers: Record<string, string> = {}): Answer =>
  (_req, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };

describe('HttpDestination', () => {
  test('2xx is delivered with the status line and body as the response; the payload and headers are sent', async (t) => {
    const server = await startServer(t, reply(200, 'stored'));
    const d = destination(t, { url: server.url, headers: { authorization: 'Bearer abc' } });
    const payload = 'MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|CTRL9|P|2.5.1\r';
    const result = assertDelivered(await d.send(delivery({ payload, idempotencyKey: 'idem-42', correlationId: 'corr-7' }), never()));
    assert.equal(result.response, 'HTTP 200 OK\n\nstored');
    const [got] = server.received;
    assert.ok(got !== undefined);
    assert.equal(got.method, 'POST');
    assert.equal(got.body, payload);
    assert.equal(got.headers['idempotency-key'], 'idem-42');
    assert.equal(got.headers['x-correlation-id'], 'corr-7');
    assert.equal(got.headers['content-type'], 'application/hl7-v2');
    assert.equal(got.headers['authorization'], 'Bearer abc');
    assert.equal(got.headers['x-switchboard-signature'], undefined);
  });

  test('the response keeps only the first 2 KB of the body', async (t) => {
    const server = await startServer(t, reply(201, 'x'.repeat(10_000)));
    const d = destination(t, { url: server.url });
    const result = assertDelivered(await d.send(delivery(), never()));
    assert.equal(result.response, `HTTP 201 Created\n\n${'x'.repeat(2048)}`);
  });

  test('without a correlation id no X-Correlation-Id is sent; contentType overrides the default', async (t) => {
    const server = await startServer(t, reply(204));
    const d = destination(t, { url: server.url, contentType: 'application/fhir+json', method: 'PUT' });
    assertDelivered(await d.send(delivery({ payload: '{"resourceType":"Patient"}' }), never()));
    const [got] = server.received;
    assert.equal(got?.headers['x-correlation-id'], undefined);
    assert.equal(got?.headers['content-type'], 'application/fhir+json');
    assert.equal(got?.method, 'PUT');
  });

  test('the HMAC signature verifies at the receiver', async (t) => {
    const secret = 'shared-secret';
    let verified: boolean | undefined;
    const server = await startServer(t, (req, res) => {
      const header = String(req.headers['x-switchboard-signature'] ?? '');
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
      if (match === null) verified = false;
      else {
        const expected = createHmac('sha256', secret).update(`${match[1]}.${req.body}`).digest();
        verified = timingSafeEqual(expected, Buffer.from(match[2] ?? '', 'hex'));
      }
      res.writeHead(verified ? 200 : 401).end();
    });
    const d = destination(t, { url: server.url, hmacSecret: secret });
    assertDelivered(await d.send(delivery({ payload: 'MSH|^~\\&|é|ü\r' }), never()));
    assert.equal(verified, true);
  });

  test('a wrong secret does not verify (the check above can fail)', () => {
    const good = signBody('a', 'body', 1_700_000_000);
    const bad = signBody('b', 'body', 1_700_000_000);
    assert.notEqual(good, bad);
    assert.match(good, /^t=1700000000,v1=[0-9a-f]{64}$/);
  });

  test('a custom signature header name is used', async (t) => {
    const server = await startServer(t, reply(200));
    const d = destination(t, { url: server.url, hmacSecret: 's', hmacHeader: 'X-Signature' });
    assertDelivered(await d.send(delivery(), never()));
    assert.match(String(server.received[0]?.headers['x-signature']), /^t=\d+,v1=[0-9a-f]{64}$/);
  });

  test('500 is transient', async (t) => {
    const server = await startServer(t, reply(500, 'boom'));
    const d = destination(t, { url: server.url });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_HTTP_DEST_STATUS_RETRYABLE');
    assert.equal(result.response, 'HTTP 500 Internal Server Error\n\nboom');
    assert.equal(result.retryAfterMs, undefined);
  });

  test('503 with Retry-After: 2 is transient with retryAfterMs 2000', async (t) => {
    const server = await startServer(t, reply(503, '', { 'Retry-After': '2' }));
    const d = destination(t, { url: server.url });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.retryAfterMs, 2000);
  });

  test('429 with an HTTP-date Retry-After is transient with the delay until that date', async (t) => {
    const at = new Date(Date.now() + 3_600_000);
    const server = await startServer(t, reply(429, '', { 'Retry-After': at.toUTCString() }));
    const d = destination(t, { url: server.url });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'transient');
    assert.ok(result.retryAfterMs !== undefined && result.retryAfterMs > 3_500_000 && result.retryAfterMs <= 3_600_000, `retryAfterMs ${String(result.retryAfterMs)}`);
  });

  test('parseRetryAfter reads seconds and dates and ignores junk', () => {
    assert.equal(parseRetryAfter('120', 0), 120_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 0)), 60_000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2016, 0, 1)), 0);
    assert.equal(parseRetryAfter('soon', 0), undefined);
    assert.equal(parseRetryAfter(null, 0), undefined);
  });

  test('400 is permanent', async (t) => {
    const server = await startServer(t, reply(400, 'bad'));
    const d = destination(t, { url: server.url });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'permanent');
    assert.equal(result.errorCode, 'SWB_ERR_HTTP_DEST_STATUS');
    assert.equal(result.response, 'HTTP 400 Bad Request\n\nbad');
  });

  test('a redirect is not followed and is permanent', async (t) => {
    const server = await startServer(t, reply(302, '', { Location: '/elsewhere' }));
    const d = destination(t, { url: server.url });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'permanent');
    assert.equal(server.received.length, 1);
  });

  test('a server that never answers times out as ambiguous', async (t) => {
    const server = await startServer(t, () => undefined);
    const d = destination(t, { url: server.url, timeoutMs: 200 });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'ambiguous');
    assert.equal(result.errorCode, 'SWB_ERR_HTTP_DEST_TIMEOUT');
    assert.equal(server.received.length, 1);
  });

  test('a connection reset after the request was sent is ambiguous', async (t) => {
    const server = await startServer(t, (_req, res) => res.socket?.destroy());
    const d = destination(t, { url: server.url });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'ambiguous');
    assert.equal(result.errorCode, 'SWB_ERR_HTTP_DEST_CONNECTION_LOST');
  });

  test('connection refused is transient', async (t) => {
    const d = destination(t, { url: `http://127.0.0.1:${await closedPort()}/hook` });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_HTTP_DEST_CONNECT_FAILED');
    assert.match(result.response ?? '', /ECONNREFUSED/);
  });

  test('an abort while waiting for the answer is ambiguous; one before sending is transient', async (t) => {
    const server = await startServer(t, () => undefined);
    const d = destination(t, { url: server.url });
    const controller = new AbortController();
    const sending = d.send(delivery(), controller.signal);
    await waitFor(() => server.received.length === 1, 5000, 'the request at the server');
    controller.abort();
    const result = assertFailed(await sending);
    assert.equal(result.failureClass, 'ambiguous');
    assert.equal(result.errorCode, 'SWB_ERR_DEST_ABORTED');
    const early = assertFailed(await d.send(delivery(), AbortSignal.abort()));
    assert.equal(early.failureClass, 'transient');
    assert.equal(early.errorCode, 'SWB_ERR_DEST_NOT_SENT');
    assert.equal(server.received.length, 1);
  });

  test("a send leaves no listener on the caller's signal (one signal serves a worker's whole life)", async (t) => {
    const server = await startServer(t, reply(200));
    const d = destination(t, { url: server.url, timeoutMs: 60_000 });
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) assertDelivered(await d.send(delivery(), controller.signal));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    // A failed send cleans up too.
    const refused = destination(t, { url: `http://127.0.0.1:${await closedPort()}/hook` });
    assertFailed(await refused.send(delivery(), controller.signal));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  });

  test('failures never carry the payload or the URL query', async (t) => {
    const server = await startServer(t, () => undefined);
    const d = destination(t, { url: server.url, timeoutMs: 100 });
    const result = assertFailed(await d.send(delivery({ payload: 'MSH|PAYLOAD-MARKER\r' }), never()));
    assert.doesNotMatch(JSON.stringify(result), /PAYLOAD-MARKER|secret-token/);
  });

  test('close() leaves no socket open: the server connection count drops to 0', async (t) => {
    const server = await startServer(t, () => undefined);
    const d = destination(t, { url: server.url });
    const sending = d.send(delivery(), never());
    await waitFor(() => server.connections() === 1 && server.received.length === 1, 5000, 'an open request');
    assert.equal(server.requestSocketsOpen(), 1);
    await d.close();
    const result = assertFailed(await sending);
    assert.equal(result.failureClass, 'ambiguous');
    assert.equal(result.errorCode, 'SWB_ERR_DEST_ABORTED');
    await waitFor(() => server.requestSocketsOpen() === 0 && server.connections() === 0, 5000, 'every socket to close');
    const after = assertFailed(await d.send(delivery(), never()));
    assert.equal(after.errorCode, 'SWB_ERR_DEST_NOT_SENT');
  });

  test('keepAlive: false asks for Connection: close and leaves no connection open', async (t) => {
    const server = await startServer(t, reply(200));
    const d = destination(t, { url: server.url, keepAlive: false });
    assertDelivered(await d.send(delivery(), never()));
    assert.equal(server.received[0]?.headers['connection'], 'close');
    await waitFor(() => server.connections() === 0, 5000, 'the connection to close');
  });

  test('by default connections are reused, and close() closes the idle one', async (t) => {
    const server = await startServer(t, reply(200));
    const d = destination(t, { url: server.url });
    for (let i = 0; i < 5; i++) assertDelivered(await d.send(delivery(), never()));
    assert.equal(server.received.length, 5);
    assert.equal(server.connections(), 1, 'five sequential requests over one connection');
    await d.close();
    await waitFor(() => server.connections() === 0, 5000, 'the idle connection to close');
  });

  test('a reused connection the server closed while idle is transient, not ambiguous', async (t) => {
    // The server answers, then drops the connection as idle-timeout servers do; the next request on
    // that socket is reset before any answer: nothing was acted on.
    const server = await startServer(t, (_req, res) => {
      res.writeHead(200, { connection: 'keep-alive' });
      res.end();
    });
    const d = destination(t, { url: server.url });
    assertDelivered(await d.send(delivery(), never()));
    await waitFor(() => server.connections() === 1, 5000, 'the kept-alive connection');
    server.destroyConnections();
    await waitFor(() => server.connections() === 0, 5000, 'the server to drop it');
    const result = await d.send(delivery(), never());
    // Depending on timing Node either notices the close first (a fresh connection: delivered) or
    // writes into the dead socket (reset): both must be safe to retry.
    if (result.kind === 'failed') {
      assert.equal(result.failureClass, 'transient', result.response);
      assert.equal(result.errorCode, 'SWB_ERR_HTTP_DEST_CONNECT_FAILED');
    }
  });

  test('settings are checked and the field path is named', () => {
    assert.throws(() => new HttpDestination({}), /destination\.settings\.url/);
    assert.throws(() => new HttpDestination({ url: 'ftp://x/' }), /destination\.settings\.url/);
    assert.throws(() => new HttpDestination({ url: 'http://x/', method: 'GET' }), /destination\.settings\.method/);
    assert.throws(() => new HttpDestination({ url: 'http://x/', headers: { a: 1 } }), /destination\.settings\.headers\.a/);
  });
});
