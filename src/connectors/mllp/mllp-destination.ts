import type tls from 'node:tls';
import { isSwitchboardError, SwitchboardError } from '../../core/errors.ts';
import type { DestinationConnector, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import { MllpClient, type MllpReply } from '../../mllp/mllp-client.ts';
import { invalid, optionalBoolean, optionalInt, optionalString, raceAbort, reasonOf, requiredString, type Settings } from '../connector-settings.ts';

/**
 * Sends each delivery as one HL7 v2 message over MLLP (HL7 v2 Appendix C) and turns the ACK into a
 * SendResult (HL7 v2.5.1 ch.2 2.9.2, table 0008):
 *  - AA/CA, or no ACK because the message asked for none (MSH-15/16 NE): delivered, the raw ACK as
 *    the response;
 *  - AE/CE: failed, permanent (SWB_ERR_MLLP_NAK_ERROR): the receiver found an error in the message
 *    itself, so resending it unchanged cannot succeed;
 *  - AR/CR: failed, transient (SWB_ERR_MLLP_NAK_REJECT): the receiver could not take it now;
 *  - a transport failure: failed with the client error's own class and code (connect failed is
 *    transient: nothing was sent; ACK timeout, connection lost, ACK mismatch or invalid are
 *    ambiguous: the receiver may have stored the message).
 *
 * Idempotency (ARCHITECTURE.md invariant 2): HL7 receivers dedupe on MSH-10, the message control
 * id, which the payload already carries; `delivery.idempotencyKey` is therefore not sent separately.
 * A resend of the same delivery must carry the same MSH-10 for a receiver to drop it as a duplicate,
 * so the pipeline must not regenerate MSH-10 per attempt.
 *
 * Abort: when `signal` aborts before the reply, the result is ambiguous (SWB_ERR_DEST_ABORTED): the
 * message may already be on the wire. The exchange itself runs on until its ACK or ACK timeout, so
 * the connection is never reused while a late ACK could still arrive.
 */

export interface MllpDestinationTls {
  /** PEM CA bundle the server certificate must chain to (default: Node's root store). */
  readonly ca?: string;
  /** PEM client certificate and key, for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  /** Default true; false only for test peers. */
  readonly rejectUnauthorized?: boolean;
}

export interface MllpDestinationSettings {
  readonly host: string;
  readonly port: number;
  /** `true` for TLS with Node's defaults, or TLS options. */
  readonly tls?: boolean | MllpDestinationTls;
  /** Connections kept open to the peer, one message in flight on each (default 1). */
  readonly poolSize?: number;
  /** Time allowed for the ACK once the message is written (default 30 s). */
  readonly ackTimeoutMs?: number;
  /** Time allowed for TCP connect and the TLS handshake (default 10 s). */
  readonly connectTimeoutMs?: number;
}

const PATH = 'destination.settings';

function readTls(settings: Settings): tls.ConnectionOptions | undefined {
  const value = settings['tls'];
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${PATH}.tls`, 'must be true, false or an object of TLS options');
  const t = value as Settings;
  for (const key of Object.keys(t)) {
    if (!['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'].includes(key)) throw invalid(`${PATH}.tls.${key}`, 'is not a known TLS option');
  }
  const tlsPath = `${PATH}.tls`;
  const ca = optionalString(t, tlsPath, 'ca');
  const cert = optionalString(t, tlsPath, 'cert');
  const key = optionalString(t, tlsPath, 'key');
  const servername = optionalString(t, tlsPath, 'servername');
  const rejectUnauthorized = optionalBoolean(t, tlsPath, 'rejectUnauthorized');
  if ((cert === undefined) !== (key === undefined)) throw invalid(`${tlsPath}.${cert === undefined ? 'cert' : 'key'}`, 'is required when the other of cert/key is set');
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(servername === undefined ? {} : { servername }),
    ...(rejectUnauthorized === undefined ? {} : { rejectUnauthorized }),
  };
}

export class MllpDestination implements DestinationConnector {
  readonly kind = 'mllp';
  readonly #client: MllpClient;
  #closed = false;

  constructor(settings: Settings) {
    const host = requiredString(settings, PATH, 'host');
    const port = optionalInt(settings, PATH, 'port', 1, 65_535);
    if (port === undefined) throw invalid(`${PATH}.port`, 'is required');
    const tlsOptions = readTls(settings);
    const poolSize = optionalInt(settings, PATH, 'poolSize', 1, 64);
    const ackTimeoutMs = optionalInt(settings, PATH, 'ackTimeoutMs', 1);
    const connectTimeoutMs = optionalInt(settings, PATH, 'connectTimeoutMs', 1);
    this.#client = new MllpClient({
      host,
      port,
      ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
      ...(poolSize === undefined ? {} : { poolSize }),
      ...(ackTimeoutMs === undefined ? {} : { ackTimeoutMs }),
      ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
    });
  }

  /** `mllp://host:port` or `mllps://host:port`. */
  get target(): string {
    return this.#client.target;
  }

  async send(delivery: OutboundDelivery, signal: AbortSignal): Promise<SendResult> {
    if (this.#closed) return this.#notSent('the connector is closed');
    if (signal.aborted) return this.#notSent('aborted before sending');
    const sending = this.#client.send(delivery.payload);
    let reply: MllpReply | 'aborted';
    try {
      reply = await raceAbort(sending, signal);
    } catch (error) {
      return this.#fromError(error);
    }
    if (reply === 'aborted') {
      // The exchange still settles (ACK or ACK timeout); nobody awaits it any more.
      sending.catch(() => undefined);
      return failed(new SwitchboardError('SWB_ERR_DEST_ABORTED', { target: this.target }));
    }
    const ack = reply.ack;
    if (ack === null) return { kind: 'delivered' };
    const params = { target: this.target, code: ack.code, text: ack.errorCode ?? 'no ERR code' };
    switch (ack.code) {
      case 'AA':
      case 'CA':
        return { kind: 'delivered', response: reply.raw };
      case 'AE':
      case 'CE':
        return { ...failed(new SwitchboardError('SWB_ERR_MLLP_NAK_ERROR', params)), response: reply.raw };
      case 'AR':
      case 'CR':
        return { ...failed(new SwitchboardError('SWB_ERR_MLLP_NAK_REJECT', params)), response: reply.raw };
    }
  }

  /** Refuses new sends, lets sends in flight finish (bounded by the ACK timeout), closes every socket. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#client.close();
  }

  #notSent(reason: string): SendResult {
    return failed(new SwitchboardError('SWB_ERR_DEST_NOT_SENT', { target: this.target, reason }));
  }

  #fromError(error: unknown): SendResult {
    if (!isSwitchboardError(error)) return failed(new SwitchboardError('SWB_ERR_DEST_UNEXPECTED', { target: this.target, reason: reasonOf(error) }));
    // A send still waiting for a connection when close() ran was never written: retry elsewhere.
    if (error.code === 'SWB_ERR_MLLP_CLIENT_CLOSED') return this.#notSent('the connector closed before a connection was free');
    return failed(error);
  }
}

/** The failed result for an error; its message (target, codes, never the payload) is kept as the reason. */
function failed(error: SwitchboardError): SendResult {
  return { kind: 'failed', failureClass: error.failureClass, errorCode: error.code, response: error.message };
}
