import type { NewDelivery } from '../core/ports/delivery-queue.ts';
import type { IngestOutcome, MessageEvent, MessageStatus } from '../core/ports/message-store.ts';

/**
 * What both stores do with `IngestRecord.outcome`, so SQLite and PostgreSQL cannot drift: which
 * inputs are refused, which status a message gets, and which events its history starts with.
 */

/** Why a delivery cannot be queued, or undefined. */
export function invalidDelivery(d: NewDelivery): string | undefined {
  if (typeof d !== 'object' || d === null) return 'a delivery must be an object';
  if (typeof d.destination !== 'string' || d.destination === '') return 'destination must be a non-empty string';
  if (d.orderingKey !== undefined && typeof d.orderingKey !== 'string') return 'orderingKey must be a string';
  if (typeof d.payload !== 'string') return 'payload must be a string';
  if (typeof d.idempotencyKey !== 'string') return 'idempotencyKey must be a string';
  if (!Number.isSafeInteger(d.maxAttempts) || d.maxAttempts < 1) return 'maxAttempts must be an integer >= 1';
  return undefined;
}

/** Why an outcome cannot be stored, or undefined (also for no outcome). */
export function invalidOutcome(outcome: IngestOutcome | undefined): string | undefined {
  if (outcome === undefined) return undefined;
  if (typeof outcome !== 'object' || outcome === null) return 'outcome must be an object';
  switch (outcome.kind) {
    case 'queued': {
      if (!Array.isArray(outcome.deliveries)) return 'outcome.deliveries must be an array';
      for (const d of outcome.deliveries) {
        const reason = invalidDelivery(d);
        if (reason !== undefined) return `outcome.deliveries: ${reason}`;
      }
      return undefined;
    }
    case 'filtered':
    case 'errored':
      return typeof outcome.reason === 'string' ? undefined : 'outcome.reason must be a string';
    default:
      return 'outcome.kind must be queued, filtered or errored';
  }
}

/** The status a new message is stored with: `received` without an outcome; no deliveries means nothing left to do. */
export function initialStatus(outcome: IngestOutcome | undefined): { status: MessageStatus; reason: string | null } {
  if (outcome === undefined) return { status: 'received', reason: null };
  switch (outcome.kind) {
    case 'queued':
      return { status: outcome.deliveries.length === 0 ? 'delivered' : 'queued', reason: null };
    case 'filtered':
      return { status: 'filtered', reason: outcome.reason };
    case 'errored':
      return { status: 'errored', reason: outcome.reason };
  }
}

/**
 * The events a new message's history starts with, written in the ingest transaction: `received`
 * (at receipt), then what the pipeline decided (at store time). Ids and counts only; a filter's or
 * error's reason stays on the message's status (invariant 7).
 */
export function initialEvents(messageId: string, receivedAt: Date, now: Date, configRevision: number, outcome: IngestOutcome | undefined): MessageEvent[] {
  const events: MessageEvent[] = [{ messageId, at: receivedAt, type: 'received', detail: { configRevision } }];
  if (outcome === undefined) return events;
  if (outcome.kind === 'queued') events.push({ messageId, at: now, type: 'queued', detail: { deliveries: outcome.deliveries.length } });
  else events.push({ messageId, at: now, type: outcome.kind });
  return events;
}
