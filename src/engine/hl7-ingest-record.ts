import { newCorrelationId } from '../core/ids.ts';
import type { IngestRecord } from '../core/ports/message-store.ts';
import type { Hl7Message } from '../hl7v2/index.ts';

export interface Hl7IngestOptions {
  readonly channelId: string;
  readonly source: string;
  readonly receivedAt: Date;
  readonly configRevision: number;
  /** HL7 path of the ordering key (default `PID-3[1].1`, the first patient identifier). */
  readonly orderingKeyPath?: string;
  /** The ordering key already computed (a channel's module or path); wins over orderingKeyPath. */
  readonly orderingKey?: { readonly value: string | undefined };
  /** Duplicate window (default 24 h); 0 disables dedupe. */
  readonly dedupeWindowMs?: number;
  readonly correlationId?: string;
}

export const DEFAULT_DEDUPE_WINDOW_MS = 24 * 60 * 60 * 1000;

function text(v: string | null | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The record stored for a parsed HL7 v2 message: ids and search keys read from the message, the
 * raw text kept as received. The dedupe key is sending facility + MSH-10 (MSH-10 is unique per
 * sender: HL7 v2.5.1 ch.2 2.14.9.10), so a resend after a lost ACK is recognised.
 */
export function hl7IngestRecord(message: Hl7Message, content: string, options: Hl7IngestOptions): IngestRecord {
  const controlId = text(message.get('MSH-10'));
  const sendingApp = text(message.get('MSH-3.1')) ?? '';
  const sendingFacility = text(message.get('MSH-4.1'));
  const type = [message.messageCode, message.triggerEvent].filter((x) => x !== '').join('^');
  const patientIds = [...new Set(message.getAll('PID-3.1').filter((v): v is string => typeof v === 'string' && v !== ''))];
  const orderingKey = options.orderingKey !== undefined ? text(options.orderingKey.value) : text(message.get(options.orderingKeyPath ?? 'PID-3[1].1'));
  const window = options.dedupeWindowMs ?? DEFAULT_DEDUPE_WINDOW_MS;
  return {
    channelId: options.channelId,
    content,
    contentType: 'hl7v2',
    receivedAt: options.receivedAt,
    source: options.source,
    correlationId: options.correlationId ?? newCorrelationId(),
    configRevision: options.configRevision,
    patientIds,
    ...(type !== '' ? { messageType: type } : {}),
    ...(controlId !== undefined ? { controlId } : {}),
    ...(sendingFacility !== undefined ? { sendingFacility } : {}),
    ...(orderingKey !== undefined ? { orderingKey } : {}),
    ...(controlId !== undefined && window > 0 ? { dedupeKey: `${options.channelId}|${sendingApp}|${sendingFacility ?? ''}|${controlId}`, dedupeWindowMs: window } : {}),
  };
}

/** The record for input that did not parse: kept (status errored) so nothing received is lost. */
export function rawIngestRecord(content: string, options: Hl7IngestOptions): IngestRecord {
  return {
    channelId: options.channelId,
    content,
    contentType: 'text',
    receivedAt: options.receivedAt,
    source: options.source,
    correlationId: options.correlationId ?? newCorrelationId(),
    configRevision: options.configRevision,
    patientIds: [],
  };
}
