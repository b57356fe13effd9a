/**
 * Group commit on one SQLite connection: calls made in the same turn of the event loop queue up and
 * are written together, `maxBatch` at a time, by `write` (one transaction per batch). better-sqlite3
 * is synchronous, so batching is what lets many callers share one commit (and one fsync).
 * Used by ingest (SqliteMessageStore) and by delivery outcomes (SqliteDeliveryQueue).
 */
export class GroupCommit<T> {
  readonly #maxBatch: number;
  readonly #write: (batch: T[]) => void;
  #pending: T[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** Batches written so far. */
  flushes = 0;

  readonly #wait: ((then: () => void) => void) | undefined;
  #waiting = false;

  /**
   * `wait`, when given, is asked before a scheduled flush and calls `then` when the batch may be
   * written (ingest: once the WAL sync in flight is done, so that what arrives meanwhile joins one
   * bigger commit instead of several small ones that would wait for the next sync anyway).
   */
  constructor(maxBatch: number, write: (batch: T[]) => void, wait?: (then: () => void) => void) {
    this.#maxBatch = maxBatch;
    this.#write = write;
    this.#wait = wait;
  }

  /** Queues an item; a full batch is written at once, otherwise on the next turn. */
  add(item: T): void {
    this.#pending.push(item);
    if (this.#pending.length >= this.#maxBatch) this.flush();
    else if (this.#scheduled === undefined && !this.#waiting) {
      this.#scheduled = setImmediate(() => {
        this.#scheduled = undefined;
        if (this.#wait === undefined) {
          this.flush();
          return;
        }
        this.#waiting = true;
        this.#wait(() => {
          this.#waiting = false;
          this.flush();
        });
      });
    }
  }

  /**
   * Hands over up to `max` queued items, oldest first, for the caller to write in a transaction of
   * its own (the delivery queue's claim writes the outcomes queued meanwhile with it: ADR 0012).
   * The flush scheduled for the rest stays; when nothing is left it is cancelled.
   */
  take(max = this.#maxBatch): T[] {
    if (this.#waiting) return [];
    const items = this.#pending.splice(0, max);
    if (this.#pending.length === 0 && this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    return items;
  }

  /** Writes everything queued now, batch by batch. */
  flush(): void {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      this.flushes++;
      this.#write(batch);
    }
  }
}
