import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Encounter, Practitioner, PractitionerRole, Procedure } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg, TEST_PID } from './adt-test-kit.ts';

describe('PR1 -> Procedure', () => {
  it('maps code with modifiers, period from minutes, category, performers and the ROL of its group', () => {
    const pr1 = seg('PR1', { 1: '1', 3: '44950^Appendectomy^CPT', 5: '20240305120000-0500', 6: 'S^Surgical^HL70230', 7: '45', 8: '1^Gas^Ann', 11: '2^Cut^Sam', 15: 'K35.80^Appendicitis^I10C', 16: '59^Distinct^CPT', 19: 'PROC-1^HOSP' });
    const rol = seg('ROL', { 2: 'AD', 3: 'AT^Attending^HL70443', 4: '3^Assist^Ava' });
    const { bundle, report } = convertAdt('A03', [TEST_PID, seg('PV1', { 2: 'I', 19: 'V1^^^HOSP', 45: '20240306100000-0500' }), pr1, rol]);
    const p = onlyOf<Procedure>(bundle, 'Procedure');
    assert.equal(p.status, 'completed');
    assert.equal(p.encounter?.reference, `Encounter/${onlyOf<Encounter>(bundle, 'Encounter').id}`);
    assert.equal(p.code?.coding?.[0]?.code, '44950');
    assert.equal(p.code?.coding?.[1]?.code, '44950:59');
    assert.deepEqual(p.performedPeriod, { start: '2024-03-05T12:00:00-05:00', end: '2024-03-05T12:45:00-05:00' });
    assert.equal(p.category?.coding?.[0]?.code, 'S');
    assert.equal(p.reasonCode?.[0]?.coding?.[0]?.code, 'K35.80');
    assert.equal(p.identifier?.[0]?.value, 'PROC-1');
    const functions = (p.performer ?? []).map((x) => x.function?.coding?.[0]?.code);
    assert.deepEqual(functions, ['88189002', '304292004', 'ATND']);
    const role = resolve<PractitionerRole>(bundle, p.performer?.[2]?.actor.reference);
    assert.equal(resolve<Practitioner>(bundle, role?.practitioner?.reference)?.name?.[0]?.family, 'Assist');
    assert.equal(fieldReport(report, 'PR1-1')?.status, 'skipped');
  });

  it('a PR1 with only a time keeps performedDateTime; action D is entered-in-error', () => {
    const { bundle } = convertAdt('A08', [TEST_PID, seg('PR1', { 3: '1234^Proc^CPT', 5: '20240305', 20: 'D' })]);
    const p = onlyOf<Procedure>(bundle, 'Procedure');
    assert.equal(p.performedDateTime, '2024-03-05');
    assert.equal(p.status, 'entered-in-error');
  });
});
