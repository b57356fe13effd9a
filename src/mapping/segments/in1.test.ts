import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Coverage, Organization, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg, TEST_PID } from './adt-test-kit.ts';

describe('IN1 -> Coverage and payor Organization', () => {
  it('maps the payor, plan, period, type, group, subscriber id and a self subscriber', () => {
    const in1 = seg('IN1', { 1: '1', 2: 'GOLD^Gold Plan^L', 3: 'PAY-7^^^NAIC', 4: 'Acme Health', 5: '9 Ins Way^^Hart^CT^06101', 7: '^WPN^PH^^1^800^5550000', 8: 'GRP-1', 9: 'Big Co', 12: '20240101', 13: '20241231', 15: 'HMO^HMO^HL70086', 16: 'Doe^Jane', 17: 'SEL^Self^HL70063', 18: '19800101', 22: '1', 36: 'POL-3', 49: 'MEM-5^^^HOSP' });
    const { bundle, report } = convertAdt('A01', [TEST_PID, in1, seg('IN2', { 1: 'X' })]);
    const cov = onlyOf<Coverage>(bundle, 'Coverage');
    const patient = onlyOf<Patient>(bundle, 'Patient');
    assert.equal(cov.status, 'active');
    assert.equal(cov.beneficiary.reference, `Patient/${patient.id}`);
    const payor = resolve<Organization>(bundle, cov.payor[0]?.reference);
    assert.equal(payor?.name, 'Acme Health');
    assert.equal(payor?.identifier?.[0]?.value, 'PAY-7');
    assert.equal(payor?.address?.[0]?.city, 'Hart');
    assert.equal(cov.identifier?.[0]?.value, 'GOLD');
    assert.equal(cov.identifier?.[1]?.value, 'POL-3');
    assert.equal(cov.subscriberId, 'MEM-5');
    assert.deepEqual(cov.period, { start: '2024-01-01', end: '2024-12-31' });
    assert.equal(cov.type?.coding?.[0]?.code, 'HMO');
    assert.equal(cov.class?.[0]?.value, 'GRP-1');
    assert.equal(cov.class?.[0]?.name, 'Big Co');
    assert.equal(cov.order, 1);
    assert.equal(cov.relationship?.coding?.[0]?.code, 'self');
    assert.equal(cov.subscriber?.reference, `Patient/${patient.id}`);
    assert.equal(fieldReport(report, 'IN1-18')?.status, 'skipped');
    assert.match(report.segments.find((s) => s.segment === 'IN2')?.reason ?? '', /billing/);
  });

  it('an insured other than the patient becomes a RelatedPerson subscriber', () => {
    const in1 = seg('IN1', { 3: 'PAY-7^^^NAIC', 4: 'Acme Health', 16: 'Doe^John', 17: 'SPO^Spouse^HL70063', 18: '19790202', 43: 'M' });
    const { bundle } = convertAdt('A01', [TEST_PID, in1]);
    const cov = onlyOf<Coverage>(bundle, 'Coverage');
    assert.equal(cov.relationship?.coding?.[0]?.code, 'spouse');
    const rp = resolve<RelatedPerson>(bundle, cov.subscriber?.reference);
    assert.equal(rp?.name?.[0]?.family, 'Doe');
    assert.equal(rp?.birthDate, '1979-02-02');
    assert.equal(rp?.gender, 'male');
  });

  it('re-sending the insurance gives the same Coverage id', () => {
    const in1 = seg('IN1', { 2: 'GOLD', 3: 'PAY-7^^^NAIC', 4: 'Acme Health', 36: 'POL-3' });
    const a = onlyOf<Coverage>(convertAdt('A01', [TEST_PID, in1], 'C1').bundle, 'Coverage');
    const b = onlyOf<Coverage>(convertAdt('A08', [TEST_PID, in1], 'C2').bundle, 'Coverage');
    assert.equal(a.id, b.id);
  });
});
