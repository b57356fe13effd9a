import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import { participantType, resourceParticipant, type AppointmentDraft, type ResourceParticipant } from './sch.ts';

/**
 * AIP -> Appointment.participant with a Practitioner actor (HL7 V2-to-FHIR IG segment map
 * AIP[Appointment]): AIP-3 the person, AIP-4 the participant type, AIP-6..10 the period, AIP-12 the
 * participant status.
 */
export function mapAip(ctx: MappingContext, aip: SegmentReader, appt: AppointmentDraft): ResourceParticipant {
  const actor = practitionerFromXcn(ctx, aip.read(3, 'XCN', 'Appointment.participant.actor'));
  const type = participantType(ctx, aip.read(4, 'CWE', 'Appointment.participant.type'), 'AIP-4');
  aip.skip(5, 'resource group has no Appointment element (IG AIP[Appointment] leaves it unmapped)');
  return resourceParticipant(ctx, aip, actor, type, { start: 6, offset: 7, offsetUnits: 8, duration: 9, durationUnits: 10 }, { substitution: 11, status: 12 }, appt);
}
