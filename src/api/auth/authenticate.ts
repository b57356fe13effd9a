import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler, preHandlerHookHandler } from 'fastify';
import { isSwitchboardError, SwitchboardError } from '../../core/errors.ts';
import type { User } from '../../core/ports/identity-store.ts';
import { sendProblem } from '../problem.ts';
import { can, describeAction, isRole, type Action, type Principal } from './roles.ts';
import { allows } from './scopes.ts';
import { sessionIdFrom, type SessionManager } from './sessions.ts';
import type { AccessTokenClaims, TokenIssuer } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authenticate preHandler (src/api/auth/authenticate.ts). */
    principal?: Principal;
  }
}

export interface AuthenticateOptions {
  readonly tokens: TokenIssuer;
  /** Without it, only bearer tokens are accepted. */
  readonly sessions?: SessionManager;
  readonly realm?: string;
  /** Routes a user with a one-time password may still call; default the /auth ones that change it. */
  readonly passwordChangeRoutes?: readonly string[];
  /**
   * How a refusal is answered (after the WWW-Authenticate header is set); default problem JSON.
   * The FHIR API answers an OperationOutcome instead (src/api/fhir/fhir-auth-refusal.ts).
   */
  readonly answer?: (req: FastifyRequest, reply: FastifyReply, error: SwitchboardError) => FastifyReply | Promise<FastifyReply>;
}

const DEFAULT_PASSWORD_CHANGE_ROUTES = ['/auth/me', '/auth/password', '/auth/logout'];

export function principalFromClaims(claims: AccessTokenClaims): Principal {
  const isClient = claims.clientId !== undefined && claims.sub === claims.clientId;
  return {
    kind: isClient ? 'client' : 'user',
    subject: claims.sub,
    ...(claims.clientId === undefined ? {} : { clientId: claims.clientId }),
    roles: claims.roles.filter(isRole),
    scopes: claims.scopes,
    ...(claims.patient === undefined ? {} : { patient: claims.patient }),
    via: 'token',
  };
}

/**
 * The principal of verified claims, made once per claims object: the verified-token cache
 * (tokens.ts) hands out the same frozen claims for every request with that token, so their
 * principal is the same too. Frozen, as it is shared by those requests; a WeakMap, so it goes when
 * the claims leave the cache.
 */
const principals = new WeakMap<AccessTokenClaims, Principal>();

function principalOfVerified(claims: AccessTokenClaims): Principal {
  let principal = principals.get(claims);
  if (principal === undefined) {
    const made = principalFromClaims(claims);
    principal = Object.freeze({ ...made, roles: Object.freeze([...made.roles]) });
    principals.set(claims, principal);
  }
  return principal;
}

/** RFC 6750 2.1 `Authorization: Bearer <b64token>`. */
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;
/** The last header parsed and its token: a client repeats the same header, request after request. */
let lastBearer: { readonly header: string; readonly token: string | undefined } | undefined;

/** The token of an `Authorization: Bearer` header; undefined when the header is not one. */
function bearerToken(authorization: string): string | undefined {
  if (lastBearer !== undefined && lastBearer.header === authorization) return lastBearer.token;
  const token = BEARER.exec(authorization)?.[1];
  lastBearer = { header: authorization, token };
  return token;
}

export function principalFromUser(user: User): Principal {
  return { kind: 'user', subject: user.id, username: user.username, roles: user.roles.filter(isRole), via: 'session', mustChangePassword: user.mustChangePassword };
}

/**
 * A Fastify preHandler that resolves `request.principal` from `Authorization: Bearer <our JWT>`
 * (RFC 6750 2.1) or else the session cookie. Absent or invalid credentials: 401 with a
 * `WWW-Authenticate: Bearer` challenge (RFC 6750 3; `error="invalid_token"` only when a token was
 * sent) and a problem document with the stable code.
 */
export function createAuthenticate(options: AuthenticateOptions): preHandlerAsyncHookHandler {
  const realm = options.realm ?? 'switchboard';
  const passwordChangeRoutes = new Set(options.passwordChangeRoutes ?? DEFAULT_PASSWORD_CHANGE_ROUTES);
  const answer = options.answer ?? ((req: FastifyRequest, reply: FastifyReply, error: SwitchboardError): FastifyReply => sendProblem(reply, error, req.url));

  const refuse = (req: FastifyRequest, reply: FastifyReply, error: SwitchboardError, tokenSent: boolean): FastifyReply | Promise<FastifyReply> => {
    // The description is ours (codes and fixed text), never token content; quotes cannot occur in it.
    const challenge = tokenSent ? `Bearer realm="${realm}", error="invalid_token", error_description="${error.code}"` : `Bearer realm="${realm}"`;
    reply.header('www-authenticate', challenge);
    return answer(req, reply, error);
  };

  return async function authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const authorization = req.headers.authorization;
    let principal: Principal | undefined;
    if (typeof authorization === 'string' && authorization.length > 0) {
      const token = bearerToken(authorization);
      if (token === undefined) {
        await refuse(req, reply, new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'the Authorization header is not a Bearer token' }), true);
        return;
      }
      try {
        principal = principalOfVerified(await options.tokens.verify(token));
      } catch (error) {
        await refuse(req, reply, isSwitchboardError(error) ? error : new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'it cannot be verified' }), true);
        return;
      }
    } else {
      const sessionId = options.sessions === undefined ? undefined : sessionIdFrom(req.headers.cookie);
      if (sessionId === undefined || options.sessions === undefined) {
        await refuse(req, reply, new SwitchboardError('SWB_ERR_AUTH_REQUIRED'), false);
        return;
      }
      const resolved = await options.sessions.resolve(sessionId);
      if (resolved === undefined) {
        await refuse(req, reply, new SwitchboardError('SWB_ERR_AUTH_SESSION_INVALID'), false);
        return;
      }
      principal = principalFromUser(resolved.user);
    }
    req.principal = principal;
    if (principal.mustChangePassword === true && !passwordChangeRoutes.has(req.routeOptions.url ?? '')) {
      await answer(req, reply, new SwitchboardError('SWB_ERR_AUTH_PASSWORD_CHANGE_REQUIRED'));
    }
  };
}

/**
 * `authenticate` (createAuthenticate over the same `tokens`) as a callback hook that goes on at once,
 * with no promise, when the request carries a bearer token that `tokens` verified already and that
 * is still valid (TokenIssuer.verifiedCached): the principal is the one `authenticate` resolves for
 * it (a token never carries mustChangePassword, a session's flag). Every other request (no
 * credentials, a new, expired or malformed token, a session cookie) goes through `authenticate`.
 */
export function withVerifiedBearer(tokens: TokenIssuer, authenticate: preHandlerAsyncHookHandler): preHandlerHookHandler {
  return function (this: FastifyInstance, req, reply, done) {
    const authorization = req.headers.authorization;
    const token = tokens.verifiedCached !== undefined && typeof authorization === 'string' && authorization.length > 0 ? bearerToken(authorization) : undefined;
    const claims = token === undefined ? undefined : tokens.verifiedCached?.(token);
    if (claims !== undefined) {
      req.principal = principalOfVerified(claims);
      done();
      return;
    }
    authenticate.call(this, req, reply).then(() => done(), done);
  };
}

/**
 * A preHandler, after authenticate, that answers 403 unless `can(principal, action)`. `action` may
 * depend on the request (e.g. the FHIR resource type in the path).
 */
export function requireCan(action: Action | ((req: FastifyRequest) => Action)): preHandlerAsyncHookHandler {
  return async function authorize(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const principal = req.principal;
    if (principal === undefined) {
      reply.header('www-authenticate', 'Bearer realm="switchboard"');
      await sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_REQUIRED'), req.url);
      return;
    }
    const wanted = typeof action === 'function' ? action(req) : action;
    if (can(principal, wanted)) return;
    const context = principal.patient === undefined ? {} : { patient: principal.patient };
    if (typeof wanted !== 'string' && principal.scopes !== undefined && !allows(principal.scopes, wanted.fhir, context)) {
      // RFC 6750 3.1: insufficient_scope names what was missing.
      reply.header('www-authenticate', `Bearer realm="switchboard", error="insufficient_scope"`);
      await sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_SCOPE_INSUFFICIENT', { interaction: wanted.fhir.interaction, resourceType: wanted.fhir.resourceType }), req.url);
      return;
    }
    await sendProblem(reply, new SwitchboardError('SWB_ERR_AUTH_FORBIDDEN', { action: describeAction(wanted) }), req.url);
  };
}
