/**
 * The canonical FHIR resource store port: what the FHIR API, the `fhir-store` destination and Bundle
 * processing need to keep FHIR R4 resources with their versions and search them. Implementations live
 * in src/store/<kind>/ and pass the one suite in src/store/resource-store-conformance.ts. Nothing here
 * names a driver, a connection or a transaction type (STYLE.md "Ports and adapters").
 *
 * Two pieces of FHIR knowledge come in from src/fhir/ as data, so that a store never interprets FHIR:
 *  - a `ResourceIndexer` (src/fhir/search-parameters.ts) turns a resource into typed index entries,
 *    one per value per search parameter, which the store keeps in its index tables;
 *  - a `SearchQuery` (parsed from URL parameters by src/fhir/search-query.ts) names those entries'
 *    parameters and typed conditions on them. The store never parses URLs.
 *
 * Concurrency (FHIR R4 http.html#concurrency, #cond-update): every write, including its conditional
 * search, runs in one serialized unit, so 20 simultaneous conditional creates for one identifier yield
 * exactly one resource. SQLite: BEGIN IMMEDIATE takes the database's single write lock before the
 * condition is searched. PostgreSQL (to come): in READ COMMITTED two transactions cannot see each
 * other's uncommitted inserts, so a conditional create/update must first take
 * `pg_advisory_xact_lock(<64-bit hash of type + canonical condition>)` (the condition's conditions
 * serialized in a stable order), then search, then write, then commit, which releases the lock;
 * If-Match updates take `SELECT ... FOR UPDATE` on the resource row.
 */

/** FHIR R4 Meta, as far as the store touches it. */
export interface FhirMeta {
  readonly versionId?: string;
  /** An instant (FHIR R4 datatypes.html#instant), set by the store from its own clock. */
  readonly lastUpdated?: string;
  readonly [element: string]: unknown;
}

/** Any FHIR R4 resource, as JSON. */
export interface FhirResource {
  readonly resourceType: string;
  readonly id?: string;
  readonly meta?: FhirMeta;
  readonly [element: string]: unknown;
}

/** One stored version of a resource: its content, or a tombstone for a delete (410 Gone at the API). */
export type ResourceVersion =
  | {
      readonly kind: 'resource';
      readonly type: string;
      readonly id: string;
      /** 1, 2, 3... as text (FHIR meta.versionId is a string). */
      readonly versionId: string;
      readonly lastUpdated: Date;
      /** With meta.versionId and meta.lastUpdated set. */
      readonly resource: FhirResource;
    }
  | {
      readonly kind: 'deleted';
      readonly type: string;
      readonly id: string;
      readonly versionId: string;
      readonly lastUpdated: Date;
    };

// ---------------------------------------------------------------------------------------------
// Index entries: what a ResourceIndexer extracts, per search parameter type (FHIR R4 search.html)
// ---------------------------------------------------------------------------------------------

export const SearchParamType = {
  number: 'number',
  date: 'date',
  string: 'string',
  token: 'token',
  reference: 'reference',
  quantity: 'quantity',
  uri: 'uri',
} as const;
export type SearchParamType = (typeof SearchParamType)[keyof typeof SearchParamType];

/**
 * Instants are epoch milliseconds. A date range is [low, high], both inclusive, honouring the
 * value's precision: `2020-03` is [2020-03-01T00:00:00.000Z, 2020-03-31T23:59:59.999Z]. Open ends
 * (a Period without end) use MIN_INSTANT / MAX_INSTANT.
 */
export const MIN_INSTANT = -8_640_000_000_000_000;
export const MAX_INSTANT = 8_640_000_000_000_000;

export type IndexEntry =
  /** Coding, CodeableConcept, Identifier, ContactPoint, code, boolean, id. `text` is normalised (lower-case, accent-folded) display/text for :text. */
  | { readonly kind: 'token'; readonly param: string; readonly system: string | undefined; readonly code: string | undefined; readonly text: string | undefined }
  /** `value` normalised (lower-case, accent-folded) for the default prefix match; `exact` as written. */
  | { readonly kind: 'string'; readonly param: string; readonly value: string; readonly exact: string }
  | { readonly kind: 'date'; readonly param: string; readonly low: number; readonly high: number }
  | { readonly kind: 'number'; readonly param: string; readonly value: number }
  | { readonly kind: 'quantity'; readonly param: string; readonly value: number; readonly system: string | undefined; readonly code: string | undefined; readonly unit: string | undefined }
  /** A literal reference: `Patient/1` gives targetType Patient, targetId 1; an absolute URL also keeps `url`. */
  | { readonly kind: 'reference'; readonly param: string; readonly targetType: string | undefined; readonly targetId: string | undefined; readonly url: string | undefined }
  | { readonly kind: 'uri'; readonly param: string; readonly value: string };

/** Turns a resource into index entries (src/fhir/search-parameters.ts evaluates each parameter's FHIRPath). */
export interface ResourceIndexer {
  index(resource: FhirResource): IndexEntry[];
}

/**
 * Parameters a store answers from the resource row itself, not from index rows: `_id` (the row's id)
 * and `_lastUpdated` (its last_updated, the instant the store wrote into meta.lastUpdated, to the
 * millisecond: FHIR R4 search.html#all). Stores drop these entries when they write index rows (two
 * rows fewer per version: the AuditEvent written per FHIR read had 14) and search them on the row.
 */
export const ROW_PARAMS: ReadonlySet<string> = new Set(['_id', '_lastUpdated']);

/** A reference parameter whose rows are those of other parameters of its type, to one target type. */
export interface DerivedReferenceParam {
  readonly from: readonly string[];
  readonly targetType: string;
}

/**
 * Reference parameters a store answers from the rows of others, by `Type.param`. R4 defines
 * AuditEvent `patient` as `AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what
 * .where(resolve() is Patient)`: exactly the `agent` and `entity` rows whose target type is Patient
 * (the indexer reads `.where(resolve() is T)` as the reference's type). Its rows are not written
 * (the AuditEvent written per FHIR read has one less, and the one that went to a random leaf page of
 * the reference index for each read); search, :missing, chains, _sort and _include read the others.
 */
export const DERIVED_REFERENCE_PARAMS: ReadonlyMap<string, DerivedReferenceParam> = new Map([['AuditEvent.patient', { from: ['agent', 'entity'], targetType: 'Patient' }]]);

/** Whether a store writes this entry as an index row (not one of ROW_PARAMS or DERIVED_REFERENCE_PARAMS). */
export function isStoredIndexEntry(type: string, entry: IndexEntry): boolean {
  return !ROW_PARAMS.has(entry.param) && !(entry.kind === 'reference' && DERIVED_REFERENCE_PARAMS.has(`${type}.${entry.param}`));
}

// ---------------------------------------------------------------------------------------------
// SearchQuery: a parsed, typed search (src/fhir/search-query.ts builds it from URL parameters)
// ---------------------------------------------------------------------------------------------

/** FHIR R4 search.html#prefix. `ap` is taken as "overlaps" (dates) or within 10% (numbers). */
export type SearchPrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

/** `code`, `system|code`, `|code` (system: null: no system), `system|` (code omitted: any code in it). */
export interface TokenMatch {
  /** undefined: any system; null: the value must have no system. */
  readonly system?: string | null;
  readonly code?: string;
}

export interface DateMatch {
  readonly prefix: SearchPrefix;
  /** The search value's range, epoch ms, both inclusive (its precision: `2020` is the whole year). */
  readonly low: number;
  readonly high: number;
}

export interface NumberMatch {
  readonly prefix: SearchPrefix;
  readonly value: number;
  /** The range implied by the value's significant digits: `100` is [99.5, 100.5) (FHIR R4 search.html#number). */
  readonly low: number;
  readonly high: number;
}

export interface QuantityMatch extends NumberMatch {
  readonly system?: string;
  /** Matched against the quantity's code or its unit. */
  readonly code?: string;
}

/** `Patient/1` (type and id), `1` (id, any type), or an absolute URL (`url`). */
export interface ReferenceMatch {
  readonly type?: string;
  readonly id?: string;
  readonly url?: string;
}

/**
 * One condition: a parameter and its comma-separated values (OR). Repeated parameters are separate
 * conditions (AND). `param` is the parameter's code on the searched type (`_id`, `_lastUpdated`,
 * `identifier`, ...), exactly as the indexer named the entries.
 */
export type SearchCondition =
  | { readonly kind: 'token'; readonly param: string; readonly not: boolean; readonly values: readonly TokenMatch[] }
  /** :text on a token: the display/text contains the normalised words. */
  | { readonly kind: 'token-text'; readonly param: string; readonly values: readonly string[] }
  /** Values as the user wrote them; the store normalises for prefix/contains and compares `exact` as written. */
  | { readonly kind: 'string'; readonly param: string; readonly match: 'prefix' | 'exact' | 'contains'; readonly values: readonly string[] }
  | { readonly kind: 'date'; readonly param: string; readonly values: readonly DateMatch[] }
  | { readonly kind: 'number'; readonly param: string; readonly values: readonly NumberMatch[] }
  | { readonly kind: 'quantity'; readonly param: string; readonly values: readonly QuantityMatch[] }
  | { readonly kind: 'reference'; readonly param: string; readonly values: readonly ReferenceMatch[] }
  | { readonly kind: 'uri'; readonly param: string; readonly match: 'exact' | 'below'; readonly values: readonly string[] }
  /** :missing=true (no value indexed for the parameter) or :missing=false (at least one). */
  | { readonly kind: 'missing'; readonly param: string; readonly paramType: SearchParamType; readonly missing: boolean }
  /** `subject:Patient.identifier=...`: the reference `param` points at a `targetType` resource matching `condition`. */
  | { readonly kind: 'chain'; readonly param: string; readonly targetType: string; readonly condition: SearchCondition };

export interface SearchSort {
  readonly param: string;
  readonly paramType: 'date' | 'string' | 'token' | 'number' | 'quantity' | 'uri' | 'reference';
  readonly descending: boolean;
}

/** `_include=Observation:subject:Patient` / `_revinclude=Observation:subject`. */
export interface IncludeSpec {
  /** The type holding the reference (the searched type for _include, the other type for _revinclude). */
  readonly sourceType: string;
  /** A reference parameter of sourceType. */
  readonly param: string;
  readonly targetType?: string;
}

export interface SearchQuery {
  /** All must hold (AND). */
  readonly conditions: readonly SearchCondition[];
  readonly sort?: readonly SearchSort[];
  /** Page size (default 50, at most 1000). */
  readonly count?: number;
  /** The `nextCursor` of the previous page of the same query. */
  readonly cursor?: string;
  readonly include?: readonly IncludeSpec[];
  readonly revinclude?: readonly IncludeSpec[];
  /** `_total` (default none: no count is made). */
  readonly total?: 'none' | 'estimate' | 'accurate';
  /** `_summary`; the store honours `count` (total only, no resources); the API shapes the others. */
  readonly summary?: 'true' | 'false' | 'text' | 'data' | 'count';
  /** `_elements`; applied by the API when it renders the page. */
  readonly elements?: readonly string[];
}

export interface SearchResult {
  /** Matches (search mode `match`), in the query's sort order. */
  readonly resources: readonly FhirResource[];
  /** _include / _revinclude results (search mode `include`), each once. */
  readonly included: readonly FhirResource[];
  readonly total?: number;
  readonly nextCursor?: string;
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

export interface CreateOptions {
  /** Conditional create (FHIR R4 http.html#ccreate): create only when nothing matches. */
  readonly ifNoneExist?: SearchQuery;
  /**
   * The id to give the new resource instead of a server-made one: Bundle processing allocates ids
   * ahead to resolve `urn:uuid` references. resource.id itself is ignored (http.html#create).
   * SWB_ERR_FHIR_ID_EXISTS when the id is taken.
   */
  readonly id?: string;
}

export type CreateOutcome =
  | { readonly outcome: 'created'; readonly resource: FhirResource }
  /** The condition matched one resource; nothing was written. */
  | { readonly outcome: 'exists'; readonly resource: FhirResource }
  /** The condition matched several (412 at the API); nothing was written. */
  | { readonly outcome: 'multiple' };

export interface UpdateOptions {
  /** If-Match versionId: SWB_ERR_FHIR_VERSION_CONFLICT when the current version differs (http.html#concurrency). */
  readonly ifMatch?: string;
}

export type UpdateOutcome =
  /** Update as create (a client-chosen id, or a deleted resource brought back). */
  | { readonly outcome: 'created'; readonly resource: FhirResource }
  | { readonly outcome: 'updated'; readonly resource: FhirResource };

export type DeleteOutcome =
  | { readonly outcome: 'deleted'; readonly versionId: string }
  /** Already deleted: nothing written (http.html#delete allows 200/204 for a repeat). */
  | { readonly outcome: 'already-deleted'; readonly versionId: string }
  | { readonly outcome: 'not-found' };

export interface HistoryQuery {
  /** Type history, or instance history with `id`; neither: system history. */
  readonly type?: string;
  readonly id?: string;
  /** Only versions written at or after this instant (`_since`). */
  readonly since?: Date;
  /** Page size (at most 1000). */
  readonly count: number;
  readonly cursor?: string;
}

export interface HistoryPage {
  /** Newest first. */
  readonly entries: readonly ResourceVersion[];
  readonly nextCursor?: string;
}

/**
 * The current version of a resource as the store keeps it: its JSON text, with meta.versionId and
 * meta.lastUpdated already in it (ResourceStore.readJson), or the tombstone of a deleted one.
 */
export type StoredJson =
  | { readonly kind: 'resource'; readonly versionId: string; readonly lastUpdated: Date; readonly json: string }
  | { readonly kind: 'deleted'; readonly versionId: string; readonly lastUpdated: Date };

/** What one all-or-nothing unit of work may do (a Bundle transaction). */
export interface ResourceStoreTx {
  /** The current version, the tombstone of a deleted resource, or undefined when never created. */
  read(type: string, id: string): Promise<ResourceVersion | undefined>;
  vread(type: string, id: string, versionId: string): Promise<ResourceVersion | undefined>;
  search(type: string, query: SearchQuery): Promise<SearchResult>;
  create(resource: FhirResource, options?: CreateOptions): Promise<CreateOutcome>;
  /** resource.id is required; a missing or deleted resource is created with that id. */
  update(resource: FhirResource, options?: UpdateOptions): Promise<UpdateOutcome>;
  /**
   * FHIR R4 http.html#cond-update: no match creates (with resource.id when given); one match updates
   * it (SWB_ERR_FHIR_INVALID_RESOURCE when resource.id names another); several throw
   * SWB_ERR_FHIR_MULTIPLE_MATCHES.
   */
  conditionalUpdate(type: string, query: SearchQuery, resource: FhirResource): Promise<UpdateOutcome>;
  /** Kept in history as a deleted version. */
  delete(type: string, id: string, options?: UpdateOptions): Promise<DeleteOutcome>;
}

export interface ResourceStore extends ResourceStoreTx {
  history(query: HistoryQuery): Promise<HistoryPage>;
  /**
   * Runs `work` all-or-nothing: when it throws, nothing it wrote remains. Other calls on the store
   * wait until it ends, and see none of its writes before the commit; so `work` must use `tx`, never
   * the store itself (that call would wait for the transaction it runs in).
   */
  transaction<T>(work: (tx: ResourceStoreTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Optional: a mark that differs from every earlier one whenever a resource of `type` may have been
   * created, updated or deleted since (through this store, or by another connection or process), so
   * that a cache of what a search of that type returned can tell it is stale (src/api/consent.ts).
   * It may change without such a write; it never stays the same across one. A store that cannot
   * tell leaves it out, and nothing is cached.
   */
  writeMark?(type: string): Promise<string>;
  /**
   * Optional: creates each resource (as create() with no options) in one all-or-nothing transaction
   * whose commit may skip the sync to disk: it survives a crash of the process at once, and a power
   * loss once the next synced commit or checkpoint has run. For high-volume records written off the
   * request path (the AuditEvent trail, src/api/audit-trail.ts); a store without it gets transaction().
   */
  createBatchRelaxed?(resources: readonly FhirResource[]): Promise<void>;
  /**
   * Optional: true when createBatchRelaxed does its work on another thread, so the caller's event
   * loop is free while a batch is written, and batches may be large (the AuditEvent trail sizes them by it).
   */
  readonly createBatchRelaxedOffThread?: boolean;
  /**
   * Optional: a journal of records waiting to become resources (ResourceJournal), for a producer
   * whose records are many and whose resources are costly to index (the AuditEvent trail).
   */
  readonly journal?: ResourceJournal;
  /**
   * Optional: read() as the stored JSON text, for a read answered as is (FHIR R4 http.html#read with
   * no _summary or _elements): no parse and re-serialisation of the resource on the request path.
   * The text is what read() would return, serialised.
   */
  readJson?(type: string, id: string): Promise<StoredJson | undefined>;
  /**
   * Optional, with readJson and writeMark: both in one read of the store, from one snapshot (one
   * statement on SQLite). A read that checks a cache against a mark (consent decisions against the
   * Consent mark, src/api/consent.ts) then costs one trip to the database instead of two.
   * `stored` is what readJson(type, id) returns and `mark` what writeMark(markType) returns.
   */
  readJsonMarked?(type: string, id: string, markType: string): Promise<MarkedJson>;
}

/** ResourceStore.readJsonMarked: a resource's stored JSON (or undefined) and a type's write mark, read together. */
export interface MarkedJson {
  readonly stored: StoredJson | undefined;
  readonly mark: string;
}

/** Space to tilde: what normalizeSearchString can lower-case and trim without the Unicode passes. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * The one string normalisation indexer and store share (FHIR R4 search.html#string: "case- and
 * accent-insensitive"): Unicode NFD, combining marks dropped, lower-cased, whitespace runs collapsed.
 */
export function normalizeSearchString(text: string): string {
  // Printable ASCII (most index values: codes, names, addresses here) is its own NFD and has no
  // combining mark or whitespace but the space: the same result without the Unicode passes (~3x
  // cheaper; every string index entry of every resource written goes through here).
  if (PRINTABLE_ASCII.test(text)) return text.toLowerCase().replace(/ {2,}/g, ' ').trim();
  return text.normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** A journal entry: its place (increasing in append order) and its text. */
export interface JournalEntry {
  readonly seq: number;
  readonly entry: string;
}

/**
 * An append-only journal of text entries kept in the store, each later turned into a resource by
 * its producer (settle). Appending is cheap (one row, no index entries), so a producer can record
 * at the rate of its requests and make the resources (indexing them for search) when it has time.
 * Durability is createBatchRelaxed's. Settling removes entries and creates their resources in one
 * transaction, so each entry becomes its resource exactly once, across crashes and processes.
 */
export interface ResourceJournal {
  append(entries: readonly string[]): Promise<void>;
  /** The oldest entries, at most `limit`, in append order. */
  oldest(limit: number): Promise<JournalEntry[]>;
  /** The largest seq appended so far, 0 when the journal is empty. */
  head(): Promise<number>;
  /** How many entries wait. */
  size(): Promise<number>;
  /**
   * Creates `resources` (as createBatchRelaxed) and removes `entries` (consecutive, oldest first)
   * in one transaction; rejects, writing nothing, when any of them was settled already.
   */
  settle(entries: readonly JournalEntry[], resources: readonly FhirResource[]): Promise<void>;
}
