import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import { SQLITE_IDENTITY_SCHEMA } from './sqlite-identity-schema.ts';
import { SQLITE_PROPOSAL_LEASE_SCHEMA, SQLITE_PROPOSAL_SCHEMA } from './sqlite-proposal-schema.ts';
import { SQLITE_RESOURCE_JOURNAL_SCHEMA, SQLITE_RESOURCE_MARKS_SCHEMA, SQLITE_RESOURCE_SCHEMA } from './sqlite-resource-schema.ts';

/** One numbered, forward-only schema step. Once released, a migration is never edited: add another. */
export interface SqliteMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The schema, oldest first. Dates are integer ms since the epoch; ids are sortable text ids
 * (src/core/ids.ts). `auto_vacuum = INCREMENTAL` belongs to the first step but SQLite accepts it
 * only on an empty file before WAL is switched on and outside a transaction, so
 * `prepareEmptyDatabase` sets it (see open-sqlite-store.ts).
 */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'messages, dedupe keys, events, deliveries',
    sql: `
CREATE TABLE messages (
  -- The integer rowid is what the external-content FTS table points at.
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  channel_id TEXT NOT NULL,
  -- NULL once retention pruned it; metadata outlives content.
  content TEXT,
  content_bytes INTEGER,
  content_type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  source TEXT NOT NULL,
  message_type TEXT,
  control_id TEXT,
  sending_facility TEXT,
  ordering_key TEXT,
  -- JSON array, in the order given; message_patient_ids is the search index.
  patient_ids TEXT NOT NULL DEFAULT '[]',
  correlation_id TEXT NOT NULL,
  config_revision INTEGER NOT NULL,
  status TEXT NOT NULL,
  status_reason TEXT,
  updated_at INTEGER NOT NULL
);
CREATE INDEX messages_by_time ON messages (received_at DESC, id DESC);
CREATE INDEX messages_by_channel_time ON messages (channel_id, received_at DESC, id DESC);
CREATE INDEX messages_by_status_time ON messages (status, received_at DESC, id DESC);
CREATE INDEX messages_by_type_time ON messages (message_type, received_at DESC, id DESC);
CREATE INDEX messages_by_control_id ON messages (control_id);
CREATE INDEX messages_by_correlation_id ON messages (correlation_id);

CREATE TABLE message_patient_ids (
  message_id TEXT NOT NULL REFERENCES messages (id),
  patient_id TEXT NOT NULL,
  PRIMARY KEY (patient_id, message_id)
) WITHOUT ROWID;
CREATE INDEX message_patient_ids_by_message ON message_patient_ids (message_id);

-- Full text over content, external content (the text is stored once, in messages); kept in sync
-- by the store in the same transaction as the row it indexes.
CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages', content_rowid = 'seq');

-- The newest message stored under a key; the window is checked against received_at.
CREATE TABLE dedupe_keys (
  key TEXT PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages (id),
  first_seen INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE message_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL REFERENCES messages (id),
  delivery_id TEXT,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX message_events_by_message ON message_events (message_id, seq);

CREATE TABLE deliveries (
  -- Enqueue order: FIFO per (destination, ordering_key) follows seq.
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  message_id TEXT NOT NULL REFERENCES messages (id),
  destination TEXT NOT NULL,
  ordering_key TEXT,
  payload TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  last_error_code TEXT,
  last_failure_class TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX deliveries_claimable ON deliveries (destination, status, next_attempt_at);
CREATE INDEX deliveries_by_key ON deliveries (destination, ordering_key, seq);
-- Only the rows that block their key: the head-of-key check seeks here instead of walking a
-- key's whole delivered history.
CREATE INDEX deliveries_blocking_by_key ON deliveries (destination, ordering_key, seq)
  WHERE status IN ('pending', 'leased', 'failed', 'ambiguous');
CREATE INDEX deliveries_by_message ON deliveries (message_id, seq);
CREATE INDEX deliveries_by_status ON deliveries (status, seq);

CREATE TABLE delivery_attempts (
  delivery_id TEXT NOT NULL REFERENCES deliveries (id),
  attempt INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  error_code TEXT,
  response TEXT,
  PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'channel revisions, audit log',
    sql: `
-- One row per stored revision of a channel's config (ARCHITECTURE.md invariant 8).
CREATE TABLE channel_revisions (
  channel_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  document TEXT NOT NULL,
  hash TEXT NOT NULL,
  author TEXT NOT NULL,
  comment TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (channel_id, revision)
) WITHOUT ROWID;

-- Append-only; seq is insertion order, which breaks ties between entries of the same instant.
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at DESC, seq DESC);
CREATE INDEX audit_log_by_action ON audit_log (action, at DESC, seq DESC);
CREATE INDEX audit_log_by_target ON audit_log (target, at DESC, seq DESC);
`,
  },
  {
    version: 3,
    name: 'dedupe keys without the foreign key, indexed by first_seen',
    // SQLite cannot drop a constraint, so the table is rebuilt (sqlite.org/lang_altertable.html 7).
    // Why: with foreign_keys=ON the dedupe UPSERT runs in a statement transaction, and opening
    // one makes FTS5 flush its pending index to disk (its xSavepoint syncs), once per ingested row:
    // 60-140 us per row instead of 3. The key bought nothing: messages are never deleted (retention
    // drops content only) and a key is only ever written with the message it points at.
    sql: `
CREATE TABLE dedupe_keys_v3 (
  key TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  first_seen INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO dedupe_keys_v3 (key, message_id, first_seen) SELECT key, message_id, first_seen FROM dedupe_keys;
DROP TABLE dedupe_keys;
ALTER TABLE dedupe_keys_v3 RENAME TO dedupe_keys;
-- pruneDedupeKeys deletes by age.
CREATE INDEX dedupe_keys_by_first_seen ON dedupe_keys (first_seen);
`,
  },
  {
    version: 4,
    name: 'claim walks unfinished deliveries in seq order',
    // The claim wants the first `limit` claimable rows by seq. Through (destination, status,
    // next_attempt_at) it read every pending row of the destination and sorted them, once per
    // claim: with a backlog (ingest outrunning delivery) each claim cost O(backlog). In seq order
    // over only the unfinished rows it stops after `limit` heads.
    sql: `
CREATE INDEX deliveries_ready ON deliveries (destination, seq) WHERE status IN ('pending', 'leased');
`,
  },
  {
    version: 5,
    name: 'full-text index caught up outside the ingest transaction',
    // ADR 0005: FTS5 rows are written by SqliteFtsIndexer in batches of their own; the watermark
    // says how far it got (every message with seq <= indexed_seq is indexed). Until now ingest
    // indexed in its own transaction, so every existing row is indexed already.
    sql: `
CREATE TABLE fts_progress (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  indexed_seq INTEGER NOT NULL
);
INSERT INTO fts_progress (id, indexed_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM messages;
`,
  },
  {
    version: 6,
    name: 'identity: OAuth clients, users, sessions, used assertion jtis',
    sql: SQLITE_IDENTITY_SCHEMA,
  },
  {
    version: 7,
    name: 'write-back: proposals, proposal events, write ledger',
    sql: SQLITE_PROPOSAL_SCHEMA,
  },
  {
    version: 8,
    name: 'write-back: commit leases, drift-check counters',
    sql: SQLITE_PROPOSAL_LEASE_SCHEMA,
  },
  {
    version: 9,
    name: 'ingest writes fewer pages: ascending time indexes, patient ids by message seq',
    // ADR 0008. Every page a commit touches is a 4 KB frame in the WAL that the ACK waits to see
    // synced, and two write() calls on the event loop. Frames of an ingest of bench ADTs (8 per
    // commit) attributed to their B-tree through dbstat showed three costs for nothing:
    // - The time indexes were declared DESC, so the newest key sorts first and every new entry went
    //   into the leftmost leaf, whose splits leave half-full pages behind: ~510 frames per 1,000
    //   messages each. Ascending, the newest entry is appended on the right: ~310.
    //   `ORDER BY received_at DESC, id DESC` reads the same index backwards
    //   (sqlite.org/queryplanner.html 3.3), so no search sorts.
    // - message_patient_ids_by_message (message_id) was read by nothing: a message's patient ids
    //   are on its row, and searches go through the primary key, patient first.
    // - message_patient_ids named the message by its 26-character id; by its integer seq an entry
    //   is less than half the size, so the leaves where a patient's entries are appended split
    //   less than half as often. The foreign key goes with it: a message row is never deleted or
    //   re-keyed (retention drops content only), and checking it cost a lookup per entry.
    // Together with the patient index: 1,549 -> 788 frames per 1,000 messages.
    sql: `
CREATE TABLE message_patient_ids_v9 (
  patient_id TEXT NOT NULL,
  message_seq INTEGER NOT NULL,
  PRIMARY KEY (patient_id, message_seq)
) WITHOUT ROWID;
INSERT INTO message_patient_ids_v9 (patient_id, message_seq)
  SELECT p.patient_id, m.seq FROM message_patient_ids p JOIN messages m ON m.id = p.message_id;
DROP TABLE message_patient_ids;
ALTER TABLE message_patient_ids_v9 RENAME TO message_patient_ids;
DROP INDEX messages_by_time;
DROP INDEX messages_by_channel_time;
DROP INDEX messages_by_status_time;
DROP INDEX messages_by_type_time;
CREATE INDEX messages_by_time ON messages (received_at, id);
CREATE INDEX messages_by_channel_time ON messages (channel_id, received_at, id);
CREATE INDEX messages_by_status_time ON messages (status, received_at, id);
CREATE INDEX messages_by_type_time ON messages (message_type, received_at, id);
`,
  },
  {
    version: 10,
    name: 'dedupe keys on the message row, forgotten below a horizon; control ids indexed by the catch-up; full-text automerge 8',
    // ADR 0009. The dedupe key had a table of its own (key -> newest message, first_seen) and an
    // index by first_seen for pruning: two B-trees, 1.8 of the 6.8 WAL frames per message at 8
    // messages per commit, and two statements per message (a lookup and an UPSERT). The key is now
    // a column of the message that holds it, indexed (partial: only keyed rows) with received_at,
    // so the lookup and the window check read one index and the insert writes one entry.
    // - A key still names one message, its newest copy: when a copy is stored after its window
    //   passed, the older row's key is cleared (rare); a copy older than the holder is stored
    //   without the key (what the UPSERT's WHERE did).
    // - pruneDedupeKeys no longer deletes: it raises the horizon, and rows received before it
    //   do not dedupe. Deleting would mean rewriting every message row of the window (a page per
    //   two messages); the index entries stay, as the other indexes' entries do.
    // The horizon starts at the oldest key kept (every key older than it was pruned already).
    // The control-id index moves out of messages into message_control_ids (control_id, seq),
    // written by the catch-up after the commit, as patient ids and the full text are: control ids
    // are inserted at one place per sender sequence, so each message of a commit touched a leaf of
    // its own (0.93 WAL frames per message at 8 per commit); a catch-up batch of 512 shares them.
    // Searches by control id catch up first. Every existing row is copied (OR IGNORE later).
    // FTS5 'automerge' 8 instead of 4 (sqlite.org/fts5.html 6.4): a level holds up to 8 segments
    // before they are merged, so each indexed row is rewritten by merges about half as often; the
    // full-text catch-up took 36 -> 29 us per bench ADT (merging was most of it). A text query
    // reads up to 8 segments per level instead of 4.
    sql: `
ALTER TABLE messages ADD COLUMN dedupe_key TEXT;
UPDATE messages SET dedupe_key = k.key FROM dedupe_keys k WHERE k.message_id = messages.id;
CREATE INDEX messages_by_dedupe_key ON messages (dedupe_key, received_at) WHERE dedupe_key IS NOT NULL;
CREATE TABLE dedupe_horizon (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  -- Keys of messages received before this (ms) are forgotten.
  before INTEGER NOT NULL
);
INSERT INTO dedupe_horizon (id, before) SELECT 1, COALESCE(MIN(first_seen), 0) FROM dedupe_keys;
DROP TABLE dedupe_keys;
INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 8);
CREATE TABLE message_control_ids (
  control_id TEXT NOT NULL,
  message_seq INTEGER NOT NULL,
  PRIMARY KEY (control_id, message_seq)
) WITHOUT ROWID;
INSERT INTO message_control_ids (control_id, message_seq) SELECT control_id, seq FROM messages WHERE control_id IS NOT NULL;
DROP INDEX messages_by_control_id;
`,
  },
  {
    version: 11,
    name: 'deliveries: drop the unread and the status-ordered indexes; exceptions indexed only while they are exceptions',
    // ADR 0011. Every delivery's claim and outcome moved its entries in every index whose key or
    // WHERE names status: six B-trees besides the id's, each a page (a WAL frame) in the commit.
    // EXPLAIN QUERY PLAN of every statement that reads deliveries (sqlite-delivery-queue.ts is the
    // only reader) showed:
    // - deliveries_by_key (destination, ordering_key, seq) was read by nothing since the head-of-key
    //   check seeks deliveries_blocking_by_key (the same key, only the rows that block): one entry
    //   per delivery inserted at its key's place, i.e. a leaf of its own per delivery.
    // - deliveries_claimable (destination, status, next_attempt_at) served only stats() since the
    //   claim walks deliveries_ready (migration 4), and exceptions() by destination. stats() counts
    //   exactly the rows deliveries_blocking_by_key holds (its WHERE is stats' status list), so it
    //   reads that index; delivered rows were kept in deliveries_claimable for ever.
    // - deliveries_by_status (status, seq) served only exceptions(), which reads three statuses;
    //   its entries moved pending -> leased -> delivered on every delivery.
    // The exception queue gets two partial indexes holding only its rows: written when a delivery
    // fails for good, or leaves the queue (retry, resolve), never on the delivered path.
    sql: `
DROP INDEX deliveries_by_key;
DROP INDEX deliveries_claimable;
DROP INDEX deliveries_by_status;
CREATE INDEX deliveries_exceptions ON deliveries (seq) WHERE status IN ('failed', 'ambiguous', 'parked');
CREATE INDEX deliveries_exceptions_by_destination ON deliveries (destination, seq) WHERE status IN ('failed', 'ambiguous', 'parked');
`,
  },
  {
    version: 12,
    name: 'the queued and delivered events on the rows that hold their facts',
    // ADR 0012. Two events of every delivered message were rows of message_events, each costing
    // three B-trees per commit (the table, its index by message, the AUTOINCREMENT counter),
    // ~0.55 WAL frames per message each:
    // - `queued` (an ingest with deliveries: its time and number of deliveries) goes on the
    //   message row, as `received` did in migration 9;
    // - `delivered` is the attempt row with outcome 'delivered' (its delivery and finished_at are
    //   the event's), which takes the event's place in the history: `history_seq`, a number drawn
    //   from message_events' own AUTOINCREMENT counter (sqlite_sequence, which ordinary UPDATEs may
    //   raise: sqlite.org/autoinc.html), so it sorts among the event rows exactly as its row did.
    //   The counter's row is made here if no event was ever written.
    // Rows stored before keep their events as rows (these columns are NULL there), and events()
    // returns those as they are.
    sql: `
ALTER TABLE messages ADD COLUMN queued_at INTEGER;
ALTER TABLE messages ADD COLUMN queued_deliveries INTEGER;
ALTER TABLE delivery_attempts ADD COLUMN history_seq INTEGER;
INSERT INTO sqlite_sequence (name, seq) SELECT 'message_events', COALESCE((SELECT MAX(seq) FROM message_events), 0)
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'message_events');
`,
  },
];

/**
 * The canonical FHIR store's own database file (beside the engine's; see open-sqlite-store.ts):
 * its transactions may span awaits (Bundle processing), and in a file of its own they never hold
 * the write lock the ingest path needs.
 */
export const SQLITE_FHIR_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'canonical FHIR resources, history and search index tables',
    sql: SQLITE_RESOURCE_SCHEMA,
  },
  { version: 2, name: 'per-type write marks of the canonical FHIR store', sql: SQLITE_RESOURCE_MARKS_SCHEMA },
  { version: 3, name: 'the journal of records waiting to become resources (AuditEvents)', sql: SQLITE_RESOURCE_JOURNAL_SCHEMA },
];

/** The newest schema version this build knows. */
export const SQLITE_SCHEMA_VERSION: number = SQLITE_MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

/** The highest applied version, 0 for a database without the migrations table. */
export function currentSchemaVersion(db: Database.Database): number {
  const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies every migration newer than the database, each in its own `BEGIN IMMEDIATE` transaction
 * that re-reads the version first, so two processes opening the same file do not apply a step twice.
 * Refuses a database whose schema is newer than this build (SWB_ERR_STORE_SCHEMA_TOO_NEW).
 * Returns the schema version afterwards.
 */
export function runSqliteMigrations(db: Database.Database, migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS): number {
  const known = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  for (let i = 1; i < migrations.length; i++) {
    if ((migrations[i]?.version ?? 0) <= (migrations[i - 1]?.version ?? 0)) {
      throw new SwitchboardError('SWB_ERR_STORE_MIGRATION_FAILED', { version: migrations[i]?.version, reason: 'migrations are not in ascending version order' });
    }
  }
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const found = currentSchemaVersion(db);
  if (found > known) throw new SwitchboardError('SWB_ERR_STORE_SCHEMA_TOO_NEW', { found, known });

  for (const migration of migrations) {
    const apply = db.transaction(() => {
      const now = currentSchemaVersion(db);
      if (now > known) throw new SwitchboardError('SWB_ERR_STORE_SCHEMA_TOO_NEW', { found: now, known });
      if (now >= migration.version) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
    });
    try {
      apply.immediate();
    } catch (error) {
      if (error instanceof SwitchboardError) throw error;
      throw new SwitchboardError('SWB_ERR_STORE_MIGRATION_FAILED', { version: migration.version, reason: error instanceof Error ? error.message : String(error) }, { cause: error });
    }
  }
  return currentSchemaVersion(db);
}
