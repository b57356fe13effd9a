import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SwitchboardError } from '../core/errors.ts';
import type { IdentityStore } from '../core/ports/identity-store.ts';
import { ensureAdmin, type EnsureAdminOutcome } from './auth/bootstrap.ts';
import { JwksCache } from './auth/client-assertion.ts';
import { RateLimiter } from './auth/rate-limiter.ts';
import { SessionManager } from './auth/sessions.ts';
import { createTokenIssuer, type TokenKeyPair } from './auth/tokens.ts';
import type { HttpSecurityOptions } from './http-security.ts';

export interface SecuritySetupOptions {
  readonly identity: IdentityStore;
  /**
   * Where the access-token signing key is kept (a JWK pair, mode 0600). Made on first start. Every
   * engine process of one deployment must use the same file (docs/security.md).
   */
  readonly keyFile: string;
  /** The public base URL (issuer and audience of our tokens; the token endpoint's `aud`). */
  readonly publicUrl: string;
  /** Cookie Secure flag: 'auto' (when the request came over TLS) by default. */
  readonly secureCookie?: boolean | 'auto';
}

export interface SecuritySetup {
  readonly security: HttpSecurityOptions;
  /** `created` on first start: the admin's one-time password, to print once and never log. */
  readonly admin: EnsureAdminOutcome;
}

function loadOrCreateKey(file: string): TokenKeyPair | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file, reason: (e as NodeJS.ErrnoException).code ?? 'unreadable' });
  }
  try {
    const key = JSON.parse(text) as TokenKeyPair;
    if (typeof key.alg !== 'string' || typeof key.privateJwk !== 'object' || typeof key.publicJwk !== 'object') throw new Error('shape');
    return key;
  } catch {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: file, reason: 'is not a signing key written by switchboard' });
  }
}

/**
 * The engine's security parts, from its identity store: the signing key (loaded, or made and kept
 * on first start), the token issuer, sessions, the login rate limit, and the first admin.
 */
export async function setupSecurity(options: SecuritySetupOptions): Promise<SecuritySetup> {
  const base = options.publicUrl.replace(/\/+$/, '');
  const existing = loadOrCreateKey(options.keyFile);
  const tokens = await createTokenIssuer({ ...(existing !== undefined ? { keyPair: existing } : { generate: true }), issuer: base, audience: base });
  if (existing === undefined) {
    mkdirSync(dirname(options.keyFile), { recursive: true });
    // wx: never overwrite a key another process wrote in the meantime.
    writeFileSync(options.keyFile, JSON.stringify(tokens.exportKeyPair()), { mode: 0o600, flag: 'wx' });
    chmodSync(options.keyFile, 0o600);
  }
  const admin = await ensureAdmin(options.identity);
  return {
    admin,
    security: {
      identity: options.identity,
      tokens,
      sessions: new SessionManager({ store: options.identity }),
      tokenUrl: `${base}/auth/token`,
      jwks: new JwksCache(),
      loginRateLimiter: new RateLimiter(),
      secureCookie: options.secureCookie ?? 'auto',
    },
  };
}
