import type pg from 'pg';

/** How often the keeper looks at the schema's tables (the default of autovacuum_naptime). */
const DEFAULT_INTERVAL_MS = 60_000;
/** A class for pg_try_advisory_lock: one process of several analyzes a schema at a time. */
const LOCK_CLASS = 0x53574241; // 'SWBA'

export interface PostgresStatisticsKeeperOptions {
  readonly intervalMs?: number;
}

/**
 * Keeps the planner's statistics of the store's tables current when autovacuum does not
 * (PostgreSQL 16 routine-vacuuming.html#VACUUM-FOR-STATISTICS): every minute, a table whose rows
 * changed since its last ANALYZE by more than autovacuum's own rule — 50 rows plus 10% of the
 * table (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor) — is analyzed.
 *
 * Why the engine cares: search plans intersect index-table sets, and with no statistics the planner
 * guesses one row per set. After a bulk load on a server with autovacuum off (or before its next
 * run), searching Observation by patient and code over a million Observations merge-joined all
 * 200,000 rows of the code instead of probing the 50 of the patient: 56 ms a search instead of
 * under 1 ms. Where autovacuum is on and keeping up, the rule rarely fires: autovacuum has already
 * analyzed the table.
 *
 * With several engine processes on one schema, a session advisory lock lets one of them do it.
 * Failures are ignored (the next round tries again): statistics are an optimization.
 */
export class PostgresStatisticsKeeper {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #timer: NodeJS.Timeout;
  #running: Promise<string[]> | undefined;
  #closed = false;

  constructor(pool: pg.Pool, schema: string, options: PostgresStatisticsKeeperOptions = {}) {
    this.#pool = pool;
    this.#schema = schema;
    this.#timer = setInterval(() => void this.runOnce().catch(() => undefined), options.intervalMs ?? DEFAULT_INTERVAL_MS);
    this.#timer.unref();
  }

  /** One round; resolves with the tables analyzed (tests, diagnostics). */
  runOnce(): Promise<string[]> {
    if (this.#closed) return Promise.resolve([]);
    this.#running ??= this.#round().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#running?.catch(() => undefined);
  }

  async #round(): Promise<string[]> {
    const client = await this.#pool.connect();
    try {
      const locked = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS, this.#schema]);
      if (locked.rows[0]?.ok !== true) return [];
      try {
        // format('%I.%I'): the qualified name, quoted by the server as an identifier.
        const stale = await client.query<{ name: string; qualified: string }>(
          `SELECT relname AS name, format('%I.%I', schemaname, relname) AS qualified FROM pg_stat_user_tables
           WHERE schemaname = $1 AND n_mod_since_analyze > 50 + 0.1 * GREATEST(n_live_tup, 0)
           ORDER BY relname`,
          [this.#schema],
        );
        const analyzed: string[] = [];
        for (const { name, qualified } of stale.rows) {
          if (this.#closed) break;
          await client.query(`ANALYZE ${qualified}`);
          analyzed.push(name);
        }
        return analyzed;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, this.#schema]);
      }
    } finally {
      client.release();
    }
  }
}
