import type { Appointment, AppointmentParticipant, CodeableConcept, Identifier, Period, Practitioner, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { decodeEscapes, piece, readTimestamp, type Hl7Cwe, type Hl7Timestamp } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, eiToIdentifier, xadToAddress, xtnToContactPoint } from '../v2-datatypes.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import { tolerant } from './lab-support.ts';

/**
 * SCH -> Appointment (HL7 V2-to-FHIR IG segment map SCH[Appointment], SCH[ServiceRequest]) and the
 * helpers the appointment resource segments (AIS, AIG, AIL, AIP) share: filler status codes, the
 * start/offset/duration triple every resource segment carries, participant status.
 */

export type AppointmentDraft = Appointment & { id: string; participant: AppointmentParticipant[] };

/** HL7 table 0278 filler status -> appointmentstatus (IG concept map FillerStatusCodes[Appointment]). */
const FILLER_STATUS: Readonly<Record<string, Appointment['status']>> = {
  pending: 'pending',
  waitlist: 'waitlist',
  booked: 'booked',
  started: 'checked-in',
  complete: 'fulfilled',
  cancelled: 'cancelled',
  deleted: 'entered-in-error',
  noshow: 'noshow',
};

/**
 * Table 0278 -> participant status (required in R4). The IG has no map; ours: a resource whose own
 * status is cancelled, deleted, discontinued, blocked or no-show is declined, pending or waitlisted
 * is tentative, anything booked or later is accepted.
 */
const PARTICIPANT_STATUS: Readonly<Record<string, AppointmentParticipant['status']>> = {
  pending: 'tentative',
  waitlist: 'tentative',
  booked: 'accepted',
  started: 'accepted',
  complete: 'accepted',
  overbook: 'accepted',
  cancelled: 'declined',
  discontinued: 'declined',
  deleted: 'declined',
  blocked: 'declined',
  noshow: 'declined',
};

/** The appointment status a filler status code (table 0278) stands for; undefined when the IG has none (Discontinued, Blocked, Overbook). */
export function fillerStatus(code: string | undefined): Appointment['status'] | undefined {
  return code === undefined ? undefined : FILLER_STATUS[code.toLowerCase()];
}

/** Participant status from an AIx filler status, else from the appointment's own status. */
export function participantStatus(code: string | undefined, appointment: Appointment['status']): AppointmentParticipant['status'] {
  const own = code === undefined ? undefined : PARTICIPANT_STATUS[code.toLowerCase()];
  if (own !== undefined) return own;
  if (appointment === 'cancelled' || appointment === 'noshow' || appointment === 'entered-in-error') return 'declined';
  if (appointment === 'pending' || appointment === 'proposed' || appointment === 'waitlist') return 'tentative';
  return 'accepted';
}

/** Minutes per duration unit (ISO+/ANSI+ and UCUM spellings senders use in SCH-10, AIx duration units, TQ1-6). */
const MINUTES_PER_UNIT: Readonly<Record<string, number>> = {
  s: 1 / 60, sec: 1 / 60, secs: 1 / 60, second: 1 / 60, seconds: 1 / 60,
  m: 1, min: 1, mins: 1, minute: 1, minutes: 1,
  h: 60, hr: 60, hrs: 60, hour: 60, hours: 60,
  d: 1440, day: 1440, days: 1440,
  wk: 10080, week: 10080, weeks: 10080,
};

/** A duration in whole minutes, or undefined when the unit is unknown or the result is not whole. */
export function durationMinutes(value: number | undefined, units: Hl7Cwe | undefined): number | undefined {
  if (value === undefined) return undefined;
  // No unit: v2 (ch.10 SCH-10) defaults durations to minutes.
  const factor = units === undefined ? 1 : (MINUTES_PER_UNIT[(units.code ?? '').toLowerCase()] ?? MINUTES_PER_UNIT[(units.text ?? '').toLowerCase()]);
  if (factor === undefined) return undefined;
  const minutes = value * factor;
  return Number.isInteger(minutes) ? minutes : undefined;
}

/** Adds minutes to a FHIR dateTime with a time and an offset, keeping the offset; undefined without a time. */
export function addMinutes(dateTime: string, minutes: number): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(dateTime);
  if (m === null) return undefined;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) + minutes * 60_000);
  // A nonsense offset or duration (a timestamp sent in a minutes field) gives no date at all.
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1 || d.getUTCFullYear() > 9999) return undefined;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${m[7] as string}`;
}

/** Field numbers of the timing block every AIx segment carries (start, offset, offset units, duration, duration units). */
export interface TimingFields {
  readonly start: number;
  readonly offset: number;
  readonly offsetUnits: number;
  readonly duration: number;
  readonly durationUnits: number;
}

/**
 * The period of one appointment resource (IG AIS/AIG/AIL/AIP[Appointment]): its start, else the
 * appointment's start plus the offset; the end is the start plus the duration.
 */
export function resourcePeriod(ctx: MappingContext, r: SegmentReader, f: TimingFields, appointmentStart: string | undefined): Period | undefined {
  const field = (n: number): string => `${r.name}-${n}`;
  let start = ctx.dateTime(r.read(f.start, 'TS', 'Appointment.participant.period.start'), field(f.start));
  const offset = r.read(f.offset, 'NM', 'Appointment.participant.period.start');
  const offsetUnits = r.read(f.offsetUnits, 'CWE', 'Appointment.participant.period.start');
  if (start === undefined && offset !== undefined && appointmentStart !== undefined) {
    const minutes = durationMinutes(offset, offsetUnits);
    if (minutes !== undefined) start = addMinutes(appointmentStart, minutes);
    else ctx.warn(`${field(f.offsetUnits)}: offset unit not understood; start offset not applied (segment ${r.index})`);
  }
  const duration = r.read(f.duration, 'NM', 'Appointment.participant.period.end');
  const durationUnits = r.read(f.durationUnits, 'CWE', 'Appointment.participant.period.end');
  let end: string | undefined;
  if (start !== undefined && duration !== undefined) {
    const minutes = durationMinutes(duration, durationUnits);
    if (minutes !== undefined) end = addMinutes(start, minutes);
    else ctx.warn(`${field(f.durationUnits)}: duration unit not understood; period end left out (segment ${r.index})`);
  }
  if (start === undefined) return undefined;
  return end !== undefined ? { start, end } : { start };
}

/** The segment action code (table 0206) of an AIx segment: D (delete) declines the participant. */
export function isDeleted(r: SegmentReader): boolean {
  return r.text(2, 'Appointment.participant.status')?.toUpperCase() === 'D';
}

const PARTICIPANT_TYPE = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

/** The appointment's status for the trigger event (HL7 v2.5.1 ch.10 10.3) when SCH-25 does not say. */
const EVENT_STATUS: Readonly<Record<string, Appointment['status']>> = {
  S12: 'booked', // new booking
  S13: 'booked', // rescheduled
  S14: 'booked', // modified
  S15: 'cancelled',
  S16: 'cancelled', // discontinued: FHIR has no "discontinued"; the remaining occurrences are cancelled
  S17: 'entered-in-error', // deleted
  S18: 'booked', S19: 'booked', S20: 'booked', S21: 'booked', S22: 'booked', // a service/resource added, modified, cancelled, discontinued, deleted
  S26: 'noshow',
};
/** Events whose meaning overrides whatever SCH-25 says (a cancellation notice is a cancellation). */
const EVENT_DECIDES = new Set(['S15', 'S16', 'S17', 'S26']);

/**
 * SCH -> Appointment (not yet added to the bundle: the mapper completes it with the resources and
 * the patient). The id is the filler appointment id (SCH-2), else the placer's (SCH-1), with the
 * occurrence number (SCH-3) of a repeating appointment, so S12..S26 about one appointment update one
 * resource. SCH-26/27 orders become ServiceRequests the appointment is basedOn (IG SCH[ServiceRequest]).
 */
export function mapSch(ctx: MappingContext, sch: SegmentReader, event: string): AppointmentDraft {
  const enc = sch.encoding;
  const identifiers: Identifier[] = [];
  const placer = eiToIdentifier(ctx, sch.raw(1, 'Appointment.identifier'), enc, 'PLAC');
  const filler = eiToIdentifier(ctx, sch.raw(2, 'Appointment.identifier'), enc, 'FILL');
  const occurrence = sch.text(3, 'Appointment.id');
  const group = eiToIdentifier(ctx, sch.raw(4, 'Appointment.identifier'), enc, 'PGN');
  for (const i of [placer, filler, group]) if (i !== undefined) identifiers.push(i);
  const key = filler ?? placer;
  if (key === undefined) ctx.warn('SCH-1/SCH-2: no appointment id; the Appointment id is derived from this message and will not match other messages');
  const id = key !== undefined ? ctx.id('Appointment', key.system, key.value, occurrence) : ctx.id('Appointment', ctx.messageKey, String(sch.index));

  const statusCode = sch.read(25, 'CWE', 'Appointment.status')?.code;
  const sent = fillerStatus(statusCode);
  const byEvent = EVENT_STATUS[event] ?? 'booked';
  if (statusCode !== undefined && sent === undefined) ctx.warn('SCH-25: filler status has no appointmentstatus (IG concept map FillerStatusCodes); status taken from the event');
  let status: Appointment['status'];
  if (EVENT_DECIDES.has(event)) {
    status = byEvent;
    if (sent !== undefined && sent !== byEvent) ctx.warn(`SCH-25: filler status disagrees with SIU^${event}; the event decides the status`);
  } else status = sent ?? byEvent;

  const appt: AppointmentDraft = { resourceType: 'Appointment', id, status, participant: [] };
  if (identifiers.length > 0) appt.identifier = identifiers;

  sch.skip(5, 'schedule id names the filler\'s schedule (a FHIR Schedule), not known from the message');
  const eventReason = cweToCodeableConcept(ctx, (status === 'cancelled' || status === 'noshow' ? sch.read(6, 'CWE', 'Appointment.cancelationReason') : undefined), { field: 'SCH-6' });
  if (eventReason !== undefined) appt.cancelationReason = eventReason;
  else sch.skip(6, 'event reason explains the trigger event; kept only as the cancelation reason of a cancellation (IG SCH[Appointment] leaves it unmapped)');

  // IG SCH[Appointment]: SCH-7 is the reason, unless coded from table 0277 (then it is the type); SCH-8 is the type.
  const reasonCwe = sch.read(7, 'CWE');
  const typeCwe = sch.read(8, 'CWE', 'Appointment.appointmentType');
  const type = cweToCodeableConcept(ctx, typeCwe, { field: 'SCH-8', table: '0277' });
  if (reasonCwe !== undefined && reasonCwe.system?.toUpperCase() === 'HL70277' && type === undefined) {
    sch.markUsed(7, 'Appointment.appointmentType');
    const t = cweToCodeableConcept(ctx, reasonCwe, { field: 'SCH-7', table: '0277' });
    if (t !== undefined) appt.appointmentType = t;
  } else {
    sch.markUsed(7, 'Appointment.reasonCode');
    const reason = cweToCodeableConcept(ctx, reasonCwe, { field: 'SCH-7', table: '0276' });
    if (reason !== undefined) appt.reasonCode = [reason];
  }
  if (type !== undefined) appt.appointmentType = type;

  const duration = sch.read(9, 'NM', 'Appointment.minutesDuration');
  const durationUnits = sch.read(10, 'CWE', 'Appointment.minutesDuration');
  const minutes = durationMinutes(duration, durationUnits);
  if (minutes !== undefined && minutes > 0) appt.minutesDuration = minutes;
  else if (duration !== undefined) ctx.warn('SCH-9/SCH-10: duration is not a whole number of minutes in a known unit; minutesDuration left out');

  // SCH-11 (TQ, withdrawn in v2.7 for TQ1): TQ.4 start, TQ.5 end (IG TQ[Appointment]).
  const tq = sch.raw(11, 'Appointment.start');
  if (tq !== undefined) {
    const start = ctx.instant(tqTime(ctx, tq, 4, enc), 'SCH-11.4');
    const end = ctx.instant(tqTime(ctx, tq, 5, enc), 'SCH-11.5');
    if (start !== undefined) appt.start = start;
    if (end !== undefined) appt.end = end;
  }

  // Contacts (IG: participants typed by their role). Their phones and addresses belong to the person.
  const contacts: Array<[number, number, number | undefined, number, string, string]> = [
    [12, 13, 14, 15, 'placer contact', 'CALLBCK'],
    [16, 17, 18, 19, 'filler contact', 'CALLBCK'],
    [20, 21, undefined, 22, 'enterer', 'ENT'],
  ];
  for (const [person, phone, address, location, text, code] of contacts) {
    const actor = practitionerFromXcn(ctx, sch.read(person, 'XCN', 'Appointment.participant.actor'));
    if (actor === undefined) {
      for (const n of [phone, address, location]) if (n !== undefined) sch.skip(n, `contact details without a contact person (SCH-${person}) have no Appointment element`);
      continue;
    }
    const telecom = sch.readAll(phone, 'XTN', 'Practitioner.telecom').map((x) => xtnToContactPoint(x)).filter((c) => c !== undefined);
    const addresses = address === undefined ? [] : sch.readAll(address, 'XAD', 'Practitioner.address').map(xadToAddress).filter((a) => a !== undefined);
    if (telecom.length > 0 || addresses.length > 0) addTo(ctx, actor, { ...(telecom.length > 0 ? { telecom } : {}), ...(addresses.length > 0 ? { address: addresses } : {}) });
    sch.skip(location, 'a contact\'s location (PL) has no Appointment or Practitioner element');
    appt.participant.push({ actor, type: [{ coding: [{ system: PARTICIPANT_TYPE, code }], text }], status: 'accepted', required: 'information-only' });
  }
  sch.skip(23, 'R4 Appointment has no link to a parent appointment (R5 adds originatingAppointment)');
  sch.skip(24, 'R4 Appointment has no link to a parent appointment (R5 adds originatingAppointment)');

  const basedOn: Array<Reference<ServiceRequest>> = [];
  for (const [field, type] of [[26, 'PLAC'], [27, 'FILL']] as const) {
    for (const rep of sch.repetitions(field, 'Appointment.basedOn')) {
      const identifier = eiToIdentifier(ctx, rep, enc, type);
      if (identifier === undefined) continue;
      const sr: ServiceRequest & { id: string } = { resourceType: 'ServiceRequest', id: ctx.id('ServiceRequest', identifier.system, identifier.value), status: 'active', intent: 'order', identifier: [identifier], subject: ctx.patient ?? { display: 'unknown' } };
      basedOn.push(ctx.add(sr));
    }
  }
  if (basedOn.length > 0) appt.basedOn = basedOn;
  return appt;
}

/** TQ component n (a TS, whose own components are subcomponents here). */
function tqTime(ctx: MappingContext, tq: string, n: number, enc: SegmentReader['encoding']): Hl7Timestamp | undefined {
  const c = piece(tq, enc.component, n);
  if (c === undefined || c === '') return undefined;
  const value = piece(c, enc.subcomponent, 1) ?? '';
  return tolerant(ctx, `SCH-11.${n}`, () => readTimestamp(value, enc, `SCH-11.${n}`));
}

/** Adds contact details to a Practitioner already in the bundle (merged by id). */
function addTo(ctx: MappingContext, ref: Reference<Practitioner>, extra: Pick<Practitioner, 'telecom' | 'address'>): void {
  const existing = ctx.peek<Practitioner & { id: string }>(ref);
  if (existing !== undefined) ctx.add({ ...extra, resourceType: 'Practitioner', id: existing.id });
}

/**
 * TQ1 in SIU (v2.5+; IG message map SIU_S12 gives no TQ1 map, so TQ[Appointment] is followed):
 * TQ1-7/8 start and end, TQ1-6 service duration, TQ1-11 text instruction as the description.
 */
export function applyTq1(ctx: MappingContext, appt: AppointmentDraft, tq1: SegmentReader): void {
  tq1.skip(1, 'set id orders segments; not data');
  const start = ctx.instant(tq1.read(7, 'TS', 'Appointment.start'), 'TQ1-7');
  const end = ctx.instant(tq1.read(8, 'TS', 'Appointment.end'), 'TQ1-8');
  if (start !== undefined) appt.start = start;
  if (end !== undefined) appt.end = end;
  const durationRaw = tq1.raw(6, 'Appointment.minutesDuration');
  if (durationRaw !== undefined && appt.minutesDuration === undefined) {
    const value = Number(piece(durationRaw, tq1.encoding.component, 1));
    const unitCode = piece(piece(durationRaw, tq1.encoding.component, 2) ?? '', tq1.encoding.subcomponent, 1);
    const minutes = Number.isFinite(value) ? durationMinutes(value, unitCode ? { code: unitCode } : undefined) : undefined;
    if (minutes !== undefined && minutes > 0) appt.minutesDuration = minutes;
  }
  const text = tq1.text(11, 'Appointment.description');
  if (text !== undefined) appt.description = appt.description === undefined ? text : `${appt.description}\n${text}`;
  tq1.skip(2, 'quantity of a service has no Appointment element');
  tq1.skip(3, 'repeat pattern: a FHIR R4 Appointment is one occurrence');
  tq1.skip(4, 'explicit times of a repeating appointment: a FHIR R4 Appointment is one occurrence');
  tq1.skip(5, 'relative time: a FHIR R4 Appointment is one occurrence');
  tq1.skip(9, 'priority codes have no defined order for Appointment.priority (an unsignedInt; IG TQ[Appointment] note)');
  tq1.skip(10, 'condition text has no Appointment element');
  tq1.skip(12, 'conjunction links repeating timings: a FHIR R4 Appointment is one occurrence');
  tq1.skip(13, 'occurrence duration: a FHIR R4 Appointment is one occurrence');
  tq1.skip(14, 'total occurrences: a FHIR R4 Appointment is one occurrence');
}

/**
 * NTE -> Appointment.comment (IG NTE[Appointment-Comment]; R4's comment is one string, so the notes
 * are joined with line breaks, each NTE-3 repetition a line).
 */
export function appointmentComment(ntes: readonly SegmentReader[]): string | undefined {
  const lines: string[] = [];
  for (const nte of ntes) {
    nte.skip(1, 'set id orders segments; not data');
    for (const rep of nte.repetitions(3, 'Appointment.comment')) lines.push(decodeEscapes(rep, nte.encoding));
    for (const n of [2, 4, 5, 6, 7, 8, 9]) nte.skip(n, 'R4 Appointment.comment is a string: source, type, author and times of a note have no element');
  }
  return lines.length === 0 ? undefined : lines.join('\n');
}

/** A participant type from a CWE (AIG-4, AIP-4), kept as sent (IG CWE[CodeableConcept]). */
export function participantType(ctx: MappingContext, cwe: Hl7Cwe | undefined, field: string): CodeableConcept[] | undefined {
  const cc = cweToCodeableConcept(ctx, cwe, { field });
  return cc === undefined ? undefined : [cc];
}

/** What one appointment resource segment (AIG, AIL, AIP) contributes. */
export interface ResourceParticipant {
  readonly participant: AppointmentParticipant | undefined;
  readonly period: Period | undefined;
}

/**
 * The parts of AIG/AIL/AIP the three share: the period from the timing block, the participant
 * status from the filler status (or a D segment action code), the set id, and the allow-substitution
 * code (no FHIR element).
 */
export function resourceParticipant(
  ctx: MappingContext,
  r: SegmentReader,
  actor: AppointmentParticipant['actor'],
  type: CodeableConcept[] | undefined,
  timing: TimingFields,
  fields: { readonly substitution: number; readonly status: number },
  appt: AppointmentDraft,
): ResourceParticipant {
  r.skip(1, 'set id orders segments; not data');
  const period = resourcePeriod(ctx, r, timing, appt.start);
  const deleted = isDeleted(r);
  const code = r.read(fields.status, 'CWE', 'Appointment.participant.status')?.code;
  r.skip(fields.substitution, 'allow substitution code has no Appointment element');
  if (actor === undefined && type === undefined) return { participant: undefined, period };
  const participant: AppointmentParticipant = { status: deleted ? 'declined' : participantStatus(code, appt.status) };
  if (type !== undefined) participant.type = type;
  if (actor !== undefined) participant.actor = actor;
  if (period !== undefined) participant.period = period;
  return { participant, period };
}
