import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyJsonPatch, JsonPatchError } from './sim-json-patch.ts';

// RFC 6902 operations, including the examples of its appendix A that matter to FHIR resources.

test('add, remove, replace, move, copy and test follow RFC 6902', () => {
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
  // The input is never changed.
  assert.deepEqual(doc, { a: { b: 1 }, list: ['x', 'y'], 'sl/ash': 1, 'til~de': 2 });
});

test('a failed operation fails the whole patch', () => {
  const bad: unknown[][] = [
    [{ op: 'test', path: '/a', value: 2 }],
    [{ op: 'remove', path: '/missing' }],
    [{ op: 'replace', path: '/missing', value: 1 }],
    [{ op: 'add', path: '/list/5', value: 1 }],
    [{ op: 'add', path: '/no/parent', value: 1 }],
    [{ op: 'move', from: '/list', path: '/list/0' }],
    [{ op: 'frobnicate', path: '/a' }],
    [{ op: 'add', path: 'a', value: 1 }],
    [{ op: 'add', path: '/a' }],
  ];
  for (const patch of bad) assert.throws(() => applyJsonPatch({ a: 1, list: [] }, patch), JsonPatchError, JSON.stringify(patch));
  assert.throws(() => applyJsonPatch({}, { op: 'add' }), JsonPatchError);
});
