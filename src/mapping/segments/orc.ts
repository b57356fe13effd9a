import type { Extension, Identifier, Organization, Practitioner, PractitionerRole, ServiceRequest } from '@medplum/fhirtypes';
import { piece, readTimestamp, type Hl7Encoding } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, cxToIdentifier, eiToIdentifier, tableCode, xadToAddress, xtnToContactPoint } from '../v2-datatypes.ts';
import { organizationFromXon, practitionerFromXcn } from '../v2-resources.ts';
import { tolerant } from './lab-support.ts';

/**
 * ORC -> ServiceRequest (HL7 V2-to-FHIR IG segment map ORC[ServiceRequest]) and the order's
 * identity, shared by the ServiceRequest, the DiagnosticReport and the Observations of the order.
 */

/** HL7 table 0119 order control -> request-status (IG concept map OrderControlCode[ServiceRequest.status]). */
export const ORDER_CONTROL_STATUS: Readonly<Record<string, ServiceRequest['status']>> = {
  AF: 'active',
  CA: 'active',
  CR: 'revoked',
  DC: 'revoked',
  DF: 'revoked',
  DR: 'revoked',
  FU: 'completed',
  HD: 'active',
  HR: 'on-hold',
  NW: 'active',
  OC: 'revoked',
  OD: 'revoked',
  OH: 'on-hold',
  OK: 'active',
  PR: 'active',
  PY: 'active',
  RL: 'active',
  RO: 'active',
  RQ: 'active',
};

/** HL7 table 0038 order status -> request-status (IG concept map OrderStatus). */
export const ORDER_STATUS: Readonly<Record<string, ServiceRequest['status']>> = {
  CA: 'revoked',
  CM: 'completed',
  DC: 'revoked',
  ER: 'entered-in-error',
  HD: 'on-hold',
  IP: 'active',
  RP: 'revoked',
  SC: 'active',
};

/** HL7 table 0027/0485 priority -> request-priority (IG concept map ExtendedPriorityCodes; P, C, T* are urgent by our reading). */
export function priorityFrom(code: string | undefined): ServiceRequest['priority'] | undefined {
  if (code === undefined) return undefined;
  const c = code.toUpperCase();
  if (c === 'S') return 'stat';
  if (c === 'A') return 'asap';
  if (c === 'R' || c === 'PRN') return 'routine';
  if (c === 'P' || c === 'C' || /^T[SMHDWL]?\d*$/.test(c)) return 'urgent';
  return undefined;
}

/** HL7 table 0482 order type -> v3 RoleCode (IG concept map OrderType). */
const ORDER_TYPE: Readonly<Record<string, { code: string; display: string }>> = { I: { code: 'HOSP', display: 'Hospital' }, O: { code: 'OF', display: 'Outpatient facility' } };

/** The identifiers of one order, from ORC and OBR together. */
export interface OrderIdentity {
  readonly placer: Identifier | undefined;
  readonly filler: Identifier | undefined;
  /** Placer group number (ORC-4): ServiceRequest.requisition. */
  readonly group: Identifier | undefined;
  /** Every business identifier of the request (placer, filler, alternate placer). */
  readonly identifiers: Identifier[];
  /**
   * Key of the request (placer first: the ServiceRequest is the placer's, and an ORM carries no
   * filler number yet) and of the result (filler first: the lab's report and results).
   */
  readonly requestKey: string | undefined;
  readonly resultKey: string | undefined;
}

const PLAC = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC', display: 'Placer Identifier' }] };
const FILL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL', display: 'Filler Identifier' }] };

/**
 * ORC-2/OBR-2 placer and ORC-3/OBR-3 filler order numbers (the IG takes either when the other is
 * empty), ORC-4 group, OBR-53/ORC-33 alternate placer numbers.
 */
export function orderIdentity(ctx: MappingContext, orc: SegmentReader | undefined, obr: SegmentReader | undefined): OrderIdentity {
  const ei = (r: SegmentReader | undefined, n: number, target: string): Identifier | undefined => (r === undefined ? undefined : eiToIdentifier(ctx, r.raw(n, target), r.encoding));
  const obrPlacer = ei(obr, 2, 'ServiceRequest.identifier:PLAC');
  const orcPlacer = ei(orc, 2, 'ServiceRequest.identifier:PLAC');
  const obrFiller = ei(obr, 3, 'ServiceRequest.identifier:FILL');
  const orcFiller = ei(orc, 3, 'ServiceRequest.identifier:FILL');
  // ORC is the common order segment: its numbers win when the two differ (as ReportStream's
  // mapping inventory expects); a sender filling both normally sends the same number.
  const placerRaw = orcPlacer ?? obrPlacer;
  const fillerRaw = orcFiller ?? obrFiller;
  if (obrPlacer !== undefined && orcPlacer !== undefined && obrPlacer.value !== orcPlacer.value) ctx.warn('ORC-2 and OBR-2 differ; ORC-2 is taken as the placer order number');
  if (obrFiller !== undefined && orcFiller !== undefined && obrFiller.value !== orcFiller.value) ctx.warn('ORC-3 and OBR-3 differ; ORC-3 is taken as the filler order number');
  const placer = placerRaw !== undefined ? { ...placerRaw, type: PLAC } : undefined;
  const filler = fillerRaw !== undefined ? { ...fillerRaw, type: FILL } : undefined;
  const identifiers: Identifier[] = [];
  if (placer !== undefined) identifiers.push(placer);
  if (filler !== undefined) identifiers.push(filler);
  for (const [r, n] of [[orc, 33], [obr, 53]] as const) {
    if (r === undefined) continue;
    for (const cx of r.readAll(n, 'CX', 'ServiceRequest.identifier')) {
      const alt = cxToIdentifier(ctx, cx);
      if (alt !== undefined && !identifiers.some((i) => i.value === alt.value && i.system === alt.system)) identifiers.push({ ...alt, type: PLAC });
    }
  }
  const groupRaw = orc?.raw(4, 'ServiceRequest.requisition');
  const group = groupRaw !== undefined && orc !== undefined ? eiToIdentifier(ctx, groupRaw, orc.encoding, 'PGN') : undefined;
  const key = (i: Identifier | undefined): string | undefined => (i === undefined ? undefined : `${i.system ?? ''}|${i.value ?? ''}`);
  return { placer, filler, group, identifiers, requestKey: key(placer) ?? key(filler), resultKey: key(filler) ?? key(placer) };
}

/**
 * ORC fields onto the ServiceRequest: status (ORC-5, else ORC-1), authoredOn (ORC-9), requester
 * (ORC-12, ORC-21..24), callback phone (ORC-14), status reason (ORC-16), confidentiality (ORC-28),
 * order type (ORC-29). Returns true when ORC set the status.
 */
export function applyOrc(ctx: MappingContext, orc: SegmentReader, sr: ServiceRequest): boolean {
  const extensions: Extension[] = [];
  const control = orc.text(1, 'ServiceRequest.status')?.toUpperCase();
  const orderStatus = orc.text(5, 'ServiceRequest.status')?.toUpperCase();
  let statusSet = false;
  const fromStatus = orderStatus !== undefined ? ORDER_STATUS[orderStatus] : undefined;
  const fromControl = control !== undefined ? ORDER_CONTROL_STATUS[control] : undefined;
  if (fromStatus !== undefined) {
    sr.status = fromStatus;
    statusSet = true;
  } else if (fromControl !== undefined) {
    sr.status = fromControl;
    statusSet = true;
  }
  if (orderStatus !== undefined && fromStatus === undefined) ctx.warn(`ORC-5: order status not in HL7 table 0038 (segment ${orc.index})`);
  // IG ORC-1: the order control code also goes to the businessEvent extension.
  if (control !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/businessEvent', extension: [{ url: 'value', valueCodeableConcept: tableCode(control, '0119') }] } as Extension);
  const transaction = ctx.dateTime(orc.read(9, 'TS', 'ServiceRequest.authoredOn'), 'ORC-9');
  if (transaction !== undefined) sr.authoredOn = transaction;
  const callback = xtnToContactPoint(orc.read(14, 'XTN', 'ServiceRequest.extension:servicerequest-order-callback-phone-number'));
  if (callback !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/servicerequest-order-callback-phone-number', valueContactPoint: callback });
  const reason = cweToCodeableConcept(ctx, orc.read(16, 'CWE', 'ServiceRequest.extension:request-statusReason'), { field: 'ORC-16' });
  if (reason !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/request-statusReason', valueCodeableConcept: reason });
  const requester = practitionerFromXcn(ctx, orc.read(12, 'XCN', 'ServiceRequest.requester'));
  const org = organizationFromXon(ctx, orc.raw(21, 'ServiceRequest.requester(Organization)'), orc.encoding);
  if (requester !== undefined && org !== undefined) {
    // Both sent: the requester is the provider acting for the ordering facility (IG ORC-12/ORC-21:
    // requester(PractitionerRole.practitioner / .organization)).
    const role: PractitionerRole & { id: string } = { resourceType: 'PractitionerRole', id: ctx.id('PractitionerRole', requester.reference, org.reference), practitioner: requester, organization: org };
    sr.requester = { ...ctx.add(role), ...(requester.display !== undefined ? { display: requester.display } : {}) };
  } else if (requester !== undefined) sr.requester = requester;
  else if (org !== undefined) sr.requester = org;
  // ORC-22/23 ordering facility address and phone -> that Organization; ORC-24 provider address ->
  // the Practitioner (IG ORC-22..24: requester(PractitionerRole.organization / .practitioner)).
  const facilityAddress = xadToAddress(orc.read(22, 'XAD', 'Organization.address'));
  const facilityPhones = orc.readAll(23, 'XTN', 'Organization.telecom').map((x) => xtnToContactPoint(x)).filter((c) => c !== undefined);
  // get() only to change it: a shared Organization or Practitioner is copied by get() (MappingContext.recurring).
  if (facilityAddress !== undefined || facilityPhones.length > 0) {
    const orgRes = ctx.get<Organization & { id: string }>(org);
    if (orgRes !== undefined) {
      if (facilityAddress !== undefined) orgRes.address = [...(orgRes.address ?? []), facilityAddress];
      if (facilityPhones.length > 0) orgRes.telecom = [...(orgRes.telecom ?? []), ...facilityPhones];
    } else ctx.warn(`ORC-22/23: ordering facility address or phone without a facility name (ORC-21); not mapped (segment ${orc.index})`);
  }
  const providerAddress = xadToAddress(orc.read(24, 'XAD', 'Practitioner.address'));
  const practitionerRes = providerAddress !== undefined ? ctx.get<Practitioner & { id: string }>(requester) : undefined;
  if (providerAddress !== undefined && practitionerRes !== undefined) practitionerRes.address = [...(practitionerRes.address ?? []), providerAddress];
  else if (providerAddress !== undefined) ctx.warn(`ORC-24: ordering provider address without an ordering provider (ORC-12); not mapped (segment ${orc.index})`);
  const conf = orc.text(28, 'ServiceRequest.meta.security');
  if (conf !== undefined) sr.meta = { ...(sr.meta ?? {}), security: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0177', code: conf }] };
  const orderType = orc.text(29, 'ServiceRequest.locationCode');
  const ot = orderType !== undefined ? ORDER_TYPE[orderType.toUpperCase()] : undefined;
  if (ot !== undefined) sr.locationCode = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', ...ot }] }];
  else if (orderType !== undefined) sr.locationCode = [tableCode(orderType, '0482') as NonNullable<ServiceRequest['locationCode']>[number]];
  // ORC-7 (quantity/timing, withdrawn in v2.7): start/end and priority when no TQ1 says so.
  const tq = orc.raw(7, 'ServiceRequest.occurrence[x]');
  if (tq !== undefined) {
    const start = tqTime(ctx, piece(tq, orc.encoding.component, 4), orc.encoding, 'ORC-7.4');
    const end = tqTime(ctx, piece(tq, orc.encoding.component, 5), orc.encoding, 'ORC-7.5');
    if (sr.occurrenceDateTime === undefined && sr.occurrencePeriod === undefined && sr.occurrenceTiming === undefined && (start !== undefined || end !== undefined)) {
      sr.occurrencePeriod = { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) };
    }
    const pr = priorityFrom(piece(tq, orc.encoding.component, 6));
    if (pr !== undefined) sr.priority ??= pr;
  }
  orc.skip(6, 'response flag is a message-level instruction, not data');
  orc.skip(8, 'parent order: the parent is another ServiceRequest, not described in this message');
  orc.skip(10, 'entered by has no ServiceRequest element (the Provenance records the sender)');
  orc.skip(11, 'verified by has no ServiceRequest element');
  orc.skip(13, "enterer's location has no ServiceRequest element");
  orc.skip(15, 'order effective date has no ServiceRequest element (the IG gives no target)');
  orc.skip(17, 'entering organization has no ServiceRequest element');
  orc.skip(18, 'entering device has no ServiceRequest element');
  orc.skip(19, 'action by has no ServiceRequest element');
  orc.skip(20, 'advanced beneficiary notice code has no ServiceRequest element');
  orc.skip(25, 'order status modifier has no ServiceRequest element');
  orc.skip(26, 'ABN override reason has no ServiceRequest element');
  orc.skip(27, "filler's expected availability has no ServiceRequest element");
  orc.skip(30, 'enterer authorization mode has no ServiceRequest element');
  orc.skip(31, 'parent universal service identifier has no ServiceRequest element');
  orc.skip(32, 'ABN date has no ServiceRequest element');
  orc.skip(34, 'order workflow profile has no ServiceRequest element');
  orc.skip(35, 'action code is a message-level instruction, not data');
  if (extensions.length > 0) sr.extension = [...(sr.extension ?? []), ...extensions];
  return statusSet;
}

/** A TS inside a TQ component (its parts are subcomponents). */
export function tqTime(ctx: MappingContext, c: string | undefined, enc: Hl7Encoding, field: string): string | undefined {
  if (c === undefined || c === '') return undefined;
  const v = piece(c, enc.subcomponent, 1);
  if (v === undefined || v === '') return undefined;
  return tolerant(ctx, field, () => ctx.dateTime(readTimestamp(v, enc, field), field));
}
