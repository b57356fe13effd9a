import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Encounter, Organization, Patient, Practitioner, PractitionerRole } from '@medplum/fhirtypes';
import { convertAdt, onlyOf, resolve, resourcesOf, seg, TEST_PID } from './adt-test-kit.ts';

describe('ROL -> PractitionerRole', () => {
  it('after PID, a primary care provider becomes Patient.generalPractitioner', () => {
    const rol = seg('ROL', { 1: 'R-1^HOSP', 2: 'AD', 3: 'PP^Primary Care Provider^HL70443', 4: '9^Family^Fay', 5: '20220101', 9: '408443003^General practice^SCT', 11: '5 Elm St^^Town^ST', 12: '^WPN^PH^^1^555^5550111', 14: 'Town Clinic' });
    const { bundle } = convertAdt('A08', [TEST_PID, rol]);
    const gp = onlyOf<Patient>(bundle, 'Patient').generalPractitioner?.[0];
    const role = resolve<PractitionerRole>(bundle, gp?.reference);
    assert.equal(role?.resourceType, 'PractitionerRole');
    assert.equal(role?.identifier?.[0]?.value, 'R-1');
    assert.equal(role?.code?.[0]?.coding?.[0]?.code, '446050000');
    assert.equal(role?.specialty?.[0]?.coding?.[0]?.code, '408443003');
    assert.equal(role?.period?.start, '2022-01-01');
    assert.equal(role?.telecom?.[0]?.use, 'work');
    assert.equal(resolve<Organization>(bundle, role?.organization?.reference)?.name, 'Town Clinic');
    const practitioner = resolve<Practitioner>(bundle, role?.practitioner?.reference);
    assert.equal(practitioner?.name?.[0]?.family, 'Family');
    assert.equal(practitioner?.address?.[0]?.line?.[0], '5 Elm St');
  });

  it('after PV1, a role is an Encounter.participant; a non-PCP role after PID is skipped with a reason', () => {
    const { bundle, report } = convertAdt('A01', [TEST_PID, seg('ROL', { 3: 'CP', 4: '8^Other^Oz' }), seg('PV1', { 2: 'I', 19: 'V1^^^HOSP' }), seg('ROL', { 3: 'AT^Attending^HL70443', 4: '7^Doc^Di', 5: '20240305080000' })]);
    const enc = onlyOf<Encounter>(bundle, 'Encounter');
    const p = enc.participant?.[0];
    assert.equal(p?.type?.[0]?.coding?.[0]?.code, 'ATND');
    assert.equal(p?.period?.start, '2024-03-05T08:00:00-05:00');
    assert.equal(resourcesOf<PractitionerRole>(bundle, 'PractitionerRole').length, 1);
    const skipped = report.segments.find((s) => s.segment === 'ROL' && s.status === 'unmapped');
    assert.match(skipped?.reason ?? '', /CareTeam/);
  });
});
