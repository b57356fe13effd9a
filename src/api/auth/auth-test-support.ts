import Database from 'better-sqlite3';
import type { IdentityStore } from '../../core/ports/identity-store.ts';
import { SQLITE_IDENTITY_SCHEMA } from '../../store/sqlite/sqlite-identity-schema.ts';
import { SqliteIdentityStore } from '../../store/sqlite/sqlite-identity-store.ts';

/** For the auth tests: an identity store on an in-memory SQLite database, with a settable clock. */
export function memoryIdentityStore(clock?: () => Date): { store: IdentityStore; close: () => void } {
  const db = new Database(':memory:');
  db.pragma('foreign_keys = ON');
  db.exec(SQLITE_IDENTITY_SCHEMA);
  return { store: new SqliteIdentityStore(db, clock === undefined ? {} : { clock }), close: () => db.close() };
}
