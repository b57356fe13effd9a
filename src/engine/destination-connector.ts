import type { FailureClass } from '../core/errors.ts';
import type { ResourceStore } from '../core/ports/resource-store.ts';
import type { InboundMessage, ReceiveResult } from './source-connector.ts';

/**
 * What a destination connector does for the dispatcher: send one delivery and say what happened,
 * as data (a tagged union), so that retries are decided by failure class, never by message text
 * (ARCHITECTURE.md invariant 3). Implementations live in src/connectors/<kind>/.
 */

export interface OutboundDelivery {
  readonly id: string;
  readonly messageId: string;
  readonly destination: string;
  readonly payload: string;
  /** Sent to the far side where it can dedupe (an HTTP header, MSH-10 for HL7) — invariant 2. */
  readonly idempotencyKey: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly correlationId?: string;
}

export type SendResult =
  | { readonly kind: 'delivered'; readonly response?: string }
  | {
      readonly kind: 'failed';
      readonly failureClass: FailureClass;
      /** A stable code from src/core/errors.ts. */
      readonly errorCode: string;
      readonly response?: string;
      /** The far side asked to wait (HTTP Retry-After): the dispatcher waits at least this long. */
      readonly retryAfterMs?: number;
    };

export interface DestinationConnector {
  readonly kind: string;
  /**
   * Sends one delivery. Must not throw for failures of the far side: those are `failed` results
   * with a class. `signal` aborts on shutdown or when the attempt's time is up; an aborted send
   * whose request may have reached the far side is `ambiguous`.
   */
  send(delivery: OutboundDelivery, signal: AbortSignal): Promise<SendResult>;
  close(): Promise<void>;
}

/** The engine's channels, as a `channel` destination hands a message to another channel. */
export interface ChannelInbox {
  /** undefined when no channel has that id (or it is not running). */
  receive(channelId: string, message: InboundMessage): Promise<ReceiveResult> | undefined;
}

/** What the engine offers a destination beyond its settings. */
export interface DestinationContext {
  readonly channels?: ChannelInbox;
  /** The engine's canonical FHIR store, for the fhir-store destination. */
  readonly resources?: ResourceStore;
}

/** Builds a connector from a destination's settings (already validated by the channel schema). */
export type DestinationFactory = (settings: Readonly<Record<string, unknown>>, context: DestinationContext) => DestinationConnector;
