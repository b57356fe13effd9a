import type { Appointment, AppointmentParticipant, Device, HealthcareService, Location, Patient, Resource } from '@medplum/fhirtypes';
import type { Hl7Encoding, Hl7Segment } from '../../hl7v2/index.ts';
import { assigningAuthority, codeableConceptToCwe, composite, joinParts, identifierToEi, identifierTypeCode, raw, toDtm } from './fhir-datatypes.ts';
import { plFor, writeNtes, writePid, xcnFor } from './patient-segments.ts';
import type { ReverseContext } from './reverse-context.ts';
import { APPOINTMENT_STATUS_TO_V2, PARTICIPANT_STATUS_TO_V2 } from './reverse-codes.ts';

/**
 * Appointment -> SIU^S12 / S14 / S15 (HL7 v2.5.1 ch.10 10.4; HL7 V2-to-FHIR IG segment maps
 * SCH[Appointment], AIS/AIG/AIL/AIP[Appointment] read right to left): SCH (+ TQ1 from v2.5), NTE,
 * PID for the patient participant, then RGS with one AIS per service type and one AIL / AIP / AIG
 * per location / practitioner / other resource participant.
 */

export type SiuEvent = 'S12' | 'S14' | 'S15';

/** The SIU event for an Appointment: a booked new one is S12, a cancelled one S15, anything else S14. */
export function siuEventFor(appt: Appointment): SiuEvent {
  if (appt.status === 'cancelled') return 'S15';
  const isNew = appt.meta?.versionId === undefined || appt.meta.versionId === '1';
  return appt.status === 'booked' && isNew ? 'S12' : 'S14';
}

/** Minutes between two instants, when both are given. */
function minutesBetween(start: string | undefined, end: string | undefined): number | undefined {
  if (start === undefined || end === undefined) return undefined;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms / 60_000) : undefined;
}

/** UCUM minutes as CE (SCH-10, AIS-8...): `min^minutes^UCUM`. */
const MINUTES = ['min', 'minutes', 'UCUM'] as const;
const minutesCe = (enc: Hl7Encoding, sep = enc.component): string => joinParts(enc, sep, MINUTES) ?? '';

export function buildSiu(ctx: ReverseContext, appt: Appointment, event: SiuEvent): void {
  ctx.visit(appt);
  const enc = ctx.encoding;
  const sch = ctx.message.addSegment('SCH');
  // SCH-1 placer / SCH-2 filler appointment id: by their PLAC/FILL type, else the first untyped one
  // is the filler's (the system that books it), the next the placer's.
  const ids = appt.identifier ?? [];
  const untyped = ids.filter((i) => identifierTypeCode(i) === undefined);
  const filler = ids.find((i) => identifierTypeCode(i) === 'FILL') ?? untyped[0];
  const placer = ids.find((i) => identifierTypeCode(i) === 'PLAC') ?? untyped.find((i) => i !== filler);
  ctx.putRaw(sch, '1', identifierToEi(enc, placer, ctx.tenant));
  ctx.putRaw(sch, '2', identifierToEi(enc, filler, ctx.tenant));
  if (placer !== undefined || filler !== undefined) ctx.use(appt, 'identifier', 'SCH-1/SCH-2');
  if (event === 'S15' && appt.cancelationReason !== undefined) {
    ctx.putRaw(sch, '6', codeableConceptToCwe(enc, appt.cancelationReason, { tenant: ctx.tenant }));
    ctx.use(appt, 'cancelationReason', 'SCH-6');
  } else ctx.warn('SCH-6 (event reason, required) is empty: FHIR has no reason for a booking or an update');
  if (appt.reasonCode?.[0] !== undefined) {
    ctx.putRaw(sch, '7', codeableConceptToCwe(enc, appt.reasonCode[0], { tenant: ctx.tenant }));
    ctx.use(appt, 'reasonCode', 'SCH-7');
    if (appt.reasonCode.length > 1) ctx.unmapped(appt, 'reasonCode', 'SCH-7 holds one reason; the others are not sent');
  }
  if (appt.appointmentType !== undefined) {
    ctx.putRaw(sch, '8', codeableConceptToCwe(enc, appt.appointmentType, { tenant: ctx.tenant }));
    ctx.use(appt, 'appointmentType', 'SCH-8');
  }
  const minutes = appt.minutesDuration ?? minutesBetween(appt.start, appt.end);
  if (minutes !== undefined) {
    sch.set('9', String(minutes));
    sch.setRaw('10', minutesCe(enc));
    if (appt.minutesDuration !== undefined) ctx.use(appt, 'minutesDuration', 'SCH-9');
  }
  const start = toDtm(appt.start, 'Appointment.start');
  const end = toDtm(appt.end, 'Appointment.end');
  // SCH-11 (TQ: quantity ^ interval ^ duration ^ start ^ end) is kept for receivers of v2.5+ that
  // still read it (the IG maps it); TQ1 carries the same timing from v2.5.
  ctx.putRaw(sch, '11', composite(enc, [undefined, undefined, undefined, start, end]));
  if (start !== undefined) ctx.use(appt, 'start', 'SCH-11.4/TQ1-7');
  if (end !== undefined) ctx.use(appt, 'end', 'SCH-11.5/TQ1-8');
  const status = APPOINTMENT_STATUS_TO_V2[appt.status];
  ctx.putRaw(sch, '25', composite(enc, [status]));
  ctx.use(appt, 'status', 'SCH-25');
  if (ctx.atLeast('2.5') && (start !== undefined || end !== undefined || minutes !== undefined)) {
    const tq1 = ctx.message.addSegment('TQ1');
    tq1.set('1', '1');
    if (minutes !== undefined) tq1.setRaw('6', composite(enc, [String(minutes), raw(minutesCe(enc, enc.subcomponent))]) ?? '');
    ctx.putRaw(tq1, '7', start);
    ctx.putRaw(tq1, '8', end);
  }
  // One NTE per line: the forward map joins the NTE of an appointment into the comment line by line.
  writeNtes(ctx, appt, 'comment', appt.comment?.split(/\r\n|\r|\n/).map((text) => ({ text })));
  ctx.skip(appt, 'description', 'SCH has no free-text description field (the comment goes as NTE)');

  const participants = appt.participant ?? [];
  const isType = (p: AppointmentParticipant, type: string): boolean => p.actor?.reference?.split('/').at(-2) === type || ctx.resolve(p.actor, appt)?.resourceType === type;
  const patientPart = participants.find((p) => isType(p, 'Patient'));
  if (patientPart !== undefined) {
    writePid(ctx, ctx.resolve<Patient>(patientPart.actor, appt), patientPart.actor);
    ctx.use(appt, 'participant', 'PID');
  }
  const rgs = ctx.message.addSegment('RGS');
  rgs.set('1', '1');
  let n = 0;
  for (const type of appt.serviceType ?? []) {
    const ais = ctx.message.addSegment('AIS');
    ais.set('1', String(++n));
    ctx.putRaw(ais, '3', codeableConceptToCwe(enc, type, { tenant: ctx.tenant }));
    timing(ctx, ais, 4, 7, start, minutes);
    ctx.putRaw(ais, '10', composite(enc, [status]));
    ctx.use(appt, 'serviceType', 'AIS-3');
  }
  ctx.skip(appt, 'serviceCategory', 'AIS-3 takes the service type; the category has no field');
  ctx.skip(appt, 'specialty', 'SCH/AIS have no specialty field');
  const resources: Array<{ seg: string; part: AppointmentParticipant }> = [];
  for (const p of participants) {
    if (p === patientPart) continue;
    const contactField = contactFieldOf(p);
    if (contactField !== undefined) {
      // Placer / filler contact and enterer are SCH fields (IG SCH[Appointment] SCH-12/16/20).
      if (sch.rawField(Number(contactField)) === undefined || sch.rawField(Number(contactField)) === '') {
        ctx.putRaw(sch, contactField, xcnFor(ctx, p.actor, appt));
        ctx.use(appt, 'participant', `SCH-${contactField}`);
        continue;
      }
    }
    if (isType(p, 'Location')) resources.push({ seg: 'AIL', part: p });
    else if (isType(p, 'Practitioner') || isType(p, 'PractitionerRole')) resources.push({ seg: 'AIP', part: p });
    else if (p.actor !== undefined) resources.push({ seg: 'AIG', part: p });
    else ctx.unmapped(appt, 'participant', 'a participant without an actor has no resource segment');
  }
  // The structure orders the resource groups AIS, AIG, AIL, AIP (ch.10 10.4.1).
  for (const segName of ['AIG', 'AIL', 'AIP']) {
    let k = 0;
    for (const { seg, part } of resources) {
      if (seg !== segName) continue;
      const s = ctx.message.addSegment(seg);
      s.set('1', String(++k));
      const pStart = toDtm(part.period?.start, 'Appointment.participant.period.start') ?? start;
      const pMinutes = minutesBetween(part.period?.start, part.period?.end) ?? minutes;
      const pStatus = part.status !== undefined ? PARTICIPANT_STATUS_TO_V2[part.status] : undefined;
      const role = codeableConceptToCwe(enc, part.type?.[0], { tenant: ctx.tenant });
      if (seg === 'AIP') {
        ctx.putRaw(s, '3', xcnFor(ctx, part.actor, appt));
        ctx.putRaw(s, '4', role);
        timing(ctx, s, 6, 9, pStart, pMinutes);
        ctx.putRaw(s, '12', composite(enc, [pStatus]));
      } else if (seg === 'AIL') {
        ctx.putRaw(s, '3', plFor(ctx, part.actor, appt));
        // AIL-4 is the location type (table 0305), which the forward map keeps on the Location.
        const location = ctx.resolve<Location>(part.actor, appt);
        const locType = location?.type?.[0];
        if (locType !== undefined && location !== undefined) ctx.use(location, 'type', 'AIL-4');
        ctx.putRaw(s, '4', locType !== undefined ? codeableConceptToCwe(enc, locType, { tenant: ctx.tenant }) : role);
        timing(ctx, s, 6, 9, pStart, pMinutes);
        ctx.putRaw(s, '12', composite(enc, [pStatus]));
      } else {
        ctx.putRaw(s, '3', resourceIdCwe(ctx, part, appt));
        ctx.putRaw(s, '4', role);
        timing(ctx, s, 8, 11, pStart, pMinutes);
        ctx.putRaw(s, '14', composite(enc, [pStatus]));
      }
      ctx.use(appt, 'participant', `${seg}-3`);
    }
  }
}

/** The SCH field of a contact participant: placer contact 12, filler contact 16, enterer 20 (as the forward map types them). */
function contactFieldOf(p: AppointmentParticipant): string | undefined {
  for (const t of p.type ?? []) {
    const code = t.coding?.[0]?.code;
    if (code === 'ENT') return '20';
    if (code === 'CALLBCK' && t.text === 'placer contact') return '12';
    if (code === 'CALLBCK' && t.text === 'filler contact') return '16';
  }
  return undefined;
}

/** Start (DTM) and duration in minutes (NM + units) at the given field numbers. */
function timing(ctx: ReverseContext, seg: Hl7Segment, startField: number, durationField: number, start: string | undefined, minutes: number | undefined): void {
  ctx.putRaw(seg, String(startField), start);
  if (minutes !== undefined) {
    seg.set(String(durationField), String(minutes));
    seg.setRaw(String(durationField + 1), minutesCe(seg.encoding));
  }
}

/** AIG-3 resource id (CWE): the actor's identifier and name (Device, HealthcareService...), else the reference's. */
function resourceIdCwe(ctx: ReverseContext, part: AppointmentParticipant, appt: Resource): string | undefined {
  const target = ctx.resolve<Device | HealthcareService>(part.actor, appt);
  if (target !== undefined) ctx.visit(target);
  const id = target?.identifier?.[0] ?? part.actor?.identifier;
  const name = target?.resourceType === 'HealthcareService' ? target.name : target?.resourceType === 'Device' ? target.deviceName?.[0]?.name : undefined;
  if (target !== undefined && id !== undefined) ctx.use(target, 'identifier', 'AIG-3');
  if (target !== undefined && name !== undefined) ctx.use(target, target.resourceType === 'Device' ? 'deviceName' : 'name', 'AIG-3.2');
  // CWE-3 names the assigning system of the id (the forward map reads it as an assigning authority namespace).
  const aa = id !== undefined ? assigningAuthority(ctx.encoding, id.system, undefined, ctx.tenant) : undefined;
  const ns = aa !== undefined && !aa.includes(ctx.encoding.subcomponent) ? aa : undefined;
  return composite(ctx.encoding, [id?.value ?? target?.id, name ?? part.actor?.display, raw(ns)]);
}
