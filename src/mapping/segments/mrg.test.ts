import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Account, Encounter, Patient } from '@medplum/fhirtypes';
import { convertAdt, onlyOf, resourcesOf, seg } from './adt-test-kit.ts';

describe('MRG', () => {
  it('in A40, marks the merged-away patient replaced and links both ways (FHIR R4 patient.html#links)', () => {
    const { bundle } = convertAdt('A40', [seg('EVN', { 2: '20240305101500' }), 'PID|1||KEEP-1^^^HOSP^MR||Doe^Jane', seg('MRG', { 1: 'GONE-2^^^HOSP^MR', 3: 'ACC-OLD^^^HOSP', 7: 'Doe^Janet' })]);
    const patients = resourcesOf<Patient>(bundle, 'Patient');
    assert.equal(patients.length, 2);
    const survivor = patients.find((p) => p.identifier?.[0]?.value === 'KEEP-1');
    const old = patients.find((p) => p.identifier?.[0]?.value === 'GONE-2');
    assert.equal(old?.active, false);
    assert.deepEqual(old?.link, [{ other: { reference: `Patient/${survivor?.id}` }, type: 'replaced-by' }]);
    assert.deepEqual(survivor?.link, [{ other: { reference: `Patient/${old?.id}` }, type: 'replaces' }]);
    assert.equal(old?.name?.[0]?.given?.[0], 'Janet');
    const account = onlyOf<Account>(bundle, 'Account');
    assert.equal(account.identifier?.[0]?.value, 'ACC-OLD');
    assert.equal(account.status, 'unknown');
  });

  it('the merged-away Patient has the id an earlier message about it produced', () => {
    const earlier = onlyOf<Patient>(convertAdt('A04', ['PID|1||GONE-2^^^HOSP^MR||Doe^Janet'], 'C0').bundle, 'Patient');
    const merged = resourcesOf<Patient>(convertAdt('A40', ['PID|1||KEEP-1^^^HOSP^MR||Doe^Jane', seg('MRG', { 1: 'GONE-2^^^HOSP^MR' })]).bundle, 'Patient');
    assert.ok(merged.some((p) => p.id === earlier.id && p.active === false));
  });

  it('in A06, the prior visit number becomes an old identifier of the Encounter', () => {
    const { bundle, report } = convertAdt('A06', ['PID|1||123^^^HOSP^MR', seg('MRG', { 1: '123^^^HOSP^MR', 5: 'V-OLD^^^HOSP' }), seg('PV1', { 2: 'I', 19: 'V-NEW^^^HOSP' })]);
    const enc = onlyOf<Encounter>(bundle, 'Encounter');
    assert.equal(enc.identifier?.[0]?.value, 'V-NEW');
    assert.deepEqual(enc.identifier?.find((i) => i.use === 'old')?.value, 'V-OLD');
    assert.equal(resourcesOf<Patient>(bundle, 'Patient').length, 1);
    assert.equal(report.segments.find((s) => s.segment === 'MRG')?.fields.find((f) => f.field === 'MRG-1')?.status, 'skipped');
  });
});
