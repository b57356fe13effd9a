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

const TAKEN: TakeOutcome = Object.freeze({ ok: true });

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** The key inserted last, so at the end of the map's order already: a client's run of requests does not move it. */
  #last: string | undefined;

  constructor(options: RateLimiterOptions = {}) {
    this.#capacity = options.capacity ?? 5;
    this.#perMs = (options.refillPerMinute ?? 5) / 60_000;
    this.#maxKeys = options.maxKeys ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  take(key: string): TakeOutcome {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#capacity, at: now };
      this.#insert(key, bucket);
    } else {
      // Refilled in place (one bucket per key, no new object per request).
      bucket.tokens = Math.min(this.#capacity, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
      if (key !== this.#last) {
        // Re-inserted so that Map order is least recently used first.
        this.#buckets.delete(key);
        this.#insert(key, bucket);
      }
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return TAKEN;
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000)) };
  }

  #insert(key: string, bucket: Bucket): void {
    this.#buckets.set(key, bucket);
    this.#last = key;
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
      if (oldest === key) this.#last = undefined;
    }
  }

  /** Forgets a key (after a successful login). */
  reset(key: string): void {
    this.#buckets.delete(key);
    if (key === this.#last) this.#last = undefined;
  }
}
