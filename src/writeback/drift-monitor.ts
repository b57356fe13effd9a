/**
 * Reconciliation (issue 6): the exception queue as one view (conflicts with their three-way diff,
 * unknown outcomes, drifted writes with their diff, failures), the drift job that re-reads what
 * was written and flags what was edited or deleted in the EHR behind our back, and the drift report
 * per EHR and day, computed from the proposals' events.
 */
import type { Proposal, ProposalEvent, ProposalState } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
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
  // Checks made, per EHR and UTC day, stored at the end of the pass (the drift report's `checked`).
  const tally = new Map<string, { ehr: string; day: string; checked: number; errors: number }>();
  const count = (ehr: string, kind: 'checked' | 'errors'): void => {
    const day = ctx.clock.now().toISOString().slice(0, 10);
    const key = `${ehr}\u0000${day}`;
    const t = tally.get(key) ?? { ehr, day, checked: 0, errors: 0 };
    t[kind]++;
    tally.set(key, t);
  };
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
      count(p.ehr, 'errors');
      continue;
    }
    checked++;
    count(p.ehr, 'checked');
    const at = ctx.clock.now();
    let diff: FieldChange[] = [];
    let deleted = false;
    if (read.kind === 'found') {
      const sent = writeRequestFor(p, adapter).change;
      // A patch is compared with its base patched, as recorded at commit (commit-worker.ts).
      const expected = sent.kind === 'patch' ? await patchedExpected(ctx, p) : expectedCopy(sent, read.resource);
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
  for (const t of tally.values()) {
    try {
      await ctx.proposals.recordDriftChecks(t);
    } catch (e) {
      ctx.logger.error({ ehr: t.ehr, code: errorCodeOf(e) }, 'write-back drift-check count not recorded');
    }
  }
  if (drifted.length > 0) ctx.logger.warn({ drifted: drifted.length, checked }, 'write-back drift detected');
  return { checked, drifted, verified, errors };
}

/** The expected copy of a committed patch, from its latest `committed` event (detail.expected). */
async function patchedExpected(ctx: WritebackContext, p: Proposal): Promise<FhirResource | undefined> {
  const e = latestEventTo(await ctx.proposals.events(p.id), ['committed']);
  const expected = e?.detail?.['expected'];
  return expected !== null && typeof expected === 'object' && typeof (expected as Record<string, unknown>)['resourceType'] === 'string' ? (expected as FhirResource) : undefined;
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
  /**
   * Checks made that day: the drift job's re-reads (counted as they are made) plus the read-backs
   * right after a commit (their verified/drifted events).
   */
  readonly checked: number;
  /** Re-reads of the drift job that failed that day (the write could not be checked). */
  readonly errors: number;
  readonly drifted: number;
  readonly items: ReadonlyArray<{ proposal: string; correlationId: string; at: string; deleted: boolean; paths: string[]; target: string | null }>;
}

/** The report for one EHR and one UTC day, from the events (durable; independent of which process checked). */
export async function driftReport(ctx: WritebackContext, ehr: string, day: string): Promise<DriftReport> {
  const from = new Date(`${day}T00:00:00.000Z`);
  const proposalsOf = new Map<string, Proposal | undefined>();
  const proposalOf = async (id: string): Promise<Proposal | undefined> => {
    if (!proposalsOf.has(id)) proposalsOf.set(id, await ctx.proposals.get(id));
    return proposalsOf.get(id);
  };
  const job = await ctx.proposals.driftChecks(ehr, day);
  // eventsBetween is half-open [from, to): `to` is the next midnight.
  const outcomes = await ctx.proposals.eventsBetween({ from, to: new Date(from.getTime() + 86_400_000), toStates: ['verified', 'drifted'], limit: 100_000 });
  let readBacks = 0;
  const items: DriftReport['items'][number][] = [];
  for (const e of outcomes) {
    const p = await proposalOf(e.proposalId);
    if (p?.ehr !== ehr) continue;
    if (e.detail?.['phase'] === 'verify') readBacks++;
    if (e.to !== 'drifted') continue;
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
  return { ehr, day, checked: job.checked + readBacks, errors: job.errors, drifted: items.length, items };
}
