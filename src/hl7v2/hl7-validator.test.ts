import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildAck, summarizeAck } from './hl7-ack.ts';
import { Hl7Message, parseMessage } from './hl7-message.ts';
import { validateMessage, validationErrorsToAck, type ValidationIssue, type ValidationResult } from './hl7-validator.ts';

// Messages written for these tests; identifiers, names and dates are invented.
const msg = (...lines: string[]): Hl7Message => parseMessage(lines.join('\r'));
const errors = (r: ValidationResult): ValidationIssue[] => r.issues.filter((i) => i.severity === 'error');
const brief = (i: ValidationIssue): string => `${i.code} ${i.where}`;

const MSH = (type: string, version = '2.5.1'): string => `MSH|^~\\&|SEND|NORTH|RECV|NORTH|20240305103000-0500||${type}|CTRL0001|P|${version}`;
const PID = 'PID|1||MRN100^^^NORTH^MR||RIVERA^ANA^M||19800214|F';

const VALID: Readonly<Record<string, string[]>> = {
  ADT_A01: [
    MSH('ADT^A01^ADT_A01'),
    'EVN|A01|20240305103000',
    PID,
    'PD1|||NORTH CLINIC',
    'NK1|1|RIVERA^LUIS|SPO^Spouse^HL70063',
    'PV1|1|I|W1^101^A||||1234^HOUSE^GREG',
    'PV2|||^Chest pain',
    'OBX|1|NM|8302-2^Height^LN||170|cm|||||F',
    'AL1|1|DA|70618^Penicillin^RXNORM|SV',
    'DG1|1||I20.9^Angina^I10||20240305|A',
    'PR1|1||0DTJ4ZZ^Resection^I10P||20240305',
    'IN1|1|PLAN1^Gold plan^L|INSCO1^^^NORTH',
  ],
  ADT_A03: [MSH('ADT^A03^ADT_A03'), 'EVN|A03|20240306090000', PID, 'PV1|1|I|W1^101^A|||||||||||||||||||||||||||||||||||||20240306'],
  ADT_A05: [MSH('ADT^A31^ADT_A05'), 'EVN|A31|20240306090000', PID, 'PV1|1|N'],
  ADT_A39: [MSH('ADT^A40^ADT_A39', '2.5'), 'EVN|A40|20240305110000', PID, 'MRG|MRN101^^^NORTH^MR', 'PID|2||MRN200^^^NORTH^MR||LUND^ERIK', 'MRG|MRN201^^^NORTH^MR'],
  ORU_R01: [
    MSH('ORU^R01^ORU_R01'),
    PID,
    'ORC|RE|PL100|FL100',
    'OBR|1|PL100|FL100|24323-8^Metabolic panel^LN|||20240305080000-0500',
    'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|70-99|N|||F|||20240305080000-0500',
    'NTE|1|L|fasting',
    'OBX|2|SN|2160-0^Creatinine^LN||<^0.5|mg/dL|||||F',
    'SPM|1|SP100||SER^Serum^HL70487|||||||||||||20240305080000-0500',
    'OBX|1|DT|SPDATE^Date^L||20240305||||||F',
  ],
  ORM_O01: [MSH('ORM^O01^ORM_O01'), PID, 'PV1|1|O', 'ORC|NW|PL1', 'OBR|1|PL1||71045^Chest X-ray^CPT', 'DG1|1||R05^Cough^I10|||W'],
  OML_O21: [MSH('OML^O21^OML_O21'), PID, 'ORC|NW|PL1', 'OBR|1|PL1||2345-7^Glucose^LN', 'SPM|1|SP1||SER^Serum^HL70487', 'ORC|NW|PL2', 'OBR|2|PL2||718-7^Hemoglobin^LN'],
  SIU_S12: [
    MSH('SIU^S12^SIU_S12'),
    'SCH|APT1|APT1||||ROUTINE^Routine^HL70276|||30|min',
    'NTE|1||bring referral',
    PID,
    'PV1|1|O',
    'RGS|1|A',
    'AIS|1|A|99213^Office visit^CPT|20240310090000|0|min|30|min',
    'AIL|1|A|CLINIC1^^^NORTH|||20240310090000',
    'AIP|1|A|1234^HOUSE^GREG|ATT|||20240310090000',
  ],
  MDM_T02: [
    MSH('MDM^T02^MDM_T02'),
    'EVN|T02|20240305120000',
    PID,
    'PV1|1|O',
    'TXA|1|CN|TX|20240305115000||||||||DOC100|||||AU',
    'OBX|1|TX|NOTE^Clinic note^L||Patient seen today.||||||F',
    'OBX|2|TX|NOTE^Clinic note^L||Follow up in two weeks.||||||F',
  ],
  MDM_T01: [MSH('MDM^T01^MDM_T01'), 'EVN|T01|20240305120000', PID, 'PV1|1|O', 'TXA|1|CN|TX|20240305115000||||||||DOC101|||||IP'],
  VXU_V04: [
    MSH('VXU^V04^VXU_V04'),
    PID,
    'NK1|1|RIVERA^LUIS|FTH^Father^HL70063',
    'ORC|RE|PL1|FL1',
    'RXA|0|1|20240301|20240301|08^HepB^CVX|0.5|mL',
    'RXR|IM^Intramuscular^HL70162',
    'OBX|1|CE|64994-7^Funding eligibility^LN|1|V02^VFC eligible^HL70064||||||F',
  ],
  ACK: [MSH('ACK^A01^ACK'), 'MSA|AA|CTRL0000'],
};

describe('validateMessage', () => {
  for (const [structure, lines] of Object.entries(VALID)) {
    test(`a conformant ${structure} has no errors`, () => {
      const r = validateMessage(msg(...lines));
      assert.equal(r.structure, structure);
      assert.deepEqual(errors(r).map((i) => `${brief(i)} ${i.message}`), []);
      assert.equal(r.valid, true);
      assert.equal(r.version, lines[0]?.split('|')[11]);
    });
  }

  test('a conformant v2.3 ORU without SPM has no errors', () => {
    const r = validateMessage(msg(MSH('ORU^R01', '2.3'), PID, 'OBR|1|PL1||GLU^Glucose^L', 'OBX|1|NM|GLU^Glucose^L||95|mg/dL|||||F', 'NTE|1||x'));
    assert.deepEqual(errors(r), []);
  });

  test('a missing PID is a segment sequence error (100) naming PID', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', 'PV1|1|I'));
    assert.equal(r.valid, false);
    const e = errors(r);
    assert.equal(e.length, 1);
    assert.equal(e[0]?.code, '100');
    assert.equal(e[0]?.location.segment, 'PID');
    assert.match(e[0]?.message ?? '', /required segment PID is missing from ADT_A01/);
  });

  test('a missing required group is reported by the segment that opens it', () => {
    const r = validateMessage(msg(MSH('ORU^R01^ORU_R01'), PID, 'PV1|1|O'));
    assert.deepEqual(errors(r).map((i) => [i.code, i.location.segment, i.path]), [['100', 'ORC', 'ORU_R01/PATIENT_RESULT[1]']]);
  });

  test('a missing PID-3 is a required field error (101) located at PID-3', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', 'PID|1||||RIVERA^ANA', 'PV1|1|I'));
    assert.deepEqual(errors(r).map(brief), ['101 PID[3]-3']);
    assert.deepEqual(errors(r)[0]?.location, { segment: 'PID', sequence: 3, occurrence: 1, field: 3 });
  });

  test('PID-3 valued without CX.1 is a 101 at PID-3.1', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', 'PID|1||^^^NORTH^MR||RIVERA^ANA', 'PV1|1|I'));
    assert.deepEqual(errors(r).map(brief), ['101 PID[3]-3[1].1']);
  });

  test('a bad PID-7 is a datatype error (102) at PID-7, and the message does not quote the value', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', 'PID|1||MRN100^^^NORTH^MR||RIVERA^ANA||19801345|F', 'PV1|1|I'));
    const e = errors(r);
    assert.deepEqual(e.map(brief), ['102 PID[3]-7[1]']);
    assert.deepEqual(e[0]?.location, { segment: 'PID', sequence: 3, occurrence: 1, field: 7, repetition: 1 });
    assert.match(e[0]?.message ?? '', /^PID-7 is not a valid TS/);
    assert.ok(!(e[0]?.message ?? '').includes('19801345'));
  });

  test('a repeated EVN, and a repeated MSH, are segment sequence errors (100) at the repeat', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', 'EVN|A01|20240305103000', PID, 'PV1|1|I'));
    assert.deepEqual(errors(r).map(brief), ['100 EVN[3]']);
    // parseMessage refuses a second MSH (it starts another message), so build one by hand.
    const one = msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', PID, 'PV1|1|I');
    const twice = new Hl7Message(one.encoding, [one.header, one.header, ...one.segments.slice(1)]);
    assert.deepEqual(errors(validateMessage(twice)).map(brief), ['100 MSH[2]']);
  });

  test('a segment out of place is a 100 with its position', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', PID, 'PV1|1|I', 'PD1|||NORTH CLINIC'));
    assert.deepEqual(errors(r).map((i) => [brief(i), i.message]), [['100 PD1[5]', 'PD1 (segment 5) is out of place for ADT_A01 (v2.5.1)']]);
  });

  test('Z-segments are allowed anywhere', () => {
    const r = validateMessage(msg(MSH('ADT^A01^ADT_A01'), 'ZAA|1', 'EVN|A01|20240305103000', PID, 'ZBB|2', 'PV1|1|I', 'ZCC|3'));
    assert.deepEqual(r.issues, []);
  });

  test('an unknown type is a warning (200), an unknown event a warning (201), not a crash', () => {
    const a = validateMessage(msg(MSH('XYZ^Q99'), 'QQQ|1'));
    assert.equal(a.valid, true);
    assert.equal(a.structure, undefined);
    assert.deepEqual(a.issues.map((i) => [i.severity, i.code]), [['warning', '200']]);
    const b = validateMessage(msg(MSH('ADT^A45^ADT_A45'), 'EVN|A45|20240305', PID));
    assert.deepEqual(b.issues.map((i) => [i.severity, i.code, i.where]), [['warning', '201', 'MSH[1]-9.2']]);
  });

  test('MSH-9.3 naming a structure table 0354 does not give the event is a warning, and is followed', () => {
    const r = validateMessage(msg(MSH('SIU^S13^SIU_S13'), 'SCH|A|A||||RESCHED^Reschedule^L', 'RGS|1'));
    assert.equal(r.structure, 'SIU_S12');
    assert.deepEqual(r.issues.map((i) => [i.severity, i.code]), [['warning', '103']]);
  });

  test('an unsupported version is a warning (203) and structure findings become warnings', () => {
    const r = validateMessage(msg(MSH('ADT^A01', '2.2'), 'EVN|A01|20240305103000', PID));
    assert.equal(r.valid, true);
    assert.deepEqual(r.issues.map((i) => [i.severity, i.code]), [['warning', '203'], ['warning', '100']]);
    // Field findings soften too, except on MSH, whose layout every version shares.
    const f = validateMessage(msg(MSH('ADT^A01', '2.2').replace('|P|', '||'), 'EVN|A01|20240305103000', 'PID|1||MRN1', 'PV1|1|I'));
    assert.deepEqual(f.issues.map((i) => [i.severity, i.code, i.where]), [['warning', '203', 'MSH[1]-12'], ['error', '101', 'MSH[1]-11'], ['warning', '101', 'PID[3]-5']]);
  });

  test('MSH-7 is required from 2.5 only; MSH-10 and MSH-11 always', () => {
    const v24 = validateMessage(msg('MSH|^~\\&|A|B|C|D|||ACK^A01|1|P|2.4', 'MSA|AA|9'));
    assert.deepEqual(errors(v24), []);
    const v251 = validateMessage(msg('MSH|^~\\&|A|B|C|D|||ACK^A01^ACK|||2.5.1', 'MSA|AA|9'));
    assert.deepEqual(errors(v251).map(brief), ['101 MSH[1]-7', '101 MSH[1]-10', '101 MSH[1]-11']);
  });

  test('OBX-2 is required when OBX-5 is valued, and OBX-5 must match a numeric OBX-2', () => {
    const r = validateMessage(msg(MSH('ORU^R01^ORU_R01'), PID, 'OBR|1|||GLU^Glucose^L', 'OBX|1||GLU^Glucose^L||95||||||F', 'OBX|2|NM|GLU^Glucose^L||high||||||F'));
    assert.deepEqual(errors(r).map(brief), ['101 OBX[4]-2', '102 OBX[5]-5[1]']);
  });

  test('table values: MSH-11 (0103) and MSA-1 (0008) are errors, OBX-11 (0085) a warning', () => {
    const r = validateMessage(msg(MSH('ACK^A01^ACK').replace('|P|', '|X|'), 'MSA|OK|CTRL0000'));
    assert.deepEqual(errors(r).map((i) => `${brief(i)} ${i.code}`), ['103 MSH[1]-11[1].1 103', '103 MSA[2]-1[1].1 103']);
    const o = validateMessage(msg(MSH('ORU^R01^ORU_R01'), PID, 'OBR|1|||GLU^Glucose^L', 'OBX|1|NM|GLU^Glucose^L||95||||||Q'));
    assert.deepEqual(o.issues.map((i) => [i.severity, brief(i)]), [['warning', '103 OBX[4]-11[1].1']]);
  });

  test('no issue message ever contains a field value', () => {
    const secrets = ['SECRETMRN', 'Zzyzx', '19801345', 'notanumber', '20241399', 'Q9Q'];
    const m = msg(
      MSH('ORU^R01^ORU_R01'),
      'PID|x1||^^^SECRETMRN||Zzyzx^Zelda||19801345',
      'OBR|one|||',
      'OBX|two|NM|||notanumber||||||Q9Q|||20241399',
      'SPM|1|||',
    );
    const r = validateMessage(m);
    assert.ok(r.issues.length >= 6, r.issues.map((i) => i.message).join('\n'));
    for (const i of r.issues) for (const s of [...secrets, 'x1', 'one', 'two']) assert.ok(!i.message.includes(s), `${i.message} quotes ${s}`);
  });
});

describe('validationErrorsToAck', () => {
  test('errors become ERR segments with location, code and severity', () => {
    const original = msg(MSH('ADT^A01^ADT_A01'), 'EVN|A01|20240305103000', 'PID|1||||RIVERA^ANA||19801345', 'PV1|1|I');
    const result = validateMessage(original);
    const ackErrors = validationErrorsToAck(result);
    assert.deepEqual(ackErrors.map((e) => [e.code, e.severity]), [['101', 'E'], ['102', 'E']]);
    const ack = buildAck(original, { code: 'AE', errors: ackErrors });
    const summary = summarizeAck(ack);
    assert.equal(summary?.code, 'AE');
    assert.deepEqual(summary?.errors.map((e) => [e.code, e.location, e.severity]), [['101', 'PID^1^3', 'E'], ['102', 'PID^1^7^1', 'E']]);
  });

  test('warnings only on request, and never more than the limit', () => {
    const r = validateMessage(msg(MSH('ADT^A01', '2.2'), 'EVN|A01|20240305103000', PID));
    assert.deepEqual(validationErrorsToAck(r), []);
    assert.deepEqual(validationErrorsToAck(r, { warnings: true }).map((e) => e.severity), ['W', 'W']);
    assert.equal(validationErrorsToAck(r, { warnings: true, limit: 1 }).length, 1);
  });
});
