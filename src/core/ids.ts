import { randomBytes, randomFillSync } from 'node:crypto';

/**
 * Identifiers. A control id (MSH-10, ST, at most 20 characters in v2.5.1) must be unique per
 * sender; we use time (ms, base 36) + a process-local counter + randomness so that two processes
 * started in the same millisecond still differ.
 */
let counter = 0;
const processTag = randomBytes(3).toString('hex').toUpperCase().slice(0, 4);

export function newControlId(now: number = Date.now()): string {
  counter = (counter + 1) % 1_679_616; // 36^4
  return (now.toString(36) + processTag + counter.toString(36).padStart(4, '0')).toUpperCase().slice(0, 20);
}

/**
 * A correlation id: a version 7 UUID (RFC 9562 5.7: 48-bit Unix time in ms, then 74 random bits),
 * so it is unique like any UUID but grows with time. Every stored message and proposal carries one
 * in an index; with random (v4) ids each new row landed on a different leaf page of that index, and
 * a group commit of 16 messages wrote 16 extra pages to the WAL. Time-ordered ids append.
 */
export function newCorrelationId(now: number = Date.now()): string {
  const at = randomChunk(10);
  let hex = now.toString(16).padStart(12, '0').slice(-12);
  for (let i = 0; i < 10; i++) {
    let b = randomPool[at + i] as number;
    if (i === 0) b = (b & 0x0f) | 0x70; // version 7 in the high nibble of byte 6
    if (i === 2) b = (b & 0x3f) | 0x80; // variant 10 in the top bits of byte 8
    hex += HEX[b] as string;
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const HEX: readonly string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

let lastMs = 0;
let seqInMs = 0;

/**
 * A message or delivery id: 48-bit time in ms + a sequence within the ms + randomness, as 26
 * Crockford base-32 characters (ULID-shaped), so ids sort by creation time as text and as bytes.
 */
export function newSortableId(now: number = Date.now()): string {
  if (now === lastMs) seqInMs++;
  else {
    lastMs = now;
    seqInMs = 0;
  }
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet.charAt(t % 32) + time;
    t = Math.floor(t / 32);
  }
  let seq = '';
  let s = seqInMs;
  for (let i = 0; i < 4; i++) {
    seq = alphabet.charAt(s % 32) + seq;
    s = Math.floor(s / 32);
  }
  const rnd = randomChunk(12);
  let tail = '';
  for (let i = 0; i < 12; i++) tail += alphabet.charAt((randomPool[rnd + i] as number) % 32);
  return time + seq + tail;
}

/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time: a randomBytes call per id (two
 * or more ids per stored message) showed as ~3% of the engine's CPU in the end-to-end profile.
 * Each byte is used once; the source is the same CSPRNG.
 */
const randomPool = Buffer.alloc(4096);
let randomAt = randomPool.length;

/** The offset of `n` unused bytes in randomPool. */
function randomChunk(n: number): number {
  if (randomAt + n > randomPool.length) {
    randomFillSync(randomPool);
    randomAt = 0;
  }
  const at = randomAt;
  randomAt += n;
  return at;
}
