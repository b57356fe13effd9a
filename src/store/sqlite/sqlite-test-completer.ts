/**
 * A child process for sqlite-delivery-queue.test.ts: opens the store file argv[2] (synchronous
 * FULL, the default), ingests argv[3] messages with one delivery each to destination `kill`, then
 * claims and completes them all; bookkeeping commits with synchronous NORMAL, and nothing is
 * committed after the last complete. Prints `completed <json ids>` and then waits, never closing
 * the store (no checkpoint), to be killed with SIGKILL.
 */
import { openSqliteStore } from './open-sqlite-store.ts';

const [path, countArg] = process.argv.slice(2);
if (path === undefined || countArg === undefined) throw new Error('usage: sqlite-test-completer.ts PATH COUNT');
const count = Number.parseInt(countArg, 10);
const store = await openSqliteStore({ path });
const ingested = await Promise.all(
  Array.from({ length: count }, async (_, i) => {
    const result = await store.messages.ingest({
      channelId: 'ch-kill',
      content: `MSH|^~\\&|A|B|C|D|||ADT^A01|K${i}|P|2.5.1\r`,
      contentType: 'hl7v2',
      receivedAt: new Date(),
      source: 'test',
      correlationId: `corr-k-${i}`,
      configRevision: 1,
      outcome: { kind: 'queued', deliveries: [{ destination: 'kill', payload: `payload ${i}`, idempotencyKey: `idem-k-${i}`, maxAttempts: 3 }] },
    });
    return result.id;
  }),
);
const claimed = await store.queue.claim({ destination: 'kill', owner: 'doomed', leaseMs: 600_000, limit: count });
if (claimed.length !== ingested.length) throw new Error(`claimed ${claimed.length} of ${ingested.length}`);
const startedAt = new Date();
// Concurrent, so they share one bookkeeping transaction (group commit).
await Promise.all(claimed.map((d) => store.queue.complete(d.id, 'doomed', { startedAt, finishedAt: new Date(), response: 'ok' })));
const stats = store.queue.bookkeepingStats();
process.stdout.write(`completed ${JSON.stringify({ ids: claimed.map((d) => d.id), synchronous: store.settings().synchronous, stats })}\n`);
// Stay alive with the connection open until the parent kills us.
setInterval(() => undefined, 60_000);
