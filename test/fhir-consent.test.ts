// Consent on a real socket (issue 5 "Consent"): FHIR R4 Consent resources in the canonical store
// decide, per patient, actor and purpose, what /fhir/R4 returns and accepts; break-glass reads
// through a deny for permitted roles only, with a reason, and is audited (purposeOfUse BTG).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { auditTrailOf } from '../src/api/audit-trail.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { createLogger } from '../src/core/logger.ts';
import type { FhirResource } from '../src/core/ports/resource-store.ts';
import type { Store } from '../src/core/ports/store.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

const FHIR_JSON = 'application/fhir+json';
type Headers = Record<string, string>;
interface Outcome {
  resourceType: string;
  issue: Array<{ details?: { coding?: Array<{ code?: string }> }; diagnostics?: string }>;
}
interface Bundle {
  entry?: Array<{ resource: FhirResource & { id: string } }>;
}

let store: Store;
let engine: EngineService;
let base: string;
let app1: Headers;
let app2: Headers;
let doc: Headers;
let viewer: Headers;
let admin: Headers;
const patients: Record<string, string> = {};
const observations: Record<string, string> = {};

const form = (fields: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

async function token(clientId: string, secret: string, scope: string): Promise<Headers> {
  const r = await fetch(`${base}/auth/token`, form({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope }));
  assert.equal(r.status, 200);
  return { authorization: `Bearer ${((await r.json()) as { access_token: string }).access_token}` };
}

async function session(username: string, password: string): Promise<Headers> {
  const r = await fetch(`${base}/auth/login`, form({ username, password }));
  assert.equal(r.status, 200);
  return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '' };
}

async function fhir(method: string, path: string, headers: Headers, body?: unknown): Promise<Response> {
  return fetch(`${base}/fhir/R4/${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': FHIR_JSON }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** The stable code of an OperationOutcome answer, after checking it is one (no data in it). */
async function codeOf(r: Response): Promise<string | undefined> {
  const body = (await r.json()) as Outcome;
  assert.equal(body.resourceType, 'OperationOutcome');
  return body.issue[0]?.details?.coding?.[0]?.code;
}

async function ids(r: Response): Promise<string[]> {
  assert.equal(r.status, 200);
  return (((await r.json()) as Bundle).entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
}

const device = (id: string): Record<string, unknown> => ({ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: `Device/${id}` } });
const purpose = (code: string): Record<string, unknown> => ({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code });

/** A Consent written straight into the store (as an admin tool would): scope patient-privacy, active. */
async function storeConsent(patient: string, provision: Record<string, unknown>): Promise<string> {
  const outcome = await store.resources?.create({
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patient}` },
    provision,
  });
  assert.ok(outcome?.outcome === 'created');
  return outcome.resource.id ?? '';
}

before(async () => {
  const dir = tempDir('swb-consent-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  assert.ok(store.identity !== undefined);
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' });
  await store.identity.createUser({ username: 'doc', passwordHash: await hashPassword('doc-pass-123456789'), roles: ['reviewer'] });
  await store.identity.createUser({ username: 'viewer', passwordHash: await hashPassword('viewer-pass-123456'), roles: ['read-only'] });
  await store.identity.createUser({ username: 'boss', passwordHash: await hashPassword('boss-pass-123456789'), roles: ['admin'] });
  engine = await startEngineService({ store, channels: [], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0, security: setup.security });
  base = engine.httpUrl ?? '';
  const one = await registerSecretClient(store.identity, { id: 'app1', name: 'app one', scopes: ['system/*.cruds'] });
  app1 = await token('app1', one.secret, 'system/*.cruds');
  const two = await registerSecretClient(store.identity, { id: 'app2', name: 'app two', scopes: ['system/*.cruds'] });
  app2 = await token('app2', two.secret, 'system/*.cruds');
  doc = await session('doc', 'doc-pass-123456789');
  viewer = await session('viewer', 'viewer-pass-123456');
  admin = await session('boss', 'boss-pass-123456789');
  // Patients A..E, each with one Observation, written before any Consent exists.
  for (const name of ['A', 'B', 'C', 'D', 'E']) {
    const p = await fhir('POST', 'Patient', app1, { resourceType: 'Patient', name: [{ family: `Consentia${name}` }] });
    assert.equal(p.status, 201);
    patients[name] = ((await p.json()) as { id: string }).id;
    const o = await fhir('POST', 'Observation', app1, { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patients[name]}` } });
    assert.equal(o.status, 201);
    observations[name] = ((await o.json()) as { id: string }).id;
  }
});

after(async () => {
  await engine.close();
  await store.close();
});

const P = (name: string): string => patients[name] ?? '';
const O = (name: string): string => observations[name] ?? '';

test('a deny Consent for patient A against a client stops its reads of A, removes A from searches, and leaves B', async () => {
  const consentId = await storeConsent(P('A'), { type: 'deny', actor: [device('app1')] });
  const read = await fhir('GET', `Patient/${P('A')}`, app1);
  assert.equal(read.status, 403);
  const text = await read.clone().text();
  assert.ok(text.includes(`Consent/${consentId}`), 'names the deciding Consent');
  assert.ok(!text.includes('ConsentiaA'), 'never the data');
  assert.equal(await codeOf(read), 'SWB_ERR_CONSENT_DENIED');
  assert.equal(await codeOf(await fhir('GET', `Observation/${O('A')}`, app1)), 'SWB_ERR_CONSENT_DENIED');
  assert.equal((await fhir('GET', `Observation/${O('A')}/_history/1`, app1)).status, 403, 'vread too');
  assert.equal((await fhir('GET', `Patient/${P('A')}`, { ...app1, 'if-none-match': 'W/"1"' })).status, 403, 'no 304 either');
  // A search over both patients: A's resources are gone, B's stay.
  const found = await ids(await fhir('GET', `Observation?_id=${O('A')},${O('B')}`, app1));
  assert.deepEqual(found, [`Observation/${O('B')}`]);
  const people = await ids(await fhir('GET', `Patient?_id=${P('A')},${P('B')}`, app1));
  assert.deepEqual(people, [`Patient/${P('B')}`]);
  // A search confined to A alone is refused.
  assert.equal(await codeOf(await fhir('GET', `Observation?patient=Patient/${P('A')}`, app1)), 'SWB_ERR_CONSENT_DENIED');
  // History of A's Observation: refused; type history: without A's versions.
  assert.equal((await fhir('GET', `Observation/${O('A')}/_history`, app1)).status, 403);
  const history = ((await (await fhir('GET', 'Observation/_history?_count=1000', app1)).json()) as Bundle).entry ?? [];
  assert.ok(!history.some((e) => e.resource.id === O('A')));
  assert.ok(history.some((e) => e.resource.id === O('B')));
  // Another client is not concerned by the Consent.
  assert.equal((await fhir('GET', `Patient/${P('A')}`, app2)).status, 200);
  assert.equal((await fhir('GET', `Observation/${O('A')}`, app2)).status, 200);
});

test('writes of a denied patient\'s resources by the denied client are refused and change nothing', async () => {
  const create = await fhir('POST', 'Observation', app1, { resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${P('A')}` } });
  assert.equal(await codeOf(create), 'SWB_ERR_CONSENT_DENIED');
  const update = await fhir('PUT', `Patient/${P('A')}`, app1, { resourceType: 'Patient', id: P('A'), name: [{ family: 'Changed' }] });
  assert.equal(update.status, 403);
  // Moving B's Observation onto A is a write to A.
  const move = await fhir('PUT', `Observation/${O('B')}`, app1, { resourceType: 'Observation', id: O('B'), status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${P('A')}` } });
  assert.equal(move.status, 403);
  assert.equal((await fhir('DELETE', `Observation/${O('A')}`, app1)).status, 403);
  const txn = await fhir('POST', '', app1, { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${P('A')}` } }, request: { method: 'POST', url: 'Observation' } }] });
  assert.equal(txn.status, 403, 'a transaction entry is checked the same way');
  const still = (await (await fhir('GET', `Patient/${P('A')}`, app2)).json()) as { name: Array<{ family: string }>; meta: { versionId: string } };
  assert.equal(still.name[0]?.family, 'ConsentiaA');
  assert.equal(still.meta.versionId, '1');
  assert.equal((await fhir('GET', `Observation/${O('A')}`, app2)).status, 200, 'not deleted');
  assert.deepEqual(await ids(await fhir('GET', `Observation?patient=Patient/${P('A')}`, app2)), [`Observation/${O('A')}`], 'nothing created');
});

test('a purpose-specific deny (HMARKT) does not block TREAT', async () => {
  await storeConsent(P('C'), { type: 'permit', provision: [{ type: 'deny', purpose: [purpose('HMARKT')] }] });
  assert.equal((await fhir('GET', `Observation/${O('C')}`, { ...app1, 'x-purpose-of-use': 'TREAT' })).status, 200);
  assert.equal((await fhir('GET', `Observation/${O('C')}`, { ...app1, 'x-purpose-of-use': 'HMARKT' })).status, 403);
  assert.equal((await fhir('GET', `Observation/${O('C')}`, app1)).status, 403, 'no declared purpose: the deny may apply, so it does');
});

test('a permit provision for one actor inside a deny lets that actor through only', async () => {
  await storeConsent(P('D'), { type: 'deny', provision: [{ type: 'permit', actor: [device('app2')] }] });
  assert.equal((await fhir('GET', `Patient/${P('D')}`, app2)).status, 200);
  assert.equal((await fhir('GET', `Patient/${P('D')}`, app1)).status, 403);
  assert.equal((await fhir('GET', `Observation/${O('D')}`, doc)).status, 403, 'a person is denied too');
});

test('break-glass by a reviewer with a reason reads through the deny and leaves an AuditEvent marked BTG', async () => {
  const r = await fhir('GET', `Observation/${O('D')}`, { ...doc, 'x-break-glass': 'unconscious in the ED', 'x-correlation-id': 'consent-btg-1' });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { id: string }).id, O('D'));
  const search = await ids(await fhir('GET', `Observation?patient=Patient/${P('D')}`, { ...doc, 'x-break-glass': 'unconscious in the ED', 'x-correlation-id': 'consent-btg-2' }));
  assert.deepEqual(search, [`Observation/${O('D')}`]);
  // Break-glass never writes through a deny.
  const write = await fhir('PUT', `Observation/${O('D')}`, { ...admin, 'x-break-glass': 'fix' }, { resourceType: 'Observation', id: O('D'), status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${P('D')}` } });
  assert.equal(write.status, 403);
  const trail = engine.http === undefined ? undefined : auditTrailOf(engine.http);
  assert.ok(trail !== undefined);
  await trail.flush();
  const events = await ids(await fhir('GET', 'AuditEvent?_count=1000&subtype=read', admin));
  assert.ok(events.length > 0);
  const all = ((await (await fhir('GET', 'AuditEvent?_count=1000', admin)).json()) as Bundle).entry?.map((e) => e.resource) ?? [];
  type Ev = FhirResource & { agent: Array<{ requestor: boolean; purposeOfUse?: Array<{ coding?: Array<{ code?: string }> }> }>; entity: Array<{ what?: { identifier?: { value?: string } }; detail?: Array<{ type: string; valueString: string }> }>; outcome: string };
  const mine = (all as Ev[]).filter((e) => e.entity.some((x) => x.what?.identifier?.value === 'consent-btg-1'));
  assert.equal(mine.length, 1);
  const event = mine[0] as Ev;
  assert.equal(event.outcome, '0');
  assert.ok(event.agent.find((a) => a.requestor)?.purposeOfUse?.some((p) => p.coding?.[0]?.code === 'BTG'));
  assert.deepEqual(event.entity[0]?.detail, [{ type: 'break-glass-reason', valueString: 'unconscious in the ED' }]);
  // An ordinary read carries no marker.
  await fhir('GET', `Patient/${P('B')}`, { ...doc, 'x-correlation-id': 'consent-plain' });
  await trail.flush();
  const again = ((await (await fhir('GET', 'AuditEvent?_count=1000', admin)).json()) as Bundle).entry?.map((e) => e.resource) ?? [];
  const plain = (again as Ev[]).find((e) => e.entity.some((x) => x.what?.identifier?.value === 'consent-plain'));
  assert.ok(plain !== undefined);
  assert.equal(plain.entity[0]?.detail, undefined);
});

test('break-glass without a reason, or by a role that may not, is refused', async () => {
  const empty = await fhir('GET', `Observation/${O('D')}`, { ...doc, 'x-break-glass': '' });
  assert.equal(empty.status, 400);
  assert.equal(await codeOf(empty), 'SWB_ERR_CONSENT_BREAK_GLASS_REASON');
  const tooLong = await fhir('GET', `Observation/${O('D')}`, { ...doc, 'x-break-glass': 'x'.repeat(501) });
  assert.equal(tooLong.status, 400);
  const readOnly = await fhir('GET', `Observation/${O('D')}`, { ...viewer, 'x-break-glass': 'curious' });
  assert.equal(readOnly.status, 403);
  assert.equal(await codeOf(readOnly), 'SWB_ERR_CONSENT_BREAK_GLASS_FORBIDDEN');
  const client = await fhir('GET', `Observation/${O('D')}`, { ...app1, 'x-break-glass': 'batch job' });
  assert.equal(await codeOf(client), 'SWB_ERR_CONSENT_BREAK_GLASS_FORBIDDEN');
  // Refused even where no Consent denies: the header itself is not allowed to them.
  assert.equal((await fhir('GET', `Patient/${P('B')}`, { ...viewer, 'x-break-glass': 'curious' })).status, 403);
});

test('Consent resources are read and written by admins only, and a new one takes effect at once', async () => {
  assert.equal(await codeOf(await fhir('GET', `Consent?patient=Patient/${P('A')}`, app1)), 'SWB_ERR_CONSENT_ADMIN_ONLY');
  assert.equal((await fhir('GET', `Consent?patient=Patient/${P('A')}`, viewer)).status, 403);
  const consents = await ids(await fhir('GET', `Consent?patient=Patient/${P('A')}`, admin));
  assert.equal(consents.length, 1);
  assert.equal((await fhir('GET', `Patient/${P('E')}`, app2)).status, 200);
  const body = {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${P('E')}` },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: { type: 'deny', actor: [device('app2')] },
  };
  assert.equal((await fhir('POST', 'Consent', app2, body)).status, 403, 'a client may not write one');
  const created = await fhir('POST', 'Consent', admin, body);
  assert.equal(created.status, 201, await created.clone().text());
  assert.equal((await fhir('GET', `Patient/${P('E')}`, app2)).status, 403);
  // Revoked (status inactive): permitted again.
  const id = ((await created.json()) as { id: string }).id;
  assert.equal((await fhir('PUT', `Consent/${id}`, admin, { ...body, id, status: 'inactive' })).status, 200);
  assert.equal((await fhir('GET', `Patient/${P('E')}`, app2)).status, 200);
});
