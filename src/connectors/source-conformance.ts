/**
 * One conformance suite for every source connector (STYLE.md "Ports and adapters"), run over a
 * real started source: real sockets, real folders. Test-only; not used by runtime code.
 *
 * A harness knows how to build its source (the same settings each time, so a second instance binds
 * the same port or polls the same folder) and how to "send" to it as a real sender would, turning
 * what the sender was told into `accepted` or `rejected` (an AR ACK, a 503, a file kept in place).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { InboundMessage, ReceiveResult, SourceConnector, SourceContext } from '../engine/source-connector.ts';
import { buildTestAck, sleep, testMessage, waitFor } from '../mllp/mllp-test-kit.ts';

export type SenderOutcome = 'accepted' | 'rejected';

export interface SourceHarness {
  /** A new, not started, source with the harness's fixed settings. */
  create(): SourceConnector;
  /** Sends one message as a sender would and resolves with what the sender was told. */
  send(content: string, context: RecordingContext): Promise<SenderOutcome>;
  /**
   * Sends several messages from one sender, in order, the way that kind preserves order (one MLLP
   * connection, pipelined; sequential HTTP requests; files named in order).
   */
  sendMany(contents: readonly string[], context: RecordingContext): Promise<SenderOutcome[]>;
  /** After a rejected send: the sender's retry (a resend; for a folder, the next poll). */
  resend(content: string, context: RecordingContext): Promise<SenderOutcome>;
  /** Resolves when it is shown that the stopped source takes no input (port refused, folder not polled). */
  assertStopped(context: RecordingContext): Promise<void>;
  /** A `describe()` of a started source matches this. */
  readonly describes: RegExp;
  cleanup(): Promise<void>;
}

/** A channel stand-in that records what it was handed and can reject or slow down on demand. */
export class RecordingContext implements SourceContext {
  readonly channelId = 'conformance';
  /** Accepted messages, in the order `receive` was called. */
  readonly accepted: InboundMessage[] = [];
  readonly rejected: InboundMessage[] = [];
  /** The next this many receives answer `rejected` (a store failure). */
  rejectNext = 0;
  /** Each receive waits this long before answering (a slow commit). */
  delayMs = 0;
  /** Receives started but not answered yet. */
  inHand = 0;
  #nextId = 0;

  async receive(message: InboundMessage): Promise<ReceiveResult> {
    this.inHand += 1;
    try {
      if (this.delayMs > 0) await sleep(this.delayMs);
      const hl7 = message.contentType === 'hl7v2';
      if (this.rejectNext > 0) {
        this.rejectNext -= 1;
        this.rejected.push(message);
        return { kind: 'rejected', errorCode: 'SWB_ERR_STORE_UNAVAILABLE', ack: hl7 ? buildTestAck(message.content, 'AR', { errorCode: '207' }) : undefined };
      }
      this.accepted.push(message);
      this.#nextId += 1;
      return { kind: 'accepted', messageId: `m-${this.#nextId}`, duplicate: false, status: 'queued', ack: hl7 ? buildTestAck(message.content, 'CA') : undefined };
    } finally {
      this.inHand -= 1;
    }
  }

  /** MSH-10 of each accepted HL7 message, in order. */
  controlIds(): string[] {
    return this.accepted.map((m) => /^MSH\|[^|]*(?:\|[^|]*){7}\|([^|]*)/.exec(m.content)?.[1] ?? '?');
  }
}

export function runSourceSuite(name: string, factory: () => Promise<SourceHarness>): void {
  describe(`source conformance: ${name}`, () => {
    test('start resolves when ready; stop releases the port/folder; the same instance restarts', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const ctx = new RecordingContext();
      const source = h.create();
      await source.start(ctx);
      assert.match(source.describe(), h.describes);
      assert.equal(await h.send(testMessage('OPEN-1'), ctx), 'accepted');
      await source.stop();
      await h.assertStopped(ctx);
      assert.deepEqual(ctx.controlIds(), ['OPEN-1']);
      // A second instance can take the same port/folder: stop released it.
      const second = h.create();
      await second.start(ctx);
      assert.equal(await h.send(testMessage('OPEN-2'), ctx), 'accepted');
      await second.stop();
      // And a stopped instance starts again.
      await source.start(ctx);
      assert.equal(await h.send(testMessage('OPEN-3'), ctx), 'accepted');
      await source.stop();
      await source.stop(); // idempotent
      assert.deepEqual(ctx.controlIds(), ['OPEN-1', 'OPEN-2', 'OPEN-3']);
    });

    test('messages from one sender arrive in the order sent', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const ctx = new RecordingContext();
      const source = h.create();
      await source.start(ctx);
      t.after(() => source.stop());
      const ids = Array.from({ length: 25 }, (_, i) => `ORD-${String(i + 1).padStart(3, '0')}`);
      const outcomes = await h.sendMany(ids.map((id) => testMessage(id)), ctx);
      assert.deepEqual(outcomes, ids.map(() => 'accepted'));
      assert.deepEqual(ctx.controlIds(), ids);
    });

    test('at-least-once: a message the channel could not store is reported to the sender and arrives on the retry', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const ctx = new RecordingContext();
      const source = h.create();
      await source.start(ctx);
      t.after(() => source.stop());
      ctx.rejectNext = 1;
      assert.equal(await h.send(testMessage('ALO-1'), ctx), 'rejected');
      assert.equal(ctx.rejected.length, 1);
      assert.deepEqual(ctx.controlIds(), []);
      assert.equal(await h.resend(testMessage('ALO-1'), ctx), 'accepted');
      assert.equal(await h.send(testMessage('ALO-2'), ctx), 'accepted');
      assert.deepEqual(ctx.controlIds(), ['ALO-1', 'ALO-2']);
    });

    test('stop waits for the message in hand to be answered', async (t) => {
      const h = await factory();
      t.after(() => h.cleanup());
      const ctx = new RecordingContext();
      const source = h.create();
      await source.start(ctx);
      ctx.delayMs = 300;
      const sending = h.send(testMessage('STOP-1'), ctx);
      await waitFor(() => ctx.inHand > 0, 10_000, 'the receive to start');
      await source.stop();
      // The commit finished before stop resolved, and the sender heard about it.
      assert.equal(ctx.inHand, 0);
      assert.deepEqual(ctx.controlIds(), ['STOP-1']);
      assert.equal(await sending, 'accepted');
    });
  });
}
