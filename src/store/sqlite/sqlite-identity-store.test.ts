import Database from 'better-sqlite3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runIdentityStoreSuite } from '../identity-store-conformance.ts';
import { SQLITE_IDENTITY_SCHEMA } from './sqlite-identity-schema.ts';
import { SqliteIdentityStore } from './sqlite-identity-store.ts';

// A fresh database file per test, with the identity schema applied (the numbered migrations do
// not hold it yet); foreign keys on, as open-sqlite-store.ts sets them.
runIdentityStoreSuite('SqliteIdentityStore: IdentityStore conformance', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-identity-'));
  const db = new Database(join(dir, 'identity.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec(SQLITE_IDENTITY_SCHEMA);
  db.exec(SQLITE_IDENTITY_SCHEMA); // idempotent
  let now = Date.now();
  const store = new SqliteIdentityStore(db, { clock: () => new Date(now) });
  return {
    store,
    setNow: (ms: number) => {
      now = ms;
    },
    cleanup: async () => {
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
