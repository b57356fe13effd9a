import type { Period } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept } from '../v2-datatypes.ts';
import { resourcePeriod, type AppointmentDraft } from './sch.ts';

/** What an AIS contributes beyond the service type: its period and its own filler status. */
export interface AisResult {
  readonly period: Period | undefined;
  /** AIS-10 filler status (table 0278), the appointment's status when SCH-25 is empty. */
  readonly status: string | undefined;
}

/**
 * AIS -> Appointment.serviceType (HL7 V2-to-FHIR IG segment map AIS[Appointment]). A service has no
 * actor, so its start and duration are returned for the appointment's own start/end rather than
 * becoming a participant. A service deleted by its segment action code (AIS-2 = D) is left out.
 */
export function mapAis(ctx: MappingContext, ais: SegmentReader, appt: AppointmentDraft): AisResult {
  ais.skip(1, 'set id orders segments; not data');
  const deleted = ais.text(2, 'Appointment.serviceType')?.toUpperCase() === 'D';
  const service = cweToCodeableConcept(ctx, ais.read(3, 'CWE', 'Appointment.serviceType'), { field: 'AIS-3' });
  if (service !== undefined && !deleted) (appt.serviceType ??= []).push(service);
  const period = resourcePeriod(ctx, ais, { start: 4, offset: 5, offsetUnits: 6, duration: 7, durationUnits: 8 }, appt.start);
  ais.skip(9, 'allow substitution code has no Appointment element');
  const status = ais.read(10, 'CWE', 'Appointment.status')?.code;
  ais.skip(11, 'supplemental service information (e.g. laterality) has no Appointment element (IG AIS[Appointment] leaves it unmapped)');
  ais.skip(12, 'supplemental service information (e.g. laterality) has no Appointment element (IG AIS[Appointment] leaves it unmapped)');
  return { period: deleted ? undefined : period, status };
}
