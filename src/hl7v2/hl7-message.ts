import { SwitchboardError } from '../core/errors.ts';
import { newControlId } from '../core/ids.ts';
import { DEFAULT_ENCODING, readEncoding, type Hl7Encoding } from './hl7-encoding.ts';
import { splitLines } from './hl7-lines.ts';
import { Hl7ErrorCode, Hl7ParseError } from './hl7-parse-error.ts';
import { parsePath, type Hl7Path } from './hl7-path.ts';
import { Hl7Segment, splitOn, piece, type Hl7Presence, type Hl7Value } from './hl7-segment.ts';
import { formatHl7Timestamp } from './hl7-datatypes.ts';
import { DATATYPE_READERS, type Hl7DatatypeMap } from './hl7-datatypes.ts';
import { decodeEscapes, needsEscaping } from './hl7-escape.ts';

export interface ParseOptions {
  /** Decoding for byte input; HL7's default character set is ASCII/ISO-8859-1, most feeds send UTF-8. */
  readonly encoding?: 'utf8' | 'latin1';
}

export interface SerializeOptions {
  /** Normalise every segment terminator to this (e.g. '\r'); by default they are kept as found. */
  readonly terminator?: string;
  /** Keep a leading UTF-8 byte-order mark when the input had one (default true). */
  readonly bom?: boolean;
}

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;

/**
 * Segment ids already seen, keyed by their three character codes: a parse then shares one string
 * per id instead of slicing a new one per line. At most 26 * 36 * 36 ids exist; the cap only
 * bounds what a stream of random ids could make us hold.
 */
const segmentIds = new Map<number, string>();
const SEGMENT_ID_CACHE_LIMIT = 1024;

function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}

function isUpperOrDigit(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** Checks a line's segment id; returns it or throws a located error. */
export function segmentIdOf(line: string, enc: Hl7Encoding, sequence: number, lineNo: number): string {
  if (line.length === 3 || (line.length > 3 && line.charAt(3) === enc.field)) {
    // The same test as SEGMENT_ID, on char codes: this runs once per line of every message.
    const a = line.charCodeAt(0);
    const b = line.charCodeAt(1);
    const c = line.charCodeAt(2);
    if (isUpper(a) && isUpperOrDigit(b) && isUpperOrDigit(c)) {
      const key = (a << 16) | (b << 8) | c;
      let name = segmentIds.get(key);
      if (name === undefined) {
        name = line.slice(0, 3);
        if (segmentIds.size < SEGMENT_ID_CACHE_LIMIT) segmentIds.set(key, name);
      }
      return name;
    }
  }
  const name = line.length === 3 || line.charAt(3) === enc.field ? line.slice(0, 3) : undefined;
  if (name === undefined || !SEGMENT_ID.test(name)) {
    // What stands where the id should be may be patient text (a field broken by a stray CR), and
    // this error travels into ACKs (ERR-2) and logs: name it only when it is a short code.
    const head = line.slice(0, Math.max(0, line.indexOf(enc.field) === -1 ? 4 : line.indexOf(enc.field)));
    const found = /^[A-Za-z0-9]{1,3}$/.test(head) ? head : '?';
    throw new Hl7ParseError(
      'SWB_ERR_HL7_BAD_SEGMENT_ID',
      { index: sequence, found: found === '?' ? '(not shown)' : JSON.stringify(found) },
      { segment: found, sequence, line: lineNo },
      Hl7ErrorCode.segmentSequenceError,
    );
  }
  return name;
}

/**
 * Encodings already read, keyed by the header's delimiter text (MSH-1 and MSH-2): nearly every
 * message of a feed declares the same ones, so they are checked once. Shared, hence frozen.
 */
const encodings = new Map<string, Hl7Encoding>();
const ENCODING_CACHE_LIMIT = 64;

/** Reads and checks the encoding declared by a header line (MSH, FHS or BHS). */
export function encodingOf(line: string, lineNo: number): Hl7Encoding {
  // readEncoding reads only MSH-1 (the 4th character) and MSH-2 (up to the next MSH-1).
  let key: string | undefined;
  if (line.length > 4) {
    const end = line.indexOf(line.charAt(3), 4);
    key = line.slice(3, end === -1 ? line.length : end);
    const hit = encodings.get(key);
    if (hit !== undefined) return hit;
  }
  const enc = readEncoding(line);
  if (typeof enc === 'string') {
    throw new Hl7ParseError('SWB_ERR_HL7_BAD_ENCODING_CHARS', { reason: enc }, { segment: line.slice(0, 3), sequence: 1, field: 2, line: lineNo }, Hl7ErrorCode.dataTypeError);
  }
  if (key !== undefined) {
    if (encodings.size >= ENCODING_CACHE_LIMIT) encodings.clear();
    encodings.set(key, Object.freeze(enc));
  }
  return enc;
}

export function notEr7Reason(text: string): string | undefined {
  const head = text.trimStart().slice(0, 64);
  if (head.startsWith('<')) return 'it looks like the XML encoding, which is not supported';
  if (head.startsWith('{')) return 'it looks like JSON';
  return undefined;
}

const MSH_9_1 = parsePath('MSH-9.1');
const MSH_9_2 = parsePath('MSH-9.2');
const MSH_9_3 = parsePath('MSH-9.3');
const MSH_10 = parsePath('MSH-10');
const MSH_11_1 = parsePath('MSH-11.1');
const MSH_12_1 = parsePath('MSH-12.1');

/**
 * An HL7 v2 message in ER7 form. Segments keep their raw text until edited; values are read by
 * spec-style paths (`PID-3[2].1`) and decoded on access.
 */
export class Hl7Message {
  readonly encoding: Hl7Encoding;
  readonly segments: Hl7Segment[];
  /** True when the input began with a UTF-8 byte-order mark. */
  bom: boolean;
  /** Whitespace or blank lines before MSH (and a BOM read as ISO-8859-1), kept for an exact round trip. */
  leading: string;

  constructor(encoding: Hl7Encoding, segments: Hl7Segment[], bom = false, leading = '') {
    this.encoding = encoding;
    this.segments = segments;
    this.bom = bom;
    this.leading = leading;
  }

  /** The header segment (MSH). */
  get header(): Hl7Segment {
    return this.segments[0] as Hl7Segment;
  }

  /** MSH-9.1, e.g. ADT. */
  get messageCode(): string {
    return this.#text(MSH_9_1);
  }
  /** MSH-9.2, e.g. A01. */
  get triggerEvent(): string {
    return this.#text(MSH_9_2);
  }
  /** MSH-9.3, e.g. ADT_A01 (may be empty before v2.3.1). */
  get messageStructure(): string {
    return this.#text(MSH_9_3);
  }
  /** MSH-10. */
  get controlId(): string {
    return this.#text(MSH_10);
  }
  /** MSH-12.1, e.g. 2.5.1. */
  get version(): string {
    return this.#text(MSH_12_1);
  }
  /** MSH-11.1: P, T or D. */
  get processingId(): string {
    return this.#text(MSH_11_1);
  }

  /** `get` for a header path parsed once (these getters run for every message a listener takes). */
  #text(p: Hl7Path): string {
    const v = this.segment('MSH')?.get(p);
    return typeof v === 'string' ? v : '';
  }

  /** The n-th (1-based) segment with this id, or undefined. */
  segment(name: string, occurrence = 1): Hl7Segment | undefined {
    let seen = 0;
    for (const s of this.segments) {
      if (s.name === name && ++seen === occurrence) return s;
    }
    return undefined;
  }

  /** Every segment with this id, in order. */
  segmentsNamed(name: string): Hl7Segment[] {
    return this.segments.filter((s) => s.name === name);
  }

  #segmentFor(p: Hl7Path, path: string): Hl7Segment | undefined {
    if (p.segment === undefined) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: 'a message path must name a segment' });
    return this.segment(p.segment, p.occurrence ?? 1);
  }

  /** The value at a path, decoded if it is a leaf; null for `""`; undefined when absent. */
  get(path: string): Hl7Value | undefined {
    const p = parsePath(path);
    return this.#segmentFor(p, path)?.get(p);
  }

  /** The raw ER7 text at a path (no unescaping), or undefined. */
  getRaw(path: string): string | undefined {
    const p = parsePath(path);
    const seg = this.#segmentFor(p, path);
    if (seg === undefined) return undefined;
    if (p.field === undefined) return seg.toString();
    return seg.rawAt(p.field, p.repetition ?? 1, p.component, p.subcomponent);
  }

  /**
   * Every value at a path: from every occurrence of the segment (unless the path names one) and
   * every repetition (unless the path names one). `getAll('OBX-5')` reads OBX-5 of each OBX.
   */
  getAll(path: string): Hl7Value[] {
    const p = parsePath(path);
    if (p.segment === undefined) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: 'a message path must name a segment' });
    const out: Hl7Value[] = [];
    if (p.occurrence !== undefined) {
      this.segment(p.segment, p.occurrence)?.collect(p, out);
      return out;
    }
    for (const s of this.segments) if (s.name === p.segment) s.collect(p, out);
    return out;
  }

  presence(path: string): Hl7Presence {
    const p = parsePath(path);
    const seg = this.#segmentFor(p, path);
    return seg === undefined ? 'absent' : seg.presence(p);
  }

  /** Reads a position as a typed datatype (TS/DTM, XPN, XAD, CX, CWE/CE, XCN, NM, SN...). */
  read<K extends keyof Hl7DatatypeMap>(path: string, type: K): Hl7DatatypeMap[K] | undefined {
    const raw = this.getRaw(path);
    if (raw === undefined || raw === '' || raw === '""') return undefined;
    return DATATYPE_READERS[type](raw, this.encoding, path) as Hl7DatatypeMap[K];
  }

  /** Reads every repetition (of every occurrence) of a position as a typed datatype. */
  readAll<K extends keyof Hl7DatatypeMap>(path: string, type: K): Array<Hl7DatatypeMap[K]> {
    const p = parsePath(path);
    if (p.segment === undefined || p.field === undefined) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: 'a typed read needs a segment and a field' });
    const out: Array<Hl7DatatypeMap[K]> = [];
    const segs = p.occurrence !== undefined ? [this.segment(p.segment, p.occurrence)] : this.segmentsNamed(p.segment);
    for (const seg of segs) {
      if (seg === undefined) continue;
      const field = seg.rawField(p.field);
      if (field === undefined) continue;
      const reps = p.repetition !== undefined ? [piece(field, this.encoding.repetition, p.repetition)] : splitOn(field, this.encoding.repetition);
      for (const rep of reps) {
        let raw = rep;
        if (raw !== undefined && p.component !== undefined) raw = piece(raw, this.encoding.component, p.component);
        if (raw === undefined || raw === '' || raw === '""') continue;
        out.push(DATATYPE_READERS[type](raw, this.encoding, path) as Hl7DatatypeMap[K]);
      }
    }
    return out;
  }

  /** Sets a value (escaped) at a path; the segment must exist (see addSegment). */
  set(path: string, value: string | null): this {
    this.#mustSegment(path).set(parsePath(path), value);
    return this;
  }

  /** Sets raw ER7 text at a path (no escaping), e.g. a whole composite `DOE^JOHN`. */
  setRaw(path: string, raw: string): this {
    this.#mustSegment(path).setRaw(parsePath(path), raw);
    return this;
  }

  #mustSegment(path: string): Hl7Segment {
    const p = parsePath(path);
    const seg = this.#segmentFor(p, path);
    if (seg === undefined) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: `the message has no ${p.segment}${p.occurrence ? `[${p.occurrence}]` : ''} segment` });
    return seg;
  }

  /** Appends (or inserts at `index`) a new empty segment and returns it. */
  addSegment(name: string, index?: number): Hl7Segment {
    const seg = Hl7Segment.create(name, this.encoding);
    seg.terminator = this.defaultTerminator;
    const at = index === undefined ? this.segments.length : Math.max(1, Math.min(index, this.segments.length));
    const prev = this.segments[at - 1];
    if (prev !== undefined && prev.terminator === '') {
      // The input ended without a terminator: the segment before the new one needs one now (or
      // the two would serialize as one line), and the message still ends the way it did.
      prev.terminator = seg.terminator;
      seg.terminator = '';
    }
    this.segments.splice(at, 0, seg);
    return seg;
  }

  /** Removes a segment (by object, or the n-th occurrence of an id). MSH cannot be removed. */
  removeSegment(target: Hl7Segment | string, occurrence = 1): boolean {
    const seg = typeof target === 'string' ? this.segment(target, occurrence) : target;
    const i = seg === undefined ? -1 : this.segments.indexOf(seg);
    if (i <= 0) return false;
    this.segments.splice(i, 1);
    return true;
  }

  /** The terminator new segments get: the first one found in the input, else CR. */
  get defaultTerminator(): string {
    const t = this.segments[0]?.terminator ?? '\r';
    if (t.startsWith('\r\n')) return '\r\n';
    return t.charAt(0) || '\r';
  }

  /** ER7 text. Untouched segments come back exactly as received. */
  toString(options: SerializeOptions = {}): string {
    const norm = options.terminator;
    let out = options.bom === false || !this.bom ? '' : '\uFEFF';
    if (norm === undefined) out += this.leading;
    const segs = this.segments;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i] as Hl7Segment;
      out += s.toString();
      if (norm === undefined) out += s.terminator;
      else if (i < segs.length - 1 || s.terminator !== '') out += norm;
    }
    return out;
  }

  /** A JSON tree: segments with their fields, leaves decoded (see docs/hl7v2.md). */
  toJSON(): Hl7MessageJson {
    return {
      encoding: { ...this.encoding },
      segments: this.segments.map((s) => segmentToJson(s)),
    };
  }
}

export type Hl7JsonLeaf = string | null;
export type Hl7JsonComponent = Hl7JsonLeaf | Hl7JsonLeaf[];
export type Hl7JsonRepetition = Hl7JsonLeaf | Hl7JsonComponent[];
export type Hl7JsonField = Hl7JsonRepetition | { repetitions: Hl7JsonRepetition[] };
export interface Hl7SegmentJson {
  id: string;
  fields: Record<string, Hl7JsonField>;
}
export interface Hl7MessageJson {
  encoding: Hl7Encoding;
  segments: Hl7SegmentJson[];
}

function leafJson(raw: string, enc: Hl7Encoding): Hl7JsonLeaf {
  return raw === '""' ? null : decodeEscapes(raw, enc);
}

function repetitionJson(raw: string, enc: Hl7Encoding): Hl7JsonRepetition {
  const comps = splitOn(raw, enc.component);
  if (comps.length === 1 && (enc.subcomponent === '' || raw.indexOf(enc.subcomponent) === -1)) return leafJson(raw, enc);
  return comps.map((c) => {
    const subs = splitOn(c, enc.subcomponent);
    return subs.length === 1 ? leafJson(c, enc) : subs.map((x) => leafJson(x, enc));
  });
}

function segmentToJson(seg: Hl7Segment): Hl7SegmentJson {
  const fields: Record<string, Hl7JsonField> = {};
  const enc = seg.encoding;
  const header = seg.name === 'MSH' || seg.name === 'FHS' || seg.name === 'BHS';
  for (const [n, raw] of seg.fields()) {
    if (raw === '') continue;
    const key = `${seg.name}-${n}`;
    if (header && n <= 2) {
      fields[key] = raw;
      continue;
    }
    const reps = splitOn(raw, enc.repetition);
    fields[key] = reps.length === 1 ? repetitionJson(raw, enc) : { repetitions: reps.map((r) => repetitionJson(r, enc)) };
  }
  return { id: seg.name, fields };
}

const LATIN1_BOM = '\u00EF\u00BB\u00BF';

/**
 * Strips a BOM; returns the text and whether one was there. A UTF-8 BOM read as ISO-8859-1
 * (`ï»¿`) is stripped too but returned as `prefix`, so that it is written back as it was read.
 */
export function stripBom(input: string | Uint8Array, options: ParseOptions = {}): { text: string; bom: boolean; prefix: string } {
  let text: string;
  if (typeof input === 'string') text = input;
  else text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString(options.encoding ?? 'utf8');
  if (text.charCodeAt(0) === 0xfeff) return { text: text.slice(1), bom: true, prefix: '' };
  if (text.startsWith(LATIN1_BOM)) return { text: text.slice(3), bom: false, prefix: LATIN1_BOM };
  return { text, bom: false, prefix: '' };
}

/**
 * Parses one ER7 message. Throws Hl7ParseError (with a location and a table 0357 code) when the
 * input is not an HL7 v2 message: no MSH first, unusable encoding characters, a malformed segment
 * id, or more than one message (use parseBatch for files and batches).
 */
export function parseMessage(input: string | Uint8Array, options: ParseOptions = {}): Hl7Message {
  const { text, bom, prefix } = stripBom(input, options);
  const { leading, lines, terminators, lineNumbers } = splitLines(text);
  const first = lines[0];
  if (first === undefined) throw new Hl7ParseError('SWB_ERR_HL7_EMPTY', {}, undefined, Hl7ErrorCode.segmentSequenceError);
  if (!first.startsWith('MSH')) {
    const reason = notEr7Reason(first);
    if (reason !== undefined) throw new Hl7ParseError('SWB_ERR_HL7_NOT_ER7', { reason }, undefined, Hl7ErrorCode.unsupportedMessageType);
    if (/^(FHS|BHS)/.test(first)) {
      throw new Hl7ParseError('SWB_ERR_HL7_BATCH_STRUCTURE', { reason: 'the input is a batch or file; parse it with parseBatch' }, { segment: first.slice(0, 3), sequence: 1, line: lineNumbers[0] ?? 1 });
    }
    throw new Hl7ParseError('SWB_ERR_HL7_NO_MSH', { found: JSON.stringify(first.slice(0, 3)) }, { segment: first.slice(0, 3) || '?', sequence: 1, line: lineNumbers[0] ?? 1 });
  }
  const enc = encodingOf(first, lineNumbers[0] ?? 1);
  const segments: Hl7Segment[] = new Array<Hl7Segment>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const lineNo = lineNumbers[i] ?? i + 1;
    const name = segmentIdOf(line, enc, i + 1, lineNo);
    if (i > 0 && (name === 'MSH' || name === 'FHS' || name === 'BHS' || name === 'BTS' || name === 'FTS')) {
      throw new Hl7ParseError(
        'SWB_ERR_HL7_BATCH_STRUCTURE',
        { reason: `segment ${i + 1} is ${name}: the input holds more than one message; parse it with parseBatch` },
        { segment: name, sequence: i + 1, line: lineNo },
      );
    }
    segments[i] = new Hl7Segment(name, line, enc, terminators[i] as string);
  }
  return new Hl7Message(enc, segments, bom, prefix + leading);
}

export interface CreateMessageOptions {
  /** MSH-9, e.g. `ADT^A01^ADT_A01`. */
  readonly messageType: string;
  /** MSH-12 (default 2.5.1). */
  readonly version?: string;
  readonly controlId?: string;
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
  readonly receivingApplication?: string;
  readonly receivingFacility?: string;
  /** MSH-11 (default P). */
  readonly processingId?: string;
  readonly timestamp?: Date;
  readonly encoding?: Partial<Hl7Encoding>;
  /** Segment terminator (default CR, as the standard requires). */
  readonly terminator?: string;
}

/** Builds a new message with a filled MSH; add segments with addSegment and set values with set. */
export function createMessage(options: CreateMessageOptions): Hl7Message {
  const enc: Hl7Encoding = { ...DEFAULT_ENCODING, ...options.encoding };
  const checked = readEncoding(`MSH${enc.field}${enc.component}${enc.repetition}${enc.escape}${enc.subcomponent}${enc.truncation}`);
  if (typeof checked === 'string') throw new SwitchboardError('SWB_ERR_HL7_BAD_ENCODING_CHARS', { reason: checked });
  const msh = Hl7Segment.create('MSH', enc);
  msh.terminator = options.terminator ?? '\r';
  const msg = new Hl7Message(enc, [msh]);
  const put = (path: string, v: string | undefined): void => {
    if (v !== undefined && v !== '') msh.setRaw(parsePath(path), v);
  };
  put('3', options.sendingApplication);
  put('4', options.sendingFacility);
  put('5', options.receivingApplication);
  put('6', options.receivingFacility);
  const ts = formatHl7Timestamp(options.timestamp ?? new Date());
  // A `+` or `-` delimiter would split the offset off MSH-7, and a DTM cannot hold escapes: send
  // the time without its offset then.
  msh.setRaw(parsePath('7'), needsEscaping(ts, enc) ? ts.slice(0, 14) : ts);
  msh.setRaw(parsePath('9'), options.messageType);
  msh.set(parsePath('10'), options.controlId ?? newControlId());
  msh.setRaw(parsePath('11'), options.processingId ?? 'P');
  msh.setRaw(parsePath('12'), options.version ?? '2.5.1');
  return msg;
}
