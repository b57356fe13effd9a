import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, errors as joseErrors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';
import { SwitchboardError } from '../../core/errors.ts';
import { LruMap } from '../../core/lru-map.ts';

/**
 * Switchboard's own access tokens: short-lived JWTs in the shape of RFC 9068 (JWT Profile for
 * OAuth 2.0 Access Tokens: `typ: at+jwt`, iss, aud, sub, client_id, scope, iat, exp, jti), signed
 * with one key pair (ES256 by default, or EdDSA) that the caller generates at first start and keeps.
 */

export type TokenAlg = 'ES256' | 'EdDSA';
const TOKEN_TYP = 'at+jwt';

/** A key pair as JSON (JWK), so the caller can store it in a file or the database and reload it. */
export interface TokenKeyPair {
  readonly alg: TokenAlg;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export interface TokenIssuerOptions {
  /** The key pair to use; or `generate: true` for a new one (export it with `exportKeyPair`). */
  readonly keyPair?: TokenKeyPair;
  readonly generate?: boolean;
  /** With `generate`; default ES256. */
  readonly alg?: TokenAlg;
  /** Our `iss`, e.g. https://switchboard.example.org. */
  readonly issuer: string;
  /** Our `aud` (the FHIR base or API URL); verify requires it. */
  readonly audience: string;
  /** Default 300 (5 minutes). */
  readonly ttlSeconds?: number;
  /** Allowed clock skew on exp/nbf/iat when verifying; default 30 s. */
  readonly clockToleranceSeconds?: number;
  /** Verified tokens remembered (by their exact text, until their `exp` at most); default 10 000, 0 turns it off. */
  readonly verifiedCacheSize?: number;
  readonly clock?: () => Date;
}

export interface IssueInput {
  readonly sub: string;
  readonly clientId?: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly patient?: string;
}

export interface IssuedToken {
  readonly accessToken: string;
  readonly expiresIn: number;
  readonly expiresAt: Date;
  readonly jti: string;
}

export interface AccessTokenClaims {
  readonly sub: string;
  readonly clientId?: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly patient?: string;
  readonly jti: string;
  readonly issuedAt: Date;
  readonly expiresAt: Date;
}

export interface TokenIssuer {
  readonly alg: TokenAlg;
  readonly issuer: string;
  readonly audience: string;
  readonly ttlSeconds: number;
  issue(input: IssueInput): Promise<IssuedToken>;
  /** Verifies signature, typ, exp, nbf, iss, aud; throws SWB_ERR_AUTH_TOKEN_{EXPIRED,AUDIENCE,INVALID}. */
  verify(token: string): Promise<AccessTokenClaims>;
  /**
   * The claims of a token that `verify` accepted and that is still within its validity (the same
   * answer `verify` would give at once), without waiting; undefined for any other token, which then
   * goes through `verify`. Optional: an issuer without a cache of verified tokens has none.
   */
  verifiedCached?(token: string): AccessTokenClaims | undefined;
  /** The key pair to keep (private: store it like a password). */
  exportKeyPair(): TokenKeyPair;
  /** The public key set, for anyone verifying our tokens (e.g. at /.well-known/jwks.json). */
  publicJwks(): { keys: JWK[] };
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

function publicPart(jwk: JWK): JWK {
  const out: JWK = {};
  for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) out[m] = jwk[m];
  return out;
}

async function newKeyPair(alg: TokenAlg): Promise<TokenKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const publicJwk = publicPart(await exportJWK(publicKey));
  const kid = await calculateJwkThumbprint(publicJwk);
  return { alg, privateJwk: { ...(await exportJWK(privateKey)), kid, alg }, publicJwk: { ...publicJwk, kid, alg, use: 'sig' } };
}

function tokenError(error: unknown): SwitchboardError {
  if (error instanceof joseErrors.JWTExpired) return new SwitchboardError('SWB_ERR_AUTH_TOKEN_EXPIRED', {}, { cause: error });
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return new SwitchboardError('SWB_ERR_AUTH_TOKEN_AUDIENCE', {}, { cause: error });
    return new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: `the ${error.claim} claim is not acceptable` }, { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'the signature does not verify' }, { cause: error });
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'its algorithm is not accepted' }, { cause: error });
  if (error instanceof joseErrors.JOSEError) return new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'it is not a well-formed JWT' }, { cause: error });
  return new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'it cannot be verified' }, { cause: error });
}

/**
 * Tokens that verified, by their exact text, until their `exp`: a bearer token is sent with every
 * request, and an ES256 signature check costs far more than the rest of a read. Sound because a
 * token is immutable and this issuer has no revocation (the claims cannot change while it lives); an
 * entry is used only from when it was verified until `exp` (no clock skew allowance: past `exp` the
 * full check runs again, so the tolerance and the EXPIRED answer are jose's as before). Bounded: the
 * least recently used entry goes first. Only tokens that verified are kept, so forged ones cannot
 * fill it.
 */
interface VerifiedEntry {
  readonly claims: AccessTokenClaims;
  readonly from: number;
  readonly until: number;
}

class VerifiedTokens {
  // The token used last is compared by text before the map is asked (LruMap): a client sends the same
  // token with request after request, and a map lookup hashes the whole token (hundreds of
  // characters) each time, as it arrives in a new string.
  readonly #entries: LruMap<string, VerifiedEntry>;
  constructor(max: number) {
    this.#entries = new LruMap(max);
  }

  get(token: string, now: number): AccessTokenClaims | undefined {
    const hit = this.#entries.get(token);
    if (hit === undefined || now < hit.from || now >= hit.until) return undefined;
    return hit.claims;
  }

  set(token: string, claims: AccessTokenClaims, now: number): void {
    const until = claims.expiresAt.getTime();
    if (now >= until) return;
    this.#entries.set(token, { claims, from: now, until });
  }
}

const DEFAULT_VERIFIED_CACHE = 10_000;

const stringArray = (value: unknown): string[] | undefined => (Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined);

export async function createTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  let keyPair = options.keyPair;
  if (keyPair === undefined) {
    if (options.generate !== true) throw new TypeError('createTokenIssuer needs keyPair or generate: true');
    keyPair = await newKeyPair(options.alg ?? 'ES256');
  }
  const pair = keyPair;
  const alg = pair.alg;
  const privateKey = (await importJWK(pair.privateJwk, alg)) as CryptoKey;
  const publicKey = (await importJWK(pair.publicJwk, alg)) as CryptoKey;
  const kid = pair.publicJwk.kid;
  const ttlSeconds = options.ttlSeconds ?? 300;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new RangeError('ttlSeconds must be a positive integer');
  const custom = options.clock;
  const clock = custom ?? (() => new Date());
  // The time as a number: a token found in the cache needs no Date.
  const nowMs = custom === undefined ? Date.now : (): number => custom().getTime();
  const tolerance = options.clockToleranceSeconds ?? 30;
  const verified = new VerifiedTokens(options.verifiedCacheSize ?? DEFAULT_VERIFIED_CACHE);

  return {
    alg,
    issuer: options.issuer,
    audience: options.audience,
    ttlSeconds,

    async issue(input) {
      const nowS = Math.floor(clock().getTime() / 1000);
      const jti = randomUUID();
      const claims: Record<string, unknown> = { scope: input.scopes.join(' '), roles: [...input.roles] };
      if (input.clientId !== undefined) claims['client_id'] = input.clientId;
      if (input.patient !== undefined) claims['patient'] = input.patient;
      const accessToken = await new SignJWT(claims)
        .setProtectedHeader({ alg, typ: TOKEN_TYP, ...(kid === undefined ? {} : { kid }) })
        .setIssuer(options.issuer)
        .setAudience(options.audience)
        .setSubject(input.sub)
        .setIssuedAt(nowS)
        .setNotBefore(nowS)
        .setExpirationTime(nowS + ttlSeconds)
        .setJti(jti)
        .sign(privateKey);
      return { accessToken, expiresIn: ttlSeconds, expiresAt: new Date((nowS + ttlSeconds) * 1000), jti };
    },

    verifiedCached(token) {
      return verified.get(token, nowMs());
    },

    async verify(token) {
      const at = nowMs();
      const known = verified.get(token, at);
      if (known !== undefined) return known;
      const now = new Date(at);
      let payload;
      try {
        // The public key is imported once (above), not per call.
        ({ payload } = await jwtVerify(token, publicKey, {
          algorithms: [alg],
          issuer: options.issuer,
          audience: options.audience,
          typ: TOKEN_TYP,
          clockTolerance: tolerance,
          currentDate: now,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        }));
      } catch (error) {
        throw tokenError(error);
      }
      const scope = payload['scope'];
      const roles = stringArray(payload['roles']);
      if (typeof scope !== 'string' || roles === undefined || typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || payload.exp === undefined || payload.iat === undefined) {
        throw new SwitchboardError('SWB_ERR_AUTH_TOKEN_INVALID', { reason: 'required claims are missing' });
      }
      const clientId = payload['client_id'];
      const patient = payload['patient'];
      const claims: AccessTokenClaims = Object.freeze({
        sub: payload.sub,
        ...(typeof clientId === 'string' ? { clientId } : {}),
        scopes: Object.freeze(scope.split(' ').filter((s) => s.length > 0)),
        roles: Object.freeze([...roles]),
        ...(typeof patient === 'string' ? { patient } : {}),
        jti: payload.jti,
        issuedAt: new Date(payload.iat * 1000),
        expiresAt: new Date(payload.exp * 1000),
      });
      verified.set(token, claims, now.getTime());
      return claims;
    },

    exportKeyPair: () => pair,
    publicJwks: () => ({ keys: [pair.publicJwk] }),
  };
}
