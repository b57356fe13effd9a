import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as z from 'zod';
import { destinationId } from '../core/channel-config.ts';
import { parseYamlDocument } from '../core/channel-schema.ts';
import { SwitchboardError } from '../core/errors.ts';
import type { IngestRecord } from '../core/ports/message-store.ts';
import { parseMessage, parsePath } from '../hl7v2/index.ts';
import { isChannelFile, loadChannelFile, type LoadedChannel } from './channel-loader.ts';
import { createChannelReceiver } from './channel-runtime.ts';

/**
 * Channel unit tests (STYLE.md "Configuration", after Redpanda Connect's config tests): a
 * `<channel>_test.yaml` beside `<channel>.yaml` lists input messages and the ACK, status and
 * per-destination output expected. Each case runs the real channel runtime and pipeline offline:
 * the store is an in-memory ingest that keeps the record, and nothing is sent anywhere.
 *
 * Failure lines may print field values: they are the user's own test data, on their terminal.
 */

const TEST_FILE = /_test\.ya?ml$/;

const FieldValue = z.union([z.string(), z.null()]).meta({ description: 'The expected value; null: absent or empty.' });

const DestinationExpect = z.union([
  z.string().meta({ description: 'The exact payload (line ends compared as CR).' }),
  z.strictObject({ fields: z.record(z.string(), FieldValue) }),
]);

const TestCase = z
  .strictObject({
    name: z.string().min(1),
    input: z.string().optional(),
    inputFile: z.string().min(1).optional(),
    contentType: z.enum(['hl7v2', 'fhir+json', 'text']).optional(),
    expect: z.strictObject({
      ack: z.enum(['AA', 'AE', 'AR', 'CA', 'CE', 'CR']).optional(),
      status: z.enum(['queued', 'filtered', 'errored', 'delivered']).optional(),
      reason: z.string().optional(),
      destinations: z.record(z.string(), DestinationExpect).optional(),
    }),
  })
  .superRefine((c, ctx) => {
    if ((c.input === undefined) === (c.inputFile === undefined)) ctx.addIssue({ code: 'custom', path: ['input'], message: 'give exactly one of input and inputFile' });
  });

export const ChannelTestDocumentSchema = z.strictObject({
  channel: z.string().min(1).optional().meta({ description: 'The channel file name without .yaml (default: this file name less _test).' }),
  tests: z.array(TestCase).min(1),
});

export type ChannelTestDocument = z.output<typeof ChannelTestDocumentSchema>;
type TestCaseDoc = ChannelTestDocument['tests'][number];

export interface ChannelTestCaseResult {
  readonly channel: string;
  readonly name: string;
  /** Empty when the case passed. */
  readonly failures: readonly string[];
}

export interface ChannelTestFileResult {
  readonly file: string;
  /** Set when the test file or its channel could not be loaded (usage/config error). */
  readonly error?: SwitchboardError;
  readonly cases: readonly ChannelTestCaseResult[];
}

/** Every `*_test.yaml` / `*_test.yml` under `dir`, recursively, sorted. */
export async function findChannelTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && TEST_FILE.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

/** ER7 as written in YAML: any line break is a segment terminator, CR (HL7 v2.5.1 ch.2 2.5.1). */
function toCr(text: string): string {
  return text.replace(/\r\n|\n/g, '\r');
}

function trimEnd(text: string): string {
  return toCr(text).replace(/\r+$/, '');
}

async function findChannel(testFile: string, name: string): Promise<string> {
  const dir = dirname(testFile);
  const names = (await readdir(dir)).filter(isChannelFile);
  const hit = names.find((n) => n === `${name}.yaml` || n === `${name}.yml`);
  if (hit !== undefined) return join(dir, hit);
  throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${basename(testFile)}: channel`, reason: `names no channel file ${name}.yaml beside it` });
}

function show(v: string | null | undefined): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** The first difference between two payloads, by segment. */
function payloadDiff(at: string, expected: string, got: string): string {
  const e = trimEnd(expected).split('\r');
  const g = trimEnd(got).split('\r');
  for (let i = 0; i < Math.max(e.length, g.length); i++) {
    if (e[i] !== g[i]) return `expected ${show(e[i])} at ${at} segment ${i + 1}, got ${show(g[i])}`;
  }
  return `${at} differs`;
}

function fieldFailures(at: string, payload: string, fields: Readonly<Record<string, string | null>>): string[] {
  const failures: string[] = [];
  let message;
  try {
    message = parseMessage(payload);
  } catch {
    return [`${at} is not HL7 v2, so its fields cannot be checked`];
  }
  for (const [path, want] of Object.entries(fields)) {
    const p = parsePath(path);
    // A bare segment id (`NTE`) checks that the segment is there (or, with null, is not).
    const got = p.field === undefined ? (message.segment(p.segment ?? '', p.occurrence ?? 1) === undefined ? undefined : message.getRaw(path)) : message.get(path);
    const absent = got === undefined || got === null || got === '';
    if (want === null ? !absent : got !== want) failures.push(`expected ${want === null ? 'nothing' : JSON.stringify(want)} at ${at}.${path}, got ${absent ? 'nothing' : show(got)}`);
  }
  return failures;
}

async function runCase(channel: LoadedChannel, testFile: string, c: TestCaseDoc): Promise<string[]> {
  const content = c.input !== undefined ? toCr(c.input) : toCr(await readFile(resolve(dirname(testFile), c.inputFile as string), 'utf8'));
  let record: IngestRecord | undefined;
  const receiver = createChannelReceiver({
    config: channel.config,
    revision: 1,
    pipeline: channel.pipeline,
    ingest: (r) => {
      record = r;
      return Promise.resolve({ kind: 'stored', id: 'test' });
    },
  });
  const result = await receiver.receive({ content, contentType: c.contentType ?? 'hl7v2', source: `test:${basename(testFile)}`, receivedAt: new Date() });
  const failures: string[] = [];
  const { expect } = c;
  if (expect.ack !== undefined) {
    let code: string | undefined;
    try {
      code = result.ack === undefined ? undefined : (parseMessage(result.ack).get('MSA-1') ?? undefined);
    } catch {
      code = undefined;
    }
    if (code !== expect.ack) failures.push(`expected ACK ${expect.ack}, got ${code ?? 'none'}`);
  }
  const status = result.kind === 'accepted' ? result.status : `rejected (${result.errorCode})`;
  if (expect.status !== undefined && status !== expect.status) failures.push(`expected status ${expect.status}, got ${status}`);
  const outcome = record?.outcome;
  if (expect.reason !== undefined) {
    const reason = outcome !== undefined && outcome.kind !== 'queued' ? outcome.reason : result.kind === 'rejected' ? result.errorCode : undefined;
    if (reason !== expect.reason) failures.push(`expected reason ${JSON.stringify(expect.reason)}, got ${show(reason)}`);
  }
  if (expect.destinations !== undefined) {
    const payloads = new Map<string, string>();
    if (outcome?.kind === 'queued') {
      for (const d of outcome.deliveries) {
        const name = channel.config.destinations.find((x) => destinationId(channel.config.id, x.name) === d.destination)?.name ?? d.destination;
        payloads.set(name, d.payload);
      }
    }
    for (const [name, want] of Object.entries(expect.destinations)) {
      const got = payloads.get(name);
      const at = `destinations.${name}`;
      if (got === undefined) failures.push(`expected a message at ${at}, got nothing`);
      else if (typeof want === 'string') {
        if (trimEnd(want) !== trimEnd(got)) failures.push(payloadDiff(at, want, got));
      } else failures.push(...fieldFailures(at, got, want.fields));
    }
    for (const name of payloads.keys()) if (!Object.hasOwn(expect.destinations, name)) failures.push(`expected nothing at destinations.${name}, got a message`);
  }
  return failures;
}

/** Checks what the shape cannot: destination names and field paths exist. */
function checkAgainstChannel(doc: ChannelTestDocument, channel: LoadedChannel, file: string): void {
  const names = new Set(channel.config.destinations.map((d) => d.name));
  doc.tests.forEach((t, i) => {
    for (const [name, want] of Object.entries(t.expect.destinations ?? {})) {
      const at = `tests[${i}].expect.destinations.${name}`;
      if (!names.has(name)) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${file}: ${at}`, reason: `is not a destination of channel ${channel.config.id}` });
      if (typeof want !== 'string') {
        for (const path of Object.keys(want.fields)) {
          try {
            if (parsePath(path).segment === undefined) throw new Error('no segment');
          } catch {
            throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${file}: ${at}.fields.${path}`, reason: 'is not an HL7 path like PV1-3.1 or a segment id like NTE' });
          }
        }
      }
    }
  });
}

/** Runs one test file. Load errors (the test file, its channel) come back in `error`, not thrown. */
export async function runChannelTestFile(testFile: string): Promise<ChannelTestFileResult> {
  const file = basename(testFile);
  try {
    const doc = parseYamlDocument(ChannelTestDocumentSchema, await readFile(testFile, 'utf8'), file);
    const channelFile = await findChannel(testFile, doc.channel ?? file.replace(TEST_FILE, ''));
    const channel = await loadChannelFile(channelFile);
    checkAgainstChannel(doc, channel, file);
    const cases: ChannelTestCaseResult[] = [];
    for (const c of doc.tests) {
      let failures: string[];
      try {
        failures = await runCase(channel, testFile, c);
      } catch (e) {
        failures = [e instanceof SwitchboardError ? `${e.code}: ${e.message}` : `the case could not run (${(e as NodeJS.ErrnoException).code ?? 'error'})`];
      }
      cases.push({ channel: channel.config.id, name: c.name, failures });
    }
    return { file: testFile, cases };
  } catch (e) {
    if (e instanceof SwitchboardError) return { file: testFile, error: e, cases: [] };
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return { file: testFile, error: new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: testFile, reason: code }), cases: [] };
  }
}
