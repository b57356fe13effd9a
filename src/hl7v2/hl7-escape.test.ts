import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_ENCODING, type Hl7Encoding } from './hl7-encoding.ts';
import { decodeEscapes, encodeEscapes, needsEscaping } from './hl7-escape.ts';

// v2.7 5-character MSH-2 `^~\&#` (HL7 v2.7 ch.2 2.5.5.2): the truncation character is `#`.
const FIVE: Hl7Encoding = { ...DEFAULT_ENCODING, truncation: '#' };
// MSH*$@!%: component `$`, repetition `@`, escape `!`, subcomponent `%`.
const ODD: Hl7Encoding = { field: '*', component: '$', repetition: '@', escape: '!', subcomponent: '%', truncation: '' };
// `^~!&`: only the escape character differs from the standard set.
const BANG: Hl7Encoding = { ...DEFAULT_ENCODING, escape: '!' };

void describe('decodeEscapes: delimiter escapes (HL7 v2.5.1 ch.2 2.7.1)', () => {
  const cases: Array<[string, string]> = [
    ['a\\F\\b', 'a|b'],
    ['a\\S\\b', 'a^b'],
    ['a\\T\\b', 'a&b'],
    ['a\\R\\b', 'a~b'],
    ['a\\E\\b', 'a\\b'],
    ['a\\P\\b', 'a#b'],
  ];
  for (const [raw, decoded] of cases) {
    void test(`${raw} -> ${decoded}`, () => assert.equal(decodeEscapes(raw, FIVE), decoded));
  }

  void test('several escapes in one value, adjacent and at both ends', () => {
    assert.equal(decodeEscapes('\\F\\\\S\\x\\T\\\\R\\y\\E\\', FIVE), '|^x&~y\\');
  });

  void test('\\P\\ without a truncation character in MSH-2 is kept verbatim', () => {
    assert.equal(decodeEscapes('a\\P\\b', DEFAULT_ENCODING), 'a\\P\\b');
  });

  void test('the escape decodes to the delimiters of the message, not the standard ones', () => {
    assert.equal(decodeEscapes('x!F!y!S!z!T!w!R!v!E!u', ODD), 'x*y$z%w@v!u');
    // A backslash means nothing special when `!` is the escape character.
    assert.equal(decodeEscapes('C:\\F\\temp', ODD), 'C:\\F\\temp');
  });

  void test('`^~!&`: `!` escapes, `\\` is plain text', () => {
    assert.equal(decodeEscapes('a!F!b!E!c\\E\\d', BANG), 'a|b!c\\E\\d');
    assert.equal(encodeEscapes('a|b!c\\d', BANG), 'a!F!b!E!c\\d');
  });
});

void describe('decodeEscapes: hexadecimal data \\Xhh..\\', () => {
  void test('\\X0D0A\\ is CR LF', () => assert.equal(decodeEscapes('line1\\X0D0A\\line2', DEFAULT_ENCODING), 'line1\r\nline2'));
  void test('lower-case hex digits are accepted', () => assert.equal(decodeEscapes('\\X0d\\', DEFAULT_ENCODING), '\r'));
  void test('multi-byte UTF-8 \\XC3A9\\ is é', () => assert.equal(decodeEscapes('caf\\XC3A9\\', DEFAULT_ENCODING), 'café'));
  void test('a 3-byte UTF-8 sequence \\XE282AC\\ is €', () => assert.equal(decodeEscapes('\\XE282AC\\5', DEFAULT_ENCODING), '€5'));
  void test('bytes that are not UTF-8 are read as ISO-8859-1: \\XE9\\ is é', () => assert.equal(decodeEscapes('caf\\XE9\\', DEFAULT_ENCODING), 'café'));
  void test('odd-length, empty and non-hex \\X\\ bodies are kept verbatim', () => {
    assert.equal(decodeEscapes('a\\X0\\b', DEFAULT_ENCODING), 'a\\X0\\b');
    assert.equal(decodeEscapes('a\\X\\b', DEFAULT_ENCODING), 'a\\X\\b');
    assert.equal(decodeEscapes('a\\XZZ\\b', DEFAULT_ENCODING), 'a\\XZZ\\b');
  });
});

void describe('decodeEscapes: formatted text (ch.2 2.7.6) and highlighting', () => {
  void test('\\.br\\ is a line break', () => assert.equal(decodeEscapes('one\\.br\\two', DEFAULT_ENCODING), 'one\ntwo'));
  void test('\\.sp3\\ is three line breaks; \\.sp\\ is one', () => {
    assert.equal(decodeEscapes('a\\.sp3\\b', DEFAULT_ENCODING), 'a\n\n\nb');
    assert.equal(decodeEscapes('a\\.sp\\b', DEFAULT_ENCODING), 'a\nb');
  });
  void test('layout commands with no plain-text meaning are removed', () => {
    assert.equal(decodeEscapes('\\.ce\\T\\.in+4\\i\\.ti-2\\t\\.fi\\\\.nf\\\\.sk3\\le', DEFAULT_ENCODING), 'Title');
  });
  void test('\\H\\ and \\N\\ (highlight on/off) are removed', () => {
    assert.equal(decodeEscapes('normal \\H\\bold\\N\\ normal', DEFAULT_ENCODING), 'normal bold normal');
  });
  void test('an unknown formatting command is kept verbatim', () => assert.equal(decodeEscapes('a\\.xyz\\b', DEFAULT_ENCODING), 'a\\.xyz\\b'));
});

void describe('decodeEscapes: sequences it does not interpret are kept', () => {
  void test('locally defined \\Zxx\\ is kept verbatim', () => assert.equal(decodeEscapes('a\\Zabc\\b', DEFAULT_ENCODING), 'a\\Zabc\\b'));
  void test('character-set switches \\Cxxyy\\ and \\Mxxyyzz\\ are kept verbatim', () => {
    assert.equal(decodeEscapes('\\C2842\\abc\\C2842\\', DEFAULT_ENCODING), '\\C2842\\abc\\C2842\\');
    assert.equal(decodeEscapes('x\\M244230\\y', DEFAULT_ENCODING), 'x\\M244230\\y');
  });
  void test('a known escape right after an unknown one is still decoded', () => {
    assert.equal(decodeEscapes('\\Zab\\\\F\\', DEFAULT_ENCODING), '\\Zab\\|');
  });
  void test('an unterminated escape is kept', () => {
    assert.equal(decodeEscapes('a\\Fb', DEFAULT_ENCODING), 'a\\Fb');
    assert.equal(decodeEscapes('end\\', DEFAULT_ENCODING), 'end\\');
    assert.equal(decodeEscapes('\\F\\ then \\S', DEFAULT_ENCODING), '| then \\S');
  });
  void test('a stray escape before a real sequence does not swallow it', () => {
    assert.equal(decodeEscapes('DOMAIN\\user \\T\\ co', DEFAULT_ENCODING), 'DOMAIN\\user & co');
  });
  void test('a value with no escape character is returned as is', () => {
    const noEscape: Hl7Encoding = { ...DEFAULT_ENCODING, escape: '', subcomponent: '' };
    assert.equal(decodeEscapes('a\\F\\b', noEscape), 'a\\F\\b');
  });
});

void describe('encodeEscapes', () => {
  void test('every delimiter, the escape and CR/LF are escaped', () => {
    assert.equal(encodeEscapes('|^~\\&#\r\n', FIVE), '\\F\\\\S\\\\R\\\\E\\\\T\\\\P\\\\X0D\\\\X0A\\');
  });
  void test('`#` is plain text when there is no truncation character', () => {
    assert.equal(encodeEscapes('#1', DEFAULT_ENCODING), '#1');
  });
  void test('uses the escape character of the message', () => {
    assert.equal(encodeEscapes('*$@!%|^', ODD), '!F!!S!!R!!E!!T!|^');
  });
  void test('needsEscaping', () => {
    assert.equal(needsEscaping('plain text', DEFAULT_ENCODING), false);
    assert.equal(needsEscaping('a^b', DEFAULT_ENCODING), true);
    assert.equal(needsEscaping('a\rb', DEFAULT_ENCODING), true);
    assert.equal(needsEscaping('a#b', DEFAULT_ENCODING), false);
    assert.equal(needsEscaping('a#b', FIVE), true);
    assert.equal(needsEscaping('a|b', ODD), false);
  });
});

void describe('round trip: decode(encode(s)) === s', () => {
  // Strings rich in delimiters, escapes, terminators and multi-byte text, plus arbitrary ones.
  const tricky = fc.string({ unit: fc.constantFrom('|', '^', '~', '\\', '&', '#', '*', '$', '@', '!', '%', '\r', '\n', 'X', 'F', 'E', '.', 'é', '😀', ' ') });
  const text = fc.oneof(tricky, fc.string(), fc.string({ unit: 'binary' }));

  for (const [name, enc] of [['standard |^~\\&', DEFAULT_ENCODING], ['5-char |^~\\&#', FIVE], ['non-standard *$@!%', ODD], ['`^~!&`', BANG]] as const) {
    void test(`${name}`, () => {
      fc.assert(
        fc.property(text, (s) => {
          const encoded = encodeEscapes(s, enc);
          // Nothing in the escaped text may split the leaf or end the segment...
          for (const d of [enc.field, enc.component, enc.repetition, enc.subcomponent, enc.truncation, '\r', '\n']) {
            if (d !== '') assert.ok(!encoded.includes(d), `${JSON.stringify(encoded)} holds ${JSON.stringify(d)}`);
          }
          // ...and decoding gives back exactly the original.
          assert.equal(decodeEscapes(encoded, enc), s);
        }),
        { numRuns: 1000 },
      );
    });
  }
});

void test('an unknown sequence keeps its closing escape, so a known one right after still decodes', () => {
  assert.equal(decodeEscapes('\\Zfoo\\H\\Zbar\\', DEFAULT_ENCODING), '\\Zfoo\\H\\Zbar\\');
  assert.equal(decodeEscapes('\\C2842\\E\\C2842\\', DEFAULT_ENCODING), '\\C2842\\E\\C2842\\');
  assert.equal(decodeEscapes('\\Zfoo\\\\X41\\x', DEFAULT_ENCODING), '\\Zfoo\\Ax');
});
