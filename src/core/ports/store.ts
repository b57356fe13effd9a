import type { AuditLog } from './audit-log.ts';
import type { ChannelRevisionStore } from './channel-revisions.ts';
import type { DeliveryQueue } from './delivery-queue.ts';
import type { IdentityStore } from './identity-store.ts';
import type { MessageStore } from './message-store.ts';
import type { ProposalStore } from './proposal-store.ts';
import type { ResourceStore } from './resource-store.ts';

/**
 * One opened store: the ports the engine uses, over one database. `open*Store` functions in
 * src/store/<kind>/ run the numbered, forward-only migrations before returning.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly messages: MessageStore;
  readonly queue: DeliveryQueue;
  readonly channels: ChannelRevisionStore;
  readonly audit: AuditLog;
  /** OAuth clients, users, sessions (src/api/auth). */
  readonly identity: IdentityStore;
  /** Write-back proposals, their events and the write ledger (src/writeback). */
  readonly proposals: ProposalStore;
  /** The canonical FHIR store, when the store was opened with a resource indexer. */
  readonly resources: ResourceStore | undefined;
  /** The schema version after migrations. */
  readonly schemaVersion: number;
  close(): Promise<void>;
}

export type { AuditLog } from './audit-log.ts';
export type { ChannelRevisionStore } from './channel-revisions.ts';
export type { DeliveryQueue } from './delivery-queue.ts';
export type { MessageStore } from './message-store.ts';
