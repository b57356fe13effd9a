import { hash } from 'node:crypto';
import { flatJoin5 } from './flat-strings.ts';

/**
 * Deterministic resource ids from business identifiers, so that sending the same message again
 * (or another message about the same patient, order or result) updates the same resources instead
 * of creating duplicates (issue 4, "deterministic ids").
 *
 * The id is a UUID-shaped digest of the resource type and the identifying parts: valid as a FHIR
 * id (FHIR R4 datatypes.html#id: [A-Za-z0-9\-\.]{1,64}) and as a `urn:uuid:` fullUrl in a Bundle.
 * Parts are joined with a separator no HL7 value can hold, so ('a|b','c') and ('a','b|c') differ.
 */
export function deterministicId(resourceType: string, ...parts: ReadonlyArray<string | undefined>): string {
  return deterministicIdOf(resourceType, parts);
}

/**
 * deterministicId with the parts as an array (MappingContext.id passes its rest array on as is).
 *
 * Ids are a pure function of their parts, and the same clinicians, organizations, locations and
 * devices recur in every message of a feed: a bounded cache of their ids saves the hashing. The
 * cache is a tree of Maps (resource type, number of parts, then one level per part) so that a
 * lookup hashes strings the message already holds instead of building a joined key string on
 * every call. An absent part and an empty one give the same id (the digest reads both as ''), so
 * they share an entry.
 *
 * The other types (the patient's, the visit's, the orders' and results' resources, the message's
 * own MessageHeader and Provenance) are new in nearly every message of a feed, so they are hashed
 * without the cache: caching them only missed, and filled the cache with entries (a new Map per
 * level for each Observation) that the GC promoted and then dropped when it was cleared.
 * Measured (map of the benchmark ORU with 60 OBX, CPU medians, the variants interleaved in one
 * process on a loaded machine): 500 variants with their own patient and order numbers 1.44-1.53 ms
 * with every type cached, 0.83-0.95 ms with these only; the one ORU over and over, where every id
 * was a hit, 0.87-1.0 ms against 0.93-1.4 (66 ids hashed each time now).
 */
export function deterministicIdOf(resourceType: string, parts: ReadonlyArray<string | undefined>): string {
  if (!CACHED_TYPES.has(resourceType)) return digestId(resourceType, parts);
  let byCount = CACHE.get(resourceType);
  if (byCount === undefined) CACHE.set(resourceType, (byCount = []));
  const n = parts.length;
  let level: IdCacheLevel | undefined = byCount[n];
  if (level === undefined) level = byCount[n] = new Map();
  for (let i = 0; i < n - 1; i++) {
    const p = parts[i] ?? '';
    let next = level.get(p);
    if (next === undefined) level.set(p, (next = new Map()));
    level = next as IdCacheLevel;
  }
  const last = n === 0 ? '' : (parts[n - 1] ?? '');
  const hit = level.get(last);
  if (hit !== undefined) return hit as string;
  const id = digestId(resourceType, parts);
  if (cached >= CACHE_LIMIT) {
    // Bounded: start over (as the flat cache did); ids are recomputed on demand.
    CACHE.clear();
    cached = 0;
    return deterministicIdOf(resourceType, parts);
  }
  level.set(last, id);
  cached++;
  return id;
}

/** One level of the id cache: a part -> the next level, or (at the last part) the id. */
type IdCacheLevel = Map<string, IdCacheLevel | string>;

/** Types whose ids recur across the messages of a feed (see deterministicIdOf). */
const CACHED_TYPES: ReadonlySet<string> = new Set(['Practitioner', 'PractitionerRole', 'Organization', 'Location', 'Device']);

const CACHE_LIMIT = 20_000;
const CACHE = new Map<string, IdCacheLevel[]>();
let cached = 0;

function digestId(resourceType: string, parts: ReadonlyArray<string | undefined>): string {
  // One string hashed in one call (crypto.hash, Node >= 20.12; engines asks >= 20.19): the same
  // digest as feeding the type, then '\0' and each part, to a Hash object (UTF-8 of a
  // concatenation is the concatenation of the UTF-8s; a '\0' sits at every join, so no surrogate
  // pair can form across one), at a third of the cost (measured: 0.5-0.7 us against 1.5-2.7 for a
  // three-part Observation id). A feed brings new patients, visits and orders in every message:
  // their ids are hashed each time (66 in the benchmark ORU with 60 OBX, 9 in its ADT).
  let text = resourceType;
  for (let i = 0; i < parts.length; i++) text += `\u0000${parts[i] ?? ''}`;
  const hex = hash('sha256', text, 'hex');
  // RFC 9562 layout: version 8 (custom) in the 13th digit, variant 10xx in the 17th.
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  // Joined, not concatenated (see flat-strings.ts).
  return flatJoin5(hex.slice(0, 8), hex.slice(8, 12), `8${hex.slice(13, 16)}`, variant + hex.slice(17, 20), hex.slice(20, 32), '-');
}
