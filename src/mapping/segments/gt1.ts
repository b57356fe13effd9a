import type { Account, AccountGuarantor, Identifier, Organization, Patient, Reference, RelatedPerson } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { ADMINISTRATIVE_SEX, cxToIdentifier, period, xadToAddress, xpnToHumanName, xtnToContactPoint } from '../v2-datatypes.ts';
import { organizationFromXon } from '../v2-resources.ts';
import { mappedConcept, readCwe, readDate, skipAll } from './adt-support.ts';
import { RELATIONSHIP } from './nk1.ts';

/**
 * GT1 -> the guarantor of the patient's Account (FHIR R4 Account.guarantor; the IG has no GT1 map
 * yet). The party is the Patient when GT1-11 says "self", a RelatedPerson for a person guarantor
 * (GT1-3), or an Organization (GT1-21). The Account is the one PID-18 made, else one per patient.
 */
export function mapGt1(ctx: MappingContext, gt1: SegmentReader, patientRef: Reference<Patient>): Reference<Account> | undefined {
  const relCwe = readCwe(ctx, gt1, 11, 'RelatedPerson.relationship');
  const rel = relCwe?.code?.toUpperCase();
  const names = rel === 'SEL' ? [] : gt1.readAll(3, 'XPN', 'RelatedPerson.name').map(xpnToHumanName).filter((n) => n !== undefined);
  const orgRep = rel === 'SEL' ? undefined : gt1.raw(21, 'Account.guarantor.party');
  const identifiers: Identifier[] = rel === 'SEL' ? [] : gt1.readAll(2, 'CX', 'RelatedPerson.identifier').map((cx) => cxToIdentifier(ctx, cx)).filter((i) => i !== undefined);
  let party: Reference<Patient | RelatedPerson | Organization> | undefined;
  if (rel === 'SEL') {
    party = patientRef;
    // The guarantor is the patient: the person fields repeat PID.
    skipAll(gt1, [2, 3, 5, 6, 7, 8, 9, 12, 21], 'the guarantor is the patient (GT1-11 self): PID carries it');
  } else if (names.length > 0) {
    const ssn = gt1.text(12, 'RelatedPerson.identifier');
    if (ssn !== undefined) identifiers.push({ system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn, type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'SS' }] } });
    const first = identifiers[0];
    const person: RelatedPerson & { id: string } = {
      resourceType: 'RelatedPerson',
      id: first !== undefined ? ctx.id('RelatedPerson', first.system, first.value) : ctx.id('RelatedPerson', patientRef.reference, JSON.stringify(names[0]), rel),
      active: true,
      patient: patientRef,
      name: names,
    };
    if (identifiers.length > 0) person.identifier = identifiers;
    const relationship = mappedConcept(ctx, relCwe, 'GT1-11', '0063', RELATIONSHIP);
    person.relationship = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'GUAR', display: 'guarantor' }] }, ...(relationship !== undefined ? [relationship] : [])];
    const addresses = gt1.readAll(5, 'XAD', 'RelatedPerson.address').map(xadToAddress).filter((a) => a !== undefined);
    if (addresses.length > 0) person.address = addresses;
    const phones = [
      ...gt1.readAll(6, 'XTN', 'RelatedPerson.telecom').map((x) => xtnToContactPoint(x)),
      ...gt1.readAll(7, 'XTN', 'RelatedPerson.telecom').map((x) => xtnToContactPoint(x)).map((c) => (c !== undefined && c.use === undefined ? { ...c, use: 'work' as const } : c)),
    ].filter((c) => c !== undefined);
    if (phones.length > 0) person.telecom = phones;
    const birthDate = readDate(ctx, gt1, 8, 'RelatedPerson.birthDate');
    if (birthDate !== undefined) person.birthDate = birthDate;
    const sex = gt1.text(9, 'RelatedPerson.gender');
    const gender = sex !== undefined ? ADMINISTRATIVE_SEX[sex.toUpperCase()] : undefined;
    if (gender !== undefined) person.gender = gender;
    party = ctx.add(person);
  } else if (orgRep !== undefined) {
    party = organizationFromXon(ctx, orgRep, gt1.encoding);
  }
  if (party === undefined) {
    gt1.unuse();
    gt1.skippedWhole = 'no guarantor named (GT1-3 name, GT1-11 self or GT1-21 organization)';
    return undefined;
  }
  const account = accountOf(ctx, patientRef);
  const guarantor: AccountGuarantor = { party };
  const hold = gt1.text(22, 'Account.guarantor.onHold');
  if (hold === 'Y' || hold === 'N') guarantor.onHold = hold === 'Y';
  const p = period(readDate(ctx, gt1, 13, 'Account.guarantor.period.start'), readDate(ctx, gt1, 14, 'Account.guarantor.period.end'));
  if (p !== undefined) guarantor.period = p;
  const acc = ctx.get<Account & { id: string }>(account);
  if (acc !== undefined && !(acc.guarantor ?? []).some((g) => g.party.reference === party.reference)) (acc.guarantor ??= []).push(guarantor);
  gt1.skip(1, 'set id orders segments; not data');
  gt1.skip(4, "guarantor's spouse has no Account or RelatedPerson element");
  gt1.skip(10, 'guarantor type (user table 0068) has no Account element');
  gt1.skip(15, 'guarantor priority has no Account element (guarantors are listed in message order)');
  skipAll(gt1, [16, 17, 18, 19, 20, 29, 31, 32, 49, 50, 51, 53], "guarantor's employment has no Account or RelatedPerson element");
  skipAll(gt1, [23, 26, 27, 28, 54], 'guarantor credit and household finances are billing data, not mapped');
  skipAll(gt1, [24, 25, 30, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 52, 55, 56, 57], "guarantor's demographic detail has no RelatedPerson element");
  skipAll(gt1, [45, 46, 47, 48], "guarantor's contact person has no RelatedPerson element");
  if (rel !== 'SEL' && names.length > 0 && orgRep !== undefined) {
    gt1.unuse(21);
    gt1.skip(21, 'a person guarantor (GT1-3) was given; the organization name is not a second guarantor');
  }
  return account;
}

/** The patient's Account: the one PID-18 made, else one per patient (id from the patient). */
function accountOf(ctx: MappingContext, patientRef: Reference<Patient>): Reference<Account> {
  const existing = ctx.resources().find((r): r is Account & { id: string } => r.resourceType === 'Account' && (r as Account).subject?.some((s) => s.reference === patientRef.reference) === true);
  if (existing !== undefined) return { reference: `Account/${existing.id}` };
  return ctx.add({ resourceType: 'Account', id: ctx.id('Account', 'guarantor-of', patientRef.reference), status: 'active', subject: [patientRef] });
}
