import { codesOf, type EhrProfile } from './ehr-profile.ts';

/**
 * Epic (FHIR R4 as published on fhir.epic.com): external writes are creates only, for vital-sign
 * Observations (flowsheet rows), DocumentReference (clinical notes), Condition (problem list,
 * filed as provisional/unconfirmed until reviewed) and AllergyIntolerance. No update, no patch, no
 * conditional create: If-None-Exist is ignored, so a retried create duplicates, which is why the
 * engine keeps a write ledger and never retries an ambiguous note (ARCHITECTURE.md invariant 2).
 * A create answers 201 with an empty body and a Location (`.../Type/id/_history/1`). A note is
 * filed as `docStatus` preliminary (a pended note) or final (a signed one); Provenance cannot be written.
 */
export const EPIC_PROFILE: EhrProfile = {
  id: 'epic',
  title: 'Epic',
  capabilities: {
    create: ['Observation', 'DocumentReference', 'Condition', 'AllergyIntolerance'],
    update: [],
    patch: [],
    conditionalCreate: false,
    ifMatchRequired: false,
    provenance: false,
    hl7v2: [],
  },
  preferRepresentation: false,
  rules: [
    {
      resourceType: 'Observation',
      path: 'Observation.category',
      reason: 'only vital-signs Observations can be filed',
      test: (r) => codesOf(r['category']).includes('vital-signs'),
    },
    {
      resourceType: 'Condition',
      path: 'Condition.verificationStatus',
      reason: 'a problem is filed as provisional or unconfirmed',
      test: (r) => codesOf(r['verificationStatus']).some((c) => c === 'provisional' || c === 'unconfirmed'),
    },
    {
      resourceType: 'DocumentReference',
      path: 'DocumentReference.docStatus',
      reason: 'a note is filed as preliminary (pended) or final (signed)',
      test: (r) => r['docStatus'] === undefined || r['docStatus'] === 'preliminary' || r['docStatus'] === 'final',
    },
  ],
  notes: ['create only; no conditional create: an ambiguous create goes to review', 'empty 201 with Location unless Prefer: return=representation'],
};
