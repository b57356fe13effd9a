import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import type { FailureClass } from '../../core/errors.ts';
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
import { GroupCommit } from './sqlite-group-commit.ts';
import { walSyncOf, type SqliteWalSync } from './sqlite-wal-sync.ts';
import { withRelaxedSync } from './sqlite-relaxed-sync.ts';
import { guarded, toStoreError } from './sqlite-store-errors.ts';

interface DeliveryRow {
  seq: number;
  id: string;
  message_id: string;
  destination: string;
  ordering_key: string | null;
  payload: string;
  idempotency_key: string;
  status: string;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  last_error_code: string | null;
  last_failure_class: string | null;
  created_at: number;
  updated_at: number;
}

/** The columns of a delivery that recording an outcome reads. */
type LeaseRow = Pick<
  DeliveryRow,
  'id' | 'message_id' | 'destination' | 'status' | 'attempts' | 'max_attempts' | 'next_attempt_at' | 'lease_owner' | 'last_error_code' | 'last_failure_class'
>;

interface AttemptRow {
  delivery_id: string;
  attempt: number;
  started_at: number;
  finished_at: number;
  outcome: string;
  error_code: string | null;
  response: string | null;
}

/** A bookkeeping flush writes at most this many complete/fail calls in one transaction. */
const MAX_BATCH = 256;

/** A complete/fail waiting for the next bookkeeping flush. */
interface PendingOutcome {
  /** The writes, run inside the shared transaction (in a savepoint of its own). */
  readonly step: () => void;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Counters for tests and metrics: how well bookkeeping group commit shares transactions. */
export interface SqliteBookkeepingStats {
  /** Flushes of the complete/fail queue. */
  readonly flushes: number;
  /** Bookkeeping transactions committed (claims included). */
  readonly transactions: number;
  /** complete/fail calls answered (resolved or rejected). */
  readonly outcomes: number;
}

/** Statuses that still count against a destination's depth. */
const UNFINISHED = `('pending', 'leased', 'failed', 'ambiguous')`;
/** The exception queue. */
const EXCEPTION = `('failed', 'ambiguous', 'parked')`;

const orUndefined = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

/**
 * The status the port reports. A claim leaves `status` as it was (`pending`) and only sets the
 * lease columns (ADR 0012), so a pending row with a lease owner is leased. Rows leased by earlier
 * versions carry `leased` itself, which still reads as leased.
 */
function statusOf(row: Pick<DeliveryRow, 'status' | 'lease_owner'>): DeliveryStatus {
  return row.status === 'pending' && row.lease_owner !== null ? 'leased' : (row.status as DeliveryStatus);
}

function deliveryOf(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    messageId: row.message_id,
    destination: row.destination,
    orderingKey: orUndefined(row.ordering_key),
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    status: statusOf(row),
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    nextAttemptAt: new Date(row.next_attempt_at),
    leaseOwner: orUndefined(row.lease_owner),
    leaseExpiresAt: row.lease_expires_at === null ? undefined : new Date(row.lease_expires_at),
    lastErrorCode: orUndefined(row.last_error_code),
    lastFailureClass: orUndefined(row.last_failure_class) as FailureClass | undefined,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function attemptOf(row: AttemptRow): DeliveryAttempt {
  return {
    deliveryId: row.delivery_id,
    attempt: row.attempt,
    startedAt: new Date(row.started_at),
    finishedAt: new Date(row.finished_at),
    outcome: row.outcome as DeliveryAttempt['outcome'],
    ...(row.error_code !== null ? { errorCode: row.error_code } : {}),
    ...(row.response !== null ? { response: row.response } : {}),
  };
}

/**
 * The delivery queue on SQLite, sharing the connection of SqliteMessageStore.
 *
 * Every write runs in `BEGIN IMMEDIATE`, which takes the database's one write lock up front: two
 * processes sharing the file serialize their claims, so a delivery is never leased twice
 * (and no deferred transaction has to upgrade its lock and fail with SQLITE_BUSY).
 *
 * Bookkeeping (claim, complete, fail) is cheap on purpose (docs/adr/0002): complete/fail calls made
 * in the same turn of the event loop share one transaction, each in its own savepoint so that a
 * lost lease rejects only its call; and bookkeeping commits run with `synchronous = NORMAL`, i.e.
 * without waiting for fsync. In WAL mode such a commit survives a process crash (the OS has the
 * pages) and becomes durable at the next FULL commit (ingest's, constantly) or checkpoint; a power
 * cut before that loses at most the outcome, and the delivery is sent again (invariant 2).
 */
export class SqliteDeliveryQueue implements DeliveryQueue {
  readonly #db: Database.Database;
  /** The ingest commits' WAL sync on this connection (sqlite-wal-sync.ts): a claim waits for it. */
  readonly #walSync: SqliteWalSync | undefined;
  readonly #clock: () => Date;
  readonly #stmt: {
    messageExists: Database.Statement<[string], { one: number }>;
    insert: Database.Statement<[string, string, string, string | null, string, string, number, number, number, number]>;
    get: Database.Statement<[string], DeliveryRow>;
    leaseRow: Database.Statement<[string], LeaseRow>;
    forMessage: Database.Statement<[string], DeliveryRow>;
    claimable: Database.Statement<[{ destination: string; now: number; limit: number }], DeliveryRow>;
    lease: Database.Statement<[string, number, number, string]>;
    finish: Database.Statement<[string, number, number, string | null, string | null, string, string]>;
    attemptInsert: Database.Statement<[{ id: string; startedAt: number; finishedAt: number; outcome: DeliveryAttempt['outcome']; errorCode: string | null; response: string | null }]>;
    deliveredAttemptInsert: Database.Statement<[{ id: string; startedAt: number; finishedAt: number; response: string | null; historySeq: number }]>;
    historySeq: Database.Statement<[], { seq: number }>;
    attempts: Database.Statement<[string], AttemptRow>;
    eventInsert: Database.Statement<[string, string, number, string, string]>;
    setMessage: Database.Statement<[string, string | null, number, string]>;
    refreshMessage: Database.Statement<[{ now: number; id: string }]>;
    deliver: Database.Statement<[number, string, string], { message_id: string }>;
    stats: Database.Statement<[string], { n: number; oldest: number | null }>;
    exceptions: Database.Statement<[number], DeliveryRow>;
    exceptionsFor: Database.Statement<[string, number], DeliveryRow>;
  };
  /** One complete/fail inside the shared transaction: a nested better-sqlite3 transaction is a SAVEPOINT. */
  readonly #savepoint: (step: () => void) => void;
  readonly #batches = new GroupCommit<PendingOutcome>(MAX_BATCH, (batch) => this.#writeBatch(batch));
  #transactions = 0;
  #outcomes = 0;

  constructor(db: Database.Database, options: { clock?: () => Date } = {}) {
    this.#db = db;
    this.#walSync = walSyncOf(db);
    this.#clock = options.clock ?? (() => new Date());
    this.#stmt = {
      messageExists: db.prepare('SELECT 1 AS one FROM messages WHERE id = ?'),
      insert: db.prepare(`INSERT INTO deliveries (id, message_id, destination, ordering_key, payload, idempotency_key, status, attempts, max_attempts,
          next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`),
      get: db.prepare('SELECT * FROM deliveries WHERE id = ?'),
      // What complete/fail need, without the payload: it is not read there, and copying it into a
      // JS string per outcome cost more than the rest of the row.
      leaseRow: db.prepare(`SELECT id, message_id, destination, status, attempts, max_attempts, next_attempt_at, lease_owner, last_error_code,
          last_failure_class FROM deliveries WHERE id = ?`),
      forMessage: db.prepare('SELECT * FROM deliveries WHERE message_id = ? ORDER BY seq'),
      // Claimable: pending with no lease or an expired one (a lease is its columns: ADR 0012; a
      // row leased by an earlier version has status 'leased' and its expiry set); due; and the
      // head of its key, i.e. no earlier delivery of the same (destination, ordering key) is
      // unfinished (invariant 4).
      // INDEXED BY: the seq-ordered walk must not depend on the planner's guess (migration 4).
      claimable: db.prepare(`SELECT d.* FROM deliveries d INDEXED BY deliveries_ready
        WHERE d.destination = @destination AND d.status IN ('pending', 'leased') AND d.next_attempt_at <= @now
          AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= @now)
          AND (d.ordering_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM deliveries e
            WHERE e.destination = d.destination AND e.ordering_key = d.ordering_key AND e.seq < d.seq
              AND e.status IN ('pending', 'leased', 'failed', 'ambiguous')))
        ORDER BY d.seq LIMIT @limit`),
      // The lease is the owner and expiry columns only; `status` stays `pending` (ADR 0012). Both
      // partial indexes of unfinished rows name `status` in their WHERE, so an UPDATE that set it
      // rewrote their entries (a page each per claim, ~8 us per row) to hold the same keys.
      lease: db.prepare(`UPDATE deliveries SET lease_owner = ?, lease_expires_at = ?, updated_at = ? WHERE id = ?`),
      finish: db.prepare(`UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, updated_at = ?, last_error_code = ?,
          last_failure_class = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?`),
      // Attempt numbers run over the delivery's whole life: an operator retry resets the budget
      // (Delivery.attempts), not the history.
      attemptInsert: db.prepare(`INSERT INTO delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error_code, response)
        SELECT @id, COALESCE(MAX(attempt), 0) + 1, @startedAt, @finishedAt, @outcome, @errorCode, @response FROM delivery_attempts WHERE delivery_id = @id`),
      // A success: the attempt row is also the `delivered` event (ADR 0012, migration 12). Its
      // place in the message's history is the number its event row would have had, drawn from
      // message_events' AUTOINCREMENT counter (migration 12 made sure the counter's row exists).
      deliveredAttemptInsert: db.prepare(`INSERT INTO delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome, error_code, response, history_seq)
        SELECT @id, COALESCE(MAX(attempt), 0) + 1, @startedAt, @finishedAt, 'delivered', NULL, @response, @historySeq FROM delivery_attempts WHERE delivery_id = @id`),
      historySeq: db.prepare(`UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'message_events' RETURNING seq`),
      attempts: db.prepare('SELECT delivery_id, attempt, started_at, finished_at, outcome, error_code, response FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt'),
      setMessage: db.prepare('UPDATE messages SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?'),
      // The message's status from its deliveries (see #refreshMessage), written only when it
      // changes (so updated_at keeps the time of the last change). One statement: it ran as a
      // GROUP BY read, a second read for the reason, and an UPDATE, per outcome. A message with
      // no deliveries (HAVING) is left alone.
      refreshMessage: db.prepare(`UPDATE messages SET status = s.status, status_reason = s.reason, updated_at = @now
        FROM (SELECT
            CASE WHEN MAX(status IN ${EXCEPTION}) THEN 'errored'
                 WHEN MAX(status IN ('pending', 'leased')) THEN 'queued'
                 WHEN MAX(status = 'resolved') THEN 'resolved'
                 ELSE 'delivered' END AS status,
            CASE WHEN MAX(status IN ${EXCEPTION}) THEN (SELECT f.last_error_code FROM deliveries f
              WHERE f.message_id = @id AND f.status IN ${EXCEPTION} ORDER BY f.seq LIMIT 1) END AS reason
          FROM deliveries WHERE message_id = @id HAVING COUNT(*) > 0) AS s
        WHERE messages.id = @id AND (messages.status IS NOT s.status OR messages.status_reason IS NOT s.reason)`),
      // complete(): the delivery row as a success leaves it, if `owner` holds the lease (status
      // `pending` with the owner set, or `leased` from an earlier version): one statement instead
      // of a read and a write; the message comes back with it.
      deliver: db.prepare(`UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, updated_at = ?, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = ? AND lease_owner = ? AND status IN ('pending', 'leased') RETURNING message_id`),
      // The same row SqliteMessageStore.appendEvent writes.
      eventInsert: db.prepare('INSERT INTO message_events (message_id, delivery_id, at, type, detail) VALUES (?, ?, ?, ?, ?)'),
      // The rows deliveries_blocking_by_key holds: its WHERE is this status list, word for word, which
      // is what lets the planner use a partial index (sqlite.org/partialindex.html 3.0).
      stats: db.prepare(`SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries WHERE destination = ? AND status IN ${UNFINISHED}`),
      // Through the partial exception indexes of migration 11 (the same status list as theirs).
      exceptions: db.prepare(`SELECT * FROM deliveries WHERE status IN ${EXCEPTION} ORDER BY seq LIMIT ?`),
      exceptionsFor: db.prepare(`SELECT * FROM deliveries WHERE destination = ? AND status IN ${EXCEPTION} ORDER BY seq LIMIT ?`),
    };
    this.#savepoint = db.transaction((step: () => void) => step());
  }

  /** Bookkeeping group-commit counters (tests, metrics). */
  bookkeepingStats(): SqliteBookkeepingStats {
    return { flushes: this.#batches.flushes, transactions: this.#transactions, outcomes: this.#outcomes };
  }

  /** Bookkeeping commits without fsync (ADR 0002). */
  #relaxed<T>(step: () => T): T {
    return withRelaxedSync(this.#db, step);
  }

  /** Queues a complete/fail for the next bookkeeping flush (group commit). */
  #outcome(step: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#batches.add({ step, resolve, reject });
    });
  }

  /** Writes every queued complete/fail: one relaxed transaction per batch, one savepoint per call. */
  #writeBatch(batch: PendingOutcome[]): void {
    let errors: Map<PendingOutcome, unknown>;
    try {
      errors = this.#relaxed(() => this.#db.transaction(() => this.#steps(batch)).immediate());
      this.#transactions++;
    } catch (error) {
      // BEGIN or COMMIT failed (busy, disk full, closed): nothing of the batch was written.
      this.#settle(batch, undefined, error);
      return;
    }
    this.#settle(batch, errors, undefined);
  }

  /** Runs each call's writes in its own savepoint of the open transaction; returns the calls that failed. */
  #steps(batch: readonly PendingOutcome[]): Map<PendingOutcome, unknown> {
    const errors = new Map<PendingOutcome, unknown>();
    for (const item of batch) {
      try {
        this.#savepoint(item.step);
      } catch (error) {
        // Rolled back to its savepoint: the others in the batch still commit.
        errors.set(item, error);
      }
    }
    return errors;
  }

  /** Answers a batch's callers once its transaction committed (`errors`) or failed as a whole (`failure`). */
  #settle(batch: readonly PendingOutcome[], errors: Map<PendingOutcome, unknown> | undefined, failure: unknown): void {
    this.#outcomes += batch.length;
    if (errors === undefined) {
      const storeError = toStoreError(failure);
      for (const item of batch) item.reject(storeError);
      return;
    }
    for (const item of batch) {
      const error = errors.get(item);
      if (error === undefined) item.resolve();
      else item.reject(toStoreError(error));
    }
  }

  /** Runs `step` in BEGIN IMMEDIATE, mapping driver errors to the registry. */
  #write<T>(step: () => T): T {
    return guarded(() => this.#db.transaction(step).immediate());
  }

  #mustGet(id: string): DeliveryRow {
    const row = this.#stmt.get.get(id);
    if (row === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'delivery', id });
    return row;
  }

  /**
   * The message's status follows its deliveries, in the same transaction as the delivery change:
   * any in the exception queue -> errored; else any pending or leased -> queued; else all
   * delivered -> delivered; else (some closed by an operator) -> resolved.
   */
  #refreshMessage(messageId: string, now: number): void {
    // The reason of an errored message is the error code of its first delivery in the exception queue.
    this.#stmt.refreshMessage.run({ now, id: messageId });
  }

  async enqueue(messageId: string, deliveries: readonly NewDelivery[]): Promise<Delivery[]> {
    for (const d of deliveries) {
      const reason = invalidDelivery(d);
      if (reason !== undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason });
    }
    return this.#write(() => {
      if (this.#stmt.messageExists.get(messageId) === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id: messageId });
      const now = this.#clock().getTime();
      const ids = deliveries.map((d) => {
        const id = newSortableId(now);
        this.#stmt.insert.run(id, messageId, d.destination, d.orderingKey ?? null, d.payload, d.idempotencyKey, d.maxAttempts, now, now, now);
        return id;
      });
      this.#stmt.setMessage.run('queued', null, now, messageId);
      return ids.map((id) => deliveryOf(this.#mustGet(id)));
    });
  }

  /** The `EXPLAIN QUERY PLAN` lines of the claim query (tests check its indexes). */
  explainClaim(): string[] {
    const sql = this.#stmt.claimable.source;
    return this.#db
      .prepare<[{ destination: string; now: number; limit: number }], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
      .all({ destination: 'x', now: 0, limit: 1 })
      .map((r) => r.detail);
  }

  /**
   * The `EXPLAIN QUERY PLAN` lines of every statement that reads deliveries, by statement name
   * (tests check that each reads through an index: migration 11 dropped the ones none used).
   */
  explainReads(): Record<string, string[]> {
    const args: Record<string, unknown[]> = {
      get: ['x'],
      leaseRow: ['x'],
      forMessage: ['x'],
      claimable: [{ destination: 'x', now: 0, limit: 1 }],
      refreshMessage: [{ now: 0, id: 'x' }],
      stats: ['x'],
      exceptions: [1],
      exceptionsFor: ['x', 1],
    };
    const stmts = this.#stmt as unknown as Record<string, Database.Statement>;
    return Object.fromEntries(
      Object.entries(args).map(([name, values]) => {
        const sql = stmts[name]?.source ?? '';
        const plan = this.#db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all(...values);
        return [name, plan.map((r) => r.detail)];
      }),
    );
  }

  async claim(request: ClaimRequest): Promise<Delivery[]> {
    if (!Number.isFinite(request.leaseMs) || request.leaseMs < 0) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: 'leaseMs must be a number >= 0' });
    if (!(request.limit >= 1)) return [];
    const now = (request.now ?? this.#clock()).getTime();
    const expires = now + request.leaseMs;
    // The complete/fail calls queued for the next flush are written first, in this transaction
    // (ADR 0012): a dispatcher claims as its sends settle, so outcomes are often waiting (flushes
    // of their own fell from ~2,400 to ~1,200 per 18,000 messages end to end), and one commit
    // instead of two writes the pages both touch once (the partial indexes of unfinished
    // deliveries, page 1). Written first, they also free their keys' next deliveries for this
    // claim. A lost lease still rejects only its own call (its savepoint).
    const outcomes = this.#batches.take();
    let errors: Map<PendingOutcome, unknown> | undefined;
    let claimed: Delivery[];
    try {
      claimed = this.#relaxed(() =>
        this.#write(() => {
          errors = outcomes.length > 0 ? this.#steps(outcomes) : undefined;
          const rows = this.#stmt.claimable.all({ destination: request.destination, now, limit: Math.floor(request.limit) });
          const stamp = this.#clock().getTime();
          for (const row of rows) this.#stmt.lease.run(request.owner, expires, stamp, row.id);
          return rows.map((row) => deliveryOf({ ...row, lease_owner: request.owner, lease_expires_at: expires, updated_at: stamp }));
        }),
      );
    } catch (error) {
      if (outcomes.length > 0) this.#settle(outcomes, undefined, error);
      throw error;
    }
    this.#transactions++;
    if (outcomes.length > 0) this.#settle(outcomes, errors ?? new Map(), undefined);
    // Ingest commits become durable a moment after they commit (sqlite-wal-sync.ts): a delivery
    // must not leave before its message is on disk, or a power cut could lose a message that was
    // already sent on (its sender, never ACKed, would send it again: a duplicate downstream).
    // It waits for the sync that covers the latest ingest commit, already started or queued, and
    // does not ask for one of its own: `durable()` here started a sync more whenever one was in
    // flight (~1 claim in 2 in the end-to-end benchmark: 3.4k WAL syncs for 2.4k ingest commits).
    // After a failed sync it asks for a new one, as before.
    const walSync = this.#walSync;
    if (claimed.length > 0 && walSync !== undefined) {
      const pending = walSync.pending();
      if (pending === 'failed') await walSync.durable();
      else if (pending !== undefined) await pending;
    }
    return claimed;
  }

  /** The delivery, if `owner` holds its lease; SWB_ERR_QUEUE_LEASE_LOST otherwise. */
  #leased(id: string, owner: string): LeaseRow {
    const row = this.#stmt.leaseRow.get(id);
    if (row === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'delivery', id });
    // The lease is checked by owner, not by expiry: a worker whose lease ran out may still finish
    // as long as nobody else claimed the delivery meanwhile.
    if (statusOf(row) !== 'leased' || row.lease_owner !== owner) throw new SwitchboardError('SWB_ERR_QUEUE_LEASE_LOST', { id, owner });
    return row;
  }

  complete(id: string, owner: string, outcome: AttemptOutcome): Promise<void> {
    return this.#outcome(() => {
      const now = this.#clock().getTime();
      const row = this.#stmt.deliver.get(now, id, owner);
      if (row === undefined) {
        // Not ours (or gone): says which, and throws; nothing was written.
        this.#leased(id, owner);
        throw new SwitchboardError('SWB_ERR_QUEUE_LEASE_LOST', { id, owner });
      }
      // The `delivered` event (destination, attempt, at finishedAt) is this attempt row itself:
      // SqliteMessageStore.events() reads it from there (ADR 0012).
      const historySeq = this.#stmt.historySeq.get()?.seq;
      if (historySeq === undefined) throw new SwitchboardError('SWB_ERR_STORE_UNAVAILABLE', { reason: 'the message_events counter is missing (migration 12)' });
      this.#stmt.deliveredAttemptInsert.run({ id, startedAt: outcome.startedAt.getTime(), finishedAt: outcome.finishedAt.getTime(), response: outcome.response ?? null, historySeq });
      this.#refreshMessage(row.message_id, now);
    });
  }

  fail(id: string, owner: string, outcome: FailureOutcome): Promise<void> {
    return this.#outcome(() => {
      const row = this.#leased(id, owner);
      const now = this.#clock().getTime();
      const attempt = row.attempts + 1;
      let status: DeliveryStatus;
      let attemptOutcome: DeliveryAttempt['outcome'];
      let nextAttemptAt = row.next_attempt_at;
      let failureClass = outcome.failureClass;
      if (outcome.failureClass === 'transient' && attempt < row.max_attempts) {
        // Attempts left: back to pending, due at the dispatcher's backoff time. Parking applies
        // only to a final failure.
        status = 'pending';
        attemptOutcome = 'retry';
        nextAttemptAt = outcome.retryAt?.getTime() ?? now;
      } else if (outcome.failureClass === 'ambiguous') {
        // The far side may have acted: review, never a blind retry (invariant 2).
        status = outcome.park === true ? 'parked' : 'ambiguous';
        attemptOutcome = 'ambiguous';
      } else {
        // Permanent, or transient with its attempts used up: a permanent failure now.
        failureClass = 'permanent';
        status = outcome.park === true ? 'parked' : 'failed';
        attemptOutcome = 'failed';
      }
      this.#stmt.finish.run(status, nextAttemptAt, now, outcome.errorCode, failureClass, id, owner);
      this.#stmt.attemptInsert.run({ id, startedAt: outcome.startedAt.getTime(), finishedAt: outcome.finishedAt.getTime(), outcome: attemptOutcome, errorCode: outcome.errorCode, response: outcome.response ?? null });
      this.#event(row, outcome.finishedAt, 'failed', {
        destination: row.destination,
        attempt,
        errorCode: outcome.errorCode,
        // As reported by the connector: a transient failure out of attempts says so here.
        failureClass: outcome.failureClass,
        result: status === 'pending' ? 'retry' : status === 'parked' ? 'parked' : attemptOutcome,
        ...(status === 'pending' ? { retryAt: new Date(nextAttemptAt).toISOString() } : {}),
      });
      this.#refreshMessage(row.message_id, now);
    });
  }

  /** Appends the outcome to the message's history, in the caller's transaction (ids and codes only). */
  #event(row: LeaseRow, at: Date, type: 'delivered' | 'failed', detail: Record<string, string | number>): void {
    this.#stmt.eventInsert.run(row.message_id, row.id, at.getTime(), type, JSON.stringify(detail));
  }

  async get(id: string): Promise<Delivery | undefined> {
    const row = guarded(() => this.#stmt.get.get(id));
    return row === undefined ? undefined : deliveryOf(row);
  }

  async forMessage(messageId: string): Promise<Delivery[]> {
    return guarded(() => this.#stmt.forMessage.all(messageId)).map(deliveryOf);
  }

  async attempts(deliveryId: string): Promise<DeliveryAttempt[]> {
    return guarded(() => this.#stmt.attempts.all(deliveryId)).map(attemptOf);
  }

  async exceptions(options: { destination?: string; limit?: number } = {}): Promise<Delivery[]> {
    const limit = options.limit === undefined ? -1 : Math.max(0, Math.floor(options.limit));
    const rows = guarded(() =>
      options.destination === undefined ? this.#stmt.exceptions.all(limit) : this.#stmt.exceptionsFor.all(options.destination, limit),
    );
    return rows.map(deliveryOf);
  }

  async retry(id: string, options: { payload?: string } = {}): Promise<void> {
    this.#write(() => {
      const row = this.#mustGet(id);
      if (row.status !== 'failed' && row.status !== 'ambiguous' && row.status !== 'parked') {
        throw new SwitchboardError('SWB_ERR_QUEUE_BAD_TRANSITION', { id, status: statusOf(row), action: 'retry' });
      }
      const now = this.#clock().getTime();
      this.#db
        .prepare(`UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, payload = ?, lease_owner = NULL, lease_expires_at = NULL,
            updated_at = ? WHERE id = ?`)
        .run(now, options.payload ?? row.payload, now, id);
      this.#refreshMessage(row.message_id, now);
    });
  }

  async resolve(id: string): Promise<void> {
    this.#write(() => {
      const row = this.#mustGet(id);
      const status = statusOf(row);
      // A leased delivery is in flight: its worker decides; delivered and resolved are final.
      if (status !== 'failed' && status !== 'ambiguous' && status !== 'parked' && status !== 'pending') {
        throw new SwitchboardError('SWB_ERR_QUEUE_BAD_TRANSITION', { id, status, action: 'resolve' });
      }
      const now = this.#clock().getTime();
      this.#db.prepare(`UPDATE deliveries SET status = 'resolved', lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?`).run(now, id);
      this.#refreshMessage(row.message_id, now);
    });
  }

  async stats(destination: string, now?: Date): Promise<QueueStats> {
    const row = guarded(() => this.#stmt.stats.get(destination));
    const at = (now ?? this.#clock()).getTime();
    const oldest = row?.oldest ?? null;
    return { destination, depth: row?.n ?? 0, oldestAgeMs: oldest === null ? 0 : Math.max(0, at - oldest) };
  }
}
