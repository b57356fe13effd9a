import type { Extension, Organization, Patient, Practitioner, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { leaf } from '../segment-reader.ts';
import { cweToCodeableConcept, cxToIdentifier } from '../v2-datatypes.ts';
import { organizationFromXon, practitionerFromXcn } from '../v2-resources.ts';
import { cleanCwe, skipAll } from './adt-support.ts';

/**
 * PD1 -> the Patient built from PID (HL7 V2-to-FHIR IG segment map PD1[Patient]): primary facility
 * and primary care provider as generalPractitioner, handicap (patient-disability), place of
 * worship (patient-congregation), and a duplicate-patient link.
 */
export function mapPd1(ctx: MappingContext, pd1: SegmentReader, patientRef: Reference<Patient>): void {
  const patient = ctx.get<Patient & { id: string }>(patientRef);
  if (patient === undefined) {
    pd1.skippedWhole = 'no Patient to extend (no PID before it)';
    return;
  }
  const gps: Array<Reference<Organization | Practitioner>> = [];
  for (const rep of pd1.repetitions(3, 'Patient.generalPractitioner')) {
    const org = organizationFromXon(ctx, rep, pd1.encoding);
    if (org !== undefined) gps.push(org);
  }
  for (const xcn of pd1.readAll(4, 'XCN', 'Patient.generalPractitioner')) {
    const p = practitionerFromXcn(ctx, xcn);
    if (p !== undefined) gps.push(p);
  }
  if (gps.length > 0) patient.generalPractitioner = [...(patient.generalPractitioner ?? []), ...gps];
  const extensions: Extension[] = [];
  for (const c of pd1.readAll(6, 'CWE', 'Patient.extension:disability')) {
    const cc = cweToCodeableConcept(ctx, cleanCwe(c), { field: 'PD1-6', table: '0295' });
    if (cc !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-disability', valueCodeableConcept: cc });
  }
  // PD1-14 place of worship: the organization's name as a string (IG XON[string]).
  for (const rep of pd1.repetitions(14, 'Patient.extension:congregation')) {
    const name = leaf(rep, pd1.encoding, 1);
    if (name !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-congregation', valueString: name });
  }
  if (extensions.length > 0) patient.extension = [...(patient.extension ?? []), ...extensions];
  // PD1-10 duplicate patient: a link to the other record, by identifier (FHIR R4 patient.html#links).
  for (const cx of pd1.readAll(10, 'CX', 'Patient.link')) {
    const identifier = cxToIdentifier(ctx, cx);
    if (identifier !== undefined) (patient.link ??= []).push({ other: { type: 'Patient', identifier }, type: 'seealso' });
  }
  skipAll(pd1, [1, 2], 'living dependency and arrangement have no Patient element (IG PD1 map leaves them unmapped)');
  if (pd1.has(5)) pd1.skip(5, 'student indicator: the IG maps it with the ODH segments, not here');
  pd1.skip(7, 'living will code: the IG maps it to an Observation (PD1[Observation-LivingWill]), not built here');
  skipAll(pd1, [8, 9], 'organ donor and separate bill flags have no Patient element');
  skipAll(pd1, [11, 12, 13, 18], 'publicity and protection: the IG maps them with the ARV segment to security labels, not here');
  skipAll(pd1, [15, 16, 17, 19, 20, 21, 22], 'advance directive, registry and military data have no Patient element (IG PD1 map leaves them unmapped)');
}
