import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Proposal, ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { validateResource } from '../fhir/fhir-validator.ts';
import { parseMessage } from '../hl7v2/index.ts';
import { buildProvenance, enforceUnsigned, isAiActor, labelAiDraft } from './ai-content.ts';

const agent: ProposalActor = { kind: 'agent', id: 'scribe-1', model: 'note-drafter', modelVersion: '2024-06' };
const clinician: ProposalActor = { kind: 'user', id: 'dr.lee', display: 'Dr Lee', roles: ['reviewer'] };
const app: ProposalActor = { kind: 'app', id: 'client-42' };

const note: FhirResource = {
  resourceType: 'DocumentReference',
  status: 'current',
  docStatus: 'final',
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
  subject: { reference: 'Patient/pat-1' },
  content: [{ attachment: { contentType: 'text/plain', data: 'Tm90ZQ==' } }],
};

// An MDM^T02 written for these tests (made-up identifiers); TXA-17 = AU claims authentication.
const MDM = [
  'MSH|^~\\&|SWB|HOSP|EHR|HOSP|20240305103000||MDM^T02^MDM_T02|MDM-1|P|2.5.1',
  'EVN|T02|20240305103000',
  'PID|1||MRN1^^^HOSP^MR',
  'PV1|1|I',
  `TXA|1|CN|TX|20240305103000${'|'.repeat(8)}DOC-1${'|'.repeat(5)}AU`,
  'OBX|1|TX|11506-3^Progress note^LN||Note text',
].join('\r');

void test('isAiActor: agents, or any actor naming a model', () => {
  assert.equal(isAiActor(agent), true);
  assert.equal(isAiActor({ kind: 'app', id: 'x', model: 'm' }), true);
  assert.equal(isAiActor(clinician), false);
  assert.equal(isAiActor(app), false);
});

void test('labelAiDraft adds AIAST once, files notes as preliminary, and does not mutate', () => {
  const labelled = labelAiDraft({ ...note, meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] } }, agent);
  const security = (labelled.meta?.['security'] ?? []) as Array<{ system: string; code: string }>;
  assert.deepEqual(security.map((s) => `${s.system}|${s.code}`), ['http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N', 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue|AIAST']);
  assert.equal(labelled['docStatus'], 'preliminary');
  assert.equal(note['docStatus'], 'final', 'input untouched');
  const twice = labelAiDraft(labelled, agent);
  assert.equal((twice.meta?.['security'] as unknown[]).length, 2, 'label added once');
  const obs = labelAiDraft({ resourceType: 'Observation', status: 'final' }, agent);
  assert.equal(obs['status'], 'final');
  assert.equal(obs['docStatus'], undefined);
  assert.equal(labelAiDraft(note, clinician), note, 'a person\'s content is not labelled');
  assert.equal(validateResource(labelled).valid, true);
});

void test('enforceUnsigned: a note is never final before signature; signing makes it final', () => {
  const create: ProposedChange = { kind: 'create', resource: note };
  const unsigned = enforceUnsigned(create, false);
  assert.equal(unsigned.kind === 'create' && unsigned.resource['docStatus'], 'preliminary');
  const amended = enforceUnsigned({ kind: 'update', resourceType: 'DocumentReference', id: 'd1', resource: { ...note, docStatus: 'amended' } }, false);
  assert.equal(amended.kind === 'update' && amended.resource['docStatus'], 'preliminary');
  const signed = enforceUnsigned(unsigned, true);
  assert.equal(signed.kind === 'create' && signed.resource['docStatus'], 'final');
  // Other types pass through untouched.
  const obs: ProposedChange = { kind: 'create', resource: { resourceType: 'Observation', status: 'final' } };
  assert.deepEqual(enforceUnsigned(obs, false), obs);
});

void test('enforceUnsigned on patches rewrites docStatus ops and adds one when signing', () => {
  const patch: ProposedChange = { kind: 'patch', resourceType: 'DocumentReference', id: 'd1', patch: [{ op: 'replace', path: '/docStatus', value: 'final' }, { op: 'add', path: '/description', value: 'x' }] };
  const unsigned = enforceUnsigned(patch, false);
  assert.ok(unsigned.kind === 'patch');
  assert.deepEqual(unsigned.patch[0], { op: 'replace', path: '/docStatus', value: 'preliminary' });
  const signed = enforceUnsigned({ kind: 'patch', resourceType: 'DocumentReference', id: 'd1', patch: [{ op: 'add', path: '/description', value: 'x' }] }, true);
  assert.ok(signed.kind === 'patch');
  assert.deepEqual(signed.patch.at(-1), { op: 'add', path: '/docStatus', value: 'final' });
});

void test('enforceUnsigned on HL7 v2: TXA-17 AU/LA becomes IP until signed, then AU', () => {
  const unsigned = enforceUnsigned({ kind: 'hl7v2', message: MDM }, false);
  assert.ok(unsigned.kind === 'hl7v2');
  const m = parseMessage(unsigned.message);
  assert.equal(m.get('TXA-17'), 'IP');
  assert.equal(m.get('TXA-12'), 'DOC-1', 'other fields kept');
  assert.equal(m.get('OBX-5'), 'Note text');
  const la = enforceUnsigned({ kind: 'hl7v2', message: MDM.replace('||AU', '||LA') }, false);
  assert.ok(la.kind === 'hl7v2');
  assert.equal(parseMessage(la.message).get('TXA-17'), 'IP');
  const signed = enforceUnsigned(unsigned, true);
  assert.ok(signed.kind === 'hl7v2');
  assert.equal(parseMessage(signed.message).get('TXA-17'), 'AU');
  // Already in progress: the message is passed through as it was.
  const inProgress = { kind: 'hl7v2' as const, message: MDM.replace('||AU', '||IP') };
  assert.equal(enforceUnsigned(inProgress, false), inProgress);
});

function proposal(actor: ProposalActor, change: ProposedChange): Proposal {
  const at = new Date('2024-03-05T10:00:00Z');
  return { id: 'prop-1', tenant: 'default', ehr: 'epic-sim', patient: 'Patient/pat-1', change, actor, purposeOfUse: 'TREAT', idempotencyKey: 'k1', correlationId: 'corr-123', state: 'committed', revision: 4, attempts: 1, createdAt: at, updatedAt: at };
}

type Agent = { type: { coding: Array<{ system: string; code: string }> }; who: { reference?: string; identifier?: { system: string; value: string }; display?: string } };

void test('buildProvenance: AI Device, verifier, attester, correlation tag; valid FHIR R4', () => {
  const at = new Date('2024-03-05T11:00:00Z');
  const prov = buildProvenance({ target: 'DocumentReference/123', proposal: proposal(agent, { kind: 'create', resource: note }), approver: clinician, signer: clinician, at });
  assert.equal(prov.resourceType, 'Provenance');
  assert.deepEqual(prov['target'], [{ reference: 'DocumentReference/123' }]);
  assert.equal(prov['recorded'], '2024-03-05T11:00:00.000Z');
  assert.deepEqual((prov['activity'] as { coding: Array<{ system: string; code: string }> }).coding.map((c) => `${c.system}|${c.code}`), ['http://terminology.hl7.org/CodeSystem/v3-DataOperation|CREATE']);
  assert.deepEqual(prov.meta?.['tag'], [{ system: 'urn:switchboard:correlation-id', code: 'corr-123' }]);
  const agents = prov['agent'] as Agent[];
  assert.deepEqual(
    agents.map((a) => `${a.type.coding[0]?.system}|${a.type.coding[0]?.code}`),
    ['assembler', 'verifier', 'attester'].map((c) => `http://terminology.hl7.org/CodeSystem/provenance-participant-type|${c}`),
  );
  assert.equal(agents[0]?.who.reference, '#ai-agent');
  assert.deepEqual(agents[1]?.who.identifier, { system: 'urn:switchboard:actor:user', value: 'dr.lee' });
  const device = (prov['contained'] as Array<Record<string, unknown>>)[0];
  assert.equal(device?.['resourceType'], 'Device');
  assert.deepEqual(device?.['deviceName'], [{ name: 'note-drafter', type: 'model-name' }]);
  assert.deepEqual(device?.['version'], [{ value: '2024-06' }]);
  assert.equal(prov['entity'], undefined);
  const structural = validateResource(prov);
  assert.equal(structural.valid, true, JSON.stringify(structural.issues));
  const strict = validateResource(prov, { mode: 'strict' });
  assert.equal(strict.valid, true, JSON.stringify(strict.issues));
});

void test('buildProvenance: a person or app proposer is the author; updates are UPDATE', () => {
  const prov = buildProvenance({ target: 'Observation/9', proposal: proposal(app, { kind: 'patch', resourceType: 'Observation', id: '9', patch: [{ op: 'replace', path: '/status', value: 'amended' }] }), at: new Date(0) });
  const agents = prov['agent'] as Agent[];
  assert.equal(agents.length, 1);
  assert.equal(agents[0]?.type.coding[0]?.code, 'author');
  assert.deepEqual(agents[0]?.who.identifier, { system: 'urn:switchboard:actor:app', value: 'client-42' });
  assert.equal(prov['contained'], undefined);
  assert.equal((prov['activity'] as { coding: Array<{ code: string }> }).coding[0]?.code, 'UPDATE');
  assert.equal(validateResource(prov).valid, true);
  const mdm = buildProvenance({ target: 'DocumentReference/5', proposal: proposal(agent, { kind: 'hl7v2', message: MDM.replace('MDM^T02^MDM_T02', 'MDM^T08^MDM_T08') }), at: new Date(0) });
  assert.equal((mdm['activity'] as { coding: Array<{ code: string }> }).coding[0]?.code, 'UPDATE');
});
