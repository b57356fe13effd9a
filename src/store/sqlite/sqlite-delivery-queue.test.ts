import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs, { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isSwitchboardError } from '../../core/errors.ts';
import type { Delivery } from '../../core/ports/delivery-queue.ts';
import type { IngestRecord } from '../../core/ports/message-store.ts';
import { openSqliteStore, type SqliteStore } from './open-sqlite-store.ts';
import { SqliteDeliveryQueue } from './sqlite-delivery-queue.ts';
import { SqliteMessageStore } from './sqlite-message-store.ts';
import { runSqliteMigrations, SQLITE_MIGRATIONS } from './sqlite-migrations.ts';
import { eio, holdSyncs, realFdatasync, settlesSoon } from './sqlite-wal-sync-test-support.ts';

// Delivery bookkeeping on SQLite (docs/adr/0002-delivery-bookkeeping-durability.md): group commit
// of complete/fail, history in the same transaction, commits without fsync, and what survives a kill.

let dir = '';
let counter = 0;
const newPath = (): string => join(dir, `db-${++counter}.db`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchboard-sqlite-queue-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An ingest of message `<tag><i>` with one queued delivery (idempotency key `idem-<key>-<i>`, three attempts). */
function queuedRecord(i: number, o: { channel: string; tag: string; key: string; destination: string; payload: string; orderingKey?: string }): IngestRecord {
  return {
    channelId: o.channel,
    content: `MSH|^~\\&|A|B|C|D|||ADT^A01|${o.tag}${i}|P|2.5.1\r`,
    contentType: 'hl7v2',
    receivedAt: new Date(),
    source: 'test',
    correlationId: `corr-${o.key}-${i}`,
    configRevision: 1,
    outcome: {
      kind: 'queued',
      deliveries: [{ destination: o.destination, ...(o.orderingKey === undefined ? {} : { orderingKey: o.orderingKey }), payload: o.payload, idempotencyKey: `idem-${o.key}-${i}`, maxAttempts: 3 }],
    },
  };
}

async function seed(messages: SqliteMessageStore, queue: SqliteDeliveryQueue, n: number, destination = 'out'): Promise<Delivery[]> {
  const ids = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const result = await messages.ingest(queuedRecord(i, { channel: 'ch-bk', tag: 'B', key: 'bk', destination, payload: `payload ${i}` }));
      return result.id;
    }),
  );
  const claimed = await queue.claim({ destination, owner: 'w1', leaseMs: 60_000, limit: n, now: new Date(Date.now() + 1000) });
  assert.equal(claimed.length, ids.length);
  return claimed;
}

async function withStore(body: (store: SqliteStore, path: string) => Promise<void>): Promise<void> {
  const path = newPath();
  const store = await openSqliteStore({ path });
  try {
    await body(store, path);
  } finally {
    await store.close();
  }
}

const done = { startedAt: new Date(1000), finishedAt: new Date(2000) };

describe('SQLite delivery bookkeeping', () => {
  test('16 concurrent complete/fail calls share one transaction; each records its attempt and event', async () => {
    await withStore(async (store) => {
      const ds = await seed(store.messages, store.queue, 16);
      const before = store.queue.bookkeepingStats();
      await Promise.all(
        ds.map((d, i) =>
          i % 4 === 3
            ? store.queue.fail(d.id, 'w1', { ...done, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'transient', retryAt: new Date(5000) })
            : store.queue.complete(d.id, 'w1', done),
        ),
      );
      const after = store.queue.bookkeepingStats();
      assert.deepEqual({ flushes: after.flushes - before.flushes, transactions: after.transactions - before.transactions, outcomes: after.outcomes - before.outcomes }, { flushes: 1, transactions: 1, outcomes: 16 });
      for (const [i, d] of ds.entries()) {
        const retry = i % 4 === 3;
        assert.equal((await store.queue.get(d.id))?.status, retry ? 'pending' : 'delivered');
        assert.equal((await store.queue.attempts(d.id)).length, 1);
        const events = (await store.messages.events(d.messageId)).filter((e) => e.deliveryId === d.id);
        assert.deepEqual(
          events.map((e) => [e.type, e.at.getTime(), e.detail]),
          [
            retry
              ? ['failed', 2000, { destination: 'out', attempt: 1, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'transient', result: 'retry', retryAt: new Date(5000).toISOString() }]
              : ['delivered', 2000, { destination: 'out', attempt: 1 }],
          ],
        );
        assert.equal((await store.messages.get(d.messageId))?.status, retry ? 'queued' : 'delivered');
      }
    });
  });

  test('a lost lease in a shared batch rejects only its own call; the rest commit', async () => {
    await withStore(async (store) => {
      const ds = await seed(store.messages, store.queue, 6);
      const lost = ds[2] as Delivery;
      const missing = 'no-such-delivery';
      const before = store.queue.bookkeepingStats();
      const results = await Promise.allSettled([
        ...ds.map((d) => store.queue.complete(d.id, d.id === lost.id ? 'intruder' : 'w1', done)),
        store.queue.fail(missing, 'w1', { ...done, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'permanent' }),
      ]);
      assert.equal(store.queue.bookkeepingStats().transactions - before.transactions, 1, 'one shared transaction');
      const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : isSwitchboardError(r.reason) ? r.reason.code : String(r.reason)));
      assert.deepEqual(codes, ['ok', 'ok', 'SWB_ERR_QUEUE_LEASE_LOST', 'ok', 'ok', 'ok', 'SWB_ERR_STORE_NOT_FOUND']);
      for (const d of ds) {
        const isLost = d.id === lost.id;
        assert.equal((await store.queue.get(d.id))?.status, isLost ? 'leased' : 'delivered');
        assert.equal((await store.queue.attempts(d.id)).length, isLost ? 0 : 1);
        assert.equal((await store.messages.events(d.messageId)).filter((e) => e.deliveryId === d.id).length, isLost ? 0 : 1);
      }
    });
  });

  test('bookkeeping commits with synchronous=NORMAL; ingest commits NORMAL then syncs the WAL before answering; enqueue and operator actions keep FULL', async () => {
    const path = newPath();
    const log: string[] = [];
    const db = new Database(path, { verbose: (sql) => log.push(String(sql)) });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      runSqliteMigrations(db);
      const messages = new SqliteMessageStore(db);
      const queue = new SqliteDeliveryQueue(db);
      log.length = 0;
      const ds = await seed(messages, queue, 4);
      const [a, b, c] = ds as [Delivery, Delivery, Delivery];
      await Promise.all([queue.complete(a.id, 'w1', done), queue.fail(b.id, 'w1', { ...done, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'permanent' })]);
      await queue.fail(c.id, 'w1', { ...done, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'ambiguous' });
      await queue.retry(b.id);
      const m = await messages.ingest({ channelId: 'ch-bk', content: 'MSH|^~\\&|A\r', contentType: 'hl7v2', receivedAt: new Date(), source: 'test', correlationId: 'c', configRevision: 1 });
      assert.equal(m.kind, 'stored');

      // Replay the trace: the level in force at each COMMIT, and what the transaction wrote.
      let level = 'FULL';
      let body: string[] = [];
      const commits: { level: string; kind: string }[] = [];
      for (const sql of log) {
        const set = /^PRAGMA synchronous = (\w+)$/i.exec(sql);
        if (set !== null) {
          level = { '1': 'NORMAL', '2': 'FULL', '3': 'EXTRA' }[set[1] ?? ''] ?? (set[1] ?? '').toUpperCase();
          continue;
        }
        if (sql.startsWith('BEGIN')) body = [];
        else if (sql === 'COMMIT') {
          const text = body.join('\n');
          // Full-text catch-up (ADR 0005) commits on its own schedule: not part of this trace.
          if (text.includes('INSERT INTO messages_fts')) continue;
          const kind = text.includes('INSERT INTO messages ')
            ? 'ingest'
            : text.includes('UPDATE deliveries SET lease_owner = ')
              ? 'claim'
              : text.includes('INSERT INTO delivery_attempts')
                ? 'outcome'
                : text.includes("SET status = 'pending', attempts = 0")
                  ? 'retry'
                  : 'other';
          commits.push({ level, kind });
        } else body.push(sql);
      }
      // Ingest's fsync is the WAL sync that follows its commit (sqlite-wal-sync.ts): one per ingest here.
      assert.deepEqual(commits, [
        { level: 'NORMAL', kind: 'ingest' },
        { level: 'NORMAL', kind: 'claim' },
        { level: 'NORMAL', kind: 'outcome' },
        { level: 'NORMAL', kind: 'outcome' },
        { level: 'FULL', kind: 'retry' },
        { level: 'NORMAL', kind: 'ingest' },
      ]);
      assert.equal(messages.stats().walSyncs, 2, 'each ingest waited for a WAL sync of its own');
      assert.equal(db.pragma('synchronous', { simple: true }), 2, 'the store setting is back after bookkeeping');
    } finally {
      db.close();
    }
  });

  test('a store opened with synchronous=NORMAL stays NORMAL', async () => {
    const store = await openSqliteStore({ path: newPath(), synchronous: 'NORMAL' });
    try {
      const [d] = await seed(store.messages, store.queue, 1);
      await store.queue.complete((d as Delivery).id, 'w1', done);
      assert.equal(store.settings().synchronous, 1);
      assert.equal((await store.queue.get((d as Delivery).id))?.status, 'delivered');
    } finally {
      await store.close();
    }
  });

  test('completed deliveries survive SIGKILL of the process that completed them (no close, no checkpoint)', { timeout: 60_000 }, async () => {
    const path = newPath();
    const child = spawn(process.execPath, ['--import', 'tsx', join(dirname(fileURLToPath(import.meta.url)), 'sqlite-test-completer.ts'), path, '20'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /^completed (.*)$/m.exec(out);
        if (m !== null) {
          clearInterval(timer);
          resolve(m[1] ?? '');
        } else if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`child exited early (${child.exitCode}): ${err.slice(0, 2000)}`));
        }
      }, 10);
    });
    const report = JSON.parse(line) as { ids: string[]; synchronous: number; stats: { transactions: number; outcomes: number } };
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.equal(report.ids.length, 20);
    assert.equal(report.synchronous, 2, 'the child ran with synchronous=FULL for ingest');
    assert.equal(report.stats.outcomes, 20);
    assert.ok(report.stats.transactions <= 2, `claim + one shared outcome transaction (${report.stats.transactions})`);
    // The outcomes are in the WAL (not checkpointed), written without fsync.
    assert.ok(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0, 'the WAL holds the commits');

    const reopened = await openSqliteStore({ path });
    try {
      for (const id of report.ids) {
        const d = await reopened.queue.get(id);
        assert.equal(d?.status, 'delivered', `delivery ${id} is delivered after the kill`);
        assert.equal((await reopened.queue.attempts(id)).length, 1);
        const events = await reopened.messages.events(d.messageId);
        assert.deepEqual(events.filter((e) => e.deliveryId === id).map((e) => e.type), ['delivered']);
        assert.equal((await reopened.messages.get(d.messageId))?.status, 'delivered');
      }
    } finally {
      await reopened.close();
    }
  });

  test('every statement that reads deliveries reads through an index, and only the indexes they use are kept (migration 11)', async () => {
    await withStore(async (store, path) => {
      const plans = store.queue.explainReads();
      const used = new Set<string>();
      for (const [name, plan] of Object.entries(plans)) {
        assert.ok(plan.length > 0, name);
        for (const line of plan) {
          // A SCAN or SEARCH of deliveries names its index; a bare SCAN would read every row.
          if (/\b(SCAN|SEARCH) (d|e|deliveries)\b/.test(line)) assert.match(line, /USING (COVERING )?INDEX (\w+)/, `${name}: ${line}`);
          const index = /USING (?:COVERING )?INDEX (\w+)/.exec(line)?.[1];
          if (index !== undefined) used.add(index);
          assert.ok(!line.includes('TEMP B-TREE FOR ORDER BY'), `${name} sorts: ${line}`);
        }
      }
      assert.match(plans.stats?.join(' | ') ?? '', /deliveries_blocking_by_key/);
      assert.match(plans.exceptions?.join(' | ') ?? '', /deliveries_exceptions\b/);
      assert.match(plans.exceptionsFor?.join(' | ') ?? '', /deliveries_exceptions_by_destination/);
      const db = new Database(path, { readonly: true });
      try {
        const indexes = db
          .prepare<[], { name: string }>(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'deliveries' AND sql IS NOT NULL ORDER BY name`)
          .all()
          .map((r) => r.name);
        // Each index is written on every delivery (or every failure): none is kept that no read uses.
        assert.deepEqual(indexes.filter((name) => !used.has(name)), []);
        for (const gone of ['deliveries_by_key', 'deliveries_claimable', 'deliveries_by_status']) assert.ok(!indexes.includes(gone), gone);
      } finally {
        db.close();
      }
    });
  });

  test('a claim writes the lease columns only: the row stays pending (no partial-index entry moves) and reads as leased (ADR 0012)', async () => {
    await withStore(async (store, path) => {
      const [d] = (await seed(store.messages, store.queue, 1)) as [Delivery];
      assert.equal(d.status, 'leased');
      assert.equal((await store.queue.get(d.id))?.status, 'leased');
      assert.deepEqual((await store.queue.forMessage(d.messageId)).map((x) => [x.status, x.leaseOwner]), [['leased', 'w1']]);
      const raw = new Database(path, { readonly: true });
      try {
        assert.deepEqual(raw.prepare('SELECT status, lease_owner FROM deliveries WHERE id = ?').get(d.id), { status: 'pending', lease_owner: 'w1' });
      } finally {
        raw.close();
      }
      // Leased means leased everywhere: not claimable while the lease is live, not resolvable, and
      // only its owner records the outcome.
      assert.deepEqual(await store.queue.claim({ destination: 'out', owner: 'w2', leaseMs: 1000, limit: 5 }), []);
      await assert.rejects(store.queue.resolve(d.id), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_QUEUE_BAD_TRANSITION' && e.params['status'] === 'leased');
      await assert.rejects(store.queue.complete(d.id, 'w2', done), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_QUEUE_LEASE_LOST');
      assert.equal((await store.messages.get(d.messageId))?.status, 'queued');
      await store.queue.complete(d.id, 'w1', done);
      assert.equal((await store.queue.get(d.id))?.status, 'delivered');
      assert.equal((await store.messages.get(d.messageId))?.status, 'delivered');
    });
  });

  test('a row leased by an earlier version (status leased) is still leased: its owner completes it, others claim it only after expiry', async () => {
    await withStore(async (store, path) => {
      const [a, b] = (await seed(store.messages, store.queue, 2)) as [Delivery, Delivery];
      const raw = new Database(path);
      try {
        raw.prepare(`UPDATE deliveries SET status = 'leased' WHERE id IN (?, ?)`).run(a.id, b.id);
      } finally {
        raw.close();
      }
      assert.equal((await store.queue.get(a.id))?.status, 'leased');
      assert.deepEqual(await store.queue.claim({ destination: 'out', owner: 'w2', leaseMs: 1000, limit: 5 }), []);
      await store.queue.complete(a.id, 'w1', done);
      assert.equal((await store.queue.get(a.id))?.status, 'delivered');
      const later = new Date(Date.now() + 3_600_000);
      assert.deepEqual((await store.queue.claim({ destination: 'out', owner: 'w2', leaseMs: 1000, limit: 5, now: later })).map((x) => [x.id, x.status, x.leaseOwner]), [[b.id, 'leased', 'w2']]);
      await store.queue.complete(b.id, 'w2', done);
      assert.equal((await store.messages.get(b.messageId))?.status, 'delivered');
    });
  });

  test('a claim writes the outcomes queued for the next flush in its own transaction (ADR 0012)', async () => {
    await withStore(async (store) => {
      // Two keys; the second delivery of key k1 becomes claimable only once the first is delivered.
      const ingest = (i: number, key: string): Promise<unknown> =>
        store.messages.ingest(queuedRecord(i, { channel: 'ch-bk', tag: 'M', key: 'm', destination: 'm', payload: `p${i}`, orderingKey: key }));
      for (const [i, key] of ['k1', 'k2', 'k1'].entries()) await ingest(i, key);
      const first = await store.queue.claim({ destination: 'm', owner: 'w1', leaseMs: 60_000, limit: 10 });
      assert.equal(first.length, 2, 'the heads of k1 and k2');
      const before = store.queue.bookkeepingStats();
      const completing = first.map((d) => store.queue.complete(d.id, 'w1', done));
      const next = await store.queue.claim({ destination: 'm', owner: 'w1', leaseMs: 60_000, limit: 10 });
      await Promise.all(completing);
      const after = store.queue.bookkeepingStats();
      assert.deepEqual(
        { flushes: after.flushes - before.flushes, transactions: after.transactions - before.transactions, outcomes: after.outcomes - before.outcomes },
        { flushes: 0, transactions: 1, outcomes: 2 },
        'the outcomes and the claim: one transaction, no flush of their own',
      );
      assert.equal(next.length, 1, 'the second delivery of k1, freed by the outcome written first');
      for (const d of first) assert.equal((await store.queue.get(d.id))?.status, 'delivered');
      // A lost lease among them still rejects alone.
      const lost = store.queue.complete(next[0]?.id ?? '', 'intruder', done);
      assert.deepEqual(await store.queue.claim({ destination: 'm', owner: 'w1', leaseMs: 60_000, limit: 10 }), []);
      await assert.rejects(lost, (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_QUEUE_LEASE_LOST');
      assert.equal((await store.queue.get(next[0]?.id ?? ''))?.status, 'leased');
    });
  });

  test('a claim that cannot write (the file is locked) rejects the outcomes it took with its error; nothing of them is written', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path, busyTimeoutMs: 20 });
    try {
      const ds = await seed(store.messages, store.queue, 2);
      const other = new Database(path, { timeout: 20 });
      try {
        other.exec('BEGIN IMMEDIATE');
        const completing = ds.map((d) => store.queue.complete(d.id, 'w1', done));
        await assert.rejects(store.queue.claim({ destination: 'out', owner: 'w1', leaseMs: 60_000, limit: 5 }), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_UNAVAILABLE');
        for (const c of completing) await assert.rejects(c, (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_UNAVAILABLE');
        other.exec('ROLLBACK');
      } finally {
        other.close();
      }
      for (const d of ds) {
        assert.equal((await store.queue.get(d.id))?.status, 'leased', 'still leased: the dispatcher sends it again when the lease expires');
        assert.deepEqual(await store.queue.attempts(d.id), []);
      }
    } finally {
      await store.close();
    }
  });

  test('queued and delivered events are not rows (ADR 0012); the history reads as before, in commit order', async () => {
    await withStore(async (store, path) => {
      const at = (ms: number): Date => new Date(ms);
      const id = await store.messages.ingest({
        channelId: 'ch-h',
        content: 'MSH|^~\\&|A|B|C|D|||ADT^A01|H1|P|2.5.1\r',
        contentType: 'hl7v2',
        receivedAt: at(1000),
        source: 'test',
        correlationId: 'corr-h',
        configRevision: 3,
        outcome: {
          kind: 'queued',
          deliveries: [
            { destination: 'h1', payload: 'p1', idempotencyKey: 'idem-h1', maxAttempts: 1 },
            { destination: 'h2', payload: 'p2', idempotencyKey: 'idem-h2', maxAttempts: 3 },
          ],
        },
      });
      assert.equal(id.kind, 'stored');
      const messageId = id.kind === 'stored' ? id.id : '';
      const [d1] = await store.queue.claim({ destination: 'h1', owner: 'w1', leaseMs: 60_000, limit: 1, now: at(9e12) });
      const [d2] = await store.queue.claim({ destination: 'h2', owner: 'w1', leaseMs: 60_000, limit: 1, now: at(9e12) });
      assert.ok(d1 !== undefined && d2 !== undefined);
      // h1 fails for good; an operator retries it (an appended event); h2 is delivered; h1 is then
      // delivered at its second attempt, though its finishedAt is older than h2's: commit order counts.
      await store.queue.fail(d1.id, 'w1', { startedAt: at(2000), finishedAt: at(2100), errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'permanent' });
      await store.queue.retry(d1.id);
      await store.messages.appendEvent({ messageId, deliveryId: d1.id, at: at(3000), type: 'retried', detail: { actor: 'ops' } });
      await store.queue.complete(d2.id, 'w1', { startedAt: at(4000), finishedAt: at(4100), response: 'HTTP 200' });
      const [again] = await store.queue.claim({ destination: 'h1', owner: 'w1', leaseMs: 60_000, limit: 1, now: at(9e12) });
      assert.equal(again?.id, d1.id);
      await store.queue.complete(d1.id, 'w1', { startedAt: at(3500), finishedAt: at(3600) });
      await store.messages.appendEvent({ messageId, at: at(500), type: 'duplicate', detail: { source: 'test' } });
      const history = (await store.messages.events(messageId)).map((e) => [e.type, e.at.getTime(), e.deliveryId ?? null, e.detail ?? null]);
      assert.deepEqual(history.slice(2), [
        ['failed', 2100, d1.id, { destination: 'h1', attempt: 1, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'permanent', result: 'failed' }],
        ['retried', 3000, d1.id, { actor: 'ops' }],
        ['delivered', 4100, d2.id, { destination: 'h2', attempt: 1 }],
        // The operator retry reset the delivery's attempts: the event says attempt 1, as before.
        ['delivered', 3600, d1.id, { destination: 'h1', attempt: 1 }],
        ['duplicate', 500, null, { source: 'test' }],
      ]);
      assert.deepEqual(history[0]?.slice(0, 2), ['received', 1000]);
      assert.deepEqual([history[1]?.[0], history[1]?.[3]], ['queued', { deliveries: 2 }]);
      assert.deepEqual((await store.queue.attempts(d1.id)).map((a) => [a.attempt, a.outcome]), [[1, 'failed'], [2, 'delivered']]);
      assert.deepEqual((await store.queue.attempts(d2.id)).map((a) => [a.attempt, a.outcome, a.response]), [[1, 'delivered', 'HTTP 200']]);
      const raw = new Database(path, { readonly: true });
      try {
        assert.deepEqual(raw.prepare('SELECT type FROM message_events WHERE message_id = ? ORDER BY seq').all(messageId), [{ type: 'failed' }, { type: 'retried' }, { type: 'duplicate' }]);
      } finally {
        raw.close();
      }
    });
  });

  test('messages stored before migration 12 keep their queued and delivered event rows, each returned once', async () => {
    const path = newPath();
    const db = new Database(path);
    let messageId = '';
    let deliveryId = '';
    try {
      db.pragma('journal_mode = WAL');
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 11));
      // What version 11 wrote for an ingest with one delivery, delivered at its first attempt.
      messageId = 'M-V11';
      deliveryId = 'D-V11';
      db.prepare(`INSERT INTO messages (id, channel_id, content, content_type, received_at, source, patient_ids, correlation_id, config_revision, status, updated_at)
        VALUES (?, 'ch', 'x', 'text', 1000, 's', '[]', 'c', 2, 'delivered', 1000)`).run(messageId);
      db.prepare(`INSERT INTO deliveries (id, message_id, destination, payload, idempotency_key, status, attempts, max_attempts, next_attempt_at, created_at, updated_at)
        VALUES (?, ?, 'out', 'p', 'k', 'delivered', 1, 3, 1000, 1000, 1200)`).run(deliveryId, messageId);
      db.prepare(`INSERT INTO delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome) VALUES (?, 1, 1100, 1200, 'delivered')`).run(deliveryId);
      db.prepare(`INSERT INTO message_events (message_id, delivery_id, at, type, detail) VALUES (?, NULL, 1000, 'queued', '{"deliveries":1}')`).run(messageId);
      db.prepare(`INSERT INTO message_events (message_id, delivery_id, at, type, detail) VALUES (?, ?, 1200, 'delivered', '{"destination":"out","attempt":1}')`).run(messageId, deliveryId);
    } finally {
      db.close();
    }
    const store = await openSqliteStore({ path });
    try {
      assert.deepEqual(
        (await store.messages.events(messageId)).map((e) => [e.type, e.at.getTime(), e.deliveryId ?? null, e.detail]),
        [
          ['received', 1000, null, { configRevision: 2 }],
          ['queued', 1000, null, { deliveries: 1 }],
          ['delivered', 1200, deliveryId, { destination: 'out', attempt: 1 }],
        ],
      );
    } finally {
      await store.close();
    }
  });

  test("a claim waits for the sync in flight that covers its messages, without starting one of its own; after a failed sync it asks for one", async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    const queued = (i: number): IngestRecord => queuedRecord(i, { channel: 'ch-sync', tag: 'S', key: 's', destination: 'dest-sync', payload: `p${i}` });
    try {
      await store.messages.ingest(queued(0));
      await store.queue.claim({ destination: 'dest-sync', owner: 'w1', limit: 5, leaseMs: 60_000 });
      const syncs = holdSyncs();
      const ingest = store.messages.ingest(queued(1));
      await settlesSoon(ingest);
      assert.equal(syncs.started, 1, "the ingest's sync is in flight");
      const claim = store.queue.claim({ destination: 'dest-sync', owner: 'w1', limit: 5, leaseMs: 60_000 });
      assert.equal(await settlesSoon(claim), false, 'the claim waits for that sync');
      assert.equal(syncs.started, 1, 'and starts none of its own');
      syncs.releaseAll();
      assert.equal(await settlesSoon(claim), true, 'the claim returns once that sync is done');
      assert.equal(syncs.started, 1, 'no second sync');
      assert.equal((await claim).length, 1);
      await ingest;
      // A sync that fails: the ingest is refused, and the next claim of its delivery asks for a new sync.
      const failing = store.messages.ingest(queued(2));
      await settlesSoon(failing);
      syncs.releaseAll(eio());
      await assert.rejects(failing, (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_UNAVAILABLE');
      const started = syncs.started;
      const after = store.queue.claim({ destination: 'dest-sync', owner: 'w1', limit: 5, leaseMs: 60_000 });
      assert.equal(await settlesSoon(after), false, 'the claim waits for a sync of its own');
      assert.equal(syncs.started, started + 1);
      syncs.releaseAll();
      assert.equal((await after).length, 1);
    } finally {
      fs.fdatasync = realFdatasync;
      await store.close();
    }
  });

  test('migration 11 keeps what exceptions() and stats() answer on an existing database', async () => {
    const path = newPath();
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 10));
      // Today's message store writes migration 12's columns; they touch nothing migration 11 does.
      db.exec(SQLITE_MIGRATIONS.find((m) => m.version === 12)?.sql ?? '');
      const messages = new SqliteMessageStore(db);
      const queue = new SqliteDeliveryQueue(db);
      const ds = [...(await seed(messages, queue, 6, 'a')), ...(await seed(messages, queue, 3, 'b'))];
      const fail = (d: Delivery, failureClass: 'permanent' | 'ambiguous', park = false): Promise<void> =>
        queue.fail(d.id, 'w1', { ...done, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass, park });
      const [a0, a1, a2, a3, a4, , b0, b1] = ds as [Delivery, Delivery, Delivery, Delivery, Delivery, Delivery, Delivery, Delivery, Delivery];
      await Promise.all([queue.complete(a0.id, 'w1', done), fail(a1, 'permanent'), fail(a2, 'ambiguous'), fail(a3, 'permanent', true), fail(b0, 'permanent'), queue.complete(b1.id, 'w1', done)]);
      await queue.retry(a3.id);
      await queue.resolve(a4.id).catch(() => undefined); // leased: refused, stays leased
      const answers = async (): Promise<unknown> => ({
        all: (await queue.exceptions()).map((d) => [d.id, d.status]),
        a: (await queue.exceptions({ destination: 'a', limit: 1 })).map((d) => d.id),
        b: (await queue.exceptions({ destination: 'b' })).map((d) => d.id),
        stats: [(await queue.stats('a', new Date(0))).depth, (await queue.stats('b', new Date(0))).depth],
      });
      const before = await answers();
      // a: failed, ambiguous, retried (pending), two leased; b: failed, leased.
      assert.deepEqual((before as { stats: number[] }).stats, [5, 2]);
      assert.equal(runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 11)), 11);
      assert.deepEqual(await answers(), before);
    } finally {
      db.close();
    }
  });
});
