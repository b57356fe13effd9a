import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import type { ResourceIndexer } from '../../core/ports/resource-store.ts';
import type { Store } from '../../core/ports/store.ts';
import { SqliteAuditLog } from './sqlite-audit-log.ts';
import { SqliteChannelRevisionStore } from './sqlite-channel-revisions.ts';
import { SqliteDeliveryQueue } from './sqlite-delivery-queue.ts';
import { SqliteMessageStore } from './sqlite-message-store.ts';
import { SqliteIdentityStore } from './sqlite-identity-store.ts';
import { SqliteProposalStore } from './sqlite-proposal-store.ts';
import { runSqliteMigrations, SQLITE_FHIR_MIGRATIONS } from './sqlite-migrations.ts';
import { SqliteResourceStore } from './sqlite-resource-store.ts';

export interface SqliteStoreOptions {
  /** The database file; its directory is created when missing. */
  readonly path: string;
  /**
   * FULL (default) fsyncs the WAL on every commit, so a resolved ingest survives power loss
   * (invariant 1). NORMAL survives a process crash but may lose the last commits on power loss.
   */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** How long a write waits for another process's lock before SWB_ERR_STORE_UNAVAILABLE (default 5 s). */
  readonly busyTimeoutMs?: number;
  /** The store's clock (updatedAt, createdAt, default claim time); tests replace it. */
  readonly clock?: () => Date;
  /**
   * With an indexer (src/fhir/search-parameters.ts FhirSearchIndexer, passed by the composition
   * root: stores do not know FHIR), the canonical FHIR store opens too, in its own file beside this
   * one (`<name>-fhir.db`): its Bundle transactions span awaits and must not hold the write lock
   * ingest needs.
   */
  readonly resourceIndexer?: ResourceIndexer;
}

/** The embedded store: one SQLite file in WAL mode, migrated on open (ARCHITECTURE.md "Storage"). */
export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  readonly messages: SqliteMessageStore;
  readonly queue: SqliteDeliveryQueue;
  readonly channels: SqliteChannelRevisionStore;
  readonly audit: SqliteAuditLog;
  readonly identity: SqliteIdentityStore;
  readonly proposals: SqliteProposalStore;
  readonly resources: SqliteResourceStore | undefined;
  /** The connection's settings as SQLite reports them (diagnostics, tests). */
  settings(): SqliteSettings;
}

export interface SqliteSettings {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
  /** 0 NONE, 1 FULL, 2 INCREMENTAL. */
  readonly autoVacuum: number;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const synchronous = options.synchronous ?? 'FULL';
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'store.synchronous', reason: 'must be FULL or NORMAL' });
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  let db: Database.Database;
  try {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    db = new Database(options.path, { timeout: busyTimeoutMs });
  } catch (error) {
    throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: error instanceof Error ? error.message : String(error) }, { cause: error });
  }
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    // auto_vacuum can only be chosen on an empty file, before WAL mode is set, outside a
    // transaction (sqlite.org/pragma.html#pragma_auto_vacuum); pruneContent relies on it.
    if ((db.pragma('page_count', { simple: true }) as number) === 0) db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
    const schemaVersion = runSqliteMigrations(db);
    const clock = options.clock !== undefined ? { clock: options.clock } : {};
    const messages = new SqliteMessageStore(db, clock);
    const queue = new SqliteDeliveryQueue(db, clock);
    const channels = new SqliteChannelRevisionStore(db, clock);
    const audit = new SqliteAuditLog(db, clock);
    const identity = new SqliteIdentityStore(db, clock);
    const proposals = new SqliteProposalStore(db, clock);
    const resources = options.resourceIndexer === undefined ? undefined : openFhirFile(options, busyTimeoutMs, options.resourceIndexer);
    let closing: Promise<void> | undefined;
    return {
      kind: 'sqlite',
      messages,
      queue,
      channels,
      audit,
      identity,
      proposals,
      resources,
      schemaVersion,
      settings: (): SqliteSettings => ({
        journalMode: String(db.pragma('journal_mode', { simple: true })),
        synchronous: Number(db.pragma('synchronous', { simple: true })),
        foreignKeys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
        busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
        autoVacuum: Number(db.pragma('auto_vacuum', { simple: true })),
      }),
      close(): Promise<void> {
        closing ??= (async () => {
          await resources?.close();
          // Proposal writes queued in this turn are written, not refused by the closed connection;
          // before the message store closes, which waits for the WAL sync they need.
          proposals.flush();
          await messages.close();
          // Fold the WAL back into the main file so the next open starts clean.
          try {
            db.pragma('wal_checkpoint(TRUNCATE)');
          } catch {
            // Another process holds the database; its own close or the next open checkpoints.
          }
          db.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    db.close();
    if (error instanceof SwitchboardError) throw error;
    throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: error instanceof Error ? error.message : String(error) }, { cause: error });
  }
}

/** The FHIR store's file: `<name>-fhir.db` beside the engine's (`:memory:` stays in memory). */
export function fhirDatabasePath(path: string): string {
  if (path === ':memory:') return path;
  return /\.db$/i.test(path) ? path.replace(/\.db$/i, '-fhir.db') : `${path}-fhir`;
}

function openFhirFile(options: SqliteStoreOptions, busyTimeoutMs: number, indexer: ResourceIndexer): SqliteResourceStore {
  const file = fhirDatabasePath(options.path);
  let db: Database.Database;
  try {
    db = new Database(file, { timeout: busyTimeoutMs });
  } catch (error) {
    throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: error instanceof Error ? error.message : String(error) }, { cause: error });
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    runSqliteMigrations(db, SQLITE_FHIR_MIGRATIONS);
    return new SqliteResourceStore(db, { indexer, applySchema: false, ownsConnection: true, ...(options.clock !== undefined ? { clock: options.clock } : {}) });
  } catch (error) {
    db.close();
    throw error;
  }
}
