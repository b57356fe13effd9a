import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test, type TestContext } from 'node:test';
import type { InboundMessage, ReceiveResult, SourceContext } from '../../engine/source-connector.ts';
import { buildTestAck, testMessage } from '../../mllp/mllp-test-kit.ts';
import { signBody } from './http-destination.ts';
import { HttpSource } from './http-source.ts';

function context(answer: (m: InboundMessage) => Promise<ReceiveResult>): SourceContext & { seen: InboundMessage[] } {
  const seen: InboundMessage[] = [];
  return {
    channelId: 'test',
    seen,
    receive(m) {
      seen.push(m);
      return answer(m);
    },
  };
}

const accept = (m: InboundMessage): Promise<ReceiveResult> =>
  Promise.resolve({ kind: 'accepted', messageId: 'm-1', duplicate: false, status: 'queued', ack: m.contentType === 'hl7v2' ? buildTestAck(m.content, 'CA') : undefined });

async function started(t: TestContext, ctx: SourceContext, settings: Record<string, unknown> = {}): Promise<string> {
  const source = new HttpSource({ host: '127.0.0.1', port: 0, path: '/in', ...settings });
  await source.start(ctx);
  t.after(() => source.stop());
  return source.describe();
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: Headers; text: string; json: Record<string, unknown> | undefined }> {
  const r = await fetch(url, { method: 'POST', headers: { connection: 'close', ...headers }, body });
  const text = await r.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, text, json };
}

describe('HttpSource', () => {
  test('HL7 (any of its media types) answers 200 with the ACK; the correlation id passes through and is echoed', async (t) => {
    const ctx = context(accept);
    const url = await started(t, ctx);
    for (const type of ['application/hl7-v2', 'x-application/hl7-v2+er7; charset=utf-8', 'text/plain']) {
      const r = await post(url, testMessage('H-1'), { 'content-type': type, 'x-correlation-id': 'corr-1' });
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /^application\/hl7-v2/);
      assert.match(r.text, /MSA\|CA\|H-1/);
      assert.equal(r.headers.get('x-correlation-id'), 'corr-1');
    }
    assert.equal(ctx.seen.length, 3);
    const m = ctx.seen[0];
    assert.equal(m?.contentType, 'hl7v2');
    assert.equal(m?.content, testMessage('H-1'));
    assert.equal(m?.correlationId, 'corr-1');
    assert.match(m?.source ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  test('an AE ACK (stored errored) is still 200: the ACK carries the outcome; no ACK due is 202 JSON', async (t) => {
    const ctx = context((m) =>
      Promise.resolve(
        m.content.includes('|NE|')
          ? { kind: 'accepted', messageId: 'm-2', duplicate: false, status: 'queued', ack: undefined }
          : { kind: 'accepted', messageId: 'm-3', duplicate: false, status: 'errored', ack: buildTestAck(m.content, 'AE'), errorCode: 'SWB_ERR_HL7_INVALID_MESSAGE' },
      ),
    );
    const url = await started(t, ctx);
    const ae = await post(url, testMessage('AE-1'), { 'content-type': 'application/hl7-v2' });
    assert.equal(ae.status, 200);
    assert.match(ae.text, /MSA\|AE\|AE-1/);
    const ne = await post(url, testMessage('NE-1').replace('|P|2.5.1', '|P|2.5.1|||NE|NE|'), { 'content-type': 'application/hl7-v2' });
    assert.equal(ne.status, 202);
    assert.deepEqual(ne.json, { messageId: 'm-2', status: 'queued', duplicate: false });
  });

  test('FHIR JSON is stored and answered 202 {messageId, status, duplicate}', async (t) => {
    const ctx = context(() => Promise.resolve({ kind: 'accepted', messageId: 'f-1', duplicate: true, status: 'queued', ack: undefined }));
    const url = await started(t, ctx);
    for (const type of ['application/fhir+json', 'application/json; charset=utf-8']) {
      const r = await post(url, '{"resourceType":"Patient","id":"p1"}', { 'content-type': type });
      assert.equal(r.status, 202);
      assert.deepEqual(r.json, { messageId: 'f-1', status: 'queued', duplicate: true });
    }
    assert.deepEqual(ctx.seen.map((m) => m.contentType), ['fhir+json', 'fhir+json']);
  });

  test('JSON that is not a FHIR resource is still stored (as text) and answered 400 problem JSON with its messageId', async (t) => {
    const ctx = context(() => Promise.resolve({ kind: 'accepted', messageId: 'x-1', duplicate: false, status: 'received', ack: undefined }));
    const url = await started(t, ctx);
    for (const body of ['{not json', '[1,2]', '{"id":"p1"}']) {
      const r = await post(url, body, { 'content-type': 'application/fhir+json' });
      assert.equal(r.status, 400);
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.equal(r.json?.['code'], 'SWB_ERR_HTTP_SOURCE_NOT_FHIR');
      assert.equal(r.json?.['messageId'], 'x-1');
      assert.doesNotMatch(r.text, /p1/, 'the body is never echoed');
    }
    assert.deepEqual(ctx.seen.map((m) => [m.contentType, m.content]), [['text', '{not json'], ['text', '[1,2]'], ['text', '{"id":"p1"}']]);
  });

  test('not stored (store down): 503 problem JSON with Retry-After and the code; a throwing receive: 500', async (t) => {
    const ctx = context((m) => (m.content.includes('THROW') ? Promise.reject(new Error('bug')) : Promise.resolve({ kind: 'rejected', errorCode: 'SWB_ERR_STORE_UNAVAILABLE', ack: undefined })));
    const url = await started(t, ctx, { retryAfterSec: 7 });
    const r = await post(url, testMessage('R-1'), { 'content-type': 'application/hl7-v2', 'x-correlation-id': 'c-503' });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '7');
    assert.equal(r.headers.get('x-correlation-id'), 'c-503');
    assert.equal(r.json?.['code'], 'SWB_ERR_SOURCE_NOT_STORED');
    assert.equal(r.json?.['errorCode'], 'SWB_ERR_STORE_UNAVAILABLE');
    assert.equal(r.json?.['failureClass'], 'transient');
    const thrown = await post(url, testMessage('THROW'), { 'content-type': 'application/hl7-v2' });
    assert.equal(thrown.status, 500);
    assert.equal(thrown.json?.['code'], 'SWB_ERR_SOURCE_RECEIVE_FAILED');
  });

  test('transport refusals happen before anything is stored: 404, 405, 415, 413', async (t) => {
    const ctx = context(accept);
    const url = await started(t, ctx, { maxBodyBytes: 1000 });
    const other = await post(url.replace('/in', '/other'), testMessage('X'), { 'content-type': 'application/hl7-v2' });
    assert.deepEqual([other.status, other.json?.['code']], [404, 'SWB_ERR_HTTP_NOT_FOUND']);
    const get = await fetch(url);
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    await get.text();
    const xml = await post(url, '<x/>', { 'content-type': 'application/xml' });
    assert.deepEqual([xml.status, xml.json?.['code']], [415, 'SWB_ERR_HTTP_SOURCE_MEDIA_TYPE']);
    const big = await post(url, testMessage('BIG', 'x'.repeat(2000)), { 'content-type': 'application/hl7-v2' });
    assert.deepEqual([big.status, big.json?.['code']], [413, 'SWB_ERR_HTTP_SOURCE_TOO_LARGE']);
    // Chunked, with no Content-Length: refused while streaming.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/hl7-v2' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('y'.repeat(500));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal(ctx.seen.length, 0);
  });

  test('bearerToken: a missing or wrong token is 401; the right one passes', async (t) => {
    const ctx = context(accept);
    const url = await started(t, ctx, { bearerToken: 's3cret-token' });
    const none = await post(url, testMessage('B-1'), { 'content-type': 'application/hl7-v2' });
    assert.deepEqual([none.status, none.json?.['code']], [401, 'SWB_ERR_HTTP_SOURCE_UNAUTHORIZED']);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const wrong = await post(url, testMessage('B-1'), { 'content-type': 'application/hl7-v2', authorization: 'Bearer s3cret-tokeN' });
    assert.equal(wrong.status, 401);
    const right = await post(url, testMessage('B-1'), { 'content-type': 'application/hl7-v2', authorization: 'Bearer s3cret-token' });
    assert.equal(right.status, 200);
    assert.equal(ctx.seen.length, 1);
  });

  test('hmacSecret: the http destination signature passes; a bad, stale or missing one is 401', async (t) => {
    const ctx = context(accept);
    const url = await started(t, ctx, { hmacSecret: 'k3y' });
    const body = testMessage('S-1');
    const now = Math.floor(Date.now() / 1000);
    const ok = await post(url, body, { 'content-type': 'application/hl7-v2', 'x-switchboard-signature': signBody('k3y', body, now) });
    assert.equal(ok.status, 200);
    for (const signature of [signBody('other', body, now), signBody('k3y', `${body}x`, now), signBody('k3y', body, now - 3600), 't=1,v1=zz']) {
      const r = await post(url, body, { 'content-type': 'application/hl7-v2', 'x-switchboard-signature': signature });
      assert.deepEqual([r.status, r.json?.['code']], [401, 'SWB_ERR_HTTP_SOURCE_UNAUTHORIZED']);
    }
    const missing = await post(url, body, { 'content-type': 'application/hl7-v2' });
    assert.equal(missing.status, 401);
    assert.equal(ctx.seen.length, 1);
  });

  test('a correlation id that is not a plain token is not used nor echoed', async (t) => {
    const ctx = context(accept);
    const url = await started(t, ctx);
    const r = await post(url, testMessage('C-1'), { 'content-type': 'application/hl7-v2', 'x-correlation-id': 'x'.repeat(200) });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-correlation-id'), null);
    assert.equal(ctx.seen[0]?.correlationId, undefined);
  });
});
