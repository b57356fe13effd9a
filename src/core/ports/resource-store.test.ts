// normalizeSearchString: its printable-ASCII shortcut gives what the full Unicode normalisation
// (FHIR R4 search.html#string: case- and accent-insensitive) gives, for any string.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { normalizeSearchString } from './resource-store.ts';

/** The normalisation spelled out in full, with no shortcut. */
const reference = (text: string): string => text.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();

test('normalizeSearchString equals the full NFD / mark / case / whitespace normalisation', () => {
  const ascii = fc.string({ unit: fc.constantFrom(...' \t\n\rAaZz09-_.,/  Müller'.split('')) });
  fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), ascii), (s) => normalizeSearchString(s) === reference(s)), { numRuns: 5000 });
  for (const s of ['  Smith  ', 'SMITH   John', 'José', 'Ångström', 'O\u2019Brien', 'tab\there', 'a\u00a0b', '', '   ']) assert.equal(normalizeSearchString(s), reference(s), JSON.stringify(s));
});
