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
 * Several engine processes may share one store (PostgreSQL; ARCHITECTURE.md "Storage"), so an
 * open entry alone cannot tell a live process's write in flight from a dead one's. A claim carries
 * a lease that its owner renews while the write is in flight; recovery takes only a `committing`
 * proposal whose lease has expired, and takes the lease over (a compare-and-set) before it decides,
 * so two recovering processes never both act on one. It runs at start and periodically.
 */
import type { Proposal } from '../core/ports/proposal-store.ts';
import { audit, retryIsSafe, targetOf } from './commit-worker.ts';
import { writeAuditEvent } from './writeback-audit.ts';
import { effectiveChange, type WritebackContext } from './writeback-context.ts';

export interface RecoveryReport {
  readonly retried: readonly string[];
  readonly unknown: readonly string[];
  readonly committed: readonly string[];
}

async function expiredClaims(ctx: WritebackContext, now: Date): Promise<Proposal[]> {
  const out: Proposal[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.proposals.list({ states: ['committing'], leaseExpiredBefore: now, order: 'oldest', limit: 200, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

export async function recoverInFlight(ctx: WritebackContext): Promise<RecoveryReport> {
  const retried: string[] = [];
  const unknown: string[] = [];
  const committed: string[] = [];
  for (const p of await expiredClaims(ctx, ctx.clock.now())) {
    // This instance's own claim is a write in flight here (the owner name is new per instance), even
    // if a stalled event loop let its lease run out: never recovered from under itself.
    if (p.leaseOwner === ctx.owner) continue;
    const at = ctx.clock.now();
    // Take the claim over first: if its owner renewed in the meantime, or another process took it,
    // it is not ours to decide.
    const held = await ctx.proposals.renewLease(p.id, { owner: ctx.owner, until: new Date(at.getTime() + ctx.commit.leaseMs), now: at, takeOverExpired: true });
    if (!held) continue;
    const entries = await ctx.proposals.ledger.forProposal(p.id);
    const last = entries.at(-1);
    const mine = { from: 'committing' as const, actor: 'engine', leaseOwner: ctx.owner, at };
    const settleOpen = last?.outcome === 'open' ? last : undefined;
    const retry = async (reason: string, detail: Record<string, unknown>, response?: Record<string, unknown>): Promise<void> => {
      const r = await ctx.proposals.transition(p.id, {
        ...mine,
        to: 'retrying',
        reason,
        detail: { recovery: true, ...detail },
        set: { nextAttemptAt: at },
        ...(settleOpen === undefined || response === undefined ? {} : { settle: { entryId: settleOpen.id, outcome: 'unknown' as const, response } }),
      });
      if (r.kind === 'ok') retried.push(p.id);
    };
    const toUnknown = async (reason: string, detail: Record<string, unknown>, response?: Record<string, unknown>): Promise<void> => {
      const r = await ctx.proposals.transition(p.id, {
        ...mine,
        to: 'unknown',
        reason,
        detail: { recovery: true, class: 'ambiguous', ...detail },
        ...(settleOpen === undefined || response === undefined ? {} : { settle: { entryId: settleOpen.id, outcome: 'unknown' as const, response } }),
      });
      if (r.kind !== 'ok') return;
      unknown.push(p.id);
      // Invariant 5: an attempt that may have reached the EHR leaves an AuditEvent, as the worker's
      // ambiguous outcome does (the worker died before it could write one).
      const code = typeof detail['code'] === 'string' ? detail['code'] : 'SWB_ERR_WRITEBACK_INTERRUPTED';
      await audit(ctx, writeAuditEvent({ proposal: p, change: effectiveChange(p), outcome: 'ambiguous', code, recorded: at }), p);
    };
    if (last === undefined || last.attempt < p.attempts) {
      await retry('the write never left (no ledger entry for this attempt)', {});
      continue;
    }
    switch (last.outcome) {
      case 'applied': {
        const r = await ctx.proposals.transition(p.id, { ...mine, to: 'committed', reason: 'the ledger records the write as applied', detail: { recovery: true, ledger: last.id, target: targetOf(last.result) ?? null }, ...(last.result === undefined ? {} : { set: { result: last.result } }), at });
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
        // The open entry is settled in the same commit as the move.
        if (adapter !== undefined && retryIsSafe(p, adapter)) {
          await retry('the process stopped during the write; a repeat cannot apply it twice', { ledger: last.id }, { message: 'the process stopped during the write; retried safely (conditional create or If-Match)' });
        } else {
          await toUnknown('the process stopped during the write; the EHR may have applied it', { ledger: last.id, code: 'SWB_ERR_WRITEBACK_INTERRUPTED' }, { message: 'the process stopped during the write' });
        }
        break;
      }
    }
  }
  if (retried.length + unknown.length + committed.length > 0) ctx.logger.warn({ retried: retried.length, unknown: unknown.length, committed: committed.length }, 'write-back recovery after an interrupted run');
  return { retried, unknown, committed };
}
