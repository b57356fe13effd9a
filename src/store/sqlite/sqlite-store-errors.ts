import { SwitchboardError, isSwitchboardError } from '../../core/errors.ts';

/** SQLite result codes that mean "not now" (locked, busy, I/O, disk full): the caller may retry. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL|READONLY|NOMEM|INTERRUPT)/;

function sqliteCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = (error as { code: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** True when the error is a transient condition of the database as a whole, not of one row. */
export function isUnavailable(error: unknown): boolean {
  if (isSwitchboardError(error)) return error.code === 'SWB_ERR_STORE_UNAVAILABLE';
  const code = sqliteCode(error);
  if (code !== undefined) return UNAVAILABLE.test(code);
  // better-sqlite3 throws a TypeError once the connection is closed.
  return error instanceof TypeError && /database connection is not open/i.test(error.message);
}

export function isForeignKeyViolation(error: unknown): boolean {
  return sqliteCode(error) === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/**
 * Maps a driver error to the registry (STYLE.md "Errors"). SQLite messages name tables and
 * columns, never values, so the reason carries no PHI.
 */
export function toStoreError(error: unknown): SwitchboardError {
  if (isSwitchboardError(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  if (isUnavailable(error)) return new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason }, { cause: error });
  return new SwitchboardError('SWB_ERR_STORE_QUERY_FAILED', { sqlstate: sqliteCode(error) ?? 'unknown', reason }, { cause: error });
}

/** Runs a synchronous database step and turns driver errors into SwitchboardErrors. */
export function guarded<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    throw toStoreError(error);
  }
}
