import { SwitchboardError } from '../core/errors.ts';
import type { Hl7Encoding } from './hl7-encoding.ts';
import { decodeEscapes } from './hl7-escape.ts';
import { piece } from './hl7-segment.ts';

/**
 * Typed readers for common datatypes (HL7 v2.5.1 ch.2A). Each takes the raw ER7 text of one
 * repetition and returns an object of decoded strings; empty components are left out.
 * Errors name the path and the rule, never the value: it may be PHI (a birth date) and error
 * texts reach logs and stored outcomes (ARCHITECTURE.md invariant 7).
 */

export type TimestampPrecision = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'millisecond';

export interface Hl7Timestamp {
  /** The value as sent, e.g. `20240305103000.25-0500`. */
  readonly raw: string;
  /** ISO 8601 with the sent precision and offset kept, e.g. `2024-03-05T10:30:00.25-05:00`. */
  readonly iso: string;
  readonly precision: TimestampPrecision;
  /** The UTC offset as sent, `+hh:mm` / `-hh:mm`; undefined when the sender gave none. */
  readonly offset?: string;
  /** Offset in minutes east of UTC (negative west), when sent. */
  readonly offsetMinutes?: number;
  /** The instant, only when the offset was sent (a local time without offset is not an instant). */
  readonly date?: Date;
}

export interface Hl7Hd {
  readonly namespaceId?: string;
  readonly universalId?: string;
  readonly universalIdType?: string;
}

export interface Hl7Xpn {
  readonly family?: string;
  readonly given?: string;
  /** Second and further given names or their initials. */
  readonly middle?: string;
  readonly suffix?: string;
  readonly prefix?: string;
  readonly degree?: string;
  readonly nameTypeCode?: string;
}

export interface Hl7Xad {
  readonly street?: string;
  readonly otherDesignation?: string;
  readonly city?: string;
  readonly state?: string;
  readonly postalCode?: string;
  readonly country?: string;
  readonly addressType?: string;
  readonly otherGeographic?: string;
  readonly county?: string;
}

export interface Hl7Xtn {
  readonly number?: string;
  readonly useCode?: string;
  readonly equipmentType?: string;
  readonly email?: string;
  readonly countryCode?: string;
  readonly areaCode?: string;
  readonly localNumber?: string;
  readonly extension?: string;
  readonly anyText?: string;
}

export interface Hl7Cx {
  readonly id?: string;
  readonly checkDigit?: string;
  readonly checkDigitScheme?: string;
  readonly assigningAuthority?: Hl7Hd;
  readonly identifierTypeCode?: string;
  readonly assigningFacility?: Hl7Hd;
}

export interface Hl7Cwe {
  readonly code?: string;
  readonly text?: string;
  readonly system?: string;
  readonly alternateCode?: string;
  readonly alternateText?: string;
  readonly alternateSystem?: string;
  readonly systemVersion?: string;
  readonly alternateSystemVersion?: string;
  readonly originalText?: string;
}

export interface Hl7Xcn {
  readonly id?: string;
  readonly family?: string;
  readonly given?: string;
  readonly middle?: string;
  readonly suffix?: string;
  readonly prefix?: string;
  readonly degree?: string;
  readonly assigningAuthority?: Hl7Hd;
  readonly nameTypeCode?: string;
  readonly identifierTypeCode?: string;
}

export interface Hl7Sn {
  /** `>`, `<`, `>=`, `<=`, `=` or `<>`; absent means `=`. */
  readonly comparator?: string;
  readonly num1?: number;
  /** `-` (range), `+` (categorical), `/` or `:` (ratio), `.` (decimal). */
  readonly separator?: string;
  readonly num2?: number;
}

export interface Hl7DatatypeMap {
  TS: Hl7Timestamp;
  DTM: Hl7Timestamp;
  DT: Hl7Timestamp;
  HD: Hl7Hd;
  XPN: Hl7Xpn;
  XAD: Hl7Xad;
  XTN: Hl7Xtn;
  CX: Hl7Cx;
  CWE: Hl7Cwe;
  CE: Hl7Cwe;
  CNE: Hl7Cwe;
  XCN: Hl7Xcn;
  NM: number;
  SN: Hl7Sn;
}

type Reader<T> = (raw: string, enc: Hl7Encoding, path: string) => T;

function bad(path: string, datatype: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_HL7_BAD_VALUE', { path, datatype, reason });
}

/** Builds an object from entries, leaving out empty values (exactOptionalPropertyTypes-safe). */
function compact<T>(entries: Array<[string, unknown]>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) if (v !== undefined && v !== '' && v !== null) out[k] = v;
  return out as T;
}

function comp(raw: string, enc: Hl7Encoding, n: number, sub?: number): string | undefined {
  let v = piece(raw, enc.component, n);
  if (v !== undefined && sub !== undefined) v = piece(v, enc.subcomponent, sub);
  if (v === undefined || v === '' || v === '""') return undefined;
  return decodeEscapes(v, enc);
}

function hdFrom(raw: string | undefined, enc: Hl7Encoding, sep: string): Hl7Hd | undefined {
  if (raw === undefined || raw === '') return undefined;
  // The first three pieces, found with indexOf (no array, no entry list): an HD is read for every
  // CX, XCN and MSH-3..6 of a message. `""` is a value here as before (decoded, kept).
  const i1 = sep === '' ? -1 : raw.indexOf(sep);
  const p0 = i1 === -1 ? raw : raw.slice(0, i1);
  let p1 = '';
  let p2 = '';
  if (i1 !== -1) {
    const i2 = raw.indexOf(sep, i1 + 1);
    p1 = i2 === -1 ? raw.slice(i1 + 1) : raw.slice(i1 + 1, i2);
    if (i2 !== -1) {
      const i3 = raw.indexOf(sep, i2 + 1);
      p2 = i3 === -1 ? raw.slice(i2 + 1) : raw.slice(i2 + 1, i3);
    }
  }
  // A piece that decodes to nothing (`\H\`) is left out, as an empty one is.
  const ns = p0 === '' ? '' : decodeEscapes(p0, enc);
  const uid = p1 === '' ? '' : decodeEscapes(p1, enc);
  const uidType = p2 === '' ? '' : decodeEscapes(p2, enc);
  if (ns === '' && uid === '' && uidType === '') return undefined;
  const hd: { namespaceId?: string; universalId?: string; universalIdType?: string } = {};
  if (ns !== '') hd.namespaceId = ns;
  if (uid !== '') hd.universalId = uid;
  if (uidType !== '') hd.universalIdType = uidType;
  return hd;
}

/** Date.UTC, except that years 0-99 stay years 0-99 (Date.UTC reads them as 1900-1999). */
function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  if (y >= 100) return Date.UTC(y, mo, d, h, mi, s, ms);
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

/** Days in a month (1-12) of the proleptic Gregorian calendar, as Date computes them. */
function daysInMonth(y: number, month: number): number {
  if (month === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const TS_RE = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/** The value of a run of ASCII digits matched by TS_RE (0 when the part was not sent). */
function num(x: string | undefined): number {
  if (x === undefined) return 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) n = n * 10 + (x.charCodeAt(i) - 48);
  return n;
}

/** The mutable shape readTimestamp fills in, key order as the readers have always produced it. */
interface TimestampDraft {
  raw: string;
  iso: string;
  precision: TimestampPrecision;
  offset?: string;
  offsetMinutes?: number;
  date?: Date;
}

/** Reads TS/DTM/DT (ch.2A 2.A.22 DTM): YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. */
export const readTimestamp: Reader<Hl7Timestamp> = (raw, enc, path) => {
  // v2.3-2.5 TS is a composite whose first component is the time; the second (degree of
  // precision) is deprecated and ignored.
  const value = (piece(raw, enc.component, 1) ?? '').trim();
  const m = TS_RE.exec(value);
  if (m === null) throw bad(path, 'DTM', `expected YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ] (${value.length} characters sent)`);
  const y = m[1] as string;
  const mo = m[2];
  const d = m[3];
  const h = m[4];
  const mi = m[5];
  const s = m[6];
  const frac = m[7];
  const tz = m[8];
  const yN = num(y);
  const moN = num(mo);
  const dN = num(d);
  const hN = num(h);
  const miN = num(mi);
  const sN = num(s);
  if (mo !== undefined && (moN < 1 || moN > 12)) throw bad(path, 'DTM', 'the month is out of range');
  if (d !== undefined && (dN < 1 || dN > daysInMonth(yN, moN))) throw bad(path, 'DTM', 'the day is out of range');
  if (h !== undefined && hN > 23) throw bad(path, 'DTM', 'the hour is out of range');
  if (mi !== undefined && miN > 59) throw bad(path, 'DTM', 'the minute is out of range');
  // 60 allows a leap second.
  if (s !== undefined && sN > 60) throw bad(path, 'DTM', 'the second is out of range');
  let offset: string | undefined;
  let offsetMinutes: number | undefined;
  if (tz !== undefined) {
    const oh = num(tz.slice(1, 3));
    const om = num(tz.slice(3, 5));
    if (oh > 14 || om > 59) throw bad(path, 'DTM', 'the UTC offset is out of range');
    // Keep the sign as sent: -0500 is five hours WEST of UTC (a known bug elsewhere drops it).
    offset = `${tz.charAt(0)}${tz.slice(1, 3)}:${tz.slice(3, 5)}`;
    offsetMinutes = (tz.charAt(0) === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const precision: TimestampPrecision =
    frac !== undefined ? 'millisecond' : s !== undefined ? 'second' : mi !== undefined ? 'minute' : h !== undefined ? 'hour' : d !== undefined ? 'day' : mo !== undefined ? 'month' : 'year';
  let iso = y;
  if (mo !== undefined) iso += `-${mo}`;
  if (d !== undefined) iso += `-${d}`;
  if (h !== undefined) iso += `T${h}:${mi ?? '00'}`;
  if (s !== undefined) iso += `:${s}`;
  if (frac !== undefined) iso += `.${frac}`;
  if (offset !== undefined && h !== undefined) iso += offset;
  // Built directly rather than through compact(): `value` matched TS_RE, so it is never empty.
  const out: TimestampDraft = { raw: value, iso, precision };
  if (offset !== undefined && offsetMinutes !== undefined) {
    out.offset = offset;
    // -0000 reads as -0 minutes, kept as sent.
    out.offsetMinutes = offsetMinutes;
    const ms = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * 1000);
    const utc = utcMs(yN, mo === undefined ? 0 : moN - 1, d === undefined ? 1 : dN, hN, miN, sN, ms);
    out.date = new Date(utc - offsetMinutes * 60_000);
  }
  return out;
};

const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, '0');

/** Formats a Date as DTM with seconds and an explicit offset (default UTC: +0000). */
export function formatHl7Timestamp(date: Date, offsetMinutes = 0): string {
  const local = new Date(date.getTime() + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  return (
    `${local.getUTCFullYear()}${pad(local.getUTCMonth() + 1)}${pad(local.getUTCDate())}` +
    `${pad(local.getUTCHours())}${pad(local.getUTCMinutes())}${pad(local.getUTCSeconds())}` +
    `${sign}${pad(Math.trunc(Math.abs(offsetMinutes) / 60))}${pad(Math.abs(offsetMinutes) % 60)}`
  );
}

export const readHd: Reader<Hl7Hd> = (raw, enc) => hdFrom(raw, enc, enc.component) ?? {};

/**
 * The composites below walk the components with indexOf (no array of parts; mapping reads
 * thousands of these per message) and read each as `comp` would: empty and `""` left out, escapes
 * decoded. Each stores its components under literal names (a switch per position) rather than
 * `out[name]`: computed-name stores on objects of varying shape were the costliest part of reading.
 * Components a datatype does not surface are skipped.
 */

/** The component at [start, end) of `raw`, decoded; undefined when empty or the HL7 null `""`. */
function componentAt(raw: string, start: number, end: number, enc: Hl7Encoding): string | undefined {
  if (end <= start) return undefined;
  const part = raw.slice(start, end);
  return part === '""' ? undefined : decodeEscapes(part, enc);
}

/** FN/SAD-style first subcomponent of the component at [start, end), decoded; undefined when empty or `""`. */
function firstSubcomponentAt(raw: string, start: number, end: number, enc: Hl7Encoding): string | undefined {
  if (end <= start) return undefined;
  const part = raw.slice(start, end);
  if (part === '""') return undefined;
  const sub = piece(part, enc.subcomponent, 1);
  return sub === undefined || sub === '' || sub === '""' ? undefined : decodeEscapes(sub, enc);
}

/** An HD spread over the subcomponents of the component at [start, end). */
function hdAt(raw: string, start: number, end: number, enc: Hl7Encoding): Hl7Hd | undefined {
  if (end <= start) return undefined;
  const part = raw.slice(start, end);
  return part === '""' ? undefined : hdFrom(part, enc, enc.subcomponent);
}

/** End of the component starting at `start`: the next component separator, or -1 for the last one. */
function nextSeparator(raw: string, sep: string, start: number): number {
  return sep === '' ? -1 : raw.indexOf(sep, start);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

// HL7 v2.5.1 ch.2A: XPN 2.A.88, XAD 2.A.85, XTN 2.A.89, CX 2.A.14, CWE 2.A.13, XCN 2.A.87.
// Each reader spells out the same walk over the components, with literal property names in a
// switch, on purpose: these run for nearly every field the mapper reads, and the shared versions
// (a parts array, a callback per component, or keys from a table) allocated per call or made the
// result objects' shapes vary, which showed as most of the datatype cost in the convert benchmark.

/** XPN: family (FN, first subcomponent) ^ given ^ middle ^ suffix ^ prefix ^ degree ^ name type. */
export const readXpn: Reader<Hl7Xpn> = (raw, enc) => {
  const out: Mutable<Hl7Xpn> = {};
  const sep = enc.component;
  let start = 0;
  for (let i = 0; i < 7; i++) {
    const at = nextSeparator(raw, sep, start);
    const end = at === -1 ? raw.length : at;
    if (i === 0) {
      const v = firstSubcomponentAt(raw, start, end, enc);
      if (v !== undefined) out.family = v;
    } else {
      const v = componentAt(raw, start, end, enc);
      if (v !== undefined) {
        if (i === 1) out.given = v;
        else if (i === 2) out.middle = v;
        else if (i === 3) out.suffix = v;
        else if (i === 4) out.prefix = v;
        else if (i === 5) out.degree = v;
        else out.nameTypeCode = v;
      }
    }
    if (at === -1) break;
    start = at + 1;
  }
  return out;
};

/** XAD: street (SAD, first subcomponent) ^ other designation ^ city ^ state ^ zip ^ country ^ type ^ other geographic ^ county. */
export const readXad: Reader<Hl7Xad> = (raw, enc) => {
  const out: Mutable<Hl7Xad> = {};
  const sep = enc.component;
  let start = 0;
  for (let i = 0; i < 9; i++) {
    const at = nextSeparator(raw, sep, start);
    const end = at === -1 ? raw.length : at;
    if (i === 0) {
      const v = firstSubcomponentAt(raw, start, end, enc);
      if (v !== undefined) out.street = v;
    } else {
      const v = componentAt(raw, start, end, enc);
      if (v !== undefined) {
        switch (i) {
          case 1: out.otherDesignation = v; break;
          case 2: out.city = v; break;
          case 3: out.state = v; break;
          case 4: out.postalCode = v; break;
          case 5: out.country = v; break;
          case 6: out.addressType = v; break;
          case 7: out.otherGeographic = v; break;
          default: out.county = v;
        }
      }
    }
    if (at === -1) break;
    start = at + 1;
  }
  return out;
};

/** XTN: number ^ use ^ equipment ^ email ^ country ^ area ^ local ^ extension ^ any text. */
export const readXtn: Reader<Hl7Xtn> = (raw, enc) => {
  const out: Mutable<Hl7Xtn> = {};
  const sep = enc.component;
  let start = 0;
  for (let i = 0; i < 9; i++) {
    const at = nextSeparator(raw, sep, start);
    const end = at === -1 ? raw.length : at;
    const v = componentAt(raw, start, end, enc);
    if (v !== undefined) {
      switch (i) {
        case 0: out.number = v; break;
        case 1: out.useCode = v; break;
        case 2: out.equipmentType = v; break;
        case 3: out.email = v; break;
        case 4: out.countryCode = v; break;
        case 5: out.areaCode = v; break;
        case 6: out.localNumber = v; break;
        case 7: out.extension = v; break;
        default: out.anyText = v;
      }
    }
    if (at === -1) break;
    start = at + 1;
  }
  return out;
};

/** CX: id ^ check digit ^ scheme ^ assigning authority (HD) ^ identifier type ^ assigning facility (HD). */
export const readCx: Reader<Hl7Cx> = (raw, enc) => {
  const out: Mutable<Hl7Cx> = {};
  const sep = enc.component;
  let start = 0;
  for (let i = 0; i < 6; i++) {
    const at = nextSeparator(raw, sep, start);
    const end = at === -1 ? raw.length : at;
    if (i === 3 || i === 5) {
      const hd = hdAt(raw, start, end, enc);
      if (hd !== undefined) {
        if (i === 3) out.assigningAuthority = hd;
        else out.assigningFacility = hd;
      }
    } else {
      const v = componentAt(raw, start, end, enc);
      if (v !== undefined) {
        if (i === 0) out.id = v;
        else if (i === 1) out.checkDigit = v;
        else if (i === 2) out.checkDigitScheme = v;
        else out.identifierTypeCode = v;
      }
    }
    if (at === -1) break;
    start = at + 1;
  }
  return out;
};

/** CWE/CE/CNE: code ^ text ^ system ^ alternate code ^ alternate text ^ alternate system ^ versions ^ original text. */
export const readCwe: Reader<Hl7Cwe> = (raw, enc) => {
  const out: Mutable<Hl7Cwe> = {};
  const sep = enc.component;
  let start = 0;
  for (let i = 0; i < 9; i++) {
    const at = nextSeparator(raw, sep, start);
    const end = at === -1 ? raw.length : at;
    const v = componentAt(raw, start, end, enc);
    if (v !== undefined) {
      switch (i) {
        case 0: out.code = v; break;
        case 1: out.text = v; break;
        case 2: out.system = v; break;
        case 3: out.alternateCode = v; break;
        case 4: out.alternateText = v; break;
        case 5: out.alternateSystem = v; break;
        case 6: out.systemVersion = v; break;
        case 7: out.alternateSystemVersion = v; break;
        default: out.originalText = v;
      }
    }
    if (at === -1) break;
    start = at + 1;
  }
  return out;
};

/** XCN: id ^ family (FN) ^ given ^ middle ^ suffix ^ prefix ^ degree ^ (source table) ^ assigning authority (HD) ^ name type ^ (check digit) ^ (scheme) ^ identifier type. */
export const readXcn: Reader<Hl7Xcn> = (raw, enc) => {
  const out: Mutable<Hl7Xcn> = {};
  const sep = enc.component;
  let start = 0;
  for (let i = 0; i < 13; i++) {
    const at = nextSeparator(raw, sep, start);
    const end = at === -1 ? raw.length : at;
    if (i === 1) {
      const v = firstSubcomponentAt(raw, start, end, enc);
      if (v !== undefined) out.family = v;
    } else if (i === 8) {
      const hd = hdAt(raw, start, end, enc);
      if (hd !== undefined) out.assigningAuthority = hd;
    } else if (i !== 7 && i !== 10 && i !== 11) {
      const v = componentAt(raw, start, end, enc);
      if (v !== undefined) {
        switch (i) {
          case 0: out.id = v; break;
          case 2: out.given = v; break;
          case 3: out.middle = v; break;
          case 4: out.suffix = v; break;
          case 5: out.prefix = v; break;
          case 6: out.degree = v; break;
          case 9: out.nameTypeCode = v; break;
          default: out.identifierTypeCode = v;
        }
      }
    }
    if (at === -1) break;
    start = at + 1;
  }
  return out;
};

const NM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

/** NM (ch.2A 2.A.47): optional sign, digits, optional decimal point; no exponent. */
export const readNm: Reader<number> = (raw, enc, path) => {
  const v = decodeEscapes(raw, enc).trim();
  if (!NM_RE.test(v)) throw bad(path, 'NM', 'the value is not a number');
  return Number(v);
};

/** SN (ch.2A 2.A.71): comparator ^ num1 ^ separator/suffix ^ num2. */
export const readSn: Reader<Hl7Sn> = (raw, enc, path) => {
  const comparator = comp(raw, enc, 1);
  if (comparator !== undefined && !['>', '<', '>=', '<=', '=', '<>'].includes(comparator)) throw bad(path, 'SN', 'the comparator is not one of > < >= <= = <>');
  const n1 = comp(raw, enc, 2);
  const sep = comp(raw, enc, 3);
  const n2 = comp(raw, enc, 4);
  if (sep !== undefined && !['-', '+', '/', '.', ':'].includes(sep)) throw bad(path, 'SN', 'the separator is not one of - + / . :');
  return compact<Hl7Sn>([
    ['comparator', comparator],
    ['num1', snNumber(n1, 'num1', path)],
    ['separator', sep],
    ['num2', snNumber(n2, 'num2', path)],
  ]);
};

function snNumber(x: string | undefined, which: string, path: string): number | undefined {
  if (x === undefined) return undefined;
  if (!NM_RE.test(x.trim())) throw bad(path, 'SN', `${which} is not a number`);
  return Number(x);
}

export const DATATYPE_READERS: { readonly [K in keyof Hl7DatatypeMap]: Reader<Hl7DatatypeMap[K]> } = {
  TS: readTimestamp,
  DTM: readTimestamp,
  DT: readTimestamp,
  HD: readHd,
  XPN: readXpn,
  XAD: readXad,
  XTN: readXtn,
  CX: readCx,
  CWE: readCwe,
  CE: readCwe,
  CNE: readCwe,
  XCN: readXcn,
  NM: readNm,
  SN: readSn,
};
