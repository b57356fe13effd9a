// Bundles POSTed to the base (FHIR R4 http.html#transaction): `transaction` runs every entry in one
// store transaction, all-or-nothing, in the FHIR processing order (DELETE, POST, PUT/PATCH, GET), with
// `urn:uuid:` fullUrls and conditional references resolved to the ids the entries got; `batch` runs each
// entry on its own and reports each outcome. Both answer with a *-response Bundle whose entries are in
// the order of the request.
import { SwitchboardError } from '../core/errors.ts';
import { newSortableId } from '../core/ids.ts';
import type { FhirResource, ResourceStore, ResourceStoreTx } from '../core/ports/resource-store.ts';
import { parseConditionalQuery } from './search-query.ts';
import {
  assertType,
  create,
  execute,
  parseTarget,
  preferredBody,
  type FhirRequest,
  type FhirResult,
  type InteractionContext,
  type ReturnPreference,
} from './fhir-interactions.ts';
import { asSwitchboardError, entryError, outcomeOf, statusLine } from './fhir-outcome.ts';

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

interface PlannedEntry {
  readonly index: number;
  readonly method: string;
  readonly url: string;
  readonly fullUrl: string | undefined;
  readonly resource: unknown;
  readonly ifMatch: string | undefined;
  readonly ifNoneExist: string | undefined;
  readonly ifNoneMatch: string | undefined;
}

const invalidBundle = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_FHIR_INVALID_BUNDLE', { reason });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function planEntry(entry: unknown, index: number): PlannedEntry {
  const at = `Bundle.entry[${index}]`;
  if (!isObject(entry)) throw invalidBundle(`${at} is not an object`);
  const request = entry['request'];
  if (!isObject(request)) throw invalidBundle(`${at}.request is missing`);
  const method = request['method'];
  const url = request['url'];
  if (typeof method !== 'string' || !METHODS.has(method)) throw invalidBundle(`${at}.request.method must be GET, HEAD, POST, PUT, PATCH or DELETE`);
  if (typeof url !== 'string' || url === '') throw invalidBundle(`${at}.request.url is missing`);
  return {
    index,
    method,
    url,
    fullUrl: optionalString(entry['fullUrl']),
    resource: entry['resource'],
    ifMatch: optionalString(request['ifMatch']),
    ifNoneExist: optionalString(request['ifNoneExist']),
    ifNoneMatch: optionalString(request['ifNoneMatch']),
  };
}

/** The entry's request.url as a FhirRequest (relative, or absolute under our base). */
function requestOf(plan: PlannedEntry, url: string, resource: unknown, baseUrl: string, ifNoneExist: string | undefined): FhirRequest {
  let relative = url;
  if (/^https?:\/\//.test(relative)) {
    if (!relative.startsWith(`${baseUrl}/`)) throw invalidBundle(`Bundle.entry[${plan.index}].request.url points at another server`);
    relative = relative.slice(baseUrl.length + 1);
  }
  const q = relative.indexOf('?');
  const path = q === -1 ? relative : relative.slice(0, q);
  const target = parseTarget(path);
  if (target === undefined || target.kind === 'system') throw invalidBundle(`Bundle.entry[${plan.index}].request.url is not a FHIR interaction URL`);
  return {
    method: plan.method === 'HEAD' ? 'GET' : plan.method,
    target,
    query: new URLSearchParams(q === -1 ? '' : relative.slice(q + 1)),
    body: resource,
    ...(plan.ifMatch === undefined ? {} : { ifMatch: plan.ifMatch }),
    ...(ifNoneExist === undefined ? {} : { ifNoneExist }),
    ...(plan.ifNoneMatch === undefined ? {} : { ifNoneMatch: plan.ifNoneMatch }),
  };
}

function entriesOf(bundle: Record<string, unknown>): unknown[] {
  const entries = bundle['entry'];
  if (entries === undefined) return [];
  if (!Array.isArray(entries)) throw invalidBundle('Bundle.entry must be an array');
  return entries;
}

/** The response entry for a result (http.html#transaction-response). */
function responseEntry(result: FhirResult, preference: ReturnPreference | undefined): Record<string, unknown> {
  const body = preferredBody(result, result.write ? (preference ?? 'minimal') : preference);
  return {
    ...(body === undefined || body.resourceType === 'OperationOutcome' ? {} : { resource: body }),
    response: {
      status: statusLine(result.status),
      ...(result.location === undefined ? {} : { location: result.location }),
      ...(result.versionId === undefined ? {} : { etag: `W/"${result.versionId}"` }),
      ...(result.lastUpdated === undefined ? {} : { lastModified: result.lastUpdated }),
      ...(body?.resourceType === 'OperationOutcome' ? { outcome: body } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reference resolution
// ---------------------------------------------------------------------------------------------

/**
 * A copy of `value` with every string that is a resolved fullUrl replaced by its `Type/id`
 * (references, and also uri elements such as Provenance.target's), and the fullUrls inside narrative
 * (`div`) rewritten (http.html#trules: "all references ... in the bundle").
 */
function rewrite(value: unknown, resolved: ReadonlyMap<string, string>, key?: string): unknown {
  if (typeof value === 'string') {
    const direct = resolved.get(value);
    if (direct !== undefined) return direct;
    if (key === 'div' && value.includes('urn:')) {
      let out = value;
      for (const [from, to] of resolved) if (out.includes(from)) out = out.replaceAll(from, to);
      return out;
    }
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => rewrite(v, resolved));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = rewrite(v, resolved, k);
    return out;
  }
  return value;
}

/** A URL or query with resolved fullUrls substituted (raw or percent-encoded). */
function rewriteText(text: string, resolved: ReadonlyMap<string, string>): string {
  if (!text.includes('urn')) return text;
  let out = text;
  for (const [from, to] of resolved) {
    if (out.includes(from)) out = out.replaceAll(from, to);
    const encoded = encodeURIComponent(from);
    if (out.includes(encoded)) out = out.replaceAll(encoded, encodeURIComponent(to));
  }
  return out;
}

/** Every Reference.reference string in a resource. */
function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else if (typeof v === 'object') referencesIn(v, out);
    }
  }
  return out;
}

const CONDITIONAL_REFERENCE = /^([A-Z][A-Za-z]{0,63})\?(.+)$/;

/**
 * http.html#trules: a conditional reference (`Patient?identifier=...`) is replaced by the one resource
 * it matches; none or several fail the transaction. A `urn:uuid:` that no entry declares fails it too.
 */
async function resolveReferences(ctx: InteractionContext, tx: ResourceStoreTx, resource: unknown, index: number): Promise<unknown> {
  const found = new Map<string, string>();
  for (const ref of referencesIn(resource)) {
    if (ref.startsWith('urn:uuid:') || ref.startsWith('urn:oid:')) throw invalidBundle(`Bundle.entry[${index}] refers to a ${ref.slice(0, 8)} that no entry of the Bundle declares as its fullUrl`);
    const m = CONDITIONAL_REFERENCE.exec(ref);
    if (m === null || found.has(ref)) continue;
    const type = m[1] as string;
    assertType(type);
    await ctx.authorize({ interaction: 'search', resourceType: type });
    const query = parseConditionalQuery(type, m[2] as string);
    const result = await tx.search(type, { conditions: query.conditions, count: 2 });
    const match = result.resources[0];
    if (result.resources.length !== 1 || match?.id === undefined) {
      throw new SwitchboardError(result.resources.length > 1 ? 'SWB_ERR_FHIR_MULTIPLE_MATCHES' : 'SWB_ERR_FHIR_INVALID_BUNDLE', result.resources.length > 1 ? { type } : { reason: `Bundle.entry[${index}] has a conditional reference to ${type} that matches nothing` });
    }
    found.set(ref, `${type}/${match.id}`);
  }
  return found.size === 0 ? resource : rewrite(resource, found);
}

// ---------------------------------------------------------------------------------------------
// transaction and batch
// ---------------------------------------------------------------------------------------------

function typeOfUrl(url: string): string | undefined {
  const m = /^(?:https?:\/\/[^?]*\/)?([A-Z][A-Za-z]{0,63})(?:[/?]|$)/.exec(url);
  return m?.[1];
}

function instanceKey(plan: PlannedEntry): string | undefined {
  const m = /^([A-Z][A-Za-z]{0,63})\/([A-Za-z0-9\-.]{1,64})$/.exec(plan.url.replace(/^https?:\/\/.*?\/(?=[A-Z][A-Za-z]*\/)/, ''));
  return m === null ? undefined : `${m[1] ?? ''}/${m[2] ?? ''}`;
}

async function transaction(ctx: InteractionContext, store: ResourceStore, entries: readonly unknown[], preference: ReturnPreference | undefined, requestId: string): Promise<FhirResource> {
  const plans = entries.map(planEntry);
  // http.html#transaction: one resource may be touched by one entry only.
  const touched = new Set<string>();
  for (const p of plans) {
    if (p.method === 'GET' || p.method === 'HEAD') continue;
    const key = instanceKey(p);
    if (key === undefined) continue;
    if (touched.has(key)) throw invalidBundle(`Bundle.entry[${p.index}] touches a resource another entry already touches`);
    touched.add(key);
  }
  const fullUrls = new Set<string>();
  for (const p of plans) {
    if (p.fullUrl === undefined) continue;
    if (fullUrls.has(p.fullUrl)) throw invalidBundle(`Bundle.entry[${p.index}].fullUrl repeats another entry's`);
    fullUrls.add(p.fullUrl);
  }

  // Ids are allocated ahead for plain creates, so every reference to them can be rewritten before
  // any entry runs; a conditional create's id is known only once it ran (it may find an existing one).
  const resolved = new Map<string, string>();
  const allocated = new Map<number, string>();
  for (const p of plans) {
    const type = typeOfUrl(p.url);
    if (type === undefined) continue;
    if (p.method === 'POST' && p.ifNoneExist === undefined && !p.url.includes('/_search')) {
      const id = newSortableId().toLowerCase();
      allocated.set(p.index, id);
      if (p.fullUrl !== undefined) resolved.set(p.fullUrl, `${type}/${id}`);
    } else if (p.method === 'PUT' && p.fullUrl !== undefined) {
      const key = instanceKey(p);
      if (key !== undefined) resolved.set(p.fullUrl, key);
    }
  }
  const conditionalCreates = plans.filter((p) => p.method === 'POST' && p.ifNoneExist !== undefined);
  const pendingUrls = new Set(conditionalCreates.map((p) => p.fullUrl).filter((u): u is string => u !== undefined));
  // http.html#trules: DELETE, then POST, then PUT/PATCH, then GET/HEAD.
  const deletes = plans.filter((p) => p.method === 'DELETE');
  const afterCreates = [
    ...plans.filter((p) => p.method === 'POST' && p.ifNoneExist === undefined),
    ...plans.filter((p) => p.method === 'PUT' || p.method === 'PATCH'),
    ...plans.filter((p) => p.method === 'GET' || p.method === 'HEAD'),
  ];

  const results: FhirResult[] = [];
  await store.transaction(async (tx) => {
    const txCtx: InteractionContext = { ...ctx, store: tx, atomic: (work) => work(tx), history: undefined };
    const run = async (p: PlannedEntry): Promise<void> => {
      const what = `${p.method} ${typeOfUrl(p.url) ?? 'entry'}`;
      try {
        const resource = p.resource === undefined ? undefined : await resolveReferences(txCtx, tx, rewrite(p.resource, resolved), p.index);
        const ifNoneExist = p.ifNoneExist === undefined ? undefined : rewriteText(p.ifNoneExist, resolved);
        const request = requestOf(p, rewriteText(p.url, resolved), resource, ctx.baseUrl, ifNoneExist);
        const id = allocated.get(p.index);
        let result: FhirResult;
        if (request.method === 'POST' && request.target.kind === 'type') {
          // The create of execute(), with the id allocated ahead for urn:uuid resolution.
          result = await create(txCtx, request.target.type, resource, { ...(ifNoneExist === undefined ? {} : { ifNoneExist }), ...(id === undefined ? {} : { id }) });
        } else {
          result = await execute(txCtx, request);
        }
        results[p.index] = result;
        if (p.fullUrl !== undefined && p.fullUrl !== '' && result.body?.id !== undefined && !resolved.has(p.fullUrl)) {
          resolved.set(p.fullUrl, `${result.body.resourceType}/${result.body.id}`);
          pendingUrls.delete(p.fullUrl);
        }
      } catch (error) {
        throw entryError(asSwitchboardError(error, requestId), p.index, what);
      }
    };
    for (const p of deletes) await run(p);
    // Conditional creates, each once the conditional creates it refers to have run (a cycle runs in
    // bundle order and fails on the reference it cannot resolve).
    const waiting = [...conditionalCreates];
    while (waiting.length > 0) {
      const ready = waiting.findIndex((p) => ![...pendingUrls].some((u) => u !== p.fullUrl && JSON.stringify([p.resource, p.ifNoneExist]).includes(u)));
      const [next] = waiting.splice(ready === -1 ? 0 : ready, 1);
      if (next !== undefined) await run(next);
    }
    for (const p of afterCreates) await run(p);
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction-response',
    entry: plans.map((p) => {
      const r = results[p.index];
      return r === undefined ? { response: { status: '200 OK' } } : responseEntry(r, preference);
    }),
  };
}

async function batch(ctx: InteractionContext, entries: readonly unknown[], preference: ReturnPreference | undefined, requestId: string): Promise<FhirResource> {
  const out: Array<Record<string, unknown>> = [];
  for (let index = 0; index < entries.length; index++) {
    try {
      const plan = planEntry(entries[index], index);
      // Batch entries are independent (http.html#brules): no urn:uuid resolution between them.
      const request = requestOf(plan, plan.url, plan.resource, ctx.baseUrl, plan.ifNoneExist);
      out.push(responseEntry(await execute(ctx, request), preference));
    } catch (error) {
      const e = asSwitchboardError(error, requestId);
      out.push({ response: { status: statusLine(e.httpStatus), outcome: outcomeOf(e) } });
    }
  }
  return { resourceType: 'Bundle', type: 'batch-response', entry: out };
}

/** POST [base] with a Bundle of type transaction or batch. */
export async function processBundle(ctx: InteractionContext, store: ResourceStore, body: unknown, preference: ReturnPreference | undefined, requestId: string): Promise<FhirResource> {
  if (!isObject(body) || body['resourceType'] !== 'Bundle') throw new SwitchboardError('SWB_ERR_FHIR_INVALID_REQUEST', { reason: 'POST to the base takes a Bundle' });
  const type = body['type'];
  const entries = entriesOf(body);
  if (type === 'transaction') return transaction(ctx, store, entries, preference, requestId);
  if (type === 'batch') return batch(ctx, entries, preference, requestId);
  throw invalidBundle('Bundle.type must be transaction or batch');
}
