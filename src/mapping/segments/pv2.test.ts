import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Encounter, Practitioner } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resolve, seg, TEST_PID } from './adt-test-kit.ts';

const PV1 = seg('PV1', { 2: 'I', 19: 'V1^^^HOSP' });

describe('PV2 -> Encounter', () => {
  it('adds admit reason, expected dates, length of stay, referral source, priority and mode of arrival', () => {
    const pv2 = seg('PV2', { 1: 'W5^505^^HOSP', 3: '25064002^Headache^SCT', 8: '20240306080000', 9: '20240310', 11: '4', 12: 'Observation <24h> & rest', 13: '555^Source^Sam', 22: 'Y', 25: '2', 38: 'A^Ambulance^HL70430' });
    const { bundle, report } = convertAdt('A05', [TEST_PID, PV1, pv2]);
    const enc = onlyOf<Encounter>(bundle, 'Encounter');
    assert.equal(enc.status, 'planned');
    assert.equal(enc.reasonCode?.[0]?.coding?.[0]?.system, 'http://snomed.info/sct');
    assert.equal(enc.reasonCode?.[0]?.coding?.[0]?.code, '25064002');
    const ext = (url: string) => enc.extension?.find((e) => e.url === url);
    assert.equal(ext('http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate')?.valueDateTime, '2024-03-06T08:00:00-05:00');
    assert.equal(ext('http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate')?.valueDateTime, '2024-03-10');
    assert.equal(ext('http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival')?.valueCoding?.code, 'A');
    assert.deepEqual(enc.length, { value: 4, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' });
    assert.equal(enc.text?.div, '<div xmlns="http://www.w3.org/1999/xhtml">Observation &lt;24h&gt; &amp; rest</div>');
    const ref = enc.participant?.find((p) => p.type?.[0]?.coding?.[0]?.code === 'REF');
    assert.equal(resolve<Practitioner>(bundle, ref?.individual?.reference)?.name?.[0]?.family, 'Source');
    assert.equal(enc.priority?.coding?.[0]?.code, 'UR');
    assert.equal(enc.meta?.security?.[0]?.code, 'R');
    assert.deepEqual(enc.location?.map((l) => l.status), ['planned']);
    assert.equal(fieldReport(report, 'PV2-3')?.status, 'mapped');
  });

  it('skips fields without an Encounter home with a reason', () => {
    const { report } = convertAdt('A01', [TEST_PID, PV1, seg('PV2', { 2: 'PRIV', 4: 'XFER', 10: '3' })]);
    for (const f of ['PV2-2', 'PV2-4', 'PV2-10']) {
      assert.equal(fieldReport(report, f)?.status, 'skipped', f);
    }
  });
});
