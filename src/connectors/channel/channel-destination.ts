import { SwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { ChannelInbox, DestinationConnector, DestinationContext, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import type { InboundMessage, ReceiveResult } from '../../engine/source-connector.ts';
import { raceAbort, reasonOf, requiredString, type Settings } from '../connector-settings.ts';

/**
 * Hands each delivery to another channel of the same engine, as that channel's inbound message
 * (`source: channel:<from channel>`). The other channel stores it durably before `receive`
 * resolves, so:
 *  - accepted, including a duplicate: delivered. Re-delivering after a lost outcome is safe because
 *    the receiving channel dedupes on sender + MSH-10 (ARCHITECTURE.md invariant 2); FHIR and text
 *    payloads have no such key and may be stored twice after a crash between its commit and ours;
 *  - accepted but stored errored (AE, a pipeline error): still delivered, the message is there with
 *    its reason and resending it unchanged cannot help; the code is kept in the response;
 *  - rejected (its store failed): transient, with the receiver's code, retried with backoff;
 *  - no such channel: permanent SWB_ERR_CHANNEL_NOT_FOUND.
 */

export interface ChannelDestinationSettings {
  /** The id of the channel to hand messages to. */
  readonly channel: string;
}

const PATH = 'destination.settings';

/** FHIR when the payload is a JSON object with a string resourceType; HL7 v2 otherwise. */
function contentTypeOf(payload: string): InboundMessage['contentType'] {
  if (!/^\s*\{/.test(payload)) return 'hl7v2';
  try {
    const value: unknown = JSON.parse(payload);
    if (typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)['resourceType'] === 'string') return 'fhir+json';
  } catch {
    // Not JSON: the receiving channel stores it as errored HL7 with the parse reason.
  }
  return 'hl7v2';
}

/** The sending channel: delivery.destination is `<channel>/<destination name>`. */
function fromChannel(destination: string): string {
  const slash = destination.lastIndexOf('/');
  return slash < 0 ? destination : destination.slice(0, slash);
}

export class ChannelDestination implements DestinationConnector {
  readonly kind = 'channel';
  readonly #target: string;
  readonly #inbox: ChannelInbox | undefined;
  #closed = false;

  constructor(settings: Settings, context: DestinationContext = {}) {
    this.#target = requiredString(settings, PATH, 'channel');
    this.#inbox = context.channels;
  }

  /** The id of the receiving channel. */
  get channel(): string {
    return this.#target;
  }

  async send(delivery: OutboundDelivery, signal: AbortSignal): Promise<SendResult> {
    const target = `channel:${this.#target}`;
    if (this.#closed) return fail('SWB_ERR_DEST_NOT_SENT', { target, reason: 'the connector is closed' });
    if (signal.aborted) return fail('SWB_ERR_DEST_NOT_SENT', { target, reason: 'aborted before sending' });
    const message: InboundMessage = {
      content: delivery.payload,
      contentType: contentTypeOf(delivery.payload),
      source: `channel:${fromChannel(delivery.destination)}`,
      receivedAt: new Date(),
      ...(delivery.correlationId === undefined ? {} : { correlationId: delivery.correlationId }),
    };
    let receiving: Promise<ReceiveResult> | undefined;
    try {
      receiving = this.#inbox?.receive(this.#target, message);
    } catch (error) {
      return fail('SWB_ERR_DEST_UNEXPECTED', { target, reason: reasonOf(error) });
    }
    if (receiving === undefined) return fail('SWB_ERR_CHANNEL_NOT_FOUND', { channel: this.#target });
    let result: ReceiveResult | 'aborted';
    try {
      result = await raceAbort(receiving, signal);
    } catch (error) {
      // The receiver may have committed before it threw.
      return fail('SWB_ERR_DEST_UNEXPECTED', { target, reason: reasonOf(error) });
    }
    if (result === 'aborted') {
      receiving.catch(() => undefined);
      return fail('SWB_ERR_DEST_ABORTED', { target });
    }
    if (result.kind === 'rejected') {
      // Not stored: the receiving channel's store failed, which passes (invariant 3: transient).
      return { kind: 'failed', failureClass: 'transient', errorCode: result.errorCode, response: `${target} did not store the message (${result.errorCode})` };
    }
    return {
      kind: 'delivered',
      response: JSON.stringify({
        messageId: result.messageId,
        status: result.status,
        duplicate: result.duplicate,
        ...(result.errorCode === undefined ? {} : { errorCode: result.errorCode }),
      }),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}

function fail(code: ErrorCode, params: Readonly<Record<string, string>>): SendResult {
  const error = new SwitchboardError(code, params);
  return { kind: 'failed', failureClass: error.failureClass, errorCode: error.code, response: error.message };
}
