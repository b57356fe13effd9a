import { SwitchboardError } from '../core/errors.ts';
import type { Hl7Encoding } from './hl7-encoding.ts';
import { decodeEscapes, encodeEscapes, needsEscaping } from './hl7-escape.ts';
import { parsePath, type Hl7Path } from './hl7-path.ts';

/** A leaf or composite value as read: a string, `null` for the HL7 null `""`, undefined when absent. */
export type Hl7Value = string | null;

/** What is in a position (HL7 v2.5.1 ch.2 2.5.3: a field may be not present, empty, or null `""`). */
export type Hl7Presence = 'absent' | 'empty' | 'null' | 'value';

export const HL7_NULL = '""';

const MAX_SET_POSITION = 9999;

/** The n-th (1-based) piece of `raw` split on `sep`, without allocating an array. */
export function piece(raw: string, sep: string, n: number): string | undefined {
  if (sep === '') return n === 1 ? raw : undefined;
  let start = 0;
  for (let i = 1; i < n; i++) {
    const at = raw.indexOf(sep, start);
    if (at === -1) return undefined;
    start = at + 1;
  }
  const end = raw.indexOf(sep, start);
  return end === -1 ? raw.slice(start) : raw.slice(start, end);
}

/** Splits on a separator; a declared-absent separator ('') never splits. */
export function splitOn(raw: string, sep: string): string[] {
  return sep === '' || raw.indexOf(sep) === -1 ? [raw] : raw.split(sep);
}

/** A path for an error message; a parsed path is written back in spec form (not `[object Object]`). */
function pathText(path: string | Hl7Path, segment: string): string {
  if (typeof path === 'string') return path;
  let s = path.segment ?? segment;
  if (path.occurrence !== undefined) s += `[${path.occurrence}]`;
  if (path.field === undefined) return s;
  s += `-${path.field}`;
  if (path.repetition !== undefined) s += `[${path.repetition}]`;
  if (path.component !== undefined) s += `.${path.component}`;
  if (path.subcomponent !== undefined) s += `.${path.subcomponent}`;
  return s;
}

function isHeader(name: string): boolean {
  return name === 'MSH' || name === 'FHS' || name === 'BHS';
}

/**
 * One segment. The raw line is kept as received; fields are split from it on first access and
 * joined again only if the segment is edited, so an untouched segment serializes byte for byte.
 *
 * Field numbering follows the spec: for MSH/FHS/BHS, field 1 is the field separator itself and
 * field 2 the encoding characters (HL7 v2.5.1 ch.2 2.14.9), so `MSH-9` is the 9th field.
 */
export class Hl7Segment {
  readonly name: string;
  readonly encoding: Hl7Encoding;
  /** The terminator found after this segment in the input ('\r', '\n', '\r\n', or a run of them). */
  terminator: string;
  #raw: string | undefined;
  #parts: string[] | undefined;
  #reads = 0;

  constructor(name: string, raw: string, encoding: Hl7Encoding, terminator = '\r') {
    this.name = name;
    this.#raw = raw;
    this.encoding = encoding;
    this.terminator = terminator;
  }

  /** A new empty segment of this name (a header segment gets MSH-1/MSH-2 from the encoding). */
  static create(name: string, encoding: Hl7Encoding): Hl7Segment {
    if (!/^[A-Z][A-Z0-9]{2}$/.test(name)) {
      throw new SwitchboardError('SWB_ERR_HL7_BAD_SEGMENT_ID', { index: '(new)', found: JSON.stringify(name) });
    }
    const enc = encoding;
    const raw = isHeader(name)
      ? name + enc.field + enc.component + enc.repetition + enc.escape + enc.subcomponent + enc.truncation
      : name;
    return new Hl7Segment(name, raw, enc);
  }

  #split(): string[] {
    if (this.#parts === undefined) this.#parts = (this.#raw as string).split(this.encoding.field);
    return this.#parts;
  }

  /** The index in the split parts of field n (MSH-1 has none: it is the separator). */
  #partIndex(n: number): number {
    return isHeader(this.name) ? n - 1 : n;
  }

  /** How many fields the segment holds (trailing empty fields included as received). */
  get fieldCount(): number {
    return this.#split().length - 1 + (isHeader(this.name) ? 1 : 0);
  }

  /** The raw ER7 text of field n (all repetitions), or undefined when absent. */
  rawField(n: number): string | undefined {
    if (isHeader(this.name) && n === 1) return this.encoding.field;
    const i = this.#partIndex(n);
    if (i < 1) return undefined;
    // Fast path for an unedited segment: find the field with indexOf, no array.
    // A segment read more than twice is split once, so that mapping code touching many fields
    // does not rescan the line for each of them.
    if (this.#parts === undefined && this.#raw !== undefined && ++this.#reads <= 2) return piece(this.#raw, this.encoding.field, i + 1);
    return this.#split()[i];
  }

  /** Raw text at a path relative to this segment (field/repetition/component/subcomponent). */
  rawAt(field: number, repetition = 1, component?: number, subcomponent?: number): string | undefined {
    const f = this.rawField(field);
    if (f === undefined) return undefined;
    if (isHeader(this.name) && field <= 2) return repetition === 1 && component === undefined ? f : undefined;
    const enc = this.encoding;
    const rep = piece(f, enc.repetition, repetition);
    if (rep === undefined || component === undefined) return rep;
    const comp = piece(rep, enc.component, component);
    if (comp === undefined || subcomponent === undefined) return comp;
    return piece(comp, enc.subcomponent, subcomponent);
  }

  /**
   * The value at a path such as `3[2].1` (or a full path whose segment part is ignored).
   * A leaf is returned with escapes decoded; a composite (one that still holds component or
   * subcomponent separators) is returned as raw ER7 text, since decoding it would merge
   * delimiters with data. `""` reads as null; an absent position reads as undefined.
   */
  get(path: string | Hl7Path): Hl7Value | undefined {
    const p = typeof path === 'string' ? parsePath(path) : path;
    if (p.field === undefined) return this.toString();
    const raw = this.rawAt(p.field, p.repetition ?? 1, p.component, p.subcomponent);
    return this.#leaf(raw, p);
  }

  /** Every repetition of a field position (for a path with no repetition index). */
  getAll(path: string | Hl7Path): Hl7Value[] {
    const p = typeof path === 'string' ? parsePath(path) : path;
    const out: Hl7Value[] = [];
    this.collect(p, out);
    return out;
  }

  /** Appends the values at a path to `out`: every repetition unless the path names one. */
  collect(p: Hl7Path, out: Hl7Value[]): void {
    if (p.field === undefined) {
      out.push(this.toString());
      return;
    }
    if (p.repetition !== undefined) {
      const v = this.#leaf(this.rawAt(p.field, p.repetition, p.component, p.subcomponent), p);
      if (v !== undefined) out.push(v);
      return;
    }
    const f = this.rawField(p.field);
    if (f === undefined) return;
    const reps = isHeader(this.name) && p.field <= 2 ? [f] : splitOn(f, this.encoding.repetition);
    for (const rep of reps) {
      let raw: string | undefined = rep;
      if (p.component !== undefined) {
        raw = piece(rep, this.encoding.component, p.component);
        if (raw !== undefined && p.subcomponent !== undefined) raw = piece(raw, this.encoding.subcomponent, p.subcomponent);
      }
      const v = this.#leaf(raw, p);
      if (v !== undefined) out.push(v);
    }
  }

  #leaf(raw: string | undefined, p: Hl7Path): Hl7Value | undefined {
    if (raw === undefined) return undefined;
    if (raw === HL7_NULL) return null;
    if (isHeader(this.name) && p.field !== undefined && p.field <= 2) return raw;
    const enc = this.encoding;
    if (p.subcomponent === undefined) {
      if (p.component === undefined && raw.indexOf(enc.component) !== -1) return raw;
      if (enc.subcomponent !== '' && raw.indexOf(enc.subcomponent) !== -1) return raw;
    }
    return decodeEscapes(raw, enc);
  }

  /** absent / empty / null (`""`) / value, for a path relative to this segment. */
  presence(path: string | Hl7Path): Hl7Presence {
    const p = typeof path === 'string' ? parsePath(path) : path;
    if (p.field === undefined) return 'value';
    const raw = this.rawAt(p.field, p.repetition ?? 1, p.component, p.subcomponent);
    if (raw === undefined) return 'absent';
    if (raw === '') return 'empty';
    return raw === HL7_NULL ? 'null' : 'value';
  }

  /** Number of repetitions present in field n (0 when absent or empty). */
  repetitionCount(n: number): number {
    const f = this.rawField(n);
    if (f === undefined || f === '') return 0;
    if (isHeader(this.name) && n <= 2) return 1;
    return splitOn(f, this.encoding.repetition).length;
  }

  /**
   * Sets a value, escaping it (HL7 v2.5.1 ch.2 2.7): `set('5.2', 'O\'Brien^Jr')` stores the text
   * with its delimiters escaped. null writes the HL7 null `""`. Missing fields, repetitions and
   * components are created empty.
   */
  set(path: string | Hl7Path, value: string | null): this {
    const enc = this.encoding;
    // Without an escape character a delimiter (or CR/LF) in the value cannot be written at all;
    // refuse rather than let encodeEscapes emit a bare `F`/`S` in its place.
    if (value !== null && enc.escape === '' && needsEscaping(value, enc)) {
      throw new SwitchboardError('SWB_ERR_HL7_BAD_VALUE', { path: pathText(path, this.name), datatype: 'value', reason: 'it holds a delimiter and MSH-2 declares no escape character' });
    }
    return this.setRaw(path, value === null ? HL7_NULL : encodeEscapes(value, enc));
  }

  /** Sets raw ER7 text (already escaped; may hold component separators) at a path. */
  setRaw(path: string | Hl7Path, raw: string): this {
    const p = typeof path === 'string' ? parsePath(path) : path;
    const field = p.field;
    // A bound keeps a typo like PID-99999999 from allocating millions of empty positions.
    for (const n of [field, p.repetition, p.component, p.subcomponent]) {
      if (n !== undefined && n > MAX_SET_POSITION) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path: pathText(p, this.name), reason: `positions above ${MAX_SET_POSITION} cannot be set` });
    }
    if (field === undefined) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path: pathText(path, this.name), reason: 'a field position is required to set a value' });
    if (isHeader(this.name) && field <= 2) {
      throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path: pathText(path, this.name), reason: `${this.name}-1 and ${this.name}-2 are the encoding characters and cannot be set` });
    }
    const enc = this.encoding;
    // A second repetition/subcomponent needs its separator; joining on '' would merge the values.
    if ((p.repetition ?? 1) > 1 && enc.repetition === '') {
      throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path: pathText(path, this.name), reason: 'MSH-2 declares no repetition separator' });
    }
    if ((p.subcomponent ?? 1) > 1 && enc.subcomponent === '') {
      throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path: pathText(path, this.name), reason: 'MSH-2 declares no subcomponent separator' });
    }
    const parts = this.#split();
    const i = this.#partIndex(field);
    while (parts.length <= i) parts.push('');
    let value = raw;
    if (p.repetition !== undefined || p.component !== undefined) {
      const reps = splitOn(parts[i] as string, enc.repetition);
      const r = (p.repetition ?? 1) - 1;
      while (reps.length <= r) reps.push('');
      if (p.component !== undefined) {
        const comps = splitOn(reps[r] as string, enc.component);
        const c = p.component - 1;
        while (comps.length <= c) comps.push('');
        if (p.subcomponent !== undefined) {
          const subs = splitOn(comps[c] as string, enc.subcomponent);
          const s = p.subcomponent - 1;
          while (subs.length <= s) subs.push('');
          subs[s] = value;
          value = subs.join(enc.subcomponent);
        }
        comps[c] = value;
        value = comps.join(enc.component);
      }
      reps[r] = value;
      value = reps.join(enc.repetition);
    }
    parts[i] = value;
    this.#raw = undefined;
    return this;
  }

  /** Iterates fields as [number, raw text] from field 1 (MSH-1 included for header segments). */
  *fields(): IterableIterator<[number, string]> {
    const count = this.fieldCount;
    for (let n = 1; n <= count; n++) yield [n, this.rawField(n) ?? ''];
  }

  /** The segment as ER7 text, without its terminator. */
  toString(): string {
    if (this.#raw === undefined) this.#raw = (this.#parts as string[]).join(this.encoding.field);
    return this.#raw;
  }
}
