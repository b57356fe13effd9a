import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { backoff } from './backoff.ts';

const policy = { initialMs: 100, maxMs: 1000 };

test('the ceiling doubles per attempt and stops at maxMs (random at its top)', () => {
  const top = (): number => 0.999999999;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 50, 5000].map((attempt) => backoff({ ...policy, attempt, random: top })),
    [100, 200, 400, 800, 1000, 1000, 1000, 1000],
  );
});

test('full jitter: the delay is uniform over [0, ceiling]', () => {
  assert.equal(backoff({ ...policy, attempt: 3, random: () => 0 }), 0);
  assert.equal(backoff({ ...policy, attempt: 3, random: () => 0.5 }), 200);
  for (let i = 0; i < 1000; i++) {
    const d = backoff({ ...policy, attempt: 4 });
    assert.ok(Number.isInteger(d) && d >= 0 && d <= 800, String(d));
  }
});

test('retryAfterMs is a floor, even above maxMs', () => {
  assert.equal(backoff({ ...policy, attempt: 1, random: () => 0, retryAfterMs: 250 }), 250);
  assert.equal(backoff({ ...policy, attempt: 1, random: () => 0.99, retryAfterMs: 5 }), 99);
  assert.equal(backoff({ ...policy, attempt: 9, random: () => 0, retryAfterMs: 60_000 }), 60_000);
  assert.equal(backoff({ ...policy, attempt: 1, random: () => 0, retryAfterMs: 0.2 }), 1);
});

test('a bad random source is clamped, not trusted', () => {
  assert.equal(backoff({ ...policy, attempt: 1, random: () => 7 }), 100);
  assert.equal(backoff({ ...policy, attempt: 1, random: () => -1 }), 0);
  assert.equal(backoff({ ...policy, attempt: 1, random: () => Number.NaN }), 0);
});

test('invalid input is a config error naming the field', () => {
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (error) {
      return isSwitchboardError(error) ? `${error.code} ${error.message}` : 'not a SwitchboardError';
    }
    return undefined;
  };
  assert.match(code(() => backoff({ ...policy, attempt: 0 })) ?? '', /SWB_ERR_CONFIG_INVALID attempt/);
  assert.match(code(() => backoff({ initialMs: 10, maxMs: 5, attempt: 1 })) ?? '', /retry\.maxMs/);
  assert.match(code(() => backoff({ initialMs: -1, maxMs: 5, attempt: 1 })) ?? '', /retry\.initialMs/);
});

void test('multiplier grows the ceiling and jitter bounds the random share', () => {
  // Ceiling of attempt 3 with multiplier 3: 100 * 3^2 = 900; jitter 0.2: delay in [720, 900].
  assert.equal(backoff({ attempt: 3, initialMs: 100, maxMs: 10_000, multiplier: 3, jitter: 0.2, random: () => 0 }), 720);
  assert.equal(backoff({ attempt: 3, initialMs: 100, maxMs: 10_000, multiplier: 3, jitter: 0.2, random: () => 0.999999 }), 900);
  assert.equal(backoff({ attempt: 3, initialMs: 100, maxMs: 10_000, multiplier: 3, jitter: 0, random: () => 0.5 }), 900);
  assert.throws(() => backoff({ attempt: 1, initialMs: 1, maxMs: 2, jitter: 1.5 }), /jitter/);
});
