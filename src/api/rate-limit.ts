import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import { SwitchboardError } from '../core/errors.ts';
import { RateLimiter } from './auth/rate-limiter.ts';
import { sessionIdFrom } from './auth/sessions.ts';

/**
 * Per-client rate limits on `/api/v1/*` and `/fhir/R4/*` (issue 5). Health, readiness, metrics and
 * `/auth/*` are never limited here (the login route has its own limiter, auth/rate-limiter.ts).
 *
 * One token bucket per key: `client:<id>` or `user:<id>` once authenticated, else `ip:<address>`.
 * Where it runs, and why:
 *  - onRequest, for requests that carry no credentials at all: keyed by IP, so an anonymous flood
 *    is refused before authentication, routing work or body parsing;
 *  - a preHandler appended to each route AFTER the authentication preHandlers (an onRoute hook
 *    installed after installHttpSecurity), for the rest: keyed by the principal, or by IP on an
 *    open route. Requests refused by authentication (401) are not counted: that check is a
 *    signature verification or a session lookup, and `/auth/login` has its own limiter.
 * Over the limit: 429 with `Retry-After` in seconds (RFC 9110 10.2.3; RFC 6585 4) and
 * SWB_ERR_HTTP_RATE_LIMITED; thrown, so /fhir/R4 answers an OperationOutcome and /api/v1 problem JSON.
 *
 * The buckets live in this process (bounded: the least recently used keys beyond `maxKeys` are
 * forgotten); behind a load balancer each process limits on its own. The client IP is Fastify's
 * `request.ip`: behind a proxy, set Fastify's trustProxy or every client shares the proxy's bucket.
 */
export interface RateLimitOptions {
  /** Requests regained per minute per key; default 600. */
  readonly perMinute?: number;
  /** Requests allowed in a burst per key; default 100. */
  readonly burst?: number;
  /** Keys remembered at most; default 10 000. */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

export const DEFAULT_RATE_PER_MINUTE = 600;
export const DEFAULT_RATE_BURST = 100;

const LIMITED_PREFIXES = ['/api/v1/', '/fhir/R4/'] as const;

/** Whether a path (no query) is under /api/v1 or /fhir/R4: what the limiter and CORS apply to. */
export function isApiPath(path: string): boolean {
  return path === '/fhir/R4' || path === '/api/v1' || LIMITED_PREFIXES.some((p) => path.startsWith(p));
}

/** The bucket key of a request: its principal once known, else its address. */
export function rateLimitKey(req: FastifyRequest): string {
  const p = req.principal;
  if (p !== undefined) return p.kind === 'client' ? `client:${p.clientId ?? p.subject}` : `user:${p.subject}`;
  return `ip:${req.ip}`;
}

function hasCredentials(req: FastifyRequest): boolean {
  const authorization = req.headers.authorization;
  return (typeof authorization === 'string' && authorization.length > 0) || sessionIdFrom(req.headers.cookie) !== undefined;
}

/**
 * Installs the limiter on `app`. Call it after installHttpSecurity (its onRoute hook must run after
 * the one that adds authentication) and before the routes are registered.
 */
export function installRateLimit(app: FastifyInstance, options: RateLimitOptions = {}): RateLimiter {
  const perMinute = options.perMinute ?? DEFAULT_RATE_PER_MINUTE;
  const burst = options.burst ?? Math.min(DEFAULT_RATE_BURST, perMinute);
  for (const [name, value] of [['rateLimit.perMinute', perMinute], ['rateLimit.burst', burst]] as const) {
    if (!Number.isFinite(value) || value < 1) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: name, reason: `must be >= 1, got ${String(value)}` });
  }
  const limiter = new RateLimiter({ capacity: burst, refillPerMinute: perMinute, ...(options.maxKeys !== undefined ? { maxKeys: options.maxKeys } : {}), ...(options.now !== undefined ? { now: options.now } : {}) });
  // Requests already counted in onRequest, so the preHandler does not count them twice.
  const counted = new WeakSet<FastifyRequest>();

  const take = (req: FastifyRequest, reply: FastifyReply): void => {
    counted.add(req);
    const outcome = limiter.take(rateLimitKey(req));
    if (outcome.ok) return;
    reply.header('retry-after', String(outcome.retryAfterSeconds));
    throw new SwitchboardError('SWB_ERR_HTTP_RATE_LIMITED', { retryAfter: outcome.retryAfterSeconds });
  };

  // Callback hooks: they decide at once, and an async hook costs a promise per request.
  const takeThen = (req: FastifyRequest, reply: FastifyReply, done: (error?: FastifyError) => void): void => {
    try {
      take(req, reply);
    } catch (error) {
      done(error as FastifyError);
      return;
    }
    done();
  };

  app.addHook('onRequest', (req, reply, done) => {
    if (hasCredentials(req) || !isApiPath(req.url.split('?')[0] ?? '')) done();
    else takeThen(req, reply, done);
  });

  const limit: preHandlerHookHandler = (req, reply, done) => {
    if (counted.has(req)) done();
    else takeThen(req, reply, done);
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    if (!isApiPath(route.url)) return;
    const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [...existing, limit];
  });
  return limiter;
}
