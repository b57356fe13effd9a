/**
 * What a source connector (MLLP listener, HTTP endpoint, directory poller) does for a channel: it
 * turns what arrives into `InboundMessage`s and hands each to `receive`, which stores it durably,
 * runs the pipeline and resolves only after the commit (ARCHITECTURE.md invariant 1). The source
 * answers its sender with what `receive` returns (an HL7 ACK, an HTTP status, a file moved to
 * done/ or error/). Implementations live in src/connectors/<kind>/.
 */

export interface InboundMessage {
  /** Decoded text: ER7 for HL7 v2, JSON for FHIR. */
  readonly content: string;
  readonly contentType: 'hl7v2' | 'fhir+json' | 'text';
  /** Where it came from, without PHI: `mllp://10.0.0.5:50312`, `http://10.0.0.7`, `file:in/a.hl7`. */
  readonly source: string;
  readonly receivedAt: Date;
  /** The caller's correlation id (e.g. an `X-Correlation-Id` header), when it sent one. */
  readonly correlationId?: string;
}

export type ReceiveResult =
  /**
   * Stored (or recognised as a duplicate of a stored one). `ack` is the HL7 ACK to return for HL7
   * input: AA/CA, or AE when the channel's policy answers a content error so (the message is still
   * stored, errored, with the reason).
   */
  | {
      readonly kind: 'accepted';
      readonly messageId: string;
      readonly duplicate: boolean;
      /** The stored status: received, queued, delivered, filtered or errored. */
      readonly status: string;
      readonly ack: string | undefined;
      /** Set when the message was stored errored or the ACK is AE: the stable code. */
      readonly errorCode?: string;
    }
  /**
   * Not stored: the store failed (transient: the sender should resend) or the input could not be
   * taken at all. `ack` is an AR for HL7 input.
   */
  | { readonly kind: 'rejected'; readonly errorCode: string; readonly ack: string | undefined };

export interface SourceContext {
  readonly channelId: string;
  receive(message: InboundMessage): Promise<ReceiveResult>;
}

export interface SourceConnector {
  readonly kind: string;
  /** Starts listening/polling; resolves when it is ready (a port bound, a folder readable). */
  start(context: SourceContext): Promise<void>;
  /** Stops taking new input and waits for what is in hand to be answered. */
  stop(): Promise<void>;
  /** What it listens on, for logs and the API (`mllp://0.0.0.0:2575`, `dir:/in`), once started. */
  describe(): string;
}

/** Builds a source from a channel's `source.settings` (throws SWB_ERR_CONFIG_INVALID naming the path). */
export type SourceFactory = (settings: Readonly<Record<string, unknown>>, path: string) => SourceConnector;
