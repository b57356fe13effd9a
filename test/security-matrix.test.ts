// The full security matrix on a real socket (issue 5 "Proof": every role x endpoint, allowed and
// denied; bad tokens). Every row of API_ROUTE_ACTIONS is called by every role, by a client token with
// no roles and with no credentials, so a route added to the table is covered without touching this
// file. The expectations are written out here (not computed with can()), so a change to roles.ts
// must change this file too.
//
// Already proven elsewhere, not repeated: token verification in isolation (expired, other key,
// tampered, alg none, audience, issuer: src/api/auth/tokens.test.ts), a replayed client-assertion
// jti and the other assertion checks (src/api/auth/token-endpoint.test.ts, which also runs over a
// socket), SMART scope parsing and the patient compartment rule (src/api/auth/scopes.test.ts), and
// role x action in isolation (src/api/auth/roles.test.ts). Here the same refusals are proven end to
// end, through the server, on both /api/v1 (problem JSON) and /fhir/R4 (OperationOutcome).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { auditTrailOf } from '../src/api/audit-trail.ts';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { createTokenIssuer, type TokenKeyPair } from '../src/api/auth/tokens.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { API_ROUTE_ACTIONS } from '../src/api/http-security.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

const PUBLIC_URL = 'http://127.0.0.1';
const PEOPLE = ['admin', 'operator', 'reviewer', 'auditor', 'read-only'] as const;
type Who = (typeof PEOPLE)[number] | 'client' | 'nobody';

/**
 * Who may do each /api/v1 action (src/api/auth/roles.ts). A client with no roles may do none. An
 * action missing here fails the test: decide who may do it, then add it.
 */
const API_GRANTS: Readonly<Record<string, readonly Who[]>> = {
  'channels:read': ['admin', 'operator', 'auditor', 'read-only'],
  'channels:deploy': ['admin', 'operator'],
  'messages:search': ['admin', 'operator', 'auditor', 'read-only'],
  'messages:read': ['admin', 'operator'],
  'messages:retry': ['admin', 'operator'],
  'messages:resolve': ['admin', 'operator'],
  'exceptions:read': ['admin', 'operator', 'read-only'],
  'exceptions:resolve': ['admin', 'operator'],
  'replay:run': ['admin', 'operator'],
  'writeback:read': ['admin', 'operator', 'reviewer', 'auditor'],
  'writeback:review': ['reviewer'],
  'writeback:propose': ['admin', 'operator'],
  'writeback:operate': ['admin', 'operator'],
  'audit:read': ['admin', 'auditor'],
  'metrics:read': ['admin', 'operator', 'reviewer', 'auditor', 'read-only'],
  'users:read': ['admin', 'auditor'],
  'users:manage': ['admin'],
  'clients:manage': ['admin'],
};

let dir: string;
let store: Store;
let engine: EngineService;
let base: string;
let keyPair: TokenKeyPair;
const creds = new Map<Who, Record<string, string>>();

const form = (fields: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

async function clientToken(id: string, scopes: string[], roles: string[] = []): Promise<string> {
  assert.ok(store.identity !== undefined);
  const { secret } = await registerSecretClient(store.identity, { id, name: id, scopes, roles });
  const r = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: id, client_secret: secret, scope: scopes.join(' ') }));
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { access_token: string }).access_token;
}

before(async () => {
  dir = tempDir('swb-matrix-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  assert.ok(store.identity !== undefined);
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: PUBLIC_URL });
  keyPair = JSON.parse(readFileSync(join(dir, 'key.json'), 'utf8')) as TokenKeyPair;
  engine = await startEngineService({ store, channels: [], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0, security: setup.security });
  base = engine.httpUrl ?? '';
  // One person per role, each logged in with a session (roles alone decide for a session).
  for (const role of PEOPLE) {
    const username = `matrix-${role}`;
    await store.identity.createUser({ username, passwordHash: await hashPassword(`${username}-passphrase-1`), roles: [role] });
    const r = await fetch(`${base}/auth/login`, form({ username, password: `${username}-passphrase-1` }));
    assert.equal(r.status, 200, await r.clone().text());
    creds.set(role, { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '' });
  }
  creds.set('client', { authorization: `Bearer ${await clientToken('matrix-client', ['system/*.rs'])}` });
  creds.set('nobody', {});
  // Two patients, written by the admin, for the reads and the patient-compartment checks.
  for (const id of ['p1', 'p2']) {
    const r = await fetch(`${base}/fhir/R4/Patient/${id}`, { method: 'PUT', headers: { ...creds.get('admin'), 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient', id, gender: 'unknown' }) });
    assert.ok(r.status === 200 || r.status === 201, `PUT Patient/${id}: ${r.status}`);
  }
});

after(async () => {
  await engine.close();
  await store.close();
});

interface Answer {
  status: number;
  code: string | undefined;
  body: Record<string, unknown>;
  challenge: string | null;
}

async function call(who: Who, method: string, url: string, extra: Record<string, string> = {}, body?: string): Promise<Answer> {
  const headers = { ...creds.get(who), ...extra, ...(body === undefined ? {} : { 'content-type': extra['content-type'] ?? 'application/json' }) };
  const r = await fetch(`${base}${url}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    json = {};
  }
  const outcomeCode = ((json['issue'] as Array<{ details?: { coding?: Array<{ code?: string }> } }> | undefined)?.[0]?.details?.coding ?? [])[0]?.code;
  return { status: r.status, code: typeof json['code'] === 'string' ? json['code'] : outcomeCode, body: json, challenge: r.headers.get('www-authenticate') };
}

test('every row of API_ROUTE_ACTIONS x every role, a client with no roles, and no credentials', async (t) => {
  const http = engine.http;
  assert.ok(http !== undefined);
  let checked = 0;
  for (const [key, action] of Object.entries(API_ROUTE_ACTIONS)) {
    const [method, route] = key.split(' ') as [string, string];
    assert.equal(typeof action, 'string', `${key}: an /api/v1 action`);
    const grants = API_GRANTS[action as string];
    assert.ok(grants !== undefined, `${key}: ${String(action)} has no expectation in this matrix; add who may do it`);
    // A row whose route this server does not register (an optional part not configured here)
    // cannot be called: say so rather than count it as proven.
    if (!http.hasRoute({ method: method as 'GET', url: route })) {
      t.diagnostic(`not registered in this test server, not checked: ${key}`);
      continue;
    }
    const url = route.replace(/:(\w+)/g, 'x');
    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? '{}' : undefined;
    const none = await call('nobody', method, url, {}, body);
    assert.equal(none.status, 401, `${key} without credentials`);
    assert.equal(none.code, 'SWB_ERR_AUTH_REQUIRED', key);
    assert.match(none.challenge ?? '', /^Bearer/, key);
    for (const who of [...PEOPLE, 'client'] as const) {
      const r = await call(who, method, url, {}, body);
      if (grants.includes(who)) {
        assert.ok(r.status !== 401 && r.status !== 403, `${who} may ${key} (${String(action)}), got ${r.status} ${r.code ?? ''}`);
      } else {
        assert.equal(r.status, 403, `${who} may not ${key} (${String(action)})`);
        assert.equal(r.code, 'SWB_ERR_AUTH_FORBIDDEN', `${who} ${key}`);
      }
    }
    checked++;
  }
  assert.ok(checked >= 20, `most rows are checked (${checked})`);
});

test('/fhir/R4 per role: read, search and create on Patient and AuditEvent', async () => {
  type Op = 'read' | 'search' | 'create';
  const requestOf = (type: string, op: Op): [string, string, string | undefined] =>
    op === 'read' ? ['GET', `/fhir/R4/${type}/${type === 'Patient' ? 'p1' : 'x'}`, undefined] : op === 'search' ? ['GET', `/fhir/R4/${type}`, undefined] : ['POST', `/fhir/R4/${type}`, JSON.stringify({ resourceType: type, gender: 'unknown' })];
  // roles.ts: admin everything; operator, reviewer and read-only read clinical data; the auditor reads
  // the audit trail only; the client holds system/*.rs (reads, no writes).
  const allowed = (who: Who, type: string, op: Op): boolean => {
    if (who === 'admin') return true;
    if (op === 'create') return false;
    if (who === 'client') return true;
    return type === 'AuditEvent' ? who === 'auditor' : who !== 'auditor';
  };
  for (const who of [...PEOPLE, 'client', 'nobody'] as const) {
    for (const type of ['Patient', 'AuditEvent']) {
      for (const op of ['read', 'search', 'create'] as const) {
        const [method, url, body] = requestOf(type, op);
        const r = await call(who, method, url, body === undefined ? {} : { 'content-type': 'application/fhir+json' }, body);
        const what = `${who} ${op} ${type}`;
        if (who === 'nobody') {
          assert.equal(r.status, 401, what);
          assert.equal(r.body['resourceType'], 'OperationOutcome', what);
        } else if (type === 'AuditEvent' && op === 'create') {
          // Audit records are written by the server only, whoever asks (fhir-audit-hook.ts).
          assert.equal(r.status, 405, what);
        } else if (allowed(who, type, op)) {
          assert.ok(r.status !== 401 && r.status !== 403, `${what}: got ${r.status} ${r.code ?? ''}`);
        } else {
          assert.equal(r.status, 403, what);
          assert.equal(r.body['resourceType'], 'OperationOutcome', what);
          assert.ok(r.code === 'SWB_ERR_AUTH_FORBIDDEN' || r.code === 'SWB_ERR_AUTH_SCOPE_INSUFFICIENT', `${what}: ${r.code ?? ''}`);
        }
      }
    }
  }
});

/** A token signed with the server's own key but with other claims, or by another key. */
async function mint(options: { issuer?: string; audience?: string; clock?: () => Date; ttlSeconds?: number; otherKey?: boolean; scopes?: string[]; patient?: string }): Promise<string> {
  const issuer = await createTokenIssuer({
    ...(options.otherKey === true ? { generate: true } : { keyPair }),
    issuer: options.issuer ?? PUBLIC_URL,
    audience: options.audience ?? PUBLIC_URL,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
  });
  return (await issuer.issue({ sub: 'minted', clientId: 'minted', scopes: options.scopes ?? ['system/*.rs'], roles: ['admin'], ...(options.patient === undefined ? {} : { patient: options.patient }) })).accessToken;
}

test('bad tokens through the server: expired, forged, alg none, wrong audience, wrong issuer -> 401 on /api/v1 (problem) and /fhir/R4 (OperationOutcome)', async () => {
  const good = await mint({});
  const [h, p] = good.split('.') as [string, string, string];
  const cases: Array<[string, string, string]> = [
    ['expired', await mint({ ttlSeconds: 60, clock: () => new Date(Date.now() - 10 * 60_000) }), 'SWB_ERR_AUTH_TOKEN_EXPIRED'],
    ['forged signature (another key)', await mint({ otherKey: true }), 'SWB_ERR_AUTH_TOKEN_INVALID'],
    ['forged signature (tampered)', `${h}.${p}.${Buffer.from('not the signature').toString('base64url')}`, 'SWB_ERR_AUTH_TOKEN_INVALID'],
    ['alg none', `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${p}.`, 'SWB_ERR_AUTH_TOKEN_INVALID'],
    ['wrong audience', await mint({ audience: 'https://elsewhere.example' }), 'SWB_ERR_AUTH_TOKEN_AUDIENCE'],
    ['wrong issuer', await mint({ issuer: 'https://evil.example' }), 'SWB_ERR_AUTH_TOKEN_INVALID'],
  ];
  // The good one passes both doors, so the refusals below are the claims' doing.
  assert.equal((await call('nobody', 'GET', '/api/v1/messages', { authorization: `Bearer ${good}` })).status, 200);
  assert.equal((await call('nobody', 'GET', '/fhir/R4/Patient', { authorization: `Bearer ${good}` })).status, 200);
  for (const [name, token, code] of cases) {
    const api = await call('nobody', 'GET', '/api/v1/messages', { authorization: `Bearer ${token}` });
    assert.equal(api.status, 401, `${name} on /api/v1`);
    assert.equal(api.code, code, `${name} on /api/v1`);
    assert.match(api.challenge ?? '', /error="invalid_token"/, name);
    const fhir = await call('nobody', 'GET', '/fhir/R4/Patient', { authorization: `Bearer ${token}` });
    assert.equal(fhir.status, 401, `${name} on /fhir/R4`);
    assert.equal(fhir.body['resourceType'], 'OperationOutcome', `${name} on /fhir/R4`);
    assert.equal(fhir.code, code, `${name} on /fhir/R4`);
    assert.match(fhir.challenge ?? '', /error="invalid_token"/, name);
  }
});

test('scope too narrow (system/Patient.r reading Observation) and a patient/ scope reading another patient are 403 OperationOutcomes', async () => {
  const narrow = { authorization: `Bearer ${await clientToken('matrix-narrow', ['system/Patient.r'])}` };
  assert.equal((await call('nobody', 'GET', '/fhir/R4/Patient/p1', narrow)).status, 200);
  const obs = await call('nobody', 'GET', '/fhir/R4/Observation/x', narrow);
  assert.equal(obs.status, 403);
  assert.equal(obs.body['resourceType'], 'OperationOutcome');
  assert.equal(obs.code, 'SWB_ERR_AUTH_SCOPE_INSUFFICIENT');
  // patient/ scopes are bound to the launch context's patient (SMART App Launch 2.0 scopes).
  const forP1 = { authorization: `Bearer ${await mint({ scopes: ['patient/Patient.rs'], patient: 'p1' })}` };
  assert.equal((await call('nobody', 'GET', '/fhir/R4/Patient/p1', forP1)).status, 200);
  const other = await call('nobody', 'GET', '/fhir/R4/Patient/p2', forP1);
  assert.equal(other.status, 403);
  assert.equal(other.body['resourceType'], 'OperationOutcome');
});

test('/fhir/R4 refusals for credentials are OperationOutcomes with the same status and challenge, and leave an AuditEvent with outcome 4', async () => {
  const missing = await call('nobody', 'GET', '/fhir/R4/Patient?gender=unknown', { 'x-correlation-id': 'matrix-refused-1' });
  assert.equal(missing.status, 401);
  assert.equal(missing.body['resourceType'], 'OperationOutcome');
  assert.equal(missing.code, 'SWB_ERR_AUTH_REQUIRED');
  assert.equal((missing.body['issue'] as Array<{ code: string }>)[0]?.code, 'login');
  assert.equal(missing.challenge, 'Bearer realm="switchboard"');
  const bad = await call('nobody', 'GET', '/fhir/R4/Patient/p1', { authorization: 'Bearer not.a.token', 'x-correlation-id': 'matrix-refused-2' });
  assert.equal(bad.status, 401);
  assert.equal(bad.body['resourceType'], 'OperationOutcome');
  assert.match(bad.challenge ?? '', /error="invalid_token"/);
  // /api/v1 keeps problem JSON.
  const api = await call('nobody', 'GET', '/api/v1/messages');
  assert.equal(api.body['resourceType'], undefined);
  assert.equal(api.code, 'SWB_ERR_AUTH_REQUIRED');

  const http = engine.http;
  assert.ok(http !== undefined);
  await auditTrailOf(http)?.flush();
  const found = await call('admin', 'GET', '/fhir/R4/AuditEvent?_count=1000');
  type Event = { outcome?: string; subtype?: Array<{ code?: string }>; entity?: Array<{ what?: { identifier?: { value?: string }; reference?: string } }> };
  const events = ((found.body['entry'] as Array<{ resource: Event }> | undefined) ?? []).map((e) => e.resource);
  const byCorr = (corr: string): Event[] => events.filter((e) => e.entity?.some((x) => x.what?.identifier?.value === corr) === true);
  const [first] = byCorr('matrix-refused-1');
  assert.equal(byCorr('matrix-refused-1').length, 1);
  assert.equal(first?.outcome, '4');
  assert.equal(first?.subtype?.[0]?.code, 'search-type');
  assert.doesNotMatch(JSON.stringify(first), /gender=unknown/, 'a refused caller leaves no query behind');
  const [second] = byCorr('matrix-refused-2');
  assert.equal(second?.outcome, '4');
  assert.equal(second?.subtype?.[0]?.code, 'read');
});
