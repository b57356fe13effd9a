/**
 * Interoperability: an independent MLLP client, node-hl7-client 3.2.0 (devDependency), sends to our
 * MllpServer and reads our ACKs.
 *
 * How that client behaves, and why the test drives it the way it does: `Connection.sendMessage`
 * with `waitAck: true` does not queue behind an unanswered message on the same socket; while an ACK
 * is awaited it queues the message and opens a second socket. So, as MLLP senders normally do, the
 * test sends one message, waits for its ACK in the connection's handler, then sends the next.
 */
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { Client, Message, type Connection, type InboundResponse } from 'node-hl7-client';
import { MllpServer, type MllpInboundMessage } from './mllp-server.ts';
import { buildTestAck, testMessage } from './mllp-test-kit.ts';
import { peekEr7 } from './peek-er7.ts';

interface Peer {
  readonly connection: Connection;
  /** Sends one message and resolves with the ACK the handler received for it. */
  send(message: Message): Promise<Message>;
}

async function startServer(t: TestContext, received: MllpInboundMessage[]): Promise<MllpServer> {
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    closeTimeoutMs: 1000,
    handler: async (m) => {
      received.push(m);
      return buildTestAck(m.payload);
    },
  });
  await server.listen();
  t.after(() => server.close());
  return server;
}

async function connectPeer(t: TestContext, port: number): Promise<Peer> {
  const client = new Client({ host: '127.0.0.1' });
  let onAck: ((message: Message) => void) | undefined;
  const connection = client.createConnection({ port, waitAck: true }, (res: InboundResponse) => {
    onAck?.(res.getMessage());
  });
  t.after(async () => {
    await connection.close();
    client.closeAll();
  });
  await new Promise<void>((resolve) => connection.once('connect', () => resolve()));
  return {
    connection,
    async send(message: Message): Promise<Message> {
      const acked = new Promise<Message>((resolve) => {
        onAck = resolve;
      });
      await connection.sendMessage(message);
      return acked;
    },
  };
}

describe('interop: node-hl7-client -> MllpServer', () => {
  test('messages parsed from text arrive intact and each ACK answers its message', async (t) => {
    const received: MllpInboundMessage[] = [];
    const server = await startServer(t, received);
    const peer = await connectPeer(t, server.port);
    const ids = ['NHC1', 'NHC2', 'NHC3', 'NHC4', 'NHC5'];
    for (const id of ids) {
      const message = new Message({ text: testMessage(id) });
      const ack = await peer.send(message);
      assert.equal(ack.get('MSA.1').toString(), 'AA');
      assert.equal(ack.get('MSA.2').toString(), id);
      assert.equal(ack.get('MSH.9').toString(), 'ACK');
    }
    assert.deepEqual(
      received.map((m) => peekEr7(m.payload).controlId),
      ids,
    );
    // Their framing carries the payload unchanged (segments ended by CR).
    assert.equal(received[0]?.payload.replace(/\r$/, ''), testMessage('NHC1').replace(/\r$/, ''));
    assert.equal(peer.connection.stats.acknowledged, 5);
    assert.equal(server.stats.connectionsTotal, 1);
  });

  test('a message built with its builder gets an ACK carrying its MSH-10', async (t) => {
    const received: MllpInboundMessage[] = [];
    const server = await startServer(t, received);
    const peer = await connectPeer(t, server.port);
    const message = new Message({
      messageHeader: {
        msh_9_1: 'ADT',
        msh_9_2: 'A01',
        msh_10: 'BUILT0001',
        msh_11_1: 'P',
      },
    });
    message.addSegment('PID').set('3', 'TEST123');
    const ack = await peer.send(message);
    assert.equal(ack.get('MSA.2').toString(), 'BUILT0001');
    assert.equal(received.length, 1);
    assert.equal(peekEr7(received[0]?.payload ?? '').controlId, 'BUILT0001');
  });
});
