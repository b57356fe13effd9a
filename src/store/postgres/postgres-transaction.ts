import type pg from 'pg';
import { isSwitchboardError, SwitchboardError } from '../../core/errors.ts';

// SQLSTATE classes that mean "try again later": connection exceptions (08), insufficient resources
// (53), operator intervention (57: shutdown, cancel), and transaction rollbacks (40: serialization
// failure, deadlock). PostgreSQL 15 Appendix A.
const TRANSIENT_SQLSTATE = /^(08|40|53|57)/;
const NODE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

/**
 * Turns a driver error into a SwitchboardError. Only the server's primary message and SQLSTATE are
 * kept: `detail` may quote row values (PHI), so neither it nor the original error travels on.
 */
export function toStoreError(error: unknown): SwitchboardError {
  if (isSwitchboardError(error)) return error;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  const message = error instanceof Error ? error.message : String(error);
  if (TRANSIENT_SQLSTATE.test(code) || NODE_NETWORK_CODES.has(code) || /Connection terminated|timeout exceeded when trying to connect|Client was closed|pool/i.test(message)) {
    return new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: code !== '' ? `${code} ${message}` : message });
  }
  // Class 22 (data exception): the input itself cannot be stored, e.g. a NUL character in text.
  if (code.startsWith('22')) return new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: `${code} ${message}` });
  return new SwitchboardError('SWB_ERR_STORE_QUERY_FAILED', { sqlstate: code !== '' ? code : 'none', reason: message });
}

/**
 * Runs `body` in one transaction on a pooled connection; COMMIT on success, ROLLBACK on error.
 * `begin` replaces the plain BEGIN: statements without parameters that should open the transaction
 * in the same round trip (e.g. `BEGIN; SET LOCAL ...`, sent as one simple query).
 */
export async function withTransaction<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toStoreError(error);
  }
  let broken = false;
  try {
    await client.query(begin);
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true; // a connection that cannot roll back is not returned to the pool
    }
    throw toStoreError(error);
  } finally {
    client.release(broken);
  }
}

/** One statement outside an explicit transaction, with errors mapped. */
export async function queryRows<R extends pg.QueryResultRow>(pool: pg.Pool, sql: string, params: readonly unknown[] = []): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(sql, params as unknown[]);
  } catch (error) {
    throw toStoreError(error);
  }
}
