// Search index entries computed directly, for resources the server builds itself in a handful of
// known shapes (its AuditEvents, its write-back Provenances), instead of by evaluating the FHIRPath
// expressions of every R4 search parameter of the type: one such resource is written per request
// or per EHR write, and the FHIRPath evaluation was most of the CPU of its indexing.
//
// The contract: for a resource it accepts, a direct function returns exactly the entries
// FhirSearchIndexer returns (each one's test compares both over every shape the server builds);
// anything it does not know (a member not listed, a value of another form) throws
// DirectIndexUnknown, and the resource goes to the FHIRPath indexer, so a resource written some
// other way (a client's, an import's) is indexed exactly as before.
import { normalizeSearchString, type FhirResource, type IndexEntry, type ResourceIndexer } from '../core/ports/resource-store.ts';
import { dateRange } from './search-values.ts';

export type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Thrown by a direct function for anything it does not handle: the FHIRPath indexer takes over. */
export class DirectIndexUnknown extends Error {}

/** The object `value`, when it has no member outside `members`. */
export function only(value: unknown, members: ReadonlySet<string>): Json {
  if (!isObject(value)) throw new DirectIndexUnknown();
  for (const key of Object.keys(value)) if (!members.has(key)) throw new DirectIndexUnknown();
  return value;
}

/** A string member; an empty one is left to the FHIRPath indexer (which keeps some and drops others). */
export function optionalString(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new DirectIndexUnknown();
  return value;
}

export function list(value: unknown): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new DirectIndexUnknown();
  return value;
}

const CODING: ReadonlySet<string> = new Set(['system', 'code', 'display']);
const CODEABLE_CONCEPT: ReadonlySet<string> = new Set(['coding']);

/** A Coding as FhirSearchIndexer indexes it: system, code, and the display normalized for :text. */
export function codingEntry(param: string, value: unknown, out: IndexEntry[]): void {
  const c = only(value, CODING);
  const system = optionalString(c['system']);
  const code = optionalString(c['code']);
  const display = optionalString(c['display']);
  if (system === undefined && code === undefined) return;
  out.push({ kind: 'token', param, system, code, text: display === undefined ? undefined : normalizeSearchString(display) });
}

/** A CodeableConcept of codings only (no text): one token entry per coding. */
export function codeableConceptEntries(param: string, value: unknown, out: IndexEntry[]): void {
  for (const c of list(only(value, CODEABLE_CONCEPT)['coding'])) codingEntry(param, c, out);
}

export function codeEntry(param: string, value: unknown, out: IndexEntry[]): void {
  const v = optionalString(value);
  if (v !== undefined) out.push({ kind: 'token', param, system: undefined, code: v, text: undefined });
}

export function stringEntry(param: string, value: unknown, out: IndexEntry[]): void {
  const v = optionalString(value);
  if (v === undefined) return;
  const normalized = normalizeSearchString(v);
  if (normalized !== '') out.push({ kind: 'string', param, value: normalized, exact: v });
}

export function dateEntry(param: string, value: unknown, out: IndexEntry[]): void {
  const v = optionalString(value);
  if (v === undefined) return;
  const range = dateRange(v);
  if (range === undefined) throw new DirectIndexUnknown();
  out.push({ kind: 'date', param, low: range.low, high: range.high });
}

/** The entries of one resource, or DirectIndexUnknown thrown when it has something not handled. */
export type DirectEntries = (resource: Json) => IndexEntry[];

/**
 * A ResourceIndexer that indexes the resource types in `direct` with their function when it accepts
 * the resource, and hands every other resource to `fallback` (the FHIRPath indexer).
 */
export class DirectIndexer implements ResourceIndexer {
  readonly #fallback: ResourceIndexer;
  readonly #direct: ReadonlyMap<string, DirectEntries>;

  constructor(fallback: ResourceIndexer, direct: Readonly<Record<string, DirectEntries>>) {
    this.#fallback = fallback;
    this.#direct = new Map(Object.entries(direct));
  }

  index(resource: FhirResource): IndexEntry[] {
    const entries = this.#direct.get(resource.resourceType);
    if (entries !== undefined) {
      try {
        return entries(resource as unknown as Json);
      } catch (error) {
        if (!(error instanceof DirectIndexUnknown)) throw error;
      }
    }
    return this.#fallback.index(resource);
  }
}
