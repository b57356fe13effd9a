import type { Appointment, Bundle, DiagnosticReport, DocumentReference, Encounter, Patient, Resource } from '@medplum/fhirtypes';
import { SwitchboardError } from '../core/errors.ts';
import { compareVersions, createMessage, type Hl7Message } from '../hl7v2/index.ts';
import { buildAdt } from './reverse/adt.ts';
import { buildMdmT02 } from './reverse/mdm-t02.ts';
import { buildOruR01 } from './reverse/oru-r01.ts';
import { inputError, ReverseContext, type FhirToV2Report } from './reverse/reverse-context.ts';
import { buildSiu, siuEventFor } from './reverse/siu.ts';
import type { TenantMappingConfig } from './tenant-config.ts';

export type { FhirToV2Report } from './reverse/reverse-context.ts';

/** The v2 messages FHIR can be written back as (issue 4, "FHIR -> v2"). */
export const FHIR_TO_V2_TYPES = ['ORU_R01', 'MDM_T02', 'SIU_S12', 'SIU_S14', 'SIU_S15', 'ADT_A31', 'ADT_A08'] as const;
export type FhirToV2Type = (typeof FHIR_TO_V2_TYPES)[number];

export interface FhirToV2Options {
  /** The message to build; inferred from the input when absent (see inferV2Type). */
  readonly type?: FhirToV2Type;
  /** MSH-12 (default 2.5.1). */
  readonly version?: string;
  readonly sendingApplication?: string;
  readonly sendingFacility?: string;
  readonly receivingApplication?: string;
  readonly receivingFacility?: string;
  /** MSH-10; a new one when absent. */
  readonly controlId?: string;
  /** Clock for MSH-7 and EVN-2 (tests pin it). */
  readonly now?: () => Date;
  /** The tenant whose identifier and code systems are turned back into v2 names. */
  readonly tenant?: TenantMappingConfig;
}

export interface FhirToV2Result {
  readonly message: Hl7Message;
  readonly report: FhirToV2Report;
}

/** The resource each message is built around. */
const FOCUS: Readonly<Record<FhirToV2Type, Resource['resourceType']>> = {
  ORU_R01: 'DiagnosticReport',
  MDM_T02: 'DocumentReference',
  SIU_S12: 'Appointment',
  SIU_S14: 'Appointment',
  SIU_S15: 'Appointment',
  ADT_A31: 'Patient',
  ADT_A08: 'Patient',
};

/** MSH-9 per type: code ^ event ^ structure (HL7 table 0354: S14/S15 use SIU_S12, A31 ADT_A05, A08 ADT_A01). */
const MSH_9: Readonly<Record<FhirToV2Type, readonly [string, string, string]>> = {
  ORU_R01: ['ORU', 'R01', 'ORU_R01'],
  MDM_T02: ['MDM', 'T02', 'MDM_T02'],
  SIU_S12: ['SIU', 'S12', 'SIU_S12'],
  SIU_S14: ['SIU', 'S14', 'SIU_S12'],
  SIU_S15: ['SIU', 'S15', 'SIU_S12'],
  ADT_A31: ['ADT', 'A31', 'ADT_A05'],
  ADT_A08: ['ADT', 'A08', 'ADT_A01'],
};

/** Input resources with their fullUrls (a Bundle's entries, or one resource), contained ones included. */
function entriesOf(input: Bundle | Resource): Array<{ resource: Resource; fullUrl?: string }> {
  if (input.resourceType !== 'Bundle') return [{ resource: input }];
  const out: Array<{ resource: Resource; fullUrl?: string }> = [];
  for (const e of input.entry ?? []) {
    if (e.resource === undefined) continue;
    out.push(e.fullUrl !== undefined ? { resource: e.resource, fullUrl: e.fullUrl } : { resource: e.resource });
  }
  return out;
}

/**
 * The message type for an input: a DiagnosticReport makes an ORU^R01, a DocumentReference an
 * MDM^T02, an Appointment an SIU (S12 booked and new, S15 cancelled, S14 otherwise), a Patient an
 * ADT^A31. The first of these types found, in that order, is the focus.
 */
export function inferV2Type(input: Bundle | Resource): FhirToV2Type {
  const resources = entriesOf(input).map((e) => e.resource);
  for (const type of ['DiagnosticReport', 'DocumentReference', 'Appointment', 'Patient'] as const) {
    const r = resources.find((x) => x.resourceType === type);
    if (r === undefined) continue;
    if (type === 'DiagnosticReport') return 'ORU_R01';
    if (type === 'DocumentReference') return 'MDM_T02';
    if (type === 'Appointment') return `SIU_${siuEventFor(r as Appointment)}`;
    return 'ADT_A31';
  }
  const what = [...new Set(resources.map((r) => r.resourceType))].join(', ') || 'an empty Bundle';
  throw new SwitchboardError('SWB_ERR_MAP_UNSUPPORTED_RESOURCE', { what });
}

/**
 * FHIR R4 -> HL7 v2 for write-back to legacy interfaces (issue 4): DiagnosticReport + Observations
 * -> ORU^R01, DocumentReference -> MDM^T02, Appointment -> SIU^S12/S14/S15, Patient -> ADT^A31 or
 * A08. Built with the hl7v2 builder (values escaped on the way in). The report lists every input
 * element written (and where) and every one present and not written (and why).
 *
 * Throws SWB_ERR_MAP_UNSUPPORTED_RESOURCE when the input holds nothing to build the message
 * around, and SWB_ERR_MAP_FHIR_INPUT for input that cannot be converted (the reason names the
 * element, never its value).
 */
export function convertFhirToV2(input: Bundle | Resource, options: FhirToV2Options = {}): FhirToV2Result {
  const type = options.type ?? inferV2Type(input);
  const entries = entriesOf(input);
  const focus = entries.map((e) => e.resource).find((r) => r.resourceType === FOCUS[type]);
  if (focus === undefined) throw new SwitchboardError('SWB_ERR_MAP_UNSUPPORTED_RESOURCE', { what: `${type} without a ${FOCUS[type]} in the input` });
  const version = options.version ?? '2.5.1';
  if (!/^2\.\d(\.\d)?$/.test(version)) throw inputError('the version must be an HL7 v2 version such as 2.5.1');
  const now = options.now ?? (() => new Date());
  const [code, event, structure] = MSH_9[type];
  // MSH-9.3 (message structure) exists from v2.3.1.
  const messageType = compareVersions(version, '2.3.1') >= 0 ? `${code}^${event}^${structure}` : `${code}^${event}`;
  const message = createMessage({
    messageType,
    version,
    timestamp: now(),
    ...(options.controlId !== undefined ? { controlId: options.controlId } : {}),
    ...(options.sendingApplication !== undefined ? { sendingApplication: options.sendingApplication } : {}),
    ...(options.sendingFacility !== undefined ? { sendingFacility: options.sendingFacility } : {}),
    ...(options.receivingApplication !== undefined ? { receivingApplication: options.receivingApplication } : {}),
    ...(options.receivingFacility !== undefined ? { receivingFacility: options.receivingFacility } : {}),
  });
  const ctx = new ReverseContext(entries, message, { version, now, ...(options.tenant !== undefined ? { tenant: options.tenant } : {}) });
  switch (type) {
    case 'ORU_R01':
      buildOruR01(ctx, [focus as DiagnosticReport, ...ctx.all<DiagnosticReport>('DiagnosticReport').filter((r) => r !== focus)]);
      break;
    case 'MDM_T02':
      buildMdmT02(ctx, focus as DocumentReference);
      break;
    case 'SIU_S12':
    case 'SIU_S14':
    case 'SIU_S15':
      buildSiu(ctx, focus as Appointment, event as 'S12' | 'S14' | 'S15');
      break;
    case 'ADT_A31':
    case 'ADT_A08': {
      const patient = focus as Patient;
      const encounter = ctx.all<Encounter>('Encounter').find((e) => ctx.resolve<Patient>(e.subject, e) === patient) ?? ctx.all<Encounter>('Encounter')[0];
      buildAdt(ctx, patient, event as 'A31' | 'A08', encounter);
      break;
    }
  }
  return { message, report: ctx.report() };
}
