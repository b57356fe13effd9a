import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseChannelDocument } from '../core/channel-schema.ts';
import { isSwitchboardError } from '../core/errors.ts';
import { parseMessage } from '../hl7v2/index.ts';
import { compilePipeline, type CompiledPipeline, type PipelineContext, type PipelineResult } from './channel-pipeline.ts';

const ctx: PipelineContext = { channelId: 'adt-in', configRevision: 3, correlationId: 'corr-1' };

// Field values that must never appear in an error result's reason.
const SECRET_NAME = 'SECRETNAME';
const ADT = [
  'MSH|^~\\&|EPIC|HOSP|LAB|HOSP|20240305103000||ADT^A01^ADT_A01|MSG001|P|2.5.1',
  `PID|1||12345^^^HOSP^MR~999^^^SSA||${SECRET_NAME}^JANE||19800101|F`,
  'PV1|1|I|W1^101^A',
  'NTE|1||first note',
  'NTE|2||second note',
].join('\n');
const ORU = ['MSH|^~\\&|LABSYS|HOSP|EHR|HOSP|20240305103000||ORU^R01^ORU_R01|MSG002|P|2.5.1', 'PID|1||777^^^HOSP^MR||ROE^RICHARD', 'OBX|1|NM|GLU||105'].join('\r');

async function compile(yaml: string, baseDir = tmpdir()): Promise<CompiledPipeline> {
  return compilePipeline(parseChannelDocument(`id: adt-in\nsource: {kind: mllp}\n${yaml}`, 'adt-in.yaml'), { baseDir });
}

async function runHl7(p: CompiledPipeline, content = ADT): Promise<PipelineResult> {
  return p.run({ content, contentType: 'hl7v2' }, ctx);
}

function routed(r: PipelineResult): Map<string, string> {
  assert.equal(r.kind, 'routed', JSON.stringify(r));
  return new Map(r.kind === 'routed' ? r.outputs.map((o) => [o.destination, o.payload]) : []);
}

function only(r: PipelineResult): ReturnType<typeof parseMessage> {
  const outs = [...routed(r).values()];
  assert.equal(outs.length, 1);
  return parseMessage(outs[0] as string);
}

async function configError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(isSwitchboardError(e));
    assert.equal(e.code, 'SWB_ERR_CONFIG_INVALID');
    return e.message;
  }
  assert.fail('compiled');
}

const OUT = 'destinations: [{name: out, kind: file}]\n';

test('no steps: the message goes to every destination with CR terminators, unchanged otherwise', async () => {
  const r = await runHl7(await compile('destinations: [{name: a, kind: file}, {name: b, kind: file}]\n'));
  const outs = routed(r);
  assert.deepEqual([...outs.keys()], ['a', 'b']);
  assert.equal(outs.get('a'), ADT.replace(/\n/g, '\r'));
  assert.equal(outs.get('b'), outs.get('a'));
});

test('no destinations: routed with no outputs (stored only)', async () => {
  assert.deepEqual(await runHl7(await compile('')), { kind: 'routed', outputs: [] });
});

test('set writes escaped text and creates a missing segment; copy copies raw ER7', async () => {
  const m = only(
    await runHl7(
      await compile(`transformers:
  - set: {path: PV1-3.1, value: 'W2|B'}
  - set: {path: ZPI-1, value: hello}
  - copy: {from: PID-5, to: NK1-2}
  - copy: {from: 'PID-3[2].1', to: PID-19}
${OUT}`),
    ),
  );
  assert.equal(m.getRaw('PV1-3.1'), 'W2\\F\\B');
  assert.equal(m.get('PV1-3.1'), 'W2|B');
  assert.equal(m.get('PV1-3.2'), '101');
  assert.equal(m.get('ZPI-1'), 'hello');
  assert.equal(m.getRaw('NK1-2'), `${SECRET_NAME}^JANE`);
  assert.equal(m.get('PID-19'), '999');
});

test('map: hit, keep, default and error (error names the step and table, not the value)', async () => {
  const tables = "tables: {ward: {W1: WARD-A}, sex: {M: male}}\n";
  const hit = only(await runHl7(await compile(`${tables}transformers: [{map: {path: PV1-3.1, table: ward}}]\n${OUT}`)));
  assert.equal(hit.get('PV1-3.1'), 'WARD-A');
  const keep = only(await runHl7(await compile(`${tables}transformers: [{map: {path: PID-8, table: sex}}]\n${OUT}`)));
  assert.equal(keep.get('PID-8'), 'F');
  const dflt = only(await runHl7(await compile(`${tables}transformers: [{map: {path: PID-8, table: sex, default: U}}]\n${OUT}`)));
  assert.equal(dflt.get('PID-8'), 'U');
  const err = await runHl7(await compile(`${tables}transformers: [{map: {path: PID-8, table: sex, onMissing: error}}]\n${OUT}`));
  assert.deepEqual(err, { kind: 'error', errorCode: 'SWB_ERR_PIPELINE_MAP_MISSING', reason: 'transformers[0]: the value at PID-8 is not in table sex' });
});

test('removeSegment removes every occurrence; MSH stays', async () => {
  const m = only(await runHl7(await compile(`transformers: [{removeSegment: NTE}, {removeSegment: MSH}]\n${OUT}`)));
  assert.deepEqual(
    m.segments.map((s) => s.name),
    ['MSH', 'PID', 'PV1'],
  );
});

test('when/then runs its steps only when the condition holds', async () => {
  const p = await compile(`transformers:
  - when: {messageType: 'ADT^*'}
    then: [{set: {path: PV1-2, value: X}}]
  - when: {messageType: 'ORU^*'}
    then: [{set: {path: PV1-2, value: Y}}]
${OUT}`);
  assert.equal(only(await runHl7(p)).get('PV1-2'), 'X');
});

async function holds(condition: string, content = ADT): Promise<boolean> {
  const p = await compile(`filters: [{accept: ${condition}, reason: no}]\n${OUT}`);
  const r = await runHl7(p, content);
  return r.kind === 'routed';
}

test('conditions: messageType wildcards, equals, in, matches, exists, all, any, not', async () => {
  assert.equal(await holds("{messageType: 'ADT^A01'}"), true);
  assert.equal(await holds("{messageType: 'ADT^A0*'}"), true);
  assert.equal(await holds("{messageType: 'ADT^*'}"), true);
  assert.equal(await holds("{messageType: '*'}"), true);
  assert.equal(await holds("{messageType: 'ADT'}"), true);
  assert.equal(await holds("{messageType: '*^A01'}"), true);
  assert.equal(await holds("{messageType: ['ORU^R01', 'ADT^A03']}"), false);
  assert.equal(await holds("{messageType: 'ADT^A01'}", ORU), false);
  assert.equal(await holds('{path: PID-8, equals: F}'), true);
  assert.equal(await holds('{path: PID-8, equals: M}'), false);
  assert.equal(await holds("{path: PID-30, equals: ''}"), true, 'absent reads as empty');
  assert.equal(await holds('{path: PV1-2, in: [E, I]}'), true);
  assert.equal(await holds('{path: PV1-2, in: [E, O]}'), false);
  assert.equal(await holds("{path: 'PID-3[2].1', matches: '^9+$'}"), true);
  assert.equal(await holds("{path: PID-3.1, matches: '^9+$'}"), false);
  assert.equal(await holds('{path: PV1-3.3, exists: true}'), true);
  assert.equal(await holds('{path: PV1-4, exists: true}'), false);
  assert.equal(await holds('{path: ZZZ-1, exists: false}'), true);
  assert.equal(await holds('{all: [{path: PID-8, equals: F}, {path: PV1-2, equals: I}]}'), true);
  assert.equal(await holds('{all: [{path: PID-8, equals: F}, {path: PV1-2, equals: O}]}'), false);
  assert.equal(await holds('{any: [{path: PID-8, equals: M}, {path: PV1-2, equals: I}]}'), true);
  assert.equal(await holds('{any: [{path: PID-8, equals: M}, {path: PV1-2, equals: O}]}'), false);
  assert.equal(await holds('{not: {path: PID-8, equals: M}}'), true);
});

test('filters: accept and reject keep their reason (or the default one)', async () => {
  const p = await compile(`filters:
  - accept: {messageType: 'ADT^*'}
    reason: not an ADT
  - reject: {path: PID-8, equals: F}
${OUT}`);
  assert.deepEqual(await runHl7(p, ORU), { kind: 'filtered', reason: 'not an ADT' });
  assert.deepEqual(await runHl7(p), { kind: 'filtered', reason: 'rejected by filters[1]' });
});

test('routing by message type, and per-destination transformers isolated from each other', async () => {
  const p = await compile(`transformers: [{set: {path: PID-19, value: shared}}]
destinations:
  - name: adt
    kind: file
    when: {messageType: 'ADT^*'}
    transformers: [{set: {path: PV1-3.1, value: ONLY-ADT}}, {removeSegment: NTE}]
  - name: lab
    kind: file
    when: {messageType: ['ORU^R01']}
  - name: all
    kind: file
    transformers: [{set: {path: PID-8, value: U}}]
`);
  const adt = routed(await runHl7(p));
  assert.deepEqual([...adt.keys()], ['adt', 'all']);
  const a = parseMessage(adt.get('adt') as string);
  const b = parseMessage(adt.get('all') as string);
  assert.equal(a.get('PV1-3.1'), 'ONLY-ADT');
  assert.equal(a.segment('NTE'), undefined);
  assert.equal(a.get('PID-8'), 'F');
  assert.equal(b.get('PV1-3.1'), 'W1');
  assert.equal(b.segmentsNamed('NTE').length, 2);
  assert.equal(b.get('PID-8'), 'U');
  assert.equal(a.get('PID-19'), 'shared');
  assert.equal(b.get('PID-19'), 'shared');
  assert.deepEqual([...routed(await runHl7(p, ORU)).keys()], ['lab', 'all']);
});

test("the caller's parsed message is never changed", async () => {
  const p = await compile(`transformers: [{set: {path: PID-8, value: M}}, {removeSegment: NTE}]\n${OUT}`);
  const message = parseMessage(ADT);
  const before = message.toString();
  const m = only(await p.run({ content: ADT, contentType: 'hl7v2', message }, ctx));
  assert.equal(m.get('PID-8'), 'M');
  assert.equal(message.toString(), before);
});

test('unparseable HL7 input is an error result with the parser code', async () => {
  const r = await runHl7(await compile(OUT), 'hello');
  assert.equal(r.kind, 'error');
  assert.match(r.kind === 'error' ? r.errorCode : '', /^SWB_ERR_HL7_/);
});

test('compile errors name the step path: bad path, bad regex, missing module or export', async () => {
  assert.match(await configError(compile(`transformers: [{set: {path: 'PID-0', value: x}}]\n`)), /transformers\[0\]\.set\.path is not an HL7 path/);
  assert.match(await configError(compile(`destinations: [{name: a, kind: file, when: {path: '3.1', equals: x}}]\n`)), /destinations\[0\]\.when\.path must name a segment/);
  assert.match(await configError(compile(`orderingKey: 'pid-3'\n`)), /orderingKey is not an HL7 path/);
  const dir = mkdtempSync(join(tmpdir(), 'swb-pipe-'));
  writeFileSync(join(dir, 'm.mjs'), 'export const x = 1;\n');
  assert.match(await configError(compile(`transformers: [{module: ./nope.ts}]\n`, dir)), /transformers\[0\]\.module cannot load \.\/nope\.ts \(ENOENT\)/);
  assert.match(await configError(compile(`filters: [{accept: {module: ./m.mjs, export: route}}]\n`, dir)), /filters\[0\]\.accept\.export \.\/m\.mjs has no function export "route"/);
  assert.match(await configError(compile(`transformers: [{module: ./m.mjs, export: x}]\n`, dir)), /transformers\[0\]\.export \.\/m\.mjs has no function export "x"/);
});

test('modules: .ts and .mjs steps, conditions and ordering keys, loaded relative to baseDir', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-pipe-'));
  writeFileSync(
    join(dir, 'steps.ts'),
    `interface Msg { set(path: string, value: string): unknown; get(path: string): string | null | undefined; toString(o?: { terminator: string }): string }
interface Ctx { channelId: string; configRevision: number; tables: Record<string, Record<string, string>>; destination?: string }
export default function stamp(m: Msg, ctx: Ctx): void {
  m.set('PID-19', ctx.channelId + '@' + String(ctx.configRevision) + ':' + (ctx.tables['t']?.['k'] ?? ''));
}
export function asText(m: Msg): string {
  return m.toString({ terminator: '\\r' }).replace('|19800101|F', '|19800101|M') + '\\rZZZ|from-module';
}
export async function isFemale(m: Msg): Promise<boolean> { return m.get('PID-8') === 'F'; }
export function key(m: Msg): string { return 'K-' + String(m.get('PID-3.1')); }
`,
  );
  writeFileSync(
    join(dir, 'lib.mjs'),
    `export function dest(m, ctx) { m.addSegment('ZDS').set('1', ctx.destination); }
export function replace(m) { const c = m.constructor; return m; }
export function boom(m) { throw new Error('patient ' + m.get('PID-5.1') + ' broke it'); }
export function notBool() { return 'yes'; }
export function isMessage(m) { if (typeof m.get !== 'function') throw new Error('not a message'); }
`,
  );
  const p = await compile(
    `tables: {t: {k: v}}
orderingKey: {module: ./steps.ts, export: key}
filters: [{accept: {module: ./steps.ts, export: isFemale}}]
transformers: [{module: ./steps.ts}]
destinations:
  - name: text
    kind: file
    transformers: [{module: ./steps.ts, export: asText}, {module: ./lib.mjs, export: isMessage}, {set: {path: ZZZ-2, value: after}}]
  - name: js
    kind: file
    transformers: [{module: ./lib.mjs, export: dest}, {module: ../${join(dir).split('/').pop() ?? ''}/lib.mjs, export: replace}]
`,
    dir,
  );
  const outs = routed(await runHl7(p));
  const text = parseMessage(outs.get('text') as string);
  assert.equal(text.get('PID-19'), 'adt-in@3:v');
  assert.equal(text.get('PID-8'), 'M');
  assert.equal(text.get('ZZZ-1'), 'from-module');
  assert.equal(text.get('ZZZ-2'), 'after', 'a string result is re-parsed for later declarative steps');
  const js = parseMessage(outs.get('js') as string);
  assert.equal(js.get('ZDS-1'), 'js');
  assert.equal(js.get('PID-8'), 'F');
  assert.equal(js.get('PID-19'), 'adt-in@3:v');
  assert.equal(await p.orderingKey(parseMessage(ADT), ctx), 'K-12345');

  const male = ADT.replace('|F\n', '|M\n');
  assert.deepEqual(await runHl7(p, male), { kind: 'filtered', reason: 'rejected by filters[0]' });

  const failing = await compile(`transformers: [{set: {path: PID-19, value: x}}, {module: ./lib.mjs, export: boom}]\n${OUT}`, dir);
  const r = await runHl7(failing);
  assert.deepEqual(r, { kind: 'error', errorCode: 'SWB_ERR_PIPELINE_STEP_FAILED', reason: 'transformers[1] threw' });
  assert.ok(!JSON.stringify(r).includes(SECRET_NAME));
  const notBool = await compile(`destinations: [{name: a, kind: file, when: {module: ./lib.mjs, export: notBool}}]\n`, dir);
  assert.deepEqual(await runHl7(notBool), { kind: 'error', errorCode: 'SWB_ERR_PIPELINE_STEP_FAILED', reason: 'destinations[0].when returned string, not a boolean' });
});

test('modules: an .mts module is ESM (top-level await) wherever it is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-pipe-'));
  writeFileSync(join(dir, 'esm.mts'), "const v: string = await Promise.resolve('tla');\nexport function f(m: { set(p: string, v: string): unknown }): void { m.set('PID-19', v); }\n");
  const p = await compile(`transformers: [{module: ./esm.mts, export: f}]\n${OUT}`, dir);
  assert.equal(only(await runHl7(p)).get('PID-19'), 'tla');
});

test('ordering key: an HL7 path by default, none when null or empty', async () => {
  const m = parseMessage(ADT);
  assert.equal(await (await compile('')).orderingKey(m, ctx), '12345');
  assert.equal(await (await compile('orderingKey: null\n')).orderingKey(m, ctx), undefined);
  assert.equal(await (await compile("orderingKey: 'PID-30'\n")).orderingKey(m, ctx), undefined);
});

test('non-HL7 input: passes through, module steps apply, declarative steps are SWB_ERR_PIPELINE_NOT_HL7', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-pipe-'));
  writeFileSync(join(dir, 'j.mjs'), 'export function up(text) { return JSON.stringify({ ...JSON.parse(text), seen: true }); }\nexport function isPatient(text) { return JSON.parse(text).resourceType === "Patient"; }\n');
  const json = '{"resourceType":"Patient","id":"p1"}';
  const plain = await compile(OUT);
  assert.deepEqual(await plain.run({ content: json, contentType: 'fhir+json' }, ctx), { kind: 'routed', outputs: [{ destination: 'out', payload: json }] });
  const mod = await compile(`transformers: [{module: ./j.mjs, export: up}]\ndestinations: [{name: p, kind: file, when: {module: ./j.mjs, export: isPatient}}]\n`, dir);
  assert.deepEqual(routed(await mod.run({ content: json, contentType: 'fhir+json' }, ctx)).get('p'), '{"resourceType":"Patient","id":"p1","seen":true}');
  const decl = await compile(`transformers: [{set: {path: PID-8, value: M}}]\n${OUT}`);
  assert.deepEqual(await decl.run({ content: 'hello', contentType: 'text' }, ctx), { kind: 'error', errorCode: 'SWB_ERR_PIPELINE_NOT_HL7', reason: 'transformers[0] needs HL7 v2 input' });
  const route = await compile(`destinations: [{name: a, kind: file, when: {messageType: '*'}}]\n`);
  assert.equal((await route.run({ content: 'hello', contentType: 'text' }, ctx)).kind, 'error');
});

test('error results carry no field values', async () => {
  const p = await compile(`transformers: [{set: {path: 'MSH-1', value: '${SECRET_NAME}'}}]\n${OUT}`);
  const r = await runHl7(p);
  assert.equal(r.kind, 'error');
  assert.ok(!JSON.stringify(r).includes(SECRET_NAME), JSON.stringify(r));
  assert.match(r.kind === 'error' ? r.reason : '', /^transformers\[0\] failed \(SWB_ERR_/);
});

test('toFhir turns the message into a FHIR transaction Bundle with the tenant file; later HL7 steps refuse FHIR', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-tofhir-'));
  writeFileSync(join(dir, 'north.yaml'), 'tenant: north\nidentifierSystems:\n  HOSP: https://north.example/mrn\n');
  const p = await compile(
    `destinations:\n  - {name: fhir, kind: file, transformers: [{toFhir: {tenant: north.yaml}}]}\n  - {name: hl7, kind: file}\n  - {name: broken, kind: file, transformers: [{toFhir: {}}, {set: {path: PID-8, value: M}}]}\n`,
    dir,
  );
  const r = await runHl7(p);
  assert.equal(r.kind, 'error');
  assert.ok(r.kind === 'error' && r.errorCode === 'SWB_ERR_PIPELINE_NOT_HL7');
  const ok = await compile(`destinations:\n  - {name: fhir, kind: file, transformers: [{toFhir: {tenant: north.yaml}}]}\n  - {name: hl7, kind: file}\n`, dir);
  const outs = routed(await runHl7(ok));
  const bundle = JSON.parse(outs.get('fhir') as string) as { resourceType: string; type: string; entry: Array<{ resource: { resourceType: string; identifier?: Array<{ system?: string; value?: string }> } }> };
  assert.equal(bundle.resourceType, 'Bundle');
  assert.equal(bundle.type, 'transaction');
  const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient');
  assert.deepEqual(patient?.resource.identifier?.[0], { value: '12345', system: 'https://north.example/mrn', type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, assigner: { display: 'HOSP' } });
  // The other destination still gets HL7.
  assert.ok((outs.get('hl7') as string).startsWith('MSH|'));
});

test('toFhir: a bad tenant file is a config error naming the step; an unmappable message errors without values', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-tofhir-'));
  writeFileSync(join(dir, 'bad.yaml'), 'tenant: x\nunknownKey: 1\n');
  const msg = await configError(compile(`transformers: [{toFhir: {tenant: bad.yaml}}]\n${OUT}`, dir));
  assert.match(msg, /transformers\[0\]\.toFhir\.tenant/);
  // A code map that refuses codes it does not hold fails the message, naming the field, not the code.
  writeFileSync(join(dir, 'strict.yaml'), 'tenant: s\ncodeMaps:\n  - {name: marital, fields: [PID-16], unmapped: error, entries: [{sourceCode: X, targetSystem: s, targetCode: y}]}\n');
  const strict = await compile(`transformers: [{toFhir: {tenant: strict.yaml}}]\n${OUT}`, dir);
  const bad = await runHl7(strict, ADT.replace('19800101|F', `19800101|F||||||||${SECRET_NAME}^x^99X`));
  assert.ok(bad.kind === 'error' && bad.errorCode === 'SWB_ERR_MAP_CODE_UNMAPPED' && bad.reason.includes('PID-16') && !bad.reason.includes(SECRET_NAME), JSON.stringify(bad));
  const p = await compile(`transformers: [{toFhir: {}}]\n${OUT}`);
  const unsupported = await runHl7(p, ADT.replace('ADT^A01^ADT_A01', 'QRY^Q01'));
  assert.ok(unsupported.kind === 'error' && unsupported.errorCode === 'SWB_ERR_MAP_UNSUPPORTED_MESSAGE');
});
