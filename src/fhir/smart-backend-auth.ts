import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { SwitchboardError } from '../core/errors.ts';

/**
 * SMART Backend Services client (SMART App Launch 2.x, backend-services.html): a system-to-system
 * OAuth 2.0 client_credentials grant where the client proves itself with a JWT it signs with its
 * private key (RFC 7523 client assertion, `private_key_jwt`).
 *
 *  - The assertion: header alg RS384 or ES384 (the IG's two), `kid` (the IG: SHALL), `typ` JWT and an
 *    optional `jku`; claims iss = sub = client_id, aud = the token URL, exp at most five minutes
 *    ahead (the IG: "no more than five minutes in the future"), a random `jti` (each assertion is
 *    single-use: the server refuses a replayed jti).
 *  - The token is cached and refreshed EARLY: once less than max(30 s, 10% of its lifetime) is left,
 *    so a request never leaves with a token about to expire in flight.
 *  - Single flight: callers that need a token while one is being fetched share that request.
 *  - `invalidate(token)` drops a token a resource server answered 401 to (revoked, key rotated);
 *    the next caller fetches a new one.
 *  - The token URL, when not configured, is discovered from `<fhirBase>/.well-known/smart-configuration`
 *    (SMART App Launch 2.x conformance.html), falling back to the CapabilityStatement's
 *    `rest.security` oauth-uris extension (http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris).
 *
 * Errors are SwitchboardErrors: SWB_ERR_EHR_AUTH_FAILED (permanent: the server refused the client)
 * and SWB_ERR_EHR_AUTH_UNAVAILABLE / SWB_ERR_EHR_DISCOVERY_FAILED (transient). Logs and errors
 * never carry a token or an assertion.
 */

export const SMART_ASSERTION_ALGS = ['RS384', 'ES384'] as const;
export type SmartAssertionAlg = (typeof SMART_ASSERTION_ALGS)[number];

/** The IG's upper bound on an assertion's lifetime (five minutes). */
const MAX_ASSERTION_SECONDS = 300;
const OAUTH_URIS = 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris';

export interface SmartBackendAuthOptions {
  readonly clientId: string;
  /** The signing key: a private JWK, a PEM (PKCS#8, or PKCS#1/SEC1) text, or a key object. */
  readonly privateKey: JWK | string | KeyObject | CryptoKey;
  readonly alg: SmartAssertionAlg;
  /** The key id the server finds the public key by; default the JWK's kid, else its RFC 7638 thumbprint. */
  readonly kid?: string;
  /** The client's JWKS URL, sent as the `jku` header (the server checks it against its allow-list). */
  readonly jku?: string;
  /** The token endpoint; discovered from `fhirBaseUrl` when absent. */
  readonly tokenUrl?: string;
  readonly fhirBaseUrl?: string;
  /** Space-separated SMART v2 scopes, e.g. `system/Observation.c system/DocumentReference.c`. */
  readonly scope?: string;
  /** Per HTTP request (discovery, token); default 10 s. */
  readonly timeoutMs?: number;
  /** Assertion lifetime in seconds, at most 300; default 300. */
  readonly assertionLifetimeSeconds?: number;
  /** Clock for the cache (tests move it); the assertion's own claims always use real time. */
  readonly now?: () => number;
}

export interface SmartAccessToken {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly scope?: string;
  /** Epoch ms. */
  readonly obtainedAt: number;
  readonly expiresAt: number;
}

/** Reads a private key file: a JWK (JSON) or PEM text. */
export async function loadPrivateKeyFile(path: string): Promise<JWK | string> {
  const text = await readFile(path, 'utf8');
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as JWK;
  return text;
}

function timeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'no answer in time';
    const cause = (error as { cause?: unknown }).cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') return code;
    return error.message;
  }
  return String(error);
}

async function getJson(url: string, timeoutMs: number): Promise<{ status: number; json: unknown }> {
  const response = await fetch(url, { headers: { accept: 'application/json, application/fhir+json' }, signal: timeoutSignal(timeoutMs), redirect: 'error' });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** The token endpoint in a CapabilityStatement's `rest[].security` oauth-uris extension, if any. */
export function tokenUrlFromCapabilityStatement(cs: unknown): string | undefined {
  const rest = (cs as { rest?: unknown } | null)?.rest;
  if (!Array.isArray(rest)) return undefined;
  for (const r of rest) {
    const exts = (r as { security?: { extension?: unknown } } | null)?.security?.extension;
    if (!Array.isArray(exts)) continue;
    for (const e of exts) {
      if ((e as { url?: unknown }).url !== OAUTH_URIS) continue;
      const inner = (e as { extension?: unknown }).extension;
      if (!Array.isArray(inner)) continue;
      const token = inner.find((x) => (x as { url?: unknown }).url === 'token') as { valueUri?: unknown } | undefined;
      if (typeof token?.valueUri === 'string') return token.valueUri;
    }
  }
  return undefined;
}

/**
 * The token endpoint of a FHIR server: `.well-known/smart-configuration` first (SMART App Launch 2.x
 * conformance.html: SHALL be served), the CapabilityStatement's oauth-uris extension otherwise.
 */
export async function discoverTokenUrl(fhirBaseUrl: string, timeoutMs = 10_000): Promise<string> {
  const base = trimSlash(fhirBaseUrl);
  const reasons: string[] = [];
  try {
    const { status, json } = await getJson(`${base}/.well-known/smart-configuration`, timeoutMs);
    const url = (json as { token_endpoint?: unknown } | undefined)?.token_endpoint;
    if (status === 200 && typeof url === 'string') return url;
    reasons.push(`smart-configuration: HTTP ${status}${status === 200 ? ' without token_endpoint' : ''}`);
  } catch (error) {
    reasons.push(`smart-configuration: ${reasonOf(error)}`);
  }
  try {
    const { status, json } = await getJson(`${base}/metadata`, timeoutMs);
    const url = status === 200 ? tokenUrlFromCapabilityStatement(json) : undefined;
    if (url !== undefined) return url;
    reasons.push(`metadata: HTTP ${status}${status === 200 ? ' without the oauth-uris extension' : ''}`);
  } catch (error) {
    reasons.push(`metadata: ${reasonOf(error)}`);
  }
  throw new SwitchboardError('SWB_ERR_EHR_DISCOVERY_FAILED', { what: 'the token endpoint', target: base, reason: reasons.join('; ') });
}

interface SigningKey {
  readonly key: CryptoKey | KeyObject | Uint8Array;
  readonly kid: string;
}

export class SmartBackendAuth {
  readonly #o: SmartBackendAuthOptions;
  readonly #timeoutMs: number;
  readonly #lifetime: number;
  readonly #now: () => number;
  #signing: Promise<SigningKey> | undefined;
  #tokenUrl: Promise<string> | undefined;
  #token: SmartAccessToken | undefined;
  #inFlight: Promise<SmartAccessToken> | undefined;
  #requests = 0;

  constructor(options: SmartBackendAuthOptions) {
    if (!(SMART_ASSERTION_ALGS as readonly string[]).includes(options.alg)) {
      throw new SwitchboardError('SWB_ERR_EHR_CONFIG_INVALID', { name: options.clientId, reason: `alg must be RS384 or ES384, not ${String(options.alg)}` });
    }
    if (options.tokenUrl === undefined && options.fhirBaseUrl === undefined) {
      throw new SwitchboardError('SWB_ERR_EHR_CONFIG_INVALID', { name: options.clientId, reason: 'a tokenUrl or a fhirBaseUrl to discover it from is required' });
    }
    const lifetime = options.assertionLifetimeSeconds ?? MAX_ASSERTION_SECONDS;
    if (!Number.isInteger(lifetime) || lifetime < 10 || lifetime > MAX_ASSERTION_SECONDS) {
      throw new SwitchboardError('SWB_ERR_EHR_CONFIG_INVALID', { name: options.clientId, reason: 'assertionLifetimeSeconds must be an integer from 10 to 300' });
    }
    this.#o = options;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#lifetime = lifetime;
    this.#now = options.now ?? Date.now;
  }

  /** Token requests sent so far (for tests and metrics). */
  get tokenRequests(): number {
    return this.#requests;
  }

  /** The token endpoint, configured or discovered (once; a failed discovery is tried again next time). */
  tokenUrl(): Promise<string> {
    if (this.#o.tokenUrl !== undefined) return Promise.resolve(this.#o.tokenUrl);
    if (this.#tokenUrl === undefined) {
      const pending = discoverTokenUrl(this.#o.fhirBaseUrl as string, this.#timeoutMs);
      this.#tokenUrl = pending;
      pending.catch(() => {
        if (this.#tokenUrl === pending) this.#tokenUrl = undefined;
      });
    }
    return this.#tokenUrl;
  }

  /** A valid access token: the cached one unless it is within its refresh margin. */
  async getToken(): Promise<SmartAccessToken> {
    const cached = this.#token;
    if (cached !== undefined && !this.#needsRefresh(cached)) return cached;
    if (this.#inFlight === undefined) {
      const pending = this.#requestToken().finally(() => {
        if (this.#inFlight === pending) this.#inFlight = undefined;
      });
      this.#inFlight = pending;
    }
    return this.#inFlight;
  }

  /** `Bearer <token>` for the Authorization header. */
  async authorization(): Promise<{ header: string; token: string }> {
    const t = await this.getToken();
    return { header: `Bearer ${t.accessToken}`, token: t.accessToken };
  }

  /**
   * Drops `accessToken` from the cache after a resource server answered 401 with it. Only that
   * token: a concurrent caller may already have replaced it with a fresh one.
   */
  invalidate(accessToken: string): void {
    if (this.#token?.accessToken === accessToken) this.#token = undefined;
  }

  /** Refresh when less than max(30 s, 10% of the token's lifetime) is left. */
  #needsRefresh(t: SmartAccessToken): boolean {
    const margin = Math.max(30_000, (t.expiresAt - t.obtainedAt) / 10);
    return this.#now() >= t.expiresAt - margin;
  }

  /** The signed client assertion for one token request. */
  async createAssertion(tokenUrl: string): Promise<string> {
    const { key, kid } = await this.#signingKey();
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: this.#o.alg, kid, typ: 'JWT', ...(this.#o.jku === undefined ? {} : { jku: this.#o.jku }) })
      .setIssuer(this.#o.clientId)
      .setSubject(this.#o.clientId)
      .setAudience(tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.#lifetime)
      .setJti(randomUUID())
      .sign(key);
  }

  #signingKey(): Promise<SigningKey> {
    this.#signing ??= this.#loadKey();
    return this.#signing;
  }

  async #loadKey(): Promise<SigningKey> {
    const { privateKey, alg } = this.#o;
    const bad = (reason: string, cause?: unknown): SwitchboardError =>
      new SwitchboardError('SWB_ERR_EHR_CONFIG_INVALID', { name: this.#o.clientId, reason }, { cause });
    try {
      let key: CryptoKey | KeyObject | Uint8Array;
      let jwk: JWK;
      if (typeof privateKey === 'string') {
        const keyObject = createPrivateKey(privateKey);
        key = keyObject;
        jwk = await exportJWK(keyObject);
      } else if (isJwk(privateKey)) {
        if (privateKey.d === undefined) throw bad('the JWK is not a private key (no d)');
        key = await importJWK(privateKey, alg);
        jwk = privateKey;
      } else {
        key = privateKey;
        jwk = await exportJWK(privateKey);
      }
      const fits = alg === 'RS384' ? jwk.kty === 'RSA' : jwk.kty === 'EC' && jwk.crv === 'P-384';
      if (!fits) throw bad(`the key (${String(jwk.kty)}${jwk.crv === undefined ? '' : ` ${jwk.crv}`}) does not fit ${alg}`);
      const publicPart: JWK = jwk.kty === 'RSA' ? { kty: 'RSA', n: jwk.n as string, e: jwk.e as string } : { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
      const kid = this.#o.kid ?? jwk.kid ?? (await calculateJwkThumbprint(publicPart, 'sha256'));
      return { key, kid };
    } catch (error) {
      this.#signing = undefined;
      if (error instanceof SwitchboardError) throw error;
      throw bad('the private key cannot be read', error);
    }
  }

  async #requestToken(): Promise<SmartAccessToken> {
    const tokenUrl = await this.tokenUrl();
    const assertion = await this.#signingKey().then(() => this.createAssertion(tokenUrl));
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      ...(this.#o.scope === undefined ? {} : { scope: this.#o.scope }),
    });
    const obtainedAt = this.#now();
    this.#requests += 1;
    let response: Response;
    let text: string;
    try {
      response = await fetch(tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        signal: timeoutSignal(this.#timeoutMs),
        redirect: 'error',
      });
      text = await response.text();
    } catch (error) {
      throw new SwitchboardError('SWB_ERR_EHR_AUTH_UNAVAILABLE', { tokenUrl, reason: reasonOf(error) }, { cause: error });
    }
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
    } catch {
      // A non-JSON answer is judged by its status below.
    }
    if (!response.ok) {
      // RFC 6749 5.2: 400/401 with an error code means the server refused this client or request.
      const oauthError = typeof json['error'] === 'string' ? json['error'] : `HTTP ${response.status}`;
      if (response.status === 400 || response.status === 401 || response.status === 403) {
        throw new SwitchboardError('SWB_ERR_EHR_AUTH_FAILED', { tokenUrl, reason: oauthError });
      }
      throw new SwitchboardError('SWB_ERR_EHR_AUTH_UNAVAILABLE', { tokenUrl, reason: oauthError });
    }
    const accessToken = json['access_token'];
    if (typeof accessToken !== 'string' || accessToken === '') {
      throw new SwitchboardError('SWB_ERR_EHR_AUTH_UNAVAILABLE', { tokenUrl, reason: 'the answer carries no access_token' });
    }
    const tokenType = typeof json['token_type'] === 'string' ? json['token_type'] : 'bearer';
    if (tokenType.toLowerCase() !== 'bearer') {
      throw new SwitchboardError('SWB_ERR_EHR_AUTH_FAILED', { tokenUrl, reason: `token_type ${tokenType} is not bearer` });
    }
    // expires_in is required by the IG; 300 s when a server leaves it out (the IG's recommendation).
    const expiresIn = typeof json['expires_in'] === 'number' && json['expires_in'] > 0 ? json['expires_in'] : 300;
    const token: SmartAccessToken = {
      accessToken,
      tokenType,
      ...(typeof json['scope'] === 'string' ? { scope: json['scope'] } : {}),
      obtainedAt,
      expiresAt: obtainedAt + expiresIn * 1000,
    };
    this.#token = token;
    return token;
  }
}

function isJwk(value: unknown): value is JWK {
  return typeof value === 'object' && value !== null && typeof (value as { kty?: unknown }).kty === 'string';
}
