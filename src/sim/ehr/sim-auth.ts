import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet } from 'jose';

/**
 * The simulator's SMART Backend Services authorization server (SMART App Launch 2.x,
 * backend-services.html; RFC 7523 private_key_jwt client assertions; RFC 6749 client_credentials).
 * Checks what a real EHR's token endpoint checks, so that a client that passes here is not fooled:
 * alg RS384/ES384, kid, iss = sub = a registered client id, the signature against that client's
 * registered JWKS, aud = our token URL, exp present and at most five minutes ahead, jti never reused.
 * Access tokens are opaque random strings with an expiry and the scopes granted.
 */

export const SIM_ASSERTION_ALGS = ['RS384', 'ES384'] as const;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART backend-services: "exp ... no more than five minutes in the future". */
const MAX_ASSERTION_SECONDS = 300;
const CLOCK_TOLERANCE_SECONDS = 5;
export const DEFAULT_SIM_SCOPES: readonly string[] = ['system/*.read', 'system/*.write'];

export interface SimClientInput {
  clientId: string;
  jwks: { keys: object[] };
  scopes?: string[];
}

interface SimClient {
  readonly clientId: string;
  readonly jwks: JSONWebKeySet;
  readonly scopes: readonly string[];
}

export interface SimAccessToken {
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly expiresAt: number;
}

/** An RFC 6749 5.2 error answer. */
export interface OAuthError {
  readonly status: number;
  readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope';
  readonly description: string;
}

export type TokenResult =
  | { readonly ok: true; readonly body: { access_token: string; token_type: 'bearer'; expires_in: number; scope: string } }
  | { readonly ok: false; readonly error: OAuthError };

export type BearerResult = { readonly ok: true; readonly token: SimAccessToken } | { readonly ok: false; readonly reason: string };

/** A SMART scope in both v1 (`system/Observation.write`) and v2 (`system/Observation.cu`) syntax. */
interface ParsedScope {
  readonly context: string;
  readonly type: string;
  readonly perms: ReadonlySet<string>;
}

function parseScope(scope: string): ParsedScope | undefined {
  // SMART v2 scopes may carry a query (`?category=...`); the simulator does not narrow by it.
  const m = /^(system|user|patient)\/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$/.exec(scope);
  if (m === null) return undefined;
  const [, context = '', type = '', rawPerms = ''] = m;
  let perms: string;
  if (rawPerms === 'read') perms = 'rs';
  else if (rawPerms === 'write') perms = 'cud';
  else if (rawPerms === '*') perms = 'cruds';
  else if (/^c?r?u?d?s?$/.test(rawPerms)) perms = rawPerms;
  else return undefined;
  return { context, type, perms: new Set(perms) };
}

function covers(allowed: ParsedScope, wanted: ParsedScope): boolean {
  if (allowed.context !== wanted.context) return false;
  if (allowed.type !== '*' && allowed.type !== wanted.type) return false;
  for (const p of wanted.perms) if (!allowed.perms.has(p)) return false;
  return true;
}

export class SimAuth {
  readonly #clients = new Map<string, SimClient>();
  readonly #tokens = new Map<string, SimAccessToken>();
  /** Used jtis per client, each kept until its assertion's exp (then a replay fails on exp anyway). */
  readonly #jtis = new Map<string, Map<string, number>>();
  readonly #ttlSeconds: number;

  constructor(options: { tokenTtlSeconds: number }) {
    this.#ttlSeconds = options.tokenTtlSeconds;
  }

  registerClient(input: SimClientInput): void {
    if (typeof input.clientId !== 'string' || input.clientId === '') throw new RangeError('clientId must be a non-empty string');
    if (typeof input.jwks !== 'object' || input.jwks === null || !Array.isArray(input.jwks.keys)) throw new RangeError('jwks must be a JWK Set ({ keys: [...] })');
    for (const key of input.jwks.keys) {
      // A private member in a registered key means someone pasted a private key: refuse it.
      if (typeof key !== 'object' || key === null || 'd' in key) throw new RangeError('jwks must hold public keys only');
    }
    const scopes = input.scopes ?? [...DEFAULT_SIM_SCOPES];
    for (const s of scopes) if (parseScope(s) === undefined) throw new RangeError(`not a SMART resource scope: ${s}`);
    this.#clients.set(input.clientId, { clientId: input.clientId, jwks: structuredClone(input.jwks) as JSONWebKeySet, scopes });
  }

  clientIds(): string[] {
    return [...this.#clients.keys()];
  }

  /**
   * The token endpoint (SMART backend-services "Request an access token"). `audiences`: the URLs
   * of our token endpoint the assertion's aud may name (the configured one and the one the request
   * was addressed to).
   */
  async issueToken(form: URLSearchParams, audiences: readonly string[]): Promise<TokenResult> {
    const fail = (status: number, error: OAuthError['error'], description: string): TokenResult => ({ ok: false, error: { status, error, description } });
    if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    if (form.get('client_assertion_type') !== ASSERTION_TYPE) return fail(400, 'invalid_request', `client_assertion_type must be ${ASSERTION_TYPE}`);
    const assertion = form.get('client_assertion');
    if (assertion === null || assertion === '') return fail(400, 'invalid_request', 'client_assertion is missing');

    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      return fail(400, 'invalid_client', 'client_assertion is not a JWT');
    }
    if (!(SIM_ASSERTION_ALGS as readonly unknown[]).includes(header.alg)) return fail(400, 'invalid_client', 'alg must be RS384 or ES384');
    if (typeof header.kid !== 'string' || header.kid === '') return fail(400, 'invalid_client', 'the assertion header has no kid');
    const clientId = claims.iss;
    const client = typeof clientId === 'string' ? this.#clients.get(clientId) : undefined;
    if (client === undefined) return fail(400, 'invalid_client', 'iss is not a registered client');
    if (claims.sub !== client.clientId) return fail(400, 'invalid_client', 'sub must equal iss (the client id)');
    const formClientId = form.get('client_id');
    if (formClientId !== null && formClientId !== client.clientId) return fail(400, 'invalid_client', 'client_id does not match the assertion');

    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      const verified = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
        algorithms: [...SIM_ASSERTION_ALGS],
        audience: [...audiences],
        issuer: client.clientId,
        subject: client.clientId,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      payload = verified.payload;
    } catch (e) {
      return fail(400, 'invalid_client', describeJoseError(e));
    }
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp as number;
    if (exp > now + MAX_ASSERTION_SECONDS + CLOCK_TOLERANCE_SECONDS) return fail(400, 'invalid_client', 'exp is more than five minutes ahead');
    const jti = String(payload.jti);
    let used = this.#jtis.get(client.clientId);
    if (used === undefined) {
      used = new Map();
      this.#jtis.set(client.clientId, used);
    }
    for (const [j, until] of used) if (until + CLOCK_TOLERANCE_SECONDS < now) used.delete(j);
    // Recorded only after the signature verified: a forger cannot burn a client's jtis.
    if (used.has(jti)) return fail(400, 'invalid_client', 'jti was already used (replay)');
    used.set(jti, exp);

    const granted = this.#grant(client, form.get('scope'));
    if (granted.length === 0) return fail(400, 'invalid_scope', 'none of the requested scopes is allowed for this client');
    const accessToken = randomBytes(32).toString('base64url');
    this.#pruneTokens();
    this.#tokens.set(accessToken, { clientId: client.clientId, scopes: granted, expiresAt: Date.now() + this.#ttlSeconds * 1000 });
    return { ok: true, body: { access_token: accessToken, token_type: 'bearer', expires_in: this.#ttlSeconds, scope: granted.join(' ') } };
  }

  /** Requested scopes the client may have (all of its scopes when none are requested). */
  #grant(client: SimClient, requested: string | null): string[] {
    if (requested === null || requested.trim() === '') return [...client.scopes];
    const allowed = client.scopes.map(parseScope).filter((s): s is ParsedScope => s !== undefined);
    return requested
      .split(/\s+/)
      .filter((s) => s !== '')
      .filter((s) => {
        const wanted = parseScope(s);
        return wanted !== undefined && allowed.some((a) => covers(a, wanted));
      });
  }

  #pruneTokens(): void {
    const now = Date.now();
    for (const [t, v] of this.#tokens) if (v.expiresAt <= now) this.#tokens.delete(t);
  }

  /** Checks an Authorization header (RFC 6750 2.1). */
  checkBearer(authorization: string | undefined): BearerResult {
    if (authorization === undefined) return { ok: false, reason: 'no bearer token' };
    const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    if (m === null) return { ok: false, reason: 'the Authorization header is not a bearer token' };
    const token = this.#tokens.get(m[1] as string);
    if (token === undefined) return { ok: false, reason: 'unknown access token' };
    if (token.expiresAt <= Date.now()) {
      this.#tokens.delete(m[1] as string);
      return { ok: false, reason: 'the access token has expired' };
    }
    return { ok: true, token };
  }

  /** Whether a token's scopes allow `perm` (SMART v2 letters c r u d s) on `resourceType`. */
  static allows(token: SimAccessToken, resourceType: string, perm: 'c' | 'r' | 'u' | 'd' | 's'): boolean {
    return token.scopes.some((s) => {
      const p = parseScope(s);
      return p !== undefined && p.context !== 'patient' && (p.type === '*' || p.type === resourceType) && p.perms.has(perm);
    });
  }
}

function describeJoseError(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'the assertion has expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `claim ${e.claim} is invalid (${e.reason})`;
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'no registered key matches the assertion kid and alg';
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'alg must be RS384 or ES384';
  return 'the assertion could not be verified';
}
