import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle, DiagnosticReport, Observation, Patient, Resource } from '@medplum/fhirtypes';
import { parseMessage, validateMessage } from '../../hl7v2/index.ts';
import { convertFhirToV2 } from '../fhir-to-v2.ts';

const now = (): Date => new Date('2024-03-05T12:00:00Z');
const LOINC = 'http://loinc.org';

const patient: Patient = { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1', assigner: { display: 'HOSP' } }], name: [{ family: 'Doe', given: ['Jane'] }], gender: 'female', birthDate: '1980-02-03' };

function obs(id: string, extra: Partial<Observation>): Observation {
  return { resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: LOINC, code: `c-${id}`, display: `Test ${id}` }] }, subject: { reference: 'Patient/p1' }, ...extra };
}

function bundle(report: Partial<DiagnosticReport>, observations: Observation[], more: Resource[] = []): Bundle {
  const dr: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    id: 'dr1',
    status: 'final',
    code: { coding: [{ system: LOINC, code: '24323-8', display: 'Comprehensive metabolic panel' }] },
    subject: { reference: 'urn:uuid:p1' },
    result: observations.map((o) => ({ reference: `Observation/${o.id as string}` })),
    ...report,
  };
  return { resourceType: 'Bundle', type: 'collection', entry: [dr, ...observations, patient, ...more].map((resource) => ({ fullUrl: `urn:uuid:${resource.id as string}`, resource })) };
}

function oru(b: Bundle, version?: string) {
  const r = convertFhirToV2(b, { now, controlId: 'CTRL1', ...(version !== undefined ? { version } : {}) });
  return { ...r, msg: parseMessage(r.message.toString()) };
}

describe('DiagnosticReport -> ORU^R01', () => {
  it('builds MSH, PID, ORC, OBR and one OBX per result, valid for the ORU_R01 structure', () => {
    const { msg, report } = oru(bundle({ effectiveDateTime: '2024-03-05T08:15:00-05:00', issued: '2024-03-05T11:00:00Z', identifier: [{ value: 'F77', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] } }] }, [obs('a', { valueQuantity: { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' } }), obs('b', { valueString: 'clear' })]));
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'PID', 'ORC', 'OBR', 'OBX', 'OBX']);
    assert.equal(msg.get('MSH-9'), 'ORU^R01^ORU_R01');
    assert.equal(msg.get('MSH-10'), 'CTRL1');
    assert.equal(msg.get('MSH-12'), '2.5.1');
    assert.equal(msg.get('PID-3.1'), 'MRN1');
    assert.equal(msg.get('ORC-1'), 'RE');
    assert.equal(msg.get('ORC-3.1'), 'F77');
    assert.equal(msg.get('OBR-3.1'), 'F77');
    assert.equal(msg.getRaw('OBR-4'), '24323-8^Comprehensive metabolic panel^LN');
    assert.equal(msg.get('OBR-7'), '20240305081500-0500');
    assert.equal(msg.get('OBR-22'), '20240305110000+0000');
    assert.equal(msg.get('OBR-25'), 'F');
    assert.deepEqual(msg.getAll('OBX-1'), ['1', '2']);
    const v = validateMessage(msg);
    assert.deepEqual(v.issues.filter((i) => i.severity === 'error').map((i) => i.message), []);
    assert.ok(report.mapped.includes('DiagnosticReport.code -> OBR-4'));
    assert.ok(report.mapped.includes('DiagnosticReport.status -> OBR-25'));
  });

  it('maps DiagnosticReport.status to OBR-25 (table 0123)', () => {
    const cases: Array<[DiagnosticReport['status'], string]> = [['final', 'F'], ['preliminary', 'P'], ['corrected', 'C'], ['amended', 'C'], ['cancelled', 'X'], ['registered', 'O'], ['partial', 'R']];
    for (const [status, code] of cases) assert.equal(oru(bundle({ status }, [obs('a', { valueString: 'x' })])).msg.get('OBR-25'), code, status);
    const { msg, report } = oru(bundle({ status: 'entered-in-error' }, [obs('a', { valueString: 'x' })]));
    assert.equal(msg.get('OBR-25'), undefined);
    assert.ok(report.unmapped.some((u) => u.element === 'DiagnosticReport/dr1.status'));
  });

  it('writes each Observation value type to OBX-2 / OBX-5 (and units to OBX-6)', () => {
    const cases: Array<[Partial<Observation>, string, string, string?]> = [
      [{ valueQuantity: { value: 5.4, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } }, 'NM', '5.4', 'mmol/L^mmol/L^UCUM'],
      [{ valueQuantity: { value: 5, comparator: '<', unit: 'U/L', system: 'http://unitsofmeasure.org', code: 'U/L' } }, 'SN', '<^5', 'U/L^U/L^UCUM'],
      [{ valueRange: { low: { value: 2, unit: 'g', system: 'http://unitsofmeasure.org', code: 'g' }, high: { value: 4 } } }, 'SN', '^2^-^4', 'g^g^UCUM'],
      [{ valueRatio: { numerator: { value: 1 }, denominator: { value: 128 } } }, 'SN', '^1^:^128'],
      [{ valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009', display: 'Negative' }] } }, 'CWE', '260385009^Negative^SCT'],
      [{ valueString: 'clear' }, 'ST', 'clear'],
      [{ valueString: 'a|b^c' }, 'ST', 'a\\F\\b\\S\\c'],
      [{ valueString: 'line one\nline two' }, 'FT', 'line one\\.br\\line two'],
      [{ valueString: 'x'.repeat(250) }, 'TX', 'x'.repeat(250)],
      [{ valueDateTime: '2024-03-05T10:30:00+01:00' }, 'DTM', '20240305103000+0100'],
      [{ valueTime: '10:30:00' }, 'TM', '103000'],
      [{ valueInteger: 3 }, 'NM', '3'],
      [{ valueBoolean: true }, 'CWE', 'Y^Yes^HL70136'],
      [{ valuePeriod: { start: '2024-03-01', end: '2024-03-05' } }, 'DR', '20240301^20240305'],
    ];
    for (const [value, type, raw, units] of cases) {
      const { msg } = oru(bundle({}, [obs('a', value)]));
      const label = JSON.stringify(value).slice(0, 60);
      assert.equal(msg.get('OBX-2'), type, label);
      assert.equal(msg.getRaw('OBX-5'), raw, label);
      assert.equal(msg.getRaw('OBX-6') || undefined, units, label);
    }
  });

  it('uses CE and TS for a v2.3 message, and leaves out fields the version lacks', () => {
    const { msg } = oru(bundle({}, [obs('a', { valueCodeableConcept: { coding: [{ system: LOINC, code: 'x' }] }, bodySite: { text: 'arm' } }), obs('b', { valueDateTime: '2024-03-05' })]), '2.3');
    assert.equal(msg.get('MSH-12'), '2.3');
    assert.equal(msg.get('MSH-9'), 'ORU^R01');
    assert.deepEqual(msg.getAll('OBX-2'), ['CE', 'TS']);
    assert.equal(msg.get('OBX-20'), undefined);
  });

  it('writes OBX-3, OBX-7, OBX-8, OBX-11, OBX-14, OBX-16/23 performers and NTE from notes', () => {
    const o = obs('a', {
      status: 'preliminary',
      valueQuantity: { value: 150, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
      referenceRange: [{ low: { value: 70 }, high: { value: 99 } }],
      interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H', display: 'High' }] }],
      effectiveDateTime: '2024-03-05T08:00:00-05:00',
      performer: [{ reference: 'Practitioner/pr1' }, { reference: 'Organization/lab' }],
      note: [{ text: 'hemolyzed ^ sample\nrepeat advised' }],
    });
    const more: Resource[] = [
      { resourceType: 'Practitioner', id: 'pr1', identifier: [{ value: 'D1' }], name: [{ family: 'Who', given: ['Doc'] }] },
      { resourceType: 'Organization', id: 'lab', name: 'Main Lab', identifier: [{ system: 'urn:oid:2.16.5', value: 'LAB1' }] },
    ];
    const { msg } = oru(bundle({}, [o], more));
    assert.equal(msg.getRaw('OBX-3'), 'c-a^Test a^LN');
    assert.equal(msg.get('OBX-7'), '70-99');
    assert.equal(msg.getRaw('OBX-8'), 'H^High^HL70078');
    assert.equal(msg.get('OBX-11'), 'P');
    assert.equal(msg.get('OBX-14'), '20240305080000-0500');
    assert.equal(msg.getRaw('OBX-16'), 'D1^Who^Doc');
    assert.equal(msg.getRaw('OBX-23'), 'Main Lab^^^^^&2.16.5&ISO^^^^LAB1');
    assert.equal(msg.get('NTE-1'), '1');
    assert.equal(msg.getRaw('NTE-3'), 'hemolyzed \\S\\ sample\\.br\\repeat advised');
  });

  it('maps Observation.status to OBX-11 (table 0085), amended by version', () => {
    const cases: Array<[Observation['status'], string]> = [['final', 'F'], ['preliminary', 'P'], ['corrected', 'C'], ['cancelled', 'X'], ['entered-in-error', 'W'], ['registered', 'I']];
    for (const [status, code] of cases) assert.equal(oru(bundle({}, [obs('a', { status, valueString: 'x' })])).msg.get('OBX-11'), code, status);
    assert.equal(oru(bundle({}, [obs('a', { status: 'amended', valueString: 'x' })])).msg.get('OBX-11'), 'C');
    assert.equal(oru(bundle({}, [obs('a', { status: 'amended', valueString: 'x' })]), '2.8').msg.get('OBX-11'), 'A');
  });

  it('follows hasMember and writes components as further OBX', () => {
    const panel = obs('panel', { hasMember: [{ reference: 'Observation/m1' }] });
    const member = obs('m1', { valueString: 'member' });
    const bp = obs('bp', { component: [{ code: { coding: [{ system: LOINC, code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } }, { code: { coding: [{ system: LOINC, code: '8462-4' }] }, valueQuantity: { value: 80 } }] });
    const b = bundle({ result: [{ reference: 'Observation/panel' }, { reference: 'Observation/bp' }] }, [panel, member, bp]);
    const { msg } = oru(b);
    assert.deepEqual(msg.getAll('OBX-3.1'), ['c-panel', 'c-m1', '8480-6', '8462-4']);
    // The panel itself has no value: its OBX-5 is empty.
    assert.deepEqual(msg.getAll('OBX-5'), ['', 'member', '120', '80']);
  });

  it('adds PV1 for an Encounter and SPM for a Specimen (v2.5+)', () => {
    const more: Resource[] = [
      { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, identifier: [{ value: 'V1' }] },
      { resourceType: 'Specimen', id: 's1', accessionIdentifier: { value: 'ACC1' }, type: { coding: [{ system: 'http://snomed.info/sct', code: '119297000', display: 'Blood' }] }, collection: { collectedDateTime: '2024-03-05T07:00:00Z' } },
    ];
    const { msg } = oru(bundle({ encounter: { reference: 'Encounter/e1' }, specimen: [{ reference: 'Specimen/s1' }] }, [obs('a', { valueString: 'x' })], more));
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'PID', 'PV1', 'ORC', 'OBR', 'OBX', 'SPM']);
    assert.equal(msg.get('PV1-2'), 'O');
    assert.equal(msg.get('PV1-19'), 'V1');
    assert.equal(msg.getRaw('SPM-2'), '^ACC1');
    assert.equal(msg.getRaw('SPM-4'), '119297000^Blood^SCT');
    assert.equal(msg.get('SPM-17'), '20240305070000+0000');
    assert.deepEqual(validateMessage(msg).issues.filter((i) => i.severity === 'error').map((i) => i.message), []);
  });

  it('writes one ORDER_OBSERVATION group per report about the patient', () => {
    const second: DiagnosticReport = { resourceType: 'DiagnosticReport', id: 'dr2', status: 'preliminary', code: { coding: [{ system: LOINC, code: '58410-2', display: 'CBC' }] }, subject: { reference: 'Patient/p1' }, result: [{ reference: 'Observation/c' }], identifier: [{ value: 'F78', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL' }] } }] };
    const other: DiagnosticReport = { resourceType: 'DiagnosticReport', id: 'dr3', status: 'final', code: { text: 'other patient' }, subject: { reference: 'Patient/someone-else' } };
    const { msg, report } = oru(bundle({}, [obs('a', { valueString: 'x' }), obs('b', { valueString: 'y' })], [second, obs('c', { valueString: 'z' }), other]));
    assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'PID', 'ORC', 'OBR', 'OBX', 'OBX', 'ORC', 'OBR', 'OBX']);
    assert.deepEqual(msg.getAll('OBR-1'), ['1', '2']);
    assert.deepEqual(msg.getAll('OBR-25'), ['F', 'P']);
    assert.equal(msg.get('OBR[2]-3'), 'F78');
    // OBX set ids restart in each group.
    assert.deepEqual(msg.getAll('OBX-1'), ['1', '2', '1']);
    assert.ok(report.unmapped.some((u) => u.element === 'DiagnosticReport/dr3'));
    assert.deepEqual(validateMessage(msg).issues.filter((i) => i.severity === 'error').map((i) => i.message), []);
  });

  it('reports results that are not in the input, and refuses a report without a patient', () => {
    const b = bundle({ result: [{ reference: 'Observation/a' }, { reference: 'Observation/missing' }] }, [obs('a', { valueString: 'x' })]);
    const { report } = oru(b);
    assert.ok(report.unmapped.some((u) => u.element === 'DiagnosticReport/dr1.result' && /not an Observation in the input/.test(u.reason)));
    const alone: DiagnosticReport = { resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/nowhere' } };
    assert.throws(() => convertFhirToV2(alone, { now }), { code: 'SWB_ERR_MAP_FHIR_INPUT' });
  });
});
