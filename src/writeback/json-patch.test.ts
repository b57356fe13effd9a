import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyJsonPatch, JsonPatchError } from './json-patch.ts';

// RFC 6902 appendix A examples, in short.
test('add, remove, replace, move, copy and test as RFC 6902 appendix A has them; the input is not changed', () => {
  const doc = { foo: 'bar', list: ['a', 'c'], nested: { x: 1 } };
  const out = applyJsonPatch(doc, [
    { op: 'add', path: '/baz', value: 'qux' },
    { op: 'add', path: '/list/1', value: 'b' },
    { op: 'add', path: '/list/-', value: 'd' },
    { op: 'replace', path: '/foo', value: 'boo' },
    { op: 'remove', path: '/nested/x' },
    { op: 'copy', from: '/baz', path: '/copied' },
    { op: 'move', from: '/copied', path: '/nested/moved' },
    { op: 'test', path: '/list', value: ['a', 'b', 'c', 'd'] },
  ]);
  assert.deepEqual(out, { foo: 'boo', baz: 'qux', list: ['a', 'b', 'c', 'd'], nested: { moved: 'qux' } });
  assert.deepEqual(doc, { foo: 'bar', list: ['a', 'c'], nested: { x: 1 } });
  assert.deepEqual(applyJsonPatch({ 'a/b': { '~c': 1 } }, [{ op: 'replace', path: '/a~1b/~0c', value: 2 }]), { 'a/b': { '~c': 2 } });
});

test('a failing op is named by its index: missing path, bad index, failed test', () => {
  const cases = [
    [{ op: 'remove', path: '/nope' }, /patch\[0\].*does not exist/],
    [{ op: 'replace', path: '/list/5', value: 1 }, /patch\[0\]/],
    [{ op: 'test', path: '/list/0', value: 'z' }, /patch\[0\] test of \/list\/0 failed/],
    [{ op: 'add', path: 'list', value: 1 }, /not a JSON Pointer/],
  ] as const;
  for (const [op, pattern] of cases) {
    assert.throws(() => applyJsonPatch({ list: ['a'] }, [op]), (e: unknown) => e instanceof JsonPatchError && pattern.test(e.message));
  }
});
