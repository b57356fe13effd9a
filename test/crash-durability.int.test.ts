import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isSwitchboardError } from '../src/core/errors.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { freePort, killHard, sleep, startEngine, startWebhook } from './engine-process-helpers.ts';

/**
 * ARCHITECTURE.md invariants 1, 2 and 4. A real engine process (`switchboard start --config`)
 * receives a stream over MLLP from several connections and delivers it to an HTTP webhook in this
 * process; it is killed with SIGKILL at several points and restarted; senders resend what was not
 * acknowledged, as MLLP senders do. At the end every acknowledged message is stored exactly once
 * (a message stored but killed before its ACK is resent and deduplicated), every one reached the
 * webhook (at least once: a send cut off by the kill is sent again), and each patient's messages
 * reached it in order.
 */

const TOTAL = 240;
const SENDERS = 4;
const KILL_AT = [50, 110, 170];

const PATIENTS = 8;
const patientOf = (i: number): string => `MRN-${i % PATIENTS}`;
const msg = (i: number): string =>
  [`MSH|^~\\&|REG|HOSP|SWB|HOSP|20240305103000||ADT^A08^ADT_A01|${idOf(i)}|P|2.5.1`, 'EVN|A08|20240305103000', `PID|1||${patientOf(i)}^^^HOSP^MR||DOE^JANE||19800101|F`, 'PV1|1|I'].join('\r');
const idOf = (i: number): string => `K-${String(i).padStart(4, '0')}`;

function writeChannel(dir: string, mllpPort: number, webhookUrl: string): void {
  writeFileSync(
    join(dir, 'adt.yaml'),
    [
      'id: adt',
      'source: { kind: mllp, settings: { host: 127.0.0.1, port: ' + String(mllpPort) + ' } }',
      'orderingKey: PID-3[1].1',
      'destinations:',
      '  - name: hook',
      '    kind: http',
      `    settings: { url: "${webhookUrl}" }`,
      // Short attempts keep the leases of a killed process short, so its keys resume soon.
      '    timeout: 1s',
      '    retry: { maxAttempts: 50, initialDelay: 50ms, maxDelay: 200ms }',
    ].join('\n'),
  );
}

const pgUrl = process.env['SWITCHBOARD_PG_URL'];
const targets = [
  { name: 'SQLite', skip: undefined as string | undefined },
  { name: 'PostgreSQL', skip: pgUrl === undefined ? 'SWITCHBOARD_PG_URL is not set' : undefined },
];

for (const target of targets) {
  describe(`crash durability on ${target.name}`, () => {
    test('SIGKILL at random points: every ACKed message is stored exactly once, delivered, in per-patient order', { timeout: 240_000 }, async (t) => {
      if (target.skip !== undefined) {
        t.skip(target.skip);
        return;
      }
      let storeUrl: string;
      let cleanup: () => Promise<void>;
      if (target.name === 'SQLite') {
        const dir = mkdtempSync(join(tmpdir(), 'swb-crash-'));
        storeUrl = `sqlite:${join(dir, 'db.sqlite')}`;
        cleanup = async () => rmSync(dir, { recursive: true, force: true });
      } else {
        const schema = `swb_crash_${Math.random().toString(16).slice(2, 10)}`;
        storeUrl = `${pgUrl ?? ''}?schema=${schema}`;
        cleanup = async () => {
          const { dropPostgresSchema } = await import('../src/store/postgres/open-postgres-store.ts');
          await dropPostgresSchema(pgUrl ?? '', schema);
        };
      }
      const port = await freePort();
      const webhook = await startWebhook();
      const configDir = mkdtempSync(join(tmpdir(), 'swb-crash-config-'));
      writeChannel(configDir, port, webhook.url);
      let engine = await startEngine(storeUrl, configDir);
      const acked = new Set<string>();
      // A patient's messages all go through one sender (one connection), in order, as a feed sends them.
      const queues = Array.from({ length: SENDERS }, (_, n) => Array.from({ length: TOTAL }, (_, i) => i).filter((i) => (i % PATIENTS) % SENDERS === n));
      let kills = 0;
      let restarting: Promise<void> | undefined;

      const maybeKill = (): void => {
        if (restarting !== undefined || kills >= KILL_AT.length || acked.size < (KILL_AT[kills] ?? Infinity)) return;
        kills++;
        // Killed while the senders are mid-stream: some messages are in flight, some stored but not ACKed.
        restarting = (async () => {
          await killHard(engine);
          await sleep(100);
          engine = await startEngine(storeUrl, configDir);
          restarting = undefined;
        })();
      };

      const sender = async (n: number): Promise<void> => {
        const client = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 5_000, connectTimeoutMs: 2_000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
        try {
          for (;;) {
            const i = queues[n]?.shift();
            if (i === undefined) return;
            const id = idOf(i);
            let done = false;
            while (!done) {
              try {
                const reply = await client.send(msg(i));
                assert.equal(reply.ack?.code, 'AA', `sender ${n}: ${id}`);
                acked.add(id);
                done = true;
                maybeKill();
              } catch (e) {
                // Not acknowledged (connection lost, refused, timed out): resend, as an MLLP sender must.
                if (!isSwitchboardError(e)) throw e;
                await sleep(50);
              }
            }
          }
        } finally {
          await client.close();
        }
      };

      try {
        await Promise.all(Array.from({ length: SENDERS }, (_, n) => sender(n)));
        assert.equal(kills, KILL_AT.length, 'the engine was killed the planned number of times');
        assert.equal(acked.size, TOTAL);
        await restarting;
        // The last engine keeps delivering; a kill mid-send left leases that expire within seconds.
        for (let i = 0; i < 600 && new Set(webhook.arrivals).size < TOTAL; i++) await sleep(50);
      } finally {
        await restarting;
        await killHard(engine);
        await webhook.close();
        rmSync(configDir, { recursive: true, force: true });
      }
      const delivered = new Set(webhook.arrivals);
      assert.deepEqual([...acked].filter((id) => !delivered.has(id)), [], 'acknowledged messages never delivered');
      for (let p = 0; p < PATIENTS; p++) {
        // First arrivals per patient must be ascending; a repeat (a send cut off by a kill, sent
        // again) is allowed by at-least-once delivery, a later message overtaking an earlier is not.
        const firsts = [...new Set(webhook.arrivals)].filter((id) => Number(id.slice(2)) % PATIENTS === p);
        assert.deepEqual(firsts, [...firsts].sort(), `order for ${patientOf(p)}`);
      }

      const store = await openStore(storeUrl);
      try {
        let stored = 0;
        let cursor: string | undefined;
        const seen = new Map<string, number>();
        do {
          const page = await store.messages.search({ limit: 500, ...(cursor !== undefined ? { cursor } : {}) });
          for (const m of page.items) {
            stored++;
            seen.set(m.controlId ?? '', (seen.get(m.controlId ?? '') ?? 0) + 1);
          }
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        const missing = [...acked].filter((id) => !seen.has(id));
        const doubled = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
        assert.deepEqual(missing, [], 'acknowledged messages missing from the store');
        assert.deepEqual(doubled, [], 'messages stored more than once');
        assert.equal(stored, TOTAL);
        t.diagnostic(`${TOTAL} messages, ${kills} SIGKILLs, ${stored} stored, 0 lost, 0 duplicated; ${webhook.arrivals.length} webhook requests for ${delivered.size} messages`);
      } finally {
        await store.close();
        await cleanup();
      }
    });
  });
}
