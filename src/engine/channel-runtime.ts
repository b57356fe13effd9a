import { destinationId, type ChannelConfig } from '../core/channel-config.ts';
import { isSwitchboardError } from '../core/errors.ts';
import { newCorrelationId, newSortableId } from '../core/ids.ts';
import type { NewDelivery } from '../core/ports/delivery-queue.ts';
import type { IngestOutcome, IngestRecord, IngestResult, MessageEvent } from '../core/ports/message-store.ts';
import { createAckResponder } from '../hl7v2/hl7-ack-responder.ts';
import { buildRejectAck, Hl7ErrorCode, parseMessage, type Hl7Message } from '../hl7v2/index.ts';
import type { CompiledPipeline, PipelineContext, PipelineResult } from './channel-pipeline.ts';
import { hl7IngestRecord, rawIngestRecord, type Hl7IngestOptions } from './hl7-ingest-record.ts';
import type { InboundMessage, ReceiveResult, SourceContext } from './source-connector.ts';

/**
 * A channel at run time: what a source hands each inbound message to. Per ARCHITECTURE.md "A
 * message's path": parse -> (validate) -> pipeline (filters, transformers, routing) -> ONE
 * transaction storing the raw message, its metadata, dedupe key and the deliveries the pipeline
 * produced -> only then the ACK (invariant 1). Running the pure pipeline before the commit, rather
 * than after the ACK, means a crash can never leave an acknowledged message without its deliveries,
 * and a message costs one group commit instead of two.
 */

export interface ChannelReceiverOptions {
  readonly config: ChannelConfig;
  /** The config revision messages are stored under (invariant 8). */
  readonly revision: number;
  readonly pipeline: CompiledPipeline;
  /** The store's ingest (MessageStore.ingest), or an in-memory one for offline channel tests. */
  readonly ingest: (record: IngestRecord) => Promise<IngestResult>;
  /** Records that a duplicate arrived, on the first message's history (MessageStore.appendEvent). */
  readonly appendEvent?: (event: MessageEvent) => Promise<void>;
  /** Told which destination ids got new deliveries, after the commit (wakes the dispatcher). */
  readonly onQueued?: (destinationIds: readonly string[]) => void;
}

/** What was received, for metrics and logs: ids and codes only (invariant 7). */
export interface ReceiveSummary {
  readonly messageType: string;
  readonly controlId: string;
  /** The ACK code sent (AA, AE, CA...), `-` when none was due, '' for non-HL7 input. */
  readonly ackCode: string;
}

export interface ChannelReceiver extends SourceContext {
  /** Like receive, plus the summary used by metrics. */
  receiveWithSummary(message: InboundMessage): Promise<{ result: ReceiveResult; summary: ReceiveSummary }>;
}

export function createChannelReceiver(options: ChannelReceiverOptions): ChannelReceiver {
  const { config, pipeline, revision } = options;
  const channelId = config.id;
  const dedupeWindowMs = config.dedupe.enabled ? config.dedupe.windowMs : 0;
  const byName = new Map(config.destinations.map((d) => [d.name, d]));

  /** The deliveries of a routed result: one per output, keyed per destination's ordering policy. */
  function outcomeOf(result: PipelineResult, orderingKey: string | undefined, idempotencyBase: string): IngestOutcome {
    switch (result.kind) {
      case 'filtered':
        return { kind: 'filtered', reason: result.reason };
      case 'error':
        return { kind: 'errored', reason: result.errorCode };
      case 'routed': {
        const deliveries: NewDelivery[] = [];
        for (const out of result.outputs) {
          const dest = byName.get(out.destination);
          if (dest === undefined) continue;
          deliveries.push({
            destination: destinationId(channelId, dest.name),
            ...(dest.ordering === 'key' && orderingKey !== undefined ? { orderingKey } : {}),
            payload: out.payload,
            // Stable across this delivery's retries, distinct per stored message and destination,
            // so a destination that dedupes can (invariant 2).
            idempotencyKey: `${idempotencyBase}/${dest.name}`,
            maxAttempts: dest.retry.maxAttempts,
          });
        }
        return { kind: 'queued', deliveries };
      }
    }
  }

  async function store(record: IngestRecord): Promise<IngestResult> {
    const result = await options.ingest(record);
    if (result.kind === 'stored' && record.outcome?.kind === 'queued' && record.outcome.deliveries.length > 0) {
      options.onQueued?.([...new Set(record.outcome.deliveries.map((d) => d.destination))]);
    }
    if (result.kind === 'duplicate' && options.appendEvent !== undefined) {
      // "Duplicates are acknowledged and not reprocessed (recorded as such)": on the first one's history.
      // Best effort: the ACK must not fail because this note could not be written.
      await options.appendEvent({ messageId: result.id, at: record.receivedAt, type: 'duplicate', detail: { source: record.source, correlationId: record.correlationId } }).catch(() => undefined);
    }
    return result;
  }

  function statusOf(outcome: IngestOutcome | undefined): string {
    if (outcome === undefined) return 'received';
    if (outcome.kind === 'queued') return outcome.deliveries.length > 0 ? 'queued' : 'delivered';
    return outcome.kind;
  }

  function storeFailure(e: unknown): string {
    return isSwitchboardError(e) ? e.code : 'SWB_ERR_STORE_UNAVAILABLE';
  }

  /** FHIR JSON or plain text (HTTP and directory sources): pipeline, store; no ACK. */
  async function receiveOther(inbound: InboundMessage): Promise<{ result: ReceiveResult; summary: ReceiveSummary }> {
    const correlationId = inbound.correlationId ?? newCorrelationId();
    const ctx: PipelineContext = { channelId, configRevision: revision, correlationId };
    let outcome: IngestOutcome;
    try {
      outcome = outcomeOf(await pipeline.run({ content: inbound.content, contentType: inbound.contentType }, ctx), undefined, newSortableId());
    } catch (e) {
      outcome = { kind: 'errored', reason: isSwitchboardError(e) ? e.code : 'SWB_ERR_PIPELINE_STEP_FAILED' };
    }
    const summary: ReceiveSummary = { messageType: inbound.contentType === 'fhir+json' ? 'fhir' : 'text', controlId: '', ackCode: '' };
    try {
      const r = await store({
        channelId,
        content: inbound.content,
        contentType: inbound.contentType,
        receivedAt: inbound.receivedAt,
        source: inbound.source,
        correlationId,
        configRevision: revision,
        patientIds: [],
        outcome,
      });
      return {
        result: { kind: 'accepted', messageId: r.id, duplicate: r.kind === 'duplicate', status: statusOf(outcome), ack: undefined, ...(outcome.kind === 'errored' ? { errorCode: outcome.reason } : {}) },
        summary,
      };
    } catch (e) {
      return { result: { kind: 'rejected', errorCode: storeFailure(e), ack: undefined }, summary };
    }
  }

  /** One HL7 message's state while the responder runs: what onMessage stored, for receiveHl7. */
  interface Hl7Call {
    readonly inbound: InboundMessage;
    readonly correlationId: string;
    readonly base: Hl7IngestOptions;
    stored: IngestResult | undefined;
    outcome: IngestOutcome | undefined;
  }

  // One responder for the channel; each message's state travels as the call's context.
  const responder = createAckResponder<Hl7Call>({
    validate: config.ack.validate,
    onMessage: async (message: Hl7Message, call: Hl7Call) => {
      const { inbound, base } = call;
      const ctx: PipelineContext = { channelId, configRevision: revision, correlationId: call.correlationId };
      let result: PipelineResult;
      let orderingKey: string | undefined;
      try {
        result = await pipeline.run({ content: inbound.content, contentType: 'hl7v2', message }, ctx);
        orderingKey = await pipeline.orderingKey(message, ctx);
      } catch (e) {
        // A pipeline never throws by contract; if one does, keep the message errored, not lost.
        result = { kind: 'error', errorCode: isSwitchboardError(e) ? e.code : 'SWB_ERR_PIPELINE_STEP_FAILED', reason: 'pipeline failed' };
      }
      const outcome = outcomeOf(result, orderingKey, newSortableId());
      call.outcome = outcome;
      // A store failure throws here; the responder turns it into AR (207) so the sender resends.
      call.stored = await store({ ...hl7IngestRecord(message, inbound.content, { ...base, orderingKey: { value: orderingKey } }), outcome });
      // The message is stored either way; `application` mode tells the sender the pipeline failed.
      if (outcome.kind === 'errored' && config.ack.mode === 'application') return { outcome: 'error', errorCode: outcome.reason };
      return undefined;
    },
  });

  async function receiveHl7(inbound: InboundMessage): Promise<{ result: ReceiveResult; summary: ReceiveSummary }> {
    const correlationId = inbound.correlationId ?? newCorrelationId();
    const base: Hl7IngestOptions = { channelId, source: inbound.source, receivedAt: inbound.receivedAt, configRevision: revision, correlationId, dedupeWindowMs };
    const call: Hl7Call = { inbound, correlationId, base, stored: undefined, outcome: undefined };
    const { reply, summary: s } = await responder(inbound.content, call);
    const { stored, outcome } = call;
    const summary: ReceiveSummary = { messageType: s.type, controlId: s.controlId, ackCode: s.ack };
    if (stored !== undefined) {
      return {
        result: {
          kind: 'accepted',
          messageId: stored.id,
          duplicate: stored.kind === 'duplicate',
          status: stored.kind === 'duplicate' ? 'duplicate' : statusOf(outcome),
          ack: reply,
          ...(outcome?.kind === 'errored' ? { errorCode: outcome.reason } : {}),
        },
        summary,
      };
    }
    if (outcome !== undefined || s.errorCode === undefined) {
      // onMessage ran but the store threw: the responder answered AR; the sender keeps the message.
      return { result: { kind: 'rejected', errorCode: s.errorCode ?? 'SWB_ERR_INTERNAL_UNEXPECTED', ack: reply }, summary };
    }
    // Invalid or unparseable: keep it (errored, with the reason) before answering AE/AR, so that
    // nothing received is lost; no dedupe, a corrected resend must not be taken for a duplicate.
    try {
      let record: IngestRecord;
      try {
        record = hl7IngestRecord(parseMessage(inbound.content), inbound.content, { ...base, dedupeWindowMs: 0 });
      } catch {
        record = rawIngestRecord(inbound.content, base);
      }
      const r = await options.ingest({ ...record, outcome: { kind: 'errored', reason: s.errorCode } });
      return { result: { kind: 'accepted', messageId: r.id, duplicate: false, status: 'errored', ack: reply, errorCode: s.errorCode }, summary };
    } catch (e) {
      const code = storeFailure(e);
      const nak = buildRejectAck(inbound.content, { hl7Code: Hl7ErrorCode.applicationInternalError, code });
      return { result: { kind: 'rejected', errorCode: code, ack: nak.toString({ terminator: '\r' }) }, summary: { ...summary, ackCode: String(nak.get('MSA-1') ?? 'AR') } };
    }
  }

  const receiveWithSummary = (inbound: InboundMessage): Promise<{ result: ReceiveResult; summary: ReceiveSummary }> =>
    inbound.contentType === 'hl7v2' ? receiveHl7(inbound) : receiveOther(inbound);

  return {
    channelId,
    receiveWithSummary,
    receive: async (inbound) => (await receiveWithSummary(inbound)).result,
  };
}
