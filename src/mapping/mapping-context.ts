import type { BundleEntry, Encounter, Patient, Reference, Resource } from '@medplum/fhirtypes';
import { deepFreeze, isDeeplyFrozen } from '../core/deep-freeze.ts';
import { SwitchboardError } from '../core/errors.ts';
import { DATATYPE_READERS, groupMessage, type Hl7DatatypeMap, type Hl7Message, type Hl7MessageTree, type Hl7Segment, type Hl7Timestamp } from '../hl7v2/index.ts';
import { deterministicIdOf } from './fhir-ids.ts';
import { flatJoin2 } from './flat-strings.ts';
import { SegmentReader, type TypedValueCache } from './segment-reader.ts';
import { DEFAULT_TENANT, type FieldOverride, type TenantMappingConfig } from './tenant-config.ts';

export interface V2ToFhirOptions {
  readonly tenant?: TenantMappingConfig;
  /** Clock for Provenance.recorded (tests pin it). */
  readonly now?: () => Date;
  /**
   * Validate every produced resource against FHIR R4 (structure) and throw
   * SWB_ERR_MAP_INVALID_RESOURCE, locating the first problem, when one is invalid.
   */
  readonly validate?: boolean;
}

/** A resource with its id set (every mapped resource has a deterministic one). */
export type IdentifiedResource = Resource & { id: string };

/**
 * What a message mapper works with: the message and its group tree, one SegmentReader per segment
 * (so every read is reported), the tenant's configuration, and the bundle being built.
 */
export class MappingContext {
  readonly message: Hl7Message;
  /** The message grouped by its structure; grouped on first use when not given (ADT mappers walk the segments instead). */
  get tree(): Hl7MessageTree {
    this.#tree ??= groupMessage(this.message);
    return this.#tree;
  }

  #tree: Hl7MessageTree | undefined;

  /** True once the message has been grouped (a mapper read `tree`, or it was given). */
  get grouped(): boolean {
    return this.#tree !== undefined;
  }
  readonly tenant: TenantMappingConfig;
  readonly now: () => Date;
  readonly warnings: string[] = [];
  readonly readers: SegmentReader[];
  readonly #bySegment = new Map<Hl7Segment, SegmentReader>();
  /** Every resource added, in order (the bundle's entries). */
  readonly #list: IdentifiedResource[] = [];
  /** The `Type/id` of each resource of #list, at the same index (one string per resource, shared). */
  readonly #keys: string[] = [];
  /** Resources whose id another type already has, by `Type/id` (see add; not seen in practice). */
  #sharedIds: Map<string, IdentifiedResource> | undefined;
  /** Parsed datatype values of this message by type and text (shared by every reader). */
  readonly #typedValues: TypedValueCache = new Map();
  /** Message-scoped references mappers share (the patient and encounter of the message). */
  patient: Reference<Patient> | undefined;
  encounter: Reference<Encounter> | undefined;
  /** MSH-7 offset, the default for timestamps sent without one (HL7 v2.5.1 ch.2A 2.A.22 DTM). */
  readonly messageOffset: string | undefined;

  constructor(message: Hl7Message, tree: Hl7MessageTree | undefined, options: V2ToFhirOptions = {}) {
    this.message = message;
    this.#tree = tree;
    this.tenant = options.tenant ?? DEFAULT_TENANT;
    this.now = options.now ?? (() => new Date());
    const overridesBySegment = new Map<string, Map<number, FieldOverride>>();
    for (const o of this.tenant.overrides.values()) {
      const [seg, n] = o.field.split('-') as [string, string];
      let m = overridesBySegment.get(seg);
      if (m === undefined) overridesBySegment.set(seg, (m = new Map()));
      m.set(Number(n), o);
    }
    const warn = this.warn.bind(this);
    this.readers = message.segments.map((s, i) => new SegmentReader(s, i + 1, '', overridesBySegment.get(s.name), warn, this.#typedValues));
    for (const r of this.readers) this.#bySegment.set(r.segment, r);
    let msh7: Hl7Timestamp | undefined | null;
    try {
      msh7 = message.read('MSH-7', 'TS');
    } catch {
      msh7 = null;
    }
    this.messageTime = msh7;
    this.messageOffset = msh7?.offset;
  }

  /** MSH-7 read as a timestamp once per message; null when it is malformed (read throws). */
  readonly messageTime: Hl7Timestamp | undefined | null;

  /** The reader of a segment of this message (every segment of the message has one). */
  reader(segment: Hl7Segment): SegmentReader {
    const r = this.#bySegment.get(segment);
    if (r === undefined) throw new SwitchboardError('SWB_ERR_MAP_FIELD_FAILED', { field: segment.name, reason: 'the segment is not part of the message being mapped' });
    return r;
  }

  /** Sets the group path readers report (called by the mapper walking the tree). */
  setGroup(segment: Hl7Segment, group: string): void {
    const r = this.#bySegment.get(segment);
    if (r !== undefined) (r as { group: string }).group = group;
  }

  /** A deterministic id for a resource of this type identified by `parts`. */
  id(resourceType: string, ...parts: ReadonlyArray<string | undefined>): string {
    return deterministicIdOf(resourceType, parts);
  }

  /**
   * Identity of this message (MSH-3/MSH-4 sender + MSH-10), for resources that carry no business
   * identifier of their own: re-sending the same message then updates, never duplicates.
   */
  get messageKey(): string {
    const m = this.message;
    this.#messageKey ??= [m.get('MSH-3') ?? '', m.get('MSH-4') ?? '', m.controlId].join('|');
    return this.#messageKey;
  }

  #messageKey: string | undefined;

  /**
   * Adds a resource to the bundle, or merges it into the one already there with the same id
   * (the same practitioner named twice becomes one resource). Returns its reference.
   */
  add<T extends IdentifiedResource>(resource: T): Reference<T> {
    // Looked up by id (a string the id cache already holds, hashed once) rather than by a `Type/id`
    // key built and hashed on every call; the key is built once, when the resource is new. Ids are
    // digests of the type and parts, so two types sharing an id does not happen in practice; if it
    // does, the second type's resources are kept by `Type/id`.
    const type = resource.resourceType;
    const id = resource.id;
    const known = this.#byId.get(id);
    if (known !== undefined && known.resource.resourceType === type) {
      this.#touch(known.index);
      this.#mergeKnown(id, known, resource);
      return { reference: known.key } as Reference<T>;
    }
    // Flat (see flatJoin2): the key is every reference to the resource and its entry's request url.
    const key = flatJoin2(type, '/', id);
    if (known === undefined) {
      this.#append(resource, key);
      return { reference: key } as Reference<T>;
    }
    this.#touch(-1);
    const shared = (this.#sharedIds ??= new Map());
    const existing = shared.get(key);
    if (existing !== undefined) mergeInto(existing as unknown as Record<string, unknown>, resource as unknown as Record<string, unknown>);
    else {
      // Kept mutable here (get() hands these out as they are; the case is not seen in practice).
      const own = isDeeplyFrozen(resource) ? thawed(resource) : resource;
      shared.set(key, own);
      this.#list.push(own);
      this.#keys.push(key);
    }
    return { reference: key } as Reference<T>;
  }

  /** A resource whose id is new to the bundle, with its `Type/id` key, at the end of the list. */
  #append(resource: IdentifiedResource, key: string): void {
    this.#byId.set(resource.id, { resource, key, index: this.#list.length });
    this.#list.push(resource);
    this.#keys.push(key);
  }

  /** Adds a kept resource (see recurring) with the key it had when it was made. */
  #addKept(resource: IdentifiedResource, key: string): void {
    if (this.#byId.has(resource.id)) this.add(resource);
    else this.#append(resource, key);
  }

  /** Merges `extra` into the resource already added with its id, copying that one first when it is a shared (frozen) one. */
  #mergeKnown(id: string, known: KnownResource, extra: IdentifiedResource): void {
    if (known.resource === extra) return;
    const target = known.resource as unknown as Record<string, unknown>;
    const more = extra as unknown as Record<string, unknown>;
    if (!isDeeplyFrozen(target)) mergeInto(target, more);
    else if (mergeInto(target, more, true)) mergeInto(this.#thaw(id, known) as unknown as Record<string, unknown>, more);
  }

  /** A mutable copy of a shared resource, put in its place in this bundle (copy on write: get, merges). */
  #thaw(id: string, known: KnownResource): IdentifiedResource {
    const copy = thawed(known.resource);
    this.#byId.set(id, { resource: copy, key: known.key, index: known.index });
    this.#list[known.index] = copy;
    return copy;
  }

  /** True when a resource of this type and id is in the bundle already. */
  has(resourceType: string, id: string): boolean {
    const known = this.#byId.get(id);
    if (known === undefined) return false;
    return known.resource.resourceType === resourceType || this.#sharedIds?.has(`${resourceType}/${id}`) === true;
  }

  /** The first resource added with each id, with its `Type/id` reference and its place in #list (see add). */
  readonly #byId = new Map<string, KnownResource>();
  /**
   * The recurring() `make`s running (innermost last): where the bundle's list stood when each began,
   * and whether it reached a resource added before that (add() found the id there, get() or peek()
   * found it). What such a make did is not all in the resources it added, so it is not kept.
   */
  readonly #makes: Array<{ readonly floor: number; reached: boolean }> = [];

  /** A resource at this place in the list was reached (-1: one outside it, see #sharedIds). */
  #touch(index: number): void {
    for (const m of this.#makes) if (index < m.floor) m.reached = true;
  }

  readonly #memo = new Map<string, unknown>();

  /**
   * The result of `make` for this key, computed once per message: the same practitioner, laboratory
   * or device named on every OBX becomes one resource without being rebuilt and merged 60 times.
   * Only for pure functions of the key (and of this message's context).
   */
  memo<T>(key: string, make: () => T): T {
    // get first: has() only for an undefined hit (a make that returned undefined, or a miss).
    const hit = this.#memo.get(key);
    if (hit !== undefined || this.#memo.has(key)) return hit as T;
    const v = make();
    this.#memo.set(key, v);
    return v;
  }

  readonly #memoByValue = new Map<object, unknown>();

  /**
   * memo() keyed by a parsed value itself: a value read twice from the same text is the same
   * object within a message (SegmentReader caches parsed values), so the string key of memo() need
   * not be built again for it. `make` is still memo()'d by content for equal values read apart.
   */
  memoFor<T>(value: object, make: () => T): T {
    const hit = this.#memoByValue.get(value);
    if (hit !== undefined || this.#memoByValue.has(value)) return hit as T;
    const v = make();
    this.#memoByValue.set(value, v);
    return v;
  }

  /**
   * memo() across messages, for the recurring resources of a feed: the same clinicians,
   * organizations and locations are named in message after message. The first time a key is seen
   * (per tenant configuration), `make` runs as with memo(), and what it did is kept: the resources
   * it added to the bundle (deeply frozen copies, src/core/deep-freeze.ts), the warnings it gave and
   * its result. After that, a message gets those same frozen objects added to its bundle, its
   * warnings repeated, and the result, without `make` running: no building, no new ids, and the
   * validator checks each frozen resource once, not once per bundle (fhir-schema-validator.ts).
   *
   * `make` must be a function of `key` and the tenant only: nothing of the message (its control id,
   * MSH-7's offset) and no segment read through a reader (the report would lose the read). What it
   * does outside the bundle's new resources is not kept: when it merged into or got a resource added
   * before it began, nothing is kept and the next message runs it again (its own new resources it may
   * get and change). A frozen resource is copied when
   * something in the message changes it (get() and merges copy on write), so no message sees
   * another's changes. Bounded: RECURRING_LIMIT keys per tenant, then it starts over.
   */
  recurring<T>(key: string, make: () => T): T {
    const hit = this.#memo.get(key);
    if (hit !== undefined || this.#memo.has(key)) return hit as T;
    let kept = RECURRING.get(this.tenant);
    if (kept === undefined) RECURRING.set(this.tenant, (kept = { results: new Map(), chars: 0 }));
    const known = kept.results.get(key);
    if (known !== undefined) {
      for (let i = 0; i < known.resources.length; i++) this.#addKept(known.resources[i] as IdentifiedResource, known.keys[i] as string);
      for (const w of known.warnings) this.warn(w);
      this.#memo.set(key, known.value);
      return known.value as T;
    }
    const listed = this.#list.length;
    const running = { floor: listed, reached: false };
    const warnings: string[] = [];
    this.#captures.push(warnings);
    this.#makes.push(running);
    let value: T;
    try {
      value = make();
    } finally {
      this.#captures.pop();
      this.#makes.pop();
    }
    this.#memo.set(key, value);
    if (!running.reached) {
      let chars = key.length;
      const resources = this.#list.slice(listed).map((r) => {
        const text = JSON.stringify(r);
        chars += text.length;
        return deepFreeze(JSON.parse(text) as IdentifiedResource);
      });
      if (kept.results.size >= RECURRING_LIMIT || kept.chars + chars > RECURRING_CHARS) {
        kept.results.clear();
        kept.chars = 0;
      }
      kept.chars += chars;
      kept.results.set(key, { resources, keys: this.#keys.slice(listed), value: value === undefined ? undefined : deepFreeze(thawed(value)), warnings });
    }
    return value;
  }

  /** The warnings given while each recurring() `make` in progress runs (innermost last). */
  readonly #captures: string[][] = [];

  /** Code system URIs by v2 coding system name, resolved once per message (see codeSystemUri). */
  readonly systemUris = new Map<string, string>();

  /**
   * A datatype read outside a SegmentReader (one repetition or component of a field), parsed once
   * per message per text like the reader's own reads. Throws SWB_ERR_HL7_BAD_VALUE on a malformed
   * value, as DATATYPE_READERS do.
   */
  parse<K extends keyof Hl7DatatypeMap>(type: K, raw: string, path: string): Hl7DatatypeMap[K] {
    let byText = this.#typedValues.get(type);
    if (byText === undefined) this.#typedValues.set(type, (byText = new Map()));
    const hit = byText.get(raw);
    if (hit !== undefined) return hit as Hl7DatatypeMap[K];
    const v = DATATYPE_READERS[type](raw, this.message.encoding, path) as Hl7DatatypeMap[K];
    byText.set(raw, v);
    return v;
  }

  /**
   * The resource already in the bundle with this reference, to read only: a resource shared across
   * messages (see recurring) is not copied, as get() copies it. Change a resource through get().
   */
  peek<T extends IdentifiedResource>(ref: Reference | undefined): Readonly<T> | undefined {
    const found = this.#reach(ref);
    return (found === undefined ? undefined : 'known' in found ? found.known.resource : found.shared) as Readonly<T> | undefined;
  }

  /** The resource already in the bundle with this reference, if any, to change (see peek). */
  get<T extends IdentifiedResource>(ref: Reference | undefined): T | undefined {
    const found = this.#reach(ref);
    if (found === undefined || !('known' in found)) return found?.shared as T | undefined;
    // Callers get a resource to change it: a shared one is copied first (see recurring).
    const { id, known } = found;
    return (isDeeplyFrozen(known.resource) ? this.#thaw(id, known) : known.resource) as T;
  }

  /** The bundle's resource with this reference (by id, or among #sharedIds), noted as reached (see #touch). */
  #reach(ref: Reference | undefined): { readonly id: string; readonly known: KnownResource } | { readonly shared: IdentifiedResource } | undefined {
    const reference = ref?.reference;
    if (reference === undefined) return undefined;
    const slash = reference.indexOf('/');
    const id = slash === -1 ? undefined : reference.slice(slash + 1);
    const known = id === undefined ? undefined : this.#byId.get(id);
    // The whole `Type/id` must match, as a lookup by reference would.
    if (id !== undefined && known !== undefined && known.key === reference) {
      this.#touch(known.index);
      return { id, known };
    }
    const shared = this.#sharedIds?.get(reference);
    if (shared === undefined) return undefined;
    this.#touch(-1);
    return { shared };
  }

  /** Every resource added so far, in order. */
  resources(): IdentifiedResource[] {
    return [...this.#list];
  }

  /** The resources added so far, in order, without a copy: read it before adding more. */
  get added(): readonly IdentifiedResource[] {
    return this.#list;
  }

  /** The `Type/id` reference of each resource of `added`, at the same index. */
  get addedKeys(): readonly string[] {
    return this.#keys;
  }

  /**
   * FHIR dateTime for a v2 timestamp, keeping the sent precision and offset. A time without an
   * offset takes MSH-7's offset, else the tenant's timezone; failing both it is kept as UTC and a
   * warning says so (FHIR R4 datatypes.html#dateTime: a time needs a zone).
   */
  dateTime(ts: Hl7Timestamp | undefined, field: string): string | undefined {
    if (ts === undefined) return undefined;
    const iso = ts.iso;
    const tIndex = iso.indexOf('T');
    if (tIndex === -1) return iso;
    // FHIR wants seconds whenever a time is given.
    let out = ts.precision === 'hour' || ts.precision === 'minute' ? `${iso.slice(0, tIndex + 6)}:00${iso.slice(tIndex + 6)}` : iso;
    if (ts.offset !== undefined) return out;
    const offset = this.messageOffset ?? (this.tenant.timezone !== undefined ? zoneOffset(this.tenant.timezone, out) : undefined);
    if (offset === undefined) {
      this.warn(`${field}: a time without a UTC offset (none in MSH-7, no tenant timezone); taken as UTC`);
      return `${out}Z`;
    }
    out += offset === '+00:00' ? 'Z' : offset;
    return out;
  }

  /** A FHIR instant (needs seconds and a zone); undefined when the value is coarser than seconds. */
  instant(ts: Hl7Timestamp | undefined, field: string): string | undefined {
    if (ts === undefined || ts.precision === 'year' || ts.precision === 'month' || ts.precision === 'day') return undefined;
    return this.dateTime(ts, field);
  }

  warn(text: string): void {
    for (const c of this.#captures) c.push(text);
    if (this.#warned.has(text)) return;
    this.#warned.add(text);
    this.warnings.push(text);
  }

  readonly #warned = new Set<string>();

  /** Bundle entries: a transaction of PUTs by deterministic id (an update-or-create per resource). */
  entries(): BundleEntry[] {
    // The request url is the resource's reference string itself; the fullUrl is built flat (see
    // flatJoin2).
    const keys = this.#keys;
    return this.#list.map((r, i) => ({
      fullUrl: flatJoin2('urn:uuid', ':', r.id),
      resource: r,
      request: { method: 'PUT', url: keys[i] as string },
    }));
  }
}

interface KnownResource {
  readonly resource: IdentifiedResource;
  readonly key: string;
  /** Its place in the bundle's list. */
  readonly index: number;
}

/** What a recurring() `make` did, kept for the next messages: everything in it is deeply frozen. */
interface KeptResult {
  readonly resources: readonly IdentifiedResource[];
  readonly keys: readonly string[];
  readonly value: unknown;
  readonly warnings: readonly string[];
}

/**
 * recurring()'s results per tenant configuration (a WeakMap: a configuration let go takes its
 * results with it), and the characters of their keys and resources' JSON.
 */
const RECURRING = new WeakMap<object, { readonly results: Map<string, KeptResult>; chars: number }>();
/**
 * Bounds per tenant, after which the results start over: keys (a feed names hundreds of clinicians
 * and locations, not tens of thousands), and characters (keys hold raw field text, so a feed of
 * long or ever-changing values must not grow the cache without end: about 8 MB of JSON).
 */
const RECURRING_LIMIT = 10_000;
const RECURRING_CHARS = 8_000_000;

/** A mutable deep copy of JSON data (a resource, a reference). */
function thawed<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * Adds to `target` what `extra` has and `target` lacks (arrays are unioned by JSON value); with
 * `dryRun`, changes nothing and stops at the first addition. True when something was (or would be) added.
 */
function mergeInto(target: Record<string, unknown>, extra: Record<string, unknown>, dryRun = false): boolean {
  let added = false;
  for (const k in extra) {
    if (!Object.hasOwn(extra, k)) continue;
    const v = extra[k];
    const cur = target[k];
    if (cur === undefined) {
      if (dryRun) {
        if (v !== undefined) return true;
        continue;
      }
      if (v !== undefined) added = true;
      // A frozen array (from a shared resource) is copied: a later merge pushes onto target's own.
      target[k] = Array.isArray(v) && Object.isFrozen(v) ? [...(v as unknown[])] : v;
    } else if (Array.isArray(cur) && Array.isArray(v)) {
      const seen = new Set(cur.map((x) => JSON.stringify(x)));
      for (const item of v) {
        if (seen.has(JSON.stringify(item))) continue;
        if (dryRun) return true;
        cur.push(item);
        added = true;
      }
    }
  }
  return added;
}

/** The UTC offset (+hh:mm) of an IANA zone at a local date-time such as 2024-03-05T10:30:00. */
export function zoneOffset(zone: string, localIso: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(localIso);
  if (m === null) return undefined;
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  // The zone's offset at (about) that instant: format the UTC instant in the zone and compare.
  const offsetAt = (t: number): number => {
    const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(new Date(t));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value);
    return (Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - t) / 60_000;
  };
  let minutes = offsetAt(asUtc);
  minutes = offsetAt(asUtc - minutes * 60_000);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.trunc(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
