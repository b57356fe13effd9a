import type { Annotation, Encounter, Extension, Identifier, Location, Organization, Patient, Practitioner, PractitionerRole, Reference, RelatedPerson, Resource } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7v2/index.ts';
import { addressToXad, codeableConceptToCwe, composite, contactPointToXtn, humanNameToXpn, identifierToCx, identifierTypeCode, joinParts, practitionerXcn, raw, toDtm, type Part } from './fhir-datatypes.ts';
import type { ReverseContext } from './reverse-context.ts';
import { v2TableUri } from '../code-systems.ts';
import { ENCOUNTER_CLASS_TO_V2, GENDER_TO_V2, MARITAL_TO_V2, extensionsOf } from './reverse-codes.ts';

/**
 * Segments every reverse mapper shares: EVN, PID (from Patient), PV1 (from Encounter), NTE (from
 * Annotations), and the XCN/PL/XON writers for referenced Practitioners, Locations, Organizations
 * (HL7 V2-to-FHIR IG segment maps PID[Patient], PV1[Encounter], NTE[...] read right to left).
 */

const SSN = 'http://hl7.org/fhir/sid/us-ssn';
const CDC_REC = 'urn:oid:2.16.840.1.113883.6.238';
const EXT = {
  mothersMaidenName: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName',
  birthTime: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime',
  race: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-race',
  ethnicity: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity',
  religion: 'http://hl7.org/fhir/StructureDefinition/patient-religion',
  birthPlace: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace',
  citizenship: 'http://hl7.org/fhir/StructureDefinition/patient-citizenship',
} as const;

/** EVN (HL7 v2.5.1 ch.3 3.4.1): EVN-1 the event (backward compatible), EVN-2 the recorded time. */
export function writeEvn(ctx: ReverseContext, event: string, recorded?: string): Hl7Segment {
  const evn = ctx.message.addSegment('EVN');
  ctx.put(evn, '1', event);
  ctx.putRaw(evn, '2', toDtm(recorded, 'EVN-2') ?? toDtm(ctx.now().toISOString().replace(/\.\d+Z$/, 'Z'), 'EVN-2'));
  return evn;
}

function isSsn(id: Identifier): boolean {
  return id.system === SSN || (id.system === undefined && identifierTypeCode(id) === 'SS');
}

/**
 * Patient -> PID. Identifiers go to PID-3, except the SSN (PID-19) and a driver's licence (PID-20),
 * as the forward map reads them; every name to PID-5 (HL7 recommends PID-5 repetitions over PID-9
 * aliases since v2.4); home and other telecom to PID-13, work to PID-14.
 */
export function writePid(ctx: ReverseContext, patient: Patient | undefined, fallback?: Reference): Hl7Segment {
  const enc = ctx.encoding;
  const pid = ctx.message.addSegment('PID');
  pid.set('1', '1');
  if (patient === undefined) {
    // Only a reference with an identifier (logical reference): enough for PID-3.
    const cx = identifierToCx(enc, fallback?.identifier, ctx.tenant);
    if (cx === undefined) ctx.warn('PID-3 (required) is empty: the patient is neither in the input nor identified by the reference');
    ctx.putRaw(pid, '3', cx);
    return pid;
  }
  ctx.visit(patient);
  const pid3: Array<string | undefined> = [];
  for (const id of patient.identifier ?? []) {
    if (isSsn(id) && pid.get('19') === undefined) {
      ctx.put(pid, '19', id.value);
      ctx.use(patient, 'identifier', 'PID-19');
    } else if (identifierTypeCode(id) === 'DL' && id.system === undefined && pid.get('20') === undefined) {
      ctx.putRaw(pid, '20', composite(enc, [id.value, id.assigner?.display]));
      ctx.use(patient, 'identifier', 'PID-20');
    } else {
      pid3.push(identifierToCx(enc, id, ctx.tenant));
      ctx.use(patient, 'identifier', 'PID-3');
    }
  }
  if (pid3.every((c) => c === undefined)) ctx.warn('PID-3 (required) is empty: the Patient has no identifier with a value');
  // PID-2 and PID-4 ids were folded into the identifiers by the forward map: one repetition each.
  ctx.putReps(pid, '3', [...new Set(pid3)]);
  if (patient.name !== undefined) {
    ctx.putReps(pid, '5', patient.name.map((n) => humanNameToXpn(enc, n)));
    ctx.use(patient, 'name', 'PID-5');
  }
  const dob = toDtm(patient.birthDate, 'Patient.birthDate');
  if (dob !== undefined) {
    const time = extensionsOf((patient as Patient & { _birthDate?: { extension?: Extension[] } })._birthDate, EXT.birthTime)[0]?.valueDateTime;
    ctx.putRaw(pid, '7', toDtm(time, 'Patient.birthDate.extension:birthTime') ?? dob);
    ctx.use(patient, 'birthDate', 'PID-7');
  }
  if (patient.gender !== undefined) {
    ctx.put(pid, '8', GENDER_TO_V2[patient.gender]);
    ctx.use(patient, 'gender', 'PID-8');
  }
  if (patient.address !== undefined) {
    ctx.putReps(pid, '11', patient.address.map((a) => addressToXad(enc, a)));
    ctx.use(patient, 'address', 'PID-11');
  }
  const telecom = patient.telecom ?? [];
  const home = telecom.filter((t) => t.use !== 'work');
  const work = telecom.filter((t) => t.use === 'work');
  if (home.length > 0) {
    ctx.putReps(pid, '13', home.map((t) => contactPointToXtn(enc, t)));
    ctx.use(patient, 'telecom', 'PID-13');
  }
  if (work.length > 0) {
    ctx.putReps(pid, '14', work.map((t) => contactPointToXtn(enc, t)));
    ctx.use(patient, 'telecom', 'PID-14');
  }
  const comm = patient.communication?.find((c) => c.preferred === true) ?? patient.communication?.[0];
  if (comm !== undefined) {
    ctx.putRaw(pid, '15', codeableConceptToCwe(enc, comm.language, { tenant: ctx.tenant }));
    ctx.use(patient, 'communication', 'PID-15');
    if ((patient.communication?.length ?? 0) > 1) ctx.unmapped(patient, 'communication', 'PID-15 holds one (the preferred) language; the others are not sent');
  }
  if (patient.maritalStatus !== undefined) {
    ctx.putRaw(pid, '16', maritalCwe(ctx, patient));
    ctx.use(patient, 'maritalStatus', 'PID-16');
  }
  if (patient.multipleBirthInteger !== undefined) {
    pid.set('24', 'Y');
    pid.set('25', String(patient.multipleBirthInteger));
    ctx.use(patient, 'multipleBirthInteger', 'PID-24/PID-25');
  } else if (patient.multipleBirthBoolean !== undefined) {
    pid.set('24', patient.multipleBirthBoolean ? 'Y' : 'N');
    ctx.use(patient, 'multipleBirthBoolean', 'PID-24');
  }
  if (patient.deceasedDateTime !== undefined) {
    ctx.putRaw(pid, '29', toDtm(patient.deceasedDateTime, 'Patient.deceasedDateTime'));
    pid.set('30', 'Y');
    ctx.use(patient, 'deceasedDateTime', 'PID-29/PID-30');
  } else if (patient.deceasedBoolean !== undefined) {
    pid.set('30', patient.deceasedBoolean ? 'Y' : 'N');
    ctx.use(patient, 'deceasedBoolean', 'PID-30');
  }
  writePatientExtensions(ctx, patient, pid);
  ctx.skip(patient, 'active', 'PID has no active flag (an inactive record is a merge or a delete event)');
  ctx.skip(patient, 'contact', 'contacts are NK1 segments, not written by this mapper');
  ctx.skip(patient, 'generalPractitioner', 'PD1-4 is not written by this mapper');
  ctx.skip(patient, 'managingOrganization', 'PID has no managing organization field');
  ctx.skip(patient, 'link', 'patient links are merge events (A40), not PID fields');
  ctx.skip(patient, 'photo', 'PID has no photo field');
  return pid;
}

/** maritalStatus -> PID-16: a v2 table 0002 coding as it is, a v3 MaritalStatus code translated. */
function maritalCwe(ctx: ReverseContext, patient: Patient): string | undefined {
  const cc = patient.maritalStatus;
  const v2 = cc?.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v2-0002');
  if (v2 !== undefined || cc === undefined) return codeableConceptToCwe(ctx.encoding, cc, { tenant: ctx.tenant });
  const v3 = cc.coding?.find((c) => c.system === 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus' || c.system === 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor');
  const code = v3?.code !== undefined ? MARITAL_TO_V2[v3.code] : undefined;
  if (code === undefined) return codeableConceptToCwe(ctx.encoding, cc, { tenant: ctx.tenant });
  return composite(ctx.encoding, [code, v3?.display, 'HL70002']);
}

function writePatientExtensions(ctx: ReverseContext, patient: Patient, pid: Hl7Segment): void {
  const enc = ctx.encoding;
  const omb = (ext: Extension): Array<string | undefined> => {
    const codings = (ext.extension ?? []).filter((e) => e.url === 'ombCategory' || e.url === 'detailed').map((e) => e.valueCoding);
    const text = ext.extension?.find((e) => e.url === 'text')?.valueString;
    if (codings.length === 0) return [composite(enc, [undefined, text])];
    return codings.map((c) => composite(enc, [c?.code, c?.display, c?.system === CDC_REC ? 'CDCREC' : c?.system]));
  };
  for (const ext of patient.extension ?? []) {
    switch (ext.url) {
      case EXT.mothersMaidenName:
        ctx.putRaw(pid, '6', composite(enc, [ext.valueString]));
        ctx.use(patient, 'extension', 'PID-6');
        break;
      case EXT.race:
        ctx.putReps(pid, '10', omb(ext));
        ctx.use(patient, 'extension', 'PID-10');
        break;
      case EXT.ethnicity:
        ctx.putReps(pid, '22', omb(ext));
        ctx.use(patient, 'extension', 'PID-22');
        break;
      case EXT.religion:
        ctx.putRaw(pid, '17', codeableConceptToCwe(enc, ext.valueCodeableConcept, { tenant: ctx.tenant }));
        ctx.use(patient, 'extension', 'PID-17');
        break;
      case EXT.birthPlace:
        ctx.put(pid, '23', ext.valueAddress?.text ?? ext.valueAddress?.city);
        ctx.use(patient, 'extension', 'PID-23');
        break;
      case EXT.citizenship: {
        const code = ext.extension?.find((e) => e.url === 'code')?.valueCodeableConcept;
        const prior = pid.rawField(26);
        const cwe = codeableConceptToCwe(enc, code, { tenant: ctx.tenant });
        if (cwe !== undefined) pid.setRaw('26', prior === undefined || prior === '' ? cwe : `${prior}${enc.repetition}${cwe}`);
        ctx.use(patient, 'extension', 'PID-26');
        break;
      }
      default:
        ctx.unmapped(patient, `extension(${ext.url})`, 'no PID field for this extension');
    }
  }
}

// ---- practitioners, locations, organizations ----------------------------------------------------

/**
 * A reference to a Practitioner (or a PractitionerRole's practitioner, or a RelatedPerson) -> XCN:
 * identifier and name from the resource when it is in the input, else the reference's identifier
 * and display (the display as the family name: v2 has no free-text name).
 */
export function xcnFor(ctx: ReverseContext, ref: Reference | undefined, from?: Resource): string | undefined {
  if (ref === undefined) return undefined;
  let target = ctx.resolve<Practitioner | PractitionerRole | RelatedPerson>(ref, from);
  if (target?.resourceType === 'PractitionerRole') {
    ctx.visit(target);
    target = ctx.resolve<Practitioner>(target.practitioner, target) ?? target;
  }
  if (target !== undefined && target.resourceType !== 'PractitionerRole') {
    ctx.visit(target);
    const id = target.identifier?.[0];
    const name = target.name?.[0];
    if (id !== undefined) ctx.use(target, 'identifier', 'XCN-1');
    if (name !== undefined) ctx.use(target, 'name', 'XCN-2..7');
    return practitionerXcn(ctx.encoding, id, name, ctx.tenant);
  }
  return practitionerXcn(ctx.encoding, ref.identifier, ref.display !== undefined ? { text: ref.display } : undefined, ctx.tenant);
}

/** The CNN part of an NDL (OBR-32/34/35): the XCN's first components as subcomponents. */
export function cnnFor(ctx: ReverseContext, ref: Reference | undefined, from?: Resource): string | undefined {
  const xcn = xcnFor(ctx, ref, from);
  if (xcn === undefined) return undefined;
  const enc = ctx.encoding;
  const parts = xcn.split(enc.component).slice(0, 7);
  return joinParts(enc, enc.subcomponent, parts.map((p) => raw(p === '' ? undefined : p)));
}

const PL_LEVEL: Readonly<Record<string, number>> = { wa: 1, ro: 2, bd: 3, si: 4, bu: 7, lvl: 8 };

/**
 * Location (with its partOf chain) -> PL (IG PL[Location] reversed): each level by its physical
 * type (ward -> PL-1 point of care, room -> PL-2, bed -> PL-3, site -> PL-4 facility, building ->
 * PL-7, level -> PL-8), the most specific one's description as PL-9. A Location without a physical
 * type is the point of care. A reference not in the input sends its display as the point of care.
 */
export function plFor(ctx: ReverseContext, ref: Reference | undefined, from?: Resource): string | undefined {
  if (ref === undefined) return undefined;
  const parts: Part[] = [];
  let loc = ctx.resolve<Location>(ref, from);
  if (loc === undefined) return composite(ctx.encoding, [ref.display]);
  const description = loc.description;
  const seen = new Set<Location>();
  while (loc !== undefined && !seen.has(loc)) {
    seen.add(loc);
    ctx.visit(loc);
    const code = loc.physicalType?.coding?.[0]?.code;
    const n = (code !== undefined ? PL_LEVEL[code] : undefined) ?? (parts[0] === undefined ? 1 : undefined);
    if (n !== undefined && parts[n - 1] === undefined && loc.name !== undefined) {
      parts[n - 1] = loc.name;
      ctx.use(loc, 'name', `PL-${n}`);
      if (loc.physicalType !== undefined) ctx.use(loc, 'physicalType', 'PL level');
    }
    if (loc.partOf !== undefined) ctx.use(loc, 'partOf', 'PL levels');
    loc = ctx.resolve<Location>(loc.partOf, loc);
  }
  if (description !== undefined) parts[8] = description;
  for (let i = 0; i < parts.length; i++) if (parts[i] === undefined) parts[i] = undefined;
  return composite(ctx.encoding, parts);
}

/** Organization -> XON (name, assigning authority, id type, XON-10 identifier; v2.5.1 ch.2A 2.A.90). */
export function xonFor(ctx: ReverseContext, ref: Reference | undefined, from?: Resource): string | undefined {
  if (ref === undefined) return undefined;
  const org = ctx.resolve<Organization>(ref, from);
  const enc = ctx.encoding;
  if (org === undefined) return composite(enc, [ref.display]);
  ctx.visit(org);
  const id = org.identifier?.[0];
  if (org.name !== undefined) ctx.use(org, 'name', 'XON-1');
  if (id !== undefined) ctx.use(org, 'identifier', 'XON-10');
  const cx = identifierToCx(enc, id, ctx.tenant)?.split(enc.component);
  return composite(enc, [org.name, undefined, undefined, undefined, undefined, raw(cx?.[3] || undefined), raw(cx?.[4] || undefined), undefined, undefined, id?.value]);
}

// ---- PV1, NTE -------------------------------------------------------------------------------------

const PARTICIPANT_FIELD: Readonly<Record<string, string>> = { ATND: '7', REF: '8', CON: '9', ADM: '17' };

/**
 * Encounter -> PV1 (IG PV1[Encounter] reversed): class (PV1-2), location (PV1-3), attending /
 * referring / consulting / admitting (PV1-7/8/9/17), visit number (PV1-19), period (PV1-44/45).
 * Without an Encounter, PV1-2 is N (not applicable; HL7 table 0004), as A31 and MDM expect.
 */
export function writePv1(ctx: ReverseContext, encounter: Encounter | undefined): Hl7Segment {
  const pv1 = ctx.message.addSegment('PV1');
  pv1.set('1', '1');
  if (encounter === undefined) {
    pv1.set('2', 'N');
    return pv1;
  }
  ctx.visit(encounter);
  const enc = ctx.encoding;
  // A class sent with HL7 table 0004 itself (R, B, C, N, U have no v3 ActCode) goes back as it is.
  const classCode = encounter.class?.code;
  const cls = classCode === undefined ? undefined : encounter.class?.system === v2TableUri('0004') ? classCode : ENCOUNTER_CLASS_TO_V2[classCode];
  pv1.set('2', cls ?? 'U');
  if (encounter.class?.code !== undefined) {
    ctx.use(encounter, 'class', 'PV1-2');
    if (cls === undefined) ctx.warn('PV1-2: the Encounter class has no HL7 table 0004 code; sent as U (unknown)');
  }
  const loc = encounter.location?.[0];
  if (loc !== undefined) {
    ctx.putRaw(pv1, '3', plFor(ctx, loc.location, encounter));
    ctx.use(encounter, 'location', 'PV1-3');
  }
  const byField = new Map<string, string[]>();
  for (const p of encounter.participant ?? []) {
    const code = p.type?.flatMap((t) => t.coding ?? []).find((c) => c.code !== undefined && PARTICIPANT_FIELD[c.code] !== undefined)?.code;
    const field = code !== undefined ? PARTICIPANT_FIELD[code] : undefined;
    if (field === undefined) {
      ctx.unmapped(encounter, 'participant', 'a participant type other than ATND/REF/CON/ADM has no PV1 field');
      continue;
    }
    const xcn = xcnFor(ctx, p.individual, encounter);
    if (xcn === undefined) continue;
    byField.set(field, [...(byField.get(field) ?? []), xcn]);
    ctx.use(encounter, 'participant', `PV1-${field}`);
  }
  for (const [field, reps] of byField) ctx.putReps(pv1, field, reps);
  // Types by their table: PV1-4 admission type (0007), PV1-18 patient type (0018).
  for (const [table, field] of [['0007', '4'], ['0018', '18']] as const) {
    const t = encounter.type?.find((c) => c.coding?.some((x) => x.system === v2TableUri(table)) === true);
    if (t !== undefined) {
      ctx.putRaw(pv1, field, codeableConceptToCwe(enc, t, { tenant: ctx.tenant }));
      ctx.use(encounter, 'type', `PV1-${field}`);
    }
  }
  const hosp = encounter.hospitalization;
  if (hosp !== undefined) {
    ctx.putRaw(pv1, '5', identifierToCx(enc, hosp.preAdmissionIdentifier, ctx.tenant));
    ctx.putRaw(pv1, '13', codeableConceptToCwe(enc, hosp.reAdmission, { tenant: ctx.tenant }));
    ctx.putRaw(pv1, '14', codeableConceptToCwe(enc, hosp.admitSource, { tenant: ctx.tenant }));
    ctx.putReps(pv1, '38', (hosp.dietPreference ?? []).map((d) => codeableConceptToCwe(enc, d, { tenant: ctx.tenant })));
    if (hosp.preAdmissionIdentifier !== undefined || hosp.reAdmission !== undefined || hosp.admitSource !== undefined || hosp.dietPreference !== undefined) ctx.use(encounter, 'hospitalization', 'PV1-5/13/14/38');
    if (hosp.dischargeDisposition !== undefined || hosp.destination !== undefined || hosp.specialArrangement !== undefined || hosp.specialCourtesy !== undefined) {
      ctx.unmapped(encounter, 'hospitalization', 'discharge disposition, destination, special arrangements and courtesies are not written back');
    }
  }
  const visit = encounter.identifier?.[0];
  if (visit !== undefined) {
    ctx.putRaw(pv1, '19', identifierToCx(enc, visit, ctx.tenant));
    ctx.use(encounter, 'identifier', 'PV1-19');
  }
  if (encounter.period !== undefined) {
    ctx.putRaw(pv1, '44', toDtm(encounter.period.start, 'Encounter.period.start'));
    ctx.putRaw(pv1, '45', toDtm(encounter.period.end, 'Encounter.period.end'));
    ctx.use(encounter, 'period', 'PV1-44/PV1-45');
  }
  ctx.use(encounter, 'subject', 'PID');
  ctx.skip(encounter, 'status', 'PV1 carries no status: the trigger event implies it');
  return pv1;
}

/** FT text: lines joined by the `\.br\` formatting command (HL7 v2.5.1 ch.2 2.7.6), each line escaped. */
export function formattedText(ctx: ReverseContext, text: string): string {
  const enc = ctx.encoding;
  return joinParts(enc, `${enc.escape}.br${enc.escape}`, text.split(/\r\n|\r|\n/)) ?? '';
}

/** Annotations -> NTE segments (NTE-1 sequence, NTE-3 comment as FT), appended in order. */
export function writeNtes(ctx: ReverseContext, owner: Resource, element: string, notes: readonly Annotation[] | undefined): void {
  let n = 0;
  for (const note of notes ?? []) {
    if (note.text === undefined || note.text === '') continue;
    const nte = ctx.message.addSegment('NTE');
    nte.set('1', String(++n));
    nte.setRaw('3', formattedText(ctx, note.text));
    ctx.use(owner, element, 'NTE-3');
    if (note.authorReference !== undefined || note.authorString !== undefined || note.time !== undefined) {
      // NTE-5 (entered by) and NTE-6 (entered time) exist from v2.6.
      if (ctx.atLeast('2.6')) {
        ctx.putRaw(nte, '5', note.authorReference !== undefined ? xcnFor(ctx, note.authorReference, owner) : composite(ctx.encoding, [undefined, note.authorString]));
        ctx.putRaw(nte, '6', toDtm(note.time, `${element}.time`));
      } else ctx.unmapped(owner, `${element}.author/time`, 'NTE-5/NTE-6 exist from v2.6');
    }
  }
}
