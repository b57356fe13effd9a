/**
 * The proposal store: governed write-back (issue 6, ARCHITECTURE.md "Write-back state machine").
 *
 * An app or an AI assistant proposes a change to an EHR's chart; policy and a clinician decide;
 * src/writeback/ commits it. This port keeps the proposals, every state change as an event, and the
 * write ledger: one row per attempt to write to an EHR, begun BEFORE the request leaves and settled
 * after, so that a crash in `committing` can be told apart from a write that never left (the ledger
 * decides, invariant 2). Implementations live in src/store/<kind>/ and pass the one suite in
 * src/store/proposal-store-conformance.ts.
 *
 * The store knows nothing of policy or of which transitions are legal (src/writeback/ decides that);
 * it guarantees that a transition is a compare-and-set on the state, so two workers or a worker and
 * a reviewer can never both move one proposal.
 */
import type { FhirResource } from './resource-store.ts';

export const ProposalState = {
  proposed: 'proposed',
  rejectedByPolicy: 'rejected_by_policy',
  pendingReview: 'pending_review',
  rejected: 'rejected',
  approved: 'approved',
  committing: 'committing',
  retrying: 'retrying',
  committed: 'committed',
  verified: 'verified',
  drifted: 'drifted',
  failed: 'failed',
  unknown: 'unknown',
  conflict: 'conflict',
} as const;
export type ProposalState = (typeof ProposalState)[keyof typeof ProposalState];
export const PROPOSAL_STATES: readonly ProposalState[] = Object.values(ProposalState);

/** One RFC 6902 JSON Patch operation. */
export interface JsonPatchOp {
  readonly op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
}

/** What is to change in the EHR. */
export type ProposedChange =
  | { readonly kind: 'create'; readonly resource: FhirResource }
  /** A full update of an EHR resource; `baseVersion` is the version the author saw (If-Match). */
  | { readonly kind: 'update'; readonly resourceType: string; readonly id: string; readonly resource: FhirResource; readonly baseVersion?: string }
  | { readonly kind: 'patch'; readonly resourceType: string; readonly id: string; readonly patch: readonly JsonPatchOp[]; readonly baseVersion?: string }
  /** An HL7 v2 message to send to a legacy interface (ER7 text), e.g. MDM^T02 or ORU^R01. */
  | { readonly kind: 'hl7v2'; readonly message: string };

export const ActorKind = { user: 'user', app: 'app', agent: 'agent', service: 'service' } as const;
export type ActorKind = (typeof ActorKind)[keyof typeof ActorKind];

/** Who proposes or acts. An AI agent names its model and version (it becomes a Provenance Device). */
export interface ProposalActor {
  readonly kind: ActorKind;
  /** A user name, a client id, an agent's id. */
  readonly id: string;
  readonly display?: string;
  /** Roles of a person (src/api/auth/roles.ts names), e.g. `reviewer` for a clinician. */
  readonly roles?: readonly string[];
  readonly model?: string;
  readonly modelVersion?: string;
}

/** Where a write landed in the EHR. */
export interface EhrWriteResult {
  readonly resourceType?: string;
  readonly id?: string;
  readonly versionId?: string;
  /** The Location header or the HL7 ACK's control id. */
  readonly location?: string;
  readonly at: Date;
}

export interface Proposal {
  readonly id: string;
  readonly tenant: string;
  /** The target EHR's configured name (writeback config), e.g. `epic-sim`. */
  readonly ehr: string;
  /** The patient in the EHR the change is about (`Patient/123`). */
  readonly patient: string;
  readonly change: ProposedChange;
  /** The change as approved (after a reviewer's edit, if any); what is committed. */
  readonly approvedChange?: ProposedChange;
  readonly actor: ProposalActor;
  /** A v3 PurposeOfUse code, e.g. `TREAT`. */
  readonly purposeOfUse: string;
  /** Unique per (tenant, actor id): the same key returns the same proposal. */
  readonly idempotencyKey: string;
  readonly correlationId: string;
  readonly state: ProposalState;
  /** Bumped by every transition (optimistic concurrency for callers that read, then act). */
  readonly revision: number;
  /** The policy decision at intake, as src/writeback/ recorded it (JSON). */
  readonly policy?: Readonly<Record<string, unknown>>;
  readonly result?: EhrWriteResult;
  /** Commit attempts made so far. */
  readonly attempts: number;
  /** When a `retrying` proposal may be tried again. */
  readonly nextAttemptAt?: Date;
  /**
   * The claim on a `committing` proposal: which engine process writes it, and until when (renewed
   * while the write is in flight). Several processes share one PostgreSQL store (ARCHITECTURE.md
   * "Storage"); crash recovery takes only a `committing` proposal whose lease has expired, so a live
   * process's in-flight write is never taken for a dead one's. Cleared by any move out of
   * `committing`.
   */
  readonly leaseOwner?: string;
  readonly leaseUntil?: Date;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface ProposalEvent {
  readonly id: string;
  readonly proposalId: string;
  readonly at: Date;
  /** Absent on the first event (creation). */
  readonly from?: ProposalState;
  readonly to: ProposalState;
  /** `user:<name>`, `client:<id>`, `agent:<id>`, `engine`. */
  readonly actor: string;
  readonly reason?: string;
  /** Ids, codes, diffs of field paths; never free PHI beyond what the proposal itself holds. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

export type NewProposal = Omit<Proposal, 'id' | 'state' | 'revision' | 'attempts' | 'createdAt' | 'updatedAt' | 'approvedChange' | 'result' | 'nextAttemptAt' | 'leaseOwner' | 'leaseUntil'> & {
  readonly id?: string;
  readonly state: ProposalState;
  readonly at?: Date;
};

export type CreateProposalOutcome = { readonly kind: 'created'; readonly proposal: Proposal } | { readonly kind: 'existing'; readonly proposal: Proposal };

export interface ProposalTransition {
  /** The state(s) the proposal must be in; anything else is `stale`. */
  readonly from: ProposalState | readonly ProposalState[];
  readonly to: ProposalState;
  readonly actor: string;
  readonly reason?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly at?: Date;
  /** Fields set with the transition, in the same atomic write. `null` clears. */
  readonly set?: {
    readonly approvedChange?: ProposedChange;
    readonly policy?: Readonly<Record<string, unknown>>;
    readonly result?: EhrWriteResult;
    readonly attempts?: number;
    readonly nextAttemptAt?: Date | null;
    /** The claim's owner and expiry; only with `to: 'committing'` (any other move clears it). */
    readonly lease?: { readonly owner: string; readonly until: Date };
  };
  /** Only if the proposal's lease is held by this owner (a worker finishing its own claim); else `stale`. */
  readonly leaseOwner?: string;
  /**
   * Settles an open write-ledger entry of this proposal in the same atomic write (one commit
   * instead of two). An entry already settled fails the whole transition (SWB_ERR_STORE_LEDGER_SETTLED).
   */
  readonly settle?: {
    readonly entryId: string;
    readonly outcome: 'applied' | 'not_applied' | 'unknown';
    readonly response?: Readonly<Record<string, unknown>>;
    readonly result?: EhrWriteResult;
  };
}

export type TransitionOutcome =
  | { readonly kind: 'ok'; readonly proposal: Proposal; readonly event: ProposalEvent }
  | { readonly kind: 'stale'; readonly current: Proposal }
  | { readonly kind: 'not_found' };

export interface ProposalQuery {
  readonly states?: readonly ProposalState[];
  readonly tenant?: string;
  readonly ehr?: string;
  readonly patient?: string;
  readonly correlationId?: string;
  /** Only proposals whose nextAttemptAt (or updatedAt when unset) is at or before this. */
  readonly dueBefore?: Date;
  /** Only proposals without a lease or whose lease ended at or before this (crash recovery). */
  readonly leaseExpiredBefore?: Date;
  /**
   * `newest` (default): createdAt descending, then id. `oldest`: createdAt ascending, then id; with
   * `dueBefore`, by the due time (nextAttemptAt, else updatedAt) ascending, then id, so the work
   * waiting longest is taken first. The cursor continues the same order.
   */
  readonly order?: 'newest' | 'oldest';
  readonly limit?: number;
  readonly cursor?: string;
}

export interface ProposalPage {
  readonly items: readonly Proposal[];
  readonly nextCursor?: string;
}

/** One attempt to write to an EHR. */
export interface LedgerEntry {
  readonly id: string;
  readonly proposalId: string;
  readonly attempt: number;
  readonly ehr: string;
  /** The idempotency key sent with the write (where the EHR honours one) and kept here regardless. */
  readonly idempotencyKey: string;
  /** Method and URL or `MLLP host:port`, for the operator; no body. */
  readonly request: string;
  readonly startedAt: Date;
  /** open: begun, not settled (a crash, or in flight). */
  readonly outcome: 'open' | 'applied' | 'not_applied' | 'unknown';
  readonly settledAt?: Date;
  /** The EHR's answer: status, ids, an OperationOutcome or ACK summary (JSON). */
  readonly response?: Readonly<Record<string, unknown>>;
  readonly result?: EhrWriteResult;
}

export interface WriteLedger {
  /** Recorded before the request leaves. */
  begin(input: { proposalId: string; attempt: number; ehr: string; idempotencyKey: string; request: string; at?: Date }): Promise<LedgerEntry>;
  settle(id: string, input: { outcome: 'applied' | 'not_applied' | 'unknown'; response?: Readonly<Record<string, unknown>>; result?: EhrWriteResult; at?: Date }): Promise<LedgerEntry>;
  /** Oldest first. */
  forProposal(proposalId: string): Promise<LedgerEntry[]>;
  /** Entries still open (crash recovery). */
  open(): Promise<LedgerEntry[]>;
}

export interface ProposalStore {
  /** Creates, or returns the existing proposal of the same (tenant, actor.id, idempotencyKey). */
  create(input: NewProposal): Promise<CreateProposalOutcome>;
  get(id: string): Promise<Proposal | undefined>;
  list(query?: ProposalQuery): Promise<ProposalPage>;
  /** Compare-and-set on the state; appends the event in the same transaction. */
  transition(id: string, transition: ProposalTransition): Promise<TransitionOutcome>;
  /**
   * Extends (or takes over) the lease of a `committing` proposal: succeeds when the proposal is
   * committing and its lease is held by `owner`, or (with `takeOverExpired`) has no lease or one
   * that ended at or before `now`. Returns whether the lease is now held by `owner` until `until`.
   */
  renewLease(id: string, input: { owner: string; until: Date; now?: Date; takeOverExpired?: boolean }): Promise<boolean>;
  /** Counts drift checks made (the drift report's `checked`), per EHR and UTC day (YYYY-MM-DD). */
  recordDriftChecks(input: { ehr: string; day: string; checked: number; errors: number }): Promise<void>;
  driftChecks(ehr: string, day: string): Promise<{ checked: number; errors: number }>;
  /** Oldest first. */
  events(id: string): Promise<ProposalEvent[]>;
  /** Events of all proposals in a time range (drift reports, audit), oldest first. */
  eventsBetween(query: { from: Date; to: Date; toStates?: readonly ProposalState[]; limit?: number }): Promise<ProposalEvent[]>;
  readonly ledger: WriteLedger;
}

/**
 * The actor string of a ProposalEvent: `user:<id>`, `agent:<id>`, or `client:<id>` for apps and
 * service accounts (they authenticate as OAuth clients). Stores and src/writeback/ both name actors
 * this way.
 */
export function eventActor(actor: ProposalActor): string {
  switch (actor.kind) {
    case 'user':
      return `user:${actor.id}`;
    case 'agent':
      return `agent:${actor.id}`;
    case 'app':
    case 'service':
      return `client:${actor.id}`;
  }
}

