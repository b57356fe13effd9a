import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AllergyIntolerance, Encounter, Patient } from '@medplum/fhirtypes';
import { convertAdt, fieldReport, onlyOf, resourcesOf, seg, TEST_PID } from './adt-test-kit.ts';

describe('AL1 -> AllergyIntolerance', () => {
  it('maps category, type, code, criticality, reaction and onset (IG AL1 map)', () => {
    const al1 = seg('AL1', { 1: '1', 2: 'DA^Drug allergy^HL70127', 3: '7980^Penicillin^RXNORM', 4: 'SV^Severe^HL70128', 5: 'Hives~Wheezing', 6: '20200115' });
    const { bundle, report } = convertAdt('A01', [TEST_PID, seg('PV1', { 2: 'I', 19: 'V1^^^HOSP' }), al1]);
    const a = onlyOf<AllergyIntolerance>(bundle, 'AllergyIntolerance');
    assert.equal(a.patient.reference, `Patient/${onlyOf<Patient>(bundle, 'Patient').id}`);
    assert.equal(a.encounter?.reference, `Encounter/${onlyOf<Encounter>(bundle, 'Encounter').id}`);
    assert.equal(a.clinicalStatus?.coding?.[0]?.code, 'active');
    assert.deepEqual(a.category, ['medication']);
    assert.equal(a.type, 'allergy');
    assert.equal(a.code?.coding?.[0]?.system, 'http://www.nlm.nih.gov/research/umls/rxnorm');
    assert.equal(a.criticality, 'high');
    assert.equal(a.reaction?.[0]?.severity, 'severe');
    assert.deepEqual(a.reaction?.[0]?.manifestation.map((m) => m.text), ['Hives', 'Wheezing']);
    assert.equal(a.onsetDateTime, '2020-01-15');
    assert.equal(fieldReport(report, 'AL1-1')?.status, 'skipped');
  });

  it('ids come from the patient and the allergen: re-sent, the same; another allergen, another', () => {
    const al1 = (code: string) => seg('AL1', { 2: 'FA', 3: `${code}^Food^L` });
    const first = convertAdt('A01', [TEST_PID, al1('PEANUT'), al1('EGG')], 'C1').bundle;
    const again = convertAdt('A08', [TEST_PID, al1('PEANUT')], 'C2').bundle;
    const ids = resourcesOf<AllergyIntolerance>(first, 'AllergyIntolerance').map((a) => a.id);
    assert.equal(ids.length, 2);
    assert.notEqual(ids[0], ids[1]);
    assert.equal(onlyOf<AllergyIntolerance>(again, 'AllergyIntolerance').id, ids[0]);
  });
});
