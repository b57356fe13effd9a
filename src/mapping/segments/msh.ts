import type { MessageHeader, Provenance, Reference } from '@medplum/fhirtypes';
import type { Hl7Hd } from '../../hl7v2/index.ts';
import { JoinCache } from '../flat-strings.ts';
import type { IdentifiedResource, MappingContext } from '../mapping-context.ts';
import { oidUri } from '../v2-datatypes.ts';
import { organizationFromHd } from '../v2-resources.ts';
import { eventDetails } from './evn.ts';

/**
 * MSH -> MessageHeader and the Provenance of the source (HL7 V2-to-FHIR IG segment maps
 * MSH[MessageHeader] and MSH[Provenance-Source]). The Provenance targets every resource the message
 * produced (set at the end by finishProvenance), so each can be traced to the message that
 * carried it: sender, control id, time.
 */
export function mapMsh(ctx: MappingContext): void {
  const msh = ctx.reader(ctx.message.header);
  const controlId = msh.text(10, 'MessageHeader.id');
  const event = msh.read(9, 'CWE', 'MessageHeader.eventCoding');
  const sendingApp = msh.read(3, 'HD', 'MessageHeader.source.name');
  const sendingFacility = msh.read(4, 'HD', 'MessageHeader.sender');
  const receivingApp = msh.read(5, 'HD', 'MessageHeader.destination.name');
  const receivingFacility = msh.read(6, 'HD', 'MessageHeader.destination.receiver');
  const header: MessageHeader & { id: string } = {
    resourceType: 'MessageHeader',
    id: ctx.id('MessageHeader', ctx.messageKey),
    // MSH-9.1^MSH-9.2: the v2 event (table 0003) as the event coding (IG: MSH-9.2 -> eventCoding).
    eventCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: event?.text ?? ctx.message.triggerEvent },
    source: { endpoint: endpointOf(sendingApp), ...(sendingApp?.namespaceId !== undefined ? { name: sendingApp.namespaceId } : {}) },
  };
  // Table 0003 codes are the trigger event (MSH-9.2); CWE read puts it in `text` (component 2).
  const sender = organizationFromHd(ctx, sendingFacility);
  if (sender !== undefined) header.sender = sender;
  const receiver = organizationFromHd(ctx, receivingFacility);
  if (receivingApp !== undefined || receiver !== undefined) {
    header.destination = [{ endpoint: endpointOf(receivingApp), ...(receivingApp?.namespaceId !== undefined ? { name: receivingApp.namespaceId } : {}), ...(receiver !== undefined ? { receiver } : {}) }];
  }
  const processing = msh.text(11, 'MessageHeader.meta.tag');
  if (processing !== undefined) header.meta = { tag: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0103', code: processing }] };
  ctx.add(header);
  msh.markUsed(7, 'Provenance.recorded');
  if (controlId !== undefined) msh.markUsed(10, 'Provenance.entity.what.identifier');
  msh.skip(12, 'the version selects the message structure; not data');
  msh.skip(13, 'sequence numbers belong to the transport (HL7 v2.5.1 ch.2 2.10.2)');
  msh.skip(14, 'continuation pointers belong to the transport');
  msh.skip(15, 'acknowledgment type is handled by the ACK responder');
  msh.skip(16, 'acknowledgment type is handled by the ACK responder');
  msh.skip(18, 'the character set was applied when decoding');
  msh.skip(20, 'alternate character set handling was applied when decoding');
  const country = msh.text(17, 'MessageHeader.language');
  const language = msh.text(19, 'MessageHeader.language');
  if (language !== undefined) header.language = language.toLowerCase();
  else if (country !== undefined) msh.skip(17, 'country code has no MessageHeader element');
  const profile = msh.text(21, 'MessageHeader.meta.profile');
  if (profile !== undefined) (header.meta ??= {}).tag = [...(header.meta.tag ?? []), { system: 'urn:hl7v2:message-profile', code: profile }];
}

/** A url for an application (HD): its URI when it is one, else a urn (FHIR url: no spaces). */
function endpointOf(app: Hl7Hd | undefined): string {
  if (app?.universalId !== undefined && /^(https?|ftp|urn):\S+$/i.test(app.universalId)) return app.universalId;
  // Only a real OID becomes urn:oid (senders mark non-OIDs as ISO too).
  if (app?.universalId !== undefined && /^[0-2](\.\d+)+$/.test(app.universalId)) return oidUri(app.universalId);
  return ENDPOINTS.get('urn:hl7v2:application:', app?.namespaceId ?? app?.universalId ?? 'unknown');
}

/** One flat string per application endpoint (see flat-strings.ts); a name is percent-encoded. */
const ENDPOINTS = new JoinCache('', { encodeURIComponent: true });

/** The Provenance of the message: targets every other resource; added last. */
export function finishProvenance(ctx: MappingContext): void {
  const recorded = ctx.instant(safeTs(ctx), 'MSH-7') ?? ctx.now().toISOString();
  const targets: Reference[] = [];
  let header: MessageHeader | undefined;
  const added = ctx.added;
  const keys = ctx.addedKeys;
  for (let i = 0; i < added.length; i++) {
    const r = added[i] as IdentifiedResource;
    if (r.resourceType === 'MessageHeader') header ??= r as MessageHeader;
    // The reference string add() made for the resource (the same text, shared).
    else if (r.resourceType !== 'Provenance') targets.push({ reference: keys[i] as string });
  }
  if (targets.length === 0) return;
  const provenance: Provenance & { id: string } = {
    resourceType: 'Provenance',
    id: ctx.id('Provenance', ctx.messageKey),
    target: targets,
    recorded,
    activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'UPDATE' }] },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        ...(header?.sender !== undefined ? { who: header.sender } : { who: { display: header?.source?.name ?? 'HL7 v2 sender' } }),
      },
    ],
    entity: [
      {
        role: 'source',
        what: { identifier: { system: 'urn:hl7v2:message-control-id', value: ctx.message.controlId || 'unknown' }, display: `${ctx.message.messageCode}^${ctx.message.triggerEvent}` },
      },
    ],
  };
  addEventDetails(ctx, provenance);
  ctx.add(provenance);
}

/**
 * EVN details (segments/evn.ts) on the message's Provenance (IG EVN[Provenance]): EVN-2 is the
 * recorded time, EVN-6 when it occurred, EVN-4 why, EVN-5 who entered it, EVN-7 where; the v2
 * event (MSH-9.2, table 0003) joins the activity.
 */
function addEventDetails(ctx: MappingContext, provenance: Provenance): void {
  const event = eventDetails(ctx);
  if (event === undefined) return;
  if (event.recorded !== undefined) provenance.recorded = event.recorded;
  if (event.occurred !== undefined) provenance.occurredDateTime = event.occurred;
  if (event.reason !== undefined) provenance.reason = [event.reason];
  if (event.facility !== undefined) provenance.location = event.facility;
  for (const who of event.operators) {
    provenance.agent.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'enterer', display: 'Enterer' }] }, who });
  }
  if (ctx.message.triggerEvent !== '') provenance.activity?.coding?.push({ system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: ctx.message.triggerEvent });
}

function safeTs(ctx: MappingContext): ReturnType<typeof ctx.message.read<'TS'>> {
  // Read once by the context (null: malformed).
  const ts = ctx.messageTime;
  if (ts === null) {
    ctx.warn('MSH-7 is not a valid timestamp; Provenance.recorded is the conversion time');
    return undefined;
  }
  return ts;
}
