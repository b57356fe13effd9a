import { isSwitchboardError } from '../core/errors.ts';
import {
  ackCodeFor,
  ackDue,
  ackRequirements,
  buildAckText,
  buildRejectAck,
  Hl7ErrorCode,
  Hl7ParseError,
  parseMessage,
  type AckError,
  type AckOutcome,
  type Hl7Message,
} from './index.ts';
import { validateMessage, validationErrorsToAck } from './hl7-validator.ts';

/** What the responder learned about one inbound message: identifiers only, never content. */
export interface InboundSummary {
  readonly controlId: string;
  readonly type: string;
  readonly version: string;
  readonly bytes: number;
  readonly ack: string;
  readonly errorCode?: string;
}

/** `C`: what each call passes through to `onMessage` (the caller's per-message state); none by default. */
export interface AckResponderOptions<C = void> {
  /** Validate structure and answer AE/CE with ERR segments when it fails (default false: parse only). */
  readonly validate?: boolean;
  /**
   * Called after a message parsed (and validated, if asked) and before the ACK is built. This is
   * where the engine commits durably: the ACK is written only after this promise resolves, and an
   * error here becomes a negative ACK so that the sender keeps the message (ARCHITECTURE.md
   * invariant 1). Return 'error' or 'reject' to answer AE/AR yourself, with `errorCode` to put our
   * stable code in ERR-5 (ERR-3 is then 207, application internal error).
   */
  readonly onMessage?: (message: Hl7Message, context: C) => Promise<AckOutcome | { readonly outcome: AckOutcome; readonly errorCode?: string } | undefined | void>;
  /** Our MSH-3/MSH-4 in ACKs; by default the original's MSH-5/MSH-6. */
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
}

/** The reply to write (undefined: none is due) and what was learned, for metrics and lists. */
export interface AckResponse {
  readonly reply: string | undefined;
  readonly summary: InboundSummary;
}

/**
 * Turns ER7 payloads into ACK payloads (HL7 v2.5.1 ch.2 2.9): parse; on failure answer AR (CR in
 * enhanced mode) with an ERR segment naming the location; otherwise validate if asked, hand the
 * message to `onMessage`, and answer per MSH-15/MSH-16. The reply is undefined when the sender
 * asked for no acknowledgement of this outcome (enhanced mode, e.g. MSH-15 NE and MSH-16 NE).
 */
export function createAckResponder<C = void>(options: AckResponderOptions<C> = {}): (payload: string, context: C) => Promise<AckResponse> {
  const ackIdentity = {
    ...(options.sendingApplication !== undefined ? { sendingApplication: options.sendingApplication } : {}),
    ...(options.sendingFacility !== undefined ? { sendingFacility: options.sendingFacility } : {}),
  };
  return async (payload: string, context: C): Promise<AckResponse> => {
    const bytes = Buffer.byteLength(payload);
    let msg: Hl7Message;
    try {
      msg = parseMessage(payload);
    } catch (e) {
      const parseError = e instanceof Hl7ParseError ? e : undefined;
      const nak = buildRejectAck(payload, {
        hl7Code: parseError?.hl7Code ?? Hl7ErrorCode.applicationInternalError,
        location: parseError?.location,
        // ERR-5 carries our stable code; ERR-8 stays empty: ACKs are stored by senders, and a
        // parse error's text may quote what stood in the message.
        ...(isSwitchboardError(e) ? { code: e.code } : {}),
      });
      const summary: InboundSummary = { controlId: '', type: '', version: '', bytes, ack: String(nak.get('MSA-1') ?? 'AR'), errorCode: isSwitchboardError(e) ? e.code : 'SWB_ERR_INTERNAL_UNEXPECTED' };
      return { reply: nak.toString({ terminator: '\r' }), summary };
    }
    const req = ackRequirements(msg);
    let outcome: AckOutcome = 'accept';
    let errors: AckError[] = [];
    let errorCode: string | undefined;
    if (options.validate === true) {
      const report = validateMessage(msg);
      errors = validationErrorsToAck(report);
      if (!report.valid) {
        outcome = 'error';
        errorCode = 'SWB_ERR_HL7_INVALID_MESSAGE';
      }
    }
    if (outcome === 'accept' && options.onMessage) {
      try {
        const decided = await options.onMessage(msg, context);
        if (typeof decided === 'object') {
          outcome = decided.outcome;
          if (decided.errorCode !== undefined) {
            errorCode = decided.errorCode;
            if (outcome !== 'accept') errors = [...errors, { code: Hl7ErrorCode.applicationInternalError, severity: 'E', applicationCode: decided.errorCode }];
          }
        } else outcome = decided ?? 'accept';
      } catch (e) {
        // The engine could not take the message: a reject tells the sender to keep and resend it.
        outcome = 'reject';
        errorCode = isSwitchboardError(e) ? e.code : 'SWB_ERR_MLLP_HANDLER_FAILED';
        errors = [{ code: Hl7ErrorCode.applicationInternalError, severity: 'E', applicationCode: errorCode }];
      }
    }
    // Original mode: one application ACK. Enhanced mode: the commit ACK when MSH-15 asks for it;
    // otherwise, since the outcome is already known here, the application ACK MSH-16 asks for, on
    // the same connection. When neither is due (e.g. NE/NE) nothing is sent, as the sender asked.
    let kind: 'commit' | 'application' = 'application';
    let due = true;
    if (req.mode === 'enhanced') {
      if (ackDue(req.accept, outcome)) kind = 'commit';
      else due = ackDue(req.application, outcome);
    }
    const code = ackCodeFor(kind, outcome);
    // MSH-9.1^MSH-9.2, leaving out an empty one.
    const messageCode = msg.messageCode;
    const triggerEvent = msg.triggerEvent;
    const type = messageCode !== '' && triggerEvent !== '' ? `${messageCode}^${triggerEvent}` : messageCode + triggerEvent;
    const summary = { controlId: msg.controlId, type, version: msg.version, bytes, ack: due ? code : '-' };
    const full: InboundSummary = errorCode === undefined ? summary : { ...summary, errorCode };
    return { reply: due ? buildAckText(msg, { code, errors, ...ackIdentity }) : undefined, summary: full };
  };
}
