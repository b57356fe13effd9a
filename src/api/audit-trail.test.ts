import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FhirResource, ResourceStoreTx } from '../core/ports/resource-store.ts';
import type { AuditFacts } from './audit-events.ts';
import { AuditTrail } from './audit-trail.ts';

/** A store double: keeps what it is given; `failOn` ids are refused. */
function fakeStore(failOn: ReadonlySet<string> = new Set()): { kept: FhirResource[]; transactions: number; store: ConstructorParameters<typeof AuditTrail>[0]['store'] } {
  const state = { kept: [] as FhirResource[], transactions: 0 };
  const create = async (r: FhirResource): Promise<{ outcome: 'created'; resource: FhirResource }> => {
    if (r.id !== undefined && failOn.has(r.id)) throw new Error('refused');
    state.kept.push(r);
    return { outcome: 'created', resource: r };
  };
  return {
    get kept() {
      return state.kept;
    },
    get transactions() {
      return state.transactions;
    },
    store: {
      create,
      transaction: async <T>(work: (tx: ResourceStoreTx) => Promise<T>): Promise<T> => {
        state.transactions++;
        const staged: FhirResource[] = [];
        const tx = { create: async (r: FhirResource) => {
          if (r.id !== undefined && failOn.has(r.id)) throw new Error('refused');
          staged.push(r);
          return { outcome: 'created' as const, resource: r };
        } } as unknown as ResourceStoreTx;
        const out = await work(tx);
        state.kept.push(...staged);
        return out;
      },
    },
  };
}

/** An AuditEvent made already (the trail writes it as it is). */
const event = (id: string): AuditFacts => ({ k: 'resource', resource: { resourceType: 'AuditEvent', id } });

test('record() queues without writing; flush() writes every queued event in batches', async () => {
  const f = fakeStore();
  const trail = new AuditTrail({ store: f.store, batchSize: 3 });
  for (let i = 0; i < 7; i++) trail.record(event(String(i)));
  assert.equal(f.kept.length, 0, 'nothing is written on the caller\'s path');
  await trail.flush();
  assert.deepEqual(f.kept.map((r) => r.id), ['0', '1', '2', '3', '4', '5', '6']);
  assert.equal(f.transactions, 3);
  assert.deepEqual(trail.stats, { pending: 0, written: 7, dropped: 0, failed: 0, waits: 0, backlog: 0 });
});

test('a full queue drops nothing: room() makes new requests wait until the writer caught up', async () => {
  const f = fakeStore();
  const trail = new AuditTrail({ store: f.store, capacity: 2, batchSize: 1 });
  assert.equal(trail.room(), undefined, 'room while below capacity');
  for (let i = 0; i < 5; i++) trail.record(event(String(i)));
  assert.equal(trail.stats.dropped, 0, 'events of admitted requests are all kept');
  const wait = trail.room();
  assert.ok(wait !== undefined, 'a full queue makes the next request wait');
  let admitted = false;
  const admittedWhen = wait.then(() => {
    admitted = true;
    return trail.stats.pending;
  });
  assert.equal(admitted, false);
  const pendingAtAdmission = await admittedWhen;
  assert.ok(pendingAtAdmission < 2, `admitted once the queue is below capacity (pending ${pendingAtAdmission})`);
  await trail.flush();
  assert.deepEqual(f.kept.map((r) => r.id), ['0', '1', '2', '3', '4']);
  assert.equal(trail.stats.waits, 1);
});

test('batches grow under a backlog (one commit for many events) and never exceed batchSize', async () => {
  const f = fakeStore();
  const trail = new AuditTrail({ store: f.store, capacity: 10_000, batchSize: 64, batchBudgetMs: 1000 });
  for (let i = 0; i < 1000; i++) trail.record(event(String(i)));
  await trail.flush();
  assert.equal(f.kept.length, 1000);
  // 8, 16, 32, then 64 at most: far fewer commits than events or than fixed batches of 8.
  assert.ok(f.transactions <= 8 + Math.ceil((1000 - 8 - 16 - 32) / 64) + 3, `${f.transactions} transactions`);
  assert.ok(f.transactions >= Math.ceil(1000 / 64));
});

test('a refused event is counted as failed; the rest of its batch is still written', async () => {
  const f = fakeStore(new Set(['bad']));
  const trail = new AuditTrail({ store: f.store });
  trail.record(event('a'));
  trail.record(event('bad'));
  trail.record(event('b'));
  await trail.flush();
  assert.deepEqual(f.kept.map((r) => r.id), ['a', 'b']);
  assert.equal(trail.stats.failed, 1);
  assert.equal(trail.stats.written, 2);
});

test('close() writes what is queued, then refuses new events', async () => {
  const f = fakeStore();
  const trail = new AuditTrail({ store: f.store });
  trail.record(event('a'));
  await trail.close();
  trail.record(event('late'));
  await trail.flush();
  assert.deepEqual(f.kept.map((r) => r.id), ['a']);
  assert.equal(trail.stats.dropped, 1);
});

test('the group timer firing on an empty queue leaves the trail usable: later events are written and flush() returns', async () => {
  const f = fakeStore();
  const trail = new AuditTrail({ store: f.store, groupDelayMs: 5 });
  trail.record(event('a'));
  await trail.flush();
  // The timer set for 'a' fires now, with nothing left to write.
  await new Promise((resolve) => setTimeout(resolve, 30));
  trail.record(event('b'));
  const done = await Promise.race([trail.flush().then(() => 'flushed'), new Promise((resolve) => setTimeout(() => resolve('stuck'), 5000))]);
  assert.equal(done, 'flushed');
  assert.deepEqual(f.kept.map((r) => r.id), ['a', 'b']);
});
