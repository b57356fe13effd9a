// Test support for the SQLite resource store on real files: a temporary directory, and two
// connections to one database file in it (what one connection sees of another's commits: type
// marks, the writer thread's batches). Everything stays real; the directory goes afterwards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResourceIndexer } from '../../core/ports/resource-store.ts';
import { openSqliteResourceStore, type SqliteResourceStore } from './sqlite-resource-store.ts';

/** `work` in a new temporary directory (named from `prefix`), removed afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `work` with two stores open on one new file (indexing with `indexer`), both closed afterwards. */
export async function withTwoConnections<T>(prefix: string, indexer: ResourceIndexer, work: (store: SqliteResourceStore, other: SqliteResourceStore) => Promise<T>): Promise<T> {
  return withTempDir(prefix, async (dir) => {
    const path = join(dir, 'fhir.db');
    const store = openSqliteResourceStore({ path, indexer });
    const other = openSqliteResourceStore({ path, indexer });
    try {
      return await work(store, other);
    } finally {
      await other.close();
      await store.close();
    }
  });
}
