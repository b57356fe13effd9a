import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyFieldChanges, diffResources, formatFieldPath, parseFieldPath, SERVER_ASSIGNED_PATHS, threeWayDiff } from './field-diff.ts';

const obs = {
  resourceType: 'Observation',
  id: 'o1',
  meta: { versionId: '1', lastUpdated: '2024-03-05T10:00:00Z' },
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  valueQuantity: { value: 72, unit: '/min' },
};

void test('reports changed, added and removed fields with indexed paths', () => {
  const after = {
    ...obs,
    status: 'amended',
    code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }, { system: 'urn:local', code: 'x' }] },
    valueQuantity: { value: 72 },
    note: [{ text: 'n' }],
  };
  assert.deepEqual(diffResources(obs, after), [
    { path: 'status', kind: 'changed', before: 'final', after: 'amended' },
    { path: 'code.coding[0].code', kind: 'changed', before: '8867-4', after: '8480-6' },
    { path: 'code.coding[1]', kind: 'added', after: { system: 'urn:local', code: 'x' } },
    { path: 'valueQuantity.unit', kind: 'removed', before: '/min' },
    { path: 'note', kind: 'added', after: [{ text: 'n' }] },
  ]);
});

void test('server-assigned elements are ignored by default, and compared when ignore is []', () => {
  const ehrCopy = { ...obs, id: 'ehr-99', meta: { versionId: '7', lastUpdated: '2024-03-06T00:00:00Z', source: 'epic' } };
  assert.deepEqual(diffResources(obs, ehrCopy), []);
  const { meta: _meta, id: _id, ...bare } = ehrCopy;
  assert.deepEqual(diffResources(bare, ehrCopy), [], 'a meta holding only server fields is no difference');
  // meta.profile and meta.security are content, not server-assigned.
  assert.deepEqual(diffResources(obs, { ...obs, meta: { ...obs.meta, security: [{ code: 'AIAST' }] } }), [{ path: 'meta.security', kind: 'added', after: [{ code: 'AIAST' }] }]);
  assert.deepEqual(
    diffResources(obs, ehrCopy, { ignore: [] }).map((c) => c.path),
    ['id', 'meta.versionId', 'meta.lastUpdated', 'meta.source'],
  );
  assert.deepEqual(diffResources(obs, { ...obs, status: 'x' }, { ignore: [...SERVER_ASSIGNED_PATHS, 'status'] }), []);
});

void test('narrative is ignored only when server-generated', () => {
  const generated = { ...obs, text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">72</div>' } };
  assert.deepEqual(diffResources(obs, generated), []);
  const authored = { ...obs, text: { status: 'additional', div: '<div xmlns="http://www.w3.org/1999/xhtml">note</div>' } };
  assert.deepEqual(diffResources(obs, authored).map((c) => c.path), ['text']);
});

void test('paths round-trip, odd keys included', () => {
  for (const keys of [['a', 0, 'b'], ['we ird', 3], ['a.b', '"q"', 'x[1]'], []] as Array<Array<string | number>>) assert.deepEqual(parseFieldPath(formatFieldPath(keys)), keys);
  assert.equal(formatFieldPath(['code', 'coding', 0, 'code']), 'code.coding[0].code');
});

void test('three-way diff marks only paths both sides changed differently as conflicts', () => {
  const base = { resourceType: 'Condition', clinicalStatus: 'active', note: 'a', severity: 'mild', onset: '2020' };
  const proposal = { ...base, clinicalStatus: 'resolved', note: 'b', severity: 'severe' };
  const current = { ...base, note: 'c', severity: 'severe', onset: '2019' };
  assert.deepEqual(threeWayDiff(base, proposal, current), [
    { path: 'clinicalStatus', base: 'active', proposal: 'resolved', current: 'active', conflict: false },
    { path: 'note', base: 'a', proposal: 'b', current: 'c', conflict: true },
    // Both made the same change: no conflict.
    { path: 'severity', base: 'mild', proposal: 'severe', current: 'severe', conflict: false },
    { path: 'onset', base: '2020', proposal: '2020', current: '2019', conflict: false },
  ]);
  // A whole element deleted in the EHR while the proposal edits inside it conflicts.
  const { code: _code, ...noCode } = { ...obs };
  const edited = { ...obs, code: { coding: [{ system: 'http://loinc.org', code: '9279-1' }] } };
  const t = threeWayDiff(obs, edited, noCode);
  assert.ok(t.some((c) => c.conflict && c.path.startsWith('code')), JSON.stringify(t));
});

// Generated JSON documents whose keys include anything (dots, brackets, quotes, __proto__).
const json = fc.jsonValue({ maxDepth: 4 });

void test('property: diff(a, a) is empty', () => {
  fc.assert(
    fc.property(json, (a) => {
      assert.deepEqual(diffResources(a, structuredClone(a), { ignore: [] }), []);
    }),
    { numRuns: 300 },
  );
});

void test('property: applying diff(a, b) to a yields b', () => {
  fc.assert(
    fc.property(json, json, (a, b) => {
      assert.deepStrictEqual(applyFieldChanges(a, diffResources(a, b, { ignore: [] })), b);
    }),
    { numRuns: 300 },
  );
  // Closer pairs exercise nested changes rather than whole-root replacement.
  const objectish = fc.dictionary(fc.string({ maxLength: 4 }), json, { maxKeys: 5 });
  fc.assert(
    fc.property(objectish, objectish, objectish, (shared, a, b) => {
      const x = { ...shared, ...a, nested: { ...shared, arr: Object.values(a) } };
      const y = { ...shared, ...b, nested: { ...shared, arr: Object.values(b) } };
      assert.deepStrictEqual(applyFieldChanges(x, diffResources(x, y, { ignore: [] })), y);
    }),
    { numRuns: 300 },
  );
});
