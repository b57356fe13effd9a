import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSwitchboardError } from '../src/core/errors.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { freePort, killHard, sleep, startEngine, startWebhook } from './engine-process-helpers.ts';

/**
 * Scale-out on PostgreSQL (ARCHITECTURE.md "Storage"): three `switchboard start` processes share one
 * database and one channel file (each binds the MLLP port its environment names). Senders spread
 * over the three, as behind a TCP load balancer; one process is SIGKILLed mid-stream and its senders
 * fail over to the others. Every acknowledged message is stored once and delivered, each patient's
 * messages reach the webhook in order although three dispatchers claim from the one queue
 * (FOR UPDATE SKIP LOCKED), and the killed process's in-flight deliveries return after their lease.
 */

const pgUrl = process.env['SWITCHBOARD_PG_URL'];
const TOTAL = 180;
const PATIENTS = 6;
const idOf = (i: number): string => `S-${String(i).padStart(4, '0')}`;
const msg = (i: number): string =>
  [`MSH|^~\\&|REG|HOSP|SWB|HOSP|20240305103000||ADT^A08^ADT_A01|${idOf(i)}|P|2.5.1`, 'EVN|A08|20240305103000', `PID|1||MRN-${i % PATIENTS}^^^HOSP^MR||DOE^JANE`, 'PV1|1|I'].join('\r');

test('three engines on one PostgreSQL: one killed, nothing lost, duplicated in the store or reordered', { timeout: 240_000, skip: pgUrl === undefined ? 'SWITCHBOARD_PG_URL is not set' : false }, async (t) => {
  const schema = `swb_scale_${Math.random().toString(16).slice(2, 10)}`;
  const storeUrl = `${pgUrl ?? ''}?schema=${schema}`;
  const webhook = await startWebhook();
  const configDir = mkdtempSync(join(tmpdir(), 'swb-scale-'));
  writeFileSync(
    join(configDir, 'adt.yaml'),
    [
      'id: adt',
      'source: { kind: mllp, settings: { host: 127.0.0.1, port: "${MLLP_PORT}" } }',
      'orderingKey: PID-3[1].1',
      'destinations:',
      '  - name: hook',
      '    kind: http',
      `    settings: { url: "${webhook.url}" }`,
      '    timeout: 1s',
      '    retry: { maxAttempts: 50, initialDelay: 50ms, maxDelay: 200ms }',
    ].join('\n'),
  );
  const ports = [await freePort(), await freePort(), await freePort()];
  const engines: ChildProcess[] = [];
  try {
    // Started one after the other: the first applies revision 1 (and migrates); the others find it.
    for (const port of ports) engines.push(await startEngine(storeUrl, configDir, { MLLP_PORT: String(port) }));
    const alive = [true, true, true];
    const acked = new Set<string>();
    let killed = false;

    // A patient's messages go through one sender in order; a sender whose engine died moves on.
    const sender = async (s: number): Promise<void> => {
      let target = s % ports.length;
      let client = new MllpClient({ host: '127.0.0.1', port: ports[target] ?? 0, ackTimeoutMs: 5000, connectTimeoutMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
      try {
        for (let i = s; i < TOTAL; i += PATIENTS) {
          for (;;) {
            try {
              const reply = await client.send(msg(i));
              assert.equal(reply.ack?.code, 'AA');
              acked.add(idOf(i));
              break;
            } catch (e) {
              if (!isSwitchboardError(e)) throw e;
              if (!(alive[target] ?? false)) {
                await client.close();
                target = alive.findIndex((a) => a);
                client = new MllpClient({ host: '127.0.0.1', port: ports[target] ?? 0, ackTimeoutMs: 5000, connectTimeoutMs: 1000 });
              } else await sleep(50);
            }
          }
          if (!killed && acked.size >= TOTAL / 3) {
            killed = true;
            alive[1] = false;
            await killHard(engines[1] as ChildProcess);
          }
        }
      } finally {
        await client.close();
      }
    };
    await Promise.all(Array.from({ length: PATIENTS }, (_, s) => sender(s)));
    assert.ok(killed);
    assert.equal(acked.size, TOTAL);
    for (let i = 0; i < 600 && new Set(webhook.arrivals).size < TOTAL; i++) await sleep(50);

    const delivered = new Set(webhook.arrivals);
    assert.deepEqual([...acked].filter((id) => !delivered.has(id)), [], 'acknowledged messages never delivered');
    for (let p = 0; p < PATIENTS; p++) {
      const firsts = [...delivered].filter((id) => Number(id.slice(2)) % PATIENTS === p);
      assert.deepEqual(firsts, [...firsts].sort(), `order for MRN-${p}`);
    }
    const store = await openStore(storeUrl);
    try {
      const seen = new Map<string, number>();
      let cursor: string | undefined;
      do {
        const page = await store.messages.search({ limit: 500, ...(cursor !== undefined ? { cursor } : {}) });
        for (const m of page.items) seen.set(m.controlId ?? '', (seen.get(m.controlId ?? '') ?? 0) + 1);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      assert.equal(seen.size, TOTAL);
      assert.deepEqual([...seen].filter(([, n]) => n > 1), [], 'stored more than once');
      assert.equal((await store.channels.history('adt')).length, 1, 'three starts of one file made one revision');
    } finally {
      await store.close();
    }
    t.diagnostic(`${TOTAL} messages over 3 engines (1 killed): ${webhook.arrivals.length} webhook requests for ${delivered.size} messages`);
  } finally {
    await Promise.all(engines.map((e) => killHard(e)));
    await webhook.close();
    rmSync(configDir, { recursive: true, force: true });
    const { dropPostgresSchema } = await import('../src/store/postgres/open-postgres-store.ts');
    await dropPostgresSchema(pgUrl ?? '', schema);
  }
});
