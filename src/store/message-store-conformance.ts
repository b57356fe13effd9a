import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import type { Delivery, NewDelivery } from '../core/ports/delivery-queue.ts';
import type { IngestOutcome, IngestRecord, IngestResult, MessageEvent, MessageStatus, MessageSummary, StoredMessage } from '../core/ports/message-store.ts';
import type { Store } from '../core/ports/store.ts';

/**
 * The one MessageStore conformance suite (STYLE.md "Ports and adapters"), run by
 * src/store/<kind>/*.test.ts against every implementation.
 *
 * A factory call opens a fresh, empty database. `reopen` opens the same database again (after the
 * test closed `store`), for durability checks; `cleanup` closes whatever the fixture opened and is
 * still open, then removes the database.
 */
export interface StoreFixture {
  readonly store: Store;
  readonly reopen: () => Promise<Store>;
  readonly cleanup: () => Promise<void>;
}
export type StoreFactory = () => Promise<StoreFixture>;

const TEST_TIMEOUT_MS = 60_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** A fixed past instant: receivedAt is data, not the store's clock, so tests may place it anywhere. */
const T0 = Date.parse('2026-01-05T08:00:00.000Z');
const at = (offsetMs: number): Date => new Date(T0 + offsetMs);

/** An ER7 message with CR segment terminators and non-ASCII text (UTF-8: 2-, 3- and 4-byte characters). */
const ER7_UNICODE =
  'MSH|^~\\&|LAB|Zoë Klinik|SWB|東京|20260105080000||ORU^R01|CTRL-U1|P|2.5.1\r' +
  'PID|1||MRN-77^^^HOSP^MR||Ünal^Zoë||19800101|F\r' +
  'OBX|1|TX|NOTE||Zoë Ünal 東京 🩺 naïve café\r';

function baseRecord(overrides: Partial<IngestRecord> = {}): IngestRecord {
  return {
    channelId: 'ch-conf',
    content: 'MSH|^~\\&|A|B|C|D|20260105080000||ADT^A01|X1|P|2.5.1\rPID|1||P-1\r',
    contentType: 'hl7v2',
    receivedAt: at(0),
    source: 'mllp://10.0.0.5:50312',
    correlationId: 'corr-default',
    configRevision: 1,
    ...overrides,
  };
}

async function storedId(result: Promise<IngestResult>): Promise<string> {
  const r = await result;
  assert.equal(r.kind, 'stored', `expected a stored result, got ${JSON.stringify(r)}`);
  return r.id;
}

/** Every field of a StoredMessage as an object with every key present, so deepEqual compares values only. */
function fields(m: StoredMessage): Record<string, unknown> {
  return {
    id: m.id,
    channelId: m.channelId,
    content: m.content,
    contentType: m.contentType,
    receivedAt: m.receivedAt,
    source: m.source,
    messageType: m.messageType,
    controlId: m.controlId,
    sendingFacility: m.sendingFacility,
    orderingKey: m.orderingKey,
    patientIds: [...m.patientIds],
    correlationId: m.correlationId,
    configRevision: m.configRevision,
    status: m.status,
    statusReason: m.statusReason,
    updatedAt: m.updatedAt,
  };
}

function summaryFields(m: MessageSummary): Record<string, unknown> {
  return {
    id: m.id,
    channelId: m.channelId,
    contentType: m.contentType,
    receivedAt: m.receivedAt,
    source: m.source,
    messageType: m.messageType,
    controlId: m.controlId,
    sendingFacility: m.sendingFacility,
    orderingKey: m.orderingKey,
    patientIds: [...m.patientIds],
    correlationId: m.correlationId,
    configRevision: m.configRevision,
    status: m.status,
    statusReason: m.statusReason,
    updatedAt: m.updatedAt,
    contentBytes: m.contentBytes,
  };
}

function eventFields(e: MessageEvent): Record<string, unknown> {
  return { messageId: e.messageId, deliveryId: e.deliveryId, at: e.at, type: e.type, detail: e.detail };
}

async function mustGet(store: Store, id: string): Promise<StoredMessage> {
  const m = await store.messages.get(id);
  assert.ok(m !== undefined, `message ${id} not found`);
  return m;
}

/** Every id a query reaches, following cursors (guarded against a cursor that never ends). */
async function searchAllIds(store: Store, query: Parameters<Store['messages']['search']>[0], pageSize = 500): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await store.messages.search({ ...query, limit: pageSize, ...(cursor !== undefined ? { cursor } : {}) });
    ids.push(...result.items.map((m) => m.id));
    if (result.nextCursor === undefined) return ids;
    cursor = result.nextCursor;
  }
  assert.fail('pagination did not terminate within 1000 pages');
}

/** The order search must return: receivedAt desc, then id desc. */
function newestFirst(a: { receivedAt: Date; id: string }, b: { receivedAt: Date; id: string }): number {
  const dt = b.receivedAt.getTime() - a.receivedAt.getTime();
  if (dt !== 0) return dt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function runMessageStoreSuite(name: string, factory: StoreFactory): void {
  /** Runs a test body against a fresh database, always cleaning up. */
  const withStore =
    (body: (store: Store, fixture: StoreFixture) => Promise<void>) =>
    async (): Promise<void> => {
      const fixture = await factory();
      try {
        await body(fixture.store, fixture);
      } finally {
        await fixture.cleanup();
      }
    };
  const it = (title: string, body: (store: Store, fixture: StoreFixture) => Promise<void>): void => {
    test(title, { timeout: TEST_TIMEOUT_MS }, withStore(body));
  };

  describe(name, () => {
    describe('ingest and get', () => {
      it('ingest stores a record and returns its id; get returns every field exactly', async (store) => {
        const record = baseRecord({
          channelId: 'ch-exact',
          content: ER7_UNICODE,
          receivedAt: new Date('2026-01-05T08:00:00.123Z'),
          source: 'mllp://10.0.0.9:40001',
          messageType: 'ORU^R01',
          controlId: 'CTRL-U1',
          sendingFacility: 'Zoë Klinik',
          orderingKey: 'MRN-77',
          patientIds: ['MRN-77', 'NHS-123'],
          correlationId: 'corr-exact-1',
          configRevision: 42,
        });
        const result = await store.messages.ingest(record);
        assert.equal(result.kind, 'stored');
        assert.equal(typeof result.id, 'string');
        assert.ok(result.id.length > 0, 'the id is not empty');

        const got = await mustGet(store, result.id);
        assert.ok(got.updatedAt instanceof Date && !Number.isNaN(got.updatedAt.getTime()), 'updatedAt is a valid Date');
        assert.deepEqual(fields(got), {
          id: result.id,
          channelId: 'ch-exact',
          content: ER7_UNICODE,
          contentType: 'hl7v2',
          receivedAt: new Date('2026-01-05T08:00:00.123Z'),
          source: 'mllp://10.0.0.9:40001',
          messageType: 'ORU^R01',
          controlId: 'CTRL-U1',
          sendingFacility: 'Zoë Klinik',
          orderingKey: 'MRN-77',
          patientIds: ['MRN-77', 'NHS-123'],
          correlationId: 'corr-exact-1',
          configRevision: 42,
          status: 'received',
          statusReason: undefined,
          updatedAt: got.updatedAt,
        });
        // Byte-exact, not merely equal after some normalisation: CRs kept, no CRLF, same UTF-8 bytes.
        assert.ok(got.content !== undefined);
        assert.ok(Buffer.from(got.content, 'utf8').equals(Buffer.from(ER7_UNICODE, 'utf8')), 'content bytes differ');
        assert.equal(got.content.split('\r').length, 4, 'three CR segment terminators');
        assert.ok(!got.content.includes('\n'), 'no LF introduced');
      });

      it('optional fields come back undefined and patientIds empty when not given', async (store) => {
        const json = '{"resourceType":"Patient","name":[{"family":"Ünal","given":["Zoë"]}]}';
        const id = await storedId(
          store.messages.ingest({ channelId: 'ch-min', content: json, contentType: 'fhir+json', receivedAt: at(5), source: 'http://api', correlationId: 'corr-min', configRevision: 3 }),
        );
        const got = await mustGet(store, id);
        assert.deepEqual(fields(got), {
          id,
          channelId: 'ch-min',
          content: json,
          contentType: 'fhir+json',
          receivedAt: at(5),
          source: 'http://api',
          messageType: undefined,
          controlId: undefined,
          sendingFacility: undefined,
          orderingKey: undefined,
          patientIds: [],
          correlationId: 'corr-min',
          configRevision: 3,
          status: 'received',
          statusReason: undefined,
          updatedAt: got.updatedAt,
        });
      });

      it('get of an unknown id is undefined', async (store) => {
        await storedId(store.messages.ingest(baseRecord()));
        assert.equal(await store.messages.get('01ZZZZZZZZZZZZZZZZZZZZZZZZ'), undefined);
      });

      it('two ingests get distinct ids', async (store) => {
        const a = await storedId(store.messages.ingest(baseRecord()));
        const b = await storedId(store.messages.ingest(baseRecord()));
        assert.notEqual(a, b);
      });
    });

    describe('dedupe', () => {
      // Assumption (the port says "received within dedupeWindowMs of the first"): the window is
      // measured on the records' receivedAt, not on the store's clock at ingest time.
      it('same key within the window is a duplicate pointing at the first id, with firstSeen', async (store) => {
        const first = await storedId(store.messages.ingest(baseRecord({ receivedAt: at(0), dedupeKey: 'FAC|CTRL-1', dedupeWindowMs: HOUR, controlId: 'CTRL-1' })));
        const second = await store.messages.ingest(baseRecord({ receivedAt: at(59 * MINUTE), dedupeKey: 'FAC|CTRL-1', dedupeWindowMs: HOUR, controlId: 'CTRL-1' }));
        assert.equal(second.kind, 'duplicate');
        assert.equal(second.id, first);
        assert.ok(second.kind === 'duplicate');
        assert.deepEqual(second.firstSeen, at(0));
        // The duplicate was not stored as a message of its own.
        assert.deepEqual(await searchAllIds(store, { channelId: 'ch-conf' }), [first]);
      });

      it('a different key is not a duplicate', async (store) => {
        const a = await storedId(store.messages.ingest(baseRecord({ dedupeKey: 'FAC|A', dedupeWindowMs: HOUR })));
        const b = await storedId(store.messages.ingest(baseRecord({ dedupeKey: 'FAC|B', dedupeWindowMs: HOUR })));
        assert.notEqual(a, b);
      });

      it('same key with receivedAt outside the window is stored; a later retransmission dedupes against the newer one', async (store) => {
        const a = await storedId(store.messages.ingest(baseRecord({ receivedAt: at(0), dedupeKey: 'K-window', dedupeWindowMs: HOUR })));
        const b = await storedId(store.messages.ingest(baseRecord({ receivedAt: at(2 * HOUR), dedupeKey: 'K-window', dedupeWindowMs: HOUR })));
        assert.notEqual(a, b);
        const c = await store.messages.ingest(baseRecord({ receivedAt: at(2 * HOUR + MINUTE), dedupeKey: 'K-window', dedupeWindowMs: HOUR }));
        assert.equal(c.kind, 'duplicate');
        assert.equal(c.id, b, 'dedupes against the copy stored in the current window, not the expired one');
        assert.ok(c.kind === 'duplicate');
        assert.deepEqual(c.firstSeen, at(2 * HOUR));
      });

      it('a 1 ms window has passed after 20 ms of wall time (receivedAt = now)', async (store) => {
        const a = await storedId(store.messages.ingest(baseRecord({ receivedAt: new Date(), dedupeKey: 'K-short', dedupeWindowMs: 1 })));
        await sleep(20);
        const b = await storedId(store.messages.ingest(baseRecord({ receivedAt: new Date(), dedupeKey: 'K-short', dedupeWindowMs: 1 })));
        assert.notEqual(a, b);
      });

      it('without a dedupe key identical records are never duplicates', async (store) => {
        const record = baseRecord({ controlId: 'SAME', sendingFacility: 'FAC' });
        const a = await storedId(store.messages.ingest(record));
        const b = await storedId(store.messages.ingest(record));
        assert.notEqual(a, b);
        assert.equal((await searchAllIds(store, { channelId: 'ch-conf' })).length, 2);
      });
    });

    describe('ingest outcome (stored in the ingest transaction)', () => {
      const delivery = (destination: string, orderingKey: string | undefined, n: number): NewDelivery => ({
        destination,
        ...(orderingKey !== undefined ? { orderingKey } : {}),
        payload: `payload ${n} Zoë`,
        idempotencyKey: `idem-${destination}-${n}`,
        maxAttempts: 4,
      });
      /** Claims far enough ahead of the store's clock that every delivery just created is due. */
      const claim = (store: Store, destination: string, limit = 10): Promise<Delivery[]> =>
        store.queue.claim({ destination, owner: 'conf-worker', leaseMs: HOUR, limit, now: new Date(Date.now() + MINUTE) });

      it('queued: the message is queued and its deliveries exist exactly as enqueue creates them, in order', async (store) => {
        const list = [delivery('dest-o1', 'P-1', 1), delivery('dest-o2', undefined, 2), delivery('dest-o1', 'P-1', 3)];
        const id = await storedId(store.messages.ingest(baseRecord({ orderingKey: 'P-1', outcome: { kind: 'queued', deliveries: list } })));
        const m = await mustGet(store, id);
        assert.equal(m.status, 'queued');
        assert.equal(m.statusReason, undefined);
        const got = await store.queue.forMessage(id);
        assert.deepEqual(
          got.map((d) => ({ messageId: d.messageId, destination: d.destination, orderingKey: d.orderingKey, payload: d.payload, idempotencyKey: d.idempotencyKey, maxAttempts: d.maxAttempts, status: d.status, attempts: d.attempts, leaseOwner: d.leaseOwner, lastErrorCode: d.lastErrorCode })),
          list.map((d) => ({ messageId: id, destination: d.destination, orderingKey: d.orderingKey, payload: d.payload, idempotencyKey: d.idempotencyKey, maxAttempts: d.maxAttempts, status: 'pending', attempts: 0, leaseOwner: undefined, lastErrorCode: undefined })),
        );
        assert.equal(new Set(got.map((d) => d.id)).size, 3, 'distinct delivery ids');
        for (const d of got) assert.deepEqual(await store.queue.get(d.id), d);
        // Same shape as queue.enqueue: compare against a delivery enqueued the ordinary way.
        const other = await storedId(store.messages.ingest(baseRecord()));
        const [enqueued] = await store.queue.enqueue(other, [delivery('dest-o9', 'P-9', 9)]);
        assert.ok(enqueued !== undefined);
        assert.equal(got[0]?.id.length, enqueued.id.length, 'same id scheme');
        assert.ok(Math.abs((got[0]?.nextAttemptAt.getTime() ?? 0) - (got[0]?.createdAt.getTime() ?? 0)) < 1000, 'due at creation');
        assert.deepEqual((await store.queue.stats('dest-o1')).depth, 2);
      });

      it('queued deliveries are claimable in ingest order per key, a key\'s successor only after its head finishes', async (store) => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push(await storedId(store.messages.ingest(baseRecord({ controlId: `O${i}`, outcome: { kind: 'queued', deliveries: [delivery('dest-ord', 'P-A', i)] } }))));
        // Several in one group-commit batch, ordered as the calls were made.
        const batch = await Promise.all(
          Array.from({ length: 5 }, (_, i) => store.messages.ingest(baseRecord({ controlId: `OB${i}`, outcome: { kind: 'queued', deliveries: [delivery('dest-ord', 'P-B', i)] } }))),
        );
        const byKey = async (): Promise<string[]> => (await claim(store, 'dest-ord')).map((d) => `${d.orderingKey}:${d.payload}`);
        assert.deepEqual(await byKey(), ['P-A:payload 0 Zoë', 'P-B:payload 0 Zoë'], 'only the head of each key');
        const heads = await store.queue.forMessage(ids[0] as string);
        await store.queue.complete(heads[0]?.id as string, 'conf-worker', { startedAt: new Date(), finishedAt: new Date() });
        const bHead = await store.queue.forMessage((batch[0] as IngestResult).id);
        await store.queue.complete(bHead[0]?.id as string, 'conf-worker', { startedAt: new Date(), finishedAt: new Date() });
        assert.deepEqual(await byKey(), ['P-A:payload 1 Zoë', 'P-B:payload 1 Zoë']);
        assert.equal((await mustGet(store, ids[0] as string)).status, 'delivered', 'the queue keeps the message status in step');
        assert.equal((await mustGet(store, ids[1] as string)).status, 'queued');
      });

      it('queued with no deliveries is delivered, and nothing is queued', async (store) => {
        const id = await storedId(store.messages.ingest(baseRecord({ outcome: { kind: 'queued', deliveries: [] } })));
        const m = await mustGet(store, id);
        assert.equal(m.status, 'delivered');
        assert.equal(m.statusReason, undefined);
        assert.deepEqual(await store.queue.forMessage(id), []);
      });

      it('filtered keeps the reason; errored keeps the reason; neither creates deliveries', async (store) => {
        const f = await storedId(store.messages.ingest(baseRecord({ controlId: 'F1', outcome: { kind: 'filtered', reason: 'filter drop-a08: A08 not wanted' } })));
        const e = await storedId(store.messages.ingest(baseRecord({ controlId: 'E1', outcome: { kind: 'errored', reason: 'SWB_ERR_PIPELINE_TRANSFORM_FAILED' } })));
        assert.deepEqual([(await mustGet(store, f)).status, (await mustGet(store, f)).statusReason], ['filtered', 'filter drop-a08: A08 not wanted']);
        assert.deepEqual([(await mustGet(store, e)).status, (await mustGet(store, e)).statusReason], ['errored', 'SWB_ERR_PIPELINE_TRANSFORM_FAILED']);
        assert.deepEqual(await store.queue.forMessage(f), []);
        assert.deepEqual(await store.queue.forMessage(e), []);
        assert.deepEqual((await store.messages.search({ status: 'filtered' })).items.map((i) => i.id), [f]);
        assert.deepEqual((await store.messages.search({ status: 'errored' })).items.map((i) => i.id), [e]);
        // Without an outcome the message is only received.
        const r = await storedId(store.messages.ingest(baseRecord({ controlId: 'R1' })));
        assert.equal((await mustGet(store, r)).status, 'received');
      });

      it('history starts with received (and the outcome), ids and counts only', async (store) => {
        const q = await storedId(store.messages.ingest(baseRecord({ configRevision: 7, outcome: { kind: 'queued', deliveries: [delivery('dest-ev', 'P-E', 1), delivery('dest-ev2', 'P-E', 2)] } })));
        const f = await storedId(store.messages.ingest(baseRecord({ outcome: { kind: 'filtered', reason: 'Zoë not wanted' } })));
        const r = await storedId(store.messages.ingest(baseRecord()));
        const evq = await store.messages.events(q);
        assert.deepEqual(evq.map((e) => e.type), ['received', 'queued']);
        assert.deepEqual(evq[0]?.at, at(0), 'received at receipt');
        assert.deepEqual(evq[0]?.detail, { configRevision: 7 });
        assert.deepEqual(evq[1]?.detail, { deliveries: 2 });
        const evf = await store.messages.events(f);
        assert.deepEqual(evf.map((e) => e.type), ['received', 'filtered']);
        assert.ok(!JSON.stringify(evf).includes('Zoë'), 'the reason is not copied into the history');
        assert.deepEqual((await store.messages.events(r)).map((e) => e.type), ['received']);
      });

      it('a duplicate with an outcome inserts nothing: no message, no delivery, no event', async (store) => {
        const first = await storedId(store.messages.ingest(baseRecord({ dedupeKey: 'FAC|DUP-O', dedupeWindowMs: HOUR, outcome: { kind: 'queued', deliveries: [delivery('dest-dup', 'P-D', 1)] } })));
        const again = await store.messages.ingest(baseRecord({ receivedAt: at(MINUTE), dedupeKey: 'FAC|DUP-O', dedupeWindowMs: HOUR, outcome: { kind: 'queued', deliveries: [delivery('dest-dup', 'P-D', 2)] } }));
        assert.equal(again.kind, 'duplicate');
        assert.equal(again.id, first);
        // And inside one concurrent batch.
        const burst = await Promise.all(
          Array.from({ length: 6 }, (_, i) => store.messages.ingest(baseRecord({ receivedAt: at(2 * MINUTE + i), dedupeKey: 'FAC|DUP-O', dedupeWindowMs: HOUR, outcome: { kind: 'errored', reason: `E${i}` } }))),
        );
        assert.ok(burst.every((b) => b.kind === 'duplicate' && b.id === first));
        assert.deepEqual(await searchAllIds(store, { channelId: 'ch-conf' }), [first]);
        const got = await store.queue.forMessage(first);
        assert.deepEqual(got.map((d) => d.payload), ['payload 1 Zoë']);
        assert.equal((await store.queue.stats('dest-dup')).depth, 1);
        assert.deepEqual((await store.messages.events(first)).map((e) => e.type), ['received', 'queued']);
        assert.equal((await mustGet(store, first)).status, 'queued');
      });

      it('a malformed outcome is refused alone with SWB_ERR_STORE_INVALID_RECORD; its neighbours are stored', async (store) => {
        const bad = { kind: 'queued', deliveries: [{ destination: '', payload: 'x', idempotencyKey: 'k', maxAttempts: 1 }] } as const;
        const results = await Promise.allSettled([
          store.messages.ingest(baseRecord({ controlId: 'N1', outcome: { kind: 'queued', deliveries: [delivery('dest-n', 'P-N', 1)] } })),
          store.messages.ingest(baseRecord({ controlId: 'BAD', outcome: bad })),
          store.messages.ingest(baseRecord({ controlId: 'BAD2', outcome: { kind: 'nonsense' } as unknown as IngestOutcome })),
          store.messages.ingest(baseRecord({ controlId: 'N2', outcome: { kind: 'filtered', reason: 'r' } })),
        ]);
        assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled']);
        for (const r of [results[1], results[2]]) {
          assert.ok(r?.status === 'rejected' && isSwitchboardError(r.reason) && r.reason.code === 'SWB_ERR_STORE_INVALID_RECORD', `got ${r?.status === 'rejected' ? String(r.reason) : 'fulfilled'}`);
        }
        assert.equal((await searchAllIds(store, { channelId: 'ch-conf' })).length, 2);
        assert.equal((await searchAllIds(store, { channelId: 'ch-conf', controlId: 'BAD' })).length, 0);
        assert.equal((await store.queue.stats('dest-n')).depth, 1);
      });

      it('200 concurrent ingests with outcomes: every delivery created once, per-key order = call order', async (store) => {
        const n = 200;
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) =>
            store.messages.ingest(baseRecord({ channelId: 'ch-oburst', controlId: `OB${i}`, receivedAt: at(i), outcome: { kind: 'queued', deliveries: [delivery('dest-burst', `K${i % 4}`, i)] } })),
          ),
        );
        assert.ok(results.every((r) => r.kind === 'stored'));
        assert.equal((await store.queue.stats('dest-burst')).depth, n);
        // Drain key by key: each claim returns the next head of each of the 4 keys, in call order.
        const seen = new Map<string, number[]>();
        for (let round = 0; round < n / 4; round++) {
          const claimed = await claim(store, 'dest-burst', 10);
          assert.equal(claimed.length, 4, `round ${round}: one head per key`);
          for (const d of claimed) {
            const list = seen.get(d.orderingKey ?? '') ?? [];
            list.push(Number(d.payload.split(' ')[1]));
            seen.set(d.orderingKey ?? '', list);
            await store.queue.complete(d.id, 'conf-worker', { startedAt: new Date(), finishedAt: new Date() });
          }
        }
        for (let k = 0; k < 4; k++) assert.deepEqual(seen.get(`K${k}`), Array.from({ length: n / 4 }, (_, j) => j * 4 + k));
      });
    });

    describe('dedupe key pruning', () => {
      it('pruneDedupeKeys forgets keys first seen before the cutoff (exclusive) and returns how many', async (store) => {
        const DAY = 24 * HOUR;
        const old = await storedId(store.messages.ingest(baseRecord({ receivedAt: at(0), dedupeKey: 'K-old', dedupeWindowMs: 30 * DAY })));
        await storedId(store.messages.ingest(baseRecord({ receivedAt: at(HOUR), dedupeKey: 'K-edge', dedupeWindowMs: 30 * DAY })));
        await storedId(store.messages.ingest(baseRecord({ receivedAt: at(2 * HOUR), dedupeKey: 'K-new', dedupeWindowMs: 30 * DAY })));
        assert.equal(await store.messages.pruneDedupeKeys(at(HOUR)), 1);
        assert.equal(await store.messages.pruneDedupeKeys(at(HOUR)), 0, 'nothing left to prune');
        // The pruned key no longer dedupes, though the window would still cover it; the others do.
        const again = await store.messages.ingest(baseRecord({ receivedAt: at(3 * HOUR), dedupeKey: 'K-old', dedupeWindowMs: 30 * DAY }));
        assert.equal(again.kind, 'stored');
        assert.notEqual(again.id, old);
        assert.equal((await store.messages.ingest(baseRecord({ receivedAt: at(3 * HOUR), dedupeKey: 'K-edge', dedupeWindowMs: 30 * DAY }))).kind, 'duplicate');
        assert.equal((await store.messages.ingest(baseRecord({ receivedAt: at(3 * HOUR), dedupeKey: 'K-new', dedupeWindowMs: 30 * DAY }))).kind, 'duplicate');
        // Pruning keys never touches messages.
        assert.equal((await mustGet(store, old)).content, baseRecord().content);
      });

      it('pruneDedupeKeys removes many keys (more than one chunk)', async (store) => {
        const n = 6000;
        for (let i = 0; i < n; i += 500) {
          await Promise.all(Array.from({ length: 500 }, (_, j) => store.messages.ingest(baseRecord({ channelId: 'ch-many', receivedAt: at(i + j), dedupeKey: `K-${i + j}`, dedupeWindowMs: HOUR }))));
        }
        assert.equal(await store.messages.pruneDedupeKeys(at(n - 10)), n - 10);
        assert.equal((await store.messages.ingest(baseRecord({ channelId: 'ch-many', receivedAt: at(n), dedupeKey: `K-${n - 1}`, dedupeWindowMs: HOUR }))).kind, 'duplicate');
        assert.equal((await store.messages.ingest(baseRecord({ channelId: 'ch-many', receivedAt: at(n), dedupeKey: 'K-0', dedupeWindowMs: HOUR }))).kind, 'stored');
      });
    });

    describe('concurrency', () => {
      it('300 concurrent ingests are all stored with distinct ids and retrievable', async (store) => {
        const n = 300;
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) => store.messages.ingest(baseRecord({ channelId: 'ch-burst', content: `MSH|^~\\&|A|B|C|D|||ADT^A01|B${i}|P|2.5.1\rPID|1||burst-${i}\r`, controlId: `B${i}`, receivedAt: at(i) }))),
        );
        assert.ok(results.every((r) => r.kind === 'stored'), 'every ingest stored');
        const ids = results.map((r) => r.id);
        assert.equal(new Set(ids).size, n, 'distinct ids');
        const fetched = await Promise.all(ids.map((id) => store.messages.get(id)));
        fetched.forEach((m, i) => {
          assert.ok(m !== undefined, `message ${i} retrievable`);
          assert.equal(m.controlId, `B${i}`);
          assert.equal(m.content, `MSH|^~\\&|A|B|C|D|||ADT^A01|B${i}|P|2.5.1\rPID|1||burst-${i}\r`);
        });
        assert.deepEqual(new Set(await searchAllIds(store, { channelId: 'ch-burst' })), new Set(ids));
      });

      it('a duplicate inside one concurrent batch is detected', async (store) => {
        const results = await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => store.messages.ingest(baseRecord({ channelId: 'ch-batch', controlId: `U${i}`, receivedAt: at(i) }))),
          ...Array.from({ length: 10 }, () => store.messages.ingest(baseRecord({ channelId: 'ch-batch', controlId: 'DUP', receivedAt: at(100), dedupeKey: 'FAC|DUP', dedupeWindowMs: HOUR }))),
        ]);
        const dupResults = results.slice(20);
        const stored = dupResults.filter((r) => r.kind === 'stored');
        assert.equal(stored.length, 1, `exactly one copy stored, got ${stored.length}`);
        const firstId = stored[0]?.id;
        for (const r of dupResults.filter((x) => x.kind === 'duplicate')) {
          assert.equal(r.id, firstId);
          assert.deepEqual(r.firstSeen, at(100));
        }
        assert.equal((await searchAllIds(store, { channelId: 'ch-batch' })).length, 21);
        assert.equal((await searchAllIds(store, { channelId: 'ch-batch', controlId: 'DUP' })).length, 1);
      });
    });

    describe('search', () => {
      // One dataset for the whole block, seeded once. Times are minutes after T0; m6..m9 share one
      // receivedAt so that ties (ordered by id desc) straddle page boundaries.
      interface Seed {
        readonly key: string;
        readonly record: IngestRecord;
        readonly status?: MessageStatus;
        readonly reason?: string;
      }
      const seeds: Seed[] = [
        { key: 'm0', record: baseRecord({ channelId: 'ch-a', receivedAt: at(0), messageType: 'ADT^A01', controlId: 'C0', patientIds: ['P1', 'MRN-9'], correlationId: 'corr-0', content: 'MSH|^~\\&|A|B|C|D|||ADT^A01|C0|P|2.5.1\rPID|1||P1~MRN-9||Smith^John\rNTE|1||admitted for observation\r' }) },
        { key: 'm1', record: baseRecord({ channelId: 'ch-a', receivedAt: at(1 * MINUTE), messageType: 'ORU^R01', controlId: 'C1', patientIds: ['P2'], correlationId: 'corr-1', content: 'MSH|^~\\&|A|B|C|D|||ORU^R01|C1|P|2.5.1\rOBX|1|TX|GLU||patient fasting glucose elevated\r' }) },
        { key: 'm2', record: baseRecord({ channelId: 'ch-a', receivedAt: at(2 * MINUTE), messageType: 'ORU^R01', controlId: 'C2', patientIds: ['P3'], correlationId: 'corr-2', content: 'MSH|^~\\&|A|B|C|D|||ORU^R01|C2|P|2.5.1\rOBX|1|TX|GLU||random glucose normal\r' }), status: 'filtered', reason: 'test-filter' },
        { key: 'm3', record: baseRecord({ channelId: 'ch-b', receivedAt: at(3 * MINUTE), messageType: 'ORU^R01', controlId: 'C3', patientIds: ['P1'], correlationId: 'corr-3', content: 'MSH|^~\\&|A|B|C|D|||ORU^R01|C3|P|2.5.1\rOBX|1|TX|GLU||glucose fasting repeat\r' }), status: 'errored', reason: 'SWB_ERR_MLLP_NAK_ERROR' },
        { key: 'm4', record: baseRecord({ channelId: 'ch-b', receivedAt: at(4 * MINUTE), messageType: 'ADT^A08', controlId: 'C4', patientIds: ['P4'], correlationId: 'corr-4', content: 'MSH|^~\\&|A|B|C|D|||ADT^A08|C4|P|2.5.1\rPID|1||P4||Ünal^Zoë\r' }) },
        { key: 'm5', record: baseRecord({ channelId: 'ch-a', receivedAt: at(5 * MINUTE), messageType: 'ADT^A01', controlId: 'C5', patientIds: ['P5', 'P1'], correlationId: 'corr-5', content: 'MSH|^~\\&|A|B|C|D|||ADT^A01|C5|P|2.5.1\rPID|1||P5~P1||Doe^Jane\rNTE|1||xylophone lessons\r' }), status: 'filtered' },
        { key: 'm6', record: baseRecord({ channelId: 'ch-a', receivedAt: at(6 * MINUTE), messageType: 'ADT^A03', controlId: 'C6', patientIds: ['P6'], correlationId: 'corr-6', content: 'MSH|^~\\&|A|B|C|D|||ADT^A03|C6|P|2.5.1\rPID|1||P6\r' }) },
        { key: 'm7', record: baseRecord({ channelId: 'ch-a', receivedAt: at(6 * MINUTE), messageType: 'ADT^A03', controlId: 'C7', patientIds: ['P7'], correlationId: 'corr-7', content: 'MSH|^~\\&|A|B|C|D|||ADT^A03|C7|P|2.5.1\rPID|1||P7\r' }) },
        { key: 'm8', record: baseRecord({ channelId: 'ch-a', receivedAt: at(6 * MINUTE), messageType: 'ADT^A03', controlId: 'C8', patientIds: ['P8'], correlationId: 'corr-8', content: 'MSH|^~\\&|A|B|C|D|||ADT^A03|C8|P|2.5.1\rPID|1||P8\r' }) },
        { key: 'm9', record: baseRecord({ channelId: 'ch-a', receivedAt: at(6 * MINUTE), messageType: 'ADT^A03', controlId: 'C9', patientIds: ['P9'], correlationId: 'corr-9', content: 'MSH|^~\\&|A|B|C|D|||ADT^A03|C9|P|2.5.1\rPID|1||P9\r' }) },
        { key: 'm10', record: baseRecord({ channelId: 'ch-b', receivedAt: at(7 * MINUTE), messageType: 'ORU^R01', controlId: 'C10', patientIds: ['P10'], correlationId: 'corr-10', content: 'MSH|^~\\&|A|B|C|D|||ORU^R01|C10|P|2.5.1\rOBX|1|TX|GLU||glucose\r' }) },
      ];
      let fixture: StoreFixture | undefined;
      const idOf = new Map<string, string>();
      const keyOf = new Map<string, string>();
      const storeOf = (): Store => {
        assert.ok(fixture !== undefined, 'the search dataset was not seeded');
        return fixture.store;
      };
      /** Runs a query and returns the seed keys it found, following cursors. */
      const keys = async (query: Parameters<Store['messages']['search']>[0]): Promise<string[]> =>
        (await searchAllIds(storeOf(), query)).map((id) => keyOf.get(id) ?? `unknown:${id}`);
      /** The seed keys in the order search must return them. */
      const expectedOrder = (wanted: readonly string[]): string[] =>
        seeds
          .filter((s) => wanted.includes(s.key))
          .map((s) => ({ key: s.key, receivedAt: s.record.receivedAt, id: idOf.get(s.key) ?? '' }))
          .sort(newestFirst)
          .map((s) => s.key);

      const searchTest = (title: string, body: () => Promise<void>): void => {
        test(title, { timeout: TEST_TIMEOUT_MS }, body);
      };

      before(async () => {
        fixture = await factory();
        for (const seed of seeds) {
          const id = await storedId(fixture.store.messages.ingest(seed.record));
          idOf.set(seed.key, id);
          keyOf.set(id, seed.key);
          if (seed.status !== undefined) {
            if (seed.reason !== undefined) await fixture.store.messages.setStatus(id, seed.status, seed.reason);
            else await fixture.store.messages.setStatus(id, seed.status);
          }
        }
      });

      searchTest('no filter returns every message, newest first (receivedAt desc, then id desc)', async () => {
        assert.deepEqual(await keys({}), expectedOrder(seeds.map((s) => s.key)));
        // The tie-break is visible: the four messages sharing one receivedAt come out in id-desc order.
        const tied = ['m6', 'm7', 'm8', 'm9'].map((k) => idOf.get(k) ?? '').sort().reverse();
        const got = await searchAllIds(storeOf(), {});
        assert.deepEqual(
          got.filter((id) => tied.includes(id)),
          tied,
        );
      });

      searchTest('filter by channelId', async () => {
        assert.deepEqual(await keys({ channelId: 'ch-b' }), expectedOrder(['m3', 'm4', 'm10']));
        assert.deepEqual(await keys({ channelId: 'ch-none' }), []);
      });

      searchTest('filter by a single status and by an array of statuses', async () => {
        assert.deepEqual(await keys({ status: 'filtered' }), expectedOrder(['m2', 'm5']));
        assert.deepEqual(await keys({ status: ['filtered', 'errored'] }), expectedOrder(['m2', 'm3', 'm5']));
        assert.deepEqual(await keys({ status: ['delivered'] }), []);
        assert.deepEqual(await keys({ status: 'received' }), expectedOrder(['m0', 'm1', 'm4', 'm6', 'm7', 'm8', 'm9', 'm10']));
      });

      searchTest('filter by messageType, controlId and correlationId', async () => {
        assert.deepEqual(await keys({ messageType: 'ORU^R01' }), expectedOrder(['m1', 'm2', 'm3', 'm10']));
        assert.deepEqual(await keys({ controlId: 'C3' }), ['m3']);
        assert.deepEqual(await keys({ controlId: 'C1' }), ['m1'], 'exact match: C1 does not match C10');
        assert.deepEqual(await keys({ correlationId: 'corr-4' }), ['m4']);
      });

      searchTest('filter by patientId matches any of a message\'s patient ids, exactly', async () => {
        assert.deepEqual(await keys({ patientId: 'P1' }), expectedOrder(['m0', 'm3', 'm5']));
        assert.deepEqual(await keys({ patientId: 'MRN-9' }), ['m0']);
        assert.deepEqual(await keys({ patientId: 'P' }), [], 'no prefix match');
      });

      searchTest('from is inclusive and to is exclusive', async () => {
        assert.deepEqual(await keys({ from: at(3 * MINUTE) }), expectedOrder(['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10']));
        assert.deepEqual(await keys({ to: at(2 * MINUTE) }), expectedOrder(['m0', 'm1']));
        assert.deepEqual(await keys({ from: at(3 * MINUTE), to: at(5 * MINUTE) }), expectedOrder(['m3', 'm4']));
        assert.deepEqual(await keys({ from: at(6 * MINUTE), to: at(6 * MINUTE + 1) }), expectedOrder(['m6', 'm7', 'm8', 'm9']));
        assert.deepEqual(await keys({ from: at(5 * MINUTE), to: at(5 * MINUTE) }), []);
      });

      searchTest('text: every word must match; an absent word matches nothing', async () => {
        assert.deepEqual(await keys({ text: 'glucose' }), expectedOrder(['m1', 'm2', 'm3', 'm10']));
        assert.deepEqual(await keys({ text: 'fasting glucose' }), expectedOrder(['m1', 'm3']));
        assert.deepEqual(await keys({ text: 'glucose zebrafinch' }), []);
        assert.deepEqual(await keys({ text: 'zebrafinch' }), []);
        assert.deepEqual(await keys({ text: 'xylophone' }), ['m5']);
      });

      searchTest('text matches non-ASCII words', async () => {
        assert.deepEqual(await keys({ text: 'Zoë' }), ['m4']);
      });

      searchTest('combined filters are ANDed', async () => {
        assert.deepEqual(await keys({ channelId: 'ch-a', messageType: 'ORU^R01', text: 'glucose' }), expectedOrder(['m1', 'm2']));
        assert.deepEqual(await keys({ channelId: 'ch-a', messageType: 'ORU^R01', text: 'glucose', status: 'received' }), ['m1']);
        assert.deepEqual(await keys({ patientId: 'P1', channelId: 'ch-a', from: at(MINUTE) }), ['m5']);
        assert.deepEqual(await keys({ channelId: 'ch-b', controlId: 'C1' }), []);
      });

      searchTest('pagination with limit and cursor visits every message exactly once, in order', async () => {
        for (const limit of [1, 2, 3, 4]) {
          const visited: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await storeOf().messages.search({ limit, ...(cursor !== undefined ? { cursor } : {}) });
            assert.ok(page.items.length <= limit, `page of ${page.items.length} exceeds limit ${limit}`);
            if (page.nextCursor !== undefined) assert.equal(page.items.length, limit, 'only the last page may be short');
            visited.push(...page.items.map((m) => keyOf.get(m.id) ?? m.id));
            cursor = page.nextCursor;
            pages++;
            assert.ok(pages <= seeds.length + 1, 'pagination does not terminate');
          } while (cursor !== undefined);
          assert.deepEqual(visited, expectedOrder(seeds.map((s) => s.key)), `limit ${limit}`);
        }
        // With a filter too.
        const filtered: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await storeOf().messages.search({ channelId: 'ch-a', limit: 2, ...(cursor !== undefined ? { cursor } : {}) });
          filtered.push(...page.items.map((m) => keyOf.get(m.id) ?? m.id));
          cursor = page.nextCursor;
        } while (cursor !== undefined && filtered.length <= seeds.length);
        assert.deepEqual(filtered, expectedOrder(seeds.filter((s) => s.record.channelId === 'ch-a').map((s) => s.key)));
      });

      searchTest('summaries carry the metadata and contentBytes (UTF-8 bytes), not the content', async () => {
        const page = await storeOf().messages.search({ controlId: 'C4' });
        const item = page.items[0];
        assert.ok(item !== undefined);
        assert.equal(page.items.length, 1);
        const full = await mustGet(storeOf(), item.id);
        const { content, ...rest } = fields(full);
        assert.deepEqual(summaryFields(item), { ...rest, contentBytes: Buffer.byteLength(String(content), 'utf8') });
        assert.ok(!('content' in item) || (item as unknown as { content?: unknown }).content === undefined, 'a summary does not carry the content');
        const filteredItem = (await storeOf().messages.search({ controlId: 'C2' })).items[0];
        assert.ok(filteredItem !== undefined);
        assert.equal(filteredItem.status, 'filtered');
        assert.equal(filteredItem.statusReason, 'test-filter');
      });

      after(async () => {
        await fixture?.cleanup();
        fixture = undefined;
      });
    });

    it('search limit defaults to 50 and is capped at 500', async (store) => {
      const total = 520;
      for (let start = 0; start < total; start += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, total - start) }, (_, j) => store.messages.ingest(baseRecord({ channelId: 'ch-many', receivedAt: at((start + j) * 1000), controlId: `M${start + j}` }))),
        );
      }
      const byDefault = await store.messages.search({ channelId: 'ch-many' });
      assert.equal(byDefault.items.length, 50);
      assert.ok(byDefault.nextCursor !== undefined);
      const capped = await store.messages.search({ channelId: 'ch-many', limit: 1000 });
      assert.equal(capped.items.length, 500);
      assert.ok(capped.nextCursor !== undefined, 'more remain after a capped page');
      assert.equal(capped.items[0]?.controlId, `M${total - 1}`, 'newest first');
      const rest = await store.messages.search({ channelId: 'ch-many', limit: 1000, cursor: capped.nextCursor });
      assert.equal(rest.items.length, total - 500);
      assert.equal(rest.nextCursor, undefined);
      const all = [...capped.items, ...rest.items].map((m) => m.id);
      assert.equal(new Set(all).size, total);
    });

    describe('status and events', () => {
      it('setStatus with a reason is reflected in get and search', async (store) => {
        const id = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-status' })));
        const other = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-status', receivedAt: at(1) })));
        const before = await mustGet(store, id);
        await store.messages.setStatus(id, 'filtered', 'no PID segment');
        const after = await mustGet(store, id);
        assert.equal(after.status, 'filtered');
        assert.equal(after.statusReason, 'no PID segment');
        assert.ok(after.updatedAt.getTime() >= before.updatedAt.getTime(), 'updatedAt does not go back');
        assert.deepEqual({ ...fields(after), status: 'received', statusReason: undefined, updatedAt: null }, { ...fields(before), updatedAt: null }, 'nothing else changed');
        assert.equal((await mustGet(store, other)).status, 'received', 'other messages untouched');

        const page = await store.messages.search({ channelId: 'ch-status', status: 'filtered' });
        assert.deepEqual(
          page.items.map((m) => [m.id, m.status, m.statusReason]),
          [[id, 'filtered', 'no PID segment']],
        );
        assert.deepEqual(
          (await store.messages.search({ channelId: 'ch-status', status: 'received' })).items.map((m) => m.id),
          [other],
        );
      });

      it('setStatus without a reason clears the previous reason', async (store) => {
        const id = await storedId(store.messages.ingest(baseRecord()));
        await store.messages.setStatus(id, 'errored', 'SWB_ERR_MLLP_NAK_ERROR');
        await store.messages.setStatus(id, 'resolved');
        const got = await mustGet(store, id);
        assert.equal(got.status, 'resolved');
        assert.equal(got.statusReason, undefined);
      });

      it('events are appended and returned oldest first with their detail preserved', async (store) => {
        const id = await storedId(store.messages.ingest(baseRecord({ orderingKey: 'P-ev' })));
        const other = await storedId(store.messages.ingest(baseRecord()));
        const [delivery] = await store.queue.enqueue(id, [{ destination: 'dest-ev', orderingKey: 'P-ev', payload: 'x', idempotencyKey: 'idem-ev', maxAttempts: 3 }]);
        assert.ok(delivery !== undefined);
        const mine: MessageEvent[] = [
          { messageId: id, at: at(1000), type: 'conf-acked', detail: { ackCode: 'AA', bytes: 123, ok: true, note: null, ratio: 0.5 } },
          { messageId: id, at: at(2000), type: 'conf-queued', detail: { deliveries: 1 } },
          { messageId: id, deliveryId: delivery.id, at: at(2000), type: 'conf-attempt', detail: { attempt: 1, code: 'SWB_ERR_MLLP_ACK_TIMEOUT', text: 'Zoë 東京' } },
          { messageId: id, deliveryId: delivery.id, at: at(3000), type: 'conf-delivered' },
        ];
        for (const e of mine) await store.messages.appendEvent(e);
        await store.messages.appendEvent({ messageId: other, at: at(1500), type: 'conf-other' });

        const got = await store.messages.events(id);
        for (let i = 1; i < got.length; i++) {
          assert.ok((got[i]?.at.getTime() ?? 0) >= (got[i - 1]?.at.getTime() ?? 0), 'oldest first');
        }
        assert.ok(got.every((e) => e.messageId === id), 'only this message\'s events');
        // The store may add its own events (e.g. on ingest or enqueue); ours appear in order, exactly.
        const ours = got.filter((e) => e.type.startsWith('conf-'));
        assert.deepEqual(ours.map(eventFields), mine.map(eventFields));
        assert.deepEqual(
          (await store.messages.events(other)).filter((e) => e.type.startsWith('conf-')).map(eventFields),
          [eventFields({ messageId: other, at: at(1500), type: 'conf-other' })],
        );
      });
    });

    describe('retention', () => {
      it('pruneContent drops matched old content, keeps metadata and errored messages, and returns the count', async (store) => {
        const cutoff = at(10 * 24 * HOUR);
        const old1 = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-prune', receivedAt: at(0), content: 'MSH|^~\\&|OLD1\rNTE|1||marmalade\r', controlId: 'O1', patientIds: ['PX'] })));
        const old2 = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-prune', receivedAt: at(HOUR), content: 'MSH|^~\\&|OLD2\rNTE|1||marmalade\r', controlId: 'O2' })));
        const oldErr = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-prune', receivedAt: at(2 * HOUR), content: 'MSH|^~\\&|OLD3\rNTE|1||marmalade\r', controlId: 'O3' })));
        const atCutoff = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-prune', receivedAt: cutoff, content: 'MSH|^~\\&|EDGE\rNTE|1||marmalade\r', controlId: 'O4' })));
        const fresh = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-prune', receivedAt: at(11 * 24 * HOUR), content: 'MSH|^~\\&|NEW\rNTE|1||marmalade\r', controlId: 'N1' })));
        const otherChannel = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-keep', receivedAt: at(0), content: 'MSH|^~\\&|OTHER\rNTE|1||marmalade\r' })));
        await store.messages.setStatus(old2, 'delivered');
        await store.messages.setStatus(oldErr, 'errored', 'SWB_ERR_MLLP_NAK_ERROR');

        assert.equal((await store.messages.search({ text: 'marmalade' })).items.length, 6, 'indexed before pruning');
        const before1 = await mustGet(store, old1);
        const before2 = await mustGet(store, old2);

        const count = await store.messages.pruneContent({ channelId: 'ch-prune', receivedBefore: cutoff });
        assert.equal(count, 2);

        const after1 = await mustGet(store, old1);
        assert.equal(after1.content, undefined);
        assert.deepEqual({ ...fields(after1), content: null, updatedAt: null }, { ...fields(before1), content: null, updatedAt: null }, 'metadata kept');
        const after2 = await mustGet(store, old2);
        assert.equal(after2.content, undefined);
        assert.deepEqual({ ...fields(after2), content: null, updatedAt: null }, { ...fields(before2), content: null, updatedAt: null }, 'metadata kept');
        assert.equal((await mustGet(store, oldErr)).content, 'MSH|^~\\&|OLD3\rNTE|1||marmalade\r', 'errored kept by default');
        assert.equal((await mustGet(store, atCutoff)).content, 'MSH|^~\\&|EDGE\rNTE|1||marmalade\r', 'receivedBefore is exclusive');
        assert.equal((await mustGet(store, fresh)).content, 'MSH|^~\\&|NEW\rNTE|1||marmalade\r');
        assert.equal((await mustGet(store, otherChannel)).content, 'MSH|^~\\&|OTHER\rNTE|1||marmalade\r', 'other channels untouched');

        // Search still finds the metadata, with no content size, and text search no longer matches.
        const summary = (await store.messages.search({ controlId: 'O1' })).items[0];
        assert.ok(summary !== undefined);
        assert.equal(summary.id, old1);
        assert.equal(summary.contentBytes, undefined);
        assert.deepEqual(new Set(await searchAllIds(store, { text: 'marmalade' })), new Set([oldErr, atCutoff, fresh, otherChannel]));

        // Already pruned messages do not count again.
        assert.equal(await store.messages.pruneContent({ channelId: 'ch-prune', receivedBefore: cutoff }), 0);
        // Explicit statuses reach errored ones.
        assert.equal(await store.messages.pruneContent({ channelId: 'ch-prune', receivedBefore: cutoff, statuses: ['errored'] }), 1);
        assert.equal((await mustGet(store, oldErr)).content, undefined);
        assert.deepEqual(new Set(await searchAllIds(store, { text: 'marmalade' })), new Set([atCutoff, fresh, otherChannel]));
      });

      it('pruneContent with statuses prunes only those statuses', async (store) => {
        const a = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-p2', receivedAt: at(0) })));
        const b = await storedId(store.messages.ingest(baseRecord({ channelId: 'ch-p2', receivedAt: at(1) })));
        await store.messages.setStatus(b, 'delivered');
        assert.equal(await store.messages.pruneContent({ channelId: 'ch-p2', receivedBefore: at(HOUR), statuses: ['delivered'] }), 1);
        assert.notEqual((await mustGet(store, a)).content, undefined);
        assert.equal((await mustGet(store, b)).content, undefined);
      });
    });

    describe('durability', () => {
      it('close and reopen: messages, statuses, events, deliveries and dedupe keys are all still there', async (store, fixture) => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push(
            await storedId(
              store.messages.ingest(
                baseRecord({ channelId: 'ch-dur', content: `${ER7_UNICODE}NTE|${i}||durable\r`, receivedAt: at(i * 1000), controlId: `D${i}`, patientIds: [`P${i}`], dedupeKey: `FAC|D${i}`, dedupeWindowMs: 24 * HOUR }),
              ),
            ),
          );
        }
        const [first, second] = ids as [string, string];
        await store.messages.setStatus(second, 'filtered', 'kept reason');
        await store.messages.appendEvent({ messageId: first, at: at(10_000), type: 'conf-acked', detail: { ackCode: 'AA' } });
        const deliveries = await store.queue.enqueue(first, [{ destination: 'dest-dur', orderingKey: 'P0', payload: 'payload Zoë', idempotencyKey: 'idem-dur', maxAttempts: 2 }]);

        const messagesBefore = await Promise.all(ids.map((id) => mustGet(store, id)));
        const eventsBefore = await store.messages.events(first);
        const deliveriesBefore = await store.queue.forMessage(first);
        assert.equal(deliveriesBefore.length, 1);
        const searchBefore = await searchAllIds(store, { channelId: 'ch-dur' });

        await store.close();
        const reopened = await fixture.reopen();

        const messagesAfter = await Promise.all(ids.map((id) => mustGet(reopened, id)));
        assert.deepEqual(messagesAfter.map(fields), messagesBefore.map(fields));
        assert.deepEqual((await reopened.messages.events(first)).map(eventFields), eventsBefore.map(eventFields));
        assert.deepEqual(await reopened.queue.forMessage(first), deliveriesBefore);
        assert.equal(deliveries[0]?.id, deliveriesBefore[0]?.id);
        assert.deepEqual(await searchAllIds(reopened, { channelId: 'ch-dur' }), searchBefore);
        assert.deepEqual(await searchAllIds(reopened, { channelId: 'ch-dur', text: 'durable' }), searchBefore);
        const again = await reopened.messages.ingest(baseRecord({ channelId: 'ch-dur', receivedAt: at(60_000), dedupeKey: 'FAC|D3', dedupeWindowMs: 24 * HOUR }));
        assert.equal(again.kind, 'duplicate');
        assert.equal(again.id, ids[3]);
        assert.equal(reopened.schemaVersion, store.schemaVersion);
      });
    });
  });
}
