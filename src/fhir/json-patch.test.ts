import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyJsonPatch, JsonPatchError } from './json-patch.ts';

// RFC 6902 operations, including the examples of its appendix A that matter to FHIR resources; one
// implementation serves the EHR simulator's PATCH and write-back's review and read-back.

test('add, remove, replace, move, copy and test follow RFC 6902; the input is never changed', () => {
  const doc = { a: { b: 1 }, list: ['x', 'y'], 'sl/ash': 1, 'til~de': 2 };
  const out = applyJsonPatch(doc, [
    { op: 'add', path: '/list/1', value: 'inserted' },
    { op: 'add', path: '/list/-', value: 'end' },
    { op: 'remove', path: '/list/0' },
    { op: 'replace', path: '/a/b', value: 2 },
    { op: 'copy', from: '/a', path: '/c' },
    { op: 'move', from: '/sl~1ash', path: '/moved' },
    { op: 'remove', path: '/til~0de' },
    { op: 'test', path: '/c', value: { b: 2 } },
  ]);
  assert.deepEqual(out, { a: { b: 2 }, list: ['inserted', 'y', 'end'], c: { b: 2 }, moved: 1 });
  assert.deepEqual(doc, { a: { b: 1 }, list: ['x', 'y'], 'sl/ash': 1, 'til~de': 2 });
});

test('appendix A in short: add into a list, append with "-", replace, remove, copy, move, test a whole list', () => {
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
  assert.deepEqual(applyJsonPatch({ 'a/b': { '~c': 1 } }, [{ op: 'replace', path: '/a~1b/~0c', value: 2 }]), { 'a/b': { '~c': 2 } });
  assert.deepEqual(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }]), { b: 2 }, 'the root can be replaced');
});

test('a failed operation fails the whole patch', () => {
  const bad: unknown[][] = [
    [{ op: 'test', path: '/a', value: 2 }],
    [{ op: 'test', path: '/list', value: { length: 0 } }],
    [{ op: 'remove', path: '/missing' }],
    [{ op: 'replace', path: '/missing', value: 1 }],
    [{ op: 'add', path: '/list/5', value: 1 }],
    [{ op: 'add', path: '/list/01', value: 1 }],
    [{ op: 'add', path: '/no/parent', value: 1 }],
    [{ op: 'add', path: '/toString/x', value: 1 }],
    [{ op: 'move', from: '/list', path: '/list/0' }],
    [{ op: 'frobnicate', path: '/a' }],
    [{ op: 'add', path: 'a', value: 1 }],
    [{ op: 'add', path: '/a' }],
    [{ op: 'copy', path: '/b' }],
    ['not an op'],
  ];
  for (const patch of bad) assert.throws(() => applyJsonPatch({ a: 1, list: [] }, patch), JsonPatchError, JSON.stringify(patch));
  assert.throws(() => applyJsonPatch({}, { op: 'add' }), JsonPatchError);
});

test('the failing operation is named by its index', () => {
  const cases = [
    [[{ op: 'remove', path: '/nope' }], 0, /^patch\[0\]: .*does not exist/],
    [[{ op: 'add', path: '/x', value: 1 }, { op: 'replace', path: '/list/5', value: 1 }], 1, /^patch\[1\]: index 5 is out of range/],
    [[{ op: 'test', path: '/list/0', value: 'z' }], 0, /^patch\[0\]: test of \/list\/0 failed/],
    [[{ op: 'add', path: 'list', value: 1 }], 0, /not a JSON Pointer/],
  ] as const;
  for (const [patch, index, pattern] of cases) {
    assert.throws(
      () => applyJsonPatch({ list: ['a'] }, patch),
      (e: unknown) => e instanceof JsonPatchError && e.index === index && pattern.test(e.message),
      JSON.stringify(patch),
    );
  }
});
