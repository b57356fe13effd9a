import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Appointment, Bundle, Patient, Resource } from '@medplum/fhirtypes';
import { parseMessage, validateMessage } from '../../hl7v2/index.ts';
import { convertFhirToV2, type FhirToV2Type } from '../fhir-to-v2.ts';
import { siuEventFor } from './siu.ts';

const now = (): Date => new Date('2024-03-05T12:00:00Z');
const patient: Patient = { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:switchboard:local:id:HOSP', value: 'MRN1' }], name: [{ family: 'Doe' }] };
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

function appt(extra: Partial<Appointment>): Appointment {
  return {
    resourceType: 'Appointment',
    id: 'a1',
    status: 'booked',
    identifier: [
      { system: 'urn:switchboard:local:id:CLINIC', value: 'P-1', type: { coding: [{ system: V2_0203, code: 'PLAC' }] } },
      { system: 'urn:switchboard:local:id:SCHED', value: 'F-1', type: { coding: [{ system: V2_0203, code: 'FILL' }] } },
    ],
    start: '2024-03-06T09:00:00-05:00',
    end: '2024-03-06T09:30:00-05:00',
    minutesDuration: 30,
    participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }],
    ...extra,
  };
}

function siu(a: Appointment, more: Resource[] = [], type?: FhirToV2Type, version?: string) {
  const b: Bundle = { resourceType: 'Bundle', type: 'collection', entry: [a, patient, ...more].map((resource) => ({ resource })) };
  const r = convertFhirToV2(b, { now, controlId: 'C1', ...(type !== undefined ? { type } : {}), ...(version !== undefined ? { version } : {}) });
  return { ...r, msg: parseMessage(r.message.toString()) };
}

describe('Appointment -> SIU', () => {
  it('picks S12 for a new booking, S15 for a cancellation, S14 otherwise', () => {
    assert.equal(siuEventFor(appt({})), 'S12');
    assert.equal(siuEventFor(appt({ meta: { versionId: '1' } })), 'S12');
    assert.equal(siuEventFor(appt({ meta: { versionId: '3' } })), 'S14');
    assert.equal(siuEventFor(appt({ status: 'cancelled' })), 'S15');
    assert.equal(siuEventFor(appt({ status: 'arrived' })), 'S14');
    assert.equal(siu(appt({ status: 'cancelled' })).msg.get('MSH-9'), 'SIU^S15^SIU_S12');
    assert.equal(siu(appt({ status: 'pending' })).msg.get('MSH-9'), 'SIU^S14^SIU_S12');
  });

  it('writes SCH ids, reason, type, duration, timing (SCH-11 and TQ1), status, and NTE from the comment', () => {
    const a = appt({
      reasonCode: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0276', code: 'ROUTINE' }] }],
      appointmentType: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0277', code: 'Normal' }] },
      comment: 'bring films',
    });
    const { msg } = siu(a);
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'SCH', 'TQ1', 'NTE', 'PID', 'RGS']);
    assert.equal(msg.getRaw('SCH-1'), 'P-1^CLINIC');
    assert.equal(msg.getRaw('SCH-2'), 'F-1^SCHED');
    assert.equal(msg.getRaw('SCH-7'), 'ROUTINE^^HL70276');
    assert.equal(msg.getRaw('SCH-8'), 'Normal^^HL70277');
    assert.equal(msg.get('SCH-9'), '30');
    assert.equal(msg.getRaw('SCH-10'), 'min^minutes^UCUM');
    assert.equal(msg.getRaw('SCH-11'), '^^^20240306090000-0500^20240306093000-0500');
    assert.equal(msg.get('SCH-25'), 'Booked');
    assert.equal(msg.get('TQ1-7'), '20240306090000-0500');
    assert.equal(msg.get('TQ1-8'), '20240306093000-0500');
    assert.equal(msg.get('NTE-3'), 'bring films');
    assert.equal(msg.get('PID-3.1'), 'MRN1');
  });

  it('leaves TQ1 out before v2.5 (SCH-11 carries the timing)', () => {
    const { msg } = siu(appt({}), [], undefined, '2.4');
    assert.ok(msg.segment('TQ1') === undefined);
    assert.equal(msg.getRaw('SCH-11'), '^^^20240306090000-0500^20240306093000-0500');
  });

  it('sends the cancelation reason as SCH-6 of an S15', () => {
    const { msg } = siu(appt({ status: 'cancelled', cancelationReason: { coding: [{ code: 'PAT', display: 'Patient request' }] } }));
    assert.equal(msg.getRaw('SCH-6'), 'PAT^Patient request');
    assert.equal(msg.get('SCH-25'), 'Cancelled');
  });

  it('maps appointment statuses to table 0278', () => {
    const cases: Array<[Appointment['status'], string]> = [['booked', 'Booked'], ['pending', 'Pending'], ['fulfilled', 'Complete'], ['checked-in', 'Started'], ['noshow', 'Noshow'], ['entered-in-error', 'Deleted'], ['waitlist', 'Waitlist']];
    for (const [status, code] of cases) assert.equal(siu(appt({ status })).msg.get('SCH-25'), code, status);
  });

  it('writes RGS with AIS per service type and AIG / AIL / AIP per participant, valid for SIU_S12', () => {
    const more: Resource[] = [
      { resourceType: 'Practitioner', id: 'dr', identifier: [{ value: 'D1' }], name: [{ family: 'Who', given: ['Doc'] }] },
      { resourceType: 'Location', id: 'room', name: 'Room 1', physicalType: { coding: [{ code: 'ro' }] }, partOf: { reference: 'Location/ward' }, type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0305', code: 'C', display: 'Clinic' }] }] },
      { resourceType: 'Location', id: 'ward', name: 'Ward A', physicalType: { coding: [{ code: 'wa' }] } },
      { resourceType: 'Device', id: 'xr', identifier: [{ system: 'urn:switchboard:local:id:EQ', value: 'XR-1' }], deviceName: [{ name: 'X-ray 1', type: 'user-friendly-name' }] },
    ];
    const a = appt({
      serviceType: [{ coding: [{ code: 'CHK', display: 'Checkup' }] }],
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { reference: 'Practitioner/dr' }, status: 'accepted', type: [{ coding: [{ code: 'ATND' }] }] },
        { actor: { reference: 'Location/room' }, status: 'tentative' },
        { actor: { reference: 'Device/xr' }, status: 'accepted' },
      ],
    });
    const { msg, report } = siu(a, more);
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'SCH', 'TQ1', 'PID', 'RGS', 'AIS', 'AIG', 'AIL', 'AIP']);
    assert.equal(msg.getRaw('AIS-3'), 'CHK^Checkup');
    assert.equal(msg.get('AIS-4'), '20240306090000-0500');
    assert.equal(msg.get('AIS-7'), '30');
    assert.equal(msg.getRaw('AIG-3'), 'XR-1^X-ray 1^EQ');
    assert.equal(msg.getRaw('AIL-3'), 'Ward A^Room 1');
    assert.equal(msg.getRaw('AIL-4'), 'C^Clinic^HL70305');
    assert.equal(msg.get('AIL-12'), 'Pending');
    assert.equal(msg.getRaw('AIP-3'), 'D1^Who^Doc');
    assert.equal(msg.getRaw('AIP-4'), 'ATND');
    assert.equal(msg.get('AIP-12'), 'Booked');
    assert.deepEqual(validateMessage(msg).issues.filter((i) => i.severity === 'error' && !i.where.startsWith('SCH')).map((i) => i.message), []);
    // SCH-6 is required and FHIR has no reason for a booking: left empty, with a warning.
    assert.ok(report.warnings.some((w) => w.startsWith('SCH-6')));
  });

  it('sends placer / filler contacts and the enterer to SCH-12/16/20', () => {
    const a = appt({
      participant: [
        { actor: { reference: 'Patient/p1' }, status: 'accepted' },
        { actor: { display: 'Placer Person' }, status: 'accepted', type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'CALLBCK' }], text: 'placer contact' }] },
        { actor: { display: 'Clerk' }, status: 'accepted', type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'ENT' }], text: 'enterer' }] },
      ],
    });
    const { msg } = siu(a);
    assert.equal(msg.getRaw('SCH-12'), '^Placer Person');
    assert.equal(msg.getRaw('SCH-20'), '^Clerk');
    assert.equal(msg.segment('AIP'), undefined);
  });
});
