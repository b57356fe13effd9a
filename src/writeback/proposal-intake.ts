/**
 * Proposal intake (issue 6 "Proposals"): validate, authorize the proposer, label and hold AI drafts
 * unsigned, decide by policy, store once per idempotency key, and move the proposal out of
 * `proposed` at once (rejected_by_policy | pending_review | approved). The caller gets the id, the
 * state and the correlation id in the same response.
 */
import { z } from 'zod';
import { SwitchboardError } from '../core/errors.ts';
import { newCorrelationId } from '../core/ids.ts';
import type { Proposal, ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { parseSearchQuery } from '../fhir/search-query.ts';
import { enforceUnsigned, isAiActor, labelAiDraft } from './ai-content.ts';
import { authorizeAction, evaluatePolicy, type PolicyDecision } from './policy.ts';
import { pinBase } from './ehr-reads.ts';
import { eventActor } from '../core/ports/proposal-store.ts';
import { actorDetail, changeResourceType, type WritebackContext } from './writeback-context.ts';

const ResourceSchema = z.looseObject({ resourceType: z.string().regex(/^[A-Z][A-Za-z]{1,63}$/, 'must be a FHIR resource type') });
const IdSchema = z.string().regex(/^[A-Za-z0-9\-.]{1,64}$/, 'must be a FHIR id');
const PatchOpSchema = z.strictObject({
  op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
  path: z.string(),
  from: z.string().optional(),
  value: z.unknown().optional(),
});

export const ProposedChangeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('create'), resource: ResourceSchema }),
  z.strictObject({ kind: z.literal('update'), resourceType: z.string().min(1), id: IdSchema, resource: ResourceSchema, baseVersion: z.string().min(1).optional() }),
  z.strictObject({ kind: z.literal('patch'), resourceType: z.string().min(1), id: IdSchema, patch: z.array(PatchOpSchema).min(1), baseVersion: z.string().min(1).optional() }),
  z.strictObject({ kind: z.literal('hl7v2'), message: z.string().startsWith('MSH', 'must be an ER7 message starting with MSH') }),
]);

export const ProposeInputSchema = z.strictObject({
  tenant: z.string().min(1).max(64).optional(),
  ehr: z.string().min(1),
  patient: z.string().regex(/^(Patient\/)?[A-Za-z0-9\-.]{1,64}$/, 'must be Patient/<id> or an id'),
  change: ProposedChangeSchema,
  purposeOfUse: z.string().regex(/^[A-Z][A-Z0-9_-]{1,31}$/, 'must be a v3-ActReason code such as TREAT'),
  idempotencyKey: z.string().min(1).max(200),
  correlationId: z.string().regex(/^[\w.-]{1,128}$/, 'must be 1-128 letters, digits, _ . -').optional(),
});
export type ProposeInput = z.output<typeof ProposeInputSchema>;

function pathOf(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') || '(body)';
}

/** Validates with a schema; SWB_ERR_WRITEBACK_BAD_PROPOSAL names the first failing path. */
export function parseOrBad<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = `${prefix}${issue === undefined ? '' : pathOf(issue.path)}` || '(body)';
  const reason = issue === undefined ? 'is invalid' : issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
  throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path, reason });
}

/** Cross-field checks the schema cannot state. */
export function checkChange(change: ProposedChange): ProposedChange {
  if (change.kind === 'update') {
    if (change.resource.resourceType !== change.resourceType) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'change.resource.resourceType', reason: `must be ${change.resourceType}` });
    if (change.resource.id !== undefined && change.resource.id !== change.id) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'change.resource.id', reason: `must be ${change.id}` });
    return { ...change, resource: { ...change.resource, id: change.id } };
  }
  return change;
}

/** AI content: labelled AIAST (create and update), and never signed at intake (ai-content.ts). */
export function prepareChange(change: ProposedChange, actor: ProposalActor): ProposedChange {
  let out = change;
  if (isAiActor(actor)) {
    if (out.kind === 'create') out = { ...out, resource: labelAiDraft(out.resource, actor) };
    else if (out.kind === 'update') out = { ...out, resource: labelAiDraft(out.resource, actor) };
  }
  // Nothing reaches an EHR as signed unless a reviewer signed it through the gate (sign): every
  // proposal is held unsigned here, whoever drafted it (invariant 5; issue 6 "AI-drafted content").
  return enforceUnsigned(out, false);
}

/**
 * Consent for the write, kept simple: the active Consents of the patient in OUR canonical store
 * (matched by the EHR patient id), decided by their top-level provision type: any deny -> 'deny',
 * else any permit -> 'permit', else 'none'. Without a canonical store: 'none'. The per-provision
 * evaluation of src/api/consent.ts (actors, purposes, classes, periods) governs reads of our store;
 * it is not repeated here (docs/writeback.md "Consent").
 */
export async function consentFor(ctx: WritebackContext, patient: string): Promise<'permit' | 'deny' | 'none'> {
  if (ctx.resources === undefined) return 'none';
  const id = patient.replace(/^Patient\//, '');
  const query = parseSearchQuery('Consent', [
    ['patient', `Patient/${id}`],
    ['status', 'active'],
    ['_count', '100'],
  ]).query;
  const page = await ctx.resources.search('Consent', query);
  const types = page.resources.map((c: FhirResource) => {
    const provision = c['provision'];
    return provision !== null && typeof provision === 'object' ? (provision as Record<string, unknown>)['type'] : undefined;
  });
  if (types.includes('deny')) return 'deny';
  if (types.includes('permit')) return 'permit';
  return 'none';
}

export interface ProposeResult {
  readonly proposal: Proposal;
  /** false: an earlier request with the same idempotency key made it. */
  readonly created: boolean;
  readonly decision?: PolicyDecision;
}

/** The state a policy decision sends a new proposal to. */
function stateFor(decision: PolicyDecision): 'rejected_by_policy' | 'pending_review' | 'approved' {
  switch (decision.decision) {
    case 'deny':
      return 'rejected_by_policy';
    case 'review':
      return 'pending_review';
    case 'auto':
      return 'approved';
  }
}

export async function propose(ctx: WritebackContext, body: unknown, actor: ProposalActor): Promise<ProposeResult> {
  const input = parseOrBad(ProposeInputSchema, body);
  const adapter = ctx.adapters.get(input.ehr);
  if (adapter === undefined) throw new SwitchboardError('SWB_ERR_WRITEBACK_UNKNOWN_EHR', { ehr: input.ehr });
  const tenant = input.tenant ?? ctx.tenant;
  const patient = input.patient.startsWith('Patient/') ? input.patient : `Patient/${input.patient}`;
  const resourceType = changeResourceType(input.change as ProposedChange);

  const change = prepareChange(checkChange(input.change as ProposedChange), actor);
  const allowed = authorizeAction(ctx.policy, { action: 'propose', actor, resourceType, tenant, ehr: input.ehr });
  if (!allowed.allowed) throw new SwitchboardError('SWB_ERR_WRITEBACK_ACTOR_FORBIDDEN', { action: 'propose', resourceType, reason: allowed.reason });
  const consent = await consentFor(ctx, patient);
  const decision = evaluatePolicy(ctx.policy, { tenant, ehr: input.ehr, patient, change, actor, purposeOfUse: input.purposeOfUse, consent });
  const at = ctx.clock.now();
  const made = await ctx.proposals.create({
    tenant,
    ehr: input.ehr,
    patient,
    change,
    actor,
    purposeOfUse: input.purposeOfUse,
    idempotencyKey: input.idempotencyKey,
    correlationId: input.correlationId ?? newCorrelationId(),
    state: 'proposed',
    policy: { ...decision, consent },
    at,
  });
  // A repeat of the idempotency key (same tenant and actor) returns what the first request made.
  if (made.kind === 'existing') return { proposal: made.proposal, created: false };

  const to = stateFor(decision);
  // Approved without a reviewer: the EHR copy an update or patch applies to is read now, as the
  // approver's read would have been (its version the If-Match, the copy a conflict's base).
  const pinned = to === 'approved' ? await pinBase(ctx, made.proposal, change) : { change };
  const moved = await ctx.proposals.transition(made.proposal.id, {
    from: 'proposed',
    to,
    actor: 'engine',
    reason: `policy ${decision.decision} (rule ${decision.rule})${decision.reasons.length > 0 ? `: ${decision.reasons.join('; ')}` : ''}`,
    detail: { rule: decision.rule, decision: decision.decision, violations: decision.violations.map((v) => ({ path: v.path, rule: v.rule })), consent, proposer: actorDetail(actor), by: eventActor(actor), ...(pinned.base === undefined ? {} : { base: pinned.base }) },
    ...(pinned.change === change ? {} : { set: { approvedChange: pinned.change } }),
    at,
  });
  // A concurrent repeat of the same key could move it first; either way the proposal is current.
  const proposal = moved.kind === 'ok' ? moved.proposal : moved.kind === 'stale' ? moved.current : made.proposal;
  ctx.logger.info({ proposal: proposal.id, correlationId: proposal.correlationId, ehr: proposal.ehr, resourceType, state: proposal.state }, 'write-back proposal received');
  if (proposal.state === 'approved') ctx.wake();
  return { proposal, created: true, decision };
}
