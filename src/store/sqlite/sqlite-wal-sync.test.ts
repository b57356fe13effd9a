import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { isSwitchboardError } from '../../core/errors.ts';
import type { IngestRecord } from '../../core/ports/message-store.ts';
import { openSqliteStore } from './open-sqlite-store.ts';
import { eio, holdSyncs, realFdatasync, settlesSoon } from './sqlite-wal-sync-test-support.ts';
import { walSyncOf } from './sqlite-wal-sync.ts';

// The ingest commit's fsync runs on the thread pool (sqlite-wal-sync.ts). What must hold: an ingest
// (hence its ACK) resolves only after an fdatasync of the WAL that started after its commit; a sync
// error refuses the ingest; a delivery is not handed to the dispatcher before its message is
// durable. To observe the order, fs.fdatasync is held (or made to fail) by the test: the SQLite
// database, the WAL and the rest of the store are real.

let dir = '';
let counter = 0;
const newPath = (): string => join(dir, `db-${++counter}.db`);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchboard-wal-sync-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  fs.fdatasync = realFdatasync;
});

function record(i: number, overrides: Partial<IngestRecord> = {}): IngestRecord {
  return {
    channelId: 'ch-wal',
    content: `MSH|^~\\&|A|B|C|D|20260105080000||ADT^A01|W${i}|P|2.5.1\rPID|1||P-${i}\r`,
    contentType: 'hl7v2',
    receivedAt: new Date('2026-01-05T08:00:00.000Z'),
    source: 'mllp://127.0.0.1:1',
    correlationId: `corr-${i}`,
    configRevision: 1,
    controlId: `W${i}`,
    ...overrides,
  };
}

describe('SQLite WAL sync off the event loop', () => {
  test('a file database in WAL mode with FULL sync gets one; memory and NORMAL do not', async () => {
    const full = await openSqliteStore({ path: newPath() });
    const normal = await openSqliteStore({ path: newPath(), synchronous: 'NORMAL' });
    const memory = new Database(':memory:');
    try {
      const ingest = await full.messages.ingest(record(1));
      assert.equal(ingest.kind, 'stored');
      assert.ok((full.messages as unknown as { stats(): { walSyncs: number } }).stats().walSyncs >= 1, 'the FULL store synced its WAL itself');
      await normal.messages.ingest(record(2));
      assert.equal((normal.messages as unknown as { stats(): { walSyncs: number } }).stats().walSyncs, 0, 'NORMAL was chosen: no sync added');
      assert.equal(walSyncOf(memory), undefined);
    } finally {
      memory.close();
      await full.close();
      await normal.close();
    }
  });

  test('an ingest resolves only after a WAL sync that started after its commit; a burst shares one sync', async () => {
    const path = newPath();
    const store = await openSqliteStore({ path });
    try {
      await store.messages.ingest(record(0)); // creates the WAL file
      const syncs = holdSyncs();
      const burst = [1, 2, 3, 4].map((i) => store.messages.ingest(record(i)));
      assert.equal(await settlesSoon(Promise.race(burst)), false, 'no ingest may resolve while its sync is held');
      assert.equal(syncs.started, 1, 'one group commit, one sync');
      // Committed (another connection reads the rows) but not acknowledged yet.
      const visible = new Database(path, { readonly: true });
      try {
        assert.equal((visible.prepare("SELECT count(*) AS n FROM messages WHERE channel_id = 'ch-wal'").get() as { n: number }).n, 5);
      } finally {
        visible.close();
      }
      // An ingest queued while that sync is in flight waits for it, then is committed with whatever
      // else arrived meanwhile, and needs the next sync.
      const late = store.messages.ingest(record(5));
      assert.equal(await settlesSoon(late), false);
      assert.equal(syncs.started, 1, 'the second sync waits for the first to finish');
      const count = (): number => {
        const reader = new Database(path, { readonly: true });
        try {
          return (reader.prepare("SELECT count(*) AS n FROM messages WHERE channel_id = 'ch-wal'").get() as { n: number }).n;
        } finally {
          reader.close();
        }
      };
      assert.equal(count(), 5, 'not committed while the sync in flight runs');
      syncs.releaseAll();
      const results = await Promise.all(burst);
      assert.deepEqual(
        results.map((r) => r.kind),
        ['stored', 'stored', 'stored', 'stored'],
      );
      assert.equal(await settlesSoon(late), false, 'the late ingest still waits: the finished sync started before its commit');
      assert.equal(count(), 6, 'committed once the first sync was done');
      assert.equal(syncs.started, 2);
      syncs.releaseAll();
      assert.equal((await late).kind, 'stored');
    } finally {
      fs.fdatasync = realFdatasync;
      await store.close();
    }
  });

  test('a failed sync refuses the ingest with a store error; a resend is answered as a duplicate', async () => {
    const store = await openSqliteStore({ path: newPath() });
    try {
      await store.messages.ingest(record(0));
      const syncs = holdSyncs();
      const failing = store.messages.ingest(record(1, { dedupeKey: 'k-1', dedupeWindowMs: 60_000 }));
      await settlesSoon(failing);
      syncs.releaseAll(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await assert.rejects(failing, (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_UNAVAILABLE');
      fs.fdatasync = realFdatasync;
      const again = await store.messages.ingest(record(1, { dedupeKey: 'k-1', dedupeWindowMs: 60_000 }));
      assert.equal(again.kind, 'duplicate');
    } finally {
      fs.fdatasync = realFdatasync;
      await store.close();
    }
  });

  test('the dispatcher cannot claim a delivery before its message is durable', async () => {
    const store = await openSqliteStore({ path: newPath() });
    try {
      await store.messages.ingest(record(0));
      const syncs = holdSyncs();
      const ingest = store.messages.ingest(
        record(1, { outcome: { kind: 'queued', deliveries: [{ destination: 'dest-wal', payload: 'p', idempotencyKey: 'i-1', maxAttempts: 3 }] } }),
      );
      await settlesSoon(ingest);
      const claim = store.queue.claim({ destination: 'dest-wal', owner: 'w1', limit: 5, leaseMs: 60_000 });
      assert.equal(await settlesSoon(claim), false, 'the claim waits for the sync');
      syncs.releaseAll();
      await ingest;
      await settlesSoon(claim);
      syncs.releaseAll();
      const claimed = await claim;
      assert.equal(claimed.length, 1);
      assert.equal(claimed[0]?.destination, 'dest-wal');
    } finally {
      fs.fdatasync = realFdatasync;
      await store.close();
    }
  });

  test('pending() is the sync covering every durable() asked so far, asks for none itself, and says failed after a failed one', async () => {
    const db = new Database(newPath());
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (x)');
    const sync = walSyncOf(db);
    assert.ok(sync !== undefined);
    try {
      assert.equal(sync.pending(), undefined, 'nothing asked yet');
      const held = holdSyncs();
      const first = sync.durable();
      assert.equal(sync.pending(), first, 'the sync in flight');
      const second = sync.durable();
      assert.equal(sync.pending(), second, 'the one queued behind it, which covers both');
      assert.equal(held.started, 1, 'pending() started nothing; the second waits for the first');
      held.releaseAll();
      await first;
      assert.equal(sync.pending(), second, 'now in flight');
      held.releaseAll(eio());
      await assert.rejects(second);
      assert.equal(sync.pending(), 'failed');
      assert.equal(held.started, 2);
      const third = sync.durable();
      assert.equal(sync.pending(), third, 'a new request replaces the failure');
      held.releaseAll();
      await third;
      assert.equal(sync.pending(), undefined, 'all done');
    } finally {
      fs.fdatasync = realFdatasync;
      sync.close();
      db.close();
    }
  });
});
