import type { Device, Organization, Practitioner, PractitionerRole, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, cxToIdentifier, eiToIdentifier, period, xadToAddress, xtnToContactPoint } from '../v2-datatypes.ts';
import { locationFromPl, organizationFromXon, practitionerFromXcn } from '../v2-resources.ts';

/** A PRT participant: its role code (table 0912) and the resource standing for it. */
export interface Participant {
  /** PRT-4.1, e.g. `OP` (ordering provider), `RCT` (results copies to), `PRI` (principal interpreter). */
  readonly role: string | undefined;
  readonly actor: Reference<PractitionerRole | Organization | Device>;
  /** The device the PRT names (PRT-10, PRT-16..22) beside a person or organization. */
  readonly device?: Reference<Device>;
}

/**
 * PRT -> PractitionerRole (HL7 V2-to-FHIR IG segment map PRT[PractitionerRole]): the person
 * (PRT-5), organization (PRT-8), location (PRT-9), role (PRT-4), period (PRT-11/12), address and
 * phone (PRT-14/15). A device (PRT-10, PRT-16..22) becomes a Device: the actor when the PRT names
 * nobody else, else `device`. Returns undefined for a PRT naming nobody (reported as skipped).
 */
export function mapPrt(ctx: MappingContext, prt: SegmentReader): Participant | undefined {
  prt.skip(1, 'participation instance id identifies the PRT within the message');
  prt.skip(2, 'action code is a message-level instruction, not data');
  prt.skip(3, 'action reason has no PractitionerRole element');
  const roleCwe = prt.read(4, 'CWE', 'PractitionerRole.code');
  const code = cweToCodeableConcept(ctx, roleCwe, { field: 'PRT-4', table: '0912' });
  const practitioner = practitionerFromXcn(ctx, prt.read(5, 'XCN', 'PractitionerRole.practitioner'));
  const specialty = cweToCodeableConcept(ctx, prt.read(6, 'CWE', 'PractitionerRole.specialty'), { field: 'PRT-6' });
  prt.skip(7, 'organization unit type has no PractitionerRole element');
  const organization = organizationFromXon(ctx, prt.raw(8, 'PractitionerRole.organization'), prt.encoding);
  const location = locationFromPl(ctx, prt.raw(9, 'PractitionerRole.location'), prt.encoding);
  const device = deviceFromPrt(ctx, prt);
  const start = ctx.dateTime(prt.read(11, 'TS', 'PractitionerRole.period.start'), 'PRT-11');
  const end = ctx.dateTime(prt.read(12, 'TS', 'PractitionerRole.period.end'), 'PRT-12');
  prt.skip(13, 'qualitative duration has no PractitionerRole element');
  const address = xadToAddress(prt.read(14, 'XAD', 'Practitioner.address'));
  const telecom = prt.readAll(15, 'XTN', 'PractitionerRole.telecom').map((x) => xtnToContactPoint(x)).filter((c) => c !== undefined);
  if (address !== undefined) {
    const p = ctx.get<Practitioner & { id: string }>(practitioner);
    if (p !== undefined) p.address = [...(p.address ?? []), address];
  }
  const role = roleCwe?.code;
  prt.skip(23, 'preferred method of contact has no PractitionerRole element');
  const contactIds = prt.readAll(24, 'CX', 'PractitionerRole.identifier').map((cx) => cxToIdentifier(ctx, cx)).filter((i) => i !== undefined);
  if (practitioner === undefined && organization === undefined && location === undefined) {
    if (device !== undefined) return { role, actor: device };
    prt.skippedWhole = 'PRT names no person, organization, location or device';
    return undefined;
  }
  const pr: PractitionerRole & { id: string } = {
    resourceType: 'PractitionerRole',
    id: ctx.id('PractitionerRole', practitioner?.reference, organization?.reference, location?.reference, role),
  };
  if (practitioner !== undefined) pr.practitioner = practitioner;
  if (organization !== undefined) pr.organization = organization;
  if (location !== undefined) pr.location = [location];
  if (code !== undefined) pr.code = [code];
  if (specialty !== undefined) pr.specialty = [specialty];
  const p = period(start, end);
  if (p !== undefined) pr.period = p;
  if (telecom.length > 0) pr.telecom = telecom;
  if (contactIds.length > 0) pr.identifier = contactIds;
  const ref = ctx.add(pr);
  const display = practitioner?.display ?? organization?.display;
  return { role, actor: display !== undefined ? { ...ref, display } : ref, ...(device !== undefined ? { device } : {}) };
}

/**
 * PRT-10 device identifier and PRT-16..22 (UDI, manufacture and expiry dates, lot and serial
 * numbers, donation id, device type) -> Device (IG PRT[Device]). Undefined when none is sent.
 */
function deviceFromPrt(ctx: MappingContext, prt: SegmentReader): Reference<Device> | undefined {
  const ids = prt.repetitions(10, 'Device.identifier').map((r) => eiToIdentifier(ctx, r, prt.encoding)).filter((i) => i !== undefined);
  const udi = prt.text(16, 'Device.udiCarrier.deviceIdentifier');
  const made = ctx.dateTime(prt.read(17, 'TS', 'Device.manufactureDate'), 'PRT-17');
  const expires = ctx.dateTime(prt.read(18, 'TS', 'Device.expirationDate'), 'PRT-18');
  const lot = prt.text(19, 'Device.lotNumber');
  const serial = prt.text(20, 'Device.serialNumber');
  const donation = prt.text(21, 'Device.distinctIdentifier');
  const type = cweToCodeableConcept(ctx, prt.read(22, 'CWE', 'Device.type'), { field: 'PRT-22' });
  if (ids.length === 0 && udi === undefined && serial === undefined && lot === undefined && donation === undefined && type === undefined && made === undefined && expires === undefined) return undefined;
  const first = ids[0];
  const device: Device & { id: string } = {
    resourceType: 'Device',
    id: first !== undefined ? ctx.id('Device', first.system, first.value) : udi !== undefined ? ctx.id('Device', 'udi', udi) : ctx.id('Device', ctx.messageKey, String(prt.index)),
  };
  if (ids.length > 0) device.identifier = ids;
  if (udi !== undefined) device.udiCarrier = [{ deviceIdentifier: udi }];
  if (made !== undefined) device.manufactureDate = made;
  if (expires !== undefined) device.expirationDate = expires;
  if (lot !== undefined) device.lotNumber = lot;
  if (serial !== undefined) device.serialNumber = serial;
  if (donation !== undefined) device.distinctIdentifier = donation;
  if (type !== undefined) device.type = type;
  return ctx.add(device);
}
