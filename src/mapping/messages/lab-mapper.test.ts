import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiagnosticReport, Observation, Patient, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { all, convert, one, PID, ref, seg } from '../segments/lab-test-kit.ts';

const refs = (xs: ReadonlyArray<{ reference?: string }> | undefined): string[] => (xs ?? []).map((x) => x.reference ?? '');

describe('ORU^R01', () => {
  it('two ORDER_OBSERVATION groups -> two DiagnosticReports, each with its own results', () => {
    const { bundle, report } = convert('ORU^R01', [
      PID,
      'PV1|1|O|CLINIC^1^^HOSP||||||||||||||||V1^^^HOSP^VN',
      'ORC|RE|PL1^EHR|FL1^LAB',
      'OBR|1|PL1^EHR|FL1^LAB|24331-1^Lipid panel^LN|||20240305080000-0500|20240305081500-0500||||||||||||||20240305100000-0500||CH|F',
      'OBX|1|NM|2093-3^Cholesterol^LN||185|mg/dL|||||F',
      'OBX|2|NM|2571-8^Triglyceride^LN||150|mg/dL|||||F',
      'ORC|RE|PL2^EHR|FL2^LAB',
      'OBR|2|PL2^EHR|FL2^LAB|58410-2^CBC^LN|||20240305080000-0500|||||||||||||||||HM|P',
      'OBX|1|NM|718-7^Hemoglobin^LN||13.5|g/dL|||||P',
    ]);
    const reports = all<DiagnosticReport>(bundle, 'DiagnosticReport');
    const obs = all<Observation>(bundle, 'Observation');
    assert.equal(reports.length, 2);
    assert.equal(obs.length, 3);
    const [lipid, cbc] = reports as [DiagnosticReport, DiagnosticReport];
    const code = (r: { reference?: string }): string | undefined => obs.find((o) => ref(o) === r.reference)?.code.coding?.[0]?.code;
    assert.deepEqual((lipid.result ?? []).map(code), ['2093-3', '2571-8']);
    assert.deepEqual((cbc.result ?? []).map(code), ['718-7']);
    assert.deepEqual([lipid.status, cbc.status], ['final', 'preliminary']);
    assert.deepEqual(lipid.effectivePeriod, { start: '2024-03-05T08:00:00-05:00', end: '2024-03-05T08:15:00-05:00' });
    assert.equal(cbc.effectiveDateTime, '2024-03-05T08:00:00-05:00');
    assert.equal(lipid.issued, '2024-03-05T10:00:00-05:00');
    assert.deepEqual(lipid.category?.map((c) => c.coding?.[0]?.code), ['laboratory', 'CH']);
    assert.equal(lipid.identifier?.find((i) => i.type?.coding?.[0]?.code === 'FILL')?.value, 'FL1');
    // Each report is based on its own ServiceRequest; each result too.
    const requests = all<ServiceRequest>(bundle, 'ServiceRequest');
    assert.equal(requests.length, 2);
    assert.deepEqual(refs(lipid.basedOn), [ref(requests[0] as ServiceRequest)]);
    assert.deepEqual(refs(cbc.basedOn), [ref(requests[1] as ServiceRequest)]);
    assert.equal(obs[2]?.basedOn?.[0]?.reference, ref(requests[1] as ServiceRequest));
    const patient = one<Patient>(bundle, 'Patient');
    assert.ok(obs.every((o) => o.subject?.reference === ref(patient) && o.encounter !== undefined));
    // US Core lab category from OBR-24 (CH, HM are laboratory sections).
    assert.ok(obs.every((o) => o.category?.some((c) => c.coding?.[0]?.code === 'laboratory')));
    assert.equal(requests[0]?.status, 'completed', 'ORC-1 RE says nothing; OBR-25 F implies a completed request');
    assert.equal(report.summary.fieldsUnmapped, 0);
  });

  it('two PATIENT_RESULT groups -> each report and result on its own patient', () => {
    const { bundle } = convert('ORU^R01', [
      'PID|1||P1^^^HOSP^MR||One^Ann',
      'OBR|1||F1^LAB|X^x^L||||||||||||||||||||F',
      'OBX|1|ST|A^a^L||one||||||F',
      'PID|1||P2^^^HOSP^MR||Two^Bob',
      'OBR|1||F2^LAB|X^x^L||||||||||||||||||||F',
      'OBX|1|ST|A^a^L||two||||||F',
    ]);
    const patients = all<Patient>(bundle, 'Patient');
    assert.equal(patients.length, 2);
    const obs = all<Observation>(bundle, 'Observation');
    assert.deepEqual(obs.map((o) => [o.valueString, o.subject?.reference]), [
      ['one', ref(patients[0] as Patient)],
      ['two', ref(patients[1] as Patient)],
    ]);
    assert.deepEqual(all<DiagnosticReport>(bundle, 'DiagnosticReport').map((r) => r.subject?.reference), patients.map(ref));
  });

  it('OBX after SPM are linked to that Specimen, and listed in the report', () => {
    const { bundle } = convert('ORU^R01', [
      PID,
      'OBR|1||F1^LAB|625-4^Stool culture^LN||||||||||||||||||||F',
      'OBX|1|CWE|625-4^Culture^LN||260373001^Detected^SCT||||||F',
      'SPM|1|S100&EHR^S200&LAB||119339001^Stool specimen^SCT|||||||||||||20240304120000-0500|20240304130000-0500',
      'OBX|1|NM|SPEC-TEMP^Specimen temperature^L||4|Cel||||||F',
    ]);
    const specimen = one<Specimen>(bundle, 'Specimen');
    assert.equal(specimen.type?.coding?.[0]?.code, '119339001');
    assert.deepEqual(specimen.identifier?.map((i) => [i.value, i.type?.coding?.[0]?.code]), [
      ['S100', 'PLAC'],
      ['S200', 'FILL'],
    ]);
    assert.equal(specimen.collection?.collectedDateTime, '2024-03-04T12:00:00-05:00');
    assert.equal(specimen.receivedTime, '2024-03-04T13:00:00-05:00');
    const obs = all<Observation>(bundle, 'Observation');
    const temp = obs.find((o) => o.code.coding?.[0]?.code === 'SPEC-TEMP');
    assert.equal(temp?.specimen?.reference, ref(specimen));
    const report = one<DiagnosticReport>(bundle, 'DiagnosticReport');
    assert.deepEqual(refs(report.specimen), [ref(specimen)]);
    assert.equal(report.result?.length, 2, 'the specimen observation is a result of the report too');
    assert.equal(one<ServiceRequest>(bundle, 'ServiceRequest').specimen?.[0]?.reference, ref(specimen));
  });

  it('places NTE on the request (after OBR) or on the observation (after OBX); patient notes are reported', () => {
    const { bundle, report } = convert('ORU^R01', [
      PID,
      'NTE|1||patient note',
      'OBR|1||F1^LAB|X^x^L||||||||||||||||||||F',
      'NTE|1||order note',
      'OBX|1|ST|A^a^L||v||||||F',
      'NTE|1||result note line 1~line 2',
    ]);
    assert.deepEqual(one<ServiceRequest>(bundle, 'ServiceRequest').note?.map((n) => n.text), ['order note']);
    assert.deepEqual(one<Observation>(bundle, 'Observation').note?.map((n) => n.text), ['result note line 1\nline 2']);
    const patientNote = report.segments.find((s) => s.segment === 'NTE' && s.segmentIndex === 3);
    assert.equal(patientNote?.status, 'unmapped');
    assert.match(patientNote?.reason ?? '', /patient notes/);
  });

  it('maps PRT participants of the order (OP requester, PRI results interpreter)', () => {
    const { bundle } = convert('ORU^R01', [
      PID,
      'OBR|1||F1^LAB|X^x^L||||||||||||||||||||F',
      seg('PRT', { 4: 'OP^Ordering Provider^HL70912', 5: '11^Order^Olga' }),
      seg('PRT', { 4: 'PRI^Principal Result Interpreter^HL70912', 5: '22^Reader^Rita' }),
      'OBX|1|ST|A^a^L||v||||||F',
    ]);
    const sr = one<ServiceRequest>(bundle, 'ServiceRequest');
    const dr = one<DiagnosticReport>(bundle, 'DiagnosticReport');
    assert.match(sr.requester?.reference ?? '', /^PractitionerRole\//);
    assert.match(dr.resultsInterpreter?.[0]?.reference ?? '', /^PractitionerRole\//);
    assert.notEqual(sr.requester?.reference, dr.resultsInterpreter?.[0]?.reference);
  });

  it('gives the same ids when the same message is converted again', () => {
    const msg = [PID, 'ORC|RE|PL1|FL1', 'OBR|1|PL1|FL1|X^x^L||||||||||||||||||||F', 'OBX|1|NM|A^a^L||1||||||F', 'SPM|1|S1||BLD'];
    const a = convert('ORU^R01', msg).bundle.entry?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
    const b = convert('ORU^R01', msg).bundle.entry?.map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);
    assert.deepEqual(a, b);
  });

  it('maps an OBX the structure has no place for instead of dropping it', () => {
    const { bundle, report } = convert('ORU^R01', [PID, 'OBX|1|ST|A^a^L||orphan||||||F', 'OBR|1||F1^LAB|X^x^L||||||||||||||||||||F', 'OBX|1|ST|B^b^L||kept||||||F']);
    assert.deepEqual(all<Observation>(bundle, 'Observation').map((o) => o.valueString).sort(), ['kept', 'orphan']);
    assert.ok(report.segments.filter((s) => s.segment === 'OBX').every((s) => s.status !== 'unmapped'));
  });
});

describe('OML^O21 and ORM^O01', () => {
  it('OML with two ORDER groups -> two ServiceRequests with their own codes, timing, specimens and OBX', () => {
    const { bundle, report } = convert('OML^O21', [
      'NTE|1||fasting patient',
      PID,
      'ORC|NW|PL1^EHR||GRP1^EHR|||||20240305090000-0500|||11^Order^Olga',
      'TQ1|1||||||20240306080000-0500||S',
      'OBR|1|PL1^EHR||2345-7^Glucose^LN',
      'NTE|1||draw before breakfast',
      'OBX|1|NM|8302-2^Body height^LN||170|cm|||||F',
      'SPM|1|SP1&EHR||BLD^Whole blood^HL70487',
      'ORC|NW|PL2^EHR',
      'OBR|1|PL2^EHR||24331-1^Lipid panel^LN',
    ]);
    const requests = all<ServiceRequest>(bundle, 'ServiceRequest');
    assert.equal(requests.length, 2);
    const [glucose, lipid] = requests as [ServiceRequest, ServiceRequest];
    assert.deepEqual(requests.map((r) => r.code?.coding?.[0]?.code), ['2345-7', '24331-1']);
    assert.deepEqual(requests.map((r) => [r.status, r.intent]), [
      ['active', 'order'],
      ['active', 'order'],
    ]);
    assert.equal(glucose.identifier?.[0]?.value, 'PL1');
    assert.equal(glucose.requisition?.value, 'GRP1');
    assert.equal(glucose.authoredOn, '2024-03-05T09:00:00-05:00');
    assert.equal(glucose.occurrenceDateTime, '2024-03-06T08:00:00-05:00');
    assert.equal(glucose.priority, 'stat');
    assert.deepEqual(glucose.note?.map((n) => n.text), ['draw before breakfast', 'fasting patient']);
    assert.deepEqual(lipid.note?.map((n) => n.text), ['fasting patient']);
    const obs = one<Observation>(bundle, 'Observation');
    assert.deepEqual(refs(glucose.supportingInfo), [ref(obs)]);
    const specimen = one<Specimen>(bundle, 'Specimen');
    assert.deepEqual(refs(glucose.specimen), [ref(specimen)]);
    assert.equal(lipid.specimen, undefined);
    assert.equal(all<DiagnosticReport>(bundle, 'DiagnosticReport').length, 0, 'an order message makes no report');
    assert.equal(report.summary.fieldsUnmapped, 0);
  });

  it('ORM with OBR-15 specimen source -> Specimen from OBR; ORC-5 sets the status', () => {
    const { bundle } = convert('ORM^O01', [PID, 'ORC|SC|PL9|FL9||CM', 'OBR|1|PL9|FL9|X^x^L|R|20240305|||||||||BLD&Whole blood&HL70070^^^LA&Left arm&HL70163|22^Doc^Dan']);
    const sr = one<ServiceRequest>(bundle, 'ServiceRequest');
    assert.equal(sr.status, 'completed');
    assert.equal(sr.priority, 'routine');
    assert.match(sr.requester?.reference ?? '', /^Practitioner\//);
    const sp = one<Specimen>(bundle, 'Specimen');
    assert.equal(sp.type?.coding?.[0]?.code, 'BLD');
    assert.equal(sp.collection?.bodySite?.coding?.[0]?.code, 'LA');
    assert.deepEqual(refs(sr.specimen), [ref(sp)]);
  });
});
