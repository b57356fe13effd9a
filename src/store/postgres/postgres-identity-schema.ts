/**
 * The identity store's tables on PostgreSQL (PostgresIdentityStore). Idempotent (IF NOT EXISTS); to be
 * folded into the numbered migrations (postgres-migrations.ts) by the lead. Same tables as SQLite
 * (sqlite-identity-schema.ts), with PostgreSQL types: timestamptz, text[] and jsonb.
 *
 * - auth_clients: OAuth clients.
 * - auth_users: people; the username is unique (the race guard for createUser).
 * - auth_sessions: keyed by the hash of the session id, never the id itself.
 * - auth_used_jtis: client assertion jtis seen, until they expire (replay protection); the primary
 *   key makes recordJti one atomic INSERT ... ON CONFLICT.
 */
export const POSTGRES_IDENTITY_SCHEMA = `
CREATE TABLE IF NOT EXISTS auth_clients (
  id text COLLATE "C" PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('private_key_jwt', 'client_secret')),
  jwks jsonb,
  jku text,
  secret_hash text,
  scopes text[] NOT NULL,
  roles text[] NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS auth_users (
  id text PRIMARY KEY,
  username text COLLATE "C" NOT NULL UNIQUE,
  password_hash text NOT NULL,
  roles text[] NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  must_change_password boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS auth_sessions (
  id_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions (user_id);
CREATE INDEX IF NOT EXISTS auth_sessions_expiry ON auth_sessions (expires_at);

CREATE TABLE IF NOT EXISTS auth_used_jtis (
  client_id text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (client_id, jti)
);
CREATE INDEX IF NOT EXISTS auth_used_jtis_expiry ON auth_used_jtis (expires_at);
`;
