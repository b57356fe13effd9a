// `switchboard channels apply` deploys: a running engine notices the new revision, restarts its
// channels under it, and keeps its HTTP API; messages record the revision they ran under.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { loadChannelDir, loadChannelFile } from '../src/engine/channel-loader.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

let dir: string;
let store: Store;
let engine: EngineService;
let webhook: Server;
let webhookPort = 0;
const arrivals: Array<{ path: string; controlId: string }> = [];

const channel = (path: string): string =>
  ['id: live', 'source: { kind: mllp, settings: { host: 127.0.0.1, port: 0 } }', 'destinations:', '  - name: out', '    kind: http', `    settings: { url: "http://127.0.0.1:${webhookPort}${path}" }`].join('\n');
const msg = (id: string): string => [`MSH|^~\\&|A|B|C|D|20260101120000||ADT^A01^ADT_A01|${id}|P|2.5.1`, 'PID|1||P1^^^B^MR'].join('\r');

async function send(id: string): Promise<void> {
  const port = Number(/:(\d+)$/.exec(engine.channels.get('live')?.source?.describe() ?? '')?.[1]);
  const client = new MllpClient({ host: '127.0.0.1', port });
  try {
    assert.equal((await client.send(msg(id))).ack?.code, 'AA');
  } finally {
    await client.close();
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting until ${what}`);
}

before(async () => {
  dir = tempDir('swb-reload-');
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      arrivals.push({ path: req.url ?? '', controlId: body.split('\r', 1)[0]?.split('|')[9] ?? '' });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  webhookPort = (webhook.address() as { port: number }).port;
  writeFileSync(join(dir, 'live.yaml'), channel('/v1'));
  store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  engine = await startEngineService({ store, channels: await loadChannelDir(dir), configDir: dir, host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', pollMs: 20, retentionIntervalMs: 0, watchRevisionsMs: 50 });
});

after(async () => {
  await engine.close();
  await store.close();
  await new Promise((resolve) => webhook.close(resolve));
});

test('a revision applied to the store is picked up by the running engine', { timeout: 30_000 }, async () => {
  const apiUrl = engine.httpUrl;
  await send('R-1');
  await until('R-1 arrives at /v1', () => arrivals.some((a) => a.controlId === 'R-1' && a.path === '/v1'));

  // What `switchboard channels apply` does: store the changed file as a new revision.
  writeFileSync(join(dir, 'live.yaml'), channel('/v2'));
  const next = await loadChannelFile(join(dir, 'live.yaml'));
  const applied = await store.channels.apply({ channelId: 'live', document: next.document, hash: next.hash, author: 'test' });
  assert.equal(applied.kind, 'created');
  await until('the engine runs revision 2', () => engine.channels.get('live')?.revision === 2);

  await send('R-2');
  await until('R-2 arrives at /v2', () => arrivals.some((a) => a.controlId === 'R-2' && a.path === '/v2'));
  assert.equal(arrivals.filter((a) => a.controlId === 'R-2').length, 1);
  const [second] = (await store.messages.search({ controlId: 'R-2' })).items;
  assert.equal(second?.configRevision, 2, 'the message records the revision it ran under');
  const [first] = (await store.messages.search({ controlId: 'R-1' })).items;
  assert.equal(first?.configRevision, 1);
  assert.equal(engine.httpUrl, apiUrl, 'the API stayed where it was');
  assert.equal((await fetch(`${apiUrl}/healthz`)).status, 200);
  assert.equal((await store.channels.history('live')).length, 2, 'the reload itself made no revision');
});
