/**
 * The identity store: who may call Switchboard. OAuth clients (machines, SMART Backend Services),
 * users (people at the dashboard), their sessions, and the client assertion `jti`s already seen.
 *
 * It holds only hashes: a client secret, a password and a session id are never stored as given
 * (src/api/auth/passwords.ts, sessions.ts). Hashing and policy (expiry, idle timeout, lockout) live
 * in src/api/auth; the store keeps rows and answers atomically where a race matters (usernames,
 * jti replay).
 */

export const ClientAuthKind = {
  /** SMART Backend Services: a JWT signed with the client's private key (RFC 7523). */
  privateKeyJwt: 'private_key_jwt',
  /** A shared secret, by HTTP Basic or in the form body (RFC 6749 2.3.1). */
  clientSecret: 'client_secret',
} as const;
export type ClientAuthKind = (typeof ClientAuthKind)[keyof typeof ClientAuthKind];

/** A public JWK as registered (RFC 7517); only public members are ever stored. */
export type PublicJwk = Readonly<Record<string, unknown>>;

export interface OAuthClient {
  readonly id: string;
  /** A human name for the dashboard and audit records. */
  readonly name: string;
  readonly kind: ClientAuthKind;
  /** private_key_jwt: the registered public keys ... */
  readonly jwks?: { readonly keys: readonly PublicJwk[] };
  /** ... or the one URL its keys are fetched from (the allow-list for a `jku` header). */
  readonly jku?: string;
  /** client_secret: the encoded hash of the secret. */
  readonly secretHash?: string;
  /** The scopes it may be granted (SMART v2 form, e.g. `system/Observation.rs`). */
  readonly scopes: readonly string[];
  /** Roles for `/api/v1` (src/api/auth/roles.ts); empty for a FHIR-only client. */
  readonly roles: readonly string[];
  readonly disabled: boolean;
  readonly createdAt: Date;
}

export type NewOAuthClient = Omit<OAuthClient, 'createdAt' | 'disabled' | 'roles'> & {
  readonly disabled?: boolean;
  readonly roles?: readonly string[];
};

export interface User {
  readonly id: string;
  /** Unique; compared exactly (src/api/auth normalizes before calling). */
  readonly username: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
  readonly disabled: boolean;
  /** Set on a generated one-time password: nothing but a password change is allowed. */
  readonly mustChangePassword: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type NewUser = Pick<User, 'username' | 'passwordHash' | 'roles'> & {
  readonly id?: string;
  readonly disabled?: boolean;
  readonly mustChangePassword?: boolean;
};

export type UserPatch = Partial<Pick<User, 'passwordHash' | 'roles' | 'disabled' | 'mustChangePassword'>>;

export type CreateUserOutcome = { readonly kind: 'created'; readonly user: User } | { readonly kind: 'exists' };

export interface Session {
  /** A hash of the session id; the id itself lives only in the user's cookie. */
  readonly idHash: string;
  readonly userId: string;
  readonly createdAt: Date;
  /** Absolute expiry. */
  readonly expiresAt: Date;
  /** For the idle timeout, applied by the caller. */
  readonly lastSeenAt: Date;
}

export interface PruneOutcome {
  readonly sessions: number;
  readonly jtis: number;
}

export interface IdentityStore {
  /** Creates or replaces the client with this id (its createdAt is kept on replace). */
  putClient(client: NewOAuthClient): Promise<OAuthClient>;
  getClient(id: string): Promise<OAuthClient | undefined>;
  /** Ordered by id. */
  listClients(): Promise<OAuthClient[]>;
  deleteClient(id: string): Promise<boolean>;

  /** Atomic on the username: of two concurrent creates of one name, exactly one is `created`. */
  createUser(user: NewUser): Promise<CreateUserOutcome>;
  getUser(id: string): Promise<User | undefined>;
  getUserByUsername(username: string): Promise<User | undefined>;
  /** Ordered by username. */
  listUsers(): Promise<User[]>;
  countUsers(): Promise<number>;
  /** Undefined when there is no such user. */
  updateUser(id: string, patch: UserPatch): Promise<User | undefined>;

  createSession(session: Session): Promise<void>;
  getSession(idHash: string): Promise<Session | undefined>;
  touchSession(idHash: string, lastSeenAt: Date): Promise<void>;
  deleteSession(idHash: string): Promise<boolean>;
  /** Logs a user out everywhere (password change, disable); returns how many were removed. */
  deleteUserSessions(userId: string): Promise<number>;

  /**
   * Records a client assertion's `jti` until `expiresAt` (replay protection, SMART App Launch 2.x
   * backend-services: "jti ... SHALL not be reused"). Atomic: true when it was not yet recorded
   * (or its earlier record has expired), false when it is a replay.
   */
  recordJti(clientId: string, jti: string, expiresAt: Date): Promise<boolean>;

  /** Removes sessions past their expiry (or idle since before `idleBefore`) and expired jtis. */
  pruneExpired(now: Date, options?: { readonly idleBefore?: Date }): Promise<PruneOutcome>;
}
