// The engine end to end on real parts: MLLP in over TCP -> channel pipeline (filter, transformers,
// routing) -> SQLite in one transaction -> ACK -> dispatcher -> an HTTP webhook on loopback that fails
// now and then. Proves per-key order at the destination, retries of transient failures, filtered
// messages kept with their reason, and the metrics that say so.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { loadChannelDir } from '../src/engine/channel-loader.ts';
import { parseMessage } from '../src/hl7v2/index.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

interface Received {
  readonly body: string;
  readonly idempotencyKey: string;
}

let dir: string;
let store: Store;
let engine: EngineService;
let webhook: Server;
const received: Received[] = [];
/** Requests answered 503 before the webhook starts answering 200 for a delivery. */
const failures = new Map<string, number>();

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

function adt(event: string, controlId: string, patient: string, ward: string): string {
  return [
    `MSH|^~\\&|ADT|NORTH|LAB|SOUTH|20260101120000||ADT^${event}^ADT_A01|${controlId}|P|2.5.1`,
    'EVN||20260101120000',
    `PID|1||${patient}^^^NORTH^MR||DOE^JANE`,
    `PV1|1|I|${ward}^101^1`,
    'NTE|1||internal remark',
  ].join('\r');
}

function mllpPort(engineService: EngineService, channel: string): number {
  const d = engineService.channels.get(channel)?.source?.describe() ?? '';
  const m = /:(\d+)$/.exec(d);
  assert.ok(m !== null, `no port in ${d}`);
  return Number(m[1]);
}

before(async () => {
  dir = tempDir('swb-e2e-');
  webhook = createServer((req, res) => {
    void readBody(req).then((body) => {
      const key = String(req.headers['idempotency-key'] ?? '');
      // Every third delivery fails once with 503 (transient): it must be retried, and its key must wait.
      const n = failures.get(key) ?? 0;
      if (Number(/\|C(\d+)\|/.exec(body)?.[1] ?? 0) % 3 === 0 && n === 0) {
        failures.set(key, 1);
        res.writeHead(503).end('busy');
        return;
      }
      received.push({ body, idempotencyKey: key });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const addr = webhook.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  writeFileSync(
    join(dir, 'adt-in.yaml'),
    [
      'id: adt-in',
      'source:',
      '  kind: mllp',
      '  settings: { host: 127.0.0.1, port: 0 }',
      'orderingKey: PID-3[1].1',
      'tables:',
      '  wards: { W1: NORTH-1, W2: NORTH-2 }',
      'filters:',
      '  - reject: { messageType: [ADT^A08] }',
      '    reason: updates are not forwarded',
      'transformers:',
      '  - removeSegment: NTE',
      '  - map: { path: PV1-3.1, table: wards }',
      'destinations:',
      '  - name: lab',
      '    kind: http',
      `    settings: { url: "http://127.0.0.1:${port}/hl7" }`,
      '    retry: { maxAttempts: 5, initialDelay: 20ms, maxDelay: 50ms }',
      '    concurrency: 4',
      '    transformers:',
      '      - set: { path: MSH-5, value: LAB-FEED }',
    ].join('\n'),
  );
  store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  engine = await startEngineService({ store, channels: await loadChannelDir(dir), host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', pollMs: 20, retentionIntervalMs: 0 });
});

after(async () => {
  await engine.close();
  await store.close();
  await new Promise((resolve) => webhook.close(resolve));
});

test('messages flow MLLP -> pipeline -> store -> webhook in per-patient order, with retries and filters', { timeout: 60_000 }, async () => {
  const patients = ['P1', 'P2', 'P3'];
  const total = 60;
  const clients = Array.from({ length: 3 }, () => new MllpClient({ host: '127.0.0.1', port: mllpPort(engine, 'adt-in') }));
  try {
    // One connection per patient keeps each patient's messages in send order, as a real feed does.
    await Promise.all(
      patients.map(async (p, i) => {
        for (let n = i; n < total; n += patients.length) {
          const event = n % 10 === 7 ? 'A08' : 'A01';
          const reply = await (clients[i] as MllpClient).send(adt(event, `C${n}`, p, n % 2 === 0 ? 'W1' : 'W2'));
          assert.equal(reply.ack?.code, 'AA');
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  const filtered = Array.from({ length: total }, (_, n) => n).filter((n) => n % 10 === 7);
  const expected = total - filtered.length;
  for (let i = 0; i < 500 && received.length < expected; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(received.length, expected, 'every routed message was delivered once');
  assert.equal(new Set(received.map((r) => r.idempotencyKey)).size, expected, 'no duplicates');

  // Per-key order: each patient's control ids arrive ascending, although some failed and were retried.
  for (const p of patients) {
    const ids = received.map((r) => parseMessage(r.body)).filter((m) => m.get('PID-3.1') === p).map((m) => Number(String(m.get('MSH-10')).slice(1)));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), `order for ${p}`);
  }
  // Transformers: NTE removed, ward mapped through the table, MSH-5 set for this destination only.
  const first = parseMessage(received[0]?.body ?? '');
  assert.equal(first.segments.some((s) => s.name === 'NTE'), false);
  assert.match(String(first.get('PV1-3.1')), /^NORTH-[12]$/);
  assert.equal(first.get('MSH-5'), 'LAB-FEED');
  assert.ok(failures.size > 0, 'the webhook failed some first attempts');

  // Filtered messages are stored with the reason and never sent.
  const page = await store.messages.search({ channelId: 'adt-in', status: 'filtered', limit: 100 });
  assert.equal(page.items.length, filtered.length);
  assert.ok(page.items.every((m) => m.statusReason === 'updates are not forwarded'));
  // Every routed message ends delivered once its delivery succeeded.
  for (let i = 0; i < 100; i++) {
    if ((await store.messages.search({ channelId: 'adt-in', status: 'delivered', limit: 500 })).items.length === expected) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal((await store.messages.search({ channelId: 'adt-in', status: 'delivered', limit: 500 })).items.length, expected);

  const metrics = await (await fetch(`${engine.httpUrl}/metrics`)).text();
  assert.match(metrics, new RegExp(`swb_delivery_attempts_total\\{destination="adt-in/lab",result="delivered"\\} ${expected}\\b`));
  assert.match(metrics, /swb_delivery_attempts_total\{destination="adt-in\/lab",result="retry"\} [1-9]/);
  assert.match(metrics, /swb_queue_depth\{destination="adt-in\/lab"\} 0\b/);
  assert.match(metrics, /swb_messages_received_total\{channel="adt-in",type="ADT\^A08",ack="AA",status="filtered"\} 6\b/);
});

test('the channel was applied as revision 1 and messages record it', async () => {
  const latest = await store.channels.latest('adt-in');
  assert.equal(latest?.revision, 1);
  const page = await store.messages.search({ channelId: 'adt-in', limit: 1 });
  assert.equal(page.items[0]?.configRevision, 1);
});
