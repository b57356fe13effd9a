import type pg from 'pg';
import { newSortableId } from '../../core/ids.ts';
import type {
  ClientAuthKind,
  CreateUserOutcome,
  IdentityStore,
  NewOAuthClient,
  NewUser,
  OAuthClient,
  PruneOutcome,
  Session,
  User,
  UserPatch,
} from '../../core/ports/identity-store.ts';
import { queryRows, withTransaction } from './postgres-transaction.ts';
import { checkClient, invalidRecord as invalid } from '../identity-checks.ts';

interface ClientRow {
  id: string;
  name: string;
  kind: string;
  jwks: NonNullable<OAuthClient['jwks']> | null;
  jku: string | null;
  secret_hash: string | null;
  scopes: string[];
  roles: string[];
  disabled: boolean;
  created_at: Date;
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  roles: string[];
  disabled: boolean;
  must_change_password: boolean;
  created_at: Date;
  updated_at: Date;
}

interface SessionRow {
  id_hash: string;
  user_id: string;
  created_at: Date;
  expires_at: Date;
  last_seen_at: Date;
}

const CLIENT_COLUMNS = 'id, name, kind, jwks, jku, secret_hash, scopes, roles, disabled, created_at';
const USER_COLUMNS = 'id, username, password_hash, roles, disabled, must_change_password, created_at, updated_at';
const SESSION_COLUMNS = 'id_hash, user_id, created_at, expires_at, last_seen_at';

function clientOf(row: ClientRow): OAuthClient {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as ClientAuthKind,
    ...(row.jwks === null ? {} : { jwks: row.jwks }),
    ...(row.jku === null ? {} : { jku: row.jku }),
    ...(row.secret_hash === null ? {} : { secretHash: row.secret_hash }),
    scopes: row.scopes,
    roles: row.roles,
    disabled: row.disabled,
    createdAt: row.created_at,
  };
}

function userOf(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    roles: row.roles,
    disabled: row.disabled,
    mustChangePassword: row.must_change_password,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function sessionOf(row: SessionRow): Session {
  return { idHash: row.id_hash, userId: row.user_id, createdAt: row.created_at, expiresAt: row.expires_at, lastSeenAt: row.last_seen_at };
}

/**
 * The identity store on PostgreSQL. Needs POSTGRES_IDENTITY_SCHEMA applied (postgres-identity-schema.ts)
 * in the pool's search_path. Every operation is one statement (pruneExpired: one transaction), and
 * the races that matter are settled by unique keys inside the statement: createUser and recordJti
 * are INSERT ... ON CONFLICT, atomic across every engine process sharing the database.
 */
export class PostgresIdentityStore implements IdentityStore {
  readonly #pool: pg.Pool;
  readonly #clock: () => Date;

  constructor(pool: pg.Pool, options: { clock?: () => Date } = {}) {
    this.#pool = pool;
    this.#clock = options.clock ?? (() => new Date());
  }

  async putClient(client: NewOAuthClient): Promise<OAuthClient> {
    checkClient(client);
    // created_at is not in the DO UPDATE list, so a replace keeps it.
    const result = await queryRows<ClientRow>(
      this.#pool,
      `INSERT INTO auth_clients (${CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::text[], $8::text[], $9, $10)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, jwks = excluded.jwks, jku = excluded.jku,
         secret_hash = excluded.secret_hash, scopes = excluded.scopes, roles = excluded.roles, disabled = excluded.disabled
       RETURNING ${CLIENT_COLUMNS}`,
      [
        client.id,
        client.name,
        client.kind,
        client.jwks === undefined ? null : JSON.stringify(client.jwks),
        client.jku ?? null,
        client.secretHash ?? null,
        [...client.scopes],
        [...(client.roles ?? [])],
        client.disabled === true,
        this.#clock(),
      ],
    );
    const row = result.rows[0];
    if (row === undefined) throw invalid('the client was not returned by the store');
    return clientOf(row);
  }

  async getClient(id: string): Promise<OAuthClient | undefined> {
    const row = (await queryRows<ClientRow>(this.#pool, `SELECT ${CLIENT_COLUMNS} FROM auth_clients WHERE id = $1`, [id])).rows[0];
    return row === undefined ? undefined : clientOf(row);
  }

  async listClients(): Promise<OAuthClient[]> {
    return (await queryRows<ClientRow>(this.#pool, `SELECT ${CLIENT_COLUMNS} FROM auth_clients ORDER BY id`)).rows.map(clientOf);
  }

  async deleteClient(id: string): Promise<boolean> {
    return ((await queryRows(this.#pool, 'DELETE FROM auth_clients WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async createUser(user: NewUser): Promise<CreateUserOutcome> {
    if (user.username.length === 0 || user.username.length > 255) throw invalid('a username has 1 to 255 characters');
    const now = this.#clock();
    // ON CONFLICT DO NOTHING (no target: the username and the id both count): of two concurrent
    // inserts of one name, the second waits for the first to commit, then inserts nothing.
    const result = await queryRows<UserRow>(
      this.#pool,
      `INSERT INTO auth_users (${USER_COLUMNS}) VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $7)
       ON CONFLICT DO NOTHING RETURNING ${USER_COLUMNS}`,
      [user.id ?? newSortableId(now.getTime()), user.username, user.passwordHash, [...user.roles], user.disabled === true, user.mustChangePassword === true, now],
    );
    const row = result.rows[0];
    return row === undefined ? { kind: 'exists' } : { kind: 'created', user: userOf(row) };
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = (await queryRows<UserRow>(this.#pool, `SELECT ${USER_COLUMNS} FROM auth_users WHERE id = $1`, [id])).rows[0];
    return row === undefined ? undefined : userOf(row);
  }

  async getUserByUsername(username: string): Promise<User | undefined> {
    const row = (await queryRows<UserRow>(this.#pool, `SELECT ${USER_COLUMNS} FROM auth_users WHERE username = $1`, [username])).rows[0];
    return row === undefined ? undefined : userOf(row);
  }

  async listUsers(): Promise<User[]> {
    return (await queryRows<UserRow>(this.#pool, `SELECT ${USER_COLUMNS} FROM auth_users ORDER BY username`)).rows.map(userOf);
  }

  async countUsers(): Promise<number> {
    const row = (await queryRows<{ n: number }>(this.#pool, 'SELECT count(*)::integer AS n FROM auth_users')).rows[0];
    return row?.n ?? 0;
  }

  async updateUser(id: string, patch: UserPatch): Promise<User | undefined> {
    // A fixed statement: a NULL parameter leaves its column as it is.
    const result = await queryRows<UserRow>(
      this.#pool,
      `UPDATE auth_users SET
         password_hash = COALESCE($2, password_hash),
         roles = COALESCE($3::text[], roles),
         disabled = COALESCE($4, disabled),
         must_change_password = COALESCE($5, must_change_password),
         updated_at = $6
       WHERE id = $1 RETURNING ${USER_COLUMNS}`,
      [id, patch.passwordHash ?? null, patch.roles === undefined ? null : [...patch.roles], patch.disabled ?? null, patch.mustChangePassword ?? null, this.#clock()],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : userOf(row);
  }

  async createSession(session: Session): Promise<void> {
    await queryRows(this.#pool, `INSERT INTO auth_sessions (${SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`, [
      session.idHash,
      session.userId,
      session.createdAt,
      session.expiresAt,
      session.lastSeenAt,
    ]);
  }

  async getSession(idHash: string): Promise<Session | undefined> {
    const row = (await queryRows<SessionRow>(this.#pool, `SELECT ${SESSION_COLUMNS} FROM auth_sessions WHERE id_hash = $1`, [idHash])).rows[0];
    return row === undefined ? undefined : sessionOf(row);
  }

  async touchSession(idHash: string, lastSeenAt: Date): Promise<void> {
    // Never moves lastSeenAt backwards (two requests finishing out of order).
    await queryRows(this.#pool, 'UPDATE auth_sessions SET last_seen_at = GREATEST(last_seen_at, $2) WHERE id_hash = $1', [idHash, lastSeenAt]);
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return ((await queryRows(this.#pool, 'DELETE FROM auth_sessions WHERE id_hash = $1', [idHash])).rowCount ?? 0) > 0;
  }

  async deleteUserSessions(userId: string): Promise<number> {
    return (await queryRows(this.#pool, 'DELETE FROM auth_sessions WHERE user_id = $1', [userId])).rowCount ?? 0;
  }

  async recordJti(clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    // One statement (SMART App Launch 2.x backend-services: a jti SHALL not be reused): a new jti is
    // inserted; a live record is left alone, as DO NOTHING would, and no row comes back (a replay);
    // an expired record is taken over. Concurrent callers with one jti queue on the primary key, so
    // exactly one sees a row.
    const result = await queryRows(
      this.#pool,
      `INSERT INTO auth_used_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE auth_used_jtis.expires_at <= $4
       RETURNING 1`,
      [clientId, jti, expiresAt, this.#clock()],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async pruneExpired(now: Date, options: { readonly idleBefore?: Date } = {}): Promise<PruneOutcome> {
    return withTransaction(this.#pool, async (client) => {
      const sessions = await client.query('DELETE FROM auth_sessions WHERE expires_at <= $1 OR ($2::timestamptz IS NOT NULL AND last_seen_at < $2)', [
        now,
        options.idleBefore ?? null,
      ]);
      const jtis = await client.query('DELETE FROM auth_used_jtis WHERE expires_at <= $1', [now]);
      return { sessions: sessions.rowCount ?? 0, jtis: jtis.rowCount ?? 0 };
    });
  }
}
