import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runProposalStoreSuite } from '../proposal-store-conformance.ts';
import { openSqliteStore } from './open-sqlite-store.ts';

// Through openSqliteStore, so the suite also proves migration 7 and the wiring: a fresh file per
// test in its own temp directory, with the store's clock under the suite's control.
runProposalStoreSuite('SqliteProposalStore: ProposalStore conformance', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-proposals-'));
  let now = Date.now();
  const store = await openSqliteStore({ path: join(dir, 'switchboard.db'), clock: () => new Date(now) });
  return {
    store: store.proposals,
    setNow: (ms: number) => {
      now = ms;
    },
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('SqliteProposalStore: proposals, events and ledger survive a reopen of the file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-proposals-'));
  const path = join(dir, 'switchboard.db');
  try {
    const first = await openSqliteStore({ path });
    const out = await first.proposals.create({
      tenant: 'default',
      ehr: 'epic-sim',
      patient: 'Patient/pat-1',
      change: { kind: 'hl7v2', message: 'MSH|^~\\&|A' },
      actor: { kind: 'user', id: 'nurse-1' },
      purposeOfUse: 'TREAT',
      idempotencyKey: 'reopen',
      correlationId: 'corr-reopen',
      state: 'approved',
    });
    const moved = await first.proposals.transition(out.proposal.id, { from: 'approved', to: 'committing', actor: 'engine', set: { attempts: 1 } });
    assert.equal(moved.kind, 'ok');
    const entry = await first.proposals.ledger.begin({ proposalId: out.proposal.id, attempt: 1, ehr: 'epic-sim', idempotencyKey: 'k', request: 'MLLP 127.0.0.1:2575' });
    await first.close();

    // A crash in `committing` leaves an open ledger entry for recovery to find.
    const second = await openSqliteStore({ path });
    try {
      assert.equal((await second.proposals.get(out.proposal.id))?.state, 'committing');
      assert.equal((await second.proposals.events(out.proposal.id)).length, 2);
      assert.deepEqual(await second.proposals.ledger.open(), [entry]);
    } finally {
      await second.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
