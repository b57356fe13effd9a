import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { IdentityStore } from '../../core/ports/identity-store.ts';
import type { AuthEvent } from './auth-events.ts';
import { memoryIdentityStore } from './auth-test-support.ts';
import { registerBackendClient, registerSecretClient } from './bootstrap.ts';
import { JwksCache } from './client-assertion.ts';
import { JWT_BEARER_ASSERTION_TYPE, tokenEndpoint } from './token-endpoint.ts';
import { createTokenIssuer, type TokenIssuer } from './tokens.ts';

const TOKEN_URL = 'https://switchboard.test/auth/token';
const SCOPES = ['system/Observation.rs', 'system/Patient.r'];

interface Key {
  readonly alg: 'RS384' | 'ES384';
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

async function newKey(alg: 'RS384' | 'ES384', kid: string): Promise<Key> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid, alg } };
}

const nowS = (): number => Math.floor(Date.now() / 1000);

/** A client assertion; `claims`/`header` override or (with undefined) remove the defaults. */
async function assertion(clientId: string, key: { privateKey: CryptoKey | Uint8Array; kid: string }, alg: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = { iss: clientId, sub: clientId, aud: TOKEN_URL, exp: nowS() + 240, jti: randomUUID(), ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT', ...header } as never).sign(key.privateKey);
}

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

describe('POST /auth/token', () => {
  let app: FastifyInstance;
  let store: IdentityStore;
  let close: () => void;
  let issuer: TokenIssuer;
  let rsa: Key;
  let ec: Key;
  let jwksServer: Server;
  let jwksUrl: string;
  let jwksFetches = 0;
  let jkuKey: Key;
  const events: AuthEvent[] = [];
  let secret: string;

  before(async () => {
    ({ store, close } = memoryIdentityStore());
    issuer = await createTokenIssuer({ generate: true, issuer: 'https://switchboard.test', audience: 'https://switchboard.test/fhir/R4' });
    rsa = await newKey('RS384', 'rsa-1');
    ec = await newKey('ES384', 'ec-1');
    jkuKey = await newKey('ES384', 'jku-1');
    // A tiny JWKS host, counting fetches (to see the cache work).
    jwksServer = createServer((req, res) => {
      jwksFetches++;
      if (req.url !== '/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jkuKey.publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;

    await registerBackendClient(store, { id: 'rsa-app', name: 'RSA app', scopes: SCOPES, jwks: { keys: [rsa.publicJwk] } });
    await registerBackendClient(store, { id: 'ec-app', name: 'EC app', scopes: ['system/*.rs'], jwks: { keys: [ec.publicJwk] } });
    // Registered directly: registerBackendClient insists on https, the test host is http.
    await store.putClient({ id: 'jku-app', name: 'JKU app', kind: 'private_key_jwt', jku: jwksUrl, scopes: SCOPES });
    ({ secret } = await registerSecretClient(store, { id: 'secret-app', name: 'Secret app', scopes: SCOPES }));

    app = Fastify();
    await app.register(tokenEndpoint, { store, issuer, tokenUrl: TOKEN_URL, jwks: new JwksCache({ allowHttp: true }), onEvent: (e) => void events.push(e) });
    await app.ready();
  });

  after(async () => {
    await app.close();
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
    close();
  });

  const requestToken = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/auth/token', headers: { ...FORM_HEADERS, ...headers }, payload: form(fields) });
  const withAssertion = (jwt: string, scope = 'system/Observation.rs') =>
    requestToken({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: jwt, scope });

  test('an RS384 assertion with a registered key gets a bearer token that verifies, never cached', async () => {
    const res = await withAssertion(await assertion('rsa-app', rsa, 'RS384'), 'system/Observation.rs system/Patient.r');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json() as { access_token: string; token_type: string; expires_in: number; scope: string };
    assert.equal(body.token_type, 'bearer');
    assert.equal(body.expires_in, 300);
    assert.equal(body.scope, 'system/Observation.rs system/Patient.r');
    const claims = await issuer.verify(body.access_token);
    assert.equal(claims.sub, 'rsa-app');
    assert.equal(claims.clientId, 'rsa-app');
    assert.deepEqual(claims.scopes, ['system/Observation.rs', 'system/Patient.r']);
  });

  test('an ES384 assertion with a registered key gets a token; a wildcard allowance narrows to what was asked', async () => {
    const res = await withAssertion(await assertion('ec-app', ec, 'ES384'), 'system/Encounter.cruds');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().scope, 'system/Encounter.rs');
  });

  test('jku: keys fetched from the registered URL, cached; a jku header naming another URL is refused', async () => {
    const fetchesBefore = jwksFetches;
    const first = await withAssertion(await assertion('jku-app', jkuKey, 'ES384', {}, { jku: jwksUrl }));
    assert.equal(first.statusCode, 200, first.body);
    const second = await withAssertion(await assertion('jku-app', jkuKey, 'ES384'));
    assert.equal(second.statusCode, 200, second.body);
    assert.equal(jwksFetches - fetchesBefore, 1, 'the second request used the cache');
    const elsewhere = await withAssertion(await assertion('jku-app', jkuKey, 'ES384', {}, { jku: 'http://127.0.0.1:1/evil.json' }));
    assert.equal(elsewhere.statusCode, 401);
    assert.equal(elsewhere.json().code, 'SWB_ERR_AUTH_ASSERTION_KEY');
    assert.equal(jwksFetches - fetchesBefore, 1, 'the unregistered URL was never fetched');
  });

  test('bad assertions are all invalid_client (401) with a stable code', async () => {
    const other = await newKey('ES384', 'ec-1'); // same kid, different key: a forgery
    const hmac = { privateKey: new TextEncoder().encode('x'.repeat(64)), kid: 'ec-1' };
    const cases: [string, () => Promise<string>, string][] = [
      ['expired', () => assertion('ec-app', ec, 'ES384', { exp: nowS() - 120 }), 'SWB_ERR_AUTH_ASSERTION_EXPIRED'],
      ['exp more than 5 minutes ahead', () => assertion('ec-app', ec, 'ES384', { exp: nowS() + 600 }), 'SWB_ERR_AUTH_ASSERTION_LIFETIME'],
      ['no exp', () => assertion('ec-app', ec, 'ES384', { exp: undefined }), 'SWB_ERR_AUTH_ASSERTION_INVALID'],
      ['no jti', () => assertion('ec-app', ec, 'ES384', { jti: undefined }), 'SWB_ERR_AUTH_ASSERTION_INVALID'],
      ['wrong aud', () => assertion('ec-app', ec, 'ES384', { aud: 'https://other.test/token' }), 'SWB_ERR_AUTH_ASSERTION_INVALID'],
      ['iss != sub', () => assertion('ec-app', ec, 'ES384', { sub: 'rsa-app' }), 'SWB_ERR_AUTH_ASSERTION_INVALID'],
      ['HS256', () => assertion('ec-app', hmac, 'HS256'), 'SWB_ERR_AUTH_ASSERTION_ALG'],
      ['RS256', async () => assertion('rsa-app', { privateKey: (await generateKeyPair('RS256')).privateKey, kid: 'rsa-1' }, 'RS256'), 'SWB_ERR_AUTH_ASSERTION_ALG'],
      ['alg none', async () => `${Buffer.from('{"alg":"none","kid":"ec-1"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: 'ec-app', sub: 'ec-app', aud: TOKEN_URL, exp: nowS() + 60, jti: randomUUID() })).toString('base64url')}.`, 'SWB_ERR_AUTH_ASSERTION_ALG'],
      ['unknown kid', () => assertion('ec-app', { privateKey: ec.privateKey, kid: 'ec-2' }, 'ES384'), 'SWB_ERR_AUTH_ASSERTION_KEY'],
      ['RS384 header with the EC key id', () => assertion('ec-app', { privateKey: rsa.privateKey, kid: 'ec-1' }, 'RS384'), 'SWB_ERR_AUTH_ASSERTION_KEY'],
      ['forged signature', () => assertion('ec-app', other, 'ES384'), 'SWB_ERR_AUTH_ASSERTION_INVALID'],
      ['unknown client', () => assertion('nobody', ec, 'ES384'), 'SWB_ERR_AUTH_CLIENT_INVALID'],
      ['a secret client cannot use an assertion', () => assertion('secret-app', ec, 'ES384'), 'SWB_ERR_AUTH_CLIENT_INVALID'],
      ['not a JWT', async () => 'not.a.jwt', 'SWB_ERR_AUTH_ASSERTION_INVALID'],
    ];
    for (const [name, make, code] of cases) {
      const res = await withAssertion(await make());
      assert.equal(res.statusCode, 401, `${name}: ${res.body}`);
      assert.equal(res.json().error, 'invalid_client', name);
      assert.equal(res.json().code, code, name);
      assert.equal(res.headers['cache-control'], 'no-store', name);
      assert.match(String(res.headers['www-authenticate']), /^Bearer /, name);
    }
  });

  test('a replayed jti is refused; a forged assertion does not use up the jti', async () => {
    const jti = randomUUID();
    const forged = await withAssertion(await assertion('ec-app', await newKey('ES384', 'ec-1'), 'ES384', { jti }));
    assert.equal(forged.json().code, 'SWB_ERR_AUTH_ASSERTION_INVALID');
    const jwt = await assertion('ec-app', ec, 'ES384', { jti });
    assert.equal((await withAssertion(jwt)).statusCode, 200);
    const replay = await withAssertion(jwt);
    assert.equal(replay.statusCode, 401);
    assert.equal(replay.json().code, 'SWB_ERR_AUTH_ASSERTION_REPLAYED');
    const sameJtiNewJwt = await withAssertion(await assertion('ec-app', ec, 'ES384', { jti }));
    assert.equal(sameJtiNewJwt.json().code, 'SWB_ERR_AUTH_ASSERTION_REPLAYED', 'a new JWT reusing the jti too');
  });

  test('client_assertion_type other than jwt-bearer and a client_id that differs from iss are refused', async () => {
    const jwt = await assertion('ec-app', ec, 'ES384');
    const wrongType = await requestToken({ grant_type: 'client_credentials', client_assertion_type: 'urn:other', client_assertion: jwt, scope: 'system/Patient.r' });
    assert.equal(wrongType.json().error, 'invalid_client');
    const otherId = await requestToken({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: jwt, client_id: 'rsa-app', scope: 'system/Patient.r' });
    assert.equal(otherId.json().code, 'SWB_ERR_AUTH_ASSERTION_INVALID');
  });

  test('client secret: HTTP Basic and client_secret_post work; a wrong secret is invalid_client with a Basic challenge', async () => {
    const basic = `Basic ${Buffer.from(`secret-app:${secret}`).toString('base64')}`;
    const viaBasic = await requestToken({ grant_type: 'client_credentials', scope: 'system/Patient.r' }, { authorization: basic });
    assert.equal(viaBasic.statusCode, 200, viaBasic.body);
    assert.equal((await issuer.verify(viaBasic.json().access_token)).sub, 'secret-app');
    const viaPost = await requestToken({ grant_type: 'client_credentials', client_id: 'secret-app', client_secret: secret, scope: 'system/Patient.r' });
    assert.equal(viaPost.statusCode, 200, viaPost.body);

    const wrong = await requestToken({ grant_type: 'client_credentials', scope: 'system/Patient.r' }, { authorization: `Basic ${Buffer.from('secret-app:nope').toString('base64')}` });
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().error, 'invalid_client');
    assert.equal(wrong.json().code, 'SWB_ERR_AUTH_CLIENT_INVALID');
    assert.equal(wrong.headers['www-authenticate'], 'Basic realm="switchboard"');
    const wrongPost = await requestToken({ grant_type: 'client_credentials', client_id: 'secret-app', client_secret: `${secret}x`, scope: 'system/Patient.r' });
    assert.equal(wrongPost.statusCode, 401);
    const unknown = await requestToken({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: secret, scope: 'system/Patient.r' });
    assert.equal(unknown.json().error, 'invalid_client');
    const both = await requestToken({ grant_type: 'client_credentials', client_id: 'secret-app', client_secret: secret, scope: 'system/Patient.r' }, { authorization: basic });
    assert.equal(both.statusCode, 400);
    assert.equal(both.json().error, 'invalid_request');
    const none = await requestToken({ grant_type: 'client_credentials', scope: 'system/Patient.r' });
    assert.equal(none.json().error, 'invalid_client');
  });

  test('scope: narrowed to what the client may have; nothing allowed -> invalid_scope; absent -> invalid_request', async () => {
    const post = (scope?: string) => requestToken({ grant_type: 'client_credentials', client_id: 'secret-app', client_secret: secret, ...(scope === undefined ? {} : { scope }) });
    const narrowed = await post('system/Observation.cruds system/Patient.rs system/Encounter.r openid');
    assert.equal(narrowed.statusCode, 200, narrowed.body);
    assert.equal(narrowed.json().scope, 'system/Observation.rs system/Patient.r');
    const v1 = await post('system/Observation.read');
    assert.equal(v1.json().scope, 'system/Observation.rs', 'v1 .read is translated to rs');
    const wild = await post('system/*.read');
    assert.equal(wild.json().scope, 'system/Observation.rs system/Patient.r');
    const none = await post('system/Encounter.r patient/Observation.r');
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().error, 'invalid_scope');
    assert.equal(none.json().code, 'SWB_ERR_AUTH_INVALID_SCOPE');
    const absent = await post();
    assert.equal(absent.json().error, 'invalid_request');
  });

  test('malformed requests: other grant types, a JSON body, repeated parameters', async () => {
    const grant = await requestToken({ grant_type: 'password', username: 'a', password: 'b' });
    assert.equal(grant.statusCode, 400);
    assert.equal(grant.json().error, 'unsupported_grant_type');
    const json = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ grant_type: 'client_credentials' }) });
    assert.equal(json.statusCode, 400);
    assert.equal(json.json().error, 'invalid_request');
    const xml = await app.inject({ method: 'POST', url: '/auth/token', headers: { 'content-type': 'text/xml' }, payload: '<a/>' });
    assert.equal(xml.json().error, 'invalid_request');
    const repeated = await app.inject({ method: 'POST', url: '/auth/token', headers: FORM_HEADERS, payload: 'grant_type=client_credentials&scope=a&scope=b' });
    assert.equal(repeated.json().error, 'invalid_request');
    assert.match(repeated.json().error_description, /scope is repeated/);
  });

  test('events: issued and refused, with ids and codes, never the secret or the assertion', async () => {
    events.length = 0;
    const jwt = await assertion('ec-app', ec, 'ES384');
    await withAssertion(jwt, 'system/Patient.r');
    await requestToken({ grant_type: 'client_credentials', client_id: 'secret-app', client_secret: 'wrong-secret-value', scope: 'system/Patient.r' });
    assert.deepEqual(events.map((e) => [e.type, e.clientId, e.code]), [
      ['token.issued', 'ec-app', undefined],
      ['token.refused', 'secret-app', 'SWB_ERR_AUTH_CLIENT_INVALID'],
    ]);
    const text = JSON.stringify(events);
    assert.ok(!text.includes('wrong-secret-value') && !text.includes(jwt.slice(-20)));
  });

  test('over a real socket with node fetch', async () => {
    const server = Fastify();
    await server.register(tokenEndpoint, { store, issuer, tokenUrl: TOKEN_URL, jwks: new JwksCache({ allowHttp: true }) });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const res = await fetch(`${address}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`secret-app:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Observation.rs' }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const body = (await res.json()) as { access_token: string; scope: string };
      assert.equal(body.scope, 'system/Observation.rs');
      assert.deepEqual((await issuer.verify(body.access_token)).scopes, ['system/Observation.rs']);
      const rs = await fetch(`${address}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: await assertion('rsa-app', rsa, 'RS384'), scope: 'system/Patient.r' }),
      });
      assert.equal(rs.status, 200);
    } finally {
      await server.close();
    }
  });
});
