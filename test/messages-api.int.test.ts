import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { buildHttpApi } from '../src/api/http-api.ts';
import { startListenerService, type ListenerService } from '../src/api/listener-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

// Written here for this test; ZZMARKER* names and MRNAPI* ids must never show up in search results.
const message = (controlId: string, mrn: string, family: string): string =>
  [`MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305103000-0500||ADT^A01^ADT_A01|${controlId}|P|2.5.1`, 'EVN|A01|20240305103000-0500', `PID|1||${mrn}^^^H^MR||${family}^JANE||19800101|F`, 'PV1|1|I'].join('\r');
const API1 = message('API-1', 'MRNAPI1', 'ZZMARKERONE');
const API2 = message('API-2', 'MRNAPI2', 'ZZMARKERTWO');
const API3_INVALID = message('API-3', '', 'ZZMARKERTHREE');
const API4 = message('API-4', 'MRNAPI1', 'ZZMARKERFOUR');

let dir: string;
let store: Store;
let service: ListenerService;
let client: MllpClient;

before(async () => {
  dir = tempDir('swb-messages-api-');
  store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  service = await startListenerService({ host: '127.0.0.1', mllpPort: 0, httpPort: 0, validate: true, maxFrameBytes: 1024 * 1024, idleTimeoutMs: 0, logger: createLogger({ level: 'silent' }), store });
  client = new MllpClient({ host: '127.0.0.1', port: service.mllp.port, ackTimeoutMs: 5000 });
  for (const [m, ack] of [[API1, 'AA'], [API2, 'AA'], [API3_INVALID, 'AE'], [API4, 'AA']] as const) {
    assert.equal((await client.send(m)).ack?.code, ack);
  }
});

after(async () => {
  await client.close();
  await service.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const http = (path: string): Promise<Response> => fetch(`${service.httpUrl ?? ''}${path}`);

interface Summary {
  id: string;
  controlId: string | null;
  status: string;
  statusReason: string | null;
  messageType: string | null;
  channelId: string;
}
interface Page {
  items: Summary[];
  nextCursor: string | null;
}

async function page(path: string): Promise<{ body: Page; text: string }> {
  const res = await http(path);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return { body: JSON.parse(text) as Page, text };
}

async function problem(path: string, status: number): Promise<Record<string, unknown>> {
  const res = await http(path);
  assert.equal(res.status, status);
  assert.equal(res.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  return (await res.json()) as Record<string, unknown>;
}

test('search by control id, patient id and status returns summaries without content or patient ids', async () => {
  const byControl = await page('/api/v1/messages?controlId=API-1');
  assert.deepEqual(byControl.body.items.map((i) => [i.controlId, i.status, i.messageType, i.channelId]), [['API-1', 'received', 'ADT^A01', 'mllp']]);
  assert.equal(byControl.body.nextCursor, null);

  const byPatient = await page('/api/v1/messages?patientId=MRNAPI1');
  assert.deepEqual(byPatient.body.items.map((i) => i.controlId), ['API-4', 'API-1']);

  const errored = await page('/api/v1/messages?status=errored');
  assert.deepEqual(errored.body.items.map((i) => [i.controlId, i.statusReason]), [['API-3', 'SWB_ERR_HL7_INVALID_MESSAGE']]);

  const all = await page('/api/v1/messages');
  assert.deepEqual(all.body.items.map((i) => i.controlId), ['API-4', 'API-3', 'API-2', 'API-1']);
  for (const r of [byControl, byPatient, errored, all]) assert.doesNotMatch(r.text, /ZZMARKER|MRNAPI|19800101|"content"|patientIds|orderingKey/);
});

test('paging with limit and the returned cursor', async () => {
  const first = await page('/api/v1/messages?limit=3');
  assert.deepEqual(first.body.items.map((i) => i.controlId), ['API-4', 'API-3', 'API-2']);
  assert.equal(typeof first.body.nextCursor, 'string');
  const second = await page(`/api/v1/messages?limit=3&cursor=${encodeURIComponent(first.body.nextCursor ?? '')}`);
  assert.deepEqual(second.body.items.map((i) => i.controlId), ['API-1']);
  assert.equal(second.body.nextCursor, null);
});

test('GET /api/v1/messages/:id returns the message with its content and events', async () => {
  const [found] = (await page('/api/v1/messages?controlId=API-1')).body.items;
  assert.ok(found);
  await store.messages.appendEvent({ messageId: found.id, at: new Date('2024-03-05T15:30:01.000Z'), type: 'delivered', deliveryId: 'dlv-1', detail: { attempts: 1 } });
  const res = await http(`/api/v1/messages/${found.id}`);
  assert.equal(res.status, 200);
  const detail = (await res.json()) as Record<string, unknown>;
  assert.equal(detail['id'], found.id);
  assert.equal(detail['content'], API1);
  assert.equal(detail['controlId'], 'API-1');
  assert.deepEqual(detail['patientIds'], ['MRNAPI1']);
  // The store records `received` with the message; then the event this test appended.
  const events = detail['events'] as Array<Record<string, unknown>>;
  assert.deepEqual(events.map((e) => e['type']), ['received', 'delivered']);
  assert.deepEqual(events[1], { at: '2024-03-05T15:30:01.000Z', type: 'delivered', deliveryId: 'dlv-1', detail: { attempts: 1 } });
});

test('an unknown id is a 404 problem; bad parameters are 400 problems naming the parameter', async () => {
  const missing = await problem('/api/v1/messages/01NOSUCHMESSAGE', 404);
  assert.equal(missing['code'], 'SWB_ERR_STORE_NOT_FOUND');
  assert.equal(missing['detail'], 'message 01NOSUCHMESSAGE does not exist');

  const cases: Array<[string, string, RegExp]> = [
    ['from=yesterday', 'from', /^the request is invalid: from must be an ISO 8601 date/],
    ['limit=0', 'limit', /^the request is invalid: limit must be an integer 1-500, got "0"$/],
    ['status=lost', 'status', /^the request is invalid: status must be one or more .*got "lost"$/],
    ['patient_id=MRNAPI1', 'patient_id', /^the request is invalid: patient_id is not a known parameter$/],
    ['controlId=A&controlId=B', 'controlId', /^the request is invalid: controlId must be given once$/],
    ['cursor=bm90LWEtY3Vyc29y', 'cursor', /^the request is invalid: cursor is not a cursor returned by a previous search$/],
    ['from=2024-03-06&to=2024-03-05', 'to', /^the request is invalid: to must be later than from$/],
  ];
  for (const [query, parameter, detail] of cases) {
    const p = await problem(`/api/v1/messages?${query}`, 400);
    assert.equal(p['code'], 'SWB_ERR_HTTP_BAD_REQUEST', query);
    assert.equal(p['parameter'], parameter, query);
    assert.match(String(p['detail']), detail);
    assert.doesNotMatch(JSON.stringify(p), /MRNAPI1/, 'a problem document must not echo a patient id');
  }
});

test('/readyz is 503 when the MLLP listener is not listening', async () => {
  const app = buildHttpApi({ registry: new Registry(), listener: { listening: false, port: undefined, tls: false, connections: 0, received: 0, recent: () => [] } });
  try {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(res.statusCode, 503);
    const body = res.json<Record<string, unknown>>();
    assert.equal(body['code'], 'SWB_ERR_HTTP_NOT_READY');
    assert.equal(body['detail'], 'not ready: the MLLP listener is not listening');
  } finally {
    await app.close();
  }
});

// Last: it closes the store.
test('/readyz is 200 while the listener listens and the store answers, 503 once the store is closed', async () => {
  const ready = await http('/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready' });

  await store.close();
  const down = await problem('/readyz', 503);
  assert.equal(down['code'], 'SWB_ERR_HTTP_NOT_READY');
  assert.equal(down['detail'], 'not ready: the store does not answer');
});
