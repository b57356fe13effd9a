import { PostgresStatisticsKeeper } from './postgres-statistics-keeper.ts';
import pg from 'pg';
import type { ResourceIndexer } from '../../core/ports/resource-store.ts';
import type { Store } from '../../core/ports/store.ts';
import { PostgresAuditLog } from './postgres-audit-log.ts';
import { PostgresChannelRevisionStore } from './postgres-channel-revisions.ts';
import { PostgresDeliveryQueue } from './postgres-delivery-queue.ts';
import { PostgresIdentityStore } from './postgres-identity-store.ts';
import { PostgresMessageStore } from './postgres-message-store.ts';
import { PostgresProposalStore } from './postgres-proposal-store.ts';
import { PostgresResourceStore } from './postgres-resource-store.ts';
import { quoteSchema, runPostgresMigrations } from './postgres-migrations.ts';
import { toStoreError } from './postgres-transaction.ts';

export interface PostgresStoreOptions {
  readonly url: string;
  /** Created if missing; every pooled connection uses it as its search_path. Default `switchboard`. */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** The store's clock for updatedAt, leases and claims (tests pass a fake one). */
  readonly clock?: () => Date;
  /** With an indexer (passed by the composition root), the canonical FHIR store opens too. */
  readonly resourceIndexer?: ResourceIndexer;
}

/** The opened PostgreSQL store; `migrationsApplied` says how many migrations this open ran. */
export interface PostgresStore extends Store {
  readonly kind: 'postgres';
  readonly messages: PostgresMessageStore;
  readonly queue: PostgresDeliveryQueue;
  readonly channels: PostgresChannelRevisionStore;
  readonly audit: PostgresAuditLog;
  readonly identity: PostgresIdentityStore;
  readonly proposals: PostgresProposalStore;
  readonly resources: PostgresResourceStore | undefined;
  readonly migrationsApplied: number;
  /** Analyzes the schema's tables whose statistics are stale (postgres-statistics-keeper.ts). */
  readonly statistics: PostgresStatisticsKeeper;
}

/**
 * Opens the PostgreSQL store (scale-out, ARCHITECTURE.md "Storage"): a pool whose connections all
 * use `schema`, migrated before this returns. Migrations run under an advisory lock, so several
 * engine processes opening at once migrate once.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? 'switchboard';
  const quoted = quoteSchema(schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // Set at connection start-up, so no query ever runs before the search_path is in place.
    options: `-c search_path=${quoted}`,
  });
  // An idle connection dropped by the server is discarded by the pool; the next query reports the
  // failure to its caller. Without a listener the 'error' event would end the process.
  pool.on('error', () => undefined);

  let migrated: { schemaVersion: number; applied: number };
  try {
    const client = await pool.connect();
    try {
      migrated = await runPostgresMigrations(client, schema);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw toStoreError(error);
  }

  const clock = options.clock ?? ((): Date => new Date());
  const messages = new PostgresMessageStore(pool, clock);
  const queue = new PostgresDeliveryQueue(pool, clock);
  const channels = new PostgresChannelRevisionStore(pool, clock);
  const audit = new PostgresAuditLog(pool, clock);
  const identity = new PostgresIdentityStore(pool, { clock });
  const proposals = new PostgresProposalStore(pool, { clock });
  // Same database and pool: PostgreSQL locks rows, so a Bundle transaction does not stall ingest.
  const resources = options.resourceIndexer === undefined ? undefined : new PostgresResourceStore(pool, { indexer: options.resourceIndexer, clock });
  // Planner statistics kept current even where autovacuum is off or behind (search plans need them).
  const statistics = new PostgresStatisticsKeeper(pool, schema);
  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres',
    identity,
    proposals,
    resources,
    messages,
    queue,
    channels,
    audit,
    schemaVersion: migrated.schemaVersion,
    migrationsApplied: migrated.applied,
    statistics,
    close(): Promise<void> {
      closing ??= (async () => {
        try {
          await statistics.close();
          await resources?.close();
          await messages.close();
        } finally {
          await pool.end();
        }
      })();
      return closing;
    },
  };
}

/** Drops a schema and everything in it (tests use a random schema per run). */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
