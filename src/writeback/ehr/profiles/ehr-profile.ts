import type { EhrCapabilities, FhirResource, ProposedChange } from '../ehr-adapter.ts';

/**
 * A vendor profile: what an EHR's FHIR R4 API can write and how (issue 6, "Vendor profiles as data +
 * small code"). The adapter checks every change against its profile BEFORE any request leaves, so a
 * write the EHR cannot take is refused as permanent with a code naming the profile and interaction
 * (SWB_ERR_EHR_UNSUPPORTED_WRITE), never discovered by a failed or, worse, a half-done request.
 */

export const EHR_PROFILE_IDS = ['epic', 'oracle-health', 'generic-r4'] as const;
export type FhirProfileId = (typeof EHR_PROFILE_IDS)[number];

export type WriteInteraction = 'create' | 'update' | 'patch';

/** One content rule: a resource of `resourceType` must satisfy `test` for the EHR to file it. */
export interface ContentRule {
  readonly resourceType: string;
  /** FHIRPath-like location named in the refusal (never the element's value). */
  readonly path: string;
  readonly reason: string;
  readonly test: (resource: FhirResource) => boolean;
}

export interface EhrProfile {
  readonly id: FhirProfileId;
  readonly title: string;
  readonly capabilities: EhrCapabilities;
  /**
   * Whether writes ask for `Prefer: return=representation` (FHIR R4 http.html#ops). Epic answers a
   * create with an empty 201 and a Location; the adapter takes id and version from it instead.
   */
  readonly preferRepresentation: boolean;
  /** Content rules checked on create and update. */
  readonly rules: readonly ContentRule[];
  /** Vendor notes for the docs and `switchboard ehr profiles`. */
  readonly notes: readonly string[];
}

export type ProfileCheck =
  | { readonly ok: true; readonly interaction: WriteInteraction; readonly resourceType: string }
  | { readonly ok: false; readonly interaction: string; readonly resourceType: string; readonly reason: string };

/** Whether a capability list (`*` for any) holds `resourceType`. */
export function allows(list: readonly string[], resourceType: string): boolean {
  return list.includes('*') || list.includes(resourceType);
}

/** The codes of a CodeableConcept (or of each in an array of them). */
export function codesOf(value: unknown): string[] {
  const concepts = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const c of concepts) {
    const coding = (c as { coding?: unknown } | null | undefined)?.coding;
    if (!Array.isArray(coding)) continue;
    for (const x of coding) {
      const code = (x as { code?: unknown } | null)?.code;
      if (typeof code === 'string') out.push(code);
    }
  }
  return out;
}

/** What a change does, for the profile check and the ledger. */
export function interactionOf(change: ProposedChange): { interaction: WriteInteraction | 'hl7v2'; resourceType: string; resource?: FhirResource } {
  switch (change.kind) {
    case 'create':
      return { interaction: 'create', resourceType: change.resource.resourceType, resource: change.resource };
    case 'update':
      return { interaction: 'update', resourceType: change.resourceType, resource: change.resource };
    case 'patch':
      return { interaction: 'patch', resourceType: change.resourceType };
    case 'hl7v2':
      return { interaction: 'hl7v2', resourceType: 'HL7v2' };
  }
}

/** Checks a change against a FHIR profile: interaction, If-Match, content rules. No request is made. */
export function checkAgainstProfile(profile: EhrProfile, change: ProposedChange): ProfileCheck {
  const { interaction, resourceType, resource } = interactionOf(change);
  const refuse = (reason: string): ProfileCheck => ({ ok: false, interaction, resourceType, reason });
  if (interaction === 'hl7v2') return refuse('a FHIR API takes no HL7 v2 message; configure an hl7v2-mllp EHR');
  const caps = profile.capabilities;
  if (!allows(caps[interaction], resourceType)) return refuse(`${profile.title} does not support ${interaction} of ${resourceType}`);
  if (interaction === 'create' && resourceType === 'Provenance' && !caps.provenance) return refuse(`${profile.title} does not accept Provenance`);
  if (resource !== undefined && resource.resourceType !== resourceType) return refuse('the resource type does not match the change');
  if (change.kind === 'update' && resource !== undefined && resource.id !== undefined && resource.id !== change.id) return refuse('the resource id does not match the change id');
  if ((change.kind === 'update' || change.kind === 'patch') && caps.ifMatchRequired && change.baseVersion === undefined) {
    // Oracle Health answers 428 to an update without If-Match; the author's base version is the
    // only safe one to send (FHIR R4 http.html#concurrency), so without it the write cannot go.
    return refuse('this EHR requires If-Match on update and the change has no baseVersion');
  }
  if (resource !== undefined) {
    for (const rule of profile.rules) {
      if (rule.resourceType === resourceType && !rule.test(resource)) return refuse(`${rule.path}: ${rule.reason}`);
    }
  }
  return { ok: true, interaction, resourceType };
}
