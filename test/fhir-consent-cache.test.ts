// The per-patient Consent cache of the FHIR API (src/api/consent.ts) on a real socket: a Consent
// written any way (through /fhir/R4, straight into the store as the fhir-store destination does, or
// by another connection to the same database file) takes effect on the very next read, and while no
// Consent is written, a patient's Consents are searched once, not per request.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { createLogger } from '../src/core/logger.ts';
import type { FhirResource, ResourceStore } from '../src/core/ports/resource-store.ts';
import type { Store } from '../src/core/ports/store.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { openStore } from '../src/store/open-store.ts';
import { fhirDatabasePath } from '../src/store/sqlite/open-sqlite-store.ts';
import { openSqliteResourceStore } from '../src/store/sqlite/sqlite-resource-store.ts';
import { tempDir } from './cli-helpers.ts';

const FHIR_JSON = 'application/fhir+json';
type Headers = Record<string, string>;

let dir: string;
let store: Store;
let resources: ResourceStore;
let engine: EngineService;
let base: string;
let app1: Headers;
let admin: Headers;
let patient: string;
let observation: string;
/** Consent searches the FHIR API made on the store. */
let consentSearches = 0;
/** writeMark and readJsonMarked calls the FHIR API made on the store. */
let markCalls = 0;
let markedReads = 0;

const form = (fields: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

async function fhir(method: string, path: string, headers: Headers, body?: unknown): Promise<Response> {
  return fetch(`${base}/fhir/R4/${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': FHIR_JSON }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function status(method: string, path: string, headers: Headers): Promise<number> {
  const r = await fhir(method, path, headers);
  await r.arrayBuffer();
  return r.status;
}

const denyApp1 = (p: string): FhirResource => ({
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: `Patient/${p}` },
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
  provision: { type: 'deny', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Device/app1' } }] },
});

before(async () => {
  dir = tempDir('swb-consent-cache-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  assert.ok(store.identity !== undefined && store.resources !== undefined);
  resources = store.resources;
  // Count the Consent searches the API makes (the routes call the store object's method).
  const search = resources.search.bind(resources);
  resources.search = async (type, query) => {
    if (type === 'Consent') consentSearches++;
    return search(type, query);
  };
  const writeMark = resources.writeMark?.bind(resources);
  if (writeMark !== undefined) {
    resources.writeMark = async (type) => {
      markCalls++;
      return writeMark(type);
    };
  }
  const readJsonMarked = resources.readJsonMarked?.bind(resources);
  if (readJsonMarked !== undefined) {
    resources.readJsonMarked = async (type, id, markType) => {
      markedReads++;
      return readJsonMarked(type, id, markType);
    };
  }
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' });
  await store.identity.createUser({ username: 'boss', passwordHash: await hashPassword('boss-pass-123456789'), roles: ['admin'] });
  engine = await startEngineService({ store, channels: [], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0, security: setup.security });
  base = engine.httpUrl ?? '';
  const one = await registerSecretClient(store.identity, { id: 'app1', name: 'app one', scopes: ['system/*.cruds'] });
  const t = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: 'app1', client_secret: one.secret, scope: 'system/*.cruds' }));
  assert.equal(t.status, 200);
  app1 = { authorization: `Bearer ${((await t.json()) as { access_token: string }).access_token}` };
  const login = await fetch(`${base}/auth/login`, form({ username: 'boss', password: 'boss-pass-123456789' }));
  assert.equal(login.status, 200);
  admin = { cookie: (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '' };
  const p = await fhir('POST', 'Patient', app1, { resourceType: 'Patient', name: [{ family: 'Cachetest' }] });
  assert.equal(p.status, 201);
  patient = ((await p.json()) as { id: string }).id;
  const o = await fhir('POST', 'Observation', app1, { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patient}` } });
  assert.equal(o.status, 201);
  observation = ((await o.json()) as { id: string }).id;
});

after(async () => {
  await engine.close();
  await store.close();
});

test('while no Consent is written, a patient\'s Consents are searched once for many reads', async () => {
  assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
  const before = consentSearches;
  for (let i = 0; i < 5; i++) {
    assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
    assert.equal(await status('GET', `Observation/${observation}`, app1), 200);
  }
  assert.equal(consentSearches, before, 'served from the cache');
});

test('a deny Consent created through /fhir/R4 applies to the very next read; deleting it lifts it at once', async () => {
  assert.equal(await status('GET', `Patient/${patient}`, app1), 200, 'cached: no Consent yet');
  const created = await fhir('POST', 'Consent', admin, denyApp1(patient));
  assert.equal(created.status, 201, await created.clone().text());
  const id = ((await created.json()) as { id: string }).id;
  assert.equal(await status('GET', `Patient/${patient}`, app1), 403);
  assert.equal(await status('GET', `Observation/${observation}`, app1), 403);
  assert.equal(await status('DELETE', `Consent/${id}`, admin), 204);
  assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
});

test('a deny Consent written straight into the store (as a channel\'s fhir-store destination does) applies to the very next read', async () => {
  assert.equal(await status('GET', `Observation/${observation}`, app1), 200);
  const created = await resources.create(denyApp1(patient));
  assert.ok(created.outcome === 'created');
  assert.equal(await status('GET', `Observation/${observation}`, app1), 403);
  // Revoked (status inactive) inside a store transaction: lifted on the next read.
  await resources.transaction(async (tx) => {
    await tx.update({ ...created.resource, status: 'inactive' });
  });
  assert.equal(await status('GET', `Observation/${observation}`, app1), 200);
});

test('a deny Consent written by another connection to the same database file applies to the very next read', async () => {
  assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
  const other = openSqliteResourceStore({ path: fhirDatabasePath(join(dir, 'store.db')), indexer: new FhirSearchIndexer() });
  try {
    const created = await other.create(denyApp1(patient));
    assert.ok(created.outcome === 'created');
    assert.equal(await status('GET', `Patient/${patient}`, app1), 403);
    await other.delete('Consent', created.resource.id ?? '');
    assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
  } finally {
    await other.close();
  }
});

test('a read by id takes the Consent mark along with the resource (one read of the store): writeMark is not asked', async () => {
  assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
  const [marks, reads] = [markCalls, markedReads];
  for (let i = 0; i < 3; i++) {
    assert.equal(await status('GET', `Patient/${patient}`, app1), 200);
    assert.equal(await status('GET', `Observation/${observation}`, app1), 200);
  }
  assert.equal(markedReads - reads, 6);
  assert.equal(markCalls - marks, 0);
  // A search still asks writeMark (once per request).
  assert.equal(await status('GET', `Observation?subject=Patient/${patient}`, app1), 200);
  assert.equal(markCalls - marks, 1);
});
