import type pg from 'pg';
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
import { ENQUEUE_LOCK_CLASS, enqueueLanes } from './postgres-delivery-queue.ts';
import { PostgresFtsIndexer, type PostgresFtsIndexerOptions } from './postgres-fts-indexer.ts';
import { queryRows, toStoreError, withTransaction } from './postgres-transaction.ts';
import { SingleFlight } from '../../core/single-flight.ts';

/** Rows per group-commit transaction. */
const MAX_BATCH = 256;
/**
 * Ingest statements in flight at once. With five round trips per batch, one at a time left the
 * engine idle while the server wrote and flushed each batch (~1k msgs/s), and four overlapped.
 * Now that a batch is one round trip, overlap only cuts the listener's 16 connections into smaller
 * batches whose fixed cost (a statement, a commit and its fsync) the 2-core machine pays in CPU.
 * Ingest benchmark, runs paired on the shared machine (load 5-8), one vs two in flight: 7.9 vs 5.5
 * rows per commit, PostgreSQL backends 527/622 vs 665/888 us per message, the listener 321/459 vs
 * 418/599 us, 1,438/796 vs 976/702 msgs/s (four in flight: ~4.5 rows, 750-850 us). Ingests queued
 * while a batch is written form the next one. Kept a setting (and the lane waits in flushLoop)
 * for a host whose cores outnumber what one batch at a time keeps busy.
 */
const MAX_IN_FLIGHT = 1;
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const DEFAULT_PRUNE_STATUSES: readonly MessageStatus[] = ['received', 'filtered', 'queued', 'delivered', 'resolved'];

interface PendingIngest {
  readonly record: IngestRecord;
  readonly resolve: (result: IngestResult) => void;
  readonly reject: (error: unknown) => void;
}

/** What one batch decided for each of its records. */
type Plan =
  | { readonly kind: 'insert'; readonly id: string }
  | { readonly kind: 'same-as'; readonly owner: number }
  | { readonly kind: 'defer' };

interface MessageRow {
  id: string;
  channel_id: string;
  content?: string | null;
  content_bytes: number | null;
  content_type: StoredMessage['contentType'];
  received_at: Date;
  source: string;
  message_type: string | null;
  control_id: string | null;
  sending_facility: string | null;
  ordering_key: string | null;
  patient_ids: string[];
  correlation_id: string;
  config_revision: number;
  status: MessageStatus;
  status_reason: string | null;
  updated_at: Date;
}

const SUMMARY_COLUMNS = `m.id, m.channel_id, m.content_bytes, m.content_type, m.received_at, m.source, m.message_type,
  m.control_id, m.sending_facility, m.ordering_key, m.patient_ids, m.correlation_id, m.config_revision, m.status,
  m.status_reason, m.updated_at`;

const opt = (v: string | null): string | undefined => v ?? undefined;

function toSummary(row: MessageRow): MessageSummary {
  return {
    id: row.id,
    channelId: row.channel_id,
    contentType: row.content_type,
    receivedAt: row.received_at,
    source: row.source,
    messageType: opt(row.message_type),
    controlId: opt(row.control_id),
    sendingFacility: opt(row.sending_facility),
    orderingKey: opt(row.ordering_key),
    patientIds: row.patient_ids,
    correlationId: row.correlation_id,
    configRevision: row.config_revision,
    status: row.status,
    statusReason: opt(row.status_reason),
    updatedAt: row.updated_at,
    contentBytes: row.content_bytes ?? undefined,
  };
}

function toStored(row: MessageRow): StoredMessage {
  const { contentBytes: _bytes, ...summary } = toSummary(row);
  return { ...summary, content: row.content ?? undefined };
}

/** Opaque keyset cursor: the last item's (receivedAt, id), base64url. */
function encodeCursor(item: { receivedAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([item.receivedAt.getTime(), item.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { receivedAt: Date; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isFinite(value[0]) && typeof value[1] === 'string') {
      return { receivedAt: new Date(value[0] as number), id: value[1] };
    }
  } catch {
    // fall through
  }
  throw new SwitchboardError('SWB_ERR_STORE_BAD_CURSOR');
}

/** What search runs: `settings` first (SET LOCAL, so inside one transaction), then `sql`. */
export interface SearchStatement {
  readonly sql: string;
  readonly params: unknown[];
  readonly limit: number;
  readonly settings: readonly string[];
  /**
   * Text-driven searches only: `probe` counts matches up to TEXT_PROBE_CAP + 1 through the GIN
   * index; above the cap `walk` (the time-index form, with the text as a filter) runs instead,
   * since a common word finds its page in the first rows of the walk.
   */
  readonly text?: { readonly probe: string; readonly probeParams: readonly unknown[]; readonly walk: string };
}

/** Above this many text matches, paging by walking the time index beats reading every match. */
export const TEXT_PROBE_CAP = 5000;

/**
 * Planner settings of a lookup search. The CTE below takes LIMIT out of the planner's choice, but
 * without statistics it still prices a seq scan evaluating @@ on every row below the GIN index
 * (whose estimate counts its whole pending list after a bulk load): measured 243 ms against 7 ms at
 * 10k messages. With seq scans priced out, the only way left to produce all matches is the lookup
 * index. SET LOCAL ends with the transaction, so no other statement on the connection sees it.
 */
const LOOKUP_SETTINGS: readonly string[] = ['SET LOCAL enable_seqscan = off'];

/**
 * The search statement: every filter is an indexed predicate, pages are keyset pages on
 * (received_at desc, id desc), and one extra row says whether another page follows. Exported so
 * that a test can EXPLAIN exactly what search runs.
 */
export function buildSearchSql(query: MessageQuery): SearchStatement {
  const params: unknown[] = [];
  const p = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [];
  // The lookup predicate, most selective first: the one that drives a lookup search (see below).
  let driver: string | undefined;
  const lookup = (clause: string): void => {
    if (driver === undefined) driver = clause;
    else where.push(clause);
  };
  if (query.controlId !== undefined) lookup(`m.control_id = ${p(query.controlId)}`);
  if (query.correlationId !== undefined) lookup(`m.correlation_id = ${p(query.correlationId)}`);
  if (query.patientId !== undefined) {
    lookup(`m.id IN (SELECT pi.message_id FROM message_patient_ids pi WHERE pi.patient_id = ${p(query.patientId)})`);
  }
  // The full-text index is its own table (migration 7): as the driver, the GIN index finds the
  // ids; as a filter on rows another lookup found, each row's index entry is read by primary key.
  let textDriven = false;
  let textParam = -1;
  let textRowCheck = '';
  if (query.text !== undefined && query.text.trim() !== '') {
    textDriven = driver === undefined;
    textParam = params.length;
    // plainto_tsquery ignores operators in user text: every word must match (AND).
    const words = `plainto_tsquery('simple', ${p(query.text)})`;
    textRowCheck = `EXISTS (SELECT 1 FROM message_fts f WHERE f.message_id = m.id AND f.tsv @@ ${words})`;
    lookup(textDriven ? `m.id IN (SELECT f.message_id FROM message_fts f WHERE f.tsv @@ ${words})` : textRowCheck);
  }
  if (query.channelId !== undefined) where.push(`m.channel_id = ${p(query.channelId)}`);
  if (query.status !== undefined) {
    if (typeof query.status === 'string') where.push(`m.status = ${p(query.status)}`);
    else where.push(`m.status = ANY(${p(query.status)}::text[])`);
  }
  if (query.messageType !== undefined) where.push(`m.message_type = ${p(query.messageType)}`);
  if (query.from !== undefined) where.push(`m.received_at >= ${p(query.from)}`);
  if (query.to !== undefined) where.push(`m.received_at < ${p(query.to)}`);
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor);
    where.push(`(m.received_at, m.id) < (${p(after.receivedAt)}::timestamptz, ${p(after.id)}::text)`);
  }
  const limit = Math.min(MAX_LIMIT, Math.max(1, Math.floor(query.limit ?? DEFAULT_LIMIT)));
  const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  if (driver === undefined) {
    // Channel / status / type / time only: walking an (..., received_at, id) index yields the page
    // in order and stops after limit + 1 rows.
    return { sql: `SELECT ${SUMMARY_COLUMNS} FROM messages m ${filter} ORDER BY m.received_at DESC, m.id DESC LIMIT ${limit + 1}`, params, limit, settings: [] };
  }
  // A lookup (control id, correlation id, patient id, text) matches few rows. Under ORDER BY ...
  // LIMIT the planner may walk the time index instead, betting the matches come early; without
  // statistics (a bulk load before ANALYZE) it prices a text match at a fixed selectivity and takes
  // that bet: the walk read the whole table (970 ms at 20k messages against 2 ms by the GIN index).
  // So the lookup runs alone in a MATERIALIZED CTE (PostgreSQL 12+: planned on its own, no LIMIT,
  // and with LOOKUP_SETTINGS its index is the only access path); the other filters, the cursor and
  // the page are applied to what it found (a CTE scan has no index to be lured by), and the page's
  // rows are read back by primary key. Same order, same keyset cursor. Measured at 200k messages
  // without statistics: rare word 4.1 s -> 2 ms, control id 855 ms -> 0.6 ms. The price: a lookup
  // matching much of the table reads all its matches before paging (a word in every message:
  // 15 ms -> 1.1 s at 200k), where the walk found a page at once.
  let text: SearchStatement['text'];
  if (textDriven) {
    const words = params[textParam];
    text = {
      probe: `SELECT count(*)::int AS n FROM (SELECT 1 FROM message_fts f WHERE f.tsv @@ plainto_tsquery('simple', $1) LIMIT ${TEXT_PROBE_CAP + 1}) x`,
      probeParams: [words],
      walk: `SELECT ${SUMMARY_COLUMNS} FROM messages m WHERE ${[textRowCheck, ...where].join(' AND ')} ORDER BY m.received_at DESC, m.id DESC LIMIT ${limit + 1}`,
    };
  }
  const sql = `WITH hits AS MATERIALIZED (
      SELECT m.id, m.received_at, m.channel_id, m.status, m.message_type, m.control_id, m.correlation_id
      FROM messages m WHERE ${driver})
    SELECT ${SUMMARY_COLUMNS} FROM messages m
    WHERE m.id IN (SELECT m.id FROM hits m ${filter} ORDER BY m.received_at DESC, m.id DESC LIMIT ${limit + 1})
    ORDER BY m.received_at DESC, m.id DESC`;
  return { sql, params, limit, settings: LOOKUP_SETTINGS, ...(text !== undefined ? { text } : {}) };
}

/**
 * The ingest statement: everything one batch writes, in ONE statement run outside an explicit
 * transaction, so that the batch costs one round trip and its commit (the statement's implicit
 * transaction ends with it: PostgreSQL 15 "Transactions", a lone statement is its own transaction).
 * The client's `query` resolves only after the server reported the commit, so the ACK still
 * follows a durable commit (synchronous_commit as the server sets it; invariant 1). Named
 * (prepared once per pooled connection): parse, analysis and planning were ~15% of the server's
 * CPU per batch. Every batch uses the same text whatever it holds: empty arrays unnest to nothing.
 *
 * Order inside the statement: `lanes` takes the enqueue advisory locks of the batch's ordered
 * lanes (sorted) before anything else, because every other part reads its rows through a filter on
 * `(SELECT n FROM lanes)`, an InitPlan evaluated before the first row is produced; so the locks
 * come before any dedupe-key row lock (the order PostgresDeliveryQueue.enqueue uses too) and before
 * any delivery draws its `seq`, and they are held to the commit. `claim` inserts the dedupe keys
 * (sorted, so overlapping batches lock them in one order) or takes over a key older than its
 * window; a key held by another message is not returned, and neither is its message inserted.
 * The messages, their patient ids, deliveries (in record order, so `seq` follows enqueue order),
 * the pipeline's event (`received` is not a row: events() rebuilds it from the message) and the
 * full-text queue entries follow the messages actually inserted (`m`). Foreign keys are checked at
 * the end of the statement, when the messages are there.
 */
const INGEST_STATEMENT = 'swb_ingest_v1';
const INGEST_SQL = `WITH lanes AS MATERIALIZED (
    SELECT count(pg_advisory_xact_lock($1, s.h))::int AS n
    FROM (SELECT DISTINCT hashtext(l) AS h FROM unnest($2::text[]) AS l ORDER BY 1) s),
  input AS MATERIALIZED (
    SELECT * FROM unnest($3::text[], $4::text[], $5::float8[], $10::timestamptz[]) AS t(id, key, window_ms, received_at)
    WHERE (SELECT n FROM lanes) >= 0),
  claim AS (
    INSERT INTO dedupe_keys AS d (key, message_id, first_seen)
    SELECT key, id, received_at FROM input WHERE key IS NOT NULL ORDER BY key
    ON CONFLICT (key) DO UPDATE SET message_id = EXCLUDED.message_id, first_seen = EXCLUDED.first_seen
    WHERE d.first_seen <= EXCLUDED.first_seen
      - (SELECT i.window_ms FROM input i WHERE i.key = EXCLUDED.key) * interval '1 millisecond'
    RETURNING message_id),
  m AS (
    INSERT INTO messages (id, channel_id, content, content_bytes, content_type, received_at, source, message_type,
      control_id, sending_facility, ordering_key, patient_ids, correlation_id, config_revision, status, status_reason, updated_at)
    SELECT t.id, t.channel_id, t.content, t.content_bytes, t.content_type, t.received_at, t.source, t.message_type,
      t.control_id, t.sending_facility, t.ordering_key, t.patient_ids::jsonb, t.correlation_id, t.config_revision, t.status, t.status_reason, $21::timestamptz
    FROM unnest($3::text[], $4::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::timestamptz[], $11::text[], $12::text[],
      $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::int[], $19::text[], $20::text[])
      AS t(id, key, channel_id, content, content_bytes, content_type, received_at, source, message_type,
        control_id, sending_facility, ordering_key, patient_ids, correlation_id, config_revision, status, status_reason)
    WHERE (SELECT n FROM lanes) >= 0 AND (t.key IS NULL OR t.id IN (SELECT message_id FROM claim))
    RETURNING id),
  fq AS (INSERT INTO message_fts_pending (message_id) SELECT id FROM m),
  pi AS (
    INSERT INTO message_patient_ids (message_id, patient_id)
    SELECT t.message_id, t.patient_id FROM unnest($22::text[], $23::text[]) AS t(message_id, patient_id)
    WHERE t.message_id IN (SELECT id FROM m)
    ON CONFLICT DO NOTHING),
  d AS (
    INSERT INTO deliveries (id, message_id, destination, ordering_key, payload, idempotency_key, status, attempts,
      max_attempts, next_attempt_at, created_at, updated_at)
    SELECT t.id, t.message_id, t.destination, t.ordering_key, t.payload, t.idempotency_key, 'pending', 0, t.max_attempts, $21, $21, $21
    FROM unnest($24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::int[]) WITH ORDINALITY
      AS t(id, message_id, destination, ordering_key, payload, idempotency_key, max_attempts, ord)
    WHERE (SELECT n FROM lanes) >= 0 AND t.message_id IN (SELECT id FROM m)
    ORDER BY t.ord),
  ev AS (
    INSERT INTO message_events (message_id, at, type, detail)
    SELECT t.message_id, t.at, t.type, t.detail::jsonb
    FROM unnest($31::text[], $32::timestamptz[], $33::text[], $34::text[]) WITH ORDINALITY AS t(message_id, at, type, detail, ord)
    WHERE t.message_id IN (SELECT id FROM m)
    ORDER BY t.ord)
  SELECT id FROM m`;

/**
 * MessageStore on PostgreSQL. Ingest uses group commit: concurrent calls queue up and are written
 * together, one statement (its own transaction, INGEST_SQL) per batch of at most 256 rows, each
 * promise resolving after the commit. Up to MAX_IN_FLIGHT batches overlap, on their own pool
 * connections, except that a batch waits for every earlier batch of this process that shares one
 * of its ordered lanes (destination, ordering key): per-lane delivery order is batch order. Across
 * processes the statement's lane locks make `seq` order commit order. A dedupe key shared by two
 * overlapping batches is safe: the later INSERT waits for the earlier row and then sees it
 * committed. If a batch fails, its rows are retried one per statement so that one bad row fails alone.
 */
export class PostgresMessageStore implements MessageStore {
  /** Ingest transactions committed so far (tests check that concurrent ingests share commits). */
  flushCount = 0;
  private readonly queue: PendingIngest[] = [];
  /** The loop that cuts the queue into batches, one run at a time. */
  private readonly flushing = new SingleFlight(
    () => this.flushLoop(),
    () => this.queue.length > 0,
  );
  /** Batches being written, with the ordered lanes their deliveries use. */
  private readonly running = new Map<Promise<void>, ReadonlySet<string>>();
  private closed = false;

  /** The full-text index, filled after the commit (migration 7). */
  readonly fts: PostgresFtsIndexer;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: () => Date = () => new Date(),
    ftsOptions: PostgresFtsIndexerOptions = {},
  ) {
    this.fts = new PostgresFtsIndexer(pool, ftsOptions);
  }

  ingest(record: IngestRecord): Promise<IngestResult> {
    if (this.closed) return Promise.reject(new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the store is closed' }));
    // Checked before the batch: a malformed outcome fails alone, with the registry's code.
    const invalid = typeof record === 'object' && record !== null ? invalidOutcome(record.outcome) : 'not an object';
    if (invalid !== undefined) return Promise.reject(new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: invalid }));
    return new Promise<IngestResult>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.flushing.start();
    });
  }

  /** Resolves when every ingest queued so far is committed (or failed). */
  async flush(): Promise<void> {
    while (this.flushing.running !== undefined || this.running.size > 0) {
      if (this.flushing.running !== undefined) await this.flushing.running;
      else await Promise.allSettled([...this.running.keys()]);
    }
  }

  private async flushLoop(): Promise<void> {
    // Yield once so that a synchronous burst of ingest() calls lands in the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      if (this.running.size >= MAX_IN_FLIGHT) {
        await Promise.race(this.running.keys());
        continue;
      }
      const batch = this.queue.splice(0, MAX_BATCH);
      const lanes = new Set(enqueueLanes(batch.flatMap((p) => (p.record.outcome?.kind === 'queued' ? p.record.outcome.deliveries : []))));
      // Per-lane order: wait for every batch in flight that shares a lane (they were cut earlier).
      for (;;) {
        const earlier = [...this.running].filter(([, used]) => [...lanes].some((lane) => used.has(lane))).map(([write]) => write);
        if (earlier.length === 0) break;
        await Promise.allSettled(earlier);
      }
      const write: Promise<void> = this.writeBatch(batch).finally(() => {
        this.running.delete(write);
      });
      this.running.set(write, lanes);
    }
  }

  private async writeBatch(batch: PendingIngest[]): Promise<void> {
    let results: (IngestResult | undefined)[];
    try {
      results = await this.insertBatch(batch.map((p) => p.record));
      this.flushCount++;
      if (results.some((r) => r?.kind === 'stored')) this.fts.noteWritten();
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(toStoreError(error));
        return;
      }
      // Isolate the bad row: one statement per record, in order.
      for (const item of batch) await this.writeBatch([item]);
      return;
    }
    const deferred: PendingIngest[] = [];
    batch.forEach((item, i) => {
      const result = results[i];
      if (result === undefined) deferred.push(item);
      else item.resolve(result);
    });
    // Records whose dedupe key was taken by an earlier record of this batch, outside its window
    // (or whose holder vanished meanwhile): they go first in the next flush, which sees the
    // committed key.
    if (deferred.length > 0) {
      this.queue.unshift(...deferred);
      this.flushing.start();
    }
  }

  /** Writes one batch (INGEST_SQL); undefined marks a record deferred to the next batch. */
  private async insertBatch(records: readonly IngestRecord[]): Promise<(IngestResult | undefined)[]> {
    // 1. Dedupe inside the batch: the first record of a key owns it.
    const plans: Plan[] = [];
    const owners = new Map<string, number>();
    records.forEach((record, i) => {
      const key = record.dedupeKey;
      const owner = key === undefined ? undefined : owners.get(key);
      if (key === undefined || owner === undefined) {
        if (key !== undefined) owners.set(key, i);
        plans.push({ kind: 'insert', id: newSortableId() });
        return;
      }
      const first = records[owner] as IngestRecord;
      const window = record.dedupeWindowMs;
      if (window === undefined || record.receivedAt.getTime() - first.receivedAt.getTime() < window) plans.push({ kind: 'same-as', owner });
      else plans.push({ kind: 'defer' });
    });

    // 2. One statement: lanes locked, keys claimed, and every row of the messages that won.
    const rows = records.flatMap((record, i) => {
      const plan = plans[i];
      return plan?.kind === 'insert' ? [{ record, id: plan.id, index: i }] : [];
    });
    const stored = await this.insertRows(rows, this.clock());

    // 3. A keyed record whose message was not inserted lost its key to the holder (committed:
    //    the statement waited for it). Read after the commit; a holder pruned meanwhile defers.
    const lost = rows.filter((r) => !stored.has(r.id));
    const holders = new Map<string, { id: string; firstSeen: Date }>();
    if (lost.length > 0) {
      const found = await queryRows<{ key: string; message_id: string; first_seen: Date }>(
        this.pool,
        'SELECT key, message_id, first_seen FROM dedupe_keys WHERE key = ANY($1::text[])',
        [lost.map((r) => r.record.dedupeKey ?? '')],
      );
      for (const row of found.rows) holders.set(row.key, { id: row.message_id, firstSeen: row.first_seen });
    }
    const results: (IngestResult | undefined)[] = records.map(() => undefined);
    for (const row of rows) {
      if (stored.has(row.id)) {
        results[row.index] = { kind: 'stored', id: row.id };
        continue;
      }
      const holder = holders.get(row.record.dedupeKey ?? '');
      if (holder !== undefined) results[row.index] = { kind: 'duplicate', id: holder.id, firstSeen: holder.firstSeen };
    }

    // 4. Records that repeat a key owned earlier in this batch share the owner's outcome.
    plans.forEach((plan, i) => {
      if (plan.kind !== 'same-as') return;
      const owner = results[plan.owner];
      const first = records[plan.owner] as IngestRecord;
      if (owner?.kind === 'stored') results[i] = { kind: 'duplicate', id: owner.id, firstSeen: first.receivedAt };
      else if (owner?.kind === 'duplicate') results[i] = owner;
    });
    return results;
  }

  /** Runs INGEST_SQL for the batch's candidate rows; returns the ids of the messages inserted. */
  private async insertRows(rows: readonly { record: IngestRecord; id: string }[], now: Date): Promise<Set<string>> {
    if (rows.length === 0) return new Set();
    const statuses = rows.map((r) => initialStatus(r.record.outcome));
    const pairs = rows.flatMap((r) => [...new Set(r.record.patientIds ?? [])].map((patientId) => [r.id, patientId] as const));
    const deliveries = rows.flatMap((r) => (r.record.outcome?.kind === 'queued' ? r.record.outcome.deliveries.map((d) => ({ messageId: r.id, d })) : []));
    // The first event, `received`, is not written: all it says (received_at, the config revision)
    // is on the message row, and events() rebuilds it from there (SQLite does the same, ADR 0008).
    // One row and two index entries less per message.
    const events = rows.flatMap((r) => initialEvents(r.id, r.record.receivedAt, now, r.record.configRevision, r.record.outcome).slice(1));
    const values: unknown[] = [
      ENQUEUE_LOCK_CLASS,
      enqueueLanes(deliveries.map((x) => x.d)),
      rows.map((r) => r.id),
      rows.map((r) => r.record.dedupeKey ?? null),
      rows.map((r) => r.record.dedupeWindowMs ?? null),
      rows.map((r) => r.record.channelId),
      rows.map((r) => r.record.content),
      rows.map((r) => Buffer.byteLength(r.record.content, 'utf8')),
      rows.map((r) => r.record.contentType),
      rows.map((r) => r.record.receivedAt),
      rows.map((r) => r.record.source),
      rows.map((r) => r.record.messageType ?? null),
      rows.map((r) => r.record.controlId ?? null),
      rows.map((r) => r.record.sendingFacility ?? null),
      rows.map((r) => r.record.orderingKey ?? null),
      rows.map((r) => JSON.stringify(r.record.patientIds ?? [])),
      rows.map((r) => r.record.correlationId),
      rows.map((r) => r.record.configRevision),
      statuses.map((s) => s.status),
      statuses.map((s) => s.reason),
      now,
      pairs.map((x) => x[0]),
      pairs.map((x) => x[1]),
      deliveries.map(() => newSortableId(now.getTime())),
      deliveries.map((x) => x.messageId),
      deliveries.map((x) => x.d.destination),
      deliveries.map((x) => x.d.orderingKey ?? null),
      deliveries.map((x) => x.d.payload),
      deliveries.map((x) => x.d.idempotencyKey),
      deliveries.map((x) => x.d.maxAttempts),
      events.map((e) => e.messageId),
      events.map((e) => e.at),
      events.map((e) => e.type),
      events.map((e) => (e.detail === undefined ? null : JSON.stringify(e.detail))),
    ];
    const result = await this.pool.query<{ id: string }>({ name: INGEST_STATEMENT, text: INGEST_SQL, values });
    return new Set(result.rows.map((r) => r.id));
  }

  async get(id: string): Promise<StoredMessage | undefined> {
    const result = await queryRows<MessageRow>(this.pool, `SELECT ${SUMMARY_COLUMNS}, m.content FROM messages m WHERE m.id = $1`, [id]);
    const row = result.rows[0];
    return row === undefined ? undefined : toStored(row);
  }

  async search(query: MessageQuery): Promise<MessagePage> {
    // Every committed message is searchable: index what is still queued first.
    if (query.text !== undefined && query.text.trim() !== '') await this.fts.catchUp();
    const { sql, params, limit, settings, text } = buildSearchSql(query);
    const result =
      settings.length === 0
        ? await queryRows<MessageRow>(this.pool, sql, params)
        : await withTransaction(this.pool, async (client) => {
            for (const setting of settings) await client.query(setting);
            if (text !== undefined) {
              const probe = await client.query<{ n: number }>(text.probe, [...text.probeParams]);
              if ((probe.rows[0]?.n ?? 0) > TEXT_PROBE_CAP) {
                // A common word: the walk of the time index meets a page of matches at once.
                await client.query('SET LOCAL enable_seqscan = on');
                return client.query<MessageRow>(text.walk, params);
              }
            }
            return client.query<MessageRow>(sql, params);
          });
    const items = result.rows.slice(0, limit).map(toSummary);
    const last = items[items.length - 1];
    return { items, nextCursor: result.rows.length > limit && last !== undefined ? encodeCursor(last) : undefined };
  }

  async setStatus(id: string, status: MessageStatus, reason?: string): Promise<void> {
    const result = await queryRows(this.pool, 'UPDATE messages SET status = $2, status_reason = $3, updated_at = $4 WHERE id = $1', [
      id,
      status,
      reason ?? null,
      this.clock(),
    ]);
    if (result.rowCount === 0) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id });
  }

  async appendEvent(event: MessageEvent): Promise<void> {
    await queryRows(this.pool, 'INSERT INTO message_events (message_id, delivery_id, at, type, detail) VALUES ($1, $2, $3, $4, $5)', [
      event.messageId,
      event.deliveryId ?? null,
      event.at,
      event.type,
      event.detail === undefined ? null : JSON.stringify(event.detail),
    ]);
  }

  async events(messageId: string): Promise<MessageEvent[]> {
    // The message row (k = 0) comes along: since ingest stopped writing the `received` event
    // (see INGEST_SQL), it is rebuilt from the row, as on SQLite (ADR 0008).
    const result = await queryRows<{ k: number; message_id: string; delivery_id: string | null; at: Date; type: string; detail: Record<string, string | number | boolean | null> | null }>(
      this.pool,
      `SELECT 0 AS k, m.id AS message_id, NULL::text AS delivery_id, m.received_at AS at, 'received' AS type,
         jsonb_build_object('configRevision', m.config_revision) AS detail, 0::bigint AS id
       FROM messages m WHERE m.id = $1
       UNION ALL
       SELECT 1, e.message_id, e.delivery_id, e.at, e.type, e.detail, e.id FROM message_events e WHERE e.message_id = $1
       ORDER BY k, at, id`,
      [messageId],
    );
    const toEvent = (row: (typeof result.rows)[number]): MessageEvent => ({
      messageId: row.message_id,
      ...(row.delivery_id !== null ? { deliveryId: row.delivery_id } : {}),
      at: row.at,
      type: row.type,
      ...(row.detail !== null ? { detail: row.detail } : {}),
    });
    const message = result.rows.find((row) => row.k === 0);
    const stored = result.rows.filter((row) => row.k === 1).map(toEvent);
    // Messages stored before this change have their `received` event as a row; nothing else ever
    // writes one. A message that is gone has only what rows are left.
    if (message === undefined || stored[0]?.type === 'received') return stored;
    return [toEvent(message), ...stored];
  }

  async pruneContent(request: PruneRequest): Promise<number> {
    const result = await queryRows(
      this.pool,
      // The content's index entry goes with it (a word of a pruned message must not find it).
      `WITH pruned AS (
         UPDATE messages SET content = NULL, content_bytes = NULL
         WHERE channel_id = $1 AND received_at < $2 AND status = ANY($3::text[]) AND content IS NOT NULL
         RETURNING id),
       unindexed AS (DELETE FROM message_fts f WHERE f.message_id IN (SELECT id FROM pruned))
       SELECT count(*)::int AS n FROM pruned`,
      [request.channelId, request.receivedBefore, request.statuses ?? DEFAULT_PRUNE_STATUSES],
    );
    return (result.rows[0] as { n?: number } | undefined)?.n ?? 0;
  }

  async pruneDedupeKeys(firstSeenBefore: Date): Promise<number> {
    if (Number.isNaN(firstSeenBefore.getTime())) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: 'firstSeenBefore must be a valid Date' });
    const result = await queryRows(this.pool, 'DELETE FROM dedupe_keys WHERE first_seen < $1', [firstSeenBefore]);
    return result.rowCount ?? 0;
  }

  /** Flushes queued ingests; refuses new ones. The pool is ended by the Store that owns it. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.fts.close();
  }
}
