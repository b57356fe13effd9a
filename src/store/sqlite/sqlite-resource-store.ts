import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import {
  MAX_INSTANT,
  MIN_INSTANT,
  normalizeSearchString,
  DERIVED_REFERENCE_PARAMS,
  isStoredIndexEntry,
  ROW_PARAMS,
  type CreateOptions,
  type CreateOutcome,
  type DeleteOutcome,
  type FhirResource,
  type HistoryPage,
  type HistoryQuery,
  type IncludeSpec,
  type IndexEntry,
  type JournalEntry,
  type ResourceJournal,
  type ResourceIndexer,
  type ResourceStore,
  type ResourceStoreTx,
  type ResourceVersion,
  type SearchCondition,
  type SearchPrefix,
  type SearchQuery,
  type SearchResult,
  type SearchSort,
  type MarkedJson,
  type StoredJson,
  type UpdateOptions,
  type UpdateOutcome,
} from '../../core/ports/resource-store.ts';
import { INDEX_TABLES, SQLITE_RESOURCE_JOURNAL_SCHEMA, SQLITE_RESOURCE_MARKS_SCHEMA, SQLITE_RESOURCE_SCHEMA } from './sqlite-resource-schema.ts';
import { BATCH_CHUNKS, CURRENT_COLUMNS, HISTORY_COLUMNS, RelaxedBatchWriter, type JournalSettle, type RelaxedBatch } from './sqlite-relaxed-batch-writer.ts';
import { SqliteStatementCache } from './sqlite-statement-cache.ts';
import { guarded, toStoreError } from './sqlite-store-errors.ts';
import { withRelaxedSync } from './sqlite-relaxed-sync.ts';
import { walSyncOf, type SqliteWalSync } from './sqlite-wal-sync.ts';

const DEFAULT_PAGE = 50;
const MAX_PAGE = 1000;
/** Prepared search statements kept per store (search SQL varies with the query's shape, not its values). */
const STATEMENT_CACHE = 256;
const TYPE_RE = /^[A-Z][A-Za-z]{0,63}$/;
/** What a call on a closed store answers. */
function refusedClosed(): Promise<never> {
  return Promise.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the resource store is closed' }));
}

/** FHIR R4 datatypes.html#id. */
const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;
/** Sorts after every string a key can hold (U+10FFFF is the largest code point; SQLite compares UTF-8 bytes). */
const STRING_MAX = '\u{10FFFF}';

export interface SqliteResourceStoreOptions {
  /** Turns resources into index entries (src/fhir/search-parameters.ts FhirSearchIndexer). */
  readonly indexer: ResourceIndexer;
  /** The clock for meta.lastUpdated; tests replace it. */
  readonly clock?: () => Date;
  /** Create the tables when missing (default true) until the schema is part of the numbered migrations. */
  readonly applySchema?: boolean;
  /**
   * createBatchRelaxed on a worker thread with a connection of its own (sqlite-relaxed-batch-writer.ts,
   * started on the first call); default true for a file database. False, or an in-memory database:
   * in this thread, on this connection.
   */
  readonly relaxedBatchThread?: boolean;
}

export interface OpenSqliteResourceStoreOptions extends SqliteResourceStoreOptions {
  readonly path: string;
  readonly synchronous?: 'FULL' | 'NORMAL';
  readonly busyTimeoutMs?: number;
}

interface ResourceRow {
  rid: number;
  type: string;
  id: string;
  version: number;
  deleted: number;
  last_updated: number;
  json: string | null;
}

/** readJsonMarked's row: the mark, and the resource's columns (NULL when there is no resource). */
interface MarkedRow {
  mark: number;
  version: number | null;
  deleted: number | null;
  last_updated: number | null;
  json: string | null;
}

/** readJson's answer for a current row (undefined when there is none). */
function storedJsonOf(row: Pick<ResourceRow, 'version' | 'deleted' | 'last_updated' | 'json'> | undefined): StoredJson | undefined {
  if (row === undefined) return undefined;
  const facts = { versionId: String(row.version), lastUpdated: new Date(row.last_updated) };
  return row.deleted !== 0 || row.json === null ? { kind: 'deleted', ...facts } : { kind: 'resource', ...facts, json: row.json };
}

interface HistoryRow {
  seq: number;
  type: string;
  id: string;
  version: number;
  deleted: number;
  last_updated: number;
  json: string | null;
}

/** A rid-set subquery and its parameters; `negate` means "resources NOT in this set". */
interface RidSet {
  readonly sql: string;
  readonly params: unknown[];
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

function versionOfRow(row: ResourceRow | HistoryRow): ResourceVersion {
  const base = { type: row.type, id: row.id, versionId: String(row.version), lastUpdated: new Date(row.last_updated) };
  if (row.deleted !== 0 || row.json === null) return { kind: 'deleted', ...base };
  return { kind: 'resource', ...base, resource: JSON.parse(row.json) as FhirResource };
}

function encodeCursor(values: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor(cursor: string, length: number): unknown[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === length && values.every((v) => typeof v === 'string' || typeof v === 'number')) return values;
  } catch {
    // fall through to the registry error
  }
  throw new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR');
}

/** The conditions of a date prefix on a target range [low, high] against a search range [ql, qh] (FHIR R4 search.html#prefix). */
function dateClause(prefix: SearchPrefix, ql: number, qh: number, params: unknown[]): string {
  const eq = '(low >= ? AND high <= ?)';
  switch (prefix) {
    case 'eq':
      params.push(ql, qh);
      return eq;
    case 'ne':
      params.push(ql, qh);
      return `NOT ${eq}`;
    case 'gt':
      params.push(qh);
      return 'high > ?';
    case 'lt':
      params.push(ql);
      return 'low < ?';
    case 'ge':
      params.push(qh, ql, qh);
      return `(high > ? OR ${eq})`;
    case 'le':
      params.push(ql, ql, qh);
      return `(low < ? OR ${eq})`;
    case 'sa':
      params.push(qh);
      return 'low > ?';
    case 'eb':
      params.push(ql);
      return 'high < ?';
    case 'ap':
      params.push(qh, ql);
      return '(low <= ? AND high >= ?)';
  }
}

/**
 * Numbers and quantities are points; the search value carries the range of its significant digits:
 * eq/ne use that range, the comparisons the value itself (FHIR R4 search.html#number).
 */
function numberClause(prefix: SearchPrefix, value: number, low: number, high: number, params: unknown[]): string {
  switch (prefix) {
    case 'eq':
      params.push(low, high);
      return '(value >= ? AND value < ?)';
    case 'ne':
      params.push(low, high);
      return 'NOT (value >= ? AND value < ?)';
    case 'gt':
      params.push(value);
      return 'value > ?';
    case 'lt':
      params.push(value);
      return 'value < ?';
    case 'ge':
      params.push(value);
      return 'value >= ?';
    case 'le':
      params.push(value);
      return 'value <= ?';
    case 'sa':
      params.push(high);
      return 'value >= ?';
    case 'eb':
      params.push(low);
      return 'value < ?';
    case 'ap': {
      const margin = Math.abs(value) * 0.1;
      params.push(value - margin, value + margin);
      return '(value >= ? AND value <= ?)';
    }
  }
}

function tableOfKind(kind: IndexEntry['kind'] | SearchSort['paramType']): string {
  return INDEX_TABLES[kind];
}

/**
 * `param = ?` over fhir_idx_reference for a reference parameter of `type`; for a derived one
 * (DERIVED_REFERENCE_PARAMS), the rows of its sources to its target type. The values go to `params`.
 */
function referenceParam(type: string, param: string, params: unknown[]): string {
  const derived = DERIVED_REFERENCE_PARAMS.get(`${type}.${param}`);
  if (derived === undefined) {
    params.push(param);
    return 'param = ?';
  }
  params.push(...derived.from, derived.targetType);
  return `param IN (${derived.from.map(() => '?').join(', ')}) AND target_type = ?`;
}

/**
 * The SQL of one condition on `type`: the set of resource rids it selects, read from an index
 * table (never from resource bodies).
 */
function ridSet(type: string, condition: SearchCondition): RidSet {
  if (ROW_PARAMS.has(condition.param)) return rowRidSet(type, condition);
  const params: unknown[] = [type, condition.param];
  const where = (table: string, clause: string): string => `SELECT rid FROM ${table} WHERE type = ? AND param = ? AND (${clause})`;
  switch (condition.kind) {
    case 'token': {
      const ors = condition.values.map((v) => {
        const parts: string[] = [];
        if (v.code !== undefined) {
          parts.push('code = ?');
          params.push(v.code);
        }
        if (v.system === null) parts.push('system IS NULL');
        else if (v.system !== undefined) {
          parts.push('system = ?');
          params.push(v.system);
        }
        if (parts.length === 0) throw invalidSearch(type, `${condition.param} has an empty token`);
        return `(${parts.join(' AND ')})`;
      });
      return { sql: where('fhir_idx_token', ors.join(' OR ')), params, negate: condition.not };
    }
    case 'token-text': {
      const ors = condition.values.map((v) => {
        params.push(normalizeSearchString(v));
        return 'instr(text, ?) > 0';
      });
      return { sql: where('fhir_idx_token', `text IS NOT NULL AND (${ors.join(' OR ')})`), params, negate: false };
    }
    case 'string': {
      const ors = condition.values.map((v) => {
        const normalized = normalizeSearchString(v);
        switch (condition.match) {
          case 'prefix':
            // A range instead of LIKE, so the (type, param, value) index serves it.
            params.push(normalized, normalized + STRING_MAX);
            return '(value >= ? AND value < ?)';
          case 'exact':
            params.push(normalized, v);
            return '(value = ? AND exact = ?)';
          case 'contains':
            params.push(normalized);
            return 'instr(value, ?) > 0';
        }
      });
      return { sql: where('fhir_idx_string', ors.join(' OR ')), params, negate: false };
    }
    case 'date': {
      const ors = condition.values.map((v) => dateClause(v.prefix, v.low, v.high, params));
      return { sql: where('fhir_idx_date', ors.join(' OR ')), params, negate: false };
    }
    case 'number': {
      const ors = condition.values.map((v) => numberClause(v.prefix, v.value, v.low, v.high, params));
      return { sql: where('fhir_idx_number', ors.join(' OR ')), params, negate: false };
    }
    case 'quantity': {
      const ors = condition.values.map((v) => {
        const parts = [numberClause(v.prefix, v.value, v.low, v.high, params)];
        if (v.system !== undefined) {
          parts.push('system = ?');
          params.push(v.system);
        }
        if (v.code !== undefined) {
          parts.push('(code = ? OR unit = ?)');
          params.push(v.code, v.code);
        }
        return `(${parts.join(' AND ')})`;
      });
      return { sql: where('fhir_idx_number', ors.join(' OR ')), params, negate: false };
    }
    case 'reference': {
      const refParams: unknown[] = [type];
      const head = referenceParam(type, condition.param, refParams);
      const ors = condition.values.map((v) => {
        if (v.url !== undefined) {
          refParams.push(v.url);
          return 'url = ?';
        }
        if (v.id === undefined) throw invalidSearch(type, `${condition.param} has an empty reference`);
        refParams.push(v.id);
        if (v.type === undefined) return 'target_id = ?';
        refParams.push(v.type);
        return '(target_id = ? AND target_type = ?)';
      });
      return { sql: `SELECT rid FROM fhir_idx_reference WHERE type = ? AND ${head} AND (${ors.join(' OR ')})`, params: refParams, negate: false };
    }
    case 'uri': {
      const ors = condition.values.map((v) => {
        if (condition.match === 'exact') {
          params.push(v);
          return 'value = ?';
        }
        params.push(v, v + STRING_MAX);
        return '(value >= ? AND value < ?)';
      });
      return { sql: where('fhir_idx_uri', ors.join(' OR ')), params, negate: false };
    }
    case 'missing': {
      if (condition.paramType !== 'reference') return { sql: `SELECT rid FROM ${tableOfKind(condition.paramType)} WHERE type = ? AND param = ?`, params, negate: condition.missing };
      const refParams: unknown[] = [type];
      return { sql: `SELECT rid FROM fhir_idx_reference WHERE type = ? AND ${referenceParam(type, condition.param, refParams)}`, params: refParams, negate: condition.missing };
    }
    case 'chain': {
      checkType(condition.targetType);
      const inner = ridSet(condition.targetType, condition.condition);
      // The target resources as rids: a negated inner set is "live resources of the type not in it".
      const targets = inner.negate
        ? { sql: `SELECT rid FROM fhir_resources WHERE type = ? AND deleted = 0 AND rid NOT IN (${inner.sql})`, params: [condition.targetType, ...inner.params] }
        : inner;
      const refParams: unknown[] = [type];
      const head = referenceParam(type, condition.param, refParams);
      return {
        sql: `SELECT rid FROM fhir_idx_reference WHERE type = ? AND ${head} AND target_type = ? AND target_id IN (SELECT id FROM fhir_resources WHERE rid IN (${targets.sql}))`,
        params: [...refParams, condition.targetType, ...targets.params],
        negate: false,
      };
    }
  }
}

/**
 * A condition on `_id` or `_lastUpdated` (ROW_PARAMS): read from fhir_resources, through its
 * UNIQUE (type, id) and fhir_resources_updated indexes, as the index rows the indexer would give
 * would answer it (a token with no system and no text; a date of one millisecond, low = high).
 */
function rowRidSet(type: string, condition: SearchCondition): RidSet {
  const params: unknown[] = [type];
  const where = (clause: string): string => `SELECT rid FROM fhir_resources WHERE type = ? AND deleted = 0 AND (${clause})`;
  switch (condition.kind) {
    case 'token': {
      const ors = condition.values.map((v) => {
        // The _id row's system is NULL: a system named never matches, `|code` (no system) does.
        if (v.system !== undefined && v.system !== null) return '0';
        if (v.code === undefined) {
          if (v.system === undefined) throw invalidSearch(type, `${condition.param} has an empty token`);
          return '1';
        }
        params.push(v.code);
        return 'id = ?';
      });
      return { sql: where(ors.join(' OR ')), params, negate: condition.not };
    }
    case 'date': {
      const ors = condition.values.map((v) => dateClause(v.prefix, v.low, v.high, params).replace(/\b(low|high)\b/g, 'last_updated'));
      return { sql: where(ors.join(' OR ')), params, negate: false };
    }
    case 'missing':
      // Every resource has an id and a last_updated.
      return { sql: where('1'), params, negate: condition.missing };
    case 'token-text':
      // An _id row has no text.
      return { sql: where('0'), params, negate: false };
    case 'string':
    case 'number':
    case 'quantity':
    case 'reference':
    case 'uri':
    case 'chain':
      throw invalidSearch(type, `${condition.param} cannot be searched as ${condition.kind}`);
  }
}

/** Lower is likelier to select few resources: the driver of a search is the lowest. */
function selectivityRank(condition: SearchCondition): number {
  switch (condition.kind) {
    case 'token':
      if (condition.not) return 9;
      return condition.param === '_id' || condition.param === 'identifier' ? 0 : condition.values.every((v) => v.code !== undefined) ? 2 : 6;
    case 'reference':
      return 1;
    case 'chain':
      return 3;
    case 'string':
      return condition.match === 'contains' ? 7 : 4;
    case 'uri':
      return 4;
    case 'date':
    case 'number':
    case 'quantity':
      return 5;
    case 'token-text':
      return 7;
    case 'missing':
      return 8;
  }
}

/**
 * A rid-set query (`SELECT rid FROM t WHERE ...`) as a probe for the outer resource `r`, through the
 * table's (rid, param) index: a resource has few entries per parameter, so the probe costs the same
 * whatever the value's frequency (without statistics the planner may otherwise walk a value's entries).
 */
function correlated(sql: string): string {
  const m = /^SELECT rid FROM (\w+) WHERE /.exec(sql);
  if (m === null) throw new Error('a rid set must start with SELECT rid FROM <table> WHERE');
  const table = m[1] ?? '';
  // A condition on the resource row itself (rowRidSet): its primary key.
  if (table === 'fhir_resources') return `SELECT 1 FROM fhir_resources WHERE rid = r.rid AND ${sql.slice(m[0].length)}`;
  return `SELECT 1 FROM ${table} INDEXED BY ${table}_rid WHERE rid = r.rid AND ${sql.slice(m[0].length)}`;
}

/** The SQL of a sort key for the resource `r`; missing values sort last in either direction. */
function sortKey(type: string, sort: SearchSort, params: unknown[]): string {
  if (sort.param === '_lastUpdated') return 'r.last_updated';
  if (sort.param === '_id') return 'r.id';
  const textual = sort.paramType === 'string' || sort.paramType === 'token' || sort.paramType === 'uri' || sort.paramType === 'reference';
  const column = { date: sort.descending ? 'high' : 'low', string: 'value', token: 'code', number: 'value', quantity: 'value', uri: 'value', reference: 'target_id' }[sort.paramType];
  const missing = textual ? (sort.descending ? "''" : `'${STRING_MAX}'`) : sort.descending ? String(MIN_INSTANT) : String(MAX_INSTANT);
  let param = 'param = ?';
  if (sort.paramType === 'reference') param = referenceParam(type, sort.param, params);
  else params.push(sort.param);
  return `COALESCE((SELECT ${sort.descending ? 'MAX' : 'MIN'}(${column}) FROM ${tableOfKind(sort.paramType)} WHERE rid = r.rid AND ${param}), ${missing})`;
}

/**
 * The history rows as versions. A version's row keeps no text while it is the current version (its
 * text is the resource row's, which a create would otherwise write twice); #writeVersion moves the
 * text into the history row when a newer version replaces it. Rows written before that rule keep
 * their own copy, which is used as is. A deleted version has no text either way.
 */
const HISTORY_SELECT =
  'SELECT h.seq AS seq, h.type AS type, h.id AS id, h.version AS version, h.deleted AS deleted, h.last_updated AS last_updated, ' +
  'COALESCE(h.json, (SELECT r.json FROM fhir_resources r WHERE r.type = h.type AND r.id = h.id AND r.version = h.version AND r.deleted = 0)) AS json FROM fhir_history h';

/** Resources made into rows at a time for the writer thread (#createBatchOffThread). */
const RELAXED_SLICE = 32;

/** readJsonMarked: a type's counter joined to a resource's row (always one row, the mark). */
const READ_MARKED =
  'SELECT m.n AS mark, r.version, r.deleted, r.last_updated, r.json ' +
  'FROM (SELECT COALESCE((SELECT n FROM fhir_type_marks WHERE type = ?), 0) AS n) m ' +
  'LEFT JOIN fhir_resources r ON r.type = ? AND r.id = ?';

/** Moves a type's write mark (fhir_type_marks) by the versions written. */
const BUMP_MARK = 'INSERT INTO fhir_type_marks (type, n) VALUES (?, ?) ON CONFLICT (type) DO UPDATE SET n = n + excluded.n';

/** The columns of each index table, in the order indexRow() gives their values. */
const INDEX_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  fhir_idx_token: ['rid', 'type', 'param', 'system', 'code', 'text'],
  fhir_idx_string: ['rid', 'type', 'param', 'value', 'exact'],
  fhir_idx_date: ['rid', 'type', 'param', 'low', 'high'],
  fhir_idx_number: ['rid', 'type', 'param', 'value', 'system', 'code', 'unit'],
  fhir_idx_reference: ['rid', 'type', 'param', 'target_type', 'target_id', 'url'],
  fhir_idx_uri: ['rid', 'type', 'param', 'value'],
};

/** An index entry's row in its table (INDEX_TABLES[e.kind]), as the values of INDEX_COLUMNS. */
function indexRow(rid: number, type: string, e: IndexEntry): unknown[] {
  switch (e.kind) {
    case 'token':
      return [rid, type, e.param, e.system ?? null, e.code ?? null, e.text ?? null];
    case 'string':
      return [rid, type, e.param, e.value, e.exact];
    case 'date':
      return [rid, type, e.param, e.low, e.high];
    case 'number':
      return [rid, type, e.param, e.value, null, null, null];
    case 'quantity':
      return [rid, type, e.param, e.value, e.system ?? null, e.code ?? null, e.unit ?? null];
    case 'reference':
      return [rid, type, e.param, e.targetType ?? null, e.targetId ?? null, e.url ?? null];
    case 'uri':
      return [rid, type, e.param, e.value];
  }
}

/**
 * The canonical FHIR resource store on SQLite (ARCHITECTURE.md "Storage"). Every write runs in
 * BEGIN IMMEDIATE (or a savepoint inside transaction()), which holds SQLite's single write lock
 * while the conditional search, the version check and the write happen: conditional creates and
 * If-Match updates cannot race, in this process or another one on the same file.
 *
 * Give it a connection of its own: transaction() keeps a transaction open across awaits, and any
 * other user of the same connection would write inside it. Calls made while a transaction() runs
 * wait for it to end.
 */
export class SqliteResourceStore implements ResourceStore {
  readonly #db: Database.Database;
  readonly #indexer: ResourceIndexer;
  readonly #clock: () => Date;
  readonly #atomic: Database.Transaction<(step: () => unknown) => unknown>;
  readonly #statements: SqliteStatementCache;
  /** The multi-row INSERTs of #createBatch, by table and row count (a handful: BATCH_CHUNKS per table). */
  readonly #batchStatements = new Map<string, Database.Statement>();
  /** Units (queued calls, transactions) that have not finished; while > 0, calls queue. */
  #busy = 0;
  #tail: Promise<void> = Promise.resolve();
  #closed = false;
  readonly #ownsConnection: boolean;
  /** Versions written per type through this store object (rolled-back ones included: see writeMark). */
  readonly #typeWrites = new Map<string, number>();
  readonly #typeMark: Database.Statement;
  /** createBatchRelaxed's writer on a thread and connection of its own, once started (createBatchRelaxedOffThread). */
  #relaxedWriter: RelaxedBatchWriter | undefined;
  /**
   * The commit's fsync on the thread pool (sqlite-wal-sync.ts, ADR 0007), on a file in WAL mode with
   * FULL sync: writes commit with NORMAL and their promises settle after an fdatasync of the WAL, so
   * the event loop does not wait on the disk at every write (it did: under write-back load, the
   * Provenance/AuditEvent commits held it about a third of the time). Undefined: COMMIT syncs itself.
   */
  readonly #walSync: SqliteWalSync | undefined;
  /** The connection's own synchronous level, put back after a transaction() committed with NORMAL. */
  readonly #syncLevel: number;

  constructor(db: Database.Database, options: SqliteResourceStoreOptions & { ownsConnection?: boolean }) {
    this.#db = db;
    this.#statements = new SqliteStatementCache(db, STATEMENT_CACHE);
    this.#indexer = options.indexer;
    this.#clock = options.clock ?? (() => new Date());
    this.#ownsConnection = options.ownsConnection ?? false;
    if (options.applySchema ?? true) guarded(() => db.exec(SQLITE_RESOURCE_SCHEMA + SQLITE_RESOURCE_MARKS_SCHEMA + SQLITE_RESOURCE_JOURNAL_SCHEMA));
    this.#atomic = db.transaction((step: () => unknown) => step());
    this.#walSync = walSyncOf(db);
    this.#syncLevel = this.#walSync === undefined ? 0 : Number(db.pragma('synchronous', { simple: true }));
    this.#typeMark = db.prepare('SELECT n FROM fhir_type_marks WHERE type = ?').pluck();
    this.createBatchRelaxedOffThread = options.relaxedBatchThread !== false && !db.memory && db.name !== '' && db.name !== ':memory:';
    // Only with the writer thread: the journal exists so that a record costs the request thread
    // next to nothing, and an append on this thread would not.
    if (this.createBatchRelaxedOffThread) this.journal = this.#journalPort();
  }

  // -------------------------------------------------------------------------------------------
  // Serialization: synchronous steps run at once unless a transaction() (or what queued behind it) is pending
  // -------------------------------------------------------------------------------------------

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    this.#busy++;
    const run = this.#tail.then(work);
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run.finally(() => {
      this.#busy--;
    });
  }

  #call<T>(step: () => T): Promise<T> {
    if (this.#closed) return refusedClosed();
    if (this.#busy === 0) {
      try {
        return Promise.resolve(step());
      } catch (error) {
        return Promise.reject(toStoreError(error));
      }
    }
    return this.#enqueue(async () => {
      try {
        return step();
      } catch (error) {
        throw toStoreError(error);
      }
    });
  }

  /**
   * A write outside transaction(): committed with NORMAL and settled once the WAL sync that started
   * after its commit is done (or committed with the connection's own sync when there is no WAL sync).
   * The caller is answered only when the write is on disk, as with FULL.
   */
  #callWrite<T>(step: () => T): Promise<T> {
    if (this.#walSync === undefined) return this.#call(step);
    return this.#afterSync(this.#call(() => withRelaxedSync(this.#db, step)));
  }

  /**
   * `committed`'s value once a WAL sync started after it settled is done; as is without a WAL sync.
   * The next call may run meanwhile: it is queued behind the commit only, not behind the sync.
   */
  #afterSync<T>(committed: Promise<T>): Promise<T> {
    const sync = this.#walSync;
    if (sync === undefined) return committed;
    return committed.then(async (value) => {
      await sync.durable();
      return value;
    });
  }

  /** One write, all-or-nothing: BEGIN IMMEDIATE, or a savepoint inside an open transaction. */
  #write<T>(step: () => T): T {
    return this.#atomic.immediate(step) as T;
  }

  #prepare(sql: string): Database.Statement {
    return this.#statements.get(sql);
  }

  // -------------------------------------------------------------------------------------------
  // Port
  // -------------------------------------------------------------------------------------------

  read(type: string, id: string): Promise<ResourceVersion | undefined> {
    return this.#call(() => this.#read(type, id));
  }

  readJson(type: string, id: string): Promise<StoredJson | undefined> {
    return this.#call(() => {
      checkType(type);
      return storedJsonOf(this.#row(type, id));
    });
  }

  /**
   * One statement: the type's counter joined to the resource's row (a LEFT JOIN from the one-row
   * counter, so a missing resource still gives the mark). Measured in a loop on a warm file, the
   * pair costs 2.8 us against 2.6 + 2.1 for the two statements; on the request path each statement
   * costs several times that (cold CPU caches), and a consent-checked read ran both.
   */
  readJsonMarked(type: string, id: string, markType: string): Promise<MarkedJson> {
    return this.#call(() => {
      checkType(type);
      const row = this.#prepare(READ_MARKED).get(markType, type, id) as MarkedRow;
      // No resource: the joined columns are all NULL (version never is on a row).
      const stored = row.version === null ? undefined : storedJsonOf({ version: row.version, deleted: row.deleted ?? 0, last_updated: row.last_updated ?? 0, json: row.json });
      return { stored, mark: this.#markOf(markType, row.mark) };
    });
  }

  vread(type: string, id: string, versionId: string): Promise<ResourceVersion | undefined> {
    return this.#call(() => this.#vread(type, id, versionId));
  }

  search(type: string, query: SearchQuery): Promise<SearchResult> {
    return this.#call(() => this.#search(type, query));
  }

  create(resource: FhirResource, options: CreateOptions = {}): Promise<CreateOutcome> {
    return this.#callWrite(() => this.#create(resource, options));
  }

  update(resource: FhirResource, options: UpdateOptions = {}): Promise<UpdateOutcome> {
    return this.#callWrite(() => this.#update(resource, options));
  }

  conditionalUpdate(type: string, query: SearchQuery, resource: FhirResource): Promise<UpdateOutcome> {
    return this.#callWrite(() => this.#conditionalUpdate(type, query, resource));
  }

  delete(type: string, id: string, options: UpdateOptions = {}): Promise<DeleteOutcome> {
    return this.#callWrite(() => this.#delete(type, id, options));
  }

  history(query: HistoryQuery): Promise<HistoryPage> {
    return this.#call(() => this.#history(query));
  }

  transaction<T>(work: (tx: ResourceStoreTx) => Promise<T>): Promise<T> {
    if (this.#closed) return refusedClosed();
    const sync = this.#walSync;
    const committed = this.#enqueue(async () => {
      // With a WAL sync the transaction commits with NORMAL (the pragma cannot change inside it) and
      // is answered after the sync below; nothing else runs on the connection until it ends.
      if (sync !== undefined) guarded(() => this.#db.exec('PRAGMA synchronous = NORMAL'));
      try {
        guarded(() => this.#db.exec('BEGIN IMMEDIATE'));
        let open = true;
        const tx = this.#txView(() => open);
        try {
          const result = await work(tx);
          open = false;
          guarded(() => this.#db.exec('COMMIT'));
          return result;
        } catch (error) {
          open = false;
          if (this.#db.inTransaction) guarded(() => this.#db.exec('ROLLBACK'));
          throw error;
        }
      } finally {
        if (sync !== undefined && !this.#db.inTransaction) guarded(() => this.#db.exec(`PRAGMA synchronous = ${this.#syncLevel}`));
      }
    });
    return this.#afterSync(committed);
  }

  /**
   * The batch in one transaction committed with synchronous = NORMAL (sqlite-relaxed-sync.ts): in WAL
   * mode the commit is written to the WAL but not fsynced, so it survives a process crash at once and
   * a power loss after the next FULL commit's fsync of the WAL (or a checkpoint). One fsync costs more
   * than the inserts of a whole batch of AuditEvents, and it holds the event loop while it runs.
   */
  createBatchRelaxed(resources: readonly FhirResource[]): Promise<void> {
    if (resources.length === 0) return Promise.resolve();
    if (this.createBatchRelaxedOffThread) {
      if (this.#closed) return refusedClosed();
      return this.#createBatchOffThread(this.#writer(), resources);
    }
    return this.#call(() => {
      const batch = this.#prepareBatch(resources);
      withRelaxedSync(this.#db, () => {
        // One transaction, no savepoint per resource (the batch is all-or-nothing anyway).
        this.#atomic.immediate(() => this.#writeBatch(batch));
      });
    });
  }

  /**
   * The batch made in slices of RELAXED_SLICE resources, each sent to the writer thread as it is made,
   * with the event loop let go between them: making a row costs ~20 us (indexing, JSON), and a batch
   * of a thousand made at once would hold the requests for tens of milliseconds.
   */
  async #createBatchOffThread(writer: RelaxedBatchWriter, resources: readonly FhirResource[], settle?: JournalSettle): Promise<void> {
    const id = writer.begin();
    try {
      for (let at = 0; at < resources.length; at += RELAXED_SLICE) {
        if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        writer.part(id, this.#prepareBatch(resources.slice(at, at + RELAXED_SLICE), at));
      }
    } catch (error) {
      writer.abort(id);
      throw toStoreError(error);
    }
    return writer.commit(id, settle === undefined ? {} : { settle });
  }

  /** True when createBatchRelaxed runs on a thread of its own (see the port). */
  readonly createBatchRelaxedOffThread: boolean;

  /** The writer thread and its connection, started on first use. */
  #writer(): RelaxedBatchWriter {
    return (this.#relaxedWriter ??= new RelaxedBatchWriter(this.#db.name));
  }

  /** On a file, with the writer thread: fhir_journal (ResourceJournal). */
  readonly journal?: ResourceJournal;

  /**
   * Appends and settles go to the writer thread, in order with its batches; reads are this
   * connection's (a committed append is visible to it: WAL).
   */
  #journalPort(): ResourceJournal {
    return {
      append: (entries) => {
        if (this.#closed) return refusedClosed();
        if (entries.length === 0) return Promise.resolve();
        const w = this.#writer();
        return w.commit(w.begin(), { journal: [...entries] });
      },
      oldest: (limit) => this.#call(() => this.#prepare('SELECT seq, entry FROM fhir_journal ORDER BY seq LIMIT ?').all(Math.max(0, Math.floor(limit))) as JournalEntry[]),
      head: () => this.#call(() => (this.#prepare('SELECT COALESCE(MAX(seq), 0) AS n FROM fhir_journal').get() as { n: number }).n),
      size: () => this.#call(() => (this.#prepare('SELECT COUNT(*) AS n FROM fhir_journal').get() as { n: number }).n),
      settle: (entries, resources) => {
        if (this.#closed) return refusedClosed();
        const first = entries[0];
        const last = entries[entries.length - 1];
        if (first === undefined || last === undefined) return this.createBatchRelaxed(resources);
        return this.#createBatchOffThread(this.#writer(), resources, { from: first.seq, to: last.seq, count: entries.length });
      },
    };
  }

  /**
   * The type's counter in fhir_type_marks, moved in the transaction of every version of the type
   * written by any connection or process (so it is exact across processes, and the AuditEvent
   * writer's commits do not move a Consent mark), with the count of `type` versions written through
   * this store object. The count moves when the version is written, before its commit, and also for
   * writes later rolled back (whose counter move is rolled back with them): the mark may move
   * without a committed write, never the other way round.
   */
  writeMark(type: string): Promise<string> {
    if (this.#closed) return refusedClosed();
    try {
      return Promise.resolve(this.#markOf(type, this.#typeMark.get(type) ?? 0));
    } catch (error) {
      return Promise.reject(toStoreError(error));
    }
  }

  /** The mark writeMark and readJsonMarked give: the file's counter and this object's own count. */
  #markOf(type: string, counter: unknown): string {
    return `${String(counter)}:${this.#typeWrites.get(type) ?? 0}`;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#enqueue(async () => undefined);
    this.#closed = true;
    // The last writes are answered after their sync: the descriptor stays open until it is done.
    if (this.#walSync !== undefined && !this.#walSync.idle) await this.#walSync.durable().catch(() => undefined);
    this.#walSync?.close();
    await this.#relaxedWriter?.close();
    if (this.#ownsConnection) this.#db.close();
  }

  /** The methods a transaction's work uses: run at once on the open transaction, refused once it ended. */
  #txView(isOpen: () => boolean): ResourceStoreTx {
    const run = <T>(step: () => T): Promise<T> => {
      if (!isOpen()) return Promise.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the transaction has ended' }));
      try {
        return Promise.resolve(step());
      } catch (error) {
        return Promise.reject(toStoreError(error));
      }
    };
    return {
      read: (type, id) => run(() => this.#read(type, id)),
      vread: (type, id, versionId) => run(() => this.#vread(type, id, versionId)),
      search: (type, query) => run(() => this.#search(type, query)),
      create: (resource, options = {}) => run(() => this.#create(resource, options)),
      update: (resource, options = {}) => run(() => this.#update(resource, options)),
      conditionalUpdate: (type, query, resource) => run(() => this.#conditionalUpdate(type, query, resource)),
      delete: (type, id, options = {}) => run(() => this.#delete(type, id, options)),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Reads
  // -------------------------------------------------------------------------------------------

  #row(type: string, id: string): ResourceRow | undefined {
    return this.#prepare('SELECT rid, type, id, version, deleted, last_updated, json FROM fhir_resources WHERE type = ? AND id = ?').get(type, id) as
      | ResourceRow
      | undefined;
  }

  #read(type: string, id: string): ResourceVersion | undefined {
    checkType(type);
    const row = this.#row(type, id);
    return row === undefined ? undefined : versionOfRow(row);
  }

  #vread(type: string, id: string, versionId: string): ResourceVersion | undefined {
    checkType(type);
    if (!/^[1-9]\d{0,15}$/.test(versionId)) return undefined;
    const row = this.#prepare(`${HISTORY_SELECT} WHERE type = ? AND id = ? AND version = ?`).get(
      type,
      id,
      Number(versionId),
    ) as HistoryRow | undefined;
    return row === undefined ? undefined : versionOfRow(row);
  }

  #history(query: HistoryQuery): HistoryPage {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.type !== undefined) {
      checkType(query.type);
      where.push('type = ?');
      params.push(query.type);
      if (query.id !== undefined) {
        where.push('id = ?');
        params.push(query.id);
      }
    } else if (query.id !== undefined) throw invalidSearch('history', 'an instance history needs its type');
    if (query.since !== undefined) {
      where.push('last_updated >= ?');
      params.push(query.since.getTime());
    }
    if (query.cursor !== undefined) {
      const [seq] = decodeCursor(query.cursor, 1);
      where.push('seq < ?');
      params.push(seq);
    }
    const count = Math.max(1, Math.min(MAX_PAGE, Math.floor(query.count)));
    const sql = `${HISTORY_SELECT}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = this.#prepare(sql).all(...params, count + 1) as HistoryRow[];
    const page = rows.slice(0, count);
    const last = page[page.length - 1];
    return {
      entries: page.map(versionOfRow),
      ...(rows.length > count && last !== undefined ? { nextCursor: encodeCursor([last.seq]) } : {}),
    };
  }

  /** The rids matching every condition (live resources of `type` only), at most `limit`. */
  #matchingRids(type: string, conditions: readonly SearchCondition[], limit: number): number[] {
    const { where, params } = this.#filter(type, conditions);
    const sql = `SELECT r.rid FROM fhir_resources r WHERE ${where} LIMIT ?`;
    return (this.#prepare(sql).all(...params, limit) as Array<{ rid: number }>).map((r) => r.rid);
  }

  /**
   * The WHERE clause over `fhir_resources r` for the conditions. The most selective positive
   * condition drives the search as `r.rid IN (...)` (the type and liveness tests are then written with
   * a unary `+` so the planner cannot prefer walking every resource of the type); every other
   * condition is a correlated [NOT] EXISTS probe of an index table for that one rid, so a common
   * value (a LOINC code on a million Observations) is never materialized as a set.
   */
  #filter(type: string, conditions: readonly SearchCondition[]): { where: string; params: unknown[] } {
    checkType(type);
    const sets = conditions.map((c) => ({ set: ridSet(type, c), rank: selectivityRank(c) }));
    let driver = -1;
    sets.forEach((s, i) => {
      if (!s.set.negate && (driver === -1 || s.rank < (sets[driver]?.rank ?? Infinity))) driver = i;
    });
    const where = [driver !== -1 ? '+r.type = ? AND +r.deleted = 0' : 'r.type = ? AND r.deleted = 0'];
    const params: unknown[] = [type];
    const driving = sets[driver];
    if (driving !== undefined) {
      where.push(`r.rid IN (${driving.set.sql})`);
      params.push(...driving.set.params);
    }
    sets.forEach(({ set }, i) => {
      if (i === driver) return;
      where.push(`${set.negate ? 'NOT EXISTS' : 'EXISTS'} (${correlated(set.sql)})`);
      params.push(...set.params);
    });
    return { where: where.join(' AND '), params };
  }

  #search(type: string, query: SearchQuery): SearchResult {
    const { where, params } = this.#filter(type, query.conditions);
    const wantTotal = query.summary === 'count' || (query.total !== undefined && query.total !== 'none');
    const total = wantTotal ? (this.#prepare(`SELECT COUNT(*) AS n FROM fhir_resources r WHERE ${where}`).get(...params) as { n: number }).n : undefined;
    const count = query.summary === 'count' ? 0 : Math.max(0, Math.min(MAX_PAGE, Math.floor(query.count ?? DEFAULT_PAGE)));
    if (count === 0) return { resources: [], included: [], ...(total === undefined ? {} : { total }) };

    const sorts = query.sort ?? [];
    const keyParams: unknown[] = [];
    const keys = sorts.map((s) => sortKey(type, s, keyParams));
    const selectKeys = keys.map((k, i) => `, ${k} AS k${i}`).join('');
    const order = [...sorts.map((s, i) => `k${i}${s.descending ? ' DESC' : ''}`), 'rid'].join(', ');
    let keyset = '';
    const keysetParams: unknown[] = [];
    if (query.cursor !== undefined) {
      // Keyset paging: rows strictly after the last row of the previous page, in (k0, k1, ..., rid) order.
      const last = decodeCursor(query.cursor, sorts.length + 1);
      const ors: string[] = [];
      for (let i = 0; i <= sorts.length; i++) {
        const eqs: string[] = [];
        for (let j = 0; j < i; j++) {
          eqs.push(`k${j} = ?`);
          keysetParams.push(last[j]);
        }
        if (i < sorts.length) {
          eqs.push(`k${i} ${sorts[i]?.descending === true ? '<' : '>'} ?`);
        } else eqs.push('rid > ?');
        keysetParams.push(last[i]);
        ors.push(`(${eqs.join(' AND ')})`);
      }
      keyset = ` WHERE ${ors.join(' OR ')}`;
    }
    const sql =
      sorts.length === 0
        ? `SELECT r.rid AS rid, r.json AS json FROM fhir_resources r WHERE ${where}${query.cursor === undefined ? '' : ' AND r.rid > ?'} ORDER BY r.rid LIMIT ?`
        : `SELECT * FROM (SELECT r.rid AS rid, r.json AS json${selectKeys} FROM fhir_resources r WHERE ${where})${keyset} ORDER BY ${order} LIMIT ?`;
    const rows = (
      sorts.length === 0
        ? this.#prepare(sql).all(...params, ...keysetParams, count + 1)
        : this.#prepare(sql).all(...keyParams, ...params, ...keysetParams, count + 1)
    ) as Array<Record<string, unknown> & { rid: number; json: string }>;
    const page = rows.slice(0, count);
    const last = page[page.length - 1];
    const resources = page.map((r) => JSON.parse(r.json) as FhirResource);
    const included = this.#includes(type, page.map((r) => r.rid), resources, query.include ?? [], query.revinclude ?? []);
    return {
      resources,
      included,
      ...(total === undefined ? {} : { total }),
      ...(rows.length > count && last !== undefined ? { nextCursor: encodeCursor([...sorts.map((_s, i) => last[`k${i}`]), last.rid]) } : {}),
    };
  }

  /** _include and _revinclude (FHIR R4 search.html#include), through the reference index; each resource once. */
  #includes(type: string, rids: number[], matches: readonly FhirResource[], include: readonly IncludeSpec[], revinclude: readonly IncludeSpec[]): FhirResource[] {
    if (rids.length === 0 || (include.length === 0 && revinclude.length === 0)) return [];
    const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id ?? ''}`));
    const out: FhirResource[] = [];
    const add = (rows: Array<{ json: string | null }>): void => {
      for (const row of rows) {
        if (row.json === null) continue;
        const resource = JSON.parse(row.json) as FhirResource;
        const key = `${resource.resourceType}/${resource.id ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(resource);
      }
    };
    const ridList = JSON.stringify(rids);
    for (const spec of include) {
      if (spec.sourceType !== type) continue;
      const params: unknown[] = [ridList];
      const param = referenceParam(type, spec.param, params);
      const targets = this.#prepare(
        `SELECT DISTINCT target_type AS type, target_id AS id FROM fhir_idx_reference WHERE rid IN (SELECT value FROM json_each(?)) AND ${param} AND target_id IS NOT NULL${spec.targetType === undefined ? '' : ' AND target_type = ?'}`,
      ).all(...params, ...(spec.targetType === undefined ? [] : [spec.targetType])) as Array<{ type: string | null; id: string }>;
      const byType = new Map<string, string[]>();
      for (const t of targets) if (t.type !== null) byType.set(t.type, [...(byType.get(t.type) ?? []), t.id]);
      for (const [targetType, ids] of byType) {
        add(this.#prepare('SELECT json FROM fhir_resources WHERE type = ? AND deleted = 0 AND id IN (SELECT value FROM json_each(?))').all(targetType, JSON.stringify(ids)) as Array<{ json: string | null }>);
      }
    }
    if (revinclude.length > 0) {
      const ids = JSON.stringify(matches.map((r) => r.id));
      for (const spec of revinclude) {
        if (spec.targetType !== undefined && spec.targetType !== type) continue;
        const params: unknown[] = [spec.sourceType];
        const param = referenceParam(spec.sourceType, spec.param, params);
        add(
          this.#prepare(
            `SELECT r.json AS json FROM fhir_resources r WHERE r.rid IN (SELECT rid FROM fhir_idx_reference WHERE type = ? AND ${param} AND target_id IN (SELECT value FROM json_each(?)) AND target_type = ?) ORDER BY r.rid`,
          ).all(...params, ids, type) as Array<{ json: string | null }>,
        );
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Writes
  // -------------------------------------------------------------------------------------------

  #create(resource: FhirResource, options: CreateOptions): CreateOutcome {
    checkResource(resource);
    const type = resource.resourceType;
    if (options.id !== undefined && !ID_RE.test(options.id)) throw invalidResource(type, 'the id is not a FHIR id');
    return this.#write((): CreateOutcome => {
      if (options.ifNoneExist !== undefined) {
        // Inside the write lock: nobody can create a match between this search and the insert.
        const rids = this.#matchingRids(type, options.ifNoneExist.conditions, 2);
        if (rids.length > 1) return { outcome: 'multiple' };
        const rid = rids[0];
        if (rid !== undefined) {
          const row = this.#prepare('SELECT json FROM fhir_resources WHERE rid = ?').get(rid) as { json: string };
          return { outcome: 'exists', resource: JSON.parse(row.json) as FhirResource };
        }
      }
      const id = options.id ?? newSortableId(this.#clock().getTime()).toLowerCase();
      const existing = this.#row(type, id);
      if (existing !== undefined) throw new SwitchboardError('SWB_ERR_FHIR_ID_EXISTS', { type, id });
      return { outcome: 'created', resource: this.#writeVersion(type, id, undefined, resource) as FhirResource };
    });
  }

  #update(resource: FhirResource, options: UpdateOptions): UpdateOutcome {
    checkResource(resource);
    const type = resource.resourceType;
    const id = resource.id;
    if (id === undefined || !ID_RE.test(id)) throw invalidResource(type, 'an update needs a valid id');
    return this.#write((): UpdateOutcome => {
      const existing = this.#row(type, id);
      if (options.ifMatch !== undefined) {
        const current = existing === undefined || existing.deleted !== 0 ? 'none' : String(existing.version);
        if (current !== versionOf(options.ifMatch)) throw new SwitchboardError('SWB_ERR_FHIR_VERSION_CONFLICT', { type, id, current, expected: versionOf(options.ifMatch) });
      }
      const written = this.#writeVersion(type, id, existing, resource) as FhirResource;
      return { outcome: existing === undefined || existing.deleted !== 0 ? 'created' : 'updated', resource: written };
    });
  }

  #conditionalUpdate(type: string, query: SearchQuery, resource: FhirResource): UpdateOutcome {
    checkResource(resource);
    if (resource.resourceType !== type) throw invalidResource(type, 'resourceType differs from the type in the URL');
    if (resource.id !== undefined && !ID_RE.test(resource.id)) throw invalidResource(type, 'the id is not a FHIR id');
    return this.#write((): UpdateOutcome => {
      const rids = this.#matchingRids(type, query.conditions, 2);
      if (rids.length > 1) throw new SwitchboardError('SWB_ERR_FHIR_MULTIPLE_MATCHES', { type });
      const rid = rids[0];
      if (rid === undefined) {
        // No match: create, with the body's id when it has one (update as create).
        const id = resource.id ?? newSortableId(this.#clock().getTime()).toLowerCase();
        const existing = this.#row(type, id);
        const written = this.#writeVersion(type, id, existing, resource) as FhirResource;
        return { outcome: existing === undefined || existing.deleted !== 0 ? 'created' : 'updated', resource: written };
      }
      const row = this.#prepare('SELECT rid, type, id, version, deleted, last_updated, json FROM fhir_resources WHERE rid = ?').get(rid) as ResourceRow;
      if (resource.id !== undefined && resource.id !== row.id) throw invalidResource(type, 'the id in the body is not the id of the resource the condition matched');
      return { outcome: 'updated', resource: this.#writeVersion(type, row.id, row, resource) as FhirResource };
    });
  }

  #delete(type: string, id: string, options: UpdateOptions): DeleteOutcome {
    checkType(type);
    return this.#write((): DeleteOutcome => {
      const existing = this.#row(type, id);
      if (options.ifMatch !== undefined) {
        const current = existing === undefined || existing.deleted !== 0 ? 'none' : String(existing.version);
        if (current !== versionOf(options.ifMatch)) throw new SwitchboardError('SWB_ERR_FHIR_VERSION_CONFLICT', { type, id, current, expected: versionOf(options.ifMatch) });
      }
      if (existing === undefined) return { outcome: 'not-found' };
      if (existing.deleted !== 0) return { outcome: 'already-deleted', versionId: String(existing.version) };
      this.#writeVersion(type, id, existing, undefined);
      return { outcome: 'deleted', versionId: String(existing.version + 1) };
    });
  }

  /**
   * Writes the next version (or a tombstone when `resource` is undefined): current row, history row
   * and index rows, inside the caller's transaction. meta.versionId and meta.lastUpdated come from
   * the store (FHIR R4 resource.html#Meta).
   */
  #writeVersion(type: string, id: string, existing: ResourceRow | undefined, resource: FhirResource | undefined): FhirResource | undefined {
    const version = (existing?.version ?? 0) + 1;
    // Before the write, so a cache that took the mark before it is stale whatever happens next.
    this.#typeWrites.set(type, (this.#typeWrites.get(type) ?? 0) + 1);
    const now = this.#clock().getTime();
    let stored: FhirResource | undefined;
    let json: string | null = null;
    if (resource !== undefined) {
      const { resourceType: _t, id: _id, meta, ...rest } = resource;
      stored = { resourceType: type, id, meta: { ...meta, versionId: String(version), lastUpdated: new Date(now).toISOString() }, ...rest };
      json = JSON.stringify(stored);
    }
    const deleted = resource === undefined ? 1 : 0;
    let rid: number;
    if (existing === undefined) {
      rid = Number(this.#prepare('INSERT INTO fhir_resources (type, id, version, deleted, last_updated, json) VALUES (?, ?, ?, ?, ?, ?)').run(type, id, version, deleted, now, json).lastInsertRowid);
    } else {
      rid = existing.rid;
      this.#prepare('UPDATE fhir_resources SET version = ?, deleted = ?, last_updated = ?, json = ? WHERE rid = ?').run(version, deleted, now, json, rid);
      if (existing.deleted === 0) for (const table of new Set(Object.values(INDEX_TABLES))) this.#prepare(`DELETE FROM ${table} WHERE rid = ?`).run(rid);
    }
    // The new version's text lives in fhir_resources only (HISTORY_SELECT); the version it replaces
    // gets its text into its history row now, before the current row changes.
    if (existing !== undefined && existing.deleted === 0 && existing.json !== null) {
      this.#prepare('UPDATE fhir_history SET json = ? WHERE type = ? AND id = ? AND version = ? AND json IS NULL').run(existing.json, type, id, existing.version);
    }
    this.#prepare('INSERT INTO fhir_history (type, id, version, deleted, last_updated, json) VALUES (?, ?, ?, ?, ?, NULL)').run(type, id, version, deleted, now);
    this.#prepare(BUMP_MARK).run(type, 1);
    if (stored !== undefined) this.#insertEntries(rid, type, this.#indexer.index(stored));
    return stored;
  }

  #insertEntries(rid: number, type: string, entries: readonly IndexEntry[]): void {
    for (const e of entries) {
      if (!isStoredIndexEntry(type, e)) continue;
      switch (e.kind) {
        case 'token':
          this.#prepare('INSERT INTO fhir_idx_token (rid, type, param, system, code, text) VALUES (?, ?, ?, ?, ?, ?)').run(rid, type, e.param, e.system ?? null, e.code ?? null, e.text ?? null);
          break;
        case 'string':
          this.#prepare('INSERT INTO fhir_idx_string (rid, type, param, value, exact) VALUES (?, ?, ?, ?, ?)').run(rid, type, e.param, e.value, e.exact);
          break;
        case 'date':
          this.#prepare('INSERT INTO fhir_idx_date (rid, type, param, low, high) VALUES (?, ?, ?, ?, ?)').run(rid, type, e.param, e.low, e.high);
          break;
        case 'number':
          this.#prepare('INSERT INTO fhir_idx_number (rid, type, param, value, system, code, unit) VALUES (?, ?, ?, ?, NULL, NULL, NULL)').run(rid, type, e.param, e.value);
          break;
        case 'quantity':
          this.#prepare('INSERT INTO fhir_idx_number (rid, type, param, value, system, code, unit) VALUES (?, ?, ?, ?, ?, ?, ?)').run(rid, type, e.param, e.value, e.system ?? null, e.code ?? null, e.unit ?? null);
          break;
        case 'reference':
          this.#prepare('INSERT INTO fhir_idx_reference (rid, type, param, target_type, target_id, url) VALUES (?, ?, ?, ?, ?, ?)').run(rid, type, e.param, e.targetType ?? null, e.targetId ?? null, e.url ?? null);
          break;
        case 'uri':
          this.#prepare('INSERT INTO fhir_idx_uri (rid, type, param, value) VALUES (?, ?, ?, ?)').run(rid, type, e.param, e.value);
          break;
      }
    }
  }

  /**
   * New resources (fresh ids, version 1) as the rows #writeVersion would write, for one multi-row
   * INSERT per table per chunk (#writeBatch, or the writer thread) instead of a statement per row:
   * the AuditEvent trail writes one resource per FHIR interaction with about fourteen index rows
   * each. The rids are offsets from the table's largest rid when the batch's transaction starts
   * (RelaxedBatch), which is what SQLite would assign: the writer holds the write lock meanwhile.
   */
  #prepareBatch(resources: readonly FhirResource[], firstOffset = 0): RelaxedBatch {
    for (const resource of resources) checkResource(resource);
    const current: unknown[] = [];
    const history: unknown[] = [];
    const entries = new Map<string, unknown[]>();
    const marks = new Map<string, number>();
    let offset = firstOffset;
    for (const resource of resources) {
      offset++;
      const type = resource.resourceType;
      // Before the write, so a cache that took the mark before it is stale whatever happens next.
      this.#typeWrites.set(type, (this.#typeWrites.get(type) ?? 0) + 1);
      marks.set(type, (marks.get(type) ?? 0) + 1);
      const now = this.#clock().getTime();
      const id = newSortableId(now).toLowerCase();
      const { resourceType: _t, id: _id, meta, ...rest } = resource;
      const stored: FhirResource = { resourceType: type, id, meta: { ...meta, versionId: '1', lastUpdated: new Date(now).toISOString() }, ...rest };
      const json = JSON.stringify(stored);
      current.push(offset, type, id, 1, 0, now, json);
      // The text once, in fhir_resources: a history row of the current version has none (HISTORY_SELECT).
      history.push(type, id, 1, 0, now, null);
      for (const e of this.#indexer.index(stored)) {
        if (!isStoredIndexEntry(type, e)) continue;
        const table = INDEX_TABLES[e.kind];
        let values = entries.get(table);
        if (values === undefined) entries.set(table, (values = []));
        values.push(...indexRow(offset, type, e));
      }
    }
    return { current, history, entries: [...entries].map(([table, values]) => [table, INDEX_COLUMNS[table] ?? [], values]), marks: [...marks] };
  }

  /** A prepared batch in the open transaction on this connection (as the writer thread does on its own). */
  #writeBatch(batch: RelaxedBatch): void {
    const base = (this.#prepare('SELECT COALESCE(MAX(rid), 0) AS rid FROM fhir_resources').get() as { rid: number }).rid;
    this.#insertRows('fhir_resources', CURRENT_COLUMNS, batch.current, base);
    this.#insertRows('fhir_history', HISTORY_COLUMNS, batch.history, undefined);
    for (const [table, columns, values] of batch.entries) this.#insertRows(table, columns, values, base);
    for (const [type, count] of batch.marks) this.#prepare(BUMP_MARK).run(type, count);
  }

  /** `values` (row after row of `columns`; a rid offset first when `base` is given) in multi-row INSERTs of the BATCH_CHUNKS sizes. */
  #insertRows(table: string, columns: readonly string[], values: unknown[], base: number | undefined): void {
    const width = columns.length;
    if (base !== undefined) for (let i = 0; i < values.length; i += width) values[i] = (values[i] as number) + base;
    let rows = values.length / width;
    let at = 0;
    for (const size of BATCH_CHUNKS) {
      while (rows >= size) {
        this.#batchStatement(table, columns, size).run(values.slice(at, at + size * width));
        at += size * width;
        rows -= size;
      }
    }
  }

  #batchStatement(table: string, columns: readonly string[], rows: number): Database.Statement {
    const key = `${table}/${rows}`;
    let statement = this.#batchStatements.get(key);
    if (statement === undefined) {
      const row = `(${columns.map(() => '?').join(', ')})`;
      statement = this.#db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, () => row).join(', ')}`);
      this.#batchStatements.set(key, statement);
    }
    return statement;
  }

  /** The query plan of a search's main statement (tests check it reads index tables, not resource bodies). */
  explainSearch(type: string, query: SearchQuery): string[] {
    const { where, params } = this.#filter(type, query.conditions);
    const rows = this.#db.prepare(`EXPLAIN QUERY PLAN SELECT r.rid, r.json FROM fhir_resources r WHERE ${where} ORDER BY r.rid LIMIT 50`).all(...params) as Array<{ detail: string }>;
    return rows.map((r) => r.detail);
  }
}

/** Opens (and creates) a database file for the resource store on a connection of its own, in WAL mode. */
export function openSqliteResourceStore(options: OpenSqliteResourceStoreOptions): SqliteResourceStore {
  let db: Database.Database;
  try {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  } catch (error) {
    throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: error instanceof Error ? error.message : String(error) }, { cause: error });
  }
  const { path: _path, synchronous: _s, busyTimeoutMs: _b, ...storeOptions } = options;
  return new SqliteResourceStore(db, { ...storeOptions, ownsConnection: true });
}
