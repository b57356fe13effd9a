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
  // Ids are a pure function of their parts and the same clinician, organization or order recurs in
  // every message: a bounded cache of recent ones saves most of the hashing.
  const key = parts.length === 1 ? `${resourceType}\u0000${parts[0] ?? ''}` : `${resourceType}\u0000${parts.map((p) => p ?? '').join('\u0000')}`;
  const hit = CACHE.get(key);
  if (hit !== undefined) return hit;
  const id = digestId(resourceType, parts);
  if (CACHE.size >= CACHE_LIMIT) CACHE.clear();
  CACHE.set(key, id);
  return id;
}

const CACHE_LIMIT = 20_000;
const CACHE = new Map<string, string>();

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
