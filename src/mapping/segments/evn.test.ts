import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Location, Practitioner, Provenance } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg, TEST_PID } from './adt-test-kit.ts';

describe('EVN -> Provenance', () => {
  it('takes recorded, reason, operator, occurred and facility from EVN', () => {
    const evn = seg('EVN', { 1: 'A01', 2: '20240305101500-0500', 4: '01^Patient request^HL70062', 5: '77^Clerk^Carla', 6: '20240305101000-0500', 7: 'EastWing' });
    const { bundle, report } = convertAdt('A01', [evn, TEST_PID, seg('PV1', { 2: 'I', 19: 'V1^^^HOSP' })]);
    const prov = onlyOf<Provenance>(bundle, 'Provenance');
    assert.equal(prov.recorded, '2024-03-05T10:15:00-05:00');
    assert.equal(prov.occurredDateTime, '2024-03-05T10:10:00-05:00');
    // IG EventReason: 01 -> v3 ActReason PATRQT, with the v2 code kept.
    assert.equal(prov.reason?.[0]?.coding?.[0]?.code, 'PATRQT');
    assert.equal(prov.reason?.[0]?.coding?.[1]?.code, '01');
    const enterer = prov.agent.find((a) => a.type?.coding?.[0]?.code === 'enterer');
    assert.equal(resolve<Practitioner>(bundle, enterer?.who?.reference)?.name?.[0]?.family, 'Clerk');
    assert.equal(resolve<Location>(bundle, prov.location?.reference)?.name, 'EastWing');
    assert.ok(prov.activity?.coding?.some((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0003' && c.code === 'A01'));
    assert.equal(fieldReport(report, 'EVN-1')?.status, 'skipped');
  });

  it('keeps MSH-7 as recorded when EVN-2 is absent', () => {
    const { bundle } = convertAdt('A01', [seg('EVN', { 1: 'A01' }), TEST_PID]);
    assert.equal(onlyOf<Provenance>(bundle, 'Provenance').recorded, '2024-03-05T10:30:00-05:00');
  });
});
