import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ChannelConfig, Condition, ModuleRef, TransformStep } from '../core/channel-config.ts';
import { exportChannelDocument, parseChannelDocument } from '../core/channel-schema.ts';
import { SwitchboardError } from '../core/errors.ts';
import { tenantFiles } from '../mapping/tenant-config.ts';
import { compilePipeline, type CompiledPipeline } from './channel-pipeline.ts';

/**
 * Reads a directory of channel files (`*.yaml`, `*.yml`; `*_test.yaml` are channel tests, not
 * channels), validates each with the one schema and compiles its pipeline. The revision identity
 * of a channel is the hash of its canonical export plus every module it references, so editing a
 * module's code is a new revision even when the YAML did not change (invariant 8).
 */

export interface LoadedChannel {
  readonly file: string;
  readonly config: ChannelConfig;
  /** The deterministic YAML export: what a revision stores. */
  readonly document: string;
  /** sha256 hex of the document and the referenced modules' bytes. */
  readonly hash: string;
  readonly pipeline: CompiledPipeline;
}

const CHANNEL_FILE = /\.ya?ml$/;
const TEST_FILE = /_test\.ya?ml$/;

export function isChannelFile(name: string): boolean {
  return CHANNEL_FILE.test(name) && !TEST_FILE.test(name);
}

function isModuleRef(x: unknown): x is ModuleRef {
  return typeof x === 'object' && x !== null && 'module' in x;
}

function conditionModules(c: Condition, out: string[]): void {
  if (isModuleRef(c)) out.push(c.module);
  else if ('all' in c) for (const x of c.all) conditionModules(x, out);
  else if ('any' in c) for (const x of c.any) conditionModules(x, out);
  else if ('not' in c) conditionModules(c.not, out);
}

function stepModules(steps: readonly TransformStep[], out: string[]): void {
  for (const s of steps) {
    if (isModuleRef(s)) out.push(s.module);
    else if ('toFhir' in s) {
      if (s.toFhir.tenant !== undefined) out.push(s.toFhir.tenant);
    } else if ('when' in s) {
      conditionModules(s.when, out);
      stepModules(s.then, out);
    }
  }
}

/** Every module and tenant mapping file a channel references, relative to its file, sorted and unique. */
export function channelModules(config: ChannelConfig): string[] {
  const out: string[] = [];
  if (isModuleRef(config.orderingKey)) out.push(config.orderingKey.module);
  for (const f of config.filters) conditionModules('accept' in f ? f.accept : f.reject, out);
  stepModules(config.transformers, out);
  for (const d of config.destinations) {
    if (d.when !== undefined) conditionModules(d.when, out);
    stepModules(d.transformers, out);
  }
  return [...new Set(out)].sort();
}

export async function channelHash(config: ChannelConfig, document: string, baseDir: string): Promise<string> {
  const h = createHash('sha256').update(document);
  for (const m of channelModules(config)) {
    // A tenant mapping file brings its code map CSVs along.
    const files = /\.(ya?ml|json)$/i.test(m) ? tenantFiles(resolve(baseDir, m)) : [resolve(baseDir, m)];
    for (const f of files) {
      h.update('\0').update(f === resolve(baseDir, m) ? m : f).update('\0');
      try {
        h.update(await readFile(f));
      } catch {
        // A missing file fails compilation with a path-naming error; the hash need not.
      }
    }
  }
  return h.digest('hex');
}

/** Loads one channel file. Throws SWB_ERR_CONFIG_INVALID naming the file and field. */
export async function loadChannelFile(file: string): Promise<LoadedChannel> {
  return loadChannelText(await readFile(file, 'utf8'), file, resolve(file, '..'));
}

/** Loads a channel from YAML text; `file` names it in errors, modules resolve against `baseDir`. */
export async function loadChannelText(text: string, file: string, baseDir: string): Promise<LoadedChannel> {
  const config = parseChannelDocument(text, file);
  const document = exportChannelDocument(config);
  const [hash, pipeline] = await Promise.all([channelHash(config, document, baseDir), compilePipeline(config, { baseDir })]);
  return { file, config, document, hash, pipeline };
}

/** Loads every channel of a directory (not recursive), sorted by file name; ids must be unique. */
export async function loadChannelDir(dir: string): Promise<LoadedChannel[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isChannelFile).sort();
  } catch (e) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: dir, reason: `cannot read the channel directory (${(e as NodeJS.ErrnoException).code ?? 'error'})` });
  }
  const loaded: LoadedChannel[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const channel = await loadChannelFile(join(dir, name));
    const other = seen.get(channel.config.id);
    if (other !== undefined) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${name}: id`, reason: `"${channel.config.id}" is also the id of ${other}` });
    seen.set(channel.config.id, name);
    loaded.push(channel);
  }
  return loaded;
}
