// Durable MLLP ingest: receive -> commit -> ACK. The engine's listener (startListenerService) with
// a store, so every ACK is written only after the message's transaction committed (ARCHITECTURE.md
// invariant 1). The load generator is the one of the MLLP benchmark: raw node:net, 16 connections,
// one message in flight per connection; each server runs in its own child process, and the
// servers take turns in several short passes so that load from elsewhere lands on all of them.
//
// Servers: the listener with no store (parse + ACK: the ceiling), with the SQLite store
// (synchronous=FULL, the default) and with the PostgreSQL store (when SWITCHBOARD_PG_URL is set).
// Every message has its own MSH-10 (otherwise dedupe would answer repeats without storing them)
// and its own PID-3. After the run each server counts what it stored through the store API, and
// that must equal the number of positive ACKs the load generator received.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startListenerService } from '../src/api/listener-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { openStore } from '../src/store/open-store.ts';
import { dropPostgresSchema, type PostgresStore } from '../src/store/postgres/open-postgres-store.ts';
import type { SqliteStore } from '../src/store/sqlite/open-sqlite-store.ts';
import { BenchServerProcess, fmtInt, mllpLoad, fmtRatio, median, quantile, table } from './harness.ts';
import { ADT_A01 } from './messages.ts';
import { type PgServerCpu, pgServerCpuMs } from './pg-server-cpu.ts';


const CONNECTIONS = 16;
const envInt = (name: string, fallback: number): number => Number.parseInt(process.env[name] ?? '', 10) || fallback;
/** Per pass every server gets WARMUP_MS + MEASURE_MS; PASSES passes, servers interleaved. */
const PASSES = envInt('BENCH_INGEST_PASSES', 3);
const WARMUP_MS = envInt('BENCH_INGEST_WARMUP_MS', 500);
const MEASURE_MS = envInt('BENCH_INGEST_MS', 2000);
const FSYNC_MS = envInt('BENCH_INGEST_FSYNC_MS', 1000);
const STALL_MS = 5000;
/** Issue targets (msgs/s). */
const TARGETS: Partial<Record<ServerKind, number>> = { sqlite: 15_000, postgres: 8_000 };

// ---------------------------------------------------------------------------------------------
// Messages: the ADT^A01 of messages.ts with MSH-10 and the first PID-3 replaced per message.

const MSH10 = 'ADT20240312081530001';
const PID3 = 'NW00482915';

function splitTemplate(): [Buffer, Buffer, Buffer] {
  const a = ADT_A01.indexOf(MSH10);
  const b = ADT_A01.indexOf(PID3);
  if (a === -1 || b === -1 || b < a) throw new Error('bench ADT message changed: MSH-10 / PID-3 not found');
  return [Buffer.from(`\u000b${ADT_A01.slice(0, a)}`, 'utf8'), Buffer.from(ADT_A01.slice(a + MSH10.length, b), 'utf8'), Buffer.from(`${ADT_A01.slice(b + PID3.length)}\u001c\r`, 'utf8')];
}
const [HEAD, MIDDLE, TAIL] = splitTemplate();
/** Unique across the whole run (all passes, all servers). */
let sequence = 0;

/** One framed ADT with MSH-10 `B<conn>-<n>` and PID-3 `P<n>`. */
function nextMessage(conn: number): Buffer {
  const n = sequence++;
  return Buffer.concat([HEAD, Buffer.from(`B${conn}-${n}`, 'latin1'), MIDDLE, Buffer.from(`P${String(n).padStart(9, '0')}`, 'latin1'), TAIL]);
}

// ---------------------------------------------------------------------------------------------
// Servers (child process)

const SERVER_KINDS = {
  none: { label: 'listener, no store (parse + ACK: ceiling)' },
  sqlite: { label: 'listener + SQLite (synchronous=FULL)' },
  postgres: { label: 'listener + PostgreSQL' },
} as const;
type ServerKind = keyof typeof SERVER_KINDS;
const isServerKind = (k: string): k is ServerKind => Object.prototype.hasOwnProperty.call(SERVER_KINDS, k);

interface Report {
  /** Messages found through store.messages.search, all pages. */
  readonly stored: number;
  /** Distinct MSH-10 among them. */
  readonly distinctControlIds: number;
  /** SQLite group-commit counters. */
  readonly sqlite?: { flushes: number; transactions: number; rows: number; walSyncs: number };
  /** PostgreSQL ingest transactions. */
  readonly pgFlushes?: number;
  readonly duplicates: number;
  /** Child CPU time, user + system, ms, since it was listening (start-up and migrations excluded: with a slow disk few messages are ACKed and start-up was most of the figure). */
  readonly cpuMs: number;
  /** Bytes the child passed to write() over its life (/proc/self/io wchar: WAL frames, checkpoints, sockets); undefined off Linux. */
  readonly writtenBytes?: number;
  readonly countMs: number;
}

async function countStored(store: Store): Promise<{ stored: number; distinct: number }> {
  const ids = new Set<string>();
  let stored = 0;
  let cursor: string | undefined;
  do {
    const page = await store.messages.search({ channelId: 'mllp', limit: 500, ...(cursor !== undefined ? { cursor } : {}) });
    stored += page.items.length;
    for (const m of page.items) if (m.controlId !== undefined) ids.add(m.controlId);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { stored, distinct: ids.size };
}

/** This process's write() bytes so far (Linux /proc/self/io), undefined where there is no such file. */
function writtenBytes(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/self/io', 'utf8').split('\n').find((l) => l.startsWith('wchar:'));
    return line === undefined ? undefined : Number(line.slice('wchar:'.length));
  } catch {
    return undefined;
  }
}

/** Child: start the listener (with its store), print its port; `report` lines get counts; stdin end closes. */
async function serve(kind: string, storeUrl: string | undefined): Promise<void> {
  if (!isServerKind(kind)) throw new Error(`unknown server ${kind}`);
  let dir: string | undefined;
  let store: Store | undefined;
  if (kind === 'sqlite') {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-ingest-bench-'));
    store = await openStore(`sqlite:${path.join(dir, 'bench.db')}`);
  } else if (kind === 'postgres') {
    if (storeUrl === undefined) throw new Error('no store URL');
    store = await openStore(storeUrl);
  }
  const service = await startListenerService({
    host: '127.0.0.1',
    mllpPort: 0,
    httpPort: undefined,
    validate: false,
    maxFrameBytes: 16 << 20,
    idleTimeoutMs: 0,
    logger: createLogger({ level: 'silent' }),
    ...(store !== undefined ? { store } : {}),
  });
  const listeningCpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ port: service.mllp.port })}\n`);
  const report = async (): Promise<Report> => {
    // Before counting: the count's search is not ingest work.
    const cpu = process.cpuUsage(listeningCpu);
    const t0 = performance.now();
    const counted = store === undefined ? { stored: 0, distinct: 0 } : await countStored(store);
    const countMs = performance.now() - t0;
    const written = writtenBytes();
    const duplicates = (await service.metrics.duplicates.get()).values.reduce((n, v) => n + v.value, 0);
    return {
      stored: counted.stored,
      distinctControlIds: counted.distinct,
      duplicates,
      cpuMs: (cpu.user + cpu.system) / 1000,
      ...(written !== undefined ? { writtenBytes: written } : {}),
      countMs,
      ...(store?.kind === 'sqlite' ? { sqlite: (store as SqliteStore).messages.stats() } : {}),
      ...(store?.kind === 'postgres' ? { pgFlushes: (store as PostgresStore).messages.flushCount } : {}),
    };
  };
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'report') return;
    void report().then(
      (r) => process.stdout.write(`${JSON.stringify({ report: r })}\n`),
      (e: unknown) => process.stdout.write(`${JSON.stringify({ reportError: e instanceof Error ? e.message : String(e) })}\n`),
    );
  });
  process.stdin.on('end', () => {
    void (async () => {
      await service.close();
      await store?.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

// ---------------------------------------------------------------------------------------------
// Load generator (parent process)



// ---------------------------------------------------------------------------------------------
// Raw disk fsync rate, for reference.

/** 4 KB write + fdatasync in a loop for FSYNC_MS; `append` grows the file, else rewrites block 0. */
function fsyncRate(dir: string, mode: 'append' | 'overwrite'): number {
  const file = path.join(dir, `fsync-${mode}.bin`);
  const fd = fs.openSync(file, 'w');
  const block = randomBytes(4096);
  let n = 0;
  try {
    const t0 = performance.now();
    const end = t0 + FSYNC_MS;
    let now = t0;
    while (now < end) {
      fs.writeSync(fd, block, 0, block.length, mode === 'append' ? n * block.length : 0);
      fs.fdatasyncSync(fd);
      n++;
      now = performance.now();
    }
    return n / ((now - t0) / 1000);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

function fsType(dir: string): string {
  // /proc/mounts: the longest mount point containing dir.
  try {
    const real = fs.realpathSync(dir);
    let best = { mount: '', type: 'unknown', dev: '' };
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [dev, mount, type] = line.split(' ');
      if (dev === undefined || mount === undefined || type === undefined) continue;
      if ((real === mount || real.startsWith(mount.endsWith('/') ? mount : `${mount}/`)) && mount.length >= best.mount.length) best = { mount, type, dev };
    }
    return `${best.type} on ${best.dev} (${best.mount})`;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------

interface Aggregate {
  readonly rates: number[];
  readonly latencies: Float64Array[];
  readonly errors: Set<string>;
  acked: number;
  sent: number;
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

export async function runIngestBench(): Promise<void> {
  console.log('== Durable MLLP ingest benchmark (receive -> commit -> ACK) ==');
  console.log(
    `startListenerService (validate off, silent logger), ${CONNECTIONS} connections, one message in flight per connection, raw node:net load generator in this process, ` +
      `each server in its own child process. ${PASSES} passes; in each, every server gets ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured, servers interleaved. ` +
      `Message: the ${Buffer.byteLength(ADT_A01)}-byte ADT^A01 with a unique MSH-10 (B<conn>-<n>) and PID-3 per message.`,
  );
  console.log(`Load average (1/5/15 min) before: ${loadavg()}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-fsync-'));
  try {
    const append = fsyncRate(tmp, 'append');
    const overwrite = fsyncRate(tmp, 'overwrite');
    console.log(
      `Raw disk (${os.tmpdir()}: ${fsType(tmp)}): 4 KB write + fdatasync, ${FSYNC_MS} ms each: ${fmtInt(append)}/s appending, ${fmtInt(overwrite)}/s rewriting one block ` +
        `(= ${(1000 / append).toFixed(3)} / ${(1000 / overwrite).toFixed(3)} ms per sync)`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const pgBase = process.env.SWITCHBOARD_PG_URL;
  const pgSchema = `swb_bench_${randomBytes(6).toString('hex')}`;
  let pgUrl: string | undefined;
  if (pgBase === undefined || pgBase === '') {
    console.log('PostgreSQL: skipped (SWITCHBOARD_PG_URL is not set; e.g. SWITCHBOARD_PG_URL=postgres://postgres@127.0.0.1:5432/test).');
  } else {
    const u = new URL(pgBase);
    u.searchParams.set('schema', pgSchema);
    // Names the server's connections, so that their PostgreSQL processes can be found (pgServerCpuMs).
    u.searchParams.set('application_name', pgSchema);
    pgUrl = u.toString();
    console.log(`PostgreSQL: ${u.host}${u.pathname}, schema ${pgSchema} (dropped afterwards), pool of 10.`);
  }
  console.log('');

  const kinds: ServerKind[] = pgUrl === undefined ? ['none', 'sqlite'] : ['none', 'sqlite', 'postgres'];
  const self = fileURLToPath(import.meta.url);
  const servers = kinds.map((kind) => Object.assign(new BenchServerProcess<Report>(self, kind, [kind, ...(kind === 'postgres' && pgUrl !== undefined ? [pgUrl] : [])], 'BENCH_INGEST_CPU_PROF'), { kind }));
  const ports = new Map<ServerKind, number>();
  const results = new Map<ServerKind, Aggregate>();
  const reports = new Map<ServerKind, Report | string>();
  const failed = new Map<ServerKind, string>();
  /** PostgreSQL server CPU (ms) over the postgres server's passes, and the ACKs in them; undefined when not measurable. */
  let pgCpu: { backends: number; shared: number; acked: number } | undefined = { backends: 0, shared: 0, acked: 0 };
  const t0 = Date.now();
  try {
    for (const s of servers) {
      try {
        ports.set(s.kind, await s.port);
        results.set(s.kind, { rates: [], latencies: [], errors: new Set<string>(), acked: 0, sent: 0 });
      } catch (e) {
        failed.set(s.kind, (e as Error).message);
        console.log(`  ${s.kind}: ${(e as Error).message}`);
      }
    }
    process.stdout.write('  passes:');
    for (let pass = 0; pass < PASSES; pass++) {
      for (const kind of kinds) {
        const port = ports.get(kind);
        const agg = results.get(kind);
        if (port === undefined || agg === undefined) continue;
        const pgBefore: PgServerCpu | undefined = kind === 'postgres' && pgBase !== undefined && pgCpu !== undefined ? await pgServerCpuMs(pgBase, pgSchema) : undefined;
        const r = await mllpLoad({ port, connections: CONNECTIONS, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, stallMs: STALL_MS, next: nextMessage, checkEveryReply: true });
        if (kind === 'postgres' && pgBase !== undefined && pgCpu !== undefined) {
          const pgAfter: PgServerCpu | undefined = pgBefore === undefined ? undefined : await pgServerCpuMs(pgBase, pgSchema);
          pgCpu =
            pgBefore === undefined || pgAfter === undefined
              ? undefined
              : { backends: pgCpu.backends + pgAfter.backends - pgBefore.backends, shared: pgCpu.shared + pgAfter.shared - pgBefore.shared, acked: pgCpu.acked + r.acked };
        }
        agg.rates.push(r.perSecond);
        agg.latencies.push(r.latencies);
        agg.acked += r.acked;
        agg.sent += r.sent;
        for (const e of r.errors) agg.errors.add(e);
      }
      process.stdout.write(` ${pass + 1}/${PASSES} (load ${os.loadavg()[0]?.toFixed(2)})`);
    }
    process.stdout.write(` (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    for (const s of servers) {
      if (!ports.has(s.kind)) continue;
      try {
        reports.set(s.kind, await s.report());
      } catch (e) {
        reports.set(s.kind, (e as Error).message);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop(10_000)));
    if (pgBase !== undefined && pgBase !== '') {
      try {
        await dropPostgresSchema(pgBase, pgSchema);
      } catch (e) {
        console.log(`  could not drop schema ${pgSchema}: ${(e as Error).message}`);
      }
    }
  }
  console.log('');

  const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : '-');
  const summary = (agg: Aggregate): { rate: number; p50: number; p99: number } => {
    const all = new Float64Array(agg.latencies.reduce((n, l) => n + l.length, 0));
    let at = 0;
    for (const l of agg.latencies) {
      all.set(l, at);
      at += l.length;
    }
    all.sort();
    return { rate: median(agg.rates), p50: quantile(all, 0.5), p99: quantile(all, 0.99) };
  };
  const ceilingAgg = results.get('none');
  const ceiling = ceilingAgg === undefined ? Number.NaN : summary(ceilingAgg).rate;
  const rows = (Object.keys(SERVER_KINDS) as ServerKind[]).map((kind) => {
    const agg = results.get(kind);
    const label = SERVER_KINDS[kind].label;
    if (agg === undefined) return [label, '-', '-', '-', '-', '-', '-', failed.get(kind) ?? 'skipped'];
    const r = summary(agg);
    const spread = `${Math.round((100 * (Math.max(...agg.rates) - Math.min(...agg.rates))) / r.rate)}%`;
    const rep = reports.get(kind);
    const cpu = typeof rep === 'object' && agg.acked > 0 ? `${((1000 * rep.cpuMs) / agg.acked).toFixed(1)} us` : '-';
    return [label, fmtInt(r.rate), ms(r.p50), ms(r.p99), fmtRatio(r.rate / ceiling), spread, cpu, agg.errors.size === 0 ? 'ok' : [...agg.errors].join('; ')];
  });
  console.log(table(['server', 'msgs/s', 'p50', 'p99', 'vs no store', 'spread', 'server CPU/msg', 'replies'], rows));
  console.log('(msgs/s = median over the passes; p50/p99 over every measured message of all passes; spread = (slowest - fastest pass) / median;');
  console.log(' server CPU/msg = the child\'s user+system CPU time from listening to the report (warm-up included, start-up not) / messages ACKed)');
  console.log('');

  console.log('Stored vs ACKed (every positive ACK must be a stored message; counted with store.messages.search, 500 per page):');
  for (const kind of kinds) {
    const agg = results.get(kind);
    const rep = reports.get(kind);
    if (agg === undefined) continue;
    if (kind === 'none') {
      console.log(`  ${kind}: ${fmtInt(agg.acked)} ACKed, no store (nothing to check)`);
      continue;
    }
    if (typeof rep !== 'object') {
      console.log(`  ${kind}: ${fmtInt(agg.acked)} ACKed; count FAILED: ${rep ?? 'no report'}`);
      continue;
    }
    const ok = rep.stored === agg.acked && rep.distinctControlIds === rep.stored && rep.duplicates === 0;
    console.log(
      `  ${kind}: ${fmtInt(agg.sent)} sent, ${fmtInt(agg.acked)} ACKed, ${fmtInt(rep.stored)} stored (${fmtInt(rep.distinctControlIds)} distinct MSH-10, ${rep.duplicates} duplicates), ` +
        `counted in ${(rep.countMs / 1000).toFixed(1)} s: ${ok ? 'OK' : 'MISMATCH'}`,
    );
  }
  console.log('');

  const sqlite = reports.get('sqlite');
  if (typeof sqlite === 'object' && sqlite.sqlite !== undefined) {
    const s = sqlite.sqlite;
    console.log(
      `SQLite group commit: ${fmtInt(s.rows)} rows in ${fmtInt(s.transactions)} transactions (${fmtInt(s.flushes)} flushes): ${(s.rows / Math.max(1, s.transactions)).toFixed(2)} rows per commit, ` +
        `${fmtInt(s.walSyncs)} WAL fdatasyncs on the thread pool (ADR 0007): ${(s.rows / Math.max(1, s.walSyncs)).toFixed(2)} rows per sync.`,
    );
    if (sqlite.writtenBytes !== undefined) {
      // Mostly WAL frames (a 4 KB page per B-tree page a commit touched) and checkpoint copies; the ACKs are ~0.1 KB each.
      console.log(`SQLite server write() bytes over its life / messages ACKed: ${(sqlite.writtenBytes / 1024 / Math.max(1, s.rows)).toFixed(1)} KB per message (WAL, checkpoints, ACKs; docs/storage.md).`);
    }
  }
  const pg = reports.get('postgres');
  if (typeof pg === 'object' && pg.pgFlushes !== undefined) {
    console.log(`PostgreSQL group commit: ${fmtInt(pg.stored)} rows in ${fmtInt(pg.pgFlushes)} transactions: ${(pg.stored / Math.max(1, pg.pgFlushes)).toFixed(2)} rows per commit.`);
    console.log(
      pgCpu === undefined || pgCpu.acked === 0
        ? 'PostgreSQL server CPU: not measured (the server is not local, or its processes are not visible in /proc).'
        : `PostgreSQL server CPU during the passes, per ACKed message: ${((1000 * pgCpu.backends) / pgCpu.acked).toFixed(0)} us in the server's backends (full-text indexing included), ` +
            `${((1000 * pgCpu.shared) / pgCpu.acked).toFixed(0)} us in the WAL writer, checkpointer and background writer (shared with other users of the server).`,
    );
  }

  for (const kind of kinds) {
    const target = TARGETS[kind];
    const agg = results.get(kind);
    if (target === undefined) continue;
    const rate = agg === undefined ? Number.NaN : summary(agg).rate;
    console.log(`Target ${SERVER_KINDS[kind].label} >= ${fmtInt(target)} msgs/s: ${rate >= target ? 'MET' : 'NOT MET'} (${fmtInt(rate)} msgs/s)`);
  }
  if (pgUrl === undefined) console.log(`Target ${SERVER_KINDS.postgres.label} >= ${fmtInt(TARGETS.postgres ?? 0)} msgs/s: not measured (SWITCHBOARD_PG_URL unset)`);
  console.log(`Load average (1/5/15 min) after: ${loadavg()} (shared ${os.cpus().length}-CPU machine: the load generator, the server and the database share the cores)`);
  console.log('');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const at = process.argv.indexOf('--serve');
  if (at !== -1) await serve(process.argv[at + 1] ?? '', process.argv[at + 2]);
  else await runIngestBench();
}
