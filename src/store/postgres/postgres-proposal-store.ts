import type pg from 'pg';
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
import { queryRows, withTransaction } from './postgres-transaction.ts';

// json columns arrive parsed (pg parses type json); timestamptz arrive as Date.
interface ProposalRow {
  id: string;
  tenant: string;
  ehr: string;
  patient: string;
  change: ProposedChange;
  approved_change: ProposedChange | null;
  actor: ProposalActor;
  actor_id: string;
  purpose_of_use: string;
  idempotency_key: string;
  correlation_id: string;
  state: string;
  revision: number;
  policy: Record<string, unknown> | null;
  result: unknown;
  attempts: number;
  next_attempt_at: Date | null;
  lease_owner: string | null;
  lease_until: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface EventRow {
  id: string;
  proposal_id: string;
  at: Date;
  from_state: string | null;
  to_state: string;
  actor: string;
  reason: string | null;
  detail: Record<string, unknown> | null;
}

interface LedgerRow {
  id: string;
  proposal_id: string;
  attempt: number;
  ehr: string;
  idempotency_key: string;
  request: string;
  started_at: Date;
  outcome: string;
  settled_at: Date | null;
  response: Record<string, unknown> | null;
  result: unknown;
}

const PROPOSAL_COLUMNS =
  'id, tenant, ehr, patient, change, approved_change, actor, actor_id, purpose_of_use, idempotency_key, correlation_id, state, revision, policy, result, attempts, next_attempt_at, lease_owner, lease_until, created_at, updated_at';
const EVENT_COLUMNS = 'id, proposal_id, at, from_state, to_state, actor, reason, detail';
const LEDGER_COLUMNS = 'id, proposal_id, attempt, ehr, idempotency_key, request, started_at, outcome, settled_at, response, result';

function proposalOf(row: ProposalRow): Proposal {
  return {
    id: row.id,
    tenant: row.tenant,
    ehr: row.ehr,
    patient: row.patient,
    change: row.change,
    ...(row.approved_change === null ? {} : { approvedChange: row.approved_change }),
    actor: row.actor,
    purposeOfUse: row.purpose_of_use,
    idempotencyKey: row.idempotency_key,
    correlationId: row.correlation_id,
    state: row.state as ProposalState,
    revision: row.revision,
    ...(row.policy === null ? {} : { policy: row.policy }),
    ...(row.result === null ? {} : { result: resultFromJson(row.result) }),
    attempts: row.attempts,
    ...(row.next_attempt_at === null ? {} : { nextAttemptAt: row.next_attempt_at }),
    ...(row.lease_owner === null ? {} : { leaseOwner: row.lease_owner }),
    ...(row.lease_until === null ? {} : { leaseUntil: row.lease_until }),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function eventOf(row: EventRow): ProposalEvent {
  return {
    id: row.id,
    proposalId: row.proposal_id,
    at: row.at,
    ...(row.from_state === null ? {} : { from: row.from_state as ProposalState }),
    to: row.to_state as ProposalState,
    actor: row.actor,
    ...(row.reason === null ? {} : { reason: row.reason }),
    ...(row.detail === null ? {} : { detail: row.detail }),
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
    startedAt: row.started_at,
    outcome: row.outcome as LedgerEntry['outcome'],
    ...(row.settled_at === null ? {} : { settledAt: row.settled_at }),
    ...(row.response === null ? {} : { response: row.response }),
    ...(row.result === null ? {} : { result: resultFromJson(row.result) }),
  };
}

// Always sent as text: pg would turn a JS array into a PostgreSQL array, not JSON.
const json = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
const resultJson = (result: EhrWriteResult | undefined): string | null => (result === undefined ? null : JSON.stringify(resultToJson(result)));

async function insertEvent(
  client: pg.ClientBase,
  input: { proposalId: string; at: Date; from: string | null; to: string; actor: string; reason?: string | null; detail?: string | null },
): Promise<ProposalEvent> {
  const result = await client.query<EventRow>(
    `INSERT INTO proposal_events (${EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json) RETURNING ${EVENT_COLUMNS}`,
    [newSortableId(input.at.getTime()), input.proposalId, input.at, input.from, input.to, input.actor, input.reason ?? null, input.detail ?? null],
  );
  return eventOf(result.rows[0] as EventRow);
}

/**
 * The proposal store on PostgreSQL. Races between engine processes (and a reviewer) are settled
 * by the database: a create is INSERT ... ON CONFLICT DO NOTHING on the idempotency index, then a
 * read of the winner; a transition locks the row, checks the state and updates it with the event
 * insert in one transaction, so exactly one of many concurrent movers gets `ok`.
 */
export class PostgresProposalStore implements ProposalStore {
  readonly #pool: pg.Pool;
  readonly #clock: () => Date;
  readonly ledger: WriteLedger;

  constructor(pool: pg.Pool, options: { clock?: () => Date } = {}) {
    this.#pool = pool;
    this.#clock = options.clock ?? (() => new Date());
    this.ledger = new PostgresWriteLedger(pool, this.#clock);
  }

  async create(input: NewProposal): Promise<CreateProposalOutcome> {
    checkNewProposal(input);
    const at = input.at ?? this.#clock();
    const id = input.id ?? newSortableId(at.getTime());
    return withTransaction(this.#pool, async (client) => {
      // A concurrent insert of the same key waits on the unique index until the first commits,
      // then does nothing; the SELECT (a new snapshot under READ COMMITTED) sees the winner.
      const inserted = await client.query<ProposalRow>(
        `INSERT INTO proposals (${PROPOSAL_COLUMNS})
         VALUES ($1, $2, $3, $4, $5::json, NULL, $6::json, $7, $8, $9, $10, $11, 1, $12::json, NULL, 0, NULL, NULL, NULL, $13, $13)
         ON CONFLICT (tenant, actor_id, idempotency_key) DO NOTHING
         RETURNING ${PROPOSAL_COLUMNS}`,
        [...newProposalValues(id, input, json), at],
      );
      const created = inserted.rows[0];
      if (created === undefined) {
        const existing = await client.query<ProposalRow>(`SELECT ${PROPOSAL_COLUMNS} FROM proposals WHERE tenant = $1 AND actor_id = $2 AND idempotency_key = $3`, [
          input.tenant,
          input.actor.id,
          input.idempotencyKey,
        ]);
        const row = existing.rows[0];
        if (row === undefined) throw new SwitchboardError('SWB_ERR_STORE_INVALID_RECORD', { reason: 'the idempotency key conflicted but no proposal holds it' });
        return { kind: 'existing', proposal: proposalOf(row) };
      }
      // Creation is the first event, with no `from` (ProposalEvent.from).
      await insertEvent(client, { proposalId: id, at, from: null, to: input.state, actor: eventActor(input.actor) });
      return { kind: 'created', proposal: proposalOf(created) };
    });
  }

  async get(id: string): Promise<Proposal | undefined> {
    const result = await queryRows<ProposalRow>(this.#pool, `SELECT ${PROPOSAL_COLUMNS} FROM proposals WHERE id = $1`, [id]);
    const row = result.rows[0];
    return row === undefined ? undefined : proposalOf(row);
  }

  async list(query: ProposalQuery = {}): Promise<ProposalPage> {
    checkQuery(query);
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (query.states !== undefined) {
      if (query.states.length === 0) return { items: [] };
      where.push(`state = ANY(${param([...query.states])}::text[])`);
    }
    if (query.tenant !== undefined) where.push(`tenant = ${param(query.tenant)}`);
    if (query.ehr !== undefined) where.push(`ehr = ${param(query.ehr)}`);
    if (query.patient !== undefined) where.push(`patient = ${param(query.patient)}`);
    if (query.correlationId !== undefined) where.push(`correlation_id = ${param(query.correlationId)}`);
    if (query.dueBefore !== undefined) where.push(`coalesce(next_attempt_at, updated_at) <= ${param(query.dueBefore)}`);
    if (query.leaseExpiredBefore !== undefined) where.push(`(lease_until IS NULL OR lease_until <= ${param(query.leaseExpiredBefore)})`);
    // The sort key: creation time, or (oldest first with dueBefore) the due time; the keyset cursor
    // holds the last item's (key, id) and continues in the same direction.
    const oldest = query.order === 'oldest';
    const key = oldest && query.dueBefore !== undefined ? 'coalesce(next_attempt_at, updated_at)' : 'created_at';
    const keyOf = (row: ProposalRow): number => (key === 'created_at' ? row.created_at : (row.next_attempt_at ?? row.updated_at)).getTime();
    if (query.cursor !== undefined) {
      const after = decodeProposalCursor(query.cursor);
      where.push(`(${key}, id) ${oldest ? '>' : '<'} (${param(new Date(after.createdAtMs))}, ${param(after.id)})`);
    }
    const dir = oldest ? 'ASC' : 'DESC';
    const limit = clampLimit(query.limit, PROPOSAL_DEFAULT_LIMIT, PROPOSAL_MAX_LIMIT);
    const sql = `SELECT ${PROPOSAL_COLUMNS} FROM proposals ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
      ORDER BY ${key} ${dir}, id ${dir} LIMIT ${param(limit + 1)}`;
    const result = await queryRows<ProposalRow>(this.#pool, sql, params);
    const page = result.rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(proposalOf),
      ...(result.rows.length > limit && last !== undefined ? { nextCursor: encodeProposalCursor(keyOf(last), last.id) } : {}),
    };
  }

  async transition(id: string, transition: ProposalTransition): Promise<TransitionOutcome> {
    const from = checkTransition(transition);
    const at = transition.at ?? this.#clock();
    return withTransaction(this.#pool, async (client): Promise<TransitionOutcome> => {
      // The row lock serializes movers: a second one waits here, then reads the committed state.
      const locked = await client.query<ProposalRow>(`SELECT ${PROPOSAL_COLUMNS} FROM proposals WHERE id = $1 FOR UPDATE`, [id]);
      const current = locked.rows[0];
      if (current === undefined) return { kind: 'not_found' };
      if (!from.includes(current.state as ProposalState)) return { kind: 'stale', current: proposalOf(current) };
      if (transition.leaseOwner !== undefined && current.lease_owner !== transition.leaseOwner) return { kind: 'stale', current: proposalOf(current) };
      const params: unknown[] = [id, [...from], transition.to, at];
      const sets = ['state = $3', 'revision = revision + 1', 'updated_at = $4'];
      const set = transition.set ?? {};
      const assign = (column: string, value: unknown, cast = ''): void => {
        params.push(value);
        sets.push(`${column} = $${params.length}${cast}`);
      };
      if (set.approvedChange !== undefined) assign('approved_change', JSON.stringify(set.approvedChange), '::json');
      if (set.policy !== undefined) assign('policy', JSON.stringify(set.policy), '::json');
      if (set.result !== undefined) assign('result', resultJson(set.result), '::json');
      if (set.attempts !== undefined) assign('attempts', set.attempts);
      if (set.nextAttemptAt !== undefined) assign('next_attempt_at', set.nextAttemptAt, '::timestamptz');
      if (set.lease !== undefined) {
        assign('lease_owner', set.lease.owner);
        assign('lease_until', set.lease.until, '::timestamptz');
      } else if (transition.to !== 'committing') sets.push('lease_owner = NULL', 'lease_until = NULL');
      const updated = await client.query<ProposalRow>(`UPDATE proposals SET ${sets.join(', ')} WHERE id = $1 AND state = ANY($2::text[]) RETURNING ${PROPOSAL_COLUMNS}`, params);
      const row = updated.rows[0];
      if (row === undefined) return { kind: 'stale', current: proposalOf(current) };
      const settle = transition.settle;
      if (settle !== undefined) {
        // Throwing rolls back the whole transition: the ledger is evidence, settled once.
        const done = await client.query(
          `UPDATE write_ledger SET outcome = $3, settled_at = $4, response = $5::json, result = $6::json WHERE id = $1 AND proposal_id = $2 AND outcome = 'open'`,
          [settle.entryId, id, settle.outcome, at, json(settle.response), resultJson(settle.result)],
        );
        if (done.rowCount !== 1) throw new SwitchboardError('SWB_ERR_STORE_LEDGER_SETTLED', { id: settle.entryId, outcome: 'not open' });
      }
      const event = await insertEvent(client, {
        proposalId: id,
        at,
        from: current.state,
        to: transition.to,
        actor: transition.actor,
        reason: transition.reason ?? null,
        detail: json(transition.detail),
      });
      return { kind: 'ok', proposal: proposalOf(row), event };
    });
  }

  async renewLease(id: string, input: { owner: string; until: Date; now?: Date; takeOverExpired?: boolean }): Promise<boolean> {
    checkLease(input);
    const now = input.now ?? this.#clock();
    // Held by this owner, or (taking over) unheld or expired; only while committing.
    const takeOver = input.takeOverExpired === true ? ' OR lease_until IS NULL OR lease_until <= $5' : '';
    const result = await queryRows(
      this.#pool,
      `UPDATE proposals SET lease_owner = $2, lease_until = $3 WHERE id = $1 AND state = 'committing' AND (lease_owner = $4${takeOver}) RETURNING id`,
      [id, input.owner, input.until, input.owner, ...(takeOver === '' ? [] : [now])],
    );
    return result.rows.length === 1;
  }

  async recordDriftChecks(input: { ehr: string; day: string; checked: number; errors: number }): Promise<void> {
    checkDriftChecks(input);
    await queryRows(
      this.#pool,
      `INSERT INTO drift_checks (ehr, day, checked, errors) VALUES ($1, $2::date, $3, $4)
       ON CONFLICT (ehr, day) DO UPDATE SET checked = drift_checks.checked + excluded.checked, errors = drift_checks.errors + excluded.errors`,
      [input.ehr, input.day, input.checked, input.errors],
    );
  }

  async driftChecks(ehr: string, day: string): Promise<{ checked: number; errors: number }> {
    const result = await queryRows<{ checked: number; errors: number }>(this.#pool, 'SELECT checked, errors FROM drift_checks WHERE ehr = $1 AND day = $2::date', [ehr, day]);
    const row = result.rows[0];
    return row === undefined ? { checked: 0, errors: 0 } : { checked: row.checked, errors: row.errors };
  }

  async events(id: string): Promise<ProposalEvent[]> {
    const result = await queryRows<EventRow>(this.#pool, `SELECT ${EVENT_COLUMNS} FROM proposal_events WHERE proposal_id = $1 ORDER BY seq`, [id]);
    return result.rows.map(eventOf);
  }

  async eventsBetween(query: { from: Date; to: Date; toStates?: readonly ProposalState[]; limit?: number }): Promise<ProposalEvent[]> {
    if (query.toStates !== undefined && query.toStates.length === 0) return [];
    const limit = clampLimit(query.limit, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT);
    // Half-open [from, to): consecutive ranges (days of a drift report) never count an event twice.
    const result = await queryRows<EventRow>(
      this.#pool,
      `SELECT ${EVENT_COLUMNS} FROM proposal_events
       WHERE at >= $1 AND at < $2 AND ($3::text[] IS NULL OR to_state = ANY($3::text[]))
       ORDER BY at, seq LIMIT $4`,
      [query.from, query.to, query.toStates === undefined ? null : [...query.toStates], limit],
    );
    return result.rows.map(eventOf);
  }
}

/** The write ledger on PostgreSQL: begin inserts an open row; settle closes it exactly once. */
export class PostgresWriteLedger implements WriteLedger {
  readonly #pool: pg.Pool;
  readonly #clock: () => Date;

  constructor(pool: pg.Pool, clock: () => Date) {
    this.#pool = pool;
    this.#clock = clock;
  }

  async begin(input: { proposalId: string; attempt: number; ehr: string; idempotencyKey: string; request: string; at?: Date }): Promise<LedgerEntry> {
    checkLedgerBegin(input);
    const at = input.at ?? this.#clock();
    // One statement: the row is written only when the proposal exists.
    const result = await queryRows<LedgerRow>(
      this.#pool,
      `INSERT INTO write_ledger (id, proposal_id, attempt, ehr, idempotency_key, request, started_at, outcome)
       SELECT $1, $2, $3, $4, $5, $6, $7, 'open' WHERE EXISTS (SELECT 1 FROM proposals WHERE id = $2)
       RETURNING ${LEDGER_COLUMNS}`,
      [newSortableId(at.getTime()), input.proposalId, input.attempt, input.ehr, input.idempotencyKey, input.request, at],
    );
    const row = result.rows[0];
    if (row === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'proposal', id: input.proposalId });
    return ledgerOf(row);
  }

  async settle(
    id: string,
    input: { outcome: 'applied' | 'not_applied' | 'unknown'; response?: Readonly<Record<string, unknown>>; result?: EhrWriteResult; at?: Date },
  ): Promise<LedgerEntry> {
    checkLedgerSettle(input);
    const at = input.at ?? this.#clock();
    const updated = await queryRows<LedgerRow>(
      this.#pool,
      `UPDATE write_ledger SET outcome = $2, settled_at = $3, response = $4::json, result = $5::json WHERE id = $1 AND outcome = 'open' RETURNING ${LEDGER_COLUMNS}`,
      [id, input.outcome, at, json(input.response), resultJson(input.result)],
    );
    const row = updated.rows[0];
    if (row !== undefined) return ledgerOf(row);
    const existing = await queryRows<{ outcome: string }>(this.#pool, 'SELECT outcome FROM write_ledger WHERE id = $1', [id]);
    const found = existing.rows[0];
    if (found === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'write ledger entry', id });
    // A second settle would overwrite what the EHR answered first: the ledger is evidence.
    throw new SwitchboardError('SWB_ERR_STORE_LEDGER_SETTLED', { id, outcome: found.outcome });
  }

  async forProposal(proposalId: string): Promise<LedgerEntry[]> {
    const result = await queryRows<LedgerRow>(this.#pool, `SELECT ${LEDGER_COLUMNS} FROM write_ledger WHERE proposal_id = $1 ORDER BY seq`, [proposalId]);
    return result.rows.map(ledgerOf);
  }

  async open(): Promise<LedgerEntry[]> {
    const result = await queryRows<LedgerRow>(this.#pool, `SELECT ${LEDGER_COLUMNS} FROM write_ledger WHERE outcome = 'open' ORDER BY seq`);
    return result.rows.map(ledgerOf);
  }
}
