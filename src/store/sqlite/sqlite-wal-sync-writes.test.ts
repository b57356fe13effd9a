import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import Database from 'better-sqlite3';
import { isSwitchboardError } from '../../core/errors.ts';
import type { NewProposal } from '../../core/ports/proposal-store.ts';
import { newProposalFixture } from '../proposal-store-conformance.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { fhirDatabasePath, openSqliteStore, type SqliteStore } from './open-sqlite-store.ts';
import { eio, holdSyncs, realFdatasync, settlesSoon } from './sqlite-wal-sync-test-support.ts';

// The proposal store (write-back ledger and states) and the FHIR resource store commit with NORMAL
// and answer after an fdatasync of the WAL on the thread pool (sqlite-wal-sync.ts), as ingest does:
// nothing may be answered before its commit is on disk, and a failed sync refuses the write.

afterEach(() => {
  fs.fdatasync = realFdatasync;
});

const proposal = (key: string): NewProposal => newProposalFixture({ ehr: 'generic-sim', idempotencyKey: key, correlationId: `corr-${key}`, state: 'approved' });

async function withStore(body: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-wal-writes-'));
  const path = join(dir, 'switchboard.db');
  const store = await openSqliteStore({ path, resourceIndexer: new FhirSearchIndexer() });
  try {
    await body(store, path);
  } finally {
    fs.fdatasync = realFdatasync;
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const count = (path: string, sql: string): number => {
  const reader = new Database(path, { readonly: true });
  try {
    return Number(reader.prepare(sql).pluck().get());
  } finally {
    reader.close();
  }
};

test('proposal writes and ledger entries are answered only after a WAL sync that started after their commit', async () => {
  await withStore(async (store, path) => {
    const first = await store.proposals.create(proposal('k-0')); // the WAL exists
    const syncs = holdSyncs();
    const create = store.proposals.create(proposal('k-1'));
    const begin = store.proposals.ledger.begin({ proposalId: first.proposal.id, attempt: 1, ehr: 'generic-sim', idempotencyKey: first.proposal.id, request: 'POST Observation' });
    assert.equal(await settlesSoon(Promise.race([create, begin])), false, 'nothing is answered while the sync is held');
    assert.equal(syncs.started, 1, 'one commit, one sync');
    assert.equal(count(path, 'SELECT count(*) FROM proposals'), 2, 'committed: another connection reads it');
    syncs.releaseAll();
    assert.equal((await create).kind, 'created');
    await begin;
  });
});

test('a failed WAL sync refuses the proposal writes of its commit with a store error', async () => {
  await withStore(async (store) => {
    await store.proposals.create(proposal('k-0'));
    const syncs = holdSyncs();
    const create = store.proposals.create(proposal('k-1'));
    await settlesSoon(create);
    syncs.releaseAll(eio());
    await assert.rejects(create, (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_UNAVAILABLE');
  });
});

test('FHIR store writes and transactions are answered only after the WAL sync; a failed sync refuses the write', async () => {
  await withStore(async (store, path) => {
    const resources = store.resources;
    assert.ok(resources !== undefined);
    const fhirPath = fhirDatabasePath(path);
    await resources.create({ resourceType: 'Patient', id: 'p0' });
    const syncs = holdSyncs();
    const create = resources.create({ resourceType: 'Patient', id: 'p1' });
    assert.equal(await settlesSoon(create), false, 'a create waits for its sync');
    assert.equal(syncs.started, 1);
    assert.equal(count(fhirPath, "SELECT count(*) FROM fhir_resources WHERE type = 'Patient'"), 2, 'committed before the sync');
    const tx = resources.transaction(async (t) => {
      await t.create({ resourceType: 'Patient', id: 'p2' });
      await t.create({ resourceType: 'Patient', id: 'p3' });
      return 'done';
    });
    assert.equal(await settlesSoon(tx), false, 'a transaction waits for a sync that started after its commit');
    assert.equal(count(fhirPath, "SELECT count(*) FROM fhir_resources WHERE type = 'Patient'"), 4, 'the transaction committed');
    syncs.releaseAll(); // the create's sync; the transaction needs the next one
    assert.equal((await create).outcome, 'created');
    assert.equal(await settlesSoon(tx), false, 'the first sync started before the transaction committed');
    syncs.releaseAll();
    assert.equal(await tx, 'done');
    // A failed sync refuses the write it covers.
    const failing = resources.create({ resourceType: 'Patient', id: 'p4' });
    await settlesSoon(failing);
    syncs.releaseAll(eio());
    await assert.rejects(failing, (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_UNAVAILABLE');
  });
});
