import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../core/logger.ts';
import { isSwitchboardError } from '../core/errors.ts';
import type { Store } from '../core/ports/store.ts';
import { hl7IngestRecord, rawIngestRecord, type Hl7IngestOptions } from '../engine/hl7-ingest-record.ts';
import { buildRejectAck, Hl7ErrorCode, parseMessage } from '../hl7v2/index.ts';
import { createAckResponder, type InboundSummary } from '../hl7v2/hl7-ack-responder.ts';
import { MllpServer, type MllpInboundMessage, type MllpServerEvent } from '../mllp/mllp-server.ts';
import { buildHttpApi } from './http-api.ts';
import { createListenerMetrics, messageTypeLabel, type ListenerMetrics } from './metrics.ts';
import { RecentMessages } from './recent-messages.ts';

export interface ListenerServiceOptions {
  readonly host: string;
  readonly mllpPort: number;
  /** undefined: no HTTP API (the bare `listen` command). */
  readonly httpPort: number | undefined;
  readonly validate: boolean;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
  readonly logger: Logger;
  /**
   * When set, every message is stored durably before its ACK is written (ARCHITECTURE.md invariant
   * 1): valid ones as received, invalid or unparseable ones as errored with the reason.
   */
  readonly store?: Store;
  /** The channel id messages are stored under (default `mllp`). */
  readonly channelId?: string;
  /** Called with each handled message's summary (ids only). */
  readonly onHandled?: (summary: InboundSummary & { connectionId: string; receivedAt: Date }) => void;
}


export interface ListenerService {
  readonly mllp: MllpServer;
  readonly http: FastifyInstance | undefined;
  readonly metrics: ListenerMetrics;
  readonly httpUrl: string | undefined;
  close(): Promise<void>;
}

/**
 * What `switchboard start` runs until the engine's durable store lands: an MLLP listener that
 * parses, validates and acknowledges, and the HTTP API beside it. Composition only; the parts
 * live in hl7v2/, mllp/ and api/.
 */
export async function startListenerService(options: ListenerServiceOptions): Promise<ListenerService> {
  const log = options.logger;
  const metrics = createListenerMetrics();
  const recent = new RecentMessages();
  const respond = createAckResponder({ validate: options.validate });
  const store = options.store;
  const channelId = options.channelId ?? 'mllp';

  /** One message's state while the storing responder runs. */
  interface StoreCall {
    readonly payload: string;
    readonly base: Hl7IngestOptions;
    called: boolean;
    messageId: string | undefined;
    duplicate: boolean;
  }
  // One responder; each message's state travels as the call's context.
  const storing = createAckResponder<StoreCall>({
    validate: options.validate,
    onMessage: async (message, call) => {
      call.called = true;
      if (store === undefined) return undefined;
      const r = await store.messages.ingest(hl7IngestRecord(message, call.payload, call.base));
      call.messageId = r.id;
      call.duplicate = r.kind === 'duplicate';
      return undefined;
    },
  });

  /** Stores then acknowledges; a store failure answers AR so the sender keeps the message. */
  const durableRespond = async (inbound: MllpInboundMessage): Promise<{ reply: string | undefined; summary: InboundSummary; messageId?: string }> => {
    if (store === undefined) return respond(inbound.payload);
    const base: Hl7IngestOptions = { channelId, source: `mllp://${inbound.remoteAddress}:${inbound.remotePort}`, receivedAt: inbound.receivedAt, configRevision: 0 };
    const call: StoreCall = { payload: inbound.payload, base, called: false, messageId: undefined, duplicate: false };
    const result = await storing(inbound.payload, call);
    const { called, messageId, duplicate } = call;
    if (called || result.summary.errorCode === undefined) {
      // A duplicate (same sender and MSH-10 within the window) is acknowledged again, not stored again.
      if (duplicate) metrics.duplicates.inc();
      return messageId === undefined ? result : { ...result, messageId };
    }
    // Invalid or unparseable: keep it (errored, with the reason) before answering AE/AR.
    try {
      let record;
      try {
        record = hl7IngestRecord(parseMessage(inbound.payload), inbound.payload, { ...base, dedupeWindowMs: 0 });
      } catch {
        record = rawIngestRecord(inbound.payload, base);
      }
      const r = await store.messages.ingest(record);
      await store.messages.setStatus(r.id, 'errored', result.summary.errorCode);
      return { ...result, messageId: r.id };
    } catch (e) {
      const code = isSwitchboardError(e) ? e.code : 'SWB_ERR_STORE_UNAVAILABLE';
      const nak = buildRejectAck(inbound.payload, { hl7Code: Hl7ErrorCode.applicationInternalError, code });
      return { reply: nak.toString({ terminator: '\r' }), summary: { ...result.summary, ack: String(nak.get('MSA-1') ?? 'AR'), errorCode: code } };
    }
  };

  const tlsOptions = options.tls
    ? {
        cert: readFileSync(options.tls.certFile),
        key: readFileSync(options.tls.keyFile),
        ...(options.tls.caFile ? { ca: readFileSync(options.tls.caFile), requestCert: true, rejectUnauthorized: true } : {}),
      }
    : undefined;

  const mllp: MllpServer = new MllpServer({
    host: options.host,
    port: options.mllpPort,
    maxFrameBytes: options.maxFrameBytes,
    idleTimeoutMs: options.idleTimeoutMs,
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    handler: async (inbound) => {
      const started = process.hrtime.bigint();
      const { reply, summary: raw } = await durableRespond(inbound);
      // MSH-9 comes from the sender: keep it only when it looks like a message type, so that
      // metrics labels stay bounded and nothing else a sender put there is echoed.
      const s: InboundSummary = { ...raw, type: messageTypeLabel(raw.type) };
      {
        metrics.messages.inc({ type: s.type || 'unparsed', ack: s.ack });
        metrics.bytes.inc(s.bytes);
        metrics.handleSeconds.observe({ ack: s.ack }, Number(process.hrtime.bigint() - started) / 1e9);
        recent.add({ receivedAt: inbound.receivedAt.toISOString(), controlId: s.controlId, type: s.type, version: s.version, bytes: s.bytes, ack: s.ack, connectionId: inbound.connectionId, ...(s.errorCode ? { errorCode: s.errorCode } : {}) });
        log.debug({ connectionId: inbound.connectionId, controlId: s.controlId, type: s.type, ack: s.ack, errorCode: s.errorCode }, 'message acknowledged');
        options.onHandled?.({ ...s, connectionId: inbound.connectionId, receivedAt: inbound.receivedAt });
      }
      return reply;
    },
    // The responder does not throw; if it ever does, the sender still gets a reject with an ERR.
    onHandlerError: (error, inbound) => {
      log.error({ connectionId: inbound.connectionId, err: error instanceof Error ? error.message : String(error) }, 'handler failed');
      return buildRejectAck(inbound.payload, { hl7Code: Hl7ErrorCode.applicationInternalError, code: 'SWB_ERR_MLLP_HANDLER_FAILED' }).toString({ terminator: '\r' });
    },
    onEvent: (event: MllpServerEvent) => {
      switch (event.kind) {
        case 'connection-opened':
          metrics.connections.inc();
          log.info({ connectionId: event.connectionId, remote: `${event.remoteAddress}:${event.remotePort}`, tls: event.tls !== null }, 'connection opened');
          break;
        case 'connection-closed':
          metrics.connections.dec();
          log.info({ connectionId: event.connectionId, reason: event.reason, messages: event.messages, code: event.error?.code }, 'connection closed');
          break;
        case 'protocol-error':
          metrics.protocolErrors.inc({ kind: event.error.code });
          log.warn({ connectionId: event.connectionId, code: event.error.code }, 'protocol error');
          break;
        case 'connection-dropped':
          metrics.protocolErrors.inc({ kind: 'max-connections' });
          log.warn({ remote: event.remoteAddress }, 'connection refused: too many connections');
          break;
        case 'tls-error':
          metrics.protocolErrors.inc({ kind: 'tls' });
          log.warn({ remote: event.remoteAddress, err: event.error.message }, 'TLS handshake failed');
          break;
        case 'junk-skipped':
          metrics.protocolErrors.inc({ kind: 'junk' });
          break;
        case 'handler-error':
        case 'frame-received':
        case 'reply-sent':
        case 'server-error':
          if (event.kind === 'server-error') log.error({ err: event.error.message }, 'MLLP server error');
          break;
      }
    },
  });
  await mllp.listen();

  try {
    return await withHttp(mllp);
  } catch (e) {
    // Without its API the service is not what the operator started: do not keep acknowledging.
    await mllp.close();
    throw e;
  }

  async function withHttp(mllp: MllpServer): Promise<ListenerService> {
    let http: FastifyInstance | undefined;
    let httpUrl: string | undefined;
    if (options.httpPort !== undefined) {
      http = buildHttpApi({
        registry: metrics.registry,
        listener: {
          get listening() {
            return mllp.listening;
          },
          get port() {
            return mllp.listening ? mllp.port : undefined;
          },
          tls: mllp.tls,
          get connections() {
            return mllp.stats.connections;
          },
          get received() {
            return mllp.stats.messages;
          },
          recent: () => recent.list(),
        },
        store: options.store,
      });
      await http.listen({ host: options.host, port: options.httpPort });
      const addr = http.server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : options.httpPort;
      httpUrl = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
    }

    return {
      mllp,
      http,
      metrics,
      httpUrl,
      async close() {
        await http?.close();
        await mllp.close();
      },
    };
  }
}
