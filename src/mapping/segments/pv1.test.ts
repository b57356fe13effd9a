import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Encounter, EpisodeOfCare, Location, Organization } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resourcesOf, seg, TEST_PID } from './adt-test-kit.ts';

const convert = (event: string, ...segments: string[]) => convertAdt(event, segments);
const one = onlyOf;
const all = resourcesOf;
const field = fieldReport;
const PID = TEST_PID;

describe('PV1 -> Encounter', () => {
  it('maps class, visit number (typed VN), types, service, period and participants', () => {
    const { bundle } = convert(
      'A01',
      PID,
      seg('PV1', { 1: '1', 2: 'I', 3: 'W1^101^A^HOSP', 4: 'E^Emergency^HL70007', 5: 'PRE1^^^HOSP', 7: '111^Attend^Amy', 8: '222^Refer^Rob', 9: '333^Consult^Cal', 10: 'MED', 14: '7', 15: 'A2', 16: 'VIP', 17: '444^Admit^Al', 18: 'IP', 19: 'V100^^^HOSP^VN', 44: '20240305090000' }),
    );
    const enc = one<Encounter>(bundle, 'Encounter');
    assert.equal(enc.status, 'in-progress');
    assert.deepEqual(enc.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' });
    assert.equal(enc.identifier?.[0]?.value, 'V100');
    assert.equal(enc.identifier?.[0]?.type?.coding?.[0]?.code, 'VN');
    assert.equal(enc.type?.[0]?.coding?.[0]?.code, 'E');
    assert.equal(enc.type?.[0]?.coding?.[0]?.system, 'http://terminology.hl7.org/CodeSystem/v2-0007');
    assert.equal(enc.type?.[1]?.coding?.[0]?.code, 'IP', 'PV1-18 patient type kept as a type');
    // IG HospitalService: MED -> service-type 382, the v2 code kept after it.
    assert.equal(enc.serviceType?.coding?.[0]?.code, '382');
    assert.equal(enc.serviceType?.coding?.[1]?.code, 'MED');
    assert.equal(enc.period?.start, '2024-03-05T09:00:00-05:00');
    assert.equal(enc.hospitalization?.preAdmissionIdentifier?.value, 'PRE1');
    assert.equal(enc.hospitalization?.admitSource?.coding?.[0]?.code, '7');
    assert.equal(enc.hospitalization?.specialArrangement?.[0]?.coding?.[0]?.code, 'wheel');
    assert.equal(enc.hospitalization?.specialCourtesy?.[0]?.coding?.[0]?.system, 'http://terminology.hl7.org/CodeSystem/v3-EncounterSpecialCourtesy');
    const codes = (enc.participant ?? []).map((p) => p.type?.[0]?.coding?.[0]?.code);
    assert.deepEqual(codes, ['ATND', 'REF', 'CON', 'ADM']);
  });

  it('maps the locations with their statuses and the bed status', () => {
    const { bundle } = convert('A02', PID, seg('PV1', { 2: 'I', 3: 'W2^202^B^HOSP', 11: 'W9^900^^HOSP', 19: 'V1^^^HOSP', 40: 'O', 42: 'W3^303^^HOSP', 43: 'W8^800^^HOSP' }));
    const enc = one<Encounter>(bundle, 'Encounter');
    const statuses = (enc.location ?? []).map((l) => l.status);
    // PV1-3 active, PV1-11 temporary active, PV1-42 pending reserved, PV1-43 prior temporary completed.
    assert.deepEqual(statuses, ['active', 'active', 'reserved', 'completed']);
    const bed = all<Location>(bundle, 'Location').find((l) => `Location/${l.id}` === enc.location?.[0]?.location.reference);
    assert.equal(bed?.name, 'B');
    assert.deepEqual(bed?.operationalStatus, { system: 'http://terminology.hl7.org/CodeSystem/v2-0116', code: 'O' });
  });

  it('maps discharge disposition (UB-04 code to FHIR), destination, diet, facility and episode', () => {
    const pv1 = seg('PV1', { 2: 'I', 3: 'W1^1^1^HOSP', 19: 'V2^^^HOSP', 36: '01', 37: 'HOME^Home', 38: 'VEG', 39: 'FAC1^Main Campus', 44: '20240301080000', 45: '20240305100000', 53: 'Cardiac episode', 54: 'EP7^^^HOSP' });
    const { bundle, report } = convert('A03', PID, pv1);
    const enc = one<Encounter>(bundle, 'Encounter');
    assert.equal(enc.status, 'finished');
    assert.equal(enc.period?.end, '2024-03-05T10:00:00-05:00');
    assert.equal(enc.location?.[0]?.status, 'completed');
    assert.equal(enc.hospitalization?.dischargeDisposition?.coding?.[0]?.code, 'home');
    assert.equal(enc.hospitalization?.dischargeDisposition?.coding?.[1]?.code, '01');
    const dest = all<Location>(bundle, 'Location').find((l) => `Location/${l.id}` === enc.hospitalization?.destination?.reference);
    assert.equal(dest?.name, 'Home');
    assert.equal(enc.hospitalization?.dietPreference?.[0]?.coding?.[0]?.code, 'VEG');
    const org = all<Organization>(bundle, 'Organization').find((o) => `Organization/${o.id}` === enc.serviceProvider?.reference);
    assert.equal(org?.name, 'Main Campus');
    const episode = one<EpisodeOfCare>(bundle, 'EpisodeOfCare');
    assert.equal(episode.identifier?.[0]?.value, 'EP7');
    assert.equal(enc.episodeOfCare?.[0]?.reference, `EpisodeOfCare/${episode.id}`);
    assert.equal(field(report, 'PV1-36')?.status, 'mapped');
  });

  it('reports billing fields as skipped with a reason, never unmapped', () => {
    const { report } = convert('A01', PID, seg('PV1', { 2: 'O', 19: 'V3^^^HOSP', 20: 'FC1', 21: 'CP', 22: 'CC', 23: 'CR', 46: '100', 47: '200' }));
    for (const n of [20, 21, 22, 23, 46, 47]) {
      const f = field(report, `PV1-${n}`);
      assert.equal(f?.status, 'skipped', `PV1-${n}`);
      assert.ok((f?.reason ?? '').length > 0);
    }
  });

  it('derives the status from PV1 when the event does not set one (A08)', () => {
    assert.equal(one<Encounter>(convert('A08', PID, seg('PV1', { 2: 'P', 19: 'V4^^^HOSP' })).bundle, 'Encounter').status, 'planned');
    assert.equal(one<Encounter>(convert('A08', PID, seg('PV1', { 2: 'I', 19: 'V4^^^HOSP', 45: '20240305100000' })).bundle, 'Encounter').status, 'finished');
    assert.equal(one<Encounter>(convert('A08', PID, seg('PV1', { 2: 'E', 19: 'V4^^^HOSP' })).bundle, 'Encounter').status, 'in-progress');
  });

  it('a blank code (space-padded field) makes no coding (FHIR R4 datatypes.html#code)', () => {
    const enc = one<Encounter>(convert('A01', PID, seg('PV1', { 2: 'I', 16: ' ', 19: 'V5^^^HOSP' })).bundle, 'Encounter');
    assert.equal(enc.hospitalization, undefined);
  });
});
