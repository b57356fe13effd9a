import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Appointment, Bundle, Device, Location, Resource } from '@medplum/fhirtypes';
import { parseMessage } from '../../hl7v2/index.ts';
import { convertV2ToFhir } from '../v2-to-fhir.ts';

const now = (): Date => new Date('2024-01-01T00:00:00Z');
const MSH = (event: string): string => `MSH|^~\\&|SCHED|CLINIC|EHR|HOSP|20240301090000+0100||SIU^${event}^SIU_S12|C-${event}|P|2.5.1`;
const SCH25 = (status: string): string => `SCH|P100^PLACER|F200^FILLER|||||ROUTINE^Routine^HL70276|Normal^Normal^HL70277|30|min^minutes|^^^20240305100000+0100^20240305103000+0100||||||||||||||${status}`;
const BODY = [
  'TQ1|||||||20240305100000+0100|20240305103000+0100',
  'NTE|1||Bring your glasses',
  'PID|1||MRN1^^^HOSP^MR||Doe^Jane||19800101|F',
  'RGS|1',
  'AIS|1||99213^Office visit^CPT|20240305100000+0100|||30|min',
  'NTE|1||Service note',
  'AIG|1||EQ7^Slit lamp^L|EQ^Equipment^L',
  'AIL|1||EYE^12^1^CLINIC|C^Clinic^HL70305',
  'AIP|1||D123^Smith^John^^^^^^NPI|ATND^Attending^HL70443||20240305100000+0100|||30|min',
];

const convert = (lines: readonly string[]): { bundle: Bundle; report: ReturnType<typeof convertV2ToFhir>['report'] } => convertV2ToFhir(parseMessage(lines.join('\r')), { now });
const all = <T extends Resource>(b: Bundle, type: T['resourceType']): T[] => (b.entry ?? []).map((e) => e.resource as Resource).filter((r): r is T => r.resourceType === type);
const appointmentOf = (b: Bundle): Appointment => {
  const a = all<Appointment>(b, 'Appointment');
  assert.equal(a.length, 1);
  return a[0] as Appointment;
};

describe('SIU -> Appointment status per event', () => {
  const cases: Array<[string, string, Appointment['status']]> = [
    ['S12', '', 'booked'],
    ['S13', '', 'booked'],
    ['S14', '', 'booked'],
    ['S15', '', 'cancelled'],
    ['S26', '', 'noshow'],
    ['S17', '', 'entered-in-error'],
    ['S12', 'Pending', 'pending'],
    ['S14', 'Complete', 'fulfilled'],
    ['S12', 'Started', 'checked-in'],
    // A cancellation notice is a cancellation whatever SCH-25 still says.
    ['S15', 'Booked', 'cancelled'],
    ['S26', 'Booked', 'noshow'],
  ];
  for (const [event, sch25, expected] of cases) {
    it(`SIU^${event} with SCH-25 "${sch25}" -> ${expected}`, () => {
      const { bundle } = convert([MSH(event), SCH25(sch25), ...BODY]);
      assert.equal(appointmentOf(bundle).status, expected);
    });
  }

  it('a cancelled appointment declines its participants', () => {
    const a = appointmentOf(convert([MSH('S15'), SCH25(''), ...BODY]).bundle);
    assert.ok(a.participant.every((p) => p.status === 'declined' || p.required === 'information-only'));
  });
});

describe('SIU -> Appointment content', () => {
  const { bundle, report } = convert([MSH('S12'), SCH25('Booked'), ...BODY]);
  const a = appointmentOf(bundle);

  it('takes its id from the filler appointment id, so every event about it updates one resource', () => {
    const again = appointmentOf(convert([MSH('S14'), SCH25('Booked'), ...BODY]).bundle);
    assert.equal(again.id, a.id);
    const fill = a.identifier?.find((i) => i.type?.coding?.[0]?.code === 'FILL');
    assert.equal(fill?.value, 'F200');
    assert.equal(a.identifier?.find((i) => i.type?.coding?.[0]?.code === 'PLAC')?.value, 'P100');
  });

  it('has the patient, the device, the location and the practitioner as participants', () => {
    const refs = a.participant.map((p) => p.actor?.reference?.split('/')[0]);
    assert.deepEqual(refs, ['Patient', 'Device', 'Location', 'Practitioner']);
    assert.ok(a.participant.every((p) => p.status === 'accepted'));
    const device = all<Device>(bundle, 'Device')[0];
    assert.equal(device?.identifier?.[0]?.value, 'EQ7');
    const practitioner = a.participant[3];
    assert.equal(practitioner?.type?.[0]?.coding?.[0]?.code, 'ATND');
    assert.equal(practitioner?.period?.start, '2024-03-05T10:00:00+01:00');
    assert.equal(practitioner?.period?.end, '2024-03-05T10:30:00+01:00');
    const room = all<Location>(bundle, 'Location').find((l) => l.id === a.participant[2]?.actor?.reference?.split('/')[1]);
    assert.equal(room?.type?.[0]?.coding?.[0]?.code, 'C');
  });

  it('maps times, duration, type, reason, service and comments', () => {
    assert.equal(a.start, '2024-03-05T10:00:00+01:00');
    assert.equal(a.end, '2024-03-05T10:30:00+01:00');
    assert.equal(a.minutesDuration, 30);
    assert.equal(a.appointmentType?.coding?.[0]?.code, 'Normal');
    assert.equal(a.reasonCode?.[0]?.coding?.[0]?.code, 'ROUTINE');
    assert.equal(a.serviceType?.[0]?.coding?.[0]?.code, '99213');
    assert.equal(a.comment, 'Bring your glasses\nService note');
  });

  it('leaves no SCH or resource field unmapped without a reason', () => {
    const unmapped = report.segments.filter((s) => ['SCH', 'AIS', 'AIG', 'AIL', 'AIP', 'TQ1', 'NTE', 'RGS'].includes(s.segment)).flatMap((s) => s.fields.filter((f) => f.status === 'unmapped'));
    assert.deepEqual(unmapped, []);
  });

  it('falls back to the resources for start and end, and declines a deleted resource', () => {
    const b = convert([
      MSH('S14'),
      'SCH|P1|F1||||||||||||||||||||||||Booked',
      'PID|1||MRN1^^^HOSP^MR||Doe^Jane',
      'RGS|1',
      'AIP|1|D|D9^Gone^Ann|ATND||20240305110000+0100|||45|min',
      'AIL|1||EYE^12|||20240305100000+0100|||20|min',
    ]).bundle;
    const appt = appointmentOf(b);
    assert.equal(appt.start, '2024-03-05T10:00:00+01:00');
    assert.equal(appt.end, '2024-03-05T11:45:00+01:00');
    assert.equal(appt.participant.find((p) => p.actor?.reference?.startsWith('Practitioner/'))?.status, 'declined');
  });

  it('keeps a lone start as requestedPeriod (R4 app-2: start and end together)', () => {
    const r = convert([MSH('S12'), 'SCH|P1|F1|||||||||^^^20240305100000+0100', 'PID|1||MRN1^^^HOSP^MR']);
    const appt = appointmentOf(r.bundle);
    assert.equal(appt.start, undefined);
    assert.equal(appt.end, undefined);
    assert.equal(appt.requestedPeriod?.[0]?.start, '2024-03-05T10:00:00+01:00');
    assert.ok(r.report.warnings.some((w) => w.includes('app-2')));
  });

  it('links SCH-26/27 orders as basedOn ServiceRequests of the patient', () => {
    const r = convert([MSH('S12'), 'SCH|P1|F1||||||||||||||||||||||||Booked|ORD1^PLACERAPP|FORD9^FILLERAPP', 'PID|1||MRN1^^^HOSP^MR']);
    const appt = appointmentOf(r.bundle);
    assert.equal(appt.basedOn?.length, 2);
    const patient = appt.participant[0]?.actor?.reference;
    for (const sr of all<Resource & { subject?: { reference?: string } }>(r.bundle, 'ServiceRequest')) assert.equal(sr.subject?.reference, patient);
  });

  it('a patient diagnosis (DG1) is the reason of the appointment', () => {
    const b = convert([MSH('S12'), 'SCH|P1|F1||||||||||||||||||||||||Booked', 'PID|1||MRN1^^^HOSP^MR||Doe^Jane', 'DG1|1||K51.9^Ulcerative colitis^I10']).bundle;
    const condition = all<Resource & { id?: string }>(b, 'Condition')[0];
    assert.equal(appointmentOf(b).reasonReference?.[0]?.reference, `Condition/${condition?.id}`);
  });
});
