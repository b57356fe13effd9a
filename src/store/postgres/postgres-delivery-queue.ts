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
import type { MessageStatus } from '../../core/ports/message-store.ts';
import { invalidDelivery } from '../ingest-outcome.ts';
import { queryRows, withTransaction } from './postgres-transaction.ts';

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
const ENQUEUE_LOCK_CLASS = 0x5357_4202;

/**
 * Takes the transaction-scoped enqueue locks of every (destination, ordering key) lane the
 * deliveries use, so that `seq` order per key is commit order (see the class comment). Used by
 * enqueue and by an ingest that carries its deliveries (PostgresMessageStore).
 */
export async function lockEnqueueLanes(client: pg.ClientBase, deliveries: readonly NewDelivery[]): Promise<void> {
  const lanes = [...new Set(deliveries.filter((d) => d.orderingKey !== undefined).map((d) => `${d.destination}\u001f${d.orderingKey ?? ''}`))];
  if (lanes.length === 0) return;
  // Sorted, so that two transactions sharing lanes take the locks in one order (no deadlock).
  await client.query(`SELECT pg_advisory_xact_lock($1, h) FROM (SELECT DISTINCT hashtext(l) AS h FROM unnest($2::text[]) AS l ORDER BY 1) s`, [ENQUEUE_LOCK_CLASS, lanes]);
}

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
    const result = await bookkeeping(this.pool, (client) =>
      client.query<DeliveryRow>(
      `WITH candidates AS (
         SELECT d.seq FROM deliveries d
         WHERE d.destination = $1
           AND (d.status = 'pending' OR (d.status = 'leased' AND d.lease_expires_at <= $2))
           AND d.next_attempt_at <= $2
           AND (d.ordering_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM deliveries e
             WHERE e.destination = d.destination AND e.ordering_key = d.ordering_key AND e.seq < d.seq
               AND e.status NOT IN ('delivered', 'resolved', 'parked')))
         ORDER BY d.seq
         LIMIT $3
         FOR UPDATE SKIP LOCKED)
       UPDATE deliveries SET status = 'leased', lease_owner = $4, lease_expires_at = $5, updated_at = $2
       FROM candidates WHERE deliveries.seq = candidates.seq
       RETURNING deliveries.*`,
      [request.destination, now, limit, request.owner, expires],
      ),
    );
    return result.rows.sort(bySeq).map(toDelivery);
  }

  async complete(id: string, owner: string, outcome: AttemptOutcome): Promise<void> {
    const now = this.clock();
    await bookkeeping(this.pool, async (client) => {
      const row = await this.lockLeased(client, id, owner);
      const attempt = row.attempts + 1;
      await client.query(
        `UPDATE deliveries SET status = 'delivered', attempts = $2, lease_owner = NULL, lease_expires_at = NULL, updated_at = $3
         WHERE id = $1`,
        [id, attempt, now],
      );
      await this.recordAttempt(client, { deliveryId: id, attempt, startedAt: outcome.startedAt, finishedAt: outcome.finishedAt, outcome: 'delivered', ...(outcome.response !== undefined ? { response: outcome.response } : {}) });
      await this.recordEvent(client, row, outcome.finishedAt, 'delivered', { destination: row.destination, attempt });
      await this.syncMessageStatus(client, row.message_id, now);
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
    await client.query('SELECT 1 FROM messages WHERE id = $1 FOR UPDATE', [messageId]);
    const result = await client.query<{ total: string; open: string; resolved: string; bad_code: string | null; bad: string }>(
      `SELECT count(*) AS total,
         count(*) FILTER (WHERE status NOT IN ('delivered', 'resolved')) AS open,
         count(*) FILTER (WHERE status = 'resolved') AS resolved,
         count(*) FILTER (WHERE status IN ('failed', 'ambiguous', 'parked')) AS bad,
         (array_agg(last_error_code ORDER BY seq) FILTER (WHERE status IN ('failed', 'ambiguous', 'parked')))[1] AS bad_code
       FROM deliveries WHERE message_id = $1`,
      [messageId],
    );
    const row = result.rows[0];
    if (row === undefined || Number(row.total) === 0) return;
    let status: MessageStatus;
    let reason: string | null = null;
    if (Number(row.bad) > 0) {
      status = 'errored';
      reason = row.bad_code;
    } else if (Number(row.open) === 0) status = Number(row.resolved) > 0 ? 'resolved' : 'delivered';
    else status = 'queued';
    await client.query(
      `UPDATE messages SET status = $2, status_reason = $3, updated_at = $4
       WHERE id = $1 AND (status IS DISTINCT FROM $2 OR status_reason IS DISTINCT FROM $3)`,
      [messageId, status, reason, now],
    );
  }
}

/**
 * A bookkeeping transaction: `synchronous_commit = off` for this transaction only (SET LOCAL), so
 * COMMIT does not wait for the WAL flush (PostgreSQL 16 "Asynchronous Commit", 30.4). See the
 * class comment for why that is safe here.
 */
function bookkeeping<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withTransaction(pool, async (client) => {
    await client.query('SET LOCAL synchronous_commit = off');
    return body(client);
  });
}
