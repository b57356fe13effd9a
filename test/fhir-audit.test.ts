// The AuditEvent trail on a real socket (issue 5 "Audit", IHE BALP): every FHIR interaction, Bundle
// entry, login and token leaves one AuditEvent in the canonical store, carrying the correlation id,
// the caller and the patient; auditors search them at /fhir/R4/AuditEvent; nobody writes them there.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { auditTrailOf } from '../src/api/audit-trail.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

interface Coding {
  system?: string;
  code?: string;
}
interface AuditEvent {
  resourceType: 'AuditEvent';
  id: string;
  type: Coding;
  subtype?: Coding[];
  action: string;
  outcome: string;
  recorded: string;
  agent: Array<{ type?: { coding?: Coding[] }; who?: { identifier?: { value?: string }; display?: string }; requestor: boolean; altId?: string; network?: { address?: string }; purposeOfUse?: Array<{ coding?: Coding[] }> }>;
  entity: Array<{ what?: { reference?: string; identifier?: { value?: string } }; type?: Coding; role?: Coding; query?: string }>;
}
interface Bundle {
  entry?: Array<{ resource: AuditEvent }>;
}

const BALP_XREQUEST = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
const FHIR_JSON = 'application/fhir+json';

let store: Store;
let engine: EngineService;
let base: string;
let app1: Record<string, string>;
let narrow: Record<string, string>;
let auditor: Record<string, string>;
let viewerId: string;
const started = new Date(Date.now() - 1000).toISOString();

const form = (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(fields).toString(),
});

async function token(clientId: string, secret: string, scope: string, corr?: string): Promise<Record<string, string>> {
  const r = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope }, corr === undefined ? {} : { 'x-correlation-id': corr }));
  assert.equal(r.status, 200);
  return { authorization: `Bearer ${((await r.json()) as { access_token: string }).access_token}` };
}

async function login(username: string, password: string, corr?: string): Promise<Response> {
  return fetch(`${base}/auth/login`, form({ username, password }, corr === undefined ? {} : { 'x-correlation-id': corr }));
}

async function flush(): Promise<void> {
  const trail = engine.http === undefined ? undefined : auditTrailOf(engine.http);
  assert.ok(trail !== undefined, 'the engine has an audit trail');
  await trail.flush();
}

/** Searches AuditEvent as the auditor (after flushing the trail). */
async function auditSearch(query: string): Promise<AuditEvent[]> {
  await flush();
  const r = await fetch(`${base}/fhir/R4/AuditEvent?${query}&_count=1000`, { headers: auditor });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as Bundle).entry?.map((e) => e.resource) ?? [];
}

const corrOf = (e: AuditEvent): string | undefined => e.entity.find((x) => x.type?.system === BALP_XREQUEST && x.type.code === 'XrequestId')?.what?.identifier?.value;
const withCorr = (events: AuditEvent[], corr: string): AuditEvent[] => events.filter((e) => corrOf(e) === corr);
const subtypeOf = (e: AuditEvent): string | undefined => e.subtype?.[0]?.code;
const requestor = (e: AuditEvent): AuditEvent['agent'][number] | undefined => e.agent.find((a) => a.requestor);

before(async () => {
  const dir = tempDir('swb-audit-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  assert.ok(store.identity !== undefined);
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' });
  await store.identity.createUser({ username: 'auditor1', passwordHash: await hashPassword('auditor-pass-123456'), roles: ['auditor'] });
  await store.identity.createUser({ username: 'viewer', passwordHash: await hashPassword('viewer-pass-123456'), roles: ['read-only'] });
  viewerId = (await store.identity.getUserByUsername('viewer'))?.id ?? '';
  engine = await startEngineService({ store, channels: [], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0, security: setup.security });
  base = engine.httpUrl ?? '';
  const full = await registerSecretClient(store.identity, { id: 'app1', name: 'app one', scopes: ['system/*.cruds'] });
  app1 = await token('app1', full.secret, 'system/*.cruds', 'test-corr-token');
  const small = await registerSecretClient(store.identity, { id: 'narrow-app', name: 'narrow', scopes: ['system/Patient.rs'] });
  narrow = await token('narrow-app', small.secret, 'system/Patient.rs');
  const r = await login('auditor1', 'auditor-pass-123456');
  assert.equal(r.status, 200);
  auditor = { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '' };
});

after(async () => {
  await engine.close();
  await store.close();
});

async function fhir(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  return fetch(`${base}/fhir/R4/${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': FHIR_JSON }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

test('a create, a read and a search each leave one AuditEvent with the subtype, the client, the correlation id and the patient', async () => {
  const created = await fhir('POST', 'Patient', { ...app1, 'x-correlation-id': 'test-corr-1', 'x-purpose-of-use': 'TREAT' }, { resourceType: 'Patient', name: [{ family: 'Auditson' }] });
  assert.equal(created.status, 201);
  const patientId = ((await created.json()) as { id: string }).id;
  // X-Request-Id is accepted as well (IHE BALP's name for it), echoed in both headers and audited.
  const read = await fhir('GET', `Patient/${patientId}`, { ...app1, 'x-request-id': 'test-corr-2' });
  assert.equal(read.status, 200);
  assert.deepEqual([read.headers.get('x-request-id'), read.headers.get('x-correlation-id')], ['test-corr-2', 'test-corr-2']);
  assert.equal((await fhir('GET', `Observation?patient=Patient/${patientId}`, { ...app1, 'x-correlation-id': 'test-corr-3' })).status, 200);
  const obs = await fhir('POST', 'Observation', { ...app1, 'x-correlation-id': 'test-corr-4' }, { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patientId}` } });
  assert.equal(obs.status, 201);
  const obsId = ((await obs.json()) as { id: string }).id;

  const events = await auditSearch(`entity=Patient/${patientId}`);
  const expected: Array<[string, string, string]> = [
    ['test-corr-1', 'create', 'C'],
    ['test-corr-2', 'read', 'R'],
    ['test-corr-3', 'search-type', 'E'],
    ['test-corr-4', 'create', 'C'],
  ];
  for (const [corr, subtype, action] of expected) {
    const found = withCorr(events, corr);
    assert.equal(found.length, 1, `one AuditEvent for ${corr}`);
    const e = found[0] as AuditEvent;
    assert.deepEqual(e.type, { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'Restful Operation' });
    assert.equal(e.subtype?.[0]?.system, 'http://hl7.org/fhir/restful-interaction');
    assert.equal(subtypeOf(e), subtype, corr);
    assert.equal(e.action, action, corr);
    assert.equal(e.outcome, '0', corr);
    const who = requestor(e);
    assert.equal(who?.who?.identifier?.value, 'app1', corr);
    assert.equal(who?.type?.coding?.[0]?.code, '110153');
    assert.equal(who?.network?.address, '127.0.0.1');
    const patient = e.entity.find((x) => x.role?.code === '1');
    assert.equal(patient?.what?.reference, `Patient/${patientId}`, corr);
  }
  const first = withCorr(events, 'test-corr-1')[0] as AuditEvent;
  assert.equal(requestor(first)?.purposeOfUse?.[0]?.coding?.[0]?.code, 'TREAT');
  assert.equal(requestor(withCorr(events, 'test-corr-2')[0] as AuditEvent)?.purposeOfUse, undefined, 'no purpose of use unless sent');
  // BALP entity[query]: the raw search, base64; entity[data] of the created Observation.
  const query = (withCorr(events, 'test-corr-3')[0] as AuditEvent).entity.find((x) => x.role?.code === '24');
  assert.equal(Buffer.from(query?.query ?? '', 'base64').toString('utf8'), `Observation?patient=${encodeURIComponent(`Patient/${patientId}`)}`);
  assert.ok((withCorr(events, 'test-corr-4')[0] as AuditEvent).entity.some((x) => x.what?.reference === `Observation/${obsId}`));
});

test('a refused request (403) leaves an AuditEvent with a failure outcome', async () => {
  const r = await fhir('GET', 'Observation', { ...narrow, 'x-correlation-id': 'test-corr-refused' });
  assert.equal(r.status, 403);
  const events = withCorr(await auditSearch('outcome=4'), 'test-corr-refused');
  assert.equal(events.length, 1);
  const e = events[0] as AuditEvent;
  assert.equal(e.outcome, '4');
  assert.equal(subtypeOf(e), 'search-type');
  assert.equal(requestor(e)?.who?.identifier?.value, 'narrow-app');
});

test('logins, failed logins and tokens leave DICOM 110114 AuditEvents (110122 Login)', async () => {
  assert.equal((await login('viewer', 'viewer-pass-123456', 'test-corr-login')).status, 200);
  assert.equal((await login('viewer', 'wrong-password-1234', 'test-corr-login-bad')).status, 401);
  const logins = await auditSearch('subtype=http://dicom.nema.org/resources/ontology/DCM|110122');
  const ok = withCorr(logins, 'test-corr-login');
  assert.equal(ok.length, 1);
  assert.equal(ok[0]?.type.code, '110114');
  assert.equal(ok[0]?.outcome, '0');
  assert.equal(requestor(ok[0] as AuditEvent)?.who?.identifier?.value, viewerId);
  const bad = withCorr(logins, 'test-corr-login-bad');
  assert.equal(bad.length, 1);
  assert.equal(bad[0]?.outcome, '4');
  const tokenEvents = withCorr(logins, 'test-corr-token');
  assert.equal(tokenEvents.length, 1, 'the token issued to app1');
  assert.equal(requestor(tokenEvents[0] as AuditEvent)?.who?.identifier?.value, 'app1');
});

test('AuditEvents are never written through the API: create, update, delete and transaction entries answer 405', async () => {
  const event = { resourceType: 'AuditEvent', id: 'x', type: { code: 'rest' }, recorded: '2026-01-01T00:00:00Z', agent: [{ requestor: true }], source: { observer: { display: 'me' } } };
  for (const [method, path, body] of [
    ['PUT', 'AuditEvent/x', event],
    ['POST', 'AuditEvent', event],
    ['DELETE', 'AuditEvent/x', undefined],
    ['PUT', 'AuditEvent?_id=x', event],
  ] as const) {
    const r = await fhir(method, path, app1, body);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(((await r.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  }
  const tx = await fhir('POST', '', app1, { resourceType: 'Bundle', type: 'transaction', entry: [{ request: { method: 'POST', url: 'AuditEvent' }, resource: event }] });
  assert.equal(tx.status, 405);
  // The CapabilityStatement says so (a truthful metadata, issue 5).
  const meta = (await (await fetch(`${base}/fhir/R4/metadata`)).json()) as { rest: Array<{ resource: Array<{ type: string; interaction: Array<{ code: string }> }> }> };
  const codes = meta.rest[0]?.resource.find((r) => r.type === 'AuditEvent')?.interaction.map((i) => i.code) ?? [];
  assert.ok(codes.includes('read') && codes.includes('search-type'));
  assert.ok(!codes.includes('create') && !codes.includes('update') && !codes.includes('delete'));
  // A read-only person may not even read them; the auditor may.
  const viewer = await login('viewer', 'viewer-pass-123456');
  const cookie = (viewer.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  assert.equal((await fhir('GET', 'AuditEvent', { cookie })).status, 403);
  const any = (await auditSearch('type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest'))[0];
  assert.ok(any !== undefined);
  assert.equal((await fhir('GET', `AuditEvent/${any.id}`, auditor)).status, 200);
  assert.equal((await fhir('PUT', `AuditEvent/${any.id}`, auditor, { ...any })).status, 405);
});

test('a transaction leaves one AuditEvent per entry and one for the Bundle; auditors find them by type, date and agent', async () => {
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:6a1c0d3e-0000-4000-8000-000000000001', request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', gender: 'other' } },
      { request: { method: 'POST', url: 'Observation' }, resource: { resourceType: 'Observation', status: 'final', code: { text: 'y' }, subject: { reference: 'urn:uuid:6a1c0d3e-0000-4000-8000-000000000001' } } },
    ],
  };
  const r = await fhir('POST', '', { ...app1, 'x-correlation-id': 'test-corr-tx' }, bundle);
  assert.equal(r.status, 200, await r.clone().text());
  const events = withCorr(await auditSearch(`type=http://terminology.hl7.org/CodeSystem/audit-event-type|rest&date=ge${started}&agent-name=app1`), 'test-corr-tx');
  assert.deepEqual(events.map(subtypeOf).sort(), ['create', 'create', 'transaction']);
  const patientCreate = events.find((e) => e.entity.some((x) => x.role?.code === '1'));
  assert.ok(patientCreate !== undefined, 'the Patient entry names its patient');
  // A failed transaction: every entry is recorded with the failure (nothing it did remains).
  const failing = { resourceType: 'Bundle', type: 'transaction', entry: [bundle.entry[0], { request: { method: 'GET', url: 'Patient/does-not-exist' } }] };
  const bad = await fhir('POST', '', { ...app1, 'x-correlation-id': 'test-corr-tx-bad' }, failing);
  assert.equal(bad.status, 404);
  const failed = withCorr(await auditSearch('outcome=4'), 'test-corr-tx-bad');
  assert.deepEqual(failed.map(subtypeOf).sort(), ['create', 'read', 'transaction']);
});

test('the trail counts nothing dropped or failed in a normal run', async () => {
  await flush();
  const stats = engine.http === undefined ? undefined : auditTrailOf(engine.http)?.stats;
  assert.equal(stats?.dropped, 0);
  assert.equal(stats?.failed, 0);
  assert.ok((stats?.written ?? 0) > 10);
});
