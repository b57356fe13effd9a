// Message search over a large store: seed N messages through the store API (store.messages.ingest,
// many in flight so group commit makes big transactions), then time random searches of five kinds (the first a console's unfiltered first page)
// through store.messages.search, on SQLite and (when SWITCHBOARD_PG_URL is set) PostgreSQL, with the
// same data (a seeded PRNG).
//
// Data: distinct MSH-10s, 100,000 patients (PID-3, also the indexed patient id), five channels,
// six message types, receivedAt spread over 90 days, statuses delivered / filtered / errored, and
// one message in 100 carrying a rare word (1000 distinct ones, so about N/100,000 messages each).
//
// SWB_BENCH_SEARCH_N: the message count (default 1,000,000), or a comma-separated list of counts
// (e.g. 100000,300000): the store is then grown in steps and the searches timed at each step, which
// shows how the timings scale. BENCH_SEARCH_QUERIES: searches per kind (default 1000).

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { IngestRecord, MessageQuery, MessageStatus } from '../src/core/ports/message-store.ts';
import type { Store } from '../src/core/ports/store.ts';
import { openStore } from '../src/store/open-store.ts';
import { fmtInt, quantile, table } from './harness.ts';
import { ADT_A01 } from './messages.ts';

const envInt = (name: string, fallback: number): number => Number.parseInt(process.env[name] ?? '', 10) || fallback;
const COUNTS = (process.env.SWB_BENCH_SEARCH_N ?? '1000000')
  .split(',')
  .map((s) => Number.parseInt(s.trim(), 10))
  .filter((n) => Number.isFinite(n) && n > 0)
  .sort((a, b) => a - b);
const QUERIES = envInt('BENCH_SEARCH_QUERIES', 1000);
/** Untimed searches per kind before the timed ones (first-touch of the indexes). */
const WARMUP_QUERIES = 20;
const IN_FLIGHT = envInt('BENCH_SEARCH_IN_FLIGHT', 2000);
/** A search kind stops after this much timed work (a pathological plan must not stall the run). */
const KIND_BUDGET_MS = envInt('BENCH_SEARCH_KIND_BUDGET_MS', 60_000);
const PATIENTS = 100_000;
const RARE_WORDS = 1000;
const DAYS = 90;
const DAY_MS = 86_400_000;
/** Issue target: p99 of a search by control id or patient id. */
const TARGET_P99_MS = 50;
const CHANNELS = ['adt-in', 'lab-results', 'orders', 'scheduling', 'documents'] as const;
const TYPES = ['ADT^A01', 'ADT^A04', 'ADT^A08', 'ORU^R01', 'ORM^O01', 'SIU^S12'] as const;

/** mulberry32: a small seeded PRNG, so both stores get the same data and the same queries. */
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
// Data

const MSH9 = 'ADT^A01^ADT_A01';
const MSH10 = 'ADT20240312081530001';
const PID3 = 'NW00482915';
const [PART0, PART1, PART2, PART3] = ((): [string, string, string, string] => {
  const a = ADT_A01.indexOf(MSH9);
  const b = ADT_A01.indexOf(MSH10);
  const c = ADT_A01.indexOf(PID3);
  if (a === -1 || b === -1 || c === -1 || !(a < b && b < c)) throw new Error('bench ADT message changed: MSH-9 / MSH-10 / PID-3 not found');
  return [ADT_A01.slice(0, a), ADT_A01.slice(a + MSH9.length, b), ADT_A01.slice(b + MSH10.length, c), ADT_A01.slice(c + PID3.length)];
})();

const controlIdOf = (i: number): string => `SB${String(i).padStart(10, '0')}`;
const patientOf = (p: number): string => `MRN${String(p).padStart(6, '0')}`;
const rareWordOf = (k: number): string => `zqrare${k}`;

/** Message i of the data set; the same i always gives the same record. */
function recordOf(i: number, now: number): IngestRecord {
  const r = prng(i * 7919 + 17);
  const channelId = CHANNELS[Math.floor(r() * CHANNELS.length)] as string;
  const type = TYPES[Math.floor(r() * TYPES.length)] as string;
  const patient = patientOf(Math.floor(r() * PATIENTS));
  const receivedAt = new Date(now - Math.floor(r() * DAYS * DAY_MS));
  const s = r();
  const controlId = controlIdOf(i);
  const rare = i % 100 === 0 ? `NTE|1||Follow-up ${rareWordOf(Math.floor(r() * RARE_WORDS))} noted\r` : '';
  const content = `${PART0}${type}${PART1}${controlId}${PART2}${patient}${PART3}${rare}`;
  return {
    channelId,
    content,
    contentType: 'hl7v2',
    receivedAt,
    source: 'mllp://10.0.0.5:50312',
    messageType: type,
    controlId,
    sendingFacility: 'NORTHWIND_GEN',
    orderingKey: patient,
    patientIds: [patient],
    correlationId: `corr-${i}`,
    configRevision: 1,
    // No deliveries: stored `delivered`; a share filtered or errored, as a real store holds.
    outcome: s < 0.85 ? { kind: 'queued', deliveries: [] } : s < 0.95 ? { kind: 'filtered', reason: 'not routed' } : { kind: 'errored', reason: 'SWB_ERR_PIPELINE_MAP_MISSING' },
  };
}

/** Ingests messages [from, to) with IN_FLIGHT calls outstanding; returns the rate. */
async function seed(store: Store, from: number, to: number, now: number, label: string): Promise<number> {
  let next = from;
  let done = 0;
  const total = to - from;
  const t0 = performance.now();
  let reported = 0;
  const worker = async (): Promise<void> => {
    while (next < to) {
      const i = next++;
      await store.messages.ingest(recordOf(i, now));
      done++;
      if (total >= 100_000 && done - reported >= total / 5) {
        reported = done;
        const s = (performance.now() - t0) / 1000;
        process.stdout.write(`    ${label}: ${fmtInt(from + done)} stored (${fmtInt(done / s)}/s)\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, total) }, worker));
  return total / ((performance.now() - t0) / 1000);
}

// ---------------------------------------------------------------------------------------------
// Queries

const KINDS = {
  // What the console's message browser opens with: no filter, newest first, one page.
  firstPage: 'no filter, newest first (the console\'s first page)',
  controlId: 'by control id (MSH-10)',
  patientId: 'by patient id (PID-3)',
  channelStatusTime: 'channel + status + 24 h window, first page',
  text: 'full text, a rare word',
} as const;
type Kind = keyof typeof KINDS;

/**
 * Statuses the seeded store actually holds: the records ask for delivered / filtered / errored
 * through `outcome`; a store that ignores `outcome` keeps them all `received`.
 */
let statusesPresent: MessageStatus[] = ['delivered'];

async function findStatuses(store: Store): Promise<MessageStatus[]> {
  const all: MessageStatus[] = ['received', 'filtered', 'queued', 'delivered', 'errored', 'resolved'];
  const found: MessageStatus[] = [];
  for (const status of all) if ((await store.messages.search({ status, limit: 1 })).items.length > 0) found.push(status);
  return found;
}

function queryOf(kind: Kind, r: () => number, count: number, now: number): MessageQuery {
  switch (kind) {
    case 'firstPage':
      return {};
    case 'controlId':
      return { controlId: controlIdOf(Math.floor(r() * count)) };
    case 'patientId':
      return { patientId: patientOf(Math.floor(r() * PATIENTS)) };
    case 'channelStatusTime': {
      const from = now - Math.floor(r() * (DAYS - 1) * DAY_MS) - DAY_MS;
      const status = statusesPresent[Math.floor(r() * statusesPresent.length)] as MessageStatus;
      return { channelId: CHANNELS[Math.floor(r() * CHANNELS.length)] as string, status, from: new Date(from), to: new Date(from + DAY_MS) };
    }
    case 'text':
      return { text: rareWordOf(Math.floor(r() * RARE_WORDS)) };
  }
}

interface Timing {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly meanHits: number;
  /** Searches timed: QUERIES unless the kind ran out of KIND_BUDGET_MS. */
  readonly done: number;
  /** Searches that found nothing although the data set says they should. */
  readonly misses: number;
}

async function timeQueries(store: Store, kind: Kind, count: number, now: number): Promise<Timing> {
  const r = prng(0xbe9c4 + kind.length * 131 + count);
  for (let q = 0; q < WARMUP_QUERIES; q++) await store.messages.search(queryOf(kind, r, count, now));
  const ms = new Float64Array(QUERIES);
  let hits = 0;
  let misses = 0;
  let spent = 0;
  let q = 0;
  for (; q < QUERIES && spent < KIND_BUDGET_MS; q++) {
    const query = queryOf(kind, r, count, now);
    const t0 = performance.now();
    const page = await store.messages.search(query);
    ms[q] = performance.now() - t0;
    spent += ms[q] as number;
    hits += page.items.length;
    // Every control id in [0, count) exists exactly once.
    if (kind === 'controlId' && (page.items.length !== 1 || page.items[0]?.controlId !== query.controlId)) misses++;
  }
  const timed = ms.slice(0, q).sort();
  return { p50: quantile(timed, 0.5), p95: quantile(timed, 0.95), p99: quantile(timed, 0.99), max: timed[timed.length - 1] ?? Number.NaN, meanHits: hits / Math.max(1, q), done: q, misses };
}

// ---------------------------------------------------------------------------------------------

interface StepResult {
  readonly count: number;
  readonly seedRate: number;
  readonly sizeBytes: number | undefined;
  readonly timings: Map<Kind, Timing>;
}

function sqliteSize(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      n += fs.statSync(f).size;
    } catch {
      // not there
    }
  }
  return n;
}

async function postgresSize(baseUrl: string, schema: string): Promise<number | undefined> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    const res = await client.query<{ bytes: string | null }>(
      `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
      [schema],
    );
    const b = res.rows[0]?.bytes;
    return b === null || b === undefined ? undefined : Number(b);
  } finally {
    await client.end();
  }
}

/**
 * Whether PostgreSQL has planner statistics for the messages table yet: right after a bulk load it
 * may not (autovacuum analyzes later), and plans chosen without them can differ a lot.
 * BENCH_SEARCH_PG_ANALYZE=1 runs ANALYZE first, as autovacuum eventually would.
 */
async function postgresStats(baseUrl: string, schema: string): Promise<string> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: baseUrl });
  await client.connect();
  try {
    if (process.env.BENCH_SEARCH_PG_ANALYZE === '1') await client.query(`ANALYZE ${quoteIdent(schema)}.messages, ${quoteIdent(schema)}.message_patient_ids`);
    const res = await client.query<{ analyzed: string | null }>(
      `SELECT greatest(last_analyze, last_autoanalyze)::text AS analyzed FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'messages'`,
      [schema],
    );
    const at = res.rows[0]?.analyzed;
    return at === null || at === undefined ? 'messages table NOT analyzed yet (no planner statistics)' : `messages table analyzed at ${at}${process.env.BENCH_SEARCH_PG_ANALYZE === '1' ? ' (BENCH_SEARCH_PG_ANALYZE=1)' : ' (autovacuum)'}`;
  } finally {
    await client.end();
  }
}

const quoteIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`;

async function benchStore(label: string, store: Store, size: () => Promise<number | undefined>, beforeQueries?: () => Promise<string>): Promise<StepResult[]> {
  const now = Date.now();
  const steps: StepResult[] = [];
  let have = 0;
  for (const count of COUNTS) {
    const seedRate = await seed(store, have, count, now, label);
    have = count;
    statusesPresent = await findStatuses(store);
    if (beforeQueries !== undefined) console.log(`  ${label}: ${await beforeQueries()}`);
    console.log(`  ${label}: ${fmtInt(count)} messages stored, seeding ${fmtInt(seedRate)}/s (load ${os.loadavg()[0]?.toFixed(2)}); statuses present: ${statusesPresent.join(', ')}`);
    const timings = new Map<Kind, Timing>();
    for (const kind of Object.keys(KINDS) as Kind[]) timings.set(kind, await timeQueries(store, kind, count, now));
    steps.push({ count, seedRate, sizeBytes: await size(), timings });
  }
  return steps;
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const fmtMs = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '-');
const fmtBytes = (b: number | undefined): string => (b === undefined ? '-' : `${(b / 2 ** 20).toFixed(0)} MiB`);

export async function runSearchBench(): Promise<void> {
  console.log('== Message search over a large store ==');
  console.log(
    `Data: ${COUNTS.map(fmtInt).join(' -> ')} messages (SWB_BENCH_SEARCH_N), ${Buffer.byteLength(ADT_A01)}-byte ADT content, ${fmtInt(PATIENTS)} patients, ` +
      `${CHANNELS.length} channels, ${TYPES.length} types, ${DAYS} days, 1 in 100 with a rare word; seeded through store.messages.ingest, ${fmtInt(IN_FLIGHT)} in flight.`,
  );
  console.log(`Searches: ${fmtInt(QUERIES)} random ones per kind (BENCH_SEARCH_QUERIES) after ${WARMUP_QUERIES} untimed, one at a time, through store.messages.search (default page of 50).`);
  console.log(`Load average (1/5/15 min) before: ${loadavg()}`);

  const results = new Map<string, StepResult[] | string>();

  // BENCH_SEARCH_STORES=sqlite|postgres runs one store only (seeding a million takes minutes each).
  const only = process.env.BENCH_SEARCH_STORES;
  if (only === 'postgres') console.log('  SQLite: skipped (BENCH_SEARCH_STORES=postgres).');
  else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swb-search-bench-'));
    const file = path.join(dir, 'bench.db');
    try {
      const store = await openStore(`sqlite:${file}`);
      try {
        results.set('SQLite', await benchStore('SQLite', store, async () => sqliteSize(file)));
      } finally {
        await store.close();
      }
    } catch (e) {
      results.set('SQLite', (e as Error).message);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const pgBase = process.env.SWITCHBOARD_PG_URL;
  if (only === 'sqlite') {
    console.log('  PostgreSQL: skipped (BENCH_SEARCH_STORES=sqlite).');
  } else if (pgBase === undefined || pgBase === '') {
    console.log('  PostgreSQL: skipped (SWITCHBOARD_PG_URL is not set; e.g. SWITCHBOARD_PG_URL=postgres://postgres@127.0.0.1:5432/test).');
  } else {
    const schema = `swb_bench_${randomBytes(6).toString('hex')}`;
    const u = new URL(pgBase);
    u.searchParams.set('schema', schema);
    console.log(`  PostgreSQL: ${u.host}${u.pathname}, schema ${schema} (dropped afterwards).`);
    try {
      const store = await openStore(u.toString());
      try {
        results.set('PostgreSQL', await benchStore('PostgreSQL', store, () => postgresSize(pgBase, schema), () => postgresStats(pgBase, schema)));
      } finally {
        await store.close();
      }
    } catch (e) {
      results.set('PostgreSQL', (e as Error).message);
    } finally {
      try {
        const { dropPostgresSchema } = await import('../src/store/postgres/open-postgres-store.ts');
        await dropPostgresSchema(pgBase, schema);
      } catch (e) {
        console.log(`  could not drop schema ${schema}: ${(e as Error).message}`);
      }
    }
  }
  console.log('');

  const rows: string[][] = [];
  for (const [store, steps] of results) {
    if (typeof steps === 'string') {
      rows.push([store, '-', '-', '-', '-', '-', '-', '-', steps]);
      continue;
    }
    for (const step of steps) {
      for (const [kind, t] of step.timings) {
        const check = [t.misses === 0 ? 'ok' : `${t.misses} wrong`, ...(t.done < QUERIES ? [`only ${t.done} in the ${KIND_BUDGET_MS / 1000} s budget`] : [])].join(', ');
        rows.push([store, fmtInt(step.count), KINDS[kind], fmtMs(t.p50), fmtMs(t.p95), fmtMs(t.p99), fmtMs(t.max), t.meanHits.toFixed(1), check]);
      }
    }
  }
  console.log(table(['store', 'messages', 'search', 'p50', 'p95', 'p99', 'max', 'hits/search', 'check'], rows));
  console.log(`(hits/search = mean page size returned; check: every control id search found exactly its one message; a kind stops after ${KIND_BUDGET_MS / 1000} s of searching, BENCH_SEARCH_KIND_BUDGET_MS)`);
  console.log('');
  for (const [store, steps] of results) {
    if (typeof steps === 'string') continue;
    for (const step of steps) {
      console.log(`${store} at ${fmtInt(step.count)} messages: seeding ${fmtInt(step.seedRate)} msgs/s (this step), store size ${fmtBytes(step.sizeBytes)}.`);
    }
  }
  for (const [store, steps] of results) {
    if (typeof steps === 'string') continue;
    const last = steps[steps.length - 1];
    if (last === undefined) continue;
    const worst = Math.max(last.timings.get('controlId')?.p99 ?? Number.NaN, last.timings.get('patientId')?.p99 ?? Number.NaN);
    const scope = last.count >= 1_000_000 ? '' : ` (measured at ${fmtInt(last.count)}, not 1,000,000)`;
    console.log(`Target ${store} p99 < ${TARGET_P99_MS} ms by control id or patient id over 1,000,000 messages: ${worst < TARGET_P99_MS ? 'MET' : 'NOT MET'} (${fmtMs(worst)})${scope}`);
  }
  console.log(`Load average (1/5/15 min) after: ${loadavg()} (shared ${os.cpus().length}-CPU machine)`);
  console.log('');
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) await runSearchBench();
