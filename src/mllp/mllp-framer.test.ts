import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { SwitchboardError } from '../core/errors.ts';
import { encodeMllpFrame, MllpFramer, type MllpFramerOptions } from './mllp-framer.ts';

interface Decoded {
  readonly framer: MllpFramer;
  readonly frames: Buffer[];
  readonly errors: SwitchboardError[];
  readonly junk: () => number;
}

function decoder(options: Partial<MllpFramerOptions> = {}): Decoded {
  const frames: Buffer[] = [];
  const errors: SwitchboardError[] = [];
  let junk = 0;
  const framer = new MllpFramer({
    ...options,
    onFrame: (p) => frames.push(p),
    onError: (e) => errors.push(e),
    onJunk: (n) => {
      junk += n;
    },
  });
  return { framer, frames, errors, junk: () => junk };
}

const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const VT = [0x0b];
const FS_CR = [0x1c, 0x0d];

describe('encodeMllpFrame', () => {
  test('wraps text and bytes in SB ... EB CR', () => {
    assert.deepEqual([...encodeMllpFrame('AB')], [0x0b, 0x41, 0x42, 0x1c, 0x0d]);
    assert.deepEqual([...encodeMllpFrame(Buffer.from([1, 2]))], [0x0b, 1, 2, 0x1c, 0x0d]);
    assert.deepEqual([...encodeMllpFrame('')], [0x0b, 0x1c, 0x0d]);
  });

  test('encodes with the requested encoding', () => {
    assert.deepEqual([...encodeMllpFrame('é', 'utf8')], [0x0b, 0xc3, 0xa9, 0x1c, 0x0d]);
    assert.deepEqual([...encodeMllpFrame('é', 'latin1')], [0x0b, 0xe9, 0x1c, 0x0d]);
  });
});

describe('MllpFramer', () => {
  const first = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1||X\r';
  const second = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A08|2|P|2.5.1\r';
  const stream = Buffer.concat([encodeMllpFrame(first), encodeMllpFrame(second)]);

  test('decodes a 2-frame stream split at every byte position', () => {
    for (let cut = 0; cut <= stream.length; cut += 1) {
      const d = decoder();
      d.framer.push(stream.subarray(0, cut));
      d.framer.push(stream.subarray(cut));
      assert.deepEqual(
        d.frames.map((f) => f.toString('utf8')),
        [first, second],
        `cut at ${cut}`,
      );
      assert.equal(d.junk(), 0);
      assert.equal(d.framer.bufferedBytes, 0);
      assert.equal(d.framer.inFrame, false);
    }
  });

  test('decodes the stream fed one byte at a time', () => {
    const d = decoder();
    for (let i = 0; i < stream.length; i += 1) d.framer.push(stream.subarray(i, i + 1));
    assert.deepEqual(d.frames.map((f) => f.toString()), [first, second]);
  });

  test('decodes several frames coalesced in one chunk', () => {
    const d = decoder();
    const many = Buffer.concat(Array.from({ length: 50 }, (_, i) => encodeMllpFrame(`M${i}`)));
    d.framer.push(many);
    assert.deepEqual(
      d.frames.map((f) => f.toString()),
      Array.from({ length: 50 }, (_, i) => `M${i}`),
    );
    assert.equal(d.framer.stats.frames, 50);
  });

  test('frames are copies, not views into the chunk', () => {
    const d = decoder();
    const chunk = encodeMllpFrame('ABC');
    d.framer.push(chunk);
    chunk.fill(0);
    assert.equal(d.frames[0]?.toString(), 'ABC');
  });

  test('skips and counts junk before, between and after frames', () => {
    const d = decoder();
    d.framer.push(bytes('xx', VT, 'one', FS_CR, '\r\n', VT, 'two', FS_CR, 'zzz'));
    assert.deepEqual(d.frames.map((f) => f.toString()), ['one', 'two']);
    assert.equal(d.junk(), 2 + 2 + 3);
    assert.equal(d.framer.stats.junkBytes, 7);
  });

  test('junk split across chunks is counted once per byte', () => {
    const d = decoder();
    d.framer.push(bytes('ab'));
    d.framer.push(bytes('c', VT, 'p', FS_CR));
    assert.equal(d.junk(), 3);
    assert.deepEqual(d.frames.map((f) => f.toString()), ['p']);
  });

  test('an EB not followed by CR is payload data (only EB CR ends a frame)', () => {
    const d = decoder();
    d.framer.push(bytes(VT, 'a', [0x1c], 'b', FS_CR));
    assert.deepEqual(d.frames.map((f) => [...f]), [[0x61, 0x1c, 0x62]]);
    assert.equal(d.framer.stats.strayEndBlocks, 1);
  });

  test('an EB at a chunk end is resolved by the next chunk', () => {
    const ended = decoder();
    ended.framer.push(bytes(VT, 'a', [0x1c]));
    assert.equal(ended.frames.length, 0);
    ended.framer.push(bytes([0x0d]));
    assert.deepEqual(ended.frames.map((f) => f.toString()), ['a']);

    const data = decoder();
    data.framer.push(bytes(VT, 'a', [0x1c]));
    data.framer.push(bytes('b', FS_CR));
    assert.deepEqual(data.frames.map((f) => [...f]), [[0x61, 0x1c, 0x62]]);
  });

  test('an SB inside a frame drops the partial frame and starts a new one', () => {
    const d = decoder();
    d.framer.push(bytes(VT, 'partial'));
    d.framer.push(bytes('more', VT, 'good', FS_CR));
    assert.deepEqual(d.frames.map((f) => f.toString()), ['good']);
    assert.equal(d.framer.stats.abortedFrames, 1);
    assert.equal(d.junk(), 1 + 'partial'.length + 'more'.length);
  });

  test('an oversize frame emits FRAME_TOO_LARGE once, stays bounded, and decoding resumes after it', () => {
    const max = 100;
    const d = decoder({ maxFrameBytes: max });
    d.framer.push(bytes(VT));
    let peak = 0;
    for (let i = 0; i < 1000; i += 1) {
      d.framer.push(Buffer.alloc(37, 0x41));
      peak = Math.max(peak, d.framer.bufferedBytes);
    }
    assert.ok(peak <= max, `buffered ${peak} > ${max}`);
    assert.equal(d.framer.bufferedBytes, 0);
    assert.equal(d.errors.length, 1);
    assert.equal(d.errors[0]?.code, 'SWB_ERR_MLLP_FRAME_TOO_LARGE');
    assert.equal(d.errors[0]?.params['limit'], max);
    d.framer.push(bytes(FS_CR, VT, 'next', FS_CR));
    assert.deepEqual(d.frames.map((f) => f.toString()), ['next']);
    assert.equal(d.framer.stats.oversizeFrames, 1);
  });

  test('a payload of exactly maxFrameBytes is accepted; one more byte is not', () => {
    const ok = decoder({ maxFrameBytes: 4 });
    ok.framer.push(bytes(VT, 'abcd', FS_CR));
    assert.equal(ok.frames.length, 1);
    const big = decoder({ maxFrameBytes: 4 });
    big.framer.push(bytes(VT, 'abcde', FS_CR));
    assert.equal(big.frames.length, 0);
    assert.equal(big.errors.length, 1);
  });

  test('an empty frame decodes to an empty payload', () => {
    const d = decoder();
    d.framer.push(bytes(VT, FS_CR));
    assert.deepEqual(d.frames.map((f) => f.length), [0]);
  });

  test('rejects a nonsensical maxFrameBytes', () => {
    assert.throws(() => new MllpFramer({ maxFrameBytes: 0, onFrame: () => undefined }), RangeError);
  });

  test('reset drops a partial frame', () => {
    const d = decoder();
    d.framer.push(bytes(VT, 'abc'));
    assert.equal(d.framer.inFrame, true);
    d.framer.reset();
    assert.equal(d.framer.bufferedBytes, 0);
    d.framer.push(bytes('def', FS_CR));
    assert.equal(d.frames.length, 0);
  });

  // Payload bytes other than SB and EB: the only bytes MLLP release 2 allows in a payload.
  const payloadArb = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a.filter((b) => b !== 0x0b && b !== 0x1c)));

  test('property: framed payloads cut at random points decode back exactly', () => {
    fc.assert(
      fc.property(fc.array(payloadArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), (payloads, cutSeeds) => {
        const wire = Buffer.concat(payloads.map((p) => encodeMllpFrame(p)));
        const cuts = [...new Set(cutSeeds.map((s) => s % (wire.length + 1)))].sort((a, b) => a - b);
        const d = decoder();
        let start = 0;
        for (const cut of [...cuts, wire.length]) {
          d.framer.push(wire.subarray(start, cut));
          start = cut;
        }
        assert.equal(d.frames.length, payloads.length);
        payloads.forEach((p, i) => assert.ok(p.equals(d.frames[i] as Buffer), `frame ${i}`));
        assert.equal(d.junk(), 0);
      }),
      { numRuns: 300 },
    );
  });

  test('property: random bytes never throw and never buffer past the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), fc.integer({ min: 1, max: 64 }), (chunks, max) => {
        const d = decoder({ maxFrameBytes: max });
        for (const c of chunks) {
          d.framer.push(Buffer.from(c));
          assert.ok(d.framer.bufferedBytes <= max);
        }
        for (const f of d.frames) assert.ok(f.length <= max);
      }),
      { numRuns: 500 },
    );
  });
});
