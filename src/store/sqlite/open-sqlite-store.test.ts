import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { fhirDatabasePath, openSqliteStore } from './open-sqlite-store.ts';

test('the FHIR store opens in its own file beside the engine database, migrated; identity lives in the engine database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-open-'));
  const path = join(dir, 'switchboard.db');
  assert.equal(fhirDatabasePath(path), join(dir, 'switchboard-fhir.db'));
  const store = await openSqliteStore({ path, resourceIndexer: new FhirSearchIndexer() });
  assert.ok(existsSync(join(dir, 'switchboard-fhir.db')));
  assert.ok(store.resources !== undefined);
  await store.resources.update({ resourceType: 'Patient', id: 'p1', gender: 'female' });
  await store.identity.createUser({ username: 'ana', passwordHash: 'scrypt$x', roles: ['operator'] });
  await store.close();
  const again = await openSqliteStore({ path, resourceIndexer: new FhirSearchIndexer() });
  const p = await again.resources?.read('Patient', 'p1');
  assert.equal(p?.kind === 'resource' ? p.versionId : undefined, '1');
  assert.equal((await again.identity.getUserByUsername('ana'))?.roles[0], 'operator');
  await again.close();
  // Without an indexer there is no FHIR store (and no file is made).
  const bare = await openSqliteStore({ path: join(dir, 'other.db') });
  assert.equal(bare.resources, undefined);
  assert.ok(!existsSync(join(dir, 'other-fhir.db')));
  await bare.close();
});
