// Fault handling through the whole engine (issue 3 "Proof: fault tests"): a destination that
// answers 400 for one patient (a poison message), 429 with Retry-After, and 500s; `block` keeps the
// failed patient's later messages waiting while other patients flow, `park` moves the failure aside;
// the exception queue shows the failure and an operator's resolve (over the API) unblocks the key.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { loadChannelDir } from '../src/engine/channel-loader.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

let store: Store;
let engine: EngineService;
let webhook: Server;
/** MSH-10s accepted (200), per path, in arrival order. */
const accepted: Record<string, string[]> = { '/block': [], '/park': [] };
/** When the 429'd message was first refused and when it finally arrived. */
const throttled: { refusedAt?: number; acceptedAt?: number } = {};
const serverErrors = new Map<string, number>();

function adt(controlId: string, patient: string): string {
  return [`MSH|^~\\&|ADT|NORTH|LAB|SOUTH|20260101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1`, `PID|1||${patient}^^^NORTH^MR||DOE^JANE`, 'PV1|1|I'].join('\r');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await sleep(25);
  }
}

before(async () => {
  const dir = tempDir('swb-faults-');
  webhook = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const controlId = body.split('\r', 1)[0]?.split('|')[9] ?? '';
      const path = req.url ?? '';
      if (body.includes('|POISON^')) return void res.writeHead(400).end('unknown patient');
      if (controlId === 'T-1' && throttled.refusedAt === undefined) {
        throttled.refusedAt = Date.now();
        return void res.writeHead(429, { 'retry-after': '1' }).end();
      }
      if (controlId.startsWith('E-') && (serverErrors.get(controlId) ?? 0) < 2) {
        serverErrors.set(controlId, (serverErrors.get(controlId) ?? 0) + 1);
        return void res.writeHead(500).end();
      }
      if (controlId === 'T-1') throttled.acceptedAt = Date.now();
      accepted[path]?.push(controlId);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = (webhook.address() as { port: number }).port;
  writeFileSync(
    join(dir, 'faults.yaml'),
    [
      'id: faults',
      'source: { kind: mllp, settings: { host: 127.0.0.1, port: 0 } }',
      'destinations:',
      ...['block', 'park'].flatMap((policy) => [
        `  - name: ${policy}`,
        '    kind: http',
        `    settings: { url: "http://127.0.0.1:${port}/${policy}" }`,
        '    retry: { maxAttempts: 4, initialDelay: 10ms, maxDelay: 20ms }',
        `    onError: ${policy}`,
      ]),
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

test('a poison message blocks only its key (block) or is parked (park); 429 and 500 are retried; resolve unblocks', { timeout: 60_000 }, async () => {
  const port = Number(/:(\d+)$/.exec(engine.channels.get('faults')?.source?.describe() ?? '')?.[1]);
  const client = new MllpClient({ host: '127.0.0.1', port });
  try {
    for (const [id, patient] of [
      ['P-1', 'POISON'],
      ['P-2', 'POISON'],
      ['G-1', 'GOOD'],
      ['T-1', 'THROTTLED'],
      ['E-1', 'FLAKY'],
      ['G-2', 'GOOD'],
    ] as const) {
      assert.equal((await client.send(adt(id, patient))).ack?.code, 'AA');
    }
  } finally {
    await client.close();
  }

  // Other patients flow past the poisoned one on both destinations; 500s were retried.
  await until('the good, throttled and flaky messages arrive', () => ['/block', '/park'].every((p) => ['G-1', 'G-2', 'E-1', 'T-1'].every((id) => accepted[p]?.includes(id))));
  // Retry-After was honoured: the 429'd message came back no sooner than a second later.
  assert.ok(throttled.refusedAt !== undefined && throttled.acceptedAt !== undefined);
  assert.ok(throttled.acceptedAt - throttled.refusedAt >= 950, `retried after ${throttled.acceptedAt - throttled.refusedAt} ms`);
  assert.equal(serverErrors.get('E-1'), 2, 'two 500s before the success');

  // park: the poisoned head was moved aside, so the same patient's next message (also poison) was
  // tried and parked too. block: the head failed permanently and the second waits behind it.
  await until('both poison messages are parked', async () => (await store.queue.exceptions({ destination: 'faults/park' })).filter((d) => d.status === 'parked').length === 2);
  const blocked = await store.queue.exceptions({ destination: 'faults/block' });
  assert.deepEqual(blocked.map((d) => d.status), ['failed']);
  const head = blocked[0];
  assert.ok(head !== undefined);
  assert.equal(head.lastErrorCode, 'SWB_ERR_HTTP_DEST_STATUS');
  assert.equal(head.lastFailureClass, 'permanent');
  assert.equal(head.attempts, 1, 'a permanent failure is not retried');
  const second = (await store.queue.forMessage((await store.messages.search({ controlId: 'P-2' })).items[0]?.id ?? '')).find((d) => d.destination === 'faults/block');
  assert.equal(second?.status, 'pending', 'the key waits behind its failed head');
  assert.equal(second?.attempts, 0);

  // The exception queue over the API shows it; resolving it unblocks the key: P-2 is tried (and
  // fails too, being poison), which proves the key moved.
  const list = (await (await fetch(`${engine.httpUrl}/api/v1/exceptions?destination=faults/block`)).json()) as { items: Array<{ id: string }> };
  assert.deepEqual(list.items.map((d) => d.id), [head.id]);
  const resolved = await fetch(`${engine.httpUrl}/api/v1/deliveries/${head.id}/resolve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(resolved.status, 200);
  await until('the second poison message is tried after the resolve', async () => (await store.queue.get(second?.id ?? ''))?.status === 'failed');
  const audit = await store.audit.list({ action: 'delivery.resolve' });
  assert.equal(audit[0]?.target, head.id);
});
