import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { newCorrelationId, newSortableId } from './ids.ts';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('a correlation id is a version 7 UUID (RFC 9562 5.7) whose first 48 bits are its time in ms', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ms) => {
      const id = newCorrelationId(ms);
      assert.match(id, UUID_V7);
      assert.equal(Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16), ms);
    }),
  );
});

test('correlation ids made later sort after earlier ones, and never repeat', () => {
  const ids = Array.from({ length: 5000 }, (_, i) => newCorrelationId(1_700_000_000_000 + Math.floor(i / 100)));
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 100; i < ids.length; i += 100) assert.ok((ids[i - 1] as string) < (ids[i] as string), `${ids[i - 1]} < ${ids[i]}`);
});

test('sortable ids sort by creation time as text, within one millisecond too', () => {
  const ids = Array.from({ length: 1000 }, () => newSortableId(1_700_000_000_000));
  assert.deepEqual([...ids].sort(), ids);
  assert.ok(newSortableId(1_700_000_000_000) < newSortableId(1_700_000_000_001));
});
