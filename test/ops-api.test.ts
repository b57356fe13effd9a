import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { buildHttpApi } from '../src/api/http-api.ts';
import type { Store } from '../src/core/ports/store.ts';
import { revisionPipelines } from '../src/engine/revision-pipelines.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';
import { seedOpsStore, type OpsFixture } from './ops-fixture.ts';

// One store for the file; tests run in order: reads first, then actions that change it.
let dir: string;
let fx: OpsFixture;
let store: Store;
let app: FastifyInstance;
const woken: string[] = [];

before(async () => {
  dir = tempDir('swb-ops-api-');
  fx = await seedOpsStore(dir);
  store = await openStore(fx.url);
  app = buildHttpApi({
    registry: new Registry(),
    store,
    ops: { notify: (d) => woken.push(d), pipelineFor: revisionPipelines(store.channels, { baseDir: fx.channelDir }), actor: (req) => `api:${String(req.headers['x-user'] ?? 'anonymous')}` },
  });
});

after(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

async function call(method: 'GET' | 'POST', url: string, body?: unknown, status = 200): Promise<{ json: Json; text: string; type: string }> {
  const res = await app.inject({ method, url, headers: { 'x-user': 'ann' }, ...(body !== undefined ? { payload: body as Json } : {}) });
  assert.equal(res.statusCode, status, `${method} ${url}: ${res.body}`);
  const type = String(res.headers['content-type']);
  return { json: type.includes('json') ? (JSON.parse(res.body) as Json) : {}, text: res.body, type };
}

async function problem(method: 'GET' | 'POST', url: string, status: number, code: string, body?: unknown): Promise<Json> {
  const { json, type } = await call(method, url, body, status);
  assert.equal(type, 'application/problem+json; charset=utf-8');
  assert.equal(json['code'], code);
  return json;
}

const items = (j: Json): Json[] => j['items'] as Json[];

test('GET /api/v1/exceptions lists failed and ambiguous deliveries without payloads or patient ids', async () => {
  const all = await call('GET', '/api/v1/exceptions');
  assert.deepEqual(items(all.json).map((d) => [d['id'], d['status'], d['lastErrorCode']]), [
    [fx.failedLab, 'failed', 'SWB_ERR_HTTP_DEST_STATUS'],
    [fx.ambiguousEhr, 'ambiguous', 'SWB_ERR_HTTP_DEST_TIMEOUT'],
  ]);
  assert.doesNotMatch(all.text, /MRN-|ZZ[A-Z]*\^|WARD-|payload|orderingKey/);
  const lab = await call('GET', '/api/v1/exceptions?destination=adt-in/lab&limit=5');
  assert.deepEqual(items(lab.json).map((d) => d['id']), [fx.failedLab]);
  assert.equal((await problem('GET', '/api/v1/exceptions?limit=0', 400, 'SWB_ERR_HTTP_BAD_REQUEST'))['parameter'], 'limit');
  assert.equal((await problem('GET', '/api/v1/exceptions?dest=x', 400, 'SWB_ERR_HTTP_BAD_REQUEST'))['parameter'], 'dest');
});

test("a message's deliveries carry payloads and attempt responses; its events; unknown ids are 404", async () => {
  const d = await call('GET', `/api/v1/messages/${fx.messageIds.m1}/deliveries`);
  const [lab, ehr] = items(d.json);
  assert.equal(lab?.['destination'], 'adt-in/lab');
  assert.match(String(lab?.['payload']), /PID\|1\|\|MRN-1/);
  assert.equal(lab?.['orderingKey'], 'MRN-1');
  assert.deepEqual((lab?.['attemptLog'] as Json[]).map((a) => [a['attempt'], a['outcome'], a['errorCode'], a['response']]), [[1, 'failed', 'SWB_ERR_HTTP_DEST_STATUS', 'HTTP/1.1 400']]);
  assert.equal(ehr?.['status'], 'delivered');
  const ev = await call('GET', `/api/v1/messages/${fx.messageIds.m1}/events`);
  assert.ok(Array.isArray(ev.json['items']));
  const missing = await problem('GET', '/api/v1/messages/01NOSUCH/deliveries', 404, 'SWB_ERR_STORE_NOT_FOUND');
  assert.equal(missing['detail'], 'message 01NOSUCH does not exist');
  await problem('GET', '/api/v1/messages/01NOSUCH/events', 404, 'SWB_ERR_STORE_NOT_FOUND');
});

test('channels, revisions, the YAML of one revision and the diff of two', async () => {
  const list = await call('GET', '/api/v1/channels');
  assert.deepEqual(items(list.json).map((c) => [c['channelId'], c['revision'], c['author']]), [['adt-in', 2, 'test:seed']]);
  const history = await call('GET', '/api/v1/channels/adt-in/revisions');
  assert.deepEqual(items(history.json).map((c) => c['revision']), [2, 1]);
  const yaml = await call('GET', '/api/v1/channels/adt-in/revisions/1');
  assert.equal(yaml.type, 'application/yaml; charset=utf-8');
  assert.equal(yaml.text, (await store.channels.get('adt-in', 1))?.document);
  const diff = await call('GET', '/api/v1/channels/adt-in/diff?from=1&to=2');
  assert.match(String(diff.json['diff']), /^--- adt-in revision 1\n\+\+\+ adt-in revision 2\n@@/);
  await problem('GET', '/api/v1/channels/adt-in/revisions/9', 404, 'SWB_ERR_STORE_NOT_FOUND');
  await problem('GET', '/api/v1/channels/nope/revisions', 404, 'SWB_ERR_STORE_NOT_FOUND');
  assert.equal((await problem('GET', '/api/v1/channels/adt-in/diff?from=one&to=2', 400, 'SWB_ERR_HTTP_BAD_REQUEST'))['parameter'], 'from');
});

test('POST replay with dryRun: the plan and counts, nothing enqueued; bad bodies are 400 naming the field', async () => {
  const before = JSON.stringify(await store.queue.forMessage(fx.messageIds.m2));
  const plan = await call('POST', '/api/v1/replay', { channel: 'adt-in', revision: 'current', dryRun: true });
  assert.equal(plan.json['dryRun'], true);
  assert.deepEqual(plan.json['counts'], { messages: 4, routed: 3, filtered: 1, errors: 0, pruned: 0, unchanged: 0, changed: 3, new: 3, notRouted: 2, deliveries: 6 });
  assert.match(plan.text, /-PV1\|1\|I\|WARD-A\\n\+PV1\|1\|I\|WARD-B/);
  assert.equal(JSON.stringify(await store.queue.forMessage(fx.messageIds.m2)), before);
  const [audit] = await store.audit.list({ action: 'replay.dry-run' });
  assert.equal(audit?.actor, 'api:ann');

  const cases: Array<[unknown, string]> = [
    [{ revision: 'current' }, 'dryRun'],
    [{ dryRun: true, revision: 'latest' }, 'revision'],
    [{ dryRun: true, from: 'yesterday' }, 'from'],
    [{ dryRun: true, destinations: [] }, 'destinations'],
    [{ dryRun: true, patient: 'MRN-1' }, 'patient'],
    [{ dryRun: true, limit: 0 }, 'limit'],
  ];
  for (const [body, parameter] of cases) {
    const p = await problem('POST', '/api/v1/replay', 400, 'SWB_ERR_HTTP_BAD_REQUEST', body);
    assert.equal(p['parameter'], parameter, JSON.stringify(body));
    assert.doesNotMatch(JSON.stringify(p), /MRN-1/);
  }
  await problem('POST', '/api/v1/replay', 400, 'SWB_ERR_REPLAY_UNKNOWN_DESTINATION', { dryRun: true, revision: 'current', destinations: ['ehr'] });
});

test('POST replay without dryRun enqueues and wakes the destination', async () => {
  woken.length = 0;
  const run = await call('POST', '/api/v1/replay', { controlId: 'CTL-2', revision: 'current', destinations: ['lab'], dryRun: false });
  assert.equal(run.json['dryRun'], false);
  const enqueued = run.json['enqueued'] as Array<{ messageId: string; deliveryIds: string[] }>;
  assert.deepEqual(enqueued.map((e) => [e.messageId, e.deliveryIds.length]), [[fx.messageIds.m2, 1]]);
  const fresh = await store.queue.get(enqueued[0]?.deliveryIds[0] ?? '');
  assert.equal(fresh?.status, 'pending');
  assert.deepEqual(woken, ['adt-in/lab']);
});

test('retry, edit-and-retry and resolve one delivery; 409 when not in the exception queue, 404 when unknown', async () => {
  woken.length = 0;
  const edited = 'MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305100000+0000||ADT^A01|CTL-1|P|2.5.1\rPID|1||MRN-1';
  const r = await call('POST', `/api/v1/deliveries/${fx.failedLab}/retry`, { payload: edited });
  assert.deepEqual(r.json, { deliveryId: fx.failedLab, messageId: fx.messageIds.m1, destination: 'adt-in/lab', previousStatus: 'failed', status: 'pending' });
  assert.equal((await store.queue.get(fx.failedLab))?.payload, edited);
  assert.deepEqual(woken, ['adt-in/lab']);
  const conflict = await problem('POST', `/api/v1/deliveries/${fx.failedLab}/retry`, 409, 'SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS');
  assert.equal(conflict['failureClass'], 'permanent');
  await problem('POST', '/api/v1/deliveries/01NOSUCH/resolve', 404, 'SWB_ERR_STORE_NOT_FOUND');
  assert.equal((await problem('POST', `/api/v1/deliveries/${fx.ambiguousEhr}/retry`, 400, 'SWB_ERR_HTTP_BAD_REQUEST', { payload: 5 }))['parameter'], 'payload');
  const resolved = await call('POST', `/api/v1/deliveries/${fx.ambiguousEhr}/resolve`, { reason: 'sent by hand' });
  assert.equal(resolved.json['status'], 'resolved');
  const audit = await call('GET', '/api/v1/audit?limit=2');
  assert.deepEqual(items(audit.json).map((a) => [a['action'], a['actor'], a['target']]), [
    ['delivery.resolve', 'api:ann', fx.ambiguousEhr],
    ['delivery.edit-retry', 'api:ann', fx.failedLab],
  ]);
  assert.doesNotMatch(audit.text, /MRN-1/, 'the audit keeps a hash of the edited payload, not the payload');
  const byAction = await call('GET', '/api/v1/audit?action=channel.apply');
  assert.equal(items(byAction.json).length, 2);
});

test('bulk retry and resolve: per-item results; ids and destination together are refused', async () => {
  const seed = await store.queue.claim({ destination: 'adt-in/lab', owner: 't', leaseMs: 60_000, limit: 10 });
  const t = { startedAt: new Date(), finishedAt: new Date() };
  for (const d of seed) await store.queue.fail(d.id, 't', { ...t, errorCode: 'SWB_ERR_HTTP_DEST_STATUS', failureClass: 'permanent' });
  const failed = seed.map((d) => d.id);
  assert.ok(failed.length >= 2);
  const retried = await call('POST', '/api/v1/exceptions/retry', { destination: 'adt-in/lab', limit: 1 });
  assert.deepEqual([retried.json['ok'], retried.json['failed']], [1, 0]);
  const resolved = await call('POST', '/api/v1/exceptions/resolve', { ids: [...failed, '01NOSUCH'], reason: 'bulk close' });
  const results = items(resolved.json).map((i) => [i['id'], i['kind'] === 'ok' ? 'ok' : i['code']]);
  assert.deepEqual(results.at(-1), ['01NOSUCH', 'SWB_ERR_STORE_NOT_FOUND']);
  assert.equal(resolved.json['ok'], failed.length - 1);
  assert.equal((await problem('POST', '/api/v1/exceptions/retry', 400, 'SWB_ERR_HTTP_BAD_REQUEST', { ids: ['a'], destination: 'adt-in/lab' }))['parameter'], 'ids');
  assert.equal((await problem('POST', '/api/v1/exceptions/resolve', 400, 'SWB_ERR_HTTP_BAD_REQUEST', { ids: [] }))['parameter'], 'ids');
  assert.equal((await problem('POST', '/api/v1/exceptions/resolve', 400, 'SWB_ERR_HTTP_BAD_REQUEST', { everything: true }))['parameter'], 'everything');
});
