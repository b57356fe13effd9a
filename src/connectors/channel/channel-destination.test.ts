import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChannelInbox } from '../../engine/destination-connector.ts';
import type { InboundMessage, ReceiveResult } from '../../engine/source-connector.ts';
import { assertDelivered, assertFailed, delivery, never } from '../test-support.ts';
import { ChannelDestination } from './channel-destination.ts';

/** The engine's channel inbox with one channel, `next`, answering what `answer` says. */
function inbox(answer: (m: InboundMessage) => Promise<ReceiveResult>): ChannelInbox & { seen: { channelId: string; message: InboundMessage }[] } {
  const seen: { channelId: string; message: InboundMessage }[] = [];
  return {
    seen,
    receive(channelId, message) {
      if (channelId !== 'next') return undefined;
      seen.push({ channelId, message });
      return answer(message);
    },
  };
}

const accepted = (over: Partial<Extract<ReceiveResult, { kind: 'accepted' }>> = {}): Promise<ReceiveResult> =>
  Promise.resolve({ kind: 'accepted', messageId: 'm-1', duplicate: false, status: 'queued', ack: 'MSH|...\rMSA|CA|CTRL1\r', ...over });

describe('ChannelDestination', () => {
  test('hands the payload to the other channel as its inbound message; accepted is delivered', async () => {
    const box = inbox(() => accepted());
    const d = new ChannelDestination({ channel: 'next' }, { channels: box });
    const before = Date.now();
    const result = assertDelivered(await d.send(delivery({ destination: 'adt-in/to-next', correlationId: 'corr-9' }), never()));
    assert.deepEqual(JSON.parse(result.response ?? ''), { messageId: 'm-1', status: 'queued', duplicate: false });
    assert.equal(box.seen.length, 1);
    const m = box.seen[0]?.message;
    assert.equal(m?.content, delivery().payload);
    assert.equal(m?.contentType, 'hl7v2');
    assert.equal(m?.source, 'channel:adt-in');
    assert.equal(m?.correlationId, 'corr-9');
    assert.ok((m?.receivedAt.getTime() ?? 0) >= before);
  });

  test('a duplicate (a resend after a lost outcome) is delivered too: the other channel deduped it', async () => {
    const d = new ChannelDestination({ channel: 'next' }, { channels: inbox(() => accepted({ duplicate: true, status: 'duplicate' })) });
    const result = assertDelivered(await d.send(delivery(), never()));
    assert.equal(JSON.parse(result.response ?? '').duplicate, true);
  });

  test('stored errored is delivered with the code: resending cannot help', async () => {
    const d = new ChannelDestination({ channel: 'next' }, { channels: inbox(() => accepted({ status: 'errored', errorCode: 'SWB_ERR_HL7_NO_MSH' })) });
    const result = assertDelivered(await d.send(delivery(), never()));
    assert.equal(JSON.parse(result.response ?? '').errorCode, 'SWB_ERR_HL7_NO_MSH');
  });

  test('rejected (the other channel could not store) is transient with its code', async () => {
    const d = new ChannelDestination({ channel: 'next' }, { channels: inbox(() => Promise.resolve({ kind: 'rejected', errorCode: 'SWB_ERR_STORE_UNAVAILABLE', ack: undefined })) });
    const result = assertFailed(await d.send(delivery(), never()));
    assert.equal(result.failureClass, 'transient');
    assert.equal(result.errorCode, 'SWB_ERR_STORE_UNAVAILABLE');
  });

  test('an unknown channel, or no inbox at all, is permanent SWB_ERR_CHANNEL_NOT_FOUND', async () => {
    for (const d of [new ChannelDestination({ channel: 'nowhere' }, { channels: inbox(() => accepted()) }), new ChannelDestination({ channel: 'next' })]) {
      const result = assertFailed(await d.send(delivery(), never()));
      assert.equal(result.failureClass, 'permanent');
      assert.equal(result.errorCode, 'SWB_ERR_CHANNEL_NOT_FOUND');
      assert.match(result.response ?? '', /no running channel/);
    }
  });

  test('FHIR JSON goes in as fhir+json; other JSON and text as hl7v2', async () => {
    const box = inbox(() => accepted({ ack: undefined }));
    const d = new ChannelDestination({ channel: 'next' }, { channels: box });
    for (const payload of ['{"resourceType":"Patient","id":"p1"}', '  {"resourceType":1}', '{not json', 'plain']) {
      assertDelivered(await d.send(delivery({ payload }), never()));
    }
    assert.deepEqual(box.seen.map((s) => s.message.contentType), ['fhir+json', 'hl7v2', 'hl7v2', 'hl7v2']);
  });

  test('an abort while the other channel is storing is ambiguous; a throw is ambiguous; closed is not sent', async () => {
    const slow = new ChannelDestination({ channel: 'next' }, { channels: inbox(() => new Promise((r) => setTimeout(() => void r({ kind: 'rejected', errorCode: 'X', ack: undefined }), 200))) });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const aborted = assertFailed(await slow.send(delivery(), ac.signal));
    assert.deepEqual([aborted.failureClass, aborted.errorCode], ['ambiguous', 'SWB_ERR_DEST_ABORTED']);

    const throwing = new ChannelDestination({ channel: 'next' }, { channels: inbox(() => Promise.reject(new Error('boom'))) });
    const threw = assertFailed(await throwing.send(delivery(), never()));
    assert.deepEqual([threw.failureClass, threw.errorCode], ['ambiguous', 'SWB_ERR_DEST_UNEXPECTED']);

    await throwing.close();
    const closed = assertFailed(await throwing.send(delivery(), never()));
    assert.deepEqual([closed.failureClass, closed.errorCode], ['transient', 'SWB_ERR_DEST_NOT_SENT']);
  });

  test('settings: channel is required', () => {
    assert.throws(() => new ChannelDestination({}), /destination\.settings\.channel must be a non-empty string/);
  });
});
