import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isSwitchboardError } from '../core/errors.ts';
import type { ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { authorizeAction, changeResourceType, DEFAULT_POLICY_YAML, evaluatePolicy, loadPolicyFile, parsePolicy, type PolicyInput } from './policy.ts';

const agent: ProposalActor = { kind: 'agent', id: 'scribe-1', model: 'note-drafter', modelVersion: '1' };
const app: ProposalActor = { kind: 'app', id: 'client-1' };
const service: ProposalActor = { kind: 'service', id: 'svc-1' };
const reviewer: ProposalActor = { kind: 'user', id: 'dr.lee', roles: ['reviewer'] };
const clerk: ProposalActor = { kind: 'user', id: 'clerk', roles: ['operator'] };

const vitals: FhirResource = {
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/pat-1' },
  valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
};
const note: FhirResource = {
  resourceType: 'DocumentReference',
  status: 'current',
  docStatus: 'preliminary',
  type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
  subject: { reference: 'Patient/pat-1' },
  content: [{ attachment: { contentType: 'text/plain', data: 'Tm90ZQ==' } }],
};

const input = (change: ProposedChange, actor: ProposalActor = app, extra: Partial<PolicyInput> = {}): PolicyInput => ({ tenant: 'default', ehr: 'epic-sim', patient: 'Patient/pat-1', change, actor, purposeOfUse: 'TREAT', ...extra });
const create = (resource: FhirResource): ProposedChange => ({ kind: 'create', resource });

const invalidWith = (fragment: string) => (e: unknown): boolean => {
  assert.ok(isSwitchboardError(e), String(e));
  assert.equal(e.code, 'SWB_ERR_WRITEBACK_POLICY_INVALID');
  assert.equal(e.httpStatus, 400);
  assert.ok(e.message.includes(fragment), `${e.message} should include ${fragment}`);
  return true;
};

void test('errors name the path', () => {
  const yaml = 'rules:\n  - resourceType: Observation\n    decision: auto\n  - resourceType: Condition\n    decision: review\n  - resourceType: X\n    decision: maybe\n';
  assert.throws(() => parsePolicy(yaml, 'site.yaml'), invalidWith('rules[2].decision must be one of auto, review, deny'));
  assert.throws(() => parsePolicy(yaml, 'site.yaml'), invalidWith('site.yaml'));
  assert.throws(() => parsePolicy('rules:\n  - resourceType: X\n'), invalidWith('rules[0].decision is required'));
  assert.throws(() => parsePolicy('rulez: []\n'), invalidWith('rulez is not a known key'));
  assert.throws(() => parsePolicy('actors:\n  - kind: robot\n    actions: [propose]\n'), invalidWith('actors[0].kind must be one of'));
  assert.throws(() => parsePolicy('validation:\n  - resourceType: Observation\n    ranges: [{ path: valueQuantity.value }]\n'), invalidWith('validation[0].ranges[0] needs min or max'));
  assert.throws(() => parsePolicy("validation:\n  - resourceType: Observation\n    required: ['status..(']\n"), invalidWith('validation[0].required[0] is not a valid FHIRPath expression'));
  assert.throws(() => parsePolicy('rules:\n  - equals: final\n    decision: auto\n'), invalidWith('rules[0].equals needs a field'));
  assert.throws(() => parsePolicy('rules: [\n'), invalidWith('not valid YAML'));
});

void test('defaults fill every field', () => {
  const p = parsePolicy('rules:\n  - decision: auto\n', 'x');
  assert.equal(p.defaultDecision, 'deny');
  assert.deepEqual(p.rules[0], { tenant: '*', ehr: '*', resourceType: '*', actorKind: '*', decision: 'auto' });
  assert.deepEqual(p.consent, { whenNone: 'auto' });
  assert.equal(p.source, 'x');
});

void test('the default policy: vitals and notes go to review, unknown types are denied', () => {
  const p = parsePolicy(DEFAULT_POLICY_YAML, 'default');
  const v = evaluatePolicy(p, input(create(vitals)));
  assert.equal(v.decision, 'review');
  assert.equal(v.rule, 'vitals-review');
  assert.deepEqual(v.violations, []);
  assert.equal(evaluatePolicy(p, input(create(note))).decision, 'review');
  const unknown = evaluatePolicy(p, input(create({ resourceType: 'MedicationRequest', status: 'active' })));
  assert.equal(unknown.decision, 'deny');
  assert.equal(unknown.rule, '(default)');
  // A service account may not write notes, in FHIR or over HL7 v2.
  const svc = evaluatePolicy(p, input(create(note), service));
  assert.equal(svc.decision, 'deny');
  assert.equal(svc.rule, 'services-no-notes');
  assert.equal(evaluatePolicy(p, input(create(vitals), service)).decision, 'review');
});

const SITE = `
defaultDecision: deny
rules:
  - id: obs-auto
    resourceType: Observation
    decision: auto
  - id: obs-value-review
    resourceType: Observation
    field: valueQuantity
    decision: review
  - id: notes-auto-for-epic
    ehr: "epic-*"
    resourceType: DocumentReference
    decision: auto
  - id: final-notes-review
    resourceType: DocumentReference
    field: docStatus
    equals: final
    decision: review
  - id: notes-tenant-b
    tenant: b
    ehr: epic-sim
    resourceType: DocumentReference
    decision: deny
  - id: mdm
    resourceType: "MDM^T02"
    decision: auto
  - id: mdm-authenticated
    resourceType: "MDM^*"
    field: TXA-17
    equals: AU
    decision: review
actors:
  - id: everyone-proposes
    actions: [propose]
  - id: agents-review
    kind: agent
    actions: [propose]
    minDecision: review
  - id: reviewers
    kind: user
    roles: [reviewer]
    actions: [approve, sign, reject, edit]
  - id: no-agent-notes-on-legacy
    kind: agent
    actions: [propose]
    resourceTypes: ["MDM^*"]
    ehr: legacy
    effect: deny
validation:
  - id: obs
    resourceType: Observation
    required: [status, subject.exists()]
    codes:
      - path: code.coding
        allowed: ["http://loinc.org|8867-4", "http://loinc.org|8480-*"]
    ranges:
      - path: valueQuantity.value
        min: 0
        max: 300
consent:
  whenNone: review
`;

void test('most specific rule wins: field rules over type rules, per touched field', () => {
  const p = parsePolicy(SITE, 'site');
  const withConsent = { consent: 'permit' } as const;
  // A create writes valueQuantity: the field rule (more specific) sends it to review.
  const c = evaluatePolicy(p, input(create(vitals), app, withConsent));
  assert.equal(c.decision, 'review');
  assert.equal(c.rule, 'obs-value-review');
  // No value: the type rule applies.
  const { valueQuantity: _v, ...noValue } = vitals;
  assert.equal(evaluatePolicy(p, input(create(noValue), app, withConsent)).decision, 'auto');
  // A patch is judged by the paths it touches.
  const statusPatch: ProposedChange = { kind: 'patch', resourceType: 'Observation', id: 'o1', patch: [{ op: 'replace', path: '/status', value: 'amended' }] };
  const sp = evaluatePolicy(p, input(statusPatch, app, withConsent));
  assert.deepEqual([sp.decision, sp.rule], ['auto', 'obs-auto']);
  const valuePatch: ProposedChange = { kind: 'patch', resourceType: 'Observation', id: 'o1', patch: [{ op: 'replace', path: '/valueQuantity/value', value: 80 }] };
  assert.deepEqual([evaluatePolicy(p, input(valuePatch, app, withConsent)).decision], ['review']);
  // An update with the current copy known: only the changed fields count.
  const upd: ProposedChange = { kind: 'update', resourceType: 'Observation', id: 'o1', resource: { ...vitals, status: 'amended' } };
  assert.equal(evaluatePolicy(p, input(upd, app, { ...withConsent, before: vitals })).decision, 'auto');
  assert.equal(evaluatePolicy(p, input(upd, app, withConsent)).decision, 'review', 'without the current copy every element counts');
  // field + equals: a final note goes to review, a preliminary one is auto on epic-*.
  assert.equal(evaluatePolicy(p, input(create(note), app, withConsent)).decision, 'auto');
  const fin = evaluatePolicy(p, input(create({ ...note, docStatus: 'final' }), app, withConsent));
  assert.deepEqual([fin.decision, fin.rule], ['review', 'final-notes-review']);
  // Tenant + EHR exact beats an EHR glob.
  const b = evaluatePolicy(p, input(create(note), app, { ...withConsent, tenant: 'b' }));
  assert.deepEqual([b.decision, b.rule], ['deny', 'notes-tenant-b']);
  // Another EHR: no note rule, default deny.
  assert.equal(evaluatePolicy(p, input(create(note), app, { ...withConsent, ehr: 'oracle' })).decision, 'deny');
});

// MDM^T02 written for these tests (made-up identifiers).
const mdm = (txa17: string): ProposedChange => ({
  kind: 'hl7v2',
  message: ['MSH|^~\\&|SWB|HOSP|EHR|HOSP|20240305103000||MDM^T02^MDM_T02|MDM-1|P|2.5.1', 'EVN|T02|20240305103000', 'PID|1||MRN1^^^HOSP^MR', `TXA|1|CN|TX|20240305103000${'|'.repeat(13)}${txa17}`].join('\r'),
});

void test('HL7 v2 changes match by message type, and HL7 field rules', () => {
  const p = parsePolicy(SITE, 'site');
  assert.equal(changeResourceType(mdm('IP')), 'MDM^T02');
  const ip = evaluatePolicy(p, input(mdm('IP'), app, { consent: 'permit' }));
  assert.deepEqual([ip.decision, ip.rule], ['auto', 'mdm']);
  const au = evaluatePolicy(p, input(mdm('AU'), app, { consent: 'permit' }));
  assert.deepEqual([au.decision, au.rule], ['review', 'mdm-authenticated']);
  const bad = evaluatePolicy(p, input({ kind: 'hl7v2', message: 'not hl7' }, app, { consent: 'permit' }));
  assert.equal(bad.decision, 'deny');
  assert.equal(bad.violations[0]?.path, 'change.message');
});

void test('validation rules: required, allowed codes, ranges -> deny with violations', () => {
  const p = parsePolicy(SITE, 'site');
  const bad: FhirResource = { ...vitals, code: { coding: [{ system: 'http://loinc.org', code: '2339-0' }] }, valueQuantity: { value: 400 } };
  const { subject: _s, ...noSubject } = bad;
  const d = evaluatePolicy(p, input(create(noSubject), app, { consent: 'permit' }));
  assert.equal(d.decision, 'deny');
  assert.equal(d.rule, 'obs');
  assert.deepEqual(
    d.violations.map((v) => [v.path, v.rule]),
    [
      ['subject.exists()', 'obs'],
      ['code.coding', 'obs'],
      ['valueQuantity.value', 'obs'],
    ],
  );
  assert.match(d.violations[2]?.message ?? '', /above the maximum 300/);
  // Globbed codes are allowed.
  assert.deepEqual(evaluatePolicy(p, input(create({ ...vitals, code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] } }), app, { consent: 'permit' })).violations, []);
  // A patch without the current copy: the values it writes are checked; a removed required element is caught.
  const high: ProposedChange = { kind: 'patch', resourceType: 'Observation', id: 'o1', patch: [{ op: 'replace', path: '/valueQuantity/value', value: -5 }] };
  assert.match(evaluatePolicy(p, input(high, app, { consent: 'permit' })).violations[0]?.message ?? '', /below the minimum 0/);
  const rm: ProposedChange = { kind: 'patch', resourceType: 'Observation', id: 'o1', patch: [{ op: 'remove', path: '/subject' }] };
  assert.equal(evaluatePolicy(p, input(rm, app, { consent: 'permit' })).violations[0]?.path, 'subject.exists()');
  // With the current copy: the patched resource is validated whole.
  const ok: ProposedChange = { kind: 'patch', resourceType: 'Observation', id: 'o1', patch: [{ op: 'replace', path: '/valueQuantity/value', value: 75 }] };
  const okDecision = evaluatePolicy(p, input(ok, app, { consent: 'permit', before: vitals }));
  assert.deepEqual([okDecision.decision, okDecision.violations], ['review', []]);
  const notApplying: ProposedChange = { kind: 'patch', resourceType: 'Observation', id: 'o1', patch: [{ op: 'remove', path: '/nope' }] };
  assert.equal(evaluatePolicy(p, input(notApplying, app, { consent: 'permit', before: vitals })).decision, 'deny');
});

void test('consent and actor floors', () => {
  const p = parsePolicy(SITE, 'site');
  const { valueQuantity: _v, ...noValue } = vitals;
  const denied = evaluatePolicy(p, input(create(noValue), app, { consent: 'deny' }));
  assert.deepEqual([denied.decision, denied.rule], ['deny', 'consent']);
  // whenNone: review raises auto to review when no consent is on record.
  const none = evaluatePolicy(p, input(create(noValue), app, { consent: 'none' }));
  assert.deepEqual([none.decision, none.rule], ['review', 'consent']);
  assert.equal(evaluatePolicy(p, input(create(noValue), app, { consent: 'permit' })).decision, 'auto');
  // An AI agent's proposals are at least review, whatever the routing says.
  const ai = evaluatePolicy(p, input(create(noValue), agent, { consent: 'permit' }));
  assert.deepEqual([ai.decision, ai.rule], ['review', 'agents-review']);
  assert.equal(ai.reasons.length, 2);
  // An explicit deny actor rule refuses the proposal.
  const legacy = evaluatePolicy(p, input(mdm('IP'), agent, { consent: 'permit', ehr: 'legacy' }));
  assert.deepEqual([legacy.decision, legacy.rule], ['deny', 'no-agent-notes-on-legacy']);
});

void test('authorizeAction: agents only draft, reviewers approve and sign, services never write notes', () => {
  const p = parsePolicy(DEFAULT_POLICY_YAML, 'default');
  const at = { resourceType: 'DocumentReference', tenant: 'default', ehr: 'epic-sim' };
  assert.equal(authorizeAction(p, { ...at, action: 'propose', actor: agent }).allowed, true);
  for (const action of ['approve', 'sign', 'edit', 'reject'] as const) {
    const r = authorizeAction(p, { ...at, action, actor: agent });
    assert.equal(r.allowed, false, action);
    assert.match(r.reason, /no actor rule allows agent/);
    assert.equal(authorizeAction(p, { ...at, action, actor: reviewer }).allowed, true, action);
    assert.equal(authorizeAction(p, { ...at, action, actor: clerk }).allowed, false, `${action} by a user without the reviewer role`);
    assert.equal(authorizeAction(p, { ...at, action, actor: app }).allowed, false, `${action} by an app`);
  }
  const svc = authorizeAction(p, { ...at, action: 'propose', actor: service });
  assert.equal(svc.allowed, false);
  assert.match(svc.reason, /^services-no-notes: a service account may not write clinical notes/);
  assert.equal(authorizeAction(p, { ...at, resourceType: 'MDM^T02', action: 'propose', actor: service }).allowed, false);
  assert.equal(authorizeAction(p, { ...at, resourceType: 'Observation', action: 'propose', actor: service }).allowed, true);
});

void test('loadPolicyFile reads a file; the documented example parses', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-policy-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, SITE);
  const p = await loadPolicyFile(file);
  assert.equal(p.source, 'p.yaml');
  assert.equal(p.rules.length, 7);
  await assert.rejects(loadPolicyFile(join(dir, 'missing.yaml')), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_IO_READ_FAILED');
  const example = await loadPolicyFile(fileURLToPath(new URL('../../docs/examples/writeback-policy.yaml', import.meta.url)));
  assert.equal(evaluatePolicy(example, input(create(vitals), agent, { consent: 'permit' })).decision, 'review');
  assert.equal(evaluatePolicy(example, input(create({ resourceType: 'Patient' }), app, { consent: 'permit' })).decision, 'deny');
});
