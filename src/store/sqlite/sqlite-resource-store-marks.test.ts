// SqliteResourceStore.writeMark (the Consent cache's staleness check, src/api/consent.ts) and
// createBatchRelaxed (the AuditEvent trail's batches, src/api/audit-trail.ts), on real files.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FhirResource } from '../../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { parseSearchQuery } from '../../fhir/search-query.ts';
import { openSqliteResourceStore } from './sqlite-resource-store.ts';
import { withTempDir, withTwoConnections } from './sqlite-resource-store-test-support.ts';

const indexer = new FhirSearchIndexer();
const consent = (patient: string): FhirResource => ({ resourceType: 'Consent', status: 'active', patient: { reference: `Patient/${patient}` } });

test('writeMark(type) moves on every create, update and delete of that type, in or out of a transaction, and on nothing else here', async () => {
  await withTempDir('swb-marks-', async (dir) => {
    const store = openSqliteResourceStore({ path: join(dir, 'fhir.db'), indexer });
    try {
      const marks = [await store.writeMark('Consent')];
      const next = async (): Promise<string> => {
        const m = await store.writeMark('Consent');
        assert.ok(!marks.includes(m), `a new mark after a Consent write (${m})`);
        marks.push(m);
        return m;
      };
      const created = await store.create(consent('p1'));
      assert.ok(created.outcome === 'created');
      await next();
      await store.update({ ...created.resource, status: 'inactive' });
      await next();
      await store.delete('Consent', created.resource.id ?? '');
      await next();
      await store.transaction(async (tx) => {
        await tx.create(consent('p2'));
      });
      await next();
      // Reads, searches and other types' writes leave it.
      const still = marks[marks.length - 1];
      await store.read('Consent', created.resource.id ?? '');
      await store.search('Consent', parseSearchQuery('Consent', [['status', 'active']]).query);
      await store.create({ resourceType: 'Patient', id: 'p9' });
      await store.createBatchRelaxed([{ resourceType: 'AuditEvent', action: 'R' }]);
      assert.equal(await store.writeMark('Consent'), still);
      // A rolled-back write may move it (never the other way round).
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.create(consent('p3'));
          throw new Error('abandon');
        }),
      );
      assert.notEqual(await store.writeMark('Consent'), still);
    } finally {
      await store.close();
    }
  });
});

test('writeMark(type) moves when another connection to the same file commits', async () => {
  await withTwoConnections('swb-marks-', indexer, async (store, other) => {
    const before = await store.writeMark('Consent');
    await other.create(consent('p1'));
    assert.notEqual(await store.writeMark('Consent'), before);
  });
});

test('readJsonMarked reads what readJson and writeMark read, in one go: present, missing and deleted resources; the mark moves with the type', async () => {
  await withTwoConnections('swb-marks-', indexer, async (store, other) => {
    const same = async (type: string, id: string): Promise<string> => {
      const marked = await store.readJsonMarked(type, id, 'Consent');
      assert.deepEqual(marked.stored, await store.readJson(type, id));
      assert.equal(marked.mark, await store.writeMark('Consent'));
      return marked.mark;
    };
    // No Consent ever written and no such resource: the mark is still given.
    const first = await same('Patient', 'p1');
    assert.equal((await store.readJsonMarked('Patient', 'p1', 'Consent')).stored, undefined);
    await store.create({ resourceType: 'Patient', name: [{ family: 'Marked' }] }, { id: 'p1' });
    assert.equal(await same('Patient', 'p1'), first, 'a Patient write leaves the Consent mark');
    const read = await store.readJsonMarked('Patient', 'p1', 'Consent');
    assert.ok(read.stored?.kind === 'resource');
    assert.equal(JSON.parse(read.stored.json).name[0].family, 'Marked');
    // A Consent written here, then one by another connection: the mark moves each time.
    await store.create(consent('p1'));
    const second = await same('Patient', 'p1');
    assert.notEqual(second, first);
    await other.create(consent('p2'));
    const third = await same('Patient', 'p1');
    assert.notEqual(third, second);
    // Another type's mark is another counter.
    assert.notEqual((await store.readJsonMarked('Patient', 'p1', 'Patient')).mark, third);
    // A deleted resource reads as its tombstone, as readJson gives it.
    await store.delete('Patient', 'p1');
    await same('Patient', 'p1');
    assert.equal((await store.readJsonMarked('Patient', 'p1', 'Consent')).stored?.kind, 'deleted');
  });
});

test('createBatchRelaxed writes every resource indexed and searchable, or none of them', async () => {
  await withTempDir('swb-marks-', async (dir) => {
    const path = join(dir, 'fhir.db');
    const store = openSqliteResourceStore({ path, indexer });
    try {
      const events: FhirResource[] = Array.from({ length: 20 }, (_v, i) => ({ resourceType: 'AuditEvent', action: i % 2 === 0 ? 'R' : 'E', recorded: '2026-03-01T09:00:00Z', type: { code: 'rest' }, agent: [], source: { observer: { display: 'x' } } }));
      await store.createBatchRelaxed(events);
      const found = await store.search('AuditEvent', parseSearchQuery('AuditEvent', [['action', 'R'], ['_count', '100']]).query);
      assert.equal(found.resources.length, 10);
      assert.ok(found.resources.every((r) => r.meta?.versionId === '1' && typeof r.id === 'string'));
      // One bad resource: nothing of its batch remains.
      await assert.rejects(store.createBatchRelaxed([{ resourceType: 'AuditEvent', action: 'C' }, { resourceType: 'not a type' } as FhirResource]));
      const none = await store.search('AuditEvent', parseSearchQuery('AuditEvent', [['action', 'C']]).query);
      assert.equal(none.resources.length, 0);
    } finally {
      await store.close();
    }
    // Committed: a new connection (after the first closed) reads them back.
    const reopened = openSqliteResourceStore({ path, indexer });
    try {
      const all = await reopened.search('AuditEvent', parseSearchQuery('AuditEvent', [['_count', '100']]).query);
      assert.equal(all.resources.length, 20);
    } finally {
      await reopened.close();
    }
  });
});
