import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { SwitchboardError } from '../../core/errors.ts';
import type { IdentityStore, User } from '../../core/ports/identity-store.ts';
import { sendProblem } from '../problem.ts';
import { emit, type AuthEventSink } from './auth-events.ts';
import { principalFromUser } from './authenticate.ts';
import { hashPassword, MAX_PASSWORD_LENGTH, needsRehash, passwordProblem, verifyAgainstDummy, verifyPassword, type ScryptParams } from './passwords.ts';
import { RateLimiter } from './rate-limiter.ts';
import { clearSessionCookie, sessionCookie, sessionIdFrom, type SessionManager } from './sessions.ts';

/**
 * Dashboard login: `POST /auth/login` (username + password -> session cookie), `POST /auth/logout`,
 * `GET /auth/me`, `POST /auth/password`.
 *
 * Every failed login answers the same (401 SWB_ERR_AUTH_LOGIN_FAILED) whether the user is unknown,
 * disabled or the password wrong, and takes the time of one hash verification in each case (OWASP
 * Authentication Cheat Sheet, "Authentication and Error Messages"). Attempts are limited per
 * username + client IP with a token bucket (429 + Retry-After).
 */

export interface LoginRoutesOptions {
  readonly store: IdentityStore;
  readonly sessions: SessionManager;
  /** The authenticate preHandler (createAuthenticate) guarding /auth/me and /auth/password. */
  readonly authenticate: preHandlerAsyncHookHandler;
  /** Set the Secure attribute (and the __Host- name): true, false, or 'auto' = when the request came over TLS. */
  readonly secureCookie?: boolean | 'auto';
  readonly rateLimiter?: RateLimiter;
  /** For new password hashes; default the passwords.ts defaults. */
  readonly hashParams?: ScryptParams;
  readonly onEvent?: AuthEventSink;
}

const FORM = 'application/x-www-form-urlencoded';
const BODY_LIMIT = 8 * 1024;
const MAX_USERNAME_LENGTH = 255;

/** Usernames are compared after trimming, NFKC and lower-casing (`Admin` and `admin` are one user). */
export function normalizeUsername(username: string): string {
  return username.trim().normalize('NFKC').toLowerCase();
}

function fields<K extends string>(body: unknown, names: readonly K[]): Record<K, string> | undefined {
  const out = {} as Record<K, string>;
  for (const name of names) {
    const value = body instanceof URLSearchParams ? (body.getAll(name).length === 1 ? body.get(name) : null) : typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
    if (typeof value !== 'string') return undefined;
    out[name] = value;
  }
  return out;
}

function userJson(user: User): Record<string, unknown> {
  return { id: user.id, username: user.username, roles: user.roles, mustChangePassword: user.mustChangePassword };
}

export const loginRoutes: FastifyPluginAsync<LoginRoutesOptions> = async (app: FastifyInstance, options: LoginRoutesOptions) => {
  const { store, sessions } = options;
  const limiter = options.rateLimiter ?? new RateLimiter();
  const secure = (req: FastifyRequest): boolean => (options.secureCookie === undefined || options.secureCookie === 'auto' ? req.protocol === 'https' : options.secureCookie);
  const maxAgeSeconds = Math.floor(sessions.ttlMs / 1000);

  if (!app.hasContentTypeParser(FORM)) {
    app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, new URLSearchParams(body as string)));
  }

  const badRequest = (req: FastifyRequest, reply: FastifyReply, reason: string): FastifyReply => sendProblem(reply, new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason }), req.url);
  const limited = (req: FastifyRequest, reply: FastifyReply, seconds: number): FastifyReply => {
    reply.header('retry-after', String(seconds));
    return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_RATE_LIMITED', { seconds }), req.url);
  };
  const startSession = async (req: FastifyRequest, reply: FastifyReply, user: User): Promise<void> => {
    const { id } = await sessions.create(user.id);
    reply.header('set-cookie', sessionCookie(id, { secure: secure(req), maxAgeSeconds }));
  };

  app.post('/auth/login', { bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const given = fields(req.body, ['username', 'password']);
    if (given === undefined) return badRequest(req, reply, 'send username and password');
    const username = normalizeUsername(given.username);
    if (username.length === 0 || username.length > MAX_USERNAME_LENGTH || given.password.length > MAX_PASSWORD_LENGTH) {
      return badRequest(req, reply, 'username or password has an unacceptable length');
    }
    const key = `${username}\u0000${req.ip}`;
    const take = limiter.take(key);
    const base = { requestId: String(req.id), ip: req.ip };
    if (!take.ok) {
      emit(options.onEvent, { ...base, type: 'login.rate_limited' });
      return limited(req, reply, take.retryAfterSeconds);
    }
    const user = await store.getUserByUsername(username);
    const ok = user === undefined ? await verifyAgainstDummy(given.password) : await verifyPassword(given.password, user.passwordHash);
    if (user === undefined || !ok || user.disabled) {
      emit(options.onEvent, { ...base, type: 'login.failed', code: 'SWB_ERR_AUTH_LOGIN_FAILED', ...(user === undefined ? {} : { userId: user.id }) });
      return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_LOGIN_FAILED'), req.url);
    }
    limiter.reset(key);
    let current = user;
    // Parameters raised since this hash was made: store a new one while the password is at hand.
    if (needsRehash(user.passwordHash)) current = (await store.updateUser(user.id, { passwordHash: await hashPassword(given.password, options.hashParams) })) ?? user;
    await startSession(req, reply, current);
    emit(options.onEvent, { ...base, type: 'login.succeeded', userId: user.id });
    return reply.header('cache-control', 'no-store').send({ user: userJson(current) });
  });

  app.post('/auth/logout', async (req, reply) => {
    const id = sessionIdFrom(req.headers.cookie);
    if (id !== undefined) {
      const resolved = await sessions.resolve(id);
      await sessions.destroy(id);
      if (resolved !== undefined) emit(options.onEvent, { type: 'logout', requestId: String(req.id), ip: req.ip, userId: resolved.user.id });
    }
    return reply.header('set-cookie', clearSessionCookie({ secure: secure(req) })).code(204).send();
  });

  app.get('/auth/me', { preHandler: options.authenticate }, async (req, reply) => {
    const p = req.principal;
    if (p === undefined) return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_REQUIRED'), req.url);
    return reply.header('cache-control', 'no-store').send({
      kind: p.kind,
      subject: p.subject,
      ...(p.username === undefined ? {} : { username: p.username }),
      ...(p.clientId === undefined ? {} : { clientId: p.clientId }),
      roles: p.roles,
      ...(p.scopes === undefined ? {} : { scopes: p.scopes }),
      via: p.via,
      mustChangePassword: p.mustChangePassword === true,
    });
  });

  app.post('/auth/password', { preHandler: options.authenticate, bodyLimit: BODY_LIMIT }, async (req, reply) => {
    const p = req.principal;
    if (p === undefined || p.kind !== 'user' || p.via !== 'session') {
      return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_FORBIDDEN', { action: 'change a password without a login session' }), req.url);
    }
    const given = fields(req.body, ['currentPassword', 'newPassword']);
    if (given === undefined) return badRequest(req, reply, 'send currentPassword and newPassword');
    const key = `password\u0000${p.subject}\u0000${req.ip}`;
    const take = limiter.take(key);
    if (!take.ok) return limited(req, reply, take.retryAfterSeconds);
    const base = { requestId: String(req.id), ip: req.ip, userId: p.subject };
    const user = await store.getUser(p.subject);
    if (user === undefined || !(await verifyPassword(given.currentPassword, user.passwordHash))) {
      emit(options.onEvent, { ...base, type: 'password.change_failed', code: 'SWB_ERR_AUTH_LOGIN_FAILED' });
      return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_LOGIN_FAILED'), req.url);
    }
    const problem = passwordProblem(given.newPassword, { username: user.username, current: given.currentPassword });
    if (problem !== undefined) {
      emit(options.onEvent, { ...base, type: 'password.change_failed', code: 'SWB_ERR_AUTH_PASSWORD_REJECTED' });
      return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_PASSWORD_REJECTED', { reason: problem }), req.url);
    }
    limiter.reset(key);
    const updated = await store.updateUser(user.id, { passwordHash: await hashPassword(given.newPassword, options.hashParams), mustChangePassword: false });
    if (updated === undefined) return sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_SESSION_INVALID'), req.url);
    // Every other session of this user ends (OWASP: renew the session on privilege change).
    await sessions.destroyAllFor(user.id);
    await startSession(req, reply, updated);
    emit(options.onEvent, { ...base, type: 'password.changed' });
    return reply.header('cache-control', 'no-store').send({ user: userJson(updated), principal: principalFromUser(updated) });
  });
};
