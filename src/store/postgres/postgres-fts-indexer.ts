import type pg from 'pg';
import { toStoreError, withTransaction } from './postgres-transaction.ts';

/** Messages indexed per step (one transaction). */
const DEFAULT_BATCH = 500;
/** How long the background indexer lets ingests accumulate before a step, ms. */
const DEFAULT_DELAY_MS = 25;

export interface PostgresFtsIndexerOptions {
  readonly batch?: number;
  readonly delayMs?: number;
}

/**
 * The full-text index of message content, filled after the ingest commit (migration 7; the same
 * choice as SQLite's, ADR 0005): ingest only queues the message id in `message_fts_pending`, and
 * this indexer turns queued ids into `message_fts` rows (to_tsvector of the content, GIN-indexed)
 * in batches, in the background, and on demand before a text search (`catchUp`), so a search
 * never misses a committed message.
 *
 * Several engine processes share the queue: a background step takes its rows with
 * `FOR UPDATE SKIP LOCKED` (each row indexed once); a catch-up takes them with a plain
 * `FOR UPDATE`, so it waits for rows another process is indexing instead of skipping them, and
 * returns only when the queue it saw is empty. A step deletes its queue rows and inserts their
 * index rows in one statement: a crash loses both or neither. Steps commit with
 * `synchronous_commit = off` (ADR 0002's reasoning: a lost step is redone from the queue).
 * Nothing is logged: errors leave the queue as it was for the next step.
 */
export class PostgresFtsIndexer {
  readonly #pool: pg.Pool;
  readonly #batch: number;
  readonly #delayMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  /** Index transactions committed so far (tests). */
  steps = 0;

  constructor(pool: pg.Pool, options: PostgresFtsIndexerOptions = {}) {
    this.#pool = pool;
    this.#batch = Math.max(1, Math.floor(options.batch ?? DEFAULT_BATCH));
    this.#delayMs = Math.max(0, options.delayMs ?? DEFAULT_DELAY_MS);
  }

  /** Ingest committed messages: index them soon, in the background. */
  noteWritten(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running ??= this.#drain(true)
        .catch(() => undefined)
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#delayMs);
    this.#timer.unref();
  }

  /** Indexes everything queued now, waiting for rows another process is indexing. */
  async catchUp(): Promise<void> {
    await this.#drain(false);
  }

  /** Messages queued and not yet indexed (all processes). */
  async lag(): Promise<number> {
    try {
      const result = await this.#pool.query<{ n: number }>('SELECT count(*)::int AS n FROM message_fts_pending');
      return result.rows[0]?.n ?? 0;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** Stops the background work; a step under way finishes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #drain(skipLocked: boolean): Promise<void> {
    while (!(skipLocked && this.#closed)) {
      const taken = await this.#step(skipLocked);
      if (taken < this.#batch) return;
    }
  }

  /** One batch: queue rows out, index rows in, one statement. Returns the queue rows taken. */
  async #step(skipLocked: boolean): Promise<number> {
    const taken = await withTransaction(this.#pool, async (client) => {
      await client.query('SET LOCAL synchronous_commit = off');
      const result = await client.query<{ taken: number }>(
        `WITH batch AS (
           DELETE FROM message_fts_pending
           WHERE seq IN (SELECT seq FROM message_fts_pending ORDER BY seq LIMIT $1 FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''})
           RETURNING message_id),
         indexed AS (
           INSERT INTO message_fts (message_id, tsv)
           SELECT m.id, to_tsvector('simple', m.content) FROM messages m
           WHERE m.id IN (SELECT message_id FROM batch) AND m.content IS NOT NULL
           ON CONFLICT (message_id) DO UPDATE SET tsv = EXCLUDED.tsv)
         SELECT count(*)::int AS taken FROM batch`,
        [this.#batch],
      );
      return result.rows[0]?.taken ?? 0;
    });
    this.steps++;
    return taken;
  }
}
