/**
 * Reconciliation (issue 6): the exception queue as one view (conflicts with their three-way diff,
 * unknown outcomes, drifted writes with their diff, failures), the drift job that re-reads what
 * was written and flags what was edited or deleted in the EHR behind our back, and the drift report
 * per EHR and day, computed from the proposals' events.
 */
import type { Proposal, ProposalEvent, ProposalState } from '../core/ports/proposal-store.ts';
import { expectedCopy, writeRequestFor } from './commit-worker.ts';
import { diffResources, type FieldChange } from './field-diff.ts';
import { effectiveChange, errorCodeOf, latestEventTo, type WritebackContext } from './writeback-context.ts';

async function all(ctx: WritebackContext, states: readonly ProposalState[], max = 10_000): Promise<Proposal[]> {
  const out: Proposal[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.proposals.list({ states, limit: 200, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined && out.length < max);
  return out;
}

export interface DriftCheck {
  readonly checked: number;
  readonly drifted: readonly string[];
  readonly verified: readonly string[];
  readonly errors: number;
}

/**
 * One pass: every committed or verified FHIR write is read from its EHR and compared with what was
 * written (server-assigned elements ignored). Edited -> drifted with the diff; deleted -> drifted
 * (deleted: true); equal and only `committed` so far -> verified. A read that fails changes nothing.
 */
export async function checkDrift(ctx: WritebackContext, options: { ehr?: string } = {}): Promise<DriftCheck> {
  let checked = 0;
  let errors = 0;
  const drifted: string[] = [];
  const verified: string[] = [];
  for (const p of await all(ctx, ['committed', 'verified'])) {
    if (options.ehr !== undefined && p.ehr !== options.ehr) continue;
    const adapter = ctx.adapters.get(p.ehr);
    const r = p.result;
    if (adapter === undefined || r?.resourceType === undefined || r.id === undefined || effectiveChange(p).kind === 'hl7v2') continue;
    let read;
    try {
      read = await adapter.read(r.resourceType, r.id);
    } catch (e) {
      read = { kind: 'error' as const, code: errorCodeOf(e), message: '' };
    }
    if (read.kind === 'error') {
      errors++;
      continue;
    }
    checked++;
    const at = ctx.clock.now();
    let diff: FieldChange[] = [];
    let deleted = false;
    if (read.kind === 'found') {
      const expected = expectedCopy(writeRequestFor(p, adapter).change, read.resource);
      diff = expected === undefined ? [] : diffResources(expected, read.resource);
    } else deleted = true;
    if (deleted || diff.length > 0) {
      const moved = await ctx.proposals.transition(p.id, { from: p.state, to: 'drifted', actor: 'engine', reason: deleted ? `deleted in the EHR (${read.kind})` : 'edited in the EHR', detail: { phase: 'drift', deleted, diff }, at });
      if (moved.kind === 'ok') drifted.push(p.id);
    } else if (p.state === 'committed') {
      const moved = await ctx.proposals.transition(p.id, { from: 'committed', to: 'verified', actor: 'engine', reason: 'read-back equals what was approved', detail: { phase: 'drift', diff: [] }, at });
      if (moved.kind === 'ok') verified.push(p.id);
    }
  }
  if (drifted.length > 0) ctx.logger.warn({ drifted: drifted.length, checked }, 'write-back drift detected');
  return { checked, drifted, verified, errors };
}

export interface ReconciliationView {
  readonly conflicts: ReadonlyArray<{ proposal: Proposal; diff: unknown }>;
  readonly unknown: readonly Proposal[];
  readonly drift: ReadonlyArray<{ proposal: Proposal; diff: unknown; deleted: boolean }>;
  readonly failed: ReadonlyArray<{ proposal: Proposal; code: unknown; reason: string | null }>;
}

export async function reconciliation(ctx: WritebackContext, options: { ehr?: string; limit?: number } = {}): Promise<ReconciliationView> {
  const max = options.limit ?? 500;
  const pick = async (state: ProposalState): Promise<Proposal[]> => (await all(ctx, [state], max)).filter((p) => options.ehr === undefined || p.ehr === options.ehr).slice(0, max);
  const lastInto = async (p: Proposal, state: ProposalState): Promise<ProposalEvent | undefined> => latestEventTo(await ctx.proposals.events(p.id), [state]);
  const conflicts = await Promise.all((await pick('conflict')).map(async (proposal) => ({ proposal, diff: (await lastInto(proposal, 'conflict'))?.detail?.['diff'] ?? [] })));
  const drift = await Promise.all(
    (await pick('drifted')).map(async (proposal) => {
      const e = await lastInto(proposal, 'drifted');
      return { proposal, diff: e?.detail?.['diff'] ?? [], deleted: e?.detail?.['deleted'] === true };
    }),
  );
  const failed = await Promise.all(
    (await pick('failed')).map(async (proposal) => {
      const e = await lastInto(proposal, 'failed');
      return { proposal, code: e?.detail?.['code'] ?? null, reason: e?.reason ?? null };
    }),
  );
  return { conflicts, unknown: await pick('unknown'), drift, failed };
}

export interface DriftReport {
  readonly ehr: string;
  readonly day: string;
  /** Writes to this EHR that existed on that day (committed by its end), i.e. what drift checks covered. */
  readonly checked: number;
  readonly drifted: number;
  readonly items: ReadonlyArray<{ proposal: string; correlationId: string; at: string; deleted: boolean; paths: string[]; target: string | null }>;
}

/** The report for one EHR and one UTC day, from the events (durable; independent of which process checked). */
export async function driftReport(ctx: WritebackContext, ehr: string, day: string): Promise<DriftReport> {
  const from = new Date(`${day}T00:00:00.000Z`);
  const to = new Date(from.getTime() + 86_400_000 - 1);
  const proposalsOf = new Map<string, Proposal | undefined>();
  const proposalOf = async (id: string): Promise<Proposal | undefined> => {
    if (!proposalsOf.has(id)) proposalsOf.set(id, await ctx.proposals.get(id));
    return proposalsOf.get(id);
  };
  const committedEvents = await ctx.proposals.eventsBetween({ from: new Date(0), to, toStates: ['committed'], limit: 100_000 });
  const written = new Set<string>();
  for (const e of committedEvents) if ((await proposalOf(e.proposalId))?.ehr === ehr) written.add(e.proposalId);
  const driftEvents = await ctx.proposals.eventsBetween({ from, to, toStates: ['drifted'], limit: 100_000 });
  const items: DriftReport['items'][number][] = [];
  for (const e of driftEvents) {
    const p = await proposalOf(e.proposalId);
    if (p?.ehr !== ehr) continue;
    const diff = Array.isArray(e.detail?.['diff']) ? (e.detail['diff'] as Array<{ path?: unknown }>) : [];
    const r = p.result;
    items.push({
      proposal: p.id,
      correlationId: p.correlationId,
      at: e.at.toISOString(),
      deleted: e.detail?.['deleted'] === true,
      paths: diff.map((d) => String(d.path ?? '')),
      target: r?.resourceType !== undefined && r.id !== undefined ? `${r.resourceType}/${r.id}` : null,
    });
  }
  return { ehr, day, checked: written.size, drifted: items.length, items };
}
