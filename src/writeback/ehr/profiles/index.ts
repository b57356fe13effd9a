import { EPIC_PROFILE } from './epic.ts';
import type { EhrProfile, FhirProfileId } from './ehr-profile.ts';
import { GENERIC_R4_PROFILE } from './generic-r4.ts';
import { ORACLE_HEALTH_PROFILE } from './oracle-health.ts';

export * from './ehr-profile.ts';
export { EPIC_PROFILE, GENERIC_R4_PROFILE, ORACLE_HEALTH_PROFILE };

export const FHIR_PROFILES: Readonly<Record<FhirProfileId, EhrProfile>> = {
  epic: EPIC_PROFILE,
  'oracle-health': ORACLE_HEALTH_PROFILE,
  'generic-r4': GENERIC_R4_PROFILE,
};
