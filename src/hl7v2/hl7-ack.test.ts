import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ackCodeFor, ackContextOfText, ackDue, ackRequirements, buildAck, buildRejectAck, summarizeAck, type AckCondition, type AckOutcome } from './hl7-ack.ts';
import { parseMessage } from './hl7-message.ts';
import { Hl7ParseError } from './hl7-parse-error.ts';

// Our own sample messages.
const ORIGINAL = 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240305103000||ADT^A01^ADT_A01|CTRL-42|P|2.5.1\rEVN|A01\rPID|1||123^^^H^MR||DOE^JOHN\r';
const ENHANCED = (accept: string, application: string): string =>
  `MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240305103000||ORU^R01|CTRL-7|T|2.5.1|||${accept}|${application}\rPID|1\r`;
const EPOCH = new Date('2024-03-05T10:31:00Z');

void describe('original mode', () => {
  const msg = parseMessage(ORIGINAL);

  void test('requirements: original mode means one application ACK, always', () => {
    assert.deepEqual(ackRequirements(msg), { mode: 'original', accept: 'NE', application: 'AL' });
  });

  for (const code of ['AA', 'AE', 'AR'] as const) {
    void test(`${code}: MSA-1, MSA-2 echoes MSH-10, sender and receiver swapped`, () => {
      const ack = buildAck(msg, { code, controlId: 'ACK-1', timestamp: EPOCH });
      assert.equal(
        ack.toString(),
        `MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240305103100+0000||ACK^A01^ACK|ACK-1|P|2.5.1\rMSA|${code}|CTRL-42\r`,
      );
      assert.equal(ack.get('MSA-1'), code);
      assert.equal(ack.get('MSA-2'), msg.controlId);
    });
  }

  void test('MSH-10 of an ACK is fresh and differs between two ACKs', () => {
    const a = buildAck(msg, { code: 'AA' });
    const b = buildAck(msg, { code: 'AA' });
    assert.notEqual(a.controlId, '');
    assert.notEqual(a.controlId, msg.controlId);
    assert.notEqual(a.controlId, b.controlId);
    assert.ok(a.controlId.length <= 20, 'MSH-10 is ST(20)');
    assert.equal(a.get('MSA-2'), 'CTRL-42');
    assert.equal(b.get('MSA-2'), 'CTRL-42');
  });

  void test('our own application/facility can replace the echoed MSH-5/MSH-6', () => {
    const ack = buildAck(msg, { code: 'AA', sendingApplication: 'SWITCHBOARD', sendingFacility: 'HUB' });
    assert.equal(ack.get('MSH-3'), 'SWITCHBOARD');
    assert.equal(ack.get('MSH-4'), 'HUB');
    assert.equal(ack.get('MSH-5'), 'SENDAPP');
    assert.equal(ack.get('MSH-6'), 'SENDFAC');
  });

  void test('MSA-3 text is escaped', () => {
    const ack = buildAck(msg, { code: 'AE', text: 'bad | value', controlId: 'A', timestamp: EPOCH });
    assert.equal(ack.segment('MSA')?.toString(), 'MSA|AE|CTRL-42|bad \\F\\ value');
    assert.equal(ack.get('MSA-3'), 'bad | value');
  });
});

void describe('enhanced mode (MSH-15 / MSH-16)', () => {
  void test('requirements read MSH-15 and MSH-16; an empty one means AL', () => {
    assert.deepEqual(ackRequirements(parseMessage(ENHANCED('AL', 'NE'))), { mode: 'enhanced', accept: 'AL', application: 'NE' });
    assert.deepEqual(ackRequirements(parseMessage(ENHANCED('er', 'SU'))), { mode: 'enhanced', accept: 'ER', application: 'SU' });
    assert.deepEqual(ackRequirements(parseMessage(ENHANCED('', 'ER'))), { mode: 'enhanced', accept: 'AL', application: 'ER' });
    assert.deepEqual(ackRequirements(parseMessage(ENHANCED('NE', ''))), { mode: 'enhanced', accept: 'NE', application: 'AL' });
    // Unknown values do not switch modes.
    assert.deepEqual(ackRequirements(parseMessage(ENHANCED('XX', 'YY'))), { mode: 'original', accept: 'NE', application: 'AL' });
  });

  void test('ackDue for AL / NE / ER / SU', () => {
    const table: Record<AckCondition, Record<AckOutcome, boolean>> = {
      AL: { accept: true, error: true, reject: true },
      NE: { accept: false, error: false, reject: false },
      ER: { accept: false, error: true, reject: true },
      SU: { accept: true, error: false, reject: false },
    };
    for (const [cond, row] of Object.entries(table) as Array<[AckCondition, Record<AckOutcome, boolean>]>) {
      for (const [outcome, due] of Object.entries(row) as Array<[AckOutcome, boolean]>) {
        assert.equal(ackDue(cond, outcome), due, `${cond}/${outcome}`);
      }
    }
  });

  void test('ackCodeFor', () => {
    assert.deepEqual(
      (['accept', 'error', 'reject'] as const).map((o) => [ackCodeFor('commit', o), ackCodeFor('application', o)]),
      [['CA', 'AA'], ['CE', 'AE'], ['CR', 'AR']],
    );
  });

  void test('a commit ACK keeps the processing id and version', () => {
    const msg = parseMessage(ENHANCED('AL', 'NE'));
    const req = ackRequirements(msg);
    assert.equal(ackDue(req.accept, 'accept'), true);
    const ack = buildAck(msg, { code: ackCodeFor('commit', 'accept'), controlId: 'C1', timestamp: EPOCH });
    assert.equal(ack.toString(), 'MSH|^~\\&|RECVAPP|RECVFAC|SENDAPP|SENDFAC|20240305103100+0000||ACK^R01^ACK|C1|T|2.5.1\rMSA|CA|CTRL-7\r');
  });
});

void describe('encoding characters of the original', () => {
  void test('an ACK for MSH*$@!% uses the same delimiters', () => {
    const msg = parseMessage('MSH*$@!%*SND*SF*RCV*RF*20240305**ADT$A08*C!F!9*P*2.5\rPID*1');
    const ack = buildAck(msg, {
      code: 'AE', text: 'a*b', controlId: 'K', timestamp: EPOCH,
      errors: [{ code: '102', location: { segment: 'PID', sequence: 2, field: 7 }, message: 'x$y' }],
    });
    assert.equal(
      ack.toString(),
      'MSH*$@!%*RCV*RF*SND*SF*20240305103100+0000**ACK$A08$ACK*K*P*2.5\rMSA*AE*C!F!9*a!F!b\rERR**PID$2$7*102$Data type error$HL70357*E****x!S!y\r',
    );
    const back = parseMessage(ack.toString());
    assert.equal(back.get('MSA-2'), 'C*9');
    assert.equal(back.get('MSA-2'), msg.controlId);
    assert.equal(back.get('ERR-8'), 'x$y');
  });

  void test('a 5-character MSH-2 is kept', () => {
    const msg = parseMessage('MSH|^~\\&#|A|B|C|D|20240305||ORU^R01^ORU_R01|X1|P|2.7\rPID|1');
    const ack = buildAck(msg, { code: 'AA', controlId: 'Y', timestamp: EPOCH });
    assert.equal(ack.get('MSH-2'), '^~\\&#');
    assert.equal(ack.toString().split('\r')[0], 'MSH|^~\\&#|C|D|A|B|20240305103100+0000||ACK^R01^ACK|Y|P|2.7');
  });
});

void describe('ERR segments', () => {
  const msg = parseMessage(ORIGINAL);

  void test('v2.5+: ERR-2 location (ERL), ERR-3 from table 0357, ERR-4 severity, ERR-5, ERR-8', () => {
    const ack = buildAck(msg, {
      code: 'AE', controlId: 'A', timestamp: EPOCH,
      errors: [
        { code: '101', location: { segment: 'PID', sequence: 3, field: 3, repetition: 1, component: 1 }, applicationCode: 'SWB_ERR_HL7_INVALID_MESSAGE', message: 'PID-3.1 is required' },
        { code: '103', severity: 'W' },
      ],
    });
    const errs = ack.segmentsNamed('ERR');
    assert.equal(errs[0]?.toString(), 'ERR||PID^3^3^1^1|101^Required field missing^HL70357|E|SWB_ERR_HL7_INVALID_MESSAGE|||PID-3.1 is required');
    assert.equal(errs[1]?.toString(), 'ERR|||103^Table value not found^HL70357|W');
    assert.equal(ack.get('ERR-3.1'), '101');
    assert.equal(ack.get('ERR-3.3'), 'HL70357');
    assert.equal(ack.get('ERR[2]-4'), 'W');
    assert.equal(ack.get('ERR-1'), '');
  });

  for (const version of ['2.3', '2.4']) {
    void test(`v${version}: ERR-1 (ELD) carries the location and the code`, () => {
      const old = parseMessage(ORIGINAL.replace('|2.5.1', `|${version}`));
      const ack = buildAck(old, { code: 'AE', controlId: 'A', timestamp: EPOCH, errors: [{ code: '101', location: { segment: 'PID', sequence: 3, field: 3 }, message: 'not in ELD' }] });
      assert.equal(ack.segment('ERR')?.toString(), 'ERR|PID^3^3^101&Required field missing&HL70357');
      assert.equal(ack.get('ERR-1.4.1'), '101');
      assert.equal(ack.get('MSH-12'), version);
    });
  }

  void test('v2.2: no message structure in MSH-9', () => {
    const old = parseMessage(ORIGINAL.replace('|2.5.1', '|2.2'));
    assert.equal(buildAck(old, { code: 'AA' }).get('MSH-9'), 'ACK^A01');
  });

  void test('summarizeAck reads MSA and both ERR forms', () => {
    const v25 = buildAck(msg, { code: 'AE', text: 'see ERR', controlId: 'A', errors: [{ code: '101', location: { segment: 'PID', sequence: 3, field: 3 }, message: 'missing' }] });
    assert.deepEqual(summarizeAck(parseMessage(v25.toString())), {
      code: 'AE', controlId: 'CTRL-42', text: 'see ERR',
      errors: [{ code: '101', location: 'PID^3^3', severity: 'E', message: 'missing' }],
    });
    const v24 = buildAck(parseMessage(ORIGINAL.replace('|2.5.1', '|2.4')), { code: 'AR', controlId: 'A', errors: [{ code: '207' }] });
    assert.deepEqual(summarizeAck(v24), {
      code: 'AR', controlId: 'CTRL-42', text: '',
      errors: [{ code: '207', location: '^^^207&Application internal error&HL70357', severity: '', message: '' }],
    });
    assert.deepEqual(summarizeAck(buildAck(msg, { code: 'AA' })), { code: 'AA', controlId: 'CTRL-42', text: '', errors: [] });
    assert.equal(summarizeAck(msg), undefined);
  });
});

void describe('buildRejectAck', () => {
  function rejectFor(text: string): { error: Hl7ParseError; ack: ReturnType<typeof buildRejectAck> } {
    try {
      parseMessage(text);
    } catch (e) {
      assert.ok(e instanceof Hl7ParseError);
      return { error: e, ack: buildRejectAck(text, { hl7Code: e.hl7Code, location: e.location, code: e.code, message: e.message }) };
    }
    assert.fail('expected the input to be rejected');
  }

  void test('garbage input with no MSH at all', () => {
    const { error, ack } = rejectFor('this is not HL7\r');
    assert.equal(error.code, 'SWB_ERR_HL7_NO_MSH');
    assert.equal(ack.get('MSA-1'), 'AR');
    assert.equal(ack.get('MSA-2'), '');
    assert.deepEqual({ ...ack.encoding }, { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '' });
    assert.equal(ack.get('MSH-9'), 'ACK');
    assert.equal(ack.version, '2.5.1');
    assert.equal(ack.get('ERR-2'), 'thi^1');
    assert.equal(ack.get('ERR-3'), '100^Segment sequence error^HL70357');
    assert.equal(ack.get('ERR-5'), 'SWB_ERR_HL7_NO_MSH');
    assert.equal(ack.get('ERR-8'), error.message);
    // The ACK itself is a valid message.
    assert.equal(parseMessage(ack.toString()).get('MSA-1'), 'AR');
  });

  void test('empty input', () => {
    const ack = buildRejectAck(new Uint8Array(0), { code: 'SWB_ERR_HL7_EMPTY' });
    assert.equal(ack.get('MSA-1'), 'AR');
    assert.equal(ack.get('ERR-3.1'), '100');
    assert.equal(ack.get('ERR-2'), '');
    assert.equal(ack.get('ERR-8'), undefined);
  });

  void test('a message with a broken segment: MSA-2 echoes MSH-10, ERR-2 points at the segment', () => {
    const text = 'MSH|^~\\&|SND|SFAC|RCV|RFAC|20240305||ADT^A01|CTRL-9|P|2.4\rEVN|A01\rPid|1\r';
    const { error, ack } = rejectFor(text);
    assert.equal(error.code, 'SWB_ERR_HL7_BAD_SEGMENT_ID');
    assert.equal(ack.get('MSA-1'), 'AE');
    assert.equal(ack.get('MSA-2'), 'CTRL-9');
    assert.equal(ack.get('MSH-3'), 'RCV');
    assert.equal(ack.get('MSH-5'), 'SND');
    assert.equal(ack.get('MSH-9'), 'ACK^A01^ACK');
    assert.equal(ack.get('MSH-12'), '2.4');
    // v2.4: ERR-1 (ELD).
    assert.equal(ack.segment('ERR')?.toString(), 'ERR|Pid^3^^100&Segment sequence error&HL70357');
  });

  void test('enhanced mode answers CE for a content error, and the original delimiters are used', () => {
    const text = 'MSH*$@!%*SND*SF*RCV*RF*20240305**ADT$A01*CID*P*2.5.1***AL*NE\rPI*1';
    const { ack } = rejectFor(text);
    assert.equal(ack.get('MSA-1'), 'CE');
    assert.equal(ack.get('MSA-2'), 'CID');
    assert.equal(ack.encoding.field, '*');
    assert.equal(ack.get('ERR-2'), 'PI$2');
  });

  void test('unusable encoding characters fall back to the standard ones', () => {
    const ctx = ackContextOfText('MSH|^^\\&|SND|SF|RCV|RF|2024||ADT^A01|C1|P|2.5');
    assert.equal(ctx.encoding.component, '^');
    assert.equal(ctx.controlId, '');
    const { ack } = rejectFor('MSH|^^\\&|SND|SF|RCV|RF|2024||ADT^A01|C1|P|2.5');
    assert.equal(ack.get('MSA-1'), 'AE');
    assert.equal(ack.get('ERR-3.1'), '102');
  });

  void test('an original with no escape character still gets an ACK', () => {
    const ack = buildRejectAck('MSH+^~+SND+SF+RCV+RF+2024++ADT^A01+C1+P+2.5\rX', { code: 'SWB_ERR_HL7_BAD_SEGMENT_ID', message: 'X[2]: bad + id | here' });
    assert.equal(ack.encoding.escape, '');
    assert.equal(ack.get('MSA-2'), 'C1');
    // `+` cannot be escaped: MSH-7 drops the offset and ERR-8 blanks the delimiter.
    assert.match(ack.get('MSH-7') ?? '', /^\d{14}$/);
    assert.equal(ack.get('ERR-8'), 'X[2]: bad   id | here');
    assert.equal(parseMessage(ack.toString()).get('ERR-5'), 'SWB_ERR_HL7_BAD_SEGMENT_ID');
  });

  void test('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string().map((s) => `MSH${s}`), fc.uint8Array()), (input) => {
        const ack = buildRejectAck(input, { message: 'rejected', code: 'SWB_ERR_HL7_NOT_ER7' });
        const back = parseMessage(ack.toString());
        // A negative ACK whatever the input: AR/CR without MSH, AE/CE for a message with errors.
        assert.ok(['AR', 'CR', 'AE', 'CE'].includes(String(back.get('MSA-1'))));
      }),
      { numRuns: 500 },
    );
  });
});

void test('ERR-2.2 counts occurrences of the segment id, not positions in the message', async () => {
  const { validateMessage, validationErrorsToAck } = await import('./hl7-validator.ts');
  const m = parseMessage(
    'MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01^ORU_R01|C1|P|2.5.1\rPID|1||123^^^H^MR||DOE^J\rOBR|1||F1|1^x^LN\rOBX|1|NM|1^a^LN||5||||||F\rOBX|2|NM|2^b^LN||||||||\r',
  );
  const report = validateMessage(m);
  const ack = buildAck(m, { code: 'AE', errors: validationErrorsToAck(report) });
  // The second OBX lacks OBX-11: ERL is OBX^2^11 (segment id, occurrence 2, field 11), not OBX^5^11.
  const err2 = ack.segmentsNamed('ERR').map((e) => e.rawAt(2));
  assert.ok(err2.includes('OBX^2^11'), `ERR-2 values: ${JSON.stringify(err2)}`);
});

void test('an ACK for a v2.3 message has no structure component in MSH-9', () => {
  const ack = buildAck(parseMessage('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.3\rEVN|A01|20240101'), { code: 'AA' });
  assert.equal(ack.getRaw('MSH-9'), 'ACK^A01');
  const ack231 = buildAck(parseMessage('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.3.1\rEVN|A01|20240101'), { code: 'AA' });
  assert.equal(ack231.getRaw('MSH-9'), 'ACK^A01^ACK');
});

void test('a content error is answered AE (not AR, which a sender may resend); a receiver-side failure AR', () => {
  const text = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X9|P|2.5.1\rPI|1\r';
  const content = buildRejectAck(text, { hl7Code: '100' });
  assert.equal(content.get('MSA-1'), 'AE');
  assert.equal(content.get('MSA-2'), 'X9');
  assert.equal(buildRejectAck(text, { hl7Code: '207' }).get('MSA-1'), 'AR');
  assert.equal(buildRejectAck(text, { hl7Code: '203' }).get('MSA-1'), 'AR');
  assert.equal(buildRejectAck('not hl7 at all', { hl7Code: '100' }).get('MSA-1'), 'AR');
  const enhanced = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X9|P|2.5.1|||AL|NE\rPI|1\r';
  assert.equal(buildRejectAck(enhanced, { hl7Code: '100' }).get('MSA-1'), 'CE');
  assert.equal(buildRejectAck(enhanced, { hl7Code: '207' }).get('MSA-1'), 'CR');
});

void test('with + as a delimiter the ACK header stays intact (MSH-7 without its offset)', () => {
  const m = parseMessage('MSH+^~\\&+APP+FAC+RCV+RFAC+20240101120000++ADT^A01^ADT_A01+C1+P+2.5.1\rPID+1\r');
  const ack = parseMessage(buildAck(m, { code: 'AA' }).toString());
  assert.equal(ack.get('MSH-9'), 'ACK^A01^ACK');
  assert.equal(ack.get('MSH-10')?.length !== 0, true);
  assert.equal(ack.get('MSH-12'), '2.5.1');
  assert.match(String(ack.get('MSH-7')), /^\d{14}$/);
  assert.equal(ack.get('MSA-2'), 'C1');
});
