import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Fastify from 'fastify';
import type { FhirResource, ResourceStore } from '../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../fhir/search-parameters.ts';
import { parseSearchQuery } from '../fhir/search-query.ts';
import { openSqliteStore, type SqliteStore } from '../store/sqlite/open-sqlite-store.ts';
import { engineResourceIndexer } from './engine-indexer.ts';
import type { AuditFacts } from './audit-events.ts';
import { attachAuditTrail, AuditTrail, bundleMayReadAuditEvents, mayReadAuditEvents } from './audit-trail.ts';

// The AuditEvent trail over a store with a journal (docs/adr/0010-audit-journal.md): the facts of
// an event are journaled at once, and the AuditEvents are made from the journal later (a quiet event
// loop, a full backlog, a reader about to search them, close()), each entry exactly once.

async function fileStore(t: TestContext, dir?: string): Promise<{ store: SqliteStore; resources: ResourceStore; dir: string }> {
  const where = dir ?? (await mkdtemp(join(tmpdir(), 'swb-audit-journal-')));
  const store = await openSqliteStore({ path: join(where, 'switchboard.db'), resourceIndexer: engineResourceIndexer() });
  if (dir === undefined) t.after(() => rm(where, { recursive: true, force: true }));
  const resources = store.resources;
  assert.ok(resources?.journal !== undefined, 'a SQLite file store offers a journal');
  return { store, resources, dir: where };
}

/** The facts of a read of Patient `patient` by client `app`, request `corr`. */
const readFacts = (corr: string, patient = 'p1'): AuditFacts => ({
  k: 'fhir',
  at: Date.UTC(2026, 10, 25, 8, 0, 0),
  requestId: corr,
  principal: { kind: 'client', subject: 'app', clientId: 'app' },
  ip: '127.0.0.1',
  resourceType: 'Patient',
  outcome: { interaction: 'read', status: 200, resourceType: 'Patient', resource: { type: 'Patient', id: patient }, patient },
});

async function auditEvents(resources: ResourceStore, params: Array<[string, string]> = []): Promise<readonly FhirResource[]> {
  const page = await resources.search('AuditEvent', parseSearchQuery('AuditEvent', [...params, ['_count', '1000']]).query);
  return page.resources;
}

const requestIds = (events: readonly FhirResource[]): string[] =>
  events
    .map((e) => ((e['entity'] as Array<{ what?: { identifier?: { value?: string } } }>)[0]?.what?.identifier?.value ?? '?'))
    .sort();

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A trail that always finds the loop busy: nothing is settled unless something presses. */
const busyForever = { busyUtilization: -1 } as const;

test('the journal: appends keep their order, settle makes the resources and removes the entries in one transaction, exactly once', async (t) => {
  const { store, resources } = await fileStore(t);
  t.after(() => store.close());
  const journal = resources.journal;
  assert.ok(journal !== undefined);
  await journal.append(['one', 'two', 'three']);
  const entries = await journal.oldest(10);
  assert.deepEqual(entries.map((e) => e.entry), ['one', 'two', 'three']);
  assert.equal(await journal.head(), entries[2]?.seq);
  const made: FhirResource = { resourceType: 'Basic', code: { text: 'from the journal' } };
  await journal.settle(entries.slice(0, 2), [made]);
  assert.deepEqual((await journal.oldest(10)).map((e) => e.entry), ['three']);
  assert.equal((await resources.search('Basic', parseSearchQuery('Basic', []).query)).resources.length, 1);
  // Settling entries that are gone refuses the whole batch: no second resource.
  await assert.rejects(journal.settle(entries.slice(0, 2), [made]));
  assert.equal((await resources.search('Basic', parseSearchQuery('Basic', []).query)).resources.length, 1);
  assert.equal(await journal.size(), 1);
  // A seq is never used again, even after the journal was emptied.
  await journal.settle(await journal.oldest(10), []);
  assert.equal(await journal.size(), 0);
  await journal.append(['four']);
  const [four] = await journal.oldest(1);
  assert.ok(four !== undefined && four.seq > (entries[2]?.seq ?? Infinity), 'seqs keep increasing');
});

test('with a journal, a recorded event is journaled, not made, while the loop is busy; flush() makes every one of them', async (t) => {
  const { store, resources } = await fileStore(t);
  t.after(() => store.close());
  const trail = new AuditTrail({ store: resources, groupDelayMs: 0, ...busyForever });
  for (let i = 0; i < 40; i++) trail.record(readFacts(`corr-${i}`, `p${i % 4}`));
  await until('the queue written to the journal', async () => trail.stats.written === 40);
  // Journaled: durable, but no AuditEvent yet (the loop is "busy" and the backlog is small).
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await resources.journal?.size(), 40);
  assert.equal((await auditEvents(resources)).length, 0);
  assert.equal(trail.stats.backlog, 40);
  await trail.flush();
  assert.equal(await resources.journal?.size(), 0);
  assert.equal(trail.stats.backlog, 0);
  const events = await auditEvents(resources);
  assert.deepEqual(requestIds(events), Array.from({ length: 40 }, (_, i) => `corr-${i}`).sort());
  // Made from the facts as the FHIR routes would have made them: searchable by patient and subtype,
  // and `recorded` is the time of the interaction, not of the making.
  assert.equal((await auditEvents(resources, [['patient', 'Patient/p1'], ['subtype', 'read']])).length, 10);
  assert.ok(events.every((e) => e['recorded'] === '2026-11-25T08:00:00.000Z'));
  await trail.close();
});

test('a full backlog is made into AuditEvents without anyone asking, busy or not', async (t) => {
  const { store, resources } = await fileStore(t);
  t.after(() => store.close());
  const trail = new AuditTrail({ store: resources, groupDelayMs: 0, maxBacklog: 10, ...busyForever });
  for (let i = 0; i < 30; i++) trail.record(readFacts(`full-${i}`));
  await until('the backlog to come down below its bound', async () => trail.stats.written === 30 && trail.stats.backlog < 10);
  assert.ok((await auditEvents(resources)).length >= 21, 'at least the entries past the bound are made');
  await trail.close();
  assert.equal((await auditEvents(resources)).length, 30, 'close() makes the rest');
});

test('a journal left by a crash is made into AuditEvents by the next trail on the file, each entry once', async (t) => {
  const first = await fileStore(t);
  const trail = new AuditTrail({ store: first.resources, groupDelayMs: 0, ...busyForever });
  for (let i = 0; i < 25; i++) trail.record(readFacts(`crash-${i}`));
  await until('the journal written', async () => trail.stats.written === 25);
  // The process "dies": the trail is never closed, the store's connection goes away.
  await first.store.close();
  const second = await fileStore(t, first.dir);
  t.after(() => second.store.close());
  assert.equal(await second.resources.journal?.size(), 25);
  const next = new AuditTrail({ store: second.resources });
  await until('the entries of the earlier run made', async () => (await second.resources.journal?.size()) === 0);
  assert.deepEqual(requestIds(await auditEvents(second.resources)), Array.from({ length: 25 }, (_, i) => `crash-${i}`).sort());
  await next.close();
  assert.equal((await auditEvents(second.resources)).length, 25, 'no entry made twice');
});

test('a request that may read AuditEvents waits until the trail caught up; other requests do not', async (t) => {
  const { store, resources } = await fileStore(t);
  t.after(() => store.close());
  const app = Fastify({ logger: false });
  const sinks = attachAuditTrail(app, resources, 'switchboard', { groupDelayMs: 50, ...busyForever });
  app.get('/fhir/R4/Patient/:id', async (req) => {
    sinks.fhir(req, undefined, { interaction: 'read', status: 200, resourceType: 'Patient', resource: { type: 'Patient', id: (req.params as { id: string }).id }, patient: (req.params as { id: string }).id });
    return { resourceType: 'Patient' };
  });
  app.get('/fhir/R4/AuditEvent', async () => ({ total: (await auditEvents(resources)).length }));
  app.get('/fhir/R4/Observation', async () => ({ total: (await auditEvents(resources)).length }));
  app.post('/fhir/R4', async () => ({ total: (await auditEvents(resources)).length }));
  t.after(() => app.close());
  for (let i = 0; i < 5; i++) assert.equal((await app.inject({ method: 'GET', url: `/fhir/R4/Patient/p${i}`, headers: { 'x-request-id': `r${i}` } })).statusCode, 200);
  // Another type's search does not wait: the reads are still queued or journaled; nor does a Bundle
  // that reads no AuditEvent.
  assert.equal((await app.inject({ method: 'GET', url: '/fhir/R4/Observation' })).json().total, 0);
  const batch = (url: string): object => ({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url } }] });
  assert.equal((await app.inject({ method: 'POST', url: '/fhir/R4', payload: batch('Patient/p1') })).json().total, 0);
  // A Bundle with an AuditEvent read waits, once its body is read.
  assert.equal((await app.inject({ method: 'POST', url: '/fhir/R4', payload: batch('AuditEvent?patient=Patient/p1') })).json().total, 5);
  // An AuditEvent search sees every read answered before it (these routes record the reads only).
  assert.equal((await app.inject({ method: 'GET', url: '/fhir/R4/AuditEvent' })).json().total, 5);
});

test('which FHIR requests may read AuditEvents', () => {
  const yes = [
    '/fhir/R4/AuditEvent',
    '/fhir/R4/AuditEvent/abc',
    '/fhir/R4/AuditEvent?patient=Patient/1',
    '/fhir/R4/Patient?_revinclude=AuditEvent:entity',
    '/fhir/R4/Patient?_revinclude=Audit%45vent:entity',
    '/fhir/R4?_type=AuditEvent',
    '/fhir/R4?_lastUpdated=gt2026-01-01',
    '/fhir/R4',
    '/fhir/R4/_history',
    '/fhir/R4/_search',
  ];
  const no = ['/fhir/R4/Patient/1', '/fhir/R4/Observation?patient=1', '/fhir/R4/metadata', '/api/v1/AuditEvent', '/auth/token', '/fhir/R4/Patient?name=%E0%A4%A'];
  for (const url of yes) assert.equal(mayReadAuditEvents('GET', url), true, url);
  for (const url of no) assert.equal(mayReadAuditEvents('GET', url), false, url);
  // A Bundle is decided by its entries.
  assert.equal(mayReadAuditEvents('POST', '/fhir/R4'), false);
  const bundle = (...entries: Array<{ method: string; url: string }>): unknown => ({ resourceType: 'Bundle', type: 'batch', entry: entries.map((request) => ({ request })) });
  assert.equal(bundleMayReadAuditEvents(bundle({ method: 'POST', url: 'Patient' }, { method: 'GET', url: 'Patient/1' })), false);
  assert.equal(bundleMayReadAuditEvents(bundle({ method: 'GET', url: 'Patient/1' }, { method: 'GET', url: 'AuditEvent?patient=Patient/1' })), true);
  assert.equal(bundleMayReadAuditEvents(bundle({ method: 'GET', url: '_history' })), true);
  assert.equal(bundleMayReadAuditEvents(bundle({ method: 'POST', url: 'AuditEvent' })), false, 'a write is refused anyway (405)');
  assert.equal(bundleMayReadAuditEvents({ resourceType: 'Bundle' }), false);
});

test('without a journal (a store that has none) the trail makes and writes the AuditEvents in its batches', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-audit-nojournal-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await openSqliteStore({ path: ':memory:', resourceIndexer: new FhirSearchIndexer() });
  t.after(() => store.close());
  const resources = store.resources;
  assert.ok(resources !== undefined && resources.journal === undefined, 'an in-memory store has no journal');
  const trail = new AuditTrail({ store: resources, ...busyForever });
  for (let i = 0; i < 5; i++) trail.record(readFacts(`mem-${i}`));
  await trail.flush();
  assert.deepEqual(requestIds(await auditEvents(resources)), ['mem-0', 'mem-1', 'mem-2', 'mem-3', 'mem-4']);
  assert.equal(trail.stats.backlog, 0);
});
