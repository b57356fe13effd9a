import { SwitchboardError } from '../core/errors.ts';
import type { Hl7Encoding } from './hl7-encoding.ts';
import { decodeEscapes } from './hl7-escape.ts';
import { piece, splitOn } from './hl7-segment.ts';

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
  const parts = splitOn(raw, sep).map((x) => (x === '' ? undefined : decodeEscapes(x, enc)));
  const hd = compact<Hl7Hd>([['namespaceId', parts[0]], ['universalId', parts[1]], ['universalIdType', parts[2]]]);
  return Object.keys(hd).length === 0 ? undefined : hd;
}

/** Date.UTC, except that years 0-99 stay years 0-99 (Date.UTC reads them as 1900-1999). */
function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

const TS_RE = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;

/** Reads TS/DTM/DT (ch.2A 2.A.22 DTM): YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]. */
export const readTimestamp: Reader<Hl7Timestamp> = (raw, enc, path) => {
  // v2.3-2.5 TS is a composite whose first component is the time; the second (degree of
  // precision) is deprecated and ignored.
  const value = (piece(raw, enc.component, 1) ?? '').trim();
  const m = TS_RE.exec(value);
  if (m === null) throw bad(path, 'DTM', `expected YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ] (${value.length} characters sent)`);
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const num = (x: string | undefined): number => (x === undefined ? 0 : Number.parseInt(x, 10));
  if (mo !== undefined && (num(mo) < 1 || num(mo) > 12)) throw bad(path, 'DTM', 'the month is out of range');
  if (d !== undefined && (num(d) < 1 || num(d) > new Date(utcMs(num(y), num(mo), 0)).getUTCDate())) throw bad(path, 'DTM', 'the day is out of range');
  if (h !== undefined && num(h) > 23) throw bad(path, 'DTM', 'the hour is out of range');
  if (mi !== undefined && num(mi) > 59) throw bad(path, 'DTM', 'the minute is out of range');
  // 60 allows a leap second.
  if (s !== undefined && num(s) > 60) throw bad(path, 'DTM', 'the second is out of range');
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
  let iso = y as string;
  if (mo !== undefined) iso += `-${mo}`;
  if (d !== undefined) iso += `-${d}`;
  if (h !== undefined) iso += `T${h}:${mi ?? '00'}`;
  if (s !== undefined) iso += `:${s}`;
  if (frac !== undefined) iso += `.${frac}`;
  if (offset !== undefined && h !== undefined) iso += offset;
  let date: Date | undefined;
  if (offsetMinutes !== undefined) {
    const ms = frac === undefined ? 0 : Math.round(Number(`0.${frac}`) * 1000);
    const utc = utcMs(num(y), mo === undefined ? 0 : num(mo) - 1, d === undefined ? 1 : num(d), num(h), num(mi), num(s), ms);
    date = new Date(utc - offsetMinutes * 60_000);
  }
  return compact<Hl7Timestamp>([
    ['raw', value],
    ['iso', iso],
    ['precision', precision],
    ['offset', offset],
    ['offsetMinutes', offsetMinutes],
    ['date', date],
  ]);
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
 * A composite described as its components in order: a name reads that component, `[name, 1]`
 * reads its first subcomponent (FN and SAD carry the surname / street there), `[name, 'HD']` reads
 * an HD spread over subcomponents, and `null` skips a component we do not surface.
 */
type ComponentSpec = string | [string, 1 | 'HD'] | null;

function composite<T>(spec: readonly ComponentSpec[]): Reader<T> {
  // One split per value (mapping reads thousands of these per message), then each component as
  // `comp` would read it: empty and `""` left out, escapes decoded.
  return (raw, enc) => {
    const parts = splitOn(raw, enc.component);
    const out: Record<string, unknown> = {};
    const n = Math.min(parts.length, spec.length);
    for (let i = 0; i < n; i++) {
      const c = spec[i];
      const part = parts[i] as string;
      if (c === null || c === undefined || part === '' || part === '""') continue;
      if (typeof c === 'string') {
        out[c] = decodeEscapes(part, enc);
        continue;
      }
      const [name, how] = c;
      if (how === 1) {
        const sub = piece(part, enc.subcomponent, 1);
        if (sub !== undefined && sub !== '' && sub !== '""') out[name] = decodeEscapes(sub, enc);
      } else {
        const hd = hdFrom(part, enc, enc.subcomponent);
        if (hd !== undefined) out[name] = hd;
      }
    }
    return out as T;
  };
}

// HL7 v2.5.1 ch.2A: XPN 2.A.88, XAD 2.A.85, XTN 2.A.89, CX 2.A.14, CWE 2.A.13, XCN 2.A.87.
export const readXpn = composite<Hl7Xpn>([['family', 1], 'given', 'middle', 'suffix', 'prefix', 'degree', 'nameTypeCode']);
export const readXad = composite<Hl7Xad>([['street', 1], 'otherDesignation', 'city', 'state', 'postalCode', 'country', 'addressType', 'otherGeographic', 'county']);
export const readXtn = composite<Hl7Xtn>(['number', 'useCode', 'equipmentType', 'email', 'countryCode', 'areaCode', 'localNumber', 'extension', 'anyText']);
export const readCx = composite<Hl7Cx>(['id', 'checkDigit', 'checkDigitScheme', ['assigningAuthority', 'HD'], 'identifierTypeCode', ['assigningFacility', 'HD']]);
export const readCwe = composite<Hl7Cwe>(['code', 'text', 'system', 'alternateCode', 'alternateText', 'alternateSystem', 'systemVersion', 'alternateSystemVersion', 'originalText']);
export const readXcn = composite<Hl7Xcn>(['id', ['family', 1], 'given', 'middle', 'suffix', 'prefix', 'degree', null, ['assigningAuthority', 'HD'], 'nameTypeCode', null, null, 'identifierTypeCode']);

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
  const num = (x: string | undefined, which: string): number | undefined => {
    if (x === undefined) return undefined;
    if (!NM_RE.test(x.trim())) throw bad(path, 'SN', `${which} is not a number`);
    return Number(x);
  };
  return compact<Hl7Sn>([
    ['comparator', comparator],
    ['num1', num(n1, 'num1')],
    ['separator', sep],
    ['num2', num(n2, 'num2')],
  ]);
};

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
