// Governed write-back end to end (issue 6 "Proof"), over real HTTP and MLLP: the engine's API with
// security, the write-back service from a config file (src/cli/writeback-start.ts), and the EHR
// simulators (Epic and generic FHIR R4, an HL7 v2 receiver) started here. An AI agent client
// proposes, a clinician (a user with the reviewer role) reviews and approves, the commit worker
// writes, verifies, and records Provenance and AuditEvent; faults show retry, unknown, conflict,
// drift; HL7 v2 AA/AE.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { startWriteback, type StartedWriteback } from '../src/cli/writeback-start.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import type { FhirResource } from '../src/core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { parseSearchQuery } from '../src/fhir/search-query.ts';
import { startEhrSimulator, type EhrSimulator } from '../src/sim/ehr/ehr-simulator.ts';
import { startHl7Simulator, type Hl7Simulator } from '../src/sim/hl7/hl7-simulator.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read by path in assertions; a wrong path fails the assertion
type Json = Record<string, any>;

let store: Store;
let engine: EngineService;
let writeback: StartedWriteback;
let base: string;
let epic: EhrSimulator;
let generic: EhrSimulator;
let hl7: Hl7Simulator;
let agentAuth: Record<string, string>;
let appAuth: Record<string, string>;
let clinician: Record<string, string>;
let operator: Record<string, string>;

const POLICY = `
defaultDecision: deny
rules:
  - {id: notes-review, resourceType: DocumentReference, decision: review}
  - {id: vitals-auto, resourceType: Observation, decision: auto}
  - {id: hl7-notes-auto, resourceType: "MDM^*", decision: auto}
actors:
  - {id: clinicians, kind: user, roles: [reviewer], actions: [propose, approve, edit, reject, sign]}
  - {id: apps, kind: app, actions: [propose]}
  - {id: agents, kind: agent, actions: [propose], minDecision: review}
`;

before(async () => {
  const dir = tempDir('swb-writeback-e2e-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' });

  // The EHRs, with the engine's SMART backend client registered (its private key in a file).
  const pair = await generateKeyPair('ES384', { extractable: true });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'wb1', alg: 'ES384', use: 'sig' };
  writeFileSync(join(dir, 'ehr-key.json'), JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: 'wb1', alg: 'ES384' }));
  epic = await startEhrSimulator({ profile: 'epic' });
  generic = await startEhrSimulator({ profile: 'generic' });
  for (const sim of [epic, generic]) sim.registerClient({ clientId: 'switchboard', jwks: { keys: [publicJwk] } });
  hl7 = await startHl7Simulator({ mode: 'AA' });

  const auth = `{clientId: switchboard, privateKeyFile: ehr-key.json, alg: ES384, kid: wb1}`;
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(
    join(dir, 'writeback.yaml'),
    [
      'policy: policy.yaml',
      'ehrs:',
      `  - {name: epic-sim, profile: epic, baseUrl: "${epic.fhirBase}", auth: ${auth}}`,
      `  - {name: generic-sim, profile: generic-r4, baseUrl: "${generic.fhirBase}", auth: ${auth}}`,
      `  - {name: hl7-sim, profile: hl7v2-mllp, mllp: {host: ${hl7.host}, port: ${hl7.port}}}`,
      'commit: {concurrency: 2, maxAttempts: 6, pollMs: 50, backoff: {initialMs: 20, maxMs: 200}}',
    ].join('\n'),
  );
  writeback = await startWriteback(join(dir, 'writeback.yaml'), store, createLogger({ level: 'silent' }));
  engine = await startEngineService({ store, channels: [], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0, security: setup.security, writeback: writeback.service });
  base = engine.httpUrl ?? '';

  // Who acts: an AI scribe (a client that even holds the reviewer role), a plain app, a clinician, an operator.
  const token = async (id: string, roles: string[]): Promise<Record<string, string>> => {
    const { secret } = await registerSecretClient(store.identity, { id, name: id, scopes: ['system/Patient.rs'], roles });
    const r = await fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id, client_secret: secret, scope: 'system/Patient.rs' }).toString() });
    assert.equal(r.status, 200, await r.clone().text());
    return { authorization: `Bearer ${((await r.json()) as Json)['access_token'] as string}` };
  };
  agentAuth = await token('scribe-ai', ['operator', 'reviewer']);
  appAuth = await token('vitals-app', ['operator']);
  const login = async (username: string, roles: string[]): Promise<Record<string, string>> => {
    await store.identity.createUser({ username, passwordHash: await hashPassword(`${username}-pass-123456`), roles });
    const r = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username, password: `${username}-pass-123456` }).toString() });
    assert.equal(r.status, 200, await r.clone().text());
    return { cookie: (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '' };
  };
  clinician = await login('dr-jones', ['reviewer']);
  operator = await login('ops-ann', ['operator']);
});

after(async () => {
  await engine?.close();
  await writeback?.service.stop();
  await store?.close();
  await Promise.all([epic?.close(), generic?.close(), hl7?.close()]);
});

async function call(method: 'GET' | 'POST', path: string, who: Record<string, string>, body?: unknown): Promise<{ status: number; json: Json }> {
  const r = await fetch(`${base}${path}`, { method, headers: { ...who, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await r.text();
  return { status: r.status, json: text === '' ? {} : (JSON.parse(text) as Json) };
}

const propose = (who: Record<string, string>, body: Json): Promise<{ status: number; json: Json }> => call('POST', '/api/v1/writeback/proposals', who, { purposeOfUse: 'TREAT', ...body });

/** Polls the proposal until it is in one of `states` (the worker runs on its own). */
async function until(id: string, states: string[], timeoutMs = 15_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await call('GET', `/api/v1/writeback/proposals/${id}`, operator);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (states.includes(r.json['proposal']['state'] as string)) return r.json;
    if (Date.now() > deadline) assert.fail(`proposal ${id} is ${r.json['proposal']['state'] as string}, expected ${states.join('|')}; events ${JSON.stringify((r.json['events'] as Json[]).map((e) => [e['to'], e['reason']]))}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

const note = (docStatus: string): FhirResource => ({
  resourceType: 'DocumentReference',
  status: 'current',
  docStatus,
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }] },
  subject: { reference: 'Patient/pat-1' },
  content: [{ attachment: { contentType: 'text/plain', data: Buffer.from('Seen today; stable.').toString('base64') } }],
});

const vitals = (value: number): FhirResource => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: 'Patient/pat-2' },
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

const AGENT = { kind: 'agent', model: 'scribe-llm', modelVersion: '2025-06' };

async function ours(type: string, params: Array<[string, string]> = []): Promise<FhirResource[]> {
  const resources = store.resources;
  assert.ok(resources !== undefined);
  return [...(await resources.search(type, parseSearchQuery(type, [...params, ['_count', '1000']]).query)).resources];
}

test('an AI-drafted note: proposed -> pending_review -> approved by a clinician -> committed -> verified, with Provenance and AuditEvent', async () => {
  const first = await propose(agentAuth, { ehr: 'epic-sim', patient: 'pat-1', change: { kind: 'create', resource: note('final') }, idempotencyKey: 'note-1', actor: AGENT });
  assert.equal(first.status, 201, JSON.stringify(first.json));
  assert.equal(first.json['state'], 'pending_review');
  assert.match(first.json['correlationId'] as string, /^[\w.-]+$/);
  const id = first.json['id'] as string;
  // The same idempotency key again: the same proposal, 200.
  const again = await propose(agentAuth, { ehr: 'epic-sim', patient: 'pat-1', change: { kind: 'create', resource: note('final') }, idempotencyKey: 'note-1', actor: AGENT });
  assert.equal(again.status, 200);
  assert.deepEqual(again.json, { id, state: 'pending_review', correlationId: first.json['correlationId'] });

  // The agent cannot sign or approve its own draft, even holding the reviewer role as a client.
  for (const action of ['sign', 'approve']) {
    const refused = await call('POST', `/api/v1/writeback/proposals/${id}/${action}`, agentAuth, { actor: AGENT });
    assert.equal(refused.status, 403, JSON.stringify(refused.json));
    assert.equal(refused.json['code'], 'SWB_ERR_WRITEBACK_ACTOR_FORBIDDEN');
  }

  // The clinician's review: the AI model named, a field diff of the new note, held as a labelled draft.
  const review = await call('GET', `/api/v1/writeback/proposals/${id}/review`, clinician);
  assert.equal(review.status, 200);
  assert.deepEqual(review.json['ai'], { model: 'scribe-llm', version: '2025-06' });
  assert.equal(review.json['current'], null);
  const draft = review.json['proposal']['change']['resource'] as Json;
  assert.equal(draft['docStatus'], 'preliminary', 'an AI draft is never filed as signed');
  assert.ok((draft['meta']['security'] as Json[]).some((s) => s['code'] === 'AIAST'));
  assert.ok((review.json['diff'] as Json[]).some((d) => d['path'] === 'docStatus' && d['after'] === 'preliminary'));
  // Reading the proposal's content is a PHI access: in the audit log with the caller, no content.
  const reads = await store.audit.list({ action: 'writeback.review' });
  assert.ok(reads.some((a) => a.target === id && a.actor === 'user:dr-jones'));

  const approved = await call('POST', `/api/v1/writeback/proposals/${id}/approve`, clinician, { comment: 'reviewed' });
  assert.equal(approved.status, 200, JSON.stringify(approved.json));
  const done = await until(id, ['verified', 'drifted', 'failed', 'unknown']);
  assert.equal(done['proposal']['state'], 'verified', JSON.stringify(done['events']));
  assert.deepEqual(
    (done['events'] as Json[]).map((e) => e['to']),
    ['proposed', 'pending_review', 'approved', 'committing', 'committed', 'verified'],
  );
  const approveEvent = (done['events'] as Json[]).find((e) => e['to'] === 'approved');
  assert.equal(approveEvent?.['actor'], 'user:dr-jones');
  assert.equal((done['ledger'] as Json[]).length, 1);
  assert.equal((done['ledger'] as Json[])[0]?.['outcome'], 'applied');

  // In the EHR: exactly one note, a preliminary AI-labelled draft.
  const written = epic.writes().filter((w) => w.resourceType === 'DocumentReference');
  assert.equal(written.length, 1);
  const inEhr = epic.resource('DocumentReference', written[0]?.id ?? '') as Json;
  assert.equal(inEhr['docStatus'], 'preliminary');
  assert.equal(done['proposal']['result']['id'], written[0]?.id);

  // Ours: a Provenance naming the AI device and the approving clinician, and an AuditEvent, both with the correlation id.
  const correlationId = first.json['correlationId'] as string;
  const target = `DocumentReference/${written[0]?.id ?? ''}`;
  const provenance = (await ours('Provenance')).filter((p) => JSON.stringify(p['target']).includes(target));
  assert.equal(provenance.length, 1);
  const prov = JSON.stringify(provenance[0]);
  assert.ok(prov.includes(correlationId), 'the Provenance carries the correlation id');
  assert.ok(prov.includes('scribe-llm') && prov.includes('2025-06'), 'the AI model and version are in the Provenance');
  assert.ok(prov.includes('dr-jones'), 'the approving clinician is in the Provenance');
  const audits = (await ours('AuditEvent')).filter((a) => JSON.stringify(a['entity']).includes(correlationId));
  assert.equal(audits.length, 1);
  assert.equal(audits[0]?.['outcome'], '0');
  assert.ok(JSON.stringify(audits[0]?.['entity']).includes(target));
});

test('a clinician signs: the signed note (docStatus final) is what the EHR gets', async () => {
  const p = await propose(agentAuth, { ehr: 'epic-sim', patient: 'pat-3', change: { kind: 'create', resource: note('preliminary') }, idempotencyKey: 'note-signed', actor: AGENT });
  assert.equal(p.json['state'], 'pending_review');
  const signed = await call('POST', `/api/v1/writeback/proposals/${p.json['id'] as string}/sign`, clinician, {});
  assert.equal(signed.status, 200, JSON.stringify(signed.json));
  const done = await until(p.json['id'] as string, ['verified', 'drifted', 'failed', 'unknown']);
  assert.equal(done['proposal']['state'], 'verified', JSON.stringify(done['events']));
  const inEhr = epic.resource('DocumentReference', done['proposal']['result']['id'] as string) as Json;
  assert.equal(inEhr['docStatus'], 'final');
});

test('policy: a resource type the policy does not allow is refused (rejected_by_policy), nothing is written', async () => {
  const before = generic.writes().length;
  const r = await propose(appAuth, { ehr: 'generic-sim', patient: 'pat-2', change: { kind: 'create', resource: { resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: 'Patient/pat-2' } } }, idempotencyKey: 'med-1' });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  assert.equal(r.json['state'], 'rejected_by_policy');
  assert.equal(r.json['policy']['decision'], 'deny');
  // Unknown EHRs and malformed proposals are 400 with stable codes.
  const unknown = await propose(appAuth, { ehr: 'nope', patient: 'pat-2', change: { kind: 'create', resource: vitals(70) }, idempotencyKey: 'x-1' });
  assert.equal(unknown.json['code'], 'SWB_ERR_WRITEBACK_UNKNOWN_EHR');
  const bad = await propose(appAuth, { ehr: 'generic-sim', patient: 'pat-2', change: { kind: 'create' }, idempotencyKey: 'x-2' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json['code'], 'SWB_ERR_WRITEBACK_BAD_PROPOSAL');
  assert.equal(generic.writes().length, before);
});

test('a 503 from the EHR is retried with backoff until the write succeeds, once', async () => {
  generic.addFault({ kind: 'status', status: 503, method: 'POST', resourceType: 'Observation', times: 4 });
  const r = await propose(appAuth, { ehr: 'generic-sim', patient: 'pat-2', change: { kind: 'create', resource: vitals(71) }, idempotencyKey: 'vitals-503' });
  assert.equal(r.json['state'], 'approved');
  const done = await until(r.json['id'] as string, ['verified', 'failed', 'unknown', 'drifted']);
  assert.equal(done['proposal']['state'], 'verified', JSON.stringify(done['events']));
  assert.ok((done['events'] as Json[]).some((e) => e['to'] === 'retrying'), 'at least one attempt was retried by the service');
  const created = generic.writes().filter((w) => w.resourceType === 'Observation' && w.requestId === r.json['id']);
  assert.equal(created.length, 1);
  // The generic EHR accepts Provenance (capabilities.provenance): one was created there too.
  const verifiedEvent = (done['events'] as Json[]).find((e) => e['to'] === 'verified');
  assert.match(String(verifiedEvent?.['detail']['ehrProvenance']), /^Provenance\//);
  assert.ok(generic.writes().some((w) => w.resourceType === 'Provenance'));
  generic.clearFaults();
});

test('a reset after the EHR applied an Epic note becomes unknown: never retried, never a second note; a reviewer settles it', async () => {
  epic.addFault({ kind: 'reset-after-apply', method: 'POST', resourceType: 'DocumentReference' });
  const before = epic.writes().filter((w) => w.resourceType === 'DocumentReference').length;
  const p = await propose(agentAuth, { ehr: 'epic-sim', patient: 'pat-2', change: { kind: 'create', resource: note('preliminary') }, idempotencyKey: 'note-reset', actor: AGENT });
  const id = p.json['id'] as string;
  assert.equal((await call('POST', `/api/v1/writeback/proposals/${id}/approve`, clinician, {})).status, 200);
  const done = await until(id, ['unknown', 'committed', 'verified', 'failed']);
  assert.equal(done['proposal']['state'], 'unknown', JSON.stringify(done['events']));
  // Give a blind retry every chance to happen: it must not.
  await writeback.service.idle();
  await new Promise((res) => setTimeout(res, 300));
  const notes = epic.writes().filter((w) => w.resourceType === 'DocumentReference');
  assert.equal(notes.length - before, 1, 'exactly one note in the EHR');
  assert.equal((await call('GET', `/api/v1/writeback/proposals/${id}`, operator)).json['proposal']['state'], 'unknown');
  const recon = await call('GET', '/api/v1/writeback/reconciliation', operator);
  assert.ok((recon.json['unknown'] as Json[]).some((x) => x['id'] === id));
  // The operator finds it in the EHR and says so: committed, then verified against the EHR's copy.
  const resolved = await call('POST', `/api/v1/writeback/proposals/${id}/resolve`, operator, { outcome: 'applied', reason: 'found in the chart', target: `DocumentReference/${notes.at(-1)?.id ?? ''}` });
  assert.equal(resolved.status, 200, JSON.stringify(resolved.json));
  const settled = await until(id, ['verified', 'drifted']);
  assert.equal(settled['proposal']['state'], 'verified');
  assert.equal(epic.writes().filter((w) => w.resourceType === 'DocumentReference').length - before, 1);
});

test('a 412 on the generic EHR becomes conflict with a three-way diff, shown in reconciliation; retry sends it back to review', async () => {
  const made = await propose(appAuth, { ehr: 'generic-sim', patient: 'pat-2', change: { kind: 'create', resource: vitals(80) }, idempotencyKey: 'vitals-base' });
  const created = await until(made.json['id'] as string, ['verified']);
  const obsId = created['proposal']['result']['id'] as string;
  const versionId = (created['proposal']['result']['versionId'] as string | undefined) ?? '1';
  generic.addFault({ kind: 'stale-version', method: 'PUT', resourceType: 'Observation' });
  const upd = await propose(appAuth, { ehr: 'generic-sim', patient: 'pat-2', change: { kind: 'update', resourceType: 'Observation', id: obsId, baseVersion: versionId, resource: { ...vitals(85), id: obsId } }, idempotencyKey: 'vitals-update' });
  assert.equal(upd.json['state'], 'approved');
  const id = upd.json['id'] as string;
  const done = await until(id, ['conflict', 'verified', 'failed', 'unknown']);
  assert.equal(done['proposal']['state'], 'conflict', JSON.stringify(done['events']));
  const conflictEvent = (done['events'] as Json[]).find((e) => e['to'] === 'conflict');
  assert.ok(Array.isArray(conflictEvent?.['detail']['diff']) && (conflictEvent['detail']['diff'] as Json[]).length > 0, 'the event keeps the three-way diff');
  assert.ok((conflictEvent?.['detail']['diff'] as Json[]).some((d) => String(d['path']).startsWith('valueQuantity')));
  const recon = await call('GET', '/api/v1/writeback/reconciliation', operator);
  assert.ok((recon.json['conflicts'] as Json[]).some((c) => c['proposal']['id'] === id && (c['diff'] as Json[]).length > 0));
  const back = await call('POST', `/api/v1/writeback/proposals/${id}/retry`, operator, {});
  assert.equal(back.status, 200, JSON.stringify(back.json));
  assert.equal(back.json['state'], 'pending_review');
  // Invalid actions answer 409 with a stable code.
  const wrong = await call('POST', `/api/v1/writeback/proposals/${id}/resolve`, operator, { outcome: 'applied', reason: 'x' });
  assert.equal(wrong.status, 409);
  assert.equal(wrong.json['code'], 'SWB_ERR_WRITEBACK_NOT_REVIEWABLE');
});

test('drift: an edit in the EHR behind our back is detected, listed and reported per EHR and day', async () => {
  const made = await propose(appAuth, { ehr: 'generic-sim', patient: 'pat-2', change: { kind: 'create', resource: vitals(66) }, idempotencyKey: 'vitals-drift' });
  const id = made.json['id'] as string;
  const done = await until(id, ['verified']);
  const obsId = done['proposal']['result']['id'] as string;
  generic.drift({ resourceType: 'Observation', id: obsId, action: 'edit', set: { status: 'amended' } });
  const check = await writeback.service.checkDrift({ ehr: 'generic-sim' });
  assert.ok(check.drifted.includes(id));
  const after = await until(id, ['drifted']);
  const driftEvent = (after['events'] as Json[]).find((e) => e['to'] === 'drifted');
  assert.ok((driftEvent?.['detail']['diff'] as Json[]).some((d) => d['path'] === 'status'));
  const recon = await call('GET', '/api/v1/writeback/reconciliation', operator);
  assert.ok((recon.json['drift'] as Json[]).some((d) => d['proposal']['id'] === id));
  const day = new Date().toISOString().slice(0, 10);
  const report = await call('GET', `/api/v1/writeback/drift-report?ehr=generic-sim&day=${day}`, operator);
  assert.equal(report.status, 200, JSON.stringify(report.json));
  assert.ok((report.json['drifted'] as number) >= 1);
  assert.ok((report.json['checked'] as number) >= (report.json['drifted'] as number));
  assert.ok((report.json['items'] as Json[]).some((i) => i['proposal'] === id && (i['paths'] as string[]).includes('status')));
});

test('HL7 v2 over MLLP: MDM^T02 answered AA is committed; AE fails permanently with the ACK kept', async () => {
  const mdm = (control: string): string =>
    [
      `MSH|^~\\&|SWITCHBOARD|HOSP|EHR|HOSP|20250101120000||MDM^T02^MDM_T02|${control}|P|2.5.1`,
      'EVN|T02|20250101120000',
      'PID|1||MRN-1^^^HOSP^MR||DOE^JANE',
      'PV1|1|O',
      `TXA|1|PN|TX|20250101120000|||||||||${control}-DOC||||||AU`,
      'OBX|1|TX|11506-3^Progress note^LN||Seen today; stable.',
    ].join('\r');
  const ok = await propose(appAuth, { ehr: 'hl7-sim', patient: 'pat-1', change: { kind: 'hl7v2', message: mdm('WB-AA-1') }, idempotencyKey: 'mdm-aa' });
  assert.equal(ok.json['state'], 'approved', JSON.stringify(ok.json));
  const committed = await until(ok.json['id'] as string, ['committed', 'failed', 'unknown']);
  assert.equal(committed['proposal']['state'], 'committed', JSON.stringify(committed['events']));
  const got = hl7.received().filter((m) => m.type.startsWith('MDM^T02'));
  assert.equal(got.length, 1);
  // Not signed through the gate: TXA-17 never went out as AU.
  const txa = got[0]?.text.split('\r').find((s) => s.startsWith('TXA'))?.split('|')[17];
  assert.notEqual(txa, 'AU');

  hl7.enqueue('AE');
  const refused = await propose(appAuth, { ehr: 'hl7-sim', patient: 'pat-1', change: { kind: 'hl7v2', message: mdm('WB-AE-1') }, idempotencyKey: 'mdm-ae' });
  const failed = await until(refused.json['id'] as string, ['failed', 'committed', 'unknown']);
  assert.equal(failed['proposal']['state'], 'failed');
  const entry = (failed['ledger'] as Json[])[0];
  assert.equal(entry?.['outcome'], 'not_applied');
  assert.equal(entry?.['response']['ackCode'], 'AE');
  assert.equal(hl7.received().length, 2, 'a permanent failure is not retried');
});
