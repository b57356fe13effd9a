import type { CodeableConcept, Location, Practitioner, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { identifierSystem } from '../v2-datatypes.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import { mappedConcept, readCwe, readDateTime, type ConceptTarget } from './adt-support.ts';

/** What EVN says about the event, for the message's Provenance (IG segment map EVN[Provenance]). */
export interface EventDetails {
  /** EVN-2 recorded date/time (Provenance.recorded). */
  readonly recorded?: string;
  /** EVN-6 event occurred (Provenance.occurredDateTime). */
  readonly occurred?: string;
  /** EVN-4 event reason (Provenance.reason). */
  readonly reason?: CodeableConcept;
  /** EVN-5 operator (Provenance.agent, type enterer). */
  readonly operators: ReadonlyArray<Reference<Practitioner>>;
  /** EVN-7 event facility (Provenance.location). */
  readonly facility?: Reference<Location>;
}

/** Table 0062 event reason (IG concept map EventReason). */
const EVENT_REASON: Readonly<Record<string, ConceptTarget>> = {
  '01': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'PATRQT', display: 'patient requested' },
  '02': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT', display: 'treatment' },
  '03': { system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HOPERAT', display: 'healthcare operations' },
};

// Keyed by context so the shared MappingContext needs no EVN-specific field.
const DETAILS = new WeakMap<MappingContext, EventDetails>();

/** The event details mapEvn recorded for this conversion, if the message had an EVN. */
export function eventDetails(ctx: MappingContext): EventDetails | undefined {
  return DETAILS.get(ctx);
}

/**
 * EVN -> details of the message's Provenance (HL7 V2-to-FHIR IG segment map EVN[Provenance]):
 * recorded (EVN-2), reason (EVN-4), operator as an enterer agent (EVN-5), occurred (EVN-6),
 * location (EVN-7). finishProvenance (segments/msh.ts) puts them on the Provenance.
 */
export function mapEvn(ctx: MappingContext, evn: SegmentReader): void {
  const recorded = ctx.instant(evn.read(2, 'TS', 'Provenance.recorded'), 'EVN-2');
  const occurred = readDateTime(ctx, evn, 6, 'Provenance.occurredDateTime');
  const reason = mappedConcept(ctx, readCwe(ctx, evn, 4, 'Provenance.reason'), 'EVN-4', '0062', EVENT_REASON);
  const operators: Array<Reference<Practitioner>> = [];
  for (const xcn of evn.readAll(5, 'XCN', 'Provenance.agent.who')) {
    const who = practitionerFromXcn(ctx, xcn);
    if (who !== undefined) operators.push(who);
  }
  const facility = facilityLocation(ctx, evn);
  // Set key by key (no conditional spreads: each spread made and copied an object).
  const details: { -readonly [K in keyof EventDetails]: EventDetails[K] } = { operators };
  if (recorded !== undefined) details.recorded = recorded;
  if (occurred !== undefined) details.occurred = occurred;
  if (reason !== undefined) details.reason = reason;
  if (facility !== undefined) details.facility = facility;
  DETAILS.set(ctx, details);
  if (evn.has(1)) evn.skip(1, 'the event type repeats MSH-9.2 (withdrawn from EVN in v2.7)');
  if (evn.has(3)) evn.skip(3, 'planned event time has no Provenance element (IG EVN map leaves it unmapped)');
}

/** EVN-7 (HD) -> Location (IG HD[Location]). */
function facilityLocation(ctx: MappingContext, evn: SegmentReader): Reference<Location> | undefined {
  const hd = evn.read(7, 'HD', 'Provenance.location');
  if (hd === undefined || (hd.namespaceId === undefined && hd.universalId === undefined)) return undefined;
  const system = hd.universalId !== undefined ? identifierSystem(ctx, { universalId: hd.universalId, ...(hd.universalIdType !== undefined ? { universalIdType: hd.universalIdType } : {}) }) : undefined;
  const value = hd.universalId ?? hd.namespaceId;
  const loc: Location & { id: string } = { resourceType: 'Location', id: ctx.id('Location', 'facility', system, value) };
  if (value !== undefined) loc.identifier = [{ value, ...(system !== undefined ? { system } : {}) }];
  if (hd.namespaceId !== undefined) loc.name = hd.namespaceId;
  const ref = ctx.add(loc);
  return hd.namespaceId !== undefined ? { ...ref, display: hd.namespaceId } : ref;
}
