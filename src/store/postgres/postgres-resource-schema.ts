/**
 * The canonical FHIR resource store's tables on PostgreSQL (PostgresResourceStore). Idempotent (IF NOT
 * EXISTS), so the store can apply it on open until the lead folds it into the numbered migrations
 * (postgres-migrations.ts). Same shape as the SQLite tables (sqlite-resource-schema.ts):
 *
 * - fhir_resources: the current version of each resource (or its tombstone), the body as jsonb;
 *   `rid` is the internal key every index row points at.
 * - fhir_history: every version, deletes included, in write order (`seq`).
 * - fhir_idx_*: one table per search parameter type, rows only for current, live versions, keyed by
 *   (type, param, value...) so that search reads index b-trees and never a resource body. Each also
 *   has an index on (rid, param), to replace a resource's rows on update, for :not/:missing probes,
 *   sort keys and _include.
 *
 * Instants (last_updated, date index low/high) are epoch milliseconds in bigint, as the index
 * entries give them: an open date range ends at +-8.64e15 ms, outside timestamptz's range. Text that
 * search compares by range (prefix, uri :below, sort order) is COLLATE "C": byte order is code point
 * order in UTF-8, whatever the database's default collation, so `value < prefix || U+10FFFF` is exact.
 */
export const POSTGRES_RESOURCE_SCHEMA = `
CREATE TABLE IF NOT EXISTS fhir_resources (
  rid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  last_updated bigint NOT NULL,
  resource jsonb,
  UNIQUE (type, id)
);
CREATE INDEX IF NOT EXISTS fhir_resources_live ON fhir_resources (type, rid) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS fhir_resources_updated ON fhir_resources (type, last_updated, rid) WHERE NOT deleted;

CREATE TABLE IF NOT EXISTS fhir_history (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version integer NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  last_updated bigint NOT NULL,
  resource jsonb,
  UNIQUE (type, id, version)
);
CREATE INDEX IF NOT EXISTS fhir_history_type ON fhir_history (type, seq);

CREATE TABLE IF NOT EXISTS fhir_idx_token (
  rid bigint NOT NULL,
  type text COLLATE "C" NOT NULL,
  param text COLLATE "C" NOT NULL,
  system text COLLATE "C",
  code text COLLATE "C",
  text text COLLATE "C"
);
CREATE INDEX IF NOT EXISTS fhir_idx_token_code ON fhir_idx_token (type, param, code, system, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_token_rid ON fhir_idx_token (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_string (
  rid bigint NOT NULL,
  type text COLLATE "C" NOT NULL,
  param text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL,
  exact text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_idx_string_value ON fhir_idx_string (type, param, value, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_string_rid ON fhir_idx_string (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_date (
  rid bigint NOT NULL,
  type text COLLATE "C" NOT NULL,
  param text COLLATE "C" NOT NULL,
  low bigint NOT NULL,
  high bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_idx_date_low ON fhir_idx_date (type, param, low, high, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_date_high ON fhir_idx_date (type, param, high, low, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_date_rid ON fhir_idx_date (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_number (
  rid bigint NOT NULL,
  type text COLLATE "C" NOT NULL,
  param text COLLATE "C" NOT NULL,
  value double precision NOT NULL,
  system text COLLATE "C",
  code text COLLATE "C",
  unit text COLLATE "C"
);
CREATE INDEX IF NOT EXISTS fhir_idx_number_value ON fhir_idx_number (type, param, value, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_number_rid ON fhir_idx_number (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_reference (
  rid bigint NOT NULL,
  type text COLLATE "C" NOT NULL,
  param text COLLATE "C" NOT NULL,
  target_type text COLLATE "C",
  target_id text COLLATE "C",
  url text COLLATE "C"
);
CREATE INDEX IF NOT EXISTS fhir_idx_reference_target ON fhir_idx_reference (type, param, target_id, target_type, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_reference_url ON fhir_idx_reference (type, param, url, rid) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS fhir_idx_reference_rid ON fhir_idx_reference (rid, param);

CREATE TABLE IF NOT EXISTS fhir_idx_uri (
  rid bigint NOT NULL,
  type text COLLATE "C" NOT NULL,
  param text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL
);
CREATE INDEX IF NOT EXISTS fhir_idx_uri_value ON fhir_idx_uri (type, param, value, rid);
CREATE INDEX IF NOT EXISTS fhir_idx_uri_rid ON fhir_idx_uri (rid, param);
`;

/** The index table of each index entry kind (number and quantity share one). */
export const POSTGRES_INDEX_TABLES = {
  token: 'fhir_idx_token',
  string: 'fhir_idx_string',
  date: 'fhir_idx_date',
  number: 'fhir_idx_number',
  quantity: 'fhir_idx_number',
  reference: 'fhir_idx_reference',
  uri: 'fhir_idx_uri',
} as const;
