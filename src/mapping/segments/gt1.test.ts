import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Account, Organization, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg } from './adt-test-kit.ts';

const PID = seg('PID', { 1: '1', 3: '123^^^HOSP^MR', 5: 'Doe^Jane', 18: 'ACC-1^^^HOSP^AN' });

describe('GT1 -> Account.guarantor', () => {
  it('a person guarantor is a RelatedPerson on the PID-18 Account', () => {
    const gt1 = seg('GT1', { 1: '1', 2: 'G-9^^^HOSP', 3: 'Doe^John', 5: '1 Main St^^Town^ST^12345', 6: '^PRN^PH^^1^555^5550101', 8: '19790202', 9: 'M', 11: 'SPO^Spouse^HL70063', 13: '20240101', 16: 'Big Co', 22: 'N' });
    const { bundle, report } = convertAdt('A01', [PID, gt1]);
    const account = onlyOf<Account>(bundle, 'Account');
    assert.equal(account.identifier?.[0]?.value, 'ACC-1');
    const g = account.guarantor?.[0];
    assert.equal(g?.onHold, false);
    assert.equal(g?.period?.start, '2024-01-01');
    const rp = resolve<RelatedPerson>(bundle, g?.party.reference);
    assert.equal(rp?.name?.[0]?.family, 'Doe');
    assert.equal(rp?.relationship?.[0]?.coding?.[0]?.code, 'GUAR');
    assert.equal(rp?.relationship?.[1]?.coding?.[0]?.code, 'SPS');
    assert.equal(rp?.identifier?.[0]?.value, 'G-9');
    assert.equal(fieldReport(report, 'GT1-16')?.status, 'skipped');
  });

  it('a self guarantor is the patient; an organization guarantor an Organization', () => {
    const self = convertAdt('A01', [PID, seg('GT1', { 3: 'Doe^Jane', 11: 'SEL' })]).bundle;
    assert.equal(onlyOf<Account>(self, 'Account').guarantor?.[0]?.party.reference, `Patient/${onlyOf<Patient>(self, 'Patient').id}`);
    const org = convertAdt('A01', ['PID|1||123^^^HOSP^MR||Doe^Jane', seg('GT1', { 21: 'Employer Inc' })]).bundle;
    const account = onlyOf<Account>(org, 'Account');
    assert.equal(resolve<Organization>(org, account.guarantor?.[0]?.party.reference)?.name, 'Employer Inc');
    assert.equal(account.subject?.[0]?.reference, `Patient/${onlyOf<Patient>(org, 'Patient').id}`);
  });
});
