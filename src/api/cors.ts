import type { FastifyInstance } from 'fastify';
import { SwitchboardError } from '../core/errors.ts';
import { isApiPath } from './rate-limit.ts';

/**
 * CORS for browser apps on other origins (Fetch standard, "CORS protocol"), on `/api/v1/*` and
 * `/fhir/R4/*` only. Off unless origins are configured: then no CORS header is ever sent and a
 * browser refuses cross-origin reads, which is the safe default for an API serving PHI.
 *
 * An allowed Origin is echoed (never a list, which browsers reject); `Vary: Origin` always, so a
 * cache does not serve one origin's answer to another. `*` is accepted only without credentials
 * (cookies): the Fetch standard forbids `*` with `Access-Control-Allow-Credentials`, and a bearer
 * token in `Authorization` is not a credential in its sense, so token-based apps work with `*`.
 */
export interface CorsOptions {
  /** Serialized origins (`https://app.example.org`) or `*`. Empty: CORS off. */
  readonly origins: readonly string[];
  /** Send `Access-Control-Allow-Credentials: true` (session cookies); refuses `*`. Default false. */
  readonly credentials?: boolean;
  /** How long a browser may cache a preflight, seconds; default 600. */
  readonly maxAgeSeconds?: number;
}

const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
// The request headers the API reads (FHIR R4 http.html: If-Match, If-None-Exist, If-None-Match, Prefer).
const ALLOW_HEADERS = 'Authorization, Content-Type, Accept, X-Correlation-Id, X-Request-Id, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, Prefer';
// Response headers a script may read beyond the CORS-safelisted ones.
const EXPOSE_HEADERS = 'ETag, Location, Last-Modified, Content-Location, X-Correlation-Id, X-Request-Id, Retry-After, WWW-Authenticate';

/** `scheme://host[:port]`, as the Origin header serializes it (RFC 6454 6.2), or `*`. */
export function normalizeOrigin(value: string, index: number): string {
  if (value === '*') return value;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `cors.origins[${index}]`, reason: 'is not an origin (scheme://host[:port])' });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== value.replace(/\/$/, '').toLowerCase()) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `cors.origins[${index}]`, reason: 'must be an http(s) origin with no path, query or credentials' });
  }
  return url.origin;
}

/** Installs the CORS hook; does nothing when no origin is configured. Call before the rate limiter. */
export function installCors(app: FastifyInstance, options: CorsOptions): void {
  const origins = options.origins.map((o, i) => normalizeOrigin(o.trim(), i));
  if (origins.length === 0) return;
  const any = origins.includes('*');
  if (any && options.credentials === true) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'cors.origins', reason: 'cannot be * when credentials are allowed; list the origins' });
  }
  const allowed = new Set(origins);
  const maxAge = String(options.maxAgeSeconds ?? 600);

  // A callback hook: it decides at once, and an async hook costs a promise per request.
  app.addHook('onRequest', (req, reply, done) => {
    if (!isApiPath(req.url.split('?')[0] ?? '')) {
      done();
      return;
    }
    reply.header('vary', 'Origin');
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !(any || allowed.has(origin))) {
      done();
      return;
    }
    reply.header('access-control-allow-origin', any ? '*' : origin);
    if (options.credentials === true) reply.header('access-control-allow-credentials', 'true');
    const requestedMethod = req.headers['access-control-request-method'];
    if (req.method === 'OPTIONS' && typeof requestedMethod === 'string') {
      // A preflight: answered here, before authentication (a browser sends no credentials on it).
      // Answered, so the request goes no further: done is not called.
      reply.header('access-control-allow-methods', ALLOW_METHODS);
      reply.header('access-control-allow-headers', ALLOW_HEADERS);
      reply.header('access-control-max-age', maxAge);
      reply.code(204).send();
      return;
    }
    reply.header('access-control-expose-headers', EXPOSE_HEADERS);
    done();
  });
}
