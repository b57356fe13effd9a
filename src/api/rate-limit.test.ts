// Per-client rate limits on /api/v1 and /fhir/R4 (issue 5): 429 with Retry-After after the burst,
// one bucket per principal or per IP, health routes never limited. The clock is a variable: no timing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RateLimiter } from './auth/rate-limiter.ts';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Store } from '../core/ports/store.ts';
import { FhirSearchIndexer } from '../fhir/search-parameters.ts';
import { openStore } from '../store/open-store.ts';
import { SessionManager } from './auth/sessions.ts';
import { createTokenIssuer, type TokenIssuer } from './auth/tokens.ts';
import { buildHttpApi, type HttpApiOptions } from './http-api.ts';
import { installRateLimit } from './rate-limit.ts';

const LISTENER = '/api/v1/listener/messages';
let now = Date.parse('2026-03-01T09:00:00Z');
const clock = (): number => now;

let dir: string;
let store: Store;
let tokens: TokenIssuer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swb-rate-limit-'));
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  tokens = await createTokenIssuer({ generate: true, issuer: 'https://sb.test', audience: 'https://sb.test/api', clock: () => new Date(now) });
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api(options: Partial<HttpApiOptions> = {}): Promise<FastifyInstance> {
  const app = buildHttpApi({ registry: new Registry(), rateLimit: { burst: 3, perMinute: 6, now: clock }, ...options });
  await app.ready();
  return app;
}

async function secured(): Promise<FastifyInstance> {
  const identity = store.identity;
  assert.ok(identity !== undefined);
  return api({ store, security: { identity, tokens, sessions: new SessionManager({ store: identity }), tokenUrl: 'https://sb.test/auth/token' } });
}

const bearer = async (sub: string, clientId?: string): Promise<Record<string, string>> => {
  const issued = await tokens.issue({ sub, ...(clientId === undefined ? {} : { clientId }), scopes: ['system/*.rs'], roles: ['read-only'] });
  return { authorization: `Bearer ${issued.accessToken}` };
};

describe('rate limits', () => {
  test('after the burst: 429, Retry-After in seconds, the stable code; tokens come back with time', async () => {
    const app = await api();
    for (let i = 0; i < 3; i++) assert.equal((await app.inject({ url: LISTENER })).statusCode, 200, `request ${i + 1}`);
    const refused = await app.inject({ url: LISTENER });
    assert.equal(refused.statusCode, 429);
    // 6 per minute: one token every 10 s.
    assert.equal(refused.headers['retry-after'], '10');
    assert.match(String(refused.headers['content-type']), /application\/problem\+json/);
    assert.equal(refused.json<{ code: string }>().code, 'SWB_ERR_HTTP_RATE_LIMITED');
    now += 10_000;
    assert.equal((await app.inject({ url: LISTENER })).statusCode, 200);
    assert.equal((await app.inject({ url: LISTENER })).statusCode, 429);
    await app.close();
  });

  test('health, readiness and metrics are never limited', async () => {
    const app = await api();
    for (let i = 0; i < 4; i++) await app.inject({ url: LISTENER });
    assert.equal((await app.inject({ url: LISTENER })).statusCode, 429);
    for (let i = 0; i < 10; i++) {
      for (const url of ['/healthz', '/readyz', '/metrics']) assert.equal((await app.inject({ url })).statusCode, 200, url);
    }
    await app.close();
  });

  test('one bucket per client IP when unauthenticated', async () => {
    const app = await api();
    for (let i = 0; i < 4; i++) await app.inject({ url: LISTENER, remoteAddress: '10.0.0.1' });
    assert.equal((await app.inject({ url: LISTENER, remoteAddress: '10.0.0.1' })).statusCode, 429);
    assert.equal((await app.inject({ url: LISTENER, remoteAddress: '10.0.0.2' })).statusCode, 200);
    await app.close();
  });

  test('unknown paths under /api/v1 count too (no free probing)', async () => {
    const app = await api();
    for (let i = 0; i < 3; i++) assert.equal((await app.inject({ url: '/api/v1/nope' })).statusCode, 404);
    assert.equal((await app.inject({ url: '/api/v1/nope' })).statusCode, 429);
    await app.close();
  });

  test('with authentication: one bucket per principal (client vs user), anonymous callers by IP', async () => {
    const app = await secured();
    const client = await bearer('lab', 'lab');
    const otherClient = await bearer('ris', 'ris');
    const user = await bearer('u-1');
    for (let i = 0; i < 3; i++) assert.equal((await app.inject({ url: LISTENER, headers: client })).statusCode, 200, `client request ${i + 1}`);
    const refused = await app.inject({ url: LISTENER, headers: client });
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json<{ code: string }>().code, 'SWB_ERR_HTTP_RATE_LIMITED');
    // Same IP (inject's 127.0.0.1), other principals: their own buckets.
    assert.equal((await app.inject({ url: LISTENER, headers: otherClient })).statusCode, 200);
    assert.equal((await app.inject({ url: LISTENER, headers: user })).statusCode, 200);
    // Anonymous: counted by IP before authentication, so a flood gets 429, not endless 401s.
    for (let i = 0; i < 3; i++) assert.equal((await app.inject({ url: LISTENER })).statusCode, 401);
    assert.equal((await app.inject({ url: LISTENER })).statusCode, 429);
    assert.equal((await app.inject({ url: LISTENER, headers: user })).statusCode, 200, 'the user keeps its own bucket');
    await app.close();
  });

  test('under /fhir/R4 the refusal is an OperationOutcome with the same code and Retry-After', async () => {
    const app = await secured();
    const client = await bearer('lab', 'lab');
    for (let i = 0; i < 3; i++) assert.notEqual((await app.inject({ url: '/fhir/R4/Patient', headers: client })).statusCode, 429);
    const refused = await app.inject({ url: '/fhir/R4/Patient', headers: client });
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    const outcome = refused.json<{ resourceType: string; issue: Array<{ code: string; details: { coding: Array<{ code: string }> } }> }>();
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.equal(outcome.issue[0]?.code, 'throttled');
    assert.equal(outcome.issue[0]?.details.coding[0]?.code, 'SWB_ERR_HTTP_RATE_LIMITED');
    await app.close();
  });

  test('rateLimit false or omitted: no limit', async () => {
    for (const rateLimit of [false, undefined] as const) {
      const app = buildHttpApi({ registry: new Registry(), ...(rateLimit === undefined ? {} : { rateLimit }) });
      for (let i = 0; i < 150; i++) assert.equal((await app.inject({ url: LISTENER })).statusCode, 200);
      await app.close();
    }
  });

  test('the bucket memory is bounded: the least recently used key is forgotten', async () => {
    const app = await api({ rateLimit: { burst: 1, perMinute: 1, maxKeys: 2, now: clock } });
    assert.equal((await app.inject({ url: LISTENER, remoteAddress: '10.0.0.1' })).statusCode, 200);
    assert.equal((await app.inject({ url: LISTENER, remoteAddress: '10.0.0.1' })).statusCode, 429);
    await app.inject({ url: LISTENER, remoteAddress: '10.0.0.2' });
    await app.inject({ url: LISTENER, remoteAddress: '10.0.0.3' });
    // 10.0.0.1 was evicted: it starts with a full bucket again.
    assert.equal((await app.inject({ url: LISTENER, remoteAddress: '10.0.0.1' })).statusCode, 200);
    await app.close();
  });

  test('invalid settings are refused with the field named', async () => {
    const app = buildHttpApi({ registry: new Registry() });
    assert.throws(() => installRateLimit(app, { perMinute: 0 }), (e: Error & { code?: string }) => e.code === 'SWB_ERR_CONFIG_INVALID' && e.message.includes('rateLimit.perMinute'));
    await app.close();
  });
});

test('RateLimiter: buckets refill in place; least recently used key out first, a key taken again and again included', () => {
  let at = 1_000_000;
  const limiter = new RateLimiter({ capacity: 1, refillPerMinute: 60, maxKeys: 2, now: () => at });
  assert.equal(limiter.take('a').ok, true);
  assert.equal(limiter.take('b').ok, true);
  assert.deepEqual(limiter.take('a'), { ok: false, retryAfterSeconds: 1 });
  // a again (the key used last: not moved), then c: b is the least recently used and goes.
  assert.equal(limiter.take('a').ok, false);
  assert.equal(limiter.take('c').ok, true);
  assert.equal(limiter.take('a').ok, false, 'a kept, still empty');
  assert.equal(limiter.take('b').ok, true, 'b was forgotten: a full bucket');
  // b's return pushed out c, the least recently used by then (a was taken after it).
  assert.equal(limiter.take('c').ok, true, 'c was forgotten');
  // Refill: one token a second (60 per minute), up to the capacity.
  at += 1000;
  assert.equal(limiter.take('c').ok, true);
  assert.equal(limiter.take('c').ok, false);
  // reset forgets a key, the last one included.
  limiter.reset('c');
  assert.equal(limiter.take('c').ok, true);
});
