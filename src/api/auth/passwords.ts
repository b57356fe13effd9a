import { createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password and secret hashing.
 *
 * Passwords: scrypt (RFC 7914), memory-hard, N = 2^15, r = 8, p = 1 by default (the OWASP Password
 * Storage Cheat Sheet minimum, 32 MiB), a 16-byte salt per hash, encoded with its parameters so
 * that they can be raised later without breaking stored hashes: `scrypt$N$r$p$salt$hash`
 * (salt and hash base64url).
 *
 * Machine secrets (OAuth client secrets we generate: 256 random bits) need no stretching (RFC 6819
 * 5.1.4.1.3): `hmac-sha256$salt$hash`, cheap to check, so the token endpoint is not a CPU sink.
 */

const SCRYPT_MIN_LOG2N = 15;
/** Bounds on parameters read back from a stored hash: a corrupt or hostile row must not pin the CPU. */
const SCRYPT_MAX_LOG2N = 20;
const SCRYPT_MAX_R = 16;
const SCRYPT_MAX_P = 4;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Longer input is refused: it adds nothing and invites slow hashing of megabytes. */
export const MAX_PASSWORD_LENGTH = 1024;

export interface ScryptParams {
  /** log2 of the CPU/memory cost N; at least 15. */
  readonly log2N?: number;
  readonly r?: number;
  readonly p?: number;
}

function scryptAsync(password: Buffer, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

/** NIST SP 800-63B 5.1.1.2: normalize Unicode (NFKC) so the same password typed on two keyboards matches. */
function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFKC'), 'utf8');
}

function scryptOptions(N: number, r: number, p: number): ScryptOptions {
  // Node refuses more than 32 MiB by default; scrypt needs 128 * N * r bytes plus a margin.
  return { N, r, p, maxmem: 128 * N * r * 2 + 1024 * 1024 };
}

/** Hashes a password for storage (async: scrypt runs on the libuv pool, not the event loop). */
export async function hashPassword(password: string, params: ScryptParams = {}): Promise<string> {
  const log2N = params.log2N ?? SCRYPT_MIN_LOG2N;
  const r = params.r ?? 8;
  const p = params.p ?? 1;
  if (!Number.isInteger(log2N) || log2N < SCRYPT_MIN_LOG2N || log2N > SCRYPT_MAX_LOG2N) throw new RangeError(`scrypt log2N must be ${SCRYPT_MIN_LOG2N}..${SCRYPT_MAX_LOG2N}`);
  if (password.length > MAX_PASSWORD_LENGTH) throw new RangeError(`a password has at most ${MAX_PASSWORD_LENGTH} characters`);
  const N = 2 ** log2N;
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(passwordBytes(password), salt, KEY_BYTES, scryptOptions(N, r, p));
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Hashes a high-entropy machine secret (see the file comment). */
export function hashSecret(secret: string): string {
  const salt = randomBytes(SALT_BYTES);
  const mac = createHmac('sha256', salt).update(secret, 'utf8').digest();
  return `hmac-sha256$${salt.toString('base64url')}$${mac.toString('base64url')}`;
}

/** A new client secret: 256 random bits, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

function equalBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Checks a password or secret against a stored encoding of either kind. False (never a throw) for
 * a wrong password, an unknown encoding or out-of-bounds parameters. The comparison is constant-time.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  const parts = encoded.split('$');
  if (parts[0] === 'hmac-sha256' && parts.length === 3) {
    const salt = Buffer.from(parts[1] ?? '', 'base64url');
    const expected = Buffer.from(parts[2] ?? '', 'base64url');
    return equalBytes(createHmac('sha256', salt).update(password, 'utf8').digest(), expected);
  }
  if (parts[0] !== 'scrypt' || parts.length !== 6) return false;
  const [, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  const N = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  const log2N = Math.log2(N);
  if (!Number.isInteger(log2N) || log2N < 1 || log2N > SCRYPT_MAX_LOG2N) return false;
  if (!Number.isInteger(r) || r < 1 || r > SCRYPT_MAX_R || !Number.isInteger(p) || p < 1 || p > SCRYPT_MAX_P) return false;
  const salt = Buffer.from(saltText, 'base64url');
  const expected = Buffer.from(hashText, 'base64url');
  if (salt.length === 0 || expected.length === 0) return false;
  const key = await scryptAsync(passwordBytes(password), salt, expected.length, scryptOptions(N, r, p));
  return equalBytes(key, expected);
}

/** True when a stored hash uses weaker parameters than today's default (rehash on the next login). */
export function needsRehash(encoded: string): boolean {
  const parts = encoded.split('$');
  if (parts[0] !== 'scrypt') return parts[0] !== 'hmac-sha256';
  return Number(parts[1]) < 2 ** SCRYPT_MIN_LOG2N || Number(parts[2]) < 8;
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the time of one verification when there is no user to verify against, so that a login
 * for an unknown username takes as long as one with a wrong password (no user enumeration by timing).
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword(generateSecret());
  await verifyPassword(password.slice(0, MAX_PASSWORD_LENGTH), await dummyHash);
  return false;
}

/** Rules for a new password (NIST SP 800-63B 5.1.1.2: length, not composition). */
export function passwordProblem(password: string, context: { readonly username?: string; readonly current?: string } = {}): string | undefined {
  const length = [...password.normalize('NFKC')].length;
  if (length < 12) return 'it must have at least 12 characters';
  if (password.length > MAX_PASSWORD_LENGTH) return `it must have at most ${MAX_PASSWORD_LENGTH} characters`;
  if (context.username !== undefined && password.normalize('NFKC').toLowerCase().includes(context.username.toLowerCase())) return 'it must not contain the username';
  if (context.current !== undefined && password === context.current) return 'it must differ from the current password';
  return undefined;
}
