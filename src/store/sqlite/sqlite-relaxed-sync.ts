import type Database from 'better-sqlite3';

/**
 * The read of a connection's setting, prepared once (`db.pragma()` prepares on every call). Only
 * the read: SQLite applies `PRAGMA synchronous = ...` while preparing it, not when it is stepped,
 * so a prepared setter cannot be kept for later; the setters go through `exec`.
 */
const reads = new WeakMap<Database.Database, Database.Statement<[], { synchronous: number }>>();

function readOf(db: Database.Database): Database.Statement<[], { synchronous: number }> {
  let read = reads.get(db);
  if (read === undefined) {
    read = db.prepare('PRAGMA synchronous');
    reads.set(db, read);
  }
  return read;
}

/**
 * Runs `step` with `synchronous = NORMAL`, then puts back the connection's own setting (FULL by
 * default, for ingest). For commits that carry no promise to the outside and can be redone
 * (delivery bookkeeping, ADR 0002; FTS catch-up, ADR 0005): in WAL mode a NORMAL commit is
 * written but not fsynced, and the next FULL commit's fsync of the WAL covers it. The pragma
 * cannot change inside a transaction, so `step` opens and commits its own; better-sqlite3 is
 * synchronous, so no ingest commit can run in between.
 *
 * Bookkeeping runs this a few times per delivered message, so it avoids `db.pragma()`, which
 * prepares a statement and builds a result array on every call.
 */
export function withRelaxedSync<T>(db: Database.Database, step: () => T): T {
  if (db.inTransaction) return step();
  // sqlite.org/pragma.html#pragma_synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
  const prior = Number(readOf(db).get()?.synchronous ?? 1);
  if (prior <= 1) return step();
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return step();
  } finally {
    db.exec(`PRAGMA synchronous = ${prior}`);
  }
}
