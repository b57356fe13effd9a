import { createHash } from 'node:crypto';
import { destinationId, type ChannelConfig } from '../core/channel-config.ts';
import { isSwitchboardError, SwitchboardError } from '../core/errors.ts';
import { newSortableId } from '../core/ids.ts';
import type { AuditEntry, AuditLog } from '../core/ports/audit-log.ts';
import type { ChannelRevisionStore } from '../core/ports/channel-revisions.ts';
import type { Delivery, DeliveryQueue, DeliveryStatus, NewDelivery } from '../core/ports/delivery-queue.ts';
import type { MessageQuery, MessageStore, MessageSummary, StoredMessage } from '../core/ports/message-store.ts';
import { parseMessage } from '../hl7v2/index.ts';
import type { CompiledPipeline, PipelineContext, PipelineResult } from './channel-pipeline.ts';
import { unifiedDiff } from './line-diff.ts';

/**
 * Operator actions (ARCHITECTURE.md invariants 3 and 8): retry or resolve what is in the exception
 * queue, replay stored messages under their pinned or the current channel revision (with a dry run
 * that shows what would change), and channel revisions. Ports only: the composition roots (api,
 * cli) hand in a store. Every action appends to the message history and to the audit log, both
 * with ids, codes and counts only; payloads appear only in what a caller asked to see (a diff).
 */

export interface OpsPorts {
  readonly messages: MessageStore;
  readonly queue: DeliveryQueue;
  readonly channels: ChannelRevisionStore;
  readonly audit: AuditLog;
  /** Wakes a running dispatcher for a destination id, so a retried or replayed delivery goes now. */
  readonly notify?: ((destinationId: string) => void) | undefined;
  readonly clock?: (() => Date) | undefined;
}

/** The statuses of the exception queue (DeliveryQueue.exceptions). */
export const EXCEPTION_STATUSES: readonly DeliveryStatus[] = ['failed', 'ambiguous', 'parked'];

const now = (ports: OpsPorts): Date => ports.clock?.() ?? new Date();

// ---------------------------------------------------------------------------------------------
// Exception queue: retry, edit-and-retry, resolve

export interface DeliveryActionResult {
  readonly deliveryId: string;
  readonly messageId: string;
  readonly destination: string;
  readonly previousStatus: DeliveryStatus;
  readonly status: 'pending' | 'resolved';
}

async function exceptionDelivery(ports: OpsPorts, id: string): Promise<Delivery> {
  const delivery = await ports.queue.get(id);
  if (delivery === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'delivery', id });
  if (!EXCEPTION_STATUSES.includes(delivery.status)) throw new SwitchboardError('SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS', { id, status: delivery.status });
  return delivery;
}

/** The queue refuses a transition when another operator or a worker moved the delivery meanwhile. */
async function transition(id: string, act: () => Promise<void>, fresh: () => Promise<Delivery | undefined>): Promise<void> {
  try {
    await act();
  } catch (e) {
    if (isSwitchboardError(e) && e.code === 'SWB_ERR_QUEUE_BAD_TRANSITION') {
      const now = await fresh();
      throw new SwitchboardError('SWB_ERR_DELIVERY_NOT_IN_EXCEPTIONS', { id, status: now?.status ?? 'gone' }, { cause: e });
    }
    throw e;
  }
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Sends an exception-queue delivery again (attempts reset). With `payload`, the operator's edited
 * payload replaces the stored one (edit-and-retry); the audit keeps its length and hash, never it.
 */
export async function retryDelivery(ports: OpsPorts, id: string, options: { actor: string; payload?: string | undefined }): Promise<DeliveryActionResult> {
  const delivery = await exceptionDelivery(ports, id);
  const edited = options.payload !== undefined;
  await transition(id, () => ports.queue.retry(id, edited ? { payload: options.payload as string } : {}), () => ports.queue.get(id));
  const at = now(ports);
  await ports.messages.appendEvent({ messageId: delivery.messageId, deliveryId: id, at, type: 'retried', detail: { actor: options.actor, previousStatus: delivery.status, edited } });
  await ports.audit.append({
    actor: options.actor,
    action: edited ? 'delivery.edit-retry' : 'delivery.retry',
    target: id,
    at,
    detail: {
      messageId: delivery.messageId,
      destination: delivery.destination,
      previousStatus: delivery.status,
      lastErrorCode: delivery.lastErrorCode ?? null,
      ...(edited ? { payloadBytes: Buffer.byteLength(options.payload as string, 'utf8'), payloadSha256: sha256(options.payload as string), previousPayloadSha256: sha256(delivery.payload) } : {}),
    },
  });
  ports.notify?.(delivery.destination);
  return { deliveryId: id, messageId: delivery.messageId, destination: delivery.destination, previousStatus: delivery.status, status: 'pending' };
}

/** Closes an exception-queue delivery without delivering it; its ordering key flows again. */
export async function resolveDelivery(ports: OpsPorts, id: string, options: { actor: string; reason?: string | undefined }): Promise<DeliveryActionResult> {
  const delivery = await exceptionDelivery(ports, id);
  await transition(id, () => ports.queue.resolve(id), () => ports.queue.get(id));
  const at = now(ports);
  await ports.messages.appendEvent({ messageId: delivery.messageId, deliveryId: id, at, type: 'resolved', detail: { actor: options.actor, previousStatus: delivery.status } });
  // The reason is the operator's own words: kept in the audit log (access-controlled), not in the
  // message history shown beside the message.
  await ports.audit.append({
    actor: options.actor,
    action: 'delivery.resolve',
    target: id,
    at,
    detail: { messageId: delivery.messageId, destination: delivery.destination, previousStatus: delivery.status, lastErrorCode: delivery.lastErrorCode ?? null, reason: options.reason ?? null },
  });
  // Resolving a blocking head unblocks the deliveries queued behind it on the same key.
  ports.notify?.(delivery.destination);
  return { deliveryId: id, messageId: delivery.messageId, destination: delivery.destination, previousStatus: delivery.status, status: 'resolved' };
}

/** Which deliveries a bulk action takes: `ids` when given, else the exception queue (of `destination`). */
export interface BulkSelection {
  readonly ids?: readonly string[] | undefined;
  readonly destination?: string | undefined;
  /** At most this many deliveries are acted on. */
  readonly limit: number;
}

export type BulkItemResult =
  | ({ readonly id: string; readonly kind: 'ok' } & DeliveryActionResult)
  | { readonly id: string; readonly kind: 'failed'; readonly code: string; readonly detail: string };

export interface BulkResult {
  readonly items: readonly BulkItemResult[];
  readonly ok: number;
  readonly failed: number;
}

async function bulk(ports: OpsPorts, selection: BulkSelection, act: (ports: OpsPorts, id: string) => Promise<DeliveryActionResult>): Promise<BulkResult> {
  const limit = Math.max(0, Math.floor(selection.limit));
  const ids =
    selection.ids !== undefined
      ? [...new Set(selection.ids)].slice(0, limit)
      : (await ports.queue.exceptions({ ...(selection.destination !== undefined ? { destination: selection.destination } : {}), limit })).map((d) => d.id);
  // One wake-up per destination after the batch, not one per delivery.
  const woken = new Set<string>();
  const quiet: OpsPorts = { ...ports, notify: (d) => woken.add(d) };
  const items: BulkItemResult[] = [];
  for (const id of ids) {
    try {
      items.push({ id, kind: 'ok', ...(await act(quiet, id)) });
    } catch (e) {
      if (!isSwitchboardError(e)) throw e;
      items.push({ id, kind: 'failed', code: e.code, detail: e.message });
    }
  }
  for (const d of woken) ports.notify?.(d);
  const ok = items.filter((i) => i.kind === 'ok').length;
  return { items, ok, failed: items.length - ok };
}

export function retryDeliveries(ports: OpsPorts, selection: BulkSelection, options: { actor: string }): Promise<BulkResult> {
  return bulk(ports, selection, (p, id) => retryDelivery(p, id, { actor: options.actor }));
}

export function resolveDeliveries(ports: OpsPorts, selection: BulkSelection, options: { actor: string; reason?: string | undefined }): Promise<BulkResult> {
  return bulk(ports, selection, (p, id) => resolveDelivery(p, id, { actor: options.actor, reason: options.reason }));
}

// ---------------------------------------------------------------------------------------------
// Replay

/** A channel revision ready to run: supplied by the composition root (see revision-pipelines.ts). */
export interface ResolvedPipeline {
  readonly config: ChannelConfig;
  readonly revision: number;
  readonly pipeline: CompiledPipeline;
}
export type PipelineFor = (channelId: string, revision: number | 'current') => Promise<ResolvedPipeline>;

export interface ReplayPorts extends OpsPorts {
  readonly pipelineFor: PipelineFor;
}

export const DEFAULT_REPLAY_LIMIT = 1000;
/** The MessageStore page size bound. */
const PAGE = 500;

export interface ReplayRequest {
  /** Which stored messages (paged through to the end, up to `limit`); its own limit/cursor are ignored. */
  readonly query: Omit<MessageQuery, 'limit' | 'cursor' | 'text'>;
  /** Most messages replayed (default 1000); more matches make the plan `truncated`. */
  readonly limit?: number | undefined;
  /** `pinned`: the revision each message ran under; `current`: the channel's latest revision. */
  readonly revision: 'pinned' | 'current';
  /** Destination names; default every destination the revision routes the message to. */
  readonly destinations?: readonly string[] | undefined;
  readonly actor: string;
}

export type ReplayDestinationPlan =
  | { readonly destination: string; readonly kind: 'unchanged' }
  /** `diff`: unified, from the latest existing delivery's payload to the new one, segments as lines. */
  | { readonly destination: string; readonly kind: 'changed'; readonly diff: string }
  /** Routed now; the message has no delivery to this destination yet. */
  | { readonly destination: string; readonly kind: 'new' }
  /** Had a delivery, but the revision no longer routes the message there: nothing is sent. */
  | { readonly destination: string; readonly kind: 'not-routed' };

interface MessageFacts {
  readonly messageId: string;
  readonly channelId: string;
  readonly receivedAt: Date;
  readonly messageType: string | undefined;
  readonly controlId: string | undefined;
  /** The revision run now; undefined when none could be loaded. */
  readonly revision: number | undefined;
}

export type ReplayMessagePlan = MessageFacts &
  (
    | { readonly kind: 'routed'; readonly destinations: readonly ReplayDestinationPlan[] }
    | { readonly kind: 'filtered'; readonly reason: string }
    | { readonly kind: 'error'; readonly errorCode: string }
    /** Retention removed the content: it cannot be replayed. */
    | { readonly kind: 'pruned' }
  );

export interface ReplayCounts {
  readonly messages: number;
  readonly routed: number;
  readonly filtered: number;
  readonly errors: number;
  readonly pruned: number;
  readonly unchanged: number;
  readonly changed: number;
  readonly new: number;
  readonly notRouted: number;
  /** Deliveries a run enqueues (unchanged + changed + new): a replay resends, it does not skip. */
  readonly deliveries: number;
}

export interface ReplayPlan {
  readonly revision: 'pinned' | 'current';
  /** Oldest first: the order a run enqueues in, so per-key FIFO (invariant 4) keeps the original order. */
  readonly messages: readonly ReplayMessagePlan[];
  readonly counts: ReplayCounts;
  /** More messages matched than `limit`; the newest `limit` were taken. */
  readonly truncated: boolean;
}

export interface ReplayRunResult extends ReplayPlan {
  readonly runId: string;
  readonly enqueued: ReadonlyArray<{ readonly messageId: string; readonly deliveryIds: readonly string[] }>;
}

interface Planned {
  readonly plan: ReplayMessagePlan;
  /** What a run enqueues for this message. */
  readonly deliveries: readonly NewDelivery[];
}

async function matchingMessages(messages: MessageStore, query: ReplayRequest['query'], limit: number): Promise<{ items: MessageSummary[]; truncated: boolean }> {
  const items: MessageSummary[] = [];
  let cursor: string | undefined;
  for (;;) {
    // One more than needed tells whether the limit cut the matches short.
    const page = await messages.search({ ...query, limit: Math.min(PAGE, limit + 1 - items.length), ...(cursor !== undefined ? { cursor } : {}) });
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === undefined || items.length > limit) break;
  }
  const truncated = items.length > limit;
  // Search is newest first; replay enqueues oldest first.
  return { items: items.slice(0, limit).reverse(), truncated };
}

function lastPerDestination(deliveries: readonly Delivery[]): Map<string, Delivery> {
  const latest = new Map<string, Delivery>();
  for (const d of deliveries) latest.set(d.destination, d); // enqueue order: the last one wins
  return latest;
}

async function planOne(ports: ReplayPorts, summary: MessageSummary, request: ReplayRequest, pipelines: Map<string, Promise<ResolvedPipeline>>, seenNames: Set<string>): Promise<Planned> {
  const facts = (revision: number | undefined): MessageFacts => ({
    messageId: summary.id,
    channelId: summary.channelId,
    receivedAt: summary.receivedAt,
    messageType: summary.messageType,
    controlId: summary.controlId,
    revision,
  });
  const stored: StoredMessage | undefined = await ports.messages.get(summary.id);
  if (stored?.content === undefined) return { plan: { ...facts(undefined), kind: 'pruned' }, deliveries: [] };

  const wanted = request.revision === 'pinned' ? stored.configRevision : 'current';
  const key = `${stored.channelId}\0${wanted}`;
  let loading = pipelines.get(key);
  if (loading === undefined) {
    loading = ports.pipelineFor(stored.channelId, wanted);
    pipelines.set(key, loading);
  }
  let resolved: ResolvedPipeline;
  try {
    resolved = await loading;
  } catch (e) {
    return { plan: { ...facts(undefined), kind: 'error', errorCode: isSwitchboardError(e) ? e.code : 'SWB_ERR_INTERNAL_UNEXPECTED' }, deliveries: [] };
  }
  const { config, revision, pipeline } = resolved;
  for (const d of config.destinations) seenNames.add(d.name);
  const ctx: PipelineContext = { channelId: config.id, configRevision: revision, correlationId: stored.correlationId };

  // The same steps as the channel runtime, on the stored content.
  let result: PipelineResult;
  let orderingKey: string | undefined;
  try {
    if (stored.contentType === 'hl7v2') {
      const message = parseMessage(stored.content);
      result = await pipeline.run({ content: stored.content, contentType: 'hl7v2', message }, ctx);
      orderingKey = await pipeline.orderingKey(message, ctx);
    } else {
      result = await pipeline.run({ content: stored.content, contentType: stored.contentType }, ctx);
    }
  } catch (e) {
    result = { kind: 'error', errorCode: isSwitchboardError(e) ? e.code : 'SWB_ERR_PIPELINE_STEP_FAILED', reason: 'pipeline failed' };
  }
  if (result.kind === 'filtered') return { plan: { ...facts(revision), kind: 'filtered', reason: result.reason }, deliveries: [] };
  if (result.kind === 'error') return { plan: { ...facts(revision), kind: 'error', errorCode: result.errorCode }, deliveries: [] };

  const selected = (name: string): boolean => request.destinations === undefined || request.destinations.includes(name);
  const byName = new Map(config.destinations.map((d) => [d.name, d]));
  const prefix = `${config.id}/`;
  const latest = lastPerDestination(await ports.queue.forMessage(stored.id));
  const destinations: ReplayDestinationPlan[] = [];
  const deliveries: NewDelivery[] = [];
  const routedNow = new Set<string>();
  for (const out of result.outputs) {
    const dest = byName.get(out.destination);
    if (dest === undefined || !selected(dest.name) || routedNow.has(dest.name)) continue;
    routedNow.add(dest.name);
    const previous = latest.get(destinationId(config.id, dest.name));
    if (previous === undefined) destinations.push({ destination: dest.name, kind: 'new' });
    else if (previous.payload === out.payload) destinations.push({ destination: dest.name, kind: 'unchanged' });
    else destinations.push({ destination: dest.name, kind: 'changed', diff: unifiedDiff(previous.payload, out.payload, { fromLabel: `${dest.name} delivery ${previous.id}`, toLabel: `${dest.name} replay (revision ${revision})` }) });
    deliveries.push({
      destination: destinationId(config.id, dest.name),
      ...(dest.ordering === 'key' && orderingKey !== undefined ? { orderingKey } : {}),
      payload: out.payload,
      // Fresh per message and replay, so a destination that dedupes on the key does not drop the
      // resend as a duplicate of the original (invariant 2 still holds within this replay's retries).
      idempotencyKey: `replay-${newSortableId()}/${dest.name}`,
      maxAttempts: dest.retry.maxAttempts,
    });
  }
  for (const id of latest.keys()) {
    const name = id.startsWith(prefix) ? id.slice(prefix.length) : id;
    if (!routedNow.has(name) && selected(name)) destinations.push({ destination: name, kind: 'not-routed' });
  }
  return { plan: { ...facts(revision), kind: 'routed', destinations }, deliveries };
}

function countsOf(planned: readonly Planned[]): ReplayCounts {
  const c = { messages: planned.length, routed: 0, filtered: 0, errors: 0, pruned: 0, unchanged: 0, changed: 0, new: 0, notRouted: 0, deliveries: 0 };
  for (const { plan, deliveries } of planned) {
    c.deliveries += deliveries.length;
    switch (plan.kind) {
      case 'routed':
        c.routed++;
        for (const d of plan.destinations) {
          if (d.kind === 'not-routed') c.notRouted++;
          else c[d.kind]++;
        }
        break;
      case 'filtered':
        c.filtered++;
        break;
      case 'error':
        c.errors++;
        break;
      case 'pruned':
        c.pruned++;
        break;
    }
  }
  return c;
}

async function buildPlan(ports: ReplayPorts, request: ReplayRequest): Promise<{ planned: Planned[]; plan: ReplayPlan }> {
  const limit = Math.max(0, Math.floor(request.limit ?? DEFAULT_REPLAY_LIMIT));
  const { items, truncated } = await matchingMessages(ports.messages, request.query, limit);
  const pipelines = new Map<string, Promise<ResolvedPipeline>>();
  const seenNames = new Set<string>();
  const planned: Planned[] = [];
  for (const summary of items) planned.push(await planOne(ports, summary, request, pipelines, seenNames));
  // A mistyped destination name would otherwise replay to nothing and look like success.
  if (request.destinations !== undefined && pipelines.size > 0) {
    const unknown = request.destinations.find((n) => !seenNames.has(n));
    if (unknown !== undefined) throw new SwitchboardError('SWB_ERR_REPLAY_UNKNOWN_DESTINATION', { name: unknown });
  }
  return { planned, plan: { revision: request.revision, messages: planned.map((p) => p.plan), counts: countsOf(planned), truncated } };
}

/** The query and options as audit detail: ids and bounds, no content. */
function requestDetail(request: ReplayRequest): AuditEntry['detail'] {
  const q = request.query;
  const status = q.status === undefined ? null : typeof q.status === 'string' ? q.status : q.status.join(',');
  return {
    channel: q.channelId ?? null,
    from: q.from?.toISOString() ?? null,
    to: q.to?.toISOString() ?? null,
    status,
    type: q.messageType ?? null,
    controlId: q.controlId ?? null,
    patientId: q.patientId ?? null,
    correlationId: q.correlationId ?? null,
    limit: request.limit ?? DEFAULT_REPLAY_LIMIT,
    revision: request.revision,
    destinations: request.destinations?.join(',') ?? null,
  };
}

function countDetail(plan: ReplayPlan): AuditEntry['detail'] {
  return { ...plan.counts, truncated: plan.truncated };
}

/**
 * The dry run: what a replay would send, per message and destination, against what was sent
 * before. Sends nothing, changes no message or delivery; leaves one audit entry.
 */
export async function planReplay(ports: ReplayPorts, request: ReplayRequest): Promise<ReplayPlan> {
  const { plan } = await buildPlan(ports, request);
  await ports.audit.append({ actor: request.actor, action: 'replay.dry-run', target: request.query.channelId ?? '*', at: now(ports), detail: { ...requestDetail(request), ...countDetail(plan) } });
  return plan;
}

/**
 * The replay: the same plan, then new deliveries per message (oldest message first), a `replayed`
 * event on each, one audit entry, and a wake-up for each destination.
 */
export async function runReplay(ports: ReplayPorts, request: ReplayRequest): Promise<ReplayRunResult> {
  const { planned, plan } = await buildPlan(ports, request);
  const runId = newSortableId();
  const enqueued: Array<{ messageId: string; deliveryIds: string[] }> = [];
  const destinations = new Set<string>();
  let completed = false;
  try {
    for (const { plan: p, deliveries } of planned) {
      if (deliveries.length === 0) continue;
      const created = await ports.queue.enqueue(p.messageId, deliveries);
      for (const d of created) destinations.add(d.destination);
      enqueued.push({ messageId: p.messageId, deliveryIds: created.map((d) => d.id) });
      await ports.messages.appendEvent({ messageId: p.messageId, at: now(ports), type: 'replayed', detail: { runId, actor: request.actor, revision: p.revision ?? null, destinations: deliveries.length } });
    }
    completed = true;
  } finally {
    // Audited even when the store fails part way: what was enqueued until then is sent.
    await ports.audit.append({ actor: request.actor, action: 'replay.run', target: request.query.channelId ?? '*', at: now(ports), detail: { runId, ...requestDetail(request), ...countDetail(plan), enqueuedMessages: enqueued.length, completed } });
    for (const d of destinations) ports.notify?.(d);
  }
  return { ...plan, runId, enqueued };
}

// ---------------------------------------------------------------------------------------------
// Channel revisions

export interface RevisionDiff {
  readonly channelId: string;
  readonly from: number;
  readonly to: number;
  /** Unified diff of the two YAML documents; '' when they are the same. */
  readonly diff: string;
}

export async function revisionDiff(ports: Pick<OpsPorts, 'channels'>, channelId: string, from: number, to: number): Promise<RevisionDiff> {
  const get = async (revision: number): Promise<string> => {
    const r = await ports.channels.get(channelId, revision);
    if (r === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'channel revision', id: `${channelId}@${revision}` });
    return r.document;
  };
  const [a, b] = await Promise.all([get(from), get(to)]);
  return { channelId, from, to, diff: unifiedDiff(a, b, { fromLabel: `${channelId} revision ${from}`, toLabel: `${channelId} revision ${to}` }) };
}

/** A loaded channel as `applyChannels` needs it (LoadedChannel from channel-loader.ts fits). */
export interface ApplicableChannel {
  readonly config: Pick<ChannelConfig, 'id'>;
  readonly document: string;
  readonly hash: string;
}

export interface ChannelApplyResult {
  readonly channelId: string;
  readonly kind: 'created' | 'unchanged';
  readonly revision: number;
  /** The latest revision before this apply; undefined for a new channel. */
  readonly previous: number | undefined;
}

/** Stores each channel as a new revision unless unchanged, and audits each apply. */
export async function applyChannels(ports: Pick<OpsPorts, 'channels' | 'audit' | 'clock'>, loaded: readonly ApplicableChannel[], actor: string, comment?: string): Promise<ChannelApplyResult[]> {
  const results: ChannelApplyResult[] = [];
  for (const ch of loaded) {
    const before = await ports.channels.latest(ch.config.id);
    const at = ports.clock?.() ?? new Date();
    const r = await ports.channels.apply({ channelId: ch.config.id, document: ch.document, hash: ch.hash, author: actor, at, ...(comment !== undefined ? { comment } : {}) });
    const result: ChannelApplyResult = { channelId: ch.config.id, kind: r.kind, revision: r.revision.revision, previous: before?.revision };
    results.push(result);
    await ports.audit.append({ actor, action: 'channel.apply', target: ch.config.id, at, detail: { result: r.kind, revision: result.revision, previous: result.previous ?? null, hash: ch.hash } });
  }
  return results;
}
