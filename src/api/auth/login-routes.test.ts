import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { IdentityStore } from '../../core/ports/identity-store.ts';
import type { AuthEvent } from './auth-events.ts';
import { memoryIdentityStore } from './auth-test-support.ts';
import { createAuthenticate, requireCan, withVerifiedBearer } from './authenticate.ts';
import { ensureAdmin } from './bootstrap.ts';
import { loginRoutes } from './login-routes.ts';
import { hashPassword } from './passwords.ts';
import { RateLimiter } from './rate-limiter.ts';
import { hashSessionId, SessionManager } from './sessions.ts';
import { createTokenIssuer, type TokenIssuer } from './tokens.ts';

const IDLE_MS = 30 * 60_000;
const TTL_MS = 8 * 3_600_000;

interface Harness {
  app: FastifyInstance;
  store: IdentityStore;
  tokens: TokenIssuer;
  advance: (ms: number) => void;
  events: AuthEvent[];
  close: () => Promise<void>;
}

async function harness(options: { secureCookie?: boolean } = {}): Promise<Harness> {
  let now = Date.parse('2026-03-01T09:00:00Z');
  const clock = (): Date => new Date(now);
  const { store, close } = memoryIdentityStore(clock);
  const sessions = new SessionManager({ store, clock, idleMs: IDLE_MS, ttlMs: TTL_MS });
  const tokens = await createTokenIssuer({ generate: true, issuer: 'https://sb.test', audience: 'https://sb.test/api', clock });
  const authenticate = createAuthenticate({ tokens, sessions });
  const events: AuthEvent[] = [];
  const app = Fastify();
  await app.register(loginRoutes, {
    store,
    sessions,
    authenticate,
    ...(options.secureCookie === undefined ? {} : { secureCookie: options.secureCookie }),
    rateLimiter: new RateLimiter({ capacity: 5, refillPerMinute: 5, now: () => now }),
    onEvent: (e) => void events.push(e),
  });
  app.get('/api/v1/channels', { preHandler: [authenticate, requireCan('channels:read')] }, async () => ({ items: [] }));
  app.get('/api/v1/audit', { preHandler: [authenticate, requireCan('audit:read')] }, async () => ({ items: [] }));
  app.get<{ Params: { type: string } }>('/fhir/R4/:type', { preHandler: [authenticate, requireCan((req) => ({ fhir: { interaction: 'search', resourceType: (req.params as { type: string }).type } }))] }, async () => ({ resourceType: 'Bundle' }));
  await app.ready();
  return {
    app,
    store,
    tokens,
    advance: (ms) => {
      now += ms;
    },
    events,
    close: async () => {
      await app.close();
      close();
    },
  };
}

const login = (app: FastifyInstance, username: string, password: string, remoteAddress = '10.0.0.1') =>
  app.inject({ method: 'POST', url: '/auth/login', payload: { username, password }, remoteAddress });

function cookieOf(res: LightMyRequestResponse): { header: string; pair: string; value: string } {
  const header = String(res.headers['set-cookie']);
  const pair = header.split(';')[0] as string;
  return { header, pair, value: pair.slice(pair.indexOf('=') + 1) };
}

async function addUser(store: IdentityStore, username: string, password: string, roles: string[], extra: { disabled?: boolean } = {}): Promise<string> {
  const out = await store.createUser({ username, passwordHash: await hashPassword(password), roles, ...extra });
  assert.equal(out.kind, 'created');
  return out.kind === 'created' ? out.user.id : '';
}

describe('login, sessions, first-start admin', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
    await addUser(h.store, 'olivia', 'operator passphrase 1', ['operator']);
    await addUser(h.store, 'dora', 'disabled passphrase 1', ['operator'], { disabled: true });
  });
  after(async () => h.close());

  test('first start: ensureAdmin creates admin once with a one-time password that must be changed', async () => {
    const { store, close } = memoryIdentityStore();
    try {
      const first = await ensureAdmin(store);
      assert.equal(first.kind, 'created');
      if (first.kind !== 'created') return;
      assert.equal(first.username, 'admin');
      assert.ok(first.password.length >= 20);
      const admin = await store.getUserByUsername('admin');
      assert.equal(admin?.mustChangePassword, true);
      assert.deepEqual(admin?.roles, ['admin']);
      assert.ok(!admin?.passwordHash.includes(first.password), 'stored hashed');
      assert.deepEqual(await ensureAdmin(store), { kind: 'present' });
    } finally {
      close();
    }
  });

  test('login sets an HttpOnly, SameSite=Strict session cookie (not Secure over plain http); the store keeps only its hash', async () => {
    const res = await login(h.app, 'Olivia', 'operator passphrase 1');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().user.username, 'olivia');
    const c = cookieOf(res);
    assert.match(c.header, /^swb_session=[A-Za-z0-9_-]{43}; /);
    assert.match(c.header, /; HttpOnly/);
    assert.match(c.header, /; SameSite=Strict/);
    assert.match(c.header, /; Path=\//);
    assert.match(c.header, new RegExp(`; Max-Age=${TTL_MS / 1000}`));
    assert.doesNotMatch(c.header, /Secure/);
    assert.equal(await h.store.getSession(c.value), undefined, 'not stored as given');
    assert.ok((await h.store.getSession(hashSessionId(c.value))) !== undefined);
    const me = await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: c.pair } });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().username, 'olivia');
    assert.deepEqual(me.json().roles, ['operator']);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/channels', headers: { cookie: c.pair } })).statusCode, 200);
    const audit = await h.app.inject({ method: 'GET', url: '/api/v1/audit', headers: { cookie: c.pair } });
    assert.equal(audit.statusCode, 403);
    assert.equal(audit.json().code, 'SWB_ERR_AUTH_FORBIDDEN');
  });

  test('failures are uniform: unknown user, wrong password, disabled account give the same answer', async () => {
    const answers = [await login(h.app, 'nobody', 'whatever passphrase', '10.0.1.1'), await login(h.app, 'olivia', 'wrong passphrase', '10.0.1.2'), await login(h.app, 'dora', 'disabled passphrase 1', '10.0.1.3')];
    for (const a of answers) {
      assert.equal(a.statusCode, 401);
      assert.equal(a.headers['set-cookie'], undefined);
      assert.deepEqual(a.json(), answers[0]?.json());
      assert.equal(a.json().code, 'SWB_ERR_AUTH_LOGIN_FAILED');
    }
    assert.ok(!JSON.stringify(h.events).includes('nobody'), 'an unknown username is not recorded');
  });

  test('rate limit per username + IP: the 6th attempt in a burst is 429 with Retry-After; another IP is not affected', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await login(h.app, 'olivia', `wrong ${i}`, '10.0.2.1')).statusCode, 401);
    const limited = await login(h.app, 'olivia', 'operator passphrase 1', '10.0.2.1');
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json().code, 'SWB_ERR_AUTH_RATE_LIMITED');
    assert.equal(limited.headers['retry-after'], '12', 'one token back in 12 s at 5 per minute');
    assert.equal((await login(h.app, 'olivia', 'operator passphrase 1', '10.0.2.2')).statusCode, 200);
    h.advance(12_000);
    assert.equal((await login(h.app, 'olivia', 'operator passphrase 1', '10.0.2.1')).statusCode, 200, 'a token came back');
  });

  test('logout ends the session and clears the cookie', async () => {
    const c = cookieOf(await login(h.app, 'olivia', 'operator passphrase 1', '10.0.3.1'));
    const out = await h.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: c.pair } });
    assert.equal(out.statusCode, 204);
    assert.match(String(out.headers['set-cookie']), /^swb_session=; .*Max-Age=0/);
    const me = await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: c.pair } });
    assert.equal(me.statusCode, 401);
    assert.equal(me.json().code, 'SWB_ERR_AUTH_SESSION_INVALID');
  });

  test('idle timeout and absolute expiry end a session', async () => {
    const c = cookieOf(await login(h.app, 'olivia', 'operator passphrase 1', '10.0.4.1'));
    const me = () => h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: c.pair } });
    h.advance(IDLE_MS - 60_000);
    assert.equal((await me()).statusCode, 200, 'activity within the idle period keeps it alive');
    h.advance(IDLE_MS - 60_000);
    assert.equal((await me()).statusCode, 200);
    h.advance(IDLE_MS);
    assert.equal((await me()).statusCode, 401, 'idle too long');
    assert.equal(await h.store.getSession(hashSessionId(c.value)), undefined, 'removed');

    const d = cookieOf(await login(h.app, 'olivia', 'operator passphrase 1', '10.0.4.2'));
    for (let t = 0; t < TTL_MS; t += IDLE_MS / 2) {
      h.advance(IDLE_MS / 2);
      await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: d.pair } });
    }
    assert.equal((await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: d.pair } })).statusCode, 401, 'past the absolute lifetime');
  });

  test('a disabled user loses the session at once', async () => {
    const id = await addUser(h.store, 'victor', 'victor passphrase 1', ['read-only']);
    const c = cookieOf(await login(h.app, 'victor', 'victor passphrase 1', '10.0.5.1'));
    await h.store.updateUser(id, { disabled: true });
    assert.equal((await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: c.pair } })).statusCode, 401);
  });
});

describe('one-time admin password, password change, Secure cookies', () => {
  test('the admin must change the password before anything else; other sessions end', async () => {
    const h = await harness({ secureCookie: true });
    try {
      const created = await ensureAdmin(h.store);
      assert.equal(created.kind, 'created');
      if (created.kind !== 'created') return;
      const res = await login(h.app, 'admin', created.password);
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().user.mustChangePassword, true);
      const c = cookieOf(res);
      assert.match(c.header, /^__Host-swb_session=/);
      assert.match(c.header, /; Secure/);
      const other = cookieOf(await login(h.app, 'admin', created.password, '10.9.9.9'));

      const blocked = await h.app.inject({ method: 'GET', url: '/api/v1/channels', headers: { cookie: c.pair } });
      assert.equal(blocked.statusCode, 403);
      assert.equal(blocked.json().code, 'SWB_ERR_AUTH_PASSWORD_CHANGE_REQUIRED');
      assert.equal((await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: c.pair } })).json().mustChangePassword, true);

      const change = (currentPassword: string, newPassword: string) => h.app.inject({ method: 'POST', url: '/auth/password', headers: { cookie: c.pair }, payload: { currentPassword, newPassword } });
      assert.equal((await change(created.password, 'short')).json().code, 'SWB_ERR_AUTH_PASSWORD_REJECTED');
      assert.equal((await change('not the password', 'a much better passphrase')).statusCode, 401);
      const changed = await change(created.password, 'a much better passphrase');
      assert.equal(changed.statusCode, 200, changed.body);
      const fresh = cookieOf(changed);
      assert.notEqual(fresh.value, c.value, 'a new session');
      assert.equal((await h.app.inject({ method: 'GET', url: '/auth/me', headers: { cookie: other.pair } })).statusCode, 401, 'other sessions ended');
      assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/channels', headers: { cookie: fresh.pair } })).statusCode, 200);
      assert.equal((await login(h.app, 'admin', created.password, '10.0.0.7')).statusCode, 401, 'the one-time password is gone');
      assert.deepEqual(
        h.events.map((e) => e.type),
        ['login.succeeded', 'login.succeeded', 'password.change_failed', 'password.change_failed', 'password.changed', 'login.failed'],
      );
    } finally {
      await h.close();
    }
  });
});

describe('authenticate with bearer tokens', () => {
  let h: Harness;
  before(async () => {
    h = await harness();
  });
  after(async () => h.close());

  test('no credentials: 401 with a bare Bearer challenge', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/api/v1/channels' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer realm="switchboard"');
    assert.equal(res.json().code, 'SWB_ERR_AUTH_REQUIRED');
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  });

  test('a valid token: the principal from its claims; scopes enforced per resource type', async () => {
    const token = (await h.tokens.issue({ sub: 'lab', clientId: 'lab', scopes: ['system/Observation.rs'], roles: [] })).accessToken;
    const auth = { authorization: `Bearer ${token}` };
    const me = await h.app.inject({ method: 'GET', url: '/auth/me', headers: auth });
    assert.deepEqual(me.json(), { kind: 'client', subject: 'lab', clientId: 'lab', roles: [], scopes: ['system/Observation.rs'], via: 'token', mustChangePassword: false });
    assert.equal((await h.app.inject({ method: 'GET', url: '/fhir/R4/Observation', headers: auth })).statusCode, 200);
    const patient = await h.app.inject({ method: 'GET', url: '/fhir/R4/Patient', headers: auth });
    assert.equal(patient.statusCode, 403);
    assert.equal(patient.json().code, 'SWB_ERR_AUTH_SCOPE_INSUFFICIENT');
    assert.match(String(patient.headers['www-authenticate']), /error="insufficient_scope"/);
    assert.equal((await h.app.inject({ method: 'GET', url: '/api/v1/channels', headers: auth })).json().code, 'SWB_ERR_AUTH_FORBIDDEN');
  });

  test('expired, tampered and non-Bearer credentials: 401 with error="invalid_token"', async () => {
    const token = (await h.tokens.issue({ sub: 'lab', clientId: 'lab', scopes: ['system/Observation.rs'], roles: [] })).accessToken;
    const tampered = `${token.slice(0, -4)}AAAA`;
    const bad = await h.app.inject({ method: 'GET', url: '/fhir/R4/Observation', headers: { authorization: `Bearer ${tampered}` } });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.json().code, 'SWB_ERR_AUTH_TOKEN_INVALID');
    assert.match(String(bad.headers['www-authenticate']), /^Bearer realm="switchboard", error="invalid_token"/);
    const basic = await h.app.inject({ method: 'GET', url: '/fhir/R4/Observation', headers: { authorization: 'Basic YTpi' } });
    assert.equal(basic.statusCode, 401);
    h.advance(301_000 + 30_000);
    const expired = await h.app.inject({ method: 'GET', url: '/fhir/R4/Observation', headers: { authorization: `Bearer ${token}` } });
    assert.equal(expired.statusCode, 401);
    assert.equal(expired.json().code, 'SWB_ERR_AUTH_TOKEN_EXPIRED');
  });
});

describe('withVerifiedBearer', () => {
  test('a token verified already goes on at once, with the same principal and no new verification; anything else goes through authenticate', async () => {
    let now = Date.parse('2026-03-01T09:00:00Z');
    const clock = (): Date => new Date(now);
    const { store, close } = memoryIdentityStore(clock);
    const sessions = new SessionManager({ store, clock, idleMs: IDLE_MS, ttlMs: TTL_MS });
    const issuer = await createTokenIssuer({ generate: true, issuer: 'https://sb.test', audience: 'https://sb.test/api', clock });
    let verifications = 0;
    const tokens: TokenIssuer = {
      ...issuer,
      verify: (token) => {
        verifications++;
        return issuer.verify(token);
      },
    };
    const seen: unknown[] = [];
    const app = Fastify();
    app.get('/fhir/R4/:type', { preHandler: [withVerifiedBearer(tokens, createAuthenticate({ tokens, sessions })), requireCan((req) => ({ fhir: { interaction: 'read', resourceType: (req.params as { type: string }).type } }))] }, async (req) => {
      seen.push(req.principal);
      return {};
    });
    await app.ready();
    try {
      const token = (await issuer.issue({ sub: 'lab', clientId: 'lab', scopes: ['system/Observation.rs'], roles: [] })).accessToken;
      const get = (type: string, authorization?: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: `/fhir/R4/${type}`, headers: authorization === undefined ? {} : { authorization } });
      assert.equal((await get('Observation', `Bearer ${token}`)).statusCode, 200);
      assert.equal(verifications, 1);
      assert.equal((await get('Observation', `Bearer ${token}`)).statusCode, 200);
      assert.equal(verifications, 1, 'the second request is not verified again');
      assert.equal(seen[1], seen[0], 'the same principal');
      assert.ok(Object.isFrozen(seen[0]), 'shared, so frozen');
      assert.deepEqual(seen[0], { kind: 'client', subject: 'lab', clientId: 'lab', roles: [], scopes: ['system/Observation.rs'], via: 'token' });
      // Scopes still decide per request.
      assert.equal((await get('Patient', `Bearer ${token}`)).json().code, 'SWB_ERR_AUTH_SCOPE_INSUFFICIENT');
      // Not a verified token: authenticate answers.
      const tampered = await get('Observation', `Bearer ${token.slice(0, -4)}AAAA`);
      assert.equal(tampered.statusCode, 401);
      assert.match(String(tampered.headers['www-authenticate']), /error="invalid_token"/);
      assert.equal((await get('Observation', 'Basic YTpi')).statusCode, 401);
      const none = await get('Observation');
      assert.equal(none.statusCode, 401);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="switchboard"');
      // Past exp the cached verification is not used: 401 EXPIRED, from a verification.
      now += 300_000 + 31_000;
      const before = verifications;
      const expired = await get('Observation', `Bearer ${token}`);
      assert.equal(expired.statusCode, 401);
      assert.equal(expired.json().code, 'SWB_ERR_AUTH_TOKEN_EXPIRED');
      assert.equal(verifications, before + 1);
    } finally {
      await app.close();
      close();
    }
  });
});
