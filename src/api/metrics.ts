import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const MESSAGE_TYPE = /^[A-Z0-9]{3}(\^[A-Z0-9]{2,3})?$/;

/**
 * A message-type label for metrics. MSH-9 comes from the sender: it is kept only when it looks
 * like a message type (or is one of `known`), so label values stay bounded and nothing else a
 * sender put there is echoed; anything else is `other`. '' stays ''.
 */
export function messageTypeLabel(type: string, known: readonly string[] = []): string {
  return type === '' || MESSAGE_TYPE.test(type) || known.includes(type) ? type : 'other';
}

/** Prometheus metrics of the listener. Labels are low-cardinality codes, never message content. */
export interface ListenerMetrics {
  readonly registry: Registry;
  readonly messages: Counter<'type' | 'ack'>;
  readonly bytes: Counter;
  readonly duplicates: Counter;
  readonly connections: Gauge;
  readonly protocolErrors: Counter<'kind'>;
  readonly handleSeconds: Histogram<'ack'>;
}

export function createListenerMetrics(): ListenerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'swb_process_' });
  return {
    registry,
    messages: new Counter({ name: 'swb_mllp_messages_total', help: 'HL7 messages received over MLLP, by message type and ACK code', labelNames: ['type', 'ack'], registers: [registry] }),
    bytes: new Counter({ name: 'swb_mllp_received_bytes_total', help: 'payload bytes received over MLLP', registers: [registry] }),
    duplicates: new Counter({ name: 'swb_ingest_duplicates_total', help: 'messages acknowledged again as duplicates (same sender and MSH-10 within the window)', registers: [registry] }),
    connections: new Gauge({ name: 'swb_mllp_connections', help: 'open MLLP connections', registers: [registry] }),
    protocolErrors: new Counter({ name: 'swb_mllp_protocol_errors_total', help: 'MLLP framing and connection errors, by kind', labelNames: ['kind'], registers: [registry] }),
    handleSeconds: new Histogram({
      name: 'swb_mllp_handle_seconds',
      help: 'time from a complete frame to its ACK being ready',
      labelNames: ['ack'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
  };
}
