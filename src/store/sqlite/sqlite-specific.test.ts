import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isSwitchboardError } from '../../core/errors.ts';
import type { IngestRecord } from '../../core/ports/message-store.ts';
import { openSqliteStore, type SqliteStore } from './open-sqlite-store.ts';
import { ftsQuery, SqliteMessageStore } from './sqlite-message-store.ts';
import { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION, runSqliteMigrations } from './sqlite-migrations.ts';

let dir = '';
let counter = 0;
/** A fresh database path in the suite's temp directory. */
const newPath = (): string => join(dir, `db-${++counter}`, 'switchboard.db');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchboard-sqlite-specific-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function record(overrides: Partial<IngestRecord> = {}): IngestRecord {
  return {
    channelId: 'ch-1',
    content: 'MSH|^~\\&|A|B|C|D|20260105080000||ADT^A01|X1|P|2.5.1\rPID|1||P-1\r',
    contentType: 'hl7v2',
    receivedAt: new Date('2026-01-05T08:00:00.000Z'),
    source: 'mllp://127.0.0.1:1',
    correlationId: 'corr-1',
    configRevision: 1,
    ...overrides,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isSwitchboardError(error), `expected a SwitchboardError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** Reads the file with a connection of its own (the store may be open or closed). */
function inspect<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return read(db);
  } finally {
    db.close();
  }
}

describe('SQLite store: open and migrations', () => {
  test('a new file gets WAL, FULL sync, foreign keys, incremental auto_vacuum and every migration', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    assert.equal(store.kind, 'sqlite');
    assert.equal(store.schemaVersion, SQLITE_SCHEMA_VERSION);
    await store.close();
    inspect(path, (db) => {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('auto_vacuum', { simple: true }), 2, 'INCREMENTAL');
      const rows = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(rows, SQLITE_MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    });
  });

  test('synchronous is FULL by default and NORMAL on request; foreign keys and busy timeout are set', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    assert.deepEqual(store.settings(), { journalMode: 'wal', synchronous: 2, foreignKeys: true, busyTimeoutMs: 5000, autoVacuum: 2 });
    await rejectsWith(store.messages.appendEvent({ messageId: 'no-such-message', at: new Date(), type: 'x' }), 'SWB_ERR_STORE_NOT_FOUND');
    await store.close();
    const normal = await openSqliteStore({ path, synchronous: 'NORMAL', busyTimeoutMs: 250 });
    assert.deepEqual(normal.settings(), { journalMode: 'wal', synchronous: 1, foreignKeys: true, busyTimeoutMs: 250, autoVacuum: 2 });
    await normal.close();
  });

  test('reopening applies nothing twice and keeps the version', async () => {
    const path = newPath();
    const first = await openSqliteStore({ path });
    const id = await first.messages.ingest(record());
    await first.close();
    for (let i = 0; i < 3; i++) {
      const again = await openSqliteStore({ path });
      assert.equal(again.schemaVersion, SQLITE_SCHEMA_VERSION);
      assert.equal((await again.messages.get(id.id))?.id, id.id);
      await again.close();
    }
    inspect(path, (db) => {
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM schema_migrations').get() as { n: number }).n, SQLITE_MIGRATIONS.length);
    });
  });

  test('a later migration is applied once, forward only, in its own transaction', async () => {
    const path = newPath();
    await (await openSqliteStore({ path })).close();
    const next = [...SQLITE_MIGRATIONS, { version: SQLITE_SCHEMA_VERSION + 1, name: 'test column', sql: 'ALTER TABLE messages ADD COLUMN test_extra TEXT' }];
    inspect(path, (db) => {
      assert.equal(runSqliteMigrations(db, next), SQLITE_SCHEMA_VERSION + 1);
      assert.equal(runSqliteMigrations(db, next), SQLITE_SCHEMA_VERSION + 1, 'idempotent');
      const broken = [...next, { version: SQLITE_SCHEMA_VERSION + 2, name: 'broken', sql: 'CREATE TABLE half (x); THIS IS NOT SQL' }];
      assert.throws(() => runSqliteMigrations(db, broken), (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_MIGRATION_FAILED');
      assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'half'`).get(), undefined, 'a failed migration leaves nothing behind');
      assert.equal((db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v, SQLITE_SCHEMA_VERSION + 1);
    });
  });

  test('migration 3 rebuilds dedupe_keys without the foreign key and keeps every key', async () => {
    const path = newPath();
    // A database as version 1 left it, with a key in it.
    mkdirSync(dirname(path), { recursive: true });
    inspect(path, (db) => {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version === 1));
      db.prepare(`INSERT INTO messages (id, channel_id, content, content_type, received_at, source, correlation_id, config_revision, status, updated_at)
        VALUES ('M1', 'ch', 'x', 'text', 1000, 's', 'c', 1, 'received', 1000)`).run();
      db.prepare(`INSERT INTO dedupe_keys (key, message_id, first_seen) VALUES ('K1', 'M1', 1000)`).run();
      assert.equal((db.pragma('foreign_key_list(dedupe_keys)') as unknown[]).length, 1);
      // Up to the last version that had the table (migration 10 folds it into messages).
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 9));
      assert.deepEqual(db.pragma('foreign_key_list(dedupe_keys)'), [], 'no foreign key left');
      assert.deepEqual(db.pragma('foreign_key_check'), []);
      assert.deepEqual(db.prepare('SELECT key, message_id, first_seen FROM dedupe_keys').all(), [{ key: 'K1', message_id: 'M1', first_seen: 1000 }]);
      const plan = (db.prepare('EXPLAIN QUERY PLAN SELECT key FROM dedupe_keys WHERE first_seen < 5').all() as { detail: string }[]).map((r) => r.detail).join('\n');
      assert.match(plan, /dedupe_keys_by_first_seen/);
    });
    const store = await openSqliteStore({ path });
    try {
      assert.equal(store.schemaVersion, SQLITE_SCHEMA_VERSION);
      const dup = await store.messages.ingest(record({ receivedAt: new Date(2000), dedupeKey: 'K1', dedupeWindowMs: 60_000 }));
      assert.deepEqual(dup, { kind: 'duplicate', id: 'M1', firstSeen: new Date(1000) });
    } finally {
      await store.close();
    }
  });

  test('migration 10 moves each kept dedupe key onto its message and starts the horizon at the oldest', async () => {
    const path = newPath();
    // A database as version 9 left it: two keys (one pointing at the newer of two copies) and a
    // message whose key was pruned already.
    mkdirSync(dirname(path), { recursive: true });
    inspect(path, (db) => {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 9));
      const insert = db.prepare(`INSERT INTO messages (id, channel_id, content, content_type, received_at, source, control_id, correlation_id, config_revision, status, updated_at)
        VALUES (?, 'ch', 'x', 'text', ?, 's', ?, 'c', 1, 'received', ?)`);
      for (const [id, at] of [['M-PRUNED', 500], ['M-A-OLD', 1000], ['M-A', 5000], ['M-B', 7000]] as const) insert.run(id, at, `CTL-${id}`, at);
      db.prepare('INSERT INTO dedupe_keys (key, message_id, first_seen) VALUES (?, ?, ?)').run('K-A', 'M-A', 5000);
      db.prepare('INSERT INTO dedupe_keys (key, message_id, first_seen) VALUES (?, ?, ?)').run('K-B', 'M-B', 7000);
    });
    const store = await openSqliteStore({ path });
    try {
      assert.equal(store.schemaVersion, SQLITE_SCHEMA_VERSION);
      inspect(path, (db) => {
        assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'dedupe_keys'`).get(), undefined, 'the table is gone');
        assert.deepEqual(db.prepare('SELECT id, dedupe_key FROM messages ORDER BY seq').all(), [
          { id: 'M-PRUNED', dedupe_key: null },
          { id: 'M-A-OLD', dedupe_key: null },
          { id: 'M-A', dedupe_key: 'K-A' },
          { id: 'M-B', dedupe_key: 'K-B' },
        ]);
        assert.deepEqual(db.prepare('SELECT before FROM dedupe_horizon').all(), [{ before: 5000 }]);
        assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'messages_by_control_id'`).get(), undefined, 'control ids are indexed in their own table');
      });
      const dupA = await store.messages.ingest(record({ receivedAt: new Date(6000), dedupeKey: 'K-A', dedupeWindowMs: 60_000 }));
      assert.deepEqual(dupA, { kind: 'duplicate', id: 'M-A', firstSeen: new Date(5000) });
      assert.equal(await store.messages.pruneDedupeKeys(new Date(6000)), 1, 'K-A, first seen at 5000');
      assert.equal((await store.messages.ingest(record({ receivedAt: new Date(6500), dedupeKey: 'K-A', dedupeWindowMs: 60_000 }))).kind, 'stored');
      assert.equal((await store.messages.ingest(record({ receivedAt: new Date(7500), dedupeKey: 'K-B', dedupeWindowMs: 60_000 }))).kind, 'duplicate');
      assert.deepEqual((await store.messages.search({ controlId: 'CTL-M-A-OLD' })).items.map((m) => m.id), ['M-A-OLD'], 'existing control ids copied');
    } finally {
      await store.close();
    }
  });

  test('a dedupe key names its newest copy: a copy past the window takes it over, a late older copy does not', async () => {
    const store = await openSqliteStore({ path: newPath() });
    try {
      const key = { dedupeKey: 'K-COPY', dedupeWindowMs: 1000 };
      const first = await store.messages.ingest(record({ receivedAt: new Date(10_000), ...key }));
      const second = await store.messages.ingest(record({ receivedAt: new Date(20_000), ...key }));
      assert.equal(second.kind, 'stored');
      // A late copy received before the holder, outside its window: stored, and the key stays put.
      const late = await store.messages.ingest(record({ receivedAt: new Date(15_000), ...key }));
      assert.equal(late.kind, 'stored');
      assert.deepEqual(await store.messages.ingest(record({ receivedAt: new Date(20_500), ...key })), { kind: 'duplicate', id: second.id, firstSeen: new Date(20_000) });
      // The first copy's key was let go of: one key, one message, as the key table had it.
      assert.equal(await store.messages.pruneDedupeKeys(new Date(30_000)), 1);
      assert.notEqual(first.id, second.id);
    } finally {
      await store.close();
    }
  });

  test('dedupe lookups and the prune walk use indexes, not a scan of messages', async () => {
    const path = newPath();
    await (await openSqliteStore({ path })).close();
    inspect(path, (db) => {
      const plan = (sql: string, ...params: unknown[]): string =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
      assert.match(
        plan('SELECT id, received_at FROM messages WHERE dedupe_key = ? AND received_at >= (SELECT before FROM dedupe_horizon WHERE id = 1) ORDER BY received_at DESC LIMIT 1', 'k'),
        /USING INDEX messages_by_dedupe_key \(dedupe_key=\? AND received_at>\?\)/,
      );
      const walk = plan(
        'SELECT received_at, id, dedupe_key IS NOT NULL AS keyed FROM messages WHERE received_at >= @from AND received_at < @before AND (received_at > @from OR id > @after) ORDER BY received_at, id LIMIT @limit',
        { from: 0, before: 1, after: '', limit: 1 },
      );
      assert.match(walk, /USING INDEX messages_by_time/);
      assert.doesNotMatch(walk, /TEMP B-TREE/);
    });
  });

  test('migration 9 keeps patient ids (now by message seq), ascends the time indexes and an old message keeps one received event', async () => {
    const path = newPath();
    // A database as version 8 left it: a message written the old way, its patient ids by message
    // id and its `received` event as a row.
    mkdirSync(dirname(path), { recursive: true });
    inspect(path, (db) => {
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 8));
      for (const [id, at] of [['M-OLD-1', 1000], ['M-OLD-2', 2000]] as const) {
        db.prepare(`INSERT INTO messages (id, channel_id, content, content_type, received_at, source, patient_ids, correlation_id, config_revision, status, updated_at)
          VALUES (?, 'ch-old', 'x', 'text', ?, 's', '["PAT-OLD"]', 'c', 4, 'received', ?)`).run(id, at, at);
        db.prepare('INSERT INTO message_patient_ids (message_id, patient_id) VALUES (?, ?)').run(id, 'PAT-OLD');
        db.prepare(`INSERT INTO message_events (message_id, at, type, detail) VALUES (?, ?, 'received', '{"configRevision":4}')`).run(id, at);
      }
    });
    const store = await openSqliteStore({ path });
    try {
      assert.equal(store.schemaVersion, SQLITE_SCHEMA_VERSION);
      const page = await store.messages.search({ patientId: 'PAT-OLD' });
      assert.deepEqual(page.items.map((m) => m.id), ['M-OLD-2', 'M-OLD-1'], 'found through the rebuilt patient index, newest first');
      const events = await store.messages.events('M-OLD-1');
      assert.deepEqual(events, [{ messageId: 'M-OLD-1', at: new Date(1000), type: 'received', detail: { configRevision: 4 } }], 'the stored received event, not a second one');
      // A message stored now is found by the same patient id next to the old ones.
      const fresh = await store.messages.ingest(record({ channelId: 'ch-old', receivedAt: new Date(3000), patientIds: ['PAT-OLD'] }));
      assert.deepEqual((await store.messages.search({ patientId: 'PAT-OLD' })).items.map((m) => m.id), [fresh.id, 'M-OLD-2', 'M-OLD-1']);
    } finally {
      await store.close();
    }
    inspect(path, (db) => {
      assert.deepEqual(db.pragma('foreign_key_check'), []);
      assert.equal(db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'message_patient_ids_by_message'`).get(), undefined, 'the unread index is gone');
      assert.deepEqual(
        (db.prepare('SELECT name FROM pragma_table_info(?) ORDER BY cid').all('message_patient_ids') as { name: string }[]).map((c) => c.name),
        ['patient_id', 'message_seq'],
      );
      for (const index of ['messages_by_time', 'messages_by_channel_time', 'messages_by_status_time', 'messages_by_type_time']) {
        const keys = (db.prepare('SELECT desc FROM pragma_index_xinfo(?) WHERE key = 1').all(index) as { desc: number }[]).map((k) => k.desc);
        assert.ok(keys.length >= 2 && keys.every((d) => d === 0), `${index} ascends (new entries append on the right): ${JSON.stringify(keys)}`);
      }
    });
  });

  test('a new message has no received event row; events() puts it first, from the message row', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    let plain = '';
    let queued = '';
    try {
      plain = (await store.messages.ingest(record({ receivedAt: new Date(5000), configRevision: 7 }))).id;
      queued = (
        await store.messages.ingest(
          record({ receivedAt: new Date(6000), configRevision: 8, outcome: { kind: 'queued', deliveries: [{ destination: 'd', payload: 'p', idempotencyKey: 'k', maxAttempts: 3 }] } }),
        )
      ).id;
      assert.deepEqual(await store.messages.events(plain), [{ messageId: plain, at: new Date(5000), type: 'received', detail: { configRevision: 7 } }]);
      const history = await store.messages.events(queued);
      assert.deepEqual(history.map((e) => e.type), ['received', 'queued']);
      assert.deepEqual(history[0], { messageId: queued, at: new Date(6000), type: 'received', detail: { configRevision: 8 } });
      assert.deepEqual(await store.messages.events('no-such-message'), []);
    } finally {
      await store.close();
    }
    inspect(path, (db) => {
      const rows = db.prepare(`SELECT message_id, type FROM message_events WHERE type = 'received'`).all();
      assert.deepEqual(rows, [], 'received events are not written at ingest');
    });
  });

  test('a schema newer than the code is refused with SWB_ERR_STORE_SCHEMA_TOO_NEW', async () => {
    const path = newPath();
    await (await openSqliteStore({ path })).close();
    inspect(path, (db) => db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(SQLITE_SCHEMA_VERSION + 5, 'from the future', Date.now()));
    await rejectsWith(openSqliteStore({ path }), 'SWB_ERR_STORE_SCHEMA_TOO_NEW');
  });
});

describe('SQLite store: group commit', () => {
  let store: SqliteStore;
  let path = '';
  before(async () => {
    path = newPath();
    store = await openSqliteStore({ path });
  });
  after(async () => {
    await store.close();
  });

  test('500 concurrent ingests resolve, are all stored, and share a few transactions', async () => {
    const start = store.messages.stats();
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => store.messages.ingest(record({ channelId: 'ch-gc', controlId: `G${i}`, content: `MSH|^~\\&|G|${i}\r` }))));
    assert.ok(results.every((r) => r.kind === 'stored'));
    assert.equal(new Set(results.map((r) => r.id)).size, 500);
    const stats = store.messages.stats();
    const transactions = stats.transactions - start.transactions;
    assert.equal(stats.rows - start.rows, 500);
    assert.ok(transactions <= 4, `500 ingests took ${transactions} transactions`);
    const count = inspect(path, (db) => (db.prepare(`SELECT COUNT(*) AS n FROM messages WHERE channel_id = 'ch-gc'`).get() as { n: number }).n);
    assert.equal(count, 500, 'committed: visible to another connection');
  });

  test('an invalid record fails alone; the rest of its batch is stored', async () => {
    const results = await Promise.allSettled([
      store.messages.ingest(record({ channelId: 'ch-bad', controlId: 'ok-1' })),
      store.messages.ingest(record({ channelId: 'ch-bad', receivedAt: new Date(Number.NaN) })),
      store.messages.ingest(record({ channelId: 'ch-bad', controlId: 'ok-2' })),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    const failure = results[1];
    assert.ok(failure?.status === 'rejected' && isSwitchboardError(failure.reason) && failure.reason.code === 'SWB_ERR_STORE_INVALID_RECORD');
    assert.equal((await store.messages.search({ channelId: 'ch-bad' })).items.length, 2);
  });

  test('a row the database refuses is isolated: the batch falls back to one transaction per row', async () => {
    // Another connection adds a trigger that rejects one channel, as a stand-in for any row-level failure.
    inspect(path, (db) => db.exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.channel_id = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END`));
    try {
      const before = store.messages.stats();
      const results = await Promise.allSettled([
        ...Array.from({ length: 5 }, (_, i) => store.messages.ingest(record({ channelId: 'ch-iso', controlId: `I${i}`, dedupeKey: 'iso-dup', dedupeWindowMs: 60_000 }))),
        store.messages.ingest(record({ channelId: 'boom' })),
        ...Array.from({ length: 5 }, (_, i) => store.messages.ingest(record({ channelId: 'ch-iso', controlId: `J${i}` }))),
      ]);
      assert.equal(results.filter((r) => r.status === 'rejected').length, 1);
      const refused = results[5];
      assert.ok(refused?.status === 'rejected' && isSwitchboardError(refused.reason) && refused.reason.code === 'SWB_ERR_STORE_QUERY_FAILED');
      // In-batch dedupe still holds after the fallback: the first of the five is stored, the rest are duplicates of it.
      const firstFive = results.slice(0, 5).map((r) => (r.status === 'fulfilled' ? r.value : undefined));
      assert.equal(firstFive[0]?.kind, 'stored');
      assert.ok(firstFive.slice(1).every((r) => r?.kind === 'duplicate' && r.id === firstFive[0]?.id));
      assert.equal((await store.messages.search({ channelId: 'ch-iso' })).items.length, 6);
      assert.ok(store.messages.stats().transactions - before.transactions >= 10, 'one transaction per row after the batch failed');
    } finally {
      inspect(path, (db) => db.exec('DROP TRIGGER refuse_boom'));
    }
  });

  test('ingests carrying deliveries and events still share transactions, and index their text', async () => {
    const start = store.messages.stats();
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        store.messages.ingest(
          record({
            channelId: 'ch-gco',
            controlId: `GO${i}`,
            content: `MSH|^~\\&|GO|${i}\rNTE|1||quokka${i}\r`,
            outcome: { kind: 'queued', deliveries: [{ destination: 'dest-gco', orderingKey: `K${i % 3}`, payload: `p${i}`, idempotencyKey: `i${i}`, maxAttempts: 2 }] },
          }),
        ),
      ),
    );
    assert.ok(results.every((r) => r.kind === 'stored'));
    const transactions = store.messages.stats().transactions - start.transactions;
    assert.ok(transactions <= 3, `300 ingests took ${transactions} transactions`);
    // Full text is indexed after the commit (ADR 0005); bring it up to date before checking it.
    store.messages.catchUpIndex();
    inspect(path, (db) => {
      assert.equal((db.prepare(`SELECT COUNT(*) AS n FROM deliveries WHERE destination = 'dest-gco'`).get() as { n: number }).n, 300);
      // Deliveries in call order (seq), whatever the batch boundaries.
      const payloads = (db.prepare(`SELECT payload FROM deliveries WHERE destination = 'dest-gco' ORDER BY seq`).all() as { payload: string }[]).map((r) => r.payload);
      assert.deepEqual(payloads, Array.from({ length: 300 }, (_, i) => `p${i}`));
      db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`);
    });
    // The FTS rows written at the end of the batch point at the right messages.
    for (const i of [0, 137, 299]) assert.deepEqual((await store.messages.search({ text: `quokka${i}` })).items.map((m) => m.id), [results[i]?.id]);
  });

  test('close() flushes ingests still queued, and they survive reopening', async () => {
    const p = newPath();
    const s = await openSqliteStore({ path: p });
    const pending = Array.from({ length: 20 }, (_, i) => s.messages.ingest(record({ channelId: 'ch-late', controlId: `L${i}`, patientIds: [`PL${i}`] })));
    await s.close();
    const ids = (await Promise.all(pending)).map((r) => r.id);
    const reopened = await openSqliteStore({ path: p });
    try {
      for (const [i, id] of ids.entries()) {
        const m = await reopened.messages.get(id);
        assert.equal(m?.controlId, `L${i}`);
        assert.deepEqual(m?.patientIds, [`PL${i}`]);
      }
      await rejectsWith(s.messages.ingest(record()), 'SWB_ERR_STORE_UNAVAILABLE');
    } finally {
      await reopened.close();
    }
  });
});

describe('SQLite store: full-text index caught up outside the ingest transaction (ADR 0005)', () => {
  const ftsRow = (db: Database.Database): { indexed_seq: number } => db.prepare('SELECT indexed_seq FROM fts_progress').get() as { indexed_seq: number };
  const maxSeq = (db: Database.Database): number => (db.prepare('SELECT MAX(seq) AS n FROM messages').get() as { n: number }).n;

  /** A store whose indexer never runs by itself (no timer fires during the test, no batch fills). */
  function lazyStore(path: string): { db: Database.Database; messages: SqliteMessageStore } {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    runSqliteMigrations(db);
    return { db, messages: new SqliteMessageStore(db, { fts: { delayMs: 3_600_000, batchRows: 100_000 } }) };
  }

  test('ingest commits without indexing; a text search indexes first, so it finds every committed message', async () => {
    const { db, messages } = lazyStore(newPath());
    try {
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => messages.ingest(record({ controlId: `F${i}`, content: `MSH|^~\\&|F|${i}\rNTE|1||wombat${i}\r` }))));
      assert.equal(messages.ftsLag(), 20, 'nothing indexed in the ingest transaction');
      assert.equal(messages.stats().ftsSteps, 0);
      assert.deepEqual((await messages.search({ text: 'wombat7' })).items.map((m) => m.id), [ids[7]?.id]);
      assert.equal(messages.ftsLag(), 0);
      assert.equal(ftsRow(db).indexed_seq, maxSeq(db), 'the watermark moved with the rows');
      db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`);
    } finally {
      await messages.close();
      db.close();
    }
  });

  test('patient and control ids are indexed by the catch-up (ADR 0009); searches by them catch up first and find every committed message', async () => {
    const { db, messages } = lazyStore(newPath());
    const patientRows = (): number => (db.prepare('SELECT COUNT(*) AS n FROM message_patient_ids').get() as { n: number }).n;
    const controlRows = (): number => (db.prepare('SELECT COUNT(*) AS n FROM message_control_ids').get() as { n: number }).n;
    try {
      const ids = await Promise.all(Array.from({ length: 6 }, (_, i) => messages.ingest(record({ controlId: `PT${i}`, patientIds: [`PAT-${i % 3}`, 'MRN-SHARED', `PAT-${i % 3}`] }))));
      assert.equal(patientRows(), 0, 'nothing written in the ingest transaction');
      assert.equal(controlRows(), 0, 'nothing written in the ingest transaction');
      assert.deepEqual((await messages.search({ controlId: 'PT5' })).items.map((m) => m.id), [ids[5]?.id]);
      assert.equal(controlRows(), 6);
      assert.equal(messages.ftsLag(), 0);
      const more = await messages.ingest(record({ controlId: 'PT-LATER', patientIds: ['PAT-1'] }));
      // A row an earlier version indexed at ingest, above the watermark: the catch-up skips it.
      const seq = (db.prepare('SELECT seq FROM messages WHERE id = ?').get(more.id) as { seq: number }).seq;
      db.prepare('INSERT INTO message_patient_ids (patient_id, message_seq) VALUES (?, ?)').run('PAT-1', seq);
      const found = await messages.search({ patientId: 'PAT-1' });
      assert.deepEqual(found.items.map((m) => m.id).sort(), [ids[1]?.id, ids[4]?.id, more.id].sort());
      assert.equal(messages.ftsLag(), 0);
      assert.equal(patientRows(), 13, 'two distinct ids per message, once each, and the later one');
      assert.equal((await messages.search({ patientId: 'MRN-SHARED' })).items.length, 6);
    } finally {
      await messages.close();
      db.close();
    }
  });

  test('the indexer catches up by itself in batches, each moving the watermark', async () => {
    const path = newPath();
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    runSqliteMigrations(db);
    const messages = new SqliteMessageStore(db, { fts: { delayMs: 1, batchRows: 8 } });
    try {
      await Promise.all(Array.from({ length: 30 }, (_, i) => messages.ingest(record({ controlId: `A${i}`, content: `auto ${i}` }))));
      // Bounded wait for the background steps (no timing asserted: only that they happen).
      for (let i = 0; i < 500 && messages.ftsLag() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(messages.ftsLag(), 0);
      assert.ok(messages.stats().ftsSteps >= 4, `30 rows in batches of 8: ${messages.stats().ftsSteps} steps`);
      db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`);
    } finally {
      await messages.close();
      db.close();
    }
  });

  test('rows left unindexed by a crash are indexed after reopening, from the stored watermark', async () => {
    const path = newPath();
    const first = lazyStore(path);
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => first.messages.ingest(record({ controlId: `C${i}`, content: `crash platypus${i}` }))));
    // As after kill -9: the rows are committed, the index was never caught up.
    first.db.close();
    inspect(path, (db) => assert.equal(maxSeq(db) - ftsRow(db).indexed_seq, 12));
    const reopened = await openSqliteStore({ path });
    try {
      assert.equal(reopened.messages.ftsLag(), 12);
      assert.deepEqual((await reopened.messages.search({ text: 'platypus11' })).items.map((m) => m.id), [ids[11]?.id]);
      assert.equal(reopened.messages.ftsLag(), 0);
    } finally {
      await reopened.close();
    }
    inspect(path, (db) => db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`));
  });

  test('pruning rows not yet indexed indexes them first, so the index stays consistent', async () => {
    const { db, messages } = lazyStore(newPath());
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => messages.ingest(record({ channelId: 'ch-pl', controlId: `P${i}`, content: `prunable quince${i}` }))));
      assert.equal(messages.ftsLag(), 10);
      assert.equal(await messages.pruneContent({ channelId: 'ch-pl', receivedBefore: new Date('2030-01-01') }), 10);
      assert.equal(messages.ftsLag(), 0);
      assert.equal((await messages.search({ text: 'quince3' })).items.length, 0);
      db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`);
    } finally {
      await messages.close();
      db.close();
    }
  });

  test('close() leaves the index complete', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    await Promise.all(Array.from({ length: 5 }, (_, i) => store.messages.ingest(record({ controlId: `Z${i}`, content: `closing ${i}` }))));
    await store.close();
    inspect(path, (db) => assert.equal(ftsRow(db).indexed_seq, maxSeq(db)));
  });

  test('migration 5 starts the watermark after the rows earlier versions indexed in the ingest transaction', async () => {
    const path = newPath();
    mkdirSync(dirname(path), { recursive: true });
    inspect(path, (db) => {
      db.pragma('journal_mode = WAL');
      runSqliteMigrations(db, SQLITE_MIGRATIONS.filter((m) => m.version <= 4));
      for (const seq of [1, 2, 3]) {
        db.prepare(`INSERT INTO messages (seq, id, channel_id, content, content_type, received_at, source, correlation_id, config_revision, status, updated_at)
          VALUES (?, ?, 'ch', ?, 'text', 1000, 's', 'c', 1, 'received', 1000)`).run(seq, `M${seq}`, `old numbat${seq}`);
        db.prepare('INSERT INTO messages_fts (rowid, content) VALUES (?, ?)').run(seq, `old numbat${seq}`);
      }
    });
    const store = await openSqliteStore({ path });
    try {
      assert.equal(store.messages.ftsLag(), 0);
      assert.deepEqual((await store.messages.search({ text: 'numbat2' })).items.map((m) => m.id), ['M2']);
    } finally {
      await store.close();
    }
    inspect(path, (db) => {
      assert.equal(ftsRow(db).indexed_seq, 3);
      db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`);
    });
  });
});

describe('SQLite store: search', () => {
  let store: SqliteStore;
  before(async () => {
    store = await openSqliteStore({ path: newPath() });
    const t0 = Date.parse('2026-01-05T08:00:00.000Z');
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.messages.ingest(
          record({
            channelId: `ch-${i % 4}`,
            receivedAt: new Date(t0 + i * 1000),
            controlId: `S${i}`,
            correlationId: `corr-${i}`,
            messageType: i % 2 === 0 ? 'ADT^A01' : 'ORU^R01',
            patientIds: [`PAT-${i % 10}`],
            content: `MSH|^~\\&|S|${i}\rNTE|1||glucose NEAR "quoted" word-${i} AND OR NOT\r`,
          }),
        ),
      ),
    );
  });
  after(async () => {
    await store.close();
  });

  const noTableScan = (plan: string[]): void => {
    const text = plan.join(' | ');
    assert.ok(!/\bSCAN (m|messages)\b/.test(text), `plan scans messages: ${text}`);
  };

  test('control id, patient id, correlation id and channel+time searches use an index', () => {
    const cases = [
      { query: { controlId: 'S5' }, index: 'message_control_ids' },
      { query: { controlId: 'S5', channelId: 'ch-1' }, index: 'message_control_ids' },
      { query: { patientId: 'PAT-3' }, index: 'message_patient_ids' },
      { query: { patientId: 'PAT-3', channelId: 'ch-3' }, index: 'message_patient_ids' },
      { query: { correlationId: 'corr-7' }, index: 'messages_by_correlation_id' },
      { query: { channelId: 'ch-2', from: new Date(0), to: new Date(Date.now()) }, index: 'messages_by_channel_time' },
      { query: { channelId: 'ch-2' }, index: 'messages_by_channel_time' },
      { query: { status: 'errored' as const }, index: 'messages_by_status_time' },
    ];
    for (const { query, index } of cases) {
      const plan = store.messages.explainSearch(query);
      noTableScan(plan);
      const text = plan.join(' | ');
      // The patient and control-id tables are searched through their primary keys (id, message_seq).
      const usesIndex =
        index === 'message_patient_ids' ? /SEARCH p USING (COVERING INDEX|PRIMARY KEY)/.test(text) : index === 'message_control_ids' ? /SEARCH c USING (COVERING INDEX|PRIMARY KEY)/.test(text) : text.includes(index);
      assert.ok(usesIndex, `${JSON.stringify(query)} should use ${index}: ${text}`);
    }
  });

  test('newest-first pages read the ascending time indexes backwards, without a sort', () => {
    // Migration 9 made the time indexes ascending; ORDER BY received_at DESC, id DESC must still
    // come straight off them (a sort would read every matching row before the first page).
    for (const query of [{}, { channelId: 'ch-2' }, { status: 'received' as const }, { messageType: 'ADT^A01' }, { from: new Date(0) }, { channelId: 'ch-1', to: new Date(Date.now()) }]) {
      const text = store.messages.explainSearch(query).join(' | ');
      assert.ok(!/TEMP B-TREE/.test(text), `${JSON.stringify(query)} sorts: ${text}`);
    }
  });

  test('a deep cursor seeks with the time index instead of walking to it', async () => {
    const first = await store.messages.search({ channelId: 'ch-1', limit: 10 });
    assert.ok(first.nextCursor !== undefined);
    const plan = store.messages.explainSearch({ channelId: 'ch-1', cursor: first.nextCursor });
    assert.ok(plan.join(' ').includes('received_at<?'), plan.join(' | '));
  });

  test('FTS input with quotes, operators, stars and dashes never throws and means plain words', async () => {
    const awkward = ['"', '""', '"quoted', 'foo"bar', '*', 'gluc*', '-glucose', 'glucose -word', 'NEAR', 'NEAR(glucose quoted)', 'AND', 'OR NOT', 'a:b', 'content:glucose', '^glucose', '(', ')', '{}', "'", '\\', '', '   ', '🩺', 'Zoë'];
    for (const text of awkward) {
      await assert.doesNotReject(store.messages.search({ text }), `text ${JSON.stringify(text)}`);
    }
    // Operators are words: NEAR, AND, OR and NOT are in every message's text.
    assert.equal((await store.messages.search({ text: 'NEAR AND OR NOT', limit: 500 })).items.length, 200);
    // "-word" is the word "word", not an exclusion; "gluc*" is "gluc", not a prefix query.
    assert.equal((await store.messages.search({ text: 'glucose -word', limit: 500 })).items.length, 200);
    assert.equal((await store.messages.search({ text: 'gluc*' })).items.length, 0);
    assert.equal((await store.messages.search({ text: '"quoted" glucose', limit: 500 })).items.length, 200);
    // Text without a word matches nothing.
    assert.equal((await store.messages.search({ text: '*' })).items.length, 0);
    assert.equal(ftsQuery('a "b" c*'), '"a" "b" "c"');
    assert.equal(ftsQuery('-- **'), undefined);
  });

  test('a malformed cursor is SWB_ERR_STORE_BAD_CURSOR', async () => {
    await rejectsWith(store.messages.search({ cursor: 'not-a-cursor' }), 'SWB_ERR_STORE_BAD_CURSOR');
    await rejectsWith(store.messages.search({ cursor: Buffer.from('[1,2,3]').toString('base64url') }), 'SWB_ERR_STORE_BAD_CURSOR');
  });
});

describe('SQLite store: retention and durability', () => {
  test('pruneContent removes content from the row and the FTS index, then gives the pages back', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    try {
      const big = 'lorem ipsum dolor '.repeat(1200);
      await Promise.all(Array.from({ length: 100 }, (_, i) => store.messages.ingest(record({ channelId: 'ch-prune', content: `MSH|^~\\&|P|${i}\rNTE|1||pineapple ${big}${i}\r` }))));
      const pagesBefore = inspect(path, (db) => db.pragma('page_count', { simple: true }) as number);
      assert.equal(await store.messages.pruneContent({ channelId: 'ch-prune', receivedBefore: new Date('2030-01-01') }), 100);
      assert.equal((await store.messages.search({ text: 'pineapple' })).items.length, 0);
      // FTS integrity: the external-content index agrees with the table after the deletes.
      inspect(path, (db) => db.exec(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)`));
      // Reclaiming runs in the background in small steps; wait for it (bounded).
      const read = (): { pages: number; free: number } => inspect(path, (db) => ({ pages: db.pragma('page_count', { simple: true }) as number, free: db.pragma('freelist_count', { simple: true }) as number }));
      let now = read();
      for (let i = 0; i < 250 && (now.pages >= pagesBefore || now.free > 0); i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        now = read();
      }
      assert.ok(now.pages < pagesBefore, `pages ${pagesBefore} -> ${now.pages}`);
      assert.equal(now.free, 0, 'every freed page returned');
    } finally {
      await store.close();
    }
  });

  test('messages, deliveries, attempts and events survive close and reopen', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    const stored = await store.messages.ingest(record({ patientIds: ['P-9'], orderingKey: 'P-9', dedupeKey: 'k-dur' }));
    const [delivery] = await store.queue.enqueue(stored.id, [{ destination: 'dest', orderingKey: 'P-9', payload: 'out', idempotencyKey: 'idem', maxAttempts: 3 }]);
    assert.ok(delivery !== undefined);
    const now = new Date(Date.now() + 1000);
    await store.queue.claim({ destination: 'dest', owner: 'w', leaseMs: 60_000, limit: 1, now });
    await store.queue.fail(delivery.id, 'w', { startedAt: now, finishedAt: now, errorCode: 'SWB_ERR_MLLP_NAK_ERROR', failureClass: 'permanent', response: 'MSA|AE' });
    await store.messages.appendEvent({ messageId: stored.id, deliveryId: delivery.id, at: now, type: 'failed', detail: { code: 'SWB_ERR_MLLP_NAK_ERROR' } });
    const before = { message: await store.messages.get(stored.id), delivery: await store.queue.get(delivery.id), attempts: await store.queue.attempts(delivery.id), events: await store.messages.events(stored.id) };
    await store.close();

    const reopened = await openSqliteStore({ path });
    try {
      assert.deepEqual(
        { message: await reopened.messages.get(stored.id), delivery: await reopened.queue.get(delivery.id), attempts: await reopened.queue.attempts(delivery.id), events: await reopened.messages.events(stored.id) },
        before,
      );
      assert.equal(before.message?.status, 'errored');
      assert.equal(before.message?.statusReason, 'SWB_ERR_MLLP_NAK_ERROR');
      assert.equal((await reopened.messages.ingest(record({ dedupeKey: 'k-dur' }))).kind, 'duplicate');
      assert.deepEqual((await reopened.queue.exceptions()).map((d) => d.id), [delivery.id]);
    } finally {
      await reopened.close();
    }
  });

  test('claim walks the unfinished rows in seq order (no sort) and checks the head of each key through the blocking-rows index', async () => {
    const store = await openSqliteStore({ path: newPath() });
    try {
      const plan = store.queue.explainClaim().join(' | ');
      assert.ok(!/\bSCAN (d|e|deliveries)\b/.test(plan), `claim scans deliveries: ${plan}`);
      assert.ok(plan.includes('deliveries_ready'), plan);
      // In seq order from the index: no sort of every candidate per claim.
      assert.ok(!plan.includes('TEMP B-TREE'), plan);
      assert.ok(plan.includes('deliveries_blocking_by_key'), plan);
    } finally {
      await store.close();
    }
  });

  test('pruning more rows than one chunk prunes them all, across several transactions', async () => {
    const store = await openSqliteStore({ path: newPath() });
    try {
      const t0 = Date.parse('2026-01-01T00:00:00.000Z');
      for (let start = 0; start < 2500; start += 250) {
        await Promise.all(Array.from({ length: 250 }, (_, i) => store.messages.ingest(record({ channelId: 'ch-many', receivedAt: new Date(t0 + start + i), content: `kiwi ${start + i}` }))));
      }
      assert.equal(await store.messages.pruneContent({ channelId: 'ch-many', receivedBefore: new Date(t0 + 2400) }), 2400);
      assert.equal((await store.messages.search({ text: 'kiwi', limit: 500 })).items.length, 100);
      assert.equal(await store.messages.pruneContent({ channelId: 'ch-many', receivedBefore: new Date(t0 + 2400) }), 0);
    } finally {
      await store.close();
    }
  });

  test('claims from three processes sharing the file never overlap and keep per-key order', { timeout: 120_000 }, async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    const byKey = new Map<string, string[]>();
    try {
      for (let m = 0; m < 30; m++) {
        const message = await store.messages.ingest(record({ controlId: `R${m}` }));
        const ds = await store.queue.enqueue(message.id, [
          ...Array.from({ length: 6 }, (_, k) => ({ destination: 'race', orderingKey: `K${k}`, payload: 'p', idempotencyKey: `r-${m}-${k}`, maxAttempts: 1 })),
          { destination: 'race', payload: 'p', idempotencyKey: `r-${m}-none`, maxAttempts: 1 },
        ]);
        for (const d of ds) if (d.orderingKey !== undefined) byKey.set(d.orderingKey, [...(byKey.get(d.orderingKey) ?? []), d.id]);
      }
    } finally {
      await store.close();
    }
    const child = join(dirname(fileURLToPath(import.meta.url)), 'sqlite-test-claimer.ts');
    const claimers = ['p1', 'p2', 'p3'].map((owner) => startClaimer(child, path, owner));
    await Promise.all(claimers.map((c) => c.ready));
    for (const c of claimers) c.go();
    const perProcess = await Promise.all(claimers.map((c) => c.result));
    assert.ok(perProcess.every((ids) => ids.length > 0), `every process took part: ${perProcess.map((ids) => ids.length).join(', ')}`);
    const done = perProcess.flat();
    assert.equal(done.length, 30 * 7, 'every delivery completed');
    assert.equal(new Set(done).size, done.length, 'no delivery completed twice');

    const reopened = await openSqliteStore({ path });
    try {
      for (const [key, ids] of byKey) {
        const attempts = await Promise.all(ids.map(async (id) => (await reopened.queue.attempts(id))[0]));
        for (let i = 1; i < attempts.length; i++) {
          const prev = attempts[i - 1];
          const next = attempts[i];
          assert.ok(prev !== undefined && next !== undefined);
          assert.ok(next.startedAt.getTime() >= prev.finishedAt.getTime(), `${key}: delivery ${i} was claimed before ${i - 1} completed`);
        }
      }
      assert.equal((await reopened.queue.stats('race')).depth, 0);
    } finally {
      await reopened.close();
    }
  });

  test('claims from two connections to one file never overlap', async () => {
    const path = newPath();
    const a = await openSqliteStore({ path });
    const b = await openSqliteStore({ path });
    try {
      for (let i = 0; i < 40; i++) {
        const m = await a.messages.ingest(record({ controlId: `C${i}` }));
        await a.queue.enqueue(m.id, [{ destination: 'shared', orderingKey: `K${i % 8}`, payload: 'p', idempotencyKey: `i${i}`, maxAttempts: 1 }]);
      }
      const seen = new Set<string>();
      const now = new Date(Date.now() + 1000);
      for (let round = 0; round < 10; round++) {
        const [fromA, fromB] = await Promise.all([
          a.queue.claim({ destination: 'shared', owner: 'a', leaseMs: 60_000, limit: 3, now }),
          b.queue.claim({ destination: 'shared', owner: 'b', leaseMs: 60_000, limit: 3, now }),
        ]);
        for (const d of [...fromA, ...fromB]) {
          assert.ok(!seen.has(d.id), `claimed twice: ${d.id}`);
          seen.add(d.id);
        }
        await Promise.all([...fromA.map((d) => a.queue.complete(d.id, 'a', { startedAt: now, finishedAt: now })), ...fromB.map((d) => b.queue.complete(d.id, 'b', { startedAt: now, finishedAt: now }))]);
      }
      assert.equal(seen.size, 40);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

/** Spawns one claimer child; `ready` settles when its store is open, `result` with the ids it completed. */
function startClaimer(script: string, path: string, owner: string): { ready: Promise<void>; go: () => void; result: Promise<string[]> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, path, owner], { stdio: ['pipe', 'pipe', 'inherit'] });
  const killer = setTimeout(() => proc.kill('SIGKILL'), 100_000);
  let out = '';
  let markReady = (): void => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    out += chunk;
    if (out.startsWith('ready\n')) markReady();
  });
  const result = new Promise<string[]>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(killer);
      markReady();
      if (code !== 0) return reject(new Error(`claimer ${owner} exited with ${code}`));
      resolve(JSON.parse(out.slice('ready\n'.length)) as string[]);
    });
  });
  return { ready, go: () => proc.stdin.end('go\n'), result };
}
