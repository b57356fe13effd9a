import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { isSwitchboardError } from '../../core/errors.ts';
import { SmartBackendAuth } from '../../fhir/smart-backend-auth.ts';
import { startEhrSimulator, type EhrSimulator } from '../../sim/ehr/ehr-simulator.ts';
import type { EhrAdapter, EhrWriteOutcome, EhrWriteRequest, FhirResource, ProposedChange } from './ehr-adapter.ts';
import { createEhrAdapter, parseEhrConfig } from './ehr-adapters.ts';
import { FhirR4Adapter, parseLocation, parseRetryAfter, versionFromEtag } from './fhir-r4-adapter.ts';
import { EPIC_PROFILE } from './profiles/epic.ts';
import { GENERIC_R4_PROFILE } from './profiles/generic-r4.ts';

/**
 * The FHIR R4 adapter and its vendor profiles against the real EHR simulator (src/sim/ehr), over
 * HTTP with SMART backend-services tokens: no mocks between the adapter and the "EHR".
 */

const CLIENT = 'switchboard-test';
const KID = 'k1';
let privateJwk: JWK;
let publicJwk: JWK;

before(async () => {
  const pair = await generateKeyPair('RS384', { extractable: true });
  privateJwk = { ...(await exportJWK(pair.privateKey)), kid: KID };
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'RS384', use: 'sig' };
});

async function simWithClient(profile: 'epic' | 'oracle-health' | 'generic', tokenTtlSeconds?: number): Promise<EhrSimulator> {
  const sim = await startEhrSimulator({ profile, ...(tokenTtlSeconds === undefined ? {} : { tokenTtlSeconds }) });
  sim.registerClient({ clientId: CLIENT, jwks: { keys: [publicJwk] } });
  return sim;
}

function adapterFor(sim: EhrSimulator, profile: 'epic' | 'oracle-health' | 'generic-r4', extra: { timeoutMs?: number; readBackOnEmptyBody?: boolean } = {}): Promise<EhrAdapter> {
  return createEhrAdapter(
    { name: `${profile}-sim`, profile, baseUrl: sim.fhirBase, auth: { clientId: CLIENT, privateJwk, alg: 'RS384', kid: KID }, ...(extra.timeoutMs === undefined ? {} : { timeoutMs: extra.timeoutMs }) },
    extra.readBackOnEmptyBody === undefined ? {} : { readBackOnEmptyBody: extra.readBackOnEmptyBody },
  );
}

const req = (change: ProposedChange, more: Partial<EhrWriteRequest> = {}): EhrWriteRequest => ({ change, idempotencyKey: randomUUID(), correlationId: randomUUID(), ...more });
const create = (resource: FhirResource): ProposedChange => ({ kind: 'create', resource });

const vitals = (): FhirResource => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: 'Patient/pat-1' },
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});
const lab = (): FhirResource => ({ ...vitals(), category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }] });
const note = (contents = 1, docStatus = 'preliminary'): FhirResource => ({
  resourceType: 'DocumentReference',
  status: 'current',
  docStatus,
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
  subject: { reference: 'Patient/pat-1' },
  content: Array.from({ length: contents }, (_, i) => ({ attachment: { contentType: 'text/plain', data: Buffer.from(`draft ${i}`).toString('base64') } })),
});
const condition = (code: string): FhirResource => ({
  resourceType: 'Condition',
  verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code }] },
  code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003' }] },
  subject: { reference: 'Patient/pat-1' },
});
const allergy = (): FhirResource => ({ resourceType: 'AllergyIntolerance', code: { coding: [{ system: 'http://snomed.info/sct', code: '91936005' }] }, patient: { reference: 'Patient/pat-1' } });
const provenance = (target: string): FhirResource => ({ resourceType: 'Provenance', target: [{ reference: target }], recorded: new Date().toISOString(), agent: [{ who: { display: 'Switchboard' } }] });

function expectKind<K extends EhrWriteOutcome['kind']>(o: EhrWriteOutcome, kind: K, code?: string): Extract<EhrWriteOutcome, { kind: K }> {
  assert.equal(o.kind, kind, `expected ${kind}, got ${JSON.stringify(o)}`);
  if (code !== undefined) assert.equal((o as { code?: string }).code, code, JSON.stringify(o));
  return o as Extract<EhrWriteOutcome, { kind: K }>;
}

describe('helpers', () => {
  it('parses Location, ETag and Retry-After', () => {
    assert.deepEqual(parseLocation('http://x/fhir/R4/DocumentReference/abc-1/_history/1'), { resourceType: 'DocumentReference', id: 'abc-1', versionId: '1' });
    assert.deepEqual(parseLocation('Observation/9'), { resourceType: 'Observation', id: '9' });
    assert.deepEqual(parseLocation(null), {});
    assert.equal(versionFromEtag('W/"3"'), '3');
    assert.equal(versionFromEtag('"7"'), '7');
    assert.equal(versionFromEtag('garbage'), undefined);
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('the config schema names the field path', () => {
    assert.throws(() => parseEhrConfig({ name: 'x', profile: 'epic' }), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_EHR_CONFIG_INVALID' && e.message.includes('baseUrl'));
    assert.throws(() => parseEhrConfig({ name: 'x', profile: 'hl7v2-mllp' }), (e) => isSwitchboardError(e) && e.message.includes('mllp'));
    assert.throws(() => parseEhrConfig({ name: 'x', profile: 'epic', baseUrl: 'http://h/fhir', auth: { clientId: 'c', alg: 'RS256' } }), (e) => isSwitchboardError(e) && e.message.includes('auth.alg'));
    assert.throws(() => parseEhrConfig({ name: 'x', profile: 'cerner', baseUrl: 'http://h/fhir' }), (e) => isSwitchboardError(e) && e.message.includes('profile'));
    assert.equal(parseEhrConfig({ name: 'x', profile: 'hl7v2-mllp', mllp: { host: '127.0.0.1', port: 2575 } }).profile, 'hl7v2-mllp');
  });
});

describe('Epic profile against the Epic simulator', () => {
  let sim: EhrSimulator;
  let epic: EhrAdapter;
  before(async () => {
    sim = await simWithClient('epic');
    epic = await adapterFor(sim, 'epic');
  });
  after(async () => {
    await epic.close();
    await sim.close();
  });
  beforeEach(() => sim.reset());

  it('creates vitals, a note, a provisional problem and an allergy; an empty 201 is applied with id and version from Location', async () => {
    for (const resource of [vitals(), note(), condition('provisional'), allergy()]) {
      const o = expectKind(await epic.write(req(create(resource))), 'applied');
      assert.equal(o.response.status, 201);
      assert.equal(o.resource, undefined, 'Epic answers an empty body; nothing is read back unless asked');
      assert.equal(o.result.resourceType, resource.resourceType);
      assert.ok(o.result.id !== undefined && o.result.id !== '');
      assert.equal(o.result.versionId, '1');
      assert.match(o.result.location ?? '', new RegExp(`/${resource.resourceType}/${o.result.id}/_history/1$`));
      assert.ok(sim.resource(resource.resourceType, o.result.id as string) !== undefined, 'the EHR has it under that id');
    }
    assert.equal(sim.writes().length, 4);
  });

  it('reads back after an empty 201 when asked, and reads with the version from ETag', async () => {
    const readBack = await adapterFor(sim, 'epic', { readBackOnEmptyBody: true });
    try {
      const o = expectKind(await readBack.write(req(create(note()))), 'applied');
      assert.equal(o.resource?.resourceType, 'DocumentReference');
      assert.equal(o.resource?.id, o.result.id);
      const r = await epic.read('DocumentReference', o.result.id as string);
      assert.equal(r.kind, 'found');
      assert.equal(r.kind === 'found' ? r.versionId : undefined, '1');
      assert.equal((await epic.read('DocumentReference', 'no-such-id')).kind, 'not_found');
    } finally {
      await readBack.close();
    }
  });

  it('refuses what Epic cannot write before any request: update, patch, a lab Observation, a confirmed problem, an amended note, Provenance, HL7 v2', async () => {
    const refusals: Array<[EhrWriteOutcome, string]> = [
      [await epic.write(req({ kind: 'update', resourceType: 'Observation', id: 'x', resource: { ...vitals(), id: 'x' }, baseVersion: '1' })), 'update'],
      [await epic.write(req({ kind: 'patch', resourceType: 'Observation', id: 'x', patch: [{ op: 'replace', path: '/status', value: 'amended' }] })), 'patch'],
      [await epic.write(req(create(lab()))), 'Observation.category'],
      [await epic.write(req(create(condition('confirmed')))), 'Condition.verificationStatus'],
      [await epic.write(req(create(note(1, 'amended')))), 'DocumentReference.docStatus'],
      [await (epic.writeProvenance as NonNullable<EhrAdapter['writeProvenance']>)(provenance('DocumentReference/1'), randomUUID()), 'Provenance'],
      [await epic.write(req({ kind: 'hl7v2', message: 'MSH|^~\\&|A|B|C|D|20240101||MDM^T02|1|P|2.5.1' })), 'hl7v2'],
    ];
    for (const [o, what] of refusals) {
      const p = expectKind(o, 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
      assert.ok(p.response.message?.includes('epic'), `names the profile: ${p.response.message}`);
      assert.ok(p.response.message?.includes(what) || p.response.message?.includes(what.toLowerCase()), `names ${what}: ${p.response.message}`);
      assert.equal(p.response.status, undefined, 'no HTTP status: nothing was sent');
    }
    assert.equal(sim.writes().length, 0);
    assert.deepEqual(EPIC_PROFILE.capabilities.update, []);
  });

  it('a reset after the note was filed is ambiguous, and the EHR holds exactly one note (no blind retry)', async () => {
    sim.addFault({ kind: 'reset-after-apply', method: 'POST', resourceType: 'DocumentReference' });
    // If-None-Exist is offered, but Epic ignores it, so the adapter must not count on it.
    const o = await epic.write(req(create(note()), { ifNoneExist: 'identifier=urn:x|1' }));
    expectKind(o, 'ambiguous');
    assert.ok(['SWB_ERR_EHR_CONNECTION_LOST', 'SWB_ERR_EHR_TIMEOUT'].includes((o as { code: string }).code));
    const writes = sim.writes().filter((w) => w.resourceType === 'DocumentReference');
    assert.equal(writes.length, 1);
  });

  it('a 503 with a short Retry-After is retried inside the adapter and applied once', async () => {
    sim.addFault({ kind: 'status', status: 503, retryAfterSeconds: 1, method: 'POST' });
    const o = expectKind(await epic.write(req(create(vitals()))), 'applied');
    assert.equal(o.response.status, 201);
    assert.equal(sim.writes().length, 1);
  });

  it('at most two inline retries: a third 503 is transient', async () => {
    sim.addFault({ kind: 'status', status: 503, retryAfterSeconds: 0, method: 'POST', times: 3 });
    expectKind(await epic.write(req(create(vitals()))), 'transient', 'SWB_ERR_EHR_THROTTLED');
    assert.equal(sim.writes().length, 0);
    expectKind(await epic.write(req(create(vitals()))), 'applied');
  });

  it('a 429 with a long Retry-After is transient with retryAfterMs, not waited out', async () => {
    sim.addFault({ kind: 'status', status: 429, retryAfterSeconds: 120, method: 'POST' });
    const o = expectKind(await epic.write(req(create(vitals()))), 'transient', 'SWB_ERR_EHR_THROTTLED');
    assert.equal(o.retryAfterMs, 120_000);
    assert.equal(o.response.status, 429);
    assert.equal(sim.writes().length, 0);
  });

  it('no answer in time after a note was sent is ambiguous (SWB_ERR_EHR_TIMEOUT)', async () => {
    const slow = await adapterFor(sim, 'epic', { timeoutMs: 300 });
    try {
      await slow.read('Patient', 'pat-1'); // token and CapabilityStatement first, so only the write is slow
      sim.addFault({ kind: 'latency', latencyMs: 1500, method: 'POST' });
      expectKind(await slow.write(req(create(note()))), 'ambiguous', 'SWB_ERR_EHR_TIMEOUT');
    } finally {
      await slow.close();
    }
  });

  it('a 500 after a create that is not conditional is ambiguous', async () => {
    sim.addFault({ kind: 'status', status: 500, method: 'POST' });
    expectKind(await epic.write(req(create(vitals()))), 'ambiguous', 'SWB_ERR_EHR_SERVER_ERROR');
  });
});

describe('Oracle Health profile against the Oracle Health simulator', () => {
  let sim: EhrSimulator;
  let oracle: EhrAdapter;
  before(async () => {
    sim = await simWithClient('oracle-health');
    oracle = await adapterFor(sim, 'oracle-health');
  });
  after(async () => {
    await oracle.close();
    await sim.close();
  });
  beforeEach(() => sim.reset());

  it('creates a one-content note (with the body) and a Provenance; updates with If-Match', async () => {
    const created = expectKind(await oracle.write(req(create(note()))), 'applied');
    assert.equal(created.resource?.resourceType, 'DocumentReference');
    const id = created.result.id as string;
    assert.equal(created.result.versionId, '1');
    const updated = expectKind(await oracle.write(req({ kind: 'update', resourceType: 'DocumentReference', id, resource: { ...note(), id, docStatus: 'final' }, baseVersion: '1' })), 'applied');
    assert.equal(updated.result.versionId, '2');
    assert.equal((sim.resource('DocumentReference', id) as { docStatus?: string }).docStatus, 'final');
    expectKind(await (oracle.writeProvenance as NonNullable<EhrAdapter['writeProvenance']>)(provenance(`DocumentReference/${id}`), randomUUID()), 'applied');
    assert.equal(sim.writes().length, 3);
  });

  it('refuses before any request: several contents, an update without a base version, a patch', async () => {
    expectKind(await oracle.write(req(create(note(2)))), 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
    expectKind(await oracle.write(req({ kind: 'update', resourceType: 'Observation', id: 'x', resource: vitals() })), 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
    expectKind(await oracle.write(req({ kind: 'patch', resourceType: 'Observation', id: 'x', patch: [], baseVersion: '1' })), 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
    assert.equal(sim.writes().length, 0);
  });

  it('a stale version is a 409 conflict carrying the EHR current copy', async () => {
    const created = expectKind(await oracle.write(req(create(vitals()))), 'applied');
    const id = created.result.id as string;
    sim.drift({ resourceType: 'Observation', id, action: 'edit', set: { status: 'amended' } });
    const o = expectKind(await oracle.write(req({ kind: 'update', resourceType: 'Observation', id, resource: { ...vitals(), id, status: 'corrected' }, baseVersion: '1' })), 'conflict', 'SWB_ERR_EHR_CONFLICT');
    assert.equal(o.response.status, 409);
    assert.equal(o.current?.['status'], 'amended');
    assert.equal(o.current?.meta?.versionId, '2');
  });
});

describe('generic R4 profile against the generic simulator', () => {
  let sim: EhrSimulator;
  let generic: EhrAdapter;
  before(async () => {
    sim = await simWithClient('generic');
    generic = await adapterFor(sim, 'generic-r4');
  });
  after(async () => {
    await generic.close();
    await sim.close();
  });
  beforeEach(() => sim.reset());

  it('a conditional create lost to a reset is transient, and its retry does not duplicate', async () => {
    const key = randomUUID();
    const resource = { ...vitals(), identifier: [{ system: 'urn:switchboard:idempotency', value: key }] };
    const request = req(create(resource), { idempotencyKey: key, ifNoneExist: `identifier=urn:switchboard:idempotency|${key}` });
    sim.addFault({ kind: 'reset-after-apply', method: 'POST', resourceType: 'Observation' });
    expectKind(await generic.write(request), 'transient', 'SWB_ERR_EHR_NO_ANSWER_SAFE');
    const retried = expectKind(await generic.write(request), 'applied');
    const writes = sim.writes().filter((w) => w.resourceType === 'Observation');
    assert.equal(writes.length, 1, 'one Observation in the EHR');
    assert.equal(retried.result.id, writes[0]?.id);
  });

  it('a stale If-Match is a 412 conflict with the current copy; a fresh one updates; JSON Patch applies', async () => {
    const created = expectKind(await generic.write(req(create(vitals()))), 'applied');
    const id = created.result.id as string;
    const patched = expectKind(await generic.write(req({ kind: 'patch', resourceType: 'Observation', id, patch: [{ op: 'replace', path: '/status', value: 'amended' }], baseVersion: '1' })), 'applied');
    assert.equal(patched.result.versionId, '2');
    assert.equal((sim.resource('Observation', id) as { status?: string }).status, 'amended');
    const stale = expectKind(await generic.write(req({ kind: 'update', resourceType: 'Observation', id, resource: { ...vitals(), status: 'corrected' }, baseVersion: '1' })), 'conflict', 'SWB_ERR_EHR_CONFLICT');
    assert.equal(stale.response.status, 412);
    assert.equal(stale.current?.meta?.versionId, '2');
    assert.equal(stale.current?.['status'], 'amended');
    const fresh = expectKind(await generic.write(req({ kind: 'update', resourceType: 'Observation', id, resource: { ...vitals(), status: 'corrected' }, baseVersion: '2' })), 'applied');
    assert.equal(fresh.result.versionId, '3');
  });

  it('the CapabilityStatement narrows the profile: a type the server does not list is refused before any request', async () => {
    const o = expectKind(await generic.write(req(create({ resourceType: 'Basic', code: { text: 'x' } }))), 'permanent', 'SWB_ERR_EHR_UNSUPPORTED_WRITE');
    assert.match(o.response.message ?? '', /CapabilityStatement/);
    assert.equal(sim.writes().length, 0);
  });

  it('a 422 is permanent and keeps the OperationOutcome; a 500 on a conditional create is transient', async () => {
    sim.addFault({ kind: 'status', status: 422, method: 'POST' });
    const p = expectKind(await generic.write(req(create(vitals()))), 'permanent', 'SWB_ERR_EHR_HTTP_STATUS');
    assert.equal(p.response.status, 422);
    assert.equal((p.response.outcome as { resourceType?: string } | undefined)?.resourceType, 'OperationOutcome');
    sim.addFault({ kind: 'status', status: 500, method: 'POST' });
    expectKind(await generic.write(req(create(vitals()), { ifNoneExist: 'identifier=urn:x|500' })), 'transient', 'SWB_ERR_EHR_SERVER_UNAVAILABLE');
  });

  it('reads: found with its version, gone after a delete', async () => {
    const created = expectKind(await generic.write(req(create(allergy()))), 'applied');
    const id = created.result.id as string;
    const found = await generic.read('AllergyIntolerance', id);
    assert.equal(found.kind === 'found' ? found.versionId : found.kind, '1');
    sim.drift({ resourceType: 'AllergyIntolerance', id, action: 'delete' });
    assert.equal((await generic.read('AllergyIntolerance', id)).kind, 'gone');
  });

  it('an unreachable EHR is transient (nothing was sent)', async () => {
    const gone = await startEhrSimulator({ profile: 'generic' });
    const base = gone.fhirBase;
    await gone.close();
    const adapter = new FhirR4Adapter({ name: 'down', baseUrl: base, profile: EPIC_PROFILE, timeoutMs: 2000 });
    try {
      expectKind(await adapter.write(req(create(vitals()))), 'transient', 'SWB_ERR_EHR_UNREACHABLE');
    } finally {
      await adapter.close();
    }
  });
});

describe('tokens against the simulator', () => {
  it('refreshes a short-lived token before each use, and replaces a token the EHR refuses (401)', async () => {
    const sim = await simWithClient('generic', 1);
    try {
      // A clock set back after the first token keeps it "fresh" in the cache while the EHR lets it expire.
      let clock = 100_000;
      const stale = new SmartBackendAuth({ clientId: CLIENT, privateKey: privateJwk, alg: 'RS384', fhirBaseUrl: sim.fhirBase, now: () => clock });
      const adapter = new FhirR4Adapter({ name: 'g', baseUrl: sim.fhirBase, profile: EPIC_PROFILE, auth: stale });
      expectKind(await adapter.write(req(create(vitals()))), 'applied');
      clock = 0;
      const first = await stale.getToken();
      assert.equal(stale.tokenRequests, 1, 'the cache holds the token');
      await new Promise((r) => setTimeout(r, 1200));
      expectKind(await adapter.write(req(create(vitals()))), 'applied');
      assert.equal(stale.tokenRequests, 2, 'the 401 dropped the token and a new one was fetched');
      assert.notEqual((await stale.getToken()).accessToken, first.accessToken);
      assert.equal(sim.writes().length, 2);
      await adapter.close();

      // With a real clock, a 1 s token is always inside its refresh margin (max(30 s, 10%)): a new one per write.
      const early = new SmartBackendAuth({ clientId: CLIENT, privateKey: privateJwk, alg: 'RS384', tokenUrl: sim.tokenUrl });
      const a2 = new FhirR4Adapter({ name: 'g2', baseUrl: sim.fhirBase, profile: EPIC_PROFILE, auth: early });
      expectKind(await a2.write(req(create(vitals()))), 'applied');
      expectKind(await a2.write(req(create(vitals()))), 'applied');
      assert.equal(early.tokenRequests, 2);
      await a2.close();
    } finally {
      await sim.close();
    }
  });

  it('an unregistered client is refused as permanent SWB_ERR_EHR_AUTH_FAILED', async () => {
    const sim = await startEhrSimulator({ profile: 'epic' });
    try {
      const adapter = await adapterFor(sim, 'epic');
      expectKind(await adapter.write(req(create(vitals()))), 'permanent', 'SWB_ERR_EHR_AUTH_FAILED');
      assert.equal(sim.writes().length, 0);
      await adapter.close();
    } finally {
      await sim.close();
    }
  });
});

describe('request shaping (headers as sent, recorded by a plain HTTP server)', () => {
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];
  let server: http.Server;
  let base = '';
  before(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (c: Buffer) => (body += c.toString('utf8')));
      request.on('end', () => {
        seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body });
        if (request.url?.endsWith('/metadata') === true) {
          response.writeHead(404).end();
          return;
        }
        response.writeHead(request.method === 'POST' ? 201 : 200, { location: `${base}/Observation/o9/_history/4`, etag: 'W/"4"' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/fhir`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('generic: If-None-Exist, Prefer, X-Request-Id, X-Correlation-Id on create; If-Match on update and patch; the id is dropped from a create body', async () => {
    const a = new FhirR4Adapter({ name: 'g', baseUrl: base, profile: GENERIC_R4_PROFILE });
    const r = req(create({ ...vitals(), id: 'client-side', meta: { versionId: '9', security: [{ code: 'AIAST' }] } }), { ifNoneExist: 'identifier=urn:k|1' });
    const o = expectKind(await a.write(r), 'applied');
    assert.deepEqual({ id: o.result.id, versionId: o.result.versionId }, { id: 'o9', versionId: '4' });
    const post = seen.find((x) => x.method === 'POST');
    assert.equal(post?.headers['if-none-exist'], 'identifier=urn:k|1');
    assert.equal(post?.headers['prefer'], 'return=representation');
    assert.equal(post?.headers['x-request-id'], r.idempotencyKey);
    assert.equal(post?.headers['x-correlation-id'], r.correlationId);
    assert.equal(post?.headers['content-type'], 'application/fhir+json');
    const sentBody = JSON.parse(post?.body ?? '{}') as FhirResource;
    assert.equal(sentBody.id, undefined);
    assert.deepEqual(sentBody.meta, { security: [{ code: 'AIAST' }] });
    expectKind(await a.write(req({ kind: 'update', resourceType: 'Observation', id: 'o9', resource: vitals(), baseVersion: '3' })), 'applied');
    assert.equal(seen.find((x) => x.method === 'PUT')?.headers['if-match'], 'W/"3"');
    expectKind(await a.write(req({ kind: 'patch', resourceType: 'Observation', id: 'o9', patch: [{ op: 'remove', path: '/note' }], baseVersion: '4' })), 'applied');
    const patch = seen.find((x) => x.method === 'PATCH');
    assert.equal(patch?.headers['if-match'], 'W/"4"');
    assert.equal(patch?.headers['content-type'], 'application/json-patch+json');
    await a.close();
  });

  it('epic: never If-None-Exist (ignored there), no Prefer', async () => {
    seen.length = 0;
    const a = new FhirR4Adapter({ name: 'e', baseUrl: base, profile: EPIC_PROFILE });
    expectKind(await a.write(req(create(vitals()), { ifNoneExist: 'identifier=urn:k|1' })), 'applied');
    const post = seen.find((x) => x.method === 'POST');
    assert.equal(post?.headers['if-none-exist'], undefined);
    assert.equal(post?.headers['prefer'], undefined);
    await a.close();
  });
});
