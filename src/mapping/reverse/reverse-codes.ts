import type { Element, Extension } from '@medplum/fhirtypes';
import { v2TableUri } from '../code-systems.ts';

/**
 * FHIR code -> HL7 table code, the reverse of the HL7 V2-to-FHIR IG concept maps. Where several v2
 * codes map to one FHIR code the IG lists first (or the common one) is sent; where the IG maps none
 * the choice is stated beside the entry.
 */

/** administrative-gender -> table 0001 (IG AdministrativeSex). */
export const GENDER_TO_V2: Readonly<Record<string, string>> = { male: 'M', female: 'F', other: 'O', unknown: 'U' };

/** v3 MaritalStatus / NullFlavor -> table 0002 (IG MaritalStatus reversed; T domestic partner -> P). */
export const MARITAL_TO_V2: Readonly<Record<string, string>> = { A: 'N', D: 'D', I: 'I', L: 'A', M: 'M', S: 'S', T: 'P', U: 'B', W: 'W', C: 'C', UNK: 'U', OTH: 'O', NAVU: 'T' };

/**
 * diagnostic-report-status -> table 0123 (IG ResultStatus[Non-Queries] reversed). registered -> O
 * (order received, the first of O/I/S); amended and appended are corrections (C).
 * entered-in-error and unknown have no 0123 code.
 */
export const REPORT_STATUS_TO_V2: Readonly<Record<string, string>> = { registered: 'O', partial: 'R', preliminary: 'P', final: 'F', corrected: 'C', amended: 'C', appended: 'C', cancelled: 'X' };

/**
 * observation-status -> table 0085 (IG ObservationResultStatusCodesInterpretation reversed).
 * registered -> I (specimen in lab, results pending; the IG maps none); entered-in-error -> W
 * ("post original as wrong"); amended -> A, which table 0085 holds only from v2.7 (C before).
 */
export const OBSERVATION_STATUS_TO_V2: Readonly<Record<string, string>> = { registered: 'I', preliminary: 'P', final: 'F', amended: 'A', corrected: 'C', cancelled: 'X', 'entered-in-error': 'W' };

/**
 * appointmentstatus -> table 0278 (IG FillerStatusCodes[Appointment] reversed). proposed has no
 * 0278 code: Pending; arrived: Started (the patient is there).
 */
export const APPOINTMENT_STATUS_TO_V2: Readonly<Record<string, string>> = {
  proposed: 'Pending',
  pending: 'Pending',
  booked: 'Booked',
  arrived: 'Started',
  'checked-in': 'Started',
  fulfilled: 'Complete',
  cancelled: 'Cancelled',
  noshow: 'Noshow',
  'entered-in-error': 'Deleted',
  waitlist: 'Waitlist',
};

/** participationstatus -> table 0278 for AIS/AIG/AIL/AIP filler status (no IG map: nearest meaning). */
export const PARTICIPANT_STATUS_TO_V2: Readonly<Record<string, string>> = { accepted: 'Booked', tentative: 'Pending', declined: 'Cancelled', 'needs-action': 'Pending' };

/** v3 ActCode encounter class -> table 0004 (IG PatientClass[EncounterClass] reversed). */
export const ENCOUNTER_CLASS_TO_V2: Readonly<Record<string, string>> = { EMER: 'E', IMP: 'I', ACUTE: 'I', NONAC: 'I', AMB: 'O', OBSENC: 'O', SS: 'O', HH: 'O', VR: 'O', FLD: 'O', PRENC: 'P', UNK: 'U' };

/** DocumentReference.status -> table 0273 document availability (TXA-19). */
export const DOCUMENT_AVAILABILITY_TO_V2: Readonly<Record<string, string>> = { current: 'AV', superseded: 'OB', 'entered-in-error': 'CA' };

/** v3 Confidentiality -> table 0272 (IG DocumentConfidentialityStatus reversed): N normal -> U usual control. */
export const CONFIDENTIALITY_TO_V2: Readonly<Record<string, string>> = { V: 'V', R: 'R', N: 'U', U: 'U', L: 'U', M: 'U' };

export const ALTERNATE_CODES = 'http://hl7.org/fhir/StructureDefinition/alternate-codes';

/**
 * The v2 code a primitive carries in its alternate-codes extension (`_status.extension`), as the
 * IG's v2 -> FHIR maps record codes FHIR has no equivalent for (e.g. OBX-11 X, TXA-19 CA).
 */
export function alternateCode(element: Element | undefined, table: string): string | undefined {
  const system = v2TableUri(table);
  for (const ext of element?.extension ?? []) {
    if (ext.url !== ALTERNATE_CODES) continue;
    const hit = ext.valueCodeableConcept?.coding?.find((c) => c.system === system || c.system === `HL7${table}`);
    if (hit?.code !== undefined) return hit.code;
  }
  return undefined;
}

/** The extension holder of a primitive element (`_status` for `status`; FHIR R4 json.html#primitive). */
export function primitiveOf(resource: object, element: string): Element | undefined {
  return (resource as Record<string, Element | undefined>)[`_${element}`];
}

/** The extensions of a resource with this URL. */
export function extensionsOf(holder: { extension?: Extension[] } | undefined, url: string): Extension[] {
  return (holder?.extension ?? []).filter((e) => e.url === url);
}
