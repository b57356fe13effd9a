import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, Encounter, Patient } from '@medplum/fhirtypes';
import { parseMessage, validateMessage } from '../../hl7v2/index.ts';
import { convertFhirToV2 } from '../fhir-to-v2.ts';

const now = (): Date => new Date('2024-03-05T12:00:00Z');

// `_birthDate` (the primitive's extensions) is not in the generated types: hence the assertion.
const patient = {
  resourceType: 'Patient',
  id: 'p1',
  identifier: [
    { system: 'urn:oid:2.16.840.1.113883.19.5', value: 'MRN1', assigner: { display: 'HOSP' }, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] } },
    { system: 'http://hl7.org/fhir/sid/us-ssn', value: '123-45-6789', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS' }] } },
    { value: 'D123', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'DL' }] }, assigner: { display: 'MA' } },
  ],
  name: [{ family: 'Doe', given: ['Jane', 'Q'], use: 'official' }, { family: 'Roe', use: 'maiden' }],
  gender: 'female',
  birthDate: '1980-02-03',
  _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1980-02-03T04:05:00-05:00' }] },
  address: [{ line: ['1 Main St'], city: 'Boston', state: 'MA', postalCode: '02110', use: 'home' }],
  telecom: [{ system: 'phone', value: '(617) 5551234', use: 'home' }, { system: 'phone', value: '(617) 5559999', use: 'work' }, { system: 'email', value: 'jd@example.org' }],
  maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }] },
  communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en' }] }, preferred: true }],
  multipleBirthInteger: 2,
  deceasedDateTime: '2024-01-01T10:00:00Z',
  extension: [
    { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Smith' },
    { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race', extension: [{ url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2106-3', display: 'White' } }, { url: 'text', valueString: 'White' }] },
    { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity', extension: [{ url: 'ombCategory', valueCoding: { system: 'urn:oid:2.16.840.1.113883.6.238', code: '2186-5', display: 'Not Hispanic or Latino' } }, { url: 'text', valueString: 'Not Hispanic' }] },
    { url: 'https://example.org/unknown-extension', valueString: 'x' },
  ],
} as Patient;

const encounter: Encounter = {
  resourceType: 'Encounter',
  id: 'e1',
  status: 'in-progress',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
  subject: { reference: 'Patient/p1' },
  identifier: [{ system: 'urn:switchboard:local:id:HOSP', value: 'V100', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'VN' }] } }],
  period: { start: '2024-03-01T08:00:00-05:00' },
  participant: [{ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'ATND' }] }], individual: { reference: 'Practitioner/dr' } }],
  location: [{ location: { reference: 'Location/bed' } }],
  type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0007', code: 'E', display: 'Emergency' }] }],
};

function adt(type: 'ADT_A31' | 'ADT_A08' | undefined, withEncounter: boolean) {
  const entry = [patient, ...(withEncounter ? [encounter, { resourceType: 'Practitioner' as const, id: 'dr', identifier: [{ value: 'D9' }], name: [{ family: 'House' }] }, { resourceType: 'Location' as const, id: 'bed', name: 'B2', physicalType: { coding: [{ code: 'bd' }] }, partOf: { reference: 'Location/room' } }, { resourceType: 'Location' as const, id: 'room', name: '201', physicalType: { coding: [{ code: 'ro' }] } }] : [])].map((resource) => ({ resource }));
  const b: Bundle = { resourceType: 'Bundle', type: 'collection', entry };
  const r = convertFhirToV2(b, { now, controlId: 'C1', ...(type !== undefined ? { type } : {}) });
  return { ...r, msg: parseMessage(r.message.toString()) };
}

describe('Patient -> ADT^A31 / A08', () => {
  it('A31 by default: EVN, PID, PV1 with class N', () => {
    const { msg } = adt(undefined, false);
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'EVN', 'PID', 'PV1']);
    assert.equal(msg.get('MSH-9'), 'ADT^A31^ADT_A05');
    assert.equal(msg.get('EVN-1'), 'A31');
    assert.equal(msg.get('PV1-2'), 'N');
    assert.deepEqual(validateMessage(msg).issues.filter((i) => i.severity === 'error').map((i) => i.message), []);
  });

  it('writes the PID fields', () => {
    const { msg } = adt('ADT_A31', false);
    assert.equal(msg.getRaw('PID-3'), 'MRN1^^^HOSP&2.16.840.1.113883.19.5&ISO^MR');
    assert.equal(msg.segment('PID')?.rawField(5), 'Doe^Jane^Q^^^^L~Roe^^^^^^M');
    assert.equal(msg.getRaw('PID-6'), 'Smith');
    assert.equal(msg.get('PID-7'), '19800203040500-0500');
    assert.equal(msg.get('PID-8'), 'F');
    assert.equal(msg.getRaw('PID-10'), '2106-3^White^CDCREC');
    assert.equal(msg.getRaw('PID-11'), '1 Main St^^Boston^MA^02110^^H');
    assert.equal(msg.segment('PID')?.rawField(13), '^PRN^PH^^^617^5551234~^NET^Internet^jd@example.org');
    assert.equal(msg.getRaw('PID-14'), '^WPN^PH^^^617^5559999');
    assert.equal(msg.getRaw('PID-15'), 'en^^ISO639');
    assert.equal(msg.getRaw('PID-16'), 'M^Married^HL70002');
    assert.equal(msg.get('PID-19'), '123-45-6789');
    assert.equal(msg.getRaw('PID-20'), 'D123^MA');
    assert.equal(msg.getRaw('PID-22'), '2186-5^Not Hispanic or Latino^CDCREC');
    assert.equal(msg.get('PID-24'), 'Y');
    assert.equal(msg.get('PID-25'), '2');
    assert.equal(msg.get('PID-29'), '20240101100000+0000');
    assert.equal(msg.get('PID-30'), 'Y');
  });

  it('A08 carries the visit in PV1; A31 does not and reports the Encounter as not sent', () => {
    const a08 = adt('ADT_A08', true);
    const m = a08.msg;
    assert.equal(m.get('MSH-9'), 'ADT^A08^ADT_A01');
    assert.equal(m.get('PV1-2'), 'I');
    assert.equal(m.getRaw('PV1-3'), '^201^B2');
    assert.equal(m.getRaw('PV1-4'), 'E^Emergency^HL70007');
    assert.equal(m.getRaw('PV1-7'), 'D9^House');
    assert.equal(m.getRaw('PV1-19'), 'V100^^^HOSP^VN');
    assert.equal(m.get('PV1-44'), '20240301080000-0500');
    assert.deepEqual(validateMessage(m).issues.filter((i) => i.severity === 'error').map((i) => i.message), []);
    const a31 = adt('ADT_A31', true);
    assert.equal(a31.msg.get('PV1-2'), 'N');
    assert.ok(a31.report.unmapped.some((u) => u.element === 'Encounter/e1'));
  });

  it('reports an extension with no PID field, and the elements it does not write', () => {
    const { report } = adt('ADT_A31', false);
    assert.ok(report.unmapped.some((u) => u.element === 'Patient/p1.extension(https://example.org/unknown-extension)'));
    assert.ok(report.mapped.includes('Patient.name -> PID-5'));
    assert.ok(report.mapped.includes('Patient.extension -> PID-10'));
    // Every report entry names an element, never a value.
    assert.ok(!JSON.stringify(report).includes('Doe'));
  });
});
