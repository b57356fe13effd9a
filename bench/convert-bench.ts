// HL7 v2 -> FHIR conversion benchmark (issue 4, "Benchmark"): in-process messages/s of
// `switchboard convert` with validation — parse (src/hl7v2), map (convertV2ToFhir), validate
// (validateBundle, the R4 JSON Schema) — on the benchmark ADT^A01 and the ORU^R01 with 60 OBX
// (bench/messages.ts, synthetic). Each stage is timed on its own:
//   parse        parseMessage(text) and every segment's fields split (the parser is lazy: a bare
//                parseMessage only finds segment boundaries, so it is timed as well, as "lazy parse")
//   parse+map    convertV2ToFhir(parseMessage(text))   -> map = parse+map - lazy parse
//   validate     validateBundle(bundle of that message)
//   all          the three in a row (the msgs/s a channel's toFhir step with validate can reach)
// and the shares and the ratio (map + validate) / parse are printed against the target of <= 3x.
// The ratio (map + validate) / parse is taken against the full parse (every field split and
// decoded into the JSON tree, what an eager parser does), and printed against the lazy one too.
// Run alone with `node --import tsx bench/run.ts convert`.

import type { Bundle } from '@medplum/fhirtypes';
import { pathToFileURL } from 'node:url';
import { validateBundle } from '../src/fhir/fhir-validator.ts';
import { parseMessage } from '../src/hl7v2/index.ts';
import { convertV2ToFhir, mapperFor } from '../src/mapping/v2-to-fhir.ts';
import { fmtInt, fmtRatio, measure, table } from './harness.ts';
import { ADT_A01, ORU_R01 } from './messages.ts';

const TARGET_RATIO = 3;
const NOW = (): Date => new Date('2024-03-12T15:00:00Z');

interface Case {
  readonly name: string;
  readonly text: string;
}

const CASES: readonly Case[] = [
  { name: 'ADT^A01', text: ADT_A01 },
  { name: 'ORU^R01 (60 OBX)', text: ORU_R01 },
];

export interface ConvertBenchRow {
  readonly name: string;
  readonly parsePerSec: number;
  readonly lazyParsePerSec: number;
  readonly parseMapPerSec: number;
  /** parse + map without reading the report: what a channel's toFhir step does. */
  readonly parseMapBundleOnlyPerSec: number;
  readonly validatePerSec: number;
  readonly allPerSec: number;
  readonly resources: number;
  /** Time per message, microseconds. */
  readonly parseUs: number;
  readonly mapUs: number;
  readonly validateUs: number;
  readonly ratio: number;
  /** The same against the lazy parse alone. */
  readonly lazyRatio: number;
}

function benchCase(c: Case): ConvertBenchRow | string {
  const msg = parseMessage(c.text);
  if (mapperFor(msg) === undefined) return `${c.name}: skipped, no mapper for ${msg.messageCode}^${msg.triggerEvent} yet`;
  const bundle: Bundle = convertV2ToFhir(msg, { now: NOW }).bundle;
  const validation = validateBundle(bundle);
  if (!validation.valid) {
    const first = validation.issues.find((i) => i.severity === 'error');
    return `${c.name}: skipped, the produced bundle is not valid (${first?.expression ?? ''}: ${first?.diagnostics ?? ''})`;
  }
  const resources = bundle.entry?.length ?? 0;
  const lazy = measure(() => parseMessage(c.text).segments.length);
  const parse = measure(() => parseMessage(c.text).toJSON().segments.length);
  // `switchboard convert` prints the mapping report, so the map stage reads it (the result builds
  // it on first read; a channel's toFhir step, which keeps only the Bundle, never does).
  const parseMap = measure(() => {
    const result = convertV2ToFhir(parseMessage(c.text), { now: NOW });
    return (result.bundle.entry?.length ?? 0) + result.report.segments.length;
  });
  const parseMapBundleOnly = measure(() => convertV2ToFhir(parseMessage(c.text), { now: NOW }).bundle.entry?.length ?? 0);
  const validate = measure(() => validateBundle(bundle).issues.length);
  const all = measure(() => {
    const result = convertV2ToFhir(parseMessage(c.text), { now: NOW });
    return validateBundle(result.bundle).issues.length + (result.bundle.entry?.length ?? 0) + result.report.segments.length;
  });
  const us = (perSec: number): number => 1e6 / perSec;
  const parseUs = us(parse.median);
  const lazyUs = us(lazy.median);
  const mapUs = Math.max(0, us(parseMap.median) - lazyUs);
  const validateUs = us(validate.median);
  return {
    name: c.name,
    parsePerSec: parse.median,
    lazyParsePerSec: lazy.median,
    parseMapPerSec: parseMap.median,
    parseMapBundleOnlyPerSec: parseMapBundleOnly.median,
    validatePerSec: validate.median,
    allPerSec: all.median,
    resources,
    parseUs,
    mapUs,
    validateUs,
    ratio: (mapUs + validateUs) / parseUs,
    lazyRatio: (mapUs + validateUs) / lazyUs,
  };
}

const pct = (part: number, whole: number): string => `${((part / whole) * 100).toFixed(0)}%`;
const fmtUs = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

export async function runConvertBench(): Promise<ConvertBenchRow[]> {
  console.log('## HL7 v2 -> FHIR conversion (parse, map, validate; in-process, one core)');
  console.log('');
  const rows: ConvertBenchRow[] = [];
  for (const c of CASES) {
    const r = benchCase(c);
    if (typeof r === 'string') console.log(r);
    else rows.push(r);
    // Let the event loop breathe between cases (timers, GC finalizers).
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (rows.length > 0) {
    console.log(
      table(
        ['message', 'resources', 'convert+validate msgs/s', 'parse us', 'map us', 'validate us', 'parse / map / validate', `(map+validate)/parse (target <= ${TARGET_RATIO}x)`],
        rows.map((r) => {
          const total = r.parseUs + r.mapUs + r.validateUs;
          return [
            r.name,
            String(r.resources),
            fmtInt(r.allPerSec),
            fmtUs(r.parseUs),
            fmtUs(r.mapUs),
            fmtUs(r.validateUs),
            `${pct(r.parseUs, total)} / ${pct(r.mapUs, total)} / ${pct(r.validateUs, total)}`,
            `${fmtRatio(r.ratio)} ${r.ratio <= TARGET_RATIO ? 'met' : 'NOT met'}`,
          ];
        }),
      ),
    );
    console.log('');
    console.log('Stage rates (msgs/s):');
    for (const r of rows) {
      console.log(
        `  ${r.name}: full parse ${fmtInt(r.parsePerSec)}, lazy parse ${fmtInt(r.lazyParsePerSec)}, parse+map ${fmtInt(r.parseMapPerSec)} (report read; ${fmtInt(r.parseMapBundleOnlyPerSec)} Bundle only, as a channel's toFhir step), validate ${fmtInt(r.validatePerSec)}; (map+validate)/lazy parse ${fmtRatio(r.lazyRatio)}`,
      );
    }
  }
  console.log('');
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runConvertBench();
