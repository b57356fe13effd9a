/**
 * Review and operator actions on a proposal (issue 6 "Review", "Reconciliation"): the reviewer's
 * view (the proposed content, the EHR's current copy read live, a field-level diff), approve
 * (optionally edited: the edit recorded as a field diff and re-validated by policy), reject, sign;
 * and the operator's retry, resolve and close of what failed, is unknown, conflicted or drifted.
 *
 * Every action is a compare-and-set transition (ProposalStore.transition): a reviewer and the
 * commit worker, or two reviewers, can never both move one proposal.
 */
import { z } from 'zod';
import { SwitchboardError } from '../core/errors.ts';
import type { Proposal, ProposalActor, ProposalEvent, ProposalState, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { enforceUnsigned, isAiActor } from './ai-content.ts';
import { diffResources, threeWayDiff, type FieldChange, type ThreeWayChange } from './field-diff.ts';
import { applyJsonPatch } from '../fhir/json-patch.ts';
import { pinBase, readCurrent } from './ehr-reads.ts';
import { authorizeAction, evaluatePolicy } from './policy.ts';
import { assertTransition } from './proposal-transitions.ts';
import { checkChange, consentFor, parseOrBad, prepareChange, ProposedChangeSchema } from './proposal-intake.ts';
import { eventActor } from '../core/ports/proposal-store.ts';
import { actorDetail, changeResourceType, effectiveChange, latestEventTo, requireProposal, type WritebackContext } from './writeback-context.ts';

export interface ReviewView {
  readonly proposal: Proposal;
  /** The EHR's copy the change would replace (update, patch), read live; null for a create or an HL7 message. */
  readonly current: FhirResource | null;
  readonly currentVersion: string | null;
  /** Set when the live read failed (the review still shows the proposal). */
  readonly readError: string | null;
  readonly diff: readonly FieldChange[];
  readonly ai: { readonly model: string; readonly version: string } | null;
}

/** What the change would make of `current` (update: the resource; patch: current patched). */
export function proposedAfter(change: ProposedChange, current: FhirResource | undefined): FhirResource | undefined {
  switch (change.kind) {
    case 'create':
      return change.resource;
    case 'update':
      return change.resource;
    case 'patch':
      return current === undefined ? undefined : applyJsonPatch(current, change.patch);
    case 'hl7v2':
      return undefined;
  }
}

export async function reviewProposal(ctx: WritebackContext, id: string): Promise<ReviewView> {
  const proposal = await requireProposal(ctx.proposals, id);
  const change = effectiveChange(proposal);
  const live = await readCurrent(ctx.adapters.get(proposal.ehr), change);
  let diff: FieldChange[] = [];
  if (change.kind === 'create') diff = diffResources({}, change.resource);
  else if (live.resource !== undefined) {
    const after = proposedAfter(change, live.resource);
    if (after !== undefined) diff = diffResources(live.resource, after);
  }
  const a = proposal.actor;
  return {
    proposal,
    current: live.resource ?? null,
    currentVersion: live.versionId ?? null,
    readError: live.error ?? null,
    diff,
    ai: isAiActor(a) ? { model: a.model ?? 'unknown', version: a.modelVersion ?? 'unknown' } : null,
  };
}

function requireState(p: Proposal, action: string, states: readonly ProposalState[]): void {
  if (!states.includes(p.state)) throw new SwitchboardError('SWB_ERR_WRITEBACK_NOT_REVIEWABLE', { id: p.id, state: p.state, action, expected: states.join(' or ') });
}

function authorize(ctx: WritebackContext, p: Proposal, action: 'approve' | 'sign' | 'reject' | 'edit', actor: ProposalActor, change: ProposedChange = effectiveChange(p)): void {
  const resourceType = changeResourceType(change);
  const r = authorizeAction(ctx.policy, { action, actor, resourceType, tenant: p.tenant, ehr: p.ehr });
  if (!r.allowed) throw new SwitchboardError('SWB_ERR_WRITEBACK_ACTOR_FORBIDDEN', { action, resourceType, reason: r.reason });
}

/** One CAS transition; a lost race answers with the state the proposal is in now. */
async function move(ctx: WritebackContext, p: Proposal, action: string, to: ProposalState, input: { actor: ProposalActor; reason?: string; detail?: Record<string, unknown>; set?: Parameters<WritebackContext['proposals']['transition']>[1]['set'] }): Promise<Proposal> {
  assertTransition(p.state, to);
  const r = await ctx.proposals.transition(p.id, {
    from: p.state,
    to,
    actor: eventActor(input.actor),
    ...(input.reason === undefined ? {} : { reason: input.reason }),
    detail: { by: actorDetail(input.actor), ...input.detail },
    ...(input.set === undefined ? {} : { set: input.set }),
    at: ctx.clock.now(),
  });
  if (r.kind === 'not_found') throw new SwitchboardError('SWB_ERR_WRITEBACK_NOT_FOUND', { id: p.id });
  if (r.kind === 'stale') throw new SwitchboardError('SWB_ERR_WRITEBACK_NOT_REVIEWABLE', { id: p.id, state: r.current.state, action, expected: p.state });
  if (to === 'approved') ctx.wake();
  return r.proposal;
}

/** What an edited change may differ in: its content, never its kind or target. */
function checkEdit(original: ProposedChange, edited: ProposedChange): void {
  const same =
    original.kind === edited.kind &&
    changeResourceType(original) === changeResourceType(edited) &&
    ((original.kind !== 'update' && original.kind !== 'patch') || (edited.kind !== 'create' && edited.kind !== 'hl7v2' && original.id === edited.id));
  if (!same) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'change', reason: 'an edit may change the content, not the kind of change or its target' });
}

/** The edit as a field diff (for the event), comparing like with like. */
function editDiff(original: ProposedChange, edited: ProposedChange): FieldChange[] {
  if (original.kind === 'create' && edited.kind === 'create') return diffResources(original.resource, edited.resource);
  if (original.kind === 'update' && edited.kind === 'update') return diffResources(original.resource, edited.resource);
  if (original.kind === 'patch' && edited.kind === 'patch') return diffResources({ patch: original.patch }, { patch: edited.patch });
  if (original.kind === 'hl7v2' && edited.kind === 'hl7v2') return diffResources({ message: original.message }, { message: edited.message });
  return [];
}

/** An edited change: same kind and target, AI label kept, unsigned, and valid under policy. */
async function editedChange(ctx: WritebackContext, p: Proposal, raw: unknown): Promise<{ change: ProposedChange; diff: FieldChange[] }> {
  const original = effectiveChange(p);
  const edited = prepareChange(checkChange(parseOrBad(ProposedChangeSchema, raw, 'change') as ProposedChange), p.actor);
  checkEdit(original, edited);
  const consent = await consentFor(ctx, p.patient);
  const decision = evaluatePolicy(ctx.policy, { tenant: p.tenant, ehr: p.ehr, patient: p.patient, change: edited, actor: p.actor, purposeOfUse: p.purposeOfUse, consent });
  if (decision.decision === 'deny') {
    const reason = decision.violations.length > 0 ? decision.violations.map((v) => `${v.path}: ${v.message}`).join('; ') : decision.reasons.join('; ');
    throw new SwitchboardError('SWB_ERR_WRITEBACK_POLICY_DENIED', { rule: decision.rule, reason: reason || 'denied' });
  }
  return { change: edited, diff: editDiff(original, edited) };
}

const ApproveSchema = z.strictObject({ change: z.unknown().optional(), comment: z.string().max(2000).optional() });
const ReasonSchema = z.strictObject({ reason: z.string().min(1).max(2000) });
const RetrySchema = z.strictObject({ change: z.unknown().optional(), reason: z.string().max(2000).optional() });
const ResolveSchema = z.strictObject({
  outcome: z.enum(['applied', 'not_applied']),
  reason: z.string().min(1).max(2000),
  /** For `applied` on an unknown write: where the reviewer found it in the EHR (`DocumentReference/123`). */
  target: z.string().regex(/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/, 'must be Type/id').optional(),
});

export async function approveProposal(ctx: WritebackContext, id: string, actor: ProposalActor, body: unknown): Promise<Proposal> {
  const input = parseOrBad(ApproveSchema, body ?? {});
  const p = await requireProposal(ctx.proposals, id);
  requireState(p, 'approve', ['pending_review']);
  authorize(ctx, p, 'approve', actor);
  let change = effectiveChange(p);
  let edit: FieldChange[] | undefined;
  if (input.change !== undefined) {
    authorize(ctx, p, 'edit', actor);
    const e = await editedChange(ctx, p, input.change);
    change = e.change;
    edit = e.diff;
  }
  const pinned = await pinBase(ctx, p, change);
  return move(ctx, p, 'approve', 'approved', {
    actor,
    ...(input.comment === undefined ? {} : { reason: input.comment }),
    detail: { ...(edit === undefined ? {} : { edited: true, edit }), ...(pinned.base === undefined ? {} : { base: pinned.base }) },
    set: { approvedChange: pinned.change },
  });
}

/** A clinician signs: the signed form (docStatus final, TXA-17 AU) is what gets committed. */
export async function signProposal(ctx: WritebackContext, id: string, actor: ProposalActor, body: unknown): Promise<Proposal> {
  parseOrBad(z.strictObject({}), body ?? {});
  const p = await requireProposal(ctx.proposals, id);
  requireState(p, 'sign', ['pending_review']);
  authorize(ctx, p, 'sign', actor);
  const pinned = await pinBase(ctx, p, enforceUnsigned(effectiveChange(p), true));
  return move(ctx, p, 'sign', 'approved', { actor, reason: 'signed', detail: { signed: true, ...(pinned.base === undefined ? {} : { base: pinned.base }) }, set: { approvedChange: pinned.change } });
}

export async function rejectProposal(ctx: WritebackContext, id: string, actor: ProposalActor, body: unknown): Promise<Proposal> {
  const { reason } = parseOrBad(ReasonSchema, body ?? {});
  const p = await requireProposal(ctx.proposals, id);
  requireState(p, 'reject', ['pending_review', 'conflict', 'unknown']);
  authorize(ctx, p, 'reject', actor);
  return move(ctx, p, 'reject', 'rejected', { actor, reason });
}

/** Operator: close what failed, is unknown or conflicted, with a reason. */
export async function closeProposal(ctx: WritebackContext, id: string, actor: ProposalActor, body: unknown): Promise<Proposal> {
  const { reason } = parseOrBad(ReasonSchema, body ?? {});
  const p = await requireProposal(ctx.proposals, id);
  requireState(p, 'close', ['failed', 'unknown', 'conflict']);
  return move(ctx, p, 'close', 'rejected', { actor, reason, detail: { closed: true } });
}

/**
 * Operator: retry a failed write (optionally edited: re-validated, and the edit recorded), or send a
 * conflict back to review against the EHR's copy re-read now (its version becomes the If-Match).
 */
export async function retryProposal(ctx: WritebackContext, id: string, actor: ProposalActor, body: unknown): Promise<Proposal> {
  const input = parseOrBad(RetrySchema, body ?? {});
  const p = await requireProposal(ctx.proposals, id);
  requireState(p, 'retry', ['failed', 'conflict']);
  if (p.state === 'conflict') {
    let change = effectiveChange(p);
    if (input.change !== undefined) change = (await editedChange(ctx, p, input.change)).change;
    const live = await readCurrent(ctx.adapters.get(p.ehr), change);
    const rebased = (change.kind === 'update' || change.kind === 'patch') && live.versionId !== undefined ? { ...change, baseVersion: live.versionId } : change;
    const after = proposedAfter(change, live.resource);
    const diff: ThreeWayChange[] = threeWayDiff((await conflictBase(ctx, p)) ?? live.resource, after, live.resource);
    return move(ctx, p, 'retry', 'pending_review', { actor, reason: input.reason ?? 'back to review against the current EHR copy', detail: { diff, currentVersion: live.versionId ?? null }, set: { approvedChange: rebased } });
  }
  let edit: FieldChange[] | undefined;
  let change = effectiveChange(p);
  if (input.change !== undefined) {
    authorize(ctx, p, 'edit', actor);
    const e = await editedChange(ctx, p, input.change);
    change = e.change;
    edit = e.diff;
  }
  return move(ctx, p, 'retry', 'approved', {
    actor,
    reason: input.reason ?? 'retry',
    detail: { retry: true, ...(edit === undefined ? {} : { edited: true, edit }) },
    set: { approvedChange: change, attempts: 0, nextAttemptAt: null },
  });
}

/** The base of a three-way diff: the EHR copy the approver saw (kept in the approve event). */
export async function conflictBase(ctx: WritebackContext, p: Proposal, events?: readonly ProposalEvent[]): Promise<unknown> {
  const all = events ?? (await ctx.proposals.events(p.id));
  return latestEventTo(all, ['approved'])?.detail?.['base'];
}

/**
 * Operator or reviewer: settle an `unknown` write after looking in the EHR (applied -> committed,
 * not applied -> approved for another attempt), or accept a drifted write's EHR copy (applied ->
 * verified).
 */
export async function resolveProposal(ctx: WritebackContext, id: string, actor: ProposalActor, body: unknown, afterCommit?: (p: Proposal) => Promise<void>): Promise<Proposal> {
  const input = parseOrBad(ResolveSchema, body ?? {});
  const p = await requireProposal(ctx.proposals, id);
  requireState(p, 'resolve', ['unknown', 'drifted']);
  if (p.state === 'drifted') {
    if (input.outcome !== 'applied') throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'outcome', reason: 'must be applied for a drifted write (accept the EHR copy)' });
    return move(ctx, p, 'resolve', 'verified', { actor, reason: input.reason, detail: { accepted: 'ehr-copy' } });
  }
  if (input.outcome === 'not_applied') {
    return move(ctx, p, 'resolve', 'approved', { actor, reason: input.reason, detail: { resolved: 'not_applied' }, set: { attempts: 0, nextAttemptAt: null } });
  }
  const [resourceType, resourceId] = input.target?.split('/') ?? [];
  const result = { at: ctx.clock.now(), ...(resourceType === undefined ? {} : { resourceType }), ...(resourceId === undefined ? {} : { id: resourceId }) };
  const moved = await move(ctx, p, 'resolve', 'committed', { actor, reason: input.reason, detail: { resolved: 'applied', ...(input.target === undefined ? {} : { target: input.target }) }, set: { result } });
  if (afterCommit !== undefined && input.target !== undefined) await afterCommit(moved);
  return moved;
}
