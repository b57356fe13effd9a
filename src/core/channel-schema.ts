import { Document as YamlDocument, isMap, isScalar, parseDocument, visit, type Document } from 'yaml';
import * as z from 'zod';
import type { ChannelConfig, Condition, DestinationConfig, FilterStep, ModuleRef, RetryConfig, TransformStep } from './channel-config.ts';
import { SwitchboardError } from './errors.ts';

/**
 * The channel YAML document: one zod schema (STYLE.md "Configuration") from which come validation,
 * the resolved `ChannelConfig` (defaults applied, durations in ms), the deterministic export and
 * the JSON Schema editors load (docs/reference/channel.schema.json).
 */

// ---------------------------------------------------------------------------------------------
// Durations

const UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
] as const;
const DURATION_RE = /^(\d+)(ms|s|m|h|d)$/;

/** `500ms`, `30s`, `5m`, `24h`, `30d`, or an integer count of milliseconds. */
const Duration = z
  .union([z.int().min(0), z.string().regex(DURATION_RE, { error: 'must be a duration like 500ms, 30s, 5m, 24h or 30d (or an integer of ms)' })])
  .meta({ id: 'Duration', description: 'A duration: 500ms, 30s, 5m, 24h, 30d, or an integer number of milliseconds.' });

function durationMs(value: number | string): number {
  if (typeof value === 'number') return value;
  const m = DURATION_RE.exec(value) as RegExpExecArray;
  const unit = UNITS.find(([u]) => u === m[2]) as (typeof UNITS)[number];
  return Number(m[1]) * unit[1];
}

/** The largest unit that expresses `ms` exactly: 30000 -> `30s`, 86400000 -> `1d`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0ms';
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

// ---------------------------------------------------------------------------------------------
// Shapes as written in YAML

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const NAME_ERROR = 'must match [a-z0-9][a-z0-9_-]* (at most 64 characters)';
const str = (description: string) => z.string().min(1).meta({ description });
const hl7Path = (description: string) => z.string().min(1).meta({ description: `${description} (an HL7 path like PID-3[1].1)` });

const ModuleRefSchema = z
  .strictObject({
    module: z
      .string()
      .regex(/^\.\.?\//, { error: 'must be a relative path starting with ./ or ../' })
      .meta({ description: 'A .ts, .js or .mjs file, relative to the channel file.' }),
    export: z.string().min(1).optional().meta({ description: 'The exported function (default: default).', default: 'default' }),
  })
  .meta({ id: 'ModuleRef', description: 'A function in a module: {module: ./x.ts, export: name}.' });

const regexString = z.string().superRefine((value, ctx) => {
  try {
    new RegExp(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a valid regular expression' });
  }
});

type ConditionIn =
  | { messageType: string | string[] }
  | { path: string; equals: string }
  | { path: string; in: string[] }
  | { path: string; matches: string }
  | { path: string; exists: boolean }
  | { all: ConditionIn[] }
  | { any: ConditionIn[] }
  | { not: ConditionIn }
  | z.infer<typeof ModuleRefSchema>;

const ConditionSchema: z.ZodType<ConditionIn> = z
  .lazy(() =>
    z.union([
      z.strictObject({ messageType: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).meta({ description: 'MSH-9 as CODE^EVENT; * is a wildcard (ADT^*, *).' }) }),
      z.strictObject({ path: hl7Path('The value'), equals: z.string() }),
      z.strictObject({ path: hl7Path('The value'), in: z.array(z.string()).min(1) }),
      z.strictObject({ path: hl7Path('The value'), matches: regexString.meta({ description: 'A JavaScript regular expression.' }) }),
      z.strictObject({ path: hl7Path('The value'), exists: z.boolean() }),
      z.strictObject({ all: z.array(ConditionSchema).min(1) }),
      z.strictObject({ any: z.array(ConditionSchema).min(1) }),
      z.strictObject({ not: ConditionSchema }),
      ModuleRefSchema,
    ]),
  )
  .meta({ id: 'Condition', description: 'A condition over a message.' });

const FilterSchema = z
  .union([
    z.strictObject({ accept: ConditionSchema, reason: z.string().min(1).optional() }),
    z.strictObject({ reject: ConditionSchema, reason: z.string().min(1).optional() }),
  ])
  .meta({ id: 'Filter', description: 'accept: the message continues only when the condition holds; reject: it is filtered when it holds.' });

type StepIn =
  | { set: { path: string; value: string } }
  | { copy: { from: string; to: string } }
  | { map: { path: string; table: string; onMissing?: 'keep' | 'default' | 'error' | undefined; default?: string | undefined } }
  | { removeSegment: string }
  | { toFhir: { tenant?: string | undefined; validate?: boolean | undefined } }
  | { when: ConditionIn; then: StepIn[] }
  | z.infer<typeof ModuleRefSchema>;

const StepSchema: z.ZodType<StepIn> = z
  .lazy(() =>
    z.union([
      z.strictObject({ set: z.strictObject({ path: hl7Path('Where to write'), value: z.string() }) }),
      z.strictObject({ copy: z.strictObject({ from: hl7Path('Read from'), to: hl7Path('Write to') }) }),
      z.strictObject({
        map: z.strictObject({
          path: hl7Path('The value to map'),
          table: str('A table of `tables`.'),
          onMissing: z.enum(['keep', 'default', 'error']).optional().meta({ description: 'A value not in the table: keep it, write `default`, or fail the message. Default: default when `default` is set, else keep.' }),
          default: z.string().optional(),
        }),
      }),
      z.strictObject({ removeSegment: z.string().regex(/^[A-Z][A-Z0-9]{2}$/, { error: 'must be a segment id like NTE or ZPI' }) }),
      z.strictObject({
        toFhir: z
          .strictObject({
            tenant: z.string().min(1).optional().meta({ description: 'A tenant mapping file (YAML), relative to the channel file: code maps, identifier systems, overrides, Z-segment rules (docs/mapping.md).' }),
            validate: z.boolean().optional().meta({ description: 'Validate every produced resource against FHIR R4; an invalid one fails the message.', default: false }),
          })
          .meta({ description: 'Convert the HL7 v2 message to a FHIR R4 transaction Bundle (JSON); later steps see the Bundle.' }),
      }),
      z.strictObject({ when: ConditionSchema, then: z.array(StepSchema) }),
      ModuleRefSchema,
    ]),
  )
  .meta({ id: 'TransformStep', description: 'A transformer step.' });

const RetrySchema = z.strictObject({
  maxAttempts: z.int().min(1).optional().meta({ description: 'Attempts in all, the first included.', default: 5 }),
  initialDelay: Duration.optional().meta({ default: '1s' }),
  maxDelay: Duration.optional().meta({ default: '5m' }),
  multiplier: z.number().min(1).optional().meta({ default: 2 }),
  jitter: z.number().min(0).max(1).optional().meta({ description: 'The random share of each delay (0..1).', default: 0.2 }),
});

const DestinationSchema = z.strictObject({
  name: z.string().regex(NAME_RE, { error: NAME_ERROR }).meta({ description: 'Unique within the channel.' }),
  kind: str('A destination kind: mllp, http, file, channel.'),
  settings: z.record(z.string(), z.unknown()).optional().meta({ description: "The kind's own settings." }),
  when: ConditionSchema.optional().meta({ description: 'The destination gets a message only when this holds.' }),
  transformers: z.array(StepSchema).optional(),
  retry: RetrySchema.optional(),
  ordering: z.enum(['key', 'none']).optional().meta({ default: 'key' }),
  onError: z.enum(['block', 'park']).optional().meta({ description: 'A delivery that finally failed blocks its ordering key, or is parked.', default: 'block' }),
  concurrency: z.int().min(1).optional().meta({ default: 4 }),
  timeout: Duration.optional().meta({ description: 'Per attempt.', default: '30s' }),
});

export const ChannelDocumentSchema = z
  .strictObject({
    id: z.string().regex(NAME_RE, { error: NAME_ERROR }).meta({ description: 'Used in ids, URLs and metrics labels.' }),
    name: z.string().optional(),
    description: z.string().optional(),
    enabled: z.boolean().optional().meta({ default: true }),
    source: z.strictObject({ kind: str('A source kind: mllp, http, dir.'), settings: z.record(z.string(), z.unknown()).optional() }),
    ack: z
      .strictObject({
        mode: z.enum(['commit', 'application']).optional().meta({ description: 'application: a pipeline error answers AE instead of AA.', default: 'commit' }),
        validate: z.boolean().optional().meta({ description: 'Validate against the message structure before accepting.', default: false }),
      })
      .optional(),
    orderingKey: z
      .union([hl7Path('The per-key FIFO key'), ModuleRefSchema, z.null()])
      .optional()
      .meta({ description: 'HL7 path or module of the ordering key; null for none.', default: 'PID-3[1].1' }),
    dedupe: z
      .strictObject({
        enabled: z.boolean().optional().meta({ default: true }),
        window: Duration.optional().meta({ default: '24h' }),
      })
      .optional(),
    storage: z
      .strictObject({
        contentRetention: Duration.optional().meta({ default: '30d' }),
        erroredRetention: Duration.optional().meta({ default: '90d' }),
      })
      .optional(),
    tables: z.record(z.string(), z.record(z.string(), z.string())).optional().meta({ description: 'Code tables for map steps: table -> from -> to.' }),
    filters: z.array(FilterSchema).optional(),
    transformers: z.array(StepSchema).optional(),
    destinations: z.array(DestinationSchema).optional(),
  })
  .meta({ title: 'Switchboard channel', description: 'A Switchboard channel (docs/channels.md).' });

type ChannelDocument = z.infer<typeof ChannelDocumentSchema>;

// ---------------------------------------------------------------------------------------------
// Resolving the document into a ChannelConfig

const DEFAULT_ORDERING_KEY = 'PID-3[1].1';

function moduleRef(m: { module: string; export?: string | undefined }): ModuleRef {
  return { module: m.module, export: m.export ?? 'default' };
}

function resolveCondition(c: ConditionIn): Condition {
  if ('module' in c) return moduleRef(c);
  if ('messageType' in c) return { messageType: typeof c.messageType === 'string' ? [c.messageType] : c.messageType };
  if ('all' in c) return { all: c.all.map(resolveCondition) };
  if ('any' in c) return { any: c.any.map(resolveCondition) };
  if ('not' in c) return { not: resolveCondition(c.not) };
  return c;
}

function resolveStep(s: StepIn): TransformStep {
  if ('module' in s) return moduleRef(s);
  if ('when' in s) return { when: resolveCondition(s.when), then: s.then.map(resolveStep) };
  if ('map' in s) {
    const { path, table, default: dflt } = s.map;
    const onMissing = s.map.onMissing ?? (dflt === undefined ? 'keep' : 'default');
    return { map: { path, table, onMissing, ...(dflt === undefined ? {} : { default: dflt }) } };
  }
  if ('toFhir' in s) return { toFhir: { tenant: s.toFhir.tenant, validate: s.toFhir.validate ?? false } };
  return s;
}

function resolveRetry(r: z.infer<typeof RetrySchema> | undefined): RetryConfig {
  return {
    maxAttempts: r?.maxAttempts ?? 5,
    initialDelayMs: durationMs(r?.initialDelay ?? '1s'),
    maxDelayMs: durationMs(r?.maxDelay ?? '5m'),
    multiplier: r?.multiplier ?? 2,
    jitter: r?.jitter ?? 0.2,
  };
}

function resolve(doc: ChannelDocument): ChannelConfig {
  return {
    id: doc.id,
    name: doc.name,
    description: doc.description,
    enabled: doc.enabled ?? true,
    source: { kind: doc.source.kind, settings: doc.source.settings ?? {} },
    ack: { mode: doc.ack?.mode ?? 'commit', validate: doc.ack?.validate ?? false },
    orderingKey: doc.orderingKey === null ? undefined : doc.orderingKey === undefined ? DEFAULT_ORDERING_KEY : typeof doc.orderingKey === 'string' ? doc.orderingKey : moduleRef(doc.orderingKey),
    dedupe: { enabled: doc.dedupe?.enabled ?? true, windowMs: durationMs(doc.dedupe?.window ?? '24h') },
    storage: {
      contentRetentionMs: durationMs(doc.storage?.contentRetention ?? '30d'),
      erroredRetentionMs: durationMs(doc.storage?.erroredRetention ?? '90d'),
    },
    tables: doc.tables ?? {},
    filters: (doc.filters ?? []).map((f, i): FilterStep => {
      const reason = f.reason ?? `rejected by filters[${i}]`;
      return 'accept' in f ? { accept: resolveCondition(f.accept), reason } : { reject: resolveCondition(f.reject), reason };
    }),
    transformers: (doc.transformers ?? []).map(resolveStep),
    destinations: (doc.destinations ?? []).map(
      (d): DestinationConfig => ({
        name: d.name,
        kind: d.kind,
        settings: d.settings ?? {},
        when: d.when === undefined ? undefined : resolveCondition(d.when),
        transformers: (d.transformers ?? []).map(resolveStep),
        retry: resolveRetry(d.retry),
        ordering: d.ordering ?? 'key',
        onError: d.onError ?? 'block',
        concurrency: d.concurrency ?? 4,
        timeoutMs: durationMs(d.timeout ?? '30s'),
      }),
    ),
  };
}

// ---------------------------------------------------------------------------------------------
// Errors with field paths

interface Problem {
  readonly path: string;
  readonly reason: string;
}

/** `destinations[0].retry.maxAttempts` from ['destinations', 0, 'retry', 'maxAttempts']. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const key = String(p);
      const safe = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
      out += out === '' ? safe : `.${safe}`;
    }
  }
  return out === '' ? '(document)' : out;
}

function at(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

const EXPECTED: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', int: 'an integer', boolean: 'a boolean', null: 'null' };

/**
 * A union's branch that fits the input best: fewest unknown or missing keys at its own level. A
 * union of strict objects tells variants apart by their keys, so the best branch is the one the
 * author meant, and its own issues (deeper in) are the useful ones.
 */
function bestBranch(branches: readonly (readonly z.core.$ZodIssue[])[], value: unknown): { issues: readonly z.core.$ZodIssue[]; score: number } | undefined {
  const missing = (key: PropertyKey): boolean => value === null || typeof value !== 'object' || !Object.hasOwn(value, key);
  let best: { issues: readonly z.core.$ZodIssue[]; score: number } | undefined;
  for (const issues of branches) {
    let score = 0;
    for (const i of issues) {
      if (i.code === 'unrecognized_keys' && i.path.length === 0) score += i.keys.length;
      else if (i.path.length === 0) score += 100; // the input is not even of this branch's type
      else if (i.path.length === 1 && (i.code === 'invalid_type' || i.code === 'invalid_union') && missing(i.path[0] as PropertyKey)) score += 1;
    }
    if (best === undefined || score < best.score) best = { issues, score };
  }
  return best;
}

function collectProblems(issues: readonly z.core.$ZodIssue[], base: readonly PropertyKey[], data: unknown, out: Problem[]): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    const value = at(data, path);
    const p = formatPath(path);
    switch (issue.code) {
      case 'invalid_union': {
        const best = bestBranch(issue.errors, value);
        if (best !== undefined && best.score < 100) {
          collectProblems(best.issues, path, data, out);
        } else {
          // Not an object where objects are expected, or no variant fits: say what may stand here.
          const kinds = new Set<string>();
          for (const b of issue.errors) for (const i of b) if (i.code === 'invalid_type' && i.path.length === 0) kinds.add(EXPECTED[i.expected] ?? i.expected);
          if (value === undefined) out.push({ path: p, reason: 'is required' });
          else out.push({ path: p, reason: kinds.size > 0 ? `must be ${[...kinds].join(' or ')}, not ${typeName(value)}` : 'matches none of the allowed forms' });
        }
        break;
      }
      case 'invalid_type':
        out.push({
          path: p,
          reason:
            value === undefined
              ? 'is required'
              : // YAML reads 01 as the number 1 and yes as a string: codes must be quoted to be kept.
                `must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${typeName(value)}${issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean') ? ' (quote it)' : ''}`,
        });
        break;
      case 'unrecognized_keys':
        for (const key of issue.keys) out.push({ path: formatPath([...path, key]), reason: 'is not a known key' });
        break;
      case 'too_small':
        if (issue.origin === 'string') out.push({ path: p, reason: 'must not be empty' });
        else if (issue.origin === 'array') out.push({ path: p, reason: `must have at least ${String(issue.minimum)} item(s)` });
        else out.push({ path: p, reason: `must be ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}` });
        break;
      case 'too_big':
        out.push({ path: p, reason: `must be ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}` });
        break;
      case 'invalid_value':
        out.push({ path: p, reason: `must be one of ${issue.values.map(String).join(', ')}` });
        break;
      case 'invalid_format':
      case 'custom':
      case 'invalid_element':
      case 'invalid_key':
      case 'not_multiple_of':
        out.push({ path: p, reason: issue.message });
    }
  }
}

/** Checks across fields that the shape alone cannot state. */
function crossChecks(doc: ChannelDocument, out: Problem[]): void {
  const tables = doc.tables ?? {};
  const steps = (list: readonly StepIn[] | undefined, path: string): void => {
    (list ?? []).forEach((s, i) => {
      const p = `${path}[${i}]`;
      if ('map' in s && !Object.hasOwn(tables, s.map.table)) out.push({ path: `${p}.map.table`, reason: `names no table of tables (${JSON.stringify(s.map.table)})` });
      if ('map' in s && s.map.onMissing === 'default' && s.map.default === undefined) out.push({ path: `${p}.map.default`, reason: 'is required when onMissing is default' });
      if ('when' in s) steps(s.then, `${p}.then`);
    });
  };
  steps(doc.transformers, 'transformers');
  const seen = new Map<string, number>();
  (doc.destinations ?? []).forEach((d, i) => {
    const first = seen.get(d.name);
    if (first !== undefined) out.push({ path: `destinations[${i}].name`, reason: `"${d.name}" is also the name of destinations[${first}]` });
    else seen.set(d.name, i);
    steps(d.transformers, `destinations[${i}].transformers`);
  });
}

function invalid(fileName: string, problems: readonly Problem[]): SwitchboardError {
  const [first, ...rest] = problems as [Problem, ...Problem[]];
  const more = rest.map((r) => `; ${r.path} ${r.reason}`).join('');
  return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${fileName}: ${first.path}`, reason: `${first.reason}${more}`, file: fileName, issues: problems.length });
}

/** Validates an already-parsed document (YAML or JSON data). Throws SWB_ERR_CONFIG_INVALID. */
export function resolveChannelDocument(data: unknown, fileName: string): ChannelConfig {
  const parsed = ChannelDocumentSchema.safeParse(data);
  if (!parsed.success) {
    const problems: Problem[] = [];
    collectProblems(parsed.error.issues, [], data, problems);
    throw invalid(fileName, problems);
  }
  const problems: Problem[] = [];
  crossChecks(parsed.data, problems);
  if (problems.length > 0) throw invalid(fileName, problems);
  return resolve(parsed.data);
}

/**
 * Parses a YAML document and validates it with `schema`, reporting issues the way channel files do
 * (`file: path reason; path reason`). For other documents of the same family (channel tests).
 */
export function parseYamlDocument<S extends z.ZodType>(schema: S, text: string, fileName: string): z.output<S> {
  const data = readYaml(text, fileName);
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  const problems: Problem[] = [];
  collectProblems(parsed.error.issues, [], data, problems);
  throw invalid(fileName, problems);
}

/**
 * Table keys that YAML reads as numbers or booleans (`01: A` becomes the key "1", `1.10:` "1.1"):
 * they would silently stop matching the codes in messages, so they must be quoted. Values are
 * checked by the schema, which wants strings. And `__proto__`, which the schema would drop.
 */
function tableKeyProblems(doc: Document): Problem[] {
  const out: Problem[] = [];
  const tables = doc.get('tables', true);
  if (!isMap(tables)) return out;
  for (const t of tables.items) {
    const name = String(isScalar(t.key) ? t.key.value : t.key);
    // The schema's records drop a `__proto__` key (as JavaScript objects must, to stay safe): refuse
    // it by name rather than lose a table or a code mapping without a word.
    if (name === '__proto__') out.push({ path: 'tables', reason: 'a table cannot be named __proto__' });
    if (!isMap(t.value)) continue;
    for (const pair of t.value.items) {
      if (isScalar(pair.key) && typeof pair.key.value !== 'string') {
        out.push({ path: `${formatPath(['tables', name])}`, reason: `key ${String(pair.key.value)} is not a string: quote it as written` });
      } else if (isScalar(pair.key) && pair.key.value === '__proto__') {
        out.push({ path: `${formatPath(['tables', name])}`, reason: 'key __proto__ cannot be a code in a table' });
      }
    }
  }
  return out;
}

function readYaml(text: string, fileName: string, check?: (doc: Document) => Problem[]): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    // Only the first: a syntax error makes yaml report every token after it as well.
    const problems = doc.errors.slice(0, 1).map((e): Problem => {
      const pos = e.linePos?.[0];
      const where = pos === undefined ? 'YAML' : `line ${pos.line} column ${pos.col}`;
      // yaml's own messages describe syntax (never field values beyond a key name).
      return { path: where, reason: e.code === 'DUPLICATE_KEY' ? 'repeats a key of the same mapping' : e.message.split('\n')[0] ?? e.code };
    });
    throw invalid(fileName, problems);
  }
  const problems = check?.(doc) ?? [];
  if (problems.length > 0) throw invalid(fileName, problems);
  return doc.toJS({ maxAliasCount: 1000 });
}

/**
 * Parses a channel YAML document and resolves it. Duplicate keys are errors (yaml's uniqueKeys),
 * anchors and aliases are fine. Throws SWB_ERR_CONFIG_INVALID whose message names the file and
 * each field path: `adt-in.yaml: destinations[0].retry.maxAttempts must be >= 1`.
 */
export function parseChannelDocument(text: string, fileName: string): ChannelConfig {
  return resolveChannelDocument(readYaml(text, fileName, tableKeyProblems), fileName);
}

// ---------------------------------------------------------------------------------------------
// Deterministic export

function exportModule(m: ModuleRef): Record<string, unknown> {
  return { module: m.module, export: m.export };
}

function exportCondition(c: Condition): Record<string, unknown> {
  if ('module' in c) return exportModule(c);
  if ('messageType' in c) return { messageType: [...c.messageType] };
  if ('all' in c) return { all: c.all.map(exportCondition) };
  if ('any' in c) return { any: c.any.map(exportCondition) };
  if ('not' in c) return { not: exportCondition(c.not) };
  if ('equals' in c) return { path: c.path, equals: c.equals };
  if ('in' in c) return { path: c.path, in: [...c.in] };
  if ('matches' in c) return { path: c.path, matches: c.matches };
  return { path: c.path, exists: c.exists };
}

function exportStep(s: TransformStep): Record<string, unknown> {
  if ('module' in s) return exportModule(s);
  if ('set' in s) return { set: { path: s.set.path, value: s.set.value } };
  if ('copy' in s) return { copy: { from: s.copy.from, to: s.copy.to } };
  if ('map' in s) {
    const { path, table, onMissing } = s.map;
    return { map: { path, table, onMissing, ...(s.map.default === undefined ? {} : { default: s.map.default }) } };
  }
  if ('removeSegment' in s) return { removeSegment: s.removeSegment };
  if ('toFhir' in s) return { toFhir: { ...(s.toFhir.tenant === undefined ? {} : { tenant: s.toFhir.tenant }), validate: s.toFhir.validate } };
  return { when: exportCondition(s.when), then: s.then.map(exportStep) };
}

/** Keys of a settings object sorted, recursively, so the export does not depend on input order. */
function sortedValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedValue);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortedValue((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}

/**
 * The channel as YAML with a fixed key order and every effective value written (defaults
 * included), durations in their largest exact unit: diffs in git show exactly what changed
 * (ARCHITECTURE.md invariant 8). `parseChannelDocument(exportChannelDocument(c))` equals `c`.
 */
export function exportChannelDocument(config: ChannelConfig): string {
  const doc: Record<string, unknown> = { id: config.id };
  if (config.name !== undefined) doc['name'] = config.name;
  if (config.description !== undefined) doc['description'] = config.description;
  doc['enabled'] = config.enabled;
  doc['source'] = { kind: config.source.kind, settings: sortedValue(config.source.settings) };
  doc['ack'] = { mode: config.ack.mode, validate: config.ack.validate };
  doc['orderingKey'] = config.orderingKey === undefined ? null : typeof config.orderingKey === 'string' ? config.orderingKey : exportModule(config.orderingKey);
  doc['dedupe'] = { enabled: config.dedupe.enabled, window: formatDuration(config.dedupe.windowMs) };
  doc['storage'] = { contentRetention: formatDuration(config.storage.contentRetentionMs), erroredRetention: formatDuration(config.storage.erroredRetentionMs) };
  doc['tables'] = sortedValue(config.tables);
  doc['filters'] = config.filters.map((f) => ('accept' in f ? { accept: exportCondition(f.accept), reason: f.reason } : { reject: exportCondition(f.reject), reason: f.reason }));
  doc['transformers'] = config.transformers.map(exportStep);
  doc['destinations'] = config.destinations.map((d) => ({
    name: d.name,
    kind: d.kind,
    settings: sortedValue(d.settings),
    ...(d.when === undefined ? {} : { when: exportCondition(d.when) }),
    transformers: d.transformers.map(exportStep),
    retry: {
      maxAttempts: d.retry.maxAttempts,
      initialDelay: formatDuration(d.retry.initialDelayMs),
      maxDelay: formatDuration(d.retry.maxDelayMs),
      multiplier: d.retry.multiplier,
      jitter: d.retry.jitter,
    },
    ordering: d.ordering,
    onError: d.onError,
    concurrency: d.concurrency,
    timeout: formatDuration(d.timeoutMs),
  }));
  // No anchors/aliases for repeated objects, no line folding: one stable text per config.
  const out = new YamlDocument(doc, { aliasDuplicateObjects: false, sortMapEntries: false });
  // A plain `<<` key reads back as a YAML merge key (parsing allows merges for shared settings):
  // a table or settings key that really is `<<` must be written quoted.
  visit(out, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && pair.key.value === '<<') pair.key.type = 'QUOTE_DOUBLE';
    },
  });
  return out.toString({ lineWidth: 0 });
}

/** The JSON Schema of the channel document, for editors (docs/reference/channel.schema.json). */
export function channelJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ChannelDocumentSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
