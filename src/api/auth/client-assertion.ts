import { decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { SwitchboardError } from '../../core/errors.ts';
import type { IdentityStore, OAuthClient, PublicJwk } from '../../core/ports/identity-store.ts';

/**
 * SMART Backend Services client authentication (SMART App Launch 2.x, backend-services.html;
 * RFC 7523 client assertions): a JWT the client signs with its private key and sends as
 * `client_assertion`. What is checked, in order, and why:
 *  - header: `alg` RS384 or ES384 only (the IG's two algorithms; no HS*, no `none`, no RS256),
 *    `kid` present (the IG: "kid SHALL"), `typ` JWT when present;
 *  - `iss` == `sub` == the client_id of a registered, enabled private_key_jwt client;
 *  - the key: from the registered JWKS, or fetched from the registered JWKS URL; a `jku` header is
 *    accepted only when it is exactly that URL (the IG: the server SHALL check it against the
 *    client's registered allow-list);
 *  - the signature, then `aud` == our token endpoint URL, `exp` present and not past;
 *  - `exp` at most 5 minutes ahead (the IG: "no more than five minutes in the future");
 *  - `jti` not seen before for this client (recorded until `exp`): a replay is refused.
 * The jti is recorded only after the signature verifies, so a forger cannot burn a client's jtis.
 */

export const ASSERTION_ALGS = ['RS384', 'ES384'] as const;
export type AssertionAlg = (typeof ASSERTION_ALGS)[number];

export interface JwksCacheOptions {
  /** How long a fetched key set is used; default 5 minutes. */
  readonly ttlMs?: number;
  /** Per fetch; default 5 s. */
  readonly timeoutMs?: number;
  /** Largest JWKS document accepted; default 64 KiB. */
  readonly maxBytes?: number;
  /** Plain http URLs are refused unless this is set (tests, a local lab). */
  readonly allowHttp?: boolean;
  /** An unknown kid refetches a cached set (key rotation), at most this often; default 30 s. */
  readonly minRefetchMs?: number;
  readonly now?: () => number;
}

interface CachedSet {
  readonly keys: readonly PublicJwk[];
  readonly fetchedAt: number;
}

/** A cache of key sets fetched from clients' registered JWKS URLs, with a TTL. */
export class JwksCache {
  readonly #entries = new Map<string, CachedSet>();
  readonly #inFlight = new Map<string, Promise<CachedSet>>();
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #allowHttp: boolean;
  readonly #minRefetchMs: number;
  readonly #now: () => number;

  constructor(options: JwksCacheOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 300_000;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxBytes = options.maxBytes ?? 64 * 1024;
    this.#allowHttp = options.allowHttp ?? false;
    this.#minRefetchMs = options.minRefetchMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** The key set at `url`, from the cache while fresh. `refresh`: refetch unless fetched very recently. */
  async get(url: string, options: { readonly refresh?: boolean } = {}): Promise<{ readonly keys: readonly PublicJwk[]; readonly fetched: boolean }> {
    const cached = this.#entries.get(url);
    const age = cached === undefined ? Infinity : this.#now() - cached.fetchedAt;
    const stale = age >= this.#ttlMs || (options.refresh === true && age >= this.#minRefetchMs);
    if (cached !== undefined && !stale) return { keys: cached.keys, fetched: false };
    let pending = this.#inFlight.get(url);
    if (pending === undefined) {
      pending = this.#fetch(url).finally(() => this.#inFlight.delete(url));
      this.#inFlight.set(url, pending);
    }
    const set = await pending;
    return { keys: set.keys, fetched: true };
  }

  async #fetch(url: string): Promise<CachedSet> {
    const fail = (reason: string, cause?: unknown): SwitchboardError => new SwitchboardError('SWB_ERR_AUTH_JWKS_FETCH_FAILED', { reason }, { cause });
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw fail('the registered URL is not a URL', error);
    }
    if (parsed.protocol !== 'https:' && !(this.#allowHttp && parsed.protocol === 'http:')) throw fail('only https JWKS URLs are accepted');
    let body: ArrayBuffer;
    try {
      // No redirects: a redirect would lead away from the registered (allow-listed) URL.
      const response = await fetch(parsed, { redirect: 'error', signal: AbortSignal.timeout(this.#timeoutMs), headers: { accept: 'application/json, application/jwk-set+json' } });
      if (!response.ok) throw fail(`HTTP ${response.status}`);
      const declared = Number(response.headers.get('content-length') ?? '0');
      if (declared > this.#maxBytes) throw fail(`larger than ${this.#maxBytes} bytes`);
      body = await response.arrayBuffer();
    } catch (error) {
      if (error instanceof SwitchboardError) throw error;
      const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      throw fail(timedOut ? `no answer within ${this.#timeoutMs} ms` : 'the request failed', error);
    }
    if (body.byteLength > this.#maxBytes) throw fail(`larger than ${this.#maxBytes} bytes`);
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch (error) {
      throw fail('the answer is not JSON', error);
    }
    const keys = (json as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'object' && k !== null)) throw fail('the answer is not a JWK Set');
    const set: CachedSet = { keys: keys as PublicJwk[], fetchedAt: this.#now() };
    this.#entries.set(url, set);
    return set;
  }
}

export interface ClientAssertionOptions {
  readonly store: IdentityStore;
  /** Our token endpoint's URL: the `aud` an assertion must carry. */
  readonly tokenUrl: string;
  readonly jwks: JwksCache;
  /** Default 300 s (the IG's five minutes). */
  readonly maxLifetimeSeconds?: number;
  /** Skew allowed on exp/iat/nbf and on the lifetime bound; default 30 s. */
  readonly clockToleranceSeconds?: number;
  readonly clock?: () => Date;
}

const invalid = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_AUTH_ASSERTION_INVALID', { reason });
const keyProblem = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_AUTH_ASSERTION_KEY', { reason });

/** The members of a public key; anything else in a registered or fetched key (`d`, `p`...) is dropped. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

function keyFits(jwk: PublicJwk, alg: AssertionAlg): boolean {
  if (jwk['alg'] !== undefined && jwk['alg'] !== alg) return false;
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return false;
  return alg === 'RS384' ? jwk['kty'] === 'RSA' : jwk['kty'] === 'EC' && jwk['crv'] === 'P-384';
}

function pickKey(keys: readonly PublicJwk[], kid: string, alg: AssertionAlg): JWK | undefined {
  const found = keys.find((k) => k['kid'] === kid && keyFits(k, alg));
  if (found === undefined) return undefined;
  const out: JWK = {};
  for (const m of PUBLIC_MEMBERS) {
    const v = found[m];
    if (typeof v === 'string') out[m] = v;
  }
  return out;
}

function verifyError(error: unknown): SwitchboardError {
  if (error instanceof joseErrors.JWTExpired) return new SwitchboardError('SWB_ERR_AUTH_ASSERTION_EXPIRED', {}, { cause: error });
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalid('the signature does not verify');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return error.claim === 'aud' ? invalid('aud is not this token endpoint') : invalid(`the ${error.claim} claim is missing or not acceptable`);
  }
  return invalid('it cannot be verified');
}

/**
 * Verifies a client assertion and returns the authenticated client; every failure throws a
 * SwitchboardError with an SWB_ERR_AUTH_* code, answered as `invalid_client` (RFC 6749 5.2).
 * `claimedClientId`: the `client_id` form parameter, when the request carries one.
 */
export async function verifyClientAssertion(assertion: string, options: ClientAssertionOptions, claimedClientId?: string): Promise<OAuthClient> {
  const clock = options.clock ?? (() => new Date());
  const tolerance = options.clockToleranceSeconds ?? 30;
  const maxLifetime = options.maxLifetimeSeconds ?? 300;

  let header: ReturnType<typeof decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion);
    unverified = decodeJwt(assertion);
  } catch {
    throw invalid('it is not a well-formed JWT');
  }
  const alg = header.alg;
  if (alg === undefined || !(ASSERTION_ALGS as readonly string[]).includes(alg)) {
    throw new SwitchboardError('SWB_ERR_AUTH_ASSERTION_ALG', { alg: typeof alg === 'string' ? alg.slice(0, 16) : 'none' });
  }
  const assertionAlg = alg as AssertionAlg;
  if (header.typ !== undefined && header.typ.toUpperCase() !== 'JWT') throw invalid('typ must be JWT');
  if (typeof header.kid !== 'string' || header.kid.length === 0) throw invalid('the header has no kid');
  const clientId = unverified.iss;
  if (typeof clientId !== 'string' || clientId.length === 0 || unverified.sub !== clientId) throw invalid('iss and sub must both be the client_id');
  if (claimedClientId !== undefined && claimedClientId !== clientId) throw invalid('client_id does not match the assertion');

  const client = await options.store.getClient(clientId);
  if (client === undefined || client.disabled || client.kind !== 'private_key_jwt') {
    throw new SwitchboardError('SWB_ERR_AUTH_CLIENT_INVALID', { reason: 'the client is unknown, disabled or not registered for private_key_jwt' });
  }

  let jwk: JWK | undefined;
  if (header.jku !== undefined && header.jku !== client.jku) throw keyProblem('the jku header is not the registered JWKS URL');
  if (client.jku !== undefined) {
    const first = await options.jwks.get(client.jku);
    jwk = pickKey(first.keys, header.kid, assertionAlg);
    // An unknown kid may be a rotated key: refetch once (rate limited by the cache).
    if (jwk === undefined && !first.fetched) jwk = pickKey((await options.jwks.get(client.jku, { refresh: true })).keys, header.kid, assertionAlg);
  } else {
    jwk = pickKey(client.jwks?.keys ?? [], header.kid, assertionAlg);
  }
  if (jwk === undefined) throw keyProblem(`no registered ${assertionAlg} key has this kid`);

  let payload: JWTPayload;
  try {
    const key = await importJWK(jwk, assertionAlg);
    ({ payload } = await jwtVerify(assertion, key, {
      algorithms: [assertionAlg],
      audience: options.tokenUrl,
      issuer: clientId,
      subject: clientId,
      clockTolerance: tolerance,
      currentDate: clock(),
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (error) {
    throw verifyError(error);
  }

  const nowS = clock().getTime() / 1000;
  const exp = payload.exp as number;
  if (exp - nowS > maxLifetime + tolerance) throw new SwitchboardError('SWB_ERR_AUTH_ASSERTION_LIFETIME', { max: maxLifetime });
  const jti = payload.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 255) throw invalid('jti must be a string of 1 to 255 characters');
  // Kept until the assertion could no longer be accepted anyway (exp plus the skew allowed).
  if (!(await options.store.recordJti(clientId, jti, new Date((exp + tolerance) * 1000)))) {
    throw new SwitchboardError('SWB_ERR_AUTH_ASSERTION_REPLAYED');
  }
  return client;
}
