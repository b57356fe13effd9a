import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SingleFlight } from './single-flight.ts';

test('one run at a time; a run ending with work left starts another; running is the run in progress', async () => {
  let runs = 0;
  let active = 0;
  let maxActive = 0;
  const queue: number[] = [];
  const done: number[] = [];
  const flight = new SingleFlight(
    async () => {
      runs++;
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((resolve) => setImmediate(resolve));
      done.push(...queue.splice(0));
      // Work that arrives as the run ends: the next run must take it.
      if (runs === 1) queue.push(3);
      active--;
    },
    () => queue.length > 0,
  );
  assert.equal(flight.running, undefined);
  queue.push(1);
  flight.start();
  queue.push(2);
  flight.start();
  assert.ok(flight.running !== undefined);
  while (flight.running !== undefined) await flight.running;
  assert.deepEqual(done, [1, 2, 3]);
  assert.equal(runs, 2);
  assert.equal(maxActive, 1);
});
