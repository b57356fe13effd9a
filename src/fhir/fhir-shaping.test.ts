import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { shapeResource } from './fhir-shaping.ts';

const patient: FhirResource = {
  resourceType: 'Patient',
  id: 'p1',
  meta: { versionId: '2' },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
  name: [{ family: 'Doe' }],
  gender: 'female',
  _gender: { extension: [] },
  deceasedBoolean: false,
  photo: [{ title: 'p' }],
  contact: [{ name: { family: 'Roe' } }],
};

const subsetted = (r: FhirResource): boolean => ((r.meta?.['tag'] ?? []) as Array<{ code?: string }>).some((t) => t.code === 'SUBSETTED');

test('_summary=true keeps the summary elements (isSummary in the R4 definitions), with their _extensions and choices', () => {
  const out = shapeResource(patient, 'true', undefined) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out).sort(), ['_gender', 'deceasedBoolean', 'gender', 'id', 'meta', 'name', 'resourceType']);
  assert.ok(subsetted(out as unknown as FhirResource));
  assert.equal((out['meta'] as { versionId: string }).versionId, '2');
  assert.equal(patient.photo !== undefined && patient.meta?.['tag'] === undefined, true, 'the input is not changed');
});

test('_summary=text keeps the narrative, id, meta and mandatory elements; data drops the narrative', () => {
  const obs: FhirResource = { resourceType: 'Observation', id: 'o', text: { status: 'generated', div: '<div/>' }, status: 'final', code: { text: 'c' }, valueString: 'v', note: [{ text: 'n' }] };
  assert.deepEqual(Object.keys(shapeResource(obs, 'text', undefined)).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'text']);
  const data = shapeResource(obs, 'data', undefined) as Record<string, unknown>;
  assert.equal(data['text'], undefined);
  assert.equal(data['valueString'], 'v');
  assert.equal(shapeResource(obs, 'false', undefined), obs);
  assert.equal(shapeResource(obs, undefined, undefined), obs);
});

test('_elements keeps the named elements (bare, typed or choice name) and the mandatory ones', () => {
  const obs: FhirResource = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'c' }, valueQuantity: { value: 1 }, note: [{ text: 'n' }], subject: { reference: 'Patient/1' } };
  assert.deepEqual(Object.keys(shapeResource(obs, undefined, ['value'])).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'valueQuantity']);
  assert.deepEqual(Object.keys(shapeResource(obs, undefined, ['Observation.subject', 'valueQuantity'])).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'subject', 'valueQuantity']);
});
