import type pg from 'pg';
import { POSTGRES_IDENTITY_SCHEMA } from './postgres-identity-schema.ts';
import { POSTGRES_PROPOSAL_LEASE_SCHEMA, POSTGRES_PROPOSAL_SCHEMA } from './postgres-proposal-schema.ts';
import { POSTGRES_RESOURCE_SCHEMA } from './postgres-resource-schema.ts';
import { SwitchboardError } from '../../core/errors.ts';

/** One numbered, forward-only migration. Applied in its own transaction, never edited once shipped. */
export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The schema. Ids are `text COLLATE "C"` so that the sortable ids (src/core/ids.ts) compare
 * bytewise, which keyset pagination by (received_at desc, id desc) relies on.
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'messages, dedupe keys, events, deliveries',
    sql: `
CREATE TABLE messages (
  id               text COLLATE "C" PRIMARY KEY,
  channel_id       text NOT NULL,
  content          text,
  content_bytes    integer,
  content_type     text NOT NULL,
  received_at      timestamptz NOT NULL,
  source           text NOT NULL,
  message_type     text,
  control_id       text,
  sending_facility text,
  ordering_key     text,
  patient_ids      jsonb NOT NULL DEFAULT '[]',
  correlation_id   text NOT NULL,
  config_revision  integer NOT NULL,
  status           text NOT NULL,
  status_reason    text,
  updated_at       timestamptz NOT NULL,
  content_tsv      tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(content, ''))) STORED
);
CREATE INDEX messages_received_idx ON messages (received_at DESC, id DESC);
CREATE INDEX messages_channel_received_idx ON messages (channel_id, received_at DESC, id DESC);
CREATE INDEX messages_status_received_idx ON messages (status, received_at DESC, id DESC);
CREATE INDEX messages_type_received_idx ON messages (message_type, received_at DESC, id DESC);
CREATE INDEX messages_control_id_idx ON messages (control_id);
CREATE INDEX messages_correlation_id_idx ON messages (correlation_id);
CREATE INDEX messages_content_tsv_idx ON messages USING gin (content_tsv);

CREATE TABLE message_patient_ids (
  message_id text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  patient_id text NOT NULL,
  PRIMARY KEY (message_id, patient_id)
);
CREATE INDEX message_patient_ids_patient_idx ON message_patient_ids (patient_id, message_id);

CREATE TABLE dedupe_keys (
  key        text PRIMARY KEY,
  message_id text COLLATE "C" NOT NULL,
  first_seen timestamptz NOT NULL
);

CREATE TABLE message_events (
  id          bigserial PRIMARY KEY,
  message_id  text COLLATE "C" NOT NULL,
  delivery_id text COLLATE "C",
  at          timestamptz NOT NULL,
  type        text NOT NULL,
  detail      jsonb
);
CREATE INDEX message_events_message_idx ON message_events (message_id, id);

CREATE TABLE deliveries (
  seq                bigserial UNIQUE,
  id                 text COLLATE "C" PRIMARY KEY,
  message_id         text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  destination        text NOT NULL,
  ordering_key       text,
  payload            text NOT NULL,
  idempotency_key    text NOT NULL,
  status             text NOT NULL,
  attempts           integer NOT NULL DEFAULT 0,
  max_attempts       integer NOT NULL,
  next_attempt_at    timestamptz NOT NULL,
  lease_owner        text,
  lease_expires_at   timestamptz,
  last_error_code    text,
  last_failure_class text,
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL
);
-- Claim scan: claimable rows of a destination in enqueue order.
CREATE INDEX deliveries_claimable_idx ON deliveries (destination, seq) WHERE status IN ('pending', 'leased');
-- Head-of-key check: unfinished rows of a (destination, key).
CREATE INDEX deliveries_unfinished_key_idx ON deliveries (destination, ordering_key, seq)
  WHERE status NOT IN ('delivered', 'resolved', 'parked');
CREATE INDEX deliveries_message_idx ON deliveries (message_id, seq);
CREATE INDEX deliveries_exceptions_idx ON deliveries (seq) WHERE status IN ('failed', 'ambiguous', 'parked');

CREATE TABLE delivery_attempts (
  id          bigserial PRIMARY KEY,
  delivery_id text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
  attempt     integer NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  outcome     text NOT NULL,
  error_code  text,
  response    text
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, id);
`,
  },
  {
    version: 2,
    name: 'channel revisions, audit log',
    sql: `
-- One row per stored revision of a channel's config (ARCHITECTURE.md invariant 8).
CREATE TABLE channel_revisions (
  channel_id text NOT NULL,
  revision   integer NOT NULL,
  document   text NOT NULL,
  hash       text NOT NULL,
  author     text NOT NULL,
  comment    text,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (channel_id, revision)
);

-- Append-only; seq is insertion order, which breaks ties between entries of the same instant.
CREATE TABLE audit_log (
  seq    bigserial PRIMARY KEY,
  id     text COLLATE "C" NOT NULL UNIQUE,
  at     timestamptz NOT NULL,
  actor  text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail jsonb NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC, seq DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action, at DESC, seq DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target, at DESC, seq DESC);
`,
  },
  {
    version: 3,
    name: 'dedupe keys indexed by first_seen',
    // pruneDedupeKeys deletes by age.
    sql: `CREATE INDEX dedupe_keys_first_seen_idx ON dedupe_keys (first_seen);`,
  },
  {
    version: 4,
    name: 'identity (OAuth clients, users, sessions, used jtis) and the canonical FHIR store',
    sql: POSTGRES_IDENTITY_SCHEMA + POSTGRES_RESOURCE_SCHEMA,
  },
  {
    version: 5,
    name: 'write-back: proposals, proposal events, write ledger',
    sql: POSTGRES_PROPOSAL_SCHEMA,
  },
  {
    version: 6,
    name: 'write-back: commit leases, drift-check counters',
    sql: POSTGRES_PROPOSAL_LEASE_SCHEMA,
  },
  {
    // The generated tsvector column parsed every message inside the ingest transaction (and fed
    // a GIN index): ~40% of ingest's cost on the server. The index now follows the commit
    // (postgres-fts-indexer.ts), as on SQLite (ADR 0005). Existing messages are queued, not
    // parsed here, so the migration is quick on a big table; the indexer works the queue off and
    // a text search catches it up first.
    version: 7,
    name: 'full text after the commit: message_fts and its queue',
    sql: `
ALTER TABLE messages DROP COLUMN content_tsv;
CREATE TABLE message_fts (
  message_id text COLLATE "C" PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  tsv        tsvector NOT NULL
);
CREATE INDEX message_fts_tsv_idx ON message_fts USING gin (tsv);
CREATE TABLE message_fts_pending (
  seq        bigserial PRIMARY KEY,
  message_id text COLLATE "C" NOT NULL
);
INSERT INTO message_fts_pending (message_id) SELECT id FROM messages WHERE content IS NOT NULL ORDER BY received_at, id;
`,
  },
];

export const LATEST_POSTGRES_SCHEMA_VERSION = Math.max(...POSTGRES_MIGRATIONS.map((m) => m.version));

/** A schema name we are willing to put in SQL and in a connection's `options`. */
export function quoteSchema(schema: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'store.schema', reason: 'must be letters, digits and _ (at most 63), not starting with a digit' });
  }
  return `"${schema}"`;
}

// Advisory lock class for migrations; the second key is hashtext(schema), so different schemas in
// one database migrate independently.
const MIGRATION_LOCK_CLASS = 0x5357_4201;

export interface MigrationResult {
  readonly schemaVersion: number;
  /** How many migrations this call applied (0 when another process had already migrated). */
  readonly applied: number;
}

/**
 * Creates the schema if missing and applies pending migrations, under a session advisory lock so
 * that several engine processes starting together migrate once; the others wait, then find
 * nothing to do. Refuses a schema newer than this build.
 */
export async function runPostgresMigrations(
  client: pg.ClientBase,
  schema: string,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<MigrationResult> {
  const quoted = quoteSchema(schema);
  const known = Math.max(0, ...migrations.map((m) => m.version));
  await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`);
    await client.query(`SET search_path TO ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const current = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    const found = current.rows[0]?.version ?? 0;
    if (found > known) throw new SwitchboardError('SWB_ERR_STORE_SCHEMA_TOO_NEW', { found, known });
    let applied = 0;
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (migration.version <= found) continue;
      try {
        await client.query('BEGIN');
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
        applied++;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw new SwitchboardError(
          'SWB_ERR_STORE_MIGRATION_FAILED',
          { version: migration.version, reason: error instanceof Error ? error.message : String(error) },
          { cause: error },
        );
      }
    }
    return { schemaVersion: Math.max(found, known), applied };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]).catch(() => undefined);
  }
}
