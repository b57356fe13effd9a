import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { NewProposal } from '../../core/ports/proposal-store.ts';
import { newProposalFixture } from '../proposal-store-conformance.ts';
import { openSqliteStore, type SqliteStore } from './open-sqlite-store.ts';

// The proposal store's group commit (sqlite-proposal-store.ts SqliteProposalWrites): what one turn
// of the event loop issues shares one transaction and one commit, and every promise settles only
// once that commit is on disk, as seen from another connection to the file.

const proposal = (key: string, state: NewProposal['state'] = 'approved'): NewProposal => newProposalFixture({ ehr: 'generic-sim', idempotencyKey: key, correlationId: `corr-${key}`, state });

async function withStore(body: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-proposal-gc-'));
  const path = join(dir, 'switchboard.db');
  const store = await openSqliteStore({ path, busyTimeoutMs: 0 });
  try {
    await body(store, path);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('writes issued in one turn share one commit; each resolves after it, visible to another connection', async () => {
  await withStore(async (store, path) => {
    const made = await Promise.all(Array.from({ length: 8 }, (_, i) => store.proposals.create(proposal(`k-${i}`))));
    const before = store.proposals.flushes;
    const other = new Database(path, { readonly: true });
    try {
      const seen: string[] = [];
      const moves = made.map((m) =>
        store.proposals.transition(m.proposal.id, { from: 'approved', to: 'committing', actor: 'engine', set: { attempts: 1 } }).then((r) => {
          // Settled only after the COMMIT: another connection already reads the new state.
          seen.push(String(other.prepare('SELECT state FROM proposals WHERE id = ?').pluck().get(m.proposal.id)));
          return r;
        }),
      );
      const begins = made.map((m) => store.proposals.ledger.begin({ proposalId: m.proposal.id, attempt: 1, ehr: 'generic-sim', idempotencyKey: m.proposal.id, request: 'POST Observation' }));
      const outs = await Promise.all(moves);
      await Promise.all(begins);
      assert.deepEqual(
        outs.map((o) => o.kind),
        made.map(() => 'ok'),
      );
      assert.deepEqual(seen, made.map(() => 'committing'));
      assert.equal(store.proposals.flushes - before, 1, '16 writes, one commit');
      assert.equal(Number(other.prepare(`SELECT count(*) FROM write_ledger WHERE outcome = 'open'`).pluck().get()), 8);
    } finally {
      other.close();
    }
  });
});

test('a batch the database refuses as a whole (write lock held elsewhere) fails every write in it, and none is kept', async () => {
  await withStore(async (store, path) => {
    const made = await Promise.all([store.proposals.create(proposal('a')), store.proposals.create(proposal('b'))]);
    const other = new Database(path);
    other.pragma('busy_timeout = 0');
    other.exec('BEGIN IMMEDIATE');
    let outs: PromiseSettledResult<unknown>[];
    try {
      outs = await Promise.allSettled([
        ...made.map((m) => store.proposals.transition(m.proposal.id, { from: 'approved', to: 'committing', actor: 'engine' })),
        store.proposals.create(proposal('c')),
      ]);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    for (const o of outs) {
      assert.equal(o.status, 'rejected');
      assert.equal((o as PromiseRejectedResult).reason?.code, 'SWB_ERR_STORE_UNAVAILABLE');
    }
    for (const m of made) assert.equal((await store.proposals.get(m.proposal.id))?.state, 'approved');
    assert.equal((await store.proposals.list({ states: ['approved'] })).items.length, 2);
    // The next batch, with the lock free again, commits.
    const again = await store.proposals.transition(made[0]?.proposal.id ?? '', { from: 'approved', to: 'committing', actor: 'engine' });
    assert.equal(again.kind, 'ok');
  });
});
