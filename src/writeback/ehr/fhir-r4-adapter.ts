import http from 'node:http';
import https from 'node:https';
import { SwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { SmartBackendAuth } from '../../fhir/smart-backend-auth.ts';
import type { EhrAdapter, EhrCapabilities, EhrReadOutcome, EhrResponseSummary, EhrWriteOutcome, EhrWriteRequest, FhirResource, ProposedChange } from './ehr-adapter.ts';
import { checkAgainstProfile, type EhrProfile, type WriteInteraction } from './profiles/ehr-profile.ts';

/**
 * The generic FHIR R4 adapter (FHIR R4 http.html), shaped by a vendor profile (Epic, Oracle Health,
 * a generic server), over Node's fetch with a timeout per exchange.
 *
 * Before any request: the change is checked against the profile, then against the server's
 * CapabilityStatement (read once, cached): a write neither allows is refused as permanent
 * (SWB_ERR_EHR_UNSUPPORTED_WRITE), so nothing half-done can follow.
 *
 * The request: create is a POST (If-None-Exist when the EHR honours conditional create and the
 * caller gave one, R4 http.html#ccreate); update a PUT with If-Match W/"baseVersion"
 * (http.html#concurrency); patch a JSON Patch (RFC 6902); every write carries X-Request-Id (the
 * idempotency key) and X-Correlation-Id, and `Prefer: return=representation` where the profile asks.
 *
 * The outcome is classified, never thrown (ehr-adapter.ts):
 *  - 2xx: applied; id and version from the body, else from Location (`Type/id/_history/v`) or ETag;
 *  - 429/503: retried here only when Retry-After is short (<= 2 s, at most twice); else transient
 *    with retryAfterMs (the service schedules the retry);
 *  - no connection (refused, DNS, connect timeout): transient, nothing was sent;
 *  - no answer after sending (timeout, reset): ambiguous for a write that is not safe to repeat (a
 *    create without If-None-Exist, a patch without If-Match), transient for one that is;
 *  - other 5xx: the same split (the server may have applied it before failing);
 *  - 412/409 on update or patch: conflict, with the EHR's current copy read back;
 *  - 401 once: the token is dropped and the request sent again with a new one (nothing was applied);
 *  - other 4xx (400, 403, 404, 405, 422, 428, ...): permanent; the OperationOutcome is kept.
 */

export interface FhirR4AdapterOptions {
  /** The configured EHR name. */
  readonly name: string;
  /** The FHIR base URL, e.g. `https://ehr.example/fhir/R4`. */
  readonly baseUrl: string;
  readonly profile: EhrProfile;
  /** SMART backend services; none for an open server. */
  readonly auth?: SmartBackendAuth;
  /** Per exchange; default 30 s. */
  readonly timeoutMs?: number;
  /** Longest Retry-After waited inside the adapter; default 2000 ms. */
  readonly maxInlineRetryAfterMs?: number;
  /** At most this many inline retries after 429/503; default 2. */
  readonly maxInlineRetries?: number;
  /** After an empty 2xx (Epic), read the resource back so the outcome carries it; default false. */
  readonly readBackOnEmptyBody?: boolean;
  /** How long a CapabilityStatement is used; default 1 hour. */
  readonly capabilityTtlMs?: number;
}

/** What the server's CapabilityStatement says it supports (R4 capabilitystatement.html). */
export interface ServerCapabilities {
  readonly fhirVersion?: string;
  /** Per type: its interactions (`create`, `update`, `patch`, `read`...) and conditional create. */
  readonly types: ReadonlyMap<string, { readonly interactions: ReadonlySet<string>; readonly conditionalCreate: boolean }>;
}

/** The response headers the adapter reads (case-insensitive names; repeated ones joined by `, `). */
interface HeaderReader {
  get(name: string): string | null;
}

function headerReader(headers: http.IncomingHttpHeaders): HeaderReader {
  return {
    get: (name) => {
      const v = headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/** Response bodies as Response.text() decodes them: UTF-8, a leading BOM dropped, bad bytes replaced. */
const UTF8 = new TextDecoder('utf-8');

/**
 * Idle keep-alive sockets are closed after this (undici's default too), or 1 s before the timeout a
 * server announces in `Keep-Alive: timeout=N` (node:http Agent), so that a request is not written
 * into a socket the server is closing.
 */
const IDLE_SOCKET_MS = 4000;

/** The server's own answer, kept for the ledger (never a resource other than an OperationOutcome). */
interface HttpAnswer {
  readonly kind: 'answer';
  readonly status: number;
  readonly headers: HeaderReader;
  readonly text: string;
  readonly json: unknown;
}

interface HttpFailure {
  readonly kind: 'failed';
  /** connect: nothing was sent; sent: the request may have reached the server; timeout: no answer in time. */
  readonly phase: 'connect' | 'sent' | 'timeout';
  readonly reason: string;
}

/** libuv / TLS (and undici, for the codes fetch gave) error codes that mean no connection was made, so nothing was sent. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID']);

function errorCodeOf(error: unknown): string | undefined {
  let e: unknown = error;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date; ms from now, or undefined. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** `W/"3"` or `"3"` -> `3`. */
export function versionFromEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag.trim());
  return m?.[1] === undefined || m[1] === '' ? undefined : m[1];
}

/** `.../Type/id/_history/v` (R4 http.html#create: the Location of a created resource). */
export function parseLocation(location: string | null): { resourceType?: string; id?: string; versionId?: string } {
  if (location === null) return {};
  const path = location.split(/[?#]/)[0] ?? '';
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?\/?$/.exec(path);
  if (m === null) return {};
  return { ...(m[1] === undefined ? {} : { resourceType: m[1] }), ...(m[2] === undefined ? {} : { id: m[2] }), ...(m[3] === undefined ? {} : { versionId: m[3] }) };
}

function isResource(value: unknown): value is FhirResource {
  return typeof value === 'object' && value !== null && typeof (value as { resourceType?: unknown }).resourceType === 'string';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** A create's body: the id and server-assigned meta are the server's to set (R4 http.html#create). */
function createBody(resource: FhirResource): FhirResource {
  const { id: _id, meta, ...rest } = resource;
  if (meta === undefined) return rest as FhirResource;
  const { versionId: _v, lastUpdated: _l, ...keptMeta } = meta as Record<string, unknown>;
  return (Object.keys(keptMeta).length === 0 ? rest : { ...rest, meta: keptMeta }) as FhirResource;
}

interface PreparedWrite {
  readonly method: 'POST' | 'PUT' | 'PATCH';
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly interaction: WriteInteraction;
  readonly resourceType: string;
  readonly id?: string;
  readonly baseVersion?: string;
  /** Sending it twice has the effect of sending it once (or fails with 412/409): a lost answer is transient. */
  readonly safeToRepeat: boolean;
}

export class FhirR4Adapter implements EhrAdapter {
  readonly name: string;
  readonly profile: string;
  readonly capabilities: EhrCapabilities;
  readonly #p: EhrProfile;
  readonly #base: string;
  readonly #auth: SmartBackendAuth | undefined;
  readonly #timeoutMs: number;
  readonly #maxInlineMs: number;
  readonly #maxInlineRetries: number;
  readonly #readBack: boolean;
  readonly #capTtlMs: number;
  #cap: { at: number; value: ServerCapabilities | undefined } | undefined;
  #capInFlight: Promise<ServerCapabilities | undefined> | undefined;
  readonly #inFlight = new Set<http.ClientRequest>();
  #httpAgent: http.Agent | undefined;
  #httpsAgent: https.Agent | undefined;
  #closed = false;

  constructor(options: FhirR4AdapterOptions) {
    this.name = options.name;
    this.#p = options.profile;
    this.profile = options.profile.id;
    this.capabilities = options.profile.capabilities;
    this.#base = trimSlash(options.baseUrl);
    this.#auth = options.auth;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxInlineMs = options.maxInlineRetryAfterMs ?? 2000;
    this.#maxInlineRetries = options.maxInlineRetries ?? 2;
    this.#readBack = options.readBackOnEmptyBody ?? false;
    this.#capTtlMs = options.capabilityTtlMs ?? 3_600_000;
  }

  describe(change: ProposedChange): string {
    switch (change.kind) {
      case 'create':
        return `POST ${this.#base}/${change.resource.resourceType}`;
      case 'update':
        return `PUT ${this.#base}/${change.resourceType}/${change.id}`;
      case 'patch':
        return `PATCH ${this.#base}/${change.resourceType}/${change.id}`;
      case 'hl7v2':
        return `(not sent: ${this.name} is a FHIR API)`;
    }
  }

  /**
   * The server's CapabilityStatement, read once and cached (R4 http.html#capabilities). Undefined
   * when it cannot be read: the profile alone then decides (a failed read is retried after 30 s).
   */
  async serverCapabilities(): Promise<ServerCapabilities | undefined> {
    const now = Date.now();
    const cached = this.#cap;
    if (cached !== undefined && now - cached.at < (cached.value === undefined ? 30_000 : this.#capTtlMs)) return cached.value;
    this.#capInFlight ??= this.#readCapabilities().then(
      (value) => {
        this.#cap = { at: Date.now(), value };
        this.#capInFlight = undefined;
        return value;
      },
      () => {
        this.#cap = { at: Date.now(), value: undefined };
        this.#capInFlight = undefined;
        return undefined;
      },
    );
    return this.#capInFlight;
  }

  async #readCapabilities(): Promise<ServerCapabilities | undefined> {
    // /metadata is open on SMART servers; the token is used only if the server asks for one.
    let answer = await this.#exchange('GET', `${this.#base}/metadata`, { accept: 'application/fhir+json' }, undefined);
    if (answer.kind === 'answer' && answer.status === 401 && this.#auth !== undefined) {
      const { header } = await this.#auth.authorization();
      answer = await this.#exchange('GET', `${this.#base}/metadata`, { accept: 'application/fhir+json', authorization: header }, undefined);
    }
    if (answer.kind !== 'answer' || answer.status !== 200 || !isResource(answer.json) || answer.json.resourceType !== 'CapabilityStatement') return undefined;
    return parseCapabilityStatement(answer.json);
  }

  async write(request: EhrWriteRequest): Promise<EhrWriteOutcome> {
    const { change } = request;
    const check = checkAgainstProfile(this.#p, change);
    if (!check.ok) return this.#unsupported(check.interaction, check.resourceType, check.reason);
    const server = await this.serverCapabilities();
    const { interaction, resourceType } = check;
    let serverConditional = true;
    if (server !== undefined && server.types.size > 0) {
      const type = server.types.get(resourceType);
      if (type === undefined || !type.interactions.has(interaction)) {
        return this.#unsupported(interaction, resourceType, `the server's CapabilityStatement does not list ${interaction} for ${resourceType}`);
      }
      serverConditional = type.conditionalCreate;
    }
    const prepared = this.#prepare(request, interaction, resourceType, this.#p.capabilities.conditionalCreate && serverConditional);
    return this.#send(prepared);
  }

  async writeProvenance(provenance: FhirResource, correlationId: string): Promise<EhrWriteOutcome> {
    if (!this.#p.capabilities.provenance) return this.#unsupported('create', 'Provenance', `${this.#p.title} does not accept Provenance`);
    return this.write({ change: { kind: 'create', resource: provenance }, idempotencyKey: `provenance:${correlationId}`, correlationId });
  }

  #unsupported(interaction: string, resourceType: string, reason: string): EhrWriteOutcome {
    const error = new SwitchboardError('SWB_ERR_EHR_UNSUPPORTED_WRITE', { profile: this.#p.id, interaction, resourceType, reason });
    return { kind: 'permanent', code: error.code, response: { message: error.message } };
  }

  #prepare(request: EhrWriteRequest, interaction: WriteInteraction, resourceType: string, conditionalCreate: boolean): PreparedWrite {
    const { change } = request;
    const headers: Record<string, string> = {
      accept: 'application/fhir+json',
      'x-request-id': request.idempotencyKey,
      'x-correlation-id': request.correlationId,
    };
    if (this.#p.preferRepresentation) headers['prefer'] = 'return=representation';
    switch (change.kind) {
      case 'create': {
        headers['content-type'] = 'application/fhir+json';
        // Only where the EHR honours it (Epic ignores If-None-Exist, so it is never sent there:
        // sending it would suggest a safety that is not there).
        const conditional = conditionalCreate && request.ifNoneExist !== undefined;
        if (conditional) headers['if-none-exist'] = request.ifNoneExist as string;
        return { method: 'POST', url: `${this.#base}/${resourceType}`, headers, body: JSON.stringify(createBody(change.resource)), interaction, resourceType, safeToRepeat: conditional };
      }
      case 'update': {
        headers['content-type'] = 'application/fhir+json';
        if (change.baseVersion !== undefined) headers['if-match'] = `W/"${change.baseVersion}"`;
        const body = JSON.stringify({ ...change.resource, id: change.id });
        // PUT is idempotent (RFC 9110 9.2.2); with If-Match a repeat after an applied first try is a 412/409 conflict, never a double write.
        return { method: 'PUT', url: `${this.#base}/${resourceType}/${encodeURIComponent(change.id)}`, headers, body, interaction, resourceType, id: change.id, ...(change.baseVersion === undefined ? {} : { baseVersion: change.baseVersion }), safeToRepeat: true };
      }
      case 'patch': {
        headers['content-type'] = 'application/json-patch+json';
        if (change.baseVersion !== undefined) headers['if-match'] = `W/"${change.baseVersion}"`;
        // A JSON Patch (an `add` to an array) is not idempotent unless guarded by If-Match.
        return { method: 'PATCH', url: `${this.#base}/${resourceType}/${encodeURIComponent(change.id)}`, headers, body: JSON.stringify(change.patch), interaction, resourceType, id: change.id, ...(change.baseVersion === undefined ? {} : { baseVersion: change.baseVersion }), safeToRepeat: change.baseVersion !== undefined };
      }
      case 'hl7v2':
        throw new Error('unreachable: the profile check refuses hl7v2 changes');
    }
  }

  async #send(w: PreparedWrite): Promise<EhrWriteOutcome> {
    let inlineRetries = 0;
    let authRetried = false;
    for (;;) {
      const headers = { ...w.headers };
      let token: string | undefined;
      if (this.#auth !== undefined) {
        try {
          const a = await this.#auth.authorization();
          headers['authorization'] = a.header;
          token = a.token;
        } catch (error) {
          return authOutcome(error);
        }
      }
      const answer = await this.#exchange(w.method, w.url, headers, w.body);
      if (answer.kind === 'failed') return this.#lost(w, answer);
      const { status } = answer;
      const summary = this.#summary(answer);
      if (status >= 200 && status < 300) return this.#applied(w, answer, summary);
      if (status === 401 && this.#auth !== undefined && token !== undefined && !authRetried) {
        // The token was refused (revoked, expired early, key rotated): nothing was applied; one retry with a new token.
        this.#auth.invalidate(token);
        authRetried = true;
        continue;
      }
      if (status === 429 || status === 503) {
        // RFC 6585 4 / RFC 9110 15.6.4: the server did not process the request.
        const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'));
        if (retryAfterMs !== undefined && retryAfterMs <= this.#maxInlineMs && inlineRetries < this.#maxInlineRetries && !this.#closed) {
          inlineRetries += 1;
          await sleep(retryAfterMs);
          continue;
        }
        return { kind: 'transient', code: 'SWB_ERR_EHR_THROTTLED', ...(retryAfterMs === undefined ? {} : { retryAfterMs }), response: summary };
      }
      if ((status === 409 || status === 412) && (w.interaction === 'update' || w.interaction === 'patch') && w.id !== undefined) {
        // FHIR R4 http.html#concurrency: the EHR's copy moved on; read it for the three-way diff.
        const current = await this.read(w.resourceType, w.id);
        return { kind: 'conflict', code: 'SWB_ERR_EHR_CONFLICT', ...(current.kind === 'found' ? { current: current.resource } : {}), response: summary };
      }
      if (status >= 500) {
        return w.safeToRepeat ? { kind: 'transient', code: 'SWB_ERR_EHR_SERVER_UNAVAILABLE', response: summary } : { kind: 'ambiguous', code: 'SWB_ERR_EHR_SERVER_ERROR', response: summary };
      }
      return { kind: 'permanent', code: 'SWB_ERR_EHR_HTTP_STATUS', response: summary };
    }
  }

  #lost(w: PreparedWrite, f: HttpFailure): EhrWriteOutcome {
    const target = `${w.method} ${w.url}`;
    if (f.phase === 'connect') {
      const e = new SwitchboardError('SWB_ERR_EHR_UNREACHABLE', { target, reason: f.reason });
      return { kind: 'transient', code: e.code, response: { message: e.message } };
    }
    if (w.safeToRepeat) {
      const e = new SwitchboardError('SWB_ERR_EHR_NO_ANSWER_SAFE', { target, reason: f.reason });
      return { kind: 'transient', code: e.code, response: { message: e.message } };
    }
    // ARCHITECTURE.md invariant 2: the EHR may have filed it; a human decides, never a blind retry.
    const e =
      f.phase === 'timeout'
        ? new SwitchboardError('SWB_ERR_EHR_TIMEOUT', { target, ms: this.#timeoutMs })
        : new SwitchboardError('SWB_ERR_EHR_CONNECTION_LOST', { target, reason: f.reason });
    return { kind: 'ambiguous', code: e.code, response: { message: e.message } };
  }

  async #applied(w: PreparedWrite, answer: HttpAnswer, summary: EhrResponseSummary): Promise<EhrWriteOutcome> {
    const location = answer.headers.get('location') ?? answer.headers.get('content-location');
    const fromLocation = parseLocation(location);
    let resource = isResource(answer.json) && answer.json.resourceType === w.resourceType ? answer.json : undefined;
    const id = resource?.id ?? fromLocation.id ?? w.id;
    let versionId = resource?.meta?.versionId ?? fromLocation.versionId ?? versionFromEtag(answer.headers.get('etag'));
    if (resource === undefined && this.#readBack && id !== undefined) {
      const read = await this.read(w.resourceType, id);
      if (read.kind === 'found') {
        resource = read.resource;
        versionId ??= read.versionId;
      }
    }
    return {
      kind: 'applied',
      result: {
        resourceType: w.resourceType,
        ...(id === undefined ? {} : { id }),
        ...(versionId === undefined ? {} : { versionId }),
        ...(location === null ? {} : { location }),
        at: new Date(),
      },
      ...(resource === undefined ? {} : { resource }),
      response: summary,
    };
  }

  #summary(answer: HttpAnswer): EhrResponseSummary {
    const outcome = isResource(answer.json) && answer.json.resourceType === 'OperationOutcome' ? answer.json : undefined;
    return { status: answer.status, ...(outcome === undefined ? {} : { outcome }), message: `HTTP ${answer.status}` };
  }

  async read(resourceType: string, id: string): Promise<EhrReadOutcome> {
    const url = `${this.#base}/${resourceType}/${encodeURIComponent(id)}`;
    let authRetried = false;
    for (;;) {
      const headers: Record<string, string> = { accept: 'application/fhir+json' };
      let token: string | undefined;
      if (this.#auth !== undefined) {
        try {
          const a = await this.#auth.authorization();
          headers['authorization'] = a.header;
          token = a.token;
        } catch (error) {
          const code: ErrorCode = error instanceof SwitchboardError ? error.code : 'SWB_ERR_EHR_AUTH_UNAVAILABLE';
          return { kind: 'error', code, message: error instanceof Error ? error.message : String(error) };
        }
      }
      const answer = await this.#exchange('GET', url, headers, undefined);
      if (answer.kind === 'failed') {
        const e = answer.phase === 'timeout' ? new SwitchboardError('SWB_ERR_EHR_TIMEOUT', { target: `GET ${url}`, ms: this.#timeoutMs }) : new SwitchboardError('SWB_ERR_EHR_UNREACHABLE', { target: `GET ${url}`, reason: answer.reason });
        return { kind: 'error', code: e.code, message: e.message };
      }
      if (answer.status === 401 && this.#auth !== undefined && token !== undefined && !authRetried) {
        this.#auth.invalidate(token);
        authRetried = true;
        continue;
      }
      if (answer.status === 200 && isResource(answer.json) && answer.json.resourceType === resourceType) {
        const versionId = answer.json.meta?.versionId ?? versionFromEtag(answer.headers.get('etag'));
        return { kind: 'found', resource: answer.json, ...(versionId === undefined ? {} : { versionId }) };
      }
      if (answer.status === 404) return { kind: 'not_found' };
      if (answer.status === 410) return { kind: 'gone' };
      const e = new SwitchboardError('SWB_ERR_EHR_HTTP_STATUS', { target: `GET ${url}`, status: answer.status });
      return { kind: 'error', code: e.code, message: e.message };
    }
  }

  /**
   * One HTTP exchange with a timeout over the whole of it (headers and body), on node:http(s) with
   * a keep-alive agent of this adapter's own. Not fetch(): its WHATWG Request/Response/stream
   * objects cost ~0.5 ms of main-thread CPU per request against ~0.15 ms here (measured against a
   * local server), and every write makes two requests (the write, the read-back) on the event loop
   * the engine's commits share. What it reports is what the fetch-based exchange reported: the
   * status, the headers, the body decoded as UTF-8 (a BOM dropped, as Response.text() does; '' when
   * the body broke off after the status line), redirects not followed; a failure as `connect` when
   * nothing was sent (no connection was made, by the error code or because the time ran out before
   * one was), `timeout`, or `sent`.
   */
  #exchange(method: string, url: string, headers: Record<string, string>, body: string | undefined): Promise<HttpAnswer | HttpFailure> {
    if (this.#closed) return Promise.resolve({ kind: 'failed', phase: 'connect', reason: 'the adapter is closed' });
    return new Promise((resolve) => {
      let settled = false;
      let timedOut = false;
      let connected = false;
      let request: http.ClientRequest | undefined;
      const finish = (result: HttpAnswer | HttpFailure): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (request !== undefined) this.#inFlight.delete(request);
        resolve(result);
      };
      const failed = (error: unknown): void => {
        // Timed out (or the adapter closed) before a connection was made: nothing was sent.
        if (timedOut || this.#closed) return finish({ kind: 'failed', phase: connected ? 'timeout' : 'connect', reason: connected ? 'no answer in time' : 'no connection in time' });
        const code = errorCodeOf(error) ?? 'request failed';
        finish({ kind: 'failed', phase: CONNECT_CODES.has(code) ? 'connect' : 'sent', reason: code });
      };
      const timer = setTimeout(() => {
        timedOut = true;
        request?.destroy();
      }, this.#timeoutMs);
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return finish({ kind: 'failed', phase: 'connect', reason: 'ERR_INVALID_URL' });
      }
      const tls = target.protocol === 'https:';
      const outgoing: Record<string, string | number> = { 'user-agent': 'switchboard', ...headers };
      if (body !== undefined) outgoing['content-length'] = Buffer.byteLength(body);
      try {
        request = (tls ? https.request : http.request)(target, { method, headers: outgoing, agent: this.#agentFor(tls) });
      } catch (error) {
        return failed(error);
      }
      this.#inFlight.add(request);
      request.once('socket', (socket) => {
        // A pooled socket is connected already; a new one once its TCP (and TLS) handshake is done.
        if (!socket.connecting) connected = true;
        else socket.once(tls ? 'secureConnect' : 'connect', () => (connected = true));
      });
      let responded = false;
      // After the status line, an error is a body cut short: the response's close answers it.
      request.on('error', (error) => {
        if (!responded) failed(error);
      });
      request.once('response', (response) => {
        connected = true;
        responded = true;
        const chunks: Buffer[] = [];
        let broken = false;
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        const answer = (): void => {
          // The status line arrived; a body cut short does not change what the status says happened.
          const text = broken ? '' : UTF8.decode(Buffer.concat(chunks));
          let json: unknown;
          if (text !== '') {
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
          }
          finish({ kind: 'answer', status: response.statusCode ?? 0, headers: headerReader(response.headers), text, json });
        };
        response.once('end', answer);
        response.on('error', () => {
          broken = true;
          answer();
        });
        response.once('aborted', () => {
          broken = true;
          answer();
        });
        response.once('close', () => {
          if (!response.complete) broken = true;
          answer();
        });
      });
      request.end(body);
    });
  }

  /** The keep-alive agent for http or https, made on first use; idle sockets close after 4 s unless the server announces less. */
  #agentFor(tls: boolean): http.Agent {
    if (tls) return (this.#httpsAgent ??= new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }));
    return (this.#httpAgent ??= new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#inFlight) r.destroy();
    this.#inFlight.clear();
    this.#httpAgent?.destroy();
    this.#httpsAgent?.destroy();
  }
}

/** A token failure as a write outcome: the request never left (transient or permanent by code). */
function authOutcome(error: unknown): EhrWriteOutcome {
  if (error instanceof SwitchboardError) {
    const response = { message: error.message };
    return error.failureClass === 'permanent' ? { kind: 'permanent', code: error.code, response } : { kind: 'transient', code: error.code, response };
  }
  return { kind: 'transient', code: 'SWB_ERR_EHR_AUTH_UNAVAILABLE', response: { message: error instanceof Error ? error.message : String(error) } };
}

/** Reads the parts of an R4 CapabilityStatement the adapter needs (rest[mode=server].resource). */
export function parseCapabilityStatement(cs: FhirResource): ServerCapabilities {
  const types = new Map<string, { interactions: Set<string>; conditionalCreate: boolean }>();
  const rest = Array.isArray(cs['rest']) ? (cs['rest'] as unknown[]) : [];
  for (const r of rest) {
    const entry = r as { mode?: unknown; resource?: unknown };
    if (entry.mode !== undefined && entry.mode !== 'server') continue;
    if (!Array.isArray(entry.resource)) continue;
    for (const res of entry.resource as unknown[]) {
      const x = res as { type?: unknown; interaction?: unknown; conditionalCreate?: unknown };
      if (typeof x.type !== 'string') continue;
      const interactions = new Set<string>();
      if (Array.isArray(x.interaction)) {
        for (const i of x.interaction as unknown[]) {
          const code = (i as { code?: unknown } | null)?.code;
          if (typeof code === 'string') interactions.add(code);
        }
      }
      types.set(x.type, { interactions, conditionalCreate: x.conditionalCreate === true });
    }
  }
  return { ...(typeof cs['fhirVersion'] === 'string' ? { fhirVersion: cs['fhirVersion'] } : {}), types };
}

