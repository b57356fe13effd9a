// MLLP loopback throughput. One load generator (raw node:net, written here, the same for every
// server) opens 16 connections; each sends one framed message, waits for the framed ACK, and sends
// the next (MLLP allows one message in flight per connection). Each server runs in its own child
// process so that it has a core of its own and the client's cost is the same for all. The servers
// take turns in several short passes, so that load from elsewhere on the machine is spread over
// all of them rather than landing on one.
//
// Servers: ours (MllpServer) parsing and building the ACK, ours returning a precomputed ACK
// (transport alone), a bare node:net server that frames and returns a precomputed ACK (the
// ceiling), and peers when they have an MLLP server.

import { spawn, type ChildProcessByStdio } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Server as SimpleHl7Server, type TcpRequest, type TcpResponse } from 'simple-hl7';
import { createAckResponder } from '../src/hl7v2/hl7-ack-responder.ts';
import { MllpServer } from '../src/mllp/mllp-server.ts';
import { fmtInt, fmtRatio, median, mllpLoad, quantile, table } from './harness.ts';
import { MESSAGES } from './messages.ts';

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

const CONNECTIONS = 16;
/** Per pass: each server gets WARMUP_MS + MEASURE_MS per message, PASSES times, servers interleaved. */
const PASSES = Number.parseInt(process.env.BENCH_MLLP_PASSES ?? '', 10) || 3;
const WARMUP_MS = Number.parseInt(process.env.BENCH_MLLP_WARMUP_MS ?? '', 10) || 300;
const MEASURE_MS = Number.parseInt(process.env.BENCH_MLLP_MS ?? '', 10) || 1000;
/** A run that has not finished this long after its deadline is abandoned (a stuck server). */
const STALL_MS = 5000;

/** A fixed ACK for the "precomputed" servers: a realistic size, valid ER7. */
const STATIC_ACK = 'MSH|^~\\&|SWB_ENGINE|NORTHWIND_GEN|SWB_LIS|NORTHWIND_LAB|20240312091300-0500||ACK^R01^ACK|ACK0000000001|P|2.5.1\rMSA|AA|LAB20240312091300042\r';

function frame(payload: string | Buffer): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Servers (run in the child process)

interface RunningServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Minimal MLLP server on node:net: finds VT ... FS CR frames and answers each with a fixed ACK. */
function startBareNet(): Promise<RunningServer> {
  const ack = frame(STATIC_ACK);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let pending: Buffer | undefined;
    socket.on('data', (chunk: Buffer) => {
      let buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const start = buf.indexOf(VT);
        if (start === -1) {
          buf = Buffer.alloc(0);
          break;
        }
        const end = buf.indexOf(FS, start + 1);
        if (end === -1 || end + 1 >= buf.length) break;
        if (buf[end + 1] !== CR) {
          buf = buf.subarray(end + 1);
          continue;
        }
        // The payload is buf.subarray(start + 1, end); this server does not look at it.
        socket.write(ack);
        buf = buf.subarray(end + 2);
      }
      pending = buf.length === 0 ? undefined : buf;
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
  });
  return listenNet(server, sockets);
}

function listenNet(server: net.Server, sockets: Set<net.Socket>): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('no TCP address'));
        return;
      }
      resolve({
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

async function startOurs(mode: 'parse-ack' | 'static-ack'): Promise<RunningServer> {
  const staticAck = Buffer.from(STATIC_ACK, 'utf8');
  // The listener's own handler: parse, then an ACK per MSH-15/MSH-16 built as text.
  const respond = createAckResponder();
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    handler:
      mode === 'static-ack'
        ? async () => staticAck
        : async (message) => (await respond(message.payload)).reply,
  });
  await server.listen();
  return { port: server.port, close: () => server.close() };
}

function startSimpleHl7(): Promise<RunningServer> {
  // Its handler gets (err, req, res); res.end() writes the ACK it built from the parsed message.
  const server = SimpleHl7Server.createTcpServer((err: unknown, _req?: TcpRequest, res?: TcpResponse) => {
    if (err !== null && err !== undefined) return;
    res?.end();
  });
  server.start(0);
  const inner = server.server;
  if (inner === null) return Promise.reject(new Error('simple-hl7 did not create a server'));
  const sockets = new Set<net.Socket>();
  inner.on('connection', (s: net.Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    const ready = (): void => {
      const address = inner.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('no TCP address'));
        return;
      }
      resolve({
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            inner.close(() => done());
          }),
      });
    };
    if (inner.listening) ready();
    else inner.once('listening', ready);
    inner.once('error', reject);
  });
}

const SERVER_KINDS = {
  'net-bare': { label: 'bare node:net (reference ceiling)', start: startBareNet },
  'ours-parse-ack': { label: 'ours: MllpServer + parse + ACK (createAckResponder)', start: () => startOurs('parse-ack') },
  'ours-static-ack': { label: 'ours: MllpServer, precomputed ACK', start: () => startOurs('static-ack') },
  'simple-hl7': { label: 'simple-hl7 3.3.0 TcpServer (parses, builds ACK)', start: startSimpleHl7 },
} as const;
type ServerKind = keyof typeof SERVER_KINDS;

function isServerKind(k: string): k is ServerKind {
  return Object.prototype.hasOwnProperty.call(SERVER_KINDS, k);
}

/** Child process: start the server, print its port, close when stdin ends. */
async function serve(kind: string): Promise<void> {
  if (!isServerKind(kind)) throw new Error(`unknown server ${kind}`);
  const server = await SERVER_KINDS[kind].start();
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    void server.close().then(() => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------
// Load generator (parent process)


/** A server running in a child process. */
class ServerProcess {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>;
  readonly #exited: Promise<void>;
  readonly port: Promise<number>;

  constructor(readonly kind: ServerKind) {
    const self = fileURLToPath(import.meta.url);
    this.#child = spawn(process.execPath, [...process.execArgv, self, '--serve', kind], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.port = new Promise<number>((resolve, reject) => {
      createInterface({ input: this.#child.stdout }).on('line', (line) => {
        if (line.startsWith('{"port"')) resolve((JSON.parse(line) as { port: number }).port);
      });
      this.#child.once('exit', (code) => reject(new Error(`server ${kind} exited (${code}) before listening`)));
    });
    this.port.catch(() => undefined);
  }

  /** Ends stdin (the child closes its server and exits); kills it if it has not within 3 s. */
  async stop(): Promise<void> {
    this.#child.stdin.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
  }
}

interface Aggregate {
  readonly rates: number[];
  readonly latencies: Float64Array[];
  readonly errors: Set<string>;
}

/** Why the node-hl7-client peer cannot be run, or undefined if it exposes a server after all. */
async function nodeHl7ClientServerMissing(): Promise<string | undefined> {
  const mod: Record<string, unknown> = await import('node-hl7-client');
  const server = ['Server', 'Hl7Inbound', 'Inbound'].find((k) => k in mod);
  if (server !== undefined) return undefined;
  return (
    `node-hl7-client 3.2.0 exports only the sending side (${['Client', 'Connection', 'MLLPCodec'].filter((k) => k in mod).join(', ')}) ` +
    'and no Server/Hl7Inbound; its MLLP server is the separate package node-hl7-server, which is not a dependency. Skipped.'
  );
}

export async function runMllpBench(): Promise<void> {
  console.log('== MLLP loopback benchmark ==');
  console.log(
    `${CONNECTIONS} connections, one message in flight per connection, raw node:net load generator in this process, each server in its own child process. ` +
      `${PASSES} passes; in each, every server gets ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured per message, servers interleaved. ` +
      'Latency = write of the frame to receipt of the whole ACK frame.',
  );
  const missing = await nodeHl7ClientServerMissing();
  if (missing !== undefined) console.log(`node-hl7-client: ${missing}`);
  console.log('');

  const payloads = MESSAGES.map((m) => frame(m.text));
  const kinds = Object.keys(SERVER_KINDS) as ServerKind[];
  const servers = kinds.map((kind) => new ServerProcess(kind));
  const ports = new Map<ServerKind, number>();
  const results = new Map<ServerKind, Aggregate[]>();
  const t0 = Date.now();
  try {
    for (const s of servers) {
      try {
        ports.set(s.kind, await s.port);
        results.set(s.kind, MESSAGES.map(() => ({ rates: [], latencies: [], errors: new Set<string>() })));
      } catch (e) {
        console.log(`  ${s.kind}: ${(e as Error).message}`);
      }
    }
    process.stdout.write('  passes:');
    for (let pass = 0; pass < PASSES; pass++) {
      for (let i = 0; i < payloads.length; i++) {
        for (const kind of kinds) {
          const port = ports.get(kind);
          const agg = results.get(kind)?.[i];
          if (port === undefined || agg === undefined) continue;
          const payload = payloads[i] as Buffer;
          const r = await mllpLoad({ port, connections: CONNECTIONS, warmupMs: WARMUP_MS, measureMs: MEASURE_MS, stallMs: STALL_MS, next: () => payload, checkEveryReply: false });
          agg.rates.push(r.perSecond);
          agg.latencies.push(r.latencies);
          for (const e of r.errors) agg.errors.add(e);
        }
      }
      process.stdout.write(` ${pass + 1}/${PASSES}`);
    }
    process.stdout.write(` (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
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
  MESSAGES.forEach((m, i) => {
    const bareAgg = results.get('net-bare')?.[i];
    const bare = bareAgg === undefined ? Number.NaN : summary(bareAgg).rate;
    const rows = kinds.map((kind) => {
      const agg = results.get(kind)?.[i];
      if (agg === undefined) return [SERVER_KINDS[kind].label, '-', '-', '-', '-', '-', 'not run'];
      const r = summary(agg);
      const spread = `${Math.round((100 * (Math.max(...agg.rates) - Math.min(...agg.rates))) / r.rate)}%`;
      return [SERVER_KINDS[kind].label, fmtInt(r.rate), ms(r.p50), ms(r.p99), fmtRatio(r.rate / bare), spread, agg.errors.size === 0 ? 'ok' : [...agg.errors].join('; ')];
    });
    console.log(`${m.name} (${Buffer.byteLength(m.text)} bytes per message):`);
    console.log(table(['server', 'msgs/s', 'p50', 'p99', 'vs bare net', 'spread', 'replies'], rows));
    console.log('');
  });
  console.log('(msgs/s = median over the passes; p50/p99 over every measured message of all passes; spread = (slowest - fastest pass) / median)');
  console.log('');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const at = process.argv.indexOf('--serve');
  if (at !== -1) await serve(process.argv[at + 1] ?? '');
  else await runMllpBench();
}
