/** Test-only helpers shared by the connector tests. Not used by runtime code. */
import net from 'node:net';
import type { OutboundDelivery, SendResult } from '../engine/destination-connector.ts';

export function delivery(overrides: Partial<OutboundDelivery> = {}): OutboundDelivery {
  return {
    id: 'dlv-1',
    messageId: 'msg-1',
    destination: 'test-destination',
    payload: 'MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|CTRL1|P|2.5.1\r',
    idempotencyKey: 'idem-1',
    attempt: 1,
    ...overrides,
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

export type Failed = Extract<SendResult, { kind: 'failed' }>;

export function assertFailed(result: SendResult): Failed {
  if (result.kind !== 'failed') throw new Error(`expected a failed result, got ${JSON.stringify(result)}`);
  return result;
}

export function assertDelivered(result: SendResult): Extract<SendResult, { kind: 'delivered' }> {
  if (result.kind !== 'delivered') throw new Error(`expected delivered, got ${JSON.stringify(result)}`);
  return result;
}

export const never = (): AbortSignal => new AbortController().signal;
