import type { CodeableConcept, DiagnosticReport, Encounter, Observation, Patient, Practitioner, Reference, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { childGroups, type Hl7GroupNode, type Hl7Segment } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { mapAl1 } from '../segments/al1.ts';
import { mapDg1 } from '../segments/dg1.ts';
import { mapGt1 } from '../segments/gt1.ts';
import { mapIn1 } from '../segments/in1.ts';
import { mapNk1 } from '../segments/nk1.ts';
import { notesFrom } from '../segments/nte.ts';
import { applyObr, mapObrReport } from '../segments/obr.ts';
import { mapObx } from '../segments/obx.ts';
import { applyOrc, orderIdentity } from '../segments/orc.ts';
import { mapPd1 } from '../segments/pd1.ts';
import { mapPid } from '../segments/pid.ts';
import { mapPrt, type Participant } from '../segments/prt.ts';
import { mapPv1 } from '../segments/pv1.ts';
import { mapPv2 } from '../segments/pv2.ts';
import { mapSpm, specimenFromObr } from '../segments/spm.ts';
import { applyTq1 } from '../segments/tq1.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import type { MessageMapper } from './message-mapper.ts';

/**
 * ORU^R01, ORM^O01 and OML^O21 -> FHIR (HL7 V2-to-FHIR IG message maps ORU_R01, ORM_O01, OML_O21).
 *
 * The walk follows the message's group tree (HL7 v2.5.1 ch.2 2.12), so several PATIENT_RESULT,
 * ORDER_OBSERVATION and ORDER groups each get their own Patient / ServiceRequest / DiagnosticReport,
 * and every OBX lands on the order (and specimen) of the group it sits in. Segments the grouper could
 * not place are kept inside the group of the segment before them; the walk maps those too, and a
 * final sweep maps any OBX the walk did not reach, so no result is dropped because of grouping.
 */

/** One OBX with the NTE and PRT that follow it. */
interface ObservationParts {
  readonly obx: Hl7Segment;
  readonly notes: Hl7Segment[];
  readonly prts: Hl7Segment[];
}

interface SpecimenParts {
  readonly spm: Hl7Segment;
  readonly observations: ObservationParts[];
}

/** One order: the ORC (if any), its OBR (if any) and everything grouped with them. */
interface OrderParts {
  readonly orc: Hl7Segment | undefined;
  readonly obr: Hl7Segment | undefined;
  readonly tq1s: Hl7Segment[];
  readonly notes: Hl7Segment[];
  readonly prts: Hl7Segment[];
  readonly dg1s: Hl7Segment[];
  readonly observations: ObservationParts[];
  readonly specimens: SpecimenParts[];
  /** Orders of earlier results (OML PRIOR_RESULT), each mapped as a reported order. */
  readonly prior: OrderParts[];
  /** A further OBR in the same group (a malformed message): an order of its own, sharing the ORC. */
  readonly siblings: OrderParts[];
  /** A PV1 the grouper left inside the order (out of order). */
  readonly visits: Hl7Segment[];
  /** Segments with no FHIR home here, with the reason the report shows. */
  readonly skipped: Array<[Hl7Segment, string]>;
}

type MessageKind = 'result' | 'order';

interface PatientScope {
  readonly subject: Reference<Patient> | undefined;
  readonly encounter: Reference<Encounter> | undefined;
}

/** Segments with no FHIR home in these messages, and why (shown in the report). */
const SKIP_REASON: Readonly<Record<string, string>> = {
  FT1: 'financial transactions belong to billing (ChargeItem), outside the lab mapping',
  CTI: 'clinical trial identification has no home in the lab resources',
  CTD: 'contact data duplicates the Practitioner/Organization contact details',
  BLG: 'billing belongs to Account/ChargeItem, outside the lab mapping',
  TCD: 'test code details (auto-dilution, repeat) are lab instrument instructions',
  SAC: 'container details (SAC) are lab logistics; the Specimen carries the container type from SPM-27',
  TQ2: 'timing sequences between orders have no ServiceRequest element',
  SGH: 'segment group header carries no data',
  SGT: 'segment group trailer carries no data',
  ARV: 'access restrictions are applied by the receiving system, not mapped to a resource',
  DSC: 'continuation pointer belongs to the transport',
  SFT: 'software segment describes the sender; the Provenance names the source',
  UAC: 'user authentication credentials are never stored',
};

const LAB_SECTIONS = new Set(['LAB', 'CH', 'HM', 'MB', 'MCB', 'MYC', 'SR', 'IMM', 'BLB', 'BG', 'CG', 'GE', 'TX', 'VR', 'SP', 'CP', 'OSL', 'PAT', 'HLA', 'URN']);
const IMAGING_SECTIONS = new Set(['RAD', 'RX', 'CT', 'NMR', 'NMS', 'RUS', 'OUS', 'CUS', 'VUS', 'XRC', 'MR', 'US']);
const OBS_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

export const LAB_MAPPERS: readonly MessageMapper[] = [
  { name: 'lab-result', events: ['ORU^R01'], map: (ctx) => mapMessage(ctx, 'result') },
  { name: 'lab-order', events: ['ORM^O01', 'OML^O21'], map: (ctx) => mapMessage(ctx, 'order') },
];

function mapMessage(ctx: MappingContext, kind: MessageKind): void {
  const root = ctx.tree.root;
  const headerNotes: Hl7Segment[] = [];
  const requests: Array<Reference<ServiceRequest>> = [];
  let scope: PatientScope = { subject: undefined, encounter: undefined };
  // Root-level children: header NTE (order messages), PATIENT_RESULT / PATIENT / ORDER groups, and
  // any segment the grouper could not place.
  for (const child of root.children) {
    if (child.kind === 'segment') {
      const r = ctx.reader(child.segment);
      if (child.name === 'MSH') continue;
      if (child.name === 'NTE') headerNotes.push(child.segment);
      else if (child.name === 'OBX') continue; // swept at the end with the message's patient
      else skipSegment(r, child.name);
      continue;
    }
    if (child.name === 'PATIENT_RESULT') {
      const patientGroup = childGroups(child, 'PATIENT')[0];
      const groupScope = patientGroup !== undefined ? mapPatientGroup(ctx, patientGroup) : { subject: ctx.patient, encounter: ctx.encounter };
      scope = groupScope;
      for (const c of child.children) {
        if (c.kind === 'group' && c.name === 'ORDER_OBSERVATION') requests.push(...mapOrder(ctx, collectOrder(c), groupScope, 'result').requests);
        else if (c.kind === 'segment' && c.name !== 'OBX') skipSegment(ctx.reader(c.segment), c.name);
      }
    } else if (child.name === 'PATIENT') {
      scope = mapPatientGroup(ctx, child);
    } else if (child.name === 'ORDER') {
      requests.push(...mapOrder(ctx, collectOrder(child), scope.subject !== undefined ? scope : { subject: ctx.patient, encounter: ctx.encounter }, kind).requests);
    } else {
      for (const s of flatten(child)) skipSegment(ctx.reader(s), s.name);
    }
  }
  // Header notes (ORM/OML "notes and comments for header") apply to every order of the message.
  if (headerNotes.length > 0) {
    const notes = notesFrom(ctx, headerNotes.map((s) => ctx.reader(s)), 'ServiceRequest.note');
    for (const ref of requests) {
      const sr = ctx.get<ServiceRequest & { id: string }>(ref);
      if (sr !== undefined && notes.length > 0) sr.note = [...(sr.note ?? []), ...notes];
    }
    if (requests.length === 0) for (const s of headerNotes) ctx.reader(s).skippedWhole ??= 'header notes with no order in the message to carry them';
  }
  sweepObx(ctx, { subject: scope.subject ?? ctx.patient, encounter: scope.encounter ?? ctx.encounter });
}

// ---- patient ---------------------------------------------------------------------------------------

/** PATIENT (PID, PD1, NK1, NTE, PATIENT_OBSERVATION, VISIT / PATIENT_VISIT, INSURANCE, GT1, AL1). */
function mapPatientGroup(ctx: MappingContext, group: Hl7GroupNode): PatientScope {
  let subject: Reference<Patient> | undefined;
  let encounter: Reference<Encounter> | undefined;
  const pending: Array<() => void> = [];
  for (const s of flatten(group)) {
    const r = ctx.reader(s);
    switch (s.name) {
      case 'PID':
        if (subject === undefined) subject = mapPid(ctx, r);
        else skipSegment(r, 'PID', 'a second PID in one patient group');
        break;
      case 'PV1':
        if (encounter === undefined) encounter = mapPv1(ctx, r, subject !== undefined ? { subject } : {});
        else skipSegment(r, 'PV1', 'a second PV1 in one patient group');
        break;
      default:
        pending.push(() => mapPatientSegment(ctx, r, s, subject, encounter));
    }
  }
  for (const f of pending) f();
  return { subject, encounter };
}

function mapPatientSegment(ctx: MappingContext, r: SegmentReader, s: Hl7Segment, subject: Reference<Patient> | undefined, encounter: Reference<Encounter> | undefined): void {
  if (subject === undefined && ['PD1', 'NK1', 'IN1', 'GT1', 'AL1', 'OBX'].includes(s.name)) {
    r.skippedWhole = 'no PID in the patient group to attach it to';
    return;
  }
  switch (s.name) {
    case 'PD1':
      mapPd1(ctx, r, subject as Reference<Patient>);
      return;
    case 'NK1':
      mapNk1(ctx, r, subject as Reference<Patient>);
      return;
    case 'PV2':
      if (encounter !== undefined) mapPv2(ctx, r, encounter);
      else r.skippedWhole = 'PV2 without a PV1';
      return;
    case 'IN1':
      mapIn1(ctx, r, subject as Reference<Patient>);
      return;
    case 'GT1':
      mapGt1(ctx, r, subject as Reference<Patient>);
      return;
    case 'AL1':
      mapAl1(ctx, r, subject as Reference<Patient>, encounter);
      return;
    case 'OBX':
      // PATIENT_OBSERVATION (v2.7+): an observation about the patient, not a result of an order.
      mapObx(ctx, r, { subject: subject as Reference<Patient>, ...(encounter !== undefined ? { encounter } : {}) });
      return;
    case 'NTE':
      // IG ORU_R01 / OML_O21: patient notes have no mapping (Patient has no note element).
      r.skippedWhole = 'patient notes have no Patient element (IG: not mapped)';
      return;
    case 'PRT': {
      // IG ORU_R01 / OML_O21 PATIENT.PRT: PP (primary care provider) -> Patient.generalPractitioner.
      const p = mapPrt(ctx, r);
      if (p === undefined) return;
      const patient = ctx.get<Patient & { id: string }>(subject);
      if (p.role?.toUpperCase() === 'PP' && patient !== undefined && !p.actor.reference?.startsWith('Device/')) {
        patient.generalPractitioner = [...(patient.generalPractitioner ?? []), p.actor as NonNullable<Patient['generalPractitioner']>[number]];
      } else ctx.warn(`PRT: a patient-level participant other than PP (segment ${r.index}) is mapped as a PractitionerRole only`);
      return;
    }
    default:
      skipSegment(r, s.name);
  }
}

// ---- grouping --------------------------------------------------------------------------------------

/** Every segment under a group, in message order. */
function flatten(group: Hl7GroupNode): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  for (const c of group.children) {
    if (c.kind === 'segment') out.push(c.segment);
    else out.push(...flatten(c));
  }
  return out;
}

/**
 * Collects one order group of any of the three structures: ORU ORDER_OBSERVATION (ORC, OBR, NTE,
 * PRT, TIMING_QTY, OBSERVATION, SPECIMEN...), ORM ORDER (ORC, TIMING, ORDER_DETAIL with OBR, NTE,
 * DG1, OBSERVATION), OML ORDER (ORC, PRT, TIMING, OBSERVATION_REQUEST with OBR, NTE, PRT, DG1,
 * OBSERVATION, SPECIMEN, PRIOR_RESULT). Walking in message order, an NTE or PRT belongs to the
 * OBX before it when it follows one inside an observation group, else to the order.
 */
function collectOrder(group: Hl7GroupNode): OrderParts {
  const empty = (orc: Hl7Segment | undefined, obr: Hl7Segment | undefined): OrderParts => ({ orc, obr, tq1s: [], notes: [], prts: [], dg1s: [], observations: [], specimens: [], prior: [], siblings: [], visits: [], skipped: [] });
  const first = empty(undefined, undefined);
  let parts = first;
  const mutable = first as { orc: Hl7Segment | undefined; obr: Hl7Segment | undefined };
  const walk = (g: Hl7GroupNode): void => {
    let lastObs: ObservationParts | undefined;
    for (const c of g.children) {
      if (c.kind === 'group') {
        lastObs = undefined;
        if (c.name === 'SPECIMEN') {
          const sp = collectSpecimen(c, parts);
          if (sp !== undefined) parts.specimens.push(sp);
        }
        else if (c.name === 'PRIOR_RESULT') collectPrior(c, parts);
        else walk(c);
        continue;
      }
      const s = c.segment;
      switch (s.name) {
        case 'ORC':
          if (mutable.orc === undefined) mutable.orc = s;
          else parts.skipped.push([s, 'a second ORC in one order group']);
          break;
        case 'OBR':
          if (mutable.obr === undefined) mutable.obr = s;
          else {
            // A second OBR in one group: what follows it belongs to it, as its own order.
            parts = empty(first.orc, s);
            first.siblings.push(parts);
            lastObs = undefined;
          }
          break;
        case 'PV1':
          first.visits.push(s);
          break;
        case 'RQD':
        case 'RQ1':
        case 'RXO':
        case 'ODS':
        case 'ODT':
          parts.skipped.push([s, `${s.name} orders (supplies, pharmacy, diet) are outside the lab mapping`]);
          break;
        case 'TQ1':
          parts.tq1s.push(s);
          break;
        case 'DG1':
          parts.dg1s.push(s);
          break;
        case 'OBX':
          lastObs = { obx: s, notes: [], prts: [] };
          parts.observations.push(lastObs);
          break;
        case 'NTE':
          if (lastObs !== undefined) lastObs.notes.push(s);
          else parts.notes.push(s);
          break;
        case 'PRT':
          if (lastObs !== undefined) lastObs.prts.push(s);
          else parts.prts.push(s);
          break;
        case 'SPM':
          // An SPM the grouper left outside a SPECIMEN group still describes this order's specimen.
          parts.specimens.push({ spm: s, observations: [] });
          break;
        default:
          parts.skipped.push([s, SKIP_REASON[s.name] ?? `no mapping for ${s.name} in a lab order`]);
      }
    }
  };
  walk(group);
  return first;
}

/** SPECIMEN: SPM, OBX (before v2.7) or SPECIMEN_OBSERVATION groups, CONTAINER groups (SAC + OBX). */
function collectSpecimen(group: Hl7GroupNode, order: OrderParts): SpecimenParts | undefined {
  let spm: Hl7Segment | undefined;
  const observations: ObservationParts[] = [];
  const walk = (g: Hl7GroupNode): void => {
    let last: ObservationParts | undefined;
    for (const c of g.children) {
      if (c.kind === 'group') {
        last = undefined;
        walk(c);
        continue;
      }
      const s = c.segment;
      if (s.name === 'SPM' && spm === undefined) spm = s;
      else if (s.name === 'OBX') {
        last = { obx: s, notes: [], prts: [] };
        observations.push(last);
      } else if ((s.name === 'NTE' || s.name === 'PRT') && last !== undefined) (s.name === 'NTE' ? last.notes : last.prts).push(s);
      else order.skipped.push([s, SKIP_REASON[s.name] ?? `no mapping for ${s.name} in a specimen group`]);
    }
  };
  walk(group);
  if (spm === undefined) {
    // A group the grouper entered past its SPM (a malformed message): its OBX are the order's.
    order.observations.push(...observations);
    return undefined;
  }
  return { spm, observations };
}

/** OML PRIOR_RESULT: PATIENT_PRIOR / PATIENT_VISIT_PRIOR / AL1 are the same patient's; each ORDER_PRIOR is an earlier reported order. */
function collectPrior(group: Hl7GroupNode, order: OrderParts): void {
  for (const c of group.children) {
    if (c.kind === 'group' && c.name === 'ORDER_PRIOR') order.prior.push(collectOrder(c));
    else if (c.kind === 'group') for (const s of flatten(c)) order.skipped.push([s, 'patient data of a prior result repeats the message patient; mapped from the PATIENT group']);
    else order.skipped.push([c.segment, 'patient data of a prior result repeats the message patient; mapped from the PATIENT group']);
  }
}

// ---- orders ----------------------------------------------------------------------------------------

/**
 * Maps one order: ServiceRequest (ORC + OBR + TQ1 + NTE + PRT), Specimens (SPM or OBR-15), an
 * Observation per OBX, and for results (ORU, OML prior results) a DiagnosticReport whose result
 * lists that group's Observations. In order messages the OBX are supporting information of the
 * request (IG OML_O21 / ORM_O01: ServiceRequest.supportingInfo). Returns the requests and reports made.
 */
function mapOrder(ctx: MappingContext, parts: OrderParts, outerScope: PatientScope, kind: MessageKind, sibling = false): { requests: Array<Reference<ServiceRequest>>; reports: Array<Reference<DiagnosticReport>> } {
  for (const [s, reason] of parts.skipped) skipSegment(ctx.reader(s), s.name, reason);
  let scope = outerScope;
  for (const s of parts.visits) {
    const r = ctx.reader(s);
    if (scope.encounter === undefined) scope = { ...scope, encounter: mapPv1(ctx, r, scope.subject !== undefined ? { subject: scope.subject } : {}) };
    else skipSegment(r, 'PV1', 'a PV1 out of place when the message already has a visit');
  }
  const orc = parts.orc !== undefined ? ctx.reader(parts.orc) : undefined;
  const obr = parts.obr !== undefined ? ctx.reader(parts.obr) : undefined;
  const shared = orderIdentity(ctx, orc, obr);
  // Several ORDER_OBSERVATION groups may carry one order number with different services (panels
  // of one requisition): the service code (OBR-4.1) is part of the identity, as in ELR practice, so
  // their reports and results stay apart instead of merging into one. A sibling OBR sharing its
  // ORC's numbers is kept apart by its position as well.
  const service = obr?.segment.rawAt(4, 1, 1);
  const suffix = (service !== undefined && service !== '' ? `#${service}` : '') + (sibling && obr !== undefined ? `#OBR${obr.index}` : '');
  const identity = suffix === '' ? shared : { ...shared, ...(shared.requestKey !== undefined ? { requestKey: shared.requestKey + suffix } : {}), ...(shared.resultKey !== undefined ? { resultKey: shared.resultKey + suffix } : {}) };
  const anchor = obr ?? orc;
  const sr: ServiceRequest & { id: string } = {
    resourceType: 'ServiceRequest',
    id: identity.requestKey !== undefined ? ctx.id('ServiceRequest', identity.requestKey) : ctx.id('ServiceRequest', ctx.messageKey, String(anchor?.index ?? 0)),
    status: 'unknown',
    intent: 'order',
    // ServiceRequest.subject is 1..1 (FHIR R4); an order without a PID gets a logical placeholder.
    subject: scope.subject ?? { display: 'unknown patient (no PID in the message)' },
  };
  if (scope.subject === undefined) ctx.warn('lab order without a PID: ServiceRequest.subject names no Patient');
  if (identity.identifiers.length > 0) sr.identifier = identity.identifiers;
  if (identity.group !== undefined) sr.requisition = identity.group;
  if (scope.encounter !== undefined) sr.encounter = scope.encounter;
  // TQ1 first: ORC-7 and OBR-27 (older TQ) only fill what TQ1 left empty.
  applyTq1(ctx, parts.tq1s.map((s) => ctx.reader(s)), sr);
  const statusSet = orc !== undefined ? applyOrc(ctx, orc, sr) : false;
  if (obr !== undefined) applyObr(ctx, obr, sr, { statusSet });
  if (sr.code === undefined) {
    // ServiceRequest.code is 0..1 but an order without one is not actionable; say so.
    ctx.warn(`order without OBR-4: ServiceRequest.code is empty (segment ${anchor?.index ?? 0})`);
  }
  const section = obr?.segment.rawField(24)?.split(obr.encoding.component)[0]?.toUpperCase();
  const category = categoryOf(section);
  if (category !== undefined) sr.category = [category];
  const requestRef = ctx.add(sr);

  // Order notes (NTE after OBR/ORC): IG NTE[ServiceRequest].
  const notes = notesFrom(ctx, parts.notes.map((s) => ctx.reader(s)), 'ServiceRequest.note');
  if (notes.length > 0) sr.note = [...(sr.note ?? []), ...notes];

  // Participants (IG ORU_R01 / OML_O21 PRT rows): OP requester, SC specimen collector, PRI results
  // interpreter, ARI/TN/TR report performers; others perform the request.
  const participants = parts.prts.map((s) => ({ reader: ctx.reader(s), p: undefined as Participant | undefined })).map((x) => ({ ...x, p: mapPrt(ctx, x.reader) }));
  const collectors: Participant[] = [];
  const interpreters: Participant[] = [];
  const reportPerformers: Participant[] = [];
  for (const { reader, p } of participants) {
    if (p === undefined) continue;
    const role = p.role?.toUpperCase();
    if (role === 'OP' || role === 'ORD') sr.requester ??= p.actor as NonNullable<ServiceRequest['requester']>;
    else if (role === 'SC') collectors.push(p);
    else if (role === 'PRI') interpreters.push(p);
    else if (role === 'RCT') reader.skip(4, 'results copies to has no FHIR R4 element');
    else if (kind === 'result' || parts.prior.length > 0) reportPerformers.push(p);
    else sr.performer = [...(sr.performer ?? []), p.actor as NonNullable<ServiceRequest['performer']>[number]];
  }

  // Diagnoses on the order (OML/ORM DG1): Conditions the request is for.
  for (const s of parts.dg1s) {
    const r = ctx.reader(s);
    if (scope.subject === undefined) {
      r.skippedWhole = 'no PID to attach the diagnosis to';
      continue;
    }
    const cond = mapDg1(ctx, r, { patient: scope.subject, ...(scope.encounter !== undefined ? { encounter: scope.encounter } : {}) });
    if (cond !== undefined) sr.reasonReference = [...(sr.reasonReference ?? []), cond];
  }

  // Specimens: SPM groups, else OBR-15 (older messages).
  const specimenRefs: Array<Reference<Specimen>> = [];
  const specimenObservations: Array<Reference<Observation>> = [];
  const base = { ...(scope.subject !== undefined ? { subject: scope.subject } : {}), ...(scope.encounter !== undefined ? { encounter: scope.encounter } : {}), basedOn: [requestRef] };
  const resultKey = identity.resultKey;
  const obsCategory = kind === 'result' || parts.prior.length > 0 ? categoryOf(section) : undefined;
  for (const sp of parts.specimens) {
    const ref = mapSpm(ctx, ctx.reader(sp.spm), { ...(scope.subject !== undefined ? { subject: scope.subject } : {}), request: requestRef });
    specimenRefs.push(ref);
    for (const o of sp.observations) {
      const obs = mapObservation(ctx, o, { ...base, specimen: ref, ...(resultKey !== undefined ? { orderKey: resultKey } : {}), ...(obsCategory !== undefined ? { category: obsCategory } : {}) });
      if (obs !== undefined) specimenObservations.push(obs);
    }
  }
  if (specimenRefs.length === 0 && obr !== undefined) {
    const fromObr = specimenFromObr(ctx, obr, { ...(scope.subject !== undefined ? { subject: scope.subject } : {}), request: requestRef, ...(resultKey !== undefined ? { key: resultKey } : {}) });
    if (fromObr !== undefined) specimenRefs.push(fromObr);
  } else if (obr !== undefined) {
    // With SPM, OBR's specimen fields are the older copy of the same facts: the collector is kept
    // where the SPM says nothing of it, the rest is reported as described by SPM.
    const collector = practitionerFromXcn(ctx, obr.read(10, 'XCN', 'Specimen.collection.collector'));
    for (const ref of collector !== undefined ? specimenRefs : []) {
      const sp = ctx.get<Specimen & { id: string }>(ref);
      if (sp !== undefined && sp.collection?.collector === undefined) sp.collection = { ...(sp.collection ?? {}), collector: collector as Reference<Practitioner> };
    }
    for (const n of [9, 14, 15]) obr.skip(n, 'the SPM segments of the order describe the specimen');
  }
  if (specimenRefs.length > 0) sr.specimen = specimenRefs;
  for (const c of collectors) {
    for (const ref of specimenRefs) {
      const sp = ctx.get<Specimen & { id: string }>(ref);
      if (sp !== undefined) sp.collection = { ...(sp.collection ?? {}), collector: c.actor as NonNullable<NonNullable<Specimen['collection']>['collector']> };
    }
    if (specimenRefs.length === 0) ctx.warn('PRT specimen collector without a specimen in the order; not mapped');
  }

  // Observations of the order. With one specimen, it is the specimen of every result.
  const onlySpecimen = specimenRefs.length === 1 ? specimenRefs[0] : undefined;
  const results: Array<Reference<Observation>> = [];
  const obsOptions = { ...base, ...(onlySpecimen !== undefined ? { specimen: onlySpecimen } : {}), ...(resultKey !== undefined ? { orderKey: resultKey } : {}), ...(obsCategory !== undefined ? { category: obsCategory } : {}) };
  for (const o of parts.observations) {
    const obs = mapObservation(ctx, o, obsOptions);
    if (obs !== undefined) results.push(obs);
  }

  const reports: Array<Reference<DiagnosticReport>> = [];
  if (kind === 'result') {
    if (obr === undefined) ctx.warn(`ORDER_OBSERVATION without OBR: its DiagnosticReport has no code (segment ${anchor?.index ?? 0})`);
    const reportRef = mapObrReport(ctx, obr, {
      anchorIndex: anchor?.index ?? ctx.reader(parts.observations[0]?.obx ?? ctx.message.header).index,
      identity,
      ...(scope.subject !== undefined ? { subject: scope.subject } : {}),
      ...(scope.encounter !== undefined ? { encounter: scope.encounter } : {}),
      basedOn: requestRef,
      results: [...results, ...specimenObservations],
      specimens: specimenRefs,
      ...(category !== undefined ? { category } : {}),
    });
    reports.push(reportRef);
    addParticipants(ctx, interpreters, reportPerformers, ctx.get<DiagnosticReport & { id: string }>(reportRef));
  } else {
    if (obr !== undefined) skipResultFields(obr);
    // Order messages: OBX give the request's supporting information (IG OML_O21 / ORM_O01).
    const supporting = [...results, ...specimenObservations];
    if (supporting.length > 0) sr.supportingInfo = [...(sr.supportingInfo ?? []), ...supporting];
    for (const p of [...interpreters, ...reportPerformers]) sr.performer = [...(sr.performer ?? []), p.actor as NonNullable<ServiceRequest['performer']>[number]];
  }
  // OML prior results: earlier reported orders, the current request's supporting information.
  const requests: Array<Reference<ServiceRequest>> = [requestRef];
  for (const sib of parts.siblings) {
    ctx.warn(`several OBR in one order group: OBR (segment ${sib.obr !== undefined ? ctx.reader(sib.obr).index : 0}) mapped as an order of its own`);
    const more = mapOrder(ctx, sib, scope, kind, true);
    requests.push(...more.requests);
    reports.push(...more.reports);
  }
  for (const prior of parts.prior) {
    const earlier = mapOrder(ctx, prior, scope, 'result');
    sr.supportingInfo = [...(sr.supportingInfo ?? []), ...(earlier.reports.length > 0 ? earlier.reports : earlier.requests)];
  }
  return { requests, reports };
}

/** PRT participants of a result order onto its DiagnosticReport (PRI: resultsInterpreter; others: performer). */
function addParticipants(ctx: MappingContext, interpreters: Participant[], performers: Participant[], target: (DiagnosticReport & { id: string }) | undefined): void {
  if (target === undefined) {
    if (interpreters.length + performers.length > 0) ctx.warn('PRT: no DiagnosticReport for the participants of an order');
    return;
  }
  for (const p of interpreters) target.resultsInterpreter = [...(target.resultsInterpreter ?? []), p.actor as NonNullable<DiagnosticReport['resultsInterpreter']>[number]];
  for (const p of performers) target.performer = [...(target.performer ?? []), p.actor as NonNullable<DiagnosticReport['performer']>[number]];
}

/** OBR result fields have no home in an order message (no DiagnosticReport is made there). */
function skipResultFields(obr: SegmentReader): void {
  obr.skip(7, 'observation date/time belongs to a result (no DiagnosticReport in an order message)');
  obr.skip(8, 'observation end date/time belongs to a result');
  obr.skip(22, 'results report time belongs to a result');
  obr.skip(24, 'diagnostic service section is mapped to ServiceRequest.category');
  obr.skip(25, 'result status belongs to a result');
  for (const n of [32, 33, 34, 35]) obr.skip(n, 'result interpreters and technicians belong to a result');
  obr.skip(26, 'parent result belongs to a result');
}

/** One OBX with its NTE (Observation.note) and PRT (performer, device). */
const NO_NOTES: readonly SegmentReader[] = [];

function mapObservation(ctx: MappingContext, o: ObservationParts, options: Parameters<typeof mapObx>[2]): Reference<Observation> | undefined {
  // The notes are passed on their own: the options are shared by every OBX of the order, and a
  // copy of them per OBX only to add the notes was measurable work.
  const ref = mapObx(ctx, ctx.reader(o.obx), options, o.notes.length === 0 ? NO_NOTES : o.notes.map((s) => ctx.reader(s)));
  const obs = ctx.get<Observation & { id: string }>(ref);
  for (const s of o.prts) {
    const p = mapPrt(ctx, ctx.reader(s));
    if (p === undefined || obs === undefined) continue;
    if (p.actor.reference?.startsWith('Device/') === true) obs.device ??= p.actor as NonNullable<Observation['device']>;
    else obs.performer = [...(obs.performer ?? []), p.actor as NonNullable<Observation['performer']>[number]];
    if (p.device !== undefined) obs.device ??= p.device;
  }
  return ref;
}

/** OBR-24 diagnostic service section -> observation-category (laboratory / imaging), the US Core category. */
function categoryOf(section: string | undefined): CodeableConcept | undefined {
  if (section === undefined || section === '') return undefined;
  if (LAB_SECTIONS.has(section)) return { coding: [{ system: OBS_CATEGORY, code: 'laboratory', display: 'Laboratory' }] };
  if (IMAGING_SECTIONS.has(section)) return { coding: [{ system: OBS_CATEGORY, code: 'imaging', display: 'Imaging' }] };
  return undefined;
}

// ---- leftovers -------------------------------------------------------------------------------------

function skipSegment(r: SegmentReader, name: string, reason?: string): void {
  if (r.touched || r.handledWhole !== undefined) return;
  if (name.startsWith('Z')) return; // tenant Z-segment rules run after the mapper
  r.skippedWhole ??= reason ?? SKIP_REASON[name] ?? `${name} has no mapping in a lab message`;
}

/**
 * Any OBX the walk did not reach (placed by the grouper where no order takes it) still becomes an
 * Observation of the message's patient, with a warning: nothing is dropped because of grouping.
 */
function sweepObx(ctx: MappingContext, scope: PatientScope): void {
  for (const r of ctx.readers) {
    if (r.name !== 'OBX' || r.touched || r.skippedWhole !== undefined) continue;
    ctx.warn(`OBX (segment ${r.index}) sits outside any order group; mapped as an Observation of the patient`);
    mapObx(ctx, r, { ...(scope.subject !== undefined ? { subject: scope.subject } : {}), ...(scope.encounter !== undefined ? { encounter: scope.encounter } : {}) });
  }
}
