import type { Encounter, Patient, Practitioner, PractitionerRole, Procedure, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, eiToIdentifier, period, xadToAddress, xtnToContactPoint } from '../v2-datatypes.ts';
import { locationFromPl, organizationFromXon, practitionerFromXcn } from '../v2-resources.ts';
import { mappedConcept, readCwe, readDateTime, type ConceptTarget } from './adt-support.ts';

const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

/** Table 0443 provider role (IG concept map ProviderRole). */
const PROVIDER_ROLE: Readonly<Record<string, ConceptTarget>> = {
  AD: { system: PARTICIPATION, code: 'ADM', display: 'admitter' },
  AT: { system: PARTICIPATION, code: 'ATND', display: 'attender' },
  CP: { system: PARTICIPATION, code: 'CON', display: 'consultant' },
  RP: { system: PARTICIPATION, code: 'REF', display: 'referrer' },
  PP: { system: 'http://snomed.info/sct', code: '446050000', display: 'Primary care physician' },
  PI: { system: 'http://snomed.info/sct', code: '40570005', display: 'Interpreter' },
};

/** Where a ROL sits decides what it feeds (IG message maps ADT_A01: ROL after PID, after PV1, in PROCEDURE). */
export type RolContext =
  | { readonly kind: 'patient'; readonly patient: Reference<Patient> }
  | { readonly kind: 'encounter'; readonly encounter: Reference<Encounter> }
  | { readonly kind: 'procedure'; readonly procedure: Reference<Procedure> };

/**
 * ROL -> PractitionerRole (IG ROL[Encounter-PractitionerRole], ROL[Patient-GeneralPractitioner]),
 * then: after PID, a primary care provider (ROL-3 PP) becomes Patient.generalPractitioner; after
 * PV1, an Encounter.participant; in a PROCEDURE group, a Procedure.performer. ROL-2 "DE" (delete)
 * adds nothing.
 */
export function mapRol(ctx: MappingContext, rol: SegmentReader, context: RolContext): Reference<PractitionerRole> | undefined {
  const roleCwe = readCwe(ctx, rol, 3, 'PractitionerRole.code');
  const roleCode = roleCwe?.code?.toUpperCase();
  if (context.kind === 'patient' && roleCode !== 'PP' && roleCode !== 'FHCP') {
    rol.unuse();
    rol.skippedWhole = 'a patient-level role other than primary care: the IG makes it a CareTeam member, which is not built';
    return undefined;
  }
  const action = rol.text(2, 'PractitionerRole');
  if (action?.toUpperCase() === 'DE') {
    rol.unuse();
    rol.skippedWhole = 'ROL-2 action DE: the role is being deleted; nothing to add';
    return undefined;
  }
  const role = mappedConcept(ctx, roleCwe, 'ROL-3', '0443', PROVIDER_ROLE);
  const xcns = rol.readAll(4, 'XCN', 'PractitionerRole.practitioner');
  const practitioner = practitionerFromXcn(ctx, xcns[0]);
  if (xcns.length > 1) ctx.warn('ROL-4: only the first role person is mapped');
  const identifier = eiToIdentifier(ctx, rol.raw(1, 'PractitionerRole.identifier'), rol.encoding);
  const start = readDateTime(ctx, rol, 5, 'PractitionerRole.period.start');
  const end = readDateTime(ctx, rol, 6, 'PractitionerRole.period.end');
  const specialty = cweToCodeableConcept(ctx, readCwe(ctx, rol, 9, 'PractitionerRole.specialty'), { field: 'ROL-9' });
  const location = locationFromPl(ctx, rol.raw(13, 'PractitionerRole.location'), rol.encoding);
  const orgRep = rol.raw(14, 'PractitionerRole.organization');
  const organization = orgRep !== undefined ? organizationFromXon(ctx, orgRep, rol.encoding) : undefined;
  const telecom = rol.readAll(12, 'XTN', 'PractitionerRole.telecom').map((x) => xtnToContactPoint(x)).filter((c) => c !== undefined);
  // ROL-11 office/home address: on the Practitioner (IG: PractitionerRole.practitioner.address).
  const addresses = rol.readAll(11, 'XAD', 'Practitioner.address').map(xadToAddress).filter((a) => a !== undefined);
  // get() only to change it: a shared Practitioner is copied by get() (MappingContext.recurring).
  const pr = addresses.length > 0 ? ctx.get<Practitioner & { id: string }>(practitioner) : undefined;
  if (pr !== undefined) pr.address = [...(pr.address ?? []), ...addresses.filter((a) => !(pr.address ?? []).some((b) => JSON.stringify(b) === JSON.stringify(a)))];
  if (practitioner === undefined && identifier === undefined && organization === undefined) {
    rol.unuse();
    rol.skippedWhole = 'no role person, identifier or organization (ROL-1, ROL-4, ROL-14)';
    return undefined;
  }
  const p = period(start, end);
  const resource: PractitionerRole & { id: string } = {
    resourceType: 'PractitionerRole',
    id: identifier !== undefined ? ctx.id('PractitionerRole', identifier.system, identifier.value) : ctx.id('PractitionerRole', practitioner?.reference, organization?.reference, roleCwe?.code),
    active: true,
  };
  if (identifier !== undefined) resource.identifier = [identifier];
  if (practitioner !== undefined) resource.practitioner = practitioner;
  if (organization !== undefined) resource.organization = organization;
  if (role !== undefined) resource.code = [role];
  if (specialty !== undefined) resource.specialty = [specialty];
  if (location !== undefined) resource.location = [location];
  if (telecom.length > 0) resource.telecom = telecom;
  if (p !== undefined) resource.period = p;
  const ref = ctx.add(resource);
  const display = practitioner?.display;
  const individual = display !== undefined ? { ...ref, display } : ref;

  if (context.kind === 'patient') {
    const patient = ctx.get<Patient & { id: string }>(context.patient);
    if (patient !== undefined) (patient.generalPractitioner ??= []).push(individual);
  } else if (context.kind === 'encounter') {
    const enc = ctx.get<Encounter & { id: string }>(context.encounter);
    if (enc !== undefined) (enc.participant ??= []).push({ ...(role !== undefined ? { type: [role] } : {}), individual, ...(p !== undefined ? { period: p } : {}) });
  } else {
    const proc = ctx.get<Procedure & { id: string }>(context.procedure);
    if (proc !== undefined) (proc.performer ??= []).push({ actor: individual, ...(role !== undefined ? { function: role } : {}) });
  }
  rol.skip(7, 'role duration has no PractitionerRole element (IG ROL map leaves it unmapped)');
  rol.skip(8, 'role action reason has no PractitionerRole element (IG ROL map leaves it unmapped)');
  rol.skip(10, 'organization unit type has no PractitionerRole element (IG ROL map leaves it unmapped)');
  return ref;
}
