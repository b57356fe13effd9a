import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { MllpServer, type MllpHandler } from '../../mllp/mllp-server.ts';
import { buildTestAck, testMessage, waitFor } from '../../mllp/mllp-test-kit.ts';
import { assertDelivered, assertFailed, closedPort, delivery, never } from '../test-support.ts';
import { MllpDestination } from './mllp-destination.ts';

/** Answers by the MSH-10 prefix: AA*, AE*, AR*, CA*, SILENT* (never answers). */
const scripted: MllpHandler = (m) => {
  const id = /^MSH\|[^|]*(?:\|[^|]*){7}\|([^|]*)/.exec(m.payload)?.[1] ?? '';
  if (id.startsWith('SILENT')) return new Promise<undefined>(() => undefined);
  const code = id.slice(0, 2);
  return Promise.resolve(buildTestAck(m.payload, code, code === 'AE' || code === 'AR' ? { errorCode: '207' } : {}));
};

async function startServer(t: TestContext, handler: MllpHandler = scripted): Promise<MllpServer> {
  const server = new MllpServer({ host: '127.0.0.1', port: 0, handler, closeTimeoutMs: 500 });
  await server.listen();
  t.after(() => server.close());
  return server;
}

function destination(t: TestContext, port: number, settings: Record<string, unknown> = {}): MllpDestination {
  const d = new MllpDestination({ host: '127.0.0.1', port, ackTimeoutMs: 5000, ...settings });
  t.after(() => d.close());
  return d;
}

describe('MllpDestination', () => {
  test('AA is delivered with the raw ACK as the response', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port);
    const result = assertDelivered(await d.send(delivery({ payload: testMessage('AA-1') }), never()));
    assert.match(result.response ?? '', /^MSH\|/);
    assert.match(result.response ?? '', /MSA\|AA\|AA-1/);
    assert.equal(server.stats.messages, 1);
  });

  test('CA is delivered', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port);
    assertDelivered(await d.send(delivery({ payload: testMessage('CA-1') }), never()));
  });

  test('AE is a permanent failure carrying the ACK', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port);
    const result = assertFailed(await d.send(delivery({ payload: testMessage('AE-1') }), never()));
    assert.equal(result.failureClass, 'permanent');
    assert.equal(result.errorCode, 'SWB_ERR_MLLP_NAK_ERROR');
    assert.match(result.response ?? '', /MSA\|AE\|AE-1/);
  });

  test('AR is a transient failure carrying the ACK', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port);
    const result = assertFailed(await d.send(delivery({ payload: testMessage('AR-1') }), never()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_MLLP_NAK_REJECT');
    assert.match(result.response ?? '', /MSA\|AR\|AR-1/);
  });

  test('a message asking for no ACK (MSH-15/16 NE) is delivered without a response', async (t) => {
    const server = await startServer(t, () => Promise.resolve(undefined));
    const d = destination(t, server.port);
    const payload = 'MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|NE-1|P|2.5.1|||NE|NE\r';
    const result = assertDelivered(await d.send(delivery({ payload }), never()));
    assert.equal(result.response, undefined);
    await waitFor(() => server.stats.messages === 1, 5000, 'the message at the server');
  });

  test('no reply within the ACK timeout is ambiguous', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port, { ackTimeoutMs: 200 });
    const result = assertFailed(await d.send(delivery({ payload: testMessage('SILENT-1') }), never()));
    assert.equal(result.failureClass, 'ambiguous');
    assert.equal(result.errorCode, 'SWB_ERR_MLLP_ACK_TIMEOUT');
  });

  test('an abort before the reply is ambiguous', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port, { ackTimeoutMs: 1000 });
    const controller = new AbortController();
    const sending = d.send(delivery({ payload: testMessage('SILENT-2') }), controller.signal);
    await waitFor(() => server.stats.messages === 1, 5000, 'the message at the server');
    controller.abort();
    const result = assertFailed(await sending);
    assert.equal(result.failureClass, 'ambiguous');
    assert.equal(result.errorCode, 'SWB_ERR_DEST_ABORTED');
  });

  test('a signal aborted before sending sends nothing and is transient', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port);
    const result = assertFailed(await d.send(delivery({ payload: testMessage('AA-2') }), AbortSignal.abort()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_DEST_NOT_SENT');
    assert.equal(server.stats.connectionsTotal, 0);
  });

  test('connection refused is transient', async (t) => {
    const d = destination(t, await closedPort());
    const result = assertFailed(await d.send(delivery({ payload: testMessage('AA-3') }), never()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_MLLP_CONNECT_FAILED');
  });

  test('a payload without MSH-10 is permanent and never reaches the peer', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port);
    const result = assertFailed(await d.send(delivery({ payload: 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5.1\r' }), never()));
    assert.equal(result.failureClass, 'permanent');
    assert.equal(result.errorCode, 'SWB_ERR_MLLP_NO_CONTROL_ID');
    assert.equal(server.stats.messages, 0);
  });

  test('close() closes its sockets: the server connection count drops to 0; later sends are not sent', async (t) => {
    const server = await startServer(t);
    const d = destination(t, server.port, { poolSize: 2 });
    await Promise.all([d.send(delivery({ payload: testMessage('AA-4') }), never()), d.send(delivery({ payload: testMessage('AA-5') }), never())]);
    await waitFor(() => server.stats.connections >= 1, 5000, 'an open connection');
    await d.close();
    await waitFor(() => server.stats.connections === 0, 5000, 'the connections to close');
    const after = assertFailed(await d.send(delivery({ payload: testMessage('AA-6') }), never()));
    assert.equal(after.errorCode, 'SWB_ERR_DEST_NOT_SENT');
    assert.equal(after.failureClass, 'transient');
  });

  test('settings are checked and the field path is named', () => {
    assert.throws(() => new MllpDestination({ host: '127.0.0.1' }), /destination\.settings\.port/);
    assert.throws(() => new MllpDestination({ port: 2575 }), /destination\.settings\.host/);
    assert.throws(() => new MllpDestination({ host: 'h', port: 2575, tls: { bogus: 1 } }), /destination\.settings\.tls\.bogus/);
  });
});
