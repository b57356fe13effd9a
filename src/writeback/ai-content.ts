// AI-drafted content (issue 6 "AI-drafted content"): labelled as AI-asserted, never filed as signed
// until a clinician signs, and traced by a Provenance that names the AI model as a Device next to
// the clinicians who approved and signed it.

import type { FhirResource } from '../core/ports/resource-store.ts';
import type { Proposal, ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import { parseMessage } from '../hl7v2/index.ts';

/**
 * AIAST "artificial intelligence asserted" (HL7 v3 ObservationValue, security integrity label;
 * the HL7 AI Transparency guidance uses it in meta.security to mark AI-produced content).
 */
export const AI_SECURITY_LABEL = Object.freeze({ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'AIAST', display: 'artificial intelligence asserted' });

/** FHIR R4 valueset-provenance-agent-type: the participant types used in buildProvenance. */
export const PROVENANCE_PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';
/** FHIR R4 valueset-provenance-activity-type (v3 DataOperation): CREATE, UPDATE. */
export const DATA_OPERATION = 'http://terminology.hl7.org/CodeSystem/v3-DataOperation';
/** Where the proposal's correlation id goes: a meta.tag with this system (searchable with `_tag`). */
export const CORRELATION_TAG_SYSTEM = 'urn:switchboard:correlation-id';

/** HL7 v2 table 0271 (TXA-17 document completion status): the values that mean "signed". */
const SIGNED_TXA17 = new Set(['AU', 'LA']);

export function isAiActor(actor: ProposalActor): boolean {
  return actor.kind === 'agent' || actor.model !== undefined;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Marks a resource an AI agent drafted: meta.security AIAST (added once), and a DocumentReference
 * filed as `docStatus: preliminary` (FHIR R4 documentreference.html: preliminary = not yet
 * authenticated). A resource from an actor that is not an AI is returned unchanged. Never mutates.
 */
export function labelAiDraft(resource: FhirResource, actor: ProposalActor): FhirResource {
  if (!isAiActor(actor)) return resource;
  const meta: Json = isObject(resource.meta) ? { ...resource.meta } : {};
  const security = Array.isArray(meta['security']) ? [...(meta['security'] as unknown[])] : [];
  if (!security.some((s) => isObject(s) && s['system'] === AI_SECURITY_LABEL.system && s['code'] === AI_SECURITY_LABEL.code)) security.push({ ...AI_SECURITY_LABEL });
  meta['security'] = security;
  const out: FhirResource = { ...resource, meta };
  return resource.resourceType === 'DocumentReference' ? { ...out, docStatus: 'preliminary' } : out;
}

/** docStatus for a note: unsigned never final/amended; signing makes it final (an amendment stays amended). */
function docStatusFor(current: unknown, signed: boolean): string | undefined {
  if (signed) return current === 'amended' ? 'amended' : 'final';
  return current === 'final' || current === 'amended' ? 'preliminary' : undefined;
}

function noteResource(resource: FhirResource, signed: boolean): FhirResource {
  if (resource.resourceType !== 'DocumentReference') return resource;
  const status = docStatusFor(resource['docStatus'], signed);
  return status === undefined ? resource : { ...resource, docStatus: status };
}

/**
 * Keeps a change from claiming a signature it does not have. Until a clinician signs: a
 * DocumentReference's docStatus is never final/amended (-> preliminary), an HL7 v2 TXA-17 is never
 * AU/LA (-> IP, in progress). Signing (`signed: true`) sets docStatus final and TXA-17 AU.
 */
export function enforceUnsigned(change: ProposedChange, signed: boolean): ProposedChange {
  switch (change.kind) {
    case 'create':
      return { ...change, resource: noteResource(change.resource, signed) };
    case 'update':
      return { ...change, resource: noteResource(change.resource, signed) };
    case 'patch': {
      if (change.resourceType !== 'DocumentReference') return change;
      const patch = change.patch.map((op) => {
        if (op.path !== '/docStatus' || (op.op !== 'add' && op.op !== 'replace')) return op;
        const status = docStatusFor(op.value, signed);
        return status === undefined ? op : { ...op, value: status };
      });
      // Signing a note by patch: also say so when the patch did not touch docStatus ("add" replaces
      // an existing member, RFC 6902 4.1).
      if (signed && !patch.some((op) => op.path === '/docStatus' && op.op !== 'test')) patch.push({ op: 'add', path: '/docStatus', value: 'final' });
      return { ...change, patch };
    }
    case 'hl7v2': {
      let msg;
      try {
        msg = parseMessage(change.message);
      } catch {
        return change; // policy refuses an unparseable message; nothing to relabel here
      }
      const txas = msg.segmentsNamed('TXA');
      if (txas.length === 0) return change;
      let changed = false;
      for (let i = 1; i <= txas.length; i++) {
        const path = `TXA[${i}]-17`;
        const v = msg.get(path);
        const current = typeof v === 'string' ? v : '';
        const next = signed ? 'AU' : SIGNED_TXA17.has(current) ? 'IP' : current;
        if (next !== current) {
          msg.set(path, next);
          changed = true;
        }
      }
      return changed ? { ...change, message: msg.toString() } : change;
    }
  }
}

export interface ProvenanceInput {
  /** The written resource: `DocumentReference/123` in the EHR, or our copy. */
  readonly target: string;
  readonly proposal: Proposal;
  readonly approver?: ProposalActor;
  readonly signer?: ProposalActor;
  readonly at: Date;
}

const AI_DEVICE_ID = 'ai-agent';

function coding(system: string, code: string, display: string): Json {
  return { coding: [{ system, code, display }] };
}

/** A reference to a person, app or service by identifier (FHIR R4 references.html#logical). */
function actorReference(actor: ProposalActor): Json {
  return { identifier: { system: `urn:switchboard:actor:${actor.kind}`, value: actor.id }, ...(actor.display === undefined ? {} : { display: actor.display }) };
}

function activityOf(change: ProposedChange): 'CREATE' | 'UPDATE' {
  if (change.kind === 'update' || change.kind === 'patch') return 'UPDATE';
  if (change.kind === 'create') return 'CREATE';
  // HL7 v2 MDM: T01/T02 carry an original document; T04-T11 edit or replace one (HL7 v2.5.1 ch.9.5).
  try {
    const event = parseMessage(change.message).triggerEvent;
    return /^T(0[4-9]|1[01])$/.test(event) ? 'UPDATE' : 'CREATE';
  } catch {
    return 'CREATE';
  }
}

/**
 * A FHIR R4 Provenance for a committed write. Agents: the proposer (an AI agent as a contained
 * Device with its model name and version, type `assembler`; a person or app as `author`), the
 * approving clinician (`verifier`) and the signer (`attester`). No entity. The correlation id is a
 * meta.tag `urn:switchboard:correlation-id|<id>`, so `Provenance?_tag=...` finds it by id alone.
 */
export function buildProvenance(input: ProvenanceInput): FhirResource {
  const { proposal } = input;
  const change = proposal.approvedChange ?? proposal.change;
  const activity = activityOf(change);
  const proposer = proposal.actor;
  const contained: Json[] = [];
  const agents: Json[] = [];
  if (isAiActor(proposer)) {
    contained.push({
      resourceType: 'Device',
      id: AI_DEVICE_ID,
      identifier: [{ system: 'urn:switchboard:actor:agent', value: proposer.id }],
      deviceName: [{ name: proposer.model ?? proposer.display ?? proposer.id, type: 'model-name' }],
      ...(proposer.modelVersion === undefined ? {} : { version: [{ value: proposer.modelVersion }] }),
    });
    agents.push({ type: coding(PROVENANCE_PARTICIPANT_TYPE, 'assembler', 'Assembler'), who: { reference: `#${AI_DEVICE_ID}`, display: [proposer.model, proposer.modelVersion].filter((x) => x !== undefined).join(' ') || proposer.id } });
  } else {
    agents.push({ type: coding(PROVENANCE_PARTICIPANT_TYPE, 'author', 'Author'), who: actorReference(proposer) });
  }
  if (input.approver !== undefined) agents.push({ type: coding(PROVENANCE_PARTICIPANT_TYPE, 'verifier', 'Verifier'), who: actorReference(input.approver) });
  if (input.signer !== undefined) agents.push({ type: coding(PROVENANCE_PARTICIPANT_TYPE, 'attester', 'Attester'), who: actorReference(input.signer) });
  return {
    resourceType: 'Provenance',
    meta: { tag: [{ system: CORRELATION_TAG_SYSTEM, code: proposal.correlationId }] },
    ...(contained.length === 0 ? {} : { contained }),
    target: [{ reference: input.target }],
    recorded: input.at.toISOString(),
    // The purpose of use (v3 PurposeOfUse codes such as TREAT live in v3-ActReason).
    reason: [coding('http://terminology.hl7.org/CodeSystem/v3-ActReason', proposal.purposeOfUse, proposal.purposeOfUse)],
    activity: coding(DATA_OPERATION, activity, activity === 'CREATE' ? 'create' : 'update'),
    agent: agents,
  };
}
