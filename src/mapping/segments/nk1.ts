import type { Address, CodeableConcept, ContactPoint, HumanName, Identifier, Organization, Patient, PatientContact, Reference, RelatedPerson } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { ADMINISTRATIVE_SEX, cweToCodeableConcept, cxToIdentifier, period, xadToAddress, xpnToHumanName, xtnToContactPoint } from '../v2-datatypes.ts';
import { organizationFromXon } from '../v2-resources.ts';
import { mappedConcept, readCwe, readDate, skipAll, type ConceptTarget } from './adt-support.ts';

const ROLE_CODE = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';
const V2_0131 = 'http://terminology.hl7.org/CodeSystem/v2-0131';

/** Table 0063 relationship -> v3 RoleCode / table 0131 (IG concept map Relationship). */
export const RELATIONSHIP: Readonly<Record<string, ConceptTarget>> = {
  SEL: { system: ROLE_CODE, code: 'ONESELF', display: 'self' },
  SPO: { system: ROLE_CODE, code: 'SPS', display: 'spouse' },
  DOM: { system: ROLE_CODE, code: 'SIGOTHR', display: 'significant other' },
  CHD: { system: ROLE_CODE, code: 'CHILD', display: 'child' },
  GCH: { system: ROLE_CODE, code: 'GRNDCHILD', display: 'grandchild' },
  NCH: { system: ROLE_CODE, code: 'NCHILD', display: 'natural child' },
  SCH: { system: ROLE_CODE, code: 'STPCHLD', display: 'step child' },
  FCH: { system: ROLE_CODE, code: 'CHLDFOST', display: 'foster child' },
  PAR: { system: ROLE_CODE, code: 'PRN', display: 'parent' },
  MTH: { system: ROLE_CODE, code: 'MTH', display: 'mother' },
  FTH: { system: ROLE_CODE, code: 'FTH', display: 'father' },
  GRP: { system: ROLE_CODE, code: 'GRPRN', display: 'grandparent' },
  EXF: { system: ROLE_CODE, code: 'EXT', display: 'extended family member' },
  SIB: { system: ROLE_CODE, code: 'SIB', display: 'sibling' },
  BRO: { system: ROLE_CODE, code: 'BRO', display: 'brother' },
  SIS: { system: ROLE_CODE, code: 'SIS', display: 'sister' },
  FND: { system: ROLE_CODE, code: 'FRND', display: 'unrelated friend' },
  EMR: { system: V2_0131, code: 'E', display: 'Employer' },
  EMC: { system: V2_0131, code: 'C', display: 'Emergency Contact' },
  UNK: { system: V2_0131, code: 'U', display: 'Unknown' },
  OTH: { system: V2_0131, code: 'O', display: 'Other' },
};

/** Table 0131 contact role: FHIR uses the v2 table itself (IG concept map ContactRole). */
const CONTACT_ROLE: Readonly<Record<string, ConceptTarget>> = {};

/**
 * NK1 -> RelatedPerson (IG NK1[RelatedPerson]) and a Patient.contact (IG NK1[Patient]).
 *
 * The RelatedPerson's id comes from its identifier (NK1-33, NK1-12) when sent, else from the
 * patient, the name and the relationship: the same next of kin in the next message about the
 * patient updates one resource (set ids are not stable across messages, so they are not used).
 */
export function mapNk1(ctx: MappingContext, nk1: SegmentReader, patientRef: Reference<Patient>): Reference<RelatedPerson> | undefined {
  const names = nk1.readAll(2, 'XPN', 'RelatedPerson.name').map(xpnToHumanName).filter((n) => n !== undefined);
  const contactNames = nk1.readAll(30, 'XPN', 'RelatedPerson.name').map(xpnToHumanName).filter((n) => n !== undefined);
  const relCwe = readCwe(ctx, nk1, 3, 'RelatedPerson.relationship');
  const relationship = mappedConcept(ctx, relCwe, 'NK1-3', '0063', RELATIONSHIP);
  const role = mappedConcept(ctx, readCwe(ctx, nk1, 7, 'RelatedPerson.relationship'), 'NK1-7', '0131', CONTACT_ROLE);
  const addresses = nk1.readAll(4, 'XAD', 'RelatedPerson.address').map(xadToAddress).filter((a) => a !== undefined);
  const contactAddresses = nk1.readAll(32, 'XAD', 'RelatedPerson.address').map(xadToAddress).filter((a) => a !== undefined);
  const phones: ContactPoint[] = [];
  telecomInto(phones, nk1, 5);
  telecomInto(phones, nk1, 6, 'work');
  telecomInto(phones, nk1, 40);
  const contactPhones: ContactPoint[] = [];
  telecomInto(contactPhones, nk1, 31);
  telecomInto(contactPhones, nk1, 41);
  const start = readDate(ctx, nk1, 8, 'RelatedPerson.period.start');
  const end = readDate(ctx, nk1, 9, 'RelatedPerson.period.end');
  const sex = nk1.text(15, 'RelatedPerson.gender');
  const gender = sex !== undefined ? ADMINISTRATIVE_SEX[sex.toUpperCase()] : undefined;
  const birthDate = readDate(ctx, nk1, 16, 'RelatedPerson.birthDate');
  const language = cweToCodeableConcept(ctx, readCwe(ctx, nk1, 20, 'RelatedPerson.communication.language'), { field: 'NK1-20', table: '0296' });

  const identifiers: Identifier[] = [];
  for (const field of [33, 12]) {
    for (const cx of nk1.readAll(field, 'CX', 'RelatedPerson.identifier')) {
      const id = cxToIdentifier(ctx, cx);
      if (id !== undefined) identifiers.push(id);
    }
  }
  const ssn = nk1.text(37, 'RelatedPerson.identifier');
  if (ssn !== undefined) identifiers.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS' }] } });

  const relationships = [relationship, role].filter((c): c is CodeableConcept => c !== undefined);
  const allNames: HumanName[] = [...names, ...contactNames];
  const allAddresses: Address[] = [...addresses, ...contactAddresses];
  const allPhones = [...phones, ...contactPhones];
  // The organization (NK1-13) goes on Patient.contact only (IG NK1[RelatedPerson] leaves it open).
  const orgRep = nk1.raw(13, 'Patient.contact.organization');
  const organization = orgRep !== undefined ? organizationFromXon(ctx, orgRep, nk1.encoding) : undefined;
  if (organization !== undefined && (contactNames.length > 0 || contactPhones.length > 0 || contactAddresses.length > 0)) {
    const org = ctx.get<Organization & { id: string }>(organization);
    if (org !== undefined) {
      // IG NK1-30/31/32: the organization's contact person.
      const c: NonNullable<Organization['contact']>[number] = {};
      if (contactNames[0] !== undefined) c.name = contactNames[0];
      if (contactPhones.length > 0) c.telecom = contactPhones;
      if (contactAddresses[0] !== undefined) c.address = contactAddresses[0];
      (org.contact ??= []).push(c);
    }
  }

  let ref: Reference<RelatedPerson> | undefined;
  if (allNames.length > 0 || identifiers.length > 0 || allPhones.length > 0 || allAddresses.length > 0) {
    const first = identifiers[0];
    const id = first !== undefined ? ctx.id('RelatedPerson', first.system, first.value) : ctx.id('RelatedPerson', patientRef.reference, JSON.stringify(allNames[0] ?? allPhones[0] ?? allAddresses[0]), relCwe?.code);
    const person: RelatedPerson & { id: string } = { resourceType: 'RelatedPerson', id, active: true, patient: patientRef };
    if (identifiers.length > 0) person.identifier = identifiers;
    if (relationships.length > 0) person.relationship = relationships;
    if (allNames.length > 0) person.name = allNames;
    if (allPhones.length > 0) person.telecom = allPhones;
    if (gender !== undefined) person.gender = gender;
    if (birthDate !== undefined) person.birthDate = birthDate;
    if (allAddresses.length > 0) person.address = allAddresses;
    if (language !== undefined) person.communication = [{ language }];
    const p = period(start, end);
    if (p !== undefined) person.period = p;
    ref = ctx.add(person);
  }

  // Patient.contact (IG NK1[Patient]): a contact needs a name, telecom, address or organization (pat-1).
  const patient = ctx.get<Patient & { id: string }>(patientRef);
  if (patient !== undefined && (names[0] !== undefined || phones.length > 0 || addresses[0] !== undefined || organization !== undefined)) {
    const contact: PatientContact = {};
    if (relationships.length > 0) contact.relationship = relationships;
    if (names[0] !== undefined) contact.name = names[0];
    if (phones.length > 0) contact.telecom = phones;
    if (addresses[0] !== undefined) contact.address = addresses[0];
    if (gender !== undefined) contact.gender = gender;
    if (organization !== undefined) contact.organization = organization;
    const p = period(start, end);
    if (p !== undefined) contact.period = p;
    (patient.contact ??= []).push(contact);
  }
  if (sex !== undefined && gender === undefined) ctx.warn('NK1-15: administrative sex code not in HL7 table 0001; gender left empty');

  nk1.skip(1, 'set id orders segments; not data');
  skipAll(nk1, [10, 11], 'job title and class have no RelatedPerson element (IG NK1 map leaves them unmapped)');
  nk1.skip(14, 'marital status of a related person has no RelatedPerson element');
  skipAll(nk1, [17, 18, 19, 21, 22, 23, 24, 25, 27, 28, 29, 34, 36, 38, 39], 'demographic detail with no RelatedPerson element (IG NK1 map leaves it unmapped)');
  nk1.skip(26, "mother's maiden name has no RelatedPerson element (IG NK1 map leaves it unmapped)");
  nk1.skip(35, 'race of a related person needs a local extension (IG NK1-35 note)');
  return ref;
}

/** Appends an NK1 XTN field's contact points to `out`, each given `use` when it has none. */
function telecomInto(out: ContactPoint[], nk1: SegmentReader, field: number, use?: ContactPoint['use']): void {
  for (const x of nk1.readAll(field, 'XTN', 'RelatedPerson.telecom')) {
    const c = xtnToContactPoint(x);
    if (c !== undefined) out.push(use !== undefined && c.use === undefined ? { ...c, use } : c);
  }
}
