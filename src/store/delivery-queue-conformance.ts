import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSwitchboardError, type ErrorCode } from '../core/errors.ts';
import type { Delivery, DeliveryQueue, NewDelivery } from '../core/ports/delivery-queue.ts';
import type { MessageStatus } from '../core/ports/message-store.ts';
import type { Store } from '../core/ports/store.ts';
import type { StoreFactory, StoreFixture } from './message-store-conformance.ts';

/**
 * The one DeliveryQueue conformance suite (STYLE.md "Ports and adapters"), run by
 * src/store/<kind>/*.test.ts against every implementation. Same factory as the message store suite.
 *
 * Time: claims pass an explicit `now`. Deliveries are created on the store's own clock, so every
 * test takes `base` (real time + 1 s) after enqueueing and claims at `base + offset`; leases are long
 * (a minute) unless a test is about expiry, so a store that checks leases against its own clock on
 * complete/fail sees them live.
 *
 * Attempts: `Delivery.attempts` counts attempts made, i.e. recorded by complete/fail; a claim starts
 * an attempt but does not count it yet.
 */

const TEST_TIMEOUT_MS = 60_000;
const LEASE_MS = 60_000;
const SECOND = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Asserts that a promise rejects with a SwitchboardError of the given code. */
async function rejectsWithCode(promise: Promise<unknown>, code: ErrorCode | readonly ErrorCode[]): Promise<void> {
  const wanted: readonly ErrorCode[] = typeof code === 'string' ? [code] : code;
  try {
    await promise;
  } catch (error) {
    assert.ok(isSwitchboardError(error), `expected a SwitchboardError ${wanted.join(' or ')}, got ${String(error)}`);
    assert.ok(wanted.includes(error.code), `expected ${wanted.join(' or ')}, got ${error.code}`);
    return;
  }
  assert.fail(`expected ${wanted.join(' or ')}, but it resolved`);
}

function newDelivery(overrides: Partial<NewDelivery> = {}): NewDelivery {
  return { destination: 'dest-a', payload: 'MSH|^~\\&|OUT\r', idempotencyKey: `idem-${Math.random().toString(36).slice(2)}`, maxAttempts: 3, ...overrides };
}

let messageCounter = 0;
async function newMessage(store: Store, orderingKey?: string): Promise<string> {
  messageCounter++;
  const result = await store.messages.ingest({
    channelId: 'ch-queue',
    content: `MSH|^~\\&|A|B|C|D|||ADT^A01|Q${messageCounter}|P|2.5.1\r`,
    contentType: 'hl7v2',
    receivedAt: new Date(),
    source: 'mllp://127.0.0.1:1',
    correlationId: `corr-q-${messageCounter}`,
    configRevision: 1,
    controlId: `Q${messageCounter}`,
    ...(orderingKey !== undefined ? { orderingKey } : {}),
  });
  assert.equal(result.kind, 'stored');
  return result.id;
}

/** One message with one delivery: the common shape for ordering tests. */
async function enqueueOne(store: Store, delivery: Partial<NewDelivery> = {}): Promise<Delivery> {
  const messageId = await newMessage(store, delivery.orderingKey);
  const [d] = await store.queue.enqueue(messageId, [newDelivery(delivery)]);
  assert.ok(d !== undefined, 'enqueue returned the delivery');
  return d;
}

async function mustGet(queue: DeliveryQueue, id: string): Promise<Delivery> {
  const d = await queue.get(id);
  assert.ok(d !== undefined, `delivery ${id} not found`);
  return d;
}

async function messageStatus(store: Store, id: string): Promise<MessageStatus | undefined> {
  return (await store.messages.get(id))?.status;
}

const ids = (ds: readonly Delivery[]): string[] => ds.map((d) => d.id);
const sortedIds = (ds: readonly Delivery[]): string[] => ids(ds).sort();

export function runDeliveryQueueSuite(name: string, factory: StoreFactory): void {
  const it = (title: string, body: (store: Store, q: DeliveryQueue, fixture: StoreFixture) => Promise<void>): void => {
    test(title, { timeout: TEST_TIMEOUT_MS }, async () => {
      const fixture = await factory();
      try {
        await body(fixture.store, fixture.store.queue, fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };
  /** A claim time safely after everything enqueued so far (see the note on time above). */
  const nowBase = (): number => Date.now() + SECOND;
  const done = (startedAt: number) => ({ startedAt: new Date(startedAt), finishedAt: new Date(startedAt + 5) });

  describe(name, () => {
    describe('enqueue and claim', () => {
      it('enqueue returns the deliveries in the given order and sets the message to queued', async (store, q) => {
        const messageId = await newMessage(store, 'P-1');
        assert.equal(await messageStatus(store, messageId), 'received');
        const input: NewDelivery[] = [
          { destination: 'dest-b', orderingKey: 'P-1', payload: 'payload one Zoë', idempotencyKey: 'idem-1', maxAttempts: 5 },
          { destination: 'dest-a', payload: '{"resourceType":"Patient"}', idempotencyKey: 'idem-2', maxAttempts: 1 },
          { destination: 'dest-c', orderingKey: 'P-1', payload: 'three\r東京\r', idempotencyKey: 'idem-3', maxAttempts: 2 },
        ];
        const out = await q.enqueue(messageId, input);
        assert.equal(out.length, 3);
        assert.equal(new Set(ids(out)).size, 3, 'distinct ids');
        out.forEach((d, i) => {
          const want = input[i];
          assert.ok(want !== undefined);
          assert.deepEqual(
            [d.messageId, d.destination, d.orderingKey, d.payload, d.idempotencyKey, d.maxAttempts, d.status, d.attempts, d.leaseOwner, d.leaseExpiresAt, d.lastErrorCode, d.lastFailureClass],
            [messageId, want.destination, want.orderingKey, want.payload, want.idempotencyKey, want.maxAttempts, 'pending', 0, undefined, undefined, undefined, undefined],
          );
          assert.ok(d.createdAt instanceof Date && d.nextAttemptAt instanceof Date);
          assert.ok(Math.abs(d.createdAt.getTime() - Date.now()) < 60 * SECOND, 'createdAt on the store clock');
        });
        assert.deepEqual(await q.forMessage(messageId), out, 'forMessage returns them in enqueue order');
        assert.deepEqual(await q.get(out[1]?.id ?? ''), out[1]);
        assert.equal(await messageStatus(store, messageId), 'queued');
        assert.equal(await q.get('01ZZZZZZZZZZZZZZZZZZZZZZZZ'), undefined);
      });

      it('a fresh delivery is claimable from its nextAttemptAt (inclusive), not before', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-t' });
        const t = d.nextAttemptAt.getTime();
        assert.deepEqual(await q.claim({ destination: 'dest-t', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(t - 1) }), []);
        assert.deepEqual(ids(await q.claim({ destination: 'dest-t', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(t) })), [d.id]);
      });

      it('claim leases: status leased, owner and expiry; others get nothing while the lease is live, and it after expiry', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-l' });
        const base = nowBase();
        const claimed = await q.claim({ destination: 'dest-l', owner: 'w1', leaseMs: 30 * SECOND, limit: 10, now: new Date(base) });
        assert.equal(claimed.length, 1);
        const c = claimed[0];
        assert.ok(c !== undefined);
        assert.deepEqual([c.id, c.status, c.leaseOwner, c.leaseExpiresAt?.getTime()], [d.id, 'leased', 'w1', base + 30 * SECOND]);
        const stored = await mustGet(q, d.id);
        assert.deepEqual([stored.status, stored.leaseOwner, stored.leaseExpiresAt?.getTime()], ['leased', 'w1', base + 30 * SECOND]);

        assert.deepEqual(await q.claim({ destination: 'dest-l', owner: 'w2', leaseMs: 30 * SECOND, limit: 10, now: new Date(base + 29 * SECOND) }), [], 'lease live');
        assert.deepEqual(await q.claim({ destination: 'dest-l', owner: 'w1', leaseMs: 30 * SECOND, limit: 10, now: new Date(base + SECOND) }), [], 'not even to its owner');
        const reclaimed = await q.claim({ destination: 'dest-l', owner: 'w2', leaseMs: 30 * SECOND, limit: 10, now: new Date(base + 31 * SECOND) });
        assert.deepEqual(reclaimed.map((x) => [x.id, x.status, x.leaseOwner, x.leaseExpiresAt?.getTime()]), [[d.id, 'leased', 'w2', base + 61 * SECOND]]);
      });

      it('claim honours destination and limit', async (store, q) => {
        const a = [];
        for (let i = 0; i < 5; i++) a.push(await enqueueOne(store, { destination: 'dest-x' }));
        const other = await enqueueOne(store, { destination: 'dest-y' });
        const base = nowBase();
        const first = await q.claim({ destination: 'dest-x', owner: 'w1', leaseMs: LEASE_MS, limit: 2, now: new Date(base) });
        assert.equal(first.length, 2);
        const second = await q.claim({ destination: 'dest-x', owner: 'w2', leaseMs: LEASE_MS, limit: 10, now: new Date(base) });
        assert.equal(second.length, 3);
        assert.deepEqual([...sortedIds(first), ...sortedIds(second)].sort(), sortedIds(a));
        assert.ok(!ids([...first, ...second]).includes(other.id));
        assert.deepEqual(ids(await q.claim({ destination: 'dest-y', owner: 'w3', leaseMs: LEASE_MS, limit: 10, now: new Date(base) })), [other.id]);
      });
    });

    describe('ordering per key', () => {
      /** Key K: d1, d2, d3 (one message each); key L: e1; all to dest-o. */
      async function seedKeys(store: Store): Promise<{ d1: Delivery; d2: Delivery; d3: Delivery; e1: Delivery }> {
        const d1 = await enqueueOne(store, { destination: 'dest-o', orderingKey: 'K', maxAttempts: 2 });
        const d2 = await enqueueOne(store, { destination: 'dest-o', orderingKey: 'K' });
        const d3 = await enqueueOne(store, { destination: 'dest-o', orderingKey: 'K' });
        const e1 = await enqueueOne(store, { destination: 'dest-o', orderingKey: 'L' });
        return { d1, d2, d3, e1 };
      }
      const claimAll = (q: DeliveryQueue, owner: string, now: number): Promise<Delivery[]> => q.claim({ destination: 'dest-o', owner, leaseMs: LEASE_MS, limit: 50, now: new Date(now) });

      it('only the head of each key is claimable; completing the head releases the next', async (store, q) => {
        const { d1, d2, d3, e1 } = await seedKeys(store);
        const base = nowBase();
        assert.deepEqual(sortedIds(await claimAll(q, 'w1', base)), [d1.id, e1.id].sort());
        assert.deepEqual(await claimAll(q, 'w2', base), [], 'd2 waits for d1 even with d1 leased');
        await q.complete(d1.id, 'w1', done(base));
        assert.equal((await mustGet(q, d1.id)).status, 'delivered');
        assert.deepEqual(ids(await claimAll(q, 'w2', base + SECOND)), [d2.id]);
        await q.complete(d2.id, 'w2', done(base + SECOND));
        assert.deepEqual(ids(await claimAll(q, 'w2', base + 2 * SECOND)), [d3.id]);
      });

      it('the same key on another destination is a different lane', async (store, q) => {
        const k1 = await enqueueOne(store, { destination: 'dest-o', orderingKey: 'K' });
        const k2 = await enqueueOne(store, { destination: 'dest-p', orderingKey: 'K' });
        const base = nowBase();
        assert.deepEqual(ids(await claimAll(q, 'w1', base)), [k1.id]);
        assert.deepEqual(ids(await q.claim({ destination: 'dest-p', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base) })), [k2.id]);
      });

      it('a transient failure with retryAt blocks its key until then, other keys flow; then it is retried with attempts counted', async (store, q) => {
        const { d1, d2, e1 } = await seedKeys(store);
        const base = nowBase();
        await claimAll(q, 'w1', base);
        const retryAt = base + 10 * SECOND;
        await q.fail(d1.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', failureClass: 'transient', retryAt: new Date(retryAt), response: 'ECONNREFUSED' });
        const failed = await mustGet(q, d1.id);
        assert.deepEqual(
          [failed.status, failed.attempts, failed.nextAttemptAt.getTime(), failed.lastErrorCode, failed.lastFailureClass],
          ['pending', 1, retryAt, 'SWB_ERR_MLLP_CONNECT_FAILED', 'transient'],
        );
        await q.complete(e1.id, 'w1', done(base));
        const e2 = await enqueueOne(store, { destination: 'dest-o', orderingKey: 'L' });
        assert.deepEqual(ids(await claimAll(q, 'w2', base + 5 * SECOND)), [e2.id], 'L flows; d1 not due, d2 blocked');
        assert.deepEqual(await claimAll(q, 'w2', retryAt - 1), [], 'd1 not due a ms early');
        const again = await claimAll(q, 'w3', retryAt);
        assert.deepEqual(ids(again), [d1.id], 'd1 is claimable at retryAt, d2 still behind it');
        assert.equal(again[0]?.attempts, 1, 'one attempt made so far');
        assert.equal(again[0]?.leaseOwner, 'w3');
        assert.equal((await mustGet(q, d2.id)).status, 'pending');
      });

      it('attempts exhausted: a transient failure becomes failed (exception queue) and still blocks its key', async (store, q) => {
        const { d1, d2, e1 } = await seedKeys(store); // d1.maxAttempts = 2
        const base = nowBase();
        await claimAll(q, 'w1', base);
        await q.complete(e1.id, 'w1', done(base));
        await q.fail(d1.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', failureClass: 'transient', retryAt: new Date(base + SECOND) });
        assert.deepEqual(ids(await claimAll(q, 'w1', base + SECOND)), [d1.id]);
        await q.fail(d1.id, 'w1', { ...done(base + SECOND), errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT', failureClass: 'transient', retryAt: new Date(base + 2 * SECOND) });
        const failed = await mustGet(q, d1.id);
        assert.deepEqual([failed.status, failed.attempts, failed.lastErrorCode], ['failed', 2, 'SWB_ERR_MLLP_ACK_TIMEOUT']);
        // Out of attempts, a transient failure is permanent now: that is what the exception queue shows.
        assert.equal(failed.lastFailureClass, 'permanent');
        assert.equal(failed.leaseOwner, undefined, 'no lease once failed');
        assert.deepEqual(await claimAll(q, 'w2', base + 3600 * SECOND), [], 'neither d1 nor d2 (blocked) is claimable, even much later');
        assert.ok(ids(await q.exceptions()).includes(d1.id));
        assert.ok(!ids(await q.exceptions()).includes(d2.id));
        assert.equal(await messageStatus(store, d1.messageId), 'errored');
      });

      it('a permanent failure with park: true is parked, in the exception queue, and its key flows', async (store, q) => {
        const { d1, d2 } = await seedKeys(store);
        const base = nowBase();
        await claimAll(q, 'w1', base);
        await q.fail(d1.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', park: true, response: 'MSA|AE|X' });
        assert.equal((await mustGet(q, d1.id)).status, 'parked');
        assert.deepEqual(ids(await claimAll(q, 'w2', base + SECOND)), [d2.id]);
        assert.ok(ids(await q.exceptions()).includes(d1.id));
        assert.equal(await messageStatus(store, d1.messageId), 'errored');
      });

      it('a permanent failure blocks its key until an operator resolves it', async (store, q) => {
        const { d1, d2, e1 } = await seedKeys(store);
        const base = nowBase();
        await claimAll(q, 'w1', base);
        await q.fail(d1.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' });
        assert.equal((await mustGet(q, d1.id)).status, 'failed');
        await q.complete(e1.id, 'w1', done(base));
        assert.deepEqual(await claimAll(q, 'w2', base + SECOND), [], 'd2 blocked by failed d1');
        await q.resolve(d1.id);
        assert.equal((await mustGet(q, d1.id)).status, 'resolved');
        assert.ok(!ids(await q.exceptions()).includes(d1.id), 'resolved leaves the exception queue');
        assert.deepEqual(ids(await claimAll(q, 'w2', base + 2 * SECOND)), [d2.id]);
      });

      it('an ambiguous failure is ambiguous, blocks its key and is in the exception queue', async (store, q) => {
        const { d1, e1 } = await seedKeys(store);
        const base = nowBase();
        await claimAll(q, 'w1', base);
        await q.fail(d1.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT', failureClass: 'ambiguous', retryAt: new Date(base + SECOND) });
        const d = await mustGet(q, d1.id);
        assert.deepEqual([d.status, d.lastFailureClass, d.lastErrorCode], ['ambiguous', 'ambiguous', 'SWB_ERR_MLLP_ACK_TIMEOUT']);
        await q.complete(e1.id, 'w1', done(base));
        assert.deepEqual(await claimAll(q, 'w2', base + 3600 * SECOND), [], 'never blindly retried, and d2 blocked');
        const exceptions = await q.exceptions();
        assert.ok(ids(exceptions).includes(d1.id));
        assert.equal(exceptions.find((x) => x.id === d1.id)?.status, 'ambiguous');
        assert.equal(await messageStatus(store, d1.messageId), 'errored');
      });

      it('deliveries without an ordering key are independent', async (store, q) => {
        const a = await enqueueOne(store, { destination: 'dest-n', maxAttempts: 1 });
        const b = await enqueueOne(store, { destination: 'dest-n' });
        const c = await enqueueOne(store, { destination: 'dest-n' });
        const base = nowBase();
        const all = await q.claim({ destination: 'dest-n', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base) });
        assert.deepEqual(sortedIds(all), [a.id, b.id, c.id].sort());
        await q.fail(a.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' });
        const d = await enqueueOne(store, { destination: 'dest-n' });
        assert.deepEqual(ids(await q.claim({ destination: 'dest-n', owner: 'w2', leaseMs: LEASE_MS, limit: 10, now: new Date(base + SECOND) })), [d.id]);
      });
    });

    describe('leases', () => {
      it('complete or fail by a non-owner throws SWB_ERR_QUEUE_LEASE_LOST and changes nothing', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-ll' });
        const base = nowBase();
        await q.claim({ destination: 'dest-ll', owner: 'w1', leaseMs: LEASE_MS, limit: 1, now: new Date(base) });
        const before = await mustGet(q, d.id);
        await rejectsWithCode(q.complete(d.id, 'intruder', done(base)), 'SWB_ERR_QUEUE_LEASE_LOST');
        await rejectsWithCode(q.fail(d.id, 'intruder', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' }), 'SWB_ERR_QUEUE_LEASE_LOST');
        assert.deepEqual(await mustGet(q, d.id), before);
        assert.deepEqual(await q.attempts(d.id), []);
        await q.complete(d.id, 'w1', done(base));
        assert.equal((await mustGet(q, d.id)).status, 'delivered');
      });

      it('complete on a delivery never claimed throws SWB_ERR_QUEUE_LEASE_LOST', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-ll' });
        const before = await mustGet(q, d.id);
        await rejectsWithCode(q.complete(d.id, 'w1', done(nowBase())), 'SWB_ERR_QUEUE_LEASE_LOST');
        assert.deepEqual(await mustGet(q, d.id), before);
      });

      it('after the lease expired and another owner claimed it, the first owner gets SWB_ERR_QUEUE_LEASE_LOST', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-ll' });
        const base = nowBase();
        await q.claim({ destination: 'dest-ll', owner: 'slow', leaseMs: SECOND, limit: 1, now: new Date(base) });
        const [taken] = await q.claim({ destination: 'dest-ll', owner: 'fast', leaseMs: LEASE_MS, limit: 1, now: new Date(base + 2 * SECOND) });
        assert.equal(taken?.id, d.id);
        const before = await mustGet(q, d.id);
        assert.equal(before.leaseOwner, 'fast');
        await rejectsWithCode(q.complete(d.id, 'slow', done(base)), 'SWB_ERR_QUEUE_LEASE_LOST');
        await rejectsWithCode(q.fail(d.id, 'slow', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', failureClass: 'transient', retryAt: new Date(base + 5 * SECOND) }), 'SWB_ERR_QUEUE_LEASE_LOST');
        assert.deepEqual(await mustGet(q, d.id), before);
        await q.complete(d.id, 'fast', done(base + 2 * SECOND));
        assert.equal((await mustGet(q, d.id)).status, 'delivered');
        // Completing twice is refused (no lease any more, or not allowed from delivered).
        await rejectsWithCode(q.complete(d.id, 'fast', done(base + 3 * SECOND)), ['SWB_ERR_QUEUE_LEASE_LOST', 'SWB_ERR_QUEUE_BAD_TRANSITION']);
        assert.equal((await q.attempts(d.id)).length, 1, 'one attempt recorded');
      });
    });

    describe('attempts, message status, operator actions, stats', () => {
      it('attempts() returns each attempt with outcome, errorCode, response and times', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-at', maxAttempts: 3 });
        const base = nowBase();
        const claim = (now: number) => q.claim({ destination: 'dest-at', owner: 'w1', leaseMs: LEASE_MS, limit: 1, now: new Date(now) });
        await claim(base);
        await q.fail(d.id, 'w1', { startedAt: new Date(base + 1), finishedAt: new Date(base + 11), errorCode: 'SWB_ERR_MLLP_NAK_REJECT', failureClass: 'transient', retryAt: new Date(base + SECOND), response: 'MSA|AR|Q1|busy' });
        await claim(base + SECOND);
        await q.complete(d.id, 'w1', { startedAt: new Date(base + SECOND + 1), finishedAt: new Date(base + SECOND + 22), response: 'MSA|AA|Q1\rZoë' });
        const attempts = await q.attempts(d.id);
        assert.deepEqual(
          attempts.map((a) => ({ deliveryId: a.deliveryId, attempt: a.attempt, startedAt: a.startedAt, finishedAt: a.finishedAt, outcome: a.outcome, errorCode: a.errorCode, response: a.response })),
          [
            { deliveryId: d.id, attempt: 1, startedAt: new Date(base + 1), finishedAt: new Date(base + 11), outcome: 'retry', errorCode: 'SWB_ERR_MLLP_NAK_REJECT', response: 'MSA|AR|Q1|busy' },
            { deliveryId: d.id, attempt: 2, startedAt: new Date(base + SECOND + 1), finishedAt: new Date(base + SECOND + 22), outcome: 'delivered', errorCode: undefined, response: 'MSA|AA|Q1\rZoë' },
          ],
        );
        assert.equal((await mustGet(q, d.id)).attempts, 2);

        const f = await enqueueOne(store, { destination: 'dest-at2' });
        await q.claim({ destination: 'dest-at2', owner: 'w1', leaseMs: LEASE_MS, limit: 1, now: new Date(base) });
        await q.fail(f.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', response: 'MSA|AE' });
        const g = await enqueueOne(store, { destination: 'dest-at3' });
        await q.claim({ destination: 'dest-at3', owner: 'w1', leaseMs: LEASE_MS, limit: 1, now: new Date(base) });
        await q.fail(g.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECTION_LOST', failureClass: 'ambiguous' });
        assert.deepEqual(
          (await q.attempts(f.id)).map((a) => [a.attempt, a.outcome, a.errorCode, a.response]),
          [[1, 'failed', 'SWB_ERR_MLLP_NAK_ERROR', 'MSA|AE']],
        );
        assert.deepEqual(
          (await q.attempts(g.id)).map((a) => [a.attempt, a.outcome, a.errorCode, a.response]),
          [[1, 'ambiguous', 'SWB_ERR_MLLP_CONNECTION_LOST', undefined]],
        );
      });

      it('the message becomes delivered when all its deliveries are delivered', async (store, q) => {
        const messageId = await newMessage(store);
        const [a, b] = await q.enqueue(messageId, [newDelivery({ destination: 'dest-m1' }), newDelivery({ destination: 'dest-m2' })]);
        assert.ok(a !== undefined && b !== undefined);
        const base = nowBase();
        await q.claim({ destination: 'dest-m1', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
        await q.claim({ destination: 'dest-m2', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
        await q.complete(a.id, 'w1', done(base));
        assert.equal(await messageStatus(store, messageId), 'queued', 'one of two delivered: still queued');
        await q.complete(b.id, 'w1', done(base));
        assert.equal(await messageStatus(store, messageId), 'delivered');
      });

      for (const [label, outcome, expected] of [
        ['failed', { failureClass: 'permanent' }, 'failed'],
        ['ambiguous', { failureClass: 'ambiguous' }, 'ambiguous'],
        ['parked', { failureClass: 'permanent', park: true }, 'parked'],
      ] as const) {
        it(`the message becomes errored when a delivery is ${label}, even if the others are delivered`, async (store, q) => {
          const messageId = await newMessage(store);
          const [a, b] = await q.enqueue(messageId, [newDelivery({ destination: 'dest-e1' }), newDelivery({ destination: 'dest-e2' })]);
          assert.ok(a !== undefined && b !== undefined);
          const base = nowBase();
          await q.claim({ destination: 'dest-e1', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
          await q.claim({ destination: 'dest-e2', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
          await q.fail(a.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', ...outcome });
          assert.equal((await mustGet(q, a.id)).status, expected);
          await q.complete(b.id, 'w1', done(base));
          assert.equal(await messageStatus(store, messageId), 'errored');
        });
      }

      it('retry() from failed: back to pending now, attempts reset, new payload; claimable as head of its key', async (store, q) => {
        const d1 = await enqueueOne(store, { destination: 'dest-r', orderingKey: 'R', payload: 'old payload', maxAttempts: 1 });
        const d2 = await enqueueOne(store, { destination: 'dest-r', orderingKey: 'R' });
        const base = nowBase();
        await q.claim({ destination: 'dest-r', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
        await q.fail(d1.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', failureClass: 'transient', retryAt: new Date(base + SECOND) });
        assert.equal((await mustGet(q, d1.id)).status, 'failed', 'maxAttempts 1: a transient failure is final');
        await q.retry(d1.id, { payload: 'edited payload 東京' });
        const retried = await mustGet(q, d1.id);
        assert.deepEqual([retried.status, retried.attempts, retried.payload], ['pending', 0, 'edited payload 東京']);
        assert.ok(retried.nextAttemptAt.getTime() <= Date.now() + 50, 'due now');
        assert.ok(!ids(await q.exceptions()).includes(d1.id), 'left the exception queue');
        const claimed = await q.claim({ destination: 'dest-r', owner: 'w2', leaseMs: LEASE_MS, limit: 5, now: new Date(nowBase()) });
        assert.deepEqual(ids(claimed), [d1.id], 'd1 again, d2 still behind it');
        assert.equal(claimed[0]?.payload, 'edited payload 東京');
        await q.complete(d1.id, 'w2', done(base));
        assert.deepEqual(ids(await q.claim({ destination: 'dest-r', owner: 'w2', leaseMs: LEASE_MS, limit: 5, now: new Date(nowBase()) })), [d2.id]);
      });

      it('retry() without a payload keeps the payload', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-r2', payload: 'keep me' });
        const base = nowBase();
        await q.claim({ destination: 'dest-r2', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
        await q.fail(d.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECTION_LOST', failureClass: 'ambiguous' });
        await q.retry(d.id);
        const r = await mustGet(q, d.id);
        assert.deepEqual([r.status, r.payload], ['pending', 'keep me']);
      });

      it('retry() of a delivered delivery throws SWB_ERR_QUEUE_BAD_TRANSITION and changes nothing', async (store, q) => {
        const d = await enqueueOne(store, { destination: 'dest-r3' });
        const base = nowBase();
        await q.claim({ destination: 'dest-r3', owner: 'w1', leaseMs: LEASE_MS, limit: 5, now: new Date(base) });
        await q.complete(d.id, 'w1', done(base));
        const before = await mustGet(q, d.id);
        await rejectsWithCode(q.retry(d.id, { payload: 'nope' }), 'SWB_ERR_QUEUE_BAD_TRANSITION');
        assert.deepEqual(await mustGet(q, d.id), before);
      });

      it('exceptions() lists failed, ambiguous and parked oldest first, by destination and with a limit', async (store, q) => {
        const a = await enqueueOne(store, { destination: 'dest-x1' });
        const b = await enqueueOne(store, { destination: 'dest-x1' });
        const c = await enqueueOne(store, { destination: 'dest-x1' });
        const other = await enqueueOne(store, { destination: 'dest-x2' });
        const ok = await enqueueOne(store, { destination: 'dest-x1' });
        const base = nowBase();
        await q.claim({ destination: 'dest-x1', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base) });
        await q.claim({ destination: 'dest-x2', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base) });
        await q.fail(a.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' });
        await q.fail(b.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT', failureClass: 'ambiguous' });
        await q.fail(c.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', park: true });
        await q.fail(other.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' });
        await q.complete(ok.id, 'w1', done(base));
        assert.deepEqual(ids(await q.exceptions({ destination: 'dest-x1' })), [a.id, b.id, c.id]);
        assert.deepEqual(ids(await q.exceptions({ destination: 'dest-x1', limit: 2 })), [a.id, b.id]);
        assert.deepEqual(sortedIds(await q.exceptions()), [a.id, b.id, c.id, other.id].sort());
      });

      it('stats: depth counts unfinished deliveries of the destination; oldestAgeMs from the oldest', async (store, q) => {
        assert.deepEqual(await q.stats('dest-s', new Date()), { destination: 'dest-s', depth: 0, oldestAgeMs: 0 });
        const ds: Delivery[] = [];
        for (let i = 0; i < 5; i++) ds.push(await enqueueOne(store, { destination: 'dest-s' }));
        await enqueueOne(store, { destination: 'dest-s-other' });
        const [delivered, failed, parked, ambiguous, leased] = ds as [Delivery, Delivery, Delivery, Delivery, Delivery];
        const base = nowBase();
        assert.equal((await q.claim({ destination: 'dest-s', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base) })).length, 5);
        await q.complete(delivered.id, 'w1', done(base));
        await q.fail(failed.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' });
        await q.fail(parked.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', park: true });
        await q.fail(ambiguous.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT', failureClass: 'ambiguous' });
        await sleep(5);
        const pending = await enqueueOne(store, { destination: 'dest-s' });
        // Unfinished: failed, ambiguous, leased, pending -> depth 4; delivered and parked are finished.
        const unfinished = await Promise.all([failed, ambiguous, leased, pending].map((d) => mustGet(q, d.id)));
        const oldest = Math.min(...unfinished.map((d) => d.createdAt.getTime()));
        const now = oldest + 7 * SECOND;
        assert.deepEqual(await q.stats('dest-s', new Date(now)), { destination: 'dest-s', depth: 4, oldestAgeMs: 7 * SECOND });
        // When the older ones finish, the age follows the oldest still unfinished.
        await q.resolve(failed.id);
        await q.resolve(ambiguous.id);
        await q.complete(leased.id, 'w1', done(base));
        const newest = await mustGet(q, pending.id);
        assert.deepEqual(await q.stats('dest-s', new Date(now)), { destination: 'dest-s', depth: 1, oldestAgeMs: now - newest.createdAt.getTime() });
        assert.ok(newest.createdAt.getTime() > oldest, 'the pending one is younger');
      });
    });

    describe('history in the outcome transaction', () => {
      it('complete and fail append the delivered / failed event (ids and codes only); a lost lease appends nothing', async (store, q) => {
        const ds: Delivery[] = [];
        for (let i = 0; i < 4; i++) ds.push(await enqueueOne(store, { destination: 'dest-h', maxAttempts: 2, payload: `secret payload ${i}` }));
        const [ok, retry, final, lost] = ds as [Delivery, Delivery, Delivery, Delivery];
        const base = nowBase();
        await q.claim({ destination: 'dest-h', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base) });
        await q.complete(ok.id, 'w1', { startedAt: new Date(base), finishedAt: new Date(base + 7), response: 'MSA|AA|secret' });
        await q.fail(retry.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', failureClass: 'transient', retryAt: new Date(base + SECOND) });
        await q.fail(final.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', park: true, response: 'MSA|AE|secret' });
        await rejectsWithCode(q.complete(lost.id, 'intruder', done(base)), 'SWB_ERR_QUEUE_LEASE_LOST');
        const history = async (d: Delivery): Promise<unknown[]> =>
          (await store.messages.events(d.messageId)).filter((e) => e.deliveryId === d.id).map((e) => [e.type, e.at.getTime(), e.detail]);
        assert.deepEqual(await history(ok), [['delivered', base + 7, { destination: 'dest-h', attempt: 1 }]]);
        assert.deepEqual(await history(retry), [
          ['failed', base + 5, { destination: 'dest-h', attempt: 1, errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', failureClass: 'transient', result: 'retry', retryAt: new Date(base + SECOND).toISOString() }],
        ]);
        assert.deepEqual(await history(final), [['failed', base + 5, { destination: 'dest-h', attempt: 1, errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', result: 'parked' }]]);
        assert.deepEqual(await history(lost), []);
        // The second attempt of the retried one: out of attempts, a final failure.
        await q.claim({ destination: 'dest-h', owner: 'w1', leaseMs: LEASE_MS, limit: 10, now: new Date(base + SECOND) });
        await q.fail(retry.id, 'w1', { ...done(base + SECOND), errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT', failureClass: 'ambiguous' });
        assert.deepEqual((await history(retry))[1], ['failed', base + SECOND + 5, { destination: 'dest-h', attempt: 2, errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT', failureClass: 'ambiguous', result: 'ambiguous' }]);
        const all = await Promise.all(ds.map((d) => store.messages.events(d.messageId)));
        assert.ok(!JSON.stringify(all).includes('secret'), 'no payload or response in the history');
      });

      it('concurrent complete/fail calls: each one recorded once; a lost lease among them rejects alone', async (store, q) => {
        const ds: Delivery[] = [];
        for (let i = 0; i < 16; i++) ds.push(await enqueueOne(store, { destination: 'dest-hc' }));
        const base = nowBase();
        await q.claim({ destination: 'dest-hc', owner: 'w1', leaseMs: LEASE_MS, limit: 16, now: new Date(base) });
        const results = await Promise.allSettled(
          ds.map((d, i) =>
            i === 5
              ? q.complete(d.id, 'intruder', done(base))
              : i % 3 === 0
                ? q.fail(d.id, 'w1', { ...done(base), errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent' })
                : q.complete(d.id, 'w1', done(base)),
          ),
        );
        for (const [i, r] of results.entries()) {
          if (i === 5) {
            assert.ok(r.status === 'rejected' && isSwitchboardError(r.reason) && r.reason.code === 'SWB_ERR_QUEUE_LEASE_LOST', 'the intruder is refused');
          } else assert.equal(r.status, 'fulfilled', `call ${i} succeeded`);
        }
        for (const [i, d] of ds.entries()) {
          const expected = i === 5 ? 'leased' : i % 3 === 0 ? 'failed' : 'delivered';
          assert.equal((await mustGet(q, d.id)).status, expected);
          assert.equal((await q.attempts(d.id)).length, i === 5 ? 0 : 1);
          const events = (await store.messages.events(d.messageId)).filter((e) => e.deliveryId === d.id);
          assert.equal(events.length, i === 5 ? 0 : 1);
          assert.equal(await messageStatus(store, d.messageId), i === 5 ? 'queued' : i % 3 === 0 ? 'errored' : 'delivered');
        }
      });
    });

    describe('concurrency', () => {
      it('4 concurrent claimers over 200 deliveries in 10 keys: no delivery twice; each delivered once, in per-key order', async (store, q) => {
        const keys = Array.from({ length: 10 }, (_, k) => `key-${k}`);
        const order = new Map<string, string[]>(keys.map((k) => [k, []]));
        const keyOf = new Map<string, string>();
        const messageIds: string[] = [];
        for (let m = 0; m < 20; m++) {
          const messageId = await newMessage(store);
          messageIds.push(messageId);
          const ds = await q.enqueue(
            messageId,
            keys.map((k) => newDelivery({ destination: 'dest-cc', orderingKey: k, payload: `${k}/${m}` })),
          );
          for (const d of ds) {
            assert.ok(d.orderingKey !== undefined);
            order.get(d.orderingKey)?.push(d.id);
            keyOf.set(d.id, d.orderingKey);
          }
        }
        const total = 200;
        const owners = ['w1', 'w2', 'w3', 'w4'];

        // One round of simultaneous claims: disjoint, and only heads of keys.
        const round = await Promise.all(owners.map((owner) => q.claim({ destination: 'dest-cc', owner, leaseMs: LEASE_MS, limit: 5, now: new Date(nowBase()) })));
        const roundIds = round.flatMap(ids);
        assert.equal(new Set(roundIds).size, roundIds.length, 'no delivery claimed twice in one round');
        assert.ok(roundIds.length >= 1 && roundIds.length <= 10, `only heads are claimable (got ${roundIds.length})`);
        const heads = new Set(keys.map((k) => order.get(k)?.[0]));
        for (const id of roundIds) assert.ok(heads.has(id), 'a claimed delivery is the head of its key');

        // Then every worker loops claim -> complete until everything is delivered.
        let seq = 0;
        const claimSeq = new Map<string, number>();
        const completeCallSeq = new Map<string, number>();
        const completed = new Set<string>();
        const claimedTwice: string[] = [];
        const noteClaims = (ds: readonly Delivery[]): void => {
          for (const d of ds) {
            if (claimSeq.has(d.id)) claimedTwice.push(d.id);
            claimSeq.set(d.id, ++seq);
          }
        };
        round.forEach(noteClaims);
        const deadline = Date.now() + 45 * SECOND;
        const work = async (owner: string, held: readonly Delivery[]): Promise<void> => {
          let mine = [...held];
          for (;;) {
            for (const d of mine) {
              completeCallSeq.set(d.id, ++seq);
              await q.complete(d.id, owner, done(Date.now()));
              completed.add(d.id);
            }
            if (completed.size >= total) return;
            if (Date.now() > deadline) throw new Error(`${owner}: only ${completed.size} of ${total} delivered before the deadline`);
            mine = await q.claim({ destination: 'dest-cc', owner, leaseMs: LEASE_MS, limit: 3, now: new Date(nowBase()) });
            noteClaims(mine);
            if (mine.length === 0) await sleep(2);
          }
        };
        await Promise.all(owners.map((owner, i) => work(owner, round[i] ?? [])));

        assert.deepEqual(claimedTwice, [], 'no delivery was claimed twice');
        assert.equal(completed.size, total);
        for (const k of keys) {
          const expected = order.get(k) ?? [];
          const claimedOrder = [...expected].sort((a, b) => (claimSeq.get(a) ?? 0) - (claimSeq.get(b) ?? 0));
          assert.deepEqual(claimedOrder, expected, `${k}: claimed in enqueue order`);
          for (let i = 1; i < expected.length; i++) {
            const prev = expected[i - 1] ?? '';
            const next = expected[i] ?? '';
            assert.ok((claimSeq.get(next) ?? 0) > (completeCallSeq.get(prev) ?? Infinity), `${k}: ${next} claimed only after ${prev} was completed`);
          }
        }
        const finals = await Promise.all([...keyOf.keys()].map((id) => mustGet(q, id)));
        assert.ok(finals.every((d) => d.status === 'delivered' && d.attempts === 1), 'every delivery delivered once');
        const attemptCounts = await Promise.all([...keyOf.keys()].map(async (id) => (await q.attempts(id)).length));
        assert.ok(attemptCounts.every((n) => n === 1), 'exactly one attempt each');
        for (const m of messageIds) assert.equal(await messageStatus(store, m), 'delivered');
        assert.deepEqual(await q.stats('dest-cc', new Date()), { destination: 'dest-cc', depth: 0, oldestAgeMs: 0 });
      });
    });
  });
}
