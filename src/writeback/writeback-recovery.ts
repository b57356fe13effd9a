/**
 * Crash recovery at start (invariant 2: the ledger decides). A proposal left in `committing` was
 * being written when the process died. Its latest ledger entry tells what is known:
 *  - no entry for this attempt: the request never left (the entry is written before it) -> retry;
 *  - settled (the crash came between settle and transition): finish the transition it records;
 *  - open: the request may have reached the EHR. Where repeating it cannot write twice (a
 *    conditional create on an EHR that honours If-None-Exist, an update or patch with If-Match)
 *    -> retry; otherwise -> unknown, for a person to look in the EHR. Never a blind retry.
 * "Retry" is the transition committing -> retrying, due now (the state machine has no
 * committing -> approved; retrying -> committing is the worker's way back in).
 *
 * Run before the commit worker starts, by the one process that writes back for these proposals
 * (docs/writeback.md "Crash recovery"): with several engine processes on one database, an open
 * entry of a live process would look the same as a dead one's.
 */
import type { Proposal } from '../core/ports/proposal-store.ts';
import { retryIsSafe, targetOf } from './commit-worker.ts';
import type { WritebackContext } from './writeback-context.ts';

export interface RecoveryReport {
  readonly retried: readonly string[];
  readonly unknown: readonly string[];
  readonly committed: readonly string[];
}

async function allCommitting(ctx: WritebackContext): Promise<Proposal[]> {
  const out: Proposal[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.proposals.list({ states: ['committing'], limit: 200, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

export async function recoverInFlight(ctx: WritebackContext): Promise<RecoveryReport> {
  const retried: string[] = [];
  const unknown: string[] = [];
  const committed: string[] = [];
  for (const p of await allCommitting(ctx)) {
    const entries = await ctx.proposals.ledger.forProposal(p.id);
    const last = entries.at(-1);
    const at = ctx.clock.now();
    const retry = async (reason: string, detail: Record<string, unknown>): Promise<void> => {
      const r = await ctx.proposals.transition(p.id, { from: 'committing', to: 'retrying', actor: 'engine', reason, detail: { recovery: true, ...detail }, set: { nextAttemptAt: at }, at });
      if (r.kind === 'ok') retried.push(p.id);
    };
    const toUnknown = async (reason: string, detail: Record<string, unknown>): Promise<void> => {
      const r = await ctx.proposals.transition(p.id, { from: 'committing', to: 'unknown', actor: 'engine', reason, detail: { recovery: true, class: 'ambiguous', ...detail }, at });
      if (r.kind === 'ok') unknown.push(p.id);
    };
    if (last === undefined || last.attempt < p.attempts) {
      await retry('the write never left (no ledger entry for this attempt)', {});
      continue;
    }
    switch (last.outcome) {
      case 'applied': {
        const r = await ctx.proposals.transition(p.id, { from: 'committing', to: 'committed', actor: 'engine', reason: 'the ledger records the write as applied', detail: { recovery: true, ledger: last.id, target: targetOf(last.result) ?? null }, ...(last.result === undefined ? {} : { set: { result: last.result } }), at });
        if (r.kind === 'ok') committed.push(p.id);
        break;
      }
      case 'not_applied':
        await retry('the ledger records the write as not applied', { ledger: last.id });
        break;
      case 'unknown':
        await toUnknown('the ledger records the outcome as unknown', { ledger: last.id });
        break;
      case 'open': {
        const adapter = ctx.adapters.get(p.ehr);
        if (adapter !== undefined && retryIsSafe(p, adapter)) {
          await ctx.proposals.ledger.settle(last.id, { outcome: 'unknown', response: { message: 'the process stopped during the write; retried safely (conditional create or If-Match)' }, at });
          await retry('the process stopped during the write; a repeat cannot apply it twice', { ledger: last.id });
        } else {
          await ctx.proposals.ledger.settle(last.id, { outcome: 'unknown', response: { message: 'the process stopped during the write' }, at });
          await toUnknown('the process stopped during the write; the EHR may have applied it', { ledger: last.id, code: 'SWB_ERR_WRITEBACK_INTERRUPTED' });
        }
        break;
      }
    }
  }
  if (retried.length + unknown.length + committed.length > 0) ctx.logger.warn({ retried: retried.length, unknown: unknown.length, committed: committed.length }, 'write-back recovery after an interrupted run');
  return { retried, unknown, committed };
}
