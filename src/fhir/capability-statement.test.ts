import assert from 'node:assert/strict';
import { test } from 'node:test';
import { searchParameter } from './search-parameters.ts';
import { createHash } from 'node:crypto';
import { advertisedSearchParameters, capabilityStatement, capabilityStatementJson, capabilityStatementTag, supportedResourceTypes } from './capability-statement.ts';

test('the types of issue 5 are served with the parameters it names', () => {
  const types = supportedResourceTypes();
  const wanted: Record<string, string[]> = {
    Patient: ['identifier', 'name', 'family', 'given', 'birthdate', 'gender', 'address', 'telecom'],
    Observation: ['patient', 'subject', 'code', 'category', 'date', 'status', 'value-quantity'],
    Provenance: ['target'],
    AuditEvent: ['entity', 'agent', 'date', 'type'],
  };
  for (const t of ['Encounter', 'DiagnosticReport', 'ServiceRequest', 'DocumentReference', 'Condition', 'AllergyIntolerance', 'Procedure', 'Immunization', 'Appointment', 'Coverage', 'RelatedPerson', 'Practitioner', 'Organization', 'Location', 'Specimen', 'Consent']) {
    assert.ok(types.has(t), t);
  }
  for (const [type, params] of Object.entries(wanted)) {
    const advertised = new Set(advertisedSearchParameters(type).map((p) => p.name));
    for (const p of params) assert.ok(advertised.has(p), `${type}.${p}`);
    assert.ok(advertised.has('_id') && advertised.has('_lastUpdated'), type);
  }
});

test('every advertised parameter is one the parser and index know; phonetic is withheld', () => {
  const cs = capabilityStatement('http://x/fhir/R4') as { rest: Array<{ resource: Array<{ type: string; searchParam: Array<{ name: string }> }> }> };
  for (const r of cs.rest[0]?.resource ?? []) for (const p of r.searchParam) assert.ok(searchParameter(r.type, p.name) !== undefined, `${r.type}.${p.name}`);
  assert.ok(!advertisedSearchParameters('Patient').some((p) => p.name === 'phonetic'));
  assert.ok(searchParameter('Patient', 'phonetic') !== undefined, 'indexed, yet not advertised');
});

test('the statement as text is the statement of that base URL', () => {
  const a = capabilityStatementJson('https://a.example/fhir/R4');
  assert.deepEqual(JSON.parse(a), capabilityStatement('https://a.example/fhir/R4'));
  const b = capabilityStatementJson('https://b.example/fhir/R4');
  assert.equal((JSON.parse(b) as { implementation: { url: string } }).implementation.url, 'https://b.example/fhir/R4');
  assert.notEqual(b, a);
});

test('the statement\'s entity tag is a digest of its text: the same for the same base URL, another for another', () => {
  const a = capabilityStatementTag('http://a.example/fhir/R4');
  assert.equal(a, createHash('sha256').update(capabilityStatementJson('http://a.example/fhir/R4')).digest('base64url').slice(0, 22));
  assert.equal(capabilityStatementTag('http://a.example/fhir/R4'), a);
  const b = capabilityStatementTag('http://b.example/fhir/R4');
  assert.notEqual(b, a);
  assert.equal(capabilityStatementTag('http://a.example/fhir/R4'), a, 'back to the first base URL');
});

test('statements are kept for a few base URLs at once: alternating hosts reuse them; past the bound the oldest is rebuilt, to the same text', () => {
  const a = capabilityStatement('http://host-a.example/fhir/R4');
  const textA = capabilityStatementJson('http://host-a.example/fhir/R4');
  capabilityStatement('http://host-b.example/fhir/R4');
  assert.equal(capabilityStatement('http://host-a.example/fhir/R4'), a, 'the same object after another base URL');
  assert.equal(capabilityStatementJson('http://host-a.example/fhir/R4'), textA);
  for (let i = 0; i < 12; i++) capabilityStatement(`http://many-${i}.example/fhir/R4`);
  const rebuilt = capabilityStatement('http://host-a.example/fhir/R4');
  assert.notEqual(rebuilt, a, 'evicted after many other base URLs, then built again');
  assert.equal(capabilityStatementJson('http://host-a.example/fhir/R4'), textA, 'to the same text');
});
