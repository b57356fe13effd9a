// `npm run bench`: the parser benchmark, the MLLP loopback benchmark, then durable MLLP ingest
// (set SWITCHBOARD_PG_URL to include PostgreSQL).

import os from 'node:os';
import { runIngestBench } from './ingest-bench.ts';
import { runMllpBench } from './mllp-bench.ts';
import { runParseBench } from './parse-bench.ts';

const started = Date.now();
const cpus = os.cpus();
console.log('Switchboard benchmarks');
console.log(`Date:    ${new Date().toISOString()}`);
console.log(`Machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} logical CPUs), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.platform()} ${os.release()} ${os.arch()}`);
console.log(`Node:    ${process.version} (V8 ${process.versions.v8})`);
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
console.log(`Load average (1/5/15 min) at start: ${load()}`);
console.log('');

await runParseBench();
console.log(`Load average after the parser benchmark: ${load()}`);
console.log('');
await runMllpBench();
console.log(`Load average after the MLLP benchmark: ${load()}`);
console.log('');
await runIngestBench();
console.log(`Load average at the end: ${load()}`);

console.log(`Total time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
