import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage } from './index.ts';
import { createAckResponder } from './hl7-ack-responder.ts';

// Written here for these tests.
const msh = (ackFields = '', version = '2.5.1'): string => `MSH|^~\\&|SEND|SFAC|RECV|RFAC|20240305103000||ADT^A01^ADT_A01|C-77|P|${version}${ackFields}`;
const body = '\rEVN|A01|20240305103000\rPID|1||MRN1^^^H^MR||DOE^JANE||19800101|F\rPV1|1|I\r';

function ackOf(reply: string | undefined): ReturnType<typeof parseMessage> {
  assert.ok(reply !== undefined, 'a reply was expected');
  return parseMessage(reply);
}

void test('original mode: a good message gets AA echoing MSH-10, sender and receiver swapped', async () => {
  const r = await createAckResponder()(msh() + body);
  const ack = ackOf(r.reply);
  assert.equal(ack.get('MSA-1'), 'AA');
  assert.equal(ack.get('MSA-2'), 'C-77');
  assert.equal(ack.get('MSH-3'), 'RECV');
  assert.equal(ack.get('MSH-5'), 'SEND');
  assert.notEqual(ack.get('MSH-10'), 'C-77');
  assert.deepEqual(r.summary, { controlId: 'C-77', type: 'ADT^A01', version: '2.5.1', bytes: Buffer.byteLength(msh() + body), ack: 'AA' });
});

void test('a message that does not parse gets AE (do not resend unchanged) with a located ERR; text without MSH gets AR', async () => {
  const r = await createAckResponder()(`${msh()}\rPI|1\r`);
  const ack = ackOf(r.reply);
  assert.equal(ack.get('MSA-1'), 'AE');
  // ERR-5 carries our code; ERR-8 is left empty so no text from the input travels back.
  assert.equal(ack.get('ERR-5'), 'SWB_ERR_HL7_BAD_SEGMENT_ID');
  assert.equal(ack.get('ERR-8'), undefined);
  assert.equal(ack.get('MSA-2'), 'C-77');
  assert.equal(ack.get('ERR-3.1'), '100');
  assert.equal(ack.get('ERR-2.1'), 'PI');
  assert.equal(r.summary.errorCode, 'SWB_ERR_HL7_BAD_SEGMENT_ID');
  const garbage = await createAckResponder()('hello, this is not HL7');
  assert.equal(ackOf(garbage.reply).get('MSA-1'), 'AR');
});

void test('with validation, an invalid message gets AE with ERR-3 101 at the missing field', async () => {
  const r = await createAckResponder({ validate: true })(`${msh()}\rEVN|A01|20240305103000\rPID|1||||DOE^JANE\rPV1|1|I\r`);
  const ack = ackOf(r.reply);
  assert.equal(ack.get('MSA-1'), 'AE');
  const errs = ack.segmentsNamed('ERR').map((e) => `${e.rawAt(2)} ${e.get('3.1')}`);
  assert.ok(errs.includes('PID^1^3 101'), JSON.stringify(errs));
  // Without validation the same message is accepted.
  const plain = await createAckResponder()(`${msh()}\rEVN|A01|20240305103000\rPID|1||||DOE^JANE\rPV1|1|I\r`);
  assert.equal(ackOf(plain.reply).get('MSA-1'), 'AA');
});

void test('enhanced mode follows MSH-15/MSH-16 (HL7 v2.5.1 ch.2 2.9.2)', async () => {
  const respond = createAckResponder({ validate: true });
  assert.equal(ackOf((await respond(msh('|||AL|NE') + body)).reply).get('MSA-1'), 'CA');
  // No commit ACK asked for, an application ACK always: the outcome is known, so AA is sent.
  assert.equal(ackOf((await respond(msh('|||NE|AL') + body)).reply).get('MSA-1'), 'AA');
  // Nothing asked for: nothing is sent.
  const none = await respond(msh('|||NE|NE') + body);
  assert.equal(none.reply, undefined);
  assert.equal(none.summary.ack, '-');
  // Commit ACK on error only: an invalid message gets CE.
  assert.equal(ackOf((await respond(`${msh('|||ER|NE')}\rEVN|A01|20240305103000\rPID|1||||DOE\r`)).reply).get('MSA-1'), 'CE');
});

void test('onMessage decides: resolving error gives AE, throwing gives AR with 207 (the sender keeps the message)', async () => {
  const err = await createAckResponder({ onMessage: async () => 'error' })(msh() + body);
  assert.equal(ackOf(err.reply).get('MSA-1'), 'AE');
  const thrown = await createAckResponder({
    onMessage: async () => {
      throw new Error('disk full');
    },
  })(msh() + body);
  const ack = ackOf(thrown.reply);
  assert.equal(ack.get('MSA-1'), 'AR');
  assert.equal(ack.get('ERR-3.1'), '207');
  assert.doesNotMatch(thrown.reply ?? '', /disk full/, 'internal error text must not leak into the ACK');
});

void test('the ACK commits only after onMessage resolves', async () => {
  const order: string[] = [];
  const respond = createAckResponder({
    onMessage: async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('committed');
      return undefined;
    },
  });
  const r = await respond(msh() + body);
  order.push('acked');
  assert.deepEqual(order, ['committed', 'acked']);
  assert.equal(ackOf(r.reply).get('MSA-1'), 'AA');
});

void test('onMessage may name a stable code: AE with ERR-3 207 and the code in ERR-5', async () => {
  const { reply, summary } = await createAckResponder({ onMessage: async () => ({ outcome: 'error', errorCode: 'SWB_ERR_PIPELINE_STEP_FAILED' }) })(msh() + body);
  const ack = parseMessage(reply ?? '');
  assert.equal(ack.get('MSA-1'), 'AE');
  assert.equal(ack.get('ERR-3.1'), '207');
  assert.equal(ack.get('ERR-5.1'), 'SWB_ERR_PIPELINE_STEP_FAILED');
  assert.equal(summary.errorCode, 'SWB_ERR_PIPELINE_STEP_FAILED');
});
