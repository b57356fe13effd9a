/**
 * Per-minute activity counters of the channels this process runs, for the console's live chart
 * (GET /api/v1/metrics/summary). In-process, like the Prometheus counters beside them
 * (engine-metrics.ts): they start at zero when the process starts and count only what this process
 * received and delivered. A scale-out deployment sums them per process (or scrapes /metrics);
 * nothing here reads the store, so a busy console costs the database nothing.
 *
 * Counts only: no ids, no content (ARCHITECTURE.md invariant 7).
 */

export interface MinuteCounts {
  /** The minute's start, ISO 8601. */
  readonly minute: string;
  /** Messages handed to the channel by its source (stored, duplicates and refusals alike). */
  readonly received: number;
  /** Of those, answered AA or CA (or accepted without an HL7 ACK). */
  readonly acked: number;
  /** Delivery attempts that delivered. */
  readonly delivered: number;
  /** Delivery attempts that ended a delivery in failure: failed, ambiguous or parked. */
  readonly failed: number;
}

type Kind = 'received' | 'acked' | 'delivered' | 'failed';

const MINUTE_MS = 60_000;
/** Kept per channel: a day of minutes bounds the memory whatever the console asks. */
export const MAX_ACTIVITY_MINUTES = 24 * 60;

interface Bucket {
  minute: number;
  received: number;
  acked: number;
  delivered: number;
  failed: number;
}

export class ChannelActivity {
  readonly #clock: () => Date;
  /** channel id -> minute index -> counts; old minutes are dropped as new ones arrive. */
  readonly #channels = new Map<string, Map<number, Bucket>>();

  constructor(options: { clock?: () => Date } = {}) {
    this.#clock = options.clock ?? ((): Date => new Date());
  }

  /** A message handed to a channel; `acked`: it was answered AA/CA (or accepted, for non-HL7 input). */
  received(channelId: string, acked: boolean): void {
    this.#add(channelId, 'received');
    if (acked) this.#add(channelId, 'acked');
  }

  /** A delivery attempt's result, as the dispatcher reports it for destination id `<channel>/<name>`. */
  attempt(destinationId: string, result: string): void {
    const slash = destinationId.indexOf('/');
    if (slash <= 0) return;
    const channelId = destinationId.slice(0, slash);
    if (result === 'delivered') this.#add(channelId, 'delivered');
    else if (result === 'failed' || result === 'ambiguous' || result === 'parked') this.#add(channelId, 'failed');
    // `retry` is not an outcome yet: the delivery is still pending.
  }

  /** The last `minutes` minutes (the current one included), oldest first, zeros where nothing happened. */
  perMinute(channelId: string, minutes: number): MinuteCounts[] {
    const n = Math.max(1, Math.min(MAX_ACTIVITY_MINUTES, Math.floor(minutes)));
    const now = Math.floor(this.#clock().getTime() / MINUTE_MS);
    const buckets = this.#channels.get(channelId);
    const out: MinuteCounts[] = [];
    for (let m = now - n + 1; m <= now; m++) {
      const b = buckets?.get(m);
      out.push({ minute: new Date(m * MINUTE_MS).toISOString(), received: b?.received ?? 0, acked: b?.acked ?? 0, delivered: b?.delivered ?? 0, failed: b?.failed ?? 0 });
    }
    return out;
  }

  #add(channelId: string, kind: Kind): void {
    const minute = Math.floor(this.#clock().getTime() / MINUTE_MS);
    let buckets = this.#channels.get(channelId);
    if (buckets === undefined) {
      buckets = new Map();
      this.#channels.set(channelId, buckets);
    }
    let b = buckets.get(minute);
    if (b === undefined) {
      b = { minute, received: 0, acked: 0, delivered: 0, failed: 0 };
      buckets.set(minute, b);
      // Maps iterate in insertion order, and minutes arrive in order: drop from the front.
      for (const old of buckets.keys()) {
        if (old > minute - MAX_ACTIVITY_MINUTES) break;
        buckets.delete(old);
      }
    }
    b[kind] += 1;
  }
}

/**
 * The share of outcomes in the window that went wrong: messages not answered AA/CA plus deliveries
 * that failed, over messages received plus deliveries finished. 0 when nothing happened.
 */
export function errorRate(minutes: readonly MinuteCounts[]): number {
  let bad = 0;
  let all = 0;
  for (const m of minutes) {
    bad += m.received - m.acked + m.failed;
    all += m.received + m.delivered + m.failed;
  }
  return all === 0 ? 0 : Math.round((bad / all) * 10_000) / 10_000;
}
