/**
 * A child process for sqlite-specific.test.ts: opens the store file argv[2] and, as owner argv[3],
 * from time argv[4] (epoch ms), claims and completes deliveries of destination `race` until none
 * are left, then prints the ids it completed as JSON. Several run at once against one file to show
 * that claims in BEGIN IMMEDIATE never overlap across processes.
 */
import { openSqliteStore } from './open-sqlite-store.ts';

const [path, owner, startAt] = process.argv.slice(2);
if (path === undefined || owner === undefined) throw new Error('usage: sqlite-test-claimer.ts PATH OWNER [START_AT_MS]');
const store = await openSqliteStore({ path, busyTimeoutMs: 20_000 });
// Start together with the other claimers, whatever each one's startup time was.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt ?? 0) - Date.now())));
const done: string[] = [];
let idle = 0;
while (idle < 50) {
  const claimed = await store.queue.claim({ destination: 'race', owner, leaseMs: 600_000, limit: 2, now: new Date(Date.now() + 1000) });
  if (claimed.length === 0) {
    if ((await store.queue.stats('race')).depth === 0) break;
    idle++;
    await new Promise((resolve) => setTimeout(resolve, 2));
    continue;
  }
  idle = 0;
  // Taken after the claim returned: a claim may wait on another process's lock first.
  const startedAt = new Date();
  for (const d of claimed) {
    // The "send": long enough that a second claim of the same key would overlap visibly.
    await new Promise((resolve) => setTimeout(resolve, 3));
    await store.queue.complete(d.id, owner, { startedAt, finishedAt: new Date() });
    done.push(d.id);
  }
}
await store.close();
process.stdout.write(JSON.stringify(done));
