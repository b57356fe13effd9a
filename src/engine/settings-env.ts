import { SwitchboardError } from '../core/errors.ts';

/**
 * `${NAME}` and `${NAME:-default}` in a connector's settings are read from the environment when the
 * connector is built, not when the channel is parsed: the stored revision keeps the reference, so
 * secrets (an HMAC key, a password) never land in revisions or exports, and one channel file serves
 * several processes that differ only by environment (ports in a scale-out).
 * A value that is exactly one reference and reads as a number or boolean becomes one.
 */

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

function expand(text: string, env: Readonly<Record<string, string | undefined>>, path: string): string {
  return text.replace(REF, (_m, name: string, fallback: string | undefined) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback !== undefined) return fallback;
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path, reason: `refers to the environment variable ${name}, which is not set` });
  });
}

export function resolveSettingsEnv(value: unknown, env: Readonly<Record<string, string | undefined>>, path: string): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const out = expand(value, env, path);
    if (WHOLE.test(value)) {
      if (/^-?\d+(\.\d+)?$/.test(out)) return Number(out);
      if (out === 'true' || out === 'false') return out === 'true';
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSettingsEnv(v, env, `${path}[${i}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveSettingsEnv(v, env, `${path}.${k}`)]));
  }
  return value;
}
