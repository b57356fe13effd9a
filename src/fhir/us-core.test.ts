import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { US_CORE_PROFILES, usCoreProfilesFor, validateUsCore } from './us-core.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const corpusRoot = resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');
const US = 'http://hl7.org/fhir/us/core/StructureDefinition/';

const patient = (): Patient => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1' }],
  name: [{ family: 'Testperson', given: ['Sam'] }],
  gender: 'female',
});

const bloodPressure = (): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9' }] },
  subject: { reference: 'Patient/p1' },
  effectiveDateTime: '2024-05-01T10:00:00Z',
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
  ],
});

test('a US Core Patient passes; one without identifier, name and gender fails at each element', () => {
  assert.deepEqual(validateUsCore(patient()), { valid: true, issues: [], profiles: [`${US}us-core-patient`] });
  const r = validateUsCore({ resourceType: 'Patient', birthDate: '1970-01-01' });
  assert.equal(r.valid, false);
  assert.deepEqual(r.issues.map((i) => [i.code, i.expression]), [
    ['required', 'Patient.identifier'],
    ['required', 'Patient.name'],
    ['required', 'Patient.gender'],
  ]);
  assert.ok(r.issues.every((i) => i.diagnostics.startsWith('US Core Patient (')));
});

test('element rules are located at the failing entry and never carry values', () => {
  const p = { ...patient(), identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1' }, { value: 'SECRET-ID' }], name: [{ text: 'SECRET NAME' }] };
  const r = validateUsCore(p);
  assert.deepEqual(r.issues.map((i) => i.expression), ['Patient.identifier[1].system', 'Patient.name[0]']);
  assert.match(r.issues[1]?.diagnostics ?? '', /us-core-6/);
  assert.ok(!JSON.stringify(r.issues).includes('SECRET'));
  // us-core-6: a data-absent-reason extension stands for a missing name.
  const absent = { ...patient(), name: [{ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] }] };
  assert.equal(validateUsCore(absent).valid, true);
});

test('US Core 8 dropped Patient.gender 1..1: a resource declaring 8+ may omit it', () => {
  const { gender: _g, ...noGender } = patient();
  assert.equal(validateUsCore({ ...noGender, meta: { profile: [`${US}us-core-patient|9.0.0`] } }).valid, true);
  assert.equal(validateUsCore({ ...noGender, meta: { profile: [`${US}us-core-patient|6.1.0`] } }).valid, false);
  assert.equal(validateUsCore(noGender).valid, false);
});

test('the profile comes from meta.profile, else from the type and category or code', () => {
  assert.deepEqual(usCoreProfilesFor(bloodPressure()).map((p) => p.url), [`${US}us-core-blood-pressure`, `${US}us-core-vital-signs`]);
  assert.equal(validateUsCore(bloodPressure()).valid, true);
  const lab = { ...bloodPressure(), category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }] };
  assert.deepEqual(usCoreProfilesFor(lab).map((p) => p.url), [`${US}us-core-observation-lab`]);
  const declared = { ...lab, meta: { profile: [`${US}us-core-observation-lab|6.1.0`, 'http://example.org/other'] } };
  assert.deepEqual(usCoreProfilesFor(declared).map((p) => p.url), [`${US}us-core-observation-lab`]);
  assert.deepEqual(usCoreProfilesFor({ resourceType: 'Condition', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] }] }).map((p) => p.url), [`${US}us-core-condition-encounter-diagnosis`]);
  assert.deepEqual(usCoreProfilesFor({ resourceType: 'DiagnosticReport' }).map((p) => p.url), [`${US}us-core-diagnosticreport-note`]);
  const none = validateUsCore({ resourceType: 'Observation', status: 'final', code: { text: 'x' } });
  assert.deepEqual([none.valid, none.profiles, none.issues.map((i) => [i.severity, i.code])], [true, [], [['warning', 'not-supported']]]);
});

test('vital signs: fixed LOINC codes, UCUM units and the BP components are checked', () => {
  const noDiastolic = { ...bloodPressure(), component: bloodPressure().component?.slice(0, 1) };
  assert.deepEqual(validateUsCore(noDiastolic).issues.map((i) => i.expression), ['Observation.component']);
  const comps = bloodPressure().component ?? [];
  const wrongUnit = { ...bloodPressure(), component: [comps[0], { ...comps[1], valueQuantity: { value: 80, system: 'http://unitsofmeasure.org', code: 'kPa' } }] };
  assert.equal(validateUsCore(wrongUnit).valid, false);
  const { category: _c, effectiveDateTime: _e, ...bare } = bloodPressure();
  assert.deepEqual(validateUsCore({ ...bare, meta: { profile: [`${US}us-core-blood-pressure`] } }).issues.map((i) => i.expression), ['Observation.category', 'Observation.effective']);
  const heartRate = { ...bare, category: bloodPressure().category, effectiveDateTime: '2024-05', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, valueQuantity: { value: 60, system: 'http://unitsofmeasure.org', code: 'kg' } };
  delete (heartRate as Observation).component;
  assert.deepEqual(validateUsCore(heartRate).issues.map((i) => i.expression), ['Observation.valueQuantity', 'Observation.effective']);
});

/** The profiles the brief asks for; each must be exercised by at least one corpus example. */
const REQUIRED_PROFILES = [
  'us-core-patient',
  'us-core-observation-lab',
  'us-core-blood-pressure',
  'us-core-heart-rate',
  'us-core-encounter',
  'us-core-condition-encounter-diagnosis',
  'us-core-condition-problems-health-concerns',
  'us-core-allergyintolerance',
  'us-core-diagnosticreport-lab',
  'us-core-diagnosticreport-note',
  'us-core-documentreference',
  'us-core-immunization',
  'us-core-procedure',
  'us-core-practitioner',
  'us-core-organization',
  'us-core-servicerequest',
];

test('every US Core example whose declared profile is covered passes', (t) => {
  const dir = join(corpusRoot, 'fhir', 'us-core-examples');
  if (!existsSync(dir)) {
    t.skip(`corpus not found at ${dir} (set SWITCHBOARD_CORPUS)`);
    return;
  }
  const rows = new Map<string, { examples: number; passed: number }>();
  const failures: string[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const resource = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { meta?: { profile?: string[] } };
    const declared = (resource.meta?.profile ?? []).map((p) => p.split('|')[0]);
    const profile = usCoreProfilesFor(resource)[0];
    if (profile === undefined || !declared.includes(profile.url)) continue;
    const r = validateUsCore(resource);
    const row = rows.get(profile.url) ?? { examples: 0, passed: 0 };
    row.examples++;
    if (r.valid) row.passed++;
    else failures.push(`${f}: ${r.issues.map((i) => `${i.expression} ${i.diagnostics}`).join('; ')}`);
    rows.set(profile.url, row);
  }
  t.diagnostic('profile                                                   examples  passed');
  for (const [url, { examples, passed }] of [...rows].sort()) t.diagnostic(`${url.slice(US.length).padEnd(56)} ${String(examples).padStart(9)} ${String(passed).padStart(7)}`);
  assert.deepEqual(failures, []);
  for (const id of REQUIRED_PROFILES) assert.ok(rows.has(`${US}${id}`), `no corpus example for ${id}`);
  assert.ok(rows.size >= 25);
});

test('every profile has rules or a parent, and a page to cite', () => {
  for (const p of US_CORE_PROFILES) {
    assert.ok(p.rules.length > 0 || p.parent !== undefined, p.url);
    assert.match(p.page, /^StructureDefinition-.+\.html$/);
  }
});
