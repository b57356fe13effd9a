/**
 * A child process for sqlite-specific.test.ts: opens the store file argv[2] and, as owner argv[3],
 * once it has printed `ready` and read a line from stdin, claims and completes deliveries of
 * destination `race` until none are left, then prints the ids it completed as JSON on one line.
 * Several run at once against one file to show that claims in BEGIN IMMEDIATE never overlap across
 * processes.
 */
import { once } from 'node:events';
import { openSqliteStore } from './open-sqlite-store.ts';

const [path, owner] = process.argv.slice(2);
if (path === undefined || owner === undefined) throw new Error('usage: sqlite-test-claimer.ts PATH OWNER');
const store = await openSqliteStore({ path, busyTimeoutMs: 20_000 });
// A barrier, not a clock: on a loaded CI machine one tsx startup can take longer than any fixed
// delay, so the parent says "go" only when every claimer has its store open.
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.pause();
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
    await new Promise((resolve) => setTimeout(resolve, 10));
    await store.queue.complete(d.id, owner, { startedAt, finishedAt: new Date() });
    done.push(d.id);
  }
}
await store.close();
process.stdout.write(`${JSON.stringify(done)}\n`);
