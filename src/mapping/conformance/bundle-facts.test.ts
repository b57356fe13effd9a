import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractFacts, normaliseDecimal, normaliseSystem, normaliseTime, sameTime, type Fact } from './bundle-facts.ts';
import { compareFacts, matchedShare } from './fact-compare.ts';
import { fhirXmlToJson } from './fhir-xml.ts';

const bundle = (...resources: object[]): object => ({ resourceType: 'Bundle', type: 'transaction', entry: resources.map((resource) => ({ resource })) });

const facts = (b: object, kind: string): Fact[] => extractFacts(b).filter((f) => f.kind === kind);

void test('normalisers: decimals, systems, times', () => {
  assert.equal(normaliseDecimal('190.0'), '190');
  assert.equal(normaliseDecimal('0.50'), '0.5');
  assert.equal(normaliseDecimal('+007.10'), '7.1');
  assert.equal(normaliseDecimal('-0.0'), '0');
  assert.equal(normaliseDecimal('abc'), 'abc');
  assert.equal(normaliseSystem('urn:oid:2.16.840.1.113883.6.1'), 'http://loinc.org');
  assert.equal(normaliseSystem('LN'), 'http://loinc.org');
  assert.equal(normaliseSystem('urn:oid:2.16.840.1.113883.12.203'), 'http://terminology.hl7.org/CodeSystem/v2-0203');
  assert.equal(normaliseSystem('http://example.com/v2-to-fhir-converter/CodeSystem/99zzz'), 'local:99ZZZ');
  assert.equal(normaliseSystem('urn:switchboard:local:99zzz'), 'local:99ZZZ');
  assert.equal(normaliseSystem('urn:switchboard:local:cs:99zzz'), 'local:99ZZZ');
  assert.equal(normaliseTime('2015-06-01T13:58:23.000+00:00'), '2015-06-01T13:58:23Z');
  assert.equal(normaliseTime('2015-06-01T13:58:23.120Z'), '2015-06-01T13:58:23.12Z');
});

void test('sameTime: instants when both are zoned, else a text prefix', () => {
  assert.ok(sameTime('2015-06-01T13:58:23+01:00', '2015-06-01T12:58:23Z'));
  assert.ok(!sameTime('2015-06-01T13:58:23+01:00', '2015-06-01T13:58:23Z'));
  assert.ok(sameTime('2015-06-01', '2015-06-01T13:58:23+01:00'));
  assert.ok(sameTime('2015-06-01T13:58:23', '2015-06-01T13:58:23-05:00'));
  assert.ok(!sameTime('2015-06-02', '2015-06-01T13:58:23Z'));
});

void test('extractFacts: counts, patient, encounter, observation, document', () => {
  const b = bundle(
    {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1', type: { coding: [{ code: 'MR' }] } }, { value: 'X9' }],
      name: [{ family: 'Doe', given: ['Jane', 'Q'] }],
      birthDate: '1970-06-01',
      gender: 'female',
    },
    { resourceType: 'Encounter', class: { code: 'IMP' }, period: { start: '2024-01-02T03:04:05-05:00' } },
    { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'urn:oid:2.16.840.1.113883.6.1', code: '8302-2' }] }, valueQuantity: { value: 190.0, unit: 'centimeter', code: 'cm' }, effectiveDateTime: '2024-01-02' },
    { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'L', code: 'X' }] }, valueCodeableConcept: { coding: [{ code: '260373001' }] } },
    { resourceType: 'Observation', status: 'final', code: { coding: [{ code: 'T' }] }, valueTime: '22:31:00.0000' },
    { resourceType: 'DocumentReference', status: 'current', docStatus: 'preliminary', type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] } },
  );
  const all = extractFacts(b);
  const find = (kind: string, key = ''): string[] => all.filter((f) => f.kind === kind && f.key === key).map((f) => f.value);
  assert.deepEqual(find('count', 'Observation'), ['3']);
  assert.deepEqual(find('Observation.value', 'T'), ['tm:223100']);
  assert.deepEqual(find('Patient.identifier').sort(), ['MRN1', 'X9']);
  assert.deepEqual(find('Patient.identifier.type', 'MRN1'), ['MR']);
  assert.deepEqual(find('Patient.identifier.type', 'X9'), []);
  assert.deepEqual(find('Patient.name.given', 'Doe'), ['Jane Q']);
  assert.deepEqual(find('Patient.birthDate'), ['1970-06-01']);
  assert.deepEqual(find('Encounter.class'), ['IMP']);
  assert.deepEqual(find('Observation.code').sort(), ['L|X', 'http://loinc.org|8302-2', '|T']);
  assert.deepEqual(find('Observation.value', '8302-2'), ['q:190']);
  assert.deepEqual(find('Observation.unit', '8302-2'), ['cm']);
  assert.deepEqual(find('Observation.value', 'X'), ['cc:260373001']);
  assert.deepEqual(find('DocumentReference.docStatus'), ['preliminary']);
  assert.deepEqual(find('DocumentReference.type'), ['http://loinc.org|11506-3']);
});

void test('compareFacts: matched, differing, missing, extra; times by instant', () => {
  const expected = bundle(
    { resourceType: 'Patient', gender: 'male', birthDate: '1980-01-01', identifier: [{ value: 'A' }, { value: 'B' }] },
    { resourceType: 'Encounter', class: { code: 'EMER' }, period: { start: '2024-01-02T08:00:00+00:00' } },
  );
  const ours = bundle(
    { resourceType: 'Patient', gender: 'female', birthDate: '1980-01-01', identifier: [{ value: 'A' }, { value: 'C' }, { value: 'D' }] },
    { resourceType: 'Encounter', class: { code: 'EMER' }, period: { start: '2024-01-02T03:00:00-05:00' } },
    { resourceType: 'Provenance' },
  );
  const c = compareFacts(extractFacts(expected), extractFacts(ours));
  assert.deepEqual(
    c.differing.map((d) => [d.kind, d.expected, d.ours]),
    [
      ['Patient.identifier', 'B', 'C'],
      ['Patient.gender', 'male', 'female'],
    ],
  );
  assert.deepEqual(c.missing, []);
  assert.deepEqual(
    c.extra.map((d) => [d.kind, d.key, d.ours]),
    [
      ['Patient.identifier', '', 'D'],
      ['count', 'Provenance', '1'],
    ],
  );
  // identifier A, birthDate, class, start (same instant), counts of Patient and Encounter.
  assert.equal(c.matched, 6);
  assert.equal(matchedShare(c), 6 / 8);
  const none = compareFacts(extractFacts(expected), []);
  assert.equal(none.matched, 0);
  assert.equal(none.missing.length, extractFacts(expected).length);
});

void test('fhirXmlToJson: resources, primitives, repeats, narrative skipped', () => {
  const xml = `<?xml version="1.0"?><Bundle xmlns="http://hl7.org/fhir"><type value="batch"/><entry><resource><Patient xmlns="http://hl7.org/fhir">
    <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p><span>x</span></p></div></text>
    <identifier><value value="A&amp;B"/></identifier><name><family value="Doe"/><given value="J"/><given value="Q"/></name><gender value="male"/></Patient></resource></entry>
    <entry><resource><Observation><status value="final"/><code><coding><code value="1-8"/></coding></code><valueString value="ok"/></Observation></resource></entry></Bundle>`;
  const json = fhirXmlToJson(xml);
  assert.deepEqual(facts(json as object, 'Patient.identifier').map((f) => f.value), ['A&B']);
  assert.deepEqual(facts(json as object, 'Patient.name.given').map((f) => f.value), ['J Q']);
  assert.deepEqual(facts(json as object, 'Observation.value').map((f) => [f.key, f.value]), [['1-8', 'string:ok']]);
  assert.deepEqual(facts(json as object, 'count').map((f) => `${f.key}=${f.value}`).sort(), ['Observation=1', 'Patient=1']);
  assert.throws(() => fhirXmlToJson('<Bundle><entry></Bundle>'), /unexpected/);
});
