// The FHIR R4 REST API at /fhir/R4 (FHIR R4 http.html) as a Fastify plugin over the ResourceStore port.
// Every route funnels into fhir-interactions.ts (and fhir-bundle.ts for POST [base]); this file does
// HTTP only: content types, `_format`, `Prefer`, the ETag / Last-Modified / Location headers, and
// OperationOutcome errors. It never logs a body, a query value or a header value (ARCHITECTURE.md
// invariant 7): an unexpected failure logs the request id and the error's name and code.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isSwitchboardError, SwitchboardError } from '../../core/errors.ts';
import type { ResourceStore } from '../../core/ports/resource-store.ts';
import { processBundle } from '../../fhir/fhir-bundle.ts';
import { execute, parseTarget, preferredBody, type ConsentGuard, type FhirAccess, type FhirResult, type FhirTarget, type InteractionContext, type ReturnPreference, type ValidationMode } from '../../fhir/fhir-interactions.ts';
import { asSwitchboardError, outcomeOf } from '../../fhir/fhir-outcome.ts';
import { FhirRequestAudit, refuseAuditRecordWrite, type FhirAuditSink } from './fhir-audit-hook.ts';
import type { MarkedConsentGuard } from '../consent.ts';

export type { FhirAccess } from '../../fhir/fhir-interactions.ts';

export interface FhirRoutesOptions {
  readonly store: ResourceStore;
  /** The absolute base URL clients see (`https://host/fhir/R4`); default: from each request's Host. */
  readonly baseUrl?: string;
  /** Validation on write (default `structure`: the R4 JSON Schema). */
  readonly validateOnWrite?: ValidationMode;
  /**
   * Called before each interaction (and for each Bundle entry); throw a SwitchboardError (e.g.
   * SWB_ERR_AUTH_SCOPE_INSUFFICIENT) to refuse. Default: allow. The lead wires scopes and consent here.
   */
  readonly authorize?: (request: FastifyRequest, access: FhirAccess) => void | Promise<void>;
  /** Largest body accepted on /fhir/R4 (default 16 MiB, for transaction Bundles). */
  readonly bodyLimit?: number;
  /**
   * Log level of the /fhir/R4 routes (default `warn`). Fastify's own per-request lines are `info`
   * and carry the URL with its query (an MRN, a name): they stay off unless asked for.
   */
  readonly logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Called once each interaction has answered (and for each Bundle entry, then the Bundle itself),
   * refused ones included: the AuditEvent trail (src/api/audit-trail.ts). Must not block.
   */
  readonly audit?: FhirAuditSink;
  /**
   * Consent enforcement (src/api/consent.ts): a guard per request, made once the interaction is
   * known (so a refused break-glass is audited). Throw to refuse the request. Default: none.
   */
  readonly consent?: (request: FastifyRequest) => ConsentGuard | MarkedConsentGuard | Promise<ConsentGuard | MarkedConsentGuard>;
}

export const FHIR_PREFIX = '/fhir/R4';
export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const DEFAULT_BODY_LIMIT = 16 * 1024 * 1024;

/** `_format` values and Accept media types that mean FHIR JSON (http.html#mime-type). */
const JSON_FORMATS: ReadonlySet<string> = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir', 'text/json']);
const ACCEPTABLE: ReadonlySet<string> = new Set([...JSON_FORMATS, '*/*', 'application/*']);

export interface Preferences {
  readonly return?: ReturnPreference;
  readonly handling?: 'strict' | 'lenient';
}

const NO_PREFERENCES: Preferences = Object.freeze({});

/** What InteractionContext.authorize answers when the hook allowed at once. */
const AUTHORIZED: Promise<void> = Promise.resolve();

/** RFC 7240 Prefer, as FHIR uses it (http.html#ops, search.html#errors): `return=` and `handling=`. */
export function parsePrefer(header: string | readonly string[] | undefined): Preferences {
  // Most requests carry no Prefer: no splitting and no new object for them.
  if (header === undefined) return NO_PREFERENCES;
  const text = Array.isArray(header) ? header.join(',') : typeof header === 'string' ? header : '';
  let ret: ReturnPreference | undefined;
  let handling: 'strict' | 'lenient' | undefined;
  for (const part of text.split(/[,;]/)) {
    const [key, raw] = part.split('=').map((s) => s.trim());
    const value = raw?.replace(/^"(.*)"$/, '$1');
    if (key === 'return' && (value === 'minimal' || value === 'representation' || value === 'OperationOutcome')) ret = value;
    if (key === 'handling' && (value === 'strict' || value === 'lenient')) handling = value;
  }
  return { ...(ret === undefined ? {} : { return: ret }), ...(handling === undefined ? {} : { handling }) };
}

/** A header value safe to name in an error: a media type or format token, else a placeholder. */
function nameable(value: string, fallback: string): string {
  const essence = value.split(';')[0]?.trim() ?? '';
  return /^[\w.+/*-]{1,80}$/.test(essence) ? essence : fallback;
}

/** http.html#mime-type: `_format` overrides Accept; anything but JSON is 406. */
export function checkFormat(format: string | null, accept: string | undefined): void {
  if (format !== null) {
    if (!JSON_FORMATS.has(format.split(';')[0]?.trim().toLowerCase() ?? '')) throw new SwitchboardError('SWB_ERR_FHIR_FORMAT_NOT_SUPPORTED', { format: nameable(format, 'requested') });
    return;
  }
  if (accept === undefined || accept.trim() === '') return;
  const types = accept.split(',').map((t) => t.split(';')[0]?.trim().toLowerCase() ?? '');
  if (!types.some((t) => ACCEPTABLE.has(t))) throw new SwitchboardError('SWB_ERR_FHIR_FORMAT_NOT_SUPPORTED', { format: nameable(accept.split(',')[0] ?? '', 'requested') });
}

/** Node 20's JSON.parse quotes the text it failed on; keep only the position (the body may be PHI). */
function jsonFailure(error: unknown): SwitchboardError {
  const position = error instanceof Error ? /position (\d+)/.exec(error.message)?.[1] : undefined;
  return new SwitchboardError('SWB_ERR_FHIR_INVALID_JSON', { reason: position === undefined ? 'malformed JSON' : `malformed JSON at position ${position}` });
}

function fromFastify(error: FastifyError, req: FastifyRequest, bodyLimit: number): SwitchboardError {
  if (isSwitchboardError(error)) return error;
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SwitchboardError('SWB_ERR_FHIR_MEDIA_TYPE', { type: nameable(String(req.headers['content-type'] ?? 'none'), 'given') });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SwitchboardError('SWB_ERR_FHIR_TOO_LARGE', { limit: bodyLimit });
    default:
      break;
  }
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) return new SwitchboardError('SWB_ERR_FHIR_INVALID_REQUEST', { reason: 'the request cannot be read' });
  return asSwitchboardError(error, String(req.id));
}

function sendOutcome(reply: FastifyReply, error: SwitchboardError): FastifyReply {
  return reply.code(error.httpStatus).type(FHIR_JSON).send(JSON.stringify(outcomeOf(error)));
}

function send(reply: FastifyReply, result: FhirResult, preference: ReturnPreference | undefined, baseUrl: string): FastifyReply {
  if (result.versionId !== undefined) reply.header('etag', `W/"${result.versionId}"`);
  if (result.lastUpdated !== undefined) reply.header('last-modified', new Date(result.lastUpdated).toUTCString());
  if (result.location !== undefined && result.write === true) reply.header('location', `${baseUrl}/${result.location}`);
  let status = result.status;
  let body = status === 304 ? undefined : preferredBody(result, preference);
  if (status === 204) {
    // A delete has nothing to represent; an OperationOutcome asked for turns 204 into 200 (http.html#delete).
    if (body?.resourceType === 'OperationOutcome') status = 200;
    else body = undefined;
  }
  reply.code(status);
  // A read answered with the stored text (no Prefer applies to a read).
  if (status === 200 && result.json !== undefined && result.write !== true) return reply.type(FHIR_JSON).send(result.json);
  if (body === undefined) return reply.send();
  return reply.type(FHIR_JSON).send(JSON.stringify(body));
}

/** The path after /fhir/R4 and the query, from the raw URL (repeated parameters kept in order). */
function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  const path = (q === -1 ? url : url.slice(0, q)).slice(FHIR_PREFIX.length);
  return { path, query: q === -1 ? '' : url.slice(q + 1) };
}

function targetOf(path: string, method: string): FhirTarget {
  let target: FhirTarget | undefined;
  try {
    target = parseTarget(path);
  } catch {
    target = undefined; // a malformed percent-escape
  }
  if (target === undefined) throw new SwitchboardError('SWB_ERR_HTTP_NOT_FOUND', { method, url: `${FHIR_PREFIX}/...` });
  return target;
}

/**
 * Registers the FHIR R4 API under /fhir/R4 in its own encapsulated context: its content-type parsers,
 * error handler and not-found handler apply to /fhir/R4 only, so the rest of the server keeps problem
 * JSON. Routes exist once the app is ready (`await app.ready()` or `listen`).
 */
export function registerFhirRoutes(app: FastifyInstance, options: FhirRoutesOptions): void {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const validation = options.validateOnWrite ?? 'structure';
  const { store } = options;
  const readJson = store.readJson === undefined ? undefined : store.readJson.bind(store);
  const readJsonMarked = store.readJsonMarked === undefined ? undefined : store.readJsonMarked.bind(store);
  /**
   * readJson for a request whose consent guard checks a cache against a write mark: the resource and
   * the mark in one read of the store (one snapshot), the mark handed to the guard, so its check
   * asks the store nothing more (MarkedConsentGuard).
   */
  const readJsonFor = (guard: ConsentGuard | MarkedConsentGuard | undefined): InteractionContext['readJson'] => {
    if (readJsonMarked === undefined || guard === undefined || !('useMark' in guard) || guard.markType === undefined) return readJson;
    const { markType } = guard;
    return async (type, id) => {
      const { stored, mark } = await readJsonMarked(type, id, markType);
      guard.useMark?.(mark);
      return stored;
    };
  };

  void app.register(
    async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(['application/fhir+json', 'application/json', 'application/json+fhir'], { parseAs: 'string', bodyLimit }, (_req, text, done) => {
        const s = String(text);
        if (s.trim() === '') {
          done(null, undefined);
          return;
        }
        try {
          done(null, JSON.parse(s));
        } catch (error) {
          done(jsonFailure(error), undefined);
        }
      });
      // POST [type]/_search carries its parameters as a form (search.html#search).
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_req, text, done) => done(null, new URLSearchParams(String(text))));

      // A callback hook (no promise per request); a URL without a query has no _format to parse.
      scope.addHook('onRequest', (req, _reply, done) => {
        try {
          const q = req.url.indexOf('?');
          checkFormat(q === -1 ? null : new URLSearchParams(req.url.slice(q + 1)).get('_format'), req.headers.accept);
        } catch (error) {
          done(error as FastifyError);
          return;
        }
        done();
      });

      scope.setErrorHandler((error: FastifyError, req, reply) => {
        const e = fromFastify(error, req, bodyLimit);
        if (e.code === 'SWB_ERR_INTERNAL_UNEXPECTED') req.log.error({ reqId: req.id, errorName: error.name, errorCode: error.code }, 'FHIR request failed');
        return sendOutcome(reply, e);
      });
      scope.setNotFoundHandler((req, reply) => sendOutcome(reply, new SwitchboardError('SWB_ERR_HTTP_NOT_FOUND', { method: req.method, url: `${FHIR_PREFIX}/...` })));

      // Not per request: these do not depend on it.
      const atomic: InteractionContext['atomic'] = (work) => store.transaction(work);
      const history: InteractionContext['history'] = (q) => store.history(q);
      const authorizeHook = options.authorize;

      const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
        const audit = options.audit === undefined ? undefined : new FhirRequestAudit(req, options.audit);
        try {
          return await serve(req, reply, audit);
        } catch (error) {
          audit?.failed(error);
          throw error;
        }
      };

      const serve = async (req: FastifyRequest, reply: FastifyReply, audit: FhirRequestAudit | undefined): Promise<FastifyReply> => {
        const method = req.method === 'HEAD' ? 'GET' : req.method;
        const { path, query: rawQuery } = splitUrl(req.url);
        const target = targetOf(path, method);
        let query = new URLSearchParams(rawQuery);
        let body: unknown = req.body;
        if (target.kind === 'type-search') {
          // Parameters may come in the URL and in the form; both count (search.html#search).
          if (body !== undefined && !(body instanceof URLSearchParams)) throw new SwitchboardError('SWB_ERR_FHIR_MEDIA_TYPE', { type: nameable(String(req.headers['content-type'] ?? 'none'), 'given') });
          if (body instanceof URLSearchParams) query = new URLSearchParams([...query, ...body]);
          body = undefined;
        } else if (body instanceof URLSearchParams) {
          throw new SwitchboardError('SWB_ERR_FHIR_MEDIA_TYPE', { type: 'application/x-www-form-urlencoded' });
        }
        const isBundle = target.kind === 'system' && method === 'POST';
        audit?.begin(method, target, query, body);
        const guard = options.consent?.(req);
        // A guard made at once is not awaited (a microtask turn per request).
        const consent = guard instanceof Promise ? await guard : guard;
        if (consent?.breakGlass !== undefined) audit?.breakGlass(consent.breakGlass);
        const prefer = parsePrefer(req.headers.prefer);
        const baseUrl = options.baseUrl ?? `${req.protocol}://${req.host}${FHIR_PREFIX}`;
        const ctx: InteractionContext = {
          store,
          atomic,
          history,
          baseUrl,
          validation,
          validateProfile: query.get('_validate-profile') === 'true' || req.headers['x-validate-profile'] === 'true',
          handling: prefer.handling ?? 'strict',
          // Not an async function: the hook decides at once (http-api.ts), so no promise of its own.
          authorize: (access) => {
            try {
              refuseAuditRecordWrite(access);
              audit?.authorized(access);
              const pending = authorizeHook?.(req, access);
              return pending === undefined ? AUTHORIZED : Promise.resolve(pending);
            } catch (error) {
              return Promise.reject(error);
            }
          },
          consent,
          // Outside a Bundle, a plain read may answer with the stored text (fhir-interactions.ts readAsStored).
          readJson: isBundle ? undefined : readJsonFor(consent),
        };
        if (isBundle) {
          const bundle = await processBundle(ctx, store, body, prefer.return, String(req.id));
          audit?.bundleDone(bundle);
          return reply.code(200).type(FHIR_JSON).send(JSON.stringify(bundle));
        }
        const header = (name: string): string | undefined => {
          const v = req.headers[name];
          return typeof v === 'string' ? v : undefined;
        };
        const ifMatch = header('if-match');
        const ifNoneExist = header('if-none-exist');
        const ifNoneMatch = header('if-none-match');
        const result = await execute(ctx, {
          method,
          target,
          query,
          body,
          ...(ifMatch === undefined ? {} : { ifMatch }),
          ...(ifNoneExist === undefined ? {} : { ifNoneExist }),
          ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }),
        });
        audit?.done(result);
        return send(reply, result, prefer.return, baseUrl);
      };

      const logLevel = options.logLevel ?? 'warn';
      scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/', bodyLimit, logLevel, handler });
      scope.route({ method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'], url: '/*', bodyLimit, logLevel, handler });
    },
    { prefix: FHIR_PREFIX },
  );
}
