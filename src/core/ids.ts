import { randomBytes } from 'node:crypto';

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
