// HL7 v2 -> FHIR conversion benchmark (issue 4, "Benchmark"): in-process messages/s of
// `switchboard convert` with validation — parse (src/hl7v2), map (convertV2ToFhir), validate
// (validateBundle, the R4 JSON Schema) — on the benchmark ADT^A01 and the ORU^R01 with 60 OBX
// (bench/messages.ts, synthetic). Each stage is timed on its own:
//   parse        parseMessage(text) and every segment's fields split (the parser is lazy: a bare
//                parseMessage only finds segment boundaries, so it is timed as well, as "lazy parse")
//   parse+map    convertV2ToFhir(parseMessage(text))   -> map = parse+map - lazy parse
//   validate     validateBundle(bundle) of bundles just converted and never validated before, as
//                the pipeline validates (convert -> validate -> store): each validation is timed
//                on its own, right after its bundle was converted, untimed (see below)
//   validate (re-validated)  validateBundle over a ring of VALIDATE_RING bundles validated many
//                times over: what this bench reported as "validate" until 2026-11-25, printed for
//                comparison only; it is optimistic (see below)
//   all          the three in a row (the msgs/s a channel's toFhir step with validate can reach)
// and the shares and the ratio (map + validate) / parse are printed against the target of <= 3x,
// with the fresh-bundle validate.
// The ratio (map + validate) / parse is taken against the full parse (every field split and
// decoded into the JSON tree, what an eager parser does), and printed against the lazy one too.
//
// Each message is measured twice. The headline: VARIANTS variants of it, made at start with their
// own control id, MRN, SSN, account, visit, guarantor and order numbers (messageVariants), taken in
// turn, so that the ids of the patient, visit, orders and results are new in each message, as on
// a feed (src/mapping/fhir-ids.ts caches only the ids of recurring resources: clinicians,
// organizations, locations, devices; a cache of every id hit on the repeated message only). The
// second line: the one message over and over, as earlier runs measured it. In both, the report's
// group-layout cache (LAYOUTS in src/mapping/v2-to-fhir.ts) hits after the first message: the
// variants keep the segment sequence, as one sender's messages of a type mostly do.
//
// Stages are timed in CPU time (process.cpuUsage: this thread and V8's GC helpers), not by the
// clock, and interleaved: each round times every stage once, and the ratio is each round's own,
// the median over rounds. On a shared machine other processes' load would otherwise land in
// whichever stage was running, and the ratio swing with it (contention still slows the CPU time
// of all stages; a quiet machine gives the figures to quote). Rates are per CPU-second, so msgs/s
// is what one core reaches. Run alone with `node --import tsx bench/run.ts convert`.
//
// Why validate fresh bundles: validating a bundle the first time costs about twice what validating
// it again does (measured on the ADT: 85-105 us fresh against 48 us re-validated; ORU about
// 390-500 against 300). Part of it is V8's string representation: a string the mapper builds by
// concatenation (13 characters or more: references, urn:uuid fullUrls, request urls, dates) is a
// rope ("cons string") until something needs its characters in one piece; ajv's first `pattern`
// test flattens it, in place, so every later validation of that bundle finds flat strings. The
// ring of already validated bundles therefore never paid for it, while the pipeline, which
// validates each bundle once, right after converting it, always does. The `all` stage (convert and
// validate in a row) showed the gap: its time exceeded parse+map + ring validate by about 60 us on
// the ADT. The fresh stage converts a bundle untimed, then times validating it once, so map +
// validate is what the pipeline pays, the bundle still in the CPU caches as it is there; what
// reading the CPU clock around each validation costs is measured and subtracted (clockCost). The
// stage rates line also prints all - parse+map, the same figure taken another way.

import type { Bundle } from '@medplum/fhirtypes';
import { pathToFileURL } from 'node:url';
import { validateBundle } from '../src/fhir/fhir-validator.ts';
import { parseMessage } from '../src/hl7v2/index.ts';
import { convertV2ToFhir, mapperFor } from '../src/mapping/v2-to-fhir.ts';
import { blackhole, fmtInt, fmtRatio, median, table, TIMING, warmUp, type Measurement } from './harness.ts';
import { ADT_A01, ADT_A01_ID_TOKENS, messageVariants, ORU_R01, ORU_R01_ID_TOKENS } from './messages.ts';

const TARGET_RATIO = 3;
const NOW = (): Date => new Date('2024-03-12T15:00:00Z');
/** Variants per message (BENCH_CONVERT_VARIANTS overrides). */
const VARIANTS = envCount('BENCH_CONVERT_VARIANTS', 500);
/** Bundles the re-validated stage takes in turn (see benchCase). */
const VALIDATE_RING = 20;
/**
 * Fresh bundles converted (untimed) before each timed batch of the validate stage: one, so that
 * each is validated right after its conversion, its objects still in the CPU caches, as in the
 * pipeline (measured: converted 8 at a time, then validated, ORU bundles took 507 us against 400
 * one at a time; the ADT's the same either way).
 */
const FRESH_BATCH = 1;

function envCount(name: string, fallback: number): number {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

interface Case {
  readonly name: string;
  /** The benchmark message; its variants are made from it and these identifying values. */
  readonly text: string;
  readonly idTokens: readonly string[];
}

const CASES: readonly Case[] = [
  { name: 'ADT^A01', text: ADT_A01, idTokens: ADT_A01_ID_TOKENS },
  { name: 'ORU^R01 (60 OBX)', text: ORU_R01, idTokens: ORU_R01_ID_TOKENS },
];

/** Each message's `count` variants (also read by scripts that compare conversion output). */
export function benchVariants(count = VARIANTS): Array<{ readonly name: string; readonly texts: string[] }> {
  return CASES.map((c) => ({ name: c.name, texts: messageVariants(c.text, c.idTokens, count) }));
}

export interface ConvertBenchRow {
  readonly name: string;
  /** How many distinct messages were taken in turn (1: the one message repeated). */
  readonly messages: number;
  readonly parsePerSec: number;
  readonly lazyParsePerSec: number;
  readonly parseMapPerSec: number;
  /** parse + map without reading the report: what a channel's toFhir step does. */
  readonly parseMapBundleOnlyPerSec: number;
  /** Validations per CPU-second of bundles just converted (see the header). */
  readonly validatePerSec: number;
  /** The same over a ring of bundles validated many times over (optimistic; for comparison). */
  readonly revalidatePerSec: number;
  readonly allPerSec: number;
  readonly resources: number;
  /** Time per message, microseconds. */
  readonly parseUs: number;
  readonly mapUs: number;
  readonly validateUs: number;
  /** all - parse+map: validation as the convert-and-validate stage pays it (a cross-check). */
  readonly validateInAllUs: number;
  /** (map + validate) / parse: each round's own ratio, the median over rounds. */
  readonly ratio: number;
  /** The same with the re-validated ring's validate (the figure reported before 2026-11-25). */
  readonly revalidateRatio: number;
  /** The same against the lazy parse alone. */
  readonly lazyRatio: number;
}

/** Microseconds of CPU (user + system) used by the process since `start`. */
function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

/**
 * A timed stage: `run` is timed; `prepare`, when given, runs untimed before each timed batch and
 * readies `count` calls of `run` (the fresh bundles of the validate stage), with a fixed `batch`.
 */
interface Stage {
  readonly run: () => number;
  readonly prepare?: (count: number) => void;
  readonly batch?: number;
}

/**
 * harness.measure with CPU time in place of the clock, and the stages interleaved: each is warmed
 * up (which sizes its batch), then each round times every stage once, in turn, for about
 * TIMING.roundMs of CPU. Load that comes and goes then lands on all stages of a round alike, and
 * the ratio is taken per round (see benchCase). Ops per CPU-second per round; medians. A stage's
 * `prepare` runs outside the timed batches.
 */
function measureStages<K extends string>(stages: Readonly<Record<K, (() => number) | Stage>>): Record<K, Measurement> {
  const names = Object.keys(stages) as K[];
  const asStage = (s: (() => number) | Stage): Stage => (typeof s === 'function' ? { run: s } : s);
  const batches = new Map<K, number>();
  for (const name of names) {
    const { run, prepare, batch } = asStage(stages[name]);
    if (prepare === undefined) batches.set(name, warmUp(run, TIMING.warmupMs));
    else {
      warmUp(() => {
        prepare(1);
        return run();
      }, TIMING.warmupMs);
      batches.set(name, batch ?? 1);
    }
  }
  const rounds = new Map<K, number[]>(names.map((n) => [n, []]));
  const roundUs = TIMING.roundMs * 1000;
  const clockUs = clockCost();
  for (let r = 0; r < TIMING.rounds; r++) {
    for (const name of names) {
      const { run, prepare } = asStage(stages[name]);
      const batch = batches.get(name) as number;
      let sum = 0;
      let ops = 0;
      let used = 0;
      let batchesRun = 0;
      do {
        prepare?.(batch);
        const start = process.cpuUsage();
        for (let i = 0; i < batch; i++) sum += run();
        used += cpuSince(start);
        ops += batch;
        batchesRun++;
      } while (used < roundUs);
      blackhole.sum += sum;
      // Less what reading the CPU clock itself put in the timed batches (see clockCost).
      (rounds.get(name) as number[]).push(ops / (Math.max(used - batchesRun * clockUs, used / 2) / 1e6));
    }
  }
  const out = {} as Record<K, Measurement>;
  for (const name of names) {
    const list = rounds.get(name) as number[];
    out[name] = { rounds: list, median: median(list) };
  }
  return out;
}

/**
 * CPU microseconds one timed batch counts with nothing in it: the part of the two
 * process.cpuUsage calls (each a getrusage system call, about 0.8 us here) that falls inside the
 * timed span. Negligible for stages timed in batches of about 5 ms; about 1% of a fresh ADT
 * validation timed one at a time. The median of a few runs.
 */
function clockCost(): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    let used = 0;
    const n = 5000;
    for (let i = 0; i < n; i++) used += cpuSince(process.cpuUsage());
    runs.push(used / n);
  }
  return median(runs);
}

/**
 * The validate stage: before each timed batch, converts the next `count` texts (untimed), then
 * each run validates one of those bundles, once, as the pipeline does right after converting it.
 */
function freshValidate(texts: readonly string[]): Stage {
  let next = 0;
  let at = 0;
  const fresh: Bundle[] = [];
  return {
    batch: FRESH_BATCH,
    prepare: (count) => {
      fresh.length = 0;
      at = 0;
      for (let i = 0; i < count; i++) {
        fresh.push(convertV2ToFhir(parseMessage(texts[next] as string), { now: NOW }).bundle);
        next = next + 1 === texts.length ? 0 : next + 1;
      }
    },
    run: () => validateBundle(fresh[at++] as Bundle).issues.length,
  };
}

/** A function over the texts (or bundles) taken in turn, one per call. */
function rotating<T>(items: readonly T[], fn: (item: T) => number): () => number {
  let next = 0;
  return () => {
    const item = items[next] as T;
    next = next + 1 === items.length ? 0 : next + 1;
    return fn(item);
  };
}

/** Converts and validates one text; a reason string when it cannot be benchmarked. */
function checked(name: string, text: string): Bundle | string {
  const msg = parseMessage(text);
  if (mapperFor(msg) === undefined) return `${name}: skipped, no mapper for ${msg.messageCode}^${msg.triggerEvent} yet`;
  const bundle: Bundle = convertV2ToFhir(msg, { now: NOW }).bundle;
  const validation = validateBundle(bundle);
  if (!validation.valid) {
    const first = validation.issues.find((i) => i.severity === 'error');
    return `${name}: skipped, the produced bundle is not valid (${first?.expression ?? ''}: ${first?.diagnostics ?? ''})`;
  }
  return bundle;
}

function benchCase(name: string, texts: readonly string[]): ConvertBenchRow | string {
  let resources = 0;
  for (const text of texts) {
    const bundle = checked(name, text);
    if (typeof bundle === 'string') return bundle;
    resources = bundle.entry?.length ?? 0;
  }
  // The re-validated stage (for comparison) runs over the bundles of the first VALIDATE_RING. 500
  // ORU bundles kept alive would hold about 80 MB and make every major GC of the other stages mark
  // them (the ORU map stage measured about 30% slower so). The validate stage keeps only its batch.
  const bundles = texts.slice(0, VALIDATE_RING).map((text) => convertV2ToFhir(parseMessage(text), { now: NOW }).bundle);
  const { lazy, parse, parseMap, parseMapBundleOnly, validate, revalidate, all } = measureStages({
    lazy: rotating(texts, (text) => parseMessage(text).segments.length),
    parse: rotating(texts, (text) => parseMessage(text).toJSON().segments.length),
    // `switchboard convert` prints the mapping report, so the map stage reads it (the result builds
    // it on first read; a channel's toFhir step, which keeps only the Bundle, never does).
    parseMap: rotating(texts, (text) => {
      const result = convertV2ToFhir(parseMessage(text), { now: NOW });
      return (result.bundle.entry?.length ?? 0) + result.report.segments.length;
    }),
    parseMapBundleOnly: rotating(texts, (text) => convertV2ToFhir(parseMessage(text), { now: NOW }).bundle.entry?.length ?? 0),
    validate: freshValidate(texts),
    revalidate: rotating(bundles, (bundle) => validateBundle(bundle).issues.length),
    all: rotating(texts, (text) => {
      const result = convertV2ToFhir(parseMessage(text), { now: NOW });
      return validateBundle(result.bundle).issues.length + (result.bundle.entry?.length ?? 0) + result.report.segments.length;
    }),
  });
  const us = (perSec: number): number => 1e6 / perSec;
  const parseUs = us(parse.median);
  const lazyUs = us(lazy.median);
  const mapUs = Math.max(0, us(parseMap.median) - lazyUs);
  const validateUs = us(validate.median);
  // The ratio of each round (its stages ran side by side), then the median over rounds.
  const perRound = (against: 'parse' | 'lazy', v: Measurement = validate): number =>
    median(
      parse.rounds.map((p, r) => {
        const lz = us(lazy.rounds[r] as number);
        const map = Math.max(0, us(parseMap.rounds[r] as number) - lz);
        return (map + us(v.rounds[r] as number)) / (against === 'lazy' ? lz : us(p));
      }),
    );
  return {
    name,
    messages: texts.length,
    parsePerSec: parse.median,
    lazyParsePerSec: lazy.median,
    parseMapPerSec: parseMap.median,
    parseMapBundleOnlyPerSec: parseMapBundleOnly.median,
    validatePerSec: validate.median,
    revalidatePerSec: revalidate.median,
    allPerSec: all.median,
    resources,
    parseUs,
    mapUs,
    validateUs,
    validateInAllUs: us(all.median) - us(parseMap.median),
    ratio: perRound('parse'),
    revalidateRatio: perRound('parse', revalidate),
    lazyRatio: perRound('lazy'),
  };
}

const pct = (part: number, whole: number): string => `${((part / whole) * 100).toFixed(0)}%`;
const fmtUs = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

const label = (r: ConvertBenchRow): string => (r.messages === 1 ? `${r.name}, one message repeated` : `${r.name}, ${r.messages} variants`);

export async function runConvertBench(): Promise<ConvertBenchRow[]> {
  console.log('## HL7 v2 -> FHIR conversion (parse, map, validate; in-process, one core)');
  console.log('');
  const rows: ConvertBenchRow[] = [];
  const variants = benchVariants();
  for (const c of CASES) {
    // The headline first (variants taken in turn), then the one message repeated.
    const texts = variants.find((v) => v.name === c.name)?.texts ?? [c.text];
    for (const set of [texts, [c.text]]) {
      const r = benchCase(c.name, set);
      if (typeof r === 'string') console.log(r);
      else rows.push(r);
      // Let the event loop breathe between cases (timers, GC finalizers).
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (rows.length > 0) {
    console.log(
      table(
        ['message', 'resources', 'convert+validate msgs/s', 'parse us', 'map us', 'validate us (fresh)', 'parse / map / validate', `(map+validate)/parse (target <= ${TARGET_RATIO}x)`],
        rows.map((r) => {
          const total = r.parseUs + r.mapUs + r.validateUs;
          return [
            label(r),
            String(r.resources),
            fmtInt(r.allPerSec),
            fmtUs(r.parseUs),
            fmtUs(r.mapUs),
            fmtUs(r.validateUs),
            `${pct(r.parseUs, total)} / ${pct(r.mapUs, total)} / ${pct(r.validateUs, total)}`,
            // The target is judged on the variants; the repeated message's ratio is for comparison.
            r.messages === 1 ? fmtRatio(r.ratio) : `${fmtRatio(r.ratio)} ${r.ratio <= TARGET_RATIO ? 'met' : 'NOT met'}`,
          ];
        }),
      ),
    );
    console.log('');
    console.log('Stage rates (msgs/s):');
    for (const r of rows) {
      console.log(
        `  ${label(r)}: full parse ${fmtInt(r.parsePerSec)}, lazy parse ${fmtInt(r.lazyParsePerSec)}, parse+map ${fmtInt(r.parseMapPerSec)} (report read; ${fmtInt(r.parseMapBundleOnlyPerSec)} Bundle only, as a channel's toFhir step), validate ${fmtInt(r.validatePerSec)} (fresh bundles; ${fmtInt(r.revalidatePerSec)} re-validated, ratio ${fmtRatio(r.revalidateRatio)}; all - parse+map ${fmtUs(r.validateInAllUs)} us); (map+validate)/lazy parse ${fmtRatio(r.lazyRatio)}`,
      );
    }
  }
  console.log('');
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runConvertBench();
