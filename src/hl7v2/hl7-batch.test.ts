import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseBatch } from './hl7-batch.ts';
import { Hl7ParseError } from './hl7-parse-error.ts';

// Our own batch/file samples (HL7 v2.5.1 ch.2 2.10.3: [FHS] {[BHS] {MSH...} [BTS]} [FTS]).
const FHS = 'FHS|^~\\&|SND|SFAC|RCV|RFAC|20240305120000||file-1.hl7';
const BHS = (n: number): string => `BHS|^~\\&|SND|SFAC|RCV|RFAC|20240305120000||||batch-${n}`;
const msg = (id: string, pid: string): string[] => [`MSH|^~\\&|SND|SFAC|RCV|RFAC|20240305120000||ADT^A04|${id}|P|2.5`, 'EVN|A04', `PID|1||${pid}`];

function parseError(fn: () => unknown): Hl7ParseError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Hl7ParseError, `expected Hl7ParseError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a throw');
}

void describe('files and batches', () => {
  void test('FHS / BHS / BTS / FTS with matching counts', () => {
    const lines = [FHS, BHS(1), ...msg('M1', 'P1'), ...msg('M2', 'P2'), 'BTS|2', BHS(2), ...msg('M3', 'P3'), 'BTS|1|end of batch 2', 'FTS|2'];
    const text = lines.join('\r') + '\r';
    const b = parseBatch(text);
    assert.equal(b.fileHeader?.get('9'), 'file-1.hl7');
    assert.equal(b.fileTrailer?.get('1'), '2');
    assert.equal(b.batches.length, 2);
    assert.deepEqual(b.batches.map((g) => g.header?.get('11')), ['batch-1', 'batch-2']);
    assert.deepEqual(b.batches.map((g) => g.trailer?.get('1')), ['2', '1']);
    assert.deepEqual(b.batches.map((g) => g.messages.length), [2, 1]);
    assert.deepEqual(b.messages.map((m) => m.controlId), ['M1', 'M2', 'M3']);
    assert.deepEqual(b.messages.map((m) => m.get('PID-3')), ['P1', 'P2', 'P3']);
    assert.deepEqual(b.messages[0]?.segments.map((s) => s.name), ['MSH', 'EVN', 'PID']);
    assert.equal(b.toString(), text);
  });

  void test('FHS-1/BHS-1 are the field separator like MSH-1', () => {
    const b = parseBatch([FHS, BHS(1), ...msg('M1', 'P1'), 'BTS|1', 'FTS|1'].join('\r'));
    assert.equal(b.fileHeader?.get('1'), '|');
    assert.equal(b.fileHeader?.get('2'), '^~\\&');
    assert.equal(b.fileHeader?.get('3'), 'SND');
    assert.equal(b.batches[0]?.header?.get('3'), 'SND');
  });

  void test('empty counts are not checked', () => {
    const b = parseBatch([BHS(1), ...msg('M1', 'P1'), 'BTS||no count', 'FTS'].join('\n'));
    assert.equal(b.messages.length, 1);
    assert.equal(b.fileTrailer?.name, 'FTS');
  });

  void test('BTS-1 mismatch is SWB_ERR_HL7_BATCH_COUNT with a location', () => {
    const e = parseError(() => parseBatch([FHS, BHS(1), ...msg('M1', 'P1'), ...msg('M2', 'P2'), 'BTS|3', 'FTS|1'].join('\r\n')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_COUNT');
    assert.deepEqual(e.location, { segment: 'BTS', sequence: 9, field: 1, line: 9 });
    assert.equal(e.params['declared'], '3');
    assert.equal(e.params['actual'], 2);
    assert.equal(e.hl7Code, '102');
    assert.equal(e.message, 'BTS[9]-1: BTS-1 counts 3 but 2 were found');
  });

  void test('FTS-1 mismatch is SWB_ERR_HL7_BATCH_COUNT with a location', () => {
    const e = parseError(() => parseBatch([FHS, BHS(1), ...msg('M1', 'P1'), 'BTS|1', BHS(2), ...msg('M2', 'P2'), 'BTS|1', 'FTS|3'].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_COUNT');
    assert.deepEqual(e.location, { segment: 'FTS', sequence: 12, field: 1, line: 12 });
    assert.equal(e.params['trailer'], 'FTS-1');
    assert.equal(e.params['declared'], '3');
    assert.equal(e.params['actual'], 2);
  });

  void test('a count that is not a number is a mismatch', () => {
    const e = parseError(() => parseBatch([BHS(1), ...msg('M1', 'P1'), 'BTS|one'].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_COUNT');
    assert.equal(e.location?.segment, 'BTS');
  });

  void test('wrappers are optional: FHS without BHS, BHS without FHS, no trailers', () => {
    const noBhs = parseBatch([FHS, ...msg('M1', 'P1'), ...msg('M2', 'P2'), 'FTS|1'].join('\r'));
    assert.equal(noBhs.batches.length, 1);
    assert.equal(noBhs.batches[0]?.header, undefined);
    assert.equal(noBhs.messages.length, 2);
    const noFhs = parseBatch([BHS(1), ...msg('M1', 'P1'), 'BTS|1'].join('\r'));
    assert.equal(noFhs.fileHeader, undefined);
    assert.equal(noFhs.fileTrailer, undefined);
    assert.equal(noFhs.batches[0]?.trailer?.get('1'), '1');
    const noTrailers = parseBatch([FHS, BHS(1), ...msg('M1', 'P1')].join('\r'));
    assert.equal(noTrailers.batches[0]?.trailer, undefined);
    assert.equal(noTrailers.fileTrailer, undefined);
    assert.equal(noTrailers.messages[0]?.controlId, 'M1');
  });

  void test('a plain sequence of messages is one implicit batch', () => {
    const text = `\r\n${msg('A', '1').join('\r\n')}\r\n\r\n${msg('B', '2').join('\n')}\n`;
    const b = parseBatch(text);
    assert.equal(b.batches.length, 1);
    assert.equal(b.batches[0]?.header, undefined);
    assert.deepEqual(b.messages.map((m) => m.controlId), ['A', 'B']);
    assert.equal(b.toString(), text);
    assert.equal(b.toString({ terminator: '\r' }), [...msg('A', '1'), ...msg('B', '2')].join('\r') + '\r');
  });

  void test('each message keeps its own encoding characters', () => {
    const b = parseBatch('MSH|^~\\&|A|||||ADT^A01|1|P|2.5\rPID|1||X\\S\\Y\rMSH*$@!%*A*****ADT$A01*2*P*2.5\rPID*1**X!S!Y');
    assert.deepEqual(b.messages.map((m) => m.encoding.field), ['|', '*']);
    assert.deepEqual(b.messages.map((m) => m.get('PID-3')), ['X^Y', 'X$Y']);
  });

  void test('a single message parses as a batch of one', () => {
    const b = parseBatch('MSH|^~\\&|A\rPID|1');
    assert.equal(b.messages.length, 1);
    assert.equal(b.toString(), 'MSH|^~\\&|A\rPID|1');
  });

  void test('a BOM and leading blank lines are kept', () => {
    const text = `\uFEFF\n\n${[FHS, ...msg('M1', 'P1'), 'FTS|1'].join('\r')}`;
    const b = parseBatch(text);
    assert.equal(b.bom, true);
    assert.equal(b.toString(), text);
    assert.equal(b.toString({ terminator: '\n' }), `\uFEFF${[FHS, ...msg('M1', 'P1'), 'FTS|1'].join('\n')}`);
    assert.equal(b.toString({ terminator: '\n', bom: false }), [FHS, ...msg('M1', 'P1'), 'FTS|1'].join('\n'));
  });

  void test('messages after a BTS without a new BHS form a batch of their own', () => {
    const b = parseBatch([BHS(1), ...msg('M1', 'P1'), 'BTS|1', ...msg('M2', 'P2'), 'FTS|2'].join('\r'));
    assert.equal(b.batches.length, 2);
    assert.equal(b.batches[1]?.header, undefined);
    assert.deepEqual(b.batches[1]?.messages.map((m) => m.controlId), ['M2']);
  });
});

void describe('structure errors', () => {
  void test('segments outside a message are rejected', () => {
    const e = parseError(() => parseBatch([BHS(1), 'EVN|A04', 'PID|1'].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(e.location, { segment: 'EVN', sequence: 2, line: 2 });
    assert.match(e.message, /EVN appears outside a message/);
    const afterBts = parseError(() => parseBatch([BHS(1), ...msg('M1', 'P1'), 'BTS|1', 'NTE|1'].join('\r')));
    assert.equal(afterBts.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(afterBts.location, { segment: 'NTE', sequence: 6, line: 6 });
  });

  void test('segments before any header have no encoding: SWB_ERR_HL7_NO_MSH', () => {
    const e = parseError(() => parseBatch('PID|1||X\rMSH|^~\\&|A'));
    assert.equal(e.code, 'SWB_ERR_HL7_NO_MSH');
    assert.deepEqual(e.location, { segment: 'PID', sequence: 1, line: 1 });
  });

  void test('FHS not first is rejected', () => {
    const e = parseError(() => parseBatch([...msg('M1', 'P1'), FHS, ...msg('M2', 'P2')].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(e.location, { segment: 'FHS', sequence: 4, line: 4 });
    assert.match(e.message, /FHS must be the first segment/);
  });

  void test('a nested BHS (no BTS before the next BHS) is rejected', () => {
    const e = parseError(() => parseBatch([FHS, BHS(1), ...msg('M1', 'P1'), BHS(2), ...msg('M2', 'P2'), 'BTS|1', 'FTS|1'].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(e.location, { segment: 'BHS', sequence: 6, line: 6 });
    assert.equal(e.hl7Code, '100');
  });

  void test('nothing may follow FTS', () => {
    const e = parseError(() => parseBatch([FHS, ...msg('M1', 'P1'), 'FTS|1', ...msg('M2', 'P2')].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BATCH_STRUCTURE');
    assert.deepEqual(e.location, { segment: 'MSH', sequence: 6, line: 6 });
  });

  void test('empty input and bad segment ids', () => {
    assert.equal(parseError(() => parseBatch('\r\n')).code, 'SWB_ERR_HL7_EMPTY');
    const e = parseError(() => parseBatch([FHS, ...msg('M1', 'P1'), 'Pid|2'].join('\r')));
    assert.equal(e.code, 'SWB_ERR_HL7_BAD_SEGMENT_ID');
    assert.deepEqual(e.location, { segment: 'Pid', sequence: 5, line: 5 });
    assert.equal(parseError(() => parseBatch('<HL7Message/>')).code, 'SWB_ERR_HL7_NOT_ER7');
  });
});

void describe('round trip', () => {
  for (const [name, term] of [['CR', '\r'], ['LF', '\n'], ['CRLF', '\r\n']] as const) {
    void test(`a full file with ${name} terminators comes back byte for byte`, () => {
      const lines = [FHS, BHS(1), ...msg('M1', 'P1'), ...msg('M2', 'P2'), 'BTS|2', 'FTS|1'];
      for (const text of [lines.join(term), lines.join(term) + term, lines.join(term) + term + term]) {
        const b = parseBatch(text);
        assert.equal(b.toString(), text);
        assert.equal(b.toString({ terminator: '\r' }), lines.join('\r') + (text.endsWith(term) ? '\r' : ''));
      }
    });
  }

  void test('bytes in, same text out; an edit in one message touches only that segment', () => {
    const text = [FHS, BHS(1), ...msg('M1', 'P1'), ...msg('M2', 'P2'), 'BTS|2', 'FTS|1'].join('\r') + '\r';
    const b = parseBatch(Buffer.from(text, 'utf8'));
    assert.equal(b.toString(), text);
    b.messages[1]?.set('PID-3', 'NEW');
    assert.equal(b.toString(), text.replace('PID|1||P2', 'PID|1||NEW'));
  });
});
