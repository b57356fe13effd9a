// Security in one place, on a real socket: the engine's HTTP API with the identity store of its
// SQLite database. Every /api/v1 route needs a token or a session; roles decide what each may do;
// the first admin must change its one-time password; health, metrics and the API description stay
// open. (Token endpoint details: src/api/auth/*.test.ts.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { API_ROUTE_ACTIONS } from '../src/api/http-security.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { createLogger } from '../src/core/logger.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import type { Store } from '../src/core/ports/store.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

let store: Store;
let engine: EngineService;
let base: string;
let adminPassword: string;

before(async () => {
  const dir = tempDir('swb-security-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  assert.ok(store.identity !== undefined);
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' });
  assert.equal(setup.admin.kind, 'created');
  adminPassword = setup.admin.kind === 'created' ? setup.admin.password : '';
  // The same identity store again: the admin exists, no second password.
  assert.equal((await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' })).admin.kind, 'present');
  await store.identity.createUser({ username: 'viewer', passwordHash: await hashPassword('viewer-pass-123456'), roles: ['read-only'] });
  engine = await startEngineService({ store, channels: [], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0, security: setup.security });
  base = engine.httpUrl ?? '';
});

after(async () => {
  await engine.close();
  await store.close();
});

const form = (fields: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

async function login(username: string, password: string): Promise<string> {
  const r = await fetch(`${base}/auth/login`, form({ username, password }));
  assert.equal(r.status, 200, await r.clone().text());
  const cookie = r.headers.get('set-cookie') ?? '';
  assert.match(cookie, /HttpOnly/i);
  assert.match(cookie, /SameSite=Strict/i);
  return cookie.split(';')[0] ?? '';
}

test('without credentials /api/v1 answers 401 with a Bearer challenge; health, metrics and the API description stay open', async () => {
  const r = await fetch(`${base}/api/v1/messages`);
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal(((await r.json()) as { code: string }).code, 'SWB_ERR_AUTH_REQUIRED');
  for (const open of ['/healthz', '/metrics', '/api/v1/openapi.json']) assert.equal((await fetch(`${base}${open}`)).status, 200, open);
  const forged = await fetch(`${base}/api/v1/messages`, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' } });
  assert.equal(forged.status, 401);
});

test('the first admin must change the one-time password before anything else', async () => {
  const cookie = await login('admin', adminPassword);
  const blocked = await fetch(`${base}/api/v1/messages`, { headers: { cookie } });
  assert.equal(blocked.status, 403);
  assert.equal(((await blocked.json()) as { code: string }).code, 'SWB_ERR_AUTH_PASSWORD_CHANGE_REQUIRED');
  const changed = await fetch(`${base}/auth/password`, { ...form({ currentPassword: adminPassword, newPassword: 'a-much-better-passphrase-42' }), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
  assert.ok(changed.status < 300, await changed.text());
  const again = await login('admin', 'a-much-better-passphrase-42');
  assert.equal((await fetch(`${base}/api/v1/messages`, { headers: { cookie: again } })).status, 200);
  assert.equal((await fetch(`${base}/api/v1/audit`, { headers: { cookie: again } })).status, 200);
});

test('roles decide: read-only may search messages but not read content, replay or read the audit log', async () => {
  const cookie = await login('viewer', 'viewer-pass-123456');
  assert.equal((await fetch(`${base}/api/v1/messages`, { headers: { cookie } })).status, 200);
  const audit = await fetch(`${base}/api/v1/audit`, { headers: { cookie } });
  assert.equal(audit.status, 403);
  assert.equal(((await audit.json()) as { code: string }).code, 'SWB_ERR_AUTH_FORBIDDEN');
  assert.equal((await fetch(`${base}/api/v1/messages/anything`, { headers: { cookie } })).status, 403);
  const replay = await fetch(`${base}/api/v1/replay`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(replay.status, 403);
});

test('a backend client gets a short-lived token at /auth/token and uses it as a bearer; its roles apply', async () => {
  assert.ok(store.identity !== undefined);
  const { secret } = await registerSecretClient(store.identity, { id: 'ops-bot', name: 'ops bot', scopes: ['system/*.rs'], roles: ['operator'] });
  const r = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: 'ops-bot', client_secret: secret, scope: 'system/Patient.rs' }));
  assert.equal(r.status, 200);
  const body = (await r.json()) as { access_token: string; expires_in: number; token_type: string };
  assert.ok(body.expires_in <= 300);
  const auth = { authorization: `Bearer ${body.access_token}` };
  assert.equal((await fetch(`${base}/api/v1/exceptions`, { headers: auth })).status, 200);
  assert.equal((await fetch(`${base}/api/v1/audit`, { headers: auth })).status, 403);
  const wrong = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: 'ops-bot', client_secret: 'nope', scope: 'system/Patient.rs' }));
  assert.equal(wrong.status, 401);
});

test('every /api/v1 route the engine registers has an authorization rule (a new route cannot be open by accident)', async () => {
  // Routes without a rule are refused to everyone: an admin gets 403 "without an authorization rule".
  const cookie = await login('admin', 'a-much-better-passphrase-42');
  for (const key of Object.keys(API_ROUTE_ACTIONS)) {
    const [method, route] = key.split(' ') as [string, string];
    const url = route.replace(/:(\w+)/g, 'x');
    const r = await fetch(`${base}${url}`, { method, headers: { cookie, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) }, ...(method === 'POST' ? { body: '{}' } : {}) });
    const text = await r.text();
    assert.ok(!text.includes('without an authorization rule'), `${key} is guarded by a rule`);
    assert.notEqual(r.status, 401, key);
  }
});

test('an /api/v1 route without a rule is denied; open routes need no action', async () => {
  const { actionForRoute } = await import('../src/api/http-security.ts');
  assert.equal(actionForRoute('GET', '/api/v1/something-new'), 'deny');
  assert.equal(actionForRoute('DELETE', '/api/v1/messages/:id'), 'deny');
  assert.equal(actionForRoute('GET', '/api/v1/openapi.json'), undefined);
  assert.equal(actionForRoute('GET', '/healthz'), undefined);
  assert.equal(actionForRoute('GET', '/api/v1/messages'), 'messages:search');
});

test('/fhir/R4: metadata is open; every interaction needs credentials, then SMART scopes and roles decide (OperationOutcome when refused)', async () => {
  assert.equal((await fetch(`${base}/fhir/R4/metadata`)).status, 200);
  assert.equal((await fetch(`${base}/fhir/R4/Patient`)).status, 401);
  assert.ok(store.identity !== undefined);
  const { secret } = await registerSecretClient(store.identity, { id: 'fhir-reader', name: 'reader', scopes: ['system/Patient.rs'] });
  const r = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: 'fhir-reader', client_secret: secret, scope: 'system/Patient.rs' }));
  const auth = { authorization: `Bearer ${((await r.json()) as { access_token: string }).access_token}` };
  assert.equal((await fetch(`${base}/fhir/R4/Patient?gender=female`, { headers: auth })).status, 200);
  const write = await fetch(`${base}/fhir/R4/Patient`, { method: 'POST', headers: { ...auth, 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', gender: 'female' }) });
  assert.equal(write.status, 403);
  const outcome = (await write.json()) as { resourceType: string; issue: Array<{ details?: { coding?: Array<{ code?: string }> } }> };
  assert.equal(outcome.resourceType, 'OperationOutcome');
  assert.equal(outcome.issue[0]?.details?.coding?.[0]?.code, 'SWB_ERR_AUTH_SCOPE_INSUFFICIENT');
  assert.equal((await fetch(`${base}/fhir/R4/Observation`, { headers: auth })).status, 403);
  // A person: read-only may search patients, not the audit trail.
  const cookie = await login('viewer', 'viewer-pass-123456');
  assert.equal((await fetch(`${base}/fhir/R4/Patient`, { headers: { cookie } })).status, 200);
  assert.equal((await fetch(`${base}/fhir/R4/AuditEvent`, { headers: { cookie } })).status, 403);
});
