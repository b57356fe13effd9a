// Small timing helpers shared by the benchmarks, and the child-process wrapper of server benches.

// The V8 flags `switchboard` sets for itself (src/cli/v8-flags.ts): every bench module and server
// child imports this file, so benchmarks measure the runtime the CLI runs.
import '../src/cli/apply-v8-flags.ts';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** Rounds and their length; override with BENCH_ROUNDS / BENCH_ROUND_MS / BENCH_WARMUP_MS. */
export const TIMING = {
  rounds: envInt('BENCH_ROUNDS', 5),
  roundMs: envInt('BENCH_ROUND_MS', 600),
  warmupMs: envInt('BENCH_WARMUP_MS', 400),
};

function envInt(name: string, fallback: number): number {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** Accumulates results so that the JIT cannot drop the measured work. */
export const blackhole = { sum: 0 };

export interface Measurement {
  /** ops/s of each timed round. */
  readonly rounds: number[];
  readonly median: number;
}

function nowNs(): bigint {
  return process.hrtime.bigint();
}

/**
 * Runs `fn` for about `warmupMs` and returns a batch size for which a batch takes about 5 ms (so
 * the clock is read rarely in timed rounds).
 */
export function warmUp(fn: () => number, warmupMs = TIMING.warmupMs): number {
  let sum = 0;
  let batch = 1;
  const warmEnd = nowNs() + BigInt(warmupMs) * 1_000_000n;
  for (;;) {
    const t0 = nowNs();
    for (let i = 0; i < batch; i++) sum += fn();
    const t1 = nowNs();
    if (t1 - t0 < 5_000_000n && batch < 1 << 24) batch *= 2;
    if (t1 >= warmEnd) break;
  }
  blackhole.sum += sum;
  return batch;
}

/** One timed round of about `roundMs`, in batches; returns ops/s. */
export function timedRound(fn: () => number, batch: number, roundMs = TIMING.roundMs): number {
  let sum = 0;
  let ops = 0;
  const roundNs = BigInt(roundMs) * 1_000_000n;
  const start = nowNs();
  let elapsed = 0n;
  do {
    for (let i = 0; i < batch; i++) sum += fn();
    ops += batch;
    elapsed = nowNs() - start;
  } while (elapsed < roundNs);
  blackhole.sum += sum;
  return ops / (Number(elapsed) / 1e9);
}

/**
 * Warm-up, then `rounds` timed rounds of about `roundMs` each. The function is called in batches
 * sized during warm-up to take about 5 ms, so the clock is read rarely; ops/s is counted per round
 * and the median reported.
 */
export function measure(fn: () => number, timing = TIMING): Measurement {
  const batch = warmUp(fn, timing.warmupMs);
  const rounds: number[] = [];
  for (let r = 0; r < timing.rounds; r++) rounds.push(timedRound(fn, batch, timing.roundMs));
  return { rounds, median: median(rounds) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Value at quantile q (0..1) of a sorted array, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return Math.round(n).toLocaleString('en-US');
}

export function fmtRatio(n: number): string {
  return Number.isFinite(n) ? `${n.toFixed(2)}x` : '-';
}

/** A plain text table; numeric-looking cells are right-aligned. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const isNum = (s: string): boolean => /^[-+]?[\d,.]+(x|%| ms| us)?(\/[\d,.]+%)?$/.test(s) || s === '-';
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (isNum(c) && i > 0 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/**
 * A benchmark server in a child process: `node <script> --serve <args...>` prints `{"port":N}` when
 * listening, answers a `report` line on stdin with `{"report":...}` (or `{"reportError":"..."}`),
 * and exits when stdin ends. `profileEnv` names a variable that, when set to a directory, runs the
 * child under `--cpu-prof` (one folder per server, one file per thread).
 */
export class BenchServerProcess<Report> {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #exited: Promise<void>;
  readonly port: Promise<number>;
  #onReport: ((line: string) => void) | undefined;

  constructor(script: string, name: string, args: readonly string[], profileEnv: string) {
    const prof = process.env[profileEnv];
    const profArgs = prof !== undefined && prof !== '' ? ['--cpu-prof', `--cpu-prof-dir=${path.join(prof, name)}`] : [];
    this.#child = spawn(process.execPath, [...process.execArgv, ...profArgs, script, '--serve', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.port = new Promise<number>((resolve, reject) => {
      createInterface({ input: this.#child.stdout }).on('line', (line) => {
        if (line.startsWith('{"port"')) resolve((JSON.parse(line) as { port: number }).port);
        else if (line.startsWith('{"report') && this.#onReport !== undefined) this.#onReport(line);
      });
      this.#child.once('exit', (code) => reject(new Error(`server ${name} exited (${code}) before listening`)));
    });
    this.port.catch(() => undefined);
  }

  /** Counts and counters from the child (after the load, so every commit has finished). */
  report(timeoutMs = 60_000): Promise<Report> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no report within ${timeoutMs} ms`)), timeoutMs);
      this.#onReport = (line) => {
        clearTimeout(timer);
        this.#onReport = undefined;
        const parsed = JSON.parse(line) as { report?: Report; reportError?: string };
        if (parsed.report !== undefined) resolve(parsed.report);
        else reject(new Error(parsed.reportError ?? 'bad report'));
      };
      this.#child.stdin.write('report\n');
    });
  }

  /** Ends stdin (the child closes its listener and store and exits); kills it after `killAfterMs`. */
  async stop(killAfterMs = 15_000): Promise<void> {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), killAfterMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

export interface MllpLoadOptions {
  readonly port: number;
  readonly connections: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** A run still waiting this long after its deadline is abandoned (a stuck server). */
  readonly stallMs: number;
  /** The next framed message for connection `c`. */
  readonly next: (c: number) => Buffer;
  /** Check every reply is a positive ACK (durable ingest), or only each connection's first (cheaper). */
  readonly checkEveryReply: boolean;
}

export interface MllpLoadResult {
  readonly perSecond: number;
  /** Milliseconds of the measured messages, unsorted. */
  readonly latencies: Float64Array;
  /** Positive ACKs received, warm-up included (counted when every reply is checked). */
  readonly acked: number;
  readonly sent: number;
  readonly errors: string[];
}

/**
 * Raw MLLP load on loopback: `connections` sockets, one message in flight each, warm-up then a
 * measured window. node:net directly, so the generator costs as little as possible of the CPU it
 * shares with the server.
 */
export function mllpLoad(o: MllpLoadOptions): Promise<MllpLoadResult> {
  const VT = 0x0b;
  const FS = 0x1c;
  const CR = 0x0d;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const measureFrom = t0 + o.warmupMs;
    const deadline = measureFrom + o.measureMs;
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let acked = 0;
    let sent = 0;
    const errors: string[] = [];
    let open = o.connections;
    let finished = false;
    const sockets: net.Socket[] = [];

    const record = (ms: number): void => {
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[count++] = ms;
    };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(stall);
      for (const s of sockets) s.destroy();
      resolve({ perSecond: count / (o.measureMs / 1000), latencies: latencies.slice(0, count), acked, sent, errors });
    };
    const stall = setTimeout(() => {
      errors.push(`stalled: ${open} connection(s) still waiting ${o.stallMs} ms after the deadline`);
      finish();
    }, o.warmupMs + o.measureMs + o.stallMs);
    const done = (): void => {
      open--;
      if (open === 0) finish();
    };

    for (let c = 0; c < o.connections; c++) {
      const socket = net.connect({ port: o.port, host: '127.0.0.1', noDelay: true });
      sockets.push(socket);
      let sentAt = 0;
      let pending: Buffer | undefined;
      let checked = false;
      let closed = false;
      const send = (): void => {
        const frame = o.next(c);
        sent++;
        sentAt = performance.now();
        socket.write(frame);
      };
      const stop = (): void => {
        if (closed) return;
        closed = true;
        socket.end();
        done();
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
        const end = buf.indexOf(FS);
        if (end === -1 || end + 1 >= buf.length) {
          pending = buf;
          return;
        }
        pending = end + 2 < buf.length ? buf.subarray(end + 2) : undefined;
        const now = performance.now();
        if (o.checkEveryReply || !checked) {
          checked = true;
          // A durable ingest answers AA (or CA) only after the commit.
          const text = buf.subarray(0, end).toString('latin1');
          if (buf[0] !== VT || buf[end + 1] !== CR) {
            if (errors.length < 5) errors.push('reply is not an MLLP frame');
          } else if (!/\rMSA\|(AA|CA)\|/.test(text)) {
            if (errors.length < 5) errors.push(`reply is not a positive ACK: ${JSON.stringify(text.slice(0, 200))}`);
          } else acked++;
        }
        if (sentAt >= measureFrom && now <= deadline) record(now - sentAt);
        if (now < deadline) send();
        else stop();
      });
      socket.on('error', (e) => {
        if (!finished && errors.length < 5) errors.push(`connection ${c}: ${e.message}`);
        stop();
      });
      socket.on('close', stop);
    }
  });
}
