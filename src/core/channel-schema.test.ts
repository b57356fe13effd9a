import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { renderChannelJsonSchema } from '../../scripts/channel-schema.ts';
import type { ChannelConfig, Condition, DestinationConfig, FilterStep, ModuleRef, TransformStep } from './channel-config.ts';
import { channelJsonSchema, exportChannelDocument, formatDuration, parseChannelDocument } from './channel-schema.ts';
import { isSwitchboardError } from './errors.ts';

const MINIMAL = 'id: adt-in\nsource: {kind: mllp}\n';

function configError(text: string, file = 'adt-in.yaml'): string {
  try {
    parseChannelDocument(text, file);
  } catch (e) {
    assert.ok(isSwitchboardError(e), 'a SwitchboardError');
    assert.equal(e.code, 'SWB_ERR_CONFIG_INVALID');
    return e.message;
  }
  assert.fail('the document was accepted');
}

test('a minimal channel resolves with every default', () => {
  const c = parseChannelDocument(MINIMAL, 'adt-in.yaml');
  assert.deepEqual(c, {
    id: 'adt-in',
    name: undefined,
    description: undefined,
    enabled: true,
    source: { kind: 'mllp', settings: {} },
    ack: { mode: 'commit', validate: false },
    orderingKey: 'PID-3[1].1',
    dedupe: { enabled: true, windowMs: 86_400_000 },
    storage: { contentRetentionMs: 30 * 86_400_000, erroredRetentionMs: 90 * 86_400_000 },
    tables: {},
    filters: [],
    transformers: [],
    destinations: [],
  } satisfies ChannelConfig);
});

test('destination defaults, durations in ms, module refs and filter reasons', () => {
  const c = parseChannelDocument(
    `${MINIMAL}orderingKey: {module: ./key.ts}
dedupe: {window: 90}
tables: {ward: {'01': WARD-A}}
filters:
  - accept: {messageType: 'ADT^*'}
  - reject: {path: PID-8, in: [U]}
    reason: unknown sex
transformers:
  - map: {path: PV1-3.1, table: ward, default: OTHER}
  - map: {path: PV1-3.2, table: ward}
  - when: {not: {path: PV1-2, exists: true}}
    then: [{set: {path: PV1-2, value: O}}]
destinations:
  - name: lab
    kind: mllp
    settings: {host: lab, port: 2575}
    retry: {maxAttempts: 3, initialDelay: 500ms, maxDelay: 2h}
    timeout: 5000
`,
    'adt-in.yaml',
  );
  assert.deepEqual(c.orderingKey, { module: './key.ts', export: 'default' });
  assert.equal(c.dedupe.windowMs, 90);
  assert.deepEqual(c.tables, { ward: { '01': 'WARD-A' } });
  assert.deepEqual(c.filters, [
    { accept: { messageType: ['ADT^*'] }, reason: 'rejected by filters[0]' },
    { reject: { path: 'PID-8', in: ['U'] }, reason: 'unknown sex' },
  ]);
  assert.deepEqual(c.transformers[0], { map: { path: 'PV1-3.1', table: 'ward', onMissing: 'default', default: 'OTHER' } });
  assert.deepEqual(c.transformers[1], { map: { path: 'PV1-3.2', table: 'ward', onMissing: 'keep' } });
  const lab = c.destinations[0] as DestinationConfig;
  assert.deepEqual(lab.retry, { maxAttempts: 3, initialDelayMs: 500, maxDelayMs: 7_200_000, multiplier: 2, jitter: 0.2 });
  assert.equal(lab.timeoutMs, 5000);
  assert.equal(lab.concurrency, 4);
  assert.equal(lab.ordering, 'key');
  assert.equal(lab.onError, 'block');
  assert.equal(lab.when, undefined);
  assert.deepEqual(lab.settings, { host: 'lab', port: 2575 });
});

test('orderingKey: null means no key', () => {
  assert.equal(parseChannelDocument(`${MINIMAL}orderingKey: null\n`, 'a.yaml').orderingKey, undefined);
});

test('errors name the file and the field path, every issue of the document', () => {
  const msg = configError(`${MINIMAL}destinations:
  - name: lab
    kind: mllp
    retry: {maxAttempts: 0}
  - name: lab
    kind: file
    timout: 5s
`);
  assert.match(msg, /^adt-in\.yaml: destinations\[0\]\.retry\.maxAttempts must be >= 1/);
  assert.match(msg, /destinations\[1\]\.timout is not a known key/);
  const dup = configError(`${MINIMAL}destinations: [{name: lab, kind: mllp}, {name: lab, kind: file}]\n`);
  assert.match(dup, /adt-in\.yaml: destinations\[1\]\.name "lab" is also the name of destinations\[0\]/);
});

test('typos, wrong types and bad forms are errors, never ignored', () => {
  assert.match(configError('id: adt-in\nsource: {kind: mllp}\nenabeld: false\n'), /adt-in\.yaml: enabeld is not a known key/);
  assert.match(configError('source: {kind: mllp}\n'), /adt-in\.yaml: id is required/);
  assert.match(configError('id: ADT In\nsource: {kind: mllp}\n'), /id must match/);
  assert.match(configError(`${MINIMAL}ack: {mode: later}\n`), /ack\.mode must be one of commit, application/);
  assert.match(configError(`${MINIMAL}dedupe: {window: 5 minutes}\n`), /dedupe\.window must be a duration/);
  assert.match(configError(`${MINIMAL}filters: [{reject: {path: PID-8, equls: F}}]\n`), /filters\[0\]\.reject\.equals is required; filters\[0\]\.reject\.equls is not a known key/);
  assert.match(configError(`${MINIMAL}filters: [{reject: {path: PID-8, equals: 1}}]\n`), /filters\[0\]\.reject\.equals must be a string, not a number \(quote it\)/);
  assert.match(configError(`${MINIMAL}filters: [{reject: {path: PID-8, matches: '([a-z'}}]\n`), /filters\[0\]\.reject\.matches is not a valid regular expression/);
  assert.match(configError(`${MINIMAL}transformers: [{module: /abs/x.ts}]\n`), /transformers\[0\]\.module must be a relative path/);
  assert.match(configError(`${MINIMAL}transformers: [{map: {path: PV1-3, table: wards}}]\n`), /transformers\[0\]\.map\.table names no table of tables/);
  assert.match(configError(`${MINIMAL}destinations: [{name: a, kind: file, transformers: [{when: {messageType: '*'}, then: [{map: {path: PV1-3, table: t}}]}]}]\n`), /destinations\[0\]\.transformers\[0\]\.then\[0\]\.map\.table names no table/);
  assert.match(configError(`${MINIMAL}transformers: [{removeSegment: nte}]\n`), /transformers\[0\]\.removeSegment must be a segment id/);
  assert.match(configError(`${MINIMAL}tables: {ward: {01: A}}\n`), /adt-in\.yaml: tables\.ward key 1 is not a string: quote it/);
  assert.match(configError(`${MINIMAL}tables: {ward: {__proto__: A}}\n`), /tables\.ward key __proto__ cannot be a code in a table/);
  assert.match(configError(`${MINIMAL}tables: {__proto__: {A: B}}\n`), /tables a table cannot be named __proto__/);
  assert.match(configError(`${MINIMAL}tables: {ward: {A: 01}}\n`), /tables\.ward\.A must be a string, not a number \(quote it\)/);
  assert.match(configError(`${MINIMAL}filters: [5]\n`), /filters\[0\] must be a mapping, not a number/);
  assert.match(configError(`${MINIMAL}destinations: [{name: a, kind: file, retry: {jitter: 2}}]\n`), /destinations\[0\]\.retry\.jitter must be <= 1/);
});

test('YAML errors: duplicate keys are refused with their line; anchors are fine', () => {
  assert.match(configError('id: a\nid: b\nsource: {kind: mllp}\n'), /adt-in\.yaml: line 2 column 1 repeats a key/);
  assert.match(configError('id: [a\n'), /adt-in\.yaml: line/);
  const c = parseChannelDocument(
    `${MINIMAL}destinations:
  - name: a
    kind: file
    retry: &r {maxAttempts: 9}
  - name: b
    kind: file
    retry: *r
`,
    'a.yaml',
  );
  assert.equal(c.destinations[1]?.retry.maxAttempts, 9);
});

test('formatDuration writes the largest exact unit', () => {
  assert.equal(formatDuration(0), '0ms');
  assert.equal(formatDuration(500), '500ms');
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(30_000), '30s');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(7_200_000), '2h');
  assert.equal(formatDuration(86_400_000), '1d');
});

test('the export has a fixed key order, defaults included, and parses back to the same config', () => {
  const text = `
destinations:
  - timeout: 1m
    kind: http
    name: api
    settings: {url: 'http://x', headers: {b: 2, a: 1}}
    when: {any: [{messageType: [ORU^R01]}, {path: MSH-3, matches: '^LAB'}]}
transformers: [{copy: {to: PID-19, from: PID-3.1}}, {removeSegment: NTE}, {module: ./t.mjs, export: fix}]
source: {kind: mllp}
id: adt-in
name: ADT feed
`;
  const c = parseChannelDocument(text, 'a.yaml');
  const out = exportChannelDocument(c);
  const keys = out.split('\n').filter((l) => /^[a-zA-Z]/.test(l)).map((l) => l.split(':')[0]);
  assert.deepEqual(keys, ['id', 'name', 'enabled', 'source', 'ack', 'orderingKey', 'dedupe', 'storage', 'tables', 'filters', 'transformers', 'destinations']);
  assert.match(out, /timeout: 1m\n/);
  assert.match(out, /maxAttempts: 5\n/);
  assert.match(out, /export: fix\n/);
  assert.deepEqual(parseChannelDocument(out, 'a.yaml'), c);
  // Deterministic: the same config, written with keys in another order, exports the same text.
  const reordered = parseChannelDocument(text.replace('{b: 2, a: 1}', '{a: 1, b: 2}'), 'a.yaml');
  assert.equal(exportChannelDocument(reordered), out);
});

// ------------------------------------------------------------------ property: export round trip

const name = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,10}$/);
const text = fc.string({ maxLength: 12 });
const hl7Path = fc.constantFrom('PID-3[1].1', 'PV1-3.1', 'MSH-9.1', 'OBX[2]-5', 'PID-8');
const durationMs = fc.oneof(fc.constantFrom(0, 500, 1000, 30_000, 86_400_000), fc.integer({ min: 0, max: 10 ** 10 }));
const moduleRef: fc.Arbitrary<ModuleRef> = fc.record({ module: fc.constantFrom('./a.ts', '../lib/b.mjs', './x/y.js'), export: fc.constantFrom('default', 'route', 'fix') });

const { condition } = fc.letrec<{ condition: Condition }>((tie) => ({
  condition: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ messageType: fc.array(fc.constantFrom('ADT^A01', 'ADT^*', '*', 'ORU^R01'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ path: hl7Path, equals: text }),
    fc.record({ path: hl7Path, in: fc.array(text, { minLength: 1, maxLength: 3 }) }),
    fc.record({ path: hl7Path, matches: fc.constantFrom('^A', 'x+', '[0-9]{3}') }),
    fc.record({ path: hl7Path, exists: fc.boolean() }),
    fc.record({ all: fc.array(tie('condition'), { minLength: 1, maxLength: 2 }) }),
    fc.record({ any: fc.array(tie('condition'), { minLength: 1, maxLength: 2 }) }),
    fc.record({ not: tie('condition') }),
    moduleRef,
  ),
}));

function stepArb(tables: readonly string[]): fc.Arbitrary<TransformStep> {
  const table = fc.constantFrom(...tables);
  return fc.letrec<{ step: TransformStep }>((tie) => ({
    step: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ set: fc.record({ path: hl7Path, value: text }) }),
      fc.record({ copy: fc.record({ from: hl7Path, to: hl7Path }) }),
      fc.oneof(
        fc.record({ map: fc.record({ path: hl7Path, table, onMissing: fc.constantFrom('keep' as const, 'error' as const) }) }),
        fc.record({ map: fc.record({ path: hl7Path, table, onMissing: fc.constantFrom('keep' as const, 'default' as const, 'error' as const), default: text }) }),
      ),
      fc.record({ removeSegment: fc.constantFrom('NTE', 'ZPI', 'OBX') }),
      fc.record({ when: condition, then: fc.array(tie('step'), { maxLength: 2 }) }),
      moduleRef,
    ),
  })).step;
}

// `__proto__` is refused as a code (tested above), so valid channels never hold it.
const tableCode = text.filter((k) => k !== '__proto__');
const tables = fc.dictionary(fc.constantFrom('ward', 'sex', 'facility'), fc.dictionary(tableCode, text, { maxKeys: 3 }), { minKeys: 1, maxKeys: 3 });
const settings = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(text, fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 })), { maxKeys: 3 });

const channelArb: fc.Arbitrary<ChannelConfig> = tables.chain((t) => {
  const steps = fc.array(stepArb(Object.keys(t)), { maxLength: 3 });
  const filter: fc.Arbitrary<FilterStep> = fc.oneof(fc.record({ accept: condition, reason: fc.string({ minLength: 1, maxLength: 10 }) }), fc.record({ reject: condition, reason: fc.string({ minLength: 1, maxLength: 10 }) }));
  const destination: fc.Arbitrary<DestinationConfig> = fc.record({
    name,
    kind: fc.constantFrom('mllp', 'http', 'file'),
    settings,
    when: fc.option(condition, { nil: undefined }),
    transformers: steps,
    retry: fc.record({
      maxAttempts: fc.integer({ min: 1, max: 20 }),
      initialDelayMs: durationMs,
      maxDelayMs: durationMs,
      multiplier: fc.constantFrom(1, 1.5, 2, 3),
      jitter: fc.constantFrom(0, 0.1, 0.2, 1),
    }),
    ordering: fc.constantFrom('key' as const, 'none' as const),
    onError: fc.constantFrom('block' as const, 'park' as const),
    concurrency: fc.integer({ min: 1, max: 64 }),
    timeoutMs: durationMs,
  });
  return fc.record({
    id: name,
    name: fc.option(text, { nil: undefined }),
    description: fc.option(text, { nil: undefined }),
    enabled: fc.boolean(),
    source: fc.record({ kind: fc.constantFrom('mllp', 'http', 'dir'), settings }),
    ack: fc.record({ mode: fc.constantFrom('commit' as const, 'application' as const), validate: fc.boolean() }),
    orderingKey: fc.option(fc.oneof(hl7Path, moduleRef), { nil: undefined }),
    dedupe: fc.record({ enabled: fc.boolean(), windowMs: durationMs }),
    storage: fc.record({ contentRetentionMs: durationMs, erroredRetentionMs: durationMs }),
    tables: fc.constant(t),
    filters: fc.array(filter, { maxLength: 3 }),
    transformers: steps,
    destinations: fc.uniqueArray(destination, { maxLength: 3, selector: (d) => d.name }),
  });
});

test('property: parseChannelDocument(exportChannelDocument(c)) deep-equals c, and export is stable', () => {
  fc.assert(
    fc.property(channelArb, (c) => {
      const out = exportChannelDocument(c);
      const back = parseChannelDocument(out, 'gen.yaml');
      // structuredClone: fast-check's records have a null prototype; the comparison is of values.
      assert.deepEqual(back, structuredClone(c));
      assert.equal(exportChannelDocument(back), out);
    }),
    { numRuns: 300, ...(process.env['SWB_FC_SEED'] ? { seed: Number(process.env['SWB_FC_SEED']) } : {}) },
  );
});

test('a key that is literally `<<` survives export (written quoted, not read as a YAML merge key)', () => {
  // Found by the property above (seed -1355694043): `tables: {ward: {<<: ""}}` came back as a merge.
  const c = parseChannelDocument('id: a\nsource: {kind: mllp, settings: {"<<": x}}\ntables: {ward: {"<<": ""}}\n', 'merge.yaml');
  assert.deepEqual(c.tables, { ward: { '<<': '' } });
  const out = exportChannelDocument(c);
  assert.match(out, /"<<": ""/);
  assert.deepEqual(parseChannelDocument(out, 'merge.yaml'), c);
});

test('docs/reference/channel.schema.json is the schema (regenerate with scripts/channel-schema.ts)', () => {
  const file = readFileSync(new URL('../../docs/reference/channel.schema.json', import.meta.url), 'utf8');
  assert.equal(file, renderChannelJsonSchema());
  const schema = channelJsonSchema();
  assert.equal(schema['additionalProperties'], false);
  assert.ok(Object.hasOwn(schema['properties'] as object, 'destinations'));
});
