import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isSwitchboardError, SwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { IdentityStore, OAuthClient } from '../../core/ports/identity-store.ts';
import { emit, type AuthEventSink } from './auth-events.ts';
import { JwksCache, verifyClientAssertion } from './client-assertion.ts';
import { verifyPassword } from './passwords.ts';
import { narrowScopes, splitScopes } from './scopes.ts';
import type { TokenIssuer } from './tokens.ts';

/**
 * `POST /auth/token`: the OAuth 2.0 token endpoint (RFC 6749 4.4, client_credentials).
 * Clients authenticate with a signed JWT (SMART Backend Services, RFC 7523 `private_key_jwt`) or a
 * client secret (HTTP Basic or `client_secret_post`, RFC 6749 2.3.1); exactly one method per
 * request. Errors are OAuth JSON (RFC 6749 5.2: `error`, `error_description`) plus our stable
 * `code`; the answer, good or bad, is never cached (RFC 6749 5.1: `Cache-Control: no-store`).
 */

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const FORM = 'application/x-www-form-urlencoded';
/** A token request is a few hundred bytes; an assertion with an RSA signature about 1 KiB. */
const BODY_LIMIT = 16 * 1024;
const MAX_SCOPE_LENGTH = 4096;

export interface TokenEndpointOptions {
  readonly store: IdentityStore;
  readonly issuer: TokenIssuer;
  /** This endpoint's absolute URL, as clients put it in an assertion's `aud`. */
  readonly tokenUrl: string;
  /** Cache for keys fetched from clients' JWKS URLs (one per process). */
  readonly jwks?: JwksCache;
  readonly maxAssertionLifetimeSeconds?: number;
  readonly clock?: () => Date;
  readonly onEvent?: AuthEventSink;
}

type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope' | 'server_error';

function oauthErrorFor(code: ErrorCode): OAuthErrorCode {
  if (code === 'SWB_ERR_AUTH_INVALID_REQUEST' || code === 'SWB_ERR_HTTP_BAD_REQUEST') return 'invalid_request';
  if (code === 'SWB_ERR_AUTH_UNSUPPORTED_GRANT') return 'unsupported_grant_type';
  if (code === 'SWB_ERR_AUTH_INVALID_SCOPE') return 'invalid_scope';
  // Every client-authentication failure (assertion, key, jku fetch, secret) is invalid_client.
  return code.startsWith('SWB_ERR_AUTH_') ? 'invalid_client' : 'server_error';
}

const badRequest = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_AUTH_INVALID_REQUEST', { reason });
const badClient = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_AUTH_CLIENT_INVALID', { reason });

function sendOAuthError(reply: FastifyReply, error: SwitchboardError, basicAttempted: boolean): FastifyReply {
  const oauth = oauthErrorFor(error.code);
  const status = oauth === 'server_error' ? 500 : oauth === 'invalid_client' ? 401 : 400;
  // RFC 6749 5.2: a client that tried HTTP Basic gets 401 with the matching challenge.
  if (oauth === 'invalid_client') reply.header('www-authenticate', basicAttempted ? 'Basic realm="switchboard"' : 'Bearer realm="switchboard"');
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .type('application/json')
    .send({ error: oauth, error_description: oauth === 'server_error' ? 'internal error' : error.message, code: error.code });
}

/** RFC 6749 2.3.1: id and secret are form-urlencoded before the Basic encoding. */
function parseBasic(header: string): { id: string; secret: string } {
  const encoded = header.slice(6).trim();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw badClient('the Basic credentials have no colon');
  try {
    const unform = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
  } catch {
    throw badClient('the Basic credentials are not form-encoded');
  }
}

/** One value per parameter (RFC 6749 3.2: parameters MUST NOT be repeated). */
function singleParams(body: URLSearchParams): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, value] of body) {
    if (out.has(key)) throw badRequest(/^[a-z_]{1,40}$/.test(key) ? `${key} is repeated` : 'a parameter is repeated');
    out.set(key, value);
  }
  return out;
}

async function authenticateBySecret(store: IdentityStore, id: string, secret: string): Promise<OAuthClient> {
  const client = await store.getClient(id);
  if (client === undefined || client.disabled || client.kind !== 'client_secret' || client.secretHash === undefined) throw badClient('unknown client or wrong secret');
  if (!(await verifyPassword(secret, client.secretHash))) throw badClient('unknown client or wrong secret');
  return client;
}

export const tokenEndpoint: FastifyPluginAsync<TokenEndpointOptions> = async (app: FastifyInstance, options: TokenEndpointOptions) => {
  const jwks = options.jwks ?? new JwksCache();
  const clock = options.clock ?? (() => new Date());

  // Encapsulated in this plugin: the form parser and the OAuth error answers apply to its route only.
  if (!app.hasContentTypeParser(FORM)) {
    app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, new URLSearchParams(body as string)));
  }
  app.setErrorHandler((error, req, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    const wrapped = isSwitchboardError(error)
      ? error
      : status !== undefined && status >= 400 && status < 500
        ? badRequest(status === 415 ? `send ${FORM}` : status === 413 ? 'the body is too large' : 'the request cannot be read')
        : new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: String(req.id) }, { cause: error });
    return sendOAuthError(reply, wrapped, typeof req.headers.authorization === 'string' && /^basic /i.test(req.headers.authorization));
  });

  app.post('/auth/token', { bodyLimit: BODY_LIMIT }, async (req: FastifyRequest, reply: FastifyReply) => {
    const authorization = req.headers.authorization;
    const basicAttempted = typeof authorization === 'string' && /^basic /i.test(authorization);
    let claimedClientId: string | undefined;
    try {
      if (!(req.body instanceof URLSearchParams)) throw badRequest(`send ${FORM}`);
      const params = singleParams(req.body);
      const grantType = params.get('grant_type');
      if (grantType === undefined) throw badRequest('grant_type is required');
      if (grantType !== 'client_credentials') throw new SwitchboardError('SWB_ERR_AUTH_UNSUPPORTED_GRANT', { grantType: grantType.slice(0, 64) });

      const assertion = params.get('client_assertion');
      const assertionType = params.get('client_assertion_type');
      const postSecret = params.get('client_secret');
      const methods = [assertion !== undefined || assertionType !== undefined, basicAttempted, postSecret !== undefined].filter(Boolean).length;
      if (methods === 0) throw badClient('no client authentication (client_assertion, HTTP Basic or client_secret)');
      if (methods > 1) throw badRequest('use exactly one client authentication method');
      // Parsed before scope: an unauthenticated caller learns nothing about scopes.
      const formClientId = params.get('client_id');
      claimedClientId = formClientId;

      let client: OAuthClient;
      if (assertion !== undefined || assertionType !== undefined) {
        if (assertionType !== JWT_BEARER_ASSERTION_TYPE) throw badClient(`client_assertion_type must be ${JWT_BEARER_ASSERTION_TYPE}`);
        if (assertion === undefined || assertion.length === 0) throw badClient('client_assertion is missing');
        client = await verifyClientAssertion(
          assertion,
          {
            store: options.store,
            tokenUrl: options.tokenUrl,
            jwks,
            clock,
            ...(options.maxAssertionLifetimeSeconds === undefined ? {} : { maxLifetimeSeconds: options.maxAssertionLifetimeSeconds }),
          },
          formClientId,
        );
      } else if (basicAttempted) {
        const basic = parseBasic(authorization as string);
        claimedClientId = basic.id;
        if (formClientId !== undefined && formClientId !== basic.id) throw badRequest('client_id does not match the Basic credentials');
        client = await authenticateBySecret(options.store, basic.id, basic.secret);
      } else {
        if (formClientId === undefined) throw badClient('client_id is required with client_secret');
        client = await authenticateBySecret(options.store, formClientId, postSecret as string);
      }
      claimedClientId = client.id;

      const scopeParam = params.get('scope');
      // SMART Backend Services: scope is required; we do not guess a default.
      if (scopeParam === undefined || scopeParam.trim().length === 0) throw badRequest('scope is required');
      if (scopeParam.length > MAX_SCOPE_LENGTH) throw badRequest(`scope is longer than ${MAX_SCOPE_LENGTH} characters`);
      const granted = narrowScopes(splitScopes(scopeParam), client.scopes);
      if (granted.length === 0) throw new SwitchboardError('SWB_ERR_AUTH_INVALID_SCOPE');

      const token = await options.issuer.issue({ sub: client.id, clientId: client.id, scopes: granted, roles: client.roles });
      emit(options.onEvent, { type: 'token.issued', requestId: String(req.id), ip: req.ip, clientId: client.id, scopes: granted });
      return reply
        .header('cache-control', 'no-store')
        .header('pragma', 'no-cache')
        .send({ access_token: token.accessToken, token_type: 'bearer', expires_in: token.expiresIn, scope: granted.join(' ') });
    } catch (error) {
      const e = isSwitchboardError(error) ? error : new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: String(req.id) }, { cause: error });
      emit(options.onEvent, { type: 'token.refused', requestId: String(req.id), ip: req.ip, code: e.code, ...(claimedClientId === undefined ? {} : { clientId: claimedClientId.slice(0, 255) }) });
      return sendOAuthError(reply, e, basicAttempted);
    }
  });
};
