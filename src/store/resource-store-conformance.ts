import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSwitchboardError, type ErrorCode } from '../core/errors.ts';
import type {
  FhirResource,
  ResourceStore,
  SearchCondition,
  SearchPrefix,
  SearchQuery,
  SearchResult,
} from '../core/ports/resource-store.ts';

/**
 * The one ResourceStore conformance suite (STYLE.md "Ports and adapters"), run by
 * src/store/<kind>/*.test.ts against every implementation with the FHIR R4 indexer
 * (src/fhir/search-parameters.ts). Queries are written here as typed SearchQuery values, so the
 * suite tests the store, not the URL parser.
 *
 * A factory call opens a fresh, empty store whose meta.lastUpdated comes from `clock`.
 */
export interface ResourceStoreFixture {
  readonly store: ResourceStore;
  readonly cleanup: () => Promise<void>;
}
export type ResourceStoreFactory = (options: { clock: () => Date }) => Promise<ResourceStoreFixture>;

const TEST_TIMEOUT_MS = 60_000;
const LOINC = 'http://loinc.org';
const MRN = 'urn:oid:1.2.36.146.595.217.0.1';

/** A settable clock, so versions get known lastUpdated instants. */
class TestClock {
  now = Date.parse('2026-01-05T08:00:00.000Z');
  readonly read = (): Date => new Date(this.now);
  advance(ms: number): void {
    this.now += ms;
  }
}

async function withStore(factory: ResourceStoreFactory, body: (store: ResourceStore, clock: TestClock) => Promise<void>): Promise<void> {
  const clock = new TestClock();
  const fixture = await factory({ clock: clock.read });
  try {
    await body(fixture.store, clock);
  } finally {
    await fixture.cleanup();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, httpStatus?: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isSwitchboardError(error), `expected a SwitchboardError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (httpStatus !== undefined) assert.equal(error.httpStatus, httpStatus);
    return true;
  });
}

const q = (...conditions: SearchCondition[]): SearchQuery => ({ conditions });
const token = (param: string, code: string, system?: string | null): SearchCondition => ({
  kind: 'token',
  param,
  not: false,
  values: [system === undefined ? { code } : { system, code }],
});
const ids = (result: SearchResult): string[] => result.resources.map((r) => r.id ?? '').sort();
const idsInOrder = (result: SearchResult): string[] => result.resources.map((r) => r.id ?? '');

function patient(id: string, family: string, given: string, extra: Record<string, unknown> = {}): FhirResource {
  return { resourceType: 'Patient', id, identifier: [{ system: MRN, value: `MRN-${id}` }], name: [{ family, given: [given] }], ...extra };
}

function observation(id: string, patientId: string, code: string, value: number, effective: string, extra: Record<string, unknown> = {}): FhirResource {
  return {
    resourceType: 'Observation',
    id,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: LOINC, code, display: code === '8867-4' ? 'Heart rate' : 'Body weight' }], text: code === '8867-4' ? 'Heart rate' : 'Body weight' },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: effective,
    valueQuantity: { value, unit: code === '8867-4' ? 'beats/minute' : 'kg', system: 'http://unitsofmeasure.org', code: code === '8867-4' ? '/min' : 'kg' },
    ...extra,
  };
}

/** Stores resources with their own ids (update as create). */
async function put(store: ResourceStore, ...resources: FhirResource[]): Promise<void> {
  for (const r of resources) await store.update(r);
}

/** Four patients and their observations, used by the search tests. */
async function seedSearchData(store: ResourceStore, clock: TestClock): Promise<void> {
  await put(
    store,
    patient('p1', 'Ünal', 'Zoë', { gender: 'female', birthDate: '1980-02-14', telecom: [{ system: 'phone', value: '555-0101' }], address: [{ city: 'Boston', postalCode: '02115' }] }),
    patient('p2', 'Unger', 'Adam', { gender: 'male', birthDate: '1975', address: [{ city: 'Springfield' }] }),
    patient('p3', 'Smith', 'Anna', { gender: 'female', birthDate: '2001-07', meta: { profile: ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'] } }),
    { resourceType: 'Patient', id: 'p4', name: [{ text: 'Nameless Person' }], identifier: [{ value: 'NOSYS-4' }] },
  );
  clock.advance(60_000);
  await put(
    store,
    observation('o1', 'p1', '8867-4', 72, '2024-03-01T10:00:00Z'),
    observation('o2', 'p1', '8867-4', 95.5, '2024-03-02T10:00:00Z'),
    observation('o3', 'p1', '29463-7', 61.2, '2024-03-03'),
    observation('o4', 'p2', '8867-4', 60, '2023-12-31T23:30:00Z'),
    observation('o5', 'p3', '29463-7', 80, '2024-06-15T12:00:00+02:00', { status: 'preliminary' }),
  );
}

export function runResourceStoreSuite(name: string, factory: ResourceStoreFactory): void {
  describe(name, { timeout: TEST_TIMEOUT_MS }, () => {
    describe('create, read, versions', () => {
      test('create assigns an id, versionId 1 and lastUpdated from the clock, and ignores a client id', async () => {
        await withStore(factory, async (store, clock) => {
          const created = await store.create({ resourceType: 'Patient', id: 'client-chosen', gender: 'female' });
          assert.equal(created.outcome, 'created');
          if (created.outcome !== 'created') return;
          const id = created.resource.id ?? '';
          assert.notEqual(id, 'client-chosen');
          assert.match(id, /^[A-Za-z0-9\-.]{1,64}$/);
          assert.equal(created.resource.meta?.versionId, '1');
          assert.equal(created.resource.meta?.lastUpdated, new Date(clock.now).toISOString());
          const read = await store.read('Patient', id);
          assert.equal(read?.kind, 'resource');
          if (read?.kind !== 'resource') return;
          assert.deepEqual(read.resource, created.resource);
          assert.equal(read.versionId, '1');
          assert.equal(read.lastUpdated.getTime(), clock.now);
          assert.equal(await store.read('Patient', 'client-chosen'), undefined);
          assert.equal(await store.read('Observation', id), undefined, 'ids are per type');
        });
      });

      test('create with a pre-allocated id (Bundle urn:uuid resolution); a taken id is refused', async () => {
        await withStore(factory, async (store) => {
          const created = await store.create({ resourceType: 'Patient' }, { id: 'alloc-1' });
          assert.equal(created.outcome === 'created' ? created.resource.id : undefined, 'alloc-1');
          await rejectsWith(store.create({ resourceType: 'Patient' }, { id: 'alloc-1' }), 'SWB_ERR_FHIR_ID_EXISTS', 409);
          await rejectsWith(store.create({ resourceType: 'Patient' }, { id: 'not a valid id!' }), 'SWB_ERR_FHIR_INVALID_RESOURCE', 400);
          await rejectsWith(store.create({ resourceType: 'not-a-type' } as FhirResource), 'SWB_ERR_FHIR_INVALID_RESOURCE', 400);
        });
      });

      test('update increments the version; vread returns each version; update as create with a client id', async () => {
        await withStore(factory, async (store, clock) => {
          const first = await store.update({ resourceType: 'Patient', id: 'u1', gender: 'male' });
          assert.equal(first.outcome, 'created');
          const t1 = clock.now;
          clock.advance(1000);
          const second = await store.update({ resourceType: 'Patient', id: 'u1', gender: 'female', meta: { versionId: '99', profile: ['http://x/p'] } });
          assert.equal(second.outcome, 'updated');
          assert.equal(second.resource.meta?.versionId, '2', 'the store sets versionId, not the client');
          assert.deepEqual(second.resource.meta?.profile, ['http://x/p'], 'other meta elements are kept');
          const v1 = await store.vread('Patient', 'u1', '1');
          const v2 = await store.vread('Patient', 'u1', '2');
          assert.equal(v1?.kind === 'resource' ? v1.resource['gender'] : undefined, 'male');
          assert.equal(v1?.lastUpdated.getTime(), t1);
          assert.equal(v2?.kind === 'resource' ? v2.resource['gender'] : undefined, 'female');
          assert.equal(await store.vread('Patient', 'u1', '3'), undefined);
          assert.equal(await store.vread('Patient', 'u1', 'x'), undefined);
          const current = await store.read('Patient', 'u1');
          assert.equal(current?.versionId, '2');
          await rejectsWith(store.update({ resourceType: 'Patient' }), 'SWB_ERR_FHIR_INVALID_RESOURCE');
        });
      });

      test('If-Match: a stale version is a 412 conflict (permanent) and writes nothing; the current one succeeds', async () => {
        await withStore(factory, async (store) => {
          await store.update({ resourceType: 'Patient', id: 'm1', gender: 'male' });
          await store.update({ resourceType: 'Patient', id: 'm1', gender: 'female' });
          await assert.rejects(store.update({ resourceType: 'Patient', id: 'm1', gender: 'other' }, { ifMatch: '1' }), (error: unknown) => {
            assert.ok(isSwitchboardError(error));
            assert.equal(error.code, 'SWB_ERR_FHIR_VERSION_CONFLICT');
            assert.equal(error.httpStatus, 412);
            assert.equal(error.failureClass, 'permanent');
            return true;
          });
          assert.equal((await store.read('Patient', 'm1'))?.versionId, '2');
          const ok = await store.update({ resourceType: 'Patient', id: 'm1', gender: 'other' }, { ifMatch: 'W/"2"' });
          assert.equal(ok.resource.meta?.versionId, '3');
          await rejectsWith(store.update({ resourceType: 'Patient', id: 'nobody' }, { ifMatch: '1' }), 'SWB_ERR_FHIR_VERSION_CONFLICT');
          await rejectsWith(store.delete('Patient', 'm1', { ifMatch: '2' }), 'SWB_ERR_FHIR_VERSION_CONFLICT');
          assert.equal((await store.delete('Patient', 'm1', { ifMatch: '3' })).outcome, 'deleted');
        });
      });

      test('delete keeps a deleted version in history; read gives the tombstone; update brings it back', async () => {
        await withStore(factory, async (store, clock) => {
          await store.update({ resourceType: 'Patient', id: 'd1', gender: 'male' });
          clock.advance(1000);
          const deleted = await store.delete('Patient', 'd1');
          assert.deepEqual(deleted, { outcome: 'deleted', versionId: '2' });
          const tomb = await store.read('Patient', 'd1');
          assert.equal(tomb?.kind, 'deleted');
          assert.equal(tomb?.versionId, '2');
          assert.equal(tomb?.lastUpdated.getTime(), clock.now);
          assert.equal((await store.vread('Patient', 'd1', '2'))?.kind, 'deleted');
          assert.equal((await store.vread('Patient', 'd1', '1'))?.kind, 'resource');
          assert.deepEqual(await store.delete('Patient', 'd1'), { outcome: 'already-deleted', versionId: '2' });
          assert.deepEqual(await store.delete('Patient', 'never'), { outcome: 'not-found' });
          assert.deepEqual(ids(await store.search('Patient', q(token('_id', 'd1')))), [], 'a deleted resource is not found by search');
          const back = await store.update({ resourceType: 'Patient', id: 'd1', gender: 'female' });
          assert.equal(back.outcome, 'created');
          assert.equal(back.resource.meta?.versionId, '3');
          assert.deepEqual(ids(await store.search('Patient', q(token('gender', 'female')))), ['d1']);
          assert.deepEqual(ids(await store.search('Patient', q(token('gender', 'male')))), [], 'the old version is not indexed');
        });
      });
    });

    describe('history', () => {
      test('instance, type and system history, newest first, with deletes, _since and paging', async () => {
        await withStore(factory, async (store, clock) => {
          await store.update({ resourceType: 'Patient', id: 'h1' });
          clock.advance(1000);
          await store.update({ resourceType: 'Patient', id: 'h1', gender: 'male' });
          clock.advance(1000);
          const since = new Date(clock.now);
          await store.update({ resourceType: 'Observation', id: 'h2', status: 'final', code: { text: 'x' } });
          clock.advance(1000);
          await store.delete('Patient', 'h1');

          const instance = await store.history({ type: 'Patient', id: 'h1', count: 10 });
          assert.deepEqual(
            instance.entries.map((e) => [e.kind, e.versionId]),
            [
              ['deleted', '3'],
              ['resource', '2'],
              ['resource', '1'],
            ],
          );
          assert.equal(instance.nextCursor, undefined);
          const type = await store.history({ type: 'Observation', count: 10 });
          assert.deepEqual(type.entries.map((e) => `${e.type}/${e.id}/${e.versionId}`), ['Observation/h2/1']);
          const system = await store.history({ count: 10 });
          assert.deepEqual(system.entries.map((e) => `${e.type}/${e.id}/${e.versionId}`), ['Patient/h1/3', 'Observation/h2/1', 'Patient/h1/2', 'Patient/h1/1']);
          const recent = await store.history({ since, count: 10 });
          assert.deepEqual(recent.entries.map((e) => `${e.type}/${e.id}/${e.versionId}`), ['Patient/h1/3', 'Observation/h2/1']);

          const seen: string[] = [];
          let cursor: string | undefined;
          do {
            const page = await store.history({ count: 3, ...(cursor === undefined ? {} : { cursor }) });
            assert.ok(page.entries.length <= 3);
            seen.push(...page.entries.map((e) => `${e.type}/${e.id}/${e.versionId}`));
            cursor = page.nextCursor;
          } while (cursor !== undefined);
          assert.deepEqual(seen, system.entries.map((e) => `${e.type}/${e.id}/${e.versionId}`));
          await rejectsWith(store.history({ count: 3, cursor: 'not-a-cursor' }), 'SWB_ERR_STORE_BAD_CURSOR');
        });
      });
    });

    describe('conditional create and update', () => {
      test('20 simultaneous conditional creates for one identifier yield exactly one resource', async () => {
        await withStore(factory, async (store) => {
          const condition = q(token('identifier', 'MRN-RACE', MRN));
          const outcomes = await Promise.all(
            Array.from({ length: 20 }, (_v, i) =>
              store.create({ resourceType: 'Patient', identifier: [{ system: MRN, value: 'MRN-RACE' }], name: [{ family: `Try${i}` }] }, { ifNoneExist: condition }),
            ),
          );
          assert.equal(outcomes.filter((o) => o.outcome === 'created').length, 1);
          assert.equal(outcomes.filter((o) => o.outcome === 'exists').length, 19);
          const createdId = outcomes.find((o) => o.outcome === 'created');
          for (const o of outcomes) if (o.outcome === 'exists' && createdId?.outcome === 'created') assert.equal(o.resource.id, createdId.resource.id);
          const found = await store.search('Patient', { ...condition, total: 'accurate' });
          assert.equal(found.total, 1);
          assert.equal((await store.history({ type: 'Patient', count: 100 })).entries.length, 1, 'nothing else was written');
        });
      });

      test('conditional create against several matches writes nothing', async () => {
        await withStore(factory, async (store) => {
          await put(store, patient('c1', 'Dup', 'A', { gender: 'male' }), patient('c2', 'Dup', 'B', { gender: 'male' }));
          const outcome = await store.create({ resourceType: 'Patient', gender: 'male' }, { ifNoneExist: q(token('gender', 'male')) });
          assert.deepEqual(outcome, { outcome: 'multiple' });
          assert.equal((await store.search('Patient', { conditions: [], total: 'accurate' })).total, 2);
        });
      });

      test('conditional update: none matches -> create; one -> update it; id mismatch -> 400; several -> 412', async () => {
        await withStore(factory, async (store) => {
          const cond = q(token('identifier', 'MRN-CU', MRN));
          const body = { resourceType: 'Patient', identifier: [{ system: MRN, value: 'MRN-CU' }], gender: 'male' };
          const first = await store.conditionalUpdate('Patient', cond, body);
          assert.equal(first.outcome, 'created');
          const id = first.resource.id ?? '';
          const second = await store.conditionalUpdate('Patient', cond, { ...body, gender: 'female' });
          assert.equal(second.outcome, 'updated');
          assert.equal(second.resource.id, id);
          assert.equal(second.resource.meta?.versionId, '2');
          await rejectsWith(store.conditionalUpdate('Patient', cond, { ...body, id: 'other-id' }), 'SWB_ERR_FHIR_INVALID_RESOURCE', 400);
          const asCreate = await store.conditionalUpdate('Patient', q(token('identifier', 'MRN-NEW', MRN)), { resourceType: 'Patient', id: 'chosen', identifier: [{ system: MRN, value: 'MRN-NEW' }] });
          assert.deepEqual([asCreate.outcome, asCreate.resource.id], ['created', 'chosen']);
          await put(store, patient('x1', 'Same', 'A', { gender: 'other' }), patient('x2', 'Same', 'B', { gender: 'other' }));
          await rejectsWith(store.conditionalUpdate('Patient', q(token('gender', 'other')), { resourceType: 'Patient' }), 'SWB_ERR_FHIR_MULTIPLE_MATCHES', 412);
          await rejectsWith(store.conditionalUpdate('Observation', cond, body), 'SWB_ERR_FHIR_INVALID_RESOURCE');
        });
      });

      test('20 simultaneous conditional updates for one identifier create one resource and update it 19 times', async () => {
        await withStore(factory, async (store) => {
          const cond = q(token('identifier', 'MRN-CU20', MRN));
          const outcomes = await Promise.all(
            Array.from({ length: 20 }, () => store.conditionalUpdate('Patient', cond, { resourceType: 'Patient', identifier: [{ system: MRN, value: 'MRN-CU20' }] })),
          );
          assert.equal(outcomes.filter((o) => o.outcome === 'created').length, 1);
          assert.equal(new Set(outcomes.map((o) => o.resource.id)).size, 1);
          assert.deepEqual([...outcomes.map((o) => Number(o.resource.meta?.versionId))].sort((a, b) => a - b), Array.from({ length: 20 }, (_v, i) => i + 1));
        });
      });
    });

    describe('transactions', () => {
      test('a transaction commits all its writes, and its reads see them', async () => {
        await withStore(factory, async (store) => {
          const result = await store.transaction(async (tx) => {
            const a = await tx.create({ resourceType: 'Patient', gender: 'male' }, { id: 'tx-a' });
            await tx.update({ resourceType: 'Observation', id: 'tx-o', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/tx-a' } });
            assert.equal((await tx.read('Patient', 'tx-a'))?.kind, 'resource');
            assert.deepEqual(ids(await tx.search('Observation', q({ kind: 'reference', param: 'subject', values: [{ type: 'Patient', id: 'tx-a' }] }))), ['tx-o']);
            return a.outcome;
          });
          assert.equal(result, 'created');
          assert.equal((await store.read('Patient', 'tx-a'))?.kind, 'resource');
          assert.equal((await store.read('Observation', 'tx-o'))?.kind, 'resource');
        });
      });

      test('when one entry fails, nothing of the transaction remains (rollback)', async () => {
        await withStore(factory, async (store) => {
          await store.update({ resourceType: 'Patient', id: 'keep', gender: 'male' });
          await assert.rejects(
            store.transaction(async (tx) => {
              await tx.create({ resourceType: 'Patient' }, { id: 'rb-1' });
              await tx.update({ resourceType: 'Patient', id: 'keep', gender: 'female' });
              await tx.delete('Patient', 'keep');
              await tx.update({ resourceType: 'Patient', id: 'keep', gender: 'other' }, { ifMatch: '1' });
            }),
            (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_FHIR_VERSION_CONFLICT',
          );
          assert.equal(await store.read('Patient', 'rb-1'), undefined);
          const keep = await store.read('Patient', 'keep');
          assert.equal(keep?.kind === 'resource' ? keep.resource['gender'] : undefined, 'male');
          assert.equal(keep?.versionId, '1');
          assert.deepEqual(ids(await store.search('Patient', q(token('gender', 'female')))), []);
          assert.deepEqual(ids(await store.search('Patient', q(token('gender', 'male')))), ['keep'], 'index rows were rolled back too');
          assert.equal((await store.history({ count: 10 })).entries.length, 1);
        });
      });

      test('a failed entry caught inside the work leaves the other entries (savepoint per call)', async () => {
        await withStore(factory, async (store) => {
          await store.transaction(async (tx) => {
            await tx.create({ resourceType: 'Patient' }, { id: 'sp-1' });
            await assert.rejects(tx.create({ resourceType: 'Patient' }, { id: 'sp-1' }));
            await tx.create({ resourceType: 'Patient' }, { id: 'sp-2' });
          });
          assert.equal((await store.read('Patient', 'sp-1'))?.versionId, '1');
          assert.equal((await store.read('Patient', 'sp-2'))?.versionId, '1');
        });
      });

      test('calls outside a running transaction wait for it and see only committed data', async () => {
        await withStore(factory, async (store) => {
          let release: () => void = () => undefined;
          const gate = new Promise<void>((resolve) => {
            release = resolve;
          });
          let entered: () => void = () => undefined;
          const inside = new Promise<void>((resolve) => {
            entered = resolve;
          });
          const tx = store.transaction(async (t) => {
            await t.create({ resourceType: 'Patient' }, { id: 'iso-1' });
            entered();
            await gate;
            throw new Error('abort on purpose');
          });
          await inside;
          const outside = store.read('Patient', 'iso-1');
          release();
          await assert.rejects(tx, /abort on purpose/);
          assert.equal(await outside, undefined, 'the read saw neither the uncommitted nor the rolled-back write');
        });
      });
    });

    describe('search', () => {
      test('token: code, system|code, |code, system|, :not, :text, _id, :missing', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          assert.deepEqual(ids(await store.search('Observation', q(token('code', '8867-4')))), ['o1', 'o2', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', q(token('code', '8867-4', LOINC)))), ['o1', 'o2', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', q(token('code', '8867-4', 'http://snomed.info/sct')))), []);
          assert.deepEqual(ids(await store.search('Patient', q(token('identifier', 'NOSYS-4', null)))), ['p4']);
          assert.deepEqual(ids(await store.search('Patient', q(token('identifier', 'MRN-p1', null)))), [], '|code needs a value without system');
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'token', param: 'identifier', not: false, values: [{ system: MRN }] }))), ['p1', 'p2', 'p3']);
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'token', param: 'gender', not: true, values: [{ code: 'female' }] }))), ['p2', 'p4'], ':not includes resources without a value');
          assert.deepEqual(ids(await store.search('Observation', q({ kind: 'token-text', param: 'code', values: ['heart'] }))), ['o1', 'o2', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', q({ kind: 'token', param: 'code', not: false, values: [{ code: '29463-7' }, { code: 'nope' }] }))), ['o3', 'o5'], 'comma = OR');
          assert.deepEqual(ids(await store.search('Observation', q(token('code', '8867-4'), token('_id', 'o2')))), ['o2'], 'repeated = AND');
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'token', param: '_id', not: false, values: [{ code: 'p1' }, { code: 'p3' }] }))), ['p1', 'p3']);
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'missing', param: 'gender', paramType: 'token', missing: true }))), ['p4']);
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'missing', param: 'gender', paramType: 'token', missing: false }))), ['p1', 'p2', 'p3']);
          assert.deepEqual(ids(await store.search('Patient', q(token('telecom', '555-0101')))), ['p1']);
          assert.deepEqual(ids(await store.search('Patient', q(token('phone', '555-0101', 'phone')))), ['p1']);
        });
      });

      test('_id and _lastUpdated (answered from the resource row): every token form, :not, :text, :missing, every date prefix, chained, deleted ones left out', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const patients = clock.now - 60_000;
          const id = (values: Array<{ code?: string; system?: string | null }>, not = false): SearchQuery => q({ kind: 'token', param: '_id', not, values });
          assert.deepEqual(ids(await store.search('Patient', id([{ code: 'p2' }]))), ['p2']);
          assert.deepEqual(ids(await store.search('Patient', id([{ code: 'p2', system: null }]))), ['p2'], '|code: an id has no system');
          assert.deepEqual(ids(await store.search('Patient', id([{ code: 'p2', system: 'urn:x' }]))), [], 'system|code: an id has no system');
          assert.deepEqual(ids(await store.search('Patient', id([{ system: null }]))), ['p1', 'p2', 'p3', 'p4'], '| matches every id (none has a system)');
          assert.deepEqual(ids(await store.search('Patient', id([{ code: 'p1' }, { code: 'nope' }], true))), ['p2', 'p3', 'p4'], ':not');
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'token-text', param: '_id', values: ['p1'] }))), [], ':text: an id has no display');
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'missing', param: '_id', paramType: 'token', missing: false }))), ['p1', 'p2', 'p3', 'p4']);
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'missing', param: '_lastUpdated', paramType: 'date', missing: true }))), []);
          assert.deepEqual(ids(await store.search('Observation', q({ kind: 'chain', param: 'subject', targetType: 'Patient', condition: { kind: 'token', param: '_id', not: false, values: [{ code: 'p1' }] } }))), ['o1', 'o2', 'o3']);
          assert.deepEqual(ids(await store.search('Observation', q(token('code', '8867-4'), { kind: 'token', param: '_id', not: true, values: [{ code: 'o1' }] }))), ['o2', 'o4'], 'a negated _id beside another condition');
          const lu = (prefix: SearchPrefix, at: number): SearchQuery => q({ kind: 'date', param: '_lastUpdated', values: [{ prefix, low: at, high: at }] });
          const everything = async (query: SearchQuery): Promise<string[]> => [...ids(await store.search('Patient', query)), ...ids(await store.search('Observation', query))];
          assert.deepEqual(await everything(lu('eq', patients)), ['p1', 'p2', 'p3', 'p4']);
          assert.deepEqual(await everything(lu('ne', patients)), ['o1', 'o2', 'o3', 'o4', 'o5']);
          assert.deepEqual(await everything(lu('gt', patients)), ['o1', 'o2', 'o3', 'o4', 'o5']);
          assert.deepEqual(await everything(lu('ge', patients)), ['p1', 'p2', 'p3', 'p4', 'o1', 'o2', 'o3', 'o4', 'o5']);
          assert.deepEqual(await everything(lu('lt', clock.now)), ['p1', 'p2', 'p3', 'p4']);
          assert.deepEqual(await everything(lu('le', patients)), ['p1', 'p2', 'p3', 'p4']);
          assert.deepEqual(await everything(lu('sa', patients)), ['o1', 'o2', 'o3', 'o4', 'o5']);
          assert.deepEqual(await everything(lu('eb', clock.now)), ['p1', 'p2', 'p3', 'p4']);
          // One whole day, as a day-precision _lastUpdated=2026-01-05 asks: everything.
          const day = { low: Date.parse('2026-01-05T00:00:00Z'), high: Date.parse('2026-01-06T00:00:00Z') - 1 };
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'date', param: '_lastUpdated', values: [{ prefix: 'eq', ...day }] }))), ['p1', 'p2', 'p3', 'p4']);
          await store.delete('Patient', 'p4');
          assert.deepEqual(ids(await store.search('Patient', id([{ code: 'p4' }]))), [], 'a deleted resource is not found by _id');
          assert.deepEqual(ids(await store.search('Patient', id([{ code: 'p1' }], true))), ['p2', 'p3'], ':not leaves deleted resources out');
          assert.deepEqual(ids(await store.search('Patient', q({ kind: 'missing', param: '_id', paramType: 'token', missing: false }))), ['p1', 'p2', 'p3']);
          assert.deepEqual(ids(await store.search('Patient', lu('ge', patients))), ['p1', 'p2', 'p3']);
        });
      });

      test('AuditEvent patient (answered from the agent and entity rows): values, URLs, :missing, chained, _sort, _include and _revinclude', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const audit = (id: string, agentWho: string[], entityWhat: string[]): FhirResource => ({
            resourceType: 'AuditEvent',
            id,
            type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
            recorded: '2026-01-05T08:00:00Z',
            agent: [...agentWho.map((reference) => ({ who: { reference }, requestor: true })), { who: { display: 'switchboard' }, requestor: false }],
            source: { observer: { display: 'switchboard' } },
            entity: [{ what: { identifier: { value: `req-${id}` } } }, ...entityWhat.map((reference) => ({ what: { reference } }))],
          });
          await put(
            store,
            audit('ae1', [], ['Patient/p1']),
            audit('ae2', ['Patient/p2'], ['Observation/o4']),
            audit('ae3', ['Practitioner/x'], ['Patient/p3', 'Patient/p1']),
            audit('ae4', [], ['Observation/o2']),
            audit('ae5', [], ['http://elsewhere.example/fhir/Patient/p9']),
          );
          const ref = (param: string, ...values: Array<{ type?: string; id?: string; url?: string }>): SearchQuery => q({ kind: 'reference', param, values });
          assert.deepEqual(ids(await store.search('AuditEvent', ref('patient', { type: 'Patient', id: 'p1' }))), ['ae1', 'ae3']);
          assert.deepEqual(ids(await store.search('AuditEvent', ref('patient', { id: 'p2' }))), ['ae2'], 'agent.who');
          assert.deepEqual(ids(await store.search('AuditEvent', ref('patient', { id: 'x' }))), [], 'a Practitioner agent is not a patient');
          assert.deepEqual(ids(await store.search('AuditEvent', ref('patient', { type: 'Practitioner', id: 'x' }))), []);
          assert.deepEqual(ids(await store.search('AuditEvent', ref('patient', { id: 'o4' }))), [], 'an Observation entity is not a patient');
          assert.deepEqual(ids(await store.search('AuditEvent', ref('patient', { url: 'http://elsewhere.example/fhir/Patient/p9' }))), ['ae5']);
          assert.deepEqual(ids(await store.search('AuditEvent', ref('entity', { type: 'Patient', id: 'p1' }))), ['ae1', 'ae3'], 'entity itself is unchanged');
          assert.deepEqual(ids(await store.search('AuditEvent', ref('agent', { id: 'x' }))), ['ae3']);
          assert.deepEqual(ids(await store.search('AuditEvent', q({ kind: 'missing', param: 'patient', paramType: 'reference', missing: true }))), ['ae4']);
          assert.deepEqual(ids(await store.search('AuditEvent', q({ kind: 'missing', param: 'patient', paramType: 'reference', missing: false }))), ['ae1', 'ae2', 'ae3', 'ae5']);
          assert.deepEqual(ids(await store.search('AuditEvent', q(ref('patient', { id: 'p1' }).conditions[0] as SearchCondition, { kind: 'missing', param: 'agent', paramType: 'reference', missing: false }))), ['ae3'], 'beside another condition');
          const chained = q({ kind: 'chain', param: 'patient', targetType: 'Patient', condition: { kind: 'string', param: 'family', match: 'prefix', values: ['un'] } });
          assert.deepEqual(ids(await store.search('AuditEvent', chained)), ['ae1', 'ae2', 'ae3'], 'patient:Patient.family=un (p1 Ünal, p2 Unger)');
          const sorted = await store.search('AuditEvent', { conditions: [], sort: [{ param: 'patient', paramType: 'reference', descending: false }] });
          assert.deepEqual(idsInOrder(sorted), ['ae1', 'ae3', 'ae2', 'ae5', 'ae4'], 'by the smallest patient id, missing last');
          const sortedDown = await store.search('AuditEvent', { conditions: [], sort: [{ param: 'patient', paramType: 'reference', descending: true }] });
          assert.deepEqual(idsInOrder(sortedDown), ['ae5', 'ae3', 'ae2', 'ae1', 'ae4'], 'by the largest patient id, missing last');
          const inc = await store.search('AuditEvent', { conditions: [ref('patient', { id: 'p1' }).conditions[0] as SearchCondition], include: [{ sourceType: 'AuditEvent', param: 'patient' }] });
          assert.deepEqual(inc.included.map((r) => r.id).sort(), ['p1', 'p3']);
          const rev = await store.search('Patient', { conditions: [token('_id', 'p1')], revinclude: [{ sourceType: 'AuditEvent', param: 'patient' }] });
          assert.deepEqual(rev.included.map((r) => r.id).sort(), ['ae1', 'ae3']);
          const revNone = await store.search('Observation', { conditions: [token('_id', 'o4')], revinclude: [{ sourceType: 'AuditEvent', param: 'patient' }] });
          assert.deepEqual(revNone.included, [], 'an Observation entity is not reached through patient');
        });
      });

      test('string: case- and accent-insensitive prefix by default, :exact, :contains, HumanName and Address parts', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const str = (param: string, match: 'prefix' | 'exact' | 'contains', ...values: string[]): SearchQuery => q({ kind: 'string', param, match, values });
          assert.deepEqual(ids(await store.search('Patient', str('family', 'prefix', 'un'))), ['p1', 'p2']);
          assert.deepEqual(ids(await store.search('Patient', str('family', 'prefix', 'ÜN'))), ['p1', 'p2']);
          assert.deepEqual(ids(await store.search('Patient', str('family', 'exact', 'Ünal'))), ['p1']);
          assert.deepEqual(ids(await store.search('Patient', str('family', 'exact', 'unal'))), [], ':exact is case- and accent-sensitive');
          assert.deepEqual(ids(await store.search('Patient', str('family', 'contains', 'NA'))), ['p1']);
          assert.deepEqual(ids(await store.search('Patient', str('given', 'prefix', 'zoe'))), ['p1']);
          assert.deepEqual(ids(await store.search('Patient', str('name', 'prefix', 'an'))), ['p3'], 'name covers given');
          assert.deepEqual(ids(await store.search('Patient', str('name', 'prefix', 'nameless'))), ['p4'], 'name covers text');
          assert.deepEqual(ids(await store.search('Patient', str('name', 'prefix', 'smith', 'adam'))), ['p2', 'p3']);
          assert.deepEqual(ids(await store.search('Patient', str('address', 'prefix', 'spring'))), ['p2']);
          assert.deepEqual(ids(await store.search('Patient', str('address', 'prefix', '021'))), ['p1'], 'address covers postalCode');
          assert.deepEqual(ids(await store.search('Patient', str('address-city', 'exact', 'Boston'))), ['p1']);
        });
      });

      test('date: precision ranges and every prefix', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const range = (text: string): { low: number; high: number } => {
            const parts: Record<string, [number, number]> = {
              '2024': [Date.parse('2024-01-01T00:00:00Z'), Date.parse('2025-01-01T00:00:00Z') - 1],
              '2024-03-02': [Date.parse('2024-03-02T00:00:00Z'), Date.parse('2024-03-03T00:00:00Z') - 1],
              '2024-03': [Date.parse('2024-03-01T00:00:00Z'), Date.parse('2024-04-01T00:00:00Z') - 1],
              '2024-06-15T10:00:00Z': [Date.parse('2024-06-15T10:00:00Z'), Date.parse('2024-06-15T10:00:00Z') + 999],
              '1980': [Date.parse('1980-01-01T00:00:00Z'), Date.parse('1981-01-01T00:00:00Z') - 1],
            };
            const r = parts[text];
            assert.ok(r !== undefined);
            return { low: r[0], high: r[1] };
          };
          const date = (param: string, prefix: SearchPrefix, text: string): SearchQuery => q({ kind: 'date', param, values: [{ prefix, ...range(text) }] });
          assert.deepEqual(ids(await store.search('Observation', date('date', 'eq', '2024'))), ['o1', 'o2', 'o3', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'eq', '2024-03-02'))), ['o2']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'ne', '2024-03'))), ['o4', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'gt', '2024-03-02'))), ['o3', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'ge', '2024-03-02'))), ['o2', 'o3', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'lt', '2024-03-02'))), ['o1', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'le', '2024-03-02'))), ['o1', 'o2', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'sa', '2024-03'))), ['o5']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'eb', '2024'))), ['o4']);
          assert.deepEqual(ids(await store.search('Observation', date('date', 'eq', '2024-06-15T10:00:00Z'))), ['o5'], 'the +02:00 offset is honoured');
          assert.deepEqual(ids(await store.search('Observation', date('date', 'ap', '2024-03'))), ['o1', 'o2', 'o3']);
          assert.deepEqual(ids(await store.search('Patient', date('birthdate', 'eq', '1980'))), ['p1']);
          assert.deepEqual(ids(await store.search('Patient', date('birthdate', 'ge', '1980'))), ['p1', 'p3'], 'a year-precision birthDate (1975) is before');
          const updated = await store.search('Patient', q({ kind: 'date', param: '_lastUpdated', values: [{ prefix: 'ge', low: clock.now, high: clock.now }] }));
          assert.deepEqual(ids(updated), [], 'patients were written a minute before the observations');
          assert.deepEqual(ids(await store.search('Observation', q({ kind: 'date', param: '_lastUpdated', values: [{ prefix: 'ge', low: clock.now, high: clock.now }] }))), ['o1', 'o2', 'o3', 'o4', 'o5']);
          // A Period without end is open: it is after any later date.
          await store.update({ resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { code: 'AMB' }, period: { start: '2024-01-01T00:00:00Z' } });
          assert.deepEqual(ids(await store.search('Encounter', date('date', 'gt', '2024'))), ['e1']);
          assert.deepEqual(ids(await store.search('Encounter', date('date', 'eq', '2024'))), []);
        });
      });

      test('quantity and number: prefixes, implied precision, system and code', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const qty = (prefix: SearchPrefix, value: number, low: number, high: number, extra: { system?: string; code?: string } = {}): SearchQuery =>
            q({ kind: 'quantity', param: 'value-quantity', values: [{ prefix, value, low, high, ...extra }] });
          assert.deepEqual(ids(await store.search('Observation', qty('eq', 72, 71.5, 72.5))), ['o1']);
          assert.deepEqual(ids(await store.search('Observation', qty('eq', 95, 94.5, 95.5))), [], '95.5 is outside 95 +- 0.5');
          assert.deepEqual(ids(await store.search('Observation', qty('eq', 95.5, 95.45, 95.55))), ['o2']);
          assert.deepEqual(ids(await store.search('Observation', qty('gt', 72, 71.5, 72.5))), ['o2', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', qty('ge', 72, 71.5, 72.5))), ['o1', 'o2', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', qty('lt', 61.2, 61.15, 61.25))), ['o4']);
          assert.deepEqual(ids(await store.search('Observation', qty('le', 61.2, 61.15, 61.25))), ['o3', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', qty('ne', 72, 71.5, 72.5))), ['o2', 'o3', 'o4', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', qty('ap', 80, 79.5, 80.5))), ['o1', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', qty('gt', 60, 59.5, 60.5, { system: 'http://unitsofmeasure.org', code: 'kg' }))), ['o3', 'o5']);
          assert.deepEqual(ids(await store.search('Observation', qty('gt', 60, 59.5, 60.5, { code: 'beats/minute' }))), ['o1', 'o2'], 'the code matches the unit too');
          await put(
            store,
            { resourceType: 'RiskAssessment', id: 'r1', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 0.02 }] },
            { resourceType: 'RiskAssessment', id: 'r2', status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 0.4 }] },
          );
          const num = (prefix: SearchPrefix, value: number, low: number, high: number): SearchQuery => q({ kind: 'number', param: 'probability', values: [{ prefix, value, low, high }] });
          assert.deepEqual(ids(await store.search('RiskAssessment', num('eq', 0.02, 0.015, 0.025))), ['r1']);
          assert.deepEqual(ids(await store.search('RiskAssessment', num('gt', 0.1, 0.05, 0.15))), ['r2']);
          assert.deepEqual(ids(await store.search('RiskAssessment', num('sa', 0.02, 0.015, 0.025))), ['r2']);
          assert.deepEqual(ids(await store.search('RiskAssessment', num('eb', 0.4, 0.35, 0.45))), ['r1']);
        });
      });

      test('reference: Type/id, id, :Type, absolute URL; uri exact and :below', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const ref = (param: string, ...values: Array<{ type?: string; id?: string; url?: string }>): SearchQuery => q({ kind: 'reference', param, values });
          assert.deepEqual(ids(await store.search('Observation', ref('subject', { type: 'Patient', id: 'p1' }))), ['o1', 'o2', 'o3']);
          assert.deepEqual(ids(await store.search('Observation', ref('patient', { id: 'p2' }))), ['o4']);
          assert.deepEqual(ids(await store.search('Observation', ref('subject', { type: 'Group', id: 'p1' }))), []);
          assert.deepEqual(ids(await store.search('Observation', ref('subject', { id: 'p2' }, { id: 'p3' }))), ['o4', 'o5']);
          await store.update({ resourceType: 'Observation', id: 'o-abs', status: 'final', code: { text: 'x' }, subject: { reference: 'https://other.example/fhir/Patient/p9' } });
          assert.deepEqual(ids(await store.search('Observation', ref('subject', { url: 'https://other.example/fhir/Patient/p9' }))), ['o-abs']);
          const uri = (match: 'exact' | 'below', value: string): SearchQuery => q({ kind: 'uri', param: '_profile', match, values: [value] });
          assert.deepEqual(ids(await store.search('Patient', uri('exact', 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient'))), ['p3']);
          assert.deepEqual(ids(await store.search('Patient', uri('exact', 'http://hl7.org/fhir/us/core'))), []);
          assert.deepEqual(ids(await store.search('Patient', uri('below', 'http://hl7.org/fhir/us/core'))), ['p3']);
        });
      });

      test('chaining: subject:Patient.identifier and subject:Patient.name, and a chain on a missing value', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const chain = (condition: SearchCondition): SearchQuery => q({ kind: 'chain', param: 'subject', targetType: 'Patient', condition });
          assert.deepEqual(ids(await store.search('Observation', chain(token('identifier', 'MRN-p1', MRN)))), ['o1', 'o2', 'o3']);
          assert.deepEqual(ids(await store.search('Observation', chain({ kind: 'string', param: 'family', match: 'prefix', values: ['un'] }))), ['o1', 'o2', 'o3', 'o4']);
          assert.deepEqual(ids(await store.search('Observation', chain({ kind: 'token', param: 'gender', not: true, values: [{ code: 'female' }] }))), ['o4']);
          assert.deepEqual(ids(await store.search('Observation', { conditions: [chain(token('gender', 'female')).conditions[0] as SearchCondition, token('code', '29463-7')] })), ['o3', 'o5']);
        });
      });

      test('_include and _revinclude return the referenced and referring resources once, apart from the matches', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const inc = await store.search('Observation', { conditions: [token('code', '8867-4')], include: [{ sourceType: 'Observation', param: 'subject' }] });
          assert.deepEqual(ids(inc), ['o1', 'o2', 'o4']);
          assert.deepEqual(inc.included.map((r) => `${r.resourceType}/${r.id ?? ''}`).sort(), ['Patient/p1', 'Patient/p2']);
          const typed = await store.search('Observation', { conditions: [token('code', '8867-4')], include: [{ sourceType: 'Observation', param: 'subject', targetType: 'Group' }] });
          assert.deepEqual(typed.included, []);
          const rev = await store.search('Patient', { conditions: [token('gender', 'female')], revinclude: [{ sourceType: 'Observation', param: 'subject' }] });
          assert.deepEqual(ids(rev), ['p1', 'p3']);
          assert.deepEqual(rev.included.map((r) => r.id ?? '').sort(), ['o1', 'o2', 'o3', 'o5']);
          const none = await store.search('Patient', { conditions: [token('gender', 'female')] });
          assert.deepEqual(none.included, []);
        });
      });

      test('paging by cursor returns every match once; _total and _summary=count count them', async () => {
        await withStore(factory, async (store) => {
          for (let i = 0; i < 23; i++) await store.update(patient(`pg${String(i).padStart(2, '0')}`, `Page${i}`, 'X', { gender: i % 2 === 0 ? 'female' : 'male' }));
          const seen: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await store.search('Patient', { conditions: [token('gender', 'female')], count: 5, total: 'accurate', ...(cursor === undefined ? {} : { cursor }) });
            assert.equal(page.total, 12);
            assert.ok(page.resources.length <= 5);
            seen.push(...idsInOrder(page));
            cursor = page.nextCursor;
            pages++;
          } while (cursor !== undefined);
          assert.equal(pages, 3);
          assert.equal(new Set(seen).size, 12);
          const counted = await store.search('Patient', { conditions: [], summary: 'count' });
          assert.deepEqual([counted.total, counted.resources.length], [23, 0]);
          assert.equal((await store.search('Patient', { conditions: [] })).total, undefined, 'no count unless asked');
          await rejectsWith(store.search('Patient', { conditions: [], cursor: '!!' }), 'SWB_ERR_STORE_BAD_CURSOR');
        });
      });

      test('_sort by date, string, token and _lastUpdated, ascending and descending, missing values last, paged', async () => {
        await withStore(factory, async (store, clock) => {
          await seedSearchData(store, clock);
          const sorted = async (type: string, sort: SearchQuery['sort'], count = 50): Promise<string[]> => {
            const out: string[] = [];
            let cursor: string | undefined;
            do {
              const page = await store.search(type, { conditions: [], ...(sort === undefined ? {} : { sort }), count, ...(cursor === undefined ? {} : { cursor }) });
              out.push(...idsInOrder(page));
              cursor = page.nextCursor;
            } while (cursor !== undefined);
            return out;
          };
          assert.deepEqual(await sorted('Observation', [{ param: 'date', paramType: 'date', descending: false }]), ['o4', 'o1', 'o2', 'o3', 'o5']);
          assert.deepEqual(await sorted('Observation', [{ param: 'date', paramType: 'date', descending: true }], 2), ['o5', 'o3', 'o2', 'o1', 'o4']);
          assert.deepEqual(await sorted('Patient', [{ param: 'family', paramType: 'string', descending: false }], 1), ['p3', 'p1', 'p2', 'p4'], 'accent-folded order; no family last');
          assert.deepEqual(await sorted('Patient', [{ param: 'birthdate', paramType: 'date', descending: true }], 3), ['p3', 'p1', 'p2', 'p4']);
          assert.deepEqual(
            await sorted('Observation', [
              { param: 'code', paramType: 'token', descending: true },
              { param: 'value-quantity', paramType: 'quantity', descending: false },
            ], 2),
            ['o4', 'o1', 'o2', 'o3', 'o5'],
          );
          assert.deepEqual(
            await sorted('Observation', [
              { param: 'status', paramType: 'token', descending: false },
              { param: 'date', paramType: 'date', descending: true },
            ], 1),
            ['o3', 'o2', 'o1', 'o4', 'o5'],
          );
          clock.advance(1000);
          await store.update({ ...patient('p2', 'Unger', 'Adam'), gender: 'male' });
          assert.deepEqual((await sorted('Patient', [{ param: '_lastUpdated', paramType: 'date', descending: true }], 2))[0], 'p2');
        });
      });
    });
  });
}
