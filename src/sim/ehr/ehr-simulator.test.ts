import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { startEhrSimulator, type EhrSimulator } from './ehr-simulator.ts';

// Real HTTP on 127.0.0.1 port 0 against the simulator, with client assertions signed by real keys.

interface TestClient {
  readonly clientId: string;
  readonly alg: 'RS384' | 'ES384';
  readonly kid: string;
  readonly privateKey: CryptoKey;
}

async function registerTestClient(sim: EhrSimulator, alg: 'RS384' | 'ES384', scopes?: string[]): Promise<TestClient> {
  const { publicKey, privateKey } = await generateKeyPair(alg);
  const jwk = await exportJWK(publicKey);
  const kid = `kid-${randomUUID()}`;
  const clientId = `client-${randomUUID()}`;
  sim.registerClient({ clientId, jwks: { keys: [{ ...jwk, kid, alg, use: 'sig' }] }, ...(scopes === undefined ? {} : { scopes }) });
  return { clientId, alg, kid, privateKey };
}

interface AssertionOverrides {
  aud?: string;
  expSeconds?: number;
  jti?: string;
  iss?: string;
  key?: CryptoKey;
}

function signAssertion(sim: EhrSimulator, c: TestClient, o: AssertionOverrides = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: c.alg, kid: c.kid, typ: 'JWT' })
    .setIssuer(o.iss ?? c.clientId)
    .setSubject(o.iss ?? c.clientId)
    .setAudience(o.aud ?? sim.tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expSeconds ?? 240))
    .setJti(o.jti ?? randomUUID())
    .sign(o.key ?? c.privateKey);
}

async function postToken(sim: EhrSimulator, assertion: string, scope?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    ...(scope === undefined ? {} : { scope }),
  });
  const res = await fetch(sim.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function tokenFor(sim: EhrSimulator, alg: 'RS384' | 'ES384' = 'ES384', scopes?: string[]): Promise<string> {
  const c = await registerTestClient(sim, alg, scopes);
  const r = await postToken(sim, await signAssertion(sim, c));
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json['access_token'] as string;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

async function call(sim: EhrSimulator, token: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(`${sim.fhirBase}/${path}`, {
    method,
    headers: {
      accept: 'application/fhir+json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

const vitals = (patient = 'pat-1'): Record<string, unknown> => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: `Patient/${patient}` },
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

const note = (contents = 1): Record<string, unknown> => ({
  resourceType: 'DocumentReference',
  status: 'current',
  docStatus: 'preliminary',
  identifier: [{ system: 'urn:test:note', value: randomUUID() }],
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
  subject: { reference: 'Patient/pat-2' },
  content: Array.from({ length: contents }, () => ({ attachment: { contentType: 'text/plain', data: Buffer.from('synthetic note').toString('base64') } })),
});

const condition = (verification: string): Record<string, unknown> => ({
  resourceType: 'Condition',
  clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
  verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: verification }] },
  code: { text: 'synthetic problem' },
  subject: { reference: 'Patient/pat-1' },
});

/** Resolves with the error a request ended with, or fails when it got an HTTP answer. */
async function expectNoAnswer(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('the request got an HTTP answer; a connection reset was expected');
}

describe('SMART backend token endpoint', () => {
  let sim: EhrSimulator;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'generic' });
  });
  after(() => sim.close());

  for (const alg of ['RS384', 'ES384'] as const) {
    test(`an ${alg} client assertion gets an access token that reads the chart`, async () => {
      const c = await registerTestClient(sim, alg);
      const r = await postToken(sim, await signAssertion(sim, c), 'system/Patient.read system/Observation.write');
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json['token_type'], 'bearer');
      assert.equal(r.json['expires_in'], 300);
      assert.equal(r.json['scope'], 'system/Patient.read system/Observation.write');
      const read = await call(sim, r.json['access_token'] as string, 'GET', 'Patient/pat-1');
      assert.equal(read.status, 200);
      assert.equal(read.headers.get('etag'), 'W/"1"');
      assert.equal(read.json?.['id'], 'pat-1');
      // Scopes are enforced: this token may not read Encounters.
      const denied = await call(sim, r.json['access_token'] as string, 'GET', 'Encounter/enc-1');
      assert.equal(denied.status, 403);
      assert.equal(denied.json?.['resourceType'], 'OperationOutcome');
    });
  }

  test('a wrong aud, an expired or too-long assertion, a replayed jti, a foreign key and an unknown client are refused', async () => {
    const c = await registerTestClient(sim, 'RS384');
    const badAud = await postToken(sim, await signAssertion(sim, c, { aud: 'http://elsewhere.example/oauth2/token' }));
    assert.equal(badAud.status, 400);
    assert.equal(badAud.json['error'], 'invalid_client');
    assert.match(String(badAud.json['error_description']), /aud/);

    const expired = await postToken(sim, await signAssertion(sim, c, { expSeconds: -60 }));
    assert.equal(expired.status, 400);
    assert.match(String(expired.json['error_description']), /expired/);

    const tooLong = await postToken(sim, await signAssertion(sim, c, { expSeconds: 600 }));
    assert.equal(tooLong.status, 400);
    assert.match(String(tooLong.json['error_description']), /five minutes/);

    const jti = randomUUID();
    assert.equal((await postToken(sim, await signAssertion(sim, c, { jti }))).status, 200);
    const replay = await postToken(sim, await signAssertion(sim, c, { jti }));
    assert.equal(replay.status, 400);
    assert.match(String(replay.json['error_description']), /replay/);

    const other = await generateKeyPair('RS384');
    const forged = await postToken(sim, await signAssertion(sim, c, { key: other.privateKey }));
    assert.equal(forged.status, 400);
    assert.match(String(forged.json['error_description']), /signature/);

    const unknown = await postToken(sim, await signAssertion(sim, c, { iss: 'nobody' }));
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json['error'], 'invalid_client');

    const wrongScope = await postToken(sim, await signAssertion(sim, c), 'patient/*.read');
    assert.equal(wrongScope.status, 400);
    assert.equal(wrongScope.json['error'], 'invalid_scope');
  });

  test('FHIR calls without a token, or with an unknown one, are 401 with a Bearer challenge; metadata and discovery are open', async () => {
    const none = await call(sim, undefined, 'GET', 'Patient/pat-1');
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal(none.json?.['resourceType'], 'OperationOutcome');
    const bad = await call(sim, 'not-a-token', 'GET', 'Patient/pat-1');
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /invalid_token/);

    const meta = await call(sim, undefined, 'GET', 'metadata');
    assert.equal(meta.status, 200);
    const rest = (meta.json?.['rest'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    const oauth = ((rest['security'] as { extension: Array<{ extension: Array<{ url: string; valueUri: string }> }> }).extension[0] as { extension: Array<{ url: string; valueUri: string }> }).extension;
    assert.deepEqual(oauth, [{ url: 'token', valueUri: sim.tokenUrl }]);
    const smart = (await (await fetch(`${sim.fhirBase}/.well-known/smart-configuration`)).json()) as Record<string, unknown>;
    assert.equal(smart['token_endpoint'], sim.tokenUrl);
    assert.deepEqual(smart['token_endpoint_auth_signing_alg_values_supported'], ['RS384', 'ES384']);
  });

  test('an access token stops working after tokenTtlSeconds', async () => {
    const short = await startEhrSimulator({ profile: 'generic', tokenTtlSeconds: 1 });
    try {
      const token = await tokenFor(short);
      assert.equal((await call(short, token, 'GET', 'Patient/pat-1')).status, 200);
      await new Promise((r) => setTimeout(r, 1100));
      const late = await call(short, token, 'GET', 'Patient/pat-1');
      assert.equal(late.status, 401);
      assert.match(late.headers.get('www-authenticate') ?? '', /expired/);
    } finally {
      await short.close();
    }
  });
});

describe('epic profile', () => {
  let sim: EhrSimulator;
  let token: string;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'epic' });
    token = await tokenFor(sim, 'RS384');
  });
  after(() => sim.close());

  test('a vital-sign Observation create answers 201 with an empty body and a Location with _history/1', async () => {
    const r = await call(sim, token, 'POST', 'Observation', vitals(), { 'x-request-id': 'req-1' });
    assert.equal(r.status, 201);
    assert.equal(r.text, '');
    const location = r.headers.get('location') ?? '';
    const m = new RegExp(`^${sim.fhirBase}/Observation/([^/]+)/_history/1$`).exec(location);
    assert.ok(m, location);
    assert.equal(r.headers.get('etag'), 'W/"1"');
    const id = m[1] as string;
    assert.equal((sim.resource('Observation', id) as Record<string, unknown>)['status'], 'final');
    assert.deepEqual(
      sim.writes().map((w) => [w.method, w.resourceType, w.id, w.versionId, w.requestId]),
      [['POST', 'Observation', id, '1', 'req-1']],
    );
    const rep = await call(sim, token, 'POST', 'Observation', vitals(), { prefer: 'return=representation' });
    assert.equal(rep.status, 201);
    assert.equal(rep.json?.['resourceType'], 'Observation');
    assert.deepEqual(rep.json?.['meta'] && (rep.json['meta'] as Record<string, unknown>)['versionId'], '1');
  });

  test('refuses what Epic refuses: non-vital Observations, confirmed Conditions, update, patch, Provenance', async () => {
    const lab = { ...vitals(), category: [{ coding: [{ code: 'laboratory' }] }] };
    const r1 = await call(sim, token, 'POST', 'Observation', lab);
    assert.equal(r1.status, 422);
    assert.equal(((r1.json?.['issue'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>)['code'], 'business-rule');
    assert.equal((await call(sim, token, 'POST', 'Condition', condition('confirmed'))).status, 422);
    assert.equal((await call(sim, token, 'POST', 'Condition', condition('provisional'))).status, 201);
    assert.equal((await call(sim, token, 'POST', 'AllergyIntolerance', { resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/pat-1' }, code: { text: 'synthetic' } })).status, 201);
    assert.equal((await call(sim, token, 'PUT', 'Patient/pat-1', { resourceType: 'Patient', id: 'pat-1' })).status, 405);
    assert.equal((await call(sim, token, 'PATCH', 'Patient/pat-1', [], { 'content-type': 'application/json-patch+json' })).status, 405);
    assert.equal((await call(sim, token, 'POST', 'Provenance', { resourceType: 'Provenance', target: [{ reference: 'Patient/pat-1' }] })).status, 405);
    assert.equal((await call(sim, token, 'POST', 'Patient', { resourceType: 'Patient' })).status, 405);
    assert.equal((await call(sim, token, 'POST', 'Observation', { resourceType: 'Patient' })).status, 400);
  });

  test('If-None-Exist is ignored: a retried create duplicates', async () => {
    sim.reset();
    const body = note();
    const headers = { 'if-none-exist': `identifier=urn:test:note|${(body['identifier'] as Array<{ value: string }>)[0]?.value}` };
    const a = await call(sim, token, 'POST', 'DocumentReference', body, headers);
    const b = await call(sim, token, 'POST', 'DocumentReference', body, headers);
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.notEqual(a.headers.get('location'), b.headers.get('location'));
    assert.equal(sim.writes().length, 2);
    const meta = await call(sim, undefined, 'GET', 'metadata');
    const resources = ((meta.json?.['rest'] as Array<Record<string, unknown>>)[0] as { resource: Array<Record<string, unknown>> }).resource;
    const docRef = resources.find((x) => x['type'] === 'DocumentReference') as Record<string, unknown>;
    assert.equal(docRef['conditionalCreate'], false);
    assert.deepEqual((docRef['interaction'] as Array<{ code: string }>).map((i) => i.code), ['read', 'vread', 'search-type', 'create']);
  });
});

describe('oracle-health profile', () => {
  let sim: EhrSimulator;
  let token: string;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'oracle-health' });
    token = await tokenFor(sim, 'ES384');
  });
  after(() => sim.close());

  test('create returns the representation; update needs If-Match (428), a stale one is 409, a current one applies', async () => {
    const created = await call(sim, token, 'POST', 'DocumentReference', note());
    assert.equal(created.status, 201);
    const doc = created.json as Record<string, unknown> & { id: string };
    assert.equal(doc.resourceType, 'DocumentReference');
    const edited = { ...doc, docStatus: 'final' };
    assert.equal((await call(sim, token, 'PUT', `DocumentReference/${doc.id}`, edited)).status, 428);
    const stale = await call(sim, token, 'PUT', `DocumentReference/${doc.id}`, edited, { 'if-match': 'W/"7"' });
    assert.equal(stale.status, 409);
    const ok = await call(sim, token, 'PUT', `DocumentReference/${doc.id}`, edited, { 'if-match': 'W/"1"', prefer: 'return=minimal' });
    assert.equal(ok.status, 200);
    assert.equal(ok.text, '');
    assert.equal(ok.headers.get('etag'), 'W/"2"');
    assert.match(ok.headers.get('location') ?? '', /\/_history\/2$/);
    assert.equal((sim.resource('DocumentReference', doc.id) as Record<string, unknown>)['docStatus'], 'final');
    const v1 = await call(sim, token, 'GET', `DocumentReference/${doc.id}/_history/1`);
    assert.equal(v1.json?.['docStatus'], 'preliminary');
  });

  test('one content per DocumentReference; Provenance create is supported; patch and other types are not', async () => {
    const two = await call(sim, token, 'POST', 'DocumentReference', note(2));
    assert.equal(two.status, 422);
    assert.deepEqual(((two.json?.['issue'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>)['expression'], ['DocumentReference.content']);
    assert.equal((await call(sim, token, 'POST', 'Provenance', { resourceType: 'Provenance', target: [{ reference: 'Patient/pat-1' }], recorded: '2024-01-01T00:00:00Z', agent: [] })).status, 201);
    assert.equal((await call(sim, token, 'PATCH', 'Patient/pat-1', [], { 'content-type': 'application/json-patch+json' })).status, 405);
    assert.equal((await call(sim, token, 'PUT', 'Patient/pat-1', { resourceType: 'Patient', id: 'pat-1' }, { 'if-match': 'W/"1"' })).status, 405);
  });
});

describe('generic profile', () => {
  let sim: EhrSimulator;
  let token: string;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'generic' });
    token = await tokenFor(sim);
  });
  after(() => sim.close());

  test('If-None-Exist is honoured: the retried create finds the first one and writes nothing', async () => {
    sim.reset();
    const body = note();
    const value = (body['identifier'] as Array<{ value: string }>)[0]?.value ?? '';
    const headers = { 'if-none-exist': `identifier=urn:test:note|${value}` };
    const a = await call(sim, token, 'POST', 'DocumentReference', body, headers);
    const b = await call(sim, token, 'POST', 'DocumentReference', body, headers);
    assert.equal(a.status, 201);
    assert.equal(b.status, 200);
    assert.equal(b.json?.['id'], a.json?.['id']);
    assert.equal(sim.writes().length, 1);
    assert.equal((await call(sim, token, 'POST', 'DocumentReference', body, { 'if-none-exist': 'unknown-param=1' })).status, 400);
    assert.equal(sim.writes().length, 1);
  });

  test('update with a stale If-Match is 412; JSON Patch applies and bumps the version; any type is writable', async () => {
    const created = await call(sim, token, 'POST', 'Observation', vitals());
    const id = created.json?.['id'] as string;
    const stale = await call(sim, token, 'PUT', `Observation/${id}`, { ...created.json, status: 'amended' }, { 'if-match': 'W/"2"' });
    assert.equal(stale.status, 412);
    const patched = await call(sim, token, 'PATCH', `Observation/${id}`, [{ op: 'replace', path: '/status', value: 'amended' }, { op: 'add', path: '/note', value: [{ text: 'synthetic' }] }], {
      'content-type': 'application/json-patch+json',
      'if-match': 'W/"1"',
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json?.['status'], 'amended');
    assert.equal(patched.headers.get('etag'), 'W/"2"');
    const failedTest = await call(sim, token, 'PATCH', `Observation/${id}`, [{ op: 'test', path: '/status', value: 'final' }, { op: 'remove', path: '/note' }], { 'content-type': 'application/json-patch+json' });
    assert.equal(failedTest.status, 422);
    assert.deepEqual((sim.resource('Observation', id) as Record<string, unknown>)['note'], [{ text: 'synthetic' }]);
    const upd = await call(sim, token, 'PUT', `Observation/${id}`, { ...patched.json, status: 'final' });
    assert.equal(upd.status, 200);
    assert.equal(upd.headers.get('etag'), 'W/"3"');
    assert.equal((await call(sim, token, 'POST', 'Procedure', { resourceType: 'Procedure', status: 'completed', subject: { reference: 'Patient/pat-3' } })).status, 201);
    assert.deepEqual(
      sim.writes().filter((w) => w.id === id).map((w) => [w.method, w.versionId]),
      [['POST', '1'], ['PATCH', '2'], ['PUT', '3']],
    );
  });

  test('search by patient, subject, identifier and _id; vread; 404 and 410', async () => {
    sim.reset();
    const byMrn = await call(sim, token, 'GET', 'Patient?identifier=urn:switchboard:sim:mrn|SIM0002');
    assert.equal(byMrn.json?.['total'], 1);
    assert.equal(((byMrn.json?.['entry'] as Array<{ resource: { id: string } }>)[0] as { resource: { id: string } }).resource.id, 'pat-2');
    const enc = await call(sim, token, 'GET', 'Encounter?patient=pat-3');
    assert.deepEqual((enc.json?.['entry'] as Array<{ resource: { id: string } }>).map((e) => e.resource.id), ['enc-3']);
    const bySubject = await call(sim, token, 'GET', 'Encounter?subject=Patient/pat-1');
    assert.equal(bySubject.json?.['total'], 1);
    const ids = await call(sim, token, 'GET', 'Patient?_id=pat-1,pat-3');
    assert.equal(ids.json?.['total'], 2);
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1/_history/1')).status, 200);
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1/_history/9')).status, 404);
    assert.equal((await call(sim, token, 'GET', 'Patient/nobody')).status, 404);
    sim.drift({ resourceType: 'Patient', id: 'pat-3', action: 'delete' });
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-3')).status, 410);
  });

  test('malformed requests get OperationOutcomes: bad JSON 400, a body of the wrong type 400, an id mismatch 400, unknown paths 404', async () => {
    const res = await fetch(`${sim.fhirBase}/Observation`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, body: '{"resourceType":' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Record<string, unknown>)['resourceType'], 'OperationOutcome');
    assert.equal((await call(sim, token, 'POST', 'Observation', [1, 2])).status, 400);
    assert.equal((await call(sim, token, 'PUT', 'Patient/pat-1', { resourceType: 'Patient', id: 'pat-2' })).status, 400);
    const missing = await call(sim, token, 'GET', 'Patient/pat-1/_history/1/extra');
    assert.equal(missing.status, 404);
    assert.equal(missing.json?.['resourceType'], 'OperationOutcome');
    assert.equal(sim.writes().length, 0);
  });
});

describe('faults', () => {
  let sim: EhrSimulator;
  let token: string;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'epic' });
    token = await tokenFor(sim);
  });
  after(() => sim.close());

  test('status 503 with Retry-After is answered without applying, once; 429 likewise', async () => {
    sim.reset();
    sim.addFault({ kind: 'status', status: 503, retryAfterSeconds: 2, method: 'POST', resourceType: 'Observation' });
    // A read does not match a POST fault.
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1')).status, 200);
    const r = await call(sim, token, 'POST', 'Observation', vitals());
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '2');
    assert.equal(r.json?.['resourceType'], 'OperationOutcome');
    assert.equal(sim.writes().length, 0);
    assert.equal((await call(sim, token, 'POST', 'Observation', vitals())).status, 201);
    sim.addFault({ kind: 'status', status: 429, retryAfterSeconds: 30, times: 2 });
    assert.equal((await call(sim, token, 'POST', 'Observation', vitals())).status, 429);
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1')).status, 429);
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1')).status, 200);
    assert.equal(sim.writes().length, 1);
  });

  test('reset-after-apply: the client sees a reset, and writes() shows the write applied', async () => {
    sim.reset();
    sim.addFault({ kind: 'reset-after-apply', method: 'POST', resourceType: 'DocumentReference' });
    const error = await expectNoAnswer(call(sim, token, 'POST', 'DocumentReference', note(), { 'x-request-id': 'idem-1' }));
    assert.ok(error instanceof TypeError, String(error));
    const writes = sim.writes();
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.requestId, 'idem-1');
    assert.ok(sim.resource('DocumentReference', writes[0]?.id ?? ''));
  });

  test('reset-before-apply: the client sees a reset and nothing is applied', async () => {
    sim.reset();
    sim.addFault({ kind: 'reset-before-apply', method: 'post' });
    await expectNoAnswer(call(sim, token, 'POST', 'Observation', vitals()));
    assert.equal(sim.writes().length, 0);
    assert.equal((await call(sim, token, 'GET', 'Observation?patient=pat-1')).json?.['total'], 0);
  });

  test('latency delays the answer and then proceeds', async () => {
    sim.reset();
    sim.addFault({ kind: 'latency', latencyMs: 300, resourceType: 'Observation' });
    const started = Date.now();
    const r = await call(sim, token, 'POST', 'Observation', vitals());
    // Lower bounds only: the fault did delay (not a speed assertion); the simulator reports its
    // own handling time in Server-Timing.
    assert.ok(Date.now() - started >= 290);
    assert.equal(r.status, 201);
    const dur = Number(/^sim;dur=([\d.]+)$/.exec(r.headers.get('server-timing') ?? '')?.[1]);
    assert.ok(dur >= 290, `server-timing ${r.headers.get('server-timing')}`);
    assert.equal(sim.writes().length, 1);
  });
});

describe('stale-version fault and drift', () => {
  let sim: EhrSimulator;
  let token: string;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'generic' });
    token = await tokenFor(sim);
  });
  after(() => sim.close());

  test('stale-version makes the next If-Match fail as if someone else wrote first', async () => {
    sim.addFault({ kind: 'stale-version', resourceType: 'Patient' });
    // Without If-Match the fault waits.
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1')).headers.get('etag'), 'W/"1"');
    const body = { resourceType: 'Patient', id: 'pat-1', active: false };
    const r = await call(sim, token, 'PUT', 'Patient/pat-1', body, { 'if-match': 'W/"1"' });
    assert.equal(r.status, 412);
    assert.equal((await call(sim, token, 'GET', 'Patient/pat-1')).headers.get('etag'), 'W/"2"');
    assert.equal((await call(sim, token, 'PUT', 'Patient/pat-1', body, { 'if-match': 'W/"2"' })).status, 200);
  });

  test('drift edits a resource behind the client (a new version) or deletes it; neither is a client write', async () => {
    sim.reset();
    const created = await call(sim, token, 'POST', 'Condition', condition('provisional'));
    const id = created.json?.['id'] as string;
    sim.drift({ resourceType: 'Condition', id, action: 'edit', set: { verificationStatus: { coding: [{ code: 'confirmed' }] }, note: null } });
    const read = await call(sim, token, 'GET', `Condition/${id}`);
    assert.equal(read.headers.get('etag'), 'W/"2"');
    assert.deepEqual(read.json?.['verificationStatus'], { coding: [{ code: 'confirmed' }] });
    sim.drift({ resourceType: 'Condition', id, action: 'delete' });
    assert.equal((await call(sim, token, 'GET', `Condition/${id}`)).status, 410);
    assert.equal(sim.resource('Condition', id), undefined);
    assert.equal(sim.writes().length, 1);
    assert.throws(() => sim.drift({ resourceType: 'Condition', id: 'missing', action: 'edit', set: {} }), /no current/);
  });
});

describe('control API over HTTP', () => {
  let sim: EhrSimulator;
  before(async () => {
    sim = await startEhrSimulator({ profile: 'epic' });
  });
  after(() => sim.close());

  const control = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${sim.url}/_sim/${path}`, { method, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
  };

  test('clients, faults, drift, writes and reset work over HTTP as on the object', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES384');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'http-k1' };
    assert.equal((await control('POST', 'clients', { clientId: 'http-client', jwks: { keys: [jwk] } })).status, 201);
    const c: TestClient = { clientId: 'http-client', alg: 'ES384', kid: 'http-k1', privateKey };
    const tok = await postToken(sim, await signAssertion(sim, c));
    assert.equal(tok.status, 200);
    const token = tok.json['access_token'] as string;

    assert.equal((await control('POST', 'faults', { faults: [{ kind: 'status', status: 500 }] })).status, 201);
    assert.equal((await control('POST', 'faults', { faults: [{ kind: 'bogus' }] })).status, 400);
    assert.equal((await call(sim, token, 'POST', 'Observation', vitals())).status, 500);
    await control('POST', 'faults', { faults: [{ kind: 'status', status: 500 }] });
    assert.equal((await control('DELETE', 'faults')).status, 204);
    const created = await call(sim, token, 'POST', 'Observation', vitals(), { 'x-request-id': 'r-9' });
    assert.equal(created.status, 201);
    const writes = (await control('GET', 'writes')).json as { writes: Array<Record<string, unknown>> };
    assert.equal(writes.writes.length, 1);
    assert.equal(writes.writes[0]?.['requestId'], 'r-9');
    const id = writes.writes[0]?.['id'] as string;

    const drift = await control('POST', 'drift', { resourceType: 'Observation', id, action: 'edit', set: { status: 'entered-in-error' } });
    assert.equal(drift.status, 200);
    assert.equal((sim.resource('Observation', id) as Record<string, unknown>)['status'], 'entered-in-error');
    assert.equal((await control('POST', 'drift', { resourceType: 'Observation', id: 'nope', action: 'delete' })).status, 404);

    assert.equal((await control('POST', 'reset')).status, 204);
    assert.deepEqual((await control('GET', 'writes')).json, { writes: [] });
    assert.equal(sim.resource('Observation', id), undefined);
    assert.ok(sim.resource('Patient', 'pat-1'));
  });
});
