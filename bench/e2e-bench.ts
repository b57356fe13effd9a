// End to end: MLLP in -> channel pipeline -> durable commit -> ACK -> dispatcher -> an HTTP webhook.
// The engine (startEngineService, one channel) runs in a child process, as in the ingest benchmark,
// so that it does not share its event loop with the load generator; the load generator and the
// webhook share the parent, so one clock stamps the send (by MSH-10) and the webhook receipt.
//
// The channel is a typical feed: removeSegment NTE, map PV1-3.1 through a small table, set MSH-5,
// one `http` destination routed by message type (`when`), keep-alive, concurrency 16, FIFO per PID-3
// over 1000 patients. Load: 16 MLLP connections, one message in flight each, a fixed count after a
// warm-up. Each patient is sent on one connection only, so its messages leave in a known order and
// the webhook checks that they arrive in that order (ARCHITECTURE.md invariant 4).
//
// Peers: a bare MLLP -> HTTP forwarder written here (no store, no parse: receive, POST with
// node:http keep-alive, ACK once the webhook answered): the ceiling; the engine on SQLite (synchronous=FULL,
// the default); the engine on PostgreSQL when SWITCHBOARD_PG_URL is set.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BenchServerProcess, fmtInt, fmtRatio, quantile, table } from './harness.ts';
import { type PgServerCpu, pgServerCpuMs } from './pg-server-cpu.ts';
import { ADT_A01 } from './messages.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

const CONNECTIONS = 16;
const PATIENTS = 1000;
const envInt = (name: string, fallback: number): number => Number.parseInt(process.env[name] ?? '', 10) || fallback;
/** Measured messages per server, and the warm-up sent before them. */
const COUNT = envInt('BENCH_E2E_N', 30_000);
const WARMUP = envInt('BENCH_E2E_WARMUP', 3_000);
/** Give up waiting for the webhook after this long without a new receipt. */
const STALL_MS = envInt('BENCH_E2E_STALL_MS', 15_000);
/** Issue target, end to end (msgs/s). */
const TARGET = 5_000;
const CHANNEL_ID = 'e2e';

// ---------------------------------------------------------------------------------------------
// Messages: the ADT^A01 of messages.ts plus an NTE (removed by the channel), with MSH-10 and PID-3
// set per message. MSH-10 is `<run>-<patient>-<seq>`: the webhook reads run, patient and order
// from it.

const MSH10 = 'ADT20240312081530001';
const PID3 = 'NW00482915';
const TEMPLATE = `${ADT_A01}NTE|1||Bench remark: removed by the channel before delivery\r`;

function splitTemplate(): [Buffer, Buffer, Buffer] {
  const a = TEMPLATE.indexOf(MSH10);
  const b = TEMPLATE.indexOf(PID3);
  if (a === -1 || b === -1 || b < a || !TEMPLATE.includes('\rPV1|1|I|4WEST^')) {
    throw new Error('bench ADT message changed: MSH-10 / PID-3 / PV1-3 not found');
  }
  return [Buffer.from(`\u000b${TEMPLATE.slice(0, a)}`, 'utf8'), Buffer.from(TEMPLATE.slice(a + MSH10.length, b), 'utf8'), Buffer.from(`${TEMPLATE.slice(b + PID3.length)}\u001c\r`, 'utf8')];
}
const [HEAD, MIDDLE, TAIL] = splitTemplate();

function frame(controlId: string, patient: string): Buffer {
  return Buffer.concat([HEAD, Buffer.from(controlId, 'latin1'), MIDDLE, Buffer.from(patient, 'latin1'), TAIL]);
}

const channelYaml = (webhookUrl: string): string =>
  [
    `id: ${CHANNEL_ID}`,
    'source:',
    '  kind: mllp',
    '  settings: { host: 127.0.0.1, port: 0 }',
    'orderingKey: PID-3[1].1',
    'tables:',
    '  wards: { 4WEST: W4, 5EAST: E5, ICU: ICU1 }',
    'transformers:',
    '  - removeSegment: NTE',
    '  - map: { path: PV1-3.1, table: wards }',
    '  - set: { path: MSH-5, value: WEBHOOK }',
    'destinations:',
    '  - name: webhook',
    '    kind: http',
    '    when: { messageType: [ADT^A01, ADT^A04, ADT^A08] }',
    `    settings: { url: "${webhookUrl}", keepAlive: true }`,
    '    concurrency: 16',
  ].join('\n');

// ---------------------------------------------------------------------------------------------
// Servers (child process)

const SERVER_KINDS = {
  forwarder: { label: 'bare MLLP->HTTP forwarder, no store (ceiling)' },
  sqlite: { label: 'engine + SQLite (synchronous=FULL)' },
  postgres: { label: 'engine + PostgreSQL' },
} as const;
type ServerKind = keyof typeof SERVER_KINDS;
const isServerKind = (k: string): k is ServerKind => Object.prototype.hasOwnProperty.call(SERVER_KINDS, k);

interface Report {
  /** Child CPU time, user + system, ms. */
  readonly cpuMs: number;
  readonly sqlite?: { flushes: number; transactions: number; rows: number };
  /** Delivery bookkeeping (claims and outcomes) on SQLite. */
  readonly bookkeeping?: { flushes: number; transactions: number; outcomes: number };
}

/** MSH-10 of an ER7 message: the 10th field of the first segment (MSH-1 is the separator itself). */
function controlIdOf(text: string): string {
  const end = text.indexOf('\r');
  const msh = end === -1 ? text : text.slice(0, end);
  return msh.split('|')[9] ?? '';
}

function ackFrame(controlId: string, code: 'AA' | 'AE'): Buffer {
  return Buffer.from(`\u000bMSH|^~\\&|FWD|BENCH|||20240101000000||ACK|${controlId}|P|2.5.1\rMSA|${code}|${controlId}\r\u001c\r`, 'latin1');
}

/**
 * The ceiling: MLLP frames in, one POST per frame, ACK after the webhook's 2xx. It posts with
 * node:http and a keep-alive agent, the client the engine's `http` destination uses. (It used
 * fetch until 2026-11-25: undici's fetch cost the forwarder ~370 us of CPU per message against
 * ~70 us with node:http, so the "ceiling" sat at ~3k msgs/s, below the issue's 5k target, where a
 * bare forwarder really reaches 11-13k on this machine.)
 */
function startForwarder(webhookUrl: string): Promise<{ port: number; close: () => Promise<void> }> {
  const agent = new http.Agent({ keepAlive: true });
  const post = (text: string): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const body = Buffer.from(text, 'utf8');
      const req = http.request(webhookUrl, { method: 'POST', agent, headers: { 'content-type': 'application/hl7-v2', 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.on('error', () => resolve(false));
      });
      req.on('error', () => resolve(false));
      req.end(body);
    });
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending: Buffer | undefined;
    let chain = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = buf.indexOf(FS);
        if (end === -1 || end + 1 >= buf.length) break;
        const text = buf.subarray(buf[0] === VT ? 1 : 0, end).toString('utf8');
        buf = buf.subarray(end + 2);
        // In order per connection, as MLLP requires (HL7 v2.5.1 ch.2 2.10.1: one message at a time).
        chain = chain.then(async () => {
          const controlId = controlIdOf(text);
          const ok = await post(text);
          if (!socket.destroyed) socket.write(ackFrame(controlId, ok ? 'AA' : 'AE'));
        });
      }
      pending = buf.length > 0 ? buf : undefined;
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve({
        port: typeof addr === 'object' && addr !== null ? addr.port : 0,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            agent.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Child: start the server, print its port; `report` lines get counters; stdin end closes. */
async function serve(kind: string, webhookUrl: string, storeUrl: string | undefined): Promise<void> {
  if (!isServerKind(kind)) throw new Error(`unknown server ${kind}`);
  let port: number;
  let close: () => Promise<void>;
  let stats: (() => Report['sqlite']) | undefined;
  let bookkeeping: (() => Report['bookkeeping']) | undefined;
  if (kind === 'forwarder') {
    const fwd = await startForwarder(webhookUrl);
    port = fwd.port;
    close = fwd.close;
  } else {
    // Imported here so that the forwarder child loads none of the engine.
    const { startEngineService } = await import('../src/api/engine-service.ts');
    const { createLogger } = await import('../src/core/logger.ts');
    const { loadChannelText } = await import('../src/engine/channel-loader.ts');
    const { openStore } = await import('../src/store/open-store.ts');
    let dir: string | undefined;
    let url: string;
    if (kind === 'sqlite') {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-e2e-bench-'));
      url = `sqlite:${path.join(dir, 'bench.db')}`;
    } else {
      if (storeUrl === undefined) throw new Error('no store URL');
      url = storeUrl;
    }
    const store = await openStore(url);
    const baseDir = dir ?? os.tmpdir();
    const channel = await loadChannelText(channelYaml(webhookUrl), 'e2e-bench.yaml', baseDir);
    const engine = await startEngineService({ store, channels: [channel], host: '127.0.0.1', httpPort: undefined, logger: createLogger({ level: 'silent' }), author: 'bench', retentionIntervalMs: 0 });
    const described = engine.channels.get(CHANNEL_ID)?.source?.describe() ?? '';
    const m = /:(\d+)$/.exec(described);
    if (m === null) throw new Error(`no port in the source description ${JSON.stringify(described)}`);
    port = Number(m[1]);
    if (store.kind === 'sqlite') {
      const s = store as unknown as { messages: { stats(): { flushes: number; transactions: number; rows: number } } };
      stats = () => s.messages.stats();
      const q = store as unknown as { queue: { bookkeepingStats(): { flushes: number; transactions: number; outcomes: number } } };
      bookkeeping = () => q.queue.bookkeepingStats();
    }
    close = async () => {
      await engine.close();
      await store.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    };
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'report') return;
    const cpu = process.cpuUsage();
    const s = stats?.();
    const b = bookkeeping?.();
    const report: Report = { cpuMs: (cpu.user + cpu.system) / 1000, ...(s !== undefined ? { sqlite: s } : {}), ...(b !== undefined ? { bookkeeping: b } : {}) };
    process.stdout.write(`${JSON.stringify({ report })}\n`);
  });
  process.stdin.on('end', () => {
    void close().finally(() => process.exit(0));
  });
}


// ---------------------------------------------------------------------------------------------
// The webhook (parent): counts receipts per MSH-10, stamps latency, checks order and transforms.

interface Run {
  readonly tag: string;
  /** MSH-10 -> send time (performance.now()). */
  readonly sentAt: Map<string, number>;
  /** MSH-10 -> receipts. */
  readonly receipts: Map<string, number>;
  latencies: number[];
  duplicates: number;
  /** A patient's message arrived before one sent earlier on the same key. */
  orderViolations: number;
  /** Bodies the channel did not transform as configured (NTE left, MSH-5 or PV1-3.1 not mapped). */
  untransformed: number;
  readonly lastSeqByPatient: Map<string, number>;
  lastReceipt: number;
  onReceipt: (() => void) | undefined;
}

function newRun(tag: string): Run {
  return { tag, sentAt: new Map(), receipts: new Map(), latencies: [], duplicates: 0, orderViolations: 0, untransformed: 0, lastSeqByPatient: new Map(), lastReceipt: 0, onReceipt: undefined };
}

const runs = new Map<string, Run>();
let unknownReceipts = 0;

function onWebhook(body: string, checkTransform: boolean): void {
  const now = performance.now();
  const controlId = controlIdOf(body);
  const [tag = '', patient = '', seqText = ''] = controlId.split('-');
  const run = runs.get(tag);
  const sent = run?.sentAt.get(controlId);
  if (run === undefined || sent === undefined) {
    unknownReceipts++;
    return;
  }
  const n = (run.receipts.get(controlId) ?? 0) + 1;
  run.receipts.set(controlId, n);
  run.lastReceipt = now;
  if (n > 1) run.duplicates++;
  else {
    run.latencies.push(now - sent);
    const seq = Number(seqText);
    const last = run.lastSeqByPatient.get(patient) ?? -1;
    if (seq < last) run.orderViolations++;
    else run.lastSeqByPatient.set(patient, seq);
    if (checkTransform && (body.includes('\rNTE|') || !body.includes('|WEBHOOK|') || !body.includes('\rPV1|1|I|W4^'))) run.untransformed++;
  }
  run.onReceipt?.();
}

function startWebhook(checkTransform: () => boolean): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      onWebhook(Buffer.concat(chunks).toString('utf8'), checkTransform());
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}/hl7`,
        requests: () => requests,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Load generator (parent)

interface LoadResult {
  readonly sent: number;
  readonly acked: number;
  readonly firstSend: number;
  readonly lastAck: number;
  readonly errors: string[];
}

/** The patients of connection c: those with p % CONNECTIONS === c, so each key has one sender. */
function patientsOf(c: number): string[] {
  const out: string[] = [];
  for (let p = c; p < PATIENTS; p += CONNECTIONS) out.push(`P${String(p).padStart(5, '0')}`);
  return out;
}

function load(port: number, run: Run, count: number): Promise<LoadResult> {
  return new Promise((resolve) => {
    let sent = 0;
    let acked = 0;
    let firstSend = Number.NaN;
    let lastAck = Number.NaN;
    let seq = 0;
    const errors: string[] = [];
    let open = CONNECTIONS;
    let finished = false;
    const sockets: net.Socket[] = [];
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(stall);
      for (const s of sockets) s.destroy();
      resolve({ sent, acked, firstSend, lastAck, errors });
    };
    let stall = setTimeout(() => undefined, 0);
    const armStall = (): void => {
      clearTimeout(stall);
      stall = setTimeout(() => {
        errors.push(`stalled: ${open} connection(s) without an ACK for ${STALL_MS} ms`);
        finish();
      }, STALL_MS);
    };
    armStall();
    const done = (): void => {
      open--;
      if (open === 0) finish();
    };
    for (let c = 0; c < CONNECTIONS; c++) {
      const patients = patientsOf(c);
      let turn = 0;
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      sockets.push(socket);
      let pending: Buffer | undefined;
      let closed = false;
      const stop = (): void => {
        if (closed) return;
        closed = true;
        socket.end();
        done();
      };
      const send = (): void => {
        if (sent >= count) {
          stop();
          return;
        }
        const patient = patients[turn++ % patients.length] as string;
        const controlId = `${run.tag}-${patient}-${seq++}`;
        sent++;
        const now = performance.now();
        if (Number.isNaN(firstSend)) firstSend = now;
        run.sentAt.set(controlId, now);
        socket.write(frame(controlId, patient));
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
        const text = buf.subarray(0, end).toString('latin1');
        if (buf[0] !== VT || buf[end + 1] !== CR) {
          if (errors.length < 5) errors.push('reply is not an MLLP frame');
        } else if (!/\rMSA\|(AA|CA)\|/.test(text)) {
          if (errors.length < 5) errors.push(`reply is not a positive ACK (MSA-1 ${/\rMSA\|([A-Z]{2})/.exec(text)?.[1] ?? '?'})`);
        } else {
          acked++;
          lastAck = performance.now();
        }
        armStall();
        send();
      });
      socket.on('error', (e) => {
        if (!finished && errors.length < 5) errors.push(`connection ${c}: ${e.message}`);
        stop();
      });
      socket.on('close', stop);
    }
  });
}

/** Resolves when every sent message reached the webhook, or after STALL_MS without a new receipt. */
function drain(run: Run): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      if (run.receipts.size >= run.sentAt.size) {
        clearTimeout(timer);
        run.onReceipt = undefined;
        resolve();
      }
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        run.onReceipt = undefined;
        resolve();
      }, STALL_MS);
    };
    run.onReceipt = () => {
      arm();
      check();
    };
    arm();
    check();
  });
}

// ---------------------------------------------------------------------------------------------

interface Outcome {
  readonly load: LoadResult;
  readonly run: Run;
  readonly warmRun: Run;
  readonly report: Report | undefined;
  /** The report taken after the warm-up, before the measured run. */
  readonly before?: Report;
  readonly wallMs: number;
  /** PostgreSQL only: server CPU (ms) of the measured run, when the server is local (pgServerCpuMs). */
  readonly pgCpu?: PgServerCpu;
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

export async function runE2eBench(): Promise<void> {
  console.log('== End to end: MLLP -> channel pipeline -> store -> ACK -> dispatcher -> HTTP webhook ==');
  console.log(
    `Load: ${CONNECTIONS} MLLP connections on loopback, one message in flight each; ${fmtInt(WARMUP)} warm-up then ${fmtInt(COUNT)} measured messages per server ` +
      `(BENCH_E2E_WARMUP / BENCH_E2E_N); ${PATIENTS} patients (PID-3), each on one connection.`,
  );
  console.log(
    `Message: the ${Buffer.byteLength(TEMPLATE)}-byte ADT^A01 (+ NTE). Channel: removeSegment NTE, map PV1-3.1 via a table, set MSH-5, http destination ` +
      `routed by message type, keep-alive, concurrency 16, FIFO per PID-3. Webhook: node:http in the load generator's process, answers 200.`,
  );
  console.log(`Load average (1/5/15 min) before: ${loadavg()}`);

  const pgBase = process.env.SWITCHBOARD_PG_URL;
  const pgSchema = `swb_bench_${randomBytes(6).toString('hex')}`;
  let pgUrl: string | undefined;
  if (pgBase === undefined || pgBase === '') {
    console.log('PostgreSQL: skipped (SWITCHBOARD_PG_URL is not set; e.g. SWITCHBOARD_PG_URL=postgres://postgres@127.0.0.1:5432/test).');
  } else {
    const u = new URL(pgBase);
    u.searchParams.set('schema', pgSchema);
    // Names the engine's connections, so that their server processes can be found (pgServerCpuMs).
    u.searchParams.set('application_name', pgSchema);
    pgUrl = u.toString();
    console.log(`PostgreSQL: ${u.host}${u.pathname}, schema ${pgSchema} (dropped afterwards).`);
  }
  console.log('');

  let transformCheck = false;
  const webhook = await startWebhook(() => transformCheck);
  // BENCH_E2E_SERVERS=sqlite,postgres runs only those (e.g. to profile one store).
  const only = (process.env.BENCH_E2E_SERVERS ?? '').split(',').filter((k) => k !== '');
  const kinds: ServerKind[] = (pgUrl === undefined ? (['forwarder', 'sqlite'] as ServerKind[]) : (['forwarder', 'sqlite', 'postgres'] as ServerKind[])).filter((k) => only.length === 0 || only.includes(k));
  const outcomes = new Map<ServerKind, Outcome | string>();
  try {
    for (const kind of kinds) {
      transformCheck = kind !== 'forwarder';
      const t0 = Date.now();
      const server = new BenchServerProcess<Report>(fileURLToPath(import.meta.url), kind, [kind, webhook.url, ...(kind === 'postgres' && pgUrl !== undefined ? [pgUrl] : [])], 'BENCH_E2E_CPU_PROF');
      try {
        const port = await server.port;
        const tag = kind.slice(0, 2) + randomBytes(3).toString('hex');
        const warmRun = newRun(`${tag}w`);
        runs.set(warmRun.tag, warmRun);
        await load(port, warmRun, WARMUP);
        await drain(warmRun);
        // CPU before the measured run, so that start-up and warm-up can be left out.
        let before: Report | undefined;
        try {
          before = await server.report(10_000);
        } catch {
          before = undefined;
        }
        const run = newRun(`${tag}m`);
        runs.set(run.tag, run);
        const pgBefore = kind === 'postgres' && pgBase !== undefined ? await pgServerCpuMs(pgBase, pgSchema) : undefined;
        const result = await load(port, run, COUNT);
        await drain(run);
        const pgAfter = pgBefore !== undefined && pgBase !== undefined ? await pgServerCpuMs(pgBase, pgSchema) : undefined;
        let report: Report | undefined;
        try {
          report = await server.report(10_000);
        } catch {
          report = undefined;
        }
        outcomes.set(kind, {
          load: result,
          run,
          warmRun,
          report,
          ...(before !== undefined ? { before } : {}),
          wallMs: Date.now() - t0,
          ...(pgBefore !== undefined && pgAfter !== undefined ? { pgCpu: { backends: pgAfter.backends - pgBefore.backends, shared: pgAfter.shared - pgBefore.shared } } : {}),
        });
        console.log(`  ${kind}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s (load ${os.loadavg()[0]?.toFixed(2)})`);
      } catch (e) {
        outcomes.set(kind, (e as Error).message);
        console.log(`  ${kind}: ${(e as Error).message}`);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await webhook.close();
    if (pgBase !== undefined && pgBase !== '') {
      try {
        const { dropPostgresSchema } = await import('../src/store/postgres/open-postgres-store.ts');
        await dropPostgresSchema(pgBase, pgSchema);
      } catch (e) {
        console.log(`  could not drop schema ${pgSchema}: ${(e as Error).message}`);
      }
    }
  }
  console.log('');

  const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
  const summary = (o: Outcome): { ingest: number; e2e: number; p50: number; p99: number } => {
    const lat = Float64Array.from(o.run.latencies).sort();
    const n = o.run.receipts.size;
    return {
      ingest: o.load.acked / ((o.load.lastAck - o.load.firstSend) / 1000),
      e2e: n / ((o.run.lastReceipt - o.load.firstSend) / 1000),
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
    };
  };
  const fwd = outcomes.get('forwarder');
  const ceiling = typeof fwd === 'object' ? summary(fwd).e2e : Number.NaN;
  const rows = (Object.keys(SERVER_KINDS) as ServerKind[]).map((kind) => {
    const o = outcomes.get(kind);
    const label = SERVER_KINDS[kind].label;
    if (typeof o !== 'object') return [label, '-', '-', '-', '-', '-', '-', '-', '-', o ?? 'skipped'];
    const s = summary(o);
    const cpu = o.report !== undefined ? `${((1000 * o.report.cpuMs) / (o.load.acked + WARMUP)).toFixed(0)} us` : '-';
    const measuredCpu = o.report !== undefined && o.before !== undefined ? `${((1000 * (o.report.cpuMs - o.before.cpuMs)) / o.load.acked).toFixed(0)} us` : '-';
    return [label, fmtInt(s.ingest), fmtInt(s.e2e), ms(s.p50), ms(s.p99), fmtRatio(s.e2e / TARGET), fmtRatio(s.e2e / ceiling), cpu, measuredCpu, o.load.errors.length === 0 ? 'ok' : o.load.errors.join('; ')];
  });
  console.log(table(['server', 'ingest ACKs/s', 'end-to-end/s', 'p50', 'p99', `vs ${fmtInt(TARGET)}/s`, 'vs forwarder', 'server CPU/msg', 'measured CPU/msg', 'ACKs'], rows));
  console.log('(ingest = ACKs / (last ACK - first send); end-to-end = webhook receipts / (last receipt - first send); p50/p99 = send -> webhook receipt,');
  console.log(' stamped by MSH-10; measured messages only; server CPU/msg = the child\'s user+system CPU over its whole life / messages ACKed, warm-up included;');
  console.log(' measured CPU/msg = the child\'s CPU during the measured run only (after the warm-up drained, until the last receipt) / measured messages)');
  console.log('');

  console.log('Exactly once at the webhook (measured run + warm-up):');
  for (const kind of kinds) {
    const o = outcomes.get(kind);
    if (typeof o !== 'object') continue;
    const line = [o.warmRun, o.run].map((r) => {
      const missing = r.sentAt.size - r.receipts.size;
      return { sent: r.sentAt.size, received: r.receipts.size, missing, duplicates: r.duplicates, order: r.orderViolations, untransformed: r.untransformed };
    });
    const t = line.reduce((a, b) => ({ sent: a.sent + b.sent, received: a.received + b.received, missing: a.missing + b.missing, duplicates: a.duplicates + b.duplicates, order: a.order + b.order, untransformed: a.untransformed + b.untransformed }));
    const ok = t.missing === 0 && t.duplicates === 0 && t.order === 0 && t.untransformed === 0;
    console.log(
      `  ${kind}: ${fmtInt(t.sent)} sent, ${fmtInt(t.received)} distinct received, ${t.missing} missing, ${t.duplicates} duplicates, ${t.order} per-patient order violations` +
        `${kind === 'forwarder' ? '' : `, ${t.untransformed} not transformed`}: ${ok ? 'OK' : 'MISMATCH'}`,
    );
  }
  if (unknownReceipts > 0) console.log(`  ${unknownReceipts} webhook requests carried an unknown MSH-10: MISMATCH`);
  console.log(`  webhook requests in all: ${fmtInt(webhook.requests())}`);
  const sq = outcomes.get('sqlite');
  if (typeof sq === 'object' && sq.report?.sqlite !== undefined) {
    const s = sq.report.sqlite;
    console.log(`SQLite group commit (ingest): ${fmtInt(s.rows)} rows in ${fmtInt(s.transactions)} transactions: ${(s.rows / Math.max(1, s.transactions)).toFixed(2)} rows per commit.`);
    const b = sq.report.bookkeeping;
    if (b !== undefined) {
      console.log(`SQLite bookkeeping: ${fmtInt(b.outcomes)} outcomes in ${fmtInt(b.flushes)} flushes; ${fmtInt(b.transactions)} transactions in all (claims + outcome flushes).`);
    }
  }
  const pgOutcome = outcomes.get('postgres');
  if (typeof pgOutcome === 'object') {
    const engineMs = pgOutcome.report !== undefined && pgOutcome.before !== undefined ? pgOutcome.report.cpuMs - pgOutcome.before.cpuMs : Number.NaN;
    const cpu = pgOutcome.pgCpu;
    const perMsg = (ms: number): string => `${((1000 * ms) / pgOutcome.load.acked).toFixed(0)} us`;
    console.log(
      cpu === undefined
        ? 'PostgreSQL server CPU: not measured (the server is not local, or its processes are not visible in /proc).'
        : `PostgreSQL server CPU during the measured run, per message: ${perMsg(cpu.backends)} in the engine's backends (with the engine's measured CPU: ` +
            `${perMsg(cpu.backends + engineMs)}), ${perMsg(cpu.shared)} in the WAL writer, checkpointer and background writer (shared with other users of the server).`,
    );
  }
  for (const kind of ['sqlite', 'postgres'] as const) {
    const o = outcomes.get(kind);
    const e2e = typeof o === 'object' ? summary(o).e2e : Number.NaN;
    if (kind === 'postgres' && pgUrl === undefined) console.log(`Target ${SERVER_KINDS[kind].label} >= ${fmtInt(TARGET)} msgs/s end to end: not measured (SWITCHBOARD_PG_URL unset)`);
    else console.log(`Target ${SERVER_KINDS[kind].label} >= ${fmtInt(TARGET)} msgs/s end to end: ${e2e >= TARGET ? 'MET' : 'NOT MET'} (${fmtInt(e2e)} msgs/s)`);
  }
  console.log(`Load average (1/5/15 min) after: ${loadavg()} (shared ${os.cpus().length}-CPU machine: load generator + webhook, the engine and the database share the cores)`);
  console.log('');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const at = process.argv.indexOf('--serve');
  if (at !== -1) await serve(process.argv[at + 1] ?? '', process.argv[at + 2] ?? '', process.argv[at + 3]);
  else await runE2eBench();
}
