import type { Encounter, Extension, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept } from '../v2-datatypes.ts';
import { locationFromPl, practitionerFromXcn } from '../v2-resources.ts';
import { mappedConcept, readCwe, readDateTime, skipAll, type ConceptTarget } from './adt-support.ts';

/** Table 0217 visit priority -> v3 ActPriority (IG concept map EncounterPriority). */
const PRIORITY: Readonly<Record<string, ConceptTarget>> = {
  '1': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', code: 'EM', display: 'emergency' },
  '2': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', code: 'UR', display: 'urgent' },
  '3': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActPriority', code: 'EL', display: 'elective' },
};

/** R5 Encounter elements the IG carries as cross-version extensions (IG PV2-8, PV2-9). */
const PLANNED_START = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate';
const PLANNED_END = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate';

/**
 * PV2 -> the Encounter built from PV1 (HL7 V2-to-FHIR IG segment map PV2[Encounter]): admit reason,
 * expected dates, length of stay, referral source, priority, mode of arrival, protection.
 */
export function mapPv2(ctx: MappingContext, pv2: SegmentReader, encounter: Reference<Encounter>): void {
  const enc = ctx.get<Encounter & { id: string }>(encounter);
  if (enc === undefined) {
    pv2.skippedWhole = 'no Encounter to extend (no PV1 in the message)';
    return;
  }
  // PV2-1 prior pending location: the IG gives it the status "planned".
  const prior = locationFromPl(ctx, pv2.raw(1, 'Encounter.location.location'), pv2.encoding);
  if (prior !== undefined) (enc.location ??= []).push({ location: prior, status: 'planned' });
  const reason = cweToCodeableConcept(ctx, readCwe(ctx, pv2, 3, 'Encounter.reasonCode'), { field: 'PV2-3' });
  if (reason !== undefined) (enc.reasonCode ??= []).push(reason);
  const extensions: Extension[] = [];
  const plannedStart = readDateTime(ctx, pv2, 8, 'Encounter.extension:plannedStartDate');
  if (plannedStart !== undefined) extensions.push({ url: PLANNED_START, valueDateTime: plannedStart });
  const plannedEnd = readDateTime(ctx, pv2, 9, 'Encounter.extension:plannedEndDate');
  if (plannedEnd !== undefined) extensions.push({ url: PLANNED_END, valueDateTime: plannedEnd });
  // PV2-11 actual length of stay, in days (IG NM[Quantity-LengthOfStay]).
  const los = pv2.read(11, 'NM', 'Encounter.length');
  if (los !== undefined) enc.length = { value: los, unit: 'd', system: 'http://unitsofmeasure.org', code: 'd' };
  const description = pv2.text(12, 'Encounter.text');
  if (description !== undefined) enc.text = { status: 'additional', div: `<div xmlns="http://www.w3.org/1999/xhtml">${escapeXml(description)}</div>` };
  for (const xcn of pv2.readAll(13, 'XCN', 'Encounter.participant')) {
    const individual = practitionerFromXcn(ctx, xcn);
    if (individual !== undefined) (enc.participant ??= []).push({ type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'REF', display: 'referrer' }] }], individual });
  }
  // PV2-22 visit protection indicator: a protected visit is labelled restricted (IG: meta.security).
  const protect = pv2.text(22, 'Encounter.meta.security');
  if (protect?.toUpperCase() === 'Y') enc.meta = { ...enc.meta, security: [...(enc.meta?.security ?? []), { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R', display: 'restricted' }] };
  const priority = mappedConcept(ctx, readCwe(ctx, pv2, 25, 'Encounter.priority'), 'PV2-25', '0217', PRIORITY);
  if (priority !== undefined) enc.priority = priority;
  const arrival = readCwe(ctx, pv2, 38, 'Encounter.extension:modeOfArrival');
  if (arrival?.code !== undefined) {
    const coding = cweToCodeableConcept(ctx, arrival, { field: 'PV2-38', table: '0430' })?.coding?.[0];
    if (coding !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival', valueCoding: coding });
  }
  if (extensions.length > 0) enc.extension = [...(enc.extension ?? []), ...extensions];

  pv2.skip(2, 'accommodation code has no Encounter element (IG PV2 map leaves it open)');
  pv2.skip(4, 'transfer reason has no Encounter element (IG PV2 map leaves it open)');
  skipAll(pv2, [5, 6], 'patient valuables have no FHIR home');
  pv2.skip(7, 'visit user code: the IG names a concept map but no Encounter element');
  pv2.skip(10, 'estimated length of stay has no R4 Encounter element');
  skipAll(pv2, [14, 15, 16, 17, 18, 19, 20], 'administrative visit data with no Encounter element (IG PV2 map leaves it unmapped)');
  pv2.skip(21, 'visit publicity code: the IG names a concept map but no Encounter element');
  pv2.skip(23, 'clinic organization name: the IG leaves it unmapped (PV1-39 gives serviceProvider)');
  pv2.skip(24, 'patient status code has no Encounter element');
  skipAll(pv2, [26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37], 'administrative visit data with no Encounter element (IG PV2 map leaves it unmapped)');
  pv2.skip(39, 'recreational drug use belongs in an Observation; the IG leaves it unmapped');
  pv2.skip(40, 'admission level of care: the IG names a concept map but no Encounter element');
  skipAll(pv2, [41, 42, 43, 44, 45, 46, 47, 48, 49, 50], 'clinical flags and dates with no Encounter element (IG PV2 map leaves them unmapped)');
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
