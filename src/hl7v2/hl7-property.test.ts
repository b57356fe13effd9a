import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SwitchboardError } from '../core/errors.ts';
import { parseBatch } from './hl7-batch.ts';
import type { Hl7Encoding } from './hl7-encoding.ts';
import { encodeEscapes } from './hl7-escape.ts';
import { parseMessage } from './hl7-message.ts';

/**
 * Property tests (STYLE.md "Tests"): generated messages round-trip exactly, every leaf reads back
 * as the text it was built from, and no input (random text, random bytes, mutated messages, huge
 * or pathological input) makes the parser throw anything but a typed SwitchboardError.
 */

// ---------------------------------------------------------------------------------------------
// Generators

/** Characters a sender may pick as delimiters (HL7 v2.5.1 ch.2 2.5.4: any non-alphanumeric). */
const DELIMITER_POOL = [...'|^~\\&#*$@!%+/:;=?[]{}<>\'_-,`'];

const encodingArb: fc.Arbitrary<Hl7Encoding> = fc
  .tuple(fc.shuffledSubarray(DELIMITER_POOL, { minLength: 5, maxLength: 5 }), fc.boolean(), fc.nat(10))
  .map(([chars, withTruncation, standard]) => {
    // Most real messages use |^~\&, so make that (and the v2.7 `#` form) common.
    const c = standard < 4 ? [...'|^~\\&#'] : chars;
    return {
      field: c[0] as string,
      component: c[1] as string,
      repetition: c[2] as string,
      escape: c[3] as string,
      subcomponent: c[4] as string,
      truncation: withTruncation ? (c[5] ?? '') : '',
    };
  });

/** Leaf text: plain, delimiter-heavy (including CR/LF and escape look-alikes), or any code points. */
const textArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 8 }) },
    { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...DELIMITER_POOL, '\r', '\n', 'X', 'F', '0', 'D', '.', 'br', ' ', 'é', '😀'), maxLength: 8 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  )
  // `""` is the HL7 null and reads back as null, not as text.
  .filter((s) => s !== '""');

type Field = string[][][]; // repetitions -> components -> subcomponents

const fieldArb: fc.Arbitrary<Field> = fc.array(fc.array(fc.array(textArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 });

const RESERVED = new Set(['MSH', 'FHS', 'BHS', 'BTS', 'FTS']);
const segmentIdArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom('PID', 'PV1', 'OBX', 'OBR', 'NTE', 'EVN', 'NK1', 'AL1', 'ZPD', 'ZZ1'),
    fc.tuple(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), minLength: 2, maxLength: 2 })).map(([a, b]) => a + b),
  )
  .filter((id) => !RESERVED.has(id));

const terminatorArb = fc.constantFrom<string>('\r', '\n', '\r\n', '\r\n\r\n', '\n\n', '\r \r');

interface GeneratedMessage {
  readonly text: string;
  readonly encoding: Hl7Encoding;
  /** Every leaf: its full path and the text it was built from. */
  readonly leaves: Array<[string, string]>;
}

const messageArb: fc.Arbitrary<GeneratedMessage> = fc
  .record({
    encoding: encodingArb,
    bom: fc.boolean(),
    leading: fc.constantFrom('', '', '\r\n', '\n\n', ' \r\n'),
    mshFields: fc.array(fieldArb, { maxLength: 10 }),
    segments: fc.array(fc.record({ id: segmentIdArb, fields: fc.array(fieldArb, { maxLength: 6 }), terminator: terminatorArb }), { maxLength: 6 }),
    mshTerminator: terminatorArb,
    lastTerminator: fc.constantFrom<string>('', '\r', '\n', '\r\n'),
  })
  .map(({ encoding: enc, bom, leading, mshFields, segments, mshTerminator, lastTerminator }) => {
    const leaves: Array<[string, string]> = [];
    const fieldText = (f: Field): string =>
      f.map((rep) => rep.map((comp) => comp.map((sub) => encodeEscapes(sub, enc)).join(enc.subcomponent)).join(enc.component)).join(enc.repetition);
    const note = (seg: string, firstField: number, fields: Field[]): void => {
      fields.forEach((f, fi) =>
        f.forEach((rep, ri) => rep.forEach((comp, ci) => comp.forEach((sub, si) => leaves.push([`${seg}-${firstField + fi}[${ri + 1}].${ci + 1}.${si + 1}`, sub])))),
      );
    };
    const msh = ['MSH' + enc.field + enc.component + enc.repetition + enc.escape + enc.subcomponent + enc.truncation, ...mshFields.map(fieldText)].join(enc.field);
    note('MSH', 3, mshFields);
    const seen = new Map<string, number>();
    const lines = [msh];
    const terms = [mshTerminator];
    for (const s of segments) {
      const occurrence = (seen.get(s.id) ?? 0) + 1;
      seen.set(s.id, occurrence);
      lines.push([s.id, ...s.fields.map(fieldText)].join(enc.field));
      terms.push(s.terminator);
      note(`${s.id}[${occurrence}]`, 1, s.fields);
    }
    terms[terms.length - 1] = lastTerminator;
    const text = (bom ? '\uFEFF' : '') + leading + lines.map((l, i) => l + (terms[i] as string)).join('');
    return { text, encoding: enc, leaves };
  });

/**
 * The text toString({ terminator: '\r' }) must give for an input: the BOM kept, leading blank
 * lines and whitespace dropped, each run of CR/LF (with any whitespace-only lines in it, or after
 * the last segment) collapsed to one CR.
 */
export function normaliseTerminators(text: string): string {
  const bom = text.startsWith('\uFEFF') ? '\uFEFF' : '';
  let body = text.slice(bom.length);
  if (body.startsWith('\u00EF\u00BB\u00BF')) body = body.slice(3);
  body = body.replace(/^[\r\n \t]+/, '').replace(/[\r\n]+(?:[ \t\f\v]*[\r\n]+)*(?:[ \t\f\v]*$)?/g, '\r');
  return bom + body;
}

/** Runs fn; a throw must be a SwitchboardError (typed). Returns the value or undefined. */
function typed<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof SwitchboardError)) throw new Error(`untyped throw: ${String(e)}`, { cause: e });
    assert.match(e.code, /^SWB_ERR_HL7_/);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------

void describe('(a) generated messages', () => {
  void test('round-trip exactly, as a message and as a batch', () => {
    fc.assert(
      fc.property(messageArb, ({ text }) => {
        const m = parseMessage(text);
        assert.equal(m.toString(), text);
        assert.equal(m.toString({ terminator: '\r' }), normaliseTerminators(text));
        const b = parseBatch(text);
        assert.equal(b.toString(), text);
        assert.equal(b.toString({ terminator: '\r' }), normaliseTerminators(text));
      }),
      { numRuns: 400 },
    );
  });

  void test('every leaf reads back as the decoded original text', () => {
    fc.assert(
      fc.property(messageArb, ({ text, encoding, leaves }) => {
        const m = parseMessage(text);
        assert.deepEqual({ ...m.encoding }, encoding);
        for (const [path, value] of leaves) assert.equal(m.get(path), value, path);
      }),
      { numRuns: 400 },
    );
  });

  void test('set then get gives back the value, and re-parsing the text gives it too', () => {
    fc.assert(
      fc.property(messageArb, textArb, fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), ({ text }, value, f, r, c) => {
        const m = parseMessage(text);
        const seg = m.addSegment('ZXX');
        const path = `ZXX[${m.segmentsNamed('ZXX').indexOf(seg) + 1}]-${f}[${r}].${c}.1`;
        m.set(path, value);
        assert.equal(m.get(path), value);
        assert.equal(parseMessage(m.toString()).get(path), value);
      }),
      { numRuns: 300 },
    );
  });
});

void describe('(b) random input only ever fails with a typed error', () => {
  const token = fc.constantFrom('MSH', 'FHS', 'BHS', 'BTS', 'FTS', 'PID', 'ZZ1', '|', '^~\\&', '^~\\&#', '|1', '|2', '||', '^', '~', '&', '\\', '\\F\\', '\\X0D\\', '""', '\r', '\n', '\r\n', ' ', '\uFEFF', '<', '{', 'a');
  // Token soup, and line-shaped input that starts with a usable header so that the parser gets
  // past the first line and into batch structure, segment ids and counts.
  const soup = fc.array(token, { maxLength: 40 }).map((parts) => parts.join(''));
  const line = fc
    .tuple(fc.constantFrom('MSH|^~\\&|', 'BHS|^~\\&|', 'BTS|', 'FTS|', 'PID|', 'ZZ1', 'Pid|', 'P1|', '', ' '), fc.array(token, { maxLength: 8 }))
    .map(([head, rest]) => head + rest.join(''));
  const lines = fc
    .tuple(fc.constantFrom('MSH|^~\\&|A', 'FHS|^~\\&', 'BHS|^~\\&', 'MSH*$@!%*A', 'MSH|^~|A'), fc.array(fc.tuple(fc.constantFrom('\r', '\n', '\r\n', '\r\r'), line), { maxLength: 10 }))
    .map(([first, rest]) => first + rest.map(([t, l]) => t + l).join(''));
  const hl7ish = fc.oneof(soup, lines);

  for (const [name, arb] of [
    ['random strings', fc.oneof(fc.string(), fc.string({ unit: 'binary' }), hl7ish)],
    ['random bytes', fc.oneof(fc.uint8Array({ maxLength: 200 }), hl7ish.map((s) => new Uint8Array(Buffer.from(s, 'utf8'))))],
  ] as const) {
    void test(`${name}: parseMessage and parseBatch`, () => {
      fc.assert(
        fc.property(arb as fc.Arbitrary<string | Uint8Array>, (input) => {
          const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
          for (const parse of [parseMessage, parseBatch]) {
            const parsed = typed(() => parse(input));
            // Whatever parses must round-trip.
            if (parsed !== undefined) assert.equal(parsed.toString(), text);
          }
          const m = typed(() => parseMessage(input));
          if (m !== undefined) {
            typed(() => m.toJSON());
            typed(() => m.getAll('PID-3.1'));
          }
        }),
        { numRuns: 1500 },
      );
    });
  }
});

void describe('(c) mutated real messages', () => {
  const SEEDS = [
    'MSH|^~\\&|REG|HOSP|LAB|LAB|20240305103000||ADT^A01^ADT_A01|M1|P|2.5.1\rEVN|A01|20240305103000\rPID|1||123^^^HOSP&1.2&ISO^MR~456||DOE^JOHN^Q||19700101|M\rPV1|1|I|W^389^1\r',
    'MSH|^~\\&#|LAB|LAB|EHR|EHR|20240305||ORU^R01^ORU_R01|R1|P|2.7\r\nOBR|1|||88304^Path^L\r\nOBX|1|SN|X^Y||^10^-^20|%\r\nOBX|2|TX|C||a\\.br\\b \\T\\ c\\X0D0A\\d\r\nNTE|1||""\r\n',
    'MSH*$@!%*A*B*C*D*2024**ADT$A08*N1*P*2.4\nPID*1**X!F!Y$$$H%1.2%ISO\nZPD*a@b@c\n',
    'FHS|^~\\&|S|F\rBHS|^~\\&|S|F\rMSH|^~\\&|S|F|R|R|2024||ADT^A04|B1|P|2.5\rPID|1||9\rBTS|1\rFTS|1\r',
  ];

  type Mutation = { kind: 'delete' | 'insert' | 'replace'; at: number; char: string };
  const mutationArb: fc.Arbitrary<Mutation> = fc.record({
    kind: fc.constantFrom('delete', 'insert', 'replace'),
    at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    char: fc.constantFrom('|', '^', '~', '\\', '&', '#', '*', '$', '\r', '\n', '\r\n', 'M', 'S', 'H', 'A', '1', ' ', '"', '\uFEFF', 'é'),
  });

  function mutate(text: string, mutations: Mutation[]): string {
    let s = text;
    for (const { kind, at, char } of mutations) {
      const i = Math.floor(at * (s.length + (kind === 'insert' ? 1 : 0)));
      if (kind === 'insert') s = s.slice(0, i) + char + s.slice(i);
      else if (kind === 'delete') s = s.slice(0, i) + s.slice(i + 1);
      else s = s.slice(0, i) + char + s.slice(i + 1);
    }
    return s;
  }

  void test('never an untyped throw; whatever parses round-trips', () => {
    let parsed = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), fc.array(mutationArb, { minLength: 1, maxLength: 6 }), (seed, mutations) => {
        const text = mutate(seed, mutations);
        for (const parse of [parseMessage, parseBatch]) {
          const result = typed(() => parse(text));
          if (result === undefined) {
            rejected++;
            continue;
          }
          parsed++;
          assert.equal(result.toString(), text);
          // A bare LF not followed by a segment id is field text, not a terminator, so the
          // normalised form is checked for stability: parsing it again gives it back unchanged.
          const norm = result.toString({ terminator: '\r' });
          if (!/\n(?![A-Z][A-Z0-9]{2}(?![A-Za-z0-9])|[\r\n \t]|$)/.test(text)) assert.equal(norm, normaliseTerminators(text));
          assert.equal(parse(norm).toString({ terminator: '\r' }), norm);
        }
      }),
      { numRuns: 1500 },
    );
    // The mutations must exercise both outcomes, or the property proves little.
    assert.ok(parsed > 100 && rejected > 100, `parsed ${parsed}, rejected ${rejected}`);
  });
});

void describe('(d) size and pathological input', () => {
  void test('a 5 MB message with 100k segments parses and round-trips', () => {
    const parts = ['MSH|^~\\&|LAB|LAB|EHR|EHR|20240305||ORU^R01|BIG|P|2.5.1'];
    for (let i = 1; i <= 100_000; i++) parts.push(`OBX|${i}|ST|CODE${i}^Result text^L||value ${i} \\T\\ more|unit|ref|N|||F`);
    const text = parts.join('\r') + '\r';
    assert.ok(text.length > 5_000_000, `${text.length} chars`);
    const m = parseMessage(text);
    assert.equal(m.segments.length, 100_001);
    assert.equal(m.get('OBX[100000]-1'), '100000');
    assert.equal(m.get('OBX[54321]-5'), 'value 54321 & more');
    assert.equal(m.getAll('OBX-1').length, 100_000);
    assert.equal(m.toString(), text);
    assert.equal(parseBatch(text).messages[0]?.segments.length, 100_001);
  });

  void test('1e6 delimiters without a terminator', () => {
    const fields = 'MSH|^~\\&|' + '|'.repeat(1_000_000);
    const m = parseMessage(fields);
    assert.equal(m.header.fieldCount, 1_000_003);
    assert.equal(m.get('MSH-1000000'), '');
    assert.equal(m.toString(), fields);
    const comps = 'MSH|^~\\&|A\rPID|1|' + '^~&\\'.repeat(250_000);
    const p = parseMessage(comps);
    assert.equal(p.getAll('PID-2').length, 250_001);
    assert.equal(p.toString(), comps);
    assert.equal(parseBatch(comps).toString(), comps);
  });

  void test('1e6 terminators, escapes and garbage', () => {
    assert.equal(typed(() => parseMessage('\r\n'.repeat(1_000_000))), undefined);
    const blanks = 'MSH|^~\\&|A' + '\r \n'.repeat(500_000) + 'PID|1';
    assert.equal(parseMessage(blanks).get('PID-1'), '1');
    const escapes = 'MSH|^~\\&|A\rNTE|1||' + '\\'.repeat(1_000_001);
    assert.equal(parseMessage(escapes).get('NTE-3'), '\\'.repeat(1_000_001));
    assert.equal(typed(() => parseBatch('x'.repeat(1_000_000))), undefined);
    assert.equal(typed(() => parseBatch('MSH|' + '^'.repeat(1_000_000))), undefined);
  });
});
