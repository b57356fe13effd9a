import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../core/logger.ts';
import type { Proposal, ProposalStore } from '../core/ports/proposal-store.ts';
import { openStore } from '../store/open-store.ts';
import { DEFAULT_POLICY_YAML, parsePolicy } from './policy.ts';
import { recoverInFlight } from './writeback-recovery.ts';
import type { WritebackContext } from './writeback-context.ts';

// Crash recovery's table (docs/writeback.md "Crash recovery") on a real SQLite store: proposals left
// in `committing` as a crash at each step would leave them. The open-ledger cases with a real EHR are
// proven end to end by test/writeback-crash.int.test.ts.

async function committing(proposals: ProposalStore, key: string): Promise<Proposal> {
  const made = await proposals.create({ tenant: 't', ehr: 'nowhere', patient: 'Patient/1', change: { kind: 'hl7v2', message: 'MSH|^~\\&|A|B|C|D|20250101||MDM^T02|1|P|2.5.1' }, actor: { kind: 'app', id: 'x' }, purposeOfUse: 'TREAT', idempotencyKey: key, correlationId: key, state: 'proposed' });
  await proposals.transition(made.proposal.id, { from: 'proposed', to: 'approved', actor: 'engine' });
  const r = await proposals.transition(made.proposal.id, { from: 'approved', to: 'committing', actor: 'engine', set: { attempts: 1 } });
  assert.equal(r.kind, 'ok');
  return r.kind === 'ok' ? r.proposal : made.proposal;
}

test('recovery: no ledger entry -> retrying; settled applied -> committed; settled not_applied -> retrying; unknown or open without a safe retry -> unknown', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'swb-wb-recovery-'));
  const store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  try {
    const p = store.proposals;
    const never = await committing(p, 'never-left');
    const applied = await committing(p, 'applied');
    const refused = await committing(p, 'refused');
    const lost = await committing(p, 'lost');
    const open = await committing(p, 'open');
    const begin = (x: Proposal): ReturnType<ProposalStore['ledger']['begin']> => p.ledger.begin({ proposalId: x.id, attempt: 1, ehr: 'nowhere', idempotencyKey: x.id, request: 'MLLP nowhere' });
    await p.ledger.settle((await begin(applied)).id, { outcome: 'applied', result: { location: 'CTL-1', at: new Date() } });
    await p.ledger.settle((await begin(refused)).id, { outcome: 'not_applied' });
    await p.ledger.settle((await begin(lost)).id, { outcome: 'unknown' });
    await begin(open);

    const audited: Array<Record<string, unknown>> = [];
    const ctx: WritebackContext = {
      proposals: p,
      resources: undefined,
      adapters: new Map(),
      policy: parsePolicy(DEFAULT_POLICY_YAML),
      tenant: 't',
      clock: { now: () => new Date() },
      logger: createLogger({ level: 'silent' }),
      commit: { concurrency: 1, maxAttempts: 1, pollMs: 1000, backoff: { initialMs: 1, maxMs: 1 }, leaseMs: 60_000, recoveryIntervalMs: 0 },
      owner: 'recovery-test',
      verify: false,
      audit: (e) => {
        audited.push(e);
      },
      wake: () => undefined,
    };
    const report = await recoverInFlight(ctx);
    assert.deepEqual([...report.retried].sort(), [never.id, refused.id].sort());
    assert.deepEqual(report.committed, [applied.id]);
    assert.deepEqual([...report.unknown].sort(), [lost.id, open.id].sort());
    const state = async (x: Proposal): Promise<string | undefined> => (await p.get(x.id))?.state;
    assert.equal(await state(never), 'retrying');
    assert.equal(await state(applied), 'committed');
    assert.equal((await p.get(applied.id))?.result?.location, 'CTL-1');
    assert.equal(await state(refused), 'retrying');
    assert.equal(await state(lost), 'unknown');
    assert.equal(await state(open), 'unknown');
    // Each write that may have reached the EHR leaves an AuditEvent (invariant 5), with its correlation id.
    const corr = (e: Record<string, unknown>): string => JSON.stringify(e);
    assert.equal(audited.length, 2);
    assert.ok(audited.some((e) => corr(e).includes(lost.correlationId)) && audited.some((e) => corr(e).includes(open.correlationId)));
    // The open entry is settled: nothing is left open, and a second run finds nothing to do.
    assert.deepEqual(await p.ledger.open(), []);
    const again = await recoverInFlight(ctx);
    assert.equal(again.retried.length + again.unknown.length + again.committed.length, 0);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
