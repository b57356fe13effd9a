import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deepFreeze, isDeeplyFrozen } from './deep-freeze.ts';

void test('deepFreeze freezes every object reachable and records each one', () => {
  const inner = { code: 'x' };
  const value = { a: [inner, { b: { c: 1 } }], d: 'text' };
  assert.equal(deepFreeze(value), value);
  assert.ok(isDeeplyFrozen(value));
  assert.ok(isDeeplyFrozen(value.a));
  assert.ok(isDeeplyFrozen(inner));
  assert.ok(Object.isFrozen(value.a[1]) && Object.isFrozen((value.a[1] as { b: object }).b));
  assert.throws(() => {
    (inner as { code: string }).code = 'y';
  }, TypeError);
  assert.throws(() => (value.a as unknown[]).push(1), TypeError);
});

void test('an object frozen only at its top, or not at all, is not deeply frozen', () => {
  const shallow = Object.freeze({ list: [1, 2] });
  assert.equal(isDeeplyFrozen(shallow), false);
  assert.equal(isDeeplyFrozen({}), false);
  // deepFreeze goes below an object someone else froze.
  deepFreeze(shallow);
  assert.ok(isDeeplyFrozen(shallow) && Object.isFrozen(shallow.list));
});

void test('deepFreeze ends on cycles and leaves primitives alone', () => {
  const a: Record<string, unknown> = { name: 'a' };
  const b: Record<string, unknown> = { name: 'b', a };
  a['b'] = b;
  deepFreeze(a);
  assert.ok(isDeeplyFrozen(a) && isDeeplyFrozen(b));
  assert.equal(deepFreeze(3), 3);
  assert.equal(deepFreeze(null), null);
});
