import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DocumentReference, Observation, Organization, PractitionerRole } from '@medplum/fhirtypes';
import { all, convert, fieldStatus, one, PID, ref, seg } from './lab-test-kit.ts';

const OBR = 'OBR|1|PL1^EHR|FL1^LAB|24331-1^Lipid panel^LN|||20240305080000-0500||||||||||||||20240305100000-0500|||F';

/** One ORU with one order and the given OBX segments. */
function oru(...obx: string[]): ReturnType<typeof convert> {
  return convert('ORU^R01', [PID, OBR, ...obx]);
}

function observationOf(obx: Readonly<Record<number, string>>): { o: Observation; result: ReturnType<typeof convert> } {
  const result = oru(seg('OBX', { 1: '1', 11: 'F', ...obx }));
  return { o: one<Observation>(result.bundle, 'Observation'), result };
}

describe('OBX -> Observation: values by OBX-2', () => {
  it('NM with UCUM units -> valueQuantity', () => {
    const { o } = observationOf({ 2: 'NM', 3: '2093-3^Cholesterol^LN', 5: '185.5', 6: 'mg/dL^milligram per deciliter^UCUM' });
    assert.deepEqual(o.valueQuantity, { value: 185.5, unit: 'milligram per deciliter', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    assert.deepEqual(o.code.coding?.[0], { code: '2093-3', system: 'http://loinc.org', display: 'Cholesterol' });
  });

  it('NM with a unit without a coding system that parses as UCUM', () => {
    const { o } = observationOf({ 2: 'NM', 3: 'X^x^L', 5: '4', 6: '10*3/uL' });
    assert.equal(o.valueQuantity?.system, 'http://unitsofmeasure.org');
    assert.equal(o.valueQuantity?.code, '10*3/uL');
  });

  it('NM "<5" -> valueQuantity with comparator; non-numeric NM -> valueString with a warning', () => {
    const { o: lt } = observationOf({ 2: 'NM', 3: 'X^x^L', 5: '<5', 6: 'mg/L' });
    assert.deepEqual([lt.valueQuantity?.value, lt.valueQuantity?.comparator], [5, '<']);
    const { o, result } = observationOf({ 2: 'NM', 3: 'X^x^L', 5: 'Negative' });
    assert.equal(o.valueString, 'Negative');
    assert.equal(o.valueQuantity, undefined);
    assert.ok(result.report.warnings.some((w) => w.startsWith('OBX-5: NM value is not a number')));
    assert.ok(result.report.warnings.every((w) => !w.includes('Negative')), 'no value in a warning');
  });

  it('SN: range, comparator, ratio, and "<0.10" sent in one component', () => {
    assert.deepEqual(observationOf({ 2: 'SN', 3: 'X^x^L', 5: '^10^-^20', 6: 'mg/L' }).o.valueRange, {
      low: { value: 10, unit: 'mg/L', system: 'http://unitsofmeasure.org', code: 'mg/L' },
      high: { value: 20, unit: 'mg/L', system: 'http://unitsofmeasure.org', code: 'mg/L' },
    });
    const gt = observationOf({ 2: 'SN', 3: 'X^x^L', 5: '>=^60', 6: 'mL/min' }).o.valueQuantity;
    assert.deepEqual([gt?.comparator, gt?.value, gt?.code], ['>=', 60, 'mL/min']);
    const ratio = observationOf({ 2: 'SN', 3: 'X^x^L', 5: '^1^:^128' }).o.valueRatio;
    assert.deepEqual(ratio, { numerator: { value: 1 }, denominator: { value: 128 } });
    const { o, result } = observationOf({ 2: 'SN', 3: 'X^x^L', 5: '<0.10', 6: 'kU/L' });
    assert.deepEqual([o.valueQuantity?.comparator, o.valueQuantity?.value], ['<', 0.1]);
    assert.ok(result.report.warnings.some((w) => w.includes('SN sent without its component separators')));
  });

  it('SN "<>" -> valueString (IG OBX-5 SN rows)', () => {
    assert.equal(observationOf({ 2: 'SN', 3: 'X^x^L', 5: '<>^5', 6: 'mg' }).o.valueString, '<> 5 mg');
  });

  it('CWE / CE -> valueCodeableConcept', () => {
    const { o } = observationOf({ 2: 'CWE', 3: 'X^x^L', 5: '260373001^Detected^SCT^DET^Detected^L' });
    assert.deepEqual(o.valueCodeableConcept?.coding?.[0], { code: '260373001', system: 'http://snomed.info/sct', display: 'Detected' });
    assert.equal(o.valueCodeableConcept?.coding?.length, 2);
    assert.equal(observationOf({ 2: 'CE', 3: 'X^x^L', 5: 'POS^Positive^HL70078' }).o.valueCodeableConcept?.coding?.[0]?.code, 'POS');
  });

  it('ST, TX -> valueString; FT decodes formatting escapes; repetitions are lines', () => {
    assert.equal(observationOf({ 2: 'ST', 3: 'X^x^L', 5: 'Clear \\T\\ yellow' }).o.valueString, 'Clear & yellow');
    assert.equal(observationOf({ 2: 'TX', 3: 'X^x^L', 5: 'line one~line two' }).o.valueString, 'line one\nline two');
    assert.equal(observationOf({ 2: 'FT', 3: 'X^x^L', 5: 'Impression:\\.br\\No acute findings' }).o.valueString, 'Impression:\nNo acute findings');
  });

  it('DT / TS keep precision and timezone', () => {
    assert.equal(observationOf({ 2: 'DT', 3: 'X^x^L', 5: '20240301' }).o.valueDateTime, '2024-03-01');
    assert.equal(observationOf({ 2: 'TS', 3: 'X^x^L', 5: '202403011015+0100' }).o.valueDateTime, '2024-03-01T10:15:00+01:00');
    // No offset sent: MSH-7's (-05:00) applies.
    assert.equal(observationOf({ 2: 'DTM', 3: 'X^x^L', 5: '20240301101530.25' }).o.valueDateTime, '2024-03-01T10:15:30.25-05:00');
  });

  it('TM -> valueTime (the offset, which FHIR time cannot hold, is reported)', () => {
    assert.equal(observationOf({ 2: 'TM', 3: 'X^x^L', 5: '0830' }).o.valueTime, '08:30:00');
    const { o, result } = observationOf({ 2: 'TM', 3: 'X^x^L', 5: '083015-0500' });
    assert.equal(o.valueTime, '08:30:15');
    assert.ok(result.report.warnings.some((w) => w.includes('TM offset')));
  });

  it('CX -> valueString with the assigning authority', () => {
    assert.equal(observationOf({ 2: 'CX', 3: 'X^x^L', 5: 'A123^^^HOSP' }).o.valueString, 'A123 (HOSP)');
  });

  it('ED -> DocumentReference (base64 data, contentType) referenced by derivedFrom', () => {
    const { o, result } = observationOf({ 2: 'ED', 3: '11502-2^Lab report^LN', 5: '^AP^PDF^Base64^JVBERi0x\\.br\\LjQK' });
    const doc = one<DocumentReference>(result.bundle, 'DocumentReference');
    assert.equal(doc.status, 'current');
    assert.equal(doc.content[0]?.attachment.contentType, 'application/pdf');
    assert.equal(doc.content[0]?.attachment.data, 'JVBERi0xLjQK');
    assert.equal(doc.type?.coding?.[0]?.code, '11502-2');
    assert.deepEqual(o.derivedFrom, [{ reference: ref(doc) }]);
    assert.equal(o.subject?.reference, doc.subject?.reference);
  });

  it('ED with ASCII data is base64-encoded', () => {
    const { result } = observationOf({ 2: 'ED', 3: 'X^x^L', 5: '^TEXT^plain^A^hello' });
    const doc = one<DocumentReference>(result.bundle, 'DocumentReference');
    assert.equal(doc.content[0]?.attachment.contentType, 'text/plain');
    assert.equal(Buffer.from(doc.content[0]?.attachment.data ?? '', 'base64').toString('utf8'), 'hello');
  });

  it('repeated coded values become components with the OBX-3 code', () => {
    const { o } = observationOf({ 2: 'CWE', 3: '11475-1^Organism^LN', 5: 'A^Staph^L~B^Strep^L' });
    assert.equal(o.valueCodeableConcept, undefined);
    assert.deepEqual(o.component?.map((c) => c.valueCodeableConcept?.coding?.[0]?.code), ['A', 'B']);
    assert.equal(o.component?.[0]?.code.coding?.[0]?.code, '11475-1');
  });

  it('no OBX-2 and no OBX-5 -> an Observation with a dataAbsentReason', () => {
    const { o } = observationOf({ 3: 'X^x^L' });
    assert.equal(o.dataAbsentReason?.coding?.[0]?.code, 'unknown');
    assert.equal(Object.keys(o).some((k) => k.startsWith('value')), false);
  });
});

describe('OBX -> Observation: status, interpretation, range, times, performers', () => {
  it('maps OBX-11 through table 0085', () => {
    const status = (code: string): string => observationOf({ 2: 'NM', 3: 'X^x^L', 5: '1', 11: code }).o.status;
    assert.deepEqual(['F', 'P', 'C', 'D', 'W', 'A', 'R', 'I'].map(status), ['final', 'preliminary', 'corrected', 'entered-in-error', 'entered-in-error', 'amended', 'unknown', 'unknown']);
    // A code the IG leaves open keeps the v2 code beside the unknown status.
    const r = observationOf({ 2: 'NM', 3: 'X^x^L', 5: '1', 11: 'R' }).o as Observation & { _status?: { extension?: Array<{ valueCodeableConcept?: { coding?: Array<{ code?: string }> } }> } };
    assert.equal(r._status?.extension?.[0]?.valueCodeableConcept?.coding?.[0]?.code, 'R');
    const { o } = observationOf({ 3: 'X^x^L', 11: 'X' });
    assert.equal(o.status, 'cancelled');
    assert.equal(o.dataAbsentReason?.coding?.[0]?.code, 'not-performed');
    const alt = (o as Observation & { _status?: { extension?: Array<{ valueCodeableConcept?: { coding?: Array<{ code?: string }> } }> } })._status;
    assert.equal(alt?.extension?.[0]?.valueCodeableConcept?.coding?.[0]?.code, 'X');
  });

  it('maps OBX-8 to v3 ObservationInterpretation and parses OBX-7', () => {
    const { o } = observationOf({ 2: 'NM', 3: 'X^x^L', 5: '250', 6: 'mg/dL', 7: '125-200', 8: 'H~HH' });
    assert.deepEqual(o.interpretation?.map((i) => [i.coding?.[0]?.system, i.coding?.[0]?.code]), [
      ['http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', 'H'],
      ['http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', 'HH'],
    ]);
    assert.equal(o.referenceRange?.[0]?.text, '125-200');
    assert.deepEqual([o.referenceRange?.[0]?.low?.value, o.referenceRange?.[0]?.high?.value, o.referenceRange?.[0]?.high?.code], [125, 200, 'mg/dL']);
    assert.equal(observationOf({ 2: 'NM', 3: 'X^x^L', 5: '1', 7: 'negative' }).o.referenceRange?.[0]?.low, undefined);
  });

  it('maps effective (OBX-14), analysis time (OBX-19), method, body site, device and performers', () => {
    const { o, result } = observationOf({
      2: 'NM', 3: 'X^x^L', 5: '1', 14: '20240305091500', 16: '77^Tech^Tom', 17: 'M1^Method^L', 18: 'ANALYZER-1^LAB~SN555^MFR', 19: '202403050930-0500', 20: 'LA^Left arm^HL70163',
      23: 'Main Lab^L^^^^CLIA&2.16.840.1.113883.4.7&ISO^XX^^^05D0000000', 24: '1 Lab Way^^Town^ST^12345', 25: '88^Director^Dana',
    });
    assert.equal(o.effectiveDateTime, '2024-03-05T09:15:00-05:00');
    assert.deepEqual(o.extension?.find((e) => e.url.endsWith('observation-analysis-date-time'))?.valueDateTime, '2024-03-05T09:30:00-05:00');
    assert.equal(o.method?.coding?.[0]?.code, 'M1');
    assert.equal(o.bodySite?.coding?.[0]?.code, 'LA');
    const device = result.bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'Device');
    assert.deepEqual((device as { identifier?: Array<{ value?: string }> } | undefined)?.identifier?.map((i) => i.value), ['ANALYZER-1', 'SN555']);
    assert.equal(o.device?.reference, `Device/${device?.id ?? ''}`);
    const role = one<PractitionerRole>(result.bundle, 'PractitionerRole');
    assert.equal(role.code?.[0]?.coding?.[0]?.code, 'MDIR');
    const lab = all<Organization>(result.bundle, 'Organization').find((org) => org.name === 'Main Lab');
    assert.equal(lab?.address?.[0]?.city, 'Town');
    assert.equal(role.organization?.reference, lab !== undefined ? ref(lab) : 'missing');
    assert.deepEqual(o.performer?.map((p) => p.reference?.split('/')[0]), ['Practitioner', 'PractitionerRole']);
  });

  it('reports every present OBX field as mapped or skipped, none unmapped', () => {
    const { result } = observationOf({ 2: 'NM', 3: 'X^x^L', 5: '1', 9: '0.5', 12: '20240101', 13: 'X', 22: 'EVN', 26: 'Y', 31: 'A' });
    const obx = result.report.segments.find((s) => s.segment === 'OBX');
    assert.ok(obx !== undefined);
    assert.deepEqual(obx.fields.filter((f) => f.status === 'unmapped'), []);
    assert.equal(fieldStatus(result.report, 'OBX-9'), 'skipped');
  });
});

describe('OBX ids', () => {
  it('OBX-4 keeps results with the same code apart, and the ids are stable across re-sends', () => {
    const a = oru('OBX|1|NM|X^x^L|1|1||||||F', 'OBX|2|NM|X^x^L|2|2||||||F');
    const ids = all<Observation>(a.bundle, 'Observation').map((o) => o.id);
    assert.equal(new Set(ids).size, 2);
    // Same order and results in another message (new control id): same ids, so an update.
    const b = convert('ORU^R01', [PID, OBR, 'OBX|1|NM|X^x^L|1|1||||||F', 'OBX|2|NM|X^x^L|2|2||||||F'], 'MSG2');
    assert.deepEqual(all<Observation>(b.bundle, 'Observation').map((o) => o.id), ids);
    assert.deepEqual(all<Observation>(a.bundle, 'Observation').map((o) => o.extension?.find((e) => e.url.endsWith('observation-v2-subid'))?.valueString), ['1', '2']);
  });

  it('two OBX with the same code and no sub-id are not merged', () => {
    const { bundle } = oru('OBX|1|ST|X^x^L||first||||||F', 'OBX|2|ST|X^x^L||second||||||F');
    assert.deepEqual(all<Observation>(bundle, 'Observation').map((o) => o.valueString), ['first', 'second']);
  });
});
