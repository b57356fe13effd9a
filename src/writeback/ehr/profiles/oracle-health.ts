import type { EhrProfile } from './ehr-profile.ts';

/**
 * Oracle Health (Millennium FHIR R4): create and update for Observation, DocumentReference,
 * Condition and AllergyIntolerance, and Provenance create. An update must carry If-Match (428
 * without) and a stale version is answered 409, not 412. A DocumentReference carries exactly one
 * content: several are refused here, before the request, rather than split into several notes the
 * reviewer never saw as such.
 */
export const ORACLE_HEALTH_PROFILE: EhrProfile = {
  id: 'oracle-health',
  title: 'Oracle Health',
  capabilities: {
    create: ['Observation', 'DocumentReference', 'Condition', 'AllergyIntolerance', 'Provenance'],
    update: ['Observation', 'DocumentReference', 'Condition', 'AllergyIntolerance'],
    patch: [],
    conditionalCreate: false,
    ifMatchRequired: true,
    provenance: true,
    hl7v2: [],
  },
  preferRepresentation: true,
  rules: [
    {
      resourceType: 'DocumentReference',
      path: 'DocumentReference.content',
      reason: 'exactly one content per DocumentReference',
      test: (r) => Array.isArray(r['content']) && r['content'].length === 1,
    },
  ],
  notes: ['If-Match required on update; 409 on a stale version', 'one content per DocumentReference'],
};
