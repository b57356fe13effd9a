import type { Encounter, Identifier, Immunization, ImmunizationEducation, Observation, Patient, Reference } from '@medplum/fhirtypes';
import { childGroups, groups, segmentOf, segmentsOf, type Hl7GroupNode, type Hl7Segment } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { mapGt1 } from '../segments/gt1.ts';
import { mapIn1 } from '../segments/in1.ts';
import { mapNk1 } from '../segments/nk1.ts';
import { mapObx } from '../segments/obx.ts';
import { mapPd1 } from '../segments/pd1.ts';
import { mapPid } from '../segments/pid.ts';
import { mapPv1 } from '../segments/pv1.ts';
import { mapPv2 } from '../segments/pv2.ts';
import { mapRxa, type ImmunizationDraft } from '../segments/rxa.ts';
import { mapRxr } from '../segments/rxr.ts';
import { eiToIdentifier } from '../v2-datatypes.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import type { MessageMapper } from './message-mapper.ts';

const LOINC = 'http://loinc.org';
const V2_0443 = 'http://terminology.hl7.org/CodeSystem/v2-0443';

/**
 * VXU^V04 -> Immunization (HL7 V2-to-FHIR IG message map VXU_V04): one Immunization per ORDER
 * group (ORC[Immunization] + RXA + RXR), its OBX as Observations partOf it (IG: Observation.partOf
 * = Immunization). The observations the US CDC IG defines for the dose (funding source, program
 * eligibility, VIS documents) also fill the matching Immunization elements.
 */
function mapVxu(ctx: MappingContext): void {
  const msg = ctx.message;
  const pidSegment = msg.segment('PID');
  const patient = pidSegment !== undefined ? mapPid(ctx, ctx.reader(pidSegment)) : undefined;
  let encounter: Reference<Encounter> | undefined;
  const orderSegments = new Set<Hl7Segment>();
  const orders = groups(ctx.tree, 'ORDER');
  for (const g of orders) for (const s of flatten(g)) orderSegments.add(s);

  for (const segment of msg.segments) {
    if (orderSegments.has(segment)) continue;
    const r = ctx.reader(segment);
    switch (r.name) {
      case 'PD1':
        if (patient !== undefined) mapPd1(ctx, r, patient);
        break;
      case 'NK1':
        if (patient !== undefined) mapNk1(ctx, r, patient);
        break;
      case 'PV1':
        encounter = mapPv1(ctx, r);
        break;
      case 'PV2':
        if (encounter !== undefined) mapPv2(ctx, r, encounter);
        break;
      case 'GT1':
        if (patient !== undefined) mapGt1(ctx, r, patient);
        break;
      case 'IN1':
        if (patient !== undefined) mapIn1(ctx, r, patient);
        break;
      case 'OBX':
        // Patient-level observations (PERSON_OBSERVATION, v2.7+; or an OBX before the first order).
        patientObservation(ctx, r, patient, encounter);
        break;
      default:
        break;
    }
  }

  const keys = orders.map((g) => orderKey(ctx, g));
  const seen = new Map<string, number>();
  for (const k of keys) if (k !== undefined) seen.set(k, (seen.get(k) ?? 0) + 1);
  orders.forEach((g, i) => mapOrder(ctx, g, i, keys[i] !== undefined && (seen.get(keys[i]) ?? 0) > 1, patient, encounter));
}

function flatten(g: Hl7GroupNode): Hl7Segment[] {
  const out: Hl7Segment[] = [];
  for (const c of g.children) {
    if (c.kind === 'segment') out.push(c.segment);
    else out.push(...flatten(c));
  }
  return out;
}

/** The NTE following an OBX in the same group. */
function notesAfter(ctx: MappingContext, segments: readonly Hl7Segment[], obx: Hl7Segment): SegmentReader[] {
  const out: SegmentReader[] = [];
  for (let i = segments.indexOf(obx) + 1; i < segments.length && segments[i]?.name === 'NTE'; i++) out.push(ctx.reader(segments[i] as Hl7Segment));
  return out;
}

function patientObservation(ctx: MappingContext, obx: SegmentReader, patient: Reference<Patient> | undefined, encounter: Reference<Encounter> | undefined): void {
  const all = ctx.message.segments;
  const notes = notesAfter(ctx, all, obx.segment);
  mapObx(ctx, obx, { ...(patient !== undefined ? { subject: patient } : {}), ...(encounter !== undefined ? { encounter } : {}), ...(notes.length > 0 ? { notes } : {}) });
}

/** The business key of an ORDER group: the filler order number (ORC-3), else the placer's (ORC-2). */
function orderKey(ctx: MappingContext, g: Hl7GroupNode): string | undefined {
  const orc = segmentOf(g, 'ORC');
  if (orc === undefined) return undefined;
  const r = ctx.reader(orc);
  const id = eiToIdentifier(ctx, r.raw(3), r.encoding) ?? eiToIdentifier(ctx, r.raw(2), r.encoding);
  return id === undefined ? undefined : `${id.system ?? ''}|${id.value ?? ''}`;
}

function mapOrder(ctx: MappingContext, g: Hl7GroupNode, index: number, keyRepeats: boolean, patient: Reference<Patient> | undefined, encounter: Reference<Encounter> | undefined): void {
  const orcSegment = segmentOf(g, 'ORC');
  const rxaSegment = segmentOf(g, 'RXA');
  const rxa = rxaSegment !== undefined ? ctx.reader(rxaSegment) : undefined;
  const orc = orcSegment !== undefined ? ctx.reader(orcSegment) : undefined;
  const key = orderKey(ctx, g);
  let id: string;
  if (key === undefined) id = ctx.id('Immunization', ctx.messageKey, String(rxa?.index ?? index));
  else if (keyRepeats) {
    // Several doses under one order number (senders reuse ORC-2/3 for historical doses): the dose's
    // time and vaccine tell them apart.
    ctx.warn('ORC-2/ORC-3: the same order number heads several ORDER groups; Immunization ids add RXA-3 and RXA-5');
    id = ctx.id('Immunization', key, rxa?.segment.rawField(3), rxa?.segment.rawField(5));
  } else id = ctx.id('Immunization', key);
  const imm: ImmunizationDraft = {
    resourceType: 'Immunization',
    id,
    status: 'completed',
    // vaccineCode and occurrence are 1..1: "unknown" until RXA says otherwise.
    vaccineCode: { text: 'unknown' },
    occurrenceString: 'unknown',
    patient: patient ?? { display: 'unknown' },
  };
  if (encounter !== undefined) imm.encounter = encounter;
  if (orc !== undefined) applyOrcImmunization(ctx, orc, imm);
  if (rxa !== undefined) mapRxa(ctx, rxa, imm);
  else ctx.warn(`VXU ORDER group ${g.repetition}: no RXA; the Immunization has only what ORC gives`);
  const rxr = segmentOf(g, 'RXR');
  if (rxr !== undefined) mapRxr(ctx, ctx.reader(rxr), imm);
  for (const timing of childGroups(g, 'TIMING')) for (const s of segmentsOf(timing)) ctx.reader(s).skippedWhole = 'the timing of the order: the administration time is RXA-3 (IG VXU_V04 leaves TQ1/TQ2 unmapped)';
  for (const prt of segmentsOf(g, 'PRT')) ctx.reader(prt).skippedWhole ??= 'PRT in a VXU order is not mapped yet (IG PRT[PractitionerRole] performer)';
  const ref = ctx.add(imm);

  for (const og of childGroups(g, 'OBSERVATION')) {
    const segs = segmentsOf(og);
    for (const obxSegment of segmentsOf(og, 'OBX')) {
      const obx = ctx.reader(obxSegment);
      const notes = notesAfter(ctx, segs, obxSegment);
      const obs = mapObx(ctx, obx, { ...(patient !== undefined ? { subject: patient } : {}), ...(encounter !== undefined ? { encounter } : {}), ...(notes.length > 0 ? { notes } : {}), ...(key !== undefined ? { orderKey: `${key}|${imm.id}` } : {}) });
      const o = ctx.get<Observation & { id: string }>(obs);
      if (o === undefined) continue;
      ctx.add({ resourceType: 'Observation', id: o.id, status: o.status, code: o.code, partOf: [ref] });
      doseObservation(imm, o, obx.text(4));
    }
    for (const prt of segmentsOf(og, 'PRT')) ctx.reader(prt).skippedWhole ??= 'PRT on an immunization observation is not mapped yet';
  }
}

/**
 * ORC[Immunization] (IG segment map): ORC-2/3/4 identifiers, ORC-9 recorded, ORC-12 the ordering
 * provider as performer (function OP). The rest describe the order, not the dose.
 */
function applyOrcImmunization(ctx: MappingContext, orc: SegmentReader, imm: ImmunizationDraft): void {
  const identifiers: Identifier[] = [];
  for (const [n, type] of [[2, 'PLAC'], [3, 'FILL'], [4, 'PGN']] as const) {
    const id = eiToIdentifier(ctx, orc.raw(n, 'Immunization.identifier'), orc.encoding, type);
    if (id !== undefined) identifiers.push(id);
  }
  if (identifiers.length > 0) imm.identifier = identifiers;
  const recorded = ctx.dateTime(orc.read(9, 'TS', 'Immunization.recorded'), 'ORC-9');
  if (recorded !== undefined) imm.recorded = recorded;
  for (const xcn of orc.readAll(12, 'XCN', 'Immunization.performer.actor')) {
    const actor = practitionerFromXcn(ctx, xcn);
    if (actor !== undefined) (imm.performer ??= []).push({ function: { coding: [{ system: V2_0443, code: 'OP', display: 'Ordering Provider' }] }, actor });
  }
  orc.skip(1, 'order control (RE: observations follow) restates the message; no Immunization element');
  for (const n of orc.presentFields()) orc.skip(n, 'describes the order, not the dose: no Immunization element (IG ORC[Immunization] leaves it unmapped)');
}

/**
 * US CDC immunization IG observations that have an Immunization element: funding source
 * (30963-3), program eligibility (64994-7) and the VIS given (69764-9 document type, 30956-7
 * vaccine type, 29768-9 publication date, 29769-7 presentation date), grouped by OBX-4.
 */
function doseObservation(imm: ImmunizationDraft, obs: Observation, subId: string | undefined): void {
  const code = obs.code.coding?.find((c) => c.system === LOINC)?.code;
  if (code === undefined) return;
  if (code === '30963-3' && obs.valueCodeableConcept !== undefined) imm.fundingSource = obs.valueCodeableConcept;
  else if (code === '64994-7' && obs.valueCodeableConcept !== undefined) (imm.programEligibility ??= []).push(obs.valueCodeableConcept);
  else if (['69764-9', '30956-7', '29768-9', '29769-7'].includes(code)) {
    const education = educationFor(imm, subId);
    const text = obs.valueCodeableConcept?.text ?? obs.valueCodeableConcept?.coding?.[0]?.display ?? obs.valueCodeableConcept?.coding?.[0]?.code ?? obs.valueString;
    const date = obs.valueDateTime;
    if (code === '69764-9' && text !== undefined) education.documentType = text;
    else if (code === '30956-7' && text !== undefined) education.documentType ??= text;
    else if (code === '29768-9' && date !== undefined) education.publicationDate = date;
    else if (code === '29769-7' && date !== undefined) education.presentationDate = date;
  }
}

/** The education entry of one OBX-4 group (kept on the draft by sub-id while it is built). */
function educationFor(imm: ImmunizationDraft, subId: string | undefined): ImmunizationEducation {
  const key = subId ?? '';
  const bySub = educationIndex.get(imm) ?? new Map<string, ImmunizationEducation>();
  educationIndex.set(imm, bySub);
  let e = bySub.get(key);
  if (e === undefined) {
    e = {};
    bySub.set(key, e);
    (imm.education ??= []).push(e);
  }
  return e;
}
const educationIndex = new WeakMap<Immunization, Map<string, ImmunizationEducation>>();

/** imm-1: an education entry needs a document type or a reference; entries with dates only are dropped. */
function finishEducation(imm: ImmunizationDraft): void {
  if (imm.education === undefined) return;
  imm.education = imm.education.filter((e) => e.documentType !== undefined || e.reference !== undefined);
  if (imm.education.length === 0) delete imm.education;
}

export const IMMUNIZATION_MAPPERS: readonly MessageMapper[] = [
  {
    name: 'immunization',
    events: ['VXU^V04'],
    map(ctx) {
      mapVxu(ctx);
      for (const r of ctx.resources()) if (r.resourceType === 'Immunization') finishEducation(r as ImmunizationDraft);
    },
  },
];
