// `npm run bench`: the parser benchmark, the MLLP loopback benchmark, durable MLLP ingest, end to
// end (MLLP -> channel -> webhook), then search over a large store (set SWITCHBOARD_PG_URL to
// include PostgreSQL). Name benchmarks to run only those: `node --import tsx bench/run.ts e2e search`
// (parse, mllp, ingest, e2e, search, validate, convert, fhir, writeback).

import os from 'node:os';
import { runConvertBench } from './convert-bench.ts';
import { runE2eBench } from './e2e-bench.ts';
import { runFhirApiBench } from './fhir-api-bench.ts';
import { runFhirValidateBench } from './fhir-validate-bench.ts';
import { runIngestBench } from './ingest-bench.ts';
import { runMllpBench } from './mllp-bench.ts';
import { runParseBench } from './parse-bench.ts';
import { runSearchBench } from './search-bench.ts';
import { runWritebackBench } from './writeback-bench.ts';

const only = process.argv.slice(2);
const want = (name: string): boolean => only.length === 0 || only.includes(name);
const unknown = only.filter((n) => !['parse', 'mllp', 'ingest', 'e2e', 'search', 'validate', 'convert', 'fhir', 'writeback'].includes(n));
if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(', ')} (parse, mllp, ingest, e2e, search, validate, convert, fhir, writeback)`);

const started = Date.now();
const cpus = os.cpus();
console.log('Switchboard benchmarks');
console.log(`Date:    ${new Date().toISOString()}`);
console.log(`Machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} logical CPUs), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.platform()} ${os.release()} ${os.arch()}`);
console.log(`Node:    ${process.version} (V8 ${process.versions.v8})`);
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`Load average (1/5/15 min) at start: ${load()}`);
console.log('');

if (want('parse')) {
  await runParseBench();
  console.log(`Load average after the parser benchmark: ${load()}`);
  console.log('');
}
if (want('mllp')) {
  await runMllpBench();
  console.log(`Load average after the MLLP benchmark: ${load()}`);
  console.log('');
}
if (want('ingest')) await runIngestBench();
if (want('e2e')) await runE2eBench();
if (want('search')) await runSearchBench();
if (want('validate')) await runFhirValidateBench();
if (want('convert')) await runConvertBench();
if (want('fhir')) await runFhirApiBench();
if (want('writeback')) await runWritebackBench();
console.log(`Load average at the end: ${load()}`);

console.log(`Total time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
