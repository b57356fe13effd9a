/**
 * The AuditEvent of each write to an EHR (ARCHITECTURE.md invariant 5), shaped like the API's BALP
 * records (src/api/audit-events.ts: same code systems, same agent and entity conventions), built
 * here because src/writeback may not import src/api. One per attempt that reached an outcome:
 * success (outcome 0) for an applied write, 4 for a refusal by the EHR, 8 for a failure on the way.
 * It carries the proposal's correlation id as BALP entity[transaction], the EHR patient and the
 * written resource as references, and ids only: never the resource's content.
 */
import type { Proposal, ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { ACT_REASON, AUDIT_EVENT_TYPE, BALP_ENTITY_TYPE, CLIENT_ID_SYSTEM, coding, DCM, ENTITY_TYPE, OBJECT_ROLE, PARTICIPATION_TYPE, RESTFUL_INTERACTION, SOURCE_TYPE, USER_ID_SYSTEM } from '../fhir/audit-event-codes.ts';
import { CORRELATION_TAG_SYSTEM } from './ai-content.ts';

function interactionOf(change: ProposedChange): { subtype: string; action: 'C' | 'U' } {
  switch (change.kind) {
    case 'create':
    case 'hl7v2':
      return { subtype: 'create', action: 'C' };
    case 'update':
      return { subtype: 'update', action: 'U' };
    case 'patch':
      return { subtype: 'patch', action: 'U' };
  }
}

function who(actor: ProposalActor): Record<string, unknown> {
  const system = actor.kind === 'user' ? USER_ID_SYSTEM : CLIENT_ID_SYSTEM;
  return { identifier: { system, value: actor.id }, display: actor.id };
}

export interface WriteAuditInput {
  readonly proposal: Proposal;
  readonly change: ProposedChange;
  /** `applied`, or the failure class the adapter gave. */
  readonly outcome: 'applied' | 'transient' | 'permanent' | 'ambiguous' | 'conflict';
  /** The written resource in the EHR (`DocumentReference/123`) or the HL7 control id. */
  readonly target?: string;
  readonly approver?: ProposalActor;
  readonly recorded: Date;
  /** This engine, as AuditEvent.source.observer. */
  readonly observer?: string;
  readonly code?: string;
}

/** BALP-shaped AuditEvent of one write to an EHR. */
export function writeAuditEvent(input: WriteAuditInput): FhirResource {
  const { proposal: p } = input;
  const observer = input.observer ?? 'switchboard';
  const { subtype, action } = interactionOf(input.change);
  const purpose = { purposeOfUse: [{ coding: [coding(ACT_REASON, p.purposeOfUse)] }] };
  const agent: Array<Record<string, unknown>> = [
    // The proposer is the requestor: the change is theirs (DCM 110153 Source Role ID for an app or
    // agent, v3-ParticipationType AUT for a person).
    {
      type: { coding: [p.actor.kind === 'user' ? coding(PARTICIPATION_TYPE, 'AUT', 'author (originator)') : coding(DCM, '110153', 'Source Role ID')] },
      who: who(p.actor),
      name: p.actor.id,
      requestor: true,
      ...purpose,
    },
  ];
  if (input.approver !== undefined) {
    agent.push({ type: { coding: [coding(PARTICIPATION_TYPE, 'VRF', 'verifier')] }, who: who(input.approver), name: input.approver.id, requestor: false });
  }
  agent.push({ type: { coding: [coding(DCM, '110152', 'Destination Role ID')] }, who: { display: `ehr:${p.ehr}` }, requestor: false });
  const entity: Array<Record<string, unknown>> = [
    { what: { identifier: { system: CORRELATION_TAG_SYSTEM, value: p.correlationId } }, type: coding(BALP_ENTITY_TYPE, 'XrequestId', 'transport specific unique identifier where http X-Request-Id is used') },
    { what: { reference: p.patient.includes('/') ? p.patient : `Patient/${p.patient}` }, type: coding(ENTITY_TYPE, '1', 'Person'), role: coding(OBJECT_ROLE, '1', 'Patient') },
    { what: { identifier: { system: 'urn:switchboard:writeback-proposal', value: p.id } }, type: coding(ENTITY_TYPE, '2', 'System Object'), role: coding(OBJECT_ROLE, '20', 'Job') },
  ];
  if (input.target !== undefined) {
    entity.push({ what: input.target.includes('/') ? { reference: input.target } : { identifier: { value: input.target } }, type: coding(ENTITY_TYPE, '2', 'System Object'), role: coding(OBJECT_ROLE, '4', 'Domain Resource') });
  }
  // FHIR R4 valueset-audit-event-outcome: 0 success, 4 minor failure (the EHR refused), 8 serious.
  const outcome = input.outcome === 'applied' ? '0' : input.outcome === 'permanent' || input.outcome === 'conflict' ? '4' : '8';
  return {
    resourceType: 'AuditEvent',
    type: coding(AUDIT_EVENT_TYPE, 'rest', 'Restful Operation'),
    subtype: [coding(RESTFUL_INTERACTION, subtype)],
    action,
    recorded: input.recorded.toISOString(),
    outcome,
    ...(input.outcome === 'applied' ? {} : { outcomeDesc: `${input.outcome}${input.code === undefined ? '' : ` ${input.code}`}` }),
    agent,
    source: { observer: { display: observer }, type: [coding(SOURCE_TYPE, '4', 'Application Server')] },
    entity,
  };
}
