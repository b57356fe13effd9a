import { randomBytes } from 'node:crypto';
import type { IdentityStore, NewOAuthClient, OAuthClient, PublicJwk } from '../../core/ports/identity-store.ts';
import { SwitchboardError } from '../../core/errors.ts';
import { generateSecret, hashPassword, hashSecret, type ScryptParams } from './passwords.ts';
import { isRole } from './roles.ts';
import { parseScope } from './scopes.ts';

/** Letters and digits that cannot be misread (no 0/O, 1/l/I): 32 symbols, 5 bits each. */
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789AB';

/** A one-time password: 24 symbols, 120 bits. */
export function generateOneTimePassword(): string {
  const bytes = randomBytes(24);
  let out = '';
  for (const b of bytes) out += ALPHABET.charAt(b & 31);
  return out;
}

export type EnsureAdminOutcome = { readonly kind: 'created'; readonly username: string; readonly password: string } | { readonly kind: 'present' };

/**
 * First start: when there are no users at all, creates `admin` with a random one-time password
 * that must be changed at first login. The password is returned to the caller to print once; it
 * is stored only as a hash and never logged. Two processes starting together create one admin
 * (the store's createUser is atomic on the username).
 */
export async function ensureAdmin(store: IdentityStore, options: { readonly username?: string; readonly hashParams?: ScryptParams } = {}): Promise<EnsureAdminOutcome> {
  if ((await store.countUsers()) > 0) return { kind: 'present' };
  const username = options.username ?? 'admin';
  const password = generateOneTimePassword();
  const created = await store.createUser({ username, passwordHash: await hashPassword(password, options.hashParams), roles: ['admin'], mustChangePassword: true });
  return created.kind === 'created' ? { kind: 'created', username, password } : { kind: 'present' };
}

export type AddUserOutcome = { readonly kind: 'created'; readonly username: string; readonly password: string } | { readonly kind: 'exists'; readonly username: string };

/**
 * Adds a person with these roles and a random one-time password they must change at first login
 * (returned once to print; stored only as a hash). Usernames are normalized as login does.
 */
export async function addUser(store: IdentityStore, input: { readonly username: string; readonly roles: readonly string[]; readonly hashParams?: ScryptParams }): Promise<AddUserOutcome> {
  const username = input.username.trim().normalize('NFKC').toLowerCase();
  if (!/^[\p{L}\p{N}._@-]{1,64}$/u.test(username)) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'username', reason: 'must be 1 to 64 letters, digits, or . _ @ -' });
  if (input.roles.length === 0) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'roles', reason: 'at least one role is needed' });
  for (const r of input.roles) if (!isRole(r)) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'roles', reason: `${r} is not a role (admin, operator, reviewer, auditor, read-only)` });
  const password = generateOneTimePassword();
  const created = await store.createUser({ username, passwordHash: await hashPassword(password, input.hashParams), roles: input.roles, mustChangePassword: true });
  return created.kind === 'created' ? { kind: 'created', username, password } : { kind: 'exists', username };
}

const invalid = (reason: string): SwitchboardError => new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'client', reason });
const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

function checkCommon(input: { id: string; scopes: readonly string[]; roles?: readonly string[] }): void {
  if (!/^[\w.:-]{1,255}$/.test(input.id)) throw invalid('id must be 1 to 255 letters, digits, or . _ : -');
  for (const s of input.scopes) {
    if (s.includes('?')) throw invalid(`scope ${s}: query restrictions are not supported`);
    if (s.includes('/') && parseScope(s) === undefined) throw invalid(`scope ${s} is not a SMART scope`);
  }
  for (const r of input.roles ?? []) if (!isRole(r)) throw invalid(`role ${r} is not a role`);
}

/**
 * Registers a SMART Backend Services client with its public keys (a JWK Set) or the https URL they
 * are published at. Private members of a key are refused (a pasted private key is a leak to fix,
 * not to store); each key needs a kid and must be RSA or EC P-384.
 */
export async function registerBackendClient(
  store: IdentityStore,
  input: { readonly id: string; readonly name: string; readonly scopes: readonly string[]; readonly roles?: readonly string[] } & ({ readonly jwks: { readonly keys: readonly PublicJwk[] } } | { readonly jku: string }),
): Promise<OAuthClient> {
  checkCommon(input);
  const base = { id: input.id, name: input.name, kind: 'private_key_jwt' as const, scopes: input.scopes, ...(input.roles === undefined ? {} : { roles: input.roles }) };
  let client: NewOAuthClient;
  if ('jku' in input) {
    if (!input.jku.startsWith('https://')) throw invalid('jku must be an https URL');
    client = { ...base, jku: input.jku };
  } else {
    const keys: PublicJwk[] = [];
    for (const key of input.jwks.keys) {
      if ('d' in key || 'p' in key || 'q' in key) throw invalid('a key holds private members: register the public key only');
      if (typeof key['kid'] !== 'string' || key['kid'].length === 0) throw invalid('every key needs a kid');
      if (key['kty'] !== 'RSA' && !(key['kty'] === 'EC' && key['crv'] === 'P-384')) throw invalid('keys must be RSA (RS384) or EC P-384 (ES384)');
      const clean: Record<string, unknown> = {};
      for (const m of PUBLIC_MEMBERS) if (key[m] !== undefined) clean[m] = key[m];
      keys.push(clean);
    }
    if (keys.length === 0) throw invalid('the JWK Set has no keys');
    client = { ...base, jwks: { keys } };
  }
  return store.putClient(client);
}

/** Registers a client that authenticates with a secret; the secret is returned once, stored hashed. */
export async function registerSecretClient(
  store: IdentityStore,
  input: { readonly id: string; readonly name: string; readonly scopes: readonly string[]; readonly roles?: readonly string[] },
): Promise<{ readonly client: OAuthClient; readonly secret: string }> {
  checkCommon(input);
  const secret = generateSecret();
  const client = await store.putClient({ id: input.id, name: input.name, kind: 'client_secret', secretHash: hashSecret(secret), scopes: input.scopes, ...(input.roles === undefined ? {} : { roles: input.roles }) });
  return { client, secret };
}
