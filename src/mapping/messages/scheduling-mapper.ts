import type { Condition, Encounter, Period, Reference } from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { mapAig } from '../segments/aig.ts';
import { mapAil } from '../segments/ail.ts';
import { mapAip } from '../segments/aip.ts';
import { mapAis } from '../segments/ais.ts';
import { mapDg1 } from '../segments/dg1.ts';
import { mapObx } from '../segments/obx.ts';
import { mapPid } from '../segments/pid.ts';
import { mapPv1 } from '../segments/pv1.ts';
import { mapPv2 } from '../segments/pv2.ts';
import { addMinutes, appointmentComment, applyTq1, fillerStatus, mapSch, participantStatus, type AppointmentDraft, type ResourceParticipant } from '../segments/sch.ts';
import type { MessageMapper } from './message-mapper.ts';

/** Events of structure SIU_S12 that describe one appointment (S23/S24 block and open slots, not appointments). */
const EVENTS = ['S12', 'S13', 'S14', 'S15', 'S16', 'S17', 'S18', 'S19', 'S20', 'S21', 'S22', 'S26'];

/**
 * SIU -> Appointment (HL7 V2-to-FHIR IG message map SIU_S12). The segments are walked in message
 * order: an NTE belongs to the segment before it (SCH or a resource), which holds for any grouping.
 * The Patient (PID) is a participant; PV1/PV2 an Encounter that points back at the appointment.
 */
function mapSiu(ctx: MappingContext): void {
  const event = ctx.message.triggerEvent ?? '';
  const schSegment = ctx.message.segment('SCH');
  if (schSegment === undefined) throw new SwitchboardError('SWB_ERR_MAP_FIELD_FAILED', { field: 'SCH', reason: 'an SIU message needs an SCH segment' });
  // The Patient first: the appointment and its ServiceRequests refer to it.
  const pidSegment = ctx.message.segment('PID');
  const patient = pidSegment !== undefined ? mapPid(ctx, ctx.reader(pidSegment)) : undefined;
  const appt = mapSch(ctx, ctx.reader(schSegment), event);

  const notes: SegmentReader[] = [];
  const periods: Period[] = [];
  const participants: ResourceParticipant[] = [];
  const reasons: Array<Reference<Condition>> = [];
  let serviceStatus: string | undefined;
  let encounter: Reference<Encounter> | undefined;
  let owner = 'SCH';
  let tq1Seen = false;
  for (const segment of ctx.message.segments) {
    const r = ctx.reader(segment);
    switch (r.name) {
      case 'TQ1':
        if (!tq1Seen) applyTq1(ctx, appt, r);
        else r.skippedWhole = 'a further TQ1 times a repeating appointment: a FHIR R4 Appointment is one occurrence';
        tq1Seen = true;
        break;
      case 'NTE':
        if (owner === 'PATIENT') r.skippedWhole = 'no NTE belongs to the PATIENT group of SIU_S12';
        else notes.push(r);
        break;
      case 'PID':
        owner = 'PATIENT';
        break;
      case 'PV1':
        encounter = mapPv1(ctx, r);
        break;
      case 'PV2':
        if (encounter !== undefined) mapPv2(ctx, r, encounter);
        break;
      case 'OBX':
        mapObx(ctx, r, { ...(patient !== undefined ? { subject: patient } : {}), ...(encounter !== undefined ? { encounter } : {}) });
        break;
      case 'DG1': {
        // IG SIU_S12 PATIENT.DG1 -> Condition; the appointment is for it (Appointment.reasonReference).
        const condition = patient !== undefined ? mapDg1(ctx, r, { patient, ...(encounter !== undefined ? { encounter } : {}) }) : undefined;
        if (condition !== undefined) reasons.push(condition);
        break;
      }
      case 'RGS':
        owner = 'RGS';
        r.skippedWhole = 'RGS groups the resources of the appointment; it carries no data of its own';
        break;
      case 'AIS': {
        owner = 'AIS';
        const ais = mapAis(ctx, r, appt);
        if (ais.period !== undefined) periods.push(ais.period);
        serviceStatus ??= ais.status;
        break;
      }
      case 'AIG':
      case 'AIL':
      case 'AIP': {
        owner = r.name;
        const p = r.name === 'AIG' ? mapAig(ctx, r, appt) : r.name === 'AIL' ? mapAil(ctx, r, appt) : mapAip(ctx, r, appt);
        participants.push(p);
        if (p.period !== undefined) periods.push(p.period);
        break;
      }
      default:
        break;
    }
  }

  // IG AIS-10: the service's filler status stands in for an empty SCH-25 (never over the event's meaning).
  if (serviceStatus !== undefined && !ctx.reader(schSegment).has(25)) {
    const s = fillerStatus(serviceStatus);
    if (s !== undefined && (event === 'S12' || event === 'S13' || event === 'S14')) appt.status = s;
  }
  if (reasons.length > 0) appt.reasonReference = reasons;
  const comment = appointmentComment(notes);
  if (comment !== undefined) appt.comment = comment;
  if (patient !== undefined) appt.participant.unshift({ actor: patient, status: participantStatus(undefined, appt.status) });
  for (const p of participants) if (p.participant !== undefined) appt.participant.push(p.participant);
  setTimes(ctx, appt, periods);
  if (appt.participant.length === 0) {
    // participant is 1..* in R4: an appointment with nobody named still says so.
    appt.participant.push({ type: [{ text: 'unknown' }], status: 'needs-action' });
    ctx.warn('SIU: no patient or resource names a participant; Appointment.participant holds a placeholder');
  }
  const ref = ctx.add(appt);
  if (encounter !== undefined) {
    const e = ctx.get<Encounter & { id: string }>(encounter);
    if (e !== undefined) ctx.add({ resourceType: 'Encounter', id: e.id, status: e.status, class: e.class, appointment: [ref] });
  }
}

/**
 * Start and end (FHIR R4 Appointment app-2: both or neither; app-3: only proposed or cancelled
 * appointments may lack them). SCH-11 / TQ1 gave them already when sent; else the resources'
 * earliest start and latest end; a missing end is the start plus minutesDuration.
 */
function setTimes(ctx: MappingContext, appt: AppointmentDraft, periods: readonly Period[]): void {
  const instants = (xs: Array<string | undefined>): string[] => xs.filter((x): x is string => x !== undefined && /T\d{2}:\d{2}:\d{2}/.test(x)).sort((a, b) => Date.parse(a) - Date.parse(b));
  if (appt.start === undefined) {
    const first = instants(periods.map((p) => p.start))[0];
    if (first !== undefined) appt.start = first;
  }
  if (appt.end === undefined && appt.start !== undefined) {
    const last = instants(periods.map((p) => p.end)).at(-1);
    if (last !== undefined && Date.parse(last) >= Date.parse(appt.start)) appt.end = last;
    else if (appt.minutesDuration !== undefined) {
      const end = addMinutes(appt.start, appt.minutesDuration);
      if (end !== undefined) appt.end = end;
    }
  }
  if ((appt.start === undefined) !== (appt.end === undefined)) {
    // app-2: keep the known bound as the requested period rather than drop it.
    const known: Period = appt.start !== undefined ? { start: appt.start } : { end: appt.end as string };
    appt.requestedPeriod = [known];
    delete appt.start;
    delete appt.end;
    ctx.warn('SIU: only one of the appointment start and end is known; kept as requestedPeriod (FHIR R4 Appointment app-2)');
  }
  if (appt.start === undefined && appt.status !== 'proposed' && appt.status !== 'cancelled') {
    ctx.warn('SIU: no appointment start and end in SCH-11, TQ1 or the resources (FHIR R4 Appointment app-3 expects them)');
  }
}

export const SCHEDULING_MAPPERS: readonly MessageMapper[] = [{ name: 'scheduling', events: EVENTS.map((e) => `SIU^${e}`), map: mapSiu }];
