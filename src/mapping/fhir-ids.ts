import { createHash } from 'node:crypto';

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
 * Ids are a pure function of their parts and the same clinician, organization or order recurs in
 * every message: a bounded cache of recent ones saves most of the hashing. The cache is a tree of
 * Maps (resource type, number of parts, then one level per part) so that a lookup hashes strings
 * the message already holds instead of building a joined key string on every call. An absent part
 * and an empty one give the same id (the digest reads both as ''), so they share an entry.
 */
export function deterministicIdOf(resourceType: string, parts: ReadonlyArray<string | undefined>): string {
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

const CACHE_LIMIT = 20_000;
const CACHE = new Map<string, IdCacheLevel[]>();
let cached = 0;

function digestId(resourceType: string, parts: ReadonlyArray<string | undefined>): string {
  const h = createHash('sha256');
  h.update(resourceType);
  for (const p of parts) {
    h.update('\u0000');
    h.update(p ?? '');
  }
  const hex = h.digest('hex');
  // RFC 9562 layout: version 8 (custom) in the 13th digit, variant 10xx in the 17th.
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
