// SqliteReadCache (readJson's cache of current versions) on its own, and through
// SqliteResourceStore.readJson on real files: a cached version is never served once its type was
// written, by this store or by another connection to the same file.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FhirResource, StoredJson } from '../../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { SqliteReadCache } from './sqlite-read-cache.ts';
import { openSqliteResourceStore } from './sqlite-resource-store.ts';

const indexer = new FhirSearchIndexer();
const stored = (json: string): StoredJson => ({ kind: 'resource', versionId: '1', lastUpdated: new Date(0), json });

async function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'swb-readcache-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a cached version is served under its mark and write count only, and dropped once either moved', () => {
  const cache = new SqliteReadCache(10, 1000);
  cache.set('Patient/a', stored('{"a":1}'), 5, 0);
  assert.equal(cache.get('Patient/a', 5, 0)?.kind, 'resource');
  assert.equal(cache.get('Patient/a', 6, 0), undefined, 'another connection wrote a Patient');
  assert.equal(cache.size, 0, 'the stale entry is gone');
  cache.set('Patient/a', stored('{"a":1}'), 6, 0);
  assert.equal(cache.get('Patient/a', 6, 1), undefined, 'this store wrote a Patient');
  assert.equal(cache.chars, 0);
});

test('the least recently read go first when the entries or the characters run out; a huge version is not kept', () => {
  const cache = new SqliteReadCache(3, 1000);
  for (const k of ['a', 'b', 'c']) cache.set(k, stored('x'.repeat(10)), 1, 0);
  assert.ok(cache.get('a', 1, 0) !== undefined);
  cache.set('d', stored('x'.repeat(10)), 1, 0);
  assert.equal(cache.size, 3);
  assert.equal(cache.get('b', 1, 0), undefined, 'b was the least recently read');
  assert.ok(cache.get('a', 1, 0) !== undefined && cache.get('c', 1, 0) !== undefined && cache.get('d', 1, 0) !== undefined);
  // Characters: 3 x 90 fit in 300, a fourth pushes the oldest out.
  const small = new SqliteReadCache(100, 300);
  for (const k of ['a', 'b', 'c', 'd']) small.set(k, stored('y'.repeat(25)), 1, 0);
  assert.equal(small.chars, 100);
  small.set('e', stored('z'.repeat(29)), 1, 0);
  small.set('f', stored('z'.repeat(29)), 1, 0);
  assert.ok(small.chars <= 300);
  assert.equal(small.get('huge', 1, 0), undefined);
  small.set('huge', stored('h'.repeat(31)), 1, 0);
  assert.equal(small.get('huge', 1, 0), undefined, 'larger than a tenth of the budget: not kept');
});

test('readJson serves the new version after an update through this store, another connection, or a delete', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'fhir.db');
    const store = openSqliteResourceStore({ path, indexer });
    const other = openSqliteResourceStore({ path, indexer });
    try {
      const patient: FhirResource = { resourceType: 'Patient', id: 'p1', gender: 'female' };
      await store.update(patient);
      const first = await store.readJson('Patient', 'p1');
      assert.equal(first?.kind === 'resource' && first.versionId, '1');
      assert.equal(store.readCacheSize, 1);
      // Cached now; a write of another type leaves it, and it is still the same version.
      await store.create({ resourceType: 'Observation', status: 'final', code: { text: 'x' } });
      assert.equal((await store.readJson('Patient', 'p1'))?.versionId, '1');
      // Written by another connection to the same file (another process would look the same).
      await other.update({ ...patient, gender: 'male' });
      const second = await store.readJson('Patient', 'p1');
      assert.equal(second?.versionId, '2');
      assert.ok(second?.kind === 'resource' && (JSON.parse(second.json) as { gender?: string }).gender === 'male');
      // Written through this store.
      await store.update({ ...patient, gender: 'other' });
      const third = await store.readJson('Patient', 'p1');
      assert.ok(third?.kind === 'resource' && third.versionId === '3' && (JSON.parse(third.json) as { gender?: string }).gender === 'other');
      // Deleted by the other connection: a tombstone, not the cached text.
      await other.delete('Patient', 'p1');
      assert.equal((await store.readJson('Patient', 'p1'))?.kind, 'deleted');
      // A write rolled back in a transaction of this store drops the cache too (never serves a stale version).
      await store.update(patient);
      await store.readJson('Patient', 'p1');
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.update({ ...patient, gender: 'unknown' });
          throw new Error('abandon');
        }),
      );
      const after = await store.readJson('Patient', 'p1');
      assert.ok(after?.kind === 'resource' && (JSON.parse(after.json) as { gender?: string }).gender === 'female');
    } finally {
      await other.close();
      await store.close();
    }
  });
});

test('readJson alsoMark is writeMark of that type, taken with the read, and moves with that type only', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'fhir.db');
    const store = openSqliteResourceStore({ path, indexer });
    const other = openSqliteResourceStore({ path, indexer });
    try {
      await store.update({ resourceType: 'Patient', id: 'p1' });
      const a = await store.readJson('Patient', 'p1', { alsoMark: 'Consent' });
      assert.equal(a?.alsoMark, await store.writeMark('Consent'));
      await other.create({ resourceType: 'Consent', status: 'active', patient: { reference: 'Patient/p1' } });
      const b = await store.readJson('Patient', 'p1', { alsoMark: 'Consent' });
      assert.notEqual(b?.alsoMark, a?.alsoMark, 'a Consent written by another connection moves it');
      assert.equal(b?.alsoMark, await store.writeMark('Consent'));
      await store.create({ resourceType: 'Consent', status: 'active', patient: { reference: 'Patient/p1' } });
      const c = await store.readJson('Patient', 'p1', { alsoMark: 'Consent' });
      assert.notEqual(c?.alsoMark, b?.alsoMark, 'and one written through this store');
      assert.equal((await store.readJson('Patient', 'p1'))?.alsoMark, undefined, 'not asked, not given');
    } finally {
      await other.close();
      await store.close();
    }
  });
});
