/**
 * One conformance suite for every destination connector (STYLE.md "Ports and adapters"), run
 * against a real far side (an MLLP listener, an HTTP server, a folder, a channel inbox). Test-only;
 * not used by runtime code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FailureClass } from '../core/errors.ts';
import type { DestinationConnector, OutboundDelivery } from '../engine/destination-connector.ts';
import { testMessage } from '../mllp/mllp-test-kit.ts';
import { assertDelivered, assertFailed, delivery, never } from './test-support.ts';

export interface FarSideEntry {
  readonly payload: string;
  /** What the far side can dedupe on: an Idempotency-Key header, MSH-10, a file name. */
  readonly key: string | undefined;
}

export interface DestinationHarness {
  /** A connector to the far side. */
  create(): DestinationConnector;
  /** What the far side holds, in arrival order. */
  received(): Promise<FarSideEntry[]>;
  /** Makes the far side refuse (AR, 503, a store failure, an unwritable folder); resolves with the class the connector must report. */
  breakFarSide(): Promise<FailureClass>;
  heal(): Promise<void>;
  /** The dedupe key the far side should see for a delivery. */
  expectedKey(d: OutboundDelivery): string;
  /** true when a resend of one delivery replaces the first copy instead of adding one (a file by name). */
  readonly replacesResends: boolean;
  cleanup(): Promise<void>;
}

function numbered(i: number): OutboundDelivery {
  const n = String(i).padStart(4, '0');
  return delivery({ id: `dlv-${n}`, messageId: `msg-${n}`, idempotencyKey: `idem-${n}`, payload: testMessage(`CTRL-${n}`) });
}

export function runDestinationSuite(name: string, factory: () => Promise<DestinationHarness>): void {
  describe(`destination conformance: ${name}`, () => {
    test('open/close: sends once open; after close() a send is not sent (transient) and close is idempotent', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const idle = h.create();
      await idle.close();
      const c = h.create();
      const d = numbered(1);
      assertDelivered(await c.send(d, never()));
      await c.close();
      await c.close();
      const after = assertFailed(await c.send(numbered(2), never()));
      assert.equal(after.errorCode, 'SWB_ERR_DEST_NOT_SENT');
      assert.equal(after.failureClass, 'transient');
      const got = await h.received();
      assert.deepEqual(got.map((e) => e.payload), [d.payload]);
    });

    test('sequential sends arrive in the order sent', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const c = h.create();
      t.after(() => c.close());
      const ds = Array.from({ length: 20 }, (_, i) => numbered(i + 1));
      for (const d of ds) assertDelivered(await c.send(d, never()));
      assert.deepEqual((await h.received()).map((e) => e.payload), ds.map((d) => d.payload));
    });

    test('at-least-once: a far side that fails once then recovers sees the message, with its idempotency key', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const c = h.create();
      t.after(() => c.close());
      const d = numbered(7);
      const expectedClass = await h.breakFarSide();
      const failed = assertFailed(await c.send(d, never()));
      assert.equal(failed.failureClass, expectedClass);
      await h.heal();
      assertDelivered(await c.send({ ...d, attempt: 2 }, never()));
      // A resend after a lost outcome carries the same key, so the far side can drop it.
      assertDelivered(await c.send({ ...d, attempt: 3 }, never()));
      const got = (await h.received()).filter((e) => e.payload === d.payload);
      assert.ok(got.length >= 1, 'the message must arrive');
      if (h.replacesResends) assert.equal(got.length, 1);
      for (const e of got) assert.equal(e.key, h.expectedKey(d));
    });
  });
}
