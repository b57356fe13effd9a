import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startListenerService, type ListenerService } from '../src/api/listener-service.ts';
import { createLogger } from '../src/core/logger.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';

// Written here for this test; the patient name is a marker that must never show up in API lists.
const MESSAGE = [
  'MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305103000-0500||ADT^A01^ADT_A01|LST-1|P|2.5.1',
  'EVN|A01|20240305103000-0500',
  'PID|1||MRN9^^^H^MR||ZZMARKERFAMILY^JANE||19800101|F',
  'PV1|1|I',
].join('\r');
const INVALID = MESSAGE.replace('LST-1', 'LST-2').replace('MRN9^^^H^MR', '');

let service: ListenerService;
let client: MllpClient;

before(async () => {
  service = await startListenerService({ host: '127.0.0.1', mllpPort: 0, httpPort: 0, validate: true, maxFrameBytes: 1024 * 1024, idleTimeoutMs: 0, logger: createLogger({ level: 'silent' }) });
  client = new MllpClient({ host: '127.0.0.1', port: service.mllp.port, ackTimeoutMs: 5000 });
});

after(async () => {
  await client.close();
  await service.close();
});

const http = (path: string, init?: RequestInit): Promise<Response> => fetch(`${service.httpUrl ?? ''}${path}`, init);

test('a message sent over MLLP is acknowledged and shows up in metrics and the recent list, without PHI', async () => {
  const ok = await client.send(MESSAGE);
  assert.equal(ok.ack?.code, 'AA');
  assert.equal(ok.ack?.controlId, 'LST-1');
  const bad = await client.send(INVALID);
  assert.equal(bad.ack?.code, 'AE');
  assert.equal(bad.ack?.errorCode, '101');

  const health = (await (await http('/healthz')).json()) as { status: string; mllp: { received: number; port: number } };
  assert.equal(health.status, 'ok');
  assert.equal(health.mllp.port, service.mllp.port);
  assert.equal(health.mllp.received, 2);

  const metrics = await (await http('/metrics')).text();
  assert.match(metrics, /swb_mllp_messages_total\{type="ADT\^A01",ack="AA"\} 1/);
  assert.match(metrics, /swb_mllp_messages_total\{type="ADT\^A01",ack="AE"\} 1/);

  const listRes = await http('/api/v1/listener/messages?limit=10');
  const list = (await listRes.json()) as { items: Array<{ controlId: string; ack: string; errorCode?: string }> };
  assert.deepEqual(list.items.map((i) => [i.controlId, i.ack, i.errorCode]), [['LST-2', 'AE', 'SWB_ERR_HL7_INVALID_MESSAGE'], ['LST-1', 'AA', undefined]]);
  assert.doesNotMatch(JSON.stringify(list), /ZZMARKERFAMILY|19800101/);
});

test('the HL7 utilities answer JSON, and bad input gets a problem document with a stable code', async () => {
  const parsed = await http('/api/v1/hl7/parse', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: MESSAGE });
  assert.equal(parsed.status, 200);
  const tree = (await parsed.json()) as { segments: Array<{ id: string }> };
  assert.deepEqual(tree.segments.map((s) => s.id), ['MSH', 'EVN', 'PID', 'PV1']);

  const bad = await http('/api/v1/hl7/parse', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'NOT|HL7' });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const problem = (await bad.json()) as { code: string; status: number };
  assert.equal(problem.code, 'SWB_ERR_HL7_NO_MSH');
  assert.equal(problem.status, 400);

  const validated = (await (await http('/api/v1/hl7/validate', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: INVALID })).json()) as {
    messages: Array<{ valid: boolean; issues: Array<{ code: string; where: string; message: string }> }>;
  };
  assert.equal(validated.messages[0]?.valid, false);
  assert.ok(validated.messages[0]?.issues.some((i) => i.code === '101' && i.where.startsWith('PID')));

  const missing = await http('/api/v1/nothing-here');
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { code: string }).code, 'SWB_ERR_HTTP_NOT_FOUND');
  assert.ok(missing.headers.get('x-correlation-id'));
});

test('a sender-controlled MSH-9 cannot mint metrics series or echo content', async () => {
  const odd = MESSAGE.replace('ADT^A01^ADT_A01', 'X0^SMITH JOHN').replace('LST-1', 'LST-3');
  const r = await client.send(odd);
  assert.equal(r.ack?.code, 'AA');
  const metrics = await (await http('/metrics')).text();
  assert.doesNotMatch(metrics, /SMITH/);
  assert.match(metrics, /swb_mllp_messages_total\{type="other",ack="AA"\} 1/);
});

test('if the HTTP port cannot be bound, the MLLP listener does not stay up acknowledging', async () => {
  const { createServer, connect } = await import('node:net');
  const freePort = async (): Promise<number> => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return port;
  };
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const busyPort = (blocker.address() as { port: number }).port;
  const mllpPort = await freePort();
  await assert.rejects(
    startListenerService({ host: '127.0.0.1', mllpPort, httpPort: busyPort, validate: false, maxFrameBytes: 1024, idleTimeoutMs: 0, logger: createLogger({ level: 'silent' }) }),
    /EADDRINUSE/,
  );
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  const outcome = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: mllpPort });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
  });
  assert.equal(outcome, 'ECONNREFUSED', 'the MLLP port must be closed again');
});
