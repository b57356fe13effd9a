import type { Reference } from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { mapEvn } from '../segments/evn.ts';
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
 * the document relates to. The COMMON_ORDER group (ORC/OBR) is left to the order mappers; the
 * document refers to its orders through TXA-14/15.
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

  // The document's lines: every OBX (and NTE on it) after the TXA, in message order.
  const after: SegmentReader[] = [];
  let seenTxa = false;
  for (const segment of ctx.message.segments) {
    if (segment === txaSegment) seenTxa = true;
    else if (seenTxa && (segment.name === 'OBX' || segment.name === 'NTE')) after.push(ctx.reader(segment));
    else if (seenTxa && segment.name === 'CON') ctx.reader(segment).skippedWhole = 'consent (CON) has no mapping in the IG message map MDM_T02';
  }
  const { content, observations } = documentContent(ctx, after);
  const related: Reference[] = [];
  for (const obx of observations) {
    const ref = mapObx(ctx, obx, { ...(patient !== undefined ? { subject: patient } : {}), ...(encounter !== undefined ? { encounter } : {}) });
    if (ref !== undefined) related.push(ref);
  }
  mapTxa(ctx, ctx.reader(txaSegment), { event, content, related });
}

export const DOCUMENT_MAPPERS: readonly MessageMapper[] = [{ name: 'document', events: EVENTS.map((e) => `MDM^${e}`), map: mapMdm }];
