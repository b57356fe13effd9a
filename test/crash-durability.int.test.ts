import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isSwitchboardError } from '../src/core/errors.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { repoRoot } from './cli-helpers.ts';

/**
 * ARCHITECTURE.md invariant 1: nothing acknowledged is lost. A real engine process receives a
 * stream over MLLP from several connections and is killed with SIGKILL at several points; senders
 * resend what was not acknowledged, as MLLP senders do. At the end every acknowledged message is
 * stored exactly once (a message stored but killed before its ACK is resent and deduplicated).
 */

const TOTAL = 240;
const SENDERS = 4;
const KILL_AT = [50, 110, 170];

const msg = (id: string): string =>
  [`MSH|^~\\&|REG|HOSP|SWB|HOSP|20240305103000||ADT^A08^ADT_A01|${id}|P|2.5.1`, 'EVN|A08|20240305103000', `PID|1||MRN-${id}^^^HOSP^MR||DOE^JANE||19800101|F`, 'PV1|1|I'].join('\r');

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function startEngine(storeUrl: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'start', '--host', '127.0.0.1', '--mllp-port', String(port), '--http-port', '0', '--store', storeUrl], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'warn' },
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let errText = '';
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${errText}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => (errText += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('MLLP listener')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code} before starting: ${errText}`));
    });
  });
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const pgUrl = process.env['SWITCHBOARD_PG_URL'];
const targets = [
  { name: 'SQLite', skip: undefined as string | undefined },
  { name: 'PostgreSQL', skip: pgUrl === undefined ? 'SWITCHBOARD_PG_URL is not set' : undefined },
];

for (const target of targets) {
  describe(`crash durability on ${target.name}`, () => {
    test('SIGKILL at random points: every ACKed message is stored exactly once', { timeout: 240_000 }, async (t) => {
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
      let engine = await startEngine(storeUrl, port);
      const acked = new Set<string>();
      const queue = Array.from({ length: TOTAL }, (_, i) => `K-${String(i).padStart(4, '0')}`);
      let kills = 0;
      let restarting: Promise<void> | undefined;

      const maybeKill = (): void => {
        if (restarting !== undefined || kills >= KILL_AT.length || acked.size < (KILL_AT[kills] ?? Infinity)) return;
        kills++;
        // Killed while the senders are mid-stream: some messages are in flight, some stored but not ACKed.
        restarting = (async () => {
          await killHard(engine);
          await sleep(100);
          engine = await startEngine(storeUrl, port);
          restarting = undefined;
        })();
      };

      const sender = async (n: number): Promise<void> => {
        const client = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 5_000, connectTimeoutMs: 2_000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
        try {
          for (;;) {
            const id = queue.shift();
            if (id === undefined) return;
            let done = false;
            while (!done) {
              try {
                const reply = await client.send(msg(id));
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
      } finally {
        await restarting;
        await killHard(engine);
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
        t.diagnostic(`${TOTAL} messages, ${kills} SIGKILLs, ${stored} stored, 0 lost, 0 duplicated`);
      } finally {
        await store.close();
        await cleanup();
      }
    });
  });
}
