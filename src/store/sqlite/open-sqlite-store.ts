import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import type { Store } from '../../core/ports/store.ts';
import { SqliteAuditLog } from './sqlite-audit-log.ts';
import { SqliteChannelRevisionStore } from './sqlite-channel-revisions.ts';
import { SqliteDeliveryQueue } from './sqlite-delivery-queue.ts';
import { SqliteMessageStore } from './sqlite-message-store.ts';
import { runSqliteMigrations } from './sqlite-migrations.ts';

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
}

/** The embedded store: one SQLite file in WAL mode, migrated on open (ARCHITECTURE.md "Storage"). */
export interface SqliteStore extends Store {
  readonly kind: 'sqlite';
  readonly messages: SqliteMessageStore;
  readonly queue: SqliteDeliveryQueue;
  readonly channels: SqliteChannelRevisionStore;
  readonly audit: SqliteAuditLog;
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
    let closing: Promise<void> | undefined;
    return {
      kind: 'sqlite',
      messages,
      queue,
      channels,
      audit,
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
