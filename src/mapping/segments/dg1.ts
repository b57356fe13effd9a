import type { Condition, Encounter, EncounterDiagnosis, Extension, Patient, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, eiToIdentifier } from '../v2-datatypes.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import { mappedConcept, readCwe, readDateTime, skipAll, type ConceptTarget } from './adt-support.ts';

/** Table 0052 diagnosis type -> diagnosis-role (IG concept map DiagnosisType; W and F have no FHIR code). */
const DIAGNOSIS_TYPE: Readonly<Record<string, ConceptTarget>> = {
  A: { system: 'http://terminology.hl7.org/CodeSystem/diagnosis-role', code: 'AD', display: 'Admission diagnosis' },
};

export interface DiagnosisContext {
  readonly patient: Reference<Patient>;
  readonly encounter?: Reference<Encounter>;
}

/**
 * DG1 -> Condition with the encounter-diagnosis category (IG DG1[Condition]) and an
 * Encounter.diagnosis entry pointing at it (IG DG1[Encounter]: use from DG1-6, rank from DG1-15).
 * The id comes from DG1-20 when sent, else from the encounter (or patient) and the code: the same
 * diagnosis re-sent for the visit updates one Condition.
 */
export function mapDg1(ctx: MappingContext, dg1: SegmentReader, context: DiagnosisContext): Reference<Condition> | undefined {
  const codeCwe = readCwe(ctx, dg1, 3, 'Condition.code');
  const code = cweToCodeableConcept(ctx, codeCwe, { field: 'DG1-3' });
  const description = dg1.text(4, 'Condition.code.text');
  if (code === undefined && description === undefined) {
    dg1.unuse();
    dg1.skippedWhole = 'no diagnosis code or description (DG1-3, DG1-4)';
    return undefined;
  }
  const identifier = eiToIdentifier(ctx, dg1.raw(20, 'Condition.identifier'), dg1.encoding);
  const owner = context.encounter ?? context.patient;
  const id = identifier !== undefined ? ctx.id('Condition', identifier.system, identifier.value) : ctx.id('Condition', owner.reference, codeCwe?.system, codeCwe?.code ?? description);
  const condition: Condition & { id: string } = {
    resourceType: 'Condition',
    id,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
    code: { ...(code ?? {}), ...(code?.text === undefined && description !== undefined ? { text: description } : {}) },
    subject: context.patient,
  };
  if (identifier !== undefined) condition.identifier = [identifier];
  if (context.encounter !== undefined) condition.encounter = context.encounter;
  const onset = readDateTime(ctx, dg1, 5, 'Condition.onsetDateTime');
  if (onset !== undefined) condition.onsetDateTime = onset;
  // DG1-16 repeats; Condition.asserter does not: the first clinician asserts (IG DG1-16 note).
  const clinicians = dg1.readAll(16, 'XCN', 'Condition.asserter');
  const asserter = practitionerFromXcn(ctx, clinicians[0]);
  if (asserter !== undefined) condition.asserter = asserter;
  if (clinicians.length > 1) ctx.warn('DG1-16: only the first diagnosing clinician becomes Condition.asserter');
  const attested = readDateTime(ctx, dg1, 19, 'Condition.recordedDate');
  if (attested !== undefined) condition.recordedDate = attested;
  // DG1-21 action code D (delete) marks the diagnosis entered in error; A and U map to nothing (IG).
  const action = dg1.text(21, 'Condition.verificationStatus');
  if (action?.toUpperCase() === 'D') condition.verificationStatus = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'entered-in-error' }] };
  const parent = eiToIdentifier(ctx, dg1.raw(22, 'Condition.extension:dueTo'), dg1.encoding);
  if (parent !== undefined) {
    const ext: Extension = { url: 'http://hl7.org/fhir/StructureDefinition/condition-dueTo', valueReference: { type: 'Condition', identifier: parent } };
    condition.extension = [ext];
  }
  const ref = ctx.add(condition);

  const typeCwe = readCwe(ctx, dg1, 6, 'Encounter.diagnosis.use');
  const rankRaw = dg1.text(15, 'Encounter.diagnosis.rank');
  const enc = ctx.get<Encounter & { id: string }>(context.encounter);
  if (enc !== undefined) {
    const diagnosis: EncounterDiagnosis = { condition: ref };
    const use = mappedConcept(ctx, typeCwe, 'DG1-6', '0052', DIAGNOSIS_TYPE);
    if (use !== undefined) diagnosis.use = use;
    // rank is a positiveInt: 0 or a non-number is not a rank.
    if (rankRaw !== undefined && /^[1-9]\d*$/.test(rankRaw)) diagnosis.rank = Number(rankRaw);
    if (!(enc.diagnosis ?? []).some((d) => d.condition.reference === ref.reference && JSON.stringify(d.use) === JSON.stringify(diagnosis.use))) (enc.diagnosis ??= []).push(diagnosis);
  } else {
    dg1.unuse(6);
    dg1.unuse(15);
    dg1.skip(6, 'diagnosis type qualifies an Encounter.diagnosis; there is no Encounter in this message');
    dg1.skip(15, 'diagnosis priority ranks an Encounter.diagnosis; there is no Encounter in this message');
  }
  dg1.skip(1, 'set id orders segments; not data');
  dg1.skip(2, 'diagnosis coding method was withdrawn (v2.3); DG1-3 carries its coding system');
  skipAll(dg1, [7, 8, 9, 10, 11, 12, 13, 14, 23, 24, 25], 'DRG grouping data is billing; the IG leaves it unmapped');
  dg1.skip(17, 'diagnosis classification has no Condition element (IG DG1 map leaves it unmapped)');
  dg1.skip(18, 'confidential indicator: the IG leaves it unmapped');
  dg1.skip(26, 'present-on-admission indicator has no Condition element (IG DG1-26 note)');
  return ref;
}
