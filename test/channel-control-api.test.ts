// Channel control for the console, on real parts: an engine with security on SQLite, an MLLP
// channel delivering to a real HTTP webhook, operators and viewers logged in with sessions. Proves
// the metrics summary counts what happened, stop/start of the source, pause/resume of a destination,
// a channel's YAML, deploy (validated, revisioned with the caller as author, picked up by the
// running engine), the channel's own tests, and that each change and each content read is audited.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashPassword } from '../src/api/auth/passwords.ts';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { setupSecurity } from '../src/api/security-setup.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { loadChannelDir, loadChannelText } from '../src/engine/channel-loader.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

type Json = Record<string, unknown>;

let dir: string;
let store: Store;
let engine: EngineService;
let base: string;
let webhook: Server;
let webhookPort = 0;
const arrivals: Array<{ path: string; controlId: string }> = [];
let op = '';
let viewer = '';
// A second engine started without --config DIR (channel tests cannot run there).
let bareStore: Store;
let bare: EngineService;
let bareOp = '';

const channelYaml = (path: string, extra: string[] = []): string =>
  [
    'id: live',
    'name: Live feed',
    'source: { kind: mllp, settings: { host: 127.0.0.1, port: 0 } }',
    'destinations:',
    '  - name: out',
    '    kind: http',
    `    settings: { url: "http://127.0.0.1:${webhookPort}${path}" }`,
    '    retry: { maxAttempts: 3, initialDelay: 20ms }',
    ...extra,
  ].join('\n');

const msg = (id: string): string => [`MSH|^~\\&|A|B|C|D|20260101120000||ADT^A01^ADT_A01|${id}|P|2.5.1`, 'PID|1||CC-P1^^^B^MR||QUIXOTERA^ALONSA'].join('\r');

function mllpPort(e: EngineService = engine): number {
  return Number(/:(\d+)$/.exec(e.channels.get('live')?.source?.describe() ?? '')?.[1]);
}

async function send(id: string): Promise<void> {
  const client = new MllpClient({ host: '127.0.0.1', port: mllpPort() });
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

const form = (fields: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

async function login(at: string, username: string, password: string): Promise<string> {
  const r = await fetch(`${at}/auth/login`, form({ username, password }));
  assert.equal(r.status, 200, await r.clone().text());
  return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

async function api(cookie: string, method: 'GET' | 'POST', url: string, body?: unknown, at = base): Promise<{ status: number; json: Json }> {
  const r = await fetch(`${at}${url}`, { method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await r.text();
  return { status: r.status, json: text === '' ? {} : (JSON.parse(text) as Json) };
}

async function ok(cookie: string, method: 'GET' | 'POST', url: string, body?: unknown, at = base): Promise<Json> {
  const r = await api(cookie, method, url, body, at);
  assert.equal(r.status, 200, `${method} ${url}: ${JSON.stringify(r.json)}`);
  return r.json;
}

async function summary(cookie = viewer): Promise<Json> {
  const s = await ok(cookie, 'GET', '/api/v1/metrics/summary?minutes=5');
  const live = (s['channels'] as Json[]).find((c) => c['id'] === 'live');
  assert.ok(live !== undefined);
  return live;
}

const total = (live: Json, key: string): number => (live['perMinute'] as Json[]).reduce((n, m) => n + Number(m[key]), 0);
const dest = (live: Json): Json => (live['destinations'] as Json[])[0] ?? {};

async function auditOf(action: string): Promise<Json[]> {
  return (await store.audit.list({ action, limit: 100 })).map((a) => ({ actor: a.actor, target: a.target, ...a.detail }));
}

before(async () => {
  dir = tempDir('swb-control-');
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
  writeFileSync(join(dir, 'live.yaml'), channelYaml('/v1'));
  writeFileSync(
    join(dir, 'live_test.yaml'),
    ['tests:', '  - name: an admission is queued for out', '    input: |', '      MSH|^~\\&|A|B|C|D|20260101120000||ADT^A01^ADT_A01|T-1|P|2.5.1', '      PID|1||X^^^B^MR', '    expect:', '      ack: AA', '      status: queued', '      destinations:', "        out: { fields: { 'PID-3.1': X } }"].join('\n'),
  );
  store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  assert.ok(store.identity !== undefined);
  const setup = await setupSecurity({ identity: store.identity, keyFile: join(dir, 'key.json'), publicUrl: 'http://127.0.0.1' });
  await store.identity.createUser({ username: 'op', passwordHash: await hashPassword('operator-pass-123456'), roles: ['operator'] });
  await store.identity.createUser({ username: 'viewer', passwordHash: await hashPassword('viewer-pass-123456'), roles: ['read-only'] });
  // No revision watch: a deploy through the API must reach the engine by itself.
  engine = await startEngineService({ store, channels: await loadChannelDir(dir), configDir: dir, host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', pollMs: 20, retentionIntervalMs: 0, security: setup.security });
  base = engine.httpUrl ?? '';
  op = await login(base, 'op', 'operator-pass-123456');
  viewer = await login(base, 'viewer', 'viewer-pass-123456');

  const bareDir = tempDir('swb-control-bare-');
  bareStore = await openStore(`sqlite:${join(bareDir, 'store.db')}`);
  assert.ok(bareStore.identity !== undefined);
  const bareSetup = await setupSecurity({ identity: bareStore.identity, keyFile: join(bareDir, 'key.json'), publicUrl: 'http://127.0.0.1' });
  await bareStore.identity.createUser({ username: 'op', passwordHash: await hashPassword('operator-pass-123456'), roles: ['operator'] });
  bare = await startEngineService({ store: bareStore, channels: [await loadChannelText(channelYaml('/bare'), 'live.yaml', bareDir)], host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', pollMs: 20, retentionIntervalMs: 0, security: bareSetup.security });
  bareOp = await login(bare.httpUrl ?? '', 'op', 'operator-pass-123456');
});

after(async () => {
  await engine.close();
  await store.close();
  await bare.close();
  await bareStore.close();
  await new Promise<void>((resolve) => webhook.close(() => resolve()));
});

test('the metrics summary counts received, acknowledged and delivered per minute, and each destination queue', async () => {
  const before = await summary();
  assert.equal(before['state'], 'running');
  assert.equal(before['name'], 'Live feed');
  assert.equal(before['revision'], 1);
  assert.equal((before['perMinute'] as Json[]).length, 5);
  const minutes = (before['perMinute'] as Json[]).map((m) => Date.parse(String(m['minute'])));
  assert.deepEqual(minutes, [...minutes].sort((a, b) => a - b), 'oldest first');
  await send('S-1');
  await send('S-2');
  await until('both are delivered', async () => total(await summary(), 'delivered') === 2);
  const live = await summary();
  assert.equal(total(live, 'received'), 2);
  assert.equal(total(live, 'acked'), 2);
  assert.equal(total(live, 'failed'), 0);
  assert.equal(live['errorRate'], 0);
  assert.deepEqual(dest(live), { name: 'out', paused: false, queueDepth: 0, oldestAgeMs: null, inFlight: 0, failed: 0 });
  const bad = await api(viewer, 'GET', '/api/v1/metrics/summary?minutes=0');
  assert.equal(bad.status, 400);
  assert.equal(bad.json['parameter'], 'minutes');
});

test('pause holds a destination (the message waits in its queue); resume delivers it; both audited with the actor', async () => {
  const denied = await api(viewer, 'POST', '/api/v1/channels/live/destinations/out/pause');
  assert.equal(denied.status, 403);
  assert.equal(denied.json['code'], 'SWB_ERR_AUTH_FORBIDDEN');
  assert.deepEqual(await ok(op, 'POST', '/api/v1/channels/live/destinations/out/pause'), { id: 'live', destination: 'out', paused: true, changed: true });
  assert.equal(dest(await summary())['paused'], true);
  await send('P-1');
  await until('P-1 waits in the queue', async () => dest(await summary())['queueDepth'] === 1);
  const waiting = dest(await summary());
  assert.equal(typeof waiting['oldestAgeMs'], 'number');
  assert.ok(!arrivals.some((a) => a.controlId === 'P-1'), 'not sent while paused');
  assert.equal((await ok(op, 'POST', '/api/v1/channels/live/destinations/out/resume'))['changed'], true);
  await until('P-1 arrives', () => arrivals.some((a) => a.controlId === 'P-1'));
  assert.equal(dest(await summary())['paused'], false);
  const audit = [...(await auditOf('destination.pause')), ...(await auditOf('destination.resume'))];
  assert.deepEqual(
    audit.map((a) => [a['actor'], a['target'], a['changed']]),
    [
      ['user:op', 'live/out', true],
      ['user:op', 'live/out', true],
    ],
  );
  const unknown = await api(op, 'POST', '/api/v1/channels/live/destinations/nowhere/pause');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json['code'], 'SWB_ERR_DISPATCH_UNKNOWN_DESTINATION');
});

test('stop closes the source listener (queued deliveries go on); start listens again', async () => {
  const port = mllpPort();
  assert.deepEqual(await ok(op, 'POST', '/api/v1/channels/live/stop'), { id: 'live', state: 'stopped', changed: true });
  assert.equal((await summary())['state'], 'stopped');
  const client = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 2000 });
  await assert.rejects(client.send(msg('X-1')), 'nothing listens on the port of a stopped channel');
  await client.close();
  assert.equal((await ok(op, 'POST', '/api/v1/channels/live/stop'))['changed'], false);
  assert.equal((await ok(op, 'POST', '/api/v1/channels/live/start'))['changed'], true);
  assert.equal((await summary())['state'], 'running');
  await send('R-1');
  await until('R-1 arrives', () => arrivals.some((a) => a.controlId === 'R-1'));
  assert.deepEqual(
    [...(await auditOf('channel.stop')), ...(await auditOf('channel.start'))].map((a) => [a['actor'], a['target'], a['changed']]),
    [
      ['user:op', 'live', false],
      ['user:op', 'live', true],
      ['user:op', 'live', true],
    ],
  );
  const missing = await api(op, 'POST', '/api/v1/channels/nosuch/stop');
  assert.equal(missing.status, 404);
  assert.equal(missing.json['code'], 'SWB_ERR_HTTP_CHANNEL_NOT_RUNNING');
});

test('GET /api/v1/channels/:id answers the stored YAML, revision and state', async () => {
  const ch = await ok(viewer, 'GET', '/api/v1/channels/live');
  assert.equal(ch['id'], 'live');
  assert.equal(ch['name'], 'Live feed');
  assert.equal(ch['revision'], 1);
  assert.equal(ch['state'], 'running');
  assert.match(String(ch['yaml']), /^id: live$/m);
  assert.equal((await api(viewer, 'GET', '/api/v1/channels/nosuch')).status, 404);
});

test('deploy validates with the channel schema (errors name the path), stores a revision authored by the caller, and the engine runs it', async () => {
  const invalid = await api(op, 'POST', '/api/v1/channels/live/deploy', { yaml: channelYaml('/v2').replace('maxAttempts: 3', 'maxAttempts: 0') });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.json['code'], 'SWB_ERR_CONFIG_INVALID');
  assert.match(String(invalid.json['detail']), /destinations\[0\]\.retry\.maxAttempts/);
  const otherId = await api(op, 'POST', '/api/v1/channels/live/deploy', { yaml: channelYaml('/v2').replace('id: live', 'id: other') });
  assert.equal(otherId.status, 400);
  assert.equal(otherId.json['parameter'], 'yaml');
  assert.equal((await api(viewer, 'POST', '/api/v1/channels/live/deploy', { yaml: channelYaml('/v2') })).status, 403);

  const deployed = await ok(op, 'POST', '/api/v1/channels/live/deploy', { yaml: channelYaml('/v2'), comment: 'move to v2' });
  assert.deepEqual(deployed, { id: 'live', revision: 2, previous: 1, changed: true, reloaded: true });
  const latest = await store.channels.latest('live');
  assert.equal(latest?.author, 'user:op');
  assert.equal(latest?.comment, 'move to v2');
  assert.equal((await ok(viewer, 'GET', '/api/v1/channels/live'))['runningRevision'], 2);
  await send('D-1');
  await until('D-1 arrives at the deployed URL', () => arrivals.some((a) => a.controlId === 'D-1' && a.path === '/v2'));
  assert.deepEqual((await auditOf('channel.apply')).map((a) => [a['actor'], a['target'], a['revision']]), [['user:op', 'live', 2]]);
  // The same document again: no new revision.
  assert.equal((await ok(op, 'POST', '/api/v1/channels/live/deploy', { yaml: channelYaml('/v2') }))['changed'], false);
});

test("POST /channels/:id/test runs the channel's tests from --config DIR; without it 409", async () => {
  const r = await ok(op, 'POST', '/api/v1/channels/live/test');
  assert.equal(r['passed'], 1);
  assert.equal(r['failed'], 0);
  assert.deepEqual((r['results'] as Json[]).map((x) => [x['file'], x['name'], x['passed']]), [['live_test.yaml', 'an admission is queued for out', true]]);
  assert.deepEqual((await auditOf('channel.test')).map((a) => [a['actor'], a['target'], a['passed'], a['failed']]), [['user:op', 'live', 1, 0]]);
  const none = await api(bareOp, 'POST', '/api/v1/channels/live/test', undefined, bare.httpUrl ?? '');
  assert.equal(none.status, 409);
  assert.equal(none.json['code'], 'SWB_ERR_HTTP_NO_CONFIG_DIR');
});

test("reading one message's content is audited: actor, message id, correlation ids; never the content", async () => {
  const page = await store.messages.search({ limit: 1, controlId: 'S-1' });
  const id = page.items[0]?.id ?? '';
  assert.notEqual(id, '');
  const r = await fetch(`${base}/api/v1/messages/${id}`, { headers: { cookie: op, 'x-correlation-id': 'read-corr-1' } });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /QUIXOTERA/, 'the content is answered');
  const reads = await store.audit.list({ action: 'message.read', limit: 10 });
  assert.equal(reads.length, 1);
  const entry = reads[0];
  assert.equal(entry?.actor, 'user:op');
  assert.equal(entry?.target, id);
  assert.equal(entry?.detail['requestId'], 'read-corr-1');
  assert.equal(entry?.detail['correlationId'], page.items[0]?.correlationId);
  assert.doesNotMatch(JSON.stringify(entry), /QUIXOTERA|ALONSA|CC-P1/);
  // Its deliveries carry payloads: audited the same way.
  assert.equal((await fetch(`${base}/api/v1/messages/${id}/deliveries`, { headers: { cookie: op, 'x-correlation-id': 'read-corr-2' } })).status, 200);
  const deliveries = await store.audit.list({ action: 'message.deliveries.read', limit: 10 });
  assert.deepEqual(
    deliveries.map((a) => [a.actor, a.target, a.detail['deliveries'], a.detail['requestId']]),
    [['user:op', id, 1, 'read-corr-2']],
  );
  // A search reveals no content and is not a content read; a missing message is not audited.
  assert.equal((await fetch(`${base}/api/v1/messages/01NOSUCHMESSAGE`, { headers: { cookie: op } })).status, 404);
  assert.equal((await store.audit.list({ action: 'message.read', limit: 10 })).length, 1);
});
