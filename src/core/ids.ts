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

/** A random UUID for correlation ids. */
export function newCorrelationId(): string {
  return crypto.randomUUID();
}

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
