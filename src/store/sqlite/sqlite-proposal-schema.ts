/**
 * The write-back tables on SQLite (SqliteProposalStore), migration 7 of sqlite-migrations.ts. Times
 * are epoch milliseconds; JSON columns hold the text exactly as written (key order kept).
 *
 * - proposals: one row per proposal; the unique (tenant, actor_id, idempotency_key) index is what
 *   makes a repeated create return the existing proposal.
 * - proposal_events: every state change, appended in the transaction that made it; seq orders
 *   events of the same instant.
 * - write_ledger: one row per attempt to write to an EHR, begun before the request leaves
 *   (ARCHITECTURE.md invariant 2: an open row after a crash means "may have been applied").
 */
export const SQLITE_PROPOSAL_SCHEMA = `
CREATE TABLE proposals (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  ehr TEXT NOT NULL,
  patient TEXT NOT NULL,
  change TEXT NOT NULL,
  approved_change TEXT,
  actor TEXT NOT NULL,
  actor_id TEXT NOT NULL,
  purpose_of_use TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  correlation_id TEXT NOT NULL,
  state TEXT NOT NULL,
  revision INTEGER NOT NULL,
  policy TEXT,
  result TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX proposals_idempotency ON proposals (tenant, actor_id, idempotency_key);
CREATE INDEX proposals_by_time ON proposals (created_at DESC, id DESC);
CREATE INDEX proposals_by_state_time ON proposals (state, created_at DESC, id DESC);
CREATE INDEX proposals_by_patient_time ON proposals (patient, created_at DESC, id DESC);
CREATE INDEX proposals_by_correlation_id ON proposals (correlation_id);
-- The retry and verify sweeps: proposals of a state that are due.
CREATE INDEX proposals_due ON proposals (state, coalesce(next_attempt_at, updated_at));

CREATE TABLE proposal_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  at INTEGER NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT,
  detail TEXT
);
CREATE INDEX proposal_events_by_proposal ON proposal_events (proposal_id, seq);
CREATE INDEX proposal_events_by_time ON proposal_events (at, seq);

CREATE TABLE write_ledger (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  proposal_id TEXT NOT NULL REFERENCES proposals (id),
  attempt INTEGER NOT NULL,
  ehr TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  request TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('open', 'applied', 'not_applied', 'unknown')),
  settled_at INTEGER,
  response TEXT,
  result TEXT
);
CREATE INDEX write_ledger_by_proposal ON write_ledger (proposal_id, seq);
CREATE INDEX write_ledger_open ON write_ledger (seq) WHERE outcome = 'open';
`;

/**
 * Migration 8: the claim's lease on a `committing` proposal (several processes may share the file,
 * and recovery must not take a live process's write for a crashed one's), and the drift-check
 * counters per EHR and UTC day that the drift report's `checked` comes from.
 */
export const SQLITE_PROPOSAL_LEASE_SCHEMA = `
ALTER TABLE proposals ADD COLUMN lease_owner TEXT;
ALTER TABLE proposals ADD COLUMN lease_until INTEGER;
CREATE INDEX proposals_by_state_oldest ON proposals (state, created_at, id);

CREATE TABLE drift_checks (
  ehr TEXT NOT NULL,
  day TEXT NOT NULL,
  checked INTEGER NOT NULL DEFAULT 0,
  errors INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (ehr, day)
);
`;
