import type { AllergyIntolerance, Encounter, Patient, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept } from '../v2-datatypes.ts';
import { readCwe, readDateTime } from './adt-support.ts';

type Category = NonNullable<AllergyIntolerance['category']>[number];

/** Table 0127 allergen type -> category (IG concept map AllergenType[AllergyIntoleranceCategory]). */
const CATEGORY: Readonly<Record<string, Category>> = { DA: 'medication', FA: 'food', EA: 'environment', AA: 'biologic', PA: 'environment', LA: 'environment' };
/** Table 0127 -> type (IG concept map AllergyType): everything but a contraindication is an allergy. */
const ALLERGY_TYPES = new Set(['DA', 'FA', 'MA', 'EA', 'AA', 'PA', 'LA']);
/** Table 0128 severity -> criticality (IG AllergySeverity[AllergyIntolerance.criticality]). */
const CRITICALITY: Readonly<Record<string, AllergyIntolerance['criticality']>> = { SV: 'high', MI: 'low' };
/** Table 0128 -> reaction.severity (IG AllergySeverity[AllergyIntolerance.reaction.severity]). */
const REACTION_SEVERITY: Readonly<Record<string, 'mild' | 'moderate' | 'severe'>> = { SV: 'severe', MO: 'moderate', MI: 'mild' };

/**
 * AL1 -> AllergyIntolerance (HL7 V2-to-FHIR IG segment map AL1[AllergyIntolerance]). The id comes
 * from the patient and the allergen code, so the same allergy sent again (in the next A08, say)
 * updates one resource.
 */
export function mapAl1(ctx: MappingContext, al1: SegmentReader, patient: Reference<Patient>, encounter?: Reference<Encounter>): Reference<AllergyIntolerance> | undefined {
  const allergenCwe = readCwe(ctx, al1, 3, 'AllergyIntolerance.code');
  const code = cweToCodeableConcept(ctx, allergenCwe, { field: 'AL1-3' });
  if (code === undefined) {
    al1.unuse();
    al1.skippedWhole = 'no allergen (AL1-3): nothing to identify the allergy by';
    return undefined;
  }
  const typeCwe = readCwe(ctx, al1, 2, 'AllergyIntolerance.category');
  const typeCode = typeCwe?.code?.toUpperCase();
  const allergy: AllergyIntolerance & { id: string } = {
    resourceType: 'AllergyIntolerance',
    id: ctx.id('AllergyIntolerance', patient.reference, allergenCwe?.system, allergenCwe?.code ?? allergenCwe?.text ?? allergenCwe?.originalText),
    // IG AL1: clinicalStatus "active" (ait-1 needs it unless entered in error).
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active', display: 'Active' }] },
    code,
    patient,
  };
  if (encounter !== undefined) allergy.encounter = encounter;
  const category = typeCode !== undefined ? CATEGORY[typeCode] : undefined;
  const original = cweToCodeableConcept(ctx, typeCwe, { field: 'AL1-2', table: '0127' });
  if (category !== undefined) {
    allergy.category = [category];
    // The v2 type rides along on the code (IG: category.extension alternate-codes).
    if (original !== undefined) (allergy as { _category?: unknown[] })._category = [{ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/alternate-codes', valueCodeableConcept: original }] }];
  }
  if (typeCode !== undefined && ALLERGY_TYPES.has(typeCode)) allergy.type = 'allergy';
  else if (typeCode !== undefined && typeCode !== 'MC') ctx.warn('AL1-2: allergen type not in HL7 table 0127; category and type left empty');
  // AL1-4 severity: criticality where the code says high/low risk, and the reaction's severity.
  const severityCwe = readCwe(ctx, al1, 4, 'AllergyIntolerance.criticality');
  const sev = severityCwe?.code?.toUpperCase();
  const criticality = sev !== undefined ? CRITICALITY[sev] : undefined;
  if (criticality !== undefined) allergy.criticality = criticality;
  const manifestations = al1.texts(5, 'AllergyIntolerance.reaction.manifestation').map((text) => ({ text }));
  const reactionSeverity = sev !== undefined ? REACTION_SEVERITY[sev] : undefined;
  if (manifestations.length > 0) allergy.reaction = [{ manifestation: manifestations, ...(reactionSeverity !== undefined ? { severity: reactionSeverity } : {}) }];
  else if (reactionSeverity !== undefined && criticality === undefined) ctx.warn('AL1-4: a moderate severity without a reaction (AL1-5) has no place (reaction needs a manifestation)');
  const onset = readDateTime(ctx, al1, 6, 'AllergyIntolerance.onsetDateTime');
  if (onset !== undefined) allergy.onsetDateTime = onset;
  al1.skip(1, 'set id orders segments; not data');
  return ctx.add(allergy);
}
