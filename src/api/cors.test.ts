// CORS on /api/v1 and /fhir/R4 (issue 5): off by default; an allowed Origin is echoed with the
// exposed headers; other origins get none; preflights are answered 204 before authentication.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Registry } from 'prom-client';
import type { Store } from '../core/ports/store.ts';
import { FhirSearchIndexer } from '../fhir/search-parameters.ts';
import { openStore } from '../store/open-store.ts';
import { SessionManager } from './auth/sessions.ts';
import { createTokenIssuer } from './auth/tokens.ts';
import { normalizeOrigin, type CorsOptions } from './cors.ts';
import { buildHttpApi } from './http-api.ts';

const APP = 'https://app.example.org';
const LISTENER = '/api/v1/listener/messages';

let dir: string;
let store: Store;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swb-cors-'));
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The API with authentication on, as `switchboard start` runs it. */
async function api(cors: CorsOptions | undefined): Promise<FastifyInstance> {
  const identity = store.identity;
  assert.ok(identity !== undefined);
  const tokens = await createTokenIssuer({ generate: true, issuer: 'https://sb.test', audience: 'https://sb.test/api' });
  const app = buildHttpApi({
    registry: new Registry(),
    store,
    security: { identity, tokens, sessions: new SessionManager({ store: identity }), tokenUrl: 'https://sb.test/auth/token' },
    ...(cors === undefined ? {} : { cors }),
  });
  await app.ready();
  return app;
}

const preflight = (url: string, origin: string): InjectOptions => ({
  method: 'OPTIONS',
  url,
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, if-none-exist' },
});

describe('CORS', () => {
  test('without configured origins no CORS header is sent', async () => {
    const app = await api(undefined);
    const res = await app.inject({ url: LISTENER, headers: { origin: APP } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const pre = await app.inject(preflight('/api/v1/messages', APP));
    assert.notEqual(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    await app.close();
  });

  test('an allowed origin is echoed, with Vary and the exposed headers, on errors too', async () => {
    const app = await api({ origins: [APP, 'https://other.example.org'] });
    // 401 (no credentials): a browser app must still be able to read the error.
    const res = await app.inject({ url: LISTENER, headers: { origin: APP } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.match(String(res.headers['vary']), /Origin/);
    const exposed = String(res.headers['access-control-expose-headers']).toLowerCase();
    for (const h of ['etag', 'location', 'last-modified', 'x-correlation-id']) assert.ok(exposed.includes(h), h);
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    await app.close();
  });

  test('other origins get no CORS header (but Vary: Origin); health routes get none', async () => {
    const app = await api({ origins: [APP] });
    const res = await app.inject({ url: LISTENER, headers: { origin: 'https://evil.example' } });
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    assert.match(String(res.headers['vary']), /Origin/);
    const pre = await app.inject(preflight('/api/v1/messages', 'https://evil.example'));
    assert.notEqual(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], undefined);
    const health = await app.inject({ url: '/healthz', headers: { origin: APP } });
    assert.equal(health.headers['access-control-allow-origin'], undefined);
    await app.close();
  });

  test('a preflight is answered 204 before authentication, on /api/v1 and /fhir/R4', async () => {
    const app = await api({ origins: [APP], maxAgeSeconds: 120 });
    for (const url of ['/api/v1/messages', '/fhir/R4/Patient', '/fhir/R4/Observation/1']) {
      const res = await app.inject(preflight(url, APP));
      assert.equal(res.statusCode, 204, url);
      assert.equal(res.headers['access-control-allow-origin'], APP);
      assert.match(String(res.headers['vary']), /Origin/);
      assert.equal(res.headers['access-control-max-age'], '120');
      const methods = String(res.headers['access-control-allow-methods']);
      for (const m of ['GET', 'POST', 'PUT', 'DELETE']) assert.ok(methods.includes(m), m);
      const allowed = String(res.headers['access-control-allow-headers']).toLowerCase();
      for (const h of ['authorization', 'content-type', 'x-correlation-id', 'if-match', 'if-none-exist', 'prefer']) assert.ok(allowed.includes(h), h);
      assert.equal(res.body, '');
    }
    await app.close();
  });

  test('* without credentials answers *; credentials echo the origin and say so', async () => {
    const any = await api({ origins: ['*'] });
    assert.equal((await any.inject({ url: LISTENER, headers: { origin: 'https://x.example' } })).headers['access-control-allow-origin'], '*');
    await any.close();
    const withCookies = await api({ origins: [APP], credentials: true });
    const res = await withCookies.inject(preflight('/api/v1/messages', APP));
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    await withCookies.close();
  });

  test('refused settings: * with credentials, an origin with a path, not an origin', async () => {
    await assert.rejects(api({ origins: ['*'], credentials: true }), (e: Error & { code?: string }) => e.code === 'SWB_ERR_CONFIG_INVALID');
    assert.throws(() => normalizeOrigin('https://app.example.org/path', 0), /cors\.origins\[0\]/);
    assert.throws(() => normalizeOrigin('app.example.org', 1), /cors\.origins\[1\]/);
    assert.throws(() => normalizeOrigin('ftp://app.example.org', 2), /cors\.origins\[2\]/);
    assert.equal(normalizeOrigin('https://app.example.org:8443', 0), 'https://app.example.org:8443');
    assert.equal(normalizeOrigin('https://app.example.org/', 0), 'https://app.example.org');
  });
});
