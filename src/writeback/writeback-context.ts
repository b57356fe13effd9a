/**
 * What the parts of the write-back service share (intake, review, commit worker, recovery, drift):
 * its dependencies, resolved options, and small helpers over proposals. No logic of its own.
 */
import { SwitchboardError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Proposal, ProposalActor, ProposalEvent, ProposalStore, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource, ResourceStore } from '../core/ports/resource-store.ts';
import type { EhrAdapter } from './ehr/ehr-adapter.ts';
import { changeResourceType, type WritebackPolicy } from './policy.ts';

export interface WritebackClock {
  now(): Date;
}

/** Where the service's AuditEvents go; by default straight into `resources`. */
export type WritebackAuditSink = (event: FhirResource) => Promise<void> | void;

export interface CommitOptions {
  readonly concurrency: number;
  readonly maxAttempts: number;
  readonly pollMs: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  /**
   * How long a claim on a `committing` proposal holds without renewal (ms). The worker renews it
   * every third of this while the write is in flight; recovery in another process takes only a
   * claim whose lease has run out. Longer than the adapter's request timeout plus a pause.
   */
  readonly leaseMs: number;
  /** How often recovery looks for expired claims while running (ms); 0: only at start. */
  readonly recoveryIntervalMs: number;
}

export interface WritebackContext {
  readonly proposals: ProposalStore;
  readonly resources: ResourceStore | undefined;
  readonly adapters: ReadonlyMap<string, EhrAdapter>;
  readonly policy: WritebackPolicy;
  readonly tenant: string;
  readonly clock: WritebackClock;
  readonly logger: Logger;
  readonly commit: CommitOptions;
  /** This engine process's name as a lease owner (unique per process and service instance). */
  readonly owner: string;
  readonly verify: boolean;
  readonly audit: WritebackAuditSink | undefined;
  /** Wakes the commit worker (a proposal became approved). */
  wake(): void;
}

/** The actor as kept in an event's detail, so Provenance can name the approver and the signer later. */
export function actorDetail(actor: ProposalActor): Record<string, unknown> {
  return {
    kind: actor.kind,
    id: actor.id,
    ...(actor.display === undefined ? {} : { display: actor.display }),
    ...(actor.roles === undefined ? {} : { roles: [...actor.roles] }),
    ...(actor.model === undefined ? {} : { model: actor.model }),
    ...(actor.modelVersion === undefined ? {} : { modelVersion: actor.modelVersion }),
  };
}

/** Reads back an actor written by actorDetail. */
export function actorFromDetail(value: unknown): ProposalActor | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v['kind'] !== 'string' || typeof v['id'] !== 'string') return undefined;
  return {
    kind: v['kind'] as ProposalActor['kind'],
    id: v['id'],
    ...(typeof v['display'] === 'string' ? { display: v['display'] } : {}),
    ...(Array.isArray(v['roles']) ? { roles: (v['roles'] as unknown[]).filter((r): r is string => typeof r === 'string') } : {}),
    ...(typeof v['model'] === 'string' ? { model: v['model'] } : {}),
    ...(typeof v['modelVersion'] === 'string' ? { modelVersion: v['modelVersion'] } : {}),
  };
}

/** What a change is about, for policy and authorization: the FHIR type, or the HL7 message type (policy.ts). */
export { changeResourceType };

/** The change that is (or will be) committed. */
export function effectiveChange(p: Proposal): ProposedChange {
  return p.approvedChange ?? p.change;
}

export async function requireProposal(proposals: ProposalStore, id: string): Promise<Proposal> {
  const p = await proposals.get(id);
  if (p === undefined) throw new SwitchboardError('SWB_ERR_WRITEBACK_NOT_FOUND', { id });
  return p;
}

/** The latest event into one of `states`, newest first. */
export function latestEventTo(events: readonly ProposalEvent[], states: readonly string[]): ProposalEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e !== undefined && states.includes(e.to)) return e;
  }
  return undefined;
}

export function errorCodeOf(e: unknown): string {
  return e instanceof SwitchboardError ? e.code : e instanceof Error ? e.name : 'error';
}
