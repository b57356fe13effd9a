/**
 * The write-back API (issue 6; docs/writeback.md "API"; docs/reference/openapi.yaml): proposals,
 * review, operator actions, reconciliation and the drift report, under /api/v1/writeback. Every
 * route is authorized by API_ROUTE_ACTIONS (http-security.ts) before it runs; the service then
 * applies the policy's actor rules (an AI agent may only propose; a clinician approves and signs).
 *
 * The actor is always the authenticated principal: a user acts as `user`, a client as `app`. A
 * client may declare itself an AI agent (or a service account) with `actor: {kind: 'agent', model,
 * modelVersion}` in the body; that is recorded (and becomes the Provenance Device), but its id is
 * always the client id: nobody can act as someone else.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SwitchboardError } from '../core/errors.ts';
import type { Proposal, ProposalActor, ProposalState } from '../core/ports/proposal-store.ts';
import { PROPOSAL_STATES } from '../core/ports/proposal-store.ts';
import type { WritebackService } from '../writeback/writeback-service.ts';
import type { AuditLog } from '../core/ports/audit-log.ts';
import { actorOf } from './http-security.ts';

export interface WritebackRouteOptions {
  /** Absent: the engine runs without --writeback; every route answers SWB_ERR_WRITEBACK_NOT_CONFIGURED (503). */
  readonly service: WritebackService | undefined;
  /**
   * Where reads of a proposal's content (PHI: the change, the EHR's live copy) are recorded
   * (invariant 7), as `writeback.read` / `writeback.review` with the caller, the proposal id and the
   * correlation ids; never content. Actions need no entry here: each is an event with its actor.
   */
  readonly audit?: AuditLog | undefined;
}

const DeclaredActorSchema = z.strictObject({
  kind: z.enum(['agent', 'app', 'service']),
  model: z.string().min(1).max(200).optional(),
  modelVersion: z.string().min(1).max(100).optional(),
  display: z.string().min(1).max(200).optional(),
});

/** The acting principal as a ProposalActor, with what a client declared about itself. */
export function actorFromRequest(req: FastifyRequest, declared: unknown): ProposalActor {
  const p = req.principal;
  let extra: z.output<typeof DeclaredActorSchema> | undefined;
  if (declared !== undefined) {
    const r = DeclaredActorSchema.safeParse(declared);
    if (!r.success) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: `actor.${r.error.issues[0]?.path.join('.') ?? ''}`, reason: r.error.issues[0]?.message ?? 'is invalid' });
    extra = r.data;
    if (extra.kind === 'agent' && (extra.model === undefined || extra.modelVersion === undefined)) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'actor', reason: 'an agent names its model and modelVersion' });
  }
  // Without security (an embedded, in-process API) there is no principal: an anonymous app.
  if (p === undefined) return { kind: extra?.kind ?? 'app', id: 'anonymous', ...modelOf(extra) };
  if (p.kind === 'user') {
    // A person is a person: a user session cannot declare itself an agent or an app.
    if (extra !== undefined) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: 'actor', reason: 'only a client may declare its actor kind' });
    const name = p.username ?? p.subject;
    return { kind: 'user', id: name, display: name, roles: [...p.roles] };
  }
  return { kind: extra?.kind ?? 'app', id: p.clientId ?? p.subject, roles: [...p.roles], ...modelOf(extra) };
}

function modelOf(extra: z.output<typeof DeclaredActorSchema> | undefined): Partial<ProposalActor> {
  if (extra === undefined) return {};
  return {
    ...(extra.model === undefined ? {} : { model: extra.model }),
    ...(extra.modelVersion === undefined ? {} : { modelVersion: extra.modelVersion }),
    ...(extra.display === undefined ? {} : { display: extra.display }),
  };
}

/** The body without `actor`, and the actor. */
function split(req: FastifyRequest): { body: unknown; actor: ProposalActor } {
  const raw = req.body ?? {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SwitchboardError('SWB_ERR_WRITEBACK_BAD_PROPOSAL', { path: '(body)', reason: 'must be a JSON object' });
  const { actor, ...body } = raw as Record<string, unknown>;
  return { body, actor: actorFromRequest(req, actor) };
}

/** A proposal as JSON (dates as ISO 8601 instants). */
export function proposalJson(p: Proposal): Record<string, unknown> {
  return JSON.parse(JSON.stringify(p)) as Record<string, unknown>;
}

const LIST_PARAMS = new Set(['state', 'ehr', 'patient', 'cursor', 'limit', 'tenant', 'correlationId']);

function listQuery(query: Record<string, unknown>): Parameters<WritebackService['list']>[0] {
  for (const [k, v] of Object.entries(query)) {
    if (!LIST_PARAMS.has(k)) throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: `${k} is not a known parameter` });
    if (typeof v !== 'string') throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: `${k} must be given once` });
  }
  const q = query as Record<string, string | undefined>;
  const states = q['state']?.split(',').filter((s) => s !== '');
  for (const s of states ?? []) if (!(PROPOSAL_STATES as readonly string[]).includes(s)) throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: `state must be one of ${PROPOSAL_STATES.join(', ')}` });
  const limit = q['limit'] === undefined ? 50 : Number(q['limit']);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: 'limit must be an integer 1-200' });
  const patient = q['patient'];
  return {
    limit,
    ...(states === undefined || states.length === 0 ? {} : { states: states as ProposalState[] }),
    ...(q['ehr'] === undefined ? {} : { ehr: q['ehr'] }),
    ...(patient === undefined ? {} : { patient: patient.startsWith('Patient/') ? patient : `Patient/${patient}` }),
    ...(q['tenant'] === undefined ? {} : { tenant: q['tenant'] }),
    ...(q['correlationId'] === undefined ? {} : { correlationId: q['correlationId'] }),
    ...(q['cursor'] === undefined ? {} : { cursor: q['cursor'] }),
  };
}

type IdRequest = FastifyRequest<{ Params: { id: string } }>;

export function registerWritebackRoutes(app: FastifyInstance, options: WritebackRouteOptions): void {
  const base = '/api/v1/writeback';
  const need = (): WritebackService => {
    if (options.service === undefined) throw new SwitchboardError('SWB_ERR_WRITEBACK_NOT_CONFIGURED');
    return options.service;
  };

  app.post(`${base}/proposals`, async (req, reply) => {
    const { body, actor } = split(req);
    const r = await need().propose(body, actor);
    const p = r.proposal;
    reply.code(r.created ? 201 : 200);
    return {
      id: p.id,
      state: p.state,
      correlationId: p.correlationId,
      ...(r.decision === undefined ? {} : { policy: { decision: r.decision.decision, rule: r.decision.rule, reasons: r.decision.reasons, violations: r.decision.violations } }),
    };
  });

  app.get(`${base}/proposals`, async (req) => {
    const page = await need().list(listQuery(req.query as Record<string, unknown>));
    return { items: page.items.map(proposalJson), nextCursor: page.nextCursor ?? null };
  });

  const audited = async (req: FastifyRequest, action: string, p: Proposal): Promise<void> => {
    await options.audit?.append({ actor: actorOf(req), action, target: p.id, detail: { ehr: p.ehr, correlationId: p.correlationId, requestId: String(req.id) } });
  };

  app.get(`${base}/proposals/:id`, async (req: IdRequest) => {
    const d = await need().get(req.params.id);
    await audited(req, 'writeback.read', d.proposal);
    return JSON.parse(JSON.stringify({ proposal: d.proposal, events: d.events, ledger: d.ledger })) as unknown;
  });

  app.get(`${base}/proposals/:id/review`, async (req: IdRequest) => {
    const v = await need().review(req.params.id);
    await audited(req, 'writeback.review', v.proposal);
    return { proposal: proposalJson(v.proposal), current: v.current, currentVersion: v.currentVersion, readError: v.readError, diff: v.diff, ai: v.ai };
  });

  const action = (name: 'approve' | 'reject' | 'sign' | 'retry' | 'resolve' | 'close'): void => {
    app.post(`${base}/proposals/:id/${name}`, async (req: IdRequest) => {
      const { body, actor } = split(req);
      const p = await need()[name](req.params.id, actor, body);
      return { id: p.id, state: p.state, correlationId: p.correlationId, revision: p.revision };
    });
  };
  for (const name of ['approve', 'reject', 'sign', 'retry', 'resolve', 'close'] as const) action(name);

  app.get(`${base}/reconciliation`, async (req) => {
    const q = req.query as Record<string, unknown>;
    const ehr = typeof q['ehr'] === 'string' ? q['ehr'] : undefined;
    const v = await need().reconciliation(ehr === undefined ? {} : { ehr });
    return JSON.parse(JSON.stringify(v)) as unknown;
  });

  app.get(`${base}/drift-report`, async (req) => {
    const q = req.query as Record<string, unknown>;
    const ehr = q['ehr'];
    if (typeof ehr !== 'string' || ehr === '') throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: 'ehr is required' });
    const day = typeof q['day'] === 'string' ? q['day'] : new Date().toISOString().slice(0, 10);
    return need().driftReport(ehr, day);
  });
}
