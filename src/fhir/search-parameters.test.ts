import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_INSTANT, type FhirResource, type IndexEntry } from '../core/ports/resource-store.ts';
import { FhirSearchIndexer, parseReference, searchParameter, searchParametersFor, uncompiledParameters } from './search-parameters.ts';
import { dateRange, decimalRange } from './search-values.ts';

/** The parameters issue 5 asks for, per type (FHIR R4 search parameter registry). */
const REQUIRED: Record<string, string[]> = {
  Patient: ['identifier', 'name', 'family', 'given', 'birthdate', 'gender', 'address', 'telecom'],
  Encounter: ['patient', 'subject', 'date', 'status', 'class', 'type', 'identifier'],
  Observation: ['patient', 'subject', 'code', 'category', 'date', 'status', 'value-quantity'],
  DiagnosticReport: ['patient', 'subject', 'code', 'category', 'date', 'status', 'result'],
  ServiceRequest: ['patient', 'subject', 'code', 'status', 'authored'],
  DocumentReference: ['patient', 'subject', 'type', 'date', 'status'],
  Condition: ['patient', 'subject', 'code', 'clinical-status', 'onset-date'],
  AllergyIntolerance: ['patient', 'code', 'clinical-status'],
  Procedure: ['patient', 'subject', 'code', 'date', 'status'],
  Immunization: ['patient', 'vaccine-code', 'date', 'status'],
  Appointment: ['patient', 'actor', 'date', 'status'],
  Coverage: ['patient', 'beneficiary', 'payor', 'status'],
  RelatedPerson: ['patient', 'name', 'identifier'],
  Practitioner: ['identifier', 'name', 'family'],
  Organization: ['identifier', 'name'],
  Location: ['identifier', 'name', 'address'],
  Specimen: ['patient', 'subject', 'type', 'collected'],
  Provenance: ['target', 'patient', 'agent', 'recorded'],
  AuditEvent: ['entity', 'agent', 'date', 'type', 'patient', 'subtype'],
  Consent: ['patient', 'status', 'scope', 'category', 'date'],
};

const indexer = new FhirSearchIndexer();
const of = (entries: IndexEntry[], param: string): IndexEntry[] => entries.filter((e) => e.param === param);

describe('search parameter definitions', () => {
  test('every required parameter exists on its type, plus _id and _lastUpdated, and every expression compiles', () => {
    for (const [type, codes] of Object.entries(REQUIRED)) {
      for (const code of [...codes, '_id', '_lastUpdated']) assert.ok(searchParameter(type, code) !== undefined, `${type}.${code}`);
      indexer.index({ resourceType: type });
    }
    assert.deepEqual([...uncompiledParameters.keys()], []);
    assert.equal(searchParameter('Patient', 'birthdate')?.type, 'date');
    assert.equal(searchParameter('Patient', 'birthdate')?.expression, 'Patient.birthDate', 'only the part of a multi-base expression for the type');
    assert.equal(searchParameter('Patient', '_id')?.expression, 'Patient.id', 'Resource.* is rewritten to the type');
    assert.ok(searchParameter('Observation', 'code-value-quantity') === undefined, 'composite parameters are not indexed');
    assert.deepEqual([...searchParametersFor('NoSuchType').keys()].sort(), ['_id', '_lastUpdated', '_profile', '_security', '_source', '_tag'], 'a type without definitions has the Resource parameters only');
  });
});

describe('index extraction (FHIRPath)', () => {
  const patient: FhirResource = {
    resourceType: 'Patient',
    id: 'p1',
    meta: { lastUpdated: '2026-01-05T08:00:00.000Z', profile: ['http://example.org/p'] },
    identifier: [{ system: 'urn:mrn', value: 'M1', type: { text: 'Medical record number' } }, { value: 'NO-SYS' }],
    name: [{ use: 'official', family: 'Ünal', given: ['Zoë', 'Ann'], prefix: ['Dr.'] }],
    telecom: [{ system: 'email', value: 'z@example.org' }],
    gender: 'female',
    birthDate: '1980-02',
    address: [{ line: ['1 Main St'], city: 'Boston', postalCode: '02115' }],
    managingOrganization: { reference: 'https://other.example/fhir/Organization/o9' },
  };

  test('Patient: tokens, normalised strings, a date range honouring precision, references, uris', () => {
    const entries = indexer.index(patient);
    assert.deepEqual(of(entries, 'identifier'), [
      { kind: 'token', param: 'identifier', system: 'urn:mrn', code: 'M1', text: 'medical record number' },
      { kind: 'token', param: 'identifier', system: undefined, code: 'NO-SYS', text: undefined },
    ]);
    assert.deepEqual(
      of(entries, 'family').map((e) => (e.kind === 'string' ? [e.value, e.exact] : [])),
      [['unal', 'Ünal']],
    );
    assert.deepEqual(
      of(entries, 'name').map((e) => (e.kind === 'string' ? e.value : '')),
      ['unal', 'zoe', 'ann', 'dr.'],
      'name covers family, given and prefix but not use',
    );
    assert.deepEqual(of(entries, 'birthdate'), [{ kind: 'date', param: 'birthdate', low: Date.parse('1980-02-01T00:00:00Z'), high: Date.parse('1980-03-01T00:00:00Z') - 1 }]);
    assert.deepEqual(of(entries, 'email'), [{ kind: 'token', param: 'email', system: 'email', code: 'z@example.org', text: undefined }]);
    assert.deepEqual(of(entries, 'phone'), []);
    assert.deepEqual(of(entries, 'organization'), [{ kind: 'reference', param: 'organization', targetType: 'Organization', targetId: 'o9', url: 'https://other.example/fhir/Organization/o9' }]);
    assert.deepEqual(of(entries, '_profile'), [{ kind: 'uri', param: '_profile', value: 'http://example.org/p' }]);
    assert.deepEqual(of(entries, '_lastUpdated'), [{ kind: 'date', param: '_lastUpdated', low: Date.parse('2026-01-05T08:00:00.000Z'), high: Date.parse('2026-01-05T08:00:00.000Z') }]);
    assert.deepEqual(of(entries, '_id'), [{ kind: 'token', param: '_id', system: undefined, code: 'p1', text: undefined }]);
    assert.equal(new Set(entries.map((e) => JSON.stringify(e))).size, entries.length, 'no duplicate entries');
  });

  test('Observation: where(resolve() is Patient) keeps only Patient references; quantity; CodeableConcept text; open Period', () => {
    const base = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }], text: 'Pulse' },
      valueQuantity: { value: 72, unit: 'beats/min', system: 'http://unitsofmeasure.org', code: '/min' },
      effectivePeriod: { start: '2024-03-01T10:00:00+01:00' },
    };
    const toPatient = indexer.index({ ...base, subject: { reference: 'Patient/p1' } });
    assert.deepEqual(of(toPatient, 'patient'), [{ kind: 'reference', param: 'patient', targetType: 'Patient', targetId: 'p1', url: undefined }]);
    const toGroup = indexer.index({ ...base, subject: { reference: 'Group/g1' } });
    assert.deepEqual(of(toGroup, 'patient'), []);
    assert.deepEqual(of(toGroup, 'subject'), [{ kind: 'reference', param: 'subject', targetType: 'Group', targetId: 'g1', url: undefined }]);
    assert.deepEqual(of(toPatient, 'code'), [
      { kind: 'token', param: 'code', system: 'http://loinc.org', code: '8867-4', text: 'heart rate' },
      { kind: 'token', param: 'code', system: undefined, code: undefined, text: 'pulse' },
    ]);
    assert.deepEqual(of(toPatient, 'value-quantity'), [{ kind: 'quantity', param: 'value-quantity', value: 72, system: 'http://unitsofmeasure.org', code: '/min', unit: 'beats/min' }]);
    assert.deepEqual(of(toPatient, 'date'), [{ kind: 'date', param: 'date', low: Date.parse('2024-03-01T09:00:00Z'), high: MAX_INSTANT }]);
  });

  test('a malformed resource yields what it can and never throws', () => {
    const entries = indexer.index({ resourceType: 'Observation', status: 'final', code: 'not-a-codeable-concept', subject: { reference: 42 }, effectiveDateTime: 'yesterday' } as unknown as FhirResource);
    assert.deepEqual(of(entries, 'status'), [{ kind: 'token', param: 'status', system: undefined, code: 'final', text: undefined }]);
    assert.deepEqual(of(entries, 'date'), []);
    assert.deepEqual(of(entries, 'subject'), []);
  });

  test('references: relative, absolute, versioned, contained, urn', () => {
    assert.deepEqual(parseReference('Patient/1'), { type: 'Patient', id: '1', url: undefined });
    assert.deepEqual(parseReference('Patient/1/_history/2'), { type: 'Patient', id: '1', url: undefined });
    assert.deepEqual(parseReference('http://x/fhir/Patient/1'), { type: 'Patient', id: '1', url: 'http://x/fhir/Patient/1' });
    assert.deepEqual(parseReference('#c1'), { type: undefined, id: undefined, url: undefined });
    assert.deepEqual(parseReference('urn:uuid:0f3a'), { type: undefined, id: undefined, url: 'urn:uuid:0f3a' });
  });
});

describe('search values', () => {
  test('dateRange honours precision and offsets, and refuses what is not a FHIR date', () => {
    assert.deepEqual(dateRange('2024'), { low: Date.parse('2024-01-01T00:00:00Z'), high: Date.parse('2025-01-01T00:00:00Z') - 1 });
    assert.deepEqual(dateRange('2024-02'), { low: Date.parse('2024-02-01T00:00:00Z'), high: Date.parse('2024-03-01T00:00:00Z') - 1 });
    assert.deepEqual(dateRange('2024-02-29'), { low: Date.parse('2024-02-29T00:00:00Z'), high: Date.parse('2024-03-01T00:00:00Z') - 1 });
    assert.deepEqual(dateRange('2024-02-29T10:15'), { low: Date.parse('2024-02-29T10:15:00Z'), high: Date.parse('2024-02-29T10:16:00Z') - 1 });
    assert.deepEqual(dateRange('2024-02-29T10:15:30+02:00'), { low: Date.parse('2024-02-29T08:15:30Z'), high: Date.parse('2024-02-29T08:15:30Z') + 999 });
    assert.deepEqual(dateRange('2024-02-29T10:15:30.5Z'), { low: Date.parse('2024-02-29T10:15:30.500Z'), high: Date.parse('2024-02-29T10:15:30.500Z') + 99 });
    assert.deepEqual(dateRange('2024-02-29T10:15:30.123456Z'), { low: Date.parse('2024-02-29T10:15:30.123Z'), high: Date.parse('2024-02-29T10:15:30.123Z') });
    for (const bad of ['2023-02-29', '2024-13', '24', '2024-1-1', 'today', '2024-01-01T25:00']) assert.equal(dateRange(bad), undefined, bad);
  });

  test('decimalRange gives the range of the significant digits', () => {
    assert.deepEqual(decimalRange('100'), { value: 100, low: 99.5, high: 100.5 });
    const r = decimalRange('5.40');
    assert.ok(r !== undefined && r.value === 5.4 && Math.abs(r.low - 5.395) < 1e-12 && Math.abs(r.high - 5.405) < 1e-12);
    assert.deepEqual(decimalRange('1e2'), { value: 100, low: 50, high: 150 });
    assert.equal(decimalRange('abc'), undefined);
    assert.equal(decimalRange('1.'), undefined);
  });
});
