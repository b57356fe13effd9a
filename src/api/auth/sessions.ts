import { createHash, randomBytes } from 'node:crypto';
import type { IdentityStore, Session, User } from '../../core/ports/identity-store.ts';

/**
 * Dashboard sessions. The id is 256 random bits sent only in the cookie; the store keeps its
 * SHA-256 (OWASP Session Management Cheat Sheet: a stolen database yields no usable session).
 * A session ends at its absolute expiry, after an idle period, at logout, or when the user is
 * disabled or changes password.
 */

/** Cookie names: `__Host-` (RFC 6265bis 4.1.3.2) pins a Secure cookie to this host and path `/`. */
export const SESSION_COOKIE = 'swb_session';
export const SECURE_SESSION_COOKIE = '__Host-swb_session';

export interface SessionOptions {
  readonly store: IdentityStore;
  /** Absolute lifetime; default 8 hours (a working day). */
  readonly ttlMs?: number;
  /** Idle timeout; default 30 minutes. */
  readonly idleMs?: number;
  /** lastSeen is written at most this often (fewer writes); default 60 s. */
  readonly touchIntervalMs?: number;
  readonly clock?: () => Date;
}

export interface ResolvedSession {
  readonly session: Session;
  readonly user: User;
}

export function hashSessionId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('base64url');
}

/** 32 random bytes as base64url: 43 characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export class SessionManager {
  readonly #store: IdentityStore;
  readonly #clock: () => Date;
  readonly ttlMs: number;
  readonly idleMs: number;
  readonly #touchIntervalMs: number;

  constructor(options: SessionOptions) {
    this.#store = options.store;
    this.#clock = options.clock ?? (() => new Date());
    this.ttlMs = options.ttlMs ?? 8 * 3_600_000;
    this.idleMs = options.idleMs ?? 30 * 60_000;
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000;
  }

  /** Opens a session; the returned id goes into the cookie and nowhere else. */
  async create(userId: string): Promise<{ readonly id: string; readonly session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.#clock();
    const session: Session = { idHash: hashSessionId(id), userId, createdAt: now, expiresAt: new Date(now.getTime() + this.ttlMs), lastSeenAt: now };
    await this.#store.createSession(session);
    return { id, session };
  }

  /** The live session and its (enabled) user, or undefined; an expired or idle session is removed. */
  async resolve(id: string): Promise<ResolvedSession | undefined> {
    if (!SESSION_ID.test(id)) return undefined;
    const idHash = hashSessionId(id);
    const session = await this.#store.getSession(idHash);
    if (session === undefined) return undefined;
    const now = this.#clock().getTime();
    if (now >= session.expiresAt.getTime() || now - session.lastSeenAt.getTime() >= this.idleMs) {
      await this.#store.deleteSession(idHash);
      return undefined;
    }
    const user = await this.#store.getUser(session.userId);
    if (user === undefined || user.disabled) {
      await this.#store.deleteSession(idHash);
      return undefined;
    }
    if (now - session.lastSeenAt.getTime() >= this.#touchIntervalMs) await this.#store.touchSession(idHash, new Date(now));
    return { session, user };
  }

  async destroy(id: string): Promise<void> {
    if (SESSION_ID.test(id)) await this.#store.deleteSession(hashSessionId(id));
  }

  async destroyAllFor(userId: string): Promise<number> {
    return this.#store.deleteUserSessions(userId);
  }
}

/** Reads one cookie from a Cookie header (RFC 6265 5.4); undefined when absent. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The session id from either cookie name (a secure one first). */
export function sessionIdFrom(cookieHeader: string | undefined): string | undefined {
  return readCookie(cookieHeader, SECURE_SESSION_COOKIE) ?? readCookie(cookieHeader, SESSION_COOKIE);
}

/**
 * A Set-Cookie value: HttpOnly (no script access), SameSite=Strict (not sent on cross-site
 * requests: the CSRF defence), Path=/, Secure with the `__Host-` name over TLS. Max-Age = the
 * absolute lifetime; the idle timeout is enforced on the server.
 */
export function sessionCookie(id: string, options: { readonly secure: boolean; readonly maxAgeSeconds: number }): string {
  const name = options.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  return `${name}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(options.maxAgeSeconds)}${options.secure ? '; Secure' : ''}`;
}

export function clearSessionCookie(options: { readonly secure: boolean }): string {
  const name = options.secure ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  return `${name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${options.secure ? '; Secure' : ''}`;
}
