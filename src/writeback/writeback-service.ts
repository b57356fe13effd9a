/**
 * The write-back service (issue 6; ARCHITECTURE.md "Write-back state machine", invariants 2, 3, 5):
 * the one gate every EHR write passes. Its parts live beside it:
 *  - proposal-intake.ts: validate, authorize, label AI drafts, policy, idempotent create;
 *  - proposal-review.ts: the live review with a field diff; approve (edited), reject, sign; the
 *    operator's retry, resolve and close;
 *  - commit-worker.ts: ledger -> adapter.write -> settle -> state by failure class; Provenance,
 *    AuditEvent, read-back verification;
 *  - writeback-recovery.ts: what a crash left in `committing`, decided by the ledger;
 *  - drift-monitor.ts: reconciliation view, the drift job, the drift report.
 *
 * AuditEvents: built here (writeback-audit.ts, BALP-shaped like src/api/audit-events.ts, which
 * src/writeback may not import) and written into `resources`, or handed to an injected `audit` sink.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { SwitchboardError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Proposal, ProposalActor, ProposalEvent, ProposalQuery, ProposalStore, LedgerEntry } from '../core/ports/proposal-store.ts';
import { PROPOSAL_STATES, type ProposalState } from '../core/ports/proposal-store.ts';
import type { ResourceStore } from '../core/ports/resource-store.ts';
import { afterCommit, CommitWorker, writeRequestFor, type CommitWorkerHooks } from './commit-worker.ts';
import { checkDrift, driftReport, reconciliation, type DriftCheck, type DriftReport, type ReconciliationView } from './drift-monitor.ts';
import type { EhrAdapter } from './ehr/ehr-adapter.ts';
import type { WritebackPolicy } from './policy.ts';
import { propose, type ProposeResult } from './proposal-intake.ts';
import { approveProposal, closeProposal, rejectProposal, resolveProposal, retryProposal, reviewProposal, signProposal, type ReviewView } from './proposal-review.ts';
import { errorCodeOf, requireProposal, type CommitOptions, type WritebackAuditSink, type WritebackClock, type WritebackContext } from './writeback-context.ts';
import { recoverInFlight, type RecoveryReport } from './writeback-recovery.ts';

export interface WritebackServiceOptions {
  readonly proposals: ProposalStore;
  /** Our canonical FHIR store: Provenance and AuditEvent go here; Consent is read from it. */
  readonly resources?: ResourceStore | undefined;
  readonly adapters: ReadonlyMap<string, EhrAdapter>;
  readonly policy: WritebackPolicy;
  readonly logger: Logger;
  /** The tenant of proposals that name none (default `default`). */
  readonly tenant?: string;
  readonly clock?: WritebackClock;
  readonly commit?: Partial<CommitOptions>;
  /** Read every committed write back (default true). */
  readonly verify?: boolean;
  /** Drift job period (ms); 0 or absent: no job (checkDrift() can still be called). */
  readonly driftIntervalMs?: number;
  /** Where AuditEvents go instead of `resources` (e.g. the API's batching audit trail). */
  readonly audit?: WritebackAuditSink;
  readonly hooks?: CommitWorkerHooks;
  /** This process's name as a lease owner (default host:pid:random). */
  readonly owner?: string;
}

export interface ProposalDetail {
  readonly proposal: Proposal;
  readonly events: readonly ProposalEvent[];
  readonly ledger: readonly LedgerEntry[];
}

export interface WritebackService {
  readonly adapters: ReadonlyMap<string, EhrAdapter>;
  propose(body: unknown, actor: ProposalActor): Promise<ProposeResult>;
  list(query: ProposalQuery): ReturnType<ProposalStore['list']>;
  get(id: string): Promise<ProposalDetail>;
  review(id: string): Promise<ReviewView>;
  approve(id: string, actor: ProposalActor, body: unknown): Promise<Proposal>;
  reject(id: string, actor: ProposalActor, body: unknown): Promise<Proposal>;
  sign(id: string, actor: ProposalActor, body: unknown): Promise<Proposal>;
  retry(id: string, actor: ProposalActor, body: unknown): Promise<Proposal>;
  resolve(id: string, actor: ProposalActor, body: unknown): Promise<Proposal>;
  close(id: string, actor: ProposalActor, body: unknown): Promise<Proposal>;
  reconciliation(options?: { ehr?: string }): Promise<ReconciliationView>;
  driftReport(ehr: string, day: string): Promise<DriftReport>;
  checkDrift(options?: { ehr?: string }): Promise<DriftCheck>;
  /** Crash recovery, then the commit worker and the drift job. */
  start(): Promise<RecoveryReport>;
  /** Stops claiming, waits for writes in flight, stops the drift job. Adapters are closed too. */
  stop(options?: { closeAdapters?: boolean }): Promise<void>;
  /** Waits until nothing is approved, due or in flight (tests, the bench). */
  idle(timeoutMs?: number): Promise<void>;
}

export const DEFAULT_COMMIT: CommitOptions = { concurrency: 4, maxAttempts: 5, pollMs: 250, backoff: { initialMs: 1000, maxMs: 60_000 }, leaseMs: 60_000, recoveryIntervalMs: 30_000 };

export function createWritebackService(options: WritebackServiceOptions): WritebackService {
  const commit: CommitOptions = { ...DEFAULT_COMMIT, ...options.commit, backoff: { ...DEFAULT_COMMIT.backoff, ...options.commit?.backoff } };
  const ctx: WritebackContext = {
    proposals: options.proposals,
    resources: options.resources,
    adapters: options.adapters,
    policy: options.policy,
    tenant: options.tenant ?? 'default',
    clock: options.clock ?? { now: () => new Date() },
    logger: options.logger,
    commit,
    // Unique per service instance: two services in one process (tests) are two lease owners.
    owner: options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    verify: options.verify ?? true,
    audit: options.audit,
    // Called only after the worker exists (a proposal approved through this service).
    wake: () => commitWorker.wake(),
  };
  const commitWorker = new CommitWorker(ctx, options.hooks);
  let driftTimer: NodeJS.Timeout | undefined;
  let driftRun: Promise<unknown> = Promise.resolve();
  let recoveryTimer: NodeJS.Timeout | undefined;
  let recoveryRun: Promise<unknown> = Promise.resolve();

  /** Recovery of expired claims, then the follow-up of what the ledger proved applied. */
  const recover = async (): Promise<RecoveryReport> => {
    const report = await recoverInFlight(ctx);
    // Writes the ledger proved applied get their Provenance, AuditEvent and read-back now.
    for (const id of report.committed) {
      const p = await ctx.proposals.get(id);
      if (p !== undefined) await confirmed(p).catch((e: unknown) => ctx.logger.error({ proposal: id, code: errorCodeOf(e) }, 'write-back follow-up after recovery failed'));
    }
    if (report.retried.length > 0) commitWorker.wake();
    return report;
  };

  /** Provenance, AuditEvent and verification of a write a reviewer confirmed (resolve: applied). */
  const confirmed = async (p: Proposal): Promise<void> => {
    const adapter = ctx.adapters.get(p.ehr);
    await afterCommit(ctx, p, adapter === undefined ? undefined : writeRequestFor(p, adapter).change);
  };

  return {
    adapters: options.adapters,
    propose: (body, actor) => propose(ctx, body, actor),
    list: (query) => {
      for (const s of query.states ?? []) if (!PROPOSAL_STATES.includes(s)) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'state', reason: `must be one of ${PROPOSAL_STATES.join(', ')}` });
      return ctx.proposals.list(query);
    },
    async get(id) {
      const proposal = await requireProposal(ctx.proposals, id);
      const [events, ledger] = await Promise.all([ctx.proposals.events(id), ctx.proposals.ledger.forProposal(id)]);
      return { proposal, events, ledger };
    },
    review: (id) => reviewProposal(ctx, id),
    approve: (id, actor, body) => approveProposal(ctx, id, actor, body),
    reject: (id, actor, body) => rejectProposal(ctx, id, actor, body),
    sign: (id, actor, body) => signProposal(ctx, id, actor, body),
    retry: (id, actor, body) => retryProposal(ctx, id, actor, body),
    resolve: (id, actor, body) => resolveProposal(ctx, id, actor, body, confirmed),
    close: (id, actor, body) => closeProposal(ctx, id, actor, body),
    reconciliation: (o) => reconciliation(ctx, o),
    driftReport: (ehr, day) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'day', reason: 'must be a date YYYY-MM-DD' });
      if (!ctx.adapters.has(ehr)) throw new SwitchboardError('SWB_ERR_WRITEBACK_UNKNOWN_EHR', { ehr });
      return driftReport(ctx, ehr, day);
    },
    checkDrift: (o) => checkDrift(ctx, o),
    async start() {
      const report = await recover();
      commitWorker.start();
      // Another process sharing the store may die mid-write at any time: its claims are taken
      // once their leases run out, not only at this process's start.
      if (commit.recoveryIntervalMs > 0) {
        recoveryTimer = setInterval(() => {
          recoveryRun = recoveryRun.then(recover).catch((e: unknown) => ctx.logger.error({ code: errorCodeOf(e) }, 'write-back recovery failed'));
        }, commit.recoveryIntervalMs);
        recoveryTimer.unref();
      }
      const every = options.driftIntervalMs ?? 0;
      if (every > 0) {
        driftTimer = setInterval(() => {
          driftRun = driftRun.then(() => checkDrift(ctx)).catch((e: unknown) => ctx.logger.error({ code: errorCodeOf(e) }, 'write-back drift check failed'));
        }, every);
        driftTimer.unref();
      }
      return report;
    },
    async stop(o = {}) {
      if (driftTimer !== undefined) clearInterval(driftTimer);
      if (recoveryTimer !== undefined) clearInterval(recoveryTimer);
      await recoveryRun;
      await commitWorker.stop();
      await driftRun;
      if (o.closeAdapters !== false) await Promise.allSettled([...ctx.adapters.values()].map((a) => a.close()));
    },
    async idle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      const busy = async (): Promise<boolean> => {
        if (commitWorker.inFlight > 0) return true;
        const approved = await ctx.proposals.list({ states: ['approved', 'committing'] as ProposalState[], limit: 1 });
        if (approved.items.length > 0) return true;
        const due = await ctx.proposals.list({ states: ['retrying'], dueBefore: ctx.clock.now(), limit: 1 });
        return due.items.length > 0;
      };
      while (await busy()) {
        if (Date.now() > deadline) throw new Error('write-back service did not become idle in time');
        commitWorker.wake();
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}

export type { DriftCheck, DriftReport, ProposeResult, RecoveryReport, ReconciliationView, ReviewView };
