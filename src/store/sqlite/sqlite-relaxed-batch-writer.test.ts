// createBatchRelaxed on its writer thread (sqlite-relaxed-batch-writer.ts), and the history rows that
// keep no text while their version is current (SqliteResourceStore HISTORY_SELECT), on real files.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FhirResource } from '../../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { parseSearchQuery } from '../../fhir/search-query.ts';
import { openSqliteResourceStore } from './sqlite-resource-store.ts';
import { withTempDir, withTwoConnections } from './sqlite-resource-store-test-support.ts';

const indexer = new FhirSearchIndexer();

const observation = (i: number): FhirResource => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '718-7' }] },
  subject: { reference: `Patient/p${i % 7}` },
  valueQuantity: { value: i, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
});

test('a file store writes relaxed batches on its own thread: indexed, versioned, in history, and marked for every connection', async () => {
  await withTwoConnections('swb-relaxed-', indexer, async (store, other) => {
    assert.equal(store.createBatchRelaxedOffThread, true);
    const consentBefore = await other.writeMark('Consent');
    const observationBefore = await other.writeMark('Observation');
    // Two batches at once, one larger than a slice: both land whole, rids and ids distinct.
    await Promise.all([store.createBatchRelaxed(Array.from({ length: 150 }, (_, i) => observation(i))), store.createBatchRelaxed(Array.from({ length: 7 }, (_, i) => observation(1000 + i)))]);
    const all = await store.search('Observation', { ...parseSearchQuery('Observation', [['code', 'http://loinc.org|718-7']]).query, count: 1000 });
    assert.equal(all.resources.length, 157);
    assert.equal(new Set(all.resources.map((r) => r.id)).size, 157);
    const forP3 = await store.search('Observation', { ...parseSearchQuery('Observation', [['subject', 'Patient/p3']]).query, count: 1000 });
    assert.equal(forP3.resources.length, all.resources.filter((r) => (r['subject'] as { reference: string }).reference === 'Patient/p3').length);
    const first = all.resources[0] as FhirResource;
    assert.equal(first.meta?.versionId, '1');
    assert.deepEqual((await store.vread('Observation', first.id ?? '', '1'))?.kind, 'resource');
    const history = await store.history({ type: 'Observation', count: 1000 });
    assert.equal(history.entries.length, 157);
    assert.ok(history.entries.every((v) => v.kind === 'resource'));
    // Another connection sees the Observation writes in its mark; no Consent was written.
    assert.notEqual(await other.writeMark('Observation'), observationBefore);
    assert.equal(await other.writeMark('Consent'), consentBefore);
  });
});

test('the history keeps every version text after updates and deletes, whether written one by one or in a relaxed batch', async () => {
  await withTempDir('swb-relaxed-', async (dir) => {
    const store = openSqliteResourceStore({ path: join(dir, 'fhir.db'), indexer });
    try {
      const created = await store.create({ resourceType: 'Patient', gender: 'female' }, { id: 'h1' });
      assert.equal(created.outcome, 'created');
      await store.update({ resourceType: 'Patient', id: 'h1', gender: 'male' });
      await store.update({ resourceType: 'Patient', id: 'h1', gender: 'other' });
      await store.delete('Patient', 'h1');
      const genders = await Promise.all(['1', '2', '3'].map(async (v) => {
        const version = await store.vread('Patient', 'h1', v);
        return version?.kind === 'resource' ? version.resource['gender'] : undefined;
      }));
      assert.deepEqual(genders, ['female', 'male', 'other']);
      assert.equal((await store.vread('Patient', 'h1', '4'))?.kind, 'deleted');
      const history = await store.history({ type: 'Patient', id: 'h1', count: 10 });
      assert.deepEqual(history.entries.map((v) => (v.kind === 'resource' ? v.resource['gender'] : 'deleted')), ['deleted', 'other', 'male', 'female']);

      await store.createBatchRelaxed([{ resourceType: 'Patient', gender: 'unknown' }]);
      const batched = (await store.search('Patient', parseSearchQuery('Patient', [['gender', 'unknown']]).query)).resources[0] as FhirResource;
      await store.update({ ...batched, gender: 'female' });
      const v1 = await store.vread('Patient', batched.id ?? '', '1');
      assert.equal(v1?.kind === 'resource' ? v1.resource['gender'] : undefined, 'unknown');
    } finally {
      await store.close();
    }
  });
});
