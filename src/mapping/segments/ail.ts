import type { Location } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept } from '../v2-datatypes.ts';
import { locationFromPl } from '../v2-resources.ts';
import { resourceParticipant, type AppointmentDraft, type ResourceParticipant } from './sch.ts';

/**
 * AIL -> Appointment.participant with a Location actor (HL7 V2-to-FHIR IG segment map
 * AIL[Appointment]): AIL-3 the location (PL), AIL-6..10 the period, AIL-12 the participant status.
 * AIL-4 (location type, table 0305), which the IG leaves open, types the Location itself.
 */
export function mapAil(ctx: MappingContext, ail: SegmentReader, appt: AppointmentDraft): ResourceParticipant {
  const actor = locationFromPl(ctx, ail.raw(3, 'Appointment.participant.actor'), ail.encoding);
  const type = cweToCodeableConcept(ctx, ail.read(4, 'CWE', 'Location.type'), { field: 'AIL-4', table: '0305' });
  const location = ctx.peek<Location & { id: string }>(actor);
  if (type !== undefined && location !== undefined) ctx.add({ resourceType: 'Location', id: location.id, type: [type] });
  ail.skip(5, 'location group has no Appointment element (IG AIL[Appointment] leaves it unmapped)');
  return resourceParticipant(ctx, ail, actor, undefined, { start: 6, offset: 7, offsetUnits: 8, duration: 9, durationUnits: 10 }, { substitution: 11, status: 12 }, appt);
}
