import pg from 'pg';
import { SwitchboardError, isSwitchboardError } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import {
  MAX_INSTANT,
  MIN_INSTANT,
  normalizeSearchString,
  type CreateOptions,
  type CreateOutcome,
  type DeleteOutcome,
  type FhirResource,
  type HistoryPage,
  type HistoryQuery,
  type IncludeSpec,
  DERIVED_REFERENCE_PARAMS,
  isStoredIndexEntry,
  ROW_PARAMS,
  type IndexEntry,
  type ResourceIndexer,
  type ResourceStore,
  type ResourceStoreTx,
  type ResourceVersion,
  type SearchCondition,
  type SearchPrefix,
  type SearchQuery,
  type SearchResult,
  type SearchSort,
  type UpdateOptions,
  type UpdateOutcome,
} from '../../core/ports/resource-store.ts';
import { quoteSchema } from './postgres-migrations.ts';
import { POSTGRES_INDEX_TABLES, POSTGRES_RESOURCE_SCHEMA } from './postgres-resource-schema.ts';
import { toStoreError, withTransaction } from './postgres-transaction.ts';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;
const TYPE_RE = /^[A-Z][A-Za-z]{0,63}$/;
/** FHIR R4 datatypes.html#id. */
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
/** Sorts after every string a key can hold (U+10FFFF is the largest code point; the columns compare bytes, COLLATE "C"). */
const STRING_MAX = '\u{10FFFF}';
/** Advisory lock class for applying the schema (the others: 0x53574201..03 in this folder). */
const SCHEMA_LOCK_CLASS = 0x5357_4210;

export interface PostgresResourceStoreOptions {
  /** Turns resources into index entries (src/fhir/search-parameters.ts FhirSearchIndexer). */
  readonly indexer: ResourceIndexer;
  /** The clock for meta.lastUpdated; tests replace it. */
  readonly clock?: () => Date;
}

export interface OpenPostgresResourceStoreOptions extends PostgresResourceStoreOptions {
  readonly url: string;
  /** Created if missing; every pooled connection uses it as its search_path. Default `switchboard`. */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /** Create the tables when missing (default true) until the schema is part of the numbered migrations. */
  readonly applySchema?: boolean;
}

/** A pool for single statements, or the client of an open transaction. */
type Conn = pg.Pool | pg.ClientBase;

interface ResourceRow {
  rid: string;
  type: string;
  id: string;
  version: number;
  deleted: boolean;
  /** bigint, which the driver returns as text. */
  last_updated: string;
  resource: FhirResource | null;
}

interface HistoryRow {
  seq: string;
  type: string;
  id: string;
  version: number;
  deleted: boolean;
  last_updated: string;
  resource: FhirResource | null;
}

/** Numbered parameters ($1, $2, ...) collected while SQL is built. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** One condition as an index table and a WHERE over its rows (type and param included); `negate`: resources with no such row. */
interface RidSet {
  readonly table: string;
  readonly where: string;
  readonly negate: boolean;
}

function invalidResource(type: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_FHIR_INVALID_RESOURCE', { type, reason });
}

function invalidSearch(type: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_FHIR_INVALID_SEARCH', { type, reason });
}

function checkType(type: string): void {
  if (!TYPE_RE.test(type)) throw invalidResource('resource', 'resourceType must be a FHIR resource type name');
}

function checkResource(resource: FhirResource): void {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) throw invalidResource('resource', 'not a JSON object');
  if (typeof resource.resourceType !== 'string') throw invalidResource('resource', 'resourceType is missing');
  checkType(resource.resourceType);
}

/** `3`, `"3"` or `W/"3"` (an ETag as clients send it, FHIR R4 http.html#versioning) to `3`. */
function versionOf(ifMatch: string): string {
  return ifMatch.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function versionConflict(type: string, id: string, existing: ResourceRow | undefined, ifMatch: string): SwitchboardError {
  const current = existing === undefined || existing.deleted ? 'none' : String(existing.version);
  return new SwitchboardError('SWB_ERR_FHIR_VERSION_CONFLICT', { type, id, current, expected: versionOf(ifMatch) });
}

function matchesVersion(existing: ResourceRow | undefined, ifMatch: string): boolean {
  return existing !== undefined && !existing.deleted && String(existing.version) === versionOf(ifMatch);
}

/**
 * jsonb keeps keys in its own order (shorter keys first); a resource is handed back with
 * resourceType, id and meta first, as FHIR R4 json.html shows them.
 */
function shaped(resource: FhirResource): FhirResource {
  const { resourceType, id, meta, ...rest } = resource;
  return { resourceType, ...(id === undefined ? {} : { id }), ...(meta === undefined ? {} : { meta }), ...rest };
}

function versionOfRow(row: ResourceRow | HistoryRow): ResourceVersion {
  const base = { type: row.type, id: row.id, versionId: String(row.version), lastUpdated: new Date(Number(row.last_updated)) };
  if (row.deleted || row.resource === null) return { kind: 'deleted', ...base };
  return { kind: 'resource', ...base, resource: shaped(row.resource) };
}

function encodeCursor(values: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor(cursor: string, length: number): Array<string | number> {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === length && values.every((v) => typeof v === 'string' || typeof v === 'number')) return values as Array<string | number>;
  } catch {
    // fall through to the registry error
  }
  throw new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR');
}

/** A cursor's values go back as parameters; one that does not fit its column (SQLSTATE 22xxx, mapped to INVALID_RECORD) is a bad cursor. */
function cursorError(error: unknown): unknown {
  return isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_INVALID_RECORD' ? new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR') : error;
}

/**
 * A stable text of a conditional search (type + conditions, keys sorted, OR lists and AND lists
 * sorted): two requests with the same condition get the same advisory lock.
 */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).sort().join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The condition on a date prefix for a target range [low, high] against a search range [ql, qh] (FHIR R4 search.html#prefix). */
function dateClause(prefix: SearchPrefix, ql: number, qh: number, p: Params): string {
  const eq = (): string => `(low >= ${p.add(ql)} AND high <= ${p.add(qh)})`;
  switch (prefix) {
    case 'eq':
      return eq();
    case 'ne':
      return `NOT ${eq()}`;
    case 'gt':
      return `high > ${p.add(qh)}`;
    case 'lt':
      return `low < ${p.add(ql)}`;
    case 'ge':
      return `(high > ${p.add(qh)} OR ${eq()})`;
    case 'le':
      return `(low < ${p.add(ql)} OR ${eq()})`;
    case 'sa':
      return `low > ${p.add(qh)}`;
    case 'eb':
      return `high < ${p.add(ql)}`;
    case 'ap':
      return `(low <= ${p.add(qh)} AND high >= ${p.add(ql)})`;
  }
}

/**
 * Numbers and quantities are points; the search value carries the range of its significant digits:
 * eq/ne use that range, the comparisons the value itself (FHIR R4 search.html#number).
 */
function numberClause(prefix: SearchPrefix, value: number, low: number, high: number, p: Params): string {
  switch (prefix) {
    case 'eq':
      return `(value >= ${p.add(low)} AND value < ${p.add(high)})`;
    case 'ne':
      return `NOT (value >= ${p.add(low)} AND value < ${p.add(high)})`;
    case 'gt':
      return `value > ${p.add(value)}`;
    case 'lt':
      return `value < ${p.add(value)}`;
    case 'ge':
      return `value >= ${p.add(value)}`;
    case 'le':
      return `value <= ${p.add(value)}`;
    case 'sa':
      return `value >= ${p.add(high)}`;
    case 'eb':
      return `value < ${p.add(low)}`;
    case 'ap': {
      const margin = Math.abs(value) * 0.1;
      return `(value >= ${p.add(value - margin)} AND value <= ${p.add(value + margin)})`;
    }
  }
}

/** `SELECT rid FROM <index table> WHERE ...`: the live resources a positive set selects. */
function setSql(set: RidSet): string {
  return `SELECT rid FROM ${set.table} WHERE ${set.where}`;
}

/**
 * A probe of the index table for the one resource `alias` (its (rid, param) index), for NOT EXISTS.
 * The set's WHERE names columns unqualified; they resolve to `x`, the innermost table.
 */
function probe(set: RidSet, alias: string): string {
  return `SELECT 1 FROM ${set.table} x WHERE x.rid = ${alias}.rid AND ${set.where}`;
}

/**
 * `param = $n` over fhir_idx_reference for a reference parameter of `type`; for a derived one
 * (DERIVED_REFERENCE_PARAMS), the rows of its sources to its target type.
 */
function referenceParam(type: string, param: string, p: Params): string {
  const derived = DERIVED_REFERENCE_PARAMS.get(`${type}.${param}`);
  if (derived === undefined) return `param = ${p.add(param)}`;
  return `param IN (${derived.from.map((f) => p.add(f)).join(', ')}) AND target_type = ${p.add(derived.targetType)}`;
}

/** One condition on `type` as rows of an index table (never resource bodies). */
function ridSet(type: string, condition: SearchCondition, p: Params): RidSet {
  if (ROW_PARAMS.has(condition.param)) return rowRidSet(type, condition, p);
  const head = (): string => `type = ${p.add(type)} AND param = ${p.add(condition.param)}`;
  switch (condition.kind) {
    case 'token': {
      const scope = head();
      const ors = condition.values.map((v) => {
        const parts: string[] = [];
        if (v.code !== undefined) parts.push(`code = ${p.add(v.code)}`);
        if (v.system === null) parts.push('system IS NULL');
        else if (v.system !== undefined) parts.push(`system = ${p.add(v.system)}`);
        if (parts.length === 0) throw invalidSearch(type, `${condition.param} has an empty token`);
        return `(${parts.join(' AND ')})`;
      });
      return { table: POSTGRES_INDEX_TABLES.token, where: `${scope} AND (${ors.join(' OR ')})`, negate: condition.not };
    }
    case 'token-text': {
      const scope = head();
      const ors = condition.values.map((v) => `strpos(text, ${p.add(normalizeSearchString(v))}) > 0`);
      return { table: POSTGRES_INDEX_TABLES.token, where: `${scope} AND text IS NOT NULL AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'string': {
      const scope = head();
      const ors = condition.values.map((v) => {
        const normalized = normalizeSearchString(v);
        switch (condition.match) {
          case 'prefix':
            // A range instead of LIKE, so the (type, param, value) b-tree serves it in any collation setup.
            return `(value >= ${p.add(normalized)} AND value < ${p.add(normalized + STRING_MAX)})`;
          case 'exact':
            return `(value = ${p.add(normalized)} AND exact = ${p.add(v)})`;
          case 'contains':
            return `strpos(value, ${p.add(normalized)}) > 0`;
        }
      });
      return { table: POSTGRES_INDEX_TABLES.string, where: `${scope} AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'date': {
      const scope = head();
      const ors = condition.values.map((v) => dateClause(v.prefix, v.low, v.high, p));
      return { table: POSTGRES_INDEX_TABLES.date, where: `${scope} AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'number': {
      const scope = head();
      const ors = condition.values.map((v) => numberClause(v.prefix, v.value, v.low, v.high, p));
      return { table: POSTGRES_INDEX_TABLES.number, where: `${scope} AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'quantity': {
      const scope = head();
      const ors = condition.values.map((v) => {
        const parts = [numberClause(v.prefix, v.value, v.low, v.high, p)];
        if (v.system !== undefined) parts.push(`system = ${p.add(v.system)}`);
        if (v.code !== undefined) {
          const code = p.add(v.code);
          parts.push(`(code = ${code} OR unit = ${code})`);
        }
        return `(${parts.join(' AND ')})`;
      });
      return { table: POSTGRES_INDEX_TABLES.quantity, where: `${scope} AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'reference': {
      const scope = `type = ${p.add(type)} AND ${referenceParam(type, condition.param, p)}`;
      const ors = condition.values.map((v) => {
        if (v.url !== undefined) return `url = ${p.add(v.url)}`;
        if (v.id === undefined) throw invalidSearch(type, `${condition.param} has an empty reference`);
        const id = p.add(v.id);
        return v.type === undefined ? `target_id = ${id}` : `(target_id = ${id} AND target_type = ${p.add(v.type)})`;
      });
      return { table: POSTGRES_INDEX_TABLES.reference, where: `${scope} AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'uri': {
      const scope = head();
      const ors = condition.values.map((v) => (condition.match === 'exact' ? `value = ${p.add(v)}` : `(value >= ${p.add(v)} AND value < ${p.add(v + STRING_MAX)})`));
      return { table: POSTGRES_INDEX_TABLES.uri, where: `${scope} AND (${ors.join(' OR ')})`, negate: false };
    }
    case 'missing': {
      const where = condition.paramType === 'reference' ? `type = ${p.add(type)} AND ${referenceParam(type, condition.param, p)}` : head();
      return { table: POSTGRES_INDEX_TABLES[condition.paramType], where, negate: condition.missing };
    }
    case 'chain': {
      checkType(condition.targetType);
      const scope = `type = ${p.add(type)} AND ${referenceParam(type, condition.param, p)}`;
      const targetType = p.add(condition.targetType);
      const inner = ridSet(condition.targetType, condition.condition, p);
      // The live target resources the inner condition selects (a negated one: those it does not).
      const targets = `SELECT t.id FROM fhir_resources t WHERE t.type = ${targetType} AND NOT t.deleted AND ${
        inner.negate ? `NOT EXISTS (${probe(inner, 't')})` : `t.rid IN (${setSql(inner)})`
      }`;
      return { table: POSTGRES_INDEX_TABLES.reference, where: `${scope} AND target_type = ${targetType} AND target_id IN (${targets})`, negate: false };
    }
  }
}

/**
 * A condition on `_id` or `_lastUpdated` (ROW_PARAMS): read from fhir_resources, through its
 * UNIQUE (type, id) and fhir_resources_updated indexes, as the index rows the indexer would give
 * would answer it (a token with no system and no text; a date of one millisecond, low = high).
 */
function rowRidSet(type: string, condition: SearchCondition, p: Params): RidSet {
  const scope = `type = ${p.add(type)} AND NOT deleted`;
  const set = (clause: string, negate = false): RidSet => ({ table: 'fhir_resources', where: `${scope} AND (${clause})`, negate });
  switch (condition.kind) {
    case 'token': {
      const ors = condition.values.map((v) => {
        // The _id row's system is NULL: a system named never matches, `|code` (no system) does.
        if (v.system !== undefined && v.system !== null) return 'false';
        if (v.code === undefined) {
          if (v.system === undefined) throw invalidSearch(type, `${condition.param} has an empty token`);
          return 'true';
        }
        return `id = ${p.add(v.code)}`;
      });
      return set(ors.join(' OR '), condition.not);
    }
    case 'date':
      return set(condition.values.map((v) => dateClause(v.prefix, v.low, v.high, p).replace(/\b(low|high)\b/g, 'last_updated')).join(' OR '));
    case 'missing':
      // Every resource has an id and a last_updated.
      return set('true', condition.missing);
    case 'token-text':
      // An _id row has no text.
      return set('false');
    case 'string':
    case 'number':
    case 'quantity':
    case 'reference':
    case 'uri':
    case 'chain':
      throw invalidSearch(type, `${condition.param} cannot be searched as ${condition.kind}`);
  }
}

/** The SQL of a sort key for the resource `r`; missing values sort last in either direction. */
function sortKey(type: string, sort: SearchSort, p: Params): string {
  if (sort.param === '_lastUpdated') return 'r.last_updated';
  if (sort.param === '_id') return 'r.id';
  const textual = sort.paramType === 'string' || sort.paramType === 'token' || sort.paramType === 'uri' || sort.paramType === 'reference';
  const column = { date: sort.descending ? 'high' : 'low', string: 'value', token: 'code', number: 'value', quantity: 'value', uri: 'value', reference: 'target_id' }[sort.paramType];
  const param = sort.paramType === 'reference' ? referenceParam(type, sort.param, p) : `param = ${p.add(sort.param)}`;
  const aggregate = `(SELECT ${sort.descending ? 'max' : 'min'}(${column}) FROM ${POSTGRES_INDEX_TABLES[sort.paramType]} WHERE rid = r.rid AND ${param})`;
  if (textual) return `COALESCE(${aggregate}, ${p.add(sort.descending ? '' : STRING_MAX)}::text) COLLATE "C"`;
  return `COALESCE(${aggregate}, ${sort.descending ? MIN_INSTANT : MAX_INSTANT})`;
}

// ---------------------------------------------------------------------------------------------
// The write statements: one round trip writes the resource row, its history row and its index rows
// ---------------------------------------------------------------------------------------------

/**
 * Index rows as parallel arrays, inserted with unnest from the CTE `w` (the written resource's rid).
 * Parameters $7..$27; $1..$6 are the version's type, id, version, deleted, last_updated, resource.
 */
const INDEX_INSERTS = `,
x_token AS (INSERT INTO fhir_idx_token (rid, type, param, system, code, text)
  SELECT w.rid, $1::text, u.param, u.system, u.code, u.text FROM w, unnest($7::text[], $8::text[], $9::text[], $10::text[]) AS u(param, system, code, text)),
x_string AS (INSERT INTO fhir_idx_string (rid, type, param, value, exact)
  SELECT w.rid, $1::text, u.param, u.value, u.exact FROM w, unnest($11::text[], $12::text[], $13::text[]) AS u(param, value, exact)),
x_date AS (INSERT INTO fhir_idx_date (rid, type, param, low, high)
  SELECT w.rid, $1::text, u.param, u.low, u.high FROM w, unnest($14::text[], $15::bigint[], $16::bigint[]) AS u(param, low, high)),
x_number AS (INSERT INTO fhir_idx_number (rid, type, param, value, system, code, unit)
  SELECT w.rid, $1::text, u.param, u.value, u.system, u.code, u.unit FROM w, unnest($17::text[], $18::float8[], $19::text[], $20::text[], $21::text[]) AS u(param, value, system, code, unit)),
x_reference AS (INSERT INTO fhir_idx_reference (rid, type, param, target_type, target_id, url)
  SELECT w.rid, $1::text, u.param, u.target_type, u.target_id, u.url FROM w, unnest($22::text[], $23::text[], $24::text[], $25::text[]) AS u(param, target_type, target_id, url)),
x_uri AS (INSERT INTO fhir_idx_uri (rid, type, param, value)
  SELECT w.rid, $1::text, u.param, u.value FROM w, unnest($26::text[], $27::text[]) AS u(param, value)),
x_history AS (INSERT INTO fhir_history (type, id, version, deleted, last_updated, resource)
  SELECT $1::text, $2::text, $3::integer, $4::boolean, $5::bigint, $6::jsonb FROM w)
SELECT rid FROM w`;

/** The first version; nothing is written when (type, id) exists (ON CONFLICT waits for a concurrent insert to commit). */
const INSERT_FIRST_SQL = `WITH w AS (
  INSERT INTO fhir_resources (type, id, version, deleted, last_updated, resource) VALUES ($1::text, $2::text, $3::integer, $4::boolean, $5::bigint, $6::jsonb)
  ON CONFLICT (type, id) DO NOTHING RETURNING rid)${INDEX_INSERTS}`;

/**
 * The next version of row $28: its old index rows go. All parts of one statement share one snapshot,
 * so the DELETEs cannot see (and remove) the rows the INSERTs add (PostgreSQL 15 docs, 7.8.4).
 */
const WRITE_NEXT_SQL = `WITH ${Object.values(POSTGRES_INDEX_TABLES)
  .filter((t, i, all) => all.indexOf(t) === i)
  .map((t) => `d_${t} AS (DELETE FROM ${t} WHERE rid = $28::bigint)`)
  .join(',\n')},
w AS (UPDATE fhir_resources SET version = $3::integer, deleted = $4::boolean, last_updated = $5::bigint, resource = $6::jsonb WHERE rid = $28::bigint RETURNING rid)${INDEX_INSERTS}`;

const ROW_COLUMNS = 'rid, type, id, version, deleted, last_updated, resource';

/** The index entries of one version as the 21 arrays of INDEX_INSERTS ($7..$27). */
function indexArrays(entries: readonly IndexEntry[]): unknown[][] {
  const token: unknown[][] = [[], [], [], []];
  const string: unknown[][] = [[], [], []];
  const date: unknown[][] = [[], [], []];
  const number: unknown[][] = [[], [], [], [], []];
  const reference: unknown[][] = [[], [], [], []];
  const uri: unknown[][] = [[], []];
  const push = (columns: unknown[][], ...values: unknown[]): void => values.forEach((v, i) => columns[i]?.push(v ?? null));
  for (const e of entries) {
    switch (e.kind) {
      case 'token':
        push(token, e.param, e.system, e.code, e.text);
        break;
      case 'string':
        push(string, e.param, e.value, e.exact);
        break;
      case 'date':
        push(date, e.param, e.low, e.high);
        break;
      case 'number':
        push(number, e.param, e.value, null, null, null);
        break;
      case 'quantity':
        push(number, e.param, e.value, e.system, e.code, e.unit);
        break;
      case 'reference':
        push(reference, e.param, e.targetType, e.targetId, e.url);
        break;
      case 'uri':
        push(uri, e.param, e.value);
        break;
    }
  }
  return [...token, ...string, ...date, ...number, ...reference, ...uri];
}

/** One statement with errors mapped to the registry; `name` makes it a prepared statement per connection. */
async function run<R extends pg.QueryResultRow>(conn: Conn, text: string, values: readonly unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
  try {
    return await conn.query<R>(name === undefined ? { text, values: values as unknown[] } : { name, text, values: values as unknown[] });
  } catch (error) {
    throw toStoreError(error);
  }
}

/**
 * The canonical FHIR resource store on PostgreSQL (ARCHITECTURE.md "Storage": several engine
 * processes share it). Bodies are jsonb; search reads the index tables (postgres-resource-schema.ts).
 *
 * Concurrency (FHIR R4 http.html#concurrency, #cond-update; the port's comment): every write runs in
 * one READ COMMITTED transaction that first locks what it depends on. A conditional create/update
 * takes `pg_advisory_xact_lock(hashtextextended(<type + canonical condition>))` before its search,
 * so two requests with one condition run one after the other and the second sees the first's
 * commit (each statement takes a fresh snapshot); updates and deletes take the resource row
 * `FOR UPDATE`, so the If-Match check and the version number cannot race. A conditional write
 * does not lock out a plain write that would also match (as in other FHIR servers).
 *
 * Unlike SQLite, calls outside a running transaction() do not wait for it: they run on other pooled
 * connections and see only committed data (MVCC), and block only on the rows it has locked.
 */
export class PostgresResourceStore implements ResourceStore {
  readonly #pool: pg.Pool;
  readonly #indexer: ResourceIndexer;
  readonly #clock: () => Date;
  readonly #ownsPool: boolean;
  #closed = false;

  constructor(pool: pg.Pool, options: PostgresResourceStoreOptions & { ownsPool?: boolean }) {
    this.#pool = pool;
    this.#indexer = options.indexer;
    this.#clock = options.clock ?? (() => new Date());
    this.#ownsPool = options.ownsPool ?? false;
  }

  // -------------------------------------------------------------------------------------------
  // Port
  // -------------------------------------------------------------------------------------------

  read(type: string, id: string): Promise<ResourceVersion | undefined> {
    return this.#open(() => this.#read(this.#pool, type, id));
  }

  vread(type: string, id: string, versionId: string): Promise<ResourceVersion | undefined> {
    return this.#open(() => this.#vread(this.#pool, type, id, versionId));
  }

  search(type: string, query: SearchQuery): Promise<SearchResult> {
    // Several statements (count, page, includes) read one snapshot; a plain page is one statement.
    const several = wantsTotal(query) || (query.include?.length ?? 0) > 0 || (query.revinclude?.length ?? 0) > 0;
    return this.#open(() => (several ? this.#readOnly((c) => this.#search(c, type, query)) : this.#search(this.#pool, type, query)));
  }

  create(resource: FhirResource, options: CreateOptions = {}): Promise<CreateOutcome> {
    // Without a condition the write is one statement, atomic by itself.
    return this.#open(() => (options.ifNoneExist === undefined ? this.#create(this.#pool, resource, options) : this.#writeTx((c) => this.#create(c, resource, options))));
  }

  update(resource: FhirResource, options: UpdateOptions = {}): Promise<UpdateOutcome> {
    return this.#open(() => this.#writeTx((c) => this.#update(c, resource, options)));
  }

  conditionalUpdate(type: string, query: SearchQuery, resource: FhirResource): Promise<UpdateOutcome> {
    return this.#open(() => this.#writeTx((c) => this.#conditionalUpdate(c, type, query, resource)));
  }

  delete(type: string, id: string, options: UpdateOptions = {}): Promise<DeleteOutcome> {
    return this.#open(() => this.#writeTx((c) => this.#delete(c, type, id, options)));
  }

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.#open(() => this.#history(query));
  }

  /**
   * One transaction on one pooled connection, held across the work's awaits. Each call of the work
   * runs in a savepoint, so a failed call the work catches leaves the others (FHIR batch-like
   * recovery inside a transaction); calls run one at a time on the connection.
   */
  async transaction<T>(work: (tx: ResourceStoreTx) => Promise<T>): Promise<T> {
    if (this.#closed) throw closedError();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    let open = true;
    let broken = false;
    let tail: Promise<unknown> = Promise.resolve();
    const serial = <R>(step: (c: pg.ClientBase) => Promise<R>, savepoint: boolean): Promise<R> => {
      const next = tail.then(async () => {
        if (!open) throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the transaction has ended' });
        if (!savepoint) return step(client);
        await run(client, 'SAVEPOINT swb_call');
        try {
          const result = await step(client);
          await run(client, 'RELEASE SAVEPOINT swb_call');
          return result;
        } catch (error) {
          await run(client, 'ROLLBACK TO SAVEPOINT swb_call');
          await run(client, 'RELEASE SAVEPOINT swb_call');
          throw isSwitchboardError(error) ? error : toStoreError(error);
        }
      });
      tail = next.catch(() => undefined);
      return next;
    };
    const tx: ResourceStoreTx = {
      read: (type, id) => serial((c) => this.#read(c, type, id), false),
      vread: (type, id, versionId) => serial((c) => this.#vread(c, type, id, versionId), false),
      search: (type, query) => serial((c) => this.#search(c, type, query), true),
      create: (resource, options = {}) => serial((c) => this.#create(c, resource, options), true),
      update: (resource, options = {}) => serial((c) => this.#update(c, resource, options), true),
      conditionalUpdate: (type, query, resource) => serial((c) => this.#conditionalUpdate(c, type, query, resource), true),
      delete: (type, id, options = {}) => serial((c) => this.#delete(c, type, id, options), true),
    };
    try {
      await run(client, 'BEGIN ISOLATION LEVEL READ COMMITTED');
      const result = await work(tx);
      open = false;
      await tail;
      await run(client, 'COMMIT');
      return result;
    } catch (error) {
      open = false;
      await tail;
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // a connection that cannot roll back is not returned to the pool
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.end();
  }

  /** The plan (EXPLAIN) of a search's main statement: tests check it reads index tables, not every resource. */
  async explainSearch(type: string, query: SearchQuery): Promise<string[]> {
    const p = new Params();
    const where = this.#filter(type, query.conditions, p);
    const result = await run<{ 'QUERY PLAN': string }>(this.#pool, `EXPLAIN SELECT r.rid, r.resource FROM fhir_resources r WHERE ${where} ORDER BY r.rid LIMIT ${p.add(DEFAULT_PAGE + 1)}`, p.values);
    return result.rows.map((r) => r['QUERY PLAN']);
  }

  #open<T>(step: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(closedError());
    return step();
  }

  /** A REPEATABLE READ, READ ONLY transaction: one snapshot for several statements. */
  #readOnly<T>(step: (c: pg.ClientBase) => Promise<T>): Promise<T> {
    return this.#inTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', step);
  }

  /**
   * A write's transaction, READ COMMITTED whatever the database's default: the search after the
   * condition's lock must see what the previous holder committed, which a snapshot taken earlier
   * (REPEATABLE READ) would not.
   */
  #writeTx<T>(step: (c: pg.ClientBase) => Promise<T>): Promise<T> {
    return this.#inTransaction('BEGIN ISOLATION LEVEL READ COMMITTED', step);
  }

  async #inTransaction<T>(begin: string, step: (c: pg.ClientBase) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    let broken = false;
    try {
      await run(client, begin);
      const result = await step(client);
      await run(client, 'COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw toStoreError(error);
    } finally {
      client.release(broken);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reads
  // -------------------------------------------------------------------------------------------

  async #read(c: Conn, type: string, id: string): Promise<ResourceVersion | undefined> {
    checkType(type);
    const row = (await run<ResourceRow>(c, `SELECT ${ROW_COLUMNS} FROM fhir_resources WHERE type = $1 AND id = $2`, [type, id], 'swb_fhir_read')).rows[0];
    return row === undefined ? undefined : versionOfRow(row);
  }

  async #vread(c: Conn, type: string, id: string, versionId: string): Promise<ResourceVersion | undefined> {
    checkType(type);
    if (!/^[1-9]\d{0,8}$/.test(versionId)) return undefined;
    const row = (
      await run<HistoryRow>(c, 'SELECT seq, type, id, version, deleted, last_updated, resource FROM fhir_history WHERE type = $1 AND id = $2 AND version = $3', [type, id, Number(versionId)], 'swb_fhir_vread')
    ).rows[0];
    return row === undefined ? undefined : versionOfRow(row);
  }

  async #history(query: HistoryQuery): Promise<HistoryPage> {
    const p = new Params();
    const where: string[] = [];
    if (query.type !== undefined) {
      checkType(query.type);
      where.push(`type = ${p.add(query.type)}`);
      if (query.id !== undefined) where.push(`id = ${p.add(query.id)}`);
    } else if (query.id !== undefined) throw invalidSearch('history', 'an instance history needs its type');
    if (query.since !== undefined) where.push(`last_updated >= ${p.add(query.since.getTime())}`);
    if (query.cursor !== undefined) {
      const [seq] = decodeCursor(query.cursor, 1);
      if (!/^\d{1,18}$/.test(String(seq))) throw new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR');
      where.push(`seq < ${p.add(String(seq))}::bigint`);
    }
    const count = Math.max(1, Math.min(MAX_PAGE, Math.floor(query.count)));
    const sql = `SELECT seq, type, id, version, deleted, last_updated, resource FROM fhir_history${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${p.add(count + 1)}`;
    const rows = (await run<HistoryRow>(this.#pool, sql, p.values)).rows;
    const page = rows.slice(0, count);
    const last = page[page.length - 1];
    return {
      entries: page.map(versionOfRow),
      ...(rows.length > count && last !== undefined ? { nextCursor: encodeCursor([last.seq]) } : {}),
    };
  }

  /**
   * The WHERE over `fhir_resources r` for the conditions: each positive condition a semi-join
   * (`r.rid IN (SELECT rid FROM <index table> ...)`), each negative one an anti-join probe. The
   * planner orders them by its statistics, driving from the most selective index.
   */
  #filter(type: string, conditions: readonly SearchCondition[], p: Params): string {
    checkType(type);
    const where = [`r.type = ${p.add(type)}`, 'NOT r.deleted'];
    for (const condition of conditions) {
      const set = ridSet(type, condition, p);
      where.push(set.negate ? `NOT EXISTS (${probe(set, 'r')})` : `r.rid IN (${setSql(set)})`);
    }
    return where.join(' AND ');
  }

  /** The rids matching every condition (live resources of `type` only), at most `limit`. */
  async #matchingRids(c: Conn, type: string, conditions: readonly SearchCondition[], limit: number): Promise<string[]> {
    const p = new Params();
    const where = this.#filter(type, conditions, p);
    return (await run<{ rid: string }>(c, `SELECT r.rid FROM fhir_resources r WHERE ${where} LIMIT ${p.add(limit)}`, p.values)).rows.map((r) => r.rid);
  }

  async #search(c: Conn, type: string, query: SearchQuery): Promise<SearchResult> {
    const p = new Params();
    const where = this.#filter(type, query.conditions, p);
    const total = wantsTotal(query) ? (await run<{ n: number }>(c, `SELECT count(*)::integer AS n FROM fhir_resources r WHERE ${where}`, p.values)).rows[0]?.n : undefined;
    const count = query.summary === 'count' ? 0 : Math.max(0, Math.min(MAX_PAGE, Math.floor(query.count ?? DEFAULT_PAGE)));
    if (count === 0) return { resources: [], included: [], ...(total === undefined ? {} : { total }) };

    const sorts = query.sort ?? [];
    let sql: string;
    if (sorts.length === 0) {
      let after = '';
      if (query.cursor !== undefined) {
        const [rid] = decodeCursor(query.cursor, 1);
        after = ` AND r.rid > ${p.add(String(rid))}::bigint`;
      }
      sql = `SELECT r.rid, r.resource FROM fhir_resources r WHERE ${where}${after} ORDER BY r.rid LIMIT ${p.add(count + 1)}`;
    } else {
      const keys = sorts.map((s) => sortKey(type, s, p));
      const order = [...sorts.map((s, i) => `k${i}${s.descending ? ' DESC' : ''}`), 'rid'].join(', ');
      let keyset = '';
      if (query.cursor !== undefined) {
        // Keyset paging: rows strictly after the last row of the previous page, in (k0, k1, ..., rid) order.
        const last = decodeCursor(query.cursor, sorts.length + 1);
        const ors: string[] = [];
        for (let i = 0; i <= sorts.length; i++) {
          const eqs: string[] = [];
          for (let j = 0; j < i; j++) eqs.push(`k${j} = ${p.add(last[j])}`);
          if (i < sorts.length) eqs.push(`k${i} ${sorts[i]?.descending === true ? '<' : '>'} ${p.add(last[i])}`);
          else eqs.push(`rid > ${p.add(String(last[i]))}::bigint`);
          ors.push(`(${eqs.join(' AND ')})`);
        }
        keyset = ` WHERE ${ors.join(' OR ')}`;
      }
      sql = `SELECT * FROM (SELECT r.rid, r.resource${keys.map((k, i) => `, ${k} AS k${i}`).join('')} FROM fhir_resources r WHERE ${where}) s${keyset} ORDER BY ${order} LIMIT ${p.add(count + 1)}`;
    }
    let rows: Array<Record<string, unknown> & { rid: string; resource: FhirResource }>;
    try {
      rows = (await run<Record<string, unknown> & { rid: string; resource: FhirResource }>(c, sql, p.values)).rows;
    } catch (error) {
      throw query.cursor === undefined ? error : cursorError(error);
    }
    const page = rows.slice(0, count);
    const last = page[page.length - 1];
    const resources = page.map((r) => shaped(r.resource));
    const included = await this.#includes(c, type, page.map((r) => r.rid), resources, query.include ?? [], query.revinclude ?? []);
    return {
      resources,
      included,
      ...(total === undefined ? {} : { total }),
      ...(rows.length > count && last !== undefined ? { nextCursor: encodeCursor([...sorts.map((_s, i) => last[`k${i}`]), last.rid]) } : {}),
    };
  }

  /** _include and _revinclude (FHIR R4 search.html#include), through the reference index; each resource once. */
  async #includes(c: Conn, type: string, rids: string[], matches: readonly FhirResource[], include: readonly IncludeSpec[], revinclude: readonly IncludeSpec[]): Promise<FhirResource[]> {
    if (rids.length === 0 || (include.length === 0 && revinclude.length === 0)) return [];
    const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id ?? ''}`));
    const out: FhirResource[] = [];
    const add = (rows: Array<{ resource: FhirResource | null }>): void => {
      for (const row of rows) {
        if (row.resource === null) continue;
        const key = `${row.resource.resourceType}/${row.resource.id ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(shaped(row.resource));
      }
    };
    for (const spec of include) {
      if (spec.sourceType !== type) continue;
      const p = new Params();
      const ridsAt = p.add(rids);
      const param = referenceParam(type, spec.param, p);
      const targetType = spec.targetType === undefined ? '' : ` AND target_type = ${p.add(spec.targetType)}`;
      const targets = (
        await run<{ type: string | null; id: string }>(
          c,
          `SELECT DISTINCT target_type AS type, target_id AS id FROM fhir_idx_reference WHERE rid = ANY(${ridsAt}::bigint[]) AND ${param} AND target_id IS NOT NULL${targetType}`,
          p.values,
        )
      ).rows;
      const byType = new Map<string, string[]>();
      for (const t of targets) if (t.type !== null) byType.set(t.type, [...(byType.get(t.type) ?? []), t.id]);
      for (const [targetType, ids] of byType) {
        add((await run<{ resource: FhirResource | null }>(c, 'SELECT resource FROM fhir_resources WHERE type = $1 AND id = ANY($2::text[]) AND NOT deleted ORDER BY rid', [targetType, ids])).rows);
      }
    }
    if (revinclude.length > 0) {
      const ids = matches.map((r) => r.id ?? '');
      for (const spec of revinclude) {
        if (spec.targetType !== undefined && spec.targetType !== type) continue;
        const p = new Params();
        const sourceType = p.add(spec.sourceType);
        const param = referenceParam(spec.sourceType, spec.param, p);
        add(
          (
            await run<{ resource: FhirResource | null }>(
              c,
              `SELECT r.resource FROM fhir_resources r WHERE r.rid IN (SELECT rid FROM fhir_idx_reference WHERE type = ${sourceType} AND ${param} AND target_id = ANY(${p.add(ids)}::text[]) AND target_type = ${p.add(type)}) AND NOT r.deleted ORDER BY r.rid`,
              p.values,
            )
          ).rows,
        );
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Writes (the caller runs them in a transaction; a plain create may be a single statement)
  // -------------------------------------------------------------------------------------------

  /** Serializes conditional writes with one condition (the port's comment): held until commit. */
  async #lockCondition(c: Conn, type: string, query: SearchQuery): Promise<void> {
    const key = `${type}?${query.conditions.map(canonical).sort().join('&')}`;
    await run(c, 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key], 'swb_fhir_condition_lock');
  }

  /** The current row of (type, id), locked FOR UPDATE until commit, or undefined when never created. */
  async #lockRow(c: Conn, type: string, id: string): Promise<ResourceRow | undefined> {
    return (await run<ResourceRow>(c, `SELECT ${ROW_COLUMNS} FROM fhir_resources WHERE type = $1 AND id = $2 FOR UPDATE`, [type, id], 'swb_fhir_lock_row')).rows[0];
  }

  async #create(c: Conn, resource: FhirResource, options: CreateOptions): Promise<CreateOutcome> {
    checkResource(resource);
    const type = resource.resourceType;
    if (options.id !== undefined && !ID_RE.test(options.id)) throw invalidResource(type, 'the id is not a FHIR id');
    if (options.ifNoneExist !== undefined) {
      // Under the condition's lock: nobody with this condition can create a match between this search and the insert.
      await this.#lockCondition(c, type, options.ifNoneExist);
      const rids = await this.#matchingRids(c, type, options.ifNoneExist.conditions, 2);
      if (rids.length > 1) return { outcome: 'multiple' };
      const rid = rids[0];
      if (rid !== undefined) {
        const row = (await run<{ resource: FhirResource }>(c, 'SELECT resource FROM fhir_resources WHERE rid = $1', [rid])).rows[0];
        if (row !== undefined) return { outcome: 'exists', resource: shaped(row.resource) };
      }
    }
    const id = options.id ?? newSortableId(this.#clock().getTime()).toLowerCase();
    const written = await this.#insertFirst(c, type, id, resource);
    if (written === undefined) throw new SwitchboardError('SWB_ERR_FHIR_ID_EXISTS', { type, id });
    return { outcome: 'created', resource: written };
  }

  async #update(c: Conn, resource: FhirResource, options: UpdateOptions): Promise<UpdateOutcome> {
    checkResource(resource);
    const type = resource.resourceType;
    const id = resource.id;
    if (id === undefined || !ID_RE.test(id)) throw invalidResource(type, 'an update needs a valid id');
    const existing = await this.#lockRow(c, type, id);
    if (options.ifMatch !== undefined && !matchesVersion(existing, options.ifMatch)) throw versionConflict(type, id, existing, options.ifMatch);
    return this.#put(c, type, id, existing, resource);
  }

  /** Writes `resource` as (type, id): its first version, or the next one of `existing` (locked). */
  async #put(c: Conn, type: string, id: string, existing: ResourceRow | undefined, resource: FhirResource): Promise<UpdateOutcome> {
    let current = existing;
    if (current === undefined) {
      const written = await this.#insertFirst(c, type, id, resource);
      if (written !== undefined) return { outcome: 'created', resource: written };
      // A concurrent update-as-create of this id committed first (ON CONFLICT waited for it): lock its row.
      current = await this.#lockRow(c, type, id);
      if (current === undefined) throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'a concurrent write of the same resource; try again' });
    }
    const written = (await this.#writeNext(c, current, resource)) as FhirResource;
    return { outcome: current.deleted ? 'created' : 'updated', resource: written };
  }

  async #conditionalUpdate(c: Conn, type: string, query: SearchQuery, resource: FhirResource): Promise<UpdateOutcome> {
    checkResource(resource);
    if (resource.resourceType !== type) throw invalidResource(type, 'resourceType differs from the type in the URL');
    if (resource.id !== undefined && !ID_RE.test(resource.id)) throw invalidResource(type, 'the id is not a FHIR id');
    await this.#lockCondition(c, type, query);
    const rids = await this.#matchingRids(c, type, query.conditions, 2);
    if (rids.length > 1) throw new SwitchboardError('SWB_ERR_FHIR_MULTIPLE_MATCHES', { type });
    const rid = rids[0];
    if (rid === undefined) {
      // No match: create, with the body's id when it has one (update as create).
      const id = resource.id ?? newSortableId(this.#clock().getTime()).toLowerCase();
      return this.#put(c, type, id, await this.#lockRow(c, type, id), resource);
    }
    const row = (await run<ResourceRow>(c, `SELECT ${ROW_COLUMNS} FROM fhir_resources WHERE rid = $1 FOR UPDATE`, [rid])).rows[0];
    if (row === undefined || row.deleted) throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the matched resource changed concurrently; try again' });
    if (resource.id !== undefined && resource.id !== row.id) throw invalidResource(type, 'the id in the body is not the id of the resource the condition matched');
    return { outcome: 'updated', resource: (await this.#writeNext(c, row, resource)) as FhirResource };
  }

  async #delete(c: Conn, type: string, id: string, options: UpdateOptions): Promise<DeleteOutcome> {
    checkType(type);
    const existing = await this.#lockRow(c, type, id);
    if (options.ifMatch !== undefined && !matchesVersion(existing, options.ifMatch)) throw versionConflict(type, id, existing, options.ifMatch);
    if (existing === undefined) return { outcome: 'not-found' };
    if (existing.deleted) return { outcome: 'already-deleted', versionId: String(existing.version) };
    await this.#writeNext(c, existing, undefined);
    return { outcome: 'deleted', versionId: String(existing.version + 1) };
  }

  /**
   * The stored form of a version: meta.versionId and meta.lastUpdated come from the store (FHIR R4
   * resource.html#Meta), and the parameters of the write statements.
   */
  #version(type: string, id: string, version: number, resource: FhirResource | undefined): { stored: FhirResource | undefined; params: unknown[] } {
    const now = this.#clock().getTime();
    let stored: FhirResource | undefined;
    if (resource !== undefined) {
      const { resourceType: _t, id: _id, meta, ...rest } = resource;
      stored = { resourceType: type, id, meta: { ...meta, versionId: String(version), lastUpdated: new Date(now).toISOString() }, ...rest };
    }
    // _id and _lastUpdated are searched on the resource row (ROW_PARAMS), AuditEvent patient on the
    // agent and entity rows (DERIVED_REFERENCE_PARAMS): not written as index rows.
    const entries = stored === undefined ? [] : this.#indexer.index(stored).filter((e) => isStoredIndexEntry(type, e));
    return { stored, params: [type, id, version, stored === undefined, now, stored === undefined ? null : JSON.stringify(stored), ...indexArrays(entries)] };
  }

  /** Version 1 of (type, id) with its history and index rows; undefined when (type, id) exists. */
  async #insertFirst(c: Conn, type: string, id: string, resource: FhirResource): Promise<FhirResource | undefined> {
    const { stored, params } = this.#version(type, id, 1, resource);
    const result = await run(c, INSERT_FIRST_SQL, params, 'swb_fhir_insert_first');
    return result.rows.length === 0 ? undefined : stored;
  }

  /** The next version of a locked row (a tombstone when `resource` is undefined). */
  async #writeNext(c: Conn, existing: ResourceRow, resource: FhirResource | undefined): Promise<FhirResource | undefined> {
    const { stored, params } = this.#version(existing.type, existing.id, existing.version + 1, resource);
    await run(c, WRITE_NEXT_SQL, [...params, existing.rid], 'swb_fhir_write_next');
    return stored;
  }
}

function wantsTotal(query: SearchQuery): boolean {
  return query.summary === 'count' || (query.total !== undefined && query.total !== 'none');
}

function closedError(): SwitchboardError {
  return new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the resource store is closed' });
}

/**
 * Creates the resource tables in the pool's schema when missing, under an advisory lock: two
 * processes running CREATE ... IF NOT EXISTS at once can otherwise collide on the catalog.
 */
export async function applyPostgresResourceSchema(pool: pg.Pool, schema: string): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SCHEMA_LOCK_CLASS, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteSchema(schema)}`);
    await client.query(POSTGRES_RESOURCE_SCHEMA);
  });
}

/** Opens the resource store on a pool of its own whose connections all use `schema`. */
export async function openPostgresResourceStore(options: OpenPostgresResourceStoreOptions): Promise<PostgresResourceStore> {
  const schema = options.schema ?? 'switchboard';
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // Set at connection start-up, so no query ever runs before the search_path is in place.
    options: `-c search_path=${quoteSchema(schema)}`,
  });
  // An idle connection dropped by the server is discarded by the pool; the next query reports it.
  pool.on('error', () => undefined);
  try {
    if (options.applySchema ?? true) await applyPostgresResourceSchema(pool, schema);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw toStoreError(error);
  }
  return new PostgresResourceStore(pool, { indexer: options.indexer, ...(options.clock === undefined ? {} : { clock: options.clock }), ownsPool: true });
}
