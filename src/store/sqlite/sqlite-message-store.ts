import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import type {
  IngestRecord,
  IngestResult,
  MessageEvent,
  MessagePage,
  MessageQuery,
  MessageStatus,
  MessageStore,
  MessageSummary,
  PruneRequest,
  StoredMessage,
} from '../../core/ports/message-store.ts';
import { initialEvents, initialStatus, invalidOutcome } from '../ingest-outcome.ts';
import { SqliteFtsIndexer, type SqliteFtsIndexerOptions } from './sqlite-fts-indexer.ts';
import { GroupCommit } from './sqlite-group-commit.ts';
import { withRelaxedSync } from './sqlite-relaxed-sync.ts';
import { guarded, isForeignKeyViolation, isUnavailable, toStoreError } from './sqlite-store-errors.ts';
import { walSyncOf, type SqliteWalSync } from './sqlite-wal-sync.ts';

/** A flush writes at most this many ingests in one transaction. */
const MAX_BATCH = 256;
const DEFAULT_PAGE = 50;
const MAX_PAGE = 500;
/** Pages freed per `incremental_vacuum` step, so reclaiming never holds the write lock for long. */
const VACUUM_PAGES_PER_STEP = 256;
/** FTS5 index pages merged per step while reclaiming space. */
const FTS_MERGE_PAGES_PER_STEP = 256;
/** Messages pruned per transaction. */
const PRUNE_CHUNK = 1000;
/** Rows read per step while counting the dedupe keys a new horizon forgets. */
const DEDUPE_PRUNE_CHUNK = 5000;

const CONTENT_TYPES: ReadonlySet<string> = new Set<IngestRecord['contentType']>(['hl7v2', 'fhir+json', 'text']);
const STATUSES: readonly MessageStatus[] = ['received', 'filtered', 'queued', 'delivered', 'errored', 'resolved'];

interface MessageRow {
  seq: number;
  id: string;
  channel_id: string;
  content: string | null;
  content_bytes: number | null;
  content_type: string;
  received_at: number;
  source: string;
  message_type: string | null;
  control_id: string | null;
  sending_facility: string | null;
  ordering_key: string | null;
  patient_ids: string;
  correlation_id: string;
  config_revision: number;
  status: string;
  status_reason: string | null;
  updated_at: number;
}

interface EventRow {
  message_id: string;
  delivery_id: string | null;
  at: number;
  type: string;
  detail: string | null;
}

interface PendingIngest {
  readonly record: IngestRecord;
  readonly resolve: (result: IngestResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Counters for tests and metrics: how well group commit is sharing transactions. */
export interface SqliteIngestStats {
  /** Flushes of the ingest queue. */
  readonly flushes: number;
  /** Ingest transactions committed (one per flush, more when a batch fell back to one per row). */
  readonly transactions: number;
  /** Ingests answered (stored or duplicate). */
  readonly rows: number;
  /** Full-text catch-up transactions (ADR 0005). */
  readonly ftsSteps: number;
  /** fdatasyncs of the WAL made for ingest commits (sqlite-wal-sync.ts); 0 when commits sync themselves. */
  readonly walSyncs: number;
}

const orUndefined = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

function summaryOf(row: MessageRow): MessageSummary {
  return {
    id: row.id,
    channelId: row.channel_id,
    contentType: row.content_type as IngestRecord['contentType'],
    receivedAt: new Date(row.received_at),
    source: row.source,
    messageType: orUndefined(row.message_type),
    controlId: orUndefined(row.control_id),
    sendingFacility: orUndefined(row.sending_facility),
    orderingKey: orUndefined(row.ordering_key),
    patientIds: JSON.parse(row.patient_ids) as string[],
    correlationId: row.correlation_id,
    configRevision: row.config_revision,
    status: row.status as MessageStatus,
    statusReason: orUndefined(row.status_reason),
    updatedAt: new Date(row.updated_at),
    contentBytes: orUndefined(row.content_bytes),
  };
}

function messageOf(row: MessageRow): StoredMessage {
  const { contentBytes: _bytes, ...summary } = summaryOf(row);
  return { ...summary, content: orUndefined(row.content) };
}

function eventOf(row: EventRow): MessageEvent {
  return {
    messageId: row.message_id,
    at: new Date(row.at),
    type: row.type,
    ...(row.delivery_id !== null ? { deliveryId: row.delivery_id } : {}),
    ...(row.detail !== null ? { detail: JSON.parse(row.detail) as MessageEvent['detail'] & object } : {}),
  };
}

/** A `delivered` event kept as its attempt row (ADR 0012): the fields the event row had. */
function deliveredEventOf(messageId: string, row: { delivery_id: string; finished_at: number; destination: string; attempts: number }): MessageEvent {
  return { messageId, at: new Date(row.finished_at), type: 'delivered', deliveryId: row.delivery_id, detail: { destination: row.destination, attempt: row.attempts } };
}

const isText = (v: unknown): v is string => typeof v === 'string';
const isOptionalText = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** Why a record cannot be stored, or undefined. Checked before the batch so one bad row fails alone. */
function invalidReason(record: IngestRecord): string | undefined {
  if (typeof record !== 'object' || record === null) return 'not an object';
  if (!isText(record.channelId) || record.channelId === '') return 'channelId must be a non-empty string';
  if (!isText(record.content)) return 'content must be a string';
  if (!CONTENT_TYPES.has(record.contentType)) return 'contentType must be hl7v2, fhir+json or text';
  if (!(record.receivedAt instanceof Date) || Number.isNaN(record.receivedAt.getTime())) return 'receivedAt must be a valid Date';
  if (!isText(record.source)) return 'source must be a string';
  if (!isText(record.correlationId)) return 'correlationId must be a string';
  if (!Number.isSafeInteger(record.configRevision)) return 'configRevision must be an integer';
  for (const key of ['messageType', 'controlId', 'sendingFacility', 'orderingKey', 'dedupeKey'] as const) {
    if (!isOptionalText(record[key])) return `${key} must be a string`;
  }
  if (record.patientIds !== undefined && (!Array.isArray(record.patientIds) || !record.patientIds.every(isText))) return 'patientIds must be an array of strings';
  if (record.dedupeWindowMs !== undefined && (typeof record.dedupeWindowMs !== 'number' || !(record.dedupeWindowMs >= 0))) return 'dedupeWindowMs must be a number >= 0';
  return invalidOutcome(record.outcome);
}

/**
 * FTS5 query for "every word must match": the text is split into words the way the unicode61
 * tokenizer splits (letters, digits, combining marks), and each word is a quoted string, so
 * operators typed by a user (`"`, `*`, `-`, `NEAR`, `AND`, `:`) are plain text, never syntax.
 * Undefined when the text holds no word.
 */
export function ftsQuery(text: string): string | undefined {
  const words = text.split(/[^\p{L}\p{N}\p{M}\p{Co}]+/u).filter((w) => w !== '');
  if (words.length === 0) return undefined;
  return words.map((w) => `"${w.replaceAll('"', '""')}"`).join(' ');
}

function encodeCursor(row: { received_at: number; id: string }): string {
  return Buffer.from(JSON.stringify([row.received_at, row.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { receivedAt: number; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string') {
      return { receivedAt: value[0] as number, id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR');
}

/**
 * The message store over one better-sqlite3 connection (shared with SqliteDeliveryQueue).
 *
 * Ingest uses group commit (ARCHITECTURE.md "Storage"): calls made in the same turn of the event
 * loop are queued and written in one transaction, flushed on `setImmediate` or as soon as 256 are
 * queued; every promise resolves after COMMIT returned, which with `synchronous=FULL` in WAL mode
 * means the WAL was fsynced (invariant 1). Full-text indexing follows in larger transactions of its
 * own (SqliteFtsIndexer, ADR 0005); a text search catches it up first.
 */
export class SqliteMessageStore implements MessageStore {
  readonly #db: Database.Database;
  readonly #clock: () => Date;
  // With a WAL sync, a group waits for the sync in flight: what arrives meanwhile is committed
  // together after it (fewer, fuller commits; the ACKs would have waited for the next sync anyway).
  readonly #batches = new GroupCommit<PendingIngest>(
    MAX_BATCH,
    (batch) => this.#writeBatch(batch),
    (then) => (this.#walSync === undefined ? then() : this.#walSync.afterInFlight(then)),
  );
  #vacuum: NodeJS.Timeout | undefined;
  readonly #fts: SqliteFtsIndexer;
  /** The commit's fsync on the thread pool (sqlite-wal-sync.ts); undefined: commits sync themselves. */
  readonly #walSync: SqliteWalSync | undefined;
  #closed = false;
  /** The ingest transaction, made once (db.transaction() builds a wrapper per call). */
  readonly #writeTxn: Database.Transaction<(items: readonly PendingIngest[], now: number) => IngestResult[]>;
  #transactions = 0;
  #rows = 0;

  readonly #stmt: {
    dedupeGet: Database.Statement<[string], { id: string; received_at: number }>;
    dedupeDrop: Database.Statement<[string]>;
    insert: Database.Statement<unknown[]>;
    deliveryInsert: Database.Statement<[string, string, string, string | null, string, string, number, number, number, number]>;
    horizon: Database.Statement<[], { before: number }>;
    raiseHorizon: Database.Statement<[{ before: number }]>;
    keyedAfter: Database.Statement<[{ from: number; before: number; after: string; limit: number }], { received_at: number; id: string; keyed: number }>;
    get: Database.Statement<[string], MessageRow>;
    setStatus: Database.Statement<[string, string | null, number, string]>;
    eventInsert: Database.Statement<[string, string | null, number, string, string | null]>;
    events: Database.Statement<[string], EventRow & { seq: number }>;
    deliveredEvents: Database.Statement<[string], { delivery_id: string; finished_at: number; history_seq: number; destination: string; attempts: number }>;
    received: Database.Statement<[string], { received_at: number; config_revision: number; queued_at: number | null; queued_deliveries: number | null }>;
  };

  constructor(db: Database.Database, options: { clock?: () => Date; fts?: SqliteFtsIndexerOptions } = {}) {
    this.#db = db;
    this.#clock = options.clock ?? (() => new Date());
    this.#stmt = {
      // The message holding a key (migration 10, ADR 0009): one index seek on the partial index;
      // rows received before the horizon have been forgotten by pruneDedupeKeys.
      dedupeGet: db.prepare(`SELECT id, received_at FROM messages
        WHERE dedupe_key = ? AND received_at >= (SELECT before FROM dedupe_horizon WHERE id = 1) ORDER BY received_at DESC LIMIT 1`),
      // A key names its newest copy only, as the dedupe_keys UPSERT made it.
      dedupeDrop: db.prepare('UPDATE messages SET dedupe_key = NULL WHERE id = ?'),
      insert: db.prepare(`INSERT INTO messages (id, channel_id, content, content_bytes, content_type, received_at, source, message_type, control_id,
          sending_facility, ordering_key, patient_ids, correlation_id, config_revision, status, status_reason, updated_at, dedupe_key, queued_at, queued_deliveries)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      // The same row SqliteDeliveryQueue.enqueue writes.
      deliveryInsert: db.prepare(`INSERT INTO deliveries (id, message_id, destination, ordering_key, payload, idempotency_key, status, attempts, max_attempts,
          next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`),
      horizon: db.prepare('SELECT before FROM dedupe_horizon WHERE id = 1'),
      raiseHorizon: db.prepare('UPDATE dedupe_horizon SET before = @before WHERE id = 1 AND before < @before'),
      // Keyset walk over the time index (received_at, id), after a position and below a bound.
      keyedAfter: db.prepare(`SELECT received_at, id, dedupe_key IS NOT NULL AS keyed FROM messages
        WHERE received_at >= @from AND received_at < @before AND (received_at > @from OR id > @after) ORDER BY received_at, id LIMIT @limit`),
      get: db.prepare('SELECT * FROM messages WHERE id = ?'),
      setStatus: db.prepare('UPDATE messages SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?'),
      eventInsert: db.prepare('INSERT INTO message_events (message_id, delivery_id, at, type, detail) VALUES (?, ?, ?, ?, ?)'),
      events: db.prepare('SELECT seq, message_id, delivery_id, at, type, detail FROM message_events WHERE message_id = ? ORDER BY seq'),
      // The `delivered` events that are attempt rows (migration 12, ADR 0012): the delivery's
      // attempts counter is the event's `attempt` (an operator retry resets it; the attempt rows'
      // numbers run on), and a delivered delivery never changes again.
      deliveredEvents: db.prepare(`SELECT a.delivery_id, a.finished_at, a.history_seq, d.destination, d.attempts
        FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id
        WHERE d.message_id = ? AND a.history_seq IS NOT NULL ORDER BY a.history_seq`),
      received: db.prepare('SELECT received_at, config_revision, queued_at, queued_deliveries FROM messages WHERE id = ?'),
    };
    this.#writeTxn = db.transaction((items: readonly PendingIngest[], now: number) => items.map((item) => this.#write(item.record, now)));
    this.#fts = new SqliteFtsIndexer(db, options.fts ?? {});
    this.#walSync = walSyncOf(db);
  }

  /** Group-commit counters (tests, metrics). */
  stats(): SqliteIngestStats {
    return { flushes: this.#batches.flushes, transactions: this.#transactions, rows: this.#rows, ftsSteps: this.#fts.steps, walSyncs: this.#walSync?.syncs ?? 0 };
  }

  /** Messages committed but not yet in the full-text index (ADR 0005). */
  ftsLag(): number {
    return guarded(() => this.#fts.lag());
  }

  /** Brings the full-text index up to date now (what a text search does first). */
  catchUpIndex(): void {
    guarded(() => this.#fts.catchUp());
  }

  ingest(record: IngestRecord): Promise<IngestResult> {
    if (this.#closed) return Promise.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the store is closed' }));
    return new Promise<IngestResult>((resolve, reject) => {
      this.#batches.add({ record, resolve, reject });
    });
  }

  /**
   * Writes every queued ingest: one transaction for the batch, one per row if the batch failed.
   * Each promise resolves once its commit is durable: with a WAL sync, the commit is written
   * without an fsync and the promises wait for the shared fdatasync that follows it (the loop is
   * free meanwhile); otherwise the commit synced itself.
   */
  #writeBatch(batch: PendingIngest[]): void {
    const valid: PendingIngest[] = [];
    for (const item of batch) {
      const reason = invalidReason(item.record);
      if (reason === undefined) valid.push(item);
      else item.reject(new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason }));
    }
    if (valid.length === 0) return;
    const now = this.#clock().getTime();
    const settled: { item: PendingIngest; result: IngestResult }[] = [];
    try {
      const results = this.#commit(valid, now);
      this.#transactions++;
      this.#rows += valid.length;
      this.#fts.noteWritten(results.reduce((n, r) => (r.kind === 'stored' ? n + 1 : n), 0));
      valid.forEach((item, i) => settled.push({ item, result: results[i] as IngestResult }));
    } catch (error) {
      if (isUnavailable(error)) {
        // The database as a whole refused (busy, disk full, closed): every row would fail alike.
        const storeError = toStoreError(error);
        for (const item of valid) item.reject(storeError);
        return;
      }
      // Something in one row broke the batch: isolate it, one transaction per row.
      for (const item of valid) {
        try {
          const [result] = this.#commit([item], now);
          this.#transactions++;
          this.#rows++;
          if (result?.kind === 'stored') this.#fts.noteWritten(1);
          settled.push({ item, result: result as IngestResult });
        } catch (rowError) {
          item.reject(toStoreError(rowError));
        }
      }
    }
    if (settled.length === 0) return;
    if (this.#walSync === undefined) {
      for (const s of settled) s.item.resolve(s.result);
      return;
    }
    this.#walSync.durable().then(
      () => {
        for (const s of settled) s.item.resolve(s.result);
      },
      (error: unknown) => {
        // Committed but maybe not on disk: refuse the ACK; a resend is answered as a duplicate.
        for (const s of settled) s.item.reject(error);
      },
    );
  }

  /**
   * Writes records in one BEGIN IMMEDIATE transaction, without the fsync when the WAL sync follows
   * it; their full text is indexed afterwards (ADR 0005).
   */
  #commit(items: readonly PendingIngest[], now: number): IngestResult[] {
    const run = (): IngestResult[] => this.#writeTxn.immediate(items, now);
    return this.#walSync === undefined ? run() : withRelaxedSync(this.#db, run);
  }

  /** One record inside the open transaction. Earlier rows of the same batch are visible, so in-batch duplicates are found. */
  #write(record: IngestRecord, now: number): IngestResult {
    const receivedAt = record.receivedAt.getTime();
    let dedupeKey: string | null = null;
    if (record.dedupeKey !== undefined) {
      const seen = this.#stmt.dedupeGet.get(record.dedupeKey);
      if (seen !== undefined && (record.dedupeWindowMs === undefined || Math.abs(receivedAt - seen.received_at) < record.dedupeWindowMs)) {
        return { kind: 'duplicate', id: seen.id, firstSeen: new Date(seen.received_at) };
      }
      // A key names its newest copy, so a retransmission dedupes against the current window: this
      // row takes the key unless an older copy arrives late; the previous holder (outside its
      // window by now) lets go of it.
      if (seen === undefined || receivedAt >= seen.received_at) {
        dedupeKey = record.dedupeKey;
        if (seen !== undefined) this.#stmt.dedupeDrop.run(seen.id);
      }
    }
    const id = newSortableId(now);
    const patientIds = [...new Set(record.patientIds ?? [])];
    const { status, reason } = initialStatus(record.outcome);
    const patientJson = JSON.stringify(patientIds);
    const queued = record.outcome?.kind === 'queued' ? record.outcome.deliveries : undefined;
    this.#stmt.insert.run(
      id,
      record.channelId,
      record.content,
      Buffer.byteLength(record.content, 'utf8'),
      record.contentType,
      receivedAt,
      record.source,
      record.messageType ?? null,
      record.controlId ?? null,
      record.sendingFacility ?? null,
      record.orderingKey ?? null,
      patientJson,
      record.correlationId,
      record.configRevision,
      status,
      reason,
      now,
      dedupeKey,
      queued === undefined ? null : now,
      queued === undefined ? null : queued.length,
    );
    // The patient-id and control-id index rows are written by the catch-up after the commit
    // (ADR 0009), as the full text is.
    if (queued !== undefined) {
      // Enqueue order is insertion order (seq), as in SqliteDeliveryQueue.enqueue.
      for (const d of queued) {
        this.#stmt.deliveryInsert.run(newSortableId(now), id, d.destination, d.orderingKey ?? null, d.payload, d.idempotencyKey, d.maxAttempts, now, now, now);
      }
    }
    // The history's first event, `received`, is not written (ADR 0008): everything in it
    // (received_at, the config revision) is on the row just inserted, and events() puts it back in
    // front. Its row cost three B-trees per commit (the events table, its index by message, the
    // AUTOINCREMENT counter): 0.6 of the 9.2 WAL frames per message at 8 messages per commit.
    // Nor is `queued` (migration 12, ADR 0012): its time and its number of deliveries are the
    // row's queued_at and queued_deliveries, and events() puts it second. `filtered` and `errored`
    // (rare) are still rows.
    if (record.outcome !== undefined && queued === undefined) {
      for (const event of initialEvents(id, record.receivedAt, new Date(now), record.configRevision, record.outcome).slice(1)) {
        this.#stmt.eventInsert.run(id, null, event.at.getTime(), event.type, event.detail === undefined ? null : JSON.stringify(event.detail));
      }
    }
    return { kind: 'stored', id };
  }

  async get(id: string): Promise<StoredMessage | undefined> {
    const row = guarded(() => this.#stmt.get.get(id));
    return row === undefined ? undefined : messageOf(row);
  }

  async search(query: MessageQuery): Promise<MessagePage> {
    const filter = searchFilter(query);
    if (filter === undefined) return { items: [], nextCursor: undefined };
    // Every committed message is searchable: index what the catch-up has not reached yet (full
    // text, patient and control ids: ADR 0005 and 0009).
    if (query.text !== undefined || query.patientId !== undefined || query.controlId !== undefined) guarded(() => this.#fts.catchUp());
    const limit = query.limit !== undefined && Number.isFinite(query.limit) ? Math.min(MAX_PAGE, Math.max(1, Math.floor(query.limit))) : DEFAULT_PAGE;
    const rows = guarded(() => this.#db.prepare<unknown[], MessageRow>(searchSql(filter.where)).all(...filter.params, limit + 1));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { items: page.map(summaryOf), nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : undefined };
  }

  /** The `EXPLAIN QUERY PLAN` lines of a search, so tests can check that it uses indexes. */
  explainSearch(query: MessageQuery): string[] {
    const filter = searchFilter(query);
    if (filter === undefined) return [];
    const rows = this.#db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${searchSql(filter.where)}`).all(...filter.params, DEFAULT_PAGE + 1);
    return rows.map((r) => r.detail);
  }

  async setStatus(id: string, status: MessageStatus, reason?: string): Promise<void> {
    if (!STATUSES.includes(status)) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: `unknown message status ${String(status)}` });
    const info = guarded(() => this.#stmt.setStatus.run(status, reason ?? null, this.#clock().getTime(), id));
    if (info.changes === 0) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id });
  }

  async appendEvent(event: MessageEvent): Promise<void> {
    try {
      this.#stmt.eventInsert.run(event.messageId, event.deliveryId ?? null, event.at.getTime(), event.type, event.detail === undefined ? null : JSON.stringify(event.detail));
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id: event.messageId });
      throw toStoreError(error);
    }
  }

  async events(messageId: string): Promise<MessageEvent[]> {
    const stored = this.#storedEvents(messageId);
    // Messages stored by earlier versions have their `received` event as a row; newer ones have it
    // on the message row only (see #write). Nothing else ever writes a `received` event.
    if (stored[0]?.type === 'received') return stored;
    const row = guarded(() => this.#stmt.received.get(messageId));
    if (row === undefined) return stored;
    const [received] = initialEvents(messageId, new Date(row.received_at), new Date(row.received_at), row.config_revision, undefined);
    if (received === undefined) return stored;
    // The `queued` event of an ingest with deliveries (migration 12): always the second, as it was
    // written in the ingest's transaction, before anything else could be appended. Messages stored
    // before migration 12 have it as a row (queued_at NULL).
    if (row.queued_at === null) return [received, ...stored];
    const queued: MessageEvent = { messageId, at: new Date(row.queued_at), type: 'queued', detail: { deliveries: row.queued_deliveries ?? 0 } };
    return [received, queued, ...stored];
  }

  /**
   * The message's event rows in order, with its `delivered` events that are attempt rows
   * (ADR 0012) merged in by the number each took from the same sequence (history_seq).
   */
  #storedEvents(messageId: string): MessageEvent[] {
    const rows = guarded(() => this.#stmt.events.all(messageId));
    const delivered = guarded(() => this.#stmt.deliveredEvents.all(messageId));
    if (delivered.length === 0) return rows.map(eventOf);
    const out: MessageEvent[] = [];
    let next = 0;
    for (const row of rows) {
      for (; next < delivered.length && (delivered[next]?.history_seq ?? Infinity) < row.seq; next++) out.push(deliveredEventOf(messageId, delivered[next]!));
      out.push(eventOf(row));
    }
    for (; next < delivered.length; next++) out.push(deliveredEventOf(messageId, delivered[next]!));
    return out;
  }

  async pruneContent(request: PruneRequest): Promise<number> {
    const statuses: readonly string[] = request.statuses ?? STATUSES.filter((s) => s !== 'errored');
    if (statuses.length === 0) return 0;
    // One chunk of rows per transaction, yielding between chunks, so a large prune never holds
    // the write lock (and the event loop) long enough to delay ingests.
    const chunk = `SELECT seq FROM messages WHERE channel_id = ? AND received_at < ? AND content IS NOT NULL
      AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY seq LIMIT ${PRUNE_CHUNK}`;
    const params = [request.channelId, request.receivedBefore.getTime(), ...statuses];
    const pruneChunk = this.#db.transaction((): number => {
      // Rows not yet indexed are indexed first: a 'delete' of entries never written would corrupt
      // the index (sqlite.org/fts5.html 4.4.3: the old values must match what was inserted).
      this.#fts.indexPending();
      // External-content FTS5 needs the old text to remove its entries (sqlite.org/fts5.html 4.4.3).
      this.#db.prepare(`INSERT INTO messages_fts (messages_fts, rowid, content) SELECT 'delete', seq, content FROM messages WHERE seq IN (${chunk})`).run(...params);
      // The row stays in the table, so it stays in the index as an empty document: FTS5's row
      // count then matches the content table, and 'integrity-check' and 'rebuild' agree.
      this.#db.prepare(`INSERT INTO messages_fts (rowid, content) SELECT seq, NULL FROM messages WHERE seq IN (${chunk})`).run(...params);
      return this.#db.prepare(`UPDATE messages SET content = NULL, content_bytes = NULL WHERE seq IN (${chunk})`).run(...params).changes;
    });
    let total = 0;
    for (;;) {
      const count = guarded(() => pruneChunk.immediate());
      total += count;
      if (count < PRUNE_CHUNK) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (total > 0) this.#reclaimSpace();
    return total;
  }

  /**
   * Keys are forgotten by raising the horizon below which they no longer dedupe (migration 10,
   * ADR 0009): one row written, where deleting keys would rewrite the message rows holding them.
   * The count is of the keyed messages between the old horizon and the new one, read in chunks
   * along the time index with a turn of the event loop between them.
   */
  async pruneDedupeKeys(firstSeenBefore: Date): Promise<number> {
    const before = firstSeenBefore.getTime();
    if (Number.isNaN(before)) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: 'firstSeenBefore must be a valid Date' });
    const raise = this.#db.transaction((): number | undefined => {
      const from = this.#stmt.horizon.get()?.before ?? 0;
      return this.#stmt.raiseHorizon.run({ before }).changes === 0 ? undefined : from;
    });
    const from = guarded(() => raise.immediate());
    if (from === undefined) return 0;
    let total = 0;
    let at = from;
    let after = '';
    for (;;) {
      const rows = guarded(() => this.#stmt.keyedAfter.all({ from: at, before, after, limit: DEDUPE_PRUNE_CHUNK }));
      for (const r of rows) total += r.keyed;
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < DEDUPE_PRUNE_CHUNK) break;
      at = last.received_at;
      after = last.id;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }

  /**
   * Returns freed pages to the file system in small steps, each its own short write so ingests
   * interleave: first FTS5 'merge' steps fold the delete markers the prune left into the index
   * (sqlite.org/fts5.html 6.7: fewer than 2 changes means no work was left), then
   * `incremental_vacuum` (auto_vacuum is INCREMENTAL) truncates the free pages away.
   */
  #reclaimSpace(): void {
    if (this.#vacuum !== undefined || this.#closed) return;
    let merging = true;
    let failures = 0;
    const step = (): void => {
      this.#vacuum = undefined;
      if (this.#closed) return;
      try {
        if (merging) {
          const before = this.#totalChanges();
          this.#db.prepare(`INSERT INTO messages_fts (messages_fts, rank) VALUES ('merge', ${FTS_MERGE_PAGES_PER_STEP})`).run();
          merging = this.#totalChanges() - before >= 2;
        } else {
          this.#db.pragma(`incremental_vacuum(${VACUUM_PAGES_PER_STEP})`);
          if ((this.#db.pragma('freelist_count', { simple: true }) as number) === 0) return;
        }
        failures = 0;
        this.#vacuum = setTimeout(step, 5).unref();
      } catch {
        // Busy: try again a little later; after repeated failures the next prune resumes it.
        if (++failures < 10) this.#vacuum = setTimeout(step, 200 * failures).unref();
      }
    };
    this.#vacuum = setTimeout(step, 0).unref();
  }

  #totalChanges(): number {
    return (this.#db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  }

  /** Flushes queued ingests and stops accepting new ones. The owner of the connection closes it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#batches.flush();
    this.#closed = true;
    // The last group's ACKs wait for their sync; the connection must stay open until it is done.
    if (this.#walSync !== undefined && !this.#walSync.idle) await this.#walSync.durable().catch(() => undefined);
    // A clean shutdown leaves the index complete; if this fails, the next open catches up.
    try {
      this.#fts.catchUp();
    } catch {
      // busy or closed: the watermark says where to resume
    }
    this.#fts.close();
    this.#walSync?.close();
    if (this.#vacuum !== undefined) clearTimeout(this.#vacuum);
    this.#vacuum = undefined;
  }
}

/**
 * WHERE clauses for a search; undefined when nothing can match. Every filter is an equality or a
 * range on an indexed column, or an IN over the patient-id index or the FTS index, so no search
 * scans the messages table (checked with EXPLAIN QUERY PLAN in sqlite-specific.test.ts).
 */
function searchFilter(query: MessageQuery): { where: string[]; params: (string | number)[] } | undefined {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const add = (clause: string, ...values: (string | number)[]): void => {
    where.push(clause);
    params.push(...values);
  };
  // A patient, control or correlation id narrows to a handful of rows, so that index must drive
  // the query. Without ANALYZE statistics SQLite may prefer the channel/time index for its ORDER
  // BY and filter a whole channel instead; a unary + keeps it off those other indexes.
  const selective = query.patientId !== undefined || query.controlId !== undefined || query.correlationId !== undefined;
  const col = (name: string): string => (selective ? `+m.${name}` : `m.${name}`);
  if (query.channelId !== undefined) add(`${col('channel_id')} = ?`, query.channelId);
  if (query.status !== undefined) {
    const statuses: readonly string[] = typeof query.status === 'string' ? [query.status] : query.status;
    if (statuses.length === 0) return undefined;
    if (statuses.length === 1) add(`${col('status')} = ?`, ...statuses);
    else add(`${col('status')} IN (${statuses.map(() => '?').join(', ')})`, ...statuses);
  }
  if (query.messageType !== undefined) add(`${col('message_type')} = ?`, query.messageType);
  if (query.controlId !== undefined) add('m.seq IN (SELECT c.message_seq FROM message_control_ids c WHERE c.control_id = ?)', query.controlId);
  if (query.correlationId !== undefined) add('m.correlation_id = ?', query.correlationId);
  if (query.patientId !== undefined) add('m.seq IN (SELECT p.message_seq FROM message_patient_ids p WHERE p.patient_id = ?)', query.patientId);
  if (query.from !== undefined) add(`${col('received_at')} >= ?`, query.from.getTime());
  if (query.to !== undefined) add(`${col('received_at')} < ?`, query.to.getTime());
  if (query.text !== undefined) {
    const match = ftsQuery(query.text);
    // Text with no searchable word cannot match any message.
    if (match === undefined) return undefined;
    add('m.seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)', match);
  }
  if (query.cursor !== undefined) {
    // Keyset pagination: rows strictly after (receivedAt, id) in (desc, desc) order. The first
    // term is a plain range, so the time index seeks to the cursor instead of skipping to it.
    const after = decodeCursor(query.cursor);
    add(`${col('received_at')} <= ? AND (m.received_at < ? OR m.id < ?)`, after.receivedAt, after.receivedAt, after.id);
  }
  return { where, params };
}

function searchSql(where: readonly string[]): string {
  return `SELECT m.* FROM messages m${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY m.received_at DESC, m.id DESC LIMIT ?`;
}
