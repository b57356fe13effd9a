import type pg from 'pg';
import { SwitchboardError, type FailureClass } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import type {
  AttemptOutcome,
  ClaimRequest,
  Delivery,
  DeliveryAttempt,
  DeliveryQueue,
  DeliveryStatus,
  FailureOutcome,
  NewDelivery,
  QueueStats,
} from '../../core/ports/delivery-queue.ts';
import { invalidDelivery } from '../ingest-outcome.ts';
import { queryRows, toStoreError, withTransaction } from './postgres-transaction.ts';
import { SingleFlight } from '../../core/single-flight.ts';

interface DeliveryRow {
  seq: string;
  id: string;
  message_id: string;
  destination: string;
  ordering_key: string | null;
  payload: string;
  idempotency_key: string;
  status: DeliveryStatus;
  attempts: number;
  max_attempts: number;
  next_attempt_at: Date;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  last_error_code: string | null;
  last_failure_class: FailureClass | null;
  created_at: Date;
  updated_at: Date;
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    messageId: row.message_id,
    destination: row.destination,
    orderingKey: row.ordering_key ?? undefined,
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    nextAttemptAt: row.next_attempt_at,
    leaseOwner: row.lease_owner ?? undefined,
    leaseExpiresAt: row.lease_expires_at ?? undefined,
    lastErrorCode: row.last_error_code ?? undefined,
    lastFailureClass: row.last_failure_class ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const bySeq = (a: DeliveryRow, b: DeliveryRow): number => Number(BigInt(a.seq) - BigInt(b.seq));

// Advisory lock class for enqueue, second key hashtext(destination, ordering key).
export const ENQUEUE_LOCK_CLASS = 0x5357_4202;

/** The distinct ordered lanes (destination, ordering key) deliveries use, as lock names. */
export function enqueueLanes(deliveries: readonly NewDelivery[]): string[] {
  return [...new Set(deliveries.filter((d) => d.orderingKey !== undefined).map((d) => `${d.destination}\u001f${d.orderingKey ?? ''}`))];
}

/**
 * Takes the transaction-scoped enqueue locks of every (destination, ordering key) lane the
 * deliveries use, so that `seq` order per key is commit order (see the class comment). Used by
 * enqueue; an ingest that carries its deliveries takes the same locks inside its statement
 * (PostgresMessageStore).
 */
export async function lockEnqueueLanes(client: pg.ClientBase, deliveries: readonly NewDelivery[]): Promise<void> {
  const lanes = enqueueLanes(deliveries);
  if (lanes.length === 0) return;
  // Sorted, so that two transactions sharing lanes take the locks in one order (no deadlock).
  await client.query(`SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(l) AS h FROM unnest($2::text[]) AS l ORDER BY 1) s`, [ENQUEUE_LOCK_CLASS, lanes]);
}

/** A batch of completions writes at most this many calls in one transaction. */
const MAX_COMPLETE_BATCH = 256;

interface PendingCompletion {
  readonly id: string;
  readonly owner: string;
  readonly outcome: AttemptOutcome;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A batch of completions in one statement (inside its bookkeeping transaction): the deliveries
 * still leased by their caller are locked in id order (a lease lost meanwhile fails the recheck
 * after the lock wait, and the row drops out), marked delivered, their attempts and `delivered`
 * events inserted, and then their messages locked in id order, so that SYNC_STATUS_SQL, the next
 * statement, reads every sibling delivery committed before it. Locks go deliveries first, then
 * messages, as everywhere else in this class. Returns the ids completed and their messages.
 */
const COMPLETE_SQL = `WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[]) WITH ORDINALITY
      AS t(id, owner, started_at, finished_at, response, ord)),
  locked AS MATERIALIZED (
    SELECT d.id, d.message_id, d.destination, d.attempts + 1 AS attempt, i.started_at, i.finished_at, i.response, i.ord
    FROM deliveries d JOIN input i ON i.id = d.id
    WHERE d.status = 'leased' AND d.lease_owner = i.owner
    ORDER BY d.id
    FOR UPDATE OF d),
  done AS (
    UPDATE deliveries d SET status = 'delivered', attempts = l.attempt, lease_owner = NULL, lease_expires_at = NULL, updated_at = $6
    FROM locked l WHERE d.id = l.id),
  attempts AS (
    INSERT INTO delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error_code, response)
    SELECT l.id, l.attempt, l.started_at, l.finished_at, 'delivered', NULL, l.response FROM locked l ORDER BY l.ord),
  events AS (
    INSERT INTO message_events (message_id, delivery_id, at, type, detail)
    SELECT l.message_id, l.id, l.finished_at, 'delivered', jsonb_build_object('destination', l.destination, 'attempt', l.attempt)
    FROM locked l ORDER BY l.ord),
  message_locks AS (
    SELECT m.id FROM messages m WHERE m.id = ANY (ARRAY(SELECT l.message_id FROM locked l)) ORDER BY m.id FOR UPDATE)
  SELECT l.id, l.message_id FROM locked l WHERE (SELECT count(*) FROM message_locks) >= 0`;

/**
 * The messages' status from their deliveries (see syncMessageStatus), for several messages in one
 * statement; a message whose status and reason are already right is not written. Messages are
 * found by `id = ANY(...)` (and message_locks above by an array too): as a join or IN (subquery)
 * the planner, without statistics, read the whole messages table for each batch.
 */
const SYNC_STATUS_SQL = `WITH agg AS (
    SELECT message_id,
      count(*) FILTER (WHERE status NOT IN ('delivered', 'resolved')) AS open,
      count(*) FILTER (WHERE status = 'resolved') AS resolved,
      count(*) FILTER (WHERE status IN ('failed', 'ambiguous', 'parked')) AS bad,
      (array_agg(last_error_code ORDER BY seq) FILTER (WHERE status IN ('failed', 'ambiguous', 'parked')))[1] AS bad_code
    FROM deliveries WHERE message_id = ANY($1::text[]) GROUP BY message_id),
  target AS (
    SELECT message_id,
      CASE WHEN bad > 0 THEN 'errored' WHEN open > 0 THEN 'queued' WHEN resolved > 0 THEN 'resolved' ELSE 'delivered' END AS status,
      CASE WHEN bad > 0 THEN bad_code END AS reason
    FROM agg)
  UPDATE messages m SET status = t.status, status_reason = t.reason, updated_at = $2
  FROM target t
  WHERE m.id = ANY($1::text[]) AND m.id = t.message_id AND (m.status IS DISTINCT FROM t.status OR m.status_reason IS DISTINCT FROM t.reason)`;

/**
 * DeliveryQueue on PostgreSQL (ARCHITECTURE.md "Storage": several engine processes share it).
 *
 * FIFO per (destination, ordering key) follows the bigserial `seq`. Enqueues of one key are
 * serialized by a transaction-scoped advisory lock, so `seq` order per key is also commit order: a
 * claimer can never see a later delivery of a key committed before an earlier one.
 *
 * Claim locks rows with FOR UPDATE SKIP LOCKED. A row is a candidate only when every earlier row of
 * its key is finished; a leased row is unfinished, so while one worker holds a key's head nobody
 * can claim its successor, and two claimers racing for the head lock it at most once.
 *
 * Bookkeeping (claim, complete, fail) commits with `synchronous_commit = off` (docs/adr/0002): the
 * commit returns before the WAL is flushed; a server crash may lose the last fraction of a second
 * of outcomes (never corrupt them), and those deliveries are sent again (invariant 2). Ingest keeps
 * the server's setting, so an ACK still follows a durable commit (invariant 1).
 */
export class PostgresDeliveryQueue implements DeliveryQueue {
  /** Completion transactions committed so far (tests check that concurrent calls share them). */
  completeBatches = 0;
  private readonly completions: PendingCompletion[] = [];
  /** The loop that writes queued completions, one run at a time. */
  private readonly completing = new SingleFlight(
    () => this.completeLoop(),
    () => this.completions.length > 0,
  );

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async enqueue(messageId: string, deliveries: readonly NewDelivery[]): Promise<Delivery[]> {
    for (const d of deliveries) {
      const reason = invalidDelivery(d);
      if (reason !== undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
    }
    const now = this.clock();
    return withTransaction(this.pool, async (client) => {
      await lockEnqueueLanes(client, deliveries);
      const updated = await client.query("UPDATE messages SET status = 'queued', status_reason = NULL, updated_at = $2 WHERE id = $1", [messageId, now]);
      if (updated.rowCount === 0) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id: messageId });
      const created: Delivery[] = [];
      for (const d of deliveries) {
        const result = await client.query<DeliveryRow>(
          `INSERT INTO deliveries (id, message_id, destination, ordering_key, payload, idempotency_key, status, attempts,
             max_attempts, next_attempt_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $8, $8) RETURNING *`,
          [newSortableId(now.getTime()), messageId, d.destination, d.orderingKey ?? null, d.payload, d.idempotencyKey, d.maxAttempts, now],
        );
        const row = result.rows[0];
        if (row !== undefined) created.push(toDelivery(row));
      }
      return created;
    });
  }

  async claim(request: ClaimRequest): Promise<Delivery[]> {
    const now = request.now ?? this.clock();
    const limit = Math.max(0, Math.floor(request.limit));
    if (limit === 0) return [];
    const expires = new Date(now.getTime() + request.leaseMs);
    // One statement, its own transaction: one round trip instead of four (BEGIN, SET LOCAL, the
    // claim, COMMIT). set_config(..., true) is SET LOCAL as a function: it lasts to the end of the
    // statement's implicit transaction, so that commit does not wait for the WAL flush either
    // (bookkeeping, see the class comment); the filter on it makes it run before any row is locked.
    const result = await queryRows<DeliveryRow>(
      this.pool,
      `WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS v),
       candidates AS (
         SELECT d.seq FROM deliveries d
         WHERE d.destination = $1
           AND (d.status = 'pending' OR (d.status = 'leased' AND d.lease_expires_at <= $2))
           AND d.next_attempt_at <= $2
           AND (d.ordering_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM deliveries e
             WHERE e.destination = d.destination AND e.ordering_key = d.ordering_key AND e.seq < d.seq
               AND e.status NOT IN ('delivered', 'resolved', 'parked')))
           AND (SELECT v FROM async) IS NOT NULL
         ORDER BY d.seq
         LIMIT $3
         FOR UPDATE SKIP LOCKED)
       UPDATE deliveries SET status = 'leased', lease_owner = $4, lease_expires_at = $5, updated_at = $2
       FROM candidates WHERE deliveries.seq = candidates.seq
       RETURNING deliveries.*`,
      [request.destination, now, limit, request.owner, expires],
    );
    return result.rows.sort(bySeq).map(toDelivery);
  }

  /**
   * Group commit of outcomes (the port allows it): concurrent calls queue up and are written
   * together, one transaction per batch (COMPLETE_SQL, then the messages' status), each promise
   * settling after that commit. A call whose lease is lost rejects alone; if the batch fails, its
   * calls are retried one per transaction so that one bad call fails alone.
   */
  complete(id: string, owner: string, outcome: AttemptOutcome): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.completions.push({ id, owner, outcome, resolve, reject });
      this.completing.start();
    });
  }

  private async completeLoop(): Promise<void> {
    // Yield once so that the completions of one turn of the event loop share the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.completions.length > 0) {
      // A delivery completed twice at once (one owner): the second call waits for the next batch,
      // where it finds the lease gone, as it would one call after the other.
      const batch: PendingCompletion[] = [];
      const later: PendingCompletion[] = [];
      const ids = new Set<string>();
      for (const item of this.completions.splice(0, MAX_COMPLETE_BATCH)) {
        if (ids.has(item.id)) later.push(item);
        else {
          ids.add(item.id);
          batch.push(item);
        }
      }
      this.completions.unshift(...later);
      await this.writeCompletions(batch);
    }
  }

  private async writeCompletions(batch: readonly PendingCompletion[]): Promise<void> {
    let done: Set<string>;
    try {
      done = await this.completeBatch(batch);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(toStoreError(error));
        return;
      }
      for (const item of batch) await this.writeCompletions([item]);
      return;
    }
    const missed = batch.filter((item) => !done.has(item.id));
    let existing = new Set<string>();
    if (missed.length > 0) {
      try {
        const found = await queryRows<{ id: string }>(this.pool, 'SELECT id FROM deliveries WHERE id = ANY($1::text[])', [missed.map((m) => m.id)]);
        existing = new Set(found.rows.map((r) => r.id));
      } catch (error) {
        for (const item of missed) item.reject(toStoreError(error));
        for (const item of batch) if (done.has(item.id)) item.resolve();
        return;
      }
    }
    for (const item of batch) {
      if (done.has(item.id)) item.resolve();
      else if (existing.has(item.id)) item.reject(new SwitchboardError('SWB_ERR_QUEUE_LEASE_LOST', { id: item.id, owner: item.owner }));
      else item.reject(new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'delivery', id: item.id }));
    }
  }

  /** One bookkeeping transaction for a batch of completions; returns the ids whose lease held. */
  private async completeBatch(batch: readonly PendingCompletion[]): Promise<Set<string>> {
    const now = this.clock();
    return bookkeeping(this.pool, async (client) => {
      // Not a named statement: a plan cached early, while the tables were small, read the whole
      // messages table per batch for the rest of the run (a seq scan; no ANALYZE yet to replace the
      // plan). Planned per batch, it follows the tables as they grow.
      const result = await client.query<{ id: string; message_id: string }>({
        text: COMPLETE_SQL,
        values: [
          batch.map((c) => c.id),
          batch.map((c) => c.owner),
          batch.map((c) => c.outcome.startedAt),
          batch.map((c) => c.outcome.finishedAt),
          batch.map((c) => c.outcome.response ?? null),
          now,
        ],
      });
      await this.syncMessageStatuses(client, [...new Set(result.rows.map((r) => r.message_id))], now, false);
      return new Set(result.rows.map((r) => r.id));
    }).then((done) => {
      this.completeBatches++;
      return done;
    });
  }

  async fail(id: string, owner: string, outcome: FailureOutcome): Promise<void> {
    const now = this.clock();
    await bookkeeping(this.pool, async (client) => {
      const row = await this.lockLeased(client, id, owner);
      const attempt = row.attempts + 1;
      let status: DeliveryStatus;
      let recorded: DeliveryAttempt['outcome'];
      let failureClass: FailureClass = outcome.failureClass;
      if (outcome.failureClass === 'transient' && attempt < row.max_attempts) {
        status = 'pending';
        recorded = 'retry';
      } else if (outcome.failureClass === 'ambiguous') {
        status = outcome.park === true ? 'parked' : 'ambiguous';
        recorded = 'ambiguous';
      } else {
        // permanent, or transient with its attempts used up: a permanent failure.
        failureClass = 'permanent';
        status = outcome.park === true ? 'parked' : 'failed';
        recorded = 'failed';
      }
      const nextAttemptAt = status === 'pending' ? (outcome.retryAt ?? now) : row.next_attempt_at;
      await client.query(
        `UPDATE deliveries SET status = $2, attempts = $3, next_attempt_at = $4, lease_owner = NULL, lease_expires_at = NULL,
           last_error_code = $5, last_failure_class = $6, updated_at = $7
         WHERE id = $1`,
        [id, status, attempt, nextAttemptAt, outcome.errorCode, failureClass, now],
      );
      await this.recordAttempt(client, {
        deliveryId: id,
        attempt,
        startedAt: outcome.startedAt,
        finishedAt: outcome.finishedAt,
        outcome: recorded,
        errorCode: outcome.errorCode,
        ...(outcome.response !== undefined ? { response: outcome.response } : {}),
      });
      await this.recordEvent(client, row, outcome.finishedAt, 'failed', {
        destination: row.destination,
        attempt,
        errorCode: outcome.errorCode,
        // As reported by the connector: a transient failure out of attempts says so here.
        failureClass: outcome.failureClass,
        result: status === 'parked' ? 'parked' : recorded,
        ...(status === 'pending' ? { retryAt: nextAttemptAt.toISOString() } : {}),
      });
      if (status !== 'pending') await this.syncMessageStatus(client, row.message_id, now);
    });
  }

  async get(id: string): Promise<Delivery | undefined> {
    const result = await queryRows<DeliveryRow>(this.pool, 'SELECT * FROM deliveries WHERE id = $1', [id]);
    const row = result.rows[0];
    return row === undefined ? undefined : toDelivery(row);
  }

  async forMessage(messageId: string): Promise<Delivery[]> {
    const result = await queryRows<DeliveryRow>(this.pool, 'SELECT * FROM deliveries WHERE message_id = $1 ORDER BY seq', [messageId]);
    return result.rows.map(toDelivery);
  }

  async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    const result = await queryRows<{
      delivery_id: string;
      attempt: number;
      started_at: Date;
      finished_at: Date;
      outcome: DeliveryAttempt['outcome'];
      error_code: string | null;
      response: string | null;
    }>(this.pool, 'SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id', [deliveryId]);
    return result.rows.map((row) => ({
      deliveryId: row.delivery_id,
      attempt: row.attempt,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      outcome: row.outcome,
      ...(row.error_code !== null ? { errorCode: row.error_code } : {}),
      ...(row.response !== null ? { response: row.response } : {}),
    }));
  }

  async exceptions(options: { destination?: string; limit?: number } = {}): Promise<Delivery[]> {
    const limit = Math.min(1000, Math.max(1, Math.floor(options.limit ?? 100)));
    const result = await queryRows<DeliveryRow>(
      this.pool,
      `SELECT * FROM deliveries
       WHERE status IN ('failed', 'ambiguous', 'parked') AND ($1::text IS NULL OR destination = $1)
       ORDER BY seq LIMIT $2`,
      [options.destination ?? null, limit],
    );
    return result.rows.map(toDelivery);
  }

  async retry(id: string, options: { payload?: string } = {}): Promise<void> {
    const now = this.clock();
    await withTransaction(this.pool, async (client) => {
      const row = await this.lockRow(client, id);
      if (row.status !== 'failed' && row.status !== 'ambiguous' && row.status !== 'parked') {
        throw new SwitchboardError('SWB_ERR_QUEUE_BAD_TRANSITION', { id, status: row.status, action: 'retry' });
      }
      await client.query(
        `UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_owner = NULL, lease_expires_at = NULL,
           payload = COALESCE($3, payload), updated_at = $2
         WHERE id = $1`,
        [id, now, options.payload ?? null],
      );
      await this.syncMessageStatus(client, row.message_id, now);
    });
  }

  async resolve(id: string): Promise<void> {
    const now = this.clock();
    await withTransaction(this.pool, async (client) => {
      const row = await this.lockRow(client, id);
      if (row.status === 'delivered' || row.status === 'resolved') {
        throw new SwitchboardError('SWB_ERR_QUEUE_BAD_TRANSITION', { id, status: row.status, action: 'resolve' });
      }
      await client.query(
        "UPDATE deliveries SET status = 'resolved', lease_owner = NULL, lease_expires_at = NULL, updated_at = $2 WHERE id = $1",
        [id, now],
      );
      await this.syncMessageStatus(client, row.message_id, now);
    });
  }

  async stats(destination: string, now: Date = this.clock()): Promise<QueueStats> {
    const result = await queryRows<{ depth: string; oldest: Date | null }>(
      this.pool,
      `SELECT count(*) AS depth, min(created_at) AS oldest FROM deliveries
       WHERE destination = $1 AND status IN ('pending', 'leased', 'failed', 'ambiguous')`,
      [destination],
    );
    const row = result.rows[0];
    const oldest = row?.oldest ?? null;
    return {
      destination,
      depth: Number(row?.depth ?? 0),
      oldestAgeMs: oldest === null ? 0 : Math.max(0, now.getTime() - oldest.getTime()),
    };
  }

  private async lockRow(client: pg.PoolClient, id: string): Promise<DeliveryRow> {
    const result = await client.query<DeliveryRow>('SELECT * FROM deliveries WHERE id = $1 FOR UPDATE', [id]);
    const row = result.rows[0];
    if (row === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'delivery', id });
    return row;
  }

  /** Locks the delivery only if `owner` holds its lease (the conditional the lease rule needs). */
  private async lockLeased(client: pg.PoolClient, id: string, owner: string): Promise<DeliveryRow> {
    const result = await client.query<DeliveryRow>("SELECT * FROM deliveries WHERE id = $1 AND status = 'leased' AND lease_owner = $2 FOR UPDATE", [id, owner]);
    const row = result.rows[0];
    if (row !== undefined) return row;
    const exists = await client.query('SELECT 1 FROM deliveries WHERE id = $1', [id]);
    if (exists.rowCount === 0) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'delivery', id });
    throw new SwitchboardError('SWB_ERR_QUEUE_LEASE_LOST', { id, owner });
  }

  private async recordAttempt(client: pg.PoolClient, attempt: DeliveryAttempt): Promise<void> {
    await client.query(
      `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error_code, response)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [attempt.deliveryId, attempt.attempt, attempt.startedAt, attempt.finishedAt, attempt.outcome, attempt.errorCode ?? null, attempt.response ?? null],
    );
  }

  /** Appends the outcome to the message's history in the same transaction (ids and codes only). */
  private async recordEvent(client: pg.PoolClient, row: DeliveryRow, at: Date, type: 'delivered' | 'failed', detail: Record<string, string | number>): Promise<void> {
    await client.query('INSERT INTO message_events (message_id, delivery_id, at, type, detail) VALUES ($1, $2, $3, $4, $5)', [row.message_id, row.id, at, type, JSON.stringify(detail)]);
  }

  /**
   * The message's status follows its deliveries: any failed/ambiguous/parked -> errored; all
   * delivered -> delivered (resolved when an operator closed some); otherwise queued. The message
   * row is locked first and the deliveries read by a later statement, so two deliveries of one
   * message finishing at once see each other's result (READ COMMITTED takes a snapshot per statement).
   */
  private async syncMessageStatus(client: pg.PoolClient, messageId: string, now: Date): Promise<void> {
    await this.syncMessageStatuses(client, [messageId], now, true);
  }

  /**
   * syncMessageStatus for several messages: `lock` false when the caller's statement already
   * locked their rows (COMPLETE_SQL does, after the deliveries, in id order).
   */
  private async syncMessageStatuses(client: pg.PoolClient, messageIds: readonly string[], now: Date, lock: boolean): Promise<void> {
    if (messageIds.length === 0) return;
    if (lock) await client.query('SELECT 1 FROM messages WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [messageIds]);
    // Unnamed, as COMPLETE_SQL: planned with the ids and tables at hand.
    await client.query(SYNC_STATUS_SQL, [messageIds, now]);
  }
}

/**
 * A bookkeeping transaction: `synchronous_commit = off` for this transaction only (SET LOCAL), so
 * COMMIT does not wait for the WAL flush (PostgreSQL 16 "Asynchronous Commit", 30.4). See the
 * class comment for why that is safe here.
 */
function bookkeeping<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  // One simple query opens the transaction and sets it: one round trip.
  return withTransaction(pool, body, 'BEGIN; SET LOCAL synchronous_commit = off');
}
