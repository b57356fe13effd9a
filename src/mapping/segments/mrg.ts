import type { Account, Encounter, HumanName, Identifier, Patient, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cxToIdentifier, xpnToHumanName } from '../v2-datatypes.ts';

/**
 * MRG, the record merged away. In a patient merge (A40) MRG-1 names the patient being merged into
 * the one PID names: that Patient gets `active: false` and a `replaced-by` link to the survivor,
 * and the survivor a `replaces` link back (FHIR R4 patient.html#links). Its id is made as mapPid
 * makes ids (from the first identifier), so it is the resource earlier messages created.
 * MRG-3 prior account -> Account (IG MRG[Account]); MRG-5/6 prior visit -> an old identifier of
 * the Encounter.
 */
export function mapMrgMerge(ctx: MappingContext, mrg: SegmentReader, survivorRef: Reference<Patient>, encounter?: Reference<Encounter>): Reference<Patient> | undefined {
  const identifiers: Identifier[] = [];
  for (const field of [1, 2, 4]) {
    for (const cx of mrg.readAll(field, 'CX', 'Patient.identifier')) {
      const id = cxToIdentifier(ctx, cx);
      if (id !== undefined) identifiers.push(id);
    }
  }
  const names = mrg.readAll(7, 'XPN', 'Patient.name').map(xpnToHumanName).filter((n): n is HumanName => n !== undefined);
  mapPriorAccount(ctx, mrg, survivorRef);
  mapPriorVisit(ctx, mrg, encounter);
  const first = identifiers[0];
  if (first === undefined) {
    ctx.warn('MRG-1: no prior patient identifier; the merged-away patient cannot be named');
    return undefined;
  }
  const id = ctx.id('Patient', first.system, first.value);
  const survivor = ctx.get<Patient & { id: string }>(survivorRef);
  if (survivor === undefined || survivor.id === id) {
    ctx.warn('MRG-1 names the same patient as PID-3: nothing to merge');
    return undefined;
  }
  const old: Patient & { id: string } = {
    resourceType: 'Patient',
    id,
    identifier: identifiers,
    active: false,
    link: [{ other: survivorRef, type: 'replaced-by' }],
  };
  if (names.length > 0) old.name = names;
  // Bundle entries are PUTs: a server replaces the merged-away record with what MRG carries.
  ctx.warn('MRG: the merged-away Patient holds only what MRG carries (identifiers, name); a PUT replaces its other data');
  const oldRef = ctx.add(old);
  if (!(survivor.link ?? []).some((l) => l.other.reference === oldRef.reference)) (survivor.link ??= []).push({ other: oldRef, type: 'replaces' });
  return oldRef;
}

/**
 * MRG in a visit event (A06/A07 class change): the prior visit and account numbers (MRG-5, 6, 3).
 * The patient does not change, so the prior patient identifiers are noted and not mapped.
 */
export function mapMrgVisit(ctx: MappingContext, mrg: SegmentReader, patient: Reference<Patient>, encounter?: Reference<Encounter>): void {
  mapPriorAccount(ctx, mrg, patient);
  mapPriorVisit(ctx, mrg, encounter);
  for (const n of [1, 2, 4, 7]) if (mrg.has(n)) mrg.skip(n, 'in a visit event the patient is unchanged: prior patient identity is not merged');
}

function mapPriorAccount(ctx: MappingContext, mrg: SegmentReader, patient: Reference<Patient>): void {
  const identifier = cxToIdentifier(ctx, mrg.read(3, 'CX', 'Account.identifier'));
  if (identifier === undefined) return;
  // The IG sets status "unknown": the prior account may or may not still be active.
  const account: Account & { id: string } = { resourceType: 'Account', id: ctx.id('Account', identifier.system, identifier.value), identifier: [identifier], status: 'unknown', subject: [patient] };
  ctx.add(account);
}

function mapPriorVisit(ctx: MappingContext, mrg: SegmentReader, encounter: Reference<Encounter> | undefined): void {
  const enc = ctx.get<Encounter & { id: string }>(encounter);
  if (enc === undefined) {
    for (const n of [5, 6]) if (mrg.has(n)) mrg.skip(n, 'prior visit number without a visit (PV1) in this message');
    return;
  }
  for (const field of [5, 6]) {
    const identifier = cxToIdentifier(ctx, mrg.read(field, 'CX', 'Encounter.identifier'));
    // FHIR R4 datatypes.html#Identifier: use "old" for an identifier no longer valid.
    if (identifier !== undefined) (enc.identifier ??= []).push({ ...identifier, use: 'old' });
  }
}
