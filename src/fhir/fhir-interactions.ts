// The FHIR R4 RESTful interactions (http.html) over the ResourceStore port, independent of HTTP: the
// routes and the Bundle processor both turn what they receive into a FhirRequest and run it here, so
// a PUT over HTTP and a PUT entry in a transaction behave the same. Nothing here logs, and errors
// name types, ids and parameters only.
import { SwitchboardError } from '../core/errors.ts';
import type { FhirResource, HistoryPage, HistoryQuery, ResourceStoreTx, ResourceVersion, SearchCondition, SearchQuery, SearchResult, StoredJson } from '../core/ports/resource-store.ts';
import { validateResource, type FhirIssue } from './fhir-validator.ts';
import { parseConditionalQuery, parseSearchQuery } from './search-query.ts';
import { validateUsCore } from './us-core.ts';
import { capabilityStatement, capabilityStatementJson, capabilityStatementTag, isWithheldParameter, supportedResourceTypes } from './capability-statement.ts';
import { FhirApiError, informationOutcome } from './fhir-outcome.ts';
import { shapeResource, type SummaryMode } from './fhir-shaping.ts';

/** The interactions a SMART scope letter names (the same union as src/api/auth/scopes.ts's FhirInteraction). */
export type FhirInteraction = 'read' | 'vread' | 'search' | 'create' | 'update' | 'delete' | 'history';

/** What an interaction touches, for the authorization hook (the lead wires scopes and consent to it). */
export interface FhirAccess {
  readonly interaction: FhirInteraction;
  /** `*` for system-level history. */
  readonly resourceType: string;
  readonly id?: string;
  /** History: instance, type or system. */
  readonly level?: 'instance' | 'type' | 'system';
  /**
   * Set only when the interaction is confined to one patient's compartment by construction:
   * Patient/<id> itself, or a search whose `patient` parameter (or Patient `_id`) names exactly one
   * patient and that includes nothing else (_include/_revinclude).
   */
  readonly compartment?: { readonly patient: string };
}

/**
 * Consent enforcement for one request (src/api/consent.ts implements it): asked once the resource is
 * known, after the store read and before anything is sent or written. Each method throws
 * SWB_ERR_CONSENT_DENIED (403) for a patient whose Consent denies the caller.
 */
export interface ConsentGuard {
  // `store` is where Consents are read: the interaction's own (inside a transaction Bundle, the open
  // transaction: a second connection could wait on it).
  /** A resource about to be returned (`read`) or written (`write`); resources outside a patient compartment pass. */
  check(store: Pick<ResourceStoreTx, 'search'>, resource: FhirResource, action: 'read' | 'write'): Promise<void>;
  /** A request confined to one patient's compartment (a search for one patient). */
  checkPatient(store: Pick<ResourceStoreTx, 'search'>, patient: string, resourceType: string, action: 'read' | 'write'): Promise<void>;
  /** The resources of a search page or history the caller may see (denied patients' removed). */
  filter(store: Pick<ResourceStoreTx, 'search'>, resources: readonly FhirResource[]): Promise<FhirResource[]>;
  /** The reason given in X-Break-Glass, when the request broke the glass. */
  readonly breakGlass?: string;
}

export type ValidationMode = 'structure' | 'off';
export type ReturnPreference = 'minimal' | 'representation' | 'OperationOutcome';

export interface InteractionContext {
  /** The store, or the open transaction of a Bundle. */
  readonly store: ResourceStoreTx;
  /** Runs work all-or-nothing: store.transaction at top level, the open transaction inside a Bundle. */
  readonly atomic: <T>(work: (tx: ResourceStoreTx) => Promise<T>) => Promise<T>;
  /** The store's history; absent inside a transaction (a ResourceStoreTx has none). */
  readonly history: ((query: HistoryQuery) => Promise<HistoryPage>) | undefined;
  /** Absolute base, `http://host/fhir/R4`, no trailing slash. */
  readonly baseUrl: string;
  readonly validation: ValidationMode;
  /** Also check declared US Core profiles (`_validate-profile=true` or `X-Validate-Profile: true`). */
  readonly validateProfile: boolean;
  /** Prefer: handling (search.html#errors); strict by default, so a mistyped filter never widens a search. */
  readonly handling: 'strict' | 'lenient';
  readonly authorize: (access: FhirAccess) => Promise<void>;
  /** Consent on reads and writes of patient data; absent: none enforced. */
  readonly consent?: ConsentGuard | undefined;
  /**
   * The store's readJson (ResourceStore.readJson), for a read answered with the stored text as is
   * (FhirResult.json). Only where the result goes straight to the client: never in a Bundle, whose
   * entries need the resource itself.
   */
  readonly readJson?: ((type: string, id: string) => Promise<StoredJson | undefined>) | undefined;
}

/** Where a request points, relative to the base (http.html#general). */
export type FhirTarget =
  | { readonly kind: 'system' }
  | { readonly kind: 'metadata' }
  | { readonly kind: 'system-history' }
  | { readonly kind: 'type'; readonly type: string }
  | { readonly kind: 'type-search'; readonly type: string }
  | { readonly kind: 'type-history'; readonly type: string }
  | { readonly kind: 'instance'; readonly type: string; readonly id: string }
  | { readonly kind: 'instance-history'; readonly type: string; readonly id: string }
  | { readonly kind: 'version'; readonly type: string; readonly id: string; readonly versionId: string };

export interface FhirRequest {
  readonly method: string;
  readonly target: FhirTarget;
  readonly query: URLSearchParams;
  readonly body?: unknown;
  readonly ifMatch?: string;
  readonly ifNoneExist?: string;
  readonly ifNoneMatch?: string;
}

export interface FhirResult {
  readonly status: number;
  readonly body?: FhirResource;
  /** meta.versionId of the resource concerned: ETag W/"n". */
  readonly versionId?: string;
  /** meta.lastUpdated (an instant): Last-Modified. */
  readonly lastUpdated?: string;
  /** `Type/id/_history/n`, relative to the base: Location. */
  readonly location?: string;
  /** A write: Prefer return=minimal|representation|OperationOutcome decides the body. */
  readonly write?: boolean;
  /** What happened, for Prefer: return=OperationOutcome. */
  readonly message?: string;
  /** The body as JSON text, to send as is (a read with no shaping: InteractionContext.readJson). */
  readonly json?: string;
}

/** FHIR R4 datatypes.html#id. */
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
/** Parameters every interaction may carry (http.html#parameters); they never reach the store. */
const GENERAL_PARAMETERS: ReadonlySet<string> = new Set(['_format', '_pretty', '_validate-profile']);

const invalidRequest = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_FHIR_INVALID_REQUEST', { reason });

/** A literal `Type` segment this server serves, else 404 (http.html#general: unsupported type). */
export function assertType(type: string): void {
  if (!supportedResourceTypes().has(type)) throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_TYPE', { type: /^[A-Za-z]{1,64}$/.test(type) ? type : 'the requested type' });
}

/** Parses a path relative to the base (`Patient/1/_history/2`, `Observation/_search`, `_history`). */
export function parseTarget(path: string): FhirTarget | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  const [a, b, c, d] = parts;
  switch (parts.length) {
    case 0:
      return { kind: 'system' };
    case 1:
      if (a === 'metadata') return { kind: 'metadata' };
      if (a === '_history') return { kind: 'system-history' };
      return { kind: 'type', type: a as string };
    case 2:
      if (b === '_history') return { kind: 'type-history', type: a as string };
      if (b === '_search') return { kind: 'type-search', type: a as string };
      return { kind: 'instance', type: a as string, id: decodeURIComponent(b as string) };
    case 3:
      return c === '_history' ? { kind: 'instance-history', type: a as string, id: decodeURIComponent(b as string) } : undefined;
    case 4:
      return c === '_history' ? { kind: 'version', type: a as string, id: decodeURIComponent(b as string), versionId: decodeURIComponent(d as string) } : undefined;
    default:
      return undefined;
  }
}

function patientCompartment(type: string, id: string): { compartment: { patient: string } } | Record<string, never> {
  return type === 'Patient' ? { compartment: { patient: id } } : {};
}

/** The version facts of a stored resource (the store sets meta.versionId and meta.lastUpdated). */
function versionFacts(resource: FhirResource): Pick<FhirResult, 'versionId' | 'lastUpdated' | 'location'> {
  const versionId = resource.meta?.versionId;
  const lastUpdated = resource.meta?.lastUpdated;
  return {
    ...(versionId === undefined ? {} : { versionId }),
    ...(lastUpdated === undefined ? {} : { lastUpdated }),
    ...(versionId === undefined || resource.id === undefined ? {} : { location: `${resource.resourceType}/${resource.id}/_history/${versionId}` }),
  };
}

/** `W/"3"`, `"3"` or `*` against version 3 (http.html#cread). */
function etagMatches(header: string, versionId: string): boolean {
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '').replace(/^"(.*)"$/, '$1') === versionId;
  });
}

function shaping(query: URLSearchParams, allowCount: boolean): { summary: SummaryMode | undefined; elements: string[] | undefined } {
  const summary = query.get('_summary') ?? undefined;
  if (summary !== undefined && !['true', 'false', 'text', 'data', ...(allowCount ? ['count'] : [])].includes(summary)) throw invalidRequest(`_summary takes true, false, text, data${allowCount ? ' or count' : ''}`);
  const raw = query.get('_elements');
  const elements = raw === null ? undefined : raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  return { summary: summary as SummaryMode | undefined, elements };
}

/** The body as a resource of `type` (http.html#create, #update: a mismatch is 400). */
function asResource(body: unknown, type: string): FhirResource {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidRequest('the body must be a FHIR resource (a JSON object)');
  if ((body as { resourceType?: unknown }).resourceType !== type) throw invalidRequest(`the resourceType in the body is not ${type}, the type in the URL`);
  return body as FhirResource;
}

function declaresUsCore(resource: FhirResource): boolean {
  const profiles = (resource.meta as { profile?: unknown } | undefined)?.profile;
  return Array.isArray(profiles) && profiles.some((p) => typeof p === 'string' && p.startsWith('http://hl7.org/fhir/us/core/StructureDefinition/'));
}

/**
 * Validation on write: the structural (JSON Schema) check, then, when the request asks for it and
 * the resource declares a US Core profile in meta.profile, the US Core rules (docs/fhir-api.md).
 */
function validate(ctx: InteractionContext, resource: FhirResource): void {
  if (ctx.validation === 'off') return;
  const issues: FhirIssue[] = [...validateResource(resource).issues];
  if (ctx.validateProfile && declaresUsCore(resource)) issues.push(...validateUsCore(resource).issues);
  const errors = issues.filter((i) => i.severity === 'error').length;
  if (errors > 0) throw new FhirApiError('SWB_ERR_FHIR_VALIDATION_FAILED', { type: resource.resourceType, count: errors }, issues);
}

/** Withheld parameters (capability-statement.ts) are unknown here, as for any client. */
function withoutWithheld(type: string, params: URLSearchParams, handling: 'strict' | 'lenient', ignored: string[]): URLSearchParams {
  const out = new URLSearchParams();
  for (const [key, value] of params) {
    if (GENERAL_PARAMETERS.has(key)) continue;
    if (isWithheldParameter(key.split(/[:.]/)[0] ?? key)) {
      if (handling === 'lenient') ignored.push(key);
      else throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_PARAMETER', { type, param: key.split(/[:.]/)[0] ?? key });
      continue;
    }
    out.append(key, value);
  }
  return out;
}

function conditional(type: string, query: string): SearchQuery {
  const params = withoutWithheld(type, new URLSearchParams(query.startsWith('?') ? query.slice(1) : query), 'strict', []);
  return parseConditionalQuery(type, params.toString());
}

// ---------------------------------------------------------------------------------------------
// Instance and type interactions
// ---------------------------------------------------------------------------------------------

function currentOrThrow(type: string, id: string, version: ResourceVersion | undefined): FhirResource {
  if (version === undefined) throw new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type, id: ID_RE.test(id) ? id : 'the requested id' });
  if (version.kind === 'deleted') throw new SwitchboardError('SWB_ERR_FHIR_GONE', { type, id });
  return version.resource;
}

async function read(ctx: InteractionContext, type: string, id: string, query: URLSearchParams, ifNoneMatch: string | undefined): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'read', resourceType: type, id, ...patientCompartment(type, id) });
  const { summary, elements } = shaping(query, false);
  if (ctx.readJson !== undefined && summary === undefined && elements === undefined) return readAsStored(ctx, ctx.readJson, type, id, ifNoneMatch);
  const resource = currentOrThrow(type, id, ID_RE.test(id) ? await ctx.store.read(type, id) : undefined);
  // Before the If-None-Match answer too: a 304 would confirm the version to a denied caller.
  await ctx.consent?.check(ctx.store, resource, 'read');
  const facts = versionFacts(resource);
  // http.html#cread: a matching If-None-Match answers 304 without the body.
  if (ifNoneMatch !== undefined && facts.versionId !== undefined && etagMatches(ifNoneMatch, facts.versionId)) return { status: 304, ...facts };
  return { status: 200, body: shapeResource(resource, summary, elements), ...facts };
}

/**
 * A read with no _summary or _elements, answered with the stored text (it carries meta.versionId and
 * meta.lastUpdated): the resource is parsed only when Consent needs to find its patient, and never
 * serialised again. The same checks, in the same order, as read().
 */
async function readAsStored(ctx: InteractionContext, readJson: NonNullable<InteractionContext['readJson']>, type: string, id: string, ifNoneMatch: string | undefined): Promise<FhirResult> {
  const stored = ID_RE.test(id) ? await readJson(type, id) : undefined;
  if (stored === undefined) throw new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type, id: ID_RE.test(id) ? id : 'the requested id' });
  if (stored.kind === 'deleted') throw new SwitchboardError('SWB_ERR_FHIR_GONE', { type, id });
  // A Patient is its own compartment (consent.ts finds the patient of a Patient by its id); any
  // other type is parsed for its subject, and the parsed body goes to the audit record as before.
  let body: FhirResource | undefined;
  if (type === 'Patient') await ctx.consent?.checkPatient(ctx.store, id, type, 'read');
  else {
    body = JSON.parse(stored.json) as FhirResource;
    await ctx.consent?.check(ctx.store, body, 'read');
  }
  const facts = { versionId: stored.versionId, lastUpdated: stored.lastUpdated.toISOString(), location: `${type}/${id}/_history/${stored.versionId}` };
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, facts.versionId)) return { status: 304, ...facts };
  return { status: 200, json: stored.json, ...(body === undefined ? {} : { body }), ...facts };
}

async function vread(ctx: InteractionContext, type: string, id: string, versionId: string, query: URLSearchParams): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'vread', resourceType: type, id, ...patientCompartment(type, id) });
  const { summary, elements } = shaping(query, false);
  const version = ID_RE.test(id) ? await ctx.store.vread(type, id, versionId) : undefined;
  if (version === undefined) throw new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type, id: `${id}/_history/${/^\d{1,16}$/.test(versionId) ? versionId : '?'}` });
  if (version.kind === 'deleted') throw new SwitchboardError('SWB_ERR_FHIR_GONE', { type, id: `${id}/_history/${versionId}` });
  await ctx.consent?.check(ctx.store, version.resource, 'read');
  return { status: 200, body: shapeResource(version.resource, summary, elements), ...versionFacts(version.resource) };
}

/** http.html#create, #ccreate. `id`: an id allocated ahead by a transaction (urn:uuid resolution). */
export async function create(ctx: InteractionContext, type: string, body: unknown, options: { ifNoneExist?: string; id?: string } = {}): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'create', resourceType: type });
  if (options.ifNoneExist !== undefined) await ctx.authorize({ interaction: 'search', resourceType: type });
  const resource = asResource(body, type);
  validate(ctx, resource);
  await ctx.consent?.check(ctx.store, resource, 'write');
  const ifNoneExist = options.ifNoneExist === undefined ? undefined : conditional(type, options.ifNoneExist);
  const outcome = await ctx.store.create(resource, { ...(ifNoneExist === undefined ? {} : { ifNoneExist }), ...(options.id === undefined ? {} : { id: options.id }) });
  switch (outcome.outcome) {
    case 'created':
      return { status: 201, body: outcome.resource, ...versionFacts(outcome.resource), write: true, message: `created ${type}/${outcome.resource.id ?? ''}` };
    case 'exists':
      await ctx.consent?.check(ctx.store, outcome.resource, 'read');
      return { status: 200, body: outcome.resource, ...versionFacts(outcome.resource), write: true, message: `a matching ${type} exists (If-None-Exist); nothing was created` };
    case 'multiple':
      throw new SwitchboardError('SWB_ERR_FHIR_MULTIPLE_MATCHES', { type });
  }
}

/** http.html#update: the body's id must be the URL's; a new id creates (update as create). */
async function update(ctx: InteractionContext, type: string, id: string, body: unknown, ifMatch: string | undefined): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'update', resourceType: type, id, ...patientCompartment(type, id) });
  if (!ID_RE.test(id)) throw invalidRequest('the id in the URL is not a FHIR id');
  const resource = asResource(body, type);
  if (resource.id === undefined) throw invalidRequest('the body has no id; an update carries the id of the URL');
  if (resource.id !== id) throw invalidRequest('the id in the body differs from the id in the URL');
  validate(ctx, resource);
  if (ctx.consent !== undefined) {
    // Both the patient the resource is about now and the one it is moved to (a changed subject).
    const current = await ctx.store.read(type, id);
    if (current?.kind === 'resource') await ctx.consent.check(ctx.store, current.resource, 'write');
    await ctx.consent.check(ctx.store, resource, 'write');
  }
  const outcome = await ctx.store.update(resource, ifMatch === undefined ? {} : { ifMatch });
  const status = outcome.outcome === 'created' ? 201 : 200;
  return { status, body: outcome.resource, ...versionFacts(outcome.resource), write: true, message: `${outcome.outcome} ${type}/${id}` };
}

/** http.html#cond-update: `PUT [type]?[search]`. */
async function conditionalUpdate(ctx: InteractionContext, type: string, query: URLSearchParams, body: unknown): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'update', resourceType: type });
  await ctx.authorize({ interaction: 'search', resourceType: type });
  const resource = asResource(body, type);
  validate(ctx, resource);
  await ctx.consent?.check(ctx.store, resource, 'write');
  const outcome = await ctx.store.conditionalUpdate(type, conditional(type, query.toString()), resource);
  const status = outcome.outcome === 'created' ? 201 : 200;
  return { status, body: outcome.resource, ...versionFacts(outcome.resource), write: true, message: `${outcome.outcome} ${type}/${outcome.resource.id ?? ''}` };
}

/** http.html#delete: kept in history as a deleted version; a repeat is 204, an unknown id 404. */
async function remove(ctx: InteractionContext, type: string, id: string, ifMatch: string | undefined): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'delete', resourceType: type, id, ...patientCompartment(type, id) });
  if (!ID_RE.test(id)) throw new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type, id: 'the requested id' });
  if (ctx.consent !== undefined) {
    const current = await ctx.store.read(type, id);
    if (current?.kind === 'resource') await ctx.consent.check(ctx.store, current.resource, 'write');
  }
  const outcome = await ctx.store.delete(type, id, ifMatch === undefined ? {} : { ifMatch });
  if (outcome.outcome === 'not-found') throw new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type, id });
  return { status: 204, versionId: outcome.versionId, write: true, message: outcome.outcome === 'deleted' ? `deleted ${type}/${id}` : `${type}/${id} was already deleted` };
}

/** http.html#cdelete with conditionalDelete `single`: several matches are 412, none is 204. */
async function conditionalDelete(ctx: InteractionContext, type: string, query: URLSearchParams): Promise<FhirResult> {
  await ctx.authorize({ interaction: 'delete', resourceType: type });
  await ctx.authorize({ interaction: 'search', resourceType: type });
  const condition = conditional(type, query.toString());
  const deleted = await ctx.atomic(async (tx) => {
    const found = await tx.search(type, { conditions: condition.conditions, count: 2 });
    if (found.resources.length > 1 || found.nextCursor !== undefined) throw new SwitchboardError('SWB_ERR_FHIR_MULTIPLE_MATCHES', { type });
    const match = found.resources[0];
    if (match?.id === undefined) return undefined;
    await ctx.consent?.check(tx, match, 'write');
    const outcome = await tx.delete(type, match.id);
    return outcome.outcome === 'deleted' ? { id: match.id, versionId: outcome.versionId } : undefined;
  });
  if (deleted === undefined) return { status: 204, write: true, message: `no ${type} matched; nothing was deleted` };
  return { status: 204, versionId: deleted.versionId, write: true, message: `deleted ${type}/${deleted.id}` };
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

function chainTargets(conditions: readonly SearchCondition[], out: Set<string>): Set<string> {
  for (const c of conditions) {
    if (c.kind === 'chain') {
      out.add(c.targetType);
      chainTargets([c.condition], out);
    }
  }
  return out;
}

function searchCompartment(type: string, query: SearchQuery): { patient: string } | undefined {
  if ((query.include?.length ?? 0) > 0 || (query.revinclude?.length ?? 0) > 0) return undefined;
  for (const c of query.conditions) {
    if (type === 'Patient' && c.kind === 'token' && c.param === '_id' && !c.not && c.values.length === 1 && c.values[0]?.code !== undefined && c.values[0].system === undefined) {
      return { patient: c.values[0].code };
    }
    if (type !== 'Patient' && c.kind === 'reference' && c.param === 'patient' && c.values.length === 1) {
      const v = c.values[0];
      if (v?.id !== undefined && (v.type === undefined || v.type === 'Patient')) return { patient: v.id };
    }
  }
  return undefined;
}

function link(baseUrl: string, path: string, params: URLSearchParams): string {
  const q = params.toString();
  return `${baseUrl}/${path}${q === '' ? '' : `?${q}`}`;
}

/** search.html: a searchset Bundle; `next` carries the store's cursor in the opaque `_cursor` parameter. */
export async function search(ctx: InteractionContext, type: string, params: URLSearchParams): Promise<FhirResult> {
  assertType(type);
  const ignored: string[] = [];
  const filtered = withoutWithheld(type, params, ctx.handling, ignored);
  const parsed = parseSearchQuery(type, filtered, { handling: ctx.handling });
  ignored.push(...parsed.ignored);
  const compartment = searchCompartment(type, parsed.query);
  await ctx.authorize({ interaction: 'search', resourceType: type, ...(compartment === undefined ? {} : { compartment }) });
  for (const target of chainTargets(parsed.query.conditions, new Set())) await ctx.authorize({ interaction: 'search', resourceType: target });
  for (const spec of parsed.query.revinclude ?? []) await ctx.authorize({ interaction: 'search', resourceType: spec.sourceType });
  // A search confined to one denied patient is refused outright (403), not answered empty.
  if (compartment !== undefined) await ctx.consent?.checkPatient(ctx.store, compartment.patient, type, 'read');
  const query: SearchQuery = { ...parsed.query, count: Math.min(parsed.query.count ?? DEFAULT_COUNT, MAX_COUNT) };
  let result = await ctx.store.search(type, query);
  // _include may bring in any type its parameter targets: authorize the types actually returned.
  for (const t of new Set(result.included.map((r) => r.resourceType))) await ctx.authorize({ interaction: 'search', resourceType: t });
  if (ctx.consent !== undefined) result = await withoutDenied(ctx.consent, ctx.store, result);
  return { status: 200, body: searchBundle(ctx.baseUrl, type, params, query, result, ignored) };
}

/** The page without denied patients' resources; a total that counted them is no longer known. */
async function withoutDenied(consent: ConsentGuard, store: ResourceStoreTx, result: SearchResult): Promise<SearchResult> {
  const resources = await consent.filter(store, result.resources);
  const included = await consent.filter(store, result.included);
  const removed = resources.length !== result.resources.length || included.length !== result.included.length;
  if (!removed) return result;
  const { total: _dropped, ...rest } = result;
  return { ...rest, resources, included };
}

function searchBundle(baseUrl: string, type: string, params: URLSearchParams, query: SearchQuery, result: SearchResult, ignored: readonly string[]): FhirResource {
  const self = new URLSearchParams([...params].filter(([k]) => k !== '_format'));
  const links = [{ relation: 'self', url: link(baseUrl, type, self) }];
  if (result.nextCursor !== undefined) {
    const next = new URLSearchParams([...self].filter(([k]) => k !== '_cursor'));
    next.set('_cursor', result.nextCursor);
    links.push({ relation: 'next', url: link(baseUrl, type, next) });
  }
  // search.html#total: counted when asked (_total, _summary=count) or free (a first page that holds everything).
  const total = result.total ?? (query.cursor === undefined && result.nextCursor === undefined && query.summary !== 'count' ? result.resources.length : undefined);
  const summary = query.summary === 'count' ? undefined : query.summary;
  const entry: Array<Record<string, unknown>> = [
    ...result.resources.map((r) => ({ fullUrl: `${baseUrl}/${r.resourceType}/${r.id ?? ''}`, resource: shapeResource(r, summary, query.elements), search: { mode: 'match' } })),
    ...result.included.map((r) => ({ fullUrl: `${baseUrl}/${r.resourceType}/${r.id ?? ''}`, resource: r, search: { mode: 'include' } })),
  ];
  if (ignored.length > 0) {
    entry.push({
      resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'warning', code: 'not-supported', diagnostics: `parameters ignored (Prefer: handling=lenient): ${ignored.join(', ')}` }] },
      search: { mode: 'outcome' },
    });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(total === undefined ? {} : { total }),
    link: links,
    ...(entry.length === 0 ? {} : { entry }),
  };
}

// ---------------------------------------------------------------------------------------------
// History (http.html#history)
// ---------------------------------------------------------------------------------------------

const HISTORY_PARAMETERS: ReadonlySet<string> = new Set(['_count', '_since', '_cursor']);

async function history(ctx: InteractionContext, scope: { type?: string; id?: string }, params: URLSearchParams): Promise<FhirResult> {
  const level = scope.id !== undefined ? 'instance' : scope.type !== undefined ? 'type' : 'system';
  await ctx.authorize({
    interaction: 'history',
    resourceType: scope.type ?? '*',
    level,
    ...(scope.id === undefined ? {} : { id: scope.id }),
    ...(scope.type !== undefined && scope.id !== undefined ? patientCompartment(scope.type, scope.id) : {}),
  });
  for (const key of params.keys()) {
    if (!HISTORY_PARAMETERS.has(key) && !GENERAL_PARAMETERS.has(key) && ctx.handling === 'strict') throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_PARAMETER', { type: scope.type ?? 'history', param: key });
  }
  const countText = params.get('_count');
  if (countText !== null && !/^\d{1,7}$/.test(countText)) throw invalidRequest('_count takes a non-negative integer');
  const count = Math.max(1, Math.min(MAX_COUNT, countText === null ? DEFAULT_COUNT : Number(countText)));
  const sinceText = params.get('_since');
  const since = sinceText === null ? undefined : new Date(sinceText);
  if (since !== undefined && (Number.isNaN(since.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(sinceText ?? ''))) throw invalidRequest('_since takes an instant (YYYY-MM-DDThh:mm:ss with a zone)');
  const cursor = params.get('_cursor') ?? undefined;
  if (scope.type !== undefined && scope.id !== undefined) {
    // The history of something that never existed is 404, not an empty Bundle.
    const current = ID_RE.test(scope.id) ? await ctx.store.read(scope.type, scope.id) : undefined;
    if (current === undefined) throw new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type: scope.type, id: scope.id });
    if (current.kind === 'resource') await ctx.consent?.check(ctx.store, current.resource, 'read');
  }
  if (ctx.history === undefined) throw invalidRequest('history is not available inside a transaction');
  let page = await ctx.history({
    ...(scope.type === undefined ? {} : { type: scope.type }),
    ...(scope.id === undefined ? {} : { id: scope.id }),
    ...(since === undefined ? {} : { since }),
    ...(cursor === undefined ? {} : { cursor }),
    count,
  });
  if (ctx.consent !== undefined) {
    // Versions of denied patients' resources leave the page; a tombstone carries no data and stays.
    const kept = new Set(await ctx.consent.filter(ctx.store, page.entries.flatMap((v) => (v.kind === 'resource' ? [v.resource] : []))));
    page = { ...page, entries: page.entries.filter((v) => v.kind !== 'resource' || kept.has(v.resource)) };
  }
  const path = scope.type === undefined ? '_history' : scope.id === undefined ? `${scope.type}/_history` : `${scope.type}/${scope.id}/_history`;
  const self = new URLSearchParams([...params].filter(([k]) => k !== '_format'));
  const links = [{ relation: 'self', url: link(ctx.baseUrl, path, self) }];
  if (page.nextCursor !== undefined) {
    const next = new URLSearchParams([...self].filter(([k]) => k !== '_cursor'));
    next.set('_cursor', page.nextCursor);
    links.push({ relation: 'next', url: link(ctx.baseUrl, path, next) });
  }
  const entry = page.entries.map((v) => {
    const lastModified = v.lastUpdated.toISOString();
    const etag = `W/"${v.versionId}"`;
    // The store keeps no request method: version 1 reads as a create, a tombstone as a delete.
    if (v.kind === 'deleted') {
      return { fullUrl: `${ctx.baseUrl}/${v.type}/${v.id}`, request: { method: 'DELETE', url: `${v.type}/${v.id}` }, response: { status: '204 No Content', etag, lastModified } };
    }
    const created = v.versionId === '1';
    return {
      fullUrl: `${ctx.baseUrl}/${v.type}/${v.id}`,
      resource: v.resource,
      request: created ? { method: 'POST', url: v.type } : { method: 'PUT', url: `${v.type}/${v.id}` },
      response: { status: created ? '201 Created' : '200 OK', etag, lastModified },
    };
  });
  return { status: 200, body: { resourceType: 'Bundle', type: 'history', link: links, ...(entry.length === 0 ? {} : { entry }) } };
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

function notAllowed(method: string, path: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_FHIR_METHOD_NOT_ALLOWED', { method, path });
}

/**
 * Runs one request. The system-level POST (a Bundle) is the caller's: the routes hand it to the
 * Bundle processor, which refuses it inside a Bundle.
 */
export async function execute(ctx: InteractionContext, request: FhirRequest): Promise<FhirResult> {
  const { method, target, query } = request;
  if (target.kind === 'metadata') {
    if (method !== 'GET') throw notAllowed(method, 'metadata');
    // The routes answer with the cached text (a read's `json`); the body is the same statement. Its
    // digest is the ETag (the `versionId` slot), so a client polling it gets 304 (RFC 9110 13.1.2).
    const tag = capabilityStatementTag(ctx.baseUrl);
    if (request.ifNoneMatch !== undefined && etagMatches(request.ifNoneMatch, tag)) return { status: 304, versionId: tag };
    return { status: 200, body: capabilityStatement(ctx.baseUrl) as unknown as FhirResource, json: capabilityStatementJson(ctx.baseUrl), versionId: tag };
  }
  if (target.kind === 'system') throw notAllowed(method, 'the base URL');
  if (target.kind === 'system-history') {
    if (method !== 'GET') throw notAllowed(method, '_history');
    return history(ctx, {}, query);
  }
  assertType(target.type);
  const type = target.type;
  switch (target.kind) {
    case 'type': {
      const hasQuery = [...query.keys()].some((k) => !GENERAL_PARAMETERS.has(k));
      if (method === 'GET') return search(ctx, type, query);
      if (method === 'POST') return create(ctx, type, request.body, request.ifNoneExist === undefined ? {} : { ifNoneExist: request.ifNoneExist });
      if (method === 'PUT' && hasQuery) return conditionalUpdate(ctx, type, withoutGeneral(query), request.body);
      if (method === 'DELETE' && hasQuery) return conditionalDelete(ctx, type, withoutGeneral(query));
      if (method === 'PUT' || method === 'DELETE') throw invalidRequest(`${method} on a type needs search parameters (a conditional ${method === 'PUT' ? 'update' : 'delete'})`);
      throw notAllowed(method, type);
    }
    case 'type-search':
      if (method !== 'POST') throw notAllowed(method, `${type}/_search`);
      return search(ctx, type, query);
    case 'type-history':
      if (method !== 'GET') throw notAllowed(method, `${type}/_history`);
      return history(ctx, { type }, query);
    case 'instance':
      if (method === 'GET') return read(ctx, type, target.id, query, request.ifNoneMatch);
      if (method === 'PUT') return update(ctx, type, target.id, request.body, request.ifMatch);
      if (method === 'DELETE') return remove(ctx, type, target.id, request.ifMatch);
      throw notAllowed(method, `${type}/[id]`);
    case 'instance-history':
      if (method !== 'GET') throw notAllowed(method, `${type}/[id]/_history`);
      return history(ctx, { type, id: target.id }, query);
    case 'version':
      if (method !== 'GET') throw notAllowed(method, `${type}/[id]/_history/[vid]`);
      return vread(ctx, type, target.id, target.versionId, query);
  }
}

function withoutGeneral(query: URLSearchParams): URLSearchParams {
  return new URLSearchParams([...query].filter(([k]) => !GENERAL_PARAMETERS.has(k)));
}

/** The body for a write under `Prefer: return=...` (http.html#ops); undefined: no body. */
export function preferredBody(result: FhirResult, preference: ReturnPreference | undefined): FhirResource | undefined {
  if (!result.write) return result.body;
  if (preference === 'minimal') return undefined;
  if (preference === 'OperationOutcome') return informationOutcome(result.message ?? 'done');
  return result.body;
}
