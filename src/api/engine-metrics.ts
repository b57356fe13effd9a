import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeliveryQueue, QueueStats } from '../core/ports/delivery-queue.ts';

/**
 * Prometheus metrics of the engine (issue 3 "Observability"): received, acknowledged by code,
 * delivered, failed, queue depth and the age of the oldest message per destination, delivery
 * latency. Labels are channel and destination ids, message types checked against a pattern, and
 * codes: never content (invariant 7), and bounded in number.
 */
export interface EngineMetrics {
  readonly registry: Registry;
  readonly received: Counter<'channel' | 'type' | 'ack' | 'status'>;
  readonly duplicates: Counter<'channel'>;
  readonly receiveSeconds: Histogram<'channel'>;
  readonly deliveries: Counter<'destination' | 'result'>;
  readonly attemptSeconds: Histogram<'destination'>;
  readonly deliverySeconds: Histogram<'destination'>;
  readonly retentionPruned: Counter<'channel'>;
  readonly mllpConnections: Gauge<'channel'>;
  readonly mllpProtocolErrors: Counter<'channel' | 'kind'>;
}

const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export function createEngineMetrics(options: { queue: DeliveryQueue; destinations: () => readonly string[]; registry?: Registry }): EngineMetrics {
  const registry = options.registry ?? new Registry();
  if (options.registry === undefined) collectDefaultMetrics({ register: registry, prefix: 'swb_process_' });
  /** One stats read per scrape feeds both queue gauges. */
  let snapshot: Promise<QueueStats[]> | undefined;
  const stats = (): Promise<QueueStats[]> => {
    snapshot ??= Promise.all(options.destinations().map((d) => options.queue.stats(d))).finally(() => {
      setImmediate(() => {
        snapshot = undefined;
      });
    });
    return snapshot;
  };
  new Gauge({
    name: 'swb_queue_depth',
    help: 'deliveries not finished (pending, in flight, failed, ambiguous) per destination',
    labelNames: ['destination'],
    registers: [registry],
    async collect() {
      for (const s of await stats()) this.set({ destination: s.destination }, s.depth);
    },
  });
  new Gauge({
    name: 'swb_queue_oldest_age_seconds',
    help: 'age of the oldest unfinished delivery per destination',
    labelNames: ['destination'],
    registers: [registry],
    async collect() {
      for (const s of await stats()) this.set({ destination: s.destination }, s.oldestAgeMs / 1000);
    },
  });
  return {
    registry,
    received: new Counter({ name: 'swb_messages_received_total', help: 'messages received by channel, message type, ACK code and stored status', labelNames: ['channel', 'type', 'ack', 'status'], registers: [registry] }),
    duplicates: new Counter({ name: 'swb_ingest_duplicates_total', help: 'messages acknowledged again as duplicates (same sender and MSH-10 within the window)', labelNames: ['channel'], registers: [registry] }),
    receiveSeconds: new Histogram({ name: 'swb_receive_seconds', help: 'time from input to its answer (parse, pipeline, durable commit)', labelNames: ['channel'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    deliveries: new Counter({ name: 'swb_delivery_attempts_total', help: 'delivery attempts by destination and result (delivered, retry, failed, ambiguous, parked)', labelNames: ['destination', 'result'], registers: [registry] }),
    attemptSeconds: new Histogram({ name: 'swb_delivery_attempt_seconds', help: 'duration of one delivery attempt', labelNames: ['destination'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    deliverySeconds: new Histogram({ name: 'swb_delivery_latency_seconds', help: 'from enqueue to successful delivery', labelNames: ['destination'], buckets: SECONDS_BUCKETS, registers: [registry] }),
    mllpConnections: new Gauge({ name: 'swb_mllp_connections', help: 'open MLLP connections per channel', labelNames: ['channel'], registers: [registry] }),
    mllpProtocolErrors: new Counter({ name: 'swb_mllp_protocol_errors_total', help: 'MLLP framing, TLS and connection errors per channel, by kind', labelNames: ['channel', 'kind'], registers: [registry] }),
    retentionPruned: new Counter({ name: 'swb_retention_pruned_total', help: 'messages whose content retention removed', labelNames: ['channel'], registers: [registry] }),
  };
}
