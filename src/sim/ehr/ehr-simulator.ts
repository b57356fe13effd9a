import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_SIM_SCOPES, SimAuth, SIM_ASSERTION_ALGS, type SimAccessToken, type SimClientInput } from './sim-auth.ts';
import { parseSimFault, SimFaults, type SimFault } from './sim-faults.ts';
import { applyJsonPatch, JsonPatchError } from '../../fhir/json-patch.ts';
import { isSimProfileName, SIM_READABLE_TYPES, simProfile, type SimProfile, type SimProfileName } from './sim-profiles.ts';
import { seedResources } from './sim-seed.ts';
import { SimStore, type SimResource, type SimWrite, type TokenMatch } from './sim-store.ts';

export type { SimFault } from './sim-faults.ts';
export type { SimWrite } from './sim-store.ts';
export type { SimProfileName } from './sim-profiles.ts';

/**
 * A FHIR R4 EHR to write back to, for tests and the demo (issue 6 "EHR simulators"): a real HTTP
 * server with its own SMART Backend Services token endpoint, seeded patients and encounters, the
 * write rules of a vendor profile (sim-profiles.ts), and fault injection (sim-faults.ts). Resources
 * live in memory with their version history. The `/_sim` control API is unauthenticated: this is
 * a test tool, never to be exposed beyond a lab.
 */

export interface EhrSimulatorOptions {
  profile: SimProfileName;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Lifetime of issued access tokens; default 300 s. */
  tokenTtlSeconds?: number;
  /** Seed pat-1..3 and enc-1..3 (default true); `reset()` seeds again. */
  seed?: boolean;
}

export interface SimDriftInput {
  resourceType: string;
  id: string;
  action: 'edit' | 'delete';
  /** For `edit`: top-level elements to set (null removes the element). */
  set?: Record<string, unknown>;
}

export interface EhrSimulator {
  url: string;
  /** url + '/fhir/R4' */
  fhirBase: string;
  /** url + '/oauth2/token' */
  tokenUrl: string;
  registerClient(input: SimClientInput): void;
  addFault(fault: SimFault): void;
  clearFaults(): void;
  /** Changes a resource behind the client's back: a new version (edit) or a deletion. */
  drift(input: SimDriftInput): void;
  /** Every write a client applied (not drift, not seeding), oldest first. */
  writes(): SimWrite[];
  /** The current copy, undefined when absent or deleted. */
  resource(type: string, id: string): object | undefined;
  /** Back to the seeded data; clears writes and faults (registered clients and tokens stay). */
  reset(): void;
  close(): Promise<void>;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const JSON_PATCH = 'application/json-patch+json';
const TYPE_RE = /^[A-Z][A-Za-z]{1,63}$/;
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
const pkgVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** What an interaction answers; `body` undefined is an empty body. */
interface SimResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
}

type IssueCode = 'invalid' | 'structure' | 'required' | 'value' | 'business-rule' | 'conflict' | 'not-found' | 'deleted' | 'not-supported' | 'security' | 'login' | 'forbidden' | 'processing' | 'transient' | 'throttled' | 'exception' | 'multiple-matches' | 'informational';

/** An OperationOutcome answer (FHIR R4 operationoutcome.html); diagnostics never carry resource values. */
function outcome(status: number, code: IssueCode, diagnostics: string, expression?: string, headers?: Record<string, string>): SimResponse {
  return {
    status,
    ...(headers === undefined ? {} : { headers }),
    body: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: status < 400 ? 'information' : 'error', code, diagnostics, ...(expression === undefined ? {} : { expression: [expression] }) }],
    },
  };
}

/** Parses If-Match: `W/"3"` or `"3"` (FHIR R4 http.html#concurrency uses weak ETags). */
function etagVersion(value: string): string | undefined {
  const m = /^\s*(?:W\/)?"([^"]*)"\s*$/.exec(value);
  return m?.[1];
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `Prefer: return=...` (RFC 7240; FHIR R4 http.html#ops). */
function preferReturn(req: FastifyRequest): 'minimal' | 'representation' | 'OperationOutcome' | undefined {
  const m = /(?:^|[,;\s])return=(minimal|representation|OperationOutcome)\b/.exec(header(req, 'prefer') ?? '');
  return m?.[1] as 'minimal' | 'representation' | 'OperationOutcome' | undefined;
}

function referenceMatches(ref: unknown, targetType: string | undefined, values: readonly string[]): boolean {
  if (typeof ref !== 'object' || ref === null) return false;
  const r = (ref as { reference?: unknown }).reference;
  if (typeof r !== 'string') return false;
  // `patient=pat-1`, `patient=Patient/pat-1` and absolute URLs all name the same target
  // (R4 search.html#reference); a reference without a type matches any type.
  const parts = r.split('/');
  const refId = parts[parts.length - 1];
  const refType = parts[parts.length - 2];
  return values.some((v) => {
    const vp = v.split('/');
    const wantId = vp[vp.length - 1];
    const wantType = vp.length >= 2 ? vp[vp.length - 2] : targetType;
    return refId === wantId && (wantType === undefined || refType === undefined || refType === wantType);
  });
}

function identifierMatches(resource: SimResource, values: readonly string[]): boolean {
  const raw = resource['identifier'];
  const ids = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((x): x is { system?: unknown; value?: unknown } => typeof x === 'object' && x !== null);
  return values.some((token) => {
    // Token search (R4 search.html#token): system|value, |value (no system), system|, or value.
    const bar = token.indexOf('|');
    if (bar === -1) return ids.some((i) => i.value === token);
    const system = token.slice(0, bar);
    const value = token.slice(bar + 1);
    return ids.some((i) => (system === '' ? i.system === undefined : i.system === system) && (value === '' || i.value === value));
  });
}

/** The search parameters the simulator understands; any other parameter is ignored (R4 search.html#errors, lenient handling). */
function searchTests(query: URLSearchParams): { tests: TokenMatch[]; used: URLSearchParams } {
  const tests: TokenMatch[] = [];
  const used = new URLSearchParams();
  for (const [name, value] of query) {
    const values = value.split(',').filter((v) => v !== '');
    if (values.length === 0) continue;
    switch (name) {
      case '_id':
        tests.push((r) => values.includes(r.id));
        break;
      case 'identifier':
        tests.push((r) => identifierMatches(r, values));
        break;
      case 'patient':
        tests.push((r) => referenceMatches(r['patient'], 'Patient', values) || referenceMatches(r['subject'], 'Patient', values));
        break;
      case 'subject':
        tests.push((r) => referenceMatches(r['subject'], undefined, values));
        break;
      default:
        continue;
    }
    used.append(name, value);
  }
  return { tests, used };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startEhrSimulator(options: EhrSimulatorOptions): Promise<EhrSimulator> {
  if (!isSimProfileName(options.profile)) throw new RangeError(`profile must be one of epic, oracle-health, generic; got ${String(options.profile)}`);
  const profile: SimProfile = simProfile(options.profile);
  const ttl = options.tokenTtlSeconds ?? 300;
  if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError('tokenTtlSeconds must be a positive integer');
  const seed = options.seed ?? true;
  const host = options.host ?? '127.0.0.1';

  const store = new SimStore();
  const faults = new SimFaults();
  const auth = new SimAuth({ tokenTtlSeconds: ttl });
  const reseed = (): void => {
    store.clear();
    faults.clear();
    if (seed) for (const r of seedResources()) store.put(r, new Date('2024-01-01T00:00:00Z'));
  };
  reseed();

  // Filled in once the port is known.
  let url = '';
  let fhirBase = '';
  let tokenUrl = '';

  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 16 * 1024 * 1024 });
  const parseJson = (_req: FastifyRequest, text: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    try {
      done(null, JSON.parse(String(text)));
    } catch {
      done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }));
    }
  };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/fhir+json', 'application/json', 'application/json+fhir', JSON_PATCH], { parseAs: 'string' }, parseJson);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, text, done) => done(null, new URLSearchParams(String(text))));

  const isFhirPath = (u: string): boolean => u.startsWith('/fhir/');
  app.setErrorHandler((error: { statusCode?: number; message?: string }, req, reply) => {
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    const diagnostics = status === 500 ? 'internal error in the simulator' : (error.message ?? 'bad request');
    if (isFhirPath(req.url)) return send(reply, outcome(status, status === 415 ? 'not-supported' : status >= 500 ? 'exception' : 'invalid', diagnostics));
    return reply.code(status).send({ error: diagnostics });
  });
  app.setNotFoundHandler((req, reply) => {
    if (isFhirPath(req.url)) return send(reply, outcome(404, 'not-supported', 'no such endpoint in this simulator'));
    return reply.code(404).send({ error: 'not found' });
  });

  const handlingStarted = new WeakMap<FastifyReply, number>();

  function send(reply: FastifyReply, r: SimResponse): FastifyReply {
    reply.code(r.status);
    const started = handlingStarted.get(reply);
    if (started !== undefined) reply.header('server-timing', `sim;dur=${(performance.now() - started).toFixed(2)}`);
    for (const [k, v] of Object.entries(r.headers ?? {})) reply.header(k, v);
    if (r.body === undefined) return reply.send();
    return reply.type(FHIR_JSON).send(JSON.stringify(r.body));
  }

  /** Cuts the connection with no HTTP answer at all: the client sees a reset (ECONNRESET). */
  function resetConnection(req: FastifyRequest, reply: FastifyReply): void {
    reply.hijack();
    req.raw.socket.resetAndDestroy();
  }

  // ---- discovery ----------------------------------------------------------------------------

  const smartConfiguration = (): object => ({
    // SMART App Launch 2.x conformance/index.html: what a backend-services client needs.
    token_endpoint: tokenUrl,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...SIM_ASSERTION_ALGS],
    scopes_supported: [...DEFAULT_SIM_SCOPES, 'system/*.rs', 'system/*.cud', 'system/*.cruds'],
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
  });
  app.get('/.well-known/smart-configuration', async () => smartConfiguration());
  app.get('/fhir/R4/.well-known/smart-configuration', async () => smartConfiguration());

  const capabilityStatement = (): object => {
    const types = [...new Set([...SIM_READABLE_TYPES, ...profile.writable.keys()])].sort();
    const searchParam = [
      { name: '_id', type: 'token' },
      { name: 'identifier', type: 'token' },
      { name: 'patient', type: 'reference' },
      { name: 'subject', type: 'reference' },
    ];
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date().toISOString(),
      kind: 'instance',
      software: { name: 'Switchboard EHR simulator', version: pkgVersion },
      implementation: { description: profile.title, url: fhirBase },
      fhirVersion: '4.0.1',
      format: ['application/fhir+json', 'json'],
      ...(profile.writable.size > 0 && [...profile.writable.values()].some((i) => i.includes('patch')) ? { patchFormat: [JSON_PATCH] } : {}),
      rest: [
        {
          mode: 'server',
          security: {
            // SMART App Launch 2.x conformance: the oauth-uris extension names the token endpoint.
            extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: tokenUrl }] }],
            service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
          },
          resource: types.map((type) => {
            const writes = profile.writable.get(type) ?? [];
            const interaction = ['read', 'vread', 'search-type', ...writes].map((code) => ({ code }));
            return {
              type,
              interaction,
              versioning: writes.includes('update') || writes.includes('patch') ? 'versioned-update' : 'versioned',
              readHistory: false,
              updateCreate: profile.updateCreate && writes.includes('update'),
              conditionalCreate: profile.conditionalCreate && writes.includes('create'),
              conditionalUpdate: false,
              conditionalDelete: 'not-supported',
              searchParam,
            };
          }),
        },
      ],
    };
  };
  app.get('/fhir/R4/metadata', async (_req, reply) => send(reply, { status: 200, body: capabilityStatement() }));

  // ---- SMART backend token endpoint -----------------------------------------------------------

  app.post('/oauth2/token', async (req, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    if (!(req.body instanceof URLSearchParams)) {
      return reply.code(400).send({ error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
    }
    const audiences = [tokenUrl];
    const hostHeader = header(req, 'host');
    if (hostHeader !== undefined) audiences.push(`http://${hostHeader}/oauth2/token`);
    const result = await auth.issueToken(req.body, audiences);
    if (!result.ok) return reply.code(result.error.status).send({ error: result.error.error, error_description: result.error.description });
    return reply.code(200).send(result.body);
  });

  // ---- FHIR interactions ----------------------------------------------------------------------

  type Interaction = 'read' | 'vread' | 'search' | 'create' | 'update' | 'patch' | 'delete';
  const PERM: Record<Interaction, 'c' | 'r' | 'u' | 'd' | 's'> = { read: 'r', vread: 'r', search: 's', create: 'c', update: 'u', patch: 'u', delete: 'd' };

  const locationOf = (type: string, id: string, versionId: string): string => `${fhirBase}/${type}/${id}/_history/${versionId}`;
  const versionHeaders = (r: SimResource): Record<string, string> => {
    const meta = r['meta'] as { versionId: string; lastUpdated: string };
    return { etag: `W/"${meta.versionId}"`, 'last-modified': new Date(meta.lastUpdated).toUTCString() };
  };

  /** The answer to a successful write, shaped by Prefer and the profile. */
  function written(req: FastifyRequest, status: 200 | 201, stored: SimResource): SimResponse {
    const meta = stored['meta'] as { versionId: string };
    const headers = { ...versionHeaders(stored), location: locationOf(stored.resourceType, stored.id, meta.versionId) };
    const asked = preferReturn(req);
    const choice = asked === undefined || !profile.honoursPrefer ? profile.defaultReturn : asked;
    if (choice === 'representation') return { status, headers, body: stored };
    if (choice === 'OperationOutcome') return { status, headers, body: outcome(status, 'informational', 'the write was applied').body };
    return { status, headers };
  }

  function recordWrite(req: FastifyRequest, method: string, stored: SimResource): void {
    const requestId = header(req, 'x-request-id');
    store.recordWrite({
      method,
      resourceType: stored.resourceType,
      id: stored.id,
      versionId: (stored['meta'] as { versionId: string }).versionId,
      at: new Date().toISOString(),
      ...(requestId === undefined ? {} : { requestId }),
    });
  }

  function checkBody(body: unknown, type: string): { ok: true; resource: SimResource } | { ok: false; response: SimResponse } {
    if (!isObject(body)) return { ok: false, response: outcome(400, 'structure', 'the body must be a FHIR resource (a JSON object)') };
    if (body['resourceType'] !== type) return { ok: false, response: outcome(400, 'invalid', `resourceType must be ${type}`, 'resourceType') };
    return { ok: true, resource: body as SimResource };
  }

  /** The version check of an update or patch (FHIR R4 http.html#concurrency). */
  function checkVersion(req: FastifyRequest, type: string, current: SimResource): SimResponse | undefined {
    const ifMatch = header(req, 'if-match');
    if (ifMatch === undefined) {
      return profile.requireIfMatch ? outcome(428, 'business-rule', 'this EHR requires If-Match on updates', `${type}`) : undefined;
    }
    const want = etagVersion(ifMatch);
    const have = (current['meta'] as { versionId: string }).versionId;
    if (want !== have) return outcome(profile.staleStatus, 'conflict', `the resource has changed: If-Match names version ${want ?? '(unreadable)'}, the current version is ${have}`);
    return undefined;
  }

  function ruleCheck(resource: SimResource): SimResponse | undefined {
    const v = profile.check(resource);
    return v === undefined ? undefined : outcome(422, 'business-rule', v.diagnostics, v.expression);
  }

  const notAllowed = (interaction: string, type: string): SimResponse =>
    outcome(405, 'not-supported', `${interaction} of ${type} is not supported by the ${profile.name} profile`);

  function interact(req: FastifyRequest, interaction: Interaction, type: string, id: string | undefined, vid: string | undefined): SimResponse {
    switch (interaction) {
      case 'read': {
        const latest = store.latest(type, id as string);
        if (latest === undefined) return outcome(404, 'not-found', `${type}/${id} is not known`);
        if (latest.resource === null) return outcome(410, 'deleted', `${type}/${id} was deleted`);
        return { status: 200, headers: versionHeaders(latest.resource), body: latest.resource };
      }
      case 'vread': {
        const v = store.version(type, id as string, vid as string);
        if (v === undefined) return outcome(404, 'not-found', `${type}/${id} has no version ${vid}`);
        if (v.resource === null) return outcome(410, 'deleted', `version ${vid} of ${type}/${id} is a deletion`);
        return { status: 200, headers: versionHeaders(v.resource), body: v.resource };
      }
      case 'search': {
        const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
        const { tests, used } = searchTests(query);
        const found = store.search(type, tests);
        const qs = used.toString();
        return {
          status: 200,
          body: {
            resourceType: 'Bundle',
            type: 'searchset',
            total: found.length,
            link: [{ relation: 'self', url: `${fhirBase}/${type}${qs === '' ? '' : `?${qs}`}` }],
            entry: found.map((r) => ({ fullUrl: `${fhirBase}/${type}/${r.id}`, resource: r, search: { mode: 'match' } })),
          },
        };
      }
      case 'create': {
        if (!profile.canWrite(type, 'create')) return notAllowed('create', type);
        const body = checkBody(req.body, type);
        if (!body.ok) return body.response;
        const resource = body.resource;
        const broken = ruleCheck(resource);
        if (broken !== undefined) return broken;
        const ifNoneExist = header(req, 'if-none-exist');
        if (profile.conditionalCreate && ifNoneExist !== undefined) {
          // R4 http.html#ccreate: one match -> 200 with it (nothing created); several -> 412.
          const { tests } = searchTests(new URLSearchParams(ifNoneExist.replace(/^[^?]*\?/, '')));
          // Creating anyway would silently duplicate: refuse a condition the simulator cannot evaluate.
          if (tests.length === 0) return outcome(400, 'not-supported', 'If-None-Exist names no search parameter this server supports (_id, identifier, patient, subject)');
          const matches = store.search(type, tests);
          if (matches.length > 1) return outcome(412, 'multiple-matches', `If-None-Exist matches ${matches.length} resources`);
          const match = matches[0];
          if (match !== undefined) return written(req, 200, match);
        }
        // The server assigns the id (R4 http.html#create); an id in the body is ignored.
        const stored = store.put({ ...resource, id: store.newId() });
        recordWrite(req, 'POST', stored);
        return written(req, 201, stored);
      }
      case 'update': {
        if (!profile.canWrite(type, 'update')) return notAllowed('update', type);
        const body = checkBody(req.body, type);
        if (!body.ok) return body.response;
        const resource = body.resource;
        // R4 http.html#update: the body's id must be the URL's id.
        if (resource.id !== id) return outcome(400, 'invalid', 'the resource id must equal the id in the URL', `${type}.id`);
        const latest = store.latest(type, id);
        const current = latest?.resource ?? undefined;
        if (current === undefined && !profile.updateCreate) return outcome(latest === undefined ? 404 : 410, latest === undefined ? 'not-found' : 'deleted', `${type}/${id} is not there to update`);
        if (current === undefined && header(req, 'if-match') !== undefined) return outcome(profile.staleStatus, 'conflict', `${type}/${id} does not exist, so If-Match cannot match`);
        if (current !== undefined) {
          const stale = checkVersion(req, type, current);
          if (stale !== undefined) return stale;
        }
        const broken = ruleCheck(resource);
        if (broken !== undefined) return broken;
        const stored = store.put(resource);
        recordWrite(req, 'PUT', stored);
        return written(req, current === undefined ? 201 : 200, stored);
      }
      case 'patch': {
        if (!profile.canWrite(type, 'patch')) return notAllowed('patch', type);
        const contentType = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
        if (contentType !== JSON_PATCH) return outcome(415, 'not-supported', `PATCH needs Content-Type ${JSON_PATCH} (RFC 6902)`);
        const latest = store.latest(type, id as string);
        const current = latest?.resource ?? undefined;
        if (current === undefined) return outcome(latest === undefined ? 404 : 410, latest === undefined ? 'not-found' : 'deleted', `${type}/${id} is not there to patch`);
        const stale = checkVersion(req, type, current);
        if (stale !== undefined) return stale;
        let patched: unknown;
        try {
          patched = applyJsonPatch(current, req.body);
        } catch (e) {
          if (e instanceof JsonPatchError) return outcome(422, 'processing', `the patch cannot be applied: ${e.message}`);
          throw e;
        }
        if (!isObject(patched) || patched['resourceType'] !== type || patched['id'] !== id) return outcome(422, 'processing', 'a patch may not change resourceType or id');
        const broken = ruleCheck(patched as SimResource);
        if (broken !== undefined) return broken;
        const stored = store.put(patched as SimResource);
        recordWrite(req, 'PATCH', stored);
        return written(req, 200, stored);
      }
      case 'delete':
        return notAllowed('delete', type);
    }
  }

  async function handle(req: FastifyRequest, reply: FastifyReply, interaction: Interaction, params: { type: string; id?: string; vid?: string }): Promise<FastifyReply | undefined> {
    const { type, id, vid } = params;
    // W3C Server Timing: the simulator's own handling time (injected latency included), so that
    // a benchmark can subtract it from what its client measured.
    handlingStarted.set(reply, performance.now());
    if (!TYPE_RE.test(type)) return send(reply, outcome(404, 'not-supported', 'unknown resource type'));
    if ((id !== undefined && !ID_RE.test(id)) || (vid !== undefined && !ID_RE.test(vid))) return send(reply, outcome(400, 'invalid', 'invalid id'));
    // RFC 6750 3: a missing or bad token is 401 with a WWW-Authenticate challenge.
    const bearer = auth.checkBearer(header(req, 'authorization'));
    if (!bearer.ok) {
      const challenge = header(req, 'authorization') === undefined ? 'Bearer' : `Bearer error="invalid_token", error_description="${bearer.reason}"`;
      return send(reply, outcome(401, 'login', bearer.reason, undefined, { 'www-authenticate': challenge }));
    }
    const token: SimAccessToken = bearer.token;
    if (!SimAuth.allows(token, type, PERM[interaction])) {
      return send(reply, outcome(403, 'forbidden', `the granted scopes do not allow ${interaction} on ${type}`, undefined, { 'www-authenticate': 'Bearer error="insufficient_scope"' }));
    }

    const method = req.method.toUpperCase();
    const hasIfMatch = header(req, 'if-match') !== undefined && id !== undefined && store.current(type, id) !== undefined;
    const fault = faults.take({ method, resourceType: type, ifMatch: hasIfMatch });
    let resetAfter = false;
    if (fault !== undefined) {
      switch (fault.kind) {
        case 'latency':
          await sleep(fault.latencyMs ?? 0);
          break;
        case 'status': {
          const status = fault.status ?? 503;
          const headers: Record<string, string> = fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
          const code: IssueCode = status === 429 ? 'throttled' : status >= 500 ? 'transient' : 'processing';
          return send(reply, outcome(status, code, `injected fault: status ${status}`, undefined, headers));
        }
        case 'reset-before-apply':
          resetConnection(req, reply);
          return undefined;
        case 'reset-after-apply':
          resetAfter = true;
          break;
        case 'stale-version': {
          // Someone else saved a new version just before this request: same content, version + 1.
          const current = store.current(type, id as string);
          if (current !== undefined) store.put(current);
          break;
        }
      }
    }
    const response = interact(req, interaction, type, id, vid);
    if (resetAfter) {
      resetConnection(req, reply);
      return undefined;
    }
    if (req.headers['x-request-id'] !== undefined) reply.header('x-request-id', header(req, 'x-request-id') ?? '');
    return send(reply, response);
  }

  type P = { Params: { type: string; id?: string; vid?: string } };
  app.get<P>('/fhir/R4/:type', (req, reply) => handle(req, reply, 'search', req.params));
  app.post<P>('/fhir/R4/:type', (req, reply) => handle(req, reply, 'create', req.params));
  app.get<P>('/fhir/R4/:type/:id', (req, reply) => handle(req, reply, 'read', req.params));
  app.put<P>('/fhir/R4/:type/:id', (req, reply) => handle(req, reply, 'update', req.params));
  app.patch<P>('/fhir/R4/:type/:id', (req, reply) => handle(req, reply, 'patch', req.params));
  app.delete<P>('/fhir/R4/:type/:id', (req, reply) => handle(req, reply, 'delete', req.params));
  app.get<P>('/fhir/R4/:type/:id/_history/:vid', (req, reply) => handle(req, reply, 'vread', req.params));

  // ---- simulator API (the same operations over HTTP) ------------------------------------------

  const drift = (input: SimDriftInput): void => {
    if (!isObject(input) || typeof input.resourceType !== 'string' || typeof input.id !== 'string') throw new RangeError('drift needs resourceType and id');
    const current = store.current(input.resourceType, input.id);
    if (current === undefined) throw new RangeError(`no current ${input.resourceType}/${input.id} to drift`);
    if (input.action === 'delete') {
      store.delete(input.resourceType, input.id);
      return;
    }
    if (input.action !== 'edit') throw new RangeError("drift action must be 'edit' or 'delete'");
    const set = input.set ?? {};
    if (!isObject(set)) throw new RangeError('drift set must be an object of top-level elements');
    const next: SimResource = { ...current };
    for (const [k, v] of Object.entries(set)) {
      if (k === 'resourceType' || k === 'id') throw new RangeError(`drift may not change ${k}`);
      if (v === null || v === undefined) delete next[k];
      else next[k] = structuredClone(v);
    }
    store.put(next);
  };

  const controlError = (reply: FastifyReply, e: unknown, status = 400): FastifyReply => reply.code(status).send({ error: e instanceof Error ? e.message : String(e) });

  app.post('/_sim/clients', async (req, reply) => {
    try {
      auth.registerClient(req.body as SimClientInput);
    } catch (e) {
      return controlError(reply, e);
    }
    return reply.code(201).send({ clientId: (req.body as SimClientInput).clientId });
  });
  app.get('/_sim/faults', async () => ({ faults: faults.list() }));
  app.post('/_sim/faults', async (req, reply) => {
    const list = isObject(req.body) ? req.body['faults'] : undefined;
    if (!Array.isArray(list)) return controlError(reply, new RangeError('the body must be {"faults": [...]}'));
    let parsed: SimFault[];
    try {
      parsed = list.map((f) => parseSimFault(f));
    } catch (e) {
      return controlError(reply, e);
    }
    for (const f of parsed) faults.add(f);
    return reply.code(201).send({ faults: faults.list() });
  });
  app.delete('/_sim/faults', async (_req, reply) => {
    faults.clear();
    return reply.code(204).send();
  });
  app.post('/_sim/drift', async (req, reply) => {
    const input = req.body as SimDriftInput;
    try {
      drift(input);
    } catch (e) {
      return controlError(reply, e, e instanceof RangeError && /^no current/.test(e.message) ? 404 : 400);
    }
    return reply.code(200).send({ resource: store.current(input.resourceType, input.id) ?? null });
  });
  app.get('/_sim/writes', async () => ({ writes: store.writes() }));
  app.get<P>('/_sim/resources/:type/:id', async (req, reply) => {
    const r = store.current(req.params.type, req.params.id ?? '');
    return r === undefined ? reply.code(404).send({ error: 'not found' }) : r;
  });
  app.post('/_sim/reset', async (_req, reply) => {
    reseed();
    return reply.code(204).send();
  });

  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the simulator is not listening on TCP');
  url = `http://${urlHost(host)}:${address.port}`;
  fhirBase = `${url}/fhir/R4`;
  tokenUrl = `${url}/oauth2/token`;

  return {
    url,
    fhirBase,
    tokenUrl,
    registerClient: (input) => auth.registerClient(input),
    addFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    drift,
    writes: () => store.writes(),
    resource: (type, id) => store.current(type, id),
    reset: reseed,
    close: async () => {
      await app.close();
    },
  };
}
