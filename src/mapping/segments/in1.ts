import type { CodeableConcept, Coverage, Identifier, Organization, Patient, Reference, RelatedPerson } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { ADMINISTRATIVE_SEX, codeSystemUri, cweToCodeableConcept, cxToIdentifier, period, xadToAddress, xpnToHumanName, xtnToContactPoint } from '../v2-datatypes.ts';
import { encodingKey, organizationFromXon, partsKey } from '../v2-resources.ts';
import { leaf } from '../segment-reader.ts';
import { mappedConcept, readCwe, readDate, skipAll, type ConceptTarget } from './adt-support.ts';
import { RELATIONSHIP } from './nk1.ts';

const SUBSCRIBER = 'http://terminology.hl7.org/CodeSystem/subscriber-relationship';

/**
 * Table 0063 -> subscriber-relationship, the code system Coverage.relationship is bound to (the IG
 * maps IN1-17 with its Relationship map to v3 RoleCode; both codings are kept).
 */
const SUBSCRIBER_RELATIONSHIP: Readonly<Record<string, ConceptTarget>> = {
  SEL: { system: SUBSCRIBER, code: 'self', display: 'Self' },
  SPO: { system: SUBSCRIBER, code: 'spouse', display: 'Spouse' },
  DOM: { system: SUBSCRIBER, code: 'common', display: 'Common Law Spouse' },
  CHD: { system: SUBSCRIBER, code: 'child', display: 'Child' },
  NCH: { system: SUBSCRIBER, code: 'child', display: 'Child' },
  SCH: { system: SUBSCRIBER, code: 'child', display: 'Child' },
  FCH: { system: SUBSCRIBER, code: 'child', display: 'Child' },
  PAR: { system: SUBSCRIBER, code: 'parent', display: 'Parent' },
  MTH: { system: SUBSCRIBER, code: 'parent', display: 'Parent' },
  FTH: { system: SUBSCRIBER, code: 'parent', display: 'Parent' },
  EME: { system: SUBSCRIBER, code: 'injured', display: 'Injured Party' },
  OTH: { system: SUBSCRIBER, code: 'other', display: 'Other' },
};

/**
 * IN1 -> Coverage and the payor Organization (HL7 V2-to-FHIR IG segment map IN1[Coverage]). The
 * subscriber is the Patient when IN1-17 says "self" (or IN1-16 is empty), else a RelatedPerson
 * from IN1-16..19 and IN1-43. The id comes from the patient, the payor and the plan and member
 * numbers, so the same insurance sent again updates one Coverage.
 */
export function mapIn1(ctx: MappingContext, in1: SegmentReader, patientRef: Reference<Patient>): Reference<Coverage> {
  const payor = insurer(ctx, in1);
  const planCwe = readCwe(ctx, in1, 2, 'Coverage.identifier');
  const identifiers: Identifier[] = [];
  // IG CWE[Identifier]: the code is the value, the coding system the system.
  if (planCwe?.code !== undefined) identifiers.push({ value: planCwe.code, ...(planCwe.system !== undefined ? { system: codeSystemUri(ctx, planCwe.system) as string } : {}) });
  const policy = in1.text(36, 'Coverage.identifier');
  if (policy !== undefined) identifiers.push({ value: policy, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MB', display: 'Member Number' }] } });
  const memberId = in1.read(49, 'CX', 'Coverage.subscriberId');
  const coverage: Coverage & { id: string } = {
    resourceType: 'Coverage',
    id: ctx.id('Coverage', patientRef.reference, payor?.reference, planCwe?.code, policy ?? memberId?.id, identifiers.length === 0 && memberId === undefined ? `${ctx.messageKey}|${in1.index}` : undefined),
    // v2 sends no coverage status; a coverage reported in an ADT is taken as active.
    status: 'active',
    beneficiary: patientRef,
    payor: payor !== undefined ? [payor] : [patientRef],
  };
  if (payor === undefined) ctx.warn('IN1-3/IN1-4: no insurance company; Coverage.payor (1..*) is the patient');
  if (identifiers.length > 0) coverage.identifier = identifiers;
  if (memberId?.id !== undefined) coverage.subscriberId = memberId.id;
  const type = cweToCodeableConcept(ctx, readCwe(ctx, in1, 15, 'Coverage.type'), { field: 'IN1-15', table: '0086' });
  if (type !== undefined) coverage.type = type;
  const p = period(readDate(ctx, in1, 12, 'Coverage.period.start'), readDate(ctx, in1, 13, 'Coverage.period.end'));
  if (p !== undefined) coverage.period = p;
  // Group number and name -> Coverage.class "group" (FHIR R4 coverage-class).
  const groupNumber = in1.text(8, 'Coverage.class.value');
  const groupNameRep = in1.raw(9, 'Coverage.class.name');
  const groupName = groupNameRep !== undefined ? leaf(groupNameRep, in1.encoding, 1) : undefined;
  if (groupNumber !== undefined || groupName !== undefined) {
    coverage.class = [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'group', display: 'Group' }] }, value: groupNumber ?? groupName ?? '', ...(groupName !== undefined ? { name: groupName } : {}) }];
  }
  // IN1-10/11 insured's group employer -> policyHolder Organization (IG).
  const employerRep = in1.raw(11, 'Coverage.policyHolder');
  const employer = employerRep !== undefined ? organizationFromXon(ctx, employerRep, in1.encoding) : undefined;
  const employerId = cxToIdentifier(ctx, in1.read(10, 'CX', 'Coverage.policyHolder.identifier'));
  if (employer !== undefined) {
    coverage.policyHolder = employer;
    // get() only to change it: a shared Organization is copied by get() (MappingContext.recurring).
    const org = employerId !== undefined ? ctx.get<Organization & { id: string }>(employer) : undefined;
    if (org !== undefined && employerId !== undefined) (org.identifier ??= []).push(employerId);
  } else if (employerId !== undefined) coverage.policyHolder = { type: 'Organization', identifier: employerId };
  const order = in1.text(22, 'Coverage.order');
  if (order !== undefined && /^[1-9]\d*$/.test(order)) coverage.order = Number(order);
  const relCwe = readCwe(ctx, in1, 17, 'Coverage.relationship');
  const relationship = mappedConcept(ctx, relCwe, 'IN1-17', '0063', SUBSCRIBER_RELATIONSHIP);
  if (relationship !== undefined) {
    const v3 = relCwe?.code !== undefined ? RELATIONSHIP[relCwe.code.toUpperCase()] : undefined;
    if (v3 !== undefined && !relationship.coding?.some((c) => c.code === v3.code && c.system === v3.system)) relationship.coding = [...(relationship.coding ?? []), { ...v3 }];
    coverage.relationship = relationship;
  }
  const subscriber = subscriberOf(ctx, in1, patientRef, relCwe?.code?.toUpperCase(), relationship);
  if (subscriber !== undefined) coverage.subscriber = subscriber;
  in1.skip(1, 'set id orders segments; not data');
  skipAll(in1, [14, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 37, 38, 39, 40, 41, 45, 46, 47, 50, 51, 54, 55], 'insurance administration and billing detail with no Coverage element (IG IN1 map leaves it unmapped)');
  skipAll(in1, [42, 44, 48, 52, 53], "insured's employment and personal detail with no Coverage or RelatedPerson element (IG IN1 map leaves it unmapped)");
  return ctx.add(coverage);
}

/** IN1-3 (id), IN1-4 (name), IN1-5 (address), IN1-6 (contact), IN1-7 (phone) -> payor Organization. */
function insurer(ctx: MappingContext, in1: SegmentReader): Reference<Organization> | undefined {
  const ids = in1.readAll(3, 'CX', 'Organization.identifier').map((cx) => cxToIdentifier(ctx, cx)).filter((i) => i !== undefined);
  const nameRep = in1.raw(4, 'Coverage.payor');
  const name = nameRep !== undefined ? leaf(nameRep, in1.encoding, 1) : undefined;
  const first = ids[0];
  if (first === undefined && name === undefined) {
    for (const n of [5, 6, 7]) if (in1.has(n)) in1.skip(n, 'insurance company detail without its id or name (IN1-3, IN1-4): no Organization to carry it');
    return undefined;
  }
  // Read (and reported) in every message: a malformed value is rejected here, not in the shared part.
  const addresses = in1.readAll(5, 'XAD', 'Organization.address').map(xadToAddress).filter((a) => a !== undefined);
  const contactName = xpnToHumanName(in1.read(6, 'XPN', 'Organization.contact.name'));
  const phones = in1.readAll(7, 'XTN', 'Organization.contact.telecom').map((x) => xtnToContactPoint(x)).filter((c) => c !== undefined);
  // The payor recurs in message after message of a feed: made once from IN1-3..7 as sent (with the
  // tenant's identifier systems) and shared (MappingContext.recurring).
  const seg = in1.segment;
  const key = partsKey(`IN1-payor\u0000${encodingKey(in1.encoding)}`, [seg.rawField(3), seg.rawField(4), seg.rawField(5), seg.rawField(6), seg.rawField(7)]);
  return ctx.recurring(key, (): Reference<Organization> => {
    let ref: Reference<Organization>;
    if (first !== undefined) {
      const org: Organization & { id: string } = { resourceType: 'Organization', id: ctx.id('Organization', first.system, first.value), identifier: ids };
      if (name !== undefined) org.name = name;
      ref = ctx.add(org);
    } else ref = organizationFromXon(ctx, nameRep, in1.encoding) as Reference<Organization>;
    // The Organization in the bundle, when there is something to add to it (get() copies a shared one).
    const org = addresses.length > 0 || contactName !== undefined || phones.length > 0 ? ctx.get<Organization & { id: string }>(ref) : undefined;
    if (org !== undefined) {
      if (addresses.length > 0) org.address = addresses;
      if (contactName !== undefined || phones.length > 0) {
        const contact: NonNullable<Organization['contact']>[number] = {};
        if (contactName !== undefined) contact.name = contactName;
        if (phones.length > 0) contact.telecom = phones;
        org.contact = [contact];
      }
    }
    return name !== undefined ? { reference: ref.reference as string, display: name } : ref;
  });
}

/** The subscriber: the patient for "self", else a RelatedPerson named by IN1-16. */
function subscriberOf(ctx: MappingContext, in1: SegmentReader, patientRef: Reference<Patient>, relationship: string | undefined, relConcept: CodeableConcept | undefined): Reference<Patient | RelatedPerson> | undefined {
  const names = in1.readAll(16, 'XPN', 'Coverage.subscriber').map(xpnToHumanName).filter((n) => n !== undefined);
  if (relationship === 'SEL') {
    // The insured is the patient: IN1-16..19 repeat PID data already on the Patient.
    for (const n of [18, 19, 43]) if (in1.has(n)) in1.skip(n, 'the insured is the patient (IN1-17 self): PID carries it');
    return patientRef;
  }
  if (names.length === 0) {
    for (const n of [18, 19, 43]) if (in1.has(n)) in1.skip(n, "insured's detail without an insured's name (IN1-16): no RelatedPerson to carry it");
    return undefined;
  }
  const birthDate = readDate(ctx, in1, 18, 'RelatedPerson.birthDate');
  const addresses = in1.readAll(19, 'XAD', 'RelatedPerson.address').map(xadToAddress).filter((a) => a !== undefined);
  const sex = in1.text(43, 'RelatedPerson.gender');
  const gender = sex !== undefined ? ADMINISTRATIVE_SEX[sex.toUpperCase()] : undefined;
  const person: RelatedPerson & { id: string } = {
    resourceType: 'RelatedPerson',
    id: ctx.id('RelatedPerson', patientRef.reference, JSON.stringify(names[0]), relationship),
    active: true,
    patient: patientRef,
    name: names,
  };
  if (relConcept !== undefined) person.relationship = [relConcept];
  if (birthDate !== undefined) person.birthDate = birthDate;
  if (addresses.length > 0) person.address = addresses;
  if (gender !== undefined) person.gender = gender;
  return ctx.add(person);
}
