import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Delivery, DeliveryQueue } from '../core/ports/delivery-queue.ts';
import type { Store } from '../core/ports/store.ts';
import { dropPostgresSchema, openPostgresStore } from '../store/postgres/open-postgres-store.ts';
import { openSqliteStore } from '../store/sqlite/open-sqlite-store.ts';
import type { DestinationConnector, OutboundDelivery, SendResult } from './destination-connector.ts';
import { Dispatcher } from './dispatcher.ts';
import type { DispatchDestination, DispatcherLogger, DispatcherOptions } from './dispatcher.ts';

// The composition root passes the process's pino logger; it must fit the dispatcher's subset.
const _pinoFits: (l: Logger) => DispatcherLogger = (l) => l;
void _pinoFits;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `cond` holds, polling; fails after `timeoutMs` (a bound, never an assertion on speed). */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

// ---------------------------------------------------------------------------------------------
// A scripted in-memory destination. Payloads are `PAYLOAD-<key>#<n>` (fake, no PHI); the key part
// lets it check that no two deliveries of one key are ever in flight at once.

type Step =
  | { readonly do: 'ok' }
  | { readonly do: 'transient'; readonly retryAfterMs?: number }
  | { readonly do: 'permanent' }
  | { readonly do: 'ambiguous' }
  /** Waits for the abort signal, then rejects with its reason (a well-behaved connector that did not classify). */
  | { readonly do: 'hang' }
  /** Ignores the signal and never settles (a broken connector). */
  | { readonly do: 'deaf' }
  | { readonly do: 'throw' }
  | { readonly do: 'garbage' }
  /** Waits for the gate, then delivers. */
  | { readonly do: 'gate'; readonly gate: Promise<void> };

type Script = (d: OutboundDelivery, signal: AbortSignal) => Step | Promise<Step>;

const keyOf = (payload: string): string => payload.split('#')[0] ?? payload;

class TestConnector implements DestinationConnector {
  readonly kind = 'test';
  /** Every send, in the order received. */
  readonly calls: string[] = [];
  /** Payloads answered `delivered`, in order. */
  readonly delivered: string[] = [];
  /** Payloads that arrived while another delivery of their key was in flight (must stay empty). */
  readonly overlaps: string[] = [];
  maxInFlight = 0;
  readonly #keysInFlight = new Set<string>();
  #inFlight = 0;

  constructor(
    private readonly script: Script = () => ({ do: 'ok' }),
    private readonly maxDelayMs = 0,
  ) {}

  count(payload: string): number {
    return this.calls.filter((p) => p === payload).length;
  }

  async send(d: OutboundDelivery, signal: AbortSignal): Promise<SendResult> {
    const key = keyOf(d.payload);
    if (this.#keysInFlight.has(key)) this.overlaps.push(d.payload);
    this.#keysInFlight.add(key);
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    this.calls.push(d.payload);
    try {
      if (this.maxDelayMs > 0) await sleep(Math.floor(Math.random() * (this.maxDelayMs + 1)));
      const step = await this.script(d, signal);
      switch (step.do) {
        case 'ok':
          this.delivered.push(d.payload);
          return { kind: 'delivered', response: `ACK for attempt ${d.attempt}` };
        case 'transient':
          return { kind: 'failed', failureClass: 'transient', errorCode: 'SWB_ERR_MLLP_CONNECT_FAILED', ...(step.retryAfterMs !== undefined ? { retryAfterMs: step.retryAfterMs } : {}) };
        case 'permanent':
          return { kind: 'failed', failureClass: 'permanent', errorCode: 'SWB_ERR_MLLP_NAK_ERROR', response: 'MSA|AE' };
        case 'ambiguous':
          return { kind: 'failed', failureClass: 'ambiguous', errorCode: 'SWB_ERR_MLLP_ACK_TIMEOUT' };
        case 'hang':
          return await new Promise<never>((_, reject) => {
            if (signal.aborted) reject(signal.reason);
            else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          });
        case 'deaf':
          return await new Promise<never>(() => undefined);
        case 'throw':
          throw new TypeError(`bug while sending ${d.payload}`);
        case 'garbage':
          return { kind: 'maybe' } as unknown as SendResult;
        case 'gate':
          await step.gate;
          this.delivered.push(d.payload);
          return { kind: 'delivered' };
      }
    } finally {
      this.#keysInFlight.delete(key);
      this.#inFlight--;
    }
  }

  async close(): Promise<void> {}
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

// ---------------------------------------------------------------------------------------------
// Harness: a fresh store per test (SQLite temp file; PostgreSQL random schema when configured),
// a recording logger, dispatchers stopped at the end, and a check that no payload reached a log.

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

interface Harness {
  readonly store: Store;
  /** Another connection to the same database (a second engine process). */
  openAnother(): Promise<Store>;
  readonly logs: LogLine[];
  /** Claim calls per destination, counted through a wrapper around the queue. */
  readonly claims: Map<string, number>;
  /** Every claim: its destination, the limit asked for and how many it got. */
  readonly claimLog: { destination: string; limit: number; got: number }[];
  dispatcher(destinations: Record<string, Partial<DispatchDestination> & { connector: DestinationConnector }>, extra?: Partial<DispatcherOptions> & { store?: Store }): Dispatcher;
  seed(items: readonly { destination: string; payload: string; maxAttempts?: number }[]): Promise<Delivery[]>;
}

type StoreKind = 'sqlite' | 'postgres';
const pgUrl = process.env['SWITCHBOARD_PG_URL'];

async function withHarness(kind: StoreKind, body: (h: Harness) => Promise<void>): Promise<void> {
  const cleanups: (() => Promise<void>)[] = [];
  let openAnother: () => Promise<Store>;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'swb-dispatch-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'store.db');
    openAnother = () => openSqliteStore({ path, synchronous: 'NORMAL' });
  } else {
    const url = pgUrl as string;
    const schema = `swb_test_${randomBytes(6).toString('hex')}`;
    cleanups.push(() => dropPostgresSchema(url, schema));
    openAnother = () => openPostgresStore({ url, schema, poolSize: 4 });
  }
  const stores: Store[] = [];
  const opened = async (): Promise<Store> => {
    const s = await openAnother();
    stores.push(s);
    return s;
  };
  const store = await opened();
  const logs: LogLine[] = [];
  const logger: DispatcherLogger = {
    info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
  };
  const claims = new Map<string, number>();
  const claimLog: Harness['claimLog'] = [];
  const counting = (queue: DeliveryQueue): DeliveryQueue =>
    new Proxy(queue, {
      get(target, prop) {
        if (prop === 'claim') {
          return (request: Parameters<DeliveryQueue['claim']>[0]) => {
            claims.set(request.destination, (claims.get(request.destination) ?? 0) + 1);
            return target.claim(request).then((got) => {
              claimLog.push({ destination: request.destination, limit: request.limit, got: got.length });
              return got;
            });
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  const dispatchers: Dispatcher[] = [];
  let messageCounter = 0;
  const h: Harness = {
    store,
    openAnother: opened,
    logs,
    claims,
    claimLog,
    dispatcher(destinations, extra = {}) {
      const { store: on = store, ...options } = extra;
      const map = new Map<string, DispatchDestination>();
      for (const [name, d] of Object.entries(destinations)) {
        map.set(name, { concurrency: 4, retry: { initialMs: 5, maxMs: 20 }, onError: 'block', attemptTimeoutMs: 5000, ...d });
      }
      const dispatcher = new Dispatcher({
        // No message store: the queue records the history itself (DeliveryQueue.complete/fail).
        queue: counting(on.queue),
        destinations: map,
        owner: `test-${dispatchers.length}`,
        leaseMs: 30_000,
        pollMs: 10,
        abortGraceMs: 50,
        logger,
        ...options,
      });
      dispatchers.push(dispatcher);
      return dispatcher;
    },
    async seed(items) {
      // Messages are ingested concurrently (group commit), deliveries enqueued one by one in order.
      const ids = await Promise.all(
        items.map(async () => {
          const n = ++messageCounter;
          const result = await store.messages.ingest({
            channelId: 'ch-dispatch',
            content: `MSH|^~\\&|A|B|C|D|||ADT^A01|D${n}|P|2.5.1\r`,
            contentType: 'hl7v2',
            receivedAt: new Date(),
            source: 'test',
            correlationId: `corr-${n}`,
            configRevision: 1,
          });
          return result.id;
        }),
      );
      const out: Delivery[] = [];
      for (const [i, item] of items.entries()) {
        const key = keyOf(item.payload);
        const [d] = await store.queue.enqueue(ids[i] as string, [
          { destination: item.destination, payload: item.payload, idempotencyKey: `idem-${item.payload}`, maxAttempts: item.maxAttempts ?? 5, ...(key !== item.payload ? { orderingKey: key } : {}) },
        ]);
        out.push(d as Delivery);
      }
      return out;
    },
  };
  try {
    await body(h);
    const leaked = logs.filter((l) => JSON.stringify(l).includes('PAYLOAD-'));
    assert.deepEqual(leaked, [], 'a payload reached the log');
  } finally {
    await Promise.all(dispatchers.map((d) => d.stop({ timeoutMs: 200 })));
    for (const s of stores) await s.close();
    for (const c of cleanups) await c();
  }
}

const status = async (h: Harness, id: string): Promise<string | undefined> => (await h.store.queue.get(id))?.status;

async function allStatus(h: Harness, deliveries: readonly Delivery[], wanted: string): Promise<boolean> {
  for (const d of deliveries) if ((await status(h, d.id)) !== wanted) return false;
  return true;
}

/** Waits for `n` more claim calls of a destination: its loop has gone round that many times. */
async function moreClaims(h: Harness, destination: string, n: number): Promise<void> {
  const from = h.claims.get(destination) ?? 0;
  await waitFor(`${n} more claims of ${destination}`, () => (h.claims.get(destination) ?? 0) >= from + n);
}

function items(destination: string, keys: readonly string[], perKey: number, options: { interleave?: 'round' | 'random'; maxAttempts?: number } = {}): { destination: string; payload: string; maxAttempts?: number }[] {
  const queues = keys.map((k) => Array.from({ length: perKey }, (_, n) => `PAYLOAD-${k}#${String(n).padStart(3, '0')}`));
  const out: string[] = [];
  if (options.interleave === 'round') {
    // k1#0, k2#0, ..., k1#1, k2#1, ...
    for (let n = 0; n < perKey; n++) for (const q of queues) out.push(q[n] as string);
  } else if (options.interleave === 'random') {
    // A random interleaving that keeps each key's own order.
    while (queues.some((q) => q.length > 0)) {
      const live = queues.filter((q) => q.length > 0);
      out.push(live[Math.floor(Math.random() * live.length)]?.shift() as string);
    }
  } else for (const q of queues) out.push(...q);
  return out.map((payload) => ({ destination, payload, ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}) }));
}

const perKey = (payloads: readonly string[]): Map<string, string[]> => {
  const m = new Map<string, string[]>();
  for (const p of payloads) m.set(keyOf(p), [...(m.get(keyOf(p)) ?? []), p]);
  return m;
};

// ---------------------------------------------------------------------------------------------

const kinds: { kind: StoreKind; skip: string | false }[] = [
  { kind: 'sqlite', skip: false },
  { kind: 'postgres', skip: pgUrl === undefined || pgUrl === '' ? 'SWITCHBOARD_PG_URL is unset' : false },
];

for (const { kind, skip } of kinds) {
  if (skip !== false) console.log(`# dispatcher tests on ${kind} skipped: ${skip}`);

  describe(`Dispatcher on ${kind}`, { skip }, () => {
    test('delivers everything, the queue records one delivered event per delivery without content, counts', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector(undefined, 2);
        const unkeyed = Array.from({ length: 30 }, (_, i) => ({ destination: 'out', payload: `PAYLOAD-solo-${i}` }));
        const deliveries = await h.seed([...unkeyed, ...items('out', ['k1', 'k2'], 5, { interleave: 'round' })]);
        const d = h.dispatcher({ out: { connector } });
        d.start();
        d.notify('out');
        await waitFor('all delivered', () => allStatus(h, deliveries, 'delivered'));
        assert.equal(connector.calls.length, 40);
        assert.equal(new Set(connector.calls).size, 40);
        assert.deepEqual(connector.overlaps, []);
        await waitFor('counters settle', () => d.stats('out').delivered === 40);
        assert.deepEqual(d.stats('out'), { inFlight: 0, delivered: 40, failed: 0, retried: 0 });

        const first = deliveries[0] as Delivery;
        assert.equal((await h.store.messages.get(first.messageId))?.status, 'delivered');
        const events = await h.store.messages.events(first.messageId);
        const mine = events.filter((e) => e.deliveryId === first.id);
        // No separate pre-send `attempt` event: the attempt row holds start and end.
        assert.deepEqual(
          mine.map((e) => e.type),
          ['delivered'],
        );
        assert.deepEqual(mine[0]?.detail, { destination: 'out', attempt: 1 });
        assert.ok(!JSON.stringify(events).includes('PAYLOAD-'), 'no content in events');
        const attempts = await h.store.queue.attempts(first.id);
        assert.equal(attempts.length, 1);
        assert.equal(attempts[0]?.outcome, 'delivered');
        assert.equal(attempts[0]?.response, 'ACK for attempt 1');
        assert.equal(mine[0]?.at.getTime(), attempts[0]?.finishedAt.getTime(), 'the event is stamped with the attempt end');
        for (const delivery of deliveries) {
          const history = (await h.store.messages.events(delivery.messageId)).filter((e) => e.deliveryId === delivery.id);
          assert.deepEqual(history.map((e) => e.type), ['delivered'], `one delivered event for ${delivery.id}`);
        }
      });
    });

    test('per-key FIFO holds at the destination: concurrency 4, 10 keys x 20 messages', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector(undefined, 3);
        const seeded = items('out', Array.from({ length: 10 }, (_, i) => `key${i}`), 20, { interleave: 'random' });
        const deliveries = await h.seed(seeded);
        const d = h.dispatcher({ out: { connector, concurrency: 4 } });
        d.start();
        await waitFor('200 delivered', () => connector.delivered.length === 200);
        await waitFor('all recorded', () => allStatus(h, deliveries, 'delivered'));
        const expected = perKey(seeded.map((s) => s.payload));
        const got = perKey(connector.delivered);
        for (const [key, order] of expected) assert.deepEqual(got.get(key), order, `order of ${key}`);
        assert.equal(connector.calls.length, 200, 'each sent once');
        assert.deepEqual(connector.overlaps, [], 'never two of one key in flight');
        assert.ok(connector.maxInFlight <= 4, `max in flight ${connector.maxInFlight}`);
        assert.ok(connector.maxInFlight >= 2, `keys were sent in parallel (max ${connector.maxInFlight})`);
      });
    });

    test('a transiently failing head blocks only its key and is retried until it succeeds', async () => {
      await withHarness(kind, async (h) => {
        const keys = ['hot', 'k1', 'k2', 'k3', 'k4'];
        const seeded = items('out', keys, 5, { interleave: 'round', maxAttempts: 100_000 });
        const others = seeded.filter((s) => keyOf(s.payload) !== 'PAYLOAD-hot').map((s) => s.payload);
        // The head of `hot` fails until every other key's messages have arrived: proof that they
        // flowed while it was blocked.
        const connector: TestConnector = new TestConnector((delivery): Step =>
          delivery.payload === 'PAYLOAD-hot#000' && !others.every((p) => connector.delivered.includes(p)) ? { do: 'transient' } : { do: 'ok' },
        );
        const deliveries = await h.seed(seeded);
        const d = h.dispatcher({ out: { connector } }, { random: () => 0.5 });
        d.start();
        await waitFor('all delivered', () => allStatus(h, deliveries, 'delivered'));
        assert.ok(connector.count('PAYLOAD-hot#000') >= 2, 'the head was retried');
        const hotDone = connector.delivered.indexOf('PAYLOAD-hot#000');
        for (const p of others) assert.ok(connector.delivered.indexOf(p) < hotDone, `${p} arrived while hot was blocked`);
        assert.ok(connector.calls.indexOf('PAYLOAD-hot#001') > connector.calls.lastIndexOf('PAYLOAD-hot#000'), 'hot#001 waited for its head');
        assert.deepEqual(perKey(connector.delivered).get('PAYLOAD-hot'), perKey(seeded.map((s) => s.payload)).get('PAYLOAD-hot'));
        const head = deliveries[0] as Delivery;
        const history = await h.store.queue.attempts(head.id);
        assert.deepEqual(
          history.map((a) => a.outcome),
          [...Array.from({ length: history.length - 1 }, () => 'retry'), 'delivered'],
        );
        assert.equal(history[0]?.errorCode, 'SWB_ERR_MLLP_CONNECT_FAILED');
        await waitFor('counters settle', () => d.stats('out').delivered === 25);
        assert.equal(d.stats('out').retried, history.length - 1);
        const headEvents = (await h.store.messages.events(head.messageId)).filter((e) => e.deliveryId === head.id);
        // One event per attempt, in the attempt's transaction: retries then the delivery.
        assert.deepEqual(
          headEvents.map((e) => [e.type, e.detail?.['attempt'], e.detail?.['result'] ?? null]),
          history.map((_, i) => (i < history.length - 1 ? ['failed', i + 1, 'retry'] : ['delivered', i + 1, null])),
        );
        const firstFailure = headEvents[0]?.detail ?? {};
        assert.equal(firstFailure['errorCode'], 'SWB_ERR_MLLP_CONNECT_FAILED');
        assert.equal(firstFailure['failureClass'], 'transient');
        assert.equal(firstFailure['destination'], 'out');
        assert.equal(typeof firstFailure['retryAt'], 'string');
        assert.ok(Date.parse(String(firstFailure['retryAt'])) >= (history[0]?.finishedAt.getTime() ?? Infinity), 'retryAt after the attempt');
      });
    });

    test('retryAfterMs from the connector is a floor on the next attempt time', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector(() => ({ do: 'transient', retryAfterMs: 60_000 }));
        const [delivery] = await h.seed([{ destination: 'out', payload: 'PAYLOAD-later' }]);
        const d = h.dispatcher({ out: { connector } }, { random: () => 0 });
        d.start();
        const id = (delivery as Delivery).id;
        await waitFor('one attempt recorded', async () => (await h.store.queue.get(id))?.attempts === 1);
        const after = await h.store.queue.get(id);
        const [attempt] = await h.store.queue.attempts(id);
        assert.equal(after?.status, 'pending');
        assert.ok((after?.nextAttemptAt.getTime() ?? 0) >= (attempt?.finishedAt.getTime() ?? Infinity) + 60_000);
        assert.equal(connector.calls.length, 1);
      });
    });

    test('attempts exhausted -> failed; the key stays blocked with onError block, flows with park', async () => {
      await withHarness(kind, async (h) => {
        const script: Script = (delivery) => (delivery.payload === 'PAYLOAD-bad#000' ? { do: 'transient' } : { do: 'ok' });
        const blocking = new TestConnector(script);
        const parking = new TestConnector(script);
        const block = await h.seed(items('blk', ['bad', 'good'], 3, { interleave: 'round', maxAttempts: 3 }));
        const park = await h.seed(items('prk', ['bad', 'good'], 3, { interleave: 'round', maxAttempts: 3 }));
        const d = h.dispatcher({ blk: { connector: blocking, onError: 'block' }, prk: { connector: parking, onError: 'park' } }, { random: () => 0 });
        d.start();

        const [blkHead, , blkNext] = block as [Delivery, Delivery, Delivery]; // bad#000, good#000, bad#001
        await waitFor('blocking head failed', async () => (await status(h, blkHead.id)) === 'failed');
        await waitFor('good key delivered', () => allStatus(h, block.filter((x) => x.payload.includes('good')), 'delivered'));
        await moreClaims(h, 'blk', 3);
        const failedHead = await h.store.queue.get(blkHead.id);
        assert.equal(failedHead?.attempts, 3);
        assert.equal(failedHead?.lastErrorCode, 'SWB_ERR_MLLP_CONNECT_FAILED');
        assert.equal(blocking.count('PAYLOAD-bad#000'), 3);
        assert.equal(blocking.count('PAYLOAD-bad#001'), 0, 'the key stays blocked');
        assert.equal(await status(h, blkNext.id), 'pending');
        assert.ok((await h.store.queue.exceptions({ destination: 'blk' })).some((x) => x.id === blkHead.id));
        assert.deepEqual(d.stats('blk'), { inFlight: 0, delivered: 3, failed: 1, retried: 2 });

        const prkHead = park[0] as Delivery;
        await waitFor('parking key flowed', () => allStatus(h, park.slice(1), 'delivered'));
        assert.equal(await status(h, prkHead.id), 'parked');
        assert.deepEqual(perKey(parking.delivered).get('PAYLOAD-bad'), ['PAYLOAD-bad#001', 'PAYLOAD-bad#002']);
        const events = await h.store.messages.events(prkHead.messageId);
        const lastFailure = events.filter((e) => e.type === 'failed').at(-1)?.detail ?? {};
        assert.equal(lastFailure['result'], 'parked');
        assert.equal(lastFailure['attempt'], 3);
        assert.equal(lastFailure['failureClass'], 'transient', 'the class the connector reported');
        assert.equal(lastFailure['retryAt'], undefined, 'no retry time on a final failure');
        assert.ok(h.logs.some((l) => l.level === 'warn' && l.obj['deliveryId'] === prkHead.id && l.obj['code'] === 'SWB_ERR_MLLP_CONNECT_FAILED'));
      });
    });

    test('permanent -> failed at once; ambiguous is never retried automatically and blocks its key', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector((delivery) =>
          delivery.payload === 'PAYLOAD-amb#000' ? { do: 'ambiguous' } : delivery.payload === 'PAYLOAD-perm#000' ? { do: 'permanent' } : { do: 'ok' },
        );
        const seeded = await h.seed(items('out', ['amb', 'perm', 'ok'], 3, { interleave: 'round', maxAttempts: 5 }));
        const d = h.dispatcher({ out: { connector } }, { random: () => 0 });
        d.start();
        const amb = seeded[0] as Delivery;
        const perm = seeded[1] as Delivery;
        await waitFor('ambiguous recorded', async () => (await status(h, amb.id)) === 'ambiguous');
        await waitFor('permanent recorded', async () => (await status(h, perm.id)) === 'failed');
        await waitFor('ok key delivered', () => allStatus(h, seeded.filter((x) => x.payload.includes('-ok#')), 'delivered'));
        await moreClaims(h, 'out', 3);
        assert.equal(connector.count('PAYLOAD-amb#000'), 1, 'ambiguous sent once');
        assert.equal(connector.count('PAYLOAD-perm#000'), 1, 'permanent sent once');
        assert.equal(connector.count('PAYLOAD-amb#001'), 0);
        const ambAfter = await h.store.queue.get(amb.id);
        assert.equal(ambAfter?.attempts, 1);
        assert.equal(ambAfter?.lastFailureClass, 'ambiguous');
        const [permAttempt] = await h.store.queue.attempts(perm.id);
        assert.equal(permAttempt?.response, 'MSA|AE');
        assert.equal(d.stats('out').failed, 2);
        assert.equal(d.stats('out').retried, 0);
      });
    });

    test('attempt timeout -> ambiguous, unless the connector classifies the abort itself', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector(async (delivery, signal) => {
          if (delivery.payload === 'PAYLOAD-hang') return { do: 'hang' };
          if (delivery.payload === 'PAYLOAD-deaf') return { do: 'deaf' };
          if (delivery.payload === 'PAYLOAD-notsent' && delivery.attempt === 1) {
            // Aborted while still connecting: nothing reached the far side, so it says transient.
            await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
            return { do: 'transient' };
          }
          return { do: 'ok' };
        });
        const [hang, deaf, notSent] = (await h.seed(['PAYLOAD-hang', 'PAYLOAD-deaf', 'PAYLOAD-notsent'].map((payload) => ({ destination: 'out', payload })))) as [Delivery, Delivery, Delivery];
        const d = h.dispatcher({ out: { connector, attemptTimeoutMs: 40 } }, { random: () => 0, leaseMs: 5000 });
        d.start();
        await waitFor('hang ambiguous', async () => (await status(h, hang.id)) === 'ambiguous');
        await waitFor('deaf ambiguous', async () => (await status(h, deaf.id)) === 'ambiguous');
        await waitFor('not-sent retried and delivered', async () => (await status(h, notSent.id)) === 'delivered');
        assert.equal((await h.store.queue.get(hang.id))?.lastErrorCode, 'SWB_ERR_DISPATCH_ATTEMPT_TIMEOUT');
        assert.equal((await h.store.queue.get(deaf.id))?.lastErrorCode, 'SWB_ERR_DISPATCH_ATTEMPT_TIMEOUT');
        assert.equal(connector.count('PAYLOAD-hang'), 1);
        assert.equal(connector.count('PAYLOAD-deaf'), 1);
        assert.equal(connector.count('PAYLOAD-notsent'), 2);
        assert.ok(h.logs.some((l) => l.msg.includes('ignored the abort') && l.obj['deliveryId'] === deaf.id));
      });
    });

    test('a connector that throws or returns garbage is a transient connector bug', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector((delivery) => {
          if (delivery.payload === 'PAYLOAD-throws' && delivery.attempt === 1) return { do: 'throw' };
          if (delivery.payload === 'PAYLOAD-garbage' && delivery.attempt === 1) return { do: 'garbage' };
          return { do: 'ok' };
        });
        const [throws, garbage] = (await h.seed(['PAYLOAD-throws', 'PAYLOAD-garbage'].map((payload) => ({ destination: 'out', payload })))) as [Delivery, Delivery];
        const d = h.dispatcher({ out: { connector } }, { random: () => 0 });
        d.start();
        await waitFor('both delivered on retry', () => allStatus(h, [throws, garbage], 'delivered'));
        assert.equal((await h.store.queue.attempts(throws.id))[0]?.errorCode, 'SWB_ERR_DISPATCH_CONNECTOR_THREW');
        assert.equal((await h.store.queue.attempts(garbage.id))[0]?.errorCode, 'SWB_ERR_DISPATCH_BAD_RESULT');
        const logged = h.logs.find((l) => l.msg === 'connector threw');
        assert.equal(logged?.obj['errorName'], 'TypeError');
        assert.equal(logged?.obj['deliveryId'], throws.id);
      });
    });

    test('claims up to its free concurrency at once, and again in one batch when a group of sends settles', async () => {
      await withHarness(kind, async (h) => {
        const g = gate();
        const connector = new TestConnector(() => ({ do: 'gate', gate: g.promise }));
        const seeded = await h.seed(Array.from({ length: 48 }, (_, i) => ({ destination: 'wide', payload: `PAYLOAD-wide-${i}` })));
        const d = h.dispatcher({ wide: { connector, concurrency: 16 } });
        d.start();
        await waitFor('16 in flight', () => connector.calls.length === 16);
        const first = h.claimLog.find((c) => c.destination === 'wide');
        assert.deepEqual(first, { destination: 'wide', limit: 16, got: 16 }, 'the first claim takes every free slot');
        const before = h.claimLog.length;
        g.open();
        await waitFor('all delivered', () => allStatus(h, seeded, 'delivered'));
        const later = h.claimLog.slice(before).filter((c) => c.destination === 'wide' && c.got > 0);
        assert.equal(later.reduce((n, c) => n + c.got, 0), 32);
        if (kind === 'sqlite') {
          // One group commit settles all 16 outcomes in one turn; the loop wakes once and claims
          // all 16 freed slots together, not one per settled send.
          assert.ok(later.length <= 4, `claimed in few batches (${later.map((c) => c.got).join(', ')})`);
          assert.ok(later.some((c) => c.got === 16), `a batch of 16 (${later.map((c) => c.got).join(', ')})`);
        }
        assert.equal(connector.maxInFlight, 16);
      });
    });

    test('pause claims nothing while in-flight sends finish; resume restarts', async () => {
      await withHarness(kind, async (h) => {
        const g = gate();
        const a = new TestConnector((delivery) => (delivery.payload === 'PAYLOAD-a-first' ? { do: 'gate', gate: g.promise } : { do: 'ok' }));
        const b = new TestConnector();
        const [first] = (await h.seed([{ destination: 'a', payload: 'PAYLOAD-a-first' }])) as [Delivery];
        const d = h.dispatcher({ a: { connector: a }, b: { connector: b } });
        d.start();
        await waitFor('first in flight', () => a.calls.length === 1);
        d.pause('a');
        assert.equal(d.isPaused('a'), true);
        const claimsAtPause = h.claims.get('a') ?? 0;
        const later = await h.seed(Array.from({ length: 5 }, (_, i) => ({ destination: 'a', payload: `PAYLOAD-a-later-${i}` })));
        const bs = await h.seed(Array.from({ length: 5 }, (_, i) => ({ destination: 'b', payload: `PAYLOAD-b-${i}` })));
        d.notify('a');
        d.notify('b');
        await waitFor('b flows meanwhile', () => allStatus(h, bs, 'delivered'));
        await moreClaims(h, 'b', 5);
        g.open();
        await waitFor('in-flight send finished while paused', async () => (await status(h, first.id)) === 'delivered');
        await moreClaims(h, 'b', 3);
        assert.deepEqual(a.calls, ['PAYLOAD-a-first'], 'nothing new sent while paused');
        assert.ok((h.claims.get('a') ?? 0) <= claimsAtPause + 1, 'no claims while paused (one may have been under way)');
        assert.equal(d.stats('a').inFlight, 0);
        assert.ok(await allStatus(h, later, 'pending'));

        d.resume('a');
        await waitFor('resumed', () => allStatus(h, later, 'delivered'));
        assert.equal(a.calls.length, 6);
      });
    });

    test('stop() waits for in-flight sends, then claims nothing more', async () => {
      await withHarness(kind, async (h) => {
        const g = gate();
        const connector = new TestConnector((delivery) => (delivery.payload === 'PAYLOAD-slow' ? { do: 'gate', gate: g.promise } : { do: 'ok' }));
        const [slow] = (await h.seed([{ destination: 'out', payload: 'PAYLOAD-slow' }])) as [Delivery];
        const d = h.dispatcher({ out: { connector } });
        d.start();
        await waitFor('in flight', () => connector.calls.length === 1);
        let stopped = false;
        const stopping = d.stop().then(() => {
          stopped = true;
        });
        await sleep(30);
        assert.equal(stopped, false, 'stop waits for the in-flight send');
        assert.equal(d.stats('out').inFlight, 1);
        g.open();
        await stopping;
        assert.equal(await status(h, slow.id), 'delivered', 'recorded before stop resolved');
        assert.equal(d.stats('out').inFlight, 0);
        const claimsAtStop = h.claims.get('out') ?? 0;
        const [after] = (await h.seed([{ destination: 'out', payload: 'PAYLOAD-after-stop' }])) as [Delivery];
        d.notify('out');
        await sleep(30);
        assert.equal(h.claims.get('out') ?? 0, claimsAtStop);
        assert.equal(await status(h, after.id), 'pending');
        assert.throws(() => d.start(), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_DISPATCH_STOPPED');
      });
    });

    test('stop() past its timeout aborts what is left: recorded as ambiguous (shutdown)', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector(() => ({ do: 'hang' }));
        const [stuck] = (await h.seed([{ destination: 'out', payload: 'PAYLOAD-stuck' }])) as [Delivery];
        const d = h.dispatcher({ out: { connector, attemptTimeoutMs: 60_000 } }, { leaseMs: 120_000 });
        d.start();
        await waitFor('in flight', () => connector.calls.length === 1);
        await d.stop({ timeoutMs: 20 });
        const after = await h.store.queue.get(stuck.id);
        assert.equal(after?.status, 'ambiguous');
        assert.equal(after?.lastErrorCode, 'SWB_ERR_DISPATCH_SHUTDOWN');
      });
    });

    test("a crashed worker's lease returns: the delivery is picked up after it expires", async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector();
        const [orphan] = (await h.seed([{ destination: 'out', payload: 'PAYLOAD-orphan' }])) as [Delivery];
        const ghost = await h.store.queue.claim({ destination: 'out', owner: 'ghost', leaseMs: 150, limit: 1 });
        assert.deepEqual(
          ghost.map((x) => x.id),
          [orphan.id],
        );
        const d = h.dispatcher({ out: { connector } });
        d.start();
        await waitFor('picked up and delivered', async () => (await status(h, orphan.id)) === 'delivered');
        assert.deepEqual(connector.calls, ['PAYLOAD-orphan']);
        assert.equal((await h.store.queue.attempts(orphan.id)).length, 1);
        await assert.rejects(
          h.store.queue.complete(orphan.id, 'ghost', { startedAt: new Date(), finishedAt: new Date() }),
          (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_QUEUE_LEASE_LOST',
        );
      });
    });

    test('a lease lost mid-send is logged (ids only) and the dispatcher moves on', async () => {
      await withHarness(kind, async (h) => {
        let thief: Delivery[] = [];
        const connector = new TestConnector(async (delivery) => {
          if (delivery.payload === 'PAYLOAD-stolen') {
            // Another worker, seeing the lease as expired, takes the delivery over.
            thief = await h.store.queue.claim({ destination: 'out', owner: 'thief', leaseMs: 60_000, limit: 1, now: new Date(Date.now() + 3_600_000) });
          }
          return { do: 'ok' };
        });
        const [stolen] = (await h.seed([{ destination: 'out', payload: 'PAYLOAD-stolen' }])) as [Delivery];
        const d = h.dispatcher({ out: { connector } });
        d.start();
        await waitFor('lease-lost logged', () => h.logs.some((l) => l.obj['code'] === 'SWB_ERR_QUEUE_LEASE_LOST'));
        assert.deepEqual(
          thief.map((x) => x.id),
          [stolen.id],
        );
        const line = h.logs.find((l) => l.obj['code'] === 'SWB_ERR_QUEUE_LEASE_LOST');
        assert.equal(line?.obj['deliveryId'], stolen.id);
        assert.equal(await status(h, stolen.id), 'leased');
        await h.store.queue.complete(stolen.id, 'thief', { startedAt: new Date(), finishedAt: new Date() });
        assert.equal(d.stats('out').delivered, 0);
        const [next] = (await h.seed([{ destination: 'out', payload: 'PAYLOAD-next' }])) as [Delivery];
        d.notify('out');
        await waitFor('the loop goes on', async () => (await status(h, next.id)) === 'delivered');
      });
    });

    test('two dispatchers on one store (different owners) deliver every delivery exactly once, in key order', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector(undefined, 2);
        const seeded = items('out', Array.from({ length: 10 }, (_, i) => `key${i}`), 15, { interleave: 'random' });
        const deliveries = await h.seed(seeded);
        const other = await h.openAnother();
        const one = h.dispatcher({ out: { connector, concurrency: 3 } }, { owner: 'engine-1' });
        const two = h.dispatcher({ out: { connector, concurrency: 3 } }, { owner: 'engine-2', store: other });
        one.start();
        two.start();
        await waitFor('all delivered', () => allStatus(h, deliveries, 'delivered'));
        assert.equal(connector.calls.length, 150);
        assert.equal(new Set(connector.calls).size, 150, 'no delivery sent twice');
        assert.deepEqual(connector.overlaps, []);
        const expected = perKey(seeded.map((s) => s.payload));
        const got = perKey(connector.delivered);
        for (const [key, order] of expected) assert.deepEqual(got.get(key), order, `order of ${key}`);
        await waitFor('counters settle', () => one.stats('out').delivered + two.stats('out').delivered === 150);
        console.log(`# ${kind}: engine-1 delivered ${one.stats('out').delivered}, engine-2 ${two.stats('out').delivered}`);
      });
    });

    test('options are validated; unknown destinations are refused', async () => {
      await withHarness(kind, async (h) => {
        const connector = new TestConnector();
        const code = (f: () => unknown): string => {
          try {
            f();
            return 'no error';
          } catch (e) {
            return isSwitchboardError(e) ? `${e.code} ${e.message}` : String(e);
          }
        };
        assert.match(code(() => h.dispatcher({ out: { connector, concurrency: 0 } })), /SWB_ERR_CONFIG_INVALID destinations\.out\.concurrency/);
        assert.match(code(() => h.dispatcher({ out: { connector, attemptTimeoutMs: 30_000 } }, { leaseMs: 10_000 })), /SWB_ERR_CONFIG_INVALID dispatcher\.leaseMs/);
        assert.match(code(() => h.dispatcher({ out: { connector, retry: { initialMs: 10, maxMs: 1 } } })), /retry\.maxMs/);
        const d = h.dispatcher({ out: { connector } });
        assert.match(code(() => d.pause('nope')), /SWB_ERR_DISPATCH_UNKNOWN_DESTINATION/);
        assert.match(code(() => d.stats('nope')), /SWB_ERR_DISPATCH_UNKNOWN_DESTINATION/);
        d.notify('nope');
      });
    });
  });
}
