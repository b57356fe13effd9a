import { SwitchboardError } from '../core/errors.ts';
import { PROPOSAL_STATES, type EhrWriteResult, type NewProposal, type ProposalQuery, type ProposalState, type ProposalTransition } from '../core/ports/proposal-store.ts';

/**
 * What both proposal stores share (SqliteProposalStore, PostgresProposalStore): input checks, the
 * keyset cursor, the event actor label and the JSON form of an EhrWriteResult, so that the two
 * refuse and page alike and pass one suite (proposal-store-conformance.ts).
 */

/** Page size of ProposalStore.list: default and cap. */
export const PROPOSAL_DEFAULT_LIMIT = 50;
export const PROPOSAL_MAX_LIMIT = 500;
/** Cap of eventsBetween (a day of a busy site's events fits; callers page by time). */
export const EVENTS_DEFAULT_LIMIT = 1000;
export const EVENTS_MAX_LIMIT = 10_000;

export function clampLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(max, Math.max(1, Math.floor(limit)));
}

const invalid = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v !== '';
const validDate = (v: unknown): boolean => v instanceof Date && !Number.isNaN(v.getTime());
const isState = (v: unknown): v is ProposalState => typeof v === 'string' && (PROPOSAL_STATES as readonly string[]).includes(v);

/** Refuses a proposal the store cannot keep faithfully. Reasons name fields, never values (PHI). */
export function checkNewProposal(input: NewProposal): void {
  for (const field of ['tenant', 'ehr', 'patient', 'purposeOfUse', 'idempotencyKey', 'correlationId'] as const) {
    if (!nonEmpty(input[field])) throw invalid(`${field} must be a non-empty string`);
  }
  if (input.id !== undefined && !nonEmpty(input.id)) throw invalid('id must be a non-empty string');
  if (typeof input.actor !== 'object' || input.actor === null || !nonEmpty(input.actor.id)) throw invalid('actor.id must be a non-empty string');
  if (typeof input.change !== 'object' || input.change === null) throw invalid('change must be an object');
  if (!isState(input.state)) throw invalid('state is not a proposal state');
  if (input.at !== undefined && !validDate(input.at)) throw invalid('at must be a valid Date');
}

/** The transition's `from` as a list; refuses unknown states and invalid dates. */
export function checkTransition(transition: ProposalTransition): readonly ProposalState[] {
  const from: readonly ProposalState[] = typeof transition.from === 'string' ? [transition.from] : transition.from;
  if (from.length === 0 || !from.every(isState)) throw invalid('from must name proposal states');
  if (!isState(transition.to)) throw invalid('to is not a proposal state');
  if (!nonEmpty(transition.actor)) throw invalid('actor must be a non-empty string');
  if (transition.at !== undefined && !validDate(transition.at)) throw invalid('at must be a valid Date');
  const set = transition.set;
  if (set?.attempts !== undefined && (!Number.isSafeInteger(set.attempts) || set.attempts < 0)) throw invalid('set.attempts must be a non-negative integer');
  if (set?.nextAttemptAt !== undefined && set.nextAttemptAt !== null && !validDate(set.nextAttemptAt)) throw invalid('set.nextAttemptAt must be a valid Date or null');
  if (set?.result !== undefined && !validDate(set.result.at)) throw invalid('set.result.at must be a valid Date');
  if (set?.lease !== undefined) {
    if (transition.to !== 'committing') throw invalid('set.lease is only for a move to committing');
    if (!nonEmpty(set.lease.owner) || !validDate(set.lease.until)) throw invalid('set.lease needs an owner and a valid until');
  }
  if (transition.leaseOwner !== undefined && !nonEmpty(transition.leaseOwner)) throw invalid('leaseOwner must be a non-empty string');
  const settle = transition.settle;
  if (settle !== undefined) {
    if (!nonEmpty(settle.entryId)) throw invalid('settle.entryId must be a non-empty string');
    checkLedgerSettle(settle);
  }
  return from;
}

export function checkQuery(query: ProposalQuery): void {
  if (query.states !== undefined && !query.states.every(isState)) throw invalid('states must name proposal states');
  if (query.dueBefore !== undefined && !validDate(query.dueBefore)) throw invalid('dueBefore must be a valid Date');
  if (query.leaseExpiredBefore !== undefined && !validDate(query.leaseExpiredBefore)) throw invalid('leaseExpiredBefore must be a valid Date');
  if (query.order !== undefined && query.order !== 'newest' && query.order !== 'oldest') throw invalid('order must be newest or oldest');
}

/** Checks a lease renewal's input. */
export function checkLease(input: { owner: string; until: Date; now?: Date }): void {
  if (!nonEmpty(input.owner)) throw invalid('owner must be a non-empty string');
  if (!validDate(input.until) || (input.now !== undefined && !validDate(input.now))) throw invalid('until and now must be valid Dates');
}

/** Checks drift-check counts: a UTC day and non-negative integers. */
export function checkDriftChecks(input: { ehr: string; day: string; checked: number; errors: number }): void {
  if (!nonEmpty(input.ehr)) throw invalid('ehr must be a non-empty string');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(input.day)) throw invalid('day must be YYYY-MM-DD');
  for (const n of [input.checked, input.errors]) if (!Number.isSafeInteger(n) || n < 0) throw invalid('checked and errors must be non-negative integers');
}

/** An EhrWriteResult as JSON: `at` as an ISO 8601 instant (ms), revived by resultFromJson. */
export function resultToJson(result: EhrWriteResult): Record<string, unknown> {
  return { ...result, at: result.at.toISOString() };
}

export function resultFromJson(value: unknown): EhrWriteResult {
  const raw = value as Record<string, unknown> & { at: string };
  return { ...raw, at: new Date(raw.at) } as EhrWriteResult;
}

/** Opaque keyset cursor over (createdAt desc, id desc): the last item's pair, base64url JSON. */
export function encodeProposalCursor(createdAtMs: number, id: string): string {
  return Buffer.from(JSON.stringify([createdAtMs, id]), 'utf8').toString('base64url');
}

export function decodeProposalCursor(cursor: string): { createdAtMs: number; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string') {
      return { createdAtMs: value[0] as number, id: value[1] };
    }
  } catch {
    // fall through: any undecodable cursor is the caller's mistake
  }
  throw new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR');
}

export function checkLedgerBegin(input: { proposalId: string; attempt: number; ehr: string; idempotencyKey: string; request: string; at?: Date }): void {
  for (const field of ['proposalId', 'ehr', 'idempotencyKey', 'request'] as const) {
    if (!nonEmpty(input[field])) throw invalid(`${field} must be a non-empty string`);
  }
  if (!Number.isSafeInteger(input.attempt) || input.attempt < 0) throw invalid('attempt must be a non-negative integer');
  if (input.at !== undefined && !validDate(input.at)) throw invalid('at must be a valid Date');
}

export function checkLedgerSettle(input: { outcome: string; result?: EhrWriteResult; at?: Date }): void {
  if (!['applied', 'not_applied', 'unknown'].includes(input.outcome)) throw invalid('outcome must be applied, not_applied or unknown');
  if (input.at !== undefined && !validDate(input.at)) throw invalid('at must be a valid Date');
  if (input.result !== undefined && !validDate(input.result.at)) throw invalid('result.at must be a valid Date');
}

/**
 * The values of a new proposal's row, in the column order both stores insert them: id, tenant, ehr,
 * patient, change, actor, actor id, purpose of use, idempotency key, correlation id, state, policy
 * (then each store adds its timestamps). `json` is the store's encoding of the optional policy.
 */
export function newProposalValues(id: string, input: NewProposal, json: (value: unknown) => unknown): unknown[] {
  return [
    id,
    input.tenant,
    input.ehr,
    input.patient,
    JSON.stringify(input.change),
    JSON.stringify(input.actor),
    input.actor.id,
    input.purposeOfUse,
    input.idempotencyKey,
    input.correlationId,
    input.state,
    json(input.policy),
  ];
}
