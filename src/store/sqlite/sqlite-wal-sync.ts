import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';

/**
 * The fsync of a synchronous=FULL commit, taken off the event loop.
 *
 * In WAL mode a commit appends its frames to the `-wal` file with write(); what `synchronous = FULL`
 * adds is an fsync of that file before COMMIT returns (sqlite.org/pragma.html#pragma_synchronous:
 * "the WAL file is synchronized before each transaction commit"). better-sqlite3 is synchronous,
 * so with FULL the whole event loop waits on the disk at every ingest commit: nothing is read from
 * the sockets, nothing parsed, no ACK written, while the platter (or the VM's virtual disk) spins.
 *
 * Here the commit runs with NORMAL (frames written, not synced) and the same fsync is done by
 * `fs.fdatasync` on libuv's thread pool; whoever must not answer before the data is durable (the
 * ACK: ARCHITECTURE.md invariant 1) awaits `durable()`. While one sync is in flight the loop goes
 * on receiving and commits the next group, whose waiters share the following sync: the classic
 * group commit, now pipelined instead of ping-pong.
 *
 * Why this is as durable as FULL: on Linux fdatasync(2) flushes the file's data and the metadata
 * needed to read it (its size) whatever descriptor wrote it, so syncing our own descriptor of the
 * `-wal` file after COMMIT returned covers that commit's frames — exactly the sync FULL would have
 * made, only later, and the promise is kept until it is done. Checkpoints and the reuse of the WAL
 * after one are synced by SQLite itself in NORMAL mode too (same page), so the database's
 * integrity never depended on the per-commit sync; only the durability of the last commits did.
 *
 * One connection's commits share one instance (`walSyncOf`), so the message store and the
 * delivery queue agree on what is durable.
 */
export class SqliteWalSync {
  readonly #path: string;
  #fd: number | undefined;
  #ino: number | undefined;
  #inFlight = false;
  readonly #afterInFlight: Array<() => void> = [];
  /** Waiters whose commits came after the sync in flight started: they need the next one. */
  #next: Group | undefined;
  /** The group of the sync in flight. */
  #current: Group | undefined;
  /** Whether the last sync that ended failed (read by pending() when none is asked for or running). */
  #lastFailed = false;
  /** Syncs done (tests, stats). */
  syncs = 0;

  constructor(walPath: string) {
    this.#path = walPath;
  }

  /**
   * Resolves once every commit made on the connection before this call is on disk. Call it after
   * COMMIT returned; a sync already in flight started before that commit, so it does not count.
   */
  durable(): Promise<void> {
    const group = (this.#next ??= newGroup());
    if (!this.#inFlight) this.#start();
    return group.promise;
  }

  /**
   * The sync that covers every commit durable() was asked for so far, without asking for one: its
   * promise while it is queued or running (syncs end in order, so it covers the earlier ones too),
   * 'failed' when the last one failed and none was asked for since (a caller that needs durability
   * then asks durable()), undefined when all are done. The delivery queue's claim waits on it so
   * that no delivery leaves before its ingest commit is on disk, without starting a sync of its own
   * (ADR 0007, 0012).
   */
  pending(): Promise<void> | 'failed' | undefined {
    const group = this.#next ?? this.#current;
    if (group !== undefined) return group.promise;
    return this.#lastFailed ? 'failed' : undefined;
  }

  /** Calls `then` once the sync in flight (if any) has finished. */
  afterInFlight(then: () => void): void {
    if (!this.#inFlight) then();
    else this.#afterInFlight.push(then);
  }

  /** True when no commit is waiting for its sync. */
  get idle(): boolean {
    return !this.#inFlight && this.#next === undefined;
  }

  close(): void {
    if (this.#fd !== undefined) {
      try {
        fs.closeSync(this.#fd);
      } catch {
        // already closed
      }
    }
    this.#fd = undefined;
    this.#ino = undefined;
  }

  #start(): void {
    const group = this.#next;
    if (group === undefined) return;
    this.#next = undefined;
    let fd: number;
    try {
      fd = this.#descriptor();
    } catch (error) {
      this.#lastFailed = true;
      group.reject(syncError(error));
      return;
    }
    this.#inFlight = true;
    this.#current = group;
    fs.fdatasync(fd, (error) => {
      this.#inFlight = false;
      this.#current = undefined;
      this.#lastFailed = error !== null;
      this.syncs++;
      if (error !== null) group.reject(syncError(error));
      else group.resolve();
      if (this.#next !== undefined) this.#start();
      for (const then of this.#afterInFlight.splice(0)) then();
    });
  }

  /**
   * Our descriptor of the current `-wal` file. SQLite keeps the same file while a connection is
   * open (it truncates or rewrites it, it does not replace it), but a descriptor of a file that was
   * deleted and made anew would sync the wrong one, so the inode is checked before each sync.
   */
  #descriptor(): number {
    const ino = fs.statSync(this.#path).ino;
    if (this.#fd !== undefined && this.#ino === ino) return this.#fd;
    this.close();
    this.#fd = fs.openSync(this.#path, 'r');
    this.#ino = fs.fstatSync(this.#fd).ino;
    return this.#fd;
  }
}

interface Group {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A group nobody awaits any more (its callers failed otherwise) must not crash the process.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

function syncError(error: unknown): SwitchboardError {
  return new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: `could not sync the write-ahead log: ${error instanceof Error ? error.message : String(error)}` }, { cause: error });
}

const instances = new WeakMap<Database.Database, SqliteWalSync | null>();

/**
 * The WAL sync of a connection, or undefined where a commit must keep its own fsync: an in-memory
 * or temporary database, a journal mode other than WAL, or a connection whose synchronous setting
 * is below FULL (the operator chose NORMAL: nothing to add).
 */
export function walSyncOf(db: Database.Database): SqliteWalSync | undefined {
  let sync = instances.get(db);
  if (sync === undefined) {
    const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
    const level = Number(db.pragma('synchronous', { simple: true }));
    sync = db.memory || db.name === '' || mode !== 'wal' || level < 2 ? null : new SqliteWalSync(`${db.name}-wal`);
    instances.set(db, sync);
  }
  return sync ?? undefined;
}
