import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SwitchboardError } from '../core/errors.ts';
import { DEFAULT_ENCODING } from './hl7-encoding.ts';
import { createMessage, parseMessage } from './hl7-message.ts';
import { Hl7ParseError } from './hl7-parse-error.ts';

// Our own sample messages (not from any corpus).
const ADT = [
  'MSH|^~\\&|REGADT|GOOD HEALTH|LABSYS|LAB|20240305103000||ADT^A01^ADT_A01|MSG00001|P|2.5.1',
  'EVN|A01|20240305103000',
  'PID|1||12345^^^HOSP&1.2.3.4&ISO^MR~98765^5^M10^SSA&2.16.840.1.113883.4.1&ISO^SS^FAC&1.9&ISO||DOE^JOHN^Q^JR^DR^MD^L~SMITH^JACK||19700101|M|||123 MAIN ST^APT 4^SPRINGFIELD^IL^62701^USA^H^^SANGAMON||^PRN^PH^^1^217^5551234^12^day only~^NET^Internet^jd@example.org',
  'PV1|1|I|W^389^1^UABH^^^^3||||12345^MORGAN^REX^J^^^MD^0010^UAMC&1.2&ISO^L^^^DN|||||||||||||||||||||||||||||||||||||20240305',
  'ZPD|custom\\F\\value|""||x',
].join('\r');

const ORU = [
  'MSH|^~\\&|LAB|LAB|EHR|EHR|202403051030||ORU^R01|ORU1|P|2.5.1',
  'PID|1||555',
  'OBR|1|||88304^Pathology^L',
  'OBX|1|NM|GLU^Glucose^L||105|mg/dL|70-99|H',
  'OBX|2|SN|HCT^Hematocrit^L||>^40|%',
  'OBX|3|ST|NOTE^Note^L||first~second|',
  'OBX|4|TX|CMT^Comment^L||line one\\.br\\line two \\T\\ more',
  'OBX|5|SN|RNG^Range^L||^10^-^20',
].join('\r') + '\r';

function parseError(fn: () => unknown): Hl7ParseError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Hl7ParseError, `expected Hl7ParseError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a throw');
}

function switchboardError(fn: () => unknown): SwitchboardError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SwitchboardError, `expected SwitchboardError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a throw');
}

void describe('encoding characters (MSH-1, MSH-2)', () => {
  void test('standard delimiters', () => {
    const m = parseMessage(ADT);
    assert.deepEqual({ ...m.encoding }, { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '' });
    assert.equal(m.get('MSH-1'), '|');
    assert.equal(m.get('MSH-2'), '^~\\&');
    assert.equal(m.get('MSH-3'), 'REGADT');
    assert.equal(m.messageCode, 'ADT');
    assert.equal(m.triggerEvent, 'A01');
    assert.equal(m.messageStructure, 'ADT_A01');
    assert.equal(m.controlId, 'MSG00001');
    assert.equal(m.processingId, 'P');
    assert.equal(m.version, '2.5.1');
  });

  void test('non-standard delimiters MSH*$@!%', () => {
    const text = 'MSH*$@!%*SND*FAC*RCV*RFAC*20240101**ADT$A08*CTRL9*P*2.4\rPID*1**ID1$$$AUTH%1.2%ISO@ID2**ROE!F!$ANN!S!MARIE';
    const m = parseMessage(text);
    assert.deepEqual({ ...m.encoding }, { field: '*', component: '$', repetition: '@', escape: '!', subcomponent: '%', truncation: '' });
    assert.equal(m.get('MSH-1'), '*');
    assert.equal(m.get('MSH-2'), '$@!%');
    assert.equal(m.get('MSH-9.2'), 'A08');
    assert.equal(m.get('PID-3[1].4.2'), '1.2');
    assert.equal(m.get('PID-3[2]'), 'ID2');
    assert.deepEqual(m.getAll('PID-3.1'), ['ID1', 'ID2']);
    assert.equal(m.get('PID-5.1'), 'ROE*');
    assert.equal(m.get('PID-5.2'), 'ANN$MARIE');
    assert.equal(m.toString(), text);
  });

  void test('5-character MSH-2 ^~\\&# declares the truncation character', () => {
    const m = parseMessage('MSH|^~\\&#|A|B|C|D|20240101||ORU^R01|1|P|2.7\rNTE|1||50\\P\\ off');
    assert.equal(m.encoding.truncation, '#');
    assert.equal(m.get('MSH-2'), '^~\\&#');
    assert.equal(m.get('MSH-3'), 'A');
    assert.equal(m.get('NTE-3'), '50# off');
  });

  void test('MSH-2 with fewer than 4 characters leaves the rest undeclared', () => {
    const m = parseMessage('MSH|^~|A\rPID|1||a&b\\F\\');
    assert.deepEqual({ ...m.encoding }, { field: '|', component: '^', repetition: '~', escape: '', subcomponent: '', truncation: '' });
    // `&` and `\` are plain text here.
    assert.equal(m.get('PID-3.1.1'), 'a&b\\F\\');
  });
});

void describe('segment terminators and BOM are kept byte for byte', () => {
  const segs = ['MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5', 'EVN|A01', 'PID|1||42'];
  for (const [name, text] of [
    ['CR', segs.join('\r') + '\r'],
    ['LF', segs.join('\n') + '\n'],
    ['CRLF', segs.join('\r\n') + '\r\n'],
    ['mixed, no final terminator', `${segs[0]}\r\n${segs[1]}\n${segs[2]}`],
    ['mixed with blank lines', `\r\n\r\n${segs[0]}\r${segs[1]}\r\n\r\n   \n${segs[2]}\n\n`],
  ] as const) {
    void test(name, () => {
      const m = parseMessage(text);
      assert.equal(m.segments.length, 3);
      assert.deepEqual(m.segments.map((s) => s.name), ['MSH', 'EVN', 'PID']);
      assert.equal(m.get('PID-3'), '42');
      assert.equal(m.toString(), text);
      const ends = text.endsWith('\n') || text.endsWith('\r');
      assert.equal(m.toString({ terminator: '\r' }), segs.join('\r') + (ends ? '\r' : ''));
      assert.equal(m.toString({ terminator: '\n' }), segs.join('\n') + (ends ? '\n' : ''));
    });
  }

  void test('each segment remembers its own terminator', () => {
    const m = parseMessage('MSH|^~\\&|A\r\nEVN|A01\nPID|1\r');
    assert.deepEqual(m.segments.map((s) => s.terminator), ['\r\n', '\n', '\r']);
    assert.equal(m.defaultTerminator, '\r\n');
  });

  void test('a leading UTF-8 BOM is kept (and can be dropped on request)', () => {
    const text = '\uFEFFMSH|^~\\&|A\rPID|1||Zoë\r';
    const m = parseMessage(text);
    assert.equal(m.bom, true);
    assert.equal(m.get('MSH-3'), 'A');
    assert.equal(m.toString(), text);
    assert.equal(m.toString({ bom: false }), text.slice(1));
    const bytes = parseMessage(Buffer.from(text, 'utf8'));
    assert.equal(bytes.bom, true);
    assert.equal(bytes.get('PID-3'), 'Zoë');
    assert.equal(bytes.toString(), text);
  });

  void test('a UTF-8 BOM read as ISO-8859-1 is written back as read', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('MSH|^~\\&|A\rPID|1||caf\xe9', 'latin1')]);
    const m = parseMessage(bytes, { encoding: 'latin1' });
    assert.equal(m.get('PID-3'), 'café');
    assert.deepEqual(Buffer.from(m.toString(), 'latin1'), bytes);
    assert.equal(m.toString({ terminator: '\r' }), 'MSH|^~\\&|A\rPID|1||café');
    // The same text given as a string round-trips exactly as well.
    const s = '\u00EF\u00BB\u00BFMSH|^~\\&|A';
    assert.equal(parseMessage(s).toString(), s);
  });
});

void describe('values: fields, repetitions, components, subcomponents', () => {
  const m = parseMessage(ADT);

  void test('field, repetition, component and subcomponent paths', () => {
    assert.equal(m.get('PID-1'), '1');
    assert.equal(m.get('PID-3[2].1'), '98765');
    assert.equal(m.get('PID-3[2].4'), 'SSA&2.16.840.1.113883.4.1&ISO');
    assert.equal(m.get('PID-3[2].4.2'), '2.16.840.1.113883.4.1');
    assert.equal(m.get('PID-3.4.1'), 'HOSP');
    assert.equal(m.get('PID-5[2].2'), 'JACK');
    assert.equal(m.get('PID-11.9'), 'SANGAMON');
    assert.equal(m.segment('PID')?.repetitionCount(3), 2);
    assert.equal(m.segment('PID')?.repetitionCount(2), 0);
  });

  void test('a composite is returned raw, a leaf decoded', () => {
    assert.equal(m.get('PID-5'), 'DOE^JOHN^Q^JR^DR^MD^L');
    assert.equal(m.get('PID-3.4'), 'HOSP&1.2.3.4&ISO');
    assert.equal(m.get('ZPD-1'), 'custom|value');
    assert.equal(m.getRaw('ZPD-1'), 'custom\\F\\value');
  });

  void test('getAll: every repetition, every occurrence', () => {
    assert.deepEqual(m.getAll('PID-3.1'), ['12345', '98765']);
    assert.deepEqual(m.getAll('PID-3[2].5'), ['SS']);
    const oru = parseMessage(ORU);
    assert.deepEqual(oru.getAll('OBX-5'), ['105', '>^40', 'first', 'second', 'line one\nline two & more', '^10^-^20']);
    assert.deepEqual(oru.getAll('OBX-3.1'), ['GLU', 'HCT', 'NOTE', 'CMT', 'RNG']);
    assert.deepEqual(oru.getAll('OBX[3]-5'), ['first', 'second']);
    assert.deepEqual(oru.getAll('NTE-1'), []);
  });

  void test('segment occurrence paths', () => {
    const oru = parseMessage(ORU);
    assert.equal(oru.get('OBX[3]-5'), 'first');
    assert.equal(oru.get('OBX[3]-5[2]'), 'second');
    assert.equal(oru.get('OBX[2]-3.2'), 'Hematocrit');
    assert.equal(oru.get('OBX[4]-5'), 'line one\nline two & more');
    assert.equal(oru.get('OBX-1'), '1');
    assert.equal(oru.get('OBX[6]-1'), undefined);
    assert.equal(oru.segmentsNamed('OBX').length, 5);
    assert.equal(oru.segment('OBX', 5)?.get('1'), '5');
  });

  void test('Z-segments are read like any other', () => {
    assert.equal(m.segment('ZPD')?.fieldCount, 4);
    assert.equal(m.get('ZPD-4'), 'x');
  });

  void test('empty vs absent vs "" (HL7 null)', () => {
    assert.equal(m.get('ZPD-3'), '');
    assert.equal(m.presence('ZPD-3'), 'empty');
    assert.equal(m.get('ZPD-2'), null);
    assert.equal(m.presence('ZPD-2'), 'null');
    assert.equal(m.get('ZPD-9'), undefined);
    assert.equal(m.presence('ZPD-9'), 'absent');
    assert.equal(m.get('ZPD-1.2'), undefined);
    assert.equal(m.presence('ZPD-1'), 'value');
    assert.equal(m.get('NK1-1'), undefined);
    assert.equal(m.presence('NK1-1'), 'absent');
    assert.equal(m.get('PID-3[3]'), undefined);
    assert.equal(m.get('PID-2'), '');
  });

  void test('a path must name a segment and be 1-based', () => {
    assert.equal(switchboardError(() => m.get('3.1')).code, 'SWB_ERR_HL7_BAD_PATH');
    assert.equal(switchboardError(() => m.get('PID-0')).code, 'SWB_ERR_HL7_BAD_PATH');
    assert.equal(switchboardError(() => m.get('PID-3[0]')).code, 'SWB_ERR_HL7_BAD_PATH');
    assert.equal(switchboardError(() => m.get('pid-3')).code, 'SWB_ERR_HL7_BAD_PATH');
  });
});

void describe('typed readers', () => {
  const ts = (value: string) => parseMessage(`MSH|^~\\&|A\rPID|1||||||${value}`).read('PID-7', 'TS');

  void test('TS with a negative offset keeps the sign', () => {
    const t = ts('20240305103000-0500');
    assert.deepEqual(t, {
      raw: '20240305103000-0500',
      iso: '2024-03-05T10:30:00-05:00',
      precision: 'second',
      offset: '-05:00',
      offsetMinutes: -300,
      date: new Date('2024-03-05T15:30:00Z'),
    });
  });

  void test('TS with a positive offset', () => {
    const t = ts('20240305103000+0530');
    assert.equal(t?.offset, '+05:30');
    assert.equal(t?.offsetMinutes, 330);
    assert.equal(t?.iso, '2024-03-05T10:30:00+05:30');
    assert.equal(t?.date?.toISOString(), '2024-03-05T05:00:00.000Z');
  });

  void test('partial precision', () => {
    assert.deepEqual(ts('2024'), { raw: '2024', iso: '2024', precision: 'year' });
    assert.deepEqual(ts('202403'), { raw: '202403', iso: '2024-03', precision: 'month' });
    assert.deepEqual(ts('20240305'), { raw: '20240305', iso: '2024-03-05', precision: 'day' });
    assert.deepEqual(ts('2024030510'), { raw: '2024030510', iso: '2024-03-05T10:00', precision: 'hour' });
    assert.deepEqual(ts('202403051030'), { raw: '202403051030', iso: '2024-03-05T10:30', precision: 'minute' });
    // Without an offset the time is local to the sender: no instant.
    assert.equal(ts('202403051030')?.date, undefined);
    assert.equal(ts('202403051030+0000')?.date?.toISOString(), '2024-03-05T10:30:00.000Z');
  });

  void test('fractional seconds', () => {
    const t = ts('20240305103000.25-0500');
    assert.equal(t?.precision, 'millisecond');
    assert.equal(t?.iso, '2024-03-05T10:30:00.25-05:00');
    assert.equal(t?.date?.toISOString(), '2024-03-05T15:30:00.250Z');
    assert.equal(ts('20240305103000.1234+0000')?.date?.toISOString(), '2024-03-05T10:30:00.123Z');
  });

  void test('a v2.3-2.5 TS composite: the degree-of-precision component is ignored', () => {
    assert.equal(ts('20240305^D')?.iso, '2024-03-05');
  });

  void test('leap day and years before 100 are real calendar dates', () => {
    assert.equal(ts('20240229')?.iso, '2024-02-29');
    assert.equal(ts('00000229')?.iso, '0000-02-29');
    assert.equal(ts('00010101+0000')?.date?.toISOString(), '0001-01-01T00:00:00.000Z');
  });

  for (const bad of ['20240230', '20230229', '20241301', '20240005', '2024030524', '202403051060', '20240305103061', '20240305-1500', '2024-03-05', 'abc', '20240305103000.12345', '202']) {
    void test(`invalid DTM ${bad} -> SWB_ERR_HL7_BAD_VALUE naming the path`, () => {
      const e = switchboardError(() => ts(bad));
      assert.equal(e.code, 'SWB_ERR_HL7_BAD_VALUE');
      assert.equal(e.params['path'], 'PID-7');
      assert.equal(e.params['datatype'], 'DTM');
      assert.match(e.message, /^PID-7 is not a valid DTM: /);
    });
  }

  void test('empty, absent and null positions read as undefined', () => {
    const m = parseMessage('MSH|^~\\&|A\rPID|1||""||');
    assert.equal(m.read('PID-3', 'CX'), undefined);
    assert.equal(m.read('PID-5', 'XPN'), undefined);
    assert.equal(m.read('PID-7', 'TS'), undefined);
  });

  const m = parseMessage(ADT);

  void test('XPN', () => {
    assert.deepEqual(m.read('PID-5', 'XPN'), { family: 'DOE', given: 'JOHN', middle: 'Q', suffix: 'JR', prefix: 'DR', degree: 'MD', nameTypeCode: 'L' });
    assert.deepEqual(m.readAll('PID-5', 'XPN'), [
      { family: 'DOE', given: 'JOHN', middle: 'Q', suffix: 'JR', prefix: 'DR', degree: 'MD', nameTypeCode: 'L' },
      { family: 'SMITH', given: 'JACK' },
    ]);
    // XPN.1 is FN: the surname is its first subcomponent.
    assert.deepEqual(parseMessage('MSH|^~\\&|A\rPID|1||||VAN&DER&BERG^ANNE').read('PID-5', 'XPN'), { family: 'VAN', given: 'ANNE' });
  });

  void test('XAD', () => {
    assert.deepEqual(m.read('PID-11', 'XAD'), {
      street: '123 MAIN ST', otherDesignation: 'APT 4', city: 'SPRINGFIELD', state: 'IL', postalCode: '62701', country: 'USA', addressType: 'H', county: 'SANGAMON',
    });
  });

  void test('XTN', () => {
    assert.deepEqual(m.readAll('PID-13', 'XTN'), [
      { useCode: 'PRN', equipmentType: 'PH', countryCode: '1', areaCode: '217', localNumber: '5551234', extension: '12', anyText: 'day only' },
      { useCode: 'NET', equipmentType: 'Internet', email: 'jd@example.org' },
    ]);
  });

  void test('CX with assigning authority and facility subcomponents', () => {
    assert.deepEqual(m.readAll('PID-3', 'CX'), [
      { id: '12345', assigningAuthority: { namespaceId: 'HOSP', universalId: '1.2.3.4', universalIdType: 'ISO' }, identifierTypeCode: 'MR' },
      {
        id: '98765', checkDigit: '5', checkDigitScheme: 'M10',
        assigningAuthority: { namespaceId: 'SSA', universalId: '2.16.840.1.113883.4.1', universalIdType: 'ISO' },
        identifierTypeCode: 'SS',
        assigningFacility: { namespaceId: 'FAC', universalId: '1.9', universalIdType: 'ISO' },
      },
    ]);
    assert.deepEqual(m.read('PID-3[2]', 'CX')?.checkDigit, '5');
  });

  void test('CWE / CE', () => {
    const oru = parseMessage('MSH|^~\\&|A\rOBX|1|CWE|8867-4^Heart rate^LN^HR^Pulse^L^2.77^v1^heart \\T\\ pulse');
    const expected = { code: '8867-4', text: 'Heart rate', system: 'LN', alternateCode: 'HR', alternateText: 'Pulse', alternateSystem: 'L', systemVersion: '2.77', alternateSystemVersion: 'v1', originalText: 'heart & pulse' };
    assert.deepEqual(oru.read('OBX-3', 'CWE'), expected);
    assert.deepEqual(oru.read('OBX-3', 'CE'), expected);
    assert.deepEqual(parseMessage(ORU).readAll('OBX-3', 'CE').map((c) => c.code), ['GLU', 'HCT', 'NOTE', 'CMT', 'RNG']);
  });

  void test('XCN', () => {
    assert.deepEqual(m.read('PV1-7', 'XCN'), {
      id: '12345', family: 'MORGAN', given: 'REX', middle: 'J', degree: 'MD',
      assigningAuthority: { namespaceId: 'UAMC', universalId: '1.2', universalIdType: 'ISO' },
      nameTypeCode: 'L', identifierTypeCode: 'DN',
    });
  });

  void test('NM: valid and invalid', () => {
    const nm = (v: string) => parseMessage(`MSH|^~\\&|A\rOBX|1|NM|X||${v}`).read('OBX-5', 'NM');
    assert.equal(nm('105'), 105);
    assert.equal(nm('-0.5'), -0.5);
    assert.equal(nm('+12.'), 12);
    assert.equal(nm('.25'), 0.25);
    assert.equal(nm(' 7 '), 7);
    for (const bad of ['1e3', '12a', 'abc', '1.2.3', '-', '0x10']) {
      const e = switchboardError(() => nm(bad));
      assert.equal(e.code, 'SWB_ERR_HL7_BAD_VALUE', bad);
      assert.equal(e.params['path'], 'OBX-5');
      assert.equal(e.params['datatype'], 'NM');
    }
  });

  void test('SN: comparators, ranges, ratios', () => {
    const sn = (v: string) => parseMessage(`MSH|^~\\&|A\rOBX|1|SN|X||${v}`).read('OBX-5', 'SN');
    assert.deepEqual(sn('>^40'), { comparator: '>', num1: 40 });
    assert.deepEqual(sn('<=^0.5'), { comparator: '<=', num1: 0.5 });
    assert.deepEqual(sn('<>^3'), { comparator: '<>', num1: 3 });
    assert.deepEqual(sn('^10^-^20'), { num1: 10, separator: '-', num2: 20 });
    assert.deepEqual(sn('^1^:^128'), { num1: 1, separator: ':', num2: 128 });
    assert.deepEqual(sn('^1^/^2'), { num1: 1, separator: '/', num2: 2 });
    assert.deepEqual(sn('^-5'), { num1: -5 });
    assert.deepEqual(sn('^2^+'), { num1: 2, separator: '+' });
    for (const [bad, reason] of [['=>^5', /comparator/], ['^x', /num1/], ['^1^*^2', /separator/], ['^1^-^y', /num2/]] as const) {
      const e = switchboardError(() => sn(bad));
      assert.equal(e.code, 'SWB_ERR_HL7_BAD_VALUE', bad);
      assert.equal(e.params['datatype'], 'SN');
      assert.match(e.message, reason);
    }
  });
});

void describe('building and editing', () => {
  void test('createMessage + addSegment + set', () => {
    const m = createMessage({
      messageType: 'ADT^A01^ADT_A01', controlId: 'C1', version: '2.5.1', sendingApplication: 'SW', sendingFacility: 'FAC',
      receivingApplication: 'EHR', receivingFacility: 'HOSP', timestamp: new Date('2024-03-05T10:30:00Z'),
    });
    m.addSegment('PID').set('1', '1');
    m.set('PID-5.1', "O'Brien|Jr^III");
    m.set('PID-5.2', 'Ann~Marie & co\\x');
    m.set('PID-8', null);
    m.set('PID-11.3', 'line1\r\nline2');
    assert.equal(
      m.toString(),
      'MSH|^~\\&|SW|FAC|EHR|HOSP|20240305103000+0000||ADT^A01^ADT_A01|C1|P|2.5.1\r' +
        "PID|1||||O'Brien\\F\\Jr\\S\\III^Ann\\R\\Marie \\T\\ co\\E\\x|||\"\"|||^^line1\\X0D\\\\X0A\\line2\r",
    );
    assert.equal(m.get('PID-5.1'), "O'Brien|Jr^III");
    assert.equal(m.get('PID-5.2'), 'Ann~Marie & co\\x');
    assert.equal(m.get('PID-8'), null);
    assert.equal(m.presence('PID-8'), 'null');
    assert.equal(m.get('PID-11.3'), 'line1\r\nline2');
    // The text parses back to the same values.
    const again = parseMessage(m.toString());
    assert.equal(again.get('PID-5.1'), "O'Brien|Jr^III");
    assert.equal(again.get('PID-11.3'), 'line1\r\nline2');
    assert.equal(again.read('MSH-7', 'TS')?.date?.toISOString(), '2024-03-05T10:30:00.000Z');
  });

  void test('createMessage with a non-standard encoding', () => {
    const m = createMessage({ messageType: 'ADT$A04', controlId: 'Z', timestamp: new Date(0), encoding: { field: '*', component: '$', repetition: '@', escape: '!', subcomponent: '%' } });
    m.addSegment('PID').set('5.1', 'a*b$c');
    assert.equal(m.toString(), 'MSH*$@!%*****19700101000000+0000**ADT$A04*Z*P*2.5.1\rPID*****a!F!b!S!c\r');
    assert.equal(switchboardError(() => createMessage({ messageType: 'A', encoding: { component: '|' } })).code, 'SWB_ERR_HL7_BAD_ENCODING_CHARS');
  });

  void test('setting deep paths creates the repetitions and components in between', () => {
    const m = parseMessage('MSH|^~\\&|A\rPID|1');
    m.set('PID-3[3].4.2', '1.2.3');
    assert.equal(m.segment('PID')?.toString(), 'PID|1||~~^^^&1.2.3');
    assert.equal(m.get('PID-3[3].4.2'), '1.2.3');
    assert.equal(m.get('PID-3[2]'), '');
    m.set('PID-3[1].1', 'X');
    assert.equal(m.segment('PID')?.toString(), 'PID|1||X~~^^^&1.2.3');
    m.setRaw('PID-5', 'DOE^JANE');
    assert.equal(m.get('PID-5.2'), 'JANE');
  });

  void test('set refuses what the encoding cannot hold', () => {
    const m = parseMessage('MSH|^~|A\rPID|1');
    const e = switchboardError(() => m.set('PID-3', 'a|b'));
    assert.equal(e.code, 'SWB_ERR_HL7_BAD_VALUE');
    assert.equal(e.params['path'], 'PID-3');
    assert.equal(switchboardError(() => m.set('PID-3', 'a\rb')).code, 'SWB_ERR_HL7_BAD_VALUE');
    m.set('PID-3', 'a&b\\c');
    assert.equal(m.toString(), 'MSH|^~|A\rPID|1||a&b\\c');
    const noRep = parseMessage('MSH|^|A\rPID|1|x');
    const r = switchboardError(() => noRep.set('PID-2[2]', 'y'));
    assert.equal(r.code, 'SWB_ERR_HL7_BAD_PATH');
    assert.equal(r.params['path'], 'PID-2[2]');
    assert.equal(noRep.toString(), 'MSH|^|A\rPID|1|x');
    assert.equal(switchboardError(() => parseMessage(ADT).set('MSH-2', 'x')).code, 'SWB_ERR_HL7_BAD_PATH');
    assert.equal(switchboardError(() => parseMessage(ADT).set('NK1-2', 'x')).code, 'SWB_ERR_HL7_BAD_PATH');
  });

  void test('editing one segment leaves the others byte-identical', () => {
    const text = ADT.replace(/\r/g, '\r\n') + '\r\n';
    const m = parseMessage(text);
    m.set('PID-5[2].2', 'JILL');
    const expected = text.replace('SMITH^JACK', 'SMITH^JILL');
    assert.equal(m.toString(), expected);
    assert.equal(m.segment('ZPD')?.toString(), 'ZPD|custom\\F\\value|""||x');
  });

  void test('addSegment at an index and removeSegment', () => {
    const m = parseMessage(ORU);
    const nte = m.addSegment('NTE', 3);
    nte.set('3', 'note');
    assert.deepEqual(m.segments.map((s) => s.name), ['MSH', 'PID', 'OBR', 'NTE', 'OBX', 'OBX', 'OBX', 'OBX', 'OBX']);
    assert.equal(m.removeSegment('OBX', 2), true);
    assert.deepEqual(m.getAll('OBX-1'), ['1', '3', '4', '5']);
    assert.equal(m.removeSegment('MSH'), false);
    assert.equal(m.removeSegment('NK1'), false);
    assert.equal(m.removeSegment(nte), true);
    assert.equal(m.toString(), ORU.replace('OBX|2|SN|HCT^Hematocrit^L||>^40|%\r', ''));
  });

  void test('a segment added to a message that ended without a terminator starts its own line', () => {
    const m = parseMessage('MSH|^~\\&|A\nPID|1');
    m.addSegment('PV1').set('2', 'I');
    assert.equal(m.toString(), 'MSH|^~\\&|A\nPID|1\nPV1||I');
    assert.equal(parseMessage(m.toString()).get('PV1-2'), 'I');
    const single = parseMessage('MSH|^~\\&|A');
    single.addSegment('EVN');
    assert.equal(single.toString(), 'MSH|^~\\&|A\rEVN');
  });
});

void describe('bad input is a located Hl7ParseError', () => {
  void test('empty input', () => {
    for (const text of ['', '\r\n\r\n', '   ', '\uFEFF']) {
      const e = parseError(() => parseMessage(text));
      assert.equal(e.code, 'SWB_ERR_HL7_EMPTY');
      assert.equal(e.hl7Code, '100');
    }
  });

  void test('no MSH', () => {
    const e = parseError(() => parseMessage('\r\nPID|1||42\rMSH|^~\\&|A'));
    assert.equal(e.code, 'SWB_ERR_HL7_NO_MSH');
    assert.deepEqual(e.location, { segment: 'PID', sequence: 1, line: 2 });
    assert.equal(e.hl7Code, '100');
    assert.equal(e.message, 'PID[1]: a message must start with an MSH segment; found "PID"');
  });

  void test('a batch is not a message', () => {
    const e = parseError(() => parseMessage('BHS|^~\\&\rMSH|^~\\&|A\rBTS|1'));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(e.location, { segment: 'BHS', sequence: 1, line: 1 });
    const two = parseError(() => parseMessage('MSH|^~\\&|A\rPID|1\nMSH|^~\\&|B'));
    assert.equal(two.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(two.location, { segment: 'MSH', sequence: 3, line: 3 });
  });

  void test('XML and JSON are not ER7', () => {
    assert.equal(parseError(() => parseMessage('<?xml version="1.0"?><ADT_A01/>')).code, 'SWB_ERR_HL7_NOT_ER7');
    assert.equal(parseError(() => parseMessage('{"resourceType":"Bundle"}')).code, 'SWB_ERR_HL7_NOT_ER7');
  });

  for (const [text, reason] of [
    ['MSH', /too short/],
    ['MSH||A', /MSH-2 is empty/],
    ['MSH|^~\\&#!|A', /at most 5/],
    ['MSH|^~A&|B', /"A" is a letter/],
    ['MSH|^^\\&|B', /"\^" is used twice/],
    ['MSH ^~\\&', /" " is a letter, digit, space/],
  ] as const) {
    void test(`bad encoding characters: ${JSON.stringify(text)}`, () => {
      const e = parseError(() => parseMessage(`\n${text}\rPID|1`));
      assert.equal(e.code, 'SWB_ERR_HL7_BAD_ENCODING_CHARS');
      assert.deepEqual(e.location, { segment: 'MSH', sequence: 1, field: 2, line: 2 });
      assert.equal(e.hl7Code, '102');
      assert.match(e.message, reason);
    });
  }

  // Only a short code is named; anything else may be patient text and is shown as '?'.
  for (const [line, found] of [['PI|1', 'PI'], ['pid|1', 'pid'], ['PIDX|1', '?'], ['1AB|x', '1AB'], ['  PID|1', '?'], ['APT 4^B|x', '?']] as const) {
    void test(`bad segment id ${JSON.stringify(line)}`, () => {
      const e = parseError(() => parseMessage(`MSH|^~\\&|A\r\nEVN|A01\r\n\r\n${line}\r\nPV1|1`));
      assert.equal(e.code, 'SWB_ERR_HL7_BAD_SEGMENT_ID');
      assert.deepEqual(e.location, { segment: found, sequence: 3, line: 4 });
      assert.equal(e.hl7Code, '100');
      assert.equal(e.params['found'], found === '?' ? '(not shown)' : JSON.stringify(found));
      if (found === '?') assert.doesNotMatch(e.message, /PIDX|APT| {2}PID/);
    });
  }
});

void test('toJSON shape', () => {
  const m = parseMessage('MSH|^~\\&|APP|FAC|||20240101||ADT^A01|1|P|2.5\rPID|1||A^^^H&1.2&ISO~B||DOE^JO\\T\\E|""|x\\F\\y');
  assert.deepEqual(m.toJSON(), {
    encoding: { ...DEFAULT_ENCODING },
    segments: [
      {
        id: 'MSH',
        fields: {
          'MSH-1': '|', 'MSH-2': '^~\\&', 'MSH-3': 'APP', 'MSH-4': 'FAC', 'MSH-7': '20240101', 'MSH-9': ['ADT', 'A01'], 'MSH-10': '1', 'MSH-11': 'P', 'MSH-12': '2.5',
        },
      },
      {
        id: 'PID',
        fields: {
          'PID-1': '1',
          'PID-3': { repetitions: [['A', '', '', ['H', '1.2', 'ISO']], 'B'] },
          'PID-5': ['DOE', 'JO&E'],
          'PID-6': null,
          'PID-7': 'x|y',
        },
      },
    ],
  });
  // JSON-serialisable as is.
  assert.deepEqual(JSON.parse(JSON.stringify(m)), m.toJSON());
});

void test('set refuses absurd positions instead of allocating them', () => {
  const m = parseMessage('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1\r');
  assert.throws(() => m.set('PID-99999999', 'x'), (e: unknown) => (e as { code?: string }).code === 'SWB_ERR_HL7_BAD_PATH');
  assert.equal(m.toString(), 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1\r');
});
