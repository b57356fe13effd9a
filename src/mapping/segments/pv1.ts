import type { CodeableConcept, Coding, Encounter, EncounterLocation, EncounterParticipant, EpisodeOfCare, Identifier, Location, Organization, Patient, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { v2TableUri } from '../code-systems.ts';
import { cweToCodeableConcept, cxToIdentifier, period } from '../v2-datatypes.ts';
import { locationFromPl, practitionerFromXcn } from '../v2-resources.ts';
import { cleanCwe, mappedConcept, readCwe, readDateTime, skipAll, withDisplay, type ConceptTarget } from './adt-support.ts';

/** HL7 table 0004 patient class -> encounter class (IG concept map PatientClass[EncounterClass]). */
const PATIENT_CLASS: Readonly<Record<string, Coding>> = {
  E: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER', display: 'emergency' },
  I: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP', display: 'inpatient encounter' },
  O: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
  P: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PRENC', display: 'pre-admission' },
  // The IG keeps R, B, C, N and U in the v2 table (no v3 ActCode equivalent).
  R: { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: 'R', display: 'Recurring patient' },
  B: { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: 'B', display: 'Obstetrics' },
  C: { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: 'C', display: 'Commercial Account' },
  N: { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: 'N', display: 'Not Applicable' },
  U: { system: 'http://terminology.hl7.org/CodeSystem/v2-0004', code: 'U', display: 'Unknown' },
};

/** Table 0004 -> encounter status (IG concept map PatientClass[EncounterStatus]); absent codes: in-progress. */
const CLASS_STATUS: Readonly<Record<string, Encounter['status']>> = { P: 'planned', U: 'unknown' };


/** Table 0069 hospital service (IG concept map HospitalService). */
const HOSPITAL_SERVICE: Readonly<Record<string, ConceptTarget>> = {
  MED: { system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '382', display: 'Medical Services' },
  URO: { system: 'http://terminology.hl7.org/CodeSystem/service-type', code: '222', display: 'Urology' },
};

/** Table 0009 ambulatory status (IG concept map AmbulatoryStatus): A2 is the one with a FHIR code. */
const AMBULATORY_STATUS: Readonly<Record<string, ConceptTarget>> = {
  A2: { system: 'http://terminology.hl7.org/CodeSystem/encounter-special-arrangements', code: 'wheel', display: 'Wheelchair' },
};

/** Table 0099 VIP indicator is user-defined; codes that are v3 EncounterSpecialCourtesy codes map as such (IG VIPIndicator). */
const SPECIAL_COURTESY: Readonly<Record<string, ConceptTarget>> = Object.fromEntries(
  (
    [
      ['EXT', 'extended courtesy'],
      ['NRM', 'normal courtesy'],
      ['PRF', 'professional courtesy'],
      ['STF', 'staff'],
      ['VIP', 'very important person'],
    ] as const
  ).map(([code, display]) => [code, { system: 'http://terminology.hl7.org/CodeSystem/v3-EncounterSpecialCourtesy', code, display }]),
);

/**
 * Table 0112 discharge disposition (US UB-04 codes) -> FHIR discharge-disposition. The IG concept
 * map lists only the FHIR side; this table is ours, after the UB-04 definitions of the codes.
 */
const DISCHARGE_DISPOSITION: Readonly<Record<string, ConceptTarget>> = Object.fromEntries(
  (
    [
      ['01', 'home', 'Home'],
      ['02', 'other-hcf', 'Other healthcare facility'],
      ['03', 'snf', 'Skilled nursing facility'],
      ['04', 'long', 'Long-term care'],
      ['05', 'other-hcf', 'Other healthcare facility'],
      ['06', 'home', 'Home'],
      ['07', 'aadvice', 'Left against advice'],
      ['20', 'exp', 'Expired'],
      ['21', 'oth', 'Other'],
      ['43', 'other-hcf', 'Other healthcare facility'],
      ['50', 'hosp', 'Hospice'],
      ['51', 'hosp', 'Hospice'],
      ['61', 'snf', 'Skilled nursing facility'],
      ['62', 'rehab', 'Rehabilitation'],
      ['63', 'long', 'Long-term care'],
      ['64', 'snf', 'Skilled nursing facility'],
      ['65', 'psy', 'Psychiatric hospital'],
      ['66', 'other-hcf', 'Other healthcare facility'],
      ['70', 'other-hcf', 'Other healthcare facility'],
    ] as const
  ).map(([v2, code, display]) => [v2, { system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code, display }]),
);

const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

export interface EncounterOptions {
  /** The status the event implies (A03 discharge: finished; A11 cancel: cancelled...). */
  readonly status?: Encounter['status'];
  /** The trigger event (A13 cancels a discharge: PV1-45 is then not an end). */
  readonly event?: string;
  /** period.end when PV1-45 is empty (A03: the event time from EVN-6 / EVN-2). */
  readonly endFallback?: string;
  /** The patient (default ctx.patient; an A40 with several PID groups passes each group's). */
  readonly subject?: Reference<Patient>;
}

/**
 * PV1 -> Encounter (HL7 V2-to-FHIR IG segment map PV1[Encounter]). The id comes from the visit
 * number (PV1-19), so admit, transfer and discharge messages update one Encounter; without one it
 * is derived from the message. Sets ctx.encounter.
 */
export function mapPv1(ctx: MappingContext, pv1: SegmentReader, options: EncounterOptions = {}): Reference<Encounter> {
  const visitCx = pv1.read(19, 'CX', 'Encounter.identifier');
  const visit = cxToIdentifier(ctx, visitCx);
  // IG PV1-19: the visit number is typed VN when the sender gave no type.
  if (visit !== undefined && visit.type === undefined) visit.type = { coding: [{ system: v2TableUri('0203'), code: 'VN' }], text: 'visit number' };
  const id = visit !== undefined ? ctx.id('Encounter', visit.system, visit.value) : ctx.id('Encounter', ctx.messageKey, String(pv1.index));
  const classCode = pv1.text(2, 'Encounter.class');
  const cls = classCode !== undefined ? PATIENT_CLASS[classCode.toUpperCase()] : undefined;
  const admit = readDateTime(ctx, pv1, 44, 'Encounter.period.start');
  let discharge: string | undefined;
  if (options.event === 'A13') {
    if (pv1.has(45)) pv1.skip(45, 'A13 cancels the discharge: the discharge time no longer applies');
  } else discharge = readDateTime(ctx, pv1, 45, 'Encounter.period.end') ?? options.endFallback;
  const status: Encounter['status'] = options.status ?? (discharge !== undefined ? 'finished' : (CLASS_STATUS[classCode?.toUpperCase() ?? ''] ?? 'in-progress'));
  const encounter: Encounter & { id: string } = {
    resourceType: 'Encounter',
    id,
    status,
    // class is 1..1 in R4: an unknown or absent patient class is sent as the v3 NullFlavor UNK.
    class: cls !== undefined ? { ...cls } : { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' },
  };
  if (classCode !== undefined && cls === undefined) ctx.warn('PV1-2: patient class not in HL7 table 0004; Encounter.class is UNK');
  const identifiers: Identifier[] = visit !== undefined ? [visit] : [];
  const alternate = cxToIdentifier(ctx, pv1.read(50, 'CX', 'Encounter.identifier'));
  if (alternate !== undefined) identifiers.push(alternate);
  if (identifiers.length > 0) encounter.identifier = identifiers;
  const subject = options.subject ?? ctx.patient;
  if (subject !== undefined) encounter.subject = subject;
  const p = period(admit, discharge);
  if (p !== undefined) encounter.period = p;

  // Types: PV1-4 admission type (IG: Encounter.type, table 0007) and PV1-18 patient type (user
  // table 0018; the IG leaves it open, an integration engineer expects it kept as a type).
  const types: CodeableConcept[] = [];
  const admissionType = cweToCodeableConcept(ctx, readCwe(ctx, pv1, 4, 'Encounter.type'), { field: 'PV1-4', table: '0007' });
  if (admissionType !== undefined) types.push(admissionType);
  const patientType = cweToCodeableConcept(ctx, readCwe(ctx, pv1, 18, 'Encounter.type'), { field: 'PV1-18', table: '0018' });
  if (patientType !== undefined) types.push(patientType);
  if (types.length > 0) encounter.type = types;
  const service = mappedConcept(ctx, readCwe(ctx, pv1, 10, 'Encounter.serviceType'), 'PV1-10', '0069', HOSPITAL_SERVICE);
  if (service !== undefined) encounter.serviceType = service;

  // Locations (IG PV1-3/6/11/42/43): current active (planned for a planned encounter, completed
  // once finished), prior completed, temporary active, pending reserved, prior temporary completed.
  const currentStatus: NonNullable<EncounterLocation['status']> = status === 'planned' ? 'planned' : status === 'finished' || status === 'cancelled' ? 'completed' : 'active';
  const locations: EncounterLocation[] = [];
  const current = addLocation(ctx, pv1, locations, 3, currentStatus);
  addLocation(ctx, pv1, locations, 6, 'completed');
  addLocation(ctx, pv1, locations, 11, currentStatus === 'completed' ? 'completed' : 'active');
  addLocation(ctx, pv1, locations, 42, 'reserved');
  addLocation(ctx, pv1, locations, 43, 'completed');
  if (locations.length > 0) encounter.location = locations;
  // PV1-40 bed status: Location.operationalStatus of the assigned bed (IG, table 0116).
  const bedStatus = pv1.text(40, 'Location.operationalStatus');
  if (bedStatus !== undefined) {
    const loc = ctx.get<Location & { id: string }>(current);
    if (loc !== undefined) loc.operationalStatus = { system: v2TableUri('0116'), code: bedStatus };
    else ctx.warn('PV1-40: bed status without an assigned location (PV1-3)');
  }

  const participants: EncounterParticipant[] = [];
  const roles: Array<[number, string, string]> = [
    [7, 'ATND', 'attender'],
    [8, 'REF', 'referrer'],
    [9, 'CON', 'consultant'],
    [17, 'ADM', 'admitter'],
    [52, 'PART', 'Participation'],
  ];
  for (const [field, code, display] of roles) {
    for (const xcn of pv1.readAll(field, 'XCN', 'Encounter.participant')) {
      const individual = practitionerFromXcn(ctx, xcn);
      if (individual !== undefined) participants.push({ type: [{ coding: [{ system: PARTICIPATION, code, display }] }], individual });
    }
  }
  if (participants.length > 0) encounter.participant = participants;

  // Hospitalization (IG PV1-5, 13, 14, 15, 16, 36, 37, 38).
  const hosp: NonNullable<Encounter['hospitalization']> = {};
  const preAdmit = cxToIdentifier(ctx, pv1.read(5, 'CX', 'Encounter.hospitalization.preAdmissionIdentifier'));
  if (preAdmit !== undefined) hosp.preAdmissionIdentifier = preAdmit;
  const readmit = cweToCodeableConcept(ctx, readCwe(ctx, pv1, 13, 'Encounter.hospitalization.reAdmission'), { field: 'PV1-13', table: '0092' });
  if (readmit !== undefined) hosp.reAdmission = readmit;
  // Table 0023 has no suggested values, so no vocabulary map (IG PV1-14).
  const admitSource = cweToCodeableConcept(ctx, readCwe(ctx, pv1, 14, 'Encounter.hospitalization.admitSource'), { field: 'PV1-14', table: '0023' });
  if (admitSource !== undefined) hosp.admitSource = admitSource;
  const arrangements = pv1.readAll(15, 'CWE', 'Encounter.hospitalization.specialArrangement')
    .map((c) => mappedConcept(ctx, cleanCwe(c), 'PV1-15', '0009', AMBULATORY_STATUS))
    .filter((c) => c !== undefined);
  if (arrangements.length > 0) hosp.specialArrangement = arrangements;
  const vip = mappedConcept(ctx, readCwe(ctx, pv1, 16, 'Encounter.hospitalization.specialCourtesy'), 'PV1-16', '0099', SPECIAL_COURTESY);
  if (vip !== undefined) hosp.specialCourtesy = [vip];
  const disposition = mappedConcept(ctx, readCwe(ctx, pv1, 36, 'Encounter.hospitalization.dischargeDisposition'), 'PV1-36', '0112', DISCHARGE_DISPOSITION);
  if (disposition !== undefined) hosp.dischargeDisposition = disposition;
  const destination = dischargeLocation(ctx, pv1);
  if (destination !== undefined) hosp.destination = destination;
  const diets = pv1.readAll(38, 'CWE', 'Encounter.hospitalization.dietPreference')
    .map((c) => cweToCodeableConcept(ctx, cleanCwe(c), { field: 'PV1-38', table: '0114' }))
    .filter((c) => c !== undefined);
  if (diets.length > 0) hosp.dietPreference = diets;
  if (Object.keys(hosp).length > 0) encounter.hospitalization = hosp;

  // PV1-39 servicing facility -> serviceProvider (the facility is an organization; IG leaves it open).
  const facility = readCwe(ctx, pv1, 39, 'Encounter.serviceProvider');
  const facilityName = facility?.text ?? facility?.code;
  if (facilityName !== undefined) {
    const org: Organization & { id: string } = { resourceType: 'Organization', id: ctx.id('Organization', 'facility', facility?.code ?? facilityName), name: facilityName };
    if (facility?.code !== undefined) org.identifier = [{ value: facility.code }];
    encounter.serviceProvider = withDisplay(ctx.add(org), facilityName);
  }

  // PV1-53/54 service episode -> EpisodeOfCare (IG PV1-53, PV1-54).
  const episodeId = cxToIdentifier(ctx, pv1.read(54, 'CX', 'EpisodeOfCare.identifier'));
  const episodeText = pv1.text(53, 'EpisodeOfCare.extension:resource-instance-description');
  if (episodeId !== undefined && subject !== undefined) {
    const episode: EpisodeOfCare & { id: string } = {
      resourceType: 'EpisodeOfCare',
      id: ctx.id('EpisodeOfCare', episodeId.system, episodeId.value),
      identifier: [episodeId],
      // EpisodeOfCare.status is 1..1 and v2 sends none: an episode named by a current visit is taken as active.
      status: 'active',
      patient: subject,
    };
    if (episodeText !== undefined) episode.extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/resource-instance-description', valueString: episodeText }];
    encounter.episodeOfCare = [ctx.add(episode)];
  } else if (episodeText !== undefined) ctx.warn('PV1-53: service episode description without an episode identifier (PV1-54) or patient; not mapped');

  pv1.skip(1, 'set id orders segments; not data');
  pv1.skip(12, 'preadmit test indicator has no Encounter element (IG PV1 map leaves it unmapped)');
  pv1.skip(20, 'financial class is billing data (IG maps it only to a Coverage built from PV1, which is not made)');
  skipAll(pv1, [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35], 'billing and contract data has no Encounter element (IG PV1 map leaves it unmapped)');
  pv1.skip(41, 'account status (user table 0117) has no Encounter element; Account.status takes FHIR codes only');
  skipAll(pv1, [46, 47, 48, 49], 'balances and charges are billing data (ChargeItem/Account), not mapped');
  pv1.skip(51, 'visit indicator (table 0326) only says what level PV1-19 identifies');
  const ref = ctx.add(encounter);
  ctx.encounter ??= ref;
  return ref;
}

/** A PV1 location field (PL) -> a Location appended to `locations` with the given status. */
function addLocation(ctx: MappingContext, pv1: SegmentReader, locations: EncounterLocation[], field: number, locStatus: NonNullable<EncounterLocation['status']>): Reference<Location> | undefined {
  const location = locationFromPl(ctx, pv1.raw(field, 'Encounter.location.location'), pv1.encoding);
  if (location !== undefined) locations.push({ location, status: locStatus });
  return location;
}

/** PV1-37 discharged to location (DLD: location code, effective date) -> hospitalization.destination. */
function dischargeLocation(ctx: MappingContext, pv1: SegmentReader): Reference<Location> | undefined {
  const rep = pv1.raw(37, 'Encounter.hospitalization.destination');
  if (rep === undefined) return undefined;
  const code = pv1.read(37, 'CWE', 'Encounter.hospitalization.destination');
  const name = code?.text ?? code?.code;
  if (name === undefined) return undefined;
  // IG DLD[Location-Discharge]: a Location of its own, named by the code.
  const loc: Location & { id: string } = { resourceType: 'Location', id: ctx.id('Location', 'discharge', code?.code ?? name), name, mode: 'kind' };
  const type = cweToCodeableConcept(ctx, code, { field: 'PV1-37', table: '0113' });
  if (type !== undefined) loc.type = [type];
  return withDisplay(ctx.add(loc), name);
}

/**
 * True when a PV1 says something about a visit. A28/A31 person updates often carry a placeholder
 * `PV1|1|N` (patient class "not applicable"): that makes no Encounter.
 */
export function pv1HasVisit(pv1: SegmentReader): boolean {
  const fields = pv1.presentFields().filter((n) => n !== 1);
  if (fields.length === 0) return false;
  if (fields.length === 1 && fields[0] === 2) {
    const cls = pv1.segment.rawField(2)?.split(pv1.encoding.component)[0]?.toUpperCase();
    return cls !== 'N' && cls !== 'U';
  }
  return true;
}
