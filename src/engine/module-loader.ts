import { stat } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModuleRef } from '../core/channel-config.ts';
import { SwitchboardError } from '../core/errors.ts';

/**
 * Loads the functions channel steps name (`{module: ./x.ts, export: fix}`), once, when a channel is
 * compiled. TypeScript modules go through tsx's `tsImport`, so they work when the engine itself
 * runs from compiled `dist/` under plain node; `.js`/`.mjs` are imported as they are.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- user code: checked to be a function at load
export type ModuleFunction = (...args: any[]) => unknown;

const TS_EXT = new Set(['.ts', '.mts', '.cts', '.tsx']);

function configError(path: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path, reason });
}

/** What went wrong, without the module's own message text (it may quote data). */
function failure(e: unknown): string {
  const err = e as { code?: unknown; name?: unknown };
  if (typeof err?.code === 'string') return err.code;
  return typeof err?.name === 'string' ? err.name : 'error';
}

export class ModuleLoader {
  readonly #baseDir: string;
  readonly #modules = new Map<string, Promise<Record<string, unknown>>>();

  constructor(baseDir: string) {
    this.#baseDir = baseDir;
  }

  async #namespace(file: string, stepPath: string, spec: string): Promise<Record<string, unknown>> {
    let hit = this.#modules.get(file);
    if (hit === undefined) {
      hit = (async () => {
        let mtime: number;
        try {
          mtime = (await stat(file)).mtimeMs;
        } catch (e) {
          throw configError(`${stepPath}.module`, `cannot load ${spec} (${failure(e)})`);
        }
        // The mtime in the URL makes an edited module load anew when the channel is reloaded
        // (node caches ES modules by URL for the life of the process).
        const url = `${pathToFileURL(file).href}?v=${Math.trunc(mtime)}`;
        try {
          if (TS_EXT.has(extname(file))) {
            const { tsImport } = await import('tsx/esm/api');
            return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
          }
          return (await import(url)) as Record<string, unknown>;
        } catch (e) {
          throw configError(`${stepPath}.module`, `cannot load ${spec} (${failure(e)})`);
        }
      })();
      this.#modules.set(file, hit);
    }
    return hit;
  }

  /** The named function; SWB_ERR_CONFIG_INVALID naming `stepPath` when the module or export is missing. */
  async load(ref: ModuleRef, stepPath: string): Promise<ModuleFunction> {
    const file = resolve(this.#baseDir, ref.module);
    const ns = await this.#namespace(file, stepPath, ref.module);
    let fn = ns[ref.export];
    // A module loaded as CommonJS (a .ts file with no "type": "module" package.json above it is
    // compiled to CJS by tsx) has module.exports on `default`, its own `default` inside that.
    if (typeof fn !== 'function' && typeof ns['default'] === 'object' && ns['default'] !== null) {
      fn = (ns['default'] as Record<string, unknown>)[ref.export];
    }
    if (typeof fn !== 'function') {
      throw configError(`${stepPath}.export`, `${ref.module} has no function export "${ref.export}"`);
    }
    return fn as ModuleFunction;
  }
}
