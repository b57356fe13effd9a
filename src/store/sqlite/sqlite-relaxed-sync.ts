import type Database from 'better-sqlite3';

/**
 * Runs `step` with `synchronous = NORMAL`, then puts back the connection's own setting (FULL by
 * default, for ingest). For commits that carry no promise to the outside and can be redone
 * (delivery bookkeeping, ADR 0002; FTS catch-up, ADR 0004): in WAL mode a NORMAL commit is
 * written but not fsynced, and the next FULL commit's fsync of the WAL covers it. The pragma
 * cannot change inside a transaction, so `step` opens and commits its own; better-sqlite3 is
 * synchronous, so no ingest commit can run in between.
 */
export function withRelaxedSync<T>(db: Database.Database, step: () => T): T {
  const prior = db.inTransaction ? 1 : Number(db.pragma('synchronous', { simple: true }));
  if (prior <= 1) return step();
  db.pragma('synchronous = NORMAL');
  try {
    return step();
  } finally {
    db.pragma(`synchronous = ${prior}`);
  }
}
