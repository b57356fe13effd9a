import { isSwitchboardError } from '../core/errors.ts';
import type { FieldOverride } from './tenant-config.ts';
import { DATATYPE_READERS, piece, type Hl7DatatypeMap, type Hl7Encoding, type Hl7Segment, decodeEscapes } from '../hl7v2/index.ts';

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
  /** Set when a mapper handled the segment as a whole (e.g. a Z-segment handler). */
  handledWhole: string | undefined;
  /** Set when the segment as a whole was deliberately not mapped. */
  skippedWhole: string | undefined;

  // Field bookkeeping is indexed by field number (plain arrays, no Map or Set per field): a mapped
  // ORU reads about a thousand fields, and the report is built from these on every conversion.
  /**
   * field -> FHIR targets, distinct, in the order first named: NO_TARGET when read without a named
   * target, the target itself while there is one (most fields feed one element; no array is made
   * per read), an array once there are several.
   */
  readonly #targets: Array<FieldTargets | undefined> = [];
  #usedCount = 0;
  /** field -> reason it was deliberately not mapped. */
  readonly #skipped: Array<string | undefined> = [];
  /** Undefined when the tenant overrides nothing in this segment (the common case). */
  readonly #overrides: ReadonlyMap<number, FieldOverride> | undefined;
  readonly #warn: (text: string) => void;
  readonly #cache: TypedValueCache | undefined;

  constructor(segment: Hl7Segment, index: number, group: string, overrides?: ReadonlyMap<number, FieldOverride>, warn: (text: string) => void = () => undefined, cache?: TypedValueCache) {
    this.segment = segment;
    this.index = index;
    this.group = group;
    this.#overrides = overrides !== undefined && overrides.size > 0 ? overrides : undefined;
    this.#warn = warn;
    this.#cache = cache;
    if (overrides !== undefined) for (const [n, o] of overrides) if (o.ignore !== undefined) this.#skipped[n] = `tenant override: ${o.ignore}`;
  }

  get name(): string {
    return this.segment.name;
  }

  get encoding(): Hl7Encoding {
    return this.segment.encoding;
  }

  /** True when a mapper read at least one field of the segment. */
  get touched(): boolean {
    return this.#usedCount > 0;
  }

  /** True when the field was read (and not taken back). */
  isUsed(field: number): boolean {
    return this.#targets[field] !== undefined;
  }

  /**
   * The FHIR targets a read field fed (empty when read without a named target); undefined when not
   * read. The report lists one per mapped field (about 800 in an ORU with 60 OBX), so the empty
   * and one-target lists are shared frozen arrays, not a new array per field.
   */
  targetsOf(field: number): readonly string[] | undefined {
    const t = this.#targets[field];
    if (t === undefined) return undefined;
    if (t === NO_TARGET) return NO_TARGETS;
    return typeof t === 'string' ? oneTarget(t) : t;
  }

  /** The reason a field was declared not mapped, if it was. */
  skipReason(field: number): string | undefined {
    return this.#skipped[field];
  }

  /** Takes back the reads of these fields, or of every field when none is named (a mapper that bailed out). */
  unuse(...fields: number[]): void {
    if (fields.length === 0) {
      this.#targets.length = 0;
      this.#usedCount = 0;
      return;
    }
    for (const n of fields) {
      if (this.#targets[n] === undefined) continue;
      this.#targets[n] = undefined;
      this.#usedCount--;
    }
  }

  #mark(field: number, target: string | undefined): void {
    const t = this.#targets[field];
    if (t === undefined) {
      this.#targets[field] = target === undefined ? NO_TARGET : target;
      this.#usedCount++;
    } else if (target === undefined || t === target) return;
    else if (t === NO_TARGET) this.#targets[field] = target;
    else if (typeof t === 'string') this.#targets[field] = [t, target];
    else if (!t.includes(target)) t.push(target);
  }

  /** True when the field holds a value (not absent, empty or the HL7 null `""`). Does not mark. */
  has(field: number): boolean {
    const raw = this.segment.rawField(field);
    return raw !== undefined && raw !== '' && raw !== '""';
  }

  /** The raw ER7 text of one repetition (1-based) of a field; marks the field. */
  raw(field: number, target?: string, repetition = 1): string | undefined {
    const o = this.#overrides?.get(field);
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
    const o = this.#overrides?.get(field);
    if (o?.ignore !== undefined) return [];
    this.#mark(field, target);
    const f = this.segment.rawField(field);
    if (f === undefined || f === '' || f === '""') return [];
    const sep = this.encoding.repetition;
    let reps: string[];
    if (sep === '' || f.indexOf(sep) === -1) reps = [f];
    else reps = f.split(sep).filter((r) => r !== '' && r !== '""');
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
    const cache = this.#cache;
    if (cache === undefined || !REPEATED_TYPES.has(type)) return this.#parse(rep, field, type);
    // One message repeats the same values (every OBX's analysis time, performer, producing lab):
    // each distinct text is parsed once per message. A malformed one is parsed (and warned) anew,
    // so the warning names each field it occurs in.
    let byText = cache.get(type);
    if (byText === undefined) cache.set(type, (byText = new Map()));
    const hit = byText.get(rep);
    if (hit !== undefined) return hit as Hl7DatatypeMap[K];
    const v = this.#parse(rep, field, type);
    if (typeof v !== 'string') byText.set(rep, v);
    return v;
  }

  #parse<K extends keyof Hl7DatatypeMap>(rep: string, field: number, type: K): Hl7DatatypeMap[K] | string {
    try {
      // The reader's path only names the field in the error it throws, which is caught here and
      // reported with the path below: it is not built for every value read.
      return DATATYPE_READERS[type](rep, this.encoding, '') as Hl7DatatypeMap[K];
    } catch (e) {
      if (!isSwitchboardError(e) || e.code !== 'SWB_ERR_HL7_BAD_VALUE') throw e;
      const path = fieldName(this.name, field);
      // The reason names the rule, never the value (hl7-datatypes.ts).
      const reason = `malformed ${type}: ${String(e.params['reason'] ?? 'invalid')}`;
      this.#warn(`${path}: ${reason}; not mapped`);
      return reason;
    }
  }

  /** Takes back a read: the field is reported skipped with this reason (e.g. a value FHIR cannot hold). */
  reject(field: number, reason: string): void {
    this.unuse(field);
    this.#skipped[field] = reason;
  }

  /** Declares a present field deliberately not mapped, with the reason the report will show. */
  skip(field: number, reason: string): void {
    if (this.#targets[field] === undefined && this.#skipped[field] === undefined) this.#skipped[field] = reason;
  }

  /** Marks a field as used without reading it (e.g. a field consumed by a rule elsewhere). */
  markUsed(field: number, target?: string): void {
    this.#mark(field, target);
  }

  /** Field numbers present with a value (of `segment`: by default the one read, else a copy of it as it was). */
  presentFields(segment: Hl7Segment = this.segment): number[] {
    const out: number[] = [];
    const count = segment.fieldCount;
    // MSH-1 and MSH-2 are the delimiters: mapped into nothing, but not data either.
    const first = segment.name === 'MSH' || segment.name === 'BHS' || segment.name === 'FHS' ? 3 : 1;
    for (let n = first; n <= count; n++) {
      const raw = segment.rawField(n);
      if (raw !== undefined && raw !== '' && raw !== '""') out.push(n);
    }
    return out;
  }
}

/** What a read field fed (see SegmentReader#targets). */
type FieldTargets = string | string[] | typeof NO_TARGET;

/** A field read without a named target. */
const NO_TARGET: unique symbol = Symbol('no target');

const NO_TARGETS: readonly string[] = Object.freeze([]);
const ONE_TARGET = new Map<string, readonly string[]>();

/** `[target]`, frozen, one per target text (targets are element paths written in the mappers and tenant rules). */
function oneTarget(target: string): readonly string[] {
  let list = ONE_TARGET.get(target);
  if (list === undefined) {
    // Bounded all the same: a tenant's Z-segment rules name targets too.
    if (ONE_TARGET.size >= 4096) ONE_TARGET.clear();
    ONE_TARGET.set(target, (list = Object.freeze([target])));
  }
  return list;
}

/**
 * Datatypes whose values recur within one message (times, coded values, clinicians); names,
 * addresses and identifiers mostly occur once, so looking them up would only add work.
 */
const REPEATED_TYPES: ReadonlySet<string> = new Set(['TS', 'DTM', 'DT', 'CWE', 'CE', 'CNE', 'XCN']);

/** Parsed datatype values of one message by datatype and raw text (see SegmentReader#typed). */
export type TypedValueCache = Map<string, Map<string, unknown>>;

const FIELD_NAMES = new Map<string, Array<string | undefined>>();

/** `PID-5` for ('PID', 5), built once per segment id and field (reports name every field they list). */
export function fieldName(segment: string, field: number): string {
  return (fieldNames(segment)[field] ??= `${segment}-${field}`);
}

/**
 * The cached names of a segment id's fields by number (holes where none was built yet): the
 * report looks it up once per segment, then fills in `${segment}-${n}` as fieldName does.
 */
export function fieldNames(segment: string): Array<string | undefined> {
  let names = FIELD_NAMES.get(segment);
  if (names === undefined) {
    // Bounded: segment ids are three characters, but a hostile feed could send many Z-segments.
    if (FIELD_NAMES.size > 2000) FIELD_NAMES.clear();
    FIELD_NAMES.set(segment, (names = []));
  }
  return names;
}

/** Component `component` (1-based) of one repetition, decoded; subcomponents kept as text. */
export function leaf(rep: string, enc: Hl7Encoding, component = 1): string | undefined {
  const c = piece(rep, enc.component, component);
  if (c === undefined || c === '' || c === '""') return undefined;
  return decodeEscapes(c, enc);
}
