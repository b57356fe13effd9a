// Parser benchmark: "parse + read PID-3 (every repetition) and OBX-5 (of every OBX)" for our parser
// and four peers, on an ADT^A01 and an ORU^R01 (bench/messages.ts).
//
// Each parser produces the same list of strings through its own API; the lengths are summed into a
// sink so the work cannot be optimised away. The values are checked against ours before timing.
// Every job runs in its own child process, so that one library's JIT feedback and garbage does not
// slow the next, and the rounds of all jobs are interleaved. Run a single job alone with
// `--job <id>` (e.g. under --cpu-prof).

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Hl7Message as MedplumMessage } from '@medplum/core';
import { create as hl7parserCreate } from 'hl7parser';
import { Message as NhcMessage } from 'node-hl7-client';
import { Parser as SimpleParser } from 'simple-hl7';
import { parseMessage, parsePath, type Hl7Path } from '../src/hl7v2/index.ts';
import { blackhole, fmtInt, fmtRatio, measure, median, table, timedRound, TIMING, warmUp, type Measurement } from './harness.ts';
import { MESSAGES, describeMessages } from './messages.ts';

/** One parser under test. */
interface Peer {
  readonly id: string;
  readonly label: string;
  /** Parses `text` and appends PID-3 (each repetition) then OBX-5 (each OBX) to `out`. */
  read(text: string, out: string[]): void;
  /** Parses `text`, does the same reads (a lazy parser must really parse), and serializes. */
  roundTrip(text: string): string;
  /** What the adapter had to do differently, printed under the table. */
  readonly caveat?: string;
}

// ---------------------------------------------------------------------------------------------
// Ours

const ours: Peer = {
  id: 'ours',
  label: 'switchboard (ours)',
  read(text, out) {
    const msg = parseMessage(text);
    for (const v of msg.getAll('PID-3')) out.push(v ?? '');
    for (const v of msg.getAll('OBX-5')) out.push(v ?? '');
  },
  roundTrip(text) {
    const msg = parseMessage(text);
    msg.getAll('PID-3');
    msg.getAll('OBX-5');
    return msg.toString();
  },
};

// ---------------------------------------------------------------------------------------------
// @medplum/core: eager split into segments / fields / repetitions x components; no unescaping.

const medplum: Peer = {
  id: 'medplum',
  label: '@medplum/core 4.1.6',
  read(text, out) {
    const msg = MedplumMessage.parse(text);
    const cs = msg.context.componentSeparator;
    const pid = msg.getSegment('PID');
    if (pid !== undefined) {
      // Hl7Field.components is [repetition][component]; a repetition's text is its components joined.
      for (const rep of pid.getField(3).components) out.push(rep.join(cs));
    }
    for (const obx of msg.getAllSegments('OBX')) out.push(obx.getField(5).toString());
  },
  roundTrip(text) {
    const msg = MedplumMessage.parse(text);
    const pid = msg.getSegment('PID');
    if (pid !== undefined) pid.getField(3);
    for (const obx of msg.getAllSegments('OBX')) obx.getField(5);
    return msg.toString();
  },
};

// ---------------------------------------------------------------------------------------------
// simple-hl7: eager object tree; fields are rebuilt into strings by toString; no unescaping.

const simpleParser = new SimpleParser({ segmentSeperator: '\r' });

function simpleFieldValues(seg: { fields: Array<{ value: unknown[] }>; getField(i: number, r?: number): string }, n: number, out: string[]): void {
  const field = seg.fields[n - 1];
  if (field === undefined) return;
  // A repeating field holds one nested field per repetition; getField(n, r) renders one. For a
  // single repetition, getField(n) renders it (getField(n, 1) would stringify an array).
  const reps = field.value.length;
  if (reps > 1) for (let r = 1; r <= reps; r++) out.push(seg.getField(n, r));
  else out.push(seg.getField(n));
}

const simpleHl7: Peer = {
  id: 'simple-hl7',
  label: 'simple-hl7 3.3.0',
  read(text, out) {
    const msg = simpleParser.parse(text);
    const pid = msg.getSegment('PID');
    if (pid !== undefined) simpleFieldValues(pid, 3, out);
    for (const obx of msg.getSegments('OBX')) out.push(obx.getField(5));
  },
  roundTrip(text) {
    const msg = simpleParser.parse(text);
    const pid = msg.getSegment('PID');
    if (pid !== undefined) simpleFieldValues(pid, 3, []);
    for (const obx of msg.getSegments('OBX')) obx.getField(5);
    return msg.toString();
  },
};

// ---------------------------------------------------------------------------------------------
// hl7parser: lazy tree (splits a level on first access), unescapes leaves.

function hl7parserInput(text: string): string {
  // Every '\r' starts a segment and an empty one throws "Segment must have a name.", so the final
  // segment terminator has to go.
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}

function hl7parserRead(text: string, out: string[]): ReturnType<typeof hl7parserCreate> {
  const msg = hl7parserCreate(hl7parserInput(text));
  // A repetition with several components prints raw; a single component prints unescaped.
  msg.get('PID.3').forEach((rep) => out.push(rep.toString()));
  msg.get('OBX').forEach((obx) => out.push(obx.get('OBX.5').toString()));
  return msg;
}

const hl7parser: Peer = {
  id: 'hl7parser',
  label: 'hl7parser 1.0.1',
  read(text, out) {
    hl7parserRead(text, out);
  },
  roundTrip(text) {
    return hl7parserRead(text, []).toString();
  },
  caveat: 'hl7parser is given the message without its final CR (an empty last segment throws "Segment must have a name.").',
};

// ---------------------------------------------------------------------------------------------
// node-hl7-client: lazy tree derived from hl7parser's design; toString() of a node is its first
// leaf, unescaped, so a composite repetition is read with toRaw().

function nhcRead(text: string, out: string[]): NhcMessage {
  const msg = new NhcMessage({ text });
  msg.get('PID.3').forEach((rep) => out.push(rep.length > 1 ? rep.toRaw() : rep.toString()));
  // Segments inside the OBX list have no path, so 'OBX.5' does not resolve there: use the index.
  // Its empty node (a segment that is not there) throws on forEach, hence the length test.
  const obxs = msg.get('OBX');
  if (obxs.length > 0) {
    obxs.forEach((obx) => {
      const f = obx.get(5);
      out.push(f.length > 1 ? f.toRaw() : f.toString());
    });
  }
  return msg;
}

const nodeHl7Client: Peer = {
  id: 'node-hl7-client',
  label: 'node-hl7-client 3.2.0',
  read(text, out) {
    nhcRead(text, out);
  },
  roundTrip(text) {
    return nhcRead(text, []).toString();
  },
  caveat: "node-hl7-client: node.toString() returns the first leaf only, so composites are read with toRaw(); seg.get('OBX.5') returns nothing on segments reached through msg.get('OBX'), so OBX-5 is read as seg.get(5).",
};

const PEERS: readonly Peer[] = [ours, medplum, simpleHl7, hl7parser, nodeHl7Client];

// ---------------------------------------------------------------------------------------------
// Extra jobs: the cost of our lazy design when everything is read, and medplum doing the same.

const FIELD_PATHS: Hl7Path[] = Array.from({ length: 256 }, (_, i) => parsePath(String(i + 1)));

/** Ours, parse only (segments found, nothing split). */
function oursParseOnly(text: string): number {
  return parseMessage(text).segments.length;
}

/** Ours, every field of every segment, every repetition (leaves decoded, composites raw). */
function oursFullTree(text: string): number {
  const msg = parseMessage(text);
  let n = 0;
  for (const seg of msg.segments) {
    const count = seg.fieldCount;
    for (let f = 1; f <= count; f++) {
      for (const v of seg.getAll(FIELD_PATHS[f - 1] as Hl7Path)) n += v === null ? 0 : v.length;
    }
  }
  return n;
}

/** Ours, toJSON(): every field split down to components and subcomponents, every leaf decoded. */
function oursToJson(text: string): number {
  const json = parseMessage(text).toJSON();
  let n = 0;
  for (const s of json.segments) n += Object.keys(s.fields).length;
  return n;
}

/** medplum, every field of every segment, every repetition rendered as text. */
function medplumFullTree(text: string): number {
  const msg = MedplumMessage.parse(text);
  const cs = msg.context.componentSeparator;
  let n = 0;
  for (const seg of msg.segments) {
    for (const field of seg.fields) for (const rep of field.components) n += rep.join(cs).length;
  }
  return n;
}

function readJob(peer: Peer): (text: string) => number {
  return (text) => {
    const out: string[] = [];
    peer.read(text, out);
    let n = out.length;
    for (const v of out) n += v.length;
    return n;
  };
}

const JOBS: Record<string, (text: string) => number> = {
  ...Object.fromEntries(PEERS.map((p) => [p.id, readJob(p)])),
  'ours-parse-only': oursParseOnly,
  'ours-full-tree': oursFullTree,
  'ours-tojson': oursToJson,
  'medplum-full-tree': medplumFullTree,
};

interface JobResult {
  readonly job: string;
  /** One measurement per message, in MESSAGES order. */
  readonly results: Measurement[];
  readonly sink: number;
}

function jobFn(job: string): (text: string) => number {
  const fn = JOBS[job];
  if (fn === undefined) throw new Error(`unknown job ${job}; one of ${Object.keys(JOBS).join(', ')}`);
  return fn;
}

/** `--job <id>`: warm-up and all rounds of one job in this process (for --cpu-prof). */
function runJobHere(job: string): JobResult {
  const fn = jobFn(job);
  const results = MESSAGES.map((m) => {
    const text = m.text;
    return measure(() => fn(text));
  });
  return { job, results, sink: blackhole.sum };
}

/**
 * `--worker <id>`: a child process serving one job. It reads commands on stdin, one per line:
 * `warm` (warm up on every message) and `round <message index>` (one timed round), and answers
 * each with one JSON line. The parent runs the rounds of all jobs interleaved, one process at a
 * time, so that load from elsewhere on the machine is spread over every job instead of landing on
 * whichever job happened to run then.
 */
function serveJob(job: string): void {
  const fn = jobFn(job);
  const calls = MESSAGES.map((m) => {
    const text = m.text;
    return () => fn(text);
  });
  const batches: number[] = [];
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const [cmd, arg] = line.trim().split(' ');
    if (cmd === 'warm') {
      calls.forEach((call, i) => (batches[i] = warmUp(call)));
      process.stdout.write(`${JSON.stringify({ ok: true })}\n`);
    } else if (cmd === 'round') {
      const i = Number(arg);
      const call = calls[i];
      if (call === undefined) throw new Error(`no message ${arg}`);
      const ops = timedRound(call, batches[i] ?? 1);
      process.stdout.write(`${JSON.stringify({ ops, sink: blackhole.sum })}\n`);
    }
  });
}

/** The parent's handle on one job's child process. */
class JobWorker {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #waiting: Array<(line: string) => void> = [];
  readonly #exited: Promise<void>;

  constructor(readonly job: string) {
    const self = fileURLToPath(import.meta.url);
    this.#child = spawn(process.execPath, [...process.execArgv, self, '--worker', job], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    createInterface({ input: this.#child.stdout }).on('line', (line) => this.#waiting.shift()?.(line));
    this.#child.once('exit', (code) => {
      for (const w of this.#waiting.splice(0)) w(JSON.stringify({ error: `job ${job} exited (${code})` }));
    });
  }

  async request(command: string): Promise<Record<string, unknown>> {
    const reply = new Promise<string>((resolve) => this.#waiting.push(resolve));
    this.#child.stdin.write(`${command}\n`);
    const parsed = JSON.parse(await reply) as Record<string, unknown>;
    if (typeof parsed.error === 'string') throw new Error(parsed.error);
    return parsed;
  }

  async close(): Promise<void> {
    this.#child.stdin.end();
    await this.#exited;
  }
}

/** Runs every job in its own process, rounds interleaved across jobs. */
async function runJobsInterleaved(jobs: readonly string[]): Promise<Map<string, JobResult>> {
  const workers = jobs.map((job) => new JobWorker(job));
  try {
    process.stdout.write('  warming up:');
    for (const w of workers) {
      await w.request('warm');
      process.stdout.write(` ${w.job}`);
    }
    process.stdout.write('\n  rounds:');
    const rounds = new Map<string, number[][]>(jobs.map((j) => [j, MESSAGES.map(() => [])]));
    const sinks = new Map<string, number>();
    for (let r = 0; r < TIMING.rounds; r++) {
      for (const w of workers) {
        for (let i = 0; i < MESSAGES.length; i++) {
          const reply = await w.request(`round ${i}`);
          rounds.get(w.job)?.[i]?.push(Number(reply.ops));
          sinks.set(w.job, Number(reply.sink));
        }
      }
      process.stdout.write(` ${r + 1}/${TIMING.rounds}`);
    }
    process.stdout.write('\n');
    return new Map(
      jobs.map((job) => [
        job,
        { job, results: (rounds.get(job) ?? []).map((rs) => ({ rounds: rs, median: median(rs) })), sink: sinks.get(job) ?? 0 },
      ]),
    );
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

// ---------------------------------------------------------------------------------------------
// Checks before timing

interface Check {
  readonly peer: Peer;
  /** Per message: identical to ours? */
  readonly same: boolean[];
  readonly notes: string[];
  /** Per message: serialize(parse(x)) === x, and why not. */
  readonly roundTrips: Array<{ ok: boolean; why: string }>;
}

function describeDifference(expected: string, actual: string): string {
  if (actual === expected.replace(/\r$/, '')) return 'the final segment terminator (CR) is dropped';
  let i = 0;
  while (i < expected.length && expected.charCodeAt(i) === actual.charCodeAt(i)) i++;
  const around = (s: string): string => JSON.stringify(s.slice(Math.max(0, i - 12), i + 12));
  return `differs at char ${i}: expected ${around(expected)}, got ${around(actual)}`;
}

function checkPeer(peer: Peer): Check {
  const same: boolean[] = [];
  const notes: string[] = [];
  const roundTrips: Array<{ ok: boolean; why: string }> = [];
  for (const m of MESSAGES) {
    const expected: string[] = [];
    ours.read(m.text, expected);
    const raw = rawValues(m.text);
    let actual: string[] = [];
    try {
      peer.read(m.text, actual);
    } catch (e) {
      notes.push(`${m.name}: read failed: ${(e as Error).message}`);
      actual = [];
    }
    const ok = actual.length === expected.length && actual.every((v, i) => v === expected[i]);
    same.push(ok);
    if (!ok) {
      if (actual.length !== expected.length) notes.push(`${m.name}: ${actual.length} values instead of ${expected.length}`);
      const diffs = expected.map((v, i) => ({ v, i, a: actual[i] })).filter((d) => d.a !== d.v);
      const escaped = diffs.filter((d) => d.a === raw[d.i]).length;
      const other = diffs.filter((d) => d.a !== raw[d.i]);
      if (escaped > 0) notes.push(`${m.name}: ${escaped} value(s) returned as raw ER7, escape sequences not decoded (e.g. ${JSON.stringify(raw[diffs.find((d) => d.a === raw[d.i])?.i ?? 0])})`);
      for (const d of other.slice(0, 3)) notes.push(`${m.name}: value ${d.i + 1}: ours ${JSON.stringify(d.v)}, peer ${JSON.stringify(d.a)}`);
      if (other.length > 3) notes.push(`${m.name}: ... ${other.length - 3} more`);
    }
    try {
      const s = peer.roundTrip(m.text);
      roundTrips.push(s === m.text ? { ok: true, why: '' } : { ok: false, why: describeDifference(m.text, s) });
    } catch (e) {
      roundTrips.push({ ok: false, why: `throws: ${(e as Error).message}` });
    }
  }
  return { peer, same, notes, roundTrips };
}

/** The same positions as ours reads, but raw ER7 (to tell "not unescaped" from "wrong"). */
function rawValues(text: string): string[] {
  const msg = parseMessage(text);
  const out: string[] = [];
  const pid = msg.segment('PID');
  if (pid !== undefined) for (let r = 1; r <= pid.repetitionCount(3); r++) out.push(pid.rawAt(3, r) ?? '');
  for (const obx of msg.segmentsNamed('OBX')) out.push(obx.rawAt(5) ?? '');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

export interface ParseBenchSummary {
  readonly meetsTargets: boolean;
}

export async function runParseBench(): Promise<ParseBenchSummary> {
  console.log('== Parser benchmark ==');
  console.log(describeMessages());
  console.log('Work measured per op: parse + read PID-3 (every repetition) + OBX-5 (every OBX) into an array of strings; lengths summed into a sink.');
  console.log(
    `Method: each job in its own Node process; ${TIMING.warmupMs} ms warm-up per message, then ${TIMING.rounds} rounds of ~${TIMING.roundMs} ms per message ` +
      '(process.hrtime.bigint), the rounds of all jobs interleaved; median ops/s.',
  );
  console.log('');

  const checks = PEERS.map(checkPeer);
  const oursCheck = checks[0] as Check;
  if (!oursCheck.roundTrips.every((r) => r.ok)) {
    throw new Error(`our parser does not round-trip: ${oursCheck.roundTrips.map((r) => r.why).join('; ')}`);
  }
  const counts = MESSAGES.map((m) => {
    const out: string[] = [];
    ours.read(m.text, out);
    return `${m.name} ${out.length}`;
  });
  console.log(`Reference values (ours): ${counts.join(', ')} strings (PID-3 repetitions + OBX-5 values).`);

  const t0 = Date.now();
  const results = await runJobsInterleaved(Object.keys(JOBS));
  console.log(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  console.log('');

  const med = (job: string, i: number): number => results.get(job)?.results[i]?.median ?? Number.NaN;
  /** (max - min) / median of the rounds, ADT/ORU: how much the machine disturbed the job. */
  const spread = (job: string): string =>
    [0, 1]
      .map((i) => {
        const r = results.get(job)?.results[i]?.rounds ?? [];
        return r.length === 0 ? '-' : `${Math.round((100 * (Math.max(...r) - Math.min(...r))) / med(job, i))}%`;
      })
      .join('/');
  const rows = checks.map((c) => {
    const adt = med(c.peer.id, 0);
    const oru = med(c.peer.id, 1);
    const rt = c.roundTrips.every((r) => r.ok) ? 'yes' : 'no';
    const values = c.same.every(Boolean) ? 'same' : 'differ*';
    return [c.peer.label, fmtInt(adt), fmtInt(oru), fmtRatio(adt / med('medplum', 0)), fmtRatio(oru / med('medplum', 1)), rt, values, spread(c.peer.id)];
  });
  console.log(table(['parser', 'ADT ops/s', 'ORU ops/s', 'ADT vs medplum', 'ORU vs medplum', 'round-trips', 'values vs ours', 'spread ADT/ORU'], rows));
  console.log('(spread = (slowest - fastest round) / median; a large one means other load on the machine disturbed that job)');
  console.log('');

  console.log('Notes:');
  for (const c of checks) {
    for (let i = 0; i < MESSAGES.length; i++) {
      const rt = c.roundTrips[i];
      if (rt !== undefined && !rt.ok) console.log(`  - ${c.peer.id} round trip, ${(MESSAGES[i] as { name: string }).name}: ${rt.why}`);
    }
    for (const n of c.notes) console.log(`  - ${c.peer.id} values, ${n}`);
    if (c.peer.caveat !== undefined) console.log(`  - ${c.peer.caveat}`);
  }
  console.log('');

  console.log('Lazy design cost (ours; medplum full tree for reference):');
  const extra: Array<[string, string]> = [
    ['ours-parse-only', 'ours: parse only (segment lines found, nothing split)'],
    ['ours', 'ours: parse + PID-3 + OBX-5 (the benchmark above)'],
    ['ours-full-tree', 'ours: every field of every segment (getAll per field)'],
    ['ours-tojson', 'ours: toJSON() (every component/subcomponent, leaves decoded)'],
    ['medplum-full-tree', '@medplum/core: every field of every segment, each repetition as text'],
  ];
  console.log(table(['job', 'ADT ops/s', 'ORU ops/s', 'ADT vs medplum', 'ORU vs medplum', 'spread ADT/ORU'], extra.map(([job, label]) => [
    label, fmtInt(med(job, 0)), fmtInt(med(job, 1)), fmtRatio(med(job, 0) / med('medplum', 0)), fmtRatio(med(job, 1) / med('medplum', 1)), spread(job),
  ])));
  console.log('');

  // Targets
  const vsMedplum = [0, 1].map((i) => med('ours', i) / med('medplum', i));
  const twiceMedplum = vsMedplum.every((r) => r >= 2);
  const exactPeers = checks.filter((c) => c.peer.id !== 'ours' && c.roundTrips.every((r) => r.ok));
  const behind = exactPeers.filter((c) => [0, 1].some((i) => med(c.peer.id, i) >= med('ours', i)));
  console.log('Targets:');
  console.log(`  >= 2x @medplum/core on both messages: ${twiceMedplum ? 'MET' : 'NOT MET'} (ADT ${fmtRatio(vsMedplum[0] as number)}, ORU ${fmtRatio(vsMedplum[1] as number)})`);
  console.log(
    `  ahead of every peer that round-trips exactly (${exactPeers.map((c) => c.peer.id).join(', ') || 'none'}): ${behind.length === 0 ? 'MET' : `NOT MET (behind ${behind.map((c) => c.peer.id).join(', ')})`}`,
  );
  console.log('');
  return { meetsTargets: twiceMedplum && behind.length === 0 };
}

// ---------------------------------------------------------------------------------------------

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const at = process.argv.indexOf('--job');
  const worker = process.argv.indexOf('--worker');
  if (at !== -1) console.log(JSON.stringify(runJobHere(process.argv[at + 1] ?? '')));
  else if (worker !== -1) serveJob(process.argv[worker + 1] ?? '');
  else await runParseBench();
}
