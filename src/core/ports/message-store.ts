import type { NewDelivery } from './delivery-queue.ts';

/**
 * The message store port: what the engine needs to keep received messages durably, find them, and
 * record what happened to them. Implementations live in src/store/<kind>/ and pass the one
 * conformance suite in src/store/message-store-conformance.ts. Nothing here names a driver, a
 * connection or a transaction type (STYLE.md "Ports and adapters").
 */

export const MessageStatus = {
  /** Stored and acknowledged; not yet through the pipeline. */
  received: 'received',
  /** Dropped by a filter; kept with the reason. */
  filtered: 'filtered',
  /** Deliveries created and not all finished. */
  queued: 'queued',
  /** Every delivery succeeded. */
  delivered: 'delivered',
  /** At least one delivery failed permanently or ambiguously and is in the exception queue. */
  errored: 'errored',
  /** An operator resolved the exceptions. */
  resolved: 'resolved',
} as const;
export type MessageStatus = (typeof MessageStatus)[keyof typeof MessageStatus];

/** What arrives at a source, stored in one transaction together with its dedupe key. */
export interface IngestRecord {
  readonly channelId: string;
  /** The message as received (decoded text; ER7 for HL7 v2, JSON for FHIR). */
  readonly content: string;
  readonly contentType: 'hl7v2' | 'fhir+json' | 'text';
  readonly receivedAt: Date;
  /** Where it came from, e.g. `mllp://10.0.0.5:50312` or `file:/in/a.hl7` (no PHI). */
  readonly source: string;
  /** `ADT^A01`, when known. */
  readonly messageType?: string;
  /** MSH-10, when known. */
  readonly controlId?: string;
  readonly sendingFacility?: string;
  /** Per-key FIFO key (e.g. the patient id); deliveries inherit it. */
  readonly orderingKey?: string;
  /** Patient identifiers for search (e.g. PID-3 values); indexed, never logged. */
  readonly patientIds?: readonly string[];
  readonly correlationId: string;
  /** The channel config revision the message runs under (ARCHITECTURE.md invariant 8). */
  readonly configRevision: number;
  /**
   * Duplicates: when set, a second record with the same key received within `dedupeWindowMs` of
   * the first is not stored again (default key: sending facility + MSH-10).
   */
  readonly dedupeKey?: string;
  readonly dedupeWindowMs?: number;
  /**
   * What the pipeline made of it, stored in the same transaction as the message (so a crash
   * between ACK and enqueue cannot lose a delivery): its deliveries (status `queued`, or
   * `delivered` when there are none), or why it stopped (`filtered` / `errored` with the reason).
   * Omitted: status `received` (stored only). Ignored for a duplicate.
   */
  readonly outcome?: IngestOutcome;
}

export type IngestOutcome =
  | { readonly kind: 'queued'; readonly deliveries: readonly NewDelivery[] }
  | { readonly kind: 'filtered'; readonly reason: string }
  | { readonly kind: 'errored'; readonly reason: string };

export type IngestResult =
  | { readonly kind: 'stored'; readonly id: string }
  | { readonly kind: 'duplicate'; readonly id: string; readonly firstSeen: Date };

export interface StoredMessage {
  readonly id: string;
  readonly channelId: string;
  /** undefined once retention pruned it (metadata outlives content). */
  readonly content: string | undefined;
  readonly contentType: IngestRecord['contentType'];
  readonly receivedAt: Date;
  readonly source: string;
  readonly messageType: string | undefined;
  readonly controlId: string | undefined;
  readonly sendingFacility: string | undefined;
  readonly orderingKey: string | undefined;
  readonly patientIds: readonly string[];
  readonly correlationId: string;
  readonly configRevision: number;
  readonly status: MessageStatus;
  /** Why it is in its status (a filter's reason, an error code). */
  readonly statusReason: string | undefined;
  readonly updatedAt: Date;
}

export type MessageSummary = Omit<StoredMessage, 'content'> & { readonly contentBytes: number | undefined };

/** One entry of a message's history (ARCHITECTURE.md "A message's path"). */
export interface MessageEvent {
  readonly messageId: string;
  readonly deliveryId?: string;
  readonly at: Date;
  /** e.g. `received`, `acked`, `filtered`, `queued`, `attempt`, `delivered`, `failed`, `replayed`. */
  readonly type: string;
  /** Ids, codes and counts only; never message content. */
  readonly detail?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface MessageQuery {
  readonly channelId?: string;
  readonly status?: MessageStatus | readonly MessageStatus[];
  readonly messageType?: string;
  readonly controlId?: string;
  readonly patientId?: string;
  readonly correlationId?: string;
  /** Inclusive lower bound on receivedAt. */
  readonly from?: Date;
  /** Exclusive upper bound on receivedAt. */
  readonly to?: Date;
  /** Full-text search over content (SQLite FTS5 / PostgreSQL tsvector): words, all must match. */
  readonly text?: string;
  /** Page size (default 50, at most 500). */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

export interface MessagePage {
  /** Newest first (receivedAt desc, then id desc). */
  readonly items: readonly MessageSummary[];
  readonly nextCursor: string | undefined;
}

export interface PruneRequest {
  readonly channelId: string;
  /** Content of messages received before this is removed. */
  readonly receivedBefore: Date;
  /** Only messages in these statuses (default: every status except errored). */
  readonly statuses?: readonly MessageStatus[];
}

export interface MessageStore {
  /**
   * Stores a record durably; the promise resolves only after the commit reached disk, so the
   * caller may acknowledge then (ARCHITECTURE.md invariant 1). Concurrent calls share commits
   * (group commit).
   */
  ingest(record: IngestRecord): Promise<IngestResult>;
  get(id: string): Promise<StoredMessage | undefined>;
  search(query: MessageQuery): Promise<MessagePage>;
  setStatus(id: string, status: MessageStatus, reason?: string): Promise<void>;
  appendEvent(event: MessageEvent): Promise<void>;
  /** A message's history, oldest first. */
  events(messageId: string): Promise<MessageEvent[]>;
  /** Retention: drops content (metadata stays); returns how many messages lost their content. */
  pruneContent(request: PruneRequest): Promise<number>;
  /** Forgets dedupe keys first seen before this (their window has passed); returns how many. */
  pruneDedupeKeys(firstSeenBefore: Date): Promise<number>;
  close(): Promise<void>;
}
