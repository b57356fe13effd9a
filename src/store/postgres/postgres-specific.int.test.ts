import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { isSwitchboardError } from '../../core/errors.ts';
import type { IngestRecord, MessageQuery } from '../../core/ports/message-store.ts';
import { dropPostgresSchema, openPostgresStore, type PostgresStore } from './open-postgres-store.ts';
import { buildSearchSql, PostgresMessageStore } from './postgres-message-store.ts';
import { POSTGRES_MIGRATIONS, runPostgresMigrations } from './postgres-migrations.ts';

/**
 * What only the PostgreSQL store promises beyond the shared conformance suites: migrations under an
 * advisory lock, group commit, claims from several processes (FOR UPDATE SKIP LOCKED), and search
 * by index. Needs SWITCHBOARD_PG_URL; every schema it creates is random and dropped afterwards.
 */
const url = process.env.SWITCHBOARD_PG_URL;
const schemas: string[] = [];
const newSchema = (): string => {
  const schema = `swb_pgspec_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
};

function record(i: number, overrides: Partial<IngestRecord> = {}): IngestRecord {
  return {
    channelId: 'ch-pg',
    content: `MSH|^~\\&|A|B|C|D|||ADT^A01|PG${i}|P|2.5.1\rPID|1||PAT-${i % 97}\r`,
    contentType: 'hl7v2',
    receivedAt: new Date(Date.UTC(2026, 0, 5) + i * 1000),
    source: 'mllp://127.0.0.1:1',
    controlId: `PG${i}`,
    patientIds: [`PAT-${i % 97}`],
    messageType: 'ADT^A01',
    correlationId: `corr-${i}`,
    configRevision: 1,
    ...overrides,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

if (url === undefined || url === '') {
  test('PostgreSQL-specific store behaviour', (t) => {
    t.skip('SWITCHBOARD_PG_URL is not set');
  });
} else {
  const pgUrl = url;
  const opened: PostgresStore[] = [];
  const open = async (schema: string): Promise<PostgresStore> => {
    const store = await openPostgresStore({ url: pgUrl, schema });
    opened.push(store);
    return store;
  };

  after(async () => {
    for (const store of opened) await store.close().catch(() => undefined);
    for (const schema of schemas) await dropPostgresSchema(pgUrl, schema);
  });

  describe('PostgreSQL store: migrations', () => {
    test('opening twice is idempotent: the second open applies nothing', async () => {
      const schema = newSchema();
      const a = await open(schema);
      assert.equal(a.migrationsApplied, POSTGRES_MIGRATIONS.length);
      await a.close();
      const b = await open(schema);
      assert.equal(b.migrationsApplied, 0);
      assert.equal(b.schemaVersion, a.schemaVersion);
      const rows = await rawQuery(pgUrl, `SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      assert.deepEqual(rows.map((r) => r['version']), POSTGRES_MIGRATIONS.map((m) => m.version));
    });

    test('several processes opening at once migrate exactly once', async () => {
      const schema = newSchema();
      const stores = await Promise.all(Array.from({ length: 5 }, () => open(schema)));
      assert.equal(stores.reduce((sum, s) => sum + s.migrationsApplied, 0), POSTGRES_MIGRATIONS.length);
      assert.ok(stores.every((s) => s.schemaVersion === stores[0]?.schemaVersion));
    });

    test('a schema newer than the code is refused with SWB_ERR_STORE_SCHEMA_TOO_NEW', async () => {
      const schema = newSchema();
      await (await open(schema)).close();
      await rawQuery(pgUrl, `INSERT INTO ${schema}.schema_migrations (version, name) VALUES (9999, 'from the future')`);
      await assert.rejects(open(schema), (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_SCHEMA_TOO_NEW');
    });
  });

  describe('PostgreSQL store: group commit', () => {
    test('500 concurrent ingests are all stored in far fewer transactions than rows', async () => {
      const store = await open(newSchema());
      const before = store.messages.flushCount;
      const results = await Promise.all(Array.from({ length: 500 }, (_, i) => store.messages.ingest(record(i))));
      assert.ok(results.every((r) => r.kind === 'stored'));
      assert.equal(new Set(results.map((r) => r.id)).size, 500);
      const flushes = store.messages.flushCount - before;
      assert.ok(flushes <= 10, `500 rows took ${flushes} transactions`);
      const count = await rawQuery(pgUrl, `SELECT count(*)::int AS n FROM ${schemas[schemas.length - 1] ?? ''}.messages`);
      assert.equal(count[0]?.['n'], 500);
    });

    test('ingests carrying deliveries share transactions; deliveries are in call order per key', async () => {
      const store = await open(newSchema());
      const before = store.messages.flushCount;
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          store.messages.ingest(record(i, { outcome: { kind: 'queued', deliveries: [{ destination: 'dest-pgo', orderingKey: `K${i % 3}`, payload: `p${i}`, idempotencyKey: `i${i}`, maxAttempts: 2 }] } })),
        ),
      );
      assert.ok(results.every((r) => r.kind === 'stored'));
      const flushes = store.messages.flushCount - before;
      assert.ok(flushes <= 6, `300 rows took ${flushes} transactions`);
      const rows = await rawQuery(pgUrl, `SELECT payload FROM ${schemas[schemas.length - 1] ?? ''}.deliveries ORDER BY seq`);
      assert.deepEqual(rows.map((r) => r['payload']), Array.from({ length: 300 }, (_, i) => `p${i}`));
    });

    test('a bad row fails alone; the rest of its batch is stored', async () => {
      const store = await open(newSchema());
      const settled = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => store.messages.ingest(record(i, i === 7 ? { content: 'MSH|bad\u0000byte\r' } : {}))),
      );
      settled.forEach((s, i) => {
        if (i === 7) assert.ok(s.status === 'rejected' && isSwitchboardError(s.reason) && s.reason.code === 'SWB_ERR_STORE_INVALID_RECORD', 'the bad row is rejected');
        else assert.ok(s.status === 'fulfilled' && s.value.kind === 'stored', `row ${i} stored`);
      });
      assert.equal((await store.messages.search({ channelId: 'ch-pg', limit: 500 })).items.length, 19);
    });

    test('close() flushes queued ingests before ending the pool', async () => {
      const schema = newSchema();
      const store = await open(schema);
      const pending = Array.from({ length: 50 }, (_, i) => store.messages.ingest(record(i)));
      await store.close();
      const results = await Promise.all(pending);
      assert.ok(results.every((r) => r.kind === 'stored'));
      const reopened = await open(schema);
      assert.equal((await reopened.messages.search({ limit: 500 })).items.length, 50);
    });
  });

  describe('PostgreSQL store: one round trip per ingest batch', () => {
    test('a batch is one statement: no BEGIN, no COMMIT, one query per flush', async () => {
      const schema = newSchema();
      await (await open(schema)).close();
      const pool = new pg.Pool({ connectionString: pgUrl, max: 4, options: `-c search_path="${schema}"` });
      const sent: string[] = [];
      pool.on('connect', (client) => {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
          const first = args[0];
          sent.push(typeof first === 'string' ? first : String((first as { text?: string }).text ?? ''));
          return query(...args);
        };
      });
      // The full-text indexer stays out of the count (it would run 60 s later; close() cancels it).
      const messages = new PostgresMessageStore(pool, undefined, { delayMs: 60_000 });
      try {
        const results = await Promise.all(
          Array.from({ length: 120 }, (_, i) =>
            messages.ingest(record(i, { dedupeKey: `K${i}`, dedupeWindowMs: 60_000, outcome: { kind: 'queued', deliveries: [{ destination: 'd', orderingKey: `P${i % 7}`, payload: 'x', idempotencyKey: `i${i}`, maxAttempts: 1 }] } })),
          ),
        );
        assert.ok(results.every((r) => r.kind === 'stored'));
        assert.equal(sent.length, messages.flushCount, `queries sent: ${sent.map((q) => q.slice(0, 30)).join(' | ')}`);
        assert.ok(sent.every((q) => !/^\s*(BEGIN|COMMIT)/i.test(q)));
        const counts = await pool.query<{ m: number; d: number; k: number; e: number }>(
          'SELECT (SELECT count(*) FROM messages)::int AS m, (SELECT count(*) FROM deliveries)::int AS d, (SELECT count(*) FROM dedupe_keys)::int AS k, (SELECT count(*) FROM message_events)::int AS e',
        );
        // One event row per message (`queued`): `received` is rebuilt from the message row.
        assert.deepEqual(counts.rows[0], { m: 120, d: 120, k: 120, e: 120 });
      } finally {
        await messages.close();
        await pool.end();
      }
    });

    test('the statement takes the lane lock before writing: an ingest of a lane another transaction holds waits for it', { timeout: 60_000 }, async () => {
      const schema = newSchema();
      const store = await open(schema);
      const holder = new pg.Client({ connectionString: pgUrl });
      await holder.connect();
      try {
        // What PostgresDeliveryQueue.enqueue (or another process's batch) holds for lane (dest-lock, P1).
        await holder.query('BEGIN');
        await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x5357_4202, 'dest-lock\u001fP1']);
        let settled = false;
        const ingest = store.messages
          .ingest(record(1, { outcome: { kind: 'queued', deliveries: [{ destination: 'dest-lock', orderingKey: 'P1', payload: 'p', idempotencyKey: 'i1', maxAttempts: 1 }] } }))
          .finally(() => {
            settled = true;
          });
        // The ingest's backend blocks on the advisory lock; an ingest that did not take it would
        // settle instead (and fail the test here).
        for (;;) {
          assert.equal(settled, false, 'the ingest finished without waiting for the lane lock');
          // Inside a transaction pg_stat_activity is a snapshot taken at its first read (PostgreSQL
          // docs, monitoring-stats "Statistics Functions"): without clearing it, a first poll made
          // before the ingest reached the lock would be seen again for ever (this test hung so).
          await holder.query('SELECT pg_stat_clear_snapshot()');
          const waiting = await holder.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '%pg_advisory_xact_lock%' AND pid <> pg_backend_pid()",
          );
          if ((waiting.rows[0] as { n: number }).n > 0) break;
          await sleep(10);
        }
        await holder.query('COMMIT');
        assert.equal((await ingest).kind, 'stored');
      } finally {
        await holder.end();
      }
    });

    test('two processes ingesting the same dedupe keys at once: each key stored once, the other call answered duplicate of it', async () => {
      const schema = newSchema();
      const a = await open(schema);
      const b = await open(schema);
      const n = 200;
      const same = (i: number): IngestRecord => record(i, { dedupeKey: `DUP-${i}`, dedupeWindowMs: 3_600_000 });
      const [fromA, fromB] = await Promise.all([
        Promise.all(Array.from({ length: n }, (_, i) => a.messages.ingest(same(i)))),
        Promise.all(Array.from({ length: n }, (_, i) => b.messages.ingest(same(i)))),
      ]);
      for (let i = 0; i < n; i++) {
        const x = fromA[i];
        const y = fromB[i];
        assert.ok(x !== undefined && y !== undefined);
        assert.deepEqual([x.kind, y.kind].sort(), ['duplicate', 'stored'], `key ${i}: ${x.kind} / ${y.kind}`);
        assert.equal(x.id, y.id, `key ${i}: the duplicate names the stored message`);
      }
      const count = await rawQuery(pgUrl, `SELECT count(*)::int AS n FROM ${schema}.messages`);
      assert.equal(count[0]?.['n'], n);
    });
  });

  describe('PostgreSQL store: completions share transactions', () => {
    test('concurrent complete() calls share commits; a lost lease rejects alone; a message whose deliveries complete together is delivered', async () => {
      const schema = newSchema();
      const store = await open(schema);
      const n = 60;
      for (let i = 0; i < n; i++) {
        // Two deliveries per message, on two destinations, so both can be claimed at once.
        await store.messages.ingest(
          record(i, {
            outcome: {
              kind: 'queued',
              deliveries: [
                { destination: 'dest-a', orderingKey: `K${i}`, payload: 'a', idempotencyKey: `a${i}`, maxAttempts: 3 },
                { destination: 'dest-b', orderingKey: `K${i}`, payload: 'b', idempotencyKey: `b${i}`, maxAttempts: 3 },
              ],
            },
          }),
        );
      }
      const claimedA = await store.queue.claim({ destination: 'dest-a', owner: 'w', leaseMs: 60_000, limit: n });
      const claimedB = await store.queue.claim({ destination: 'dest-b', owner: 'w', leaseMs: 60_000, limit: n });
      assert.equal(claimedA.length + claimedB.length, 2 * n);
      const stolen = claimedA[5];
      assert.ok(stolen !== undefined);
      // Someone else holds this one now (as after an expired lease).
      await rawQuery(pgUrl, `UPDATE ${schema}.deliveries SET lease_owner = 'thief' WHERE id = '${stolen.id}'`);
      const before = store.queue.completeBatches;
      const at = new Date();
      const settled = await Promise.allSettled([...claimedA, ...claimedB].map((d) => store.queue.complete(d.id, 'w', { startedAt: at, finishedAt: at, response: `ok ${d.id}` })));
      const batches = store.queue.completeBatches - before;
      assert.ok(batches <= 4, `${2 * n} completions took ${batches} transactions`);
      settled.forEach((s, i) => {
        if (i === 5) assert.ok(s.status === 'rejected' && isSwitchboardError(s.reason) && s.reason.code === 'SWB_ERR_QUEUE_LEASE_LOST', 'the stolen one is rejected');
        else assert.equal(s.status, 'fulfilled', `completion ${i}`);
      });
      await assert.rejects(store.queue.complete('no-such-delivery', 'w', { startedAt: at, finishedAt: at }), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_NOT_FOUND');
      const stolenMessage = stolen.messageId;
      const statuses = await rawQuery(pgUrl, `SELECT id, status FROM ${schema}.messages`);
      for (const row of statuses) assert.equal(row['status'], row['id'] === stolenMessage ? 'queued' : 'delivered', `message ${String(row['id'])}`);
      const done = claimedB[0];
      assert.ok(done !== undefined);
      assert.equal((await store.queue.get(done.id))?.status, 'delivered');
      assert.deepEqual(
        (await store.queue.attempts(done.id)).map((x) => [x.attempt, x.outcome, x.response]),
        [[1, 'delivered', `ok ${done.id}`]],
      );
      const events = (await store.messages.events(done.messageId)).filter((e) => e.type === 'delivered');
      assert.equal(events.length, 2);
      assert.equal((await store.queue.get(stolen.id))?.status, 'leased');
      assert.equal((await store.queue.attempts(stolen.id)).length, 0);
    });
  });

  describe('PostgreSQL store: two processes claiming one destination', () => {
    test('never the same delivery twice, never two deliveries of one key at once, FIFO per key', async () => {
      const schema = newSchema();
      const storeA = await open(schema);
      const storeB = await openPostgresStore({ url: pgUrl, schema, poolSize: 4 });
      opened.push(storeB);
      const keys = 12;
      const perKey = 10;
      const enqueued = new Map<string, string[]>(); // key -> delivery ids in enqueue order
      for (let i = 0; i < keys * perKey; i++) {
        const key = `K${i % keys}`;
        const r = await storeA.messages.ingest(record(i, { orderingKey: key }));
        const [d] = await storeA.queue.enqueue(r.id, [{ destination: 'dest-race', orderingKey: key, payload: `p${i}`, idempotencyKey: `i${i}`, maxAttempts: 3 }]);
        assert.ok(d !== undefined);
        enqueued.set(key, [...(enqueued.get(key) ?? []), d.id]);
      }
      const total = keys * perKey;
      const delivered = new Map<string, string[]>();
      const seen = new Set<string>();
      const inFlightKeys = new Set<string>();
      const violations: string[] = [];
      let done = 0;

      const worker = async (store: PostgresStore, owner: string): Promise<void> => {
        let idle = 0;
        while (done < total && idle < 200) {
          const claimed = await store.queue.claim({ destination: 'dest-race', owner, leaseMs: 60_000, limit: 4 });
          if (claimed.length === 0) {
            idle++;
            await sleep(2);
            continue;
          }
          idle = 0;
          for (const d of claimed) {
            if (seen.has(d.id)) violations.push(`delivery ${d.id} claimed twice`);
            seen.add(d.id);
            const key = d.orderingKey ?? '';
            if (inFlightKeys.has(key)) violations.push(`key ${key} in flight twice`);
            inFlightKeys.add(key);
          }
          await sleep(1 + Math.floor(Math.random() * 3));
          for (const d of claimed) {
            const key = d.orderingKey ?? '';
            inFlightKeys.delete(key);
            delivered.set(key, [...(delivered.get(key) ?? []), d.id]);
            await store.queue.complete(d.id, owner, { startedAt: new Date(), finishedAt: new Date() });
            done++;
          }
        }
      };
      await Promise.all([worker(storeA, 'proc-a:1'), worker(storeA, 'proc-a:2'), worker(storeB, 'proc-b:1'), worker(storeB, 'proc-b:2')]);
      assert.deepEqual(violations, []);
      assert.equal(done, total);
      for (const [key, ids] of enqueued) assert.deepEqual(delivered.get(key), ids, `FIFO for ${key}`);
    });
  });

  describe('PostgreSQL store: search uses indexes', () => {
    test('EXPLAIN of control-id, patient-id, channel and text searches shows no Seq Scan on messages', async () => {
      const schema = newSchema();
      const store = await open(schema);
      for (let start = 0; start < 3000; start += 250) {
        await Promise.all(Array.from({ length: 250 }, (_, j) => store.messages.ingest(record(start + j, { channelId: `ch-${(start + j) % 7}` }))));
      }
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        await client.query(`SET search_path TO ${schema}`);
        await client.query('ANALYZE');
        // A few thousand rows fit in a handful of pages, where a hash join over a seq scan is
        // cheapest; production tables are far larger. With seq scans priced out, a plan still
        // shows one only when no index can answer the query, which is what this test is about.
        await client.query('SET enable_seqscan = off');
        const cursor = (await store.messages.search({ patientId: 'PAT-3', limit: 2 })).nextCursor;
        assert.ok(cursor !== undefined);
        const queries = [
          { controlId: 'PG1234' },
          { patientId: 'PAT-5' },
          { patientId: 'PAT-5', limit: 2, cursor },
          { correlationId: 'corr-17' },
          { channelId: 'ch-3', limit: 20 },
          { text: 'PG2001' },
        ];
        for (const query of queries) {
          const { sql, params } = buildSearchSql(query);
          const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');
          assert.ok(!/Seq Scan on messages/.test(plan), `${JSON.stringify(query)} scans messages:\n${plan}`);
          assert.ok(!/Seq Scan on message_patient_ids/.test(plan), `${JSON.stringify(query)} scans patient ids:\n${plan}`);
        }
      } finally {
        await client.end();
      }
      // And the answers are right.
      assert.deepEqual((await store.messages.search({ controlId: 'PG1234' })).items.map((m) => m.controlId), ['PG1234']);
      assert.equal((await store.messages.search({ text: 'PG2001' })).items.length, 1);
    });
  });

  describe('PostgreSQL store: search plans without table statistics', () => {
    // Right after a bulk load nothing has run ANALYZE yet (autovacuum comes later), so the planner
    // guesses: a text match is priced at a fixed selectivity, and walking the time index to the first
    // page looked cheaper than the GIN index, and then read the whole table (970 ms at 20k messages in
    // the search bench). Search must pick the lookup index whatever the statistics say.
    test('text, control-id, patient-id and correlation searches use their own index on a never-analyzed table', async () => {
      const schema = newSchema();
      const store = await open(schema);
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        await client.query(`SET search_path TO ${schema}`);
        // Keep autovacuum from analyzing mid-test: the point is a table with no statistics.
        for (const table of ['messages', 'message_patient_ids']) await client.query(`ALTER TABLE ${table} SET (autovacuum_enabled = off)`);
        // Realistic messages: about 1.5 kB with many distinct words each (ids, codes, values), as
        // HL7 results are. With tiny rows every plan is cheap, and with few distinct words the GIN
        // index stays small; either way the bad plans do not show.
        const obx = (i: number): string =>
          Array.from({ length: 16 }, (_, k) => `OBX|${k + 1}|NM|${1000 + k}-${i % 9}^Panel ${k}^LN||${(i * 31 + k * 7) % 1000}.${k}|mg/dL|${k}-${k + 9}|N|||F|||2026010${k % 9}${i}\r`).join('');
        for (let start = 0; start < 4000; start += 500) {
          await Promise.all(
            Array.from({ length: 500 }, (_, j) => {
              const i = start + j;
              const word = i % 100 === 0 ? `NTE|2||follow-up zqrare${i / 100} noted\r` : '';
              return store.messages.ingest(record(i, { channelId: `ch-${i % 5}`, content: `${record(i).content}${obx(i)}${word}` }));
            }),
          );
        }
        const stats = await client.query<{ reltuples: number; analyzed: string | null }>(
          `SELECT c.reltuples, greatest(s.last_analyze, s.last_autoanalyze)::text AS analyzed
           FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE s.schemaname = $1 AND c.relname = 'messages'`,
          [schema],
        );
        // reltuples -1: never vacuumed nor analyzed (PostgreSQL 14+).
        assert.deepEqual(stats.rows, [{ reltuples: -1, analyzed: null }], 'the table must have no statistics for this test to mean anything');

        const cursor = (await store.messages.search({ text: 'panel', limit: 2 })).nextCursor;
        assert.ok(cursor !== undefined);
        const cases: { query: MessageQuery; index: string }[] = [
          { query: { text: 'zqrare7' }, index: 'message_fts_tsv_idx' },
          { query: { text: 'zqrare7', channelId: 'ch-0' }, index: 'message_fts_tsv_idx' },
          { query: { text: 'zqrare7', status: 'received', from: new Date(Date.UTC(2026, 0, 1)) }, index: 'message_fts_tsv_idx' },
          { query: { text: 'panel', limit: 2, cursor }, index: 'message_fts_tsv_idx' },
          { query: { controlId: 'PG1234' }, index: 'messages_control_id_idx' },
          { query: { patientId: 'PAT-5' }, index: 'message_patient_ids_patient_idx' },
          { query: { correlationId: 'corr-17' }, index: 'messages_correlation_id_idx' },
        ];
        for (const { query, index } of cases) {
          // Exactly what search() runs: its planner settings, in a transaction, then the statement.
          const { sql, params, settings } = buildSearchSql(query);
          await client.query('BEGIN');
          for (const setting of settings) await client.query(setting);
          const explained = await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
          await client.query('ROLLBACK');
          const nodes = planNodes(explained.rows[0]?.['QUERY PLAN']);
          const shown = nodes.map((n) => `${n.type}${n.index === undefined ? '' : ` using ${n.index}`}${n.relation === undefined ? '' : ` on ${n.relation}`}`).join('; ');
          assert.ok(nodes.some((n) => n.index === index), `${JSON.stringify(query)} does not use ${index}: ${shown}`);
          // Neither a full read of the table nor a walk of the time index discarding rows.
          assert.ok(!nodes.some((n) => n.type === 'Seq Scan' && n.relation === 'messages'), `${JSON.stringify(query)} scans messages: ${shown}`);
          assert.ok(!nodes.some((n) => n.index === 'messages_received_idx'), `${JSON.stringify(query)} walks the time index: ${shown}`);
        }
        // A word in more than TEXT_PROBE_CAP messages is paged by walking the time index instead
        // (search() switches after its probe): that statement must give the same pages.
        for (const limit of [1, 7, 50]) {
          const { params, text } = buildSearchSql({ text: 'panel', limit });
          assert.ok(text !== undefined);
          const walked = (await client.query<{ control_id: string }>(text.walk, params)).rows.slice(0, limit).map((r) => r.control_id);
          assert.deepEqual(walked, (await store.messages.search({ text: 'panel', limit })).items.map((m) => m.controlId));
        }
      } finally {
        await client.end();
      }
      // Same answers as ever, paging included.
      assert.deepEqual((await store.messages.search({ text: 'zqrare7' })).items.map((m) => m.controlId), ['PG700']);
      assert.deepEqual((await store.messages.search({ text: 'zqrare7', channelId: 'ch-1' })).items, []);
      // Filters beside the driving lookup still apply (PG700: PAT-21, ch-0, corr-700).
      const ids = async (query: MessageQuery): Promise<string[]> => (await store.messages.search(query)).items.map((m) => m.controlId ?? '');
      assert.deepEqual(await ids({ patientId: 'PAT-21', text: 'zqrare7' }), ['PG700']);
      assert.deepEqual(await ids({ patientId: 'PAT-22', text: 'zqrare7' }), []);
      assert.deepEqual(await ids({ controlId: 'PG700', correlationId: 'corr-700', text: 'zqrare7', channelId: 'ch-0' }), ['PG700']);
      assert.deepEqual(await ids({ controlId: 'PG700', correlationId: 'corr-1' }), []);
      const patientAll = await ids({ patientId: 'PAT-21', limit: 500 });
      assert.deepEqual(await ids({ patientId: 'PAT-21', channelId: 'ch-0', limit: 500 }), patientAll.filter((id) => Number(id.slice(2)) % 5 === 0));
      const seen: string[] = [];
      let next: string | undefined;
      do {
        const page = await store.messages.search({ text: 'noted', limit: 7, ...(next === undefined ? {} : { cursor: next }) });
        seen.push(...page.items.map((m) => m.controlId ?? ''));
        next = page.nextCursor;
      } while (next !== undefined);
      assert.deepEqual(seen, Array.from({ length: 40 }, (_, k) => `PG${(39 - k) * 100}`));
    });
  });

  describe('PostgreSQL store: full text after the commit (migration 7)', () => {
    const countIndexed = async (schema: string): Promise<number> => Number((await rawQuery(pgUrl, `SELECT count(*)::int AS n FROM ${schema}.message_fts`))[0]?.['n']);

    test('ingest only queues; the background indexer works the queue off without any search', async () => {
      const schema = newSchema();
      const store = await open(schema);
      await Promise.all(Array.from({ length: 30 }, (_, i) => store.messages.ingest(record(i, { content: `${record(i).content}NTE|1||word${i}\r` }))));
      // Eventually (the indexer runs ~25 ms after the commit): poll, with a cap far above it.
      for (let i = 0; i < 200 && (await store.messages.fts.lag()) > 0; i++) await sleep(25);
      assert.equal(await store.messages.fts.lag(), 0);
      assert.equal(await countIndexed(schema), 30);
      assert.ok(store.messages.fts.steps >= 1);
    });

    test('a text search finds a message the indexer has not reached yet (it catches up first)', async () => {
      const schema = newSchema();
      await open(schema); // migrated
      // A store whose background indexer would wait an hour: only the search's catch-up can index.
      const pool = new pg.Pool({ connectionString: pgUrl, options: `-c search_path=${schema}` });
      const messages = new PostgresMessageStore(pool, () => new Date(), { delayMs: 3_600_000 });
      try {
        await messages.ingest(record(1, { content: `${record(1).content}NTE|1||zebrafinch\r` }));
        assert.equal(await messages.fts.lag(), 1, 'queued, not indexed');
        assert.equal(await countIndexed(schema), 0);
        const page = await messages.search({ text: 'zebrafinch' });
        assert.deepEqual(page.items.map((m) => m.controlId), ['PG1']);
        assert.equal(await messages.fts.lag(), 0);
        assert.equal(await countIndexed(schema), 1);
      } finally {
        await messages.close();
        await pool.end();
      }
    });

    test('pruned content leaves the index: its words no longer find it', async () => {
      const schema = newSchema();
      const store = await open(schema);
      await store.messages.ingest(record(1, { content: `${record(1).content}NTE|1||kestrel\r`, receivedAt: new Date(Date.UTC(2026, 0, 1)) }));
      await store.messages.ingest(record(2, { content: `${record(2).content}NTE|1||kestrel\r`, receivedAt: new Date(Date.UTC(2026, 0, 9)) }));
      assert.equal((await store.messages.search({ text: 'kestrel' })).items.length, 2);
      const pruned = await store.messages.pruneContent({ channelId: 'ch-pg', receivedBefore: new Date(Date.UTC(2026, 0, 5)), statuses: ['received'] });
      assert.equal(pruned, 1);
      assert.deepEqual((await store.messages.search({ text: 'kestrel' })).items.map((m) => m.controlId), ['PG2']);
      assert.equal(await countIndexed(schema), 1);
    });

    test('migrating a version 6 schema queues its messages, and a search finds them', async () => {
      const schema = newSchema();
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        await runPostgresMigrations(client, schema, POSTGRES_MIGRATIONS.filter((m) => m.version <= 6));
        await client.query(
          `INSERT INTO ${schema}.messages (id, channel_id, content, content_bytes, content_type, received_at, source, correlation_id, config_revision, status, updated_at)
           VALUES ('m-old', 'ch-pg', 'MSH|^~\\&|A\rNTE|1||osprey', 20, 'hl7v2', now(), 'test', 'c-old', 1, 'received', now())`,
        );
      } finally {
        await client.end();
      }
      const store = await open(schema);
      assert.equal(store.migrationsApplied, POSTGRES_MIGRATIONS.filter((m) => m.version > 6).length);
      assert.deepEqual((await store.messages.search({ text: 'osprey' })).items.map((m) => m.id), ['m-old']);
    });
  });
}

async function rawQuery(pgUrl: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

interface PlanNode {
  readonly type: string;
  readonly index?: string;
  readonly relation?: string;
}

/** Every node of an EXPLAIN (FORMAT JSON) plan, depth first, CTEs and subplans included. */
function planNodes(explained: unknown): PlanNode[] {
  const out: PlanNode[] = [];
  const visit = (node: Record<string, unknown>): void => {
    const index = node['Index Name'];
    const relation = node['Relation Name'];
    out.push({ type: String(node['Node Type']), ...(typeof index === 'string' ? { index } : {}), ...(typeof relation === 'string' ? { relation } : {}) });
    const children = node['Plans'];
    if (Array.isArray(children)) for (const child of children) visit(child as Record<string, unknown>);
  };
  const root = (Array.isArray(explained) ? explained[0] : undefined) as { Plan?: Record<string, unknown> } | undefined;
  if (root?.Plan === undefined) throw new Error('EXPLAIN (FORMAT JSON) returned no plan');
  visit(root.Plan);
  return out;
}
