import type Database from 'better-sqlite3';
import { SwitchboardError } from '../../core/errors.ts';
import { newSortableId } from '../../core/ids.ts';
import type {
  CreateProposalOutcome,
  EhrWriteResult,
  LedgerEntry,
  NewProposal,
  Proposal,
  ProposalActor,
  ProposalEvent,
  ProposalPage,
  ProposalQuery,
  ProposalState,
  ProposalStore,
  ProposalTransition,
  ProposedChange,
  TransitionOutcome,
  WriteLedger,
} from '../../core/ports/proposal-store.ts';
import { eventActor } from '../../core/ports/proposal-store.ts';
import {
  checkDriftChecks,
  checkLease,
  checkLedgerBegin,
  checkLedgerSettle,
  checkNewProposal,
  checkQuery,
  checkTransition,
  clampLimit,
  decodeProposalCursor,
  encodeProposalCursor,
  EVENTS_DEFAULT_LIMIT,
  EVENTS_MAX_LIMIT,
  newProposalValues,
  PROPOSAL_DEFAULT_LIMIT,
  PROPOSAL_MAX_LIMIT,
  resultFromJson,
  resultToJson,
} from '../proposal-rows.ts';
import { SqliteStatementCache } from './sqlite-statement-cache.ts';
import { GroupCommit } from './sqlite-group-commit.ts';
import { withRelaxedSync } from './sqlite-relaxed-sync.ts';
import { guarded, toStoreError } from './sqlite-store-errors.ts';
import { walSyncOf, type SqliteWalSync } from './sqlite-wal-sync.ts';

interface ProposalRow {
  id: string;
  tenant: string;
  ehr: string;
  patient: string;
  change: string;
  approved_change: string | null;
  actor: string;
  actor_id: string;
  purpose_of_use: string;
  idempotency_key: string;
  correlation_id: string;
  state: string;
  revision: number;
  policy: string | null;
  result: string | null;
  attempts: number;
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
}

interface EventRow {
  seq: number;
  id: string;
  proposal_id: string;
  at: number;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string | null;
  detail: string | null;
}

interface LedgerRow {
  seq: number;
  id: string;
  proposal_id: string;
  attempt: number;
  ehr: string;
  idempotency_key: string;
  request: string;
  started_at: number;
  outcome: string;
  settled_at: number | null;
  response: string | null;
  result: string | null;
}

function proposalOf(row: ProposalRow): Proposal {
  return {
    id: row.id,
    tenant: row.tenant,
    ehr: row.ehr,
    patient: row.patient,
    change: JSON.parse(row.change) as ProposedChange,
    ...(row.approved_change === null ? {} : { approvedChange: JSON.parse(row.approved_change) as ProposedChange }),
    actor: JSON.parse(row.actor) as ProposalActor,
    purposeOfUse: row.purpose_of_use,
    idempotencyKey: row.idempotency_key,
    correlationId: row.correlation_id,
    state: row.state as ProposalState,
    revision: row.revision,
    ...(row.policy === null ? {} : { policy: JSON.parse(row.policy) as Record<string, unknown> }),
    ...(row.result === null ? {} : { result: resultFromJson(JSON.parse(row.result)) }),
    attempts: row.attempts,
    ...(row.next_attempt_at === null ? {} : { nextAttemptAt: new Date(row.next_attempt_at) }),
    ...(row.lease_owner === null ? {} : { leaseOwner: row.lease_owner }),
    ...(row.lease_until === null ? {} : { leaseUntil: new Date(row.lease_until) }),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function eventOf(row: EventRow): ProposalEvent {
  return {
    id: row.id,
    proposalId: row.proposal_id,
    at: new Date(row.at),
    ...(row.from_state === null ? {} : { from: row.from_state as ProposalState }),
    to: row.to_state as ProposalState,
    actor: row.actor,
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.detail === null ? {} : { detail: JSON.parse(row.detail) as Record<string, unknown> }),
  };
}

function ledgerOf(row: LedgerRow): LedgerEntry {
  return {
    id: row.id,
    proposalId: row.proposal_id,
    attempt: row.attempt,
    ehr: row.ehr,
    idempotencyKey: row.idempotency_key,
    request: row.request,
    startedAt: new Date(row.started_at),
    outcome: row.outcome as LedgerEntry['outcome'],
    ...(row.settled_at === null ? {} : { settledAt: new Date(row.settled_at) }),
    ...(row.response === null ? {} : { response: JSON.parse(row.response) as Record<string, unknown> }),
    ...(row.result === null ? {} : { result: resultFromJson(JSON.parse(row.result)) }),
  };
}

const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
const resultJson = (result: EhrWriteResult | undefined): string | null => (result === undefined ? null : JSON.stringify(resultToJson(result)));

/** At most this many writes share one commit; more queued in one turn are written batch by batch. */
const MAX_BATCH = 64;
/** Prepared statements kept per connection (the list query's SQL varies with its filters). */
const STATEMENT_CACHE = 64;

interface QueuedWrite {
  readonly step: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The writes of the proposal store and its ledger (create, transition, ledger begin and settle),
 * group-committed: the calls made in one turn of the event loop run in ONE `BEGIN IMMEDIATE`
 * transaction, in the order they were made, each inside a savepoint of its own, and share its
 * COMMIT, i.e. one fsync of the WAL with `synchronous=FULL` (sqlite-group-commit.ts; the same
 * pattern as ingest). Every promise settles only after that COMMIT is on disk, so a caller that
 * awaited a ledger begin or a transition holds a durable record, exactly as with one transaction
 * per call.
 *
 * On a file in WAL mode with FULL sync the fsync is the WAL sync's (sqlite-wal-sync.ts, ADR 0007):
 * the batch commits with NORMAL and its promises settle after an fdatasync of the WAL on the thread
 * pool, and a batch waits for the sync in flight before it commits. The fsync used to run inside
 * COMMIT on the event loop: under write-back load a third of the loop's time was spent there, and
 * every request and EHR response waited behind it. What a later batch reads (committed, maybe not
 * yet synced) can only be lost together with it: the WAL is replayed in order, up to its last
 * synced frame.
 *
 * The compare-and-set semantics are those of one transaction per call: the items run one after the
 * other on the one connection, so each reads what the ones before it in the batch wrote; an item
 * that throws (a ledger entry already settled) is rolled back to its savepoint alone, and the
 * others still commit. A failure of the database as a whole (BEGIN or COMMIT refused, or SQLite
 * rolling the whole transaction back on I/O error or a full disk) rejects every item of the batch:
 * none of them is durable. With writes from several engine processes on one file (a lease taken
 * over), the write lock is held from BEGIN IMMEDIATE, before any state is read, so the CAS holds
 * across processes too (sqlite.org/lang_transaction.html).
 */
class SqliteProposalWrites {
  readonly #db: Database.Database;
  readonly #statements: SqliteStatementCache;
  readonly #batches = new GroupCommit<QueuedWrite>(
    MAX_BATCH,
    (batch) => this.#commit(batch),
    (then) => (this.#walSync === undefined ? then() : this.#walSync.afterInFlight(then)),
  );
  /** The commit's fsync on the thread pool; undefined: COMMIT syncs itself (memory, NORMAL chosen). */
  readonly #walSync: SqliteWalSync | undefined;
  /** The whole batch: BEGIN IMMEDIATE ... COMMIT. */
  readonly #batch: Database.Transaction<(batch: QueuedWrite[]) => Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>>;
  /** One item: called inside the batch, better-sqlite3 runs it in a savepoint. */
  readonly #item: Database.Transaction<(step: () => unknown) => unknown>;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#walSync = walSyncOf(db);
    this.#statements = new SqliteStatementCache(db, STATEMENT_CACHE);
    this.#item = db.transaction((step: () => unknown) => step());
    this.#batch = db.transaction((batch: QueuedWrite[]) =>
      batch.map((w) => {
        try {
          return { ok: true as const, value: this.#item(w.step) };
        } catch (error) {
          // SQLite rolls the whole transaction back on some errors (SQLITE_FULL, IOERR, BUSY, NOMEM:
          // sqlite.org/lang_transaction.html "Response To Errors Within A Transaction"): what the
          // items before wrote is gone, so the batch fails as a whole rather than report it done.
          if (!this.#db.inTransaction) throw error;
          return { ok: false as const, error };
        }
      }),
    );
  }

  /** Group commits written so far (tests, diagnostics). */
  get flushes(): number {
    return this.#batches.flushes;
  }

  /** Queues a write; it runs at the end of this turn with the others queued, and settles after their COMMIT. */
  run<T>(step: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#batches.add({ step, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Writes everything queued now (before the connection is closed, tests). */
  flush(): void {
    this.#batches.flush();
  }

  /** A statement prepared once per connection (sqlite-statement-cache.ts). */
  prepare<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    return this.#statements.get<P, R>(sql);
  }

  #commit(batch: QueuedWrite[]): void {
    let outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
    const sync = this.#walSync;
    try {
      outcomes = sync === undefined ? this.#batch.immediate(batch) : withRelaxedSync(this.#db, () => this.#batch.immediate(batch));
    } catch (error) {
      const failed = toStoreError(error);
      for (const w of batch) w.reject(failed);
      return;
    }
    const settle = (): void =>
      batch.forEach((w, i) => {
        const o = outcomes[i];
        if (o?.ok === true) w.resolve(o.value);
        else w.reject(toStoreError(o?.error));
      });
    if (sync === undefined) {
      settle();
      return;
    }
    sync.durable().then(settle, (error: unknown) => {
      // Committed but maybe not on disk: nothing of the batch may be reported done.
      const failed = toStoreError(error);
      for (const w of batch) w.reject(failed);
    });
  }
}

/** The writes shared by a proposal store and its ledger, per connection (one group commit for both). */
const writesOf = new WeakMap<Database.Database, SqliteProposalWrites>();

function writesFor(db: Database.Database): SqliteProposalWrites {
  let writes = writesOf.get(db);
  if (writes === undefined) {
    writes = new SqliteProposalWrites(db);
    writesOf.set(db, writes);
  }
  return writes;
}

/**
 * The proposal store on SQLite, in the engine's main database (migration 7). Writes are
 * group-committed (SqliteProposalWrites above): each call is still all-or-nothing and durable
 * before its promise settles, and the compare-and-set of a transition runs under the write lock.
 */
export class SqliteProposalStore implements ProposalStore {
  readonly #clock: () => Date;
  readonly #writes: SqliteProposalWrites;
  readonly ledger: WriteLedger;

  constructor(db: Database.Database, options: { clock?: () => Date } = {}) {
    this.#clock = options.clock ?? (() => new Date());
    this.#writes = writesFor(db);
    this.ledger = new SqliteWriteLedger(db, this.#clock);
  }

  /** Group commits written so far by this connection's proposal writes (tests, diagnostics). */
  get flushes(): number {
    return this.#writes.flushes;
  }

  /**
   * Writes the queued writes now. Without it they are written at the end of the current turn; one
   * still queued when the connection has closed is rejected (SWB_ERR_STORE_UNAVAILABLE), never lost
   * silently.
   */
  flush(): void {
    this.#writes.flush();
  }

  async create(input: NewProposal): Promise<CreateProposalOutcome> {
    checkNewProposal(input);
    const at = (input.at ?? this.#clock()).getTime();
    const id = input.id ?? newSortableId(at);
    return this.#writes.run((): CreateProposalOutcome => {
      // Only the idempotency key is an expected conflict; a taken id is the caller's error.
      const inserted = this.#writes
        .prepare(
          `INSERT INTO proposals (id, tenant, ehr, patient, change, actor, actor_id, purpose_of_use, idempotency_key, correlation_id,
             state, revision, policy, attempts, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 0, ?, ?)
           ON CONFLICT (tenant, actor_id, idempotency_key) DO NOTHING`,
        )
        .run(...newProposalValues(id, input, json), at, at);
      if (inserted.changes === 0) {
        const existing = this.#writes
          .prepare<[string, string, string], ProposalRow>('SELECT * FROM proposals WHERE tenant = ? AND actor_id = ? AND idempotency_key = ?')
          .get(input.tenant, input.actor.id, input.idempotencyKey);
        if (existing === undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: 'the idempotency key conflicted but no proposal holds it' });
        return { kind: 'existing', proposal: proposalOf(existing) };
      }
      // Creation is the first event, with no `from` (ProposalEvent.from).
      this.#insertEvent({ proposalId: id, at, from: null, to: input.state, actor: eventActor(input.actor) });
      return { kind: 'created', proposal: proposalOf(this.#row(id) as ProposalRow) };
    });
  }

  async get(id: string): Promise<Proposal | undefined> {
    const row = guarded(() => this.#row(id));
    return row === undefined ? undefined : proposalOf(row);
  }

  async list(query: ProposalQuery = {}): Promise<ProposalPage> {
    checkQuery(query);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.states !== undefined) {
      if (query.states.length === 0) return { items: [] };
      where.push(`state IN (${query.states.map(() => '?').join(', ')})`);
      params.push(...query.states);
    }
    for (const [column, value] of [
      ['tenant', query.tenant],
      ['ehr', query.ehr],
      ['patient', query.patient],
      ['correlation_id', query.correlationId],
    ] as const) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    if (query.dueBefore !== undefined) {
      where.push('coalesce(next_attempt_at, updated_at) <= ?');
      params.push(query.dueBefore.getTime());
    }
    if (query.leaseExpiredBefore !== undefined) {
      where.push('(lease_until IS NULL OR lease_until <= ?)');
      params.push(query.leaseExpiredBefore.getTime());
    }
    // The sort key: creation time, or (oldest first with dueBefore) the due time; the keyset cursor
    // holds the last item's (key, id) and continues in the same direction.
    const oldest = query.order === 'oldest';
    const key = oldest && query.dueBefore !== undefined ? 'coalesce(next_attempt_at, updated_at)' : 'created_at';
    const keyOf = (row: ProposalRow): number => (key === 'created_at' ? row.created_at : (row.next_attempt_at ?? row.updated_at));
    if (query.cursor !== undefined) {
      const after = decodeProposalCursor(query.cursor);
      const cmp = oldest ? '>' : '<';
      where.push(`(${key} ${cmp} ? OR (${key} = ? AND id ${cmp} ?))`);
      params.push(after.createdAtMs, after.createdAtMs, after.id);
    }
    const dir = oldest ? 'ASC' : 'DESC';
    const limit = clampLimit(query.limit, PROPOSAL_DEFAULT_LIMIT, PROPOSAL_MAX_LIMIT);
    const sql = `SELECT * FROM proposals ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY ${key} ${dir}, id ${dir} LIMIT ?`;
    const rows = guarded(() => this.#writes.prepare<(string | number)[], ProposalRow>(sql).all(...params, limit + 1));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(proposalOf),
      ...(rows.length > limit && last !== undefined ? { nextCursor: encodeProposalCursor(keyOf(last), last.id) } : {}),
    };
  }

  async transition(id: string, transition: ProposalTransition): Promise<TransitionOutcome> {
    const from = checkTransition(transition);
    const at = (transition.at ?? this.#clock()).getTime();
    return this.#writes.run((): TransitionOutcome => {
      const row = this.#row(id);
      if (row === undefined) return { kind: 'not_found' };
      if (!from.includes(row.state as ProposalState)) return { kind: 'stale', current: proposalOf(row) };
      if (transition.leaseOwner !== undefined && row.lease_owner !== transition.leaseOwner) return { kind: 'stale', current: proposalOf(row) };
      const sets = ['state = ?', 'revision = revision + 1', 'updated_at = ?'];
      const params: (string | number | null)[] = [transition.to, at];
      const set = transition.set ?? {};
      if (set.approvedChange !== undefined) {
        sets.push('approved_change = ?');
        params.push(JSON.stringify(set.approvedChange));
      }
      if (set.policy !== undefined) {
        sets.push('policy = ?');
        params.push(JSON.stringify(set.policy));
      }
      if (set.result !== undefined) {
        sets.push('result = ?');
        params.push(resultJson(set.result));
      }
      if (set.attempts !== undefined) {
        sets.push('attempts = ?');
        params.push(set.attempts);
      }
      if (set.nextAttemptAt !== undefined) {
        sets.push('next_attempt_at = ?');
        params.push(set.nextAttemptAt === null ? null : set.nextAttemptAt.getTime());
      }
      if (set.lease !== undefined) {
        sets.push('lease_owner = ?', 'lease_until = ?');
        params.push(set.lease.owner, set.lease.until.getTime());
      } else if (transition.to !== 'committing') sets.push('lease_owner = NULL', 'lease_until = NULL');
      // The state is re-checked in the statement too; under BEGIN IMMEDIATE it cannot have moved.
      // RETURNING gives the row as written, without reading it again.
      const updated = this.#writes.prepare<(string | number | null)[], ProposalRow>(`UPDATE proposals SET ${sets.join(', ')} WHERE id = ? AND state = ? RETURNING *`).get(...params, id, row.state);
      if (updated === undefined) return { kind: 'stale', current: proposalOf(this.#row(id) as ProposalRow) };
      const settle = transition.settle;
      if (settle !== undefined) {
        // Throwing rolls back the whole transition: the ledger is evidence, settled once.
        const done = this.#writes
          .prepare(`UPDATE write_ledger SET outcome = ?, settled_at = ?, response = ?, result = ? WHERE id = ? AND proposal_id = ? AND outcome = 'open'`)
          .run(settle.outcome, at, json(settle.response), resultJson(settle.result), settle.entryId, id);
        if (done.changes !== 1) throw new SwitchboardError('SWB_ERR_STORE_LEDGER_SETTLED', { id: settle.entryId, outcome: 'not open' });
      }
      const event = this.#insertEvent({
        proposalId: id,
        at,
        from: row.state,
        to: transition.to,
        actor: transition.actor,
        reason: transition.reason ?? null,
        detail: json(transition.detail),
      });
      return { kind: 'ok', proposal: proposalOf(updated), event };
    });
  }

  async renewLease(id: string, input: { owner: string; until: Date; now?: Date; takeOverExpired?: boolean }): Promise<boolean> {
    checkLease(input);
    const now = (input.now ?? this.#clock()).getTime();
    // Held by this owner, or (taking over) unheld or expired; only while committing.
    const takeOver = input.takeOverExpired === true ? ' OR lease_until IS NULL OR lease_until <= ?' : '';
    const params: (string | number)[] = [input.owner, input.until.getTime(), id, input.owner, ...(takeOver === '' ? [] : [now])];
    const sql = `UPDATE proposals SET lease_owner = ?, lease_until = ? WHERE id = ? AND state = 'committing' AND (lease_owner = ?${takeOver})`;
    return guarded(() => this.#writes.prepare(sql).run(...params).changes === 1);
  }

  async recordDriftChecks(input: { ehr: string; day: string; checked: number; errors: number }): Promise<void> {
    checkDriftChecks(input);
    guarded(() =>
      this.#writes
        .prepare('INSERT INTO drift_checks (ehr, day, checked, errors) VALUES (?, ?, ?, ?) ON CONFLICT (ehr, day) DO UPDATE SET checked = checked + excluded.checked, errors = errors + excluded.errors')
        .run(input.ehr, input.day, input.checked, input.errors),
    );
  }

  async driftChecks(ehr: string, day: string): Promise<{ checked: number; errors: number }> {
    const row = guarded(() => this.#writes.prepare<[string, string], { checked: number; errors: number }>('SELECT checked, errors FROM drift_checks WHERE ehr = ? AND day = ?').get(ehr, day));
    return row === undefined ? { checked: 0, errors: 0 } : { checked: row.checked, errors: row.errors };
  }

  async events(id: string): Promise<ProposalEvent[]> {
    return guarded(() => this.#writes.prepare<[string], EventRow>('SELECT * FROM proposal_events WHERE proposal_id = ? ORDER BY seq').all(id)).map(eventOf);
  }

  async eventsBetween(query: { from: Date; to: Date; toStates?: readonly ProposalState[]; limit?: number }): Promise<ProposalEvent[]> {
    const params: (string | number)[] = [query.from.getTime(), query.to.getTime()];
    let states = '';
    if (query.toStates !== undefined) {
      if (query.toStates.length === 0) return [];
      states = ` AND to_state IN (${query.toStates.map(() => '?').join(', ')})`;
      params.push(...query.toStates);
    }
    const limit = clampLimit(query.limit, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT);
    // Half-open [from, to): consecutive ranges (days of a drift report) never count an event twice.
    const sql = `SELECT * FROM proposal_events WHERE at >= ? AND at < ?${states} ORDER BY at, seq LIMIT ?`;
    return guarded(() => this.#writes.prepare<(string | number)[], EventRow>(sql).all(...params, limit)).map(eventOf);
  }

  #row(id: string): ProposalRow | undefined {
    return this.#writes.prepare<[string], ProposalRow>('SELECT * FROM proposals WHERE id = ?').get(id);
  }

  #insertEvent(input: { proposalId: string; at: number; from: string | null; to: string; actor: string; reason?: string | null; detail?: string | null }): ProposalEvent {
    const id = newSortableId(input.at);
    const row = this.#writes
      .prepare<unknown[], EventRow>('INSERT INTO proposal_events (id, proposal_id, at, from_state, to_state, actor, reason, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *')
      .get(id, input.proposalId, input.at, input.from, input.to, input.actor, input.reason ?? null, input.detail ?? null);
    return eventOf(row as EventRow);
  }
}

/** The write ledger on SQLite: begin inserts an open row; settle closes it exactly once. */
export class SqliteWriteLedger implements WriteLedger {
  readonly #writes: SqliteProposalWrites;
  readonly #clock: () => Date;

  constructor(db: Database.Database, clock: () => Date) {
    this.#writes = writesFor(db);
    this.#clock = clock;
  }

  async begin(input: { proposalId: string; attempt: number; ehr: string; idempotencyKey: string; request: string; at?: Date }): Promise<LedgerEntry> {
    checkLedgerBegin(input);
    const at = (input.at ?? this.#clock()).getTime();
    const id = newSortableId(at);
    // Group-committed with the proposal writes: the entry is durable before the promise resolves,
    // so before the caller sends the request (invariant 2, ADR 0006).
    return this.#writes.run((): LedgerEntry => {
      const exists = this.#writes.prepare<[string], { one: number }>('SELECT 1 AS one FROM proposals WHERE id = ?').get(input.proposalId);
      if (exists === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'proposal', id: input.proposalId });
      const row = this.#writes
        .prepare<unknown[], LedgerRow>(`INSERT INTO write_ledger (id, proposal_id, attempt, ehr, idempotency_key, request, started_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, 'open') RETURNING *`)
        .get(id, input.proposalId, input.attempt, input.ehr, input.idempotencyKey, input.request, at);
      return ledgerOf(row as LedgerRow);
    });
  }

  async settle(
    id: string,
    input: { outcome: 'applied' | 'not_applied' | 'unknown'; response?: Readonly<Record<string, unknown>>; result?: EhrWriteResult; at?: Date },
  ): Promise<LedgerEntry> {
    checkLedgerSettle(input);
    const at = (input.at ?? this.#clock()).getTime();
    return this.#writes.run((): LedgerEntry => {
      const updated = this.#writes
        .prepare(`UPDATE write_ledger SET outcome = ?, settled_at = ?, response = ?, result = ? WHERE id = ? AND outcome = 'open'`)
        .run(input.outcome, at, json(input.response), resultJson(input.result), id);
      const row = this.#writes.prepare<[string], LedgerRow>('SELECT * FROM write_ledger WHERE id = ?').get(id);
      if (row === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'write ledger entry', id });
      // A second settle would overwrite what the EHR answered first: the ledger is evidence.
      if (updated.changes === 0) throw new SwitchboardError('SWB_ERR_STORE_LEDGER_SETTLED', { id, outcome: row.outcome });
      return ledgerOf(row);
    });
  }

  async forProposal(proposalId: string): Promise<LedgerEntry[]> {
    return guarded(() => this.#writes.prepare<[string], LedgerRow>('SELECT * FROM write_ledger WHERE proposal_id = ? ORDER BY seq').all(proposalId)).map(ledgerOf);
  }

  async open(): Promise<LedgerEntry[]> {
    return guarded(() => this.#writes.prepare<[], LedgerRow>(`SELECT * FROM write_ledger WHERE outcome = 'open' ORDER BY seq`).all()).map(ledgerOf);
  }
}
