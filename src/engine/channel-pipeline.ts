import type { ChannelConfig, Condition, ModuleRef, TransformStep } from '../core/channel-config.ts';
import { isSwitchboardError, SwitchboardError, type ErrorCode } from '../core/errors.ts';
import { Hl7Message, parsePath, parseMessage } from '../hl7v2/index.ts';
import { loadTenantConfig, type TenantMappingConfig } from '../mapping/tenant-config.ts';
import { convertV2ToFhir } from '../mapping/v2-to-fhir.ts';
import { resolve as resolvePath } from 'node:path';
import { ModuleLoader, type ModuleFunction } from './module-loader.ts';

/**
 * A channel's pipeline, compiled once per config revision: filters, then the channel's
 * transformers, then per destination its `when` route and its own transformers on its own copy
 * (ARCHITECTURE.md "A message's path"). It is pure: it reads the input and returns outputs; the
 * runtime stores them. Regular expressions, paths and modules are checked and loaded at compile
 * time, so a bad channel fails when it is loaded, not on the first message.
 *
 * Results and errors name the step (`destinations[1].transformers[0]`) and a code, never a field
 * value or a module's error text: those may hold PHI (invariant 7).
 */

export interface PipelineContext {
  readonly channelId: string;
  readonly configRevision: number;
  readonly correlationId: string;
  readonly messageId?: string;
}

export interface PipelineOutput {
  /** The destination's name within the channel. */
  readonly destination: string;
  readonly payload: string;
}

export type PipelineResult =
  /** Outputs in config order; a destination whose `when` does not hold is absent. */
  | { readonly kind: 'routed'; readonly outputs: readonly PipelineOutput[] }
  | { readonly kind: 'filtered'; readonly reason: string }
  /** `reason` names the step and what failed, never a value. */
  | { readonly kind: 'error'; readonly errorCode: ErrorCode; readonly reason: string };

export interface PipelineInput {
  readonly content: string;
  readonly contentType: 'hl7v2' | 'fhir+json' | 'text';
  /** The parsed message, when the caller has it; it is never modified. */
  readonly message?: Hl7Message;
}

export interface CompiledPipeline {
  run(input: PipelineInput, ctx: PipelineContext): Promise<PipelineResult>;
  /** The ordering key per config.orderingKey (HL7 path or module); undefined when none or empty. */
  orderingKey(message: Hl7Message, ctx: PipelineContext): Promise<string | undefined>;
}

/** What a module function gets as its second argument. */
export interface ModuleContext extends PipelineContext {
  readonly tables: ChannelConfig['tables'];
  /** Set for a destination's own steps and `when`. */
  readonly destination?: string;
}

/** A step's failure, turned into an `error` result by run(). */
class StepFailure {
  constructor(
    readonly code: ErrorCode,
    readonly reason: string,
  ) {}
}

/**
 * The message as it goes through the steps. Copy-on-write: a step that changes it first makes
 * its own copy (a lossless re-parse), so the caller's message and the copy shared by destinations
 * stay as they were.
 */
class Work {
  message: Hl7Message | undefined;
  /** The current content when it is not (yet) a message: non-HL7 input, or a module's string. */
  text: string | undefined;
  owned: boolean;
  /** Changes once: a toFhir step turns HL7 v2 into FHIR JSON. */
  contentType: PipelineInput['contentType'];

  constructor(contentType: PipelineInput['contentType'], message: Hl7Message | undefined, text: string | undefined, owned: boolean) {
    this.contentType = contentType;
    this.message = message;
    this.text = text;
    this.owned = owned;
  }

  fork(): Work {
    return new Work(this.contentType, this.message, this.text, false);
  }

  /** The message to read; parses text a module returned. */
  read(step: string): Hl7Message {
    if (this.message !== undefined) return this.message;
    if (this.contentType !== 'hl7v2') throw new StepFailure('SWB_ERR_PIPELINE_NOT_HL7', `${step} needs HL7 v2 input`);
    try {
      this.message = parseMessage(this.text ?? '');
    } catch (e) {
      throw new StepFailure(isSwitchboardError(e) ? e.code : 'SWB_ERR_PIPELINE_STEP_FAILED', `${step}: the text an earlier module returned is not HL7 v2`);
    }
    this.text = undefined;
    this.owned = true;
    return this.message;
  }

  /** The message to change: this work's own copy. */
  write(step: string): Hl7Message {
    const m = this.read(step);
    if (!this.owned) {
      this.message = parseMessage(m.toString());
      this.owned = true;
    }
    return this.message as Hl7Message;
  }

  /** What a module gets first: the message (its own copy), or the text for non-HL7 input. */
  forModule(step: string): Hl7Message | string {
    // HL7 input stays a message for modules even after one returned text (re-parsed here).
    if (this.message !== undefined || this.contentType === 'hl7v2') return this.write(step);
    return this.text ?? '';
  }

  payload(cache: Map<Hl7Message, string>): string {
    if (this.message === undefined) return this.text ?? '';
    let p = cache.get(this.message);
    if (p === undefined) {
      // Segments end with CR on the way out whatever the input used (HL7 v2.5.1 ch.2 2.5.1).
      p = this.message.toString({ terminator: '\r' });
      cache.set(this.message, p);
    }
    return p;
  }
}

type Check = (w: Work, ctx: ModuleContext) => boolean | Promise<boolean>;
type Step = (w: Work, ctx: ModuleContext) => void | Promise<void>;

function isModuleRef(x: object): x is ModuleRef {
  return 'module' in x;
}

function configError(path: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path, reason });
}

/** Checks an HL7 path at compile time; messages are read with it later. */
function checkPath(path: string, at: string): string {
  try {
    if (parsePath(path).segment === undefined) throw configError(at, 'must name a segment, e.g. PID-3.1');
  } catch (e) {
    if (isSwitchboardError(e) && e.code === 'SWB_ERR_HL7_BAD_PATH') throw configError(at, `is not an HL7 path: ${String(e.params['reason'])}`);
    throw e;
  }
  return path;
}

/** `ADT^A0*` -> /^ADT\^A0.*$/; a pattern without `^EVENT` matches every event of its type. */
function messageTypePattern(pattern: string): RegExp {
  const [code = '*', event = '*'] = pattern.split('^');
  const part = (p: string): string => p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${part(code)}\\^${part(event)}$`);
}

/** The text a condition compares: absent, empty and the HL7 null `""` all read as ''. */
function valueAt(m: Hl7Message, path: string): string {
  return m.get(path) ?? '';
}

function threw(step: string): StepFailure {
  return new StepFailure('SWB_ERR_PIPELINE_STEP_FAILED', `${step} threw`);
}

async function callModule(fn: ModuleFunction, w: Work, ctx: ModuleContext, step: string): Promise<unknown> {
  const arg = w.forModule(step);
  try {
    return await fn(arg, ctx);
  } catch (e) {
    if (e instanceof StepFailure) throw e;
    throw threw(step);
  }
}

/** Sets a value, adding the segment when the message has none (a `set` of ZPI-1 creates ZPI). */
function writeValue(m: Hl7Message, path: string, value: string, raw: boolean): void {
  const p = parsePath(path);
  if (p.segment !== undefined && m.segment(p.segment, p.occurrence ?? 1) === undefined) {
    const have = m.segmentsNamed(p.segment).length;
    if ((p.occurrence ?? 1) !== have + 1) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: 'segment occurrence out of range' });
    m.addSegment(p.segment);
  }
  if (raw) m.setRaw(path, value);
  else m.set(path, value);
}

class Compiler {
  readonly #loader: ModuleLoader;
  readonly #config: ChannelConfig;
  readonly #baseDir: string;

  constructor(config: ChannelConfig, baseDir: string) {
    this.#config = config;
    this.#baseDir = baseDir;
    this.#loader = new ModuleLoader(baseDir);
  }

  /** The toFhir step: HL7 v2 -> FHIR R4 transaction Bundle (src/mapping), with the tenant's file. */
  toFhir(s: { readonly tenant: string | undefined; readonly validate: boolean }, at: string): Step {
    let tenant: TenantMappingConfig | undefined;
    if (s.tenant !== undefined) {
      try {
        tenant = loadTenantConfig(resolvePath(this.#baseDir, s.tenant));
      } catch (e) {
        throw configError(`${at}.toFhir.tenant`, isSwitchboardError(e) ? e.message : 'cannot be loaded');
      }
    }
    const options = { validate: s.validate, ...(tenant === undefined ? {} : { tenant }) };
    return (w) => {
      const message = w.read(at);
      let json: string;
      try {
        json = JSON.stringify(convertV2ToFhir(message, options).bundle);
      } catch (e) {
        // The code and the field, never the error text: a value error quotes the value (invariant 7).
        if (!isSwitchboardError(e)) throw new StepFailure('SWB_ERR_PIPELINE_STEP_FAILED', `${at}: the conversion failed`);
        const where = e.params['field'] ?? e.params['path'];
        throw new StepFailure(e.code, `${at}: ${e.code}${where !== undefined ? ` at ${String(where)}` : ''}`);
      }
      w.text = json;
      w.message = undefined;
      w.owned = true;
      w.contentType = 'fhir+json';
    };
  }

  async condition(c: Condition, at: string): Promise<Check> {
    if (isModuleRef(c)) {
      const fn = await this.#loader.load(c, at);
      return async (w, ctx) => {
        const r = await callModule(fn, w, ctx, at);
        if (typeof r !== 'boolean') throw new StepFailure('SWB_ERR_PIPELINE_STEP_FAILED', `${at} returned ${r === null ? 'null' : typeof r}, not a boolean`);
        return r;
      };
    }
    if ('messageType' in c) {
      const patterns = c.messageType.map(messageTypePattern);
      return (w) => {
        const m = w.read(at);
        const type = `${m.messageCode}^${m.triggerEvent}`;
        return patterns.some((p) => p.test(type));
      };
    }
    if ('all' in c) {
      const parts = await Promise.all(c.all.map((x, i) => this.condition(x, `${at}.all[${i}]`)));
      return async (w, ctx) => {
        for (const p of parts) if (!(await p(w, ctx))) return false;
        return true;
      };
    }
    if ('any' in c) {
      const parts = await Promise.all(c.any.map((x, i) => this.condition(x, `${at}.any[${i}]`)));
      return async (w, ctx) => {
        for (const p of parts) if (await p(w, ctx)) return true;
        return false;
      };
    }
    if ('not' in c) {
      const inner = await this.condition(c.not, `${at}.not`);
      return async (w, ctx) => !(await inner(w, ctx));
    }
    const path = checkPath(c.path, `${at}.path`);
    if ('equals' in c) {
      const expected = c.equals;
      return (w) => valueAt(w.read(at), path) === expected;
    }
    if ('in' in c) {
      const set = new Set(c.in);
      return (w) => set.has(valueAt(w.read(at), path));
    }
    if ('matches' in c) {
      let re: RegExp;
      try {
        re = new RegExp(c.matches);
      } catch {
        throw configError(`${at}.matches`, 'is not a valid regular expression');
      }
      return (w) => re.test(valueAt(w.read(at), path));
    }
    const want = c.exists;
    // "exists": a value that is there and not empty; the HL7 null "" is not a value.
    return (w) => (w.read(at).presence(path) === 'value') === want;
  }

  async steps(list: readonly TransformStep[], at: string): Promise<Step[]> {
    return Promise.all(list.map((s, i) => this.step(s, `${at}[${i}]`)));
  }

  async step(s: TransformStep, at: string): Promise<Step> {
    const inner = await this.#step(s, at);
    return async (w, ctx) => {
      try {
        await inner(w, ctx);
      } catch (e) {
        if (e instanceof StepFailure) throw e;
        // Refused by the HL7 library (a write into MSH-1, an occurrence out of range...): its
        // code, not its message, which may quote data.
        const code: ErrorCode = isSwitchboardError(e) ? e.code : 'SWB_ERR_PIPELINE_STEP_FAILED';
        throw new StepFailure(code, `${at} failed (${code})`);
      }
    };
  }

  async #step(s: TransformStep, at: string): Promise<Step> {
    if (isModuleRef(s)) {
      const fn = await this.#loader.load(s, at);
      return async (w, ctx) => {
        const r = await callModule(fn, w, ctx, at);
        if (r === undefined) return; // changed in place
        if (typeof r === 'string') {
          w.text = r;
          w.message = undefined;
          w.owned = true;
        } else if (r instanceof Hl7Message) {
          w.message = r;
          w.text = undefined;
          w.owned = true;
        } else if (typeof r === 'object' && r !== null && Array.isArray((r as { segments?: unknown }).segments) && typeof r.toString === 'function') {
          // An Hl7Message from another copy of the library (a module importing it from elsewhere).
          w.text = String(r.toString());
          w.message = undefined;
          w.owned = true;
        } else {
          throw new StepFailure('SWB_ERR_PIPELINE_STEP_FAILED', `${at} returned ${r === null ? 'null' : typeof r}; expected nothing, a message or a string`);
        }
      };
    }
    if ('set' in s) {
      const path = checkPath(s.set.path, `${at}.set.path`);
      const { value } = s.set;
      return (w) => writeValue(w.write(at), path, value, false);
    }
    if ('copy' in s) {
      const from = checkPath(s.copy.from, `${at}.copy.from`);
      const to = checkPath(s.copy.to, `${at}.copy.to`);
      // Raw ER7 is copied, so escapes stay escapes and a composite copies whole.
      return (w) => {
        const m = w.write(at);
        const raw = m.getRaw(from);
        if (raw === undefined && m.getRaw(to) === undefined) return;
        writeValue(m, to, raw ?? '', true);
      };
    }
    if ('map' in s) {
      const path = checkPath(s.map.path, `${at}.map.path`);
      const { table: name, onMissing } = s.map;
      const table = this.#config.tables[name];
      if (table === undefined) throw configError(`${at}.map.table`, `names no table of tables (${JSON.stringify(name)})`);
      const dflt = s.map.default;
      if (onMissing === 'default' && dflt === undefined) throw configError(`${at}.map.default`, 'is required when onMissing is default');
      return (w) => {
        const value = valueAt(w.read(at), path);
        if (Object.hasOwn(table, value)) writeValue(w.write(at), path, table[value] as string, false);
        else if (onMissing === 'default') writeValue(w.write(at), path, dflt as string, false);
        else if (onMissing === 'error') throw new StepFailure('SWB_ERR_PIPELINE_MAP_MISSING', `${at}: the value at ${path} is not in table ${name}`);
      };
    }
    if ('removeSegment' in s) {
      const id = s.removeSegment;
      return (w) => {
        if (w.read(at).segment(id) === undefined) return;
        const m = w.write(at);
        while (m.removeSegment(id));
      };
    }
    if ('toFhir' in s) return this.toFhir(s.toFhir, at);
    const when = await this.condition(s.when, `${at}.when`);
    const then = await this.steps(s.then, `${at}.then`);
    return async (w, ctx) => {
      if (!(await when(w, ctx))) return;
      for (const t of then) await t(w, ctx);
    };
  }
}

interface CompiledDestination {
  readonly name: string;
  readonly when: Check | undefined;
  readonly steps: readonly Step[];
}

/**
 * Compiles a channel's pipeline: checks paths and regular expressions and loads modules (relative
 * to `baseDir`, the channel file's folder). Throws SWB_ERR_CONFIG_INVALID naming the step path.
 */
export async function compilePipeline(config: ChannelConfig, options: { readonly baseDir: string }): Promise<CompiledPipeline> {
  const c = new Compiler(config, options.baseDir);
  const filters = await Promise.all(
    config.filters.map(async (f, i) => {
      const accept = 'accept' in f;
      const check = await c.condition(accept ? f.accept : f.reject, `filters[${i}].${accept ? 'accept' : 'reject'}`);
      return { accept, check, reason: f.reason };
    }),
  );
  const transformers = await c.steps(config.transformers, 'transformers');
  const destinations: CompiledDestination[] = await Promise.all(
    config.destinations.map(async (d, i) => ({
      name: d.name,
      when: d.when === undefined ? undefined : await c.condition(d.when, `destinations[${i}].when`),
      steps: await c.steps(d.transformers, `destinations[${i}].transformers`),
    })),
  );

  let orderingKey: CompiledPipeline['orderingKey'];
  const ok = config.orderingKey;
  if (ok === undefined) {
    orderingKey = () => Promise.resolve(undefined);
  } else if (typeof ok === 'string') {
    const path = checkPath(ok, 'orderingKey');
    orderingKey = (m) => Promise.resolve(m.get(path) || undefined);
  } else {
    const fn = await new ModuleLoader(options.baseDir).load(ok, 'orderingKey');
    orderingKey = async (m, ctx) => {
      let r: unknown;
      try {
        // Its own copy: the caller's message is not for a key function to change.
        r = await fn(parseMessage(m.toString()), { ...ctx, tables: config.tables });
      } catch {
        throw new SwitchboardError('SWB_ERR_PIPELINE_STEP_FAILED', { step: 'orderingKey', reason: 'the module threw' });
      }
      if (r === undefined || r === null || r === '') return undefined;
      if (typeof r !== 'string') throw new SwitchboardError('SWB_ERR_PIPELINE_STEP_FAILED', { step: 'orderingKey', reason: `it returned ${typeof r}, not a string` });
      return r;
    };
  }

  async function run(input: PipelineInput, pctx: PipelineContext): Promise<PipelineResult> {
    const ctx: ModuleContext = { ...pctx, tables: config.tables };
    let work: Work;
    if (input.contentType === 'hl7v2') {
      if (input.message !== undefined) work = new Work('hl7v2', input.message, undefined, false);
      else {
        try {
          work = new Work('hl7v2', parseMessage(input.content), undefined, true);
        } catch (e) {
          const code: ErrorCode = isSwitchboardError(e) ? e.code : 'SWB_ERR_HL7_NOT_ER7';
          return { kind: 'error', errorCode: code, reason: `input: ${code}` };
        }
      }
    } else {
      work = new Work(input.contentType, undefined, input.content, true);
    }
    try {
      for (const f of filters) {
        const holds = await f.check(work, ctx);
        if (holds !== f.accept) return { kind: 'filtered', reason: f.reason };
      }
      for (const t of transformers) await t(work, ctx);
      const outputs: PipelineOutput[] = [];
      const serialized = new Map<Hl7Message, string>();
      for (const d of destinations) {
        const dctx: ModuleContext = { ...ctx, destination: d.name };
        const own = work.fork();
        if (d.when !== undefined && !(await d.when(own, dctx))) continue;
        for (const t of d.steps) await t(own, dctx);
        outputs.push({ destination: d.name, payload: own.payload(serialized) });
      }
      return { kind: 'routed', outputs };
    } catch (e) {
      if (e instanceof StepFailure) return { kind: 'error', errorCode: e.code, reason: e.reason };
      if (isSwitchboardError(e)) return { kind: 'error', errorCode: e.code, reason: `a step failed (${e.code})` };
      return { kind: 'error', errorCode: 'SWB_ERR_PIPELINE_STEP_FAILED', reason: 'a step failed unexpectedly' };
    }
  }

  return { run, orderingKey };
}
