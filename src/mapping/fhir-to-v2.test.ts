import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { parseMessage } from '../hl7v2/index.ts';
import { convertFhirToV2, inferV2Type } from './fhir-to-v2.ts';

const now = (): Date => new Date('2024-03-05T12:34:56Z');
const patient = { resourceType: 'Patient', id: 'p1', identifier: [{ value: 'MRN1' }], name: [{ family: 'Doe' }] } as const satisfies Resource;
const bundle = (...resources: Resource[]): Bundle => ({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) });

describe('convertFhirToV2: type inference and options', () => {
  it('infers the message type from the input', () => {
    assert.equal(inferV2Type(bundle({ resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' } }, patient)), 'ORU_R01');
    assert.equal(inferV2Type(bundle({ resourceType: 'DocumentReference', status: 'current', content: [] }, patient)), 'MDM_T02');
    assert.equal(inferV2Type({ resourceType: 'Appointment', status: 'booked', participant: [] }), 'SIU_S12');
    assert.equal(inferV2Type({ resourceType: 'Appointment', status: 'cancelled', participant: [] }), 'SIU_S15');
    assert.equal(inferV2Type({ resourceType: 'Appointment', status: 'fulfilled', participant: [] }), 'SIU_S14');
    assert.equal(inferV2Type(patient), 'ADT_A31');
  });

  it('refuses input with nothing to build a message around', () => {
    assert.throws(() => convertFhirToV2({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }), { code: 'SWB_ERR_MAP_UNSUPPORTED_RESOURCE' });
    assert.throws(() => convertFhirToV2(bundle()), { code: 'SWB_ERR_MAP_UNSUPPORTED_RESOURCE' });
    assert.throws(() => convertFhirToV2(patient, { type: 'ORU_R01' }), { code: 'SWB_ERR_MAP_UNSUPPORTED_RESOURCE' });
    assert.throws(() => convertFhirToV2(patient, { version: 'v3' }), { code: 'SWB_ERR_MAP_FHIR_INPUT' });
  });

  it('fills MSH from the options: applications, facilities, control id, time, version', () => {
    const { message } = convertFhirToV2(patient, { now, controlId: 'X1', sendingApplication: 'SWB', sendingFacility: 'HOSP', receivingApplication: 'EHR', receivingFacility: 'FAC', version: '2.7', type: 'ADT_A08' });
    const m = parseMessage(message.toString());
    assert.equal(m.get('MSH-3'), 'SWB');
    assert.equal(m.get('MSH-4'), 'HOSP');
    assert.equal(m.get('MSH-5'), 'EHR');
    assert.equal(m.get('MSH-6'), 'FAC');
    assert.equal(m.get('MSH-7'), '20240305123456+0000');
    assert.equal(m.get('MSH-9'), 'ADT^A08^ADT_A01');
    assert.equal(m.get('MSH-10'), 'X1');
    assert.equal(m.get('MSH-12'), '2.7');
    assert.equal(m.get('EVN-2'), '20240305123456+0000');
  });

  it('resolves references by Type/id, urn:uuid fullUrl and absolute URL', () => {
    const dr = { resourceType: 'DiagnosticReport', id: 'dr', status: 'final', code: { text: 'Panel' }, subject: { reference: 'https://fhir.example.org/R4/Patient/p1/_history/2' }, result: [{ reference: 'urn:uuid:0b0e' }] } as const satisfies Resource;
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'Glucose' }, valueString: 'ok' } as const satisfies Resource;
    const b: Bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: dr }, { fullUrl: 'urn:uuid:0b0e', resource: obs }, { resource: patient }] };
    const m = parseMessage(convertFhirToV2(b, { now }).message.toString());
    assert.equal(m.get('PID-3'), 'MRN1');
    assert.equal(m.get('OBX-5'), 'ok');
  });

  it('reports input resources the message does not use', () => {
    const other = { resourceType: 'Organization', id: 'o9', name: 'Unrelated' } as const satisfies Resource;
    const { report } = convertFhirToV2(bundle(patient, other), { now });
    assert.ok(report.unmapped.some((u) => u.element === 'Organization/o9' && /not referenced/.test(u.reason)));
  });
});
