// SqliteResourceStore.createBatchRelaxed on a worker thread with a connection of its own (the
// AuditEvent trail, src/api/audit-trail.ts). Why a thread: the cost of a batch is mostly SQLite's
// (b-tree inserts, then the commit writing every dirty page to the WAL), and the pages a commit
// writes are shared by the batch, so a large batch costs far less per resource than a small one
// (about 200 us per AuditEvent in batches of 16, 110 us in batches of 1,000). On the event loop a
// batch holds every request while it runs, which kept batches small; here the requests go on and
// the batches can be large. The rows are prepared by the caller (ids, JSON text, index entries:
// the indexer lives in the caller's thread); the worker only inserts them.
//
// The worker is plain JavaScript evaluated from a string, so it needs no TypeScript loader and
// loads nothing but the driver. Its connection commits with synchronous = NORMAL, as
// createBatchRelaxed promises (sqlite-relaxed-sync.ts explains the trade). Another connection's
// write waits for a batch's transaction through the busy timeout, as it would for another process.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { SwitchboardError } from '../../core/errors.ts';

/**
 * New resources ready to insert. Every row's first value is its rid as an offset (1, 2, ...) from the
 * largest rid in the table when the batch's transaction starts (fhir_history leaves its seq to SQLite).
 */
export interface RelaxedBatch {
  /** fhir_resources rows: rid offset, type, id, version, deleted, last_updated, json. */
  readonly current: unknown[];
  /** fhir_history rows: type, id, version, deleted, last_updated, json. */
  readonly history: unknown[];
  /** Index rows per table: the table, its columns (rid first), the values row after row. */
  readonly entries: Array<[table: string, columns: readonly string[], values: unknown[]]>;
  /** How many versions of each type the batch writes (fhir_type_marks). */
  readonly marks: Array<[type: string, count: number]>;
}

/** Journal entries from..to (seq, inclusive), `count` of them, removed with the resources made from them. */
export interface JournalSettle {
  readonly from: number;
  readonly to: number;
  readonly count: number;
}

export const CURRENT_COLUMNS = ['rid', 'type', 'id', 'version', 'deleted', 'last_updated', 'json'] as const;
export const HISTORY_COLUMNS = ['type', 'id', 'version', 'deleted', 'last_updated', 'json'] as const;
/**
 * The writer thread's nice value (0 normal, 19 lowest). Normal: a batch holds the FHIR file's write
 * lock while it runs, and a thread below the request thread was starved on a busy machine while
 * holding it, so a request's own write waited on the busy timeout for seconds (priority inversion;
 * a 100-entry transaction Bundle took 2.5 s with three CPU hogs running).
 */
const WRITER_NICE = 0;
/** Rows per multi-row INSERT, largest first (a 7-column row: 448 parameters at most). */
export const BATCH_CHUNKS = [64, 16, 4, 1] as const;

// The worker. Mirrors SqliteResourceStore's in-thread #writeBatch: keep the two alike.
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
// A nice value for this thread only (Linux: per thread, and 0 is the calling one), when one is set.
if (workerData.nice !== 0) {
  try {
    require('node:os').setPriority(0, workerData.nice);
  } catch {
    // Not permitted or not supported here: the batches run at the same priority.
  }
}
const db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
const CHUNKS = workerData.chunks;
const statements = new Map();
function statement(table, columns, rows) {
  const key = table + '/' + rows;
  let s = statements.get(key);
  if (s === undefined) {
    const row = '(' + columns.map(() => '?').join(', ') + ')';
    s = db.prepare('INSERT INTO ' + table + ' (' + columns.join(', ') + ') VALUES ' + Array.from({ length: rows }, () => row).join(', '));
    statements.set(key, s);
  }
  return s;
}
function insertRows(table, columns, values, base) {
  const width = columns.length;
  if (base !== undefined) for (let i = 0; i < values.length; i += width) values[i] += base;
  let rows = values.length / width;
  let at = 0;
  for (const size of CHUNKS) {
    while (rows >= size) {
      statement(table, columns, size).run(values.slice(at, at + size * width));
      at += size * width;
      rows -= size;
    }
  }
}
const maxRid = db.prepare('SELECT COALESCE(MAX(rid), 0) FROM fhir_resources').pluck();
const bump = db.prepare('INSERT INTO fhir_type_marks (type, n) VALUES (?, ?) ON CONFLICT (type) DO UPDATE SET n = n + excluded.n');
const consume = db.prepare('DELETE FROM fhir_journal WHERE seq BETWEEN ? AND ?');
const write = db.transaction((parts, journal, settle) => {
  const base = maxRid.get();
  for (const batch of parts) {
    insertRows('fhir_resources', workerData.current, batch.current, base);
    insertRows('fhir_history', workerData.history, batch.history, undefined);
    for (const [table, columns, values] of batch.entries) insertRows(table, columns, values, base);
    for (const [type, count] of batch.marks) bump.run(type, count);
  }
  if (journal !== undefined) insertRows('fhir_journal', ['entry'], journal, undefined);
  // The journal entries these resources were made from go in the same transaction, all of them or
  // none: an entry settled meanwhile (by another process on the file) rolls the whole batch back.
  if (settle !== undefined && consume.run(settle.from, settle.to).changes !== settle.count) throw new Error('journal entries already settled');
});
// The parts of each batch, until its commit message: one transaction for all of them.
const open = new Map();
parentPort.on('message', (message) => {
  if (message.close === true) {
    db.close();
    parentPort.postMessage({ closed: true });
    return;
  }
  const parts = open.get(message.id) ?? [];
  if (message.part !== undefined) {
    parts.push(message.part);
    open.set(message.id, parts);
    return;
  }
  open.delete(message.id);
  if (message.abort === true) return;
  try {
    write.immediate(parts, message.journal, message.settle);
    parentPort.postMessage({ id: message.id });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});
`;

interface Pending {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export class RelaxedBatchWriter {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failed: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(path: string, busyTimeoutMs = 5000) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    // execArgv []: the worker runs plain JavaScript, so no loader (tsx) or profiler flags of the parent.
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { driver, path, busyTimeoutMs, nice: WRITER_NICE, chunks: BATCH_CHUNKS, current: CURRENT_COLUMNS, history: HISTORY_COLUMNS },
    });
    // The store's close() ends it; it must not keep a process alive on its own.
    this.#worker.unref();
    this.#worker.on('message', (message: { id?: number; error?: string }) => {
      if (message.id === undefined) return;
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error === undefined) pending?.resolve();
      else pending?.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: `the batch was not written: ${message.error}` }));
    });
    this.#worker.on('error', (error) => this.#fail(error instanceof Error ? error.message : String(error)));
    this.#worker.on('exit', () => this.#fail('the batch writer stopped'));
  }

  /**
   * A new batch: send its parts (rid offsets unique across them), then commit() it. The parts go to
   * the thread as they are made, so the caller can make a large batch in slices between requests.
   */
  begin(): number {
    return this.#next++;
  }

  part(id: number, part: RelaxedBatch): void {
    if (this.#failed === undefined && this.#closing === undefined) this.#worker.postMessage({ id, part });
  }

  /** Drops the parts sent (when making the next one failed). */
  abort(id: number): void {
    if (this.#failed === undefined && this.#closing === undefined) this.#worker.postMessage({ id, abort: true });
  }

  /**
   * Writes the parts sent in one transaction; resolves once it is committed, rejects (nothing written)
   * when it failed. In the same transaction: `journal` entries appended to fhir_journal, and `settle`:
   * the journal entries from..to removed, which must be `count` rows (else nothing is written).
   */
  commit(id: number, extra: { journal?: readonly string[]; settle?: JournalSettle } = {}): Promise<void> {
    if (this.#failed !== undefined || this.#closing !== undefined) return Promise.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: this.#failed ?? 'the resource store is closing' }));
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...extra });
    });
  }

  /** Waits for the batches sent (each is answered in order), then closes the connection and ends the thread. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#failed === undefined) {
        await new Promise<void>((resolve) => {
          const onMessage = (message: { closed?: boolean }): void => {
            if (message.closed !== true) return;
            this.#worker.off('message', onMessage);
            resolve();
          };
          this.#worker.on('message', onMessage);
          this.#worker.once('exit', () => resolve());
          this.#worker.postMessage({ close: true });
        });
      }
      await this.#worker.terminate();
    })();
    return this.#closing;
  }

  #fail(reason: string): void {
    this.#failed ??= reason;
    for (const pending of this.#pending.values()) pending.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason }));
    this.#pending.clear();
  }
}
