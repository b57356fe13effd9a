import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Condition, Encounter, Practitioner } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, resourcesOf, seg, TEST_PID } from './adt-test-kit.ts';

const PV1 = seg('PV1', { 2: 'I', 19: 'V1^^^HOSP' });

describe('DG1 -> Condition and Encounter.diagnosis', () => {
  it('maps the Condition with the encounter-diagnosis category and the diagnosis entry', () => {
    const dg1 = seg('DG1', { 1: '1', 2: 'I10', 3: 'I21.9^Acute MI^I10C', 5: '20240305', 6: 'A^Admitting^HL70052', 15: '1', 16: '12^Heart^Hal', 19: '20240305110000-0500', 20: 'DX-1^HOSP' });
    const { bundle, report } = convertAdt('A01', [TEST_PID, PV1, dg1]);
    const c = onlyOf<Condition>(bundle, 'Condition');
    const enc = onlyOf<Encounter>(bundle, 'Encounter');
    assert.equal(c.category?.[0]?.coding?.[0]?.code, 'encounter-diagnosis');
    assert.equal(c.code?.coding?.[0]?.system, 'http://hl7.org/fhir/sid/icd-10-cm');
    assert.equal(c.code?.coding?.[0]?.code, 'I21.9');
    assert.equal(c.onsetDateTime, '2024-03-05');
    assert.equal(c.recordedDate, '2024-03-05T11:00:00-05:00');
    assert.equal(c.identifier?.[0]?.value, 'DX-1');
    assert.equal(c.encounter?.reference, `Encounter/${enc.id}`);
    assert.equal(resolve<Practitioner>(bundle, c.asserter?.reference)?.name?.[0]?.family, 'Heart');
    const d = enc.diagnosis?.[0];
    assert.equal(d?.condition.reference, `Condition/${c.id}`);
    // IG DiagnosisType: A -> diagnosis-role AD.
    assert.equal(d?.use?.coding?.[0]?.code, 'AD');
    assert.equal(d?.rank, 1);
    assert.equal(fieldReport(report, 'DG1-2')?.status, 'skipped');
  });

  it('a delete action marks the Condition entered-in-error; several DG1s give several diagnoses', () => {
    const { bundle } = convertAdt('A08', [TEST_PID, PV1, seg('DG1', { 3: 'J18.9^Pneumonia^I10C', 21: 'D' }), seg('DG1', { 3: 'E11.9^Diabetes^I10C', 6: 'F' })]);
    const conditions = resourcesOf<Condition>(bundle, 'Condition');
    assert.equal(conditions.length, 2);
    assert.equal(conditions[0]?.verificationStatus?.coding?.[0]?.code, 'entered-in-error');
    assert.equal(onlyOf<Encounter>(bundle, 'Encounter').diagnosis?.length, 2);
  });
});
