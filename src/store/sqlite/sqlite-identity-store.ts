import type Database from 'better-sqlite3';
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
import { guarded } from './sqlite-store-errors.ts';
import { checkClient, invalidRecord as invalid } from '../identity-checks.ts';

interface ClientRow {
  id: string;
  name: string;
  kind: string;
  jwks: string | null;
  jku: string | null;
  secret_hash: string | null;
  scopes: string;
  roles: string;
  disabled: number;
  created_at: number;
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  roles: string;
  disabled: number;
  must_change_password: number;
  created_at: number;
  updated_at: number;
}

interface SessionRow {
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
}

const strings = (json: string): string[] => JSON.parse(json) as string[];

function clientOf(row: ClientRow): OAuthClient {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as ClientAuthKind,
    ...(row.jwks === null ? {} : { jwks: JSON.parse(row.jwks) as NonNullable<OAuthClient['jwks']> }),
    ...(row.jku === null ? {} : { jku: row.jku }),
    ...(row.secret_hash === null ? {} : { secretHash: row.secret_hash }),
    scopes: strings(row.scopes),
    roles: strings(row.roles),
    disabled: row.disabled === 1,
    createdAt: new Date(row.created_at),
  };
}

function userOf(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    roles: strings(row.roles),
    disabled: row.disabled === 1,
    mustChangePassword: row.must_change_password === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function sessionOf(row: SessionRow): Session {
  return { idHash: row.id_hash, userId: row.user_id, createdAt: new Date(row.created_at), expiresAt: new Date(row.expires_at), lastSeenAt: new Date(row.last_seen_at) };
}

/**
 * The identity store on SQLite. Needs SQLITE_IDENTITY_SCHEMA applied (sqlite-identity-schema.ts).
 * better-sqlite3 runs each statement to completion, and the unique keys make createUser and
 * recordJti atomic across processes sharing the file too.
 */
export class SqliteIdentityStore implements IdentityStore {
  readonly #db: Database.Database;
  readonly #clock: () => Date;

  constructor(db: Database.Database, options: { clock?: () => Date } = {}) {
    this.#db = db;
    this.#clock = options.clock ?? (() => new Date());
  }

  async putClient(client: NewOAuthClient): Promise<OAuthClient> {
    checkClient(client);
    const now = this.#clock().getTime();
    guarded(() =>
      this.#db
        .prepare(
          `INSERT INTO auth_clients (id, name, kind, jwks, jku, secret_hash, scopes, roles, disabled, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, jwks = excluded.jwks, jku = excluded.jku,
             secret_hash = excluded.secret_hash, scopes = excluded.scopes, roles = excluded.roles, disabled = excluded.disabled`,
        )
        .run(
          client.id,
          client.name,
          client.kind,
          client.jwks === undefined ? null : JSON.stringify(client.jwks),
          client.jku ?? null,
          client.secretHash ?? null,
          JSON.stringify(client.scopes),
          JSON.stringify(client.roles ?? []),
          client.disabled === true ? 1 : 0,
          now,
        ),
    );
    const stored = await this.getClient(client.id);
    if (stored === undefined) throw invalid('the client vanished while being stored');
    return stored;
  }

  async getClient(id: string): Promise<OAuthClient | undefined> {
    const row = guarded(() => this.#db.prepare<[string], ClientRow>('SELECT * FROM auth_clients WHERE id = ?').get(id));
    return row === undefined ? undefined : clientOf(row);
  }

  async listClients(): Promise<OAuthClient[]> {
    return guarded(() => this.#db.prepare<[], ClientRow>('SELECT * FROM auth_clients ORDER BY id').all()).map(clientOf);
  }

  async deleteClient(id: string): Promise<boolean> {
    return guarded(() => this.#db.prepare('DELETE FROM auth_clients WHERE id = ?').run(id)).changes > 0;
  }

  async createUser(user: NewUser): Promise<CreateUserOutcome> {
    if (user.username.length === 0 || user.username.length > 255) throw invalid('a username has 1 to 255 characters');
    const now = this.#clock().getTime();
    const id = user.id ?? newSortableId(now);
    // ON CONFLICT DO NOTHING: a taken username (or id) is an outcome, not an error.
    const result = guarded(() =>
      this.#db
        .prepare(
          `INSERT INTO auth_users (id, username, password_hash, roles, disabled, must_change_password, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        )
        .run(id, user.username, user.passwordHash, JSON.stringify(user.roles), user.disabled === true ? 1 : 0, user.mustChangePassword === true ? 1 : 0, now, now),
    );
    if (result.changes === 0) return { kind: 'exists' };
    const created = await this.getUser(id);
    if (created === undefined) throw invalid('the user vanished while being stored');
    return { kind: 'created', user: created };
  }

  async getUser(id: string): Promise<User | undefined> {
    const row = guarded(() => this.#db.prepare<[string], UserRow>('SELECT * FROM auth_users WHERE id = ?').get(id));
    return row === undefined ? undefined : userOf(row);
  }

  async getUserByUsername(username: string): Promise<User | undefined> {
    const row = guarded(() => this.#db.prepare<[string], UserRow>('SELECT * FROM auth_users WHERE username = ?').get(username));
    return row === undefined ? undefined : userOf(row);
  }

  async listUsers(): Promise<User[]> {
    return guarded(() => this.#db.prepare<[], UserRow>('SELECT * FROM auth_users ORDER BY username').all()).map(userOf);
  }

  async countUsers(): Promise<number> {
    return guarded(() => this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM auth_users').get())?.n ?? 0;
  }

  async updateUser(id: string, patch: UserPatch): Promise<User | undefined> {
    const sets: string[] = [];
    const params: (string | number)[] = [];
    if (patch.passwordHash !== undefined) {
      sets.push('password_hash = ?');
      params.push(patch.passwordHash);
    }
    if (patch.roles !== undefined) {
      sets.push('roles = ?');
      params.push(JSON.stringify(patch.roles));
    }
    if (patch.disabled !== undefined) {
      sets.push('disabled = ?');
      params.push(patch.disabled ? 1 : 0);
    }
    if (patch.mustChangePassword !== undefined) {
      sets.push('must_change_password = ?');
      params.push(patch.mustChangePassword ? 1 : 0);
    }
    sets.push('updated_at = ?');
    params.push(this.#clock().getTime());
    const result = guarded(() => this.#db.prepare(`UPDATE auth_users SET ${sets.join(', ')} WHERE id = ?`).run(...params, id));
    return result.changes === 0 ? undefined : this.getUser(id);
  }

  async createSession(session: Session): Promise<void> {
    guarded(() =>
      this.#db
        .prepare('INSERT INTO auth_sessions (id_hash, user_id, created_at, expires_at, last_seen_at) VALUES (?, ?, ?, ?, ?)')
        .run(session.idHash, session.userId, session.createdAt.getTime(), session.expiresAt.getTime(), session.lastSeenAt.getTime()),
    );
  }

  async getSession(idHash: string): Promise<Session | undefined> {
    const row = guarded(() => this.#db.prepare<[string], SessionRow>('SELECT * FROM auth_sessions WHERE id_hash = ?').get(idHash));
    return row === undefined ? undefined : sessionOf(row);
  }

  async touchSession(idHash: string, lastSeenAt: Date): Promise<void> {
    // Never moves lastSeenAt backwards (two requests finishing out of order).
    guarded(() => this.#db.prepare('UPDATE auth_sessions SET last_seen_at = max(last_seen_at, ?) WHERE id_hash = ?').run(lastSeenAt.getTime(), idHash));
  }

  async deleteSession(idHash: string): Promise<boolean> {
    return guarded(() => this.#db.prepare('DELETE FROM auth_sessions WHERE id_hash = ?').run(idHash)).changes > 0;
  }

  async deleteUserSessions(userId: string): Promise<number> {
    return guarded(() => this.#db.prepare('DELETE FROM auth_sessions WHERE user_id = ?').run(userId)).changes;
  }

  async recordJti(clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    const now = this.#clock().getTime();
    // One statement: insert, or take over a record whose expiry has passed; a live record is left
    // alone and changes is 0 (a replay).
    const result = guarded(() =>
      this.#db
        .prepare(
          `INSERT INTO auth_used_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)
           ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE auth_used_jtis.expires_at <= ?`,
        )
        .run(clientId, jti, expiresAt.getTime(), now),
    );
    return result.changes > 0;
  }

  async pruneExpired(now: Date, options: { readonly idleBefore?: Date } = {}): Promise<PruneOutcome> {
    const t = now.getTime();
    const idle = options.idleBefore?.getTime() ?? Number.NEGATIVE_INFINITY;
    return guarded(() =>
      this.#db.transaction((): PruneOutcome => {
        const sessions = this.#db.prepare('DELETE FROM auth_sessions WHERE expires_at <= ? OR last_seen_at < ?').run(t, Number.isFinite(idle) ? idle : -1).changes;
        const jtis = this.#db.prepare('DELETE FROM auth_used_jtis WHERE expires_at <= ?').run(t).changes;
        return { sessions, jtis };
      })(),
    );
  }
}
