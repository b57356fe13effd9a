import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { isSwitchboardError, SwitchboardError, toProblem } from '../core/errors.ts';
import { newCorrelationId } from '../core/ids.ts';
import { parseBatch } from '../hl7v2/index.ts';
import { validateMessage } from '../hl7v2/hl7-validator.ts';
import { formatLocation } from '../hl7v2/hl7-parse-error.ts';
import type { Store } from '../core/ports/store.ts';
import { MESSAGE_QUERY_PARAMS, messageDetailJson, messageSummaryJson, parseMessageQueryParams, type MessageQueryParam } from './message-query-params.ts';
import { sendProblem } from './problem.ts';
import { registerOpsRoutes, type OpsRouteOptions } from './ops-routes.ts';
import { registerOpenApiRoutes } from './openapi-routes.ts';
import { actorOf, fhirAuthorizer, installHttpSecurity, type HttpSecurityOptions } from './http-security.ts';
import { registerFhirRoutes, type FhirAccess } from './fhir/fhir-routes.ts';
import { attachAuditTrail } from './audit-trail.ts';
import { createConsentEnforcement } from './consent.ts';
import { installCors, type CorsOptions } from './cors.ts';
import { installRateLimit, type RateLimitOptions } from './rate-limit.ts';
import { registerWritebackRoutes } from './writeback-routes.ts';
import type { WritebackService } from '../writeback/writeback-service.ts';
import { registerChannelControlRoutes, type ChannelControl } from './channel-control-routes.ts';
import { auditMessageRead } from './phi-access-audit.ts';
import { registerWebConsole, type WebConsoleOptions } from './web-console.ts';

/** What the API can tell about the MLLP listener it sits beside (no message bodies: ids only). */
export interface ListenerStatus {
  readonly listening: boolean;
  readonly port: number | undefined;
  readonly tls: boolean;
  readonly connections: number;
  readonly received: number;
  readonly recent: () => readonly RecentMessage[];
}

/** A summary of a received message: identifiers, never content (ARCHITECTURE.md invariant 7). */
export interface RecentMessage {
  readonly receivedAt: string;
  readonly controlId: string;
  readonly type: string;
  readonly version: string;
  readonly bytes: number;
  readonly ack: string;
  readonly connectionId: string;
  readonly errorCode?: string;
}

export interface HttpApiOptions {
  readonly registry: Registry;
  readonly listener?: ListenerStatus;
  /** Largest request body accepted (bytes). */
  readonly bodyLimit?: number;
  /** When set: `GET /api/v1/messages[/:id]`, and `/readyz` checks that the store answers. */
  readonly store?: Store | undefined;
  /** How long `/readyz` waits for the store (default 2 s). */
  readonly readyTimeoutMs?: number;
  /** With `store`: the operations routes (exceptions, replay, revisions, audit); see ops-routes.ts. */
  readonly ops?: Omit<OpsRouteOptions, 'store'> | undefined;
  /**
   * Authentication and authorization for every `/api/v1` route, and the `/auth` routes
   * (http-security.ts). `switchboard start` always sets it; without it the API is open, for
   * in-process tests and embedding behind another gateway.
   */
  readonly security?: HttpSecurityOptions | undefined;
  /** Serve /fhir/R4 when the store has a canonical FHIR store (default true). */
  readonly fhir?: boolean;
  /** Per-client limits on /api/v1 and /fhir/R4 (rate-limit.ts); off when omitted or false. */
  readonly rateLimit?: RateLimitOptions | false | undefined;
  /** CORS on /api/v1 and /fhir/R4 for these origins (cors.ts); no CORS headers when omitted. */
  readonly cors?: CorsOptions | undefined;
  /** The write-back service: /api/v1/writeback (writeback-routes.ts, docs/writeback.md). */
  readonly writeback?: WritebackService | undefined;
  /** With `store`: channel stop/start, pause/resume, deploy, tests and the metrics summary (channel-control-routes.ts). */
  readonly control?: ChannelControl | undefined;
  /** The operations console at / (web-console.ts): on by default; false leaves / unanswered. */
  readonly webConsole?: WebConsoleOptions | false | undefined;
  /**
   * The base URL clients reach this server at (`switchboard start --public-url`): the FHIR API's
   * absolute URLs (Location, Bundle fullUrl and paging links) are made from it. Without it they are
   * made from each request's Host header, which a client chooses.
   */
  readonly publicUrl?: string | undefined;
}

const READY_TIMEOUT_MS = 2000;

/**
 * The HTTP surface that exists so far: health, Prometheus metrics, and HL7 utilities under
 * `/api/v1`. Every error is a problem document with a stable code; request logs carry ids only.
 */
export function buildHttpApi(options: HttpApiOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 10 * 1024 * 1024,
    genReqId: (req) => {
      // A caller's X-Correlation-Id or X-Request-Id (the header IHE BALP names) is kept when it is a
      // plain token; otherwise a new one is made. Either way it is echoed in both headers.
      for (const header of ['x-correlation-id', 'x-request-id']) {
        const given = req.headers[header];
        if (typeof given === 'string' && /^[\w.-]{1,128}$/.test(given)) return given;
      }
      return newCorrelationId();
    },
  });
  // HL7 arrives as text: accept text/plain and the registered x-application/hl7-v2+er7 type.
  app.addContentTypeParser(['text/plain', 'x-application/hl7-v2+er7', 'application/hl7-v2'], { parseAs: 'string' }, (_req, body, done) => done(null, body));
  // A callback hook, not an async one: it runs on every response, and an async hook costs a promise each.
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-correlation-id', req.id);
    reply.header('x-request-id', req.id);
    done(null, payload);
  });

  app.setNotFoundHandler((req, reply) => sendProblem(reply, new SwitchboardError('SWB_ERR_HTTP_NOT_FOUND', { method: req.method, url: req.url.split('?')[0] }), req.url));
  app.setErrorHandler((error, req, reply) => {
    if (isSwitchboardError(error)) return sendProblem(reply, error, req.url.split('?')[0]);
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const bad = new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: error instanceof Error ? error.message : 'unreadable request' });
      return reply.code(status).type('application/problem+json').send({ ...toProblem(bad, req.url.split('?')[0]), status });
    }
    return sendProblem(reply, new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: String(req.id) }), req.url.split('?')[0]);
  });

  // Before any route is registered: the onRoute hook guards every /api/v1 route added after it.
  // AuditEvents of every FHIR interaction, login and token go to the canonical store (audit-trail.ts).
  const audit = options.store?.resources === undefined ? undefined : attachAuditTrail(app, options.store.resources);
  if (options.security !== undefined) installHttpSecurity(app, { ...options.security, ...(audit === undefined ? {} : { audit: audit.auth, fhirAudit: audit.fhir }) });
  // After security (its onRoute must add authentication first), before the routes: CORS answers
  // preflights before the limiter counts; the limiter's preHandler runs after authentication.
  if (options.cors !== undefined) installCors(app, options.cors);
  if (options.rateLimit !== undefined && options.rateLimit !== false) installRateLimit(app, options.rateLimit);

  app.get('/healthz', async () => {
    const l = options.listener;
    return {
      status: 'ok',
      mllp: l === undefined ? null : { listening: l.listening, port: l.port, tls: l.tls, connections: l.connections, received: l.received },
    };
  });

  // Readiness, for load balancers and orchestrators: can this process take traffic now? Liveness
  // stays /healthz. Answers with no detail beyond which part is not ready.
  app.get('/readyz', async (req, reply) => {
    const notReady = (reason: string): FastifyReply => sendProblem(reply, new SwitchboardError('SWB_ERR_HTTP_NOT_READY', { reason }), req.url);
    if (options.listener !== undefined && !options.listener.listening) return notReady('the MLLP listener is not listening');
    const store = options.store;
    if (store !== undefined && !(await storeAnswers(store, options.readyTimeoutMs ?? READY_TIMEOUT_MS))) return notReady('the store does not answer');
    return { status: 'ready' };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(options.registry.contentType);
    return options.registry.metrics();
  });

  const bodyText = (body: unknown): string => {
    if (typeof body !== 'string' || body.length === 0) {
      throw new SwitchboardError('SWB_ERR_HL7_EMPTY', {});
    }
    return body;
  };

  app.post('/api/v1/hl7/parse', async (req) => {
    const batch = parseBatch(bodyText(req.body));
    const messages = batch.messages.map((m) => m.toJSON());
    return messages.length === 1 ? messages[0] : { messages };
  });

  app.post('/api/v1/hl7/validate', async (req) => {
    const batch = parseBatch(bodyText(req.body));
    return {
      messages: batch.messages.map((m, i) => {
        const r = validateMessage(m);
        return { message: i + 1, controlId: m.controlId, valid: r.valid, structure: r.structure ?? null, version: r.version, issues: r.issues.map((x) => ({ ...x, where: formatLocation(x.location) })) };
      }),
    };
  });

  app.get('/api/v1/listener/messages', async (req) => {
    const limitRaw = (req.query as Record<string, string | undefined>)['limit'];
    const limit = Math.min(Math.max(Number.parseInt(limitRaw ?? '50', 10) || 50, 1), 500);
    const recent = options.listener?.recent() ?? [];
    return { items: recent.slice(-limit).reverse() };
  });

  if (options.store !== undefined) registerMessageRoutes(app, options.store);
  if (options.store !== undefined && options.ops !== undefined) registerOpsRoutes(app, { ...options.ops, store: options.store });
  if (options.store !== undefined) registerChannelControlRoutes(app, { store: options.store, control: options.control, actor: actorOf });
  // Always served (the API's surface does not depend on configuration); 503 without a service.
  registerWritebackRoutes(app, { service: options.writeback, audit: options.store?.audit });
  // The API's description (docs/reference/openapi.yaml) and a page listing its operations.
  registerOpenApiRoutes(app);

  // The FHIR R4 API over the canonical store (docs/fhir-api.md), when the store has one.
  const resources = options.store?.resources;
  if (resources !== undefined && options.fhir !== false) {
    // With security, Consent is enforced too (src/api/consent.ts): who the caller is decides.
    const security = options.security;
    const consent = security === undefined ? undefined : createConsentEnforcement({ store: resources, ...(security.breakGlassRoles === undefined ? {} : { breakGlassRoles: security.breakGlassRoles }) });
    const secured =
      consent === undefined
        ? {}
        : {
            authorize: (req: FastifyRequest, access: FhirAccess): void => {
              fhirAuthorizer(req, access);
              consent.authorize(req, access);
            },
            consent: (req: FastifyRequest) => consent.guard(req),
          };
    const baseUrl = options.publicUrl === undefined ? undefined : `${options.publicUrl.replace(/\/+$/, '')}/fhir/R4`;
    registerFhirRoutes(app, { store: resources, ...secured, ...(audit === undefined ? {} : { audit: audit.fhir }), ...(baseUrl === undefined ? {} : { baseUrl }) });
  }
  // The console (web/dist) at / with its SPA fallback for client routes (issue 7).
  if (options.webConsole !== false) registerWebConsole(app, options.webConsole ?? {});

  return app;
}

/** A cheap store call, bounded in time: a hung database must not hang the probe. */
async function storeAnswers(store: Store, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    const call = store.messages.search({ limit: 1 }).then(
      () => true,
      () => false,
    );
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stored messages: search (summaries, no content, no patient ids) and one message with its
 * content and history.
 *
 * SECURITY: these routes expose PHI (`/api/v1/messages/:id` returns content; search accepts a
 * patient id). Authentication does not exist yet; once it lands these routes MUST require it and
 * each call to them MUST be audited (ARCHITECTURE.md invariant 7). Until then, bind the HTTP port
 * to a trusted interface only. Nothing here logs content, patient ids or query values.
 */
function registerMessageRoutes(app: FastifyInstance, store: Store): void {
  const known: ReadonlySet<string> = new Set(MESSAGE_QUERY_PARAMS);
  const badParam = (reply: FastifyReply, url: string, param: string, reason: string): FastifyReply => {
    const error = new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: `${param} ${reason}` });
    return reply.code(400).type('application/problem+json').send({ ...toProblem(error, url), parameter: param });
  };

  app.get('/api/v1/messages', async (req, reply) => {
    const url = req.url.split('?')[0] ?? req.url;
    const input: Partial<Record<MessageQueryParam, string>> = {};
    for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
      // Unknown names are refused, not ignored: a mistyped filter must not silently widen a search.
      if (!known.has(name)) return badParam(reply, url, name, 'is not a known parameter');
      if (typeof value !== 'string') return badParam(reply, url, name, 'must be given once');
      input[name as MessageQueryParam] = value;
    }
    const parsed = parseMessageQueryParams(input);
    if (parsed.kind === 'invalid') return badParam(reply, url, parsed.param, parsed.reason);
    try {
      const page = await store.messages.search(parsed.query);
      return { items: page.items.map(messageSummaryJson), nextCursor: page.nextCursor ?? null };
    } catch (e) {
      if (isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_BAD_CURSOR') return badParam(reply, url, 'cursor', 'is not a cursor returned by a previous search');
      throw e;
    }
  });

  app.get<{ Params: { id: string } }>('/api/v1/messages/:id', async (req, reply) => {
    const id = req.params.id;
    const message = await store.messages.get(id);
    if (message === undefined) return sendProblem(reply, new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id }), req.url);
    // A PHI access: audited before the content leaves (invariant 7); a failed audit fails the read.
    await auditMessageRead(store.audit, req, message);
    return messageDetailJson(message, await store.messages.events(id));
  });
}
