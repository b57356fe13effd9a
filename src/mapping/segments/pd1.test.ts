import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Organization, Patient, Practitioner } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg, TEST_PID } from './adt-test-kit.ts';

describe('PD1 -> Patient', () => {
  it('adds general practitioners, disability, congregation and a duplicate link', () => {
    const pd1 = seg('PD1', { 1: 'S', 3: 'Main Clinic^L^44', 4: '88^Gee^Pat', 6: 'H^Hearing', 7: 'N', 10: '999^^^HOSP^MR', 14: 'St Mark' });
    const { bundle, report } = convertAdt('A08', [TEST_PID, pd1]);
    const patient = onlyOf<Patient>(bundle, 'Patient');
    const gps = patient.generalPractitioner ?? [];
    assert.equal(gps.length, 2);
    assert.equal(resolve<Organization>(bundle, gps[0]?.reference)?.name, 'Main Clinic');
    assert.equal(resolve<Practitioner>(bundle, gps[1]?.reference)?.name?.[0]?.family, 'Gee');
    assert.equal(patient.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/patient-disability')?.valueCodeableConcept?.coding?.[0]?.code, 'H');
    assert.equal(patient.extension?.find((e) => e.url === 'http://hl7.org/fhir/StructureDefinition/patient-congregation')?.valueString, 'St Mark');
    assert.equal(patient.link?.[0]?.type, 'seealso');
    assert.equal(patient.link?.[0]?.other.identifier?.value, '999');
    assert.equal(fieldReport(report, 'PD1-1')?.status, 'skipped');
    assert.equal(fieldReport(report, 'PD1-7')?.status, 'skipped');
  });
});
