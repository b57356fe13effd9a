import { isSwitchboardError } from '../core/errors.ts';
import type { FieldOverride } from './tenant-config.ts';
import { DATATYPE_READERS, piece, splitOn, type Hl7DatatypeMap, type Hl7Encoding, type Hl7Segment, decodeEscapes } from '../hl7v2/index.ts';

/**
 * A segment as a mapper sees it: every read marks the field as used (with the FHIR element it
 * feeds), so that the report can list what was present and never read. Mappers read through this,
 * never through the raw segment, or their fields would show up as unmapped.
 *
 * Field numbers are 1-based as in the spec (PID-5 is `field(5)`); MSH-1/MSH-2 are the delimiters.
 */
export class SegmentReader {
  readonly segment: Hl7Segment;
  /** 1-based position of the segment in the message. */
  readonly index: number;
  /** Group path, e.g. `ORU_R01/PATIENT_RESULT[1]/ORDER_OBSERVATION[2]`. */
  readonly group: string;
  /** field number -> FHIR targets (empty set: read without a named target). */
  readonly used = new Map<number, Set<string>>();
  /** field number -> reason it was deliberately not mapped. */
  readonly skipped = new Map<number, string>();
  /** Set when a mapper handled the segment as a whole (e.g. a Z-segment handler). */
  handledWhole: string | undefined;
  /** Set when the segment as a whole was deliberately not mapped. */
  skippedWhole: string | undefined;

  readonly #overrides: ReadonlyMap<number, FieldOverride>;
  readonly #warn: (text: string) => void;

  constructor(segment: Hl7Segment, index: number, group: string, overrides: ReadonlyMap<number, FieldOverride> = new Map(), warn: (text: string) => void = () => undefined) {
    this.segment = segment;
    this.index = index;
    this.group = group;
    this.#overrides = overrides;
    this.#warn = warn;
    for (const [n, o] of overrides) if (o.ignore !== undefined) this.skipped.set(n, `tenant override: ${o.ignore}`);
  }

  get name(): string {
    return this.segment.name;
  }

  get encoding(): Hl7Encoding {
    return this.segment.encoding;
  }

  #mark(field: number, target: string | undefined): void {
    let set = this.used.get(field);
    if (set === undefined) {
      set = new Set();
      this.used.set(field, set);
    }
    if (target !== undefined) set.add(target);
  }

  /** True when the field holds a value (not absent, empty or the HL7 null `""`). Does not mark. */
  has(field: number): boolean {
    const raw = this.segment.rawField(field);
    return raw !== undefined && raw !== '' && raw !== '""';
  }

  /** The raw ER7 text of one repetition (1-based) of a field; marks the field. */
  raw(field: number, target?: string, repetition = 1): string | undefined {
    const o = this.#overrides.get(field);
    if (o?.ignore !== undefined) return undefined;
    this.#mark(field, target);
    const r = this.segment.rawAt(field, repetition);
    if (r === undefined || r === '' || r === '""') return undefined;
    return o?.valueMap !== undefined ? this.#mapValue(r, o.valueMap) : r;
  }

  /** A tenant value map applies to the first component of each repetition. */
  #mapValue(rep: string, table: Readonly<Record<string, string>>): string {
    const sep = this.encoding.component;
    const i = rep.indexOf(sep);
    const first = i === -1 ? rep : rep.slice(0, i);
    const mapped = table[first];
    return mapped === undefined ? rep : mapped + (i === -1 ? '' : rep.slice(i));
  }

  /** Every non-empty repetition of a field as raw ER7; marks the field. */
  repetitions(field: number, target?: string): string[] {
    const o = this.#overrides.get(field);
    if (o?.ignore !== undefined) return [];
    this.#mark(field, target);
    const f = this.segment.rawField(field);
    if (f === undefined || f === '' || f === '""') return [];
    const reps = splitOn(f, this.encoding.repetition).filter((r) => r !== '' && r !== '""');
    const table = o?.valueMap;
    return table === undefined ? reps : reps.map((r) => this.#mapValue(r, table));
  }

  /**
   * A decoded leaf: component `component` (1-based; default 1) of the first repetition, with
   * escapes decoded; undefined when empty. Marks the field.
   */
  text(field: number, target?: string, component = 1): string | undefined {
    const rep = this.raw(field, target);
    if (rep === undefined) return undefined;
    return leaf(rep, this.encoding, component);
  }

  /** Like text() for every repetition. */
  texts(field: number, target?: string, component = 1): string[] {
    const out: string[] = [];
    for (const rep of this.repetitions(field, target)) {
      const v = leaf(rep, this.encoding, component);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  /**
   * The first repetition read as a typed datatype; marks the field. A malformed value (a date that
   * is not a date) is not mapped: the field is reported skipped with the rule it broke, a warning
   * is added, and undefined returned — one bad field does not lose the whole message.
   */
  read<K extends keyof Hl7DatatypeMap>(field: number, type: K, target?: string): Hl7DatatypeMap[K] | undefined {
    const rep = this.raw(field, target);
    if (rep === undefined) return undefined;
    const v = this.#typed(rep, field, type);
    if (typeof v === 'string') {
      this.reject(field, v);
      return undefined;
    }
    return v;
  }

  /** Every repetition read as a typed datatype (malformed ones left out, as in read()); marks the field. */
  readAll<K extends keyof Hl7DatatypeMap>(field: number, type: K, target?: string): Array<Hl7DatatypeMap[K]> {
    const out: Array<Hl7DatatypeMap[K]> = [];
    let failure: string | undefined;
    for (const rep of this.repetitions(field, target)) {
      const v = this.#typed(rep, field, type);
      if (typeof v === 'string') failure = v;
      else out.push(v);
    }
    // Only when no repetition could be read is the whole field reported as not mapped.
    if (failure !== undefined && out.length === 0) this.reject(field, failure);
    return out;
  }

  /** The typed value, or the reason (a string) it is malformed; warns once per bad value. */
  #typed<K extends keyof Hl7DatatypeMap>(rep: string, field: number, type: K): Hl7DatatypeMap[K] | string {
    const path = `${this.name}-${field}`;
    try {
      return DATATYPE_READERS[type](rep, this.encoding, path) as Hl7DatatypeMap[K];
    } catch (e) {
      if (!isSwitchboardError(e) || e.code !== 'SWB_ERR_HL7_BAD_VALUE') throw e;
      // The reason names the rule, never the value (hl7-datatypes.ts).
      const reason = `malformed ${type}: ${String(e.params['reason'] ?? 'invalid')}`;
      this.#warn(`${path}: ${reason}; not mapped`);
      return reason;
    }
  }

  /** Takes back a read: the field is reported skipped with this reason (e.g. a value FHIR cannot hold). */
  reject(field: number, reason: string): void {
    this.used.delete(field);
    this.skipped.set(field, reason);
  }

  /** Declares a present field deliberately not mapped, with the reason the report will show. */
  skip(field: number, reason: string): void {
    if (!this.used.has(field) && !this.skipped.has(field)) this.skipped.set(field, reason);
  }

  /** Marks a field as used without reading it (e.g. a field consumed by a rule elsewhere). */
  markUsed(field: number, target?: string): void {
    this.#mark(field, target);
  }

  /** Field numbers present with a value. */
  presentFields(): number[] {
    const out: number[] = [];
    const count = this.segment.fieldCount;
    // MSH-1 and MSH-2 are the delimiters: mapped into nothing, but not data either.
    const first = this.segment.name === 'MSH' || this.segment.name === 'BHS' || this.segment.name === 'FHS' ? 3 : 1;
    for (let n = first; n <= count; n++) if (this.has(n)) out.push(n);
    return out;
  }
}

/** Component `component` (1-based) of one repetition, decoded; subcomponents kept as text. */
export function leaf(rep: string, enc: Hl7Encoding, component = 1): string | undefined {
  const c = piece(rep, enc.component, component);
  if (c === undefined || c === '' || c === '""') return undefined;
  return decodeEscapes(c, enc);
}
