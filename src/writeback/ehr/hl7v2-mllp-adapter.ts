import { createHash } from 'node:crypto';
import type tls from 'node:tls';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { isSwitchboardError, SwitchboardError } from '../../core/errors.ts';
import { parseMessage, type Hl7Message } from '../../hl7v2/index.ts';
import { convertFhirToV2, type FhirToV2Type } from '../../mapping/fhir-to-v2.ts';
import { MllpClient } from '../../mllp/mllp-client.ts';
import type { EhrAdapter, EhrCapabilities, EhrReadOutcome, EhrWriteOutcome, EhrWriteRequest, FhirResource, ProposedChange } from './ehr-adapter.ts';

/**
 * Write-back to a legacy interface as HL7 v2 over MLLP (issue 6, "HL7 v2 outbound"): a change that
 * is already an ER7 message is sent as it is; a DocumentReference becomes an MDM^T02 and a
 * DiagnosticReport (with its Observations) an ORU^R01 through the FHIR -> v2 mapping.
 *
 * TXA-17 (document completion status, table 0271) is what makes a receiving EHR file a note as
 * signed: AU (authenticated) or LA (legally authenticated) go out only when the write is marked
 * signed by a clinician; an unsigned AU/LA is refused before anything is sent, whatever the
 * change says (the write-back gate already downgrades drafts; this is the last line).
 *
 * MSH-10 is derived from the idempotency key, so a receiver that drops duplicates by control id
 * (ARCHITECTURE.md invariant 2, "MSH-10 dedupe") sees a resend as the same message.
 *
 * ACKs (HL7 v2.5.1 ch.2 2.9.2): AA/CA -> applied (location = the control id); AE/CE -> permanent
 * (the receiver found an error in the message); AR/CR -> transient; no ACK in time, a lost
 * connection or an ACK that is not ours -> ambiguous; connection refused -> transient.
 */

export interface Hl7v2MllpAdapterOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls?: tls.ConnectionOptions;
  /** Default 30 s. */
  readonly ackTimeoutMs?: number;
  /** Default 10 s. */
  readonly connectTimeoutMs?: number;
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
  readonly receivingApplication?: string;
  readonly receivingFacility?: string;
  /**
   * Finds the patient a resource names (`Patient/123`) when the change does not carry it: PID is
   * required in MDM^T02 and ORU^R01. The service wires it to the canonical store.
   */
  readonly resolvePatient?: (reference: string) => Promise<FhirResource | undefined>;
}

/** The message types this adapter sends. */
export const HL7V2_WRITE_TYPES = ['MDM^T02', 'ORU^R01'] as const;

const CAPABILITIES: EhrCapabilities = {
  create: ['DocumentReference', 'DiagnosticReport', 'Bundle'],
  update: [],
  patch: [],
  conditionalCreate: false,
  ifMatchRequired: false,
  provenance: false,
  hl7v2: HL7V2_WRITE_TYPES,
};

/** Table 0271 codes that claim authentication. */
const AUTHENTICATED = new Set(['AU', 'LA']);

/** MSH-10 (ST, 20 characters in v2.5.1) from the idempotency key: the same key, the same control id. */
export function controlIdFor(idempotencyKey: string): string {
  return `SWB${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 17).toUpperCase()}`;
}

type Prepared = { readonly ok: true; readonly text: string; readonly controlId: string; readonly type: string } | { readonly ok: false; readonly outcome: EhrWriteOutcome };

function refuse(code: 'SWB_ERR_EHR_UNSUPPORTED_WRITE' | 'SWB_ERR_EHR_UNSIGNED_DOCUMENT' | 'SWB_ERR_EHR_HL7_CONVERSION', params: Record<string, string>): Prepared {
  const e = new SwitchboardError(code, params);
  return { ok: false, outcome: { kind: 'permanent', code: e.code, response: { message: e.message } } };
}

export class Hl7v2MllpAdapter implements EhrAdapter {
  readonly name: string;
  readonly profile = 'hl7v2-mllp';
  readonly capabilities = CAPABILITIES;
  readonly #o: Hl7v2MllpAdapterOptions;
  readonly #client: MllpClient;
  readonly #target: string;

  constructor(options: Hl7v2MllpAdapterOptions) {
    this.name = options.name;
    this.#o = options;
    this.#target = `${options.tls === undefined ? 'mllp' : 'mllps'}://${options.host}:${options.port}`;
    this.#client = new MllpClient({
      host: options.host,
      port: options.port,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      ackTimeoutMs: options.ackTimeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      // A refused connect is reported at once (transient); the service's backoff decides when to try again.
      reconnect: { initialDelayMs: 0, maxDelayMs: 0 },
    });
  }

  describe(change: ProposedChange): string {
    const what = change.kind === 'hl7v2' ? 'HL7 v2 message' : change.kind === 'create' ? `${change.resource.resourceType} as HL7 v2` : `${change.kind} (not supported over HL7 v2)`;
    return `MLLP ${this.#target} ${what}`;
  }

  async write(request: EhrWriteRequest): Promise<EhrWriteOutcome> {
    const prepared = await this.#prepare(request);
    if (!prepared.ok) return prepared.outcome;
    let reply;
    try {
      reply = await this.#client.send(prepared.text, { controlId: prepared.controlId });
    } catch (error) {
      if (isSwitchboardError(error)) {
        const response = { message: error.message };
        // SWB_ERR_MLLP_CONNECT_FAILED is transient (nothing sent); ACK_TIMEOUT, CONNECTION_LOST,
        // ACK_MISMATCH and ACK_INVALID are ambiguous (the receiver may have stored it).
        switch (error.failureClass) {
          case 'transient':
            return { kind: 'transient', code: error.code, response };
          case 'ambiguous':
            return { kind: 'ambiguous', code: error.code, response };
          case 'permanent':
            return { kind: 'permanent', code: error.code, response };
        }
      }
      return { kind: 'ambiguous', code: 'SWB_ERR_MLLP_CONNECTION_LOST', response: { message: error instanceof Error ? error.message : String(error) } };
    }
    const at = new Date();
    if (reply.ack === null) {
      // Enhanced mode NE/NE: the sender asked for no ACK; the message is done once written.
      return { kind: 'applied', result: { location: prepared.controlId, at }, response: { message: 'sent; no ACK requested' } };
    }
    const ack = reply.ack;
    const response = { ackCode: ack.code, outcome: reply.raw, message: `MSA-1 ${ack.code}${ack.errorCode === undefined ? '' : ` ERR ${ack.errorCode}`}` };
    const params = { target: this.#target, code: ack.code, text: ack.errorCode ?? 'no ERR code', controlId: prepared.controlId };
    switch (ack.code) {
      case 'AA':
      case 'CA':
        return { kind: 'applied', result: { location: prepared.controlId, at }, response };
      case 'AE':
      case 'CE':
        return { kind: 'permanent', code: new SwitchboardError('SWB_ERR_MLLP_NAK_ERROR', params).code, response };
      case 'AR':
      case 'CR':
        return { kind: 'transient', code: new SwitchboardError('SWB_ERR_MLLP_NAK_REJECT', params).code, response };
    }
  }

  async #prepare(request: EhrWriteRequest): Promise<Prepared> {
    const { change } = request;
    const signed = request.signed === true;
    let message: Hl7Message;
    if (change.kind === 'hl7v2') {
      try {
        message = parseMessage(change.message);
      } catch (error) {
        return refuse('SWB_ERR_EHR_HL7_CONVERSION', { reason: isSwitchboardError(error) ? error.code : 'the message cannot be parsed' });
      }
      const type = `${message.messageCode}^${message.triggerEvent}`;
      if (!(HL7V2_WRITE_TYPES as readonly string[]).includes(type)) {
        return refuse('SWB_ERR_EHR_UNSUPPORTED_WRITE', { profile: this.profile, interaction: 'send', resourceType: type, reason: `only ${HL7V2_WRITE_TYPES.join(' and ')} are sent` });
      }
      // The author's MSH-10 is kept when there is one (the receiver may already know it); else ours.
      if (message.controlId === '') message.set('MSH-10', controlIdFor(request.idempotencyKey));
    } else if (change.kind === 'create') {
      const converted = await this.#convert(change.resource, request.idempotencyKey);
      if (!('message' in converted)) return converted;
      message = converted.message;
    } else {
      return refuse('SWB_ERR_EHR_UNSUPPORTED_WRITE', { profile: this.profile, interaction: change.kind, resourceType: change.resourceType, reason: 'an HL7 v2 interface takes new documents and results only' });
    }
    // TXA-17 of every TXA (one in MDM^T02): never AU/LA for a document nobody signed.
    for (const txa of message.segmentsNamed('TXA')) {
      const status = (txa.rawAt(17, 1, 1) ?? '').trim().toUpperCase();
      if (AUTHENTICATED.has(status) && !signed) return refuse('SWB_ERR_EHR_UNSIGNED_DOCUMENT', { code: status });
    }
    const type = `${message.messageCode}^${message.triggerEvent}`;
    return { ok: true, text: message.toString(), controlId: message.controlId, type };
  }

  async #convert(resource: FhirResource, idempotencyKey: string): Promise<Prepared | { message: Hl7Message }> {
    let type: FhirToV2Type;
    let focus: FhirResource | undefined;
    if (resource.resourceType === 'DocumentReference') {
      type = 'MDM_T02';
      focus = resource;
    } else if (resource.resourceType === 'DiagnosticReport') {
      type = 'ORU_R01';
      focus = resource;
    } else if (resource.resourceType === 'Bundle') {
      const entries = Array.isArray(resource['entry']) ? (resource['entry'] as Array<{ resource?: FhirResource }>) : [];
      focus = entries.map((e) => e.resource).find((r) => r?.resourceType === 'DiagnosticReport' || r?.resourceType === 'DocumentReference');
      if (focus === undefined) return refuse('SWB_ERR_EHR_UNSUPPORTED_WRITE', { profile: this.profile, interaction: 'create', resourceType: 'Bundle', reason: 'the Bundle holds no DocumentReference or DiagnosticReport' });
      type = focus.resourceType === 'DiagnosticReport' ? 'ORU_R01' : 'MDM_T02';
    } else {
      return refuse('SWB_ERR_EHR_UNSUPPORTED_WRITE', { profile: this.profile, interaction: 'create', resourceType: resource.resourceType, reason: 'only DocumentReference (MDM^T02) and DiagnosticReport (ORU^R01) are sent as HL7 v2' });
    }
    // PID needs the patient: from the Bundle, else from the resolver.
    let input: FhirResource = resource;
    const inBundle = resource.resourceType === 'Bundle' && (resource['entry'] as Array<{ resource?: FhirResource }>).some((e) => e.resource?.resourceType === 'Patient');
    const subject = (focus['subject'] as { reference?: unknown } | undefined)?.reference;
    if (!inBundle && typeof subject === 'string' && this.#o.resolvePatient !== undefined) {
      const patient = await this.#o.resolvePatient(subject);
      if (patient !== undefined) {
        const entries = resource.resourceType === 'Bundle' ? (resource['entry'] as unknown[]) : [{ resource }];
        input = { resourceType: 'Bundle', type: 'collection', entry: [...entries, { fullUrl: subject, resource: { ...patient, id: subject.split('/').at(-1) } }] };
      }
    }
    try {
      const { message } = convertFhirToV2(input as unknown as Bundle | Resource, {
        type,
        controlId: controlIdFor(idempotencyKey),
        ...(this.#o.sendingApplication === undefined ? {} : { sendingApplication: this.#o.sendingApplication }),
        ...(this.#o.sendingFacility === undefined ? {} : { sendingFacility: this.#o.sendingFacility }),
        ...(this.#o.receivingApplication === undefined ? {} : { receivingApplication: this.#o.receivingApplication }),
        ...(this.#o.receivingFacility === undefined ? {} : { receivingFacility: this.#o.receivingFacility }),
      });
      return { message };
    } catch (error) {
      // The mapping's reasons name elements, never values.
      return refuse('SWB_ERR_EHR_HL7_CONVERSION', { reason: isSwitchboardError(error) ? String(error.params['reason'] ?? error.params['what'] ?? error.code) : 'the conversion failed' });
    }
  }

  /** An HL7 v2 interface cannot be read back. */
  async read(): Promise<EhrReadOutcome> {
    return { kind: 'not_found' };
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}
