import type { Encounter, Patient, Procedure, Reference } from '@medplum/fhirtypes';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { mapAl1 } from '../segments/al1.ts';
import { mapDg1 } from '../segments/dg1.ts';
import { eventDetails, mapEvn } from '../segments/evn.ts';
import { mapGt1 } from '../segments/gt1.ts';
import { mapIn1 } from '../segments/in1.ts';
import { mapMrgMerge, mapMrgVisit } from '../segments/mrg.ts';
import { mapNk1 } from '../segments/nk1.ts';
import { mapObx } from '../segments/obx.ts';
import { mapPd1 } from '../segments/pd1.ts';
import { mapPid } from '../segments/pid.ts';
import { mapPr1 } from '../segments/pr1.ts';
import { mapPv1, pv1HasVisit, type EncounterOptions } from '../segments/pv1.ts';
import { mapPv2 } from '../segments/pv2.ts';
import { mapRol } from '../segments/rol.ts';
import type { MessageMapper } from './message-mapper.ts';

/**
 * ADT events -> Encounter status (IG concept map Event[EncounterStatus]). Events without an entry
 * take the status from PV1 itself (PV1-45 finished, else PatientClass[EncounterStatus]):
 * - A08 (update): the IG says "unknown"; every bundle entry is a PUT, so "unknown" would erase the
 *   status the admit or discharge set; PV1 states the visit's current state, so it decides.
 * - A06/A07 (class change) are not in the IG map: the visit goes on (in-progress), PV1-2 gives the class.
 * - A28/A31 (person information) and A40 (merge) carry a visit only incidentally.
 * A11 (cancel admit) is "cancelled" as in the IG (the visit never took place); A13 (cancel
 * discharge) puts the visit back in progress and drops the discharge time.
 */
const EVENT_STATUS: Readonly<Record<string, Encounter['status']>> = {
  A01: 'in-progress',
  A02: 'in-progress',
  A03: 'finished',
  A04: 'planned',
  A05: 'planned',
  A06: 'in-progress',
  A07: 'in-progress',
  A11: 'cancelled',
  A13: 'in-progress',
  // Beyond issue 4's list, events that only move the visit's state (HL7 v2.5.1 ch.3 3.3.9-3.3.27):
  // patient departing/arriving (tracking), pending admit/transfer/discharge and their cancels.
  A09: 'in-progress',
  A10: 'in-progress',
  A14: 'planned',
  A15: 'in-progress',
  A16: 'in-progress',
  A25: 'in-progress',
  A26: 'in-progress',
  A27: 'cancelled',
};

/**
 * Events mapped. Not here, on purpose: A29 (delete person information) and A23 (delete visit) would
 * need deletes, A17 (swap patients), A41/A42/A47 (account, visit and identifier merges) and A45 (move
 * visit) need their own link semantics; they fail with SWB_ERR_MAP_UNSUPPORTED_MESSAGE.
 */
const EVENTS = ['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A09', 'A10', 'A11', 'A13', 'A14', 'A15', 'A16', 'A25', 'A26', 'A27', 'A28', 'A31', 'A40'];

/** Segments ADT messages carry that have no FHIR mapping here, with the reason the report shows. */
const NOT_MAPPED: Readonly<Record<string, string>> = {
  SFT: 'software segment: the IG maps it to a Device on the source Provenance, not built here',
  ARV: 'access restrictions: FHIR has no field-level security labels yet (IG ADT_A01 note)',
  DB1: 'disability segment: the IG ADT maps leave it unmapped',
  DRG: 'diagnosis related group is billing data: the IG ADT maps leave it unmapped',
  ACC: 'accident segment: the IG ADT maps leave it unmapped',
  UB1: 'UB82 billing data: the IG ADT maps leave it unmapped',
  UB2: 'UB92 billing data: the IG ADT maps leave it unmapped',
  PDA: 'patient death and autopsy: the IG ADT maps leave it unmapped',
  IN2: 'insurance additional information: mostly billing and employment detail the IG leaves unmapped',
  IN3: 'insurance certification: the IG maps it to a CareTeam, not built here',
  RF1: 'referral information: the IG ADT maps leave it unmapped',
  AUT: 'authorization information: the IG ADT maps leave it unmapped',
  PRT: 'participation (v2.7+): not mapped in ADT messages here',
  IAM: 'adverse reaction information (v2.7+): not mapped here',
  NTE: 'a note in an ADT message that follows no OBX has no resource to annotate',
  CON: 'consent segment (v2.6+): the IG ADT maps leave it unmapped',
};

/** Segments that only make sense after a PID (skipped whole without one). */
const NEEDS_PATIENT: ReadonlySet<string> = new Set(['PD1', 'NK1', 'AL1', 'DG1', 'PR1', 'GT1', 'IN1']);

/** Where the segments being walked sit, which decides what a ROL feeds. */
type Area = 'patient' | 'visit' | 'procedure' | 'insurance' | 'other';

/**
 * ADT -> Patient, Encounter and the clinical and financial resources around them, following the
 * HL7 V2-to-FHIR IG message maps ADT_A01/A02/A05/A06/A09/A11/A17. Segments are walked in message
 * order (which also works for the ADT structures the hl7v2 module does not describe), so each
 * ROL, DG1 or OBX sees the patient, visit or procedure it follows.
 */
export const ADT_MAPPERS: readonly MessageMapper[] = [
  {
    name: 'adt',
    events: EVENTS.map((e) => `ADT^${e}`),
    map(ctx) {
      const event = ctx.message.triggerEvent.toUpperCase();
      if (event === 'A40') mapMerge(ctx);
      else mapAdt(ctx, event);
      for (const r of ctx.readers) {
        const reason = NOT_MAPPED[r.name];
        if (reason !== undefined && !r.touched && r.skippedWhole === undefined && r.handledWhole === undefined) r.skippedWhole = reason;
      }
    },
  },
];

function mapAdt(ctx: MappingContext, event: string): void {
  const personOnly = event === 'A28' || event === 'A31';
  let patient: Reference<Patient> | undefined;
  let encounter: Reference<Encounter> | undefined;
  let procedure: Reference<Procedure> | undefined;
  let area: Area = 'patient';
  const mrgs: SegmentReader[] = [];
  const readers = ctx.readers;
  for (let i = 0; i < readers.length; i++) {
    const r = readers[i] as SegmentReader;
    switch (r.name) {
      case 'EVN':
        mapEvn(ctx, r);
        break;
      case 'PID':
        if (patient !== undefined) {
          r.skippedWhole = 'a second PID in a single-patient ADT event';
          break;
        }
        patient = mapPid(ctx, r);
        area = 'patient';
        break;
      case 'PD1':
        if (patient !== undefined) mapPd1(ctx, r, patient);
        break;
      case 'NK1':
        if (patient !== undefined) mapNk1(ctx, r, patient);
        break;
      case 'MRG':
        mrgs.push(r);
        break;
      case 'PV1':
        area = 'visit';
        if (encounter !== undefined) r.skippedWhole = 'a second PV1 in a single-visit ADT event';
        else if (personOnly && !pv1HasVisit(r)) r.skippedWhole = `${event} carries person information; a PV1 without visit content makes no Encounter`;
        else encounter = mapPv1(ctx, r, encounterOptions(ctx, event, patient));
        break;
      case 'PV2':
        if (encounter !== undefined) mapPv2(ctx, r, encounter);
        else r.skippedWhole = 'no Encounter to extend (no PV1 with visit content)';
        break;
      case 'ROL':
        mapRolIn(ctx, r, area, patient, encounter, procedure);
        break;
      case 'OBX':
        // IG ADT_A01 OBSERVATION: the patient's observation, tied to the visit when there is one.
        mapObx(ctx, r, { ...(patient !== undefined ? { subject: patient } : {}), ...(encounter !== undefined ? { encounter } : {}), notes: notesAfter(readers, i) });
        break;
      case 'AL1':
        if (patient !== undefined) mapAl1(ctx, r, patient, encounter);
        break;
      case 'DG1':
        if (patient !== undefined) mapDg1(ctx, r, { patient, ...(encounter !== undefined ? { encounter } : {}) });
        break;
      case 'PR1':
        area = 'procedure';
        procedure = patient !== undefined ? mapPr1(ctx, r, { patient, ...(encounter !== undefined ? { encounter } : {}) }) : undefined;
        break;
      case 'GT1':
        area = 'other';
        if (patient !== undefined) mapGt1(ctx, r, patient);
        break;
      case 'IN1':
        area = 'insurance';
        if (patient !== undefined) mapIn1(ctx, r, patient);
        break;
      case 'ACC':
      case 'UB1':
      case 'UB2':
      case 'PDA':
      case 'DRG':
        area = 'other';
        break;
      default:
        break;
    }
    if (patient === undefined && NEEDS_PATIENT.has(r.name)) r.skippedWhole = 'no patient (PID) before it';
  }
  // MRG in A06/A07 names the prior visit and account; it precedes PV1, so it is mapped last.
  for (const mrg of mrgs) {
    if (patient !== undefined) mapMrgVisit(ctx, mrg, patient, encounter);
    else mrg.skippedWhole = 'no patient (PID) in the message';
  }
}

/**
 * A40: one PATIENT group (PID, PD1, MRG, PV1) per merge; every group is mapped. The survivor is
 * the PID's patient, the merged-away one MRG-1's.
 */
function mapMerge(ctx: MappingContext): void {
  let group: SegmentReader[] = [];
  const groups: SegmentReader[][] = [];
  for (const r of ctx.readers) {
    if (r.name === 'EVN') mapEvn(ctx, r);
    else if (r.name === 'PID') {
      if (group.length > 0) groups.push(group);
      group = [r];
    } else if (group.length > 0) group.push(r);
  }
  if (group.length > 0) groups.push(group);
  for (const g of groups) {
    const pid = g[0] as SegmentReader;
    const survivor = mapPid(ctx, pid);
    let encounter: Reference<Encounter> | undefined;
    for (const r of g) {
      if (r.name === 'PD1') mapPd1(ctx, r, survivor);
      else if (r.name === 'PV1') {
        if (pv1HasVisit(r)) encounter = mapPv1(ctx, r, { event: 'A40', subject: survivor });
        else r.skippedWhole = 'A40 merges patients; a PV1 without visit content makes no Encounter';
      }
    }
    const mrgs = g.filter((r) => r.name === 'MRG');
    for (const mrg of mrgs) mapMrgMerge(ctx, mrg, survivor, encounter);
    if (mrgs.length === 0) ctx.warn(`PID #${pid.index}: an A40 patient group without MRG; nothing merged`);
  }
}

/** The NTE segments right after the OBX at index i (they annotate its Observation). */
function notesAfter(readers: readonly SegmentReader[], i: number): SegmentReader[] {
  const out: SegmentReader[] = [];
  for (let j = i + 1; j < readers.length && readers[j]?.name === 'NTE'; j++) out.push(readers[j] as SegmentReader);
  return out;
}

function mapRolIn(ctx: MappingContext, r: SegmentReader, area: Area, patient: Reference<Patient> | undefined, encounter: Reference<Encounter> | undefined, procedure: Reference<Procedure> | undefined): void {
  if (area === 'patient' && patient !== undefined) mapRol(ctx, r, { kind: 'patient', patient });
  else if (area === 'visit' && encounter !== undefined) mapRol(ctx, r, { kind: 'encounter', encounter });
  else if (area === 'procedure' && procedure !== undefined) mapRol(ctx, r, { kind: 'procedure', procedure });
  else if (area === 'insurance') r.skippedWhole = 'insurance contact roles (ROL in INSURANCE): the IG ADT maps leave them unmapped';
  else r.skippedWhole = 'no patient, visit or procedure for the role to attach to';
}

/**
 * mapPv1's options for an event: the status it implies, and for A03 without PV1-45 the end of the
 * visit (when the event occurred, EVN-6, else when it was recorded, EVN-2). Set key by key.
 */
function encounterOptions(ctx: MappingContext, event: string, patient: Reference<Patient> | undefined): EncounterOptions {
  const out: { -readonly [K in keyof EncounterOptions]: EncounterOptions[K] } = { event };
  const status = EVENT_STATUS[event];
  if (status !== undefined) out.status = status;
  if (event === 'A03') {
    const ev = eventDetails(ctx);
    const end = ev?.occurred ?? ev?.recorded;
    if (end !== undefined) out.endFallback = end;
  }
  if (patient !== undefined) out.subject = patient;
  return out;
}
