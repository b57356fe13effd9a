/**
 * The identity store's tables (SqliteIdentityStore). Idempotent (IF NOT EXISTS); to be folded into
 * the numbered migrations (sqlite-migrations.ts) by the lead. Times are epoch milliseconds.
 *
 * - auth_clients: OAuth clients; jwks/scopes/roles as JSON text.
 * - auth_users: people; the username is unique (the store's race guard for createUser).
 * - auth_sessions: keyed by the hash of the session id, never the id itself.
 * - auth_used_jtis: client assertion jtis seen, until they expire (replay protection).
 */
export const SQLITE_IDENTITY_SCHEMA = `
CREATE TABLE IF NOT EXISTS auth_clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('private_key_jwt', 'client_secret')),
  jwks TEXT,
  jku TEXT,
  secret_hash TEXT,
  scopes TEXT NOT NULL,
  roles TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS auth_users (
  id TEXT PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  roles TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  must_change_password INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS auth_sessions (
  id_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX IF NOT EXISTS auth_sessions_expiry ON auth_sessions (expires_at);

CREATE TABLE IF NOT EXISTS auth_used_jtis (
  client_id TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX IF NOT EXISTS auth_used_jtis_expiry ON auth_used_jtis (expires_at);
`;
