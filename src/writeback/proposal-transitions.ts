// The write-back state machine (ARCHITECTURE.md "Write-back state machine", issue 6): which state a
// proposal may move to from which. The store only compares-and-sets the state; this table is the one
// place that says what is legal, so every caller (service, operator API, CLI) refuses the same moves.

import { SwitchboardError } from '../core/errors.ts';
import { ProposalState } from '../core/ports/proposal-store.ts';

const S = ProposalState;

/** from -> the states it may move to. Anything not listed is refused (HTTP 409). */
export const PROPOSAL_TRANSITIONS: Readonly<Record<ProposalState, readonly ProposalState[]>> = {
  // Intake: policy decides deny, review, or auto-approve.
  [S.proposed]: [S.rejectedByPolicy, S.pendingReview, S.approved],
  // A reviewer's edit stays in review and is recorded as an event (pending_review -> pending_review).
  [S.pendingReview]: [S.approved, S.rejected, S.pendingReview],
  [S.approved]: [S.committing],
  // The commit's classified outcome (invariant 3): transient -> retrying, permanent -> failed,
  // ambiguous -> unknown, 409/412 -> conflict.
  [S.committing]: [S.committed, S.retrying, S.failed, S.unknown, S.conflict],
  [S.retrying]: [S.committing],
  // Read-back verification, and later drift detection.
  [S.committed]: [S.verified, S.drifted],
  [S.verified]: [S.drifted],
  // An operator retries (or edits and retries), or closes with a reason.
  [S.failed]: [S.approved, S.rejected],
  // Ambiguous outcome (invariant 2): a person settles it; never a blind retry.
  [S.unknown]: [S.committed, S.approved, S.rejected],
  // Re-read and back to review with a three-way diff, or close.
  [S.conflict]: [S.pendingReview, S.rejected],
  // An operator accepted the EHR's copy, or re-verification found it equal again.
  [S.drifted]: [S.verified],
  [S.rejectedByPolicy]: [],
  [S.rejected]: [],
};

/** States a proposal never leaves. */
export const TERMINAL_STATES: ReadonlySet<ProposalState> = new Set<ProposalState>([S.rejectedByPolicy, S.rejected]);

export function canTransition(from: ProposalState, to: ProposalState): boolean {
  return PROPOSAL_TRANSITIONS[from]?.includes(to) === true;
}

/** Throws SWB_ERR_WRITEBACK_INVALID_TRANSITION (409, permanent) when `from -> to` is not legal. */
export function assertTransition(from: ProposalState, to: ProposalState): void {
  if (!canTransition(from, to)) throw new SwitchboardError('SWB_ERR_WRITEBACK_INVALID_TRANSITION', { from, to });
}
