import { SwitchboardError } from '../core/errors.ts';

/**
 * Readers for a destination's settings object. The channel schema validates settings before a
 * factory sees them, but a factory is also called directly (tests, the CLI), so each one checks
 * what it reads and names the field path in SWB_ERR_CONFIG_INVALID (STYLE.md "Configuration").
 */

export type Settings = Readonly<Record<string, unknown>>;

export function invalid(path: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path, reason });
}

export function requiredString(settings: Settings, path: string, field: string): string {
  const value = settings[field];
  if (typeof value !== 'string' || value === '') throw invalid(`${path}.${field}`, 'must be a non-empty string');
  return value;
}

export function optionalString(settings: Settings, path: string, field: string): string | undefined {
  const value = settings[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid(`${path}.${field}`, 'must be a non-empty string');
  return value;
}

export function optionalInt(settings: Settings, path: string, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const value = settings[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${path}.${field}`, `must be an integer between ${min} and ${max}`);
  }
  return value;
}

export function optionalBoolean(settings: Settings, path: string, field: string): boolean | undefined {
  const value = settings[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(`${path}.${field}`, 'must be true or false');
  return value;
}

export function optionalStringRecord(settings: Settings, path: string, field: string): Readonly<Record<string, string>> | undefined {
  const value = settings[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${path}.${field}`, 'must be an object of strings');
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalid(`${path}.${field}.${key}`, 'must be a string');
    out[key] = v;
  }
  return out;
}

/** Text of an unknown thrown value for error params: the errno code when there is one, never a payload. */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : error.name;
  }
  return 'unknown error';
}

/** Resolves with `'aborted'` as soon as `signal` aborts, else with what `work` resolves to. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T | 'aborted'> {
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise<T | 'aborted'>((resolve, reject) => {
    const onAbort = (): void => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
