import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Organization, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg, TEST_PID } from './adt-test-kit.ts';

const NK1 = seg('NK1', { 1: '1', 2: 'Doe^John', 3: 'SPO^Spouse^HL70063', 4: '1 Main St^^Town^ST^12345', 5: '^PRN^PH^^1^555^5550101', 6: '^WPN^PH^^1^555^5550102', 7: 'C^Emergency Contact^HL70131', 8: '20200101', 15: 'M', 16: '19790202', 20: 'en^English^HL70296', 33: 'NK-9^^^HOSP' });

describe('NK1 -> RelatedPerson and Patient.contact', () => {
  it('maps the related person (IG NK1[RelatedPerson])', () => {
    const { bundle, report } = convertAdt('A01', [TEST_PID, NK1]);
    const rp = onlyOf<RelatedPerson>(bundle, 'RelatedPerson');
    const patient = onlyOf<Patient>(bundle, 'Patient');
    assert.equal(rp.patient.reference, `Patient/${patient.id}`);
    assert.equal(rp.name?.[0]?.family, 'Doe');
    // IG Relationship: SPO -> v3 RoleCode SPS, the v2 code kept; NK1-7 as a second relationship.
    assert.equal(rp.relationship?.[0]?.coding?.[0]?.code, 'SPS');
    assert.equal(rp.relationship?.[0]?.coding?.[1]?.code, 'SPO');
    assert.equal(rp.relationship?.[1]?.coding?.[0]?.system, 'http://terminology.hl7.org/CodeSystem/v2-0131');
    assert.equal(rp.telecom?.[1]?.use, 'work');
    assert.equal(rp.gender, 'male');
    assert.equal(rp.birthDate, '1979-02-02');
    assert.equal(rp.period?.start, '2020-01-01');
    assert.equal(rp.identifier?.[0]?.value, 'NK-9');
    assert.equal(rp.communication?.[0]?.language.coding?.[0]?.code, 'en');
    assert.equal(fieldReport(report, 'NK1-1')?.status, 'skipped');
  });

  it('adds a Patient.contact (IG NK1[Patient]) with the organization', () => {
    const nk1 = seg('NK1', { 2: 'Boss^Bea', 3: 'EMR^Employer^HL70063', 13: 'Acme Corp', 30: 'Desk^Dan', 31: '^WPN^PH^^1^555^5550199' });
    const { bundle } = convertAdt('A01', [TEST_PID, nk1]);
    const contact = onlyOf<Patient>(bundle, 'Patient').contact?.[0];
    assert.equal(contact?.name?.family, 'Boss');
    assert.equal(contact?.relationship?.[0]?.coding?.[0]?.code, 'E');
    const org = resolve<Organization>(bundle, contact?.organization?.reference);
    assert.equal(org?.name, 'Acme Corp');
    assert.equal(org?.contact?.[0]?.name?.family, 'Desk');
  });

  it('gives the same next of kin the same id in the next message', () => {
    const nk1 = seg('NK1', { 2: 'Doe^John', 3: 'SPO' });
    const a = onlyOf<RelatedPerson>(convertAdt('A01', [TEST_PID, nk1], 'C1').bundle, 'RelatedPerson');
    const b = onlyOf<RelatedPerson>(convertAdt('A08', [TEST_PID, nk1], 'C2').bundle, 'RelatedPerson');
    assert.equal(a.id, b.id);
  });
});
