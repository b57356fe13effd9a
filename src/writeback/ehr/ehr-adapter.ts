/**
 * The port every EHR adapter implements (issue 6): a generic FHIR R4 server, a vendor profile over
 * it (Epic, Oracle Health), or an HL7 v2 interface over MLLP. Only src/writeback/ holds adapters,
 * and only the write-back service calls `write` (ARCHITECTURE.md invariant 5: no EHR write outside
 * the write-back gate).
 *
 * An adapter never throws for an outcome the EHR gave: it classifies it (STYLE.md "Errors"):
 *  - applied: the write happened; where it landed;
 *  - transient: nothing was applied and the same write may succeed later (429, 503, connect refused),
 *    with the server's Retry-After when it gave one;
 *  - permanent: nothing was applied and retrying unchanged cannot succeed (400, 403, 422, AE);
 *  - ambiguous: the EHR may have applied it (timeout or reset after the request was sent, 5xx after
 *    a non-idempotent create, no ACK): a human decides, never a blind retry (invariant 2);
 *  - conflict: the EHR's copy changed since the proposal's base (412, 409): review with a diff.
 */
import type { EhrWriteResult, JsonPatchOp, ProposedChange } from '../../core/ports/proposal-store.ts';
import type { FhirResource } from '../../core/ports/resource-store.ts';

export type { EhrWriteResult } from '../../core/ports/proposal-store.ts';

/** What the adapter tells about a write, for the ledger and the exception queue (no bodies of PHI beyond the EHR's OperationOutcome). */
export interface EhrResponseSummary {
  readonly status?: number;
  readonly ackCode?: string;
  /** The EHR's OperationOutcome or ACK text, as it answered. */
  readonly outcome?: unknown;
  readonly message?: string;
}

export type EhrWriteOutcome =
  | { readonly kind: 'applied'; readonly result: EhrWriteResult; readonly resource?: FhirResource; readonly response: EhrResponseSummary }
  | { readonly kind: 'transient'; readonly code: string; readonly retryAfterMs?: number; readonly response: EhrResponseSummary }
  | { readonly kind: 'permanent'; readonly code: string; readonly response: EhrResponseSummary }
  | { readonly kind: 'ambiguous'; readonly code: string; readonly response: EhrResponseSummary }
  | { readonly kind: 'conflict'; readonly code: string; readonly current?: FhirResource; readonly response: EhrResponseSummary };

export type EhrReadOutcome =
  | { readonly kind: 'found'; readonly resource: FhirResource; readonly versionId?: string }
  | { readonly kind: 'gone' }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'error'; readonly code: string; readonly message: string };

/** What an adapter can write, and how; stated by its vendor profile (data). */
export interface EhrCapabilities {
  /** Resource types it accepts per interaction; `*` for any. */
  readonly create: readonly string[];
  readonly update: readonly string[];
  readonly patch: readonly string[];
  /** It honours If-None-Exist, so a create can be retried safely. */
  readonly conditionalCreate: boolean;
  /** Updates must carry If-Match. */
  readonly ifMatchRequired: boolean;
  /** It accepts a Provenance created alongside the write. */
  readonly provenance: boolean;
  /** HL7 v2 message types it accepts (MLLP adapters), e.g. `MDM^T02`. */
  readonly hl7v2: readonly string[];
}

export interface EhrWriteRequest {
  readonly change: ProposedChange;
  /** Sent where the EHR honours one, and always recorded in the ledger. */
  readonly idempotencyKey: string;
  readonly correlationId: string;
  /** For a create that can be made conditional (If-None-Exist), e.g. `identifier=urn:...|key`. */
  readonly ifNoneExist?: string;
  /**
   * A clinician has signed the content (added for the HL7 v2 adapter): only then may a document go
   * out as authenticated (TXA-17 AU/LA). Absent means not signed.
   */
  readonly signed?: boolean;
}

export interface EhrAdapter {
  /** The configured name, e.g. `epic-sim`. */
  readonly name: string;
  /** `epic`, `oracle-health`, `generic-r4`, `hl7v2-mllp`. */
  readonly profile: string;
  readonly capabilities: EhrCapabilities;
  /** A short description of where a write goes, for the ledger: `POST https://ehr/fhir/DocumentReference`. */
  describe(change: ProposedChange): string;
  write(request: EhrWriteRequest): Promise<EhrWriteOutcome>;
  /** Reads the EHR's current copy (review: the live state; verification; drift). HL7 adapters answer not_found. */
  read(resourceType: string, id: string): Promise<EhrReadOutcome>;
  /** Writes a Provenance where the profile allows (capabilities.provenance). */
  writeProvenance?(provenance: FhirResource, correlationId: string): Promise<EhrWriteOutcome>;
  close(): Promise<void>;
}

export type { FhirResource, JsonPatchOp, ProposedChange };
