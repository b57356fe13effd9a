import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SwitchboardError } from '../core/errors.ts';
import type { AuditEntry } from '../core/ports/audit-log.ts';
import type { ChannelRevision } from '../core/ports/channel-revisions.ts';
import type { Delivery, DeliveryAttempt } from '../core/ports/delivery-queue.ts';
import type { MessageEvent } from '../core/ports/message-store.ts';
import type { Store } from '../core/ports/store.ts';
import { BadRequest, queryOf, route } from './bad-request.ts';
import {
  DEFAULT_REPLAY_LIMIT,
  planReplay,
  resolveDeliveries,
  resolveDelivery,
  retryDeliveries,
  retryDelivery,
  revisionDiff,
  runReplay,
  type BulkSelection,
  type PipelineFor,
  type ReplayPorts,
  type ReplayRequest,
} from '../engine/operations.ts';
import { parseMessageQueryParams, type MessageQueryParam } from './message-query-params.ts';
import { auditDeliveriesRead } from './phi-access-audit.ts';

/**
 * `/api/v1` operations: the exception queue (list, retry, edit-and-retry, resolve, in bulk), a
 * message's deliveries and history, replay with a dry run, channel revisions and the audit log.
 * Every answer is JSON (a revision document is YAML); every error a problem document with a stable
 * code. Payloads appear only in answers about one message's deliveries or one revision; lists carry
 * ids, statuses and codes.
 *
 * SECURITY: like /api/v1/messages, these routes expose PHI and change state. Authentication does
 * not exist yet; once it lands they MUST require it. State changes are audited with `actor(req)`.
 */
export interface OpsRouteOptions {
  readonly store: Store;
  /** Wakes the running dispatcher for a destination id. */
  readonly notify?: ((destinationId: string) => void) | undefined;
  /** Loads a channel revision's pipeline for replay (see engine/revision-pipelines.ts). */
  readonly pipelineFor: PipelineFor;
  /** Who is calling, for the audit log (a token's subject once auth exists). */
  readonly actor: (req: FastifyRequest) => string;
}

const MAX_LIMIT = 1000;
const DEFAULT_BULK_LIMIT = 100;
const MAX_REPLAY_LIMIT = 10_000;
const MAX_IDS = 1000;
/** Edited payloads: the API's body limit bounds them too. */
const MAX_REASON_CHARS = 1000;
const CHANNEL_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

type Json = Record<string, unknown>;

function bodyObject(body: unknown, allowed: readonly string[]): Json {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('body', 'must be a JSON object');
  for (const key of Object.keys(body)) if (!allowed.includes(key)) throw new BadRequest(key, 'is not a known field');
  return body as Json;
}

function optString(obj: Json, key: string, max = 256): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '' || v.length > max) throw new BadRequest(key, `must be a string of 1-${max} characters`);
  return v;
}

function optLimit(raw: unknown, name: string, fallback: number, max: number): number {
  if (raw === undefined || raw === null) return fallback;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(Number.isInteger(n) && n >= 1 && n <= max)) throw new BadRequest(name, `must be an integer 1-${max}`);
  return n;
}

function revisionNumber(raw: string | undefined, name: string): number {
  if (raw === undefined || !/^\d{1,9}$/.test(raw) || Number(raw) < 1) throw new BadRequest(name, 'must be a revision number (1, 2, ...)');
  return Number(raw);
}

function channelIdOf(raw: string): string {
  if (!CHANNEL_ID.test(raw)) throw new BadRequest('id', 'is not a channel id');
  return raw;
}

const iso = (d: Date | undefined): string | null => d?.toISOString() ?? null;

/** A delivery in a list: ids, status and codes; no payload and no ordering key (a patient id). */
export function deliverySummaryJson(d: Delivery): Json {
  return {
    id: d.id,
    messageId: d.messageId,
    destination: d.destination,
    status: d.status,
    attempts: d.attempts,
    maxAttempts: d.maxAttempts,
    lastErrorCode: d.lastErrorCode ?? null,
    lastFailureClass: d.lastFailureClass ?? null,
    nextAttemptAt: iso(d.nextAttemptAt),
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
  };
}

/** A delivery of one message, asked for explicitly: with its payload and every attempt's response. */
export function deliveryDetailJson(d: Delivery, attempts: readonly DeliveryAttempt[]): Json {
  return {
    ...deliverySummaryJson(d),
    orderingKey: d.orderingKey ?? null,
    idempotencyKey: d.idempotencyKey,
    leaseOwner: d.leaseOwner ?? null,
    leaseExpiresAt: iso(d.leaseExpiresAt),
    payload: d.payload,
    attemptLog: attempts.map((a) => ({
      attempt: a.attempt,
      startedAt: iso(a.startedAt),
      finishedAt: iso(a.finishedAt),
      outcome: a.outcome,
      errorCode: a.errorCode ?? null,
      response: a.response ?? null,
    })),
  };
}

export function eventJson(e: MessageEvent): Json {
  return { at: iso(e.at), type: e.type, deliveryId: e.deliveryId ?? null, detail: e.detail ?? null };
}

export function revisionJson(r: ChannelRevision): Json {
  return { channelId: r.channelId, revision: r.revision, hash: r.hash, author: r.author, comment: r.comment ?? null, createdAt: iso(r.createdAt) };
}

export function auditJson(a: AuditEntry): Json {
  return { id: a.id, at: iso(a.at), actor: a.actor, action: a.action, target: a.target, detail: a.detail };
}

/** The replay body's message filters, named as GET /api/v1/messages names them. */
const REPLAY_QUERY_FIELDS = ['channel', 'from', 'to', 'status', 'type', 'patientId', 'controlId'] as const satisfies readonly MessageQueryParam[];
const REPLAY_FIELDS = [...REPLAY_QUERY_FIELDS, 'revision', 'destinations', 'dryRun', 'limit'];

/** Parses a replay body into a request (shared with the CLI's flags through the same parser). */
export function parseReplayBody(body: unknown, actor: string): { request: ReplayRequest; dryRun: boolean } {
  const b = bodyObject(body, REPLAY_FIELDS);
  const input: Partial<Record<MessageQueryParam, string>> = {};
  for (const f of REPLAY_QUERY_FIELDS) {
    const v = b[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new BadRequest(f, 'must be a string');
    input[f] = v;
  }
  const parsed = parseMessageQueryParams(input);
  if (parsed.kind === 'invalid') throw new BadRequest(parsed.param, parsed.reason);
  const revision = b['revision'] ?? 'pinned';
  if (revision !== 'pinned' && revision !== 'current') throw new BadRequest('revision', 'must be "pinned" or "current"');
  const dryRun = b['dryRun'];
  // Required, so that a replay is never run by leaving a field out.
  if (typeof dryRun !== 'boolean') throw new BadRequest('dryRun', 'must be true (plan only) or false (replay)');
  const rawDest = b['destinations'];
  let destinations: string[] | undefined;
  if (rawDest !== undefined && rawDest !== null) {
    if (!Array.isArray(rawDest) || rawDest.length === 0 || rawDest.some((d) => typeof d !== 'string' || d === '' || d.length > 64)) {
      throw new BadRequest('destinations', 'must be a non-empty list of destination names');
    }
    destinations = rawDest as string[];
  }
  const limit = optLimit(b['limit'], 'limit', DEFAULT_REPLAY_LIMIT, MAX_REPLAY_LIMIT);
  const { limit: _pageSize, ...query } = parsed.query;
  return { request: { query, limit, revision, actor, ...(destinations !== undefined ? { destinations } : {}) }, dryRun };
}

function bulkSelection(body: unknown, extra: readonly string[]): { selection: BulkSelection; body: Json } {
  const b = bodyObject(body, ['ids', 'destination', 'limit', ...extra]);
  const ids = b['ids'];
  const destination = optString(b, 'destination');
  if (ids !== undefined && destination !== undefined) throw new BadRequest('ids', 'and destination cannot both be given');
  if (ids !== undefined && (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_IDS || ids.some((x) => typeof x !== 'string' || x === '' || x.length > 64))) {
    throw new BadRequest('ids', `must be a list of 1-${MAX_IDS} delivery ids`);
  }
  const limit = optLimit(b['limit'], 'limit', Array.isArray(ids) ? ids.length : DEFAULT_BULK_LIMIT, MAX_LIMIT);
  return { selection: { limit, ...(Array.isArray(ids) ? { ids: ids as string[] } : {}), ...(destination !== undefined ? { destination } : {}) }, body: b };
}

export function registerOpsRoutes(app: FastifyInstance, options: OpsRouteOptions): void {
  const { store } = options;
  const ports: ReplayPorts = { messages: store.messages, queue: store.queue, channels: store.channels, audit: store.audit, notify: options.notify, pipelineFor: options.pipelineFor };

  const mustMessage = async (id: string): Promise<void> => {
    if ((await store.messages.get(id)) === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'message', id });
  };

  app.get(
    '/api/v1/exceptions',
    route(async (req) => {
      const q = queryOf(req, ['destination', 'limit']);
      const limit = optLimit(q['limit'], 'limit', DEFAULT_BULK_LIMIT, MAX_LIMIT);
      const items = await store.queue.exceptions({ limit, ...(q['destination'] !== undefined ? { destination: q['destination'] } : {}) });
      return { items: items.map(deliverySummaryJson) };
    }),
  );

  app.get(
    '/api/v1/messages/:id/deliveries',
    route(async (req) => {
      const id = req.params['id'] ?? '';
      await mustMessage(id);
      const deliveries = await store.queue.forMessage(id);
      // Payloads and responses are PHI: audited like a message read (phi-access-audit.ts).
      await auditDeliveriesRead(store.audit, req, id, deliveries.length);
      return { items: await Promise.all(deliveries.map(async (d) => deliveryDetailJson(d, await store.queue.attempts(d.id)))) };
    }),
  );

  app.get(
    '/api/v1/messages/:id/events',
    route(async (req) => {
      const id = req.params['id'] ?? '';
      await mustMessage(id);
      return { items: (await store.messages.events(id)).map(eventJson) };
    }),
  );

  app.post(
    '/api/v1/deliveries/:id/retry',
    route(async (req) => {
      const b = bodyObject(req.body, ['payload']);
      const payload = b['payload'];
      if (payload !== undefined && (typeof payload !== 'string' || payload === '')) throw new BadRequest('payload', 'must be a non-empty string');
      return retryDelivery(ports, req.params['id'] ?? '', { actor: options.actor(req), payload });
    }),
  );

  app.post(
    '/api/v1/deliveries/:id/resolve',
    route(async (req) => {
      const reason = optString(bodyObject(req.body, ['reason']), 'reason', MAX_REASON_CHARS);
      return resolveDelivery(ports, req.params['id'] ?? '', { actor: options.actor(req), reason });
    }),
  );

  app.post(
    '/api/v1/exceptions/retry',
    route(async (req) => retryDeliveries(ports, bulkSelection(req.body, []).selection, { actor: options.actor(req) })),
  );

  app.post(
    '/api/v1/exceptions/resolve',
    route(async (req) => {
      const { selection, body } = bulkSelection(req.body, ['reason']);
      return resolveDeliveries(ports, selection, { actor: options.actor(req), reason: optString(body, 'reason', MAX_REASON_CHARS) });
    }),
  );

  app.post(
    '/api/v1/replay',
    route(async (req) => {
      const { request, dryRun } = parseReplayBody(req.body, options.actor(req));
      return dryRun ? { dryRun: true, ...(await planReplay(ports, request)) } : { dryRun: false, ...(await runReplay(ports, request)) };
    }),
  );

  app.get(
    '/api/v1/channels',
    route(async (req) => {
      queryOf(req, []);
      return { items: (await store.channels.list()).map(revisionJson) };
    }),
  );

  app.get(
    '/api/v1/channels/:id/revisions',
    route(async (req) => {
      const id = channelIdOf(req.params['id'] ?? '');
      const history = await store.channels.history(id);
      if (history.length === 0) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'channel', id });
      return { items: history.map(revisionJson) };
    }),
  );

  app.get(
    '/api/v1/channels/:id/revisions/:rev',
    route(async (req, reply) => {
      const id = channelIdOf(req.params['id'] ?? '');
      const rev = revisionNumber(req.params['rev'], 'rev');
      const r = await store.channels.get(id, rev);
      if (r === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'channel revision', id: `${id}@${rev}` });
      // RFC 9512 media type; the headers carry what the JSON listing has.
      reply.type('application/yaml; charset=utf-8').header('x-switchboard-revision', String(r.revision)).header('etag', `"${r.hash}"`);
      return r.document;
    }),
  );

  app.get(
    '/api/v1/channels/:id/diff',
    route(async (req) => {
      const id = channelIdOf(req.params['id'] ?? '');
      const q = queryOf(req, ['from', 'to']);
      return revisionDiff(store, id, revisionNumber(q['from'], 'from'), revisionNumber(q['to'], 'to'));
    }),
  );

  app.get(
    '/api/v1/audit',
    route(async (req) => {
      const q = queryOf(req, ['action', 'target', 'limit']);
      const limit = optLimit(q['limit'], 'limit', DEFAULT_BULK_LIMIT, MAX_LIMIT);
      const entries = await store.audit.list({ limit, ...(q['action'] !== undefined ? { action: q['action'] } : {}), ...(q['target'] !== undefined ? { target: q['target'] } : {}) });
      return { items: entries.map(auditJson) };
    }),
  );
}
