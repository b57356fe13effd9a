/**
 * What each simulated EHR lets a client write, and how (issue 6 "Vendor profiles"; the contract in
 * the write-back work). These are the simulator's rules, modelled on the vendors' published FHIR
 * R4 behaviour, not a copy of any vendor's full rule set:
 *  - epic: create only (no update, no patch, no conditional create) for vital-sign Observations,
 *    DocumentReference, Condition (verificationStatus provisional or unconfirmed) and
 *    AllergyIntolerance; an empty 201 unless `Prefer: return=representation`;
 *  - oracle-health: create and update for the same types plus Provenance create; update needs
 *    If-Match (428 without), a stale one is 409; one content per DocumentReference;
 *  - generic: a plain R4 server: create, update, JSON Patch for any type, If-None-Exist, 412 on a
 *    stale If-Match (FHIR R4 http.html#concurrency).
 */

export const SIM_PROFILES = ['epic', 'oracle-health', 'generic'] as const;
export type SimProfileName = (typeof SIM_PROFILES)[number];

export type SimWriteInteraction = 'create' | 'update' | 'patch';

/** A refusal of the resource's content: 422 with this diagnostic (never a value from the resource). */
export interface SimRuleViolation {
  readonly expression: string;
  readonly diagnostics: string;
}

export interface SimProfile {
  readonly name: SimProfileName;
  /** Human name for the CapabilityStatement. */
  readonly title: string;
  /** Whether the profile supports this write interaction on this type at all (else 405). */
  canWrite(resourceType: string, interaction: SimWriteInteraction): boolean;
  /** Types the CapabilityStatement lists as writable, with their interactions. */
  readonly writable: ReadonlyMap<string, readonly SimWriteInteraction[]>;
  /** Honours If-None-Exist (R4 http.html#ccreate); otherwise the header is ignored. */
  readonly conditionalCreate: boolean;
  /** An update or patch without If-Match is refused with 428 (RFC 6585 3). */
  readonly requireIfMatch: boolean;
  /** The status for a stale If-Match: 412 (RFC 7232) or 409 (what Oracle Health answers). */
  readonly staleStatus: 409 | 412;
  /** A PUT to an id that does not exist creates it (CapabilityStatement updateCreate). */
  readonly updateCreate: boolean;
  /** The body of a write's answer when the client sends no Prefer (R4 http.html#ops). */
  readonly defaultReturn: 'minimal' | 'representation';
  /** Whether `Prefer: return=minimal` is honoured (Epic answers minimal anyway). */
  readonly honoursPrefer: boolean;
  /** Content rules checked on create and update; the first violation is answered with 422. */
  check(resource: Record<string, unknown>): SimRuleViolation | undefined;
}

const CLINICAL_TYPES = ['Observation', 'DocumentReference', 'Condition', 'AllergyIntolerance'] as const;

/** Types every profile lists as readable and searchable in its CapabilityStatement. */
export const SIM_READABLE_TYPES: readonly string[] = ['Patient', 'Encounter', ...CLINICAL_TYPES, 'Provenance'];

/** Extra types a generic server advertises (it accepts any type; these are the common ones). */
const GENERIC_TYPES: readonly string[] = [...SIM_READABLE_TYPES, 'DiagnosticReport', 'MedicationRequest', 'Procedure', 'Immunization', 'ServiceRequest', 'Practitioner', 'Organization'];

function codings(value: unknown): Array<{ system?: unknown; code?: unknown }> {
  if (typeof value !== 'object' || value === null) return [];
  const coding = (value as { coding?: unknown }).coding;
  return Array.isArray(coding) ? coding.filter((c): c is { system?: unknown; code?: unknown } => typeof c === 'object' && c !== null) : [];
}

function epicCheck(resource: Record<string, unknown>): SimRuleViolation | undefined {
  switch (resource['resourceType']) {
    case 'Observation': {
      // Epic's Observation.Create files vital signs only (flowsheet rows).
      const categories = Array.isArray(resource['category']) ? (resource['category'] as unknown[]) : [];
      const vital = categories.some((c) => codings(c).some((x) => x.code === 'vital-signs'));
      return vital ? undefined : { expression: 'Observation.category', diagnostics: 'this EHR accepts only vital-signs Observations (category vital-signs is required)' };
    }
    case 'Condition': {
      // Problems filed by an external app stay unconfirmed until a clinician reviews them.
      const ok = codings(resource['verificationStatus']).some((x) => x.code === 'provisional' || x.code === 'unconfirmed');
      return ok ? undefined : { expression: 'Condition.verificationStatus', diagnostics: 'verificationStatus must be provisional or unconfirmed' };
    }
    default:
      return undefined;
  }
}

function oracleCheck(resource: Record<string, unknown>): SimRuleViolation | undefined {
  if (resource['resourceType'] === 'DocumentReference') {
    const content = resource['content'];
    if (Array.isArray(content) && content.length > 1) return { expression: 'DocumentReference.content', diagnostics: 'only one content per DocumentReference is supported' };
  }
  return undefined;
}

const EPIC: SimProfile = {
  name: 'epic',
  title: 'Switchboard EHR simulator (Epic-like profile)',
  canWrite: (type, interaction) => interaction === 'create' && (CLINICAL_TYPES as readonly string[]).includes(type),
  writable: new Map(CLINICAL_TYPES.map((t) => [t, ['create'] as const])),
  conditionalCreate: false,
  requireIfMatch: false,
  staleStatus: 412,
  updateCreate: false,
  defaultReturn: 'minimal',
  honoursPrefer: true,
  check: epicCheck,
};

const ORACLE_WRITES = new Map<string, readonly SimWriteInteraction[]>([...CLINICAL_TYPES.map((t) => [t, ['create', 'update']] as const), ['Provenance', ['create']]]);

const ORACLE: SimProfile = {
  name: 'oracle-health',
  title: 'Switchboard EHR simulator (Oracle Health-like profile)',
  canWrite: (type, interaction) => ORACLE_WRITES.get(type)?.includes(interaction) ?? false,
  writable: ORACLE_WRITES,
  conditionalCreate: false,
  requireIfMatch: true,
  staleStatus: 409,
  updateCreate: false,
  defaultReturn: 'representation',
  honoursPrefer: true,
  check: oracleCheck,
};

const GENERIC: SimProfile = {
  name: 'generic',
  title: 'Switchboard EHR simulator (generic FHIR R4 profile)',
  canWrite: () => true,
  writable: new Map(GENERIC_TYPES.map((t) => [t, ['create', 'update', 'patch']] as const)),
  conditionalCreate: true,
  requireIfMatch: false,
  staleStatus: 412,
  updateCreate: true,
  defaultReturn: 'representation',
  honoursPrefer: true,
  check: () => undefined,
};

export function simProfile(name: SimProfileName): SimProfile {
  switch (name) {
    case 'epic':
      return EPIC;
    case 'oracle-health':
      return ORACLE;
    case 'generic':
      return GENERIC;
  }
}

export function isSimProfileName(value: unknown): value is SimProfileName {
  return typeof value === 'string' && (SIM_PROFILES as readonly string[]).includes(value);
}
