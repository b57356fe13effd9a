// The FHIR R4 API (issue 5, "Benchmark"), three parts:
//
// 1. Authenticated read by id against a floor, in one run: a bare Fastify route answering the same
//    Patient JSON from memory, and the engine's HTTP API (buildHttpApi + setupSecurity over the
//    SQLite store with the FHIR indexer) answering GET /fhir/R4/Patient/<id> with a bearer token from
//    /auth/token. autocannon, 32 connections, in this process; each server in its own child process;
//    the servers take turns in several passes so that load from elsewhere lands on all of them. The
//    engine is measured as shipped (an AuditEvent recorded per read: journaled at once, made and
//    indexed when the loop is quiet or the backlog is full, audit-trail.ts) and, labelled, with the
//    audit records stubbed out (the facts are still taken, not stored). After each pass the bench
//    waits until every AuditEvent of the pass is made, and prints that time and the rate it gives
//    when counted in (reads of the pass / (pass + settling)): what a load that never pauses gets.
// 2. Search Observation by patient + code over N Observations (FHIR_BENCH_OBSERVATIONS, default
//    100,000; the issue's case is FHIR_BENCH_OBSERVATIONS=1000000, with BENCH_FHIR_PARTS=search to
//    skip part 1), bulk-loaded through the ResourceStore port (SQLite: createBatchRelaxed batches of
//    5,000; else transactions of 500), then searched one at a time through the HTTP API; SQLite, and
//    PostgreSQL when SWITCHBOARD_PG_URL is set (a random schema, dropped afterwards).
// 3. A 100-entry transaction Bundle (a Patient and 99 Observations referring to it by urn:uuid),
//    POST /fhir/R4, one at a time, on the same servers as part 2.
//
// All data is synthetic (made-up names and identifiers).

import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { engineResourceIndexer } from '../src/api/engine-indexer.ts';
import { auditTrailOf, type AuditTrailStats } from '../src/api/audit-trail.ts';
import { registerSecretClient } from '../src/api/auth/bootstrap.ts';
import { buildHttpApi } from '../src/api/http-api.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import type { FhirResource, ResourceStore } from '../src/core/ports/resource-store.ts';
import type { Store } from '../src/core/ports/store.ts';
import { openStore } from '../src/store/open-store.ts';
import { BenchServerProcess, fmtInt, fmtRatio, median, quantile, table } from './harness.ts';

const envInt = (name: string, fallback: number): number => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

const CONNECTIONS = 32;
const PASSES = envInt('BENCH_FHIR_PASSES', 4);
const WARMUP_S = envInt('BENCH_FHIR_WARMUP_S', 1);
const MEASURE_S = envInt('BENCH_FHIR_MEASURE_S', 3);
/** Patients served by the read test (read in turn, so the store is not read one row only). */
const READ_PATIENTS = 1000;
/** Observations for the search test: FHIR_BENCH_OBSERVATIONS=1000000 for the issue's case (BENCH_FHIR_N is the older name). */
const N = envInt('FHIR_BENCH_OBSERVATIONS', envInt('BENCH_FHIR_N', 100_000));
/** BENCH_FHIR_PARTS=read or =search (search + bundles) runs one part only; default both. */
const PARTS = new Set((process.env['BENCH_FHIR_PARTS'] ?? 'read,search').split(',').map((p) => p.trim()));
/** Resources per bulk-load batch when the store has createBatchRelaxed (one transaction, no fsync per batch). */
const BULK_TX = 5000;
/** Observations per Patient in the search data (10 per Patient and code with 5 codes). */
const OBS_PER_PATIENT = 50;
const LOAD_TX = 500;
const SEARCH_QUERIES = envInt('BENCH_FHIR_QUERIES', 500);
const SEARCH_WARMUP = 20;
const BUNDLE_ENTRIES = 100;
const BUNDLE_RUNS = envInt('BENCH_FHIR_BUNDLE_RUNS', 30);
const BUNDLE_WARMUP = 3;
/** How long to wait after an engine pass for its AuditEvent queue to drain before the next server. */
const DRAIN_WAIT_MS = 30_000;
/** Parts 2 and 3: one request given up after this long. */
const REQUEST_TIMEOUT_MS = envInt('BENCH_FHIR_REQUEST_TIMEOUT_MS', 30_000);

const TARGET_READ_RATIO = 0.5;
const TARGET_READ_P99_MS = 10;
const TARGET_SEARCH_P99_MS = 50;
const TARGET_BUNDLE_P50_MS = 100;

const CLIENT_ID = 'fhir-bench';
const SCOPE = 'system/*.cruds';
const PUBLIC_URL = 'http://127.0.0.1';
const FHIR_JSON = 'application/fhir+json';

/** A handful of common LOINC lab codes (FHIR R4 observation-codes value set is LOINC). */
const LOINC = [
  { code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma', unit: 'mg/dL' },
  { code: '2160-0', display: 'Creatinine [Mass/volume] in Serum or Plasma', unit: 'mg/dL' },
  { code: '2951-2', display: 'Sodium [Moles/volume] in Serum or Plasma', unit: 'mmol/L' },
  { code: '2823-3', display: 'Potassium [Moles/volume] in Serum or Plasma', unit: 'mmol/L' },
  { code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood', unit: 'g/dL' },
] as const;

/** mulberry32: a small seeded PRNG, so both stores get the same data and queries. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// Data (synthetic)

const patientId = (i: number): string => `bench-p${i}`;

function patientOf(i: number): FhirResource {
  return {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:switchboard:bench:mrn', value: `MRN${String(i).padStart(8, '0')}` }],
    active: true,
    name: [{ use: 'official', family: `Testfamily${i % 997}`, given: [`Given${i % 101}`] }],
    gender: i % 2 === 0 ? 'female' : 'male',
    birthDate: `19${String(40 + (i % 60)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`,
    address: [{ line: [`${1 + (i % 400)} Bench Street`], city: 'Testville', postalCode: `T${i % 10_000}`, country: 'XX' }],
  };
}

/** Observation j: Patient j % patients, code by (j / patients) % 5, so each Patient has its codes evenly. */
function observationOf(j: number, patients: number, subject: string): FhirResource {
  const code = LOINC[Math.floor(j / patients) % LOINC.length] ?? LOINC[0];
  const r = prng(j * 31 + 7);
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: code.code, display: code.display }] },
    subject: { reference: subject },
    effectiveDateTime: new Date(Date.UTC(2024, 0, 1) + Math.floor(r() * 365 * 86_400_000)).toISOString(),
    valueQuantity: { value: Math.round(r() * 1000) / 10, unit: code.unit, system: 'http://unitsofmeasure.org', code: code.unit },
  };
}

/** Observations of Patient p with code index c, as the generator above makes them. */
function expectedHits(p: number, c: number, patients: number): number {
  // j = p + patients * k for k = 0..K-1; code index k % 5.
  const k = p < N ? Math.floor((N - 1 - p) / patients) + 1 : 0;
  return Math.floor(k / LOINC.length) + (c < k % LOINC.length ? 1 : 0);
}

function bundleOf(run: number): string {
  const patientUrl = `urn:uuid:${randomUUID()}`;
  const entry: unknown[] = [{ fullUrl: patientUrl, resource: patientOf(10_000_000 + run), request: { method: 'POST', url: 'Patient' } }];
  for (let k = 1; k < BUNDLE_ENTRIES; k++) {
    entry.push({ fullUrl: `urn:uuid:${randomUUID()}`, resource: observationOf(run * BUNDLE_ENTRIES + k, 1, patientUrl), request: { method: 'POST', url: 'Observation' } });
  }
  return JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry });
}

// ---------------------------------------------------------------------------------------------
// Servers (child process) for part 1

const SERVER_KINDS = {
  floor: { label: 'floor: bare Fastify, JSON from memory' },
  engine: { label: 'engine, SQLite, AuditEvent per read (as shipped)' },
  engineNoAudit: { label: 'engine, SQLite, AuditEvent writes stubbed out' },
} as const;
type ServerKind = keyof typeof SERVER_KINDS;
const isServerKind = (k: string): k is ServerKind => Object.prototype.hasOwnProperty.call(SERVER_KINDS, k);

interface ServerReport {
  /** The bench client's secret (engine only), to get a token at /auth/token. */
  readonly secret?: string;
  readonly audit?: AuditTrailStats;
  /** Child CPU time, user + system, ms. */
  readonly cpuMs: number;
}

/** A Fastify route with the engine's JSON shape and headers, but no store, no auth, no audit. */
async function startFloor(): Promise<{ app: FastifyInstance; report: () => Promise<ServerReport> }> {
  const lastUpdated = new Date().toISOString();
  const bodies = new Map<string, string>();
  for (let i = 0; i < READ_PATIENTS; i++) {
    const id = patientId(i);
    bodies.set(id, JSON.stringify({ ...patientOf(i), id, meta: { versionId: '1', lastUpdated } }));
  }
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/fhir/R4/Patient/:id', async (req, reply) => {
    const body = bodies.get(req.params.id);
    if (body === undefined) return reply.code(404).send();
    return reply.header('etag', 'W/"1"').header('last-modified', new Date(lastUpdated).toUTCString()).type(`${FHIR_JSON}; charset=utf-8`).send(body);
  });
  return { app, report: async () => ({ cpuMs: cpuMs() }) };
}

/** The engine's HTTP API as `switchboard start` builds it (security, audit trail, FHIR routes). */
async function startEngine(dir: string, storeUrl: string, audit: boolean): Promise<{ app: FastifyInstance; store: Store; report: () => Promise<ServerReport> }> {
  const store = await openStore(storeUrl, { resourceIndexer: engineResourceIndexer() });
  const setup = await setupSecurity({ identity: store.identity, keyFile: path.join(dir, 'auth-signing-key.json'), publicUrl: PUBLIC_URL });
  const { secret } = await registerSecretClient(store.identity, { id: CLIENT_ID, name: 'FHIR benchmark', scopes: [SCOPE] });
  // The rate limiter is on in `switchboard start` (600/min per client by default): installed here too,
  // so its per-request work is counted, at a rate the bench never reaches, so it never refuses.
  const app = buildHttpApi({ registry: new Registry(), store, security: setup.security, rateLimit: { perMinute: 1e9, burst: 1e9 } });
  const trail = auditTrailOf(app);
  // Bench only: the facts are still taken by the FHIR routes; they are just not queued or written.
  if (!audit && trail !== undefined) trail.record = (): void => undefined;
  return { app, store, report: async () => ({ secret, cpuMs: cpuMs(), ...(trail === undefined ? {} : { audit: trail.stats }) }) };
}

/** The child's CPU when it started listening: start-up and seeding are not the reads' cost. */
let listeningCpu: NodeJS.CpuUsage | undefined;
const cpuMs = (): number => {
  const cpu = process.cpuUsage(listeningCpu);
  return (cpu.user + cpu.system) / 1000;
};

async function resourcesOf(store: Store): Promise<ResourceStore> {
  if (store.resources === undefined) throw new Error('the store has no canonical FHIR store');
  return store.resources;
}

async function serve(kind: string): Promise<void> {
  if (!isServerKind(kind)) throw new Error(`unknown server ${kind}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-fhir-bench-'));
  let store: Store | undefined;
  let server: { app: FastifyInstance; report: () => Promise<ServerReport> };
  if (kind === 'floor') server = await startFloor();
  else {
    const engine = await startEngine(dir, `sqlite:${path.join(dir, 'bench.db')}`, kind === 'engine');
    store = engine.store;
    server = engine;
    const resources = await resourcesOf(engine.store);
    await resources.transaction(async (tx) => {
      for (let i = 0; i < READ_PATIENTS; i++) await tx.create(patientOf(i), { id: patientId(i) });
    });
  }
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  listeningCpu = process.cpuUsage();
  const address = server.app.server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0 })}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim() !== 'report') return;
    void server.report().then(
      (r) => process.stdout.write(`${JSON.stringify({ report: r })}\n`),
      (e: unknown) => process.stdout.write(`${JSON.stringify({ reportError: e instanceof Error ? e.message : String(e) })}\n`),
    );
  });
  process.stdin.on('end', () => {
    void (async () => {
      await server.app.close();
      await store?.close();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    })();
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers (parent)

interface Reply {
  readonly status: number;
  readonly text: string;
}

function send(agent: http.Agent, port: number, method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, agent, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // A request that never completes is reported, not waited on for ever (a stuck server).
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** client_credentials with the client secret in HTTP Basic (RFC 6749 2.3.1, 4.4). */
async function getToken(agent: http.Agent, port: number, secret: string): Promise<string> {
  const basic = Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(secret)}`).toString('base64');
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE }).toString();
  const r = await send(agent, port, 'POST', '/auth/token', { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' }, body);
  if (r.status !== 200) throw new Error(`/auth/token answered ${r.status}`);
  return (JSON.parse(r.text) as { access_token: string }).access_token;
}

// ---------------------------------------------------------------------------------------------
// Part 1: read by id under load

interface PassResult {
  readonly rate: number;
  readonly latencies: Float64Array;
  /** Responses over the whole pass, warm-up included. */
  readonly responses: number;
  readonly bad: number;
  readonly errors: number;
}

function readPass(port: number, headers: Record<string, string>, offset: number): Promise<PassResult> {
  return new Promise((resolve, reject) => {
    let next = offset;
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let responses = 0;
    let bad = 0;
    const t0 = performance.now();
    const from = t0 + WARMUP_S * 1000;
    const to = from + MEASURE_S * 1000;
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: WARMUP_S + MEASURE_S,
        headers,
        requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/fhir/R4/Patient/${patientId(next++ % READ_PATIENTS)}` }) }],
      },
      (err, result) => {
        if (err !== null) reject(err);
        else resolve({ rate: count / MEASURE_S, latencies: latencies.slice(0, count), responses, bad, errors: result.errors + result.timeouts });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      responses++;
      if (status !== 200) bad++;
      const now = performance.now();
      if (now < from || now > to || status !== 200) return;
      if (count === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[count++] = ms;
    });
  });
}

interface ReadAggregate {
  readonly rates: number[];
  readonly latencies: Float64Array[];
  responses: number;
  bad: number;
  errors: number;
  maxPending: number;
  maxBacklog: number;
  drainMs: number[];
  /** Per pass: responses of the whole pass (warm-up included) / (pass time + drain time), req/s. */
  sustained: number[];
}

const fmtMs = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '-');
const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function sortedAll(parts: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(parts.reduce((n, l) => n + l.length, 0));
  let at = 0;
  for (const l of parts) {
    all.set(l, at);
    at += l.length;
  }
  return all.sort();
}

interface ReadSummary {
  readonly floor: number;
  readonly rows: Map<ServerKind, { rate: number; p50: number; p99: number }>;
}

async function readBench(): Promise<ReadSummary> {
  console.log(
    `-- 1. Authenticated read by id: GET /fhir/R4/Patient/<id> over ${fmtInt(READ_PATIENTS)} Patients in turn; autocannon, ${CONNECTIONS} connections, in this process; ` +
      `each server in its own child process; ${PASSES} passes, servers interleaved, each ${WARMUP_S} s warm-up + ${MEASURE_S} s measured.`,
  );
  const self = fileURLToPath(import.meta.url);
  const kinds = Object.keys(SERVER_KINDS) as ServerKind[];
  const servers = kinds.map((kind) => Object.assign(new BenchServerProcess<ServerReport>(self, kind, [kind], 'BENCH_FHIR_CPU_PROF'), { kind }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ports = new Map<ServerKind, number>();
  const secrets = new Map<ServerKind, string>();
  const results = new Map<ServerKind, ReadAggregate>();
  const finalReports = new Map<ServerKind, ServerReport>();
  const sizes = new Map<ServerKind, number>();
  const t0 = Date.now();
  try {
    for (const s of servers) {
      ports.set(s.kind, await s.port);
      const rep = await s.report();
      if (rep.secret !== undefined) secrets.set(s.kind, rep.secret);
      results.set(s.kind, { rates: [], latencies: [], responses: 0, bad: 0, errors: 0, maxPending: 0, maxBacklog: 0, drainMs: [], sustained: [] });
    }
    process.stdout.write('  passes:');
    for (let pass = 0; pass < PASSES; pass++) {
      for (const s of servers) {
        const port = ports.get(s.kind) as number;
        const agg = results.get(s.kind) as ReadAggregate;
        const secret = secrets.get(s.kind);
        // A fresh token per pass: tokens live 300 s.
        const headers: Record<string, string> = secret === undefined ? {} : { authorization: `Bearer ${await getToken(agent, port, secret)}` };
        if (pass === 0) {
          const probe = await send(agent, port, 'GET', `/fhir/R4/Patient/${patientId(1)}`, headers);
          if (probe.status !== 200) throw new Error(`${s.kind}: probe read answered ${probe.status}`);
          sizes.set(s.kind, Buffer.byteLength(probe.text));
        }
        const r = await readPass(port, headers, pass * 7919);
        agg.rates.push(r.rate);
        agg.latencies.push(r.latencies);
        agg.responses += r.responses;
        agg.bad += r.bad;
        agg.errors += r.errors;
        // The audit queue drains and the journal is settled after the load: let them, so their
        // writes do not land on the next server, and time it.
        const started = performance.now();
        for (;;) {
          const rep = await s.report();
          const pending = rep.audit?.pending ?? 0;
          const backlog = rep.audit?.backlog ?? 0;
          agg.maxPending = Math.max(agg.maxPending, pending);
          agg.maxBacklog = Math.max(agg.maxBacklog, backlog);
          if ((pending === 0 && backlog === 0) || performance.now() - started > DRAIN_WAIT_MS) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const drained = performance.now() - started;
        if (s.kind === 'engine') agg.drainMs.push(drained);
        agg.sustained.push(r.responses / (WARMUP_S + MEASURE_S + (s.kind === 'engine' ? drained / 1000 : 0)));
      }
      process.stdout.write(` ${pass + 1}/${PASSES} (load ${os.loadavg()[0]?.toFixed(2)})`);
    }
    process.stdout.write(` (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
    for (const s of servers) finalReports.set(s.kind, await s.report());
  } finally {
    agent.destroy();
    await Promise.all(servers.map((s) => s.stop(10_000)));
  }

  const rows = new Map<ServerKind, { rate: number; p50: number; p99: number }>();
  for (const kind of kinds) {
    const agg = results.get(kind) as ReadAggregate;
    const all = sortedAll(agg.latencies);
    rows.set(kind, { rate: median(agg.rates), p50: quantile(all, 0.5), p99: quantile(all, 0.99) });
  }
  const floor = rows.get('floor')?.rate ?? Number.NaN;
  console.log(
    table(
      ['server', 'req/s', 'p50', 'p99', 'vs floor', 'spread', 'body', 'server CPU/req', 'non-200 / errors'],
      kinds.map((kind) => {
        const agg = results.get(kind) as ReadAggregate;
        const r = rows.get(kind) as { rate: number; p50: number; p99: number };
        const rep = finalReports.get(kind);
        const cpu = rep !== undefined && agg.responses > 0 ? `${((1000 * rep.cpuMs) / agg.responses).toFixed(0)} us` : '-';
        const spread = `${Math.round((100 * (Math.max(...agg.rates) - Math.min(...agg.rates))) / r.rate)}%`;
        return [SERVER_KINDS[kind].label, fmtInt(r.rate), fmtMs(r.p50), fmtMs(r.p99), fmtRatio(r.rate / floor), spread, `${sizes.get(kind) ?? '-'} B`, cpu, `${agg.bad} / ${agg.errors}`];
      }),
    ),
  );
  console.log(
    '(req/s = median over the passes of 200 responses in the measured window; p50/p99 over every measured response of all passes (autocannon per-response times, sub-ms); ' +
      'spread = (fastest - slowest pass) / median; server CPU/req = the child\'s user+system CPU from listening on (warm-ups, AuditEvents made after the passes and tokens included; start-up and seeding not) / responses of the passes, warm-ups included)',
  );
  const audit = finalReports.get('engine')?.audit;
  const engineAgg = results.get('engine') as ReadAggregate;
  if (audit !== undefined) {
    console.log(
      `AuditEvent trail (as shipped): ${fmtInt(audit.written)} written, ${fmtInt(audit.dropped)} dropped (recorded after close), ${fmtInt(audit.failed)} failed, ${fmtInt(audit.pending)} pending, ` +
        `${fmtInt(audit.backlog)} in the journal at the end (${fmtInt(engineAgg.maxBacklog)} at most after a pass), ` +
        `${fmtInt(audit.waits)} requests held at the door while the queue was full (capacity 2,000: backpressure, nothing dropped) ` +
        `for ${fmtInt(engineAgg.responses)} reads; after each pass the queue and the journal took ${engineAgg.drainMs.map((m) => `${(m / 1000).toFixed(1)} s`).join(' / ')} to drain (not counted in req/s).`,
    );
    const sustained = median(engineAgg.sustained);
    console.log(
      `Counting that in (reads of a pass, warm-up included / (pass + drain)): engine ${fmtInt(sustained)} req/s = ${fmtRatio(sustained / median((results.get('floor') as ReadAggregate).sustained))} of the floor (median over the passes): what a read load that never pauses would get.`,
    );
  }
  console.log('');
  return { floor, rows };
}

// ---------------------------------------------------------------------------------------------
// Parts 2 and 3: search and transaction Bundles, per store

interface StoreResult {
  readonly label: string;
  readonly loadRate: number;
  readonly search: { p50: number; p95: number; p99: number; max: number; meanHits: number; wrong: number };
  readonly bundle: { p50: number; p99: number; max: number; wrong: number; done: number; stuck?: string };
}

/**
 * Loads the search data through the ResourceStore port: Patients with their ids, then Observations.
 * With createBatchRelaxed (SQLite) in batches of BULK_TX, each one transaction committed without an
 * fsync (bench data: a crash only means a new run); else store.transaction() batches of LOAD_TX.
 * Every resource is indexed by the store's indexer as in production (FHIRPath for Observations).
 */
async function bulkLoad(resources: ResourceStore, label: string): Promise<{ patients: number; rate: number }> {
  const patients = Math.max(10, Math.round(N / OBS_PER_PATIENT));
  const t0 = performance.now();
  const batch = resources.createBatchRelaxed === undefined ? LOAD_TX : BULK_TX;
  const write = async (items: FhirResource[]): Promise<void> => {
    if (resources.createBatchRelaxed !== undefined) {
      await resources.createBatchRelaxed(items);
      return;
    }
    await resources.transaction(async (tx) => {
      for (const r of items) await tx.create(r);
    });
  };
  for (let from = 0; from < patients; from += LOAD_TX) {
    // Patients keep their bench ids (the search names them), so they go through create(..., { id }).
    await resources.transaction(async (tx) => {
      for (let i = from; i < Math.min(patients, from + LOAD_TX); i++) await tx.create(patientOf(i), { id: patientId(i) });
    });
  }
  let reported = 0;
  for (let from = 0; from < N; from += batch) {
    const items: FhirResource[] = [];
    for (let j = from; j < Math.min(N, from + batch); j++) items.push(observationOf(j, patients, `Patient/${patientId(j % patients)}`));
    await write(items);
    const done = Math.min(N, from + batch);
    if (N >= 50_000 && done - reported >= N / 5) {
      reported = done;
      console.log(`    ${label}: ${fmtInt(done)} Observations loaded (${fmtInt((done + patients) / ((performance.now() - t0) / 1000))} resources/s, load ${os.loadavg()[0]?.toFixed(2)})`);
    }
  }
  return { patients, rate: (N + patients) / ((performance.now() - t0) / 1000) };
}

interface BundleReply {
  readonly entry?: ReadonlyArray<{ readonly response?: { readonly status?: string } }>;
}
interface SearchReply {
  readonly entry?: ReadonlyArray<{ readonly search?: { readonly mode?: string } }>;
}

async function benchStore(label: string, storeUrl: string): Promise<StoreResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-fhir-bench-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let engine: Awaited<ReturnType<typeof startEngine>> | undefined;
  try {
    engine = await startEngine(dir, storeUrl, true);
    const resources = await resourcesOf(engine.store);
    const load = await bulkLoad(resources, label);
    console.log(`  ${label}: ${fmtInt(N)} Observations + ${fmtInt(load.patients)} Patients loaded at ${fmtInt(load.rate)} resources/s (transactions of ${resources.createBatchRelaxed === undefined ? LOAD_TX : BULK_TX}, FHIR indexer on).`);
    await engine.app.listen({ host: '127.0.0.1', port: 0 });
    const address = engine.app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const secret = (await engine.report()).secret as string;

    // Search: one at a time, random Patient and code.
    let auth = { authorization: `Bearer ${await getToken(agent, port, secret)}`, accept: FHIR_JSON };
    const r = prng(0x5eed + N);
    const searchOnce = async (): Promise<{ ms: number; ok: boolean; hits: number }> => {
      const p = Math.floor(r() * load.patients);
      const c = Math.floor(r() * LOINC.length);
      const code = encodeURIComponent(`http://loinc.org|${LOINC[c]?.code ?? ''}`);
      const t0 = performance.now();
      const res = await send(agent, port, 'GET', `/fhir/R4/Observation?patient=Patient/${patientId(p)}&code=${code}`, auth);
      const ms = performance.now() - t0;
      if (res.status !== 200) return { ms, ok: false, hits: 0 };
      const hits = ((JSON.parse(res.text) as SearchReply).entry ?? []).filter((e) => e.search?.mode !== 'include' && e.search?.mode !== 'outcome').length;
      return { ms, ok: hits === expectedHits(p, c, load.patients), hits };
    };
    for (let q = 0; q < SEARCH_WARMUP; q++) await searchOnce();
    const searchMs = new Float64Array(SEARCH_QUERIES);
    let wrong = 0;
    let hits = 0;
    for (let q = 0; q < SEARCH_QUERIES; q++) {
      const s = await searchOnce();
      searchMs[q] = s.ms;
      hits += s.hits;
      if (!s.ok) wrong++;
    }
    searchMs.sort();

    // Transaction Bundles: one at a time, once the searches' AuditEvents are written (so those
    // writes do not land on the Bundles' timings).
    await auditTrailOf(engine.app)?.flush();
    auth = { authorization: `Bearer ${await getToken(agent, port, secret)}`, accept: FHIR_JSON };
    const bundleMs = new Float64Array(BUNDLE_RUNS);
    let bundleWrong = 0;
    let bundleDone = 0;
    let stuck: string | undefined;
    for (let run = 0; run < BUNDLE_WARMUP + BUNDLE_RUNS; run++) {
      const body = bundleOf(run);
      const t0 = performance.now();
      let res: Reply;
      try {
        res = await send(agent, port, 'POST', '/fhir/R4', { ...auth, 'content-type': FHIR_JSON }, body);
      } catch (e) {
        // A stuck server stays stuck: stop here and say so rather than time out every run.
        stuck = `Bundle run ${run + 1}: ${(e as Error).message}`;
        break;
      }
      const ms = performance.now() - t0;
      const ok = res.status === 200 && ((JSON.parse(res.text) as BundleReply).entry ?? []).filter((e) => e.response?.status?.startsWith('201') === true).length === BUNDLE_ENTRIES;
      if (run >= BUNDLE_WARMUP) {
        bundleMs[bundleDone++] = ms;
        if (!ok) bundleWrong++;
      } else if (!ok) throw new Error(`${label}: transaction Bundle answered ${res.status}`);
    }
    const timed = bundleMs.slice(0, bundleDone).sort();
    return {
      label,
      loadRate: load.rate,
      search: { p50: quantile(searchMs, 0.5), p95: quantile(searchMs, 0.95), p99: quantile(searchMs, 0.99), max: searchMs[searchMs.length - 1] ?? Number.NaN, meanHits: hits / SEARCH_QUERIES, wrong },
      bundle: { p50: quantile(timed, 0.5), p99: quantile(timed, 0.99), max: timed[timed.length - 1] ?? Number.NaN, wrong: bundleWrong, done: bundleDone, ...(stuck === undefined ? {} : { stuck }) },
    };
  } finally {
    agent.destroy();
    if (engine !== undefined) {
      await engine.app.close();
      await engine.store.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

export async function runFhirApiBench(): Promise<void> {
  console.log('== FHIR R4 API benchmark (issue 5) ==');
  console.log(`Load average (1/5/15 min) before: ${loadavg()}`);
  const read = PARTS.has('read') ? await readBench() : undefined;
  const results: Array<StoreResult | { label: string; error: string }> = [];
  const pgBase = process.env.SWITCHBOARD_PG_URL;
  if (PARTS.has('search')) await searchAndBundles(results, pgBase);
  reportTargets(read, results, pgBase);
}

async function searchAndBundles(results: Array<StoreResult | { label: string; error: string }>, pgBase: string | undefined): Promise<void> {

  console.log(
    `-- 2. Search Observation?patient=Patient/<id>&code=http://loinc.org|<code> over ${fmtInt(N)} Observations (FHIR_BENCH_OBSERVATIONS; the issue asks 1,000,000), ` +
      `${OBS_PER_PATIENT} per Patient, ${LOINC.length} LOINC codes (${OBS_PER_PATIENT / LOINC.length} hits per search); ${fmtInt(SEARCH_QUERIES)} searches after ${SEARCH_WARMUP} untimed, one at a time, bearer token, AuditEvent per search.`,
  );
  console.log(`-- 3. Transaction Bundle of ${BUNDLE_ENTRIES} entries (a Patient + ${BUNDLE_ENTRIES - 1} Observations referring to it by urn:uuid), POST /fhir/R4, ${BUNDLE_RUNS} runs after ${BUNDLE_WARMUP} untimed, same servers.`);
  const stores: Array<{ label: string; url: string; drop?: { base: string; schema: string } }> = [];
  const sqliteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-fhir-bench-store-'));
  stores.push({ label: 'SQLite', url: `sqlite:${path.join(sqliteDir, 'bench.db')}` });
  if (pgBase === undefined || pgBase === '') {
    console.log('  PostgreSQL: skipped (SWITCHBOARD_PG_URL is not set; e.g. SWITCHBOARD_PG_URL=postgres://postgres@127.0.0.1:5432/test).');
  } else {
    const schema = `swb_bench_${randomBytes(6).toString('hex')}`;
    const u = new URL(pgBase);
    u.searchParams.set('schema', schema);
    console.log(`  PostgreSQL: ${u.host}${u.pathname}, schema ${schema} (dropped afterwards).`);
    stores.push({ label: 'PostgreSQL', url: u.toString(), drop: { base: pgBase, schema } });
  }
  for (const s of stores) {
    try {
      results.push(await benchStore(s.label, s.url));
    } catch (e) {
      results.push({ label: s.label, error: (e as Error).message });
    } finally {
      if (s.drop !== undefined) {
        try {
          const { dropPostgresSchema } = await import('../src/store/postgres/open-postgres-store.ts');
          await dropPostgresSchema(s.drop.base, s.drop.schema);
        } catch (e) {
          console.log(`  could not drop schema ${s.drop.schema}: ${(e as Error).message}`);
        }
      }
    }
  }
  fs.rmSync(sqliteDir, { recursive: true, force: true });
  console.log('');
  console.log(
    table(
      ['store', 'Observations', 'load res/s', 'search p50', 'p95', 'p99', 'max', 'hits', 'bundle p50', 'p99', 'max', 'check'],
      results.map((r) =>
        'error' in r
          ? [r.label, fmtInt(N), '-', '-', '-', '-', '-', '-', '-', '-', '-', r.error]
          : [
              r.label,
              fmtInt(N),
              fmtInt(r.loadRate),
              fmtMs(r.search.p50),
              fmtMs(r.search.p95),
              fmtMs(r.search.p99),
              fmtMs(r.search.max),
              r.search.meanHits.toFixed(1),
              fmtMs(r.bundle.p50),
              fmtMs(r.bundle.p99),
              fmtMs(r.bundle.max),
              [
                r.search.wrong === 0 && r.bundle.wrong === 0 ? 'ok' : `${r.search.wrong} searches with the wrong hits, ${r.bundle.wrong} bundles not all 201`,
                ...(r.bundle.stuck === undefined ? [] : [`STUCK after ${r.bundle.done} timed Bundles: ${r.bundle.stuck}`]),
              ].join('; '),
            ],
      ),
    ),
  );
  console.log('(check: every search returned exactly the Observations the generator made for that Patient and code; every Bundle answered 200 with 100 entries 201 Created)');
  console.log('');
}

function reportTargets(read: ReadSummary | undefined, results: ReadonlyArray<StoreResult | { label: string; error: string }>, pgBase: string | undefined): void {

  for (const kind of read === undefined ? [] : (['engine', 'engineNoAudit'] as const)) {
    if (read === undefined) break;
    const r = read.rows.get(kind);
    const ratio = (r?.rate ?? Number.NaN) / read.floor;
    const note = kind === 'engine' ? '' : ' [AuditEvent writes stubbed out: not the product as shipped]';
    console.log(`Target authenticated read >= ${TARGET_READ_RATIO * 100}% of the floor's req/s${note}: ${ratio >= TARGET_READ_RATIO ? 'MET' : 'NOT MET'} (${(100 * ratio).toFixed(0)}%: ${fmtInt(r?.rate ?? Number.NaN)} vs ${fmtInt(read.floor)} req/s)`);
    console.log(`Target authenticated read p99 < ${TARGET_READ_P99_MS} ms on SQLite${note}: ${(r?.p99 ?? Number.NaN) < TARGET_READ_P99_MS ? 'MET' : 'NOT MET'} (${fmtMs(r?.p99 ?? Number.NaN)})`);
  }
  const scope = N >= 1_000_000 ? '' : ` (measured at ${fmtInt(N)}, not 1,000,000)`;
  for (const r of results) {
    if ('error' in r) {
      console.log(`Target ${r.label}: not measured (${r.error})`);
      continue;
    }
    console.log(`Target ${r.label} search Observation by patient+code p99 < ${TARGET_SEARCH_P99_MS} ms over 1,000,000 Observations: ${r.search.p99 < TARGET_SEARCH_P99_MS && r.search.wrong === 0 ? 'MET' : 'NOT MET'} (${fmtMs(r.search.p99)})${scope}`);
    console.log(`Target ${r.label} ${BUNDLE_ENTRIES}-entry transaction Bundle p50 < ${TARGET_BUNDLE_P50_MS} ms: ${r.bundle.p50 < TARGET_BUNDLE_P50_MS && r.bundle.wrong === 0 && r.bundle.stuck === undefined ? 'MET' : 'NOT MET'} (${fmtMs(r.bundle.p50)})`);
  }
  if (PARTS.has('search') && (pgBase === undefined || pgBase === '')) console.log('Targets PostgreSQL: not measured (SWITCHBOARD_PG_URL unset)');
  console.log(`Load average (1/5/15 min) after: ${loadavg()} (shared ${os.cpus().length}-CPU machine: load generator, servers and database share the cores)`);
  console.log('');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const at = process.argv.indexOf('--serve');
  if (at !== -1) await serve(process.argv[at + 1] ?? '');
  else await runFhirApiBench();
}
