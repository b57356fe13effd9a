import type { Encounter, Patient } from '@medplum/fhirtypes';
import { writeEvn, writePid, writePv1 } from './patient-segments.ts';
import type { ReverseContext } from './reverse-context.ts';

/**
 * Patient -> ADT^A31 (update person information) or ADT^A08 (update patient information) (HL7
 * v2.5.1 ch.3 3.3.31 / 3.3.8): EVN, PID, PV1. A31 is about the person, not a visit: PV1-2 is N
 * (not applicable). A08 carries the visit when an Encounter of the patient is in the input.
 */
export type AdtEvent = 'A31' | 'A08';

export function buildAdt(ctx: ReverseContext, patient: Patient, event: AdtEvent, encounter: Encounter | undefined): void {
  writeEvn(ctx, event);
  writePid(ctx, patient);
  // An Encounter in the input of an A31 stays unvisited: the report lists it as not sent.
  writePv1(ctx, event === 'A08' ? encounter : undefined);
}
