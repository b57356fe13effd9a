import type Database from 'better-sqlite3';
import { withRelaxedSync } from './sqlite-relaxed-sync.ts';

/** Rows indexed per catch-up transaction: large enough that FTS5 writes few, large segments. */
const DEFAULT_BATCH_ROWS = 512;
/** How long a quiet store waits before indexing what arrived (the search lag when idle). */
const DEFAULT_DELAY_MS = 50;
/** Back-off after a failed step (busy, disk full); the next ingest or search retries sooner. */
const RETRY_MS = 500;

export interface SqliteFtsIndexerOptions {
  readonly batchRows?: number;
  readonly delayMs?: number;
}

/**
 * Keeps the FTS5 index (`messages_fts`), the patient-id and the control-id index
 * (`message_patient_ids`, `message_control_ids`, ADR 0009) caught up with `messages`, outside the
 * ingest transaction (ADR 0005). `fts_progress.indexed_seq` is the watermark: every message with a lower or equal seq
 * is indexed. A step indexes the next rows after it and moves it in ONE transaction, so a crash
 * loses both or neither; at start the indexer resumes from the stored watermark.
 *
 * Why not in the ingest transaction: FTS5 writes a new index segment at every commit and merges
 * segments as they pile up, so with group commit's 10-16 rows per commit it cost about as much as
 * all the other ingest work together; indexing ~500 rows at a time costs a third of that per row.
 * Searches by text call `catchUp()` first, so a search always sees every committed message.
 *
 * Patient and control ids for the same reason (ADR 0009): inserted at ingest, the entries of a
 * commit went to as many leaves (one per patient, one per sender sequence), ~0.76 and ~0.93 WAL
 * frames per message at 8 messages per commit; a batch of 512 shares its leaves. Searches by
 * patient or control id catch up first, as text searches do.
 *
 * Messages are committed in seq order (one writer at a time, seq = rowid, never deleted), so
 * "everything above the watermark" is exactly "everything not yet indexed".
 */
export class SqliteFtsIndexer {
  readonly #db: Database.Database;
  readonly #batchRows: number;
  readonly #delayMs: number;
  readonly #stmt: {
    watermark: Database.Statement<[], { indexed_seq: number }>;
    pending: Database.Statement<[number, number], { seq: number; content: string | null }>;
    insert: Database.Statement<[number, string | null]>;
    mark: Database.Statement<[number]>;
    patients: Database.Statement<[number, number]>;
    controlIds: Database.Statement<[number, number]>;
    newest: Database.Statement<[], { seq: number | null }>;
  };
  readonly #stepTxn: Database.Transaction<(limit: number) => number>;
  /** Rows written since the last step (an estimate; a step reads the real watermark). */
  #unindexed = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #closed = false;
  /** Catch-up transactions committed (tests, metrics). */
  steps = 0;

  constructor(db: Database.Database, options: SqliteFtsIndexerOptions = {}) {
    this.#db = db;
    this.#batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
    this.#delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
    this.#stmt = {
      watermark: db.prepare('SELECT indexed_seq FROM fts_progress WHERE id = 1'),
      pending: db.prepare('SELECT seq, content FROM messages WHERE seq > ? ORDER BY seq LIMIT ?'),
      // A pruned row (content NULL) goes in as an empty document, as pruneContent leaves it, so
      // the index's row count matches the table and FTS5 'integrity-check' holds.
      insert: db.prepare('INSERT INTO messages_fts (rowid, content) VALUES (?, ?)'),
      mark: db.prepare('UPDATE fts_progress SET indexed_seq = ? WHERE id = 1'),
      // Every patient id of the rows in (from, to], from the JSON array on each row. OR IGNORE:
      // rows written before ADR 0009 above the watermark had theirs inserted at ingest.
      patients: db.prepare(`INSERT OR IGNORE INTO message_patient_ids (patient_id, message_seq)
        SELECT j.value, m.seq FROM messages m, json_each(m.patient_ids) j WHERE m.seq > ? AND m.seq <= ?`),
      controlIds: db.prepare(`INSERT OR IGNORE INTO message_control_ids (control_id, message_seq)
        SELECT control_id, seq FROM messages WHERE seq > ? AND seq <= ? AND control_id IS NOT NULL`),
      newest: db.prepare('SELECT MAX(seq) AS seq FROM messages'),
    };
    this.#stepTxn = db.transaction((limit: number) => this.indexPending(limit));
    // Rows a crash left behind are indexed soon after start, not only at the next ingest.
    const lag = this.lag();
    if (lag > 0) {
      this.#unindexed = lag;
      this.#schedule();
    }
  }

  /** Messages committed but not yet indexed. */
  lag(): number {
    const newest = this.#stmt.newest.get()?.seq ?? 0;
    return Math.max(0, newest - (this.#stmt.watermark.get()?.indexed_seq ?? 0));
  }

  /** Told after an ingest transaction committed `rows` new messages. */
  noteWritten(rows: number): void {
    if (this.#closed || rows <= 0) return;
    this.#unindexed += rows;
    this.#schedule();
  }

  /**
   * Indexes up to `limit` rows above the watermark and moves it, inside the caller's transaction
   * (pruneContent runs it first, so it never deletes index entries that were never written).
   * Returns the number of rows indexed.
   */
  indexPending(limit: number = Number.MAX_SAFE_INTEGER): number {
    const from = this.#stmt.watermark.get()?.indexed_seq ?? 0;
    const rows = this.#stmt.pending.all(from, limit);
    for (const row of rows) this.#stmt.insert.run(row.seq, row.content);
    const last = rows[rows.length - 1];
    if (last !== undefined) {
      this.#stmt.patients.run(from, last.seq);
      this.#stmt.controlIds.run(from, last.seq);
      this.#stmt.mark.run(last.seq);
    }
    return rows.length;
  }

  /** Indexes everything committed so far (before a text search, at close). Throws driver errors. */
  catchUp(): void {
    while (this.#step() === this.#batchRows);
    this.#unindexed = 0;
  }

  /** Stops scheduling; what is left is indexed at the next open. */
  close(): void {
    this.#closed = true;
    this.#cancel();
  }

  /** One catch-up transaction, without fsync: the watermark moves with the rows it covers. */
  #step(): number {
    const n = withRelaxedSync(this.#db, () => this.#stepTxn.immediate(this.#batchRows));
    if (n > 0) this.steps++;
    return n;
  }

  #schedule(): void {
    if (this.#closed || this.#immediate !== undefined) return;
    if (this.#unindexed >= this.#batchRows) {
      // A full batch waits no longer: under load the index keeps pace batch by batch.
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#immediate = setImmediate(() => this.#run());
    } else {
      this.#timer ??= setTimeout(() => this.#run(), this.#delayMs).unref();
    }
  }

  #cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  #run(): void {
    this.#cancel();
    if (this.#closed || !this.#db.open) return;
    try {
      const n = this.#step();
      this.#unindexed = n === this.#batchRows ? Math.max(this.#batchRows, this.#unindexed - n) : 0;
      if (this.#unindexed > 0) this.#schedule();
    } catch {
      // Busy or failing: nothing is lost (the watermark did not move); try again later.
      this.#timer = setTimeout(() => this.#run(), RETRY_MS).unref();
    }
  }
}
