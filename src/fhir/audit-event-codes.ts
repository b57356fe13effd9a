/**
 * The code and identifier systems of Switchboard's AuditEvents (FHIR R4 auditevent.html;
 * terminology.hl7.org; DICOM PS3.16; IHE BALP 1.1), shared by the API's access records
 * (src/api/audit-events.ts) and the write-back's EHR-write records (src/writeback/writeback-audit.ts),
 * so that one search finds both.
 */
export const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
export const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
export const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
export const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
export const PARTICIPATION_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
export const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
/** Identifier systems for our own principals (ids only, never a person's name). */
export const USER_ID_SYSTEM = 'urn:switchboard:user';
export const CLIENT_ID_SYSTEM = 'urn:switchboard:client';

/** A Coding. */
export const coding = (system: string, code: string, display?: string): Record<string, string> => ({ system, code, ...(display === undefined ? {} : { display }) });
