import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, importJWK, jwtVerify, type JWK } from 'jose';
import { isSwitchboardError } from '../core/errors.ts';
import { discoverTokenUrl, SmartBackendAuth } from './smart-backend-auth.ts';

/**
 * Against a tiny real token server (Fastify on 127.0.0.1:0) that verifies each client assertion
 * the way a SMART backend-services server does (signature, iss/sub/aud/exp/jti), so a wrong claim
 * fails the test, not just a wrong count.
 */

interface Issued {
  readonly token: string;
  readonly header: Record<string, unknown>;
  readonly claims: Record<string, unknown>;
}

async function startTokenServer(publicJwk: JWK, alg: string, options: { expiresIn: number; delayMs?: number; refuse?: boolean }) {
  const app: FastifyInstance = Fastify();
  const issued: Issued[] = [];
  const seenJti = new Set<string>();
  let url = '';
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))));
  app.get('/fhir/.well-known/smart-configuration', async () => ({ token_endpoint: `${url}/token`, token_endpoint_auth_methods_supported: ['private_key_jwt'] }));
  app.get('/other/.well-known/smart-configuration', async (_req, reply) => reply.code(404).send({}));
  app.get('/other/metadata', async () => ({
    resourceType: 'CapabilityStatement',
    rest: [{ mode: 'server', security: { extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: `${url}/token` }] }] } }],
  }));
  app.post('/token', async (req, reply) => {
    const form = req.body as Record<string, string>;
    if (options.refuse === true) return reply.code(401).send({ error: 'invalid_client' });
    if (form['grant_type'] !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' });
    if (form['client_assertion_type'] !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return reply.code(400).send({ error: 'invalid_request' });
    const assertion = form['client_assertion'] ?? '';
    const key = await importJWK(publicJwk, alg);
    const { payload, protectedHeader } = await jwtVerify(assertion, key, { algorithms: [alg], audience: `${url}/token`, issuer: 'client-1', subject: 'client-1' });
    assert.ok(typeof payload.jti === 'string' && !seenJti.has(payload.jti), 'jti is fresh');
    seenJti.add(payload.jti);
    assert.ok(typeof payload.exp === 'number' && typeof payload.iat === 'number' && payload.exp - payload.iat <= 300, 'exp at most 5 minutes ahead');
    if (options.delayMs !== undefined) await new Promise((r) => setTimeout(r, options.delayMs));
    const token = `tok-${issued.length + 1}`;
    issued.push({ token, header: protectedHeader as Record<string, unknown>, claims: payload as Record<string, unknown> });
    return { access_token: token, token_type: 'bearer', expires_in: options.expiresIn, scope: form['scope'] ?? '' };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  url = `http://127.0.0.1:${address.port}`;
  return { app, url, issued };
}

describe('SmartBackendAuth (SMART App Launch 2.x backend services)', () => {
  let rsaPrivate: JWK;
  let rsaPublic: JWK;
  let ecPrivate: JWK;
  let ecPublic: JWK;

  before(async () => {
    const rsa = await generateKeyPair('RS384', { extractable: true });
    rsaPrivate = { ...(await exportJWK(rsa.privateKey)), kid: 'rsa-1' };
    rsaPublic = await exportJWK(rsa.publicKey);
    const ec = await generateKeyPair('ES384', { extractable: true });
    ecPrivate = await exportJWK(ec.privateKey);
    ecPublic = await exportJWK(ec.publicKey);
  });

  describe('with a 100 s token', () => {
    let server: Awaited<ReturnType<typeof startTokenServer>>;
    before(async () => {
      server = await startTokenServer(rsaPublic, 'RS384', { expiresIn: 100, delayMs: 50 });
    });
    after(() => server.app.close());

    it('signs an RS384 assertion with kid, jku, iss = sub = client id, aud = token URL, and sends the scope', async () => {
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', jku: 'https://client.example/jwks', tokenUrl: `${server.url}/token`, scope: 'system/Observation.c' });
      const token = await auth.getToken();
      const last = server.issued.at(-1);
      assert.equal(token.accessToken, last?.token);
      assert.equal(last?.header['kid'], 'rsa-1');
      assert.equal(last?.header['jku'], 'https://client.example/jwks');
      assert.equal(last?.header['typ'], 'JWT');
      assert.equal(token.scope, 'system/Observation.c');
    });

    it('caches, and refreshes early once less than max(30 s, 10%) is left', async () => {
      let now = 1_000_000;
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', tokenUrl: `${server.url}/token`, now: () => now });
      const first = await auth.getToken();
      now += 60_000; // 40 s left: more than the 30 s margin
      assert.equal((await auth.getToken()).accessToken, first.accessToken);
      assert.equal(auth.tokenRequests, 1);
      now += 11_000; // 29 s left
      const second = await auth.getToken();
      assert.notEqual(second.accessToken, first.accessToken);
      assert.equal(auth.tokenRequests, 2);
    });

    it('shares one token request among concurrent callers (single flight)', async () => {
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', tokenUrl: `${server.url}/token` });
      const before = server.issued.length;
      const tokens = await Promise.all(Array.from({ length: 8 }, () => auth.getToken()));
      assert.equal(new Set(tokens.map((t) => t.accessToken)).size, 1);
      assert.equal(server.issued.length - before, 1);
      assert.equal(auth.tokenRequests, 1);
    });

    it('drops a token after a 401 and fetches a new one; a stale invalidate does not drop the new one', async () => {
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', tokenUrl: `${server.url}/token` });
      const first = await auth.authorization();
      auth.invalidate(first.token);
      const second = await auth.authorization();
      assert.notEqual(second.token, first.token);
      auth.invalidate(first.token);
      assert.equal((await auth.authorization()).token, second.token);
      assert.equal(auth.tokenRequests, 2);
    });

    it('discovers the token URL from smart-configuration, or from the CapabilityStatement oauth-uris', async () => {
      assert.equal(await discoverTokenUrl(`${server.url}/fhir`), `${server.url}/token`);
      assert.equal(await discoverTokenUrl(`${server.url}/other/`), `${server.url}/token`);
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', fhirBaseUrl: `${server.url}/fhir` });
      assert.match((await auth.getToken()).accessToken, /^tok-/);
      await assert.rejects(discoverTokenUrl(`${server.url}/nowhere`), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_EHR_DISCOVERY_FAILED' && e.failureClass === 'transient');
    });
  });

  it('a 1000 s token is refreshed when less than 100 s (10%) is left', async () => {
    const server = await startTokenServer(ecPublic, 'ES384', { expiresIn: 1000 });
    try {
      let now = 0;
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: ecPrivate, alg: 'ES384', tokenUrl: `${server.url}/token`, now: () => now });
      const first = await auth.getToken();
      // ES384 with no kid configured: the RFC 7638 thumbprint names the key.
      assert.match(String(server.issued[0]?.header['kid']), /^[A-Za-z0-9_-]{43}$/);
      now = 899_000;
      assert.equal((await auth.getToken()).accessToken, first.accessToken);
      now = 901_000;
      assert.notEqual((await auth.getToken()).accessToken, first.accessToken);
    } finally {
      await server.app.close();
    }
  });

  it('a refused client is SWB_ERR_EHR_AUTH_FAILED (permanent); an unreachable endpoint is transient', async () => {
    const server = await startTokenServer(rsaPublic, 'RS384', { expiresIn: 100, refuse: true });
    const tokenUrl = `${server.url}/token`;
    try {
      const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', tokenUrl });
      await assert.rejects(auth.getToken(), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_EHR_AUTH_FAILED' && e.failureClass === 'permanent' && !e.message.includes('eyJ'));
    } finally {
      await server.app.close();
    }
    const auth = new SmartBackendAuth({ clientId: 'client-1', privateKey: rsaPrivate, alg: 'RS384', tokenUrl });
    await assert.rejects(auth.getToken(), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_EHR_AUTH_UNAVAILABLE' && e.failureClass === 'transient');
  });

  it('refuses a key that does not fit the algorithm, and a public key', async () => {
    const wrong = new SmartBackendAuth({ clientId: 'c', privateKey: ecPrivate, alg: 'RS384', tokenUrl: 'http://127.0.0.1:9/token' });
    await assert.rejects(wrong.createAssertion('http://127.0.0.1:9/token'), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_EHR_CONFIG_INVALID');
    const pub = new SmartBackendAuth({ clientId: 'c', privateKey: rsaPublic, alg: 'RS384', tokenUrl: 'http://127.0.0.1:9/token' });
    await assert.rejects(pub.createAssertion('http://127.0.0.1:9/token'), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_EHR_CONFIG_INVALID');
    assert.throws(() => new SmartBackendAuth({ clientId: 'c', privateKey: rsaPrivate, alg: 'RS256' as 'RS384', tokenUrl: 'http://x/token' }), /RS384 or ES384/);
  });
});
