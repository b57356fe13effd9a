import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LruMap } from './lru-map.ts';

/** The same operations on a plain list kept in least-recently-used order: the model. */
class ModelLru {
  readonly order: Array<[string, number]> = [];
  constructor(readonly max: number) {}
  get(key: string): number | undefined {
    const i = this.order.findIndex(([k]) => k === key);
    if (i === -1) return undefined;
    const [entry] = this.order.splice(i, 1) as [[string, number]];
    this.order.push(entry);
    return entry[1];
  }
  set(key: string, value: number): void {
    if (this.max <= 0) return;
    const i = this.order.findIndex(([k]) => k === key);
    if (i !== -1) this.order.splice(i, 1);
    if (this.order.length >= this.max) this.order.shift();
    this.order.push([key, value]);
  }
  delete(key: string): void {
    const i = this.order.findIndex(([k]) => k === key);
    if (i !== -1) this.order.splice(i, 1);
  }
}

void test('LruMap keeps the max most recently used keys (gets and sets alike), as a list model does', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('get' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
    fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), value: fc.integer() }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 4 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
      const lru = new LruMap<string, number>(max);
      const model = new ModelLru(max);
      for (const o of ops) {
        if (o.kind === 'get') assert.equal(lru.get(o.key), model.get(o.key));
        else if (o.kind === 'set') {
          lru.set(o.key, o.value);
          model.set(o.key, o.value);
        } else {
          lru.delete(o.key);
          model.delete(o.key);
        }
        assert.equal(lru.size, model.order.length);
      }
      // What is kept, and in which order it goes: read from the front (each get moves it to the back).
      for (const [key, value] of [...model.order]) assert.equal(lru.get(key), value);
    }),
    { numRuns: 2000 },
  );
});

void test('a key equal in text to the last one (another string object) is found without a lookup, and is the same entry', () => {
  const lru = new LruMap<string, object>(2);
  const value = {};
  const token = ['eyJ', 'hbGc'].join('');
  lru.set(token, value);
  assert.equal(lru.get(['ey', 'JhbGc'].join('')), value);
  lru.delete(token);
  assert.equal(lru.get(token), undefined);
});
