/**
 * The commit worker (ARCHITECTURE.md "Write-back state machine", invariants 2, 3, 5): claims
 * `approved` (and due `retrying`) proposals by a compare-and-set transition to `committing`, records
 * the attempt in the write ledger BEFORE the request leaves, writes through the EHR's adapter,
 * settles the ledger, and moves the proposal by the outcome's failure class:
 *  - applied   -> committed, then Provenance + AuditEvent, then read-back verification;
 *  - transient -> retrying (exponential backoff with jitter, at least the EHR's Retry-After), or
 *                 failed after maxAttempts;
 *  - permanent -> failed (payload in the proposal, the EHR's answer in the ledger and the event);
 *  - ambiguous -> unknown: a human decides; NEVER retried automatically;
 *  - conflict  -> conflict, with the three-way diff (base, proposal, current EHR copy).
 */
import type { EhrWriteResult, Proposal, ProposalActor, ProposalTransition, ProposedChange, TransitionOutcome } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { buildProvenance } from './ai-content.ts';
import type { EhrAdapter, EhrWriteOutcome, EhrWriteRequest } from './ehr/ehr-adapter.ts';
import { diffResources, threeWayDiff } from './field-diff.ts';
import { applyJsonPatch } from '../fhir/json-patch.ts';
import { conflictBase, proposedAfter } from './proposal-review.ts';
import { writeAuditEvent } from './writeback-audit.ts';
import { storeWriteRecords } from './write-records.ts';
import { actorFromDetail, effectiveChange, errorCodeOf, type WritebackContext } from './writeback-context.ts';

/** The identifier a conditional create is keyed on (FHIR R4 http.html#ccreate). */
export const PROPOSAL_IDENTIFIER_SYSTEM = 'urn:switchboard:writeback-proposal';

/**
 * The request for one attempt. Where the EHR honours If-None-Exist, the created resource carries
 * the proposal id as an identifier and the create is conditional on it, so a retry after a crash or
 * a lost response cannot duplicate (invariant 2). The same for every attempt: a pure function.
 */
export function writeRequestFor(p: Proposal, adapter: EhrAdapter): EhrWriteRequest {
  const change = effectiveChange(p);
  const base = { idempotencyKey: p.id, correlationId: p.correlationId, ...(isSignedChange(change) ? { signed: true } : {}) };
  if (change.kind !== 'create' || !adapter.capabilities.conditionalCreate) return { ...base, change };
  const identifiers = Array.isArray(change.resource['identifier']) ? (change.resource['identifier'] as unknown[]) : [];
  const has = identifiers.some((i) => i !== null && typeof i === 'object' && (i as Record<string, unknown>)['system'] === PROPOSAL_IDENTIFIER_SYSTEM);
  const resource: FhirResource = has ? change.resource : { ...change.resource, identifier: [...identifiers, { system: PROPOSAL_IDENTIFIER_SYSTEM, value: p.id }] };
  return { ...base, change: { kind: 'create', resource }, ifNoneExist: `identifier=${PROPOSAL_IDENTIFIER_SYSTEM}|${p.id}` };
}

/**
 * Whether the change is in its signed form. Intake and every edit hold changes unsigned
 * (enforceUnsigned(change, false)); only `sign` produces docStatus final/amended or TXA-17 AU/LA,
 * so the form itself tells (HL7 v2.5.1 table 0271 document completion status).
 */
export function isSignedChange(change: ProposedChange): boolean {
  if (change.kind === 'hl7v2') {
    const txa = change.message.split(/\r\n|\r|\n/).find((s) => s.startsWith('TXA'));
    const status = txa?.split(txa.charAt(3))[17]?.split('^')[0];
    return status === 'AU' || status === 'LA';
  }
  const resource = change.kind === 'patch' ? undefined : change.resource;
  return resource?.resourceType === 'DocumentReference' && (resource['docStatus'] === 'final' || resource['docStatus'] === 'amended');
}

/** Whether repeating the attempt cannot apply the change twice (crash recovery decides by this). */
export function retryIsSafe(p: Proposal, adapter: EhrAdapter): boolean {
  const change = effectiveChange(p);
  switch (change.kind) {
    case 'create':
      return adapter.capabilities.conditionalCreate;
    case 'update':
    case 'patch':
      // If-Match: a second application finds the version moved and answers 412/409 (a conflict to review, never a double write).
      return change.baseVersion !== undefined;
    case 'hl7v2':
      return false;
  }
}

/** Exponential backoff with jitter (50-100% of the step), never shorter than the EHR's Retry-After. */
export function backoffMs(attempt: number, options: { initialMs: number; maxMs: number }, retryAfterMs?: number, random: () => number = Math.random): number {
  const step = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(step * (0.5 + random() * 0.5));
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** The approver and the signer, from the approve/sign events (actorDetail in their `by`). */
async function approvals(ctx: WritebackContext, id: string): Promise<{ approver?: ProposalActor; signer?: ProposalActor }> {
  const events = await ctx.proposals.events(id);
  let approver: ProposalActor | undefined;
  let signer: ProposalActor | undefined;
  for (const e of events) {
    if (e.to !== 'approved' || e.actor === 'engine') continue;
    const by = actorFromDetail(e.detail?.['by']);
    if (by === undefined || e.detail?.['retry'] === true || e.detail?.['resolved'] !== undefined) continue;
    approver = by;
    if (e.detail?.['signed'] === true) signer = by;
  }
  return { ...(approver === undefined ? {} : { approver }), ...(signer === undefined ? {} : { signer }) };
}

/** `Type/id` of what landed in the EHR, or the HL7 control id. */
export function targetOf(result: EhrWriteResult | undefined): string | undefined {
  if (result === undefined) return undefined;
  if (result.resourceType !== undefined && result.id !== undefined) return `${result.resourceType}/${result.id}`;
  return result.location;
}

/** Records a write in the audit trail; an audit failure is logged, never fails the write's bookkeeping. */
export async function audit(ctx: WritebackContext, event: FhirResource, proposal: Proposal): Promise<void> {
  try {
    if (ctx.audit !== undefined) await ctx.audit(event);
    else if (ctx.resources !== undefined) await storeWriteRecords(ctx.resources, undefined, event);
  } catch (e) {
    ctx.logger.error({ proposal: proposal.id, correlationId: proposal.correlationId, code: errorCodeOf(e) }, 'write-back AuditEvent not recorded');
  }
}

/**
 * A write's records in our canonical store (ARCHITECTURE.md invariant 5): its Provenance (created
 * once per correlation id, write-records.ts) and its AuditEvent. Stored BEFORE the committed
 * transition, so that no process crash can leave a committed write without them; run again after
 * a recovery or a reviewer's confirmation (the Provenance is then found, not made twice).
 * Returns the Provenance (sent to the EHR too after the transition) and what the later events
 * record (its id in our store).
 */
export async function recordWrite(ctx: WritebackContext, p: Proposal, sent?: ProposedChange): Promise<RecordedWrite> {
  const target = targetOf(p.result);
  const { approver, signer } = await approvals(ctx, p.id);
  const at = ctx.clock.now();
  const details: Record<string, unknown> = {};
  const provenance = target === undefined ? undefined : buildProvenance({ target, proposal: p, ...(approver === undefined ? {} : { approver }), ...(signer === undefined ? {} : { signer }), at });
  const auditEvent = writeAuditEvent({ proposal: p, change: sent ?? effectiveChange(p), outcome: 'applied', ...(target === undefined ? {} : { target }), ...(approver === undefined ? {} : { approver }), recorded: at });
  if (ctx.resources !== undefined) {
    // Provenance and AuditEvent (without an injected audit sink) in one store transaction, shared
    // with the other writes settled in this turn (write-records.ts): one commit for all of them.
    const sink = ctx.audit;
    try {
      const made = (await storeWriteRecords(ctx.resources, provenance, sink === undefined ? auditEvent : undefined)).provenance;
      if (made !== undefined && made.outcome !== 'multiple' && made.resource.id !== undefined) details['provenance'] = `Provenance/${made.resource.id}`;
    } catch (e) {
      ctx.logger.error({ proposal: p.id, correlationId: p.correlationId, code: errorCodeOf(e) }, 'write-back Provenance/AuditEvent not stored');
    }
    if (sink !== undefined) await audit(ctx, auditEvent, p);
  } else await audit(ctx, auditEvent, p);
  return { provenance, details };
}

/** What recordWrite stored: the Provenance built (none without a target) and the event details. */
export interface RecordedWrite {
  readonly provenance: FhirResource | undefined;
  readonly details: Readonly<Record<string, unknown>>;
}

/**
 * After a committed write: its records (unless `recorded` says they were stored before the
 * transition), the Provenance in the EHR where its profile accepts one, then read-back
 * verification. Also used when a reviewer confirms an unknown write and after a recovery.
 */
export async function afterCommit(ctx: WritebackContext, p: Proposal, sent?: ProposedChange, expected?: FhirResource, recorded?: RecordedWrite): Promise<Proposal> {
  const { provenance, details: stored } = recorded ?? (await recordWrite(ctx, p, sent));
  const details: Record<string, unknown> = { ...stored };
  const adapter = ctx.adapters.get(p.ehr);
  if (provenance !== undefined && adapter?.capabilities.provenance === true && adapter.writeProvenance !== undefined) {
    try {
      const r = await adapter.writeProvenance(provenance, p.correlationId);
      details['ehrProvenance'] = r.kind === 'applied' ? (targetOf(r.result) ?? 'applied') : r.kind;
    } catch (e) {
      details['ehrProvenance'] = errorCodeOf(e);
    }
  }
  if (!ctx.verify) return p;
  return verifyWrite(ctx, p, sent ?? effectiveChange(p), details, expected);
}

/**
 * What the EHR's copy must equal: the resource sent (create, update), or, for a patch, the patch
 * applied to `base`, the copy the EHR had when it applied it (read just before the write; RFC 6902
 * ops such as an append `/-` are not idempotent, so applying them to the written copy again would
 * not give what the EHR made). Undefined when it cannot be told.
 */
export function expectedCopy(sent: ProposedChange, base: FhirResource): FhirResource | undefined {
  switch (sent.kind) {
    case 'create':
    case 'update':
      return sent.resource;
    case 'patch':
      try {
        return applyJsonPatch(base, sent.patch);
      } catch {
        return undefined;
      }
    case 'hl7v2':
      return undefined;
  }
}

/** The EHR's current copy before a patch is sent; undefined when it cannot be read. */
async function readBase(adapter: EhrAdapter, resourceType: string, id: string): Promise<FhirResource | undefined> {
  try {
    const read = await adapter.read(resourceType, id);
    return read.kind === 'found' ? read.resource : undefined;
  } catch {
    return undefined;
  }
}

/** Read-back (issue 6 "After commit"): field by field, server-assigned elements ignored. */
export async function verifyWrite(ctx: WritebackContext, p: Proposal, sent: ProposedChange, details: Record<string, unknown> = {}, expectedPatched?: FhirResource): Promise<Proposal> {
  const r = p.result;
  // An HL7 v2 message cannot be read back: it stays committed (the ACK is the proof).
  if (sent.kind === 'hl7v2' || r?.resourceType === undefined || r.id === undefined) return p;
  const adapter = ctx.adapters.get(p.ehr);
  if (adapter === undefined) return p;
  let read;
  try {
    read = await adapter.read(r.resourceType, r.id);
  } catch (e) {
    read = { kind: 'error' as const, code: errorCodeOf(e), message: 'read failed' };
  }
  if (read.kind === 'error') {
    // Not knowing is not drift: it stays committed and the drift job checks it later.
    ctx.logger.warn({ proposal: p.id, correlationId: p.correlationId, code: read.code }, 'write-back read-back failed');
    return p;
  }
  const at = ctx.clock.now();
  if (read.kind !== 'found') {
    const moved = await ctx.proposals.transition(p.id, { from: 'committed', to: 'drifted', actor: 'engine', reason: `read-back: ${read.kind}`, detail: { ...details, phase: 'verify', deleted: true, diff: [] }, at });
    return moved.kind === 'ok' ? moved.proposal : p;
  }
  // A patch without its base (the read before the write failed) cannot be verified field by field.
  const expected = sent.kind === 'patch' ? expectedPatched : expectedCopy(sent, read.resource);
  const diff = expected === undefined ? [] : diffResources(expected, read.resource);
  const versionId = read.versionId ?? read.resource.meta?.versionId;
  const to = diff.length === 0 ? 'verified' : 'drifted';
  const moved = await ctx.proposals.transition(p.id, {
    from: 'committed',
    to,
    actor: 'engine',
    reason: to === 'verified' ? 'read-back equals what was approved' : 'read-back differs from what was approved',
    detail: { ...details, phase: 'verify', versionId: versionId ?? null, diff },
    at,
  });
  return moved.kind === 'ok' ? moved.proposal : p;
}

/**
 * How long free slots wait for more to free up so that claims go in groups (ms): about one commit
 * path on a healthy EHR, so a group forms within it; after that the free slots are used anyway.
 */
const GROUP_WAIT_MS = 25;

export interface CommitWorkerHooks {
  /**
   * Called after each attempt settled (the bench observes it): `commitMs` from the start of the
   * attempt (ledger begin) to the proposal's outcome transition, `totalMs` including Provenance,
   * AuditEvent and the read-back.
   */
  readonly onSettled?: (p: Proposal, outcome: EhrWriteOutcome['kind'] | 'no-adapter', timing: { readonly commitMs: number; readonly totalMs: number }) => void;
}

export class CommitWorker {
  readonly #ctx: WritebackContext;
  readonly #hooks: CommitWorkerHooks;
  readonly #inFlight = new Map<string, Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #claiming: Promise<void> | undefined;
  #again = false;
  /** Since when free slots have waited for a group (performance.now()), and the wake at its end. */
  #groupSince: number | undefined;
  #groupTimer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(ctx: WritebackContext, hooks: CommitWorkerHooks = {}) {
    this.#ctx = ctx;
    this.#hooks = hooks;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#timer = setInterval(() => this.wake(), this.#ctx.commit.pollMs);
    this.#timer.unref();
    this.wake();
  }

  /** Look for work now (a proposal was approved). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#claiming !== undefined) {
      this.#again = true;
      return;
    }
    this.#claiming = this.#claim()
      .catch((e: unknown) => this.#ctx.logger.error({ code: errorCodeOf(e) }, 'write-back claim failed'))
      .finally(() => {
        this.#claiming = undefined;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Stops claiming and waits for the writes in flight to settle. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#groupTimer !== undefined) clearTimeout(this.#groupTimer);
    this.#groupTimer = undefined;
    await this.#claiming;
    await Promise.allSettled([...this.#inFlight.values()]);
  }

  async #claim(): Promise<void> {
    const { proposals, commit } = this.#ctx;
    while (!this.#stopped && this.#inFlight.size < commit.concurrency) {
      const room = commit.concurrency - this.#inFlight.size;
      // Claims in groups: with writes in flight, wait (briefly) until half the slots are free.
      // Proposals claimed together reach the ledger, the settle and the verification together, so
      // a group-committing store writes each step of all of them in one commit (one fsync), where
      // refilling slot by slot staggers them into a commit each. Nothing waits on an idle worker,
      // and never longer than GROUP_WAIT_MS: slow writes holding half the slots do not stall the rest.
      if (this.#inFlight.size > 0 && room < Math.ceil(commit.concurrency / 2)) {
        const now = performance.now();
        this.#groupSince ??= now;
        if (now - this.#groupSince < GROUP_WAIT_MS) {
          this.#groupTimer ??= setTimeout(() => {
            this.#groupTimer = undefined;
            this.wake();
          }, GROUP_WAIT_MS);
          this.#groupTimer.unref();
          return;
        }
      }
      this.#groupSince = undefined;
      const now = this.#ctx.clock.now();
      // Oldest first: what was approved first (and the retry due longest) is written first.
      const approved = await proposals.list({ states: ['approved'], order: 'oldest', limit: room * 2 });
      const due = await proposals.list({ states: ['retrying'], dueBefore: now, order: 'oldest', limit: room * 2 });
      const candidates = [...approved.items, ...due.items].filter((p) => !this.#inFlight.has(p.id));
      if (candidates.length === 0) return;
      if (this.#stopped) return;
      // All the claims at once: a store that group-commits (SQLite) writes them in one commit
      // instead of one fsync each; each is still its own compare-and-set.
      const at = this.#ctx.clock.now();
      const lease = { owner: this.#ctx.owner, until: new Date(at.getTime() + commit.leaseMs) };
      const picked = candidates.slice(0, room);
      const moved = await Promise.allSettled(picked.map((c) => proposals.transition(c.id, { from: c.state, to: 'committing', actor: 'engine', set: { attempts: c.attempts + 1, nextAttemptAt: null, lease }, at })));
      let claimed = 0;
      let failed = false;
      for (const [i, c] of picked.entries()) {
        const settled = moved[i];
        if (settled?.status === 'rejected') {
          failed = true;
          // The others' claims stand and are written; this one stays where it was, or, if its
          // claim did commit, recovery takes it once the lease runs out.
          this.#ctx.logger.error({ proposal: c.id, code: errorCodeOf(settled.reason) }, 'write-back claim failed');
          continue;
        }
        const r = settled?.value;
        // Another worker (or a reviewer) moved it first: the compare-and-set decides.
        if (r?.kind !== 'ok') continue;
        claimed++;
        const run = this.commitOne(r.proposal)
          .then(() => undefined)
          .catch((e: unknown) => this.#ctx.logger.error({ proposal: c.id, code: errorCodeOf(e) }, 'write-back commit failed unexpectedly'))
          .finally(() => {
            this.#inFlight.delete(c.id);
            this.wake();
          });
        this.#inFlight.set(c.id, run);
      }
      // A store error: the next wake or poll tries again (no tight loop). Nothing claimed: all of
      // them were taken by someone else; look again only if more were listed than tried.
      if (failed || (claimed === 0 && candidates.length <= picked.length)) return;
    }
  }

  /** Renews the claim's lease every third of its length until stopped (the write is in flight). */
  #renewWhileInFlight(p: Proposal): { stop(): void } {
    const { proposals, commit, owner, clock, logger } = this.#ctx;
    const timer = setInterval(() => {
      const now = clock.now();
      proposals
        .renewLease(p.id, { owner, until: new Date(now.getTime() + commit.leaseMs), now })
        .then((held) => {
          if (!held) logger.warn({ proposal: p.id, correlationId: p.correlationId }, 'write-back lease not renewed: the claim was taken over');
        })
        .catch((e: unknown) => logger.error({ proposal: p.id, code: errorCodeOf(e) }, 'write-back lease renewal failed'));
    }, Math.max(10, Math.floor(commit.leaseMs / 3)));
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }

  /** One attempt of a proposal already moved to `committing`. */
  async commitOne(p: Proposal): Promise<Proposal> {
    const ctx = this.#ctx;
    const { proposals } = ctx;
    const t0 = performance.now();
    let committedAt = t0;
    const adapter = ctx.adapters.get(p.ehr);
    if (adapter === undefined) {
      const r = await proposals.transition(p.id, { from: 'committing', to: 'failed', actor: 'engine', reason: `no EHR named ${p.ehr} is configured`, detail: { code: 'SWB_ERR_WRITEBACK_UNKNOWN_EHR' }, at: ctx.clock.now() });
      this.#hooks.onSettled?.(p, 'no-adapter', { commitMs: performance.now() - t0, totalMs: performance.now() - t0 });
      return r.kind === 'ok' ? r.proposal : p;
    }
    const request = writeRequestFor(p, adapter);
    // A patch is verified against the base the EHR had when it applied it: read now, before the
    // write (an append `/-` applied again to the written copy would append twice and read as drift).
    const base = ctx.verify && request.change.kind === 'patch' ? await readBase(adapter, request.change.resourceType, request.change.id) : undefined;
    // The ledger first (invariant 2): after a crash, an open entry says the request may have left.
    const entry = await proposals.ledger.begin({ proposalId: p.id, attempt: p.attempts, ehr: p.ehr, idempotencyKey: request.idempotencyKey, request: adapter.describe(request.change), at: ctx.clock.now() });
    let outcome: EhrWriteOutcome;
    const renewing = this.#renewWhileInFlight(p);
    try {
      outcome = await adapter.write(request);
    } catch (e) {
      // An adapter classifies what the EHR answered; a throw means we cannot tell whether it left.
      outcome = { kind: 'ambiguous', code: errorCodeOf(e), response: { message: 'the adapter failed during the write' } };
    } finally {
      renewing.stop();
    }
    const response = { ...outcome.response } as Record<string, unknown>;
    const at = ctx.clock.now();
    const settle = {
      entryId: entry.id,
      outcome: outcome.kind === 'applied' ? ('applied' as const) : outcome.kind === 'ambiguous' ? ('unknown' as const) : ('not_applied' as const),
      response,
      ...(outcome.kind === 'applied' ? { result: outcome.result } : {}),
    };
    // The outcome's transition settles the ledger entry in the same commit, and only while this
    // process still holds the claim (a recovery elsewhere may have taken an expired lease).
    const move = async (t: Omit<ProposalTransition, 'from' | 'actor' | 'settle' | 'leaseOwner' | 'at'>): Promise<TransitionOutcome> => {
      const r = await proposals.transition(p.id, { ...t, from: 'committing', actor: 'engine', settle, leaseOwner: ctx.owner, at });
      if (r.kind !== 'ok') {
        // The claim was lost: the EHR's answer is still evidence for whoever holds it now.
        await proposals.ledger.settle(entry.id, { outcome: settle.outcome, response, ...(settle.result === undefined ? {} : { result: settle.result }), at }).catch(() => undefined);
        ctx.logger.warn({ proposal: p.id, correlationId: p.correlationId, state: r.kind === 'stale' ? r.current.state : r.kind }, 'write-back claim lost during the write');
      }
      return r;
    };
    const log = { proposal: p.id, correlationId: p.correlationId, ehr: p.ehr, attempt: p.attempts, outcome: outcome.kind };
    let next: Proposal = p;
    switch (outcome.kind) {
      case 'applied': {
        const expected = base === undefined || request.change.kind !== 'patch' ? undefined : expectedCopy(request.change, base);
        // Invariant 5: the records first, then the transition that reports the write committed.
        const recorded = await recordWrite(ctx, { ...p, result: outcome.result }, request.change);
        const r = await move({
          to: 'committed',
          reason: `written to ${p.ehr}`,
          detail: {
            ledger: entry.id,
            target: targetOf(outcome.result) ?? null,
            versionId: outcome.result.versionId ?? null,
            status: outcome.response.status ?? null,
            // A patch's expected copy (its base patched), for read-back and the drift job.
            ...(expected === undefined ? {} : { expected }),
          },
          set: { result: outcome.result },
        });
        committedAt = performance.now();
        ctx.logger.info({ ...log, target: targetOf(outcome.result) }, 'write-back committed');
        if (r.kind === 'ok') next = await afterCommit(ctx, r.proposal, request.change, expected, recorded);
        break;
      }
      case 'transient': {
        const exhausted = p.attempts >= ctx.commit.maxAttempts;
        const delay = backoffMs(p.attempts, ctx.commit.backoff, outcome.retryAfterMs);
        const r = exhausted
          ? await move({ to: 'failed', reason: `gave up after ${p.attempts} attempt(s): ${outcome.code}`, detail: { code: outcome.code, class: 'transient', ledger: entry.id, response } })
          : await move({ to: 'retrying', reason: outcome.code, detail: { code: outcome.code, ledger: entry.id, delayMs: delay, response }, set: { nextAttemptAt: new Date(at.getTime() + delay) } });
        if (r.kind === 'ok') next = r.proposal;
        if (exhausted) await audit(ctx, writeAuditEvent({ proposal: p, change: request.change, outcome: 'transient', code: outcome.code, recorded: at }), p);
        ctx.logger.warn({ ...log, code: outcome.code, delayMs: exhausted ? null : delay }, exhausted ? 'write-back failed' : 'write-back will be retried');
        break;
      }
      case 'permanent': {
        const r = await move({ to: 'failed', reason: outcome.code, detail: { code: outcome.code, class: 'permanent', ledger: entry.id, response } });
        if (r.kind === 'ok') next = r.proposal;
        await audit(ctx, writeAuditEvent({ proposal: p, change: request.change, outcome: 'permanent', code: outcome.code, recorded: at }), p);
        ctx.logger.warn({ ...log, code: outcome.code }, 'write-back failed');
        break;
      }
      case 'ambiguous': {
        // The EHR may have applied it: never retried automatically (invariant 2); a human decides.
        const r = await move({ to: 'unknown', reason: outcome.code, detail: { code: outcome.code, class: 'ambiguous', ledger: entry.id, response } });
        if (r.kind === 'ok') next = r.proposal;
        await audit(ctx, writeAuditEvent({ proposal: p, change: request.change, outcome: 'ambiguous', code: outcome.code, recorded: at }), p);
        ctx.logger.warn({ ...log, code: outcome.code }, 'write-back outcome unknown; needs review');
        break;
      }
      case 'conflict': {
        let current = outcome.current;
        if (current === undefined && (request.change.kind === 'update' || request.change.kind === 'patch')) {
          const read = await adapter.read(request.change.resourceType, request.change.id).catch(() => undefined);
          if (read?.kind === 'found') current = read.resource;
        }
        // Without the copy the approver saw, the current copy stands in as the base: the diff then
        // shows what the proposal would change in it, with no side flagged as conflicting.
        const diff = threeWayDiff((await conflictBase(ctx, p)) ?? current, proposedAfter(request.change, current), current);
        const r = await move({ to: 'conflict', reason: outcome.code, detail: { code: outcome.code, ledger: entry.id, response, diff, currentVersion: current?.meta?.versionId ?? null } });
        if (r.kind === 'ok') next = r.proposal;
        await audit(ctx, writeAuditEvent({ proposal: p, change: request.change, outcome: 'conflict', code: outcome.code, recorded: at }), p);
        ctx.logger.warn({ ...log, code: outcome.code }, 'write-back conflict; back to review with a diff');
        break;
      }
    }
    const end = performance.now();
    this.#hooks.onSettled?.(next, outcome.kind, { commitMs: (outcome.kind === 'applied' ? committedAt : end) - t0, totalMs: end - t0 });
    return next;
  }
}
