/**
 * An in-memory token bucket per key (here: username + IP for logins). Each attempt takes a token;
 * tokens come back at a steady rate up to the capacity. Per process: behind a load balancer each
 * process limits on its own, which still bounds guessing to (processes x rate).
 */

export interface RateLimiterOptions {
  /** Attempts allowed in a burst; default 5. */
  readonly capacity?: number;
  /** Tokens regained per minute; default 5. */
  readonly refillPerMinute?: number;
  /** Keys kept at most; the least recently used beyond this are forgotten. Default 10 000. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

export type TakeOutcome = { readonly ok: true } | { readonly ok: false; readonly retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

import { LruMap } from '../../core/lru-map.ts';

const TAKEN: TakeOutcome = Object.freeze({ ok: true });

export class RateLimiter {
  /** Least recently used keys beyond maxKeys forgotten; a client's run of requests finds its key without moving it. */
  readonly #buckets: LruMap<string, Bucket>;
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #now: () => number;

  constructor(options: RateLimiterOptions = {}) {
    this.#capacity = options.capacity ?? 5;
    this.#perMs = (options.refillPerMinute ?? 5) / 60_000;
    this.#buckets = new LruMap(options.maxKeys ?? 10_000);
    this.#now = options.now ?? Date.now;
  }

  take(key: string): TakeOutcome {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#capacity, at: now };
      this.#buckets.set(key, bucket);
    } else {
      // Refilled in place (one bucket per key, no new object per request).
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return TAKEN;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000)) };
  }

  /** Forgets a key (after a successful login). */
  reset(key: string): void {
    this.#buckets.delete(key);
  }
}
