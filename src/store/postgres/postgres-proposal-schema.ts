/**
 * The write-back tables on PostgreSQL (PostgresProposalStore), migration 5 of postgres-migrations.ts.
 * Same tables as SQLite (sqlite-proposal-schema.ts) with timestamptz. JSON columns are `json`, not
 * `jsonb`: json keeps the text as written (key order, number spelling), so a proposed FHIR resource
 * comes back exactly as the author sent it; nothing here is queried inside the JSON.
 */
export const POSTGRES_PROPOSAL_SCHEMA = `
CREATE TABLE proposals (
  id              text COLLATE "C" PRIMARY KEY,
  tenant          text NOT NULL,
  ehr             text NOT NULL,
  patient         text NOT NULL,
  change          json NOT NULL,
  approved_change json,
  actor           json NOT NULL,
  actor_id        text NOT NULL,
  purpose_of_use  text NOT NULL,
  idempotency_key text NOT NULL,
  correlation_id  text NOT NULL,
  state           text NOT NULL,
  revision        integer NOT NULL,
  policy          json,
  result          json,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL
);
-- A repeated create (same tenant, actor and key) finds the first: INSERT ... ON CONFLICT DO NOTHING.
CREATE UNIQUE INDEX proposals_idempotency_idx ON proposals (tenant, actor_id, idempotency_key);
CREATE INDEX proposals_created_idx ON proposals (created_at DESC, id DESC);
CREATE INDEX proposals_state_created_idx ON proposals (state, created_at DESC, id DESC);
CREATE INDEX proposals_patient_created_idx ON proposals (patient, created_at DESC, id DESC);
CREATE INDEX proposals_correlation_id_idx ON proposals (correlation_id);
-- The retry and verify sweeps: proposals of a state that are due.
CREATE INDEX proposals_due_idx ON proposals (state, (coalesce(next_attempt_at, updated_at)));

CREATE TABLE proposal_events (
  seq         bigserial PRIMARY KEY,
  id          text COLLATE "C" NOT NULL UNIQUE,
  proposal_id text COLLATE "C" NOT NULL REFERENCES proposals (id),
  at          timestamptz NOT NULL,
  from_state  text,
  to_state    text NOT NULL,
  actor       text NOT NULL,
  reason      text,
  detail      json
);
CREATE INDEX proposal_events_proposal_idx ON proposal_events (proposal_id, seq);
CREATE INDEX proposal_events_at_idx ON proposal_events (at, seq);

CREATE TABLE write_ledger (
  seq             bigserial PRIMARY KEY,
  id              text COLLATE "C" NOT NULL UNIQUE,
  proposal_id     text COLLATE "C" NOT NULL REFERENCES proposals (id),
  attempt         integer NOT NULL,
  ehr             text NOT NULL,
  idempotency_key text NOT NULL,
  request         text NOT NULL,
  started_at      timestamptz NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('open', 'applied', 'not_applied', 'unknown')),
  settled_at      timestamptz,
  response        json,
  result          json
);
CREATE INDEX write_ledger_proposal_idx ON write_ledger (proposal_id, seq);
CREATE INDEX write_ledger_open_idx ON write_ledger (seq) WHERE outcome = 'open';
`;

/**
 * Migration 6: the claim's lease on a `committing` proposal (several engine processes share the
 * database; recovery takes only a claim whose lease has expired), and the drift-check counters per
 * EHR and UTC day that the drift report's `checked` comes from.
 */
export const POSTGRES_PROPOSAL_LEASE_SCHEMA = `
ALTER TABLE proposals ADD COLUMN lease_owner text;
ALTER TABLE proposals ADD COLUMN lease_until timestamptz;

CREATE TABLE drift_checks (
  ehr     text NOT NULL,
  day     date NOT NULL,
  checked integer NOT NULL DEFAULT 0,
  errors  integer NOT NULL DEFAULT 0,
  PRIMARY KEY (ehr, day)
);
`;
