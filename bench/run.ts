// `npm run bench`: the parser benchmark, then the MLLP loopback benchmark.

import os from 'node:os';
import { runMllpBench } from './mllp-bench.ts';
import { runParseBench } from './parse-bench.ts';

const started = Date.now();
const cpus = os.cpus();
console.log('Switchboard benchmarks');
console.log(`Date:    ${new Date().toISOString()}`);
console.log(`Machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'} (${cpus.length} logical CPUs), ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.platform()} ${os.release()} ${os.arch()}`);
console.log(`Node:    ${process.version} (V8 ${process.versions.v8})`);
console.log('');

runParseBench();
await runMllpBench();

console.log(`Total time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
