import type { EhrProfile } from './ehr-profile.ts';

/**
 * A plain FHIR R4 server (http.html): create, update and JSON Patch for any type, conditional
 * create (If-None-Exist), If-Match answered 412 when stale, Provenance accepted. What the server
 * actually supports is narrowed further by its CapabilityStatement (the adapter reads it).
 */
export const GENERIC_R4_PROFILE: EhrProfile = {
  id: 'generic-r4',
  title: 'FHIR R4 server',
  capabilities: {
    create: ['*'],
    update: ['*'],
    patch: ['*'],
    conditionalCreate: true,
    ifMatchRequired: false,
    provenance: true,
    hl7v2: [],
  },
  preferRepresentation: true,
  rules: [],
  notes: ['capabilities narrowed by the CapabilityStatement'],
};
