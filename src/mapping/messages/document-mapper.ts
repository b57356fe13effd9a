import type { Encounter, Patient, Reference, ServiceRequest } from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { mapEvn } from '../segments/evn.ts';
import { notesFrom } from '../segments/nte.ts';
import { applyObr } from '../segments/obr.ts';
import { applyOrc, orderIdentity } from '../segments/orc.ts';
import { applyTq1 } from '../segments/tq1.ts';
import { mapObx } from '../segments/obx.ts';
import { mapPid } from '../segments/pid.ts';
import { mapPv1 } from '../segments/pv1.ts';
import { documentContent, mapTxa } from '../segments/txa.ts';
import type { MessageMapper } from './message-mapper.ts';

/** MDM events: T01..T11 (odd ones notify without content, even ones carry it; HL7 v2.5.1 ch.9 9.5). */
const EVENTS = ['T01', 'T02', 'T03', 'T04', 'T05', 'T06', 'T07', 'T08', 'T09', 'T10', 'T11'];

/**
 * MDM -> DocumentReference (HL7 V2-to-FHIR IG message map MDM_T02): EVN, PID, PV1, the TXA and the
 * OBX lines after it as the document content. OBX of non-text value types become Observations
 * the document relates to. Each COMMON_ORDER group (ORC, TQ1, OBR, NTE) becomes the ServiceRequest
 * the document answers (IG MDM_T02: ORC/OBR -> ServiceRequest), with the identity the lab mappers
 * give an order, so an ORM and an MDM about one order name one ServiceRequest; the document lists
 * it in context.related.
 */
function mapMdm(ctx: MappingContext): void {
  const event = ctx.message.triggerEvent ?? '';
  const txaSegment = ctx.message.segment('TXA');
  if (txaSegment === undefined) throw new SwitchboardError('SWB_ERR_MAP_FIELD_FAILED', { field: 'TXA', reason: 'an MDM message needs a TXA segment' });
  const evn = ctx.message.segment('EVN');
  if (evn !== undefined) mapEvn(ctx, ctx.reader(evn));
  const pid = ctx.message.segment('PID');
  const patient = pid !== undefined ? mapPid(ctx, ctx.reader(pid)) : undefined;
  const pv1 = ctx.message.segment('PV1');
  const encounter = pv1 !== undefined ? mapPv1(ctx, ctx.reader(pv1)) : undefined;

  // The document's lines: every OBX (and NTE on it) after the TXA, in message order; before the
  // TXA, the order groups.
  const after: SegmentReader[] = [];
  const orders: OrderGroup[] = [];
  let seenTxa = false;
  for (const segment of ctx.message.segments) {
    if (segment === txaSegment) seenTxa = true;
    else if (!seenTxa && segment.name === 'ORC') orders.push({ orc: ctx.reader(segment), tq1s: [], notes: [] });
    else if (!seenTxa && (segment.name === 'OBR' || segment.name === 'TQ1' || segment.name === 'NTE') && orders.length > 0) {
      const o = orders[orders.length - 1] as OrderGroup;
      if (segment.name === 'OBR') o.obr = ctx.reader(segment);
      else if (segment.name === 'TQ1') o.tq1s.push(ctx.reader(segment));
      else o.notes.push(ctx.reader(segment));
    }
    else if (seenTxa && (segment.name === 'OBX' || segment.name === 'NTE')) after.push(ctx.reader(segment));
    else if (seenTxa && segment.name === 'CON') ctx.reader(segment).skippedWhole = 'consent (CON) has no mapping in the IG message map MDM_T02';
  }
  const { content, observations } = documentContent(ctx, after);
  const related: Reference[] = orders.map((o) => mapOrder(ctx, o, patient, encounter));
  for (const obx of observations) {
    const ref = mapObx(ctx, obx, { ...(patient !== undefined ? { subject: patient } : {}), ...(encounter !== undefined ? { encounter } : {}) });
    if (ref !== undefined) related.push(ref);
  }
  mapTxa(ctx, ctx.reader(txaSegment), { event, content, related });
}

interface OrderGroup {
  readonly orc: SegmentReader;
  obr?: SegmentReader;
  readonly tq1s: SegmentReader[];
  readonly notes: SegmentReader[];
}

/** A COMMON_ORDER group -> ServiceRequest, identified as the lab mappers identify an order. */
function mapOrder(ctx: MappingContext, o: OrderGroup, patient: Reference<Patient> | undefined, encounter: Reference<Encounter> | undefined): Reference<ServiceRequest> {
  const identity = orderIdentity(ctx, o.orc, o.obr);
  const service = o.obr?.segment.rawAt(4, 1, 1);
  const key = identity.requestKey !== undefined ? identity.requestKey + (service !== undefined && service !== '' ? `#${service}` : '') : undefined;
  const sr: ServiceRequest & { id: string } = {
    resourceType: 'ServiceRequest',
    id: key !== undefined ? ctx.id('ServiceRequest', key) : ctx.id('ServiceRequest', ctx.messageKey, String(o.orc.index)),
    status: 'unknown',
    intent: 'order',
    subject: patient ?? { display: 'unknown patient (no PID in the message)' },
  };
  if (identity.identifiers.length > 0) sr.identifier = identity.identifiers;
  if (identity.group !== undefined) sr.requisition = identity.group;
  if (encounter !== undefined) sr.encounter = encounter;
  applyTq1(ctx, o.tq1s, sr);
  const statusSet = applyOrc(ctx, o.orc, sr);
  if (o.obr !== undefined) {
    applyObr(ctx, o.obr, sr, { statusSet });
    // The result-side OBR fields describe a DiagnosticReport; an MDM carries a document instead.
    for (const n of [7, 8, 22, 25]) o.obr.skip(n, 'a result field: the MDM document (TXA) is the result, not a DiagnosticReport');
  }
  const notes = notesFrom(ctx, o.notes, 'ServiceRequest.note');
  if (notes.length > 0) sr.note = [...(sr.note ?? []), ...notes];
  return ctx.add(sr);
}

export const DOCUMENT_MAPPERS: readonly MessageMapper[] = [{ name: 'document', events: EVENTS.map((e) => `MDM^${e}`), map: mapMdm }];
