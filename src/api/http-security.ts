import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler, preHandlerHookHandler, RouteOptions } from 'fastify';
import { SwitchboardError } from '../core/errors.ts';
import type { IdentityStore } from '../core/ports/identity-store.ts';
import { createAuthenticate, requireCan, withVerifiedBearer } from './auth/authenticate.ts';
import type { AuthEventSink } from './auth/auth-events.ts';
import type { JwksCache } from './auth/client-assertion.ts';
import { loginRoutes } from './auth/login-routes.ts';
import type { RateLimiter } from './auth/rate-limiter.ts';
import { ApiAction, can, type Action, type Role } from './auth/roles.ts';
import { allows, type ScopeAccess } from './auth/scopes.ts';
import type { SessionManager } from './auth/sessions.ts';
import { tokenEndpoint } from './auth/token-endpoint.ts';
import type { TokenIssuer } from './auth/tokens.ts';
import { sendProblem } from './problem.ts';
import type { FhirAuditSink } from './fhir/fhir-audit-hook.ts';
import { fhirAuthRefusal } from './fhir/fhir-auth-refusal.ts';

/**
 * Security in one place (issue 5): every `/api/v1` route is authenticated (a bearer token from
 * `/auth/token` or a dashboard session) and authorized by one table, route -> action, decided by
 * `can()` (src/api/auth/roles.ts). A route missing from the table is refused to everyone: a new
 * route cannot be open by accident. Open without credentials: `/healthz`, `/readyz`, `/metrics`
 * (for the scraper on the internal network), the OpenAPI document and `/docs`, and `/auth/*`.
 */
export interface HttpSecurityOptions {
  readonly identity: IdentityStore;
  readonly tokens: TokenIssuer;
  readonly sessions: SessionManager;
  /** The token endpoint's absolute URL: client assertions name it in `aud`. */
  readonly tokenUrl: string;
  readonly jwks?: JwksCache;
  readonly loginRateLimiter?: RateLimiter;
  readonly secureCookie?: boolean | 'auto';
  /** Receives every login, logout, password change and token issued or refused (the AuditEvent trail). */
  readonly audit?: AuthEventSink;
  /** Roles allowed to break the glass on /fhir/R4 (X-Break-Glass, src/api/consent.ts); default admin and reviewer. */
  readonly breakGlassRoles?: readonly Role[];
  /** Receives the /fhir/R4 requests refused for missing or bad credentials (an AuditEvent each). */
  readonly fhirAudit?: FhirAuditSink;
}

/** `METHOD route` -> what it does; the route is Fastify's pattern (`/api/v1/messages/:id`). */
export const API_ROUTE_ACTIONS: Readonly<Record<string, Action>> = {
  'GET /api/v1/messages': ApiAction.messagesSearch,
  'GET /api/v1/messages/:id': ApiAction.messagesRead,
  'GET /api/v1/messages/:id/deliveries': ApiAction.messagesRead,
  'GET /api/v1/messages/:id/events': ApiAction.messagesSearch,
  'GET /api/v1/listener/messages': ApiAction.messagesSearch,
  // The HL7 utilities store nothing; any role may use them.
  'POST /api/v1/hl7/parse': ApiAction.messagesSearch,
  'POST /api/v1/hl7/validate': ApiAction.messagesSearch,
  'GET /api/v1/exceptions': ApiAction.exceptionsRead,
  'POST /api/v1/deliveries/:id/retry': ApiAction.messagesRetry,
  'POST /api/v1/deliveries/:id/resolve': ApiAction.messagesResolve,
  'POST /api/v1/exceptions/retry': ApiAction.messagesRetry,
  'POST /api/v1/exceptions/resolve': ApiAction.exceptionsResolve,
  'POST /api/v1/replay': ApiAction.replayRun,
  'GET /api/v1/channels': ApiAction.channelsRead,
  'GET /api/v1/channels/:id/revisions': ApiAction.channelsRead,
  'GET /api/v1/channels/:id/revisions/:rev': ApiAction.channelsRead,
  'GET /api/v1/channels/:id/diff': ApiAction.channelsRead,
  'GET /api/v1/audit': ApiAction.auditRead,
  // Write-back (src/api/writeback-routes.ts); the policy's actor rules apply inside as well.
  'POST /api/v1/writeback/proposals': ApiAction.writebackPropose,
  'GET /api/v1/writeback/proposals': ApiAction.writebackRead,
  'GET /api/v1/writeback/proposals/:id': ApiAction.writebackRead,
  'GET /api/v1/writeback/proposals/:id/review': ApiAction.writebackRead,
  'POST /api/v1/writeback/proposals/:id/approve': ApiAction.writebackReview,
  'POST /api/v1/writeback/proposals/:id/reject': ApiAction.writebackReview,
  'POST /api/v1/writeback/proposals/:id/sign': ApiAction.writebackReview,
  'POST /api/v1/writeback/proposals/:id/retry': ApiAction.writebackOperate,
  'POST /api/v1/writeback/proposals/:id/resolve': ApiAction.writebackOperate,
  'POST /api/v1/writeback/proposals/:id/close': ApiAction.writebackOperate,
  'GET /api/v1/writeback/reconciliation': ApiAction.writebackRead,
  'GET /api/v1/writeback/drift-report': ApiAction.writebackRead,
  // Channel control for the console (channel-control-routes.ts).
  'GET /api/v1/metrics/summary': ApiAction.metricsRead,
  'GET /api/v1/channels/:id': ApiAction.channelsRead,
  'POST /api/v1/channels/:id/stop': ApiAction.channelsDeploy,
  'POST /api/v1/channels/:id/start': ApiAction.channelsDeploy,
  'POST /api/v1/channels/:id/destinations/:name/pause': ApiAction.channelsDeploy,
  'POST /api/v1/channels/:id/destinations/:name/resume': ApiAction.channelsDeploy,
  'POST /api/v1/channels/:id/deploy': ApiAction.channelsDeploy,
  'POST /api/v1/channels/:id/test': ApiAction.channelsDeploy,
};

/** The FHIR API's prefix; its CapabilityStatement is open (FHIR R4 http.html#capabilities). */
const FHIR_PREFIX = '/fhir/R4';
const OPEN_FHIR_ROUTES = new Set(['/fhir/R4/metadata']);

/** Routes under /api/v1 that need no credentials. */
const OPEN_API_ROUTES = new Set(['/api/v1/openapi.yaml', '/api/v1/openapi.json']);

/** The action a route needs, or undefined when it needs none; 'deny' when it is not in the table. */
export function actionForRoute(method: string, url: string): Action | 'deny' | undefined {
  if (!url.startsWith('/api/v1/') || OPEN_API_ROUTES.has(url)) return undefined;
  return API_ROUTE_ACTIONS[`${method} ${url}`] ?? 'deny';
}

/**
 * Installs authentication and authorization on the routes registered AFTER this call (an onRoute
 * hook), and the /auth routes (token endpoint, login, logout, me, password).
 */
export function installHttpSecurity(app: FastifyInstance, options: HttpSecurityOptions): preHandlerAsyncHookHandler {
  const authenticate = createAuthenticate({ tokens: options.tokens, sessions: options.sessions });
  // On the routes: no promise per request for a token verified already (withVerifiedBearer).
  const apiAuthenticate = withVerifiedBearer(options.tokens, authenticate);
  // The same checks; refusals answered as an OperationOutcome and audited (fhir-auth-refusal.ts).
  const fhirCredentials = withVerifiedBearer(options.tokens, createAuthenticate({ tokens: options.tokens, sessions: options.sessions, answer: fhirAuthRefusal(options.fhirAudit) }));
  const fhirAuthenticate: preHandlerHookHandler = function (req, reply, done) {
    if (req.method === 'GET' && req.url.startsWith('/fhir/R4/metadata') && OPEN_FHIR_ROUTES.has((req.url.split('?')[0] ?? '').replace(/\/+$/, ''))) {
      done();
      return;
    }
    fhirCredentials.call(this, req, reply, done);
  };
  // A route missing from the table is refused to everyone, admins included (fail closed).
  const denyAll: preHandlerAsyncHookHandler = async (req, reply) => {
    await sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_FORBIDDEN', { action: `${req.method} ${req.routeOptions.url ?? ''} (a route without an authorization rule)` }), req.url);
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    // FHIR routes (one catch-all that dispatches inside): authenticated here, except the
    // CapabilityStatement; each interaction is authorized inside by fhirAuthorizer().
    if (route.url.startsWith(FHIR_PREFIX)) {
      const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
      route.preHandler = [fhirAuthenticate, ...existing];
      return;
    }
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      const action = actionForRoute(method, route.url);
      if (action === undefined) continue;
      const guard = action === 'deny' ? denyAll : requireCan(action);
      const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
      route.preHandler = [apiAuthenticate, guard, ...existing];
      break;
    }
  });
  // Plugins load when the server starts (Fastify's register queue), after this returns.
  void app.register(tokenEndpoint, { store: options.identity, issuer: options.tokens, tokenUrl: options.tokenUrl, ...(options.jwks !== undefined ? { jwks: options.jwks } : {}), ...(options.audit !== undefined ? { onEvent: options.audit } : {}) });
  void app.register(loginRoutes, {
    store: options.identity,
    sessions: options.sessions,
    authenticate,
    ...(options.secureCookie !== undefined ? { secureCookie: options.secureCookie } : {}),
    ...(options.loginRateLimiter !== undefined ? { rateLimiter: options.loginRateLimiter } : {}),
    ...(options.audit !== undefined ? { onEvent: options.audit } : {}),
  });
  return authenticate;
}

/** The principal's name for audit records and revision authors: `user:<name>` or `client:<id>`. */
export function actorOf(req: FastifyRequest): string {
  const p = req.principal;
  if (p === undefined) return 'api:anonymous';
  return p.kind === 'user' ? `user:${p.username ?? p.subject}` : `client:${p.clientId ?? p.subject}`;
}

/**
 * The FHIR API's per-interaction check: SMART scopes of a token and the roles of a person, through
 * the same `can()` (roles.ts). Throws, so the FHIR routes answer with an OperationOutcome.
 */
export function fhirAuthorizer(req: FastifyRequest, access: ScopeAccess): void {
  const principal = req.principal;
  if (principal === undefined) throw new SwitchboardError('SWB_ERR_AUTH_REQUIRED');
  if (can(principal, { fhir: access })) return;
  if (principal.scopes !== undefined && !allows(principal.scopes, access, principal.patient === undefined ? {} : { patient: principal.patient })) {
    throw new SwitchboardError('SWB_ERR_AUTH_SCOPE_INSUFFICIENT', { interaction: access.interaction, resourceType: access.resourceType });
  }
  throw new SwitchboardError('SWB_ERR_AUTH_FORBIDDEN', { action: `${access.interaction} ${access.resourceType}` });
}
