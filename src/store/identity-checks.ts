import { SwitchboardError } from '../core/errors.ts';
import type { NewOAuthClient } from '../core/ports/identity-store.ts';

/** A record the store refuses, whatever the database (both identity stores use it). */
export function invalidRecord(reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
}

/** What every identity store checks before it keeps an OAuth client. */
export function checkClient(client: NewOAuthClient): void {
  if (client.id.length === 0 || client.id.length > 255) throw invalidRecord('a client id has 1 to 255 characters');
  if (client.kind === 'private_key_jwt' && client.jwks === undefined && client.jku === undefined) throw invalidRecord('a private_key_jwt client needs jwks or jku');
  if (client.kind === 'client_secret' && client.secretHash === undefined) throw invalidRecord('a client_secret client needs secretHash');
}
