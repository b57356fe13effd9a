// The server's CapabilityStatement (FHIR R4 capabilitystatement.html, http.html#capabilities), built from
// what is really implemented: the base R4 search parameters the indexer evaluates (search-parameters.ts)
// and the interactions of src/api/fhir/fhir-routes.ts. Nothing here is claimed that a test does not exercise.
import { hash } from 'node:crypto';
import { LruMap } from '../core/lru-map.ts';
import { readFileSync } from 'node:fs';
import { searchableTypes, searchParametersFor } from './search-parameters.ts';

/**
 * Parameters defined in R4 whose meaning the index cannot honour: `phonetic` is indexed as a plain
 * string (no phonetic algorithm), so it is left out rather than advertised.
 */
const NOT_ADVERTISED: ReadonlySet<string> = new Set(['phonetic']);

/** Parameters the API refuses as unknown although the index has them (see NOT_ADVERTISED). */
export function isWithheldParameter(code: string): boolean {
  return NOT_ADVERTISED.has(code);
}

/** Resource types served: every R4 type that has search parameters of its own (not Binary, Parameters...). */
let supported: ReadonlySet<string> | undefined;
export function supportedResourceTypes(): ReadonlySet<string> {
  supported ??= new Set(searchableTypes());
  return supported;
}

/** Search parameters advertised (and accepted) for a type. */
export function advertisedSearchParameters(type: string): Array<{ name: string; definition: string; type: string }> {
  return [...searchParametersFor(type).values()]
    .filter((p) => !NOT_ADVERTISED.has(p.code))
    .map((p) => ({ name: p.code, definition: p.url, type: p.type }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function softwareVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Reference parameters of every type that may point at `type` (for searchRevInclude). */
function revIncludesOf(type: string, types: readonly string[]): string[] {
  const out: string[] = [];
  for (const source of types) {
    for (const p of searchParametersFor(source).values()) {
      if (p.type === 'reference' && (p.targets.length === 0 || p.targets.includes(type))) out.push(`${source}:${p.code}`);
    }
  }
  return out.sort();
}

const INTERACTIONS = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'create', 'search-type'] as const;

/**
 * CapabilityStatement.date ("last changed"): the statement changes only with the build, so it is
 * the time this process loaded it, the same however often the statement is rebuilt (for another
 * base URL and back), so that its text, and the entity tag of it, stay the same.
 */
const STATEMENT_DATE = new Date().toISOString();

/** A base URL's statement, and its text and tag once asked for. */
interface CachedStatement {
  readonly statement: Record<string, unknown>;
  text?: string;
  tag?: string;
}

/**
 * Statements by base URL. The FHIR routes take the base URL from each request's Host when none is
 * configured, and a server reached under a few names (localhost, its address, its DNS name) would
 * rebuild, serialize and digest ~650 KB at every alternation with a single slot. Bounded: the
 * Host is the client's to choose, so past BASE_URLS names the least recently used goes.
 */
const BASE_URLS = 8;
const statements = new LruMap<string, CachedStatement>(BASE_URLS);

function cachedStatement(baseUrl: string): CachedStatement {
  let entry = statements.get(baseUrl);
  if (entry === undefined) {
    entry = { statement: buildStatement(baseUrl) };
    statements.set(baseUrl, entry);
  }
  return entry;
}

/** The CapabilityStatement for a server at `baseUrl` (cached: it only changes with the build). */
export function capabilityStatement(baseUrl: string): Record<string, unknown> {
  return cachedStatement(baseUrl).statement;
}

function buildStatement(baseUrl: string): Record<string, unknown> {
  const types = [...supportedResourceTypes()].sort();
  const resources = types.map((type) => {
    const params = advertisedSearchParameters(type);
    const includes = params.filter((p) => p.type === 'reference').map((p) => `${type}:${p.name}`);
    // AuditEvents are written by the server only (fhir-audit-hook.ts): read, vread, search, history.
    const readOnly = type === 'AuditEvent';
    return {
      type,
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
      interaction: INTERACTIONS.filter((code) => !readOnly || !['create', 'update', 'delete'].includes(code)).map((code) => ({ code })),
      // http.html#versioning: If-Match is honoured, and meta.versionId set by the server.
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: !readOnly,
      conditionalCreate: !readOnly,
      conditionalRead: 'not-match',
      conditionalUpdate: !readOnly,
      conditionalDelete: readOnly ? 'not-supported' : 'single',
      referencePolicy: ['literal', 'local'],
      searchInclude: includes,
      searchRevInclude: revIncludesOf(type, types),
      searchParam: params,
    };
  });
  const statement: Record<string, unknown> = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: STATEMENT_DATE,
    publisher: 'Switchboard',
    kind: 'instance',
    software: { name: 'Switchboard', version: softwareVersion() },
    implementation: { description: 'Switchboard canonical FHIR store', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Search: comma-separated values are OR, repeated parameters AND; modifiers :exact :contains (string), :not :text (token), :missing (all), :below (uri), :Type (reference); prefixes eq ne gt lt ge le sa eb ap (date, number, quantity); one-level chaining; _include and _revinclude (no :iterate); _sort, _count (default 20, at most 1000), _total, _summary, _elements. Unknown parameters are refused unless the request says Prefer: handling=lenient.',
        resource: resources,
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
      },
    ],
  };
  return statement;
}

/**
 * The same statement as JSON text, serialized once per base URL: it is about 650 KB (every type's
 * search parameters and revincludes), and serializing it took ~1.6 ms of the event loop per
 * GET /metadata, an endpoint open to anyone (http.html#capabilities).
 */
export function capabilityStatementJson(baseUrl: string): string {
  return textOf(cachedStatement(baseUrl));
}

function textOf(entry: CachedStatement): string {
  entry.text ??= JSON.stringify(entry.statement);
  return entry.text;
}

/**
 * An entity tag of that text (a digest of it, computed once per base URL): GET /metadata answers
 * with it, and a client that polls the statement with If-None-Match gets 304 and no body (RFC 9110
 * 8.8.3, 13.1.2) instead of ~650 KB. It changes whenever the text does (another build, another
 * base URL).
 */
export function capabilityStatementTag(baseUrl: string): string {
  const entry = cachedStatement(baseUrl);
  entry.tag ??= hash('sha256', textOf(entry), 'base64url').slice(0, 22);
  return entry.tag;
}
