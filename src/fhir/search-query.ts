// Parsing FHIR R4 search parameters (search.html) into the typed SearchQuery the resource store runs.
// Errors name the parameter, never its value (values may be PHI: a name, an MRN).
import { SwitchboardError } from '../core/errors.ts';
import {
  normalizeSearchString,
  type IncludeSpec,
  type SearchCondition,
  type SearchPrefix,
  type SearchQuery,
  type SearchSort,
  type TokenMatch,
} from '../core/ports/resource-store.ts';
import { parseReference, searchParameter, type SearchParameterDefinition } from './search-parameters.ts';
import { dateRange, decimalRange } from './search-values.ts';

export { normalizeSearchString };

export interface ParseSearchOptions {
  /**
   * `Prefer: handling=strict` (default) throws SWB_ERR_FHIR_UNKNOWN_PARAMETER on a parameter the type
   * does not have; `lenient` leaves it out and names it in `ignored` (FHIR R4 search.html#errors).
   */
  readonly handling?: 'strict' | 'lenient';
}

export interface ParsedSearch {
  readonly query: SearchQuery;
  /** Parameters left out under lenient handling (names only), for the Bundle's OperationOutcome. */
  readonly ignored: readonly string[];
}

/** Parameters the API layer handles itself; the parser lets them pass. */
const API_PARAMETERS: ReadonlySet<string> = new Set(['_format', '_pretty']);
const PREFIXES: ReadonlySet<string> = new Set<SearchPrefix>(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);
const MAX_COUNT = 1000;
const SORTABLE: ReadonlySet<string> = new Set(['date', 'string', 'token', 'number', 'quantity', 'uri', 'reference']);

type Params = URLSearchParams | Iterable<readonly [string, string]>;

function invalid(type: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_FHIR_INVALID_SEARCH', { type, reason });
}

/** Splits on an unescaped separator and removes the escapes `\,` `\|` `\$` `\\` (search.html#escaping). */
function splitEscaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      const next = text[i + 1] as string;
      if (next === ',' || next === '|' || next === '$' || next === '\\') {
        // Keep the escape for the next split level (values are split on ',' first, then on '|').
        current += next === separator ? next : `\\${next}`;
        i++;
        continue;
      }
    }
    if (ch === separator) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

const unescape = (text: string): string => text.replace(/\\([,|$\\])/g, '$1');

function prefixed(text: string): { prefix: SearchPrefix; rest: string } {
  const head = text.slice(0, 2);
  if (PREFIXES.has(head) && text.length > 2) return { prefix: head as SearchPrefix, rest: text.slice(2) };
  return { prefix: 'eq', rest: text };
}

/**
 * One `name[:modifier]=value` on `type`, `name` possibly chained (`subject:Patient.identifier`).
 * Returns undefined for an unknown parameter (the caller applies strict/lenient handling).
 */
function parseCondition(type: string, key: string, rawValue: string): SearchCondition | undefined {
  const dot = key.indexOf('.');
  const head = dot === -1 ? key : key.slice(0, dot);
  const colon = head.indexOf(':');
  const code = colon === -1 ? head : head.slice(0, colon);
  const modifier = colon === -1 ? undefined : head.slice(colon + 1);
  const definition = searchParameter(type, code);
  if (definition === undefined) return undefined;

  if (dot !== -1) {
    // Chaining (search.html#chaining): `ref[:Type].param...=value`.
    if (definition.type !== 'reference') throw invalid(type, `${code} is not a reference parameter and cannot be chained`);
    const rest = key.slice(dot + 1);
    const chained = rest.split(/[.:]/)[0] ?? '';
    let targetType = modifier;
    if (targetType === undefined) {
      const candidates = definition.targets.filter((t) => searchParameter(t, chained) !== undefined);
      if (candidates.length !== 1) throw invalid(type, `the chain ${code}.${chained} is ambiguous or unknown; name the type (${code}:Type.${chained})`);
      targetType = candidates[0] as string;
    } else if (!definition.targets.includes(targetType)) throw invalid(type, `${code} cannot refer to ${targetType}`);
    const inner = parseCondition(targetType, rest, rawValue);
    if (inner === undefined) throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_PARAMETER', { type: targetType, param: chained });
    return { kind: 'chain', param: code, targetType, condition: inner };
  }

  if (modifier === 'missing') {
    if (rawValue !== 'true' && rawValue !== 'false') throw invalid(type, `${code}:missing takes true or false`);
    return { kind: 'missing', param: code, paramType: definition.type, missing: rawValue === 'true' };
  }
  const values = splitEscaped(rawValue, ',');
  if (values.some((v) => v === '')) throw invalid(type, `${code} has an empty value`);
  return typedCondition(type, definition, modifier, values);
}

function typedCondition(type: string, definition: SearchParameterDefinition, modifier: string | undefined, values: string[]): SearchCondition {
  const code = definition.code;
  const unsupported = (): SwitchboardError => invalid(type, `the modifier :${modifier ?? ''} is not supported on ${code} (${definition.type})`);
  switch (definition.type) {
    case 'string': {
      if (modifier !== undefined && modifier !== 'exact' && modifier !== 'contains') throw unsupported();
      return { kind: 'string', param: code, match: modifier === 'exact' ? 'exact' : modifier === 'contains' ? 'contains' : 'prefix', values: values.map(unescape) };
    }
    case 'token': {
      if (modifier === 'text') return { kind: 'token-text', param: code, values: values.map((v) => normalizeSearchString(unescape(v))) };
      if (modifier !== undefined && modifier !== 'not') throw unsupported();
      const matches = values.map((v): TokenMatch => {
        const bar = splitEscaped(v, '|');
        if (bar.length === 1) return { code: unescape(v) };
        if (bar.length !== 2) throw invalid(type, `${code} takes code, system|code, |code or system|`);
        const [system, c] = bar.map(unescape) as [string, string];
        const sys = system === '' ? null : system;
        return c === '' ? { system: sys } : { system: sys, code: c };
      });
      if (matches.some((m) => m.system === null && m.code === undefined)) throw invalid(type, `${code} has an empty token`);
      return { kind: 'token', param: code, not: modifier === 'not', values: matches };
    }
    case 'date': {
      if (modifier !== undefined) throw unsupported();
      return {
        kind: 'date',
        param: code,
        values: values.map((v) => {
          const { prefix, rest } = prefixed(v);
          const range = dateRange(rest);
          if (range === undefined) throw invalid(type, `${code} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)`);
          return { prefix, low: range.low, high: range.high };
        }),
      };
    }
    case 'number': {
      if (modifier !== undefined) throw unsupported();
      return {
        kind: 'number',
        param: code,
        values: values.map((v) => {
          const { prefix, rest } = prefixed(v);
          const n = decimalRange(rest);
          if (n === undefined) throw invalid(type, `${code} is not a number`);
          return { prefix, ...n };
        }),
      };
    }
    case 'quantity': {
      if (modifier !== undefined) throw unsupported();
      return {
        kind: 'quantity',
        param: code,
        values: values.map((v) => {
          const parts = splitEscaped(v, '|');
          if (parts.length !== 1 && parts.length !== 3) throw invalid(type, `${code} takes number or number|system|code`);
          const { prefix, rest } = prefixed(parts[0] as string);
          const n = decimalRange(rest);
          if (n === undefined) throw invalid(type, `${code} is not a quantity`);
          const system = parts[1] === undefined || parts[1] === '' ? undefined : unescape(parts[1]);
          const unit = parts[2] === undefined || parts[2] === '' ? undefined : unescape(parts[2]);
          return { prefix, ...n, ...(system === undefined ? {} : { system }), ...(unit === undefined ? {} : { code: unit }) };
        }),
      };
    }
    case 'reference': {
      // `:Type` restricts the target type (search.html#reference); :identifier is not supported yet.
      let targetType: string | undefined;
      if (modifier !== undefined) {
        if (!/^[A-Z][A-Za-z]+$/.test(modifier)) throw unsupported();
        if (definition.targets.length > 0 && !definition.targets.includes(modifier)) throw invalid(type, `${code} cannot refer to ${modifier}`);
        targetType = modifier;
      }
      return {
        kind: 'reference',
        param: code,
        values: values.map((raw) => {
          const v = unescape(raw);
          if (/^[A-Za-z0-9\-.]{1,64}$/.test(v)) return targetType === undefined ? { id: v } : { type: targetType, id: v };
          const ref = parseReference(v);
          if (ref.url !== undefined) return { url: ref.url };
          if (ref.type === undefined || ref.id === undefined) throw invalid(type, `${code} takes id, Type/id or an absolute URL`);
          if (targetType !== undefined && ref.type !== targetType) throw invalid(type, `${code}:${targetType} was given another type`);
          return { type: ref.type, id: ref.id };
        }),
      };
    }
    case 'uri': {
      if (modifier !== undefined && modifier !== 'below') throw unsupported();
      return { kind: 'uri', param: code, match: modifier === 'below' ? 'below' : 'exact', values: values.map(unescape) };
    }
  }
}

function parseInclude(type: string, value: string, rev: boolean): IncludeSpec {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalid(type, `${rev ? '_revinclude' : '_include'} takes SourceType:param[:TargetType]`);
  const [sourceType, param, targetType] = parts as [string, string, string | undefined];
  const definition = searchParameter(sourceType, param);
  if (definition === undefined) throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_PARAMETER', { type: sourceType, param });
  if (definition.type !== 'reference') throw invalid(type, `${sourceType}:${param} is not a reference parameter`);
  if (!rev && sourceType !== type) throw invalid(type, `_include names ${sourceType}, not the searched type`);
  if (rev && targetType === undefined && definition.targets.length > 0 && !definition.targets.includes(type)) throw invalid(type, `${sourceType}:${param} cannot refer to ${type}`);
  return { sourceType, param, ...(targetType === undefined ? {} : { targetType }) };
}

function parseSort(type: string, value: string): SearchSort[] {
  return value.split(',').map((item) => {
    const descending = item.startsWith('-');
    const code = descending ? item.slice(1) : item;
    const definition = searchParameter(type, code);
    if (definition === undefined) throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_PARAMETER', { type, param: code });
    if (!SORTABLE.has(definition.type)) throw invalid(type, `cannot sort by ${code}`);
    return { param: code, paramType: definition.type as SearchSort['paramType'], descending };
  });
}

/**
 * Parses the search parameters of a `GET [base]/[type]?...` (or a conditional operation's query)
 * into a SearchQuery. Comma-separated values are OR-ed, repeated parameters AND-ed (search.html
 * #combining). Result parameters: _count, _sort, _include, _revinclude, _summary, _elements, _total,
 * and `_cursor` (the store's paging cursor, echoed in next links).
 */
export function parseSearchQuery(type: string, params: Params, options: ParseSearchOptions = {}): ParsedSearch {
  const handling = options.handling ?? 'strict';
  const conditions: SearchCondition[] = [];
  const include: IncludeSpec[] = [];
  const revinclude: IncludeSpec[] = [];
  const ignored: string[] = [];
  let sort: SearchSort[] | undefined;
  let count: number | undefined;
  let cursor: string | undefined;
  let total: SearchQuery['total'];
  let summary: SearchQuery['summary'];
  let elements: string[] | undefined;
  for (const [key, value] of params) {
    if (API_PARAMETERS.has(key)) continue;
    switch (key) {
      case '_count': {
        if (!/^\d+$/.test(value)) throw invalid(type, '_count takes a non-negative integer');
        count = Math.min(Number(value), MAX_COUNT);
        continue;
      }
      case '_cursor':
        cursor = value;
        continue;
      case '_sort':
        sort = parseSort(type, value);
        continue;
      case '_include':
        include.push(parseInclude(type, value, false));
        continue;
      case '_revinclude':
        revinclude.push(parseInclude(type, value, true));
        continue;
      case '_total':
        if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw invalid(type, '_total takes none, estimate or accurate');
        total = value;
        continue;
      case '_summary':
        if (value !== 'true' && value !== 'false' && value !== 'text' && value !== 'data' && value !== 'count') throw invalid(type, '_summary takes true, false, text, data or count');
        summary = value;
        continue;
      case '_elements':
        elements = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
        continue;
      default:
        break;
    }
    if (key.startsWith('_include:') || key.startsWith('_revinclude:')) throw invalid(type, `${key.split(':')[0] ?? ''}:iterate is not supported`);
    const condition = parseCondition(type, key, value);
    if (condition !== undefined) conditions.push(condition);
    else if (handling === 'lenient') ignored.push(key);
    else throw new SwitchboardError('SWB_ERR_FHIR_UNKNOWN_PARAMETER', { type, param: key.split(/[:.]/)[0] ?? key });
  }
  const query: SearchQuery = {
    conditions,
    ...(sort === undefined ? {} : { sort }),
    ...(count === undefined ? {} : { count }),
    ...(cursor === undefined ? {} : { cursor }),
    ...(include.length === 0 ? {} : { include }),
    ...(revinclude.length === 0 ? {} : { revinclude }),
    ...(total === undefined ? {} : { total }),
    ...(summary === undefined ? {} : { summary }),
    ...(elements === undefined ? {} : { elements }),
  };
  return { query, ignored };
}

/** Parses a conditional operation's query (`If-None-Exist: identifier=...`, `PUT [type]?...`): search conditions only, strict. */
export function parseConditionalQuery(type: string, queryString: string): SearchQuery {
  const { query } = parseSearchQuery(type, new URLSearchParams(queryString.startsWith('?') ? queryString.slice(1) : queryString));
  if (query.conditions.length === 0) throw invalid(type, 'a conditional operation needs at least one search condition');
  return { conditions: query.conditions };
}
