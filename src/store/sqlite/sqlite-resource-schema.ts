/**
 * The canonical FHIR resource store's tables (SqliteResourceStore). Idempotent (IF NOT EXISTS), so
 * the store applies it on open until it is folded into the numbered migrations.
 *
 * - fhir_resources: the current version of each resource (or its tombstone); `rid` is the internal
 *   key every index row points at.
 * - fhir_history: every version, deletes included, in write order (`seq`).
 * - fhir_idx_*: one table per search parameter type, rows only for current, live versions, keyed by
 *   (type, param, value...) so that search reads index b-trees and never a resource body. Each also
 *   has an index on rid, to replace a resource's rows on update and for _include.
 */
export const SQLITE_RESOURCE_SCHEMA = `
CREATE TABLE IF NOT EXISTS fhir_resources (
  rid INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  last_updated INTEGER NOT NULL,
  json TEXT,
  UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS fhir_resources_live ON fhir_resources (type, rid) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS fhir_resources_updated ON fhir_resources (type, last_updated, rid) WHERE deleted = 0;

CREATE TABLE IF NOT EXISTS fhir_history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  last_updated INTEGER NOT NULL,
  json TEXT,
  UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS fhir_history_type ON fhir_history (type, seq);

CREATE TABLE IF NOT EXISTS fhir_idx_token (
  rid INTEGER NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  system TEXT,
  code TEXT,
  text TEXT
);
CREATE INDEX IF NOT EXISTS fhir_idx_token_code ON fhir_idx_token (type, param, code, system, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_token_text ON fhir_idx_token (type, param, text, rid) WHERE text IS NOT NULL;
CREATE INDEX IF NOT EXISTS fhir_idx_token_rid ON fhir_idx_token (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_string (
  rid INTEGER NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL,
  exact TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_idx_string_value ON fhir_idx_string (type, param, value, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_string_rid ON fhir_idx_string (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_date (
  rid INTEGER NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  low INTEGER NOT NULL,
  high INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_idx_date_low ON fhir_idx_date (type, param, low, high, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_date_high ON fhir_idx_date (type, param, high, low, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_date_rid ON fhir_idx_date (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_number (
  rid INTEGER NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  value REAL NOT NULL,
  system TEXT,
  code TEXT,
  unit TEXT
);
CREATE INDEX IF NOT EXISTS fhir_idx_number_value ON fhir_idx_number (type, param, value, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_number_rid ON fhir_idx_number (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_reference (
  rid INTEGER NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  target_type TEXT,
  target_id TEXT,
  url TEXT
);
CREATE INDEX IF NOT EXISTS fhir_idx_reference_target ON fhir_idx_reference (type, param, target_id, target_type, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_reference_url ON fhir_idx_reference (type, param, url, rid) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS fhir_idx_reference_rid ON fhir_idx_reference (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_uri (
  rid INTEGER NOT NULL,
  type TEXT NOT NULL,
  param TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_idx_uri_value ON fhir_idx_uri (type, param, value, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_uri_rid ON fhir_idx_uri (rid, param);
`;

/**
 * Migration 2: a counter per resource type, moved in the transaction of every version written
 * (SqliteResourceStore.writeMark). A per-type mark kept in the file itself, so that commits of other
 * types by other connections (the AuditEvent writer's own connection above all) do not look like
 * Consent writes, while every connection and process still sees each committed write of the type.
 */
export const SQLITE_RESOURCE_MARKS_SCHEMA = `
CREATE TABLE IF NOT EXISTS fhir_type_marks (
  type TEXT PRIMARY KEY,
  n INTEGER NOT NULL
) WITHOUT ROWID;
`;

/**
 * Migration 3: the journal of records waiting to become resources (ResourceJournal; the AuditEvent
 * trail, docs/adr/0010-audit-journal.md). A rowid table and nothing else: an append is one row.
 * AUTOINCREMENT: a seq is never used twice, even once the table was emptied (the trail compares
 * seqs across settles: AuditTrail.catchUp).
 */
export const SQLITE_RESOURCE_JOURNAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS fhir_journal (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  entry TEXT NOT NULL
);
`;

/** The index table of each index entry kind (number and quantity share one). */
export const INDEX_TABLES = {
  token: 'fhir_idx_token',
  string: 'fhir_idx_string',
  date: 'fhir_idx_date',
  number: 'fhir_idx_number',
  quantity: 'fhir_idx_number',
  reference: 'fhir_idx_reference',
  uri: 'fhir_idx_uri',
} as const;
