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
import { lockEnqueueLanes } from './postgres-delivery-queue.ts';
import { PostgresFtsIndexer, type PostgresFtsIndexerOptions } from './postgres-fts-indexer.ts';
import { queryRows, toStoreError, withTransaction } from './postgres-transaction.ts';

/** Rows per group-commit transaction. */
const MAX_BATCH = 256;
/**
 * Ingest transactions in flight at once. One at a time left the engine idle while the server wrote
 * and flushed each batch (~1k msgs/s); overlapping them keeps several pool connections busy.
 */
const MAX_IN_FLIGHT = 4;
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
 * MessageStore on PostgreSQL. Ingest uses group commit: concurrent calls queue up and are written
 * together, one transaction per batch (at most 256 rows), each promise resolving after COMMIT. Up
 * to MAX_IN_FLIGHT batches overlap, on their own pool connections; the next batch starts only once
 * the previous one holds its enqueue lane locks, so per-lane delivery order is still batch order
 * (lockEnqueueLanes). A dedupe key shared by two overlapping batches is safe: the later INSERT waits
 * for the earlier row and then sees it committed. If a batch fails, its rows are retried one per
 * transaction so that one bad row fails alone.
 */
export class PostgresMessageStore implements MessageStore {
  /** Ingest transactions committed so far (tests check that concurrent ingests share commits). */
  flushCount = 0;
  private readonly queue: PendingIngest[] = [];
  /** The loop that cuts the queue into batches, while it runs. */
  private flushing: Promise<void> | undefined;
  private readonly running = new Set<Promise<void>>();
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
      this.startFlushing();
    });
  }

  /** Resolves when every ingest queued so far is committed (or failed). */
  async flush(): Promise<void> {
    while (this.flushing !== undefined || this.running.size > 0) {
      if (this.flushing !== undefined) await this.flushing;
      else await Promise.allSettled([...this.running]);
    }
  }

  private startFlushing(): void {
    if (this.flushing !== undefined) return;
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0) this.startFlushing();
    });
  }

  private async flushLoop(): Promise<void> {
    // Yield once so that a synchronous burst of ingest() calls lands in the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      if (this.running.size >= MAX_IN_FLIGHT) {
        await Promise.race(this.running);
        continue;
      }
      const batch = this.queue.splice(0, MAX_BATCH);
      let lanesLocked = (): void => undefined;
      const locked = new Promise<void>((resolve) => {
        lanesLocked = resolve;
      });
      const write: Promise<void> = this.writeBatch(batch, lanesLocked).finally(() => {
        lanesLocked();
        this.running.delete(write);
      });
      this.running.add(write);
      // The next batch may not take a lane lock before this one has (per-key order).
      await locked;
    }
  }

  private async writeBatch(batch: PendingIngest[], lanesLocked: () => void = () => undefined): Promise<void> {
    let results: (IngestResult | undefined)[];
    try {
      results = await withTransaction(this.pool, (client) => this.insertBatch(client, batch.map((p) => p.record), lanesLocked));
      this.flushCount++;
      if (results.some((r) => r?.kind === 'stored')) this.fts.noteWritten();
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(toStoreError(error));
        return;
      }
      // Isolate the bad row: one transaction per record, in order.
      for (const item of batch) await this.writeBatch([item]);
      return;
    }
    const deferred: PendingIngest[] = [];
    batch.forEach((item, i) => {
      const result = results[i];
      if (result === undefined) deferred.push(item);
      else item.resolve(result);
    });
    // Records whose dedupe key was taken by an earlier record of this batch, outside its window:
    // they go first in the next flush, which sees the committed key.
    if (deferred.length > 0) {
      this.queue.unshift(...deferred);
      this.startFlushing();
    }
  }

  /**
   * Writes one batch inside a transaction; undefined marks a record deferred to the next batch.
   * `lanesLocked` is called once the batch holds its enqueue lane locks.
   */
  private async insertBatch(client: pg.PoolClient, records: readonly IngestRecord[], lanesLocked: () => void): Promise<(IngestResult | undefined)[]> {
    // 0. The enqueue locks of every lane the batch's deliveries use, before any row lock (a dedupe
    //    key), so batches of several processes and PostgresDeliveryQueue.enqueue take locks in one
    //    order. Duplicates found below may have locked a lane for nothing; that only serializes.
    await lockEnqueueLanes(
      client,
      records.flatMap((r) => (r.outcome?.kind === 'queued' ? r.outcome.deliveries : [])),
    );
    lanesLocked();

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

    // 2. Claim dedupe keys against the table: insert, or replace a key older than the window.
    //    Keys not claimed are duplicates of the committed holder (a concurrent holder is waited for).
    const duplicates = new Map<string, { id: string; firstSeen: Date }>();
    const keyed = records.flatMap((record, i) => {
      const plan = plans[i];
      return record.dedupeKey !== undefined && plan?.kind === 'insert' ? [{ record, id: plan.id }] : [];
    });
    if (keyed.length > 0) {
      const claimed = await client.query<{ key: string }>(
        `WITH input AS (
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[]) AS t(key, message_id, first_seen, window_ms))
         INSERT INTO dedupe_keys AS d (key, message_id, first_seen)
         SELECT key, message_id, first_seen FROM input ORDER BY key
         ON CONFLICT (key) DO UPDATE SET message_id = EXCLUDED.message_id, first_seen = EXCLUDED.first_seen
         WHERE d.first_seen <= EXCLUDED.first_seen
           - (SELECT i.window_ms FROM input i WHERE i.key = EXCLUDED.key) * interval '1 millisecond'
         RETURNING key`,
        [keyed.map((k) => k.record.dedupeKey), keyed.map((k) => k.id), keyed.map((k) => k.record.receivedAt), keyed.map((k) => k.record.dedupeWindowMs ?? null)],
      );
      const won = new Set(claimed.rows.map((r) => r.key));
      const lost = keyed.map((k) => k.record.dedupeKey as string).filter((key) => !won.has(key));
      if (lost.length > 0) {
        const holders = await client.query<{ key: string; message_id: string; first_seen: Date }>(
          'SELECT key, message_id, first_seen FROM dedupe_keys WHERE key = ANY($1::text[])',
          [lost],
        );
        for (const row of holders.rows) duplicates.set(row.key, { id: row.message_id, firstSeen: row.first_seen });
      }
    }

    // 3. Insert the messages that are not duplicates, in one multi-row statement.
    const results: (IngestResult | undefined)[] = plans.map((plan, i) => {
      if (plan.kind !== 'insert') return undefined;
      const key = records[i]?.dedupeKey;
      const dup = key === undefined ? undefined : duplicates.get(key);
      return dup === undefined ? { kind: 'stored', id: plan.id } : { kind: 'duplicate', id: dup.id, firstSeen: dup.firstSeen };
    });
    const rows = records.flatMap((record, i) => {
      const result = results[i];
      return result?.kind === 'stored' ? [{ record, id: result.id }] : [];
    });
    if (rows.length > 0) await this.insertRows(client, rows, this.clock());

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

  /**
   * Inserts the stored rows with everything that belongs to them (patient ids, deliveries, first
   * events) in ONE statement of data-modifying CTEs: one round trip per batch whatever the outcome.
   * The foreign keys of patient ids and deliveries are checked at the end of the statement, when
   * the messages are there. unnest yields arrays in order and the insert draws `seq` in that order,
   * so deliveries are in enqueue order (record order, then each record's list), as
   * PostgresDeliveryQueue.enqueue does.
   */
  private async insertRows(client: pg.PoolClient, rows: readonly { record: IngestRecord; id: string }[], now: Date): Promise<void> {
    const params: unknown[] = [];
    const p = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const at = p(now);
    const ids = p(rows.map((r) => r.id));
    const statuses = rows.map((r) => initialStatus(r.record.outcome));
    const parts: string[] = [
      `m AS (INSERT INTO messages (id, channel_id, content, content_bytes, content_type, received_at, source, message_type,
         control_id, sending_facility, ordering_key, patient_ids, correlation_id, config_revision, status, status_reason, updated_at)
       SELECT id, channel_id, content, content_bytes, content_type, received_at, source, message_type,
         control_id, sending_facility, ordering_key, patient_ids::jsonb, correlation_id, config_revision, status, status_reason, ${at}::timestamptz
       FROM unnest(${ids}::text[], ${p(rows.map((r) => r.record.channelId))}::text[], ${p(rows.map((r) => r.record.content))}::text[],
         ${p(rows.map((r) => Buffer.byteLength(r.record.content, 'utf8')))}::int[], ${p(rows.map((r) => r.record.contentType))}::text[],
         ${p(rows.map((r) => r.record.receivedAt))}::timestamptz[], ${p(rows.map((r) => r.record.source))}::text[], ${p(rows.map((r) => r.record.messageType ?? null))}::text[],
         ${p(rows.map((r) => r.record.controlId ?? null))}::text[], ${p(rows.map((r) => r.record.sendingFacility ?? null))}::text[],
         ${p(rows.map((r) => r.record.orderingKey ?? null))}::text[], ${p(rows.map((r) => JSON.stringify(r.record.patientIds ?? [])))}::text[],
         ${p(rows.map((r) => r.record.correlationId))}::text[], ${p(rows.map((r) => r.record.configRevision))}::int[],
         ${p(statuses.map((s) => s.status))}::text[], ${p(statuses.map((s) => s.reason))}::text[])
         AS t(id, channel_id, content, content_bytes, content_type, received_at, source, message_type,
           control_id, sending_facility, ordering_key, patient_ids, correlation_id, config_revision, status, status_reason))`,
      // Full text follows the commit (postgres-fts-indexer.ts): only the id is queued here.
      `fq AS (INSERT INTO message_fts_pending (message_id) SELECT unnest(${ids}::text[]))`,
    ];
    const pairs = rows.flatMap((r) => [...new Set(r.record.patientIds ?? [])].map((patientId) => [r.id, patientId] as const));
    if (pairs.length > 0) {
      parts.push(`pi AS (INSERT INTO message_patient_ids (message_id, patient_id)
         SELECT * FROM unnest(${p(pairs.map((x) => x[0]))}::text[], ${p(pairs.map((x) => x[1]))}::text[]) ON CONFLICT DO NOTHING)`);
    }
    const deliveries = rows.flatMap((r) => (r.record.outcome?.kind === 'queued' ? r.record.outcome.deliveries.map((d) => ({ messageId: r.id, d })) : []));
    if (deliveries.length > 0) {
      parts.push(`d AS (INSERT INTO deliveries (id, message_id, destination, ordering_key, payload, idempotency_key, status, attempts,
           max_attempts, next_attempt_at, created_at, updated_at)
         SELECT id, message_id, destination, ordering_key, payload, idempotency_key, 'pending', 0, max_attempts, ${at}, ${at}, ${at}
         FROM unnest(${p(deliveries.map(() => newSortableId(now.getTime())))}::text[], ${p(deliveries.map((x) => x.messageId))}::text[],
           ${p(deliveries.map((x) => x.d.destination))}::text[], ${p(deliveries.map((x) => x.d.orderingKey ?? null))}::text[],
           ${p(deliveries.map((x) => x.d.payload))}::text[], ${p(deliveries.map((x) => x.d.idempotencyKey))}::text[], ${p(deliveries.map((x) => x.d.maxAttempts))}::int[])
           AS t(id, message_id, destination, ordering_key, payload, idempotency_key, max_attempts))`);
    }
    const events = rows.flatMap((r) => initialEvents(r.id, r.record.receivedAt, now, r.record.configRevision, r.record.outcome));
    const sql = `WITH ${parts.join(',\n')}
      INSERT INTO message_events (message_id, at, type, detail)
      SELECT message_id, at, type, detail::jsonb
      FROM unnest(${p(events.map((e) => e.messageId))}::text[], ${p(events.map((e) => e.at))}::timestamptz[], ${p(events.map((e) => e.type))}::text[],
        ${p(events.map((e) => (e.detail === undefined ? null : JSON.stringify(e.detail))))}::text[]) AS t(message_id, at, type, detail)`;
    await client.query(sql, params);
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
    const result = await queryRows<{ message_id: string; delivery_id: string | null; at: Date; type: string; detail: Record<string, string | number | boolean | null> | null }>(
      this.pool,
      'SELECT message_id, delivery_id, at, type, detail FROM message_events WHERE message_id = $1 ORDER BY at, id',
      [messageId],
    );
    return result.rows.map((row) => ({
      messageId: row.message_id,
      ...(row.delivery_id !== null ? { deliveryId: row.delivery_id } : {}),
      at: row.at,
      type: row.type,
      ...(row.detail !== null ? { detail: row.detail } : {}),
    }));
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
