import type { AppointmentParticipant, Device, Identifier, Location, Practitioner } from '@medplum/fhirtypes';
import type { Hl7Cwe } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { identifierSystem } from '../v2-datatypes.ts';
import { participantType, resourceParticipant, type AppointmentDraft, type ResourceParticipant } from './sch.ts';

/** AIG-4 resource types that name a place or a person rather than equipment (matched on code or text). */
const LOCATION_TYPE = /^(l|loc|location|room|bed|site)$|location|room/i;
const PERSON_TYPE = /^(staff|person|personnel|provider|practitioner|nurse|physician|doctor)$/i;

/**
 * AIG -> Appointment.participant (HL7 V2-to-FHIR IG segment map AIG[Appointment]): AIG-3 the
 * resource, AIG-4 the participant type, AIG-8..12 the period, AIG-14 the participant status.
 * A general resource is equipment (a Device) unless AIG-4 says it is a location (the IG: "if AIG-4
 * reflects a location", Location.identifier) or a person (a Practitioner), by its code or text.
 */
export function mapAig(ctx: MappingContext, aig: SegmentReader, appt: AppointmentDraft): ResourceParticipant {
  const resource = aig.read(3, 'CWE', 'Appointment.participant.actor');
  const typeCwe = aig.read(4, 'CWE', 'Appointment.participant.type');
  const type = participantType(ctx, typeCwe, 'AIG-4');
  const actor = resource === undefined ? undefined : actorFor(ctx, resource, kindOf(typeCwe));
  aig.skip(5, 'resource group has no Appointment element (IG AIG[Appointment] leaves it unmapped)');
  aig.skip(6, 'resource quantity has no Appointment.participant element');
  aig.skip(7, 'resource quantity units have no Appointment.participant element');
  return resourceParticipant(ctx, aig, actor, type, { start: 8, offset: 9, offsetUnits: 10, duration: 11, durationUnits: 12 }, { substitution: 13, status: 14 }, appt);
}

type Kind = 'Device' | 'Location' | 'Practitioner';

function kindOf(type: Hl7Cwe | undefined): Kind {
  const words = [type?.code, type?.text].filter((w): w is string => w !== undefined);
  if (words.some((w) => LOCATION_TYPE.test(w))) return 'Location';
  if (words.some((w) => PERSON_TYPE.test(w))) return 'Practitioner';
  return 'Device';
}

/** AIG-3 (CWE[Identifier]: CWE-1 the value, CWE-3 the assigning system) as the actor resource. */
function actorFor(ctx: MappingContext, cwe: Hl7Cwe, kind: Kind): AppointmentParticipant['actor'] {
  const value = cwe.code ?? cwe.text;
  if (value === undefined) return undefined;
  const system = cwe.code !== undefined && cwe.system !== undefined ? identifierSystem(ctx, { namespaceId: cwe.system }) : undefined;
  const identifier: Identifier | undefined = cwe.code !== undefined ? { value: cwe.code, ...(system !== undefined ? { system } : {}) } : undefined;
  const id = ctx.id(kind, system, value);
  const name = cwe.text;
  const ids = identifier !== undefined ? { identifier: [identifier] } : {};
  if (kind === 'Location') {
    const loc: Location & { id: string } = { resourceType: 'Location', id, ...ids, mode: 'instance', ...(name !== undefined ? { name } : {}) };
    return withName(ctx.add(loc), name);
  }
  if (kind === 'Practitioner') {
    const p: Practitioner & { id: string } = { resourceType: 'Practitioner', id, ...ids, ...(name !== undefined ? { name: [{ text: name }] } : {}) };
    return withName(ctx.add(p), name);
  }
  const d: Device & { id: string } = { resourceType: 'Device', id, ...ids, ...(name !== undefined ? { deviceName: [{ name, type: 'user-friendly-name' }] } : {}) };
  return withName(ctx.add(d), name);
}

function withName<T extends { reference?: string }>(ref: T, name: string | undefined): T {
  return name === undefined ? ref : { ...ref, display: name };
}
