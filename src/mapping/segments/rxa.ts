import type { Annotation, CodeableConcept, Immunization, Location, Organization, Reference } from '@medplum/fhirtypes';
import { DATATYPE_READERS, splitOn, type Hl7Cwe, type Hl7Xad } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, nmToQuantity, xadToAddress } from '../v2-datatypes.ts';
import { locationFromPl, practitionerFromXcn } from '../v2-resources.ts';
import { tolerant } from './lab-support.ts';

/**
 * RXA -> Immunization (HL7 V2-to-FHIR IG segment map RXA[Immunization]; US CDC immunization IG for
 * the administration notes, RXA-9). The Immunization itself (id, identifiers, patient) is made by
 * the message mapper from the ORDER group's ORC; this fills in what RXA says.
 */

export type ImmunizationDraft = Immunization & { id: string };

const CVX = 'http://hl7.org/fhir/sid/cvx';
const MVX = 'http://hl7.org/fhir/sid/mvx';
const V2_0443 = 'http://terminology.hl7.org/CodeSystem/v2-0443';

/** HL7 table 0322 completion status -> Immunization.status (IG concept map CompletionStatus). */
const COMPLETION: Readonly<Record<string, Immunization['status']>> = { CP: 'completed', RE: 'not-done', NA: 'not-done', PA: 'completed' };

/** Fills the draft from RXA. */
export function mapRxa(ctx: MappingContext, rxa: SegmentReader, imm: ImmunizationDraft): void {
  rxa.skip(1, 'give sub-id counter: always 0 in immunization messages (CDC IG)');
  rxa.skip(2, 'administration sub-id counter: always 1 in immunization messages (CDC IG); dose number is not carried here');

  const start = ctx.dateTime(rxa.read(3, 'TS', 'Immunization.occurrenceDateTime'), 'RXA-3');
  if (start !== undefined) {
    imm.occurrenceDateTime = start;
    delete imm.occurrenceString;
  } else ctx.warn(`RXA-3: no administration time (segment ${rxa.index}); occurrence is "unknown"`);
  rxa.skip(4, 'end of administration: Immunization has one occurrence time (IG leaves RXA-4 unmapped)');

  const vaccine = vaccineCode(ctx, rxa.read(5, 'CWE', 'Immunization.vaccineCode'));
  if (vaccine !== undefined) imm.vaccineCode = vaccine;
  else ctx.warn(`RXA-5: no administered code (segment ${rxa.index}); vaccineCode is "unknown"`);

  // RXA-6 = 999 is the CDC IG's "amount unknown".
  const amount = rxa.read(6, 'NM', 'Immunization.doseQuantity.value');
  const units = rxa.read(7, 'CWE', 'Immunization.doseQuantity');
  if (amount !== undefined && amount !== 999) {
    const dose = nmToQuantity(ctx, amount, units, 'RXA-7');
    if (dose !== undefined) imm.doseQuantity = dose;
  }
  rxa.skip(8, 'dosage form has no Immunization element (IG leaves it unmapped)');

  // RXA-9 (CDC IG, table NIP001): 00 a new record (primary source), 01-08 historical (reportOrigin); anything else a note.
  const notes: Annotation[] = [];
  for (const cwe of rxa.readAll(9, 'CWE', 'Immunization.primarySource')) {
    const isOrigin = cwe.system?.toUpperCase() === 'NIP001' || (cwe.system === undefined && cwe.code !== undefined && /^0[0-8]$/.test(cwe.code));
    if (isOrigin && cwe.code === '00') imm.primarySource = true;
    else if (isOrigin) {
      imm.primarySource = false;
      const origin = cweToCodeableConcept(ctx, cwe, { field: 'RXA-9' });
      if (origin !== undefined) imm.reportOrigin = origin;
    } else {
      const text = cwe.originalText ?? cwe.text ?? cwe.code;
      if (text !== undefined) notes.push({ text });
    }
  }
  if (notes.length > 0) imm.note = [...(imm.note ?? []), ...notes];

  for (const xcn of rxa.readAll(10, 'XCN', 'Immunization.performer.actor')) {
    const actor = practitionerFromXcn(ctx, xcn);
    if (actor !== undefined) (imm.performer ??= []).push({ function: { coding: [{ system: V2_0443, code: 'AP', display: 'Administering Provider' }] }, actor });
  }

  const location = administeredAt(ctx, rxa);
  if (location !== undefined) imm.location = location;

  rxa.skip(12, 'administered per (time unit) has no Immunization element');
  rxa.skip(13, 'administered strength has no Immunization element');
  rxa.skip(14, 'administered strength units have no Immunization element');
  const lots = rxa.texts(15, 'Immunization.lotNumber');
  if (lots.length > 0) imm.lotNumber = lots.join(', ');
  if (lots.length > 1) ctx.warn(`RXA-15: several lot numbers (segment ${rxa.index}); lotNumber lists them all`);
  const expiry = rxa.read(16, 'TS', 'Immunization.expirationDate');
  if (expiry !== undefined) imm.expirationDate = expiry.iso.slice(0, 10);
  const manufacturer = manufacturerOf(ctx, rxa.read(17, 'CWE', 'Immunization.manufacturer'));
  if (manufacturer !== undefined) imm.manufacturer = manufacturer;

  const refusal = cweToCodeableConcept(ctx, rxa.read(18, 'CWE', 'Immunization.statusReason'), { field: 'RXA-18' });
  const indications = rxa.readAll(19, 'CWE', 'Immunization.reasonCode').map((c) => cweToCodeableConcept(ctx, c, { field: 'RXA-19' })).filter((c) => c !== undefined);
  if (indications.length > 0) imm.reasonCode = indications;

  const completion = rxa.text(20, 'Immunization.status')?.toUpperCase();
  const action = rxa.text(21, 'Immunization.status')?.toUpperCase();
  let status = completion !== undefined ? COMPLETION[completion] : 'completed';
  if (status === undefined) {
    ctx.warn(`RXA-20: completion status not in HL7 table 0322 (segment ${rxa.index}); status completed`);
    status = 'completed';
  }
  // IG RXA-21: D (delete) means the record was entered in error, whatever RXA-20 says.
  if (action === 'D') status = 'entered-in-error';
  imm.status = status;
  if (completion === 'PA') {
    imm.isSubpotent = true;
    imm.subpotentReason = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/immunization-subpotent-reason', code: 'partial', display: 'Partial Dose' }] }];
  }
  if (refusal !== undefined) imm.statusReason = refusal;
  else if (status === 'not-done' && completion === 'RE') ctx.warn(`RXA-18: a refusal without a reason (segment ${rxa.index})`);

  const entered = ctx.dateTime(rxa.read(22, 'TS', 'Immunization.recorded'), 'RXA-22');
  if (entered !== undefined) imm.recorded = entered;
  rxa.skip(23, 'drug strength volume has no Immunization element');
  rxa.skip(24, 'drug strength volume units have no Immunization element');
  rxa.skip(25, 'administered barcode identifier has no R4 Immunization element');
  rxa.skip(26, 'pharmacy order type has no Immunization element');
  rxa.skip(29, 'administered tag identifier has no Immunization element');
}

/** RXA-5 (IG CWE[CodeableConcept]); a code sent without a system, or as HL7 table 0292, is CVX. */
function vaccineCode(ctx: MappingContext, cwe: Hl7Cwe | undefined): CodeableConcept | undefined {
  if (cwe === undefined) return undefined;
  const cvx = (s: string | undefined): string => (s === undefined || s.toUpperCase() === 'HL70292' ? 'CVX' : s);
  const fixed: Hl7Cwe = { ...cwe, ...(cwe.code !== undefined ? { system: cvx(cwe.system) } : {}), ...(cwe.alternateCode !== undefined ? { alternateSystem: cvx(cwe.alternateSystem) } : {}) };
  const cc = cweToCodeableConcept(ctx, fixed, { field: 'RXA-5' });
  // Keep CVX first: it is the code immunization registries match on.
  cc?.coding?.sort((a, b) => Number(b.system === CVX) - Number(a.system === CVX));
  return cc;
}

/** RXA-17 manufacturer (MVX, table 0227) -> Organization (IG CWE[Organization]). */
function manufacturerOf(ctx: MappingContext, cwe: Hl7Cwe | undefined): Reference<Organization> | undefined {
  if (cwe === undefined || (cwe.code === undefined && cwe.text === undefined)) return undefined;
  const mvx = cwe.system === undefined || ['MVX', 'HL70227'].includes(cwe.system.toUpperCase());
  const org: Organization & { id: string } = { resourceType: 'Organization', id: ctx.id('Organization', mvx ? MVX : cwe.system, cwe.code ?? cwe.text) };
  if (cwe.code !== undefined) org.identifier = [{ ...(mvx ? { system: MVX } : {}), value: cwe.code }];
  if (cwe.text !== undefined) org.name = cwe.text;
  const ref = ctx.add(org);
  return cwe.text !== undefined ? { ...ref, display: cwe.text } : ref;
}

/**
 * Where the dose was given: RXA-27 (PL, v2.6+; IG PL[Location]) else RXA-11 (LA2: a PL in
 * components 1-8, the address in 9-16), with RXA-28 as the Location's address.
 */
function administeredAt(ctx: MappingContext, rxa: SegmentReader): Reference<Location> | undefined {
  const enc = rxa.encoding;
  let location = locationFromPl(ctx, rxa.raw(27, 'Immunization.location'), enc);
  const la2 = rxa.raw(11, 'Immunization.location');
  let la2Address: Hl7Xad | undefined;
  if (la2 !== undefined) {
    const comps = splitOn(la2, enc.component);
    if (location === undefined) location = locationFromPl(ctx, comps.slice(0, 8).join(enc.component), enc);
    const addressPart = comps.slice(8).join(enc.component);
    if (addressPart.replaceAll(enc.component, '') !== '') la2Address = tolerant(ctx, 'RXA-11', () => DATATYPE_READERS.XAD(addressPart, enc, 'RXA-11') as Hl7Xad);
  }
  const address = xadToAddress(rxa.read(28, 'XAD', 'Immunization.location.address') ?? la2Address);
  if (address === undefined) return location;
  if (location === undefined) {
    // An address alone still names the place: a Location for it, identified by the address.
    return ctx.add({ resourceType: 'Location', id: ctx.id('Location', 'address', JSON.stringify(address)), mode: 'instance', address });
  }
  const existing = ctx.peek<Location & { id: string }>(location);
  if (existing !== undefined && existing.address === undefined) ctx.add({ resourceType: 'Location', id: existing.id, address });
  return location;
}
