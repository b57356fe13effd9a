import type { FailureClass } from '../errors.ts';

/**
 * The delivery queue port: one row per (message, destination), claimed by dispatchers with leases,
 * FIFO per (destination, ordering key). Implementations live in src/store/<kind>/ and pass the
 * conformance suite in src/store/delivery-queue-conformance.ts.
 *
 * Ordering (ARCHITECTURE.md invariant 4): a delivery can be claimed only when every earlier
 * delivery (by enqueue order) of the same destination and ordering key is finished: `delivered`,
 * `resolved`, or `parked` (moved aside by the channel's policy). So a failing head blocks only its
 * own key; other keys flow. A delivery with no ordering key is ordered with nothing.
 */

export const DeliveryStatus = {
  /** Waiting (possibly until `nextAttemptAt`, after a transient failure). */
  pending: 'pending',
  /** Claimed by a worker until `leaseExpiresAt`; an expired lease makes it claimable again. */
  leased: 'leased',
  delivered: 'delivered',
  /** Permanent failure, blocking its key: the exception queue. */
  failed: 'failed',
  /** Ambiguous outcome (the far side may have acted), blocking its key: review. */
  ambiguous: 'ambiguous',
  /** Failed and moved aside so its key flows (channel policy `onError: park`). */
  parked: 'parked',
  /** Closed by an operator without delivery. */
  resolved: 'resolved',
} as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** Statuses that no longer block their key. */
export const FINISHED_DELIVERY_STATUSES: readonly DeliveryStatus[] = ['delivered', 'resolved', 'parked'];

export interface NewDelivery {
  readonly destination: string;
  readonly orderingKey?: string;
  /** What the connector sends (after transformers). */
  readonly payload: string;
  /** Sent with the delivery so that a destination able to dedupe does (invariant 2). */
  readonly idempotencyKey: string;
  /** Attempts allowed before a transient failure becomes permanent. */
  readonly maxAttempts: number;
}

export interface Delivery {
  readonly id: string;
  readonly messageId: string;
  readonly destination: string;
  readonly orderingKey: string | undefined;
  readonly payload: string;
  readonly idempotencyKey: string;
  readonly status: DeliveryStatus;
  /** Attempts made so far. */
  readonly attempts: number;
  readonly maxAttempts: number;
  /** Not claimable before this. */
  readonly nextAttemptAt: Date;
  readonly leaseOwner: string | undefined;
  readonly leaseExpiresAt: Date | undefined;
  /** The stable error code of the last failure, and its class. */
  readonly lastErrorCode: string | undefined;
  readonly lastFailureClass: FailureClass | undefined;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One attempt, kept with the response so the exception queue can show it. */
export interface DeliveryAttempt {
  readonly deliveryId: string;
  readonly attempt: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly outcome: 'delivered' | 'retry' | 'failed' | 'ambiguous';
  readonly errorCode?: string;
  /** The far side's answer (an ACK, an HTTP status line and body), size-limited by the caller. */
  readonly response?: string;
}

export interface ClaimRequest {
  readonly destination: string;
  /** Who holds the lease (process + worker id). */
  readonly owner: string;
  readonly leaseMs: number;
  readonly limit: number;
  /** Defaults to the store's clock; tests pass it to control time. */
  readonly now?: Date;
}

export interface AttemptOutcome {
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly response?: string;
}

export interface FailureOutcome extends AttemptOutcome {
  readonly errorCode: string;
  readonly failureClass: FailureClass;
  /**
   * transient: retry at this time (the dispatcher computed backoff with jitter); when attempts are
   * used up the store records a permanent failure instead.
   */
  readonly retryAt?: Date;
  /** Move it aside so its key flows (channel policy), instead of blocking the key. */
  readonly park?: boolean;
}

export interface QueueStats {
  readonly destination: string;
  /** Deliveries not finished (pending, leased, failed, ambiguous). */
  readonly depth: number;
  /** Age of the oldest unfinished delivery, ms; 0 when empty. */
  readonly oldestAgeMs: number;
}

/**
 * Durability of bookkeeping (docs/adr/0002-delivery-bookkeeping-durability.md): `claim`, `complete`
 * and `fail` may commit without waiting for the disk flush. Invariant 1 needs a flush only for
 * ingest (the ACK); losing a claim or an outcome to a power cut means the delivery is sent again,
 * which invariant 2 (at-least-once, idempotency keys) accepts. A process crash loses nothing.
 * Concurrent `complete`/`fail` calls may share one transaction (group commit); a lost lease still
 * rejects only its own call.
 */
export interface DeliveryQueue {
  /**
   * Creates the deliveries of a message and sets the message to `queued`, in one transaction;
   * returns them in the given order.
   */
  enqueue(messageId: string, deliveries: readonly NewDelivery[]): Promise<Delivery[]>;
  /**
   * Leases up to `limit` claimable deliveries of a destination: pending (or leased with an expired
   * lease), `nextAttemptAt <= now`, and first of their key (see ordering above). Safe under
   * concurrency: two callers never get the same delivery while a lease is live.
   */
  claim(request: ClaimRequest): Promise<Delivery[]>;
  /**
   * Records success. Throws SWB_ERR_QUEUE_LEASE_LOST when `owner` no longer holds the lease (it
   * expired and someone else claimed it), so a slow worker cannot finish someone else's work.
   *
   * In the same transaction as the delivery update it records the attempt (`attempts()`) and
   * appends the message event `delivered` (deliveryId; detail: destination, attempt; at:
   * `finishedAt`), so history and queue never disagree and no separate write is needed.
   */
  complete(id: string, owner: string, outcome: AttemptOutcome): Promise<void>;
  /**
   * Records a failure. transient with attempts left: back to pending at `retryAt`. Otherwise
   * permanent -> `failed` (or `parked`), ambiguous -> `ambiguous` (or `parked`). Same lease rule.
   *
   * In the same transaction it records the attempt and appends the message event `failed`
   * (deliveryId; detail: destination, attempt, errorCode, failureClass as reported, result
   * `retry` | `failed` | `ambiguous` | `parked`, and retryAt as ISO text when it will retry; at:
   * `finishedAt`). Ids and codes only, never the response (invariant 7).
   */
  fail(id: string, owner: string, outcome: FailureOutcome): Promise<void>;
  get(id: string): Promise<Delivery | undefined>;
  /** Deliveries of a message, in enqueue order. */
  forMessage(messageId: string): Promise<Delivery[]>;
  attempts(deliveryId: string): Promise<DeliveryAttempt[]>;
  /** Exception queue: failed, ambiguous and parked deliveries, oldest first. */
  exceptions(options?: { destination?: string; limit?: number }): Promise<Delivery[]>;
  /** Operator retry: back to pending now, attempts reset; optionally with an edited payload. */
  retry(id: string, options?: { payload?: string }): Promise<void>;
  /** Operator resolve: closed without delivery; unblocks its key. */
  resolve(id: string): Promise<void>;
  stats(destination: string, now?: Date): Promise<QueueStats>;
}
