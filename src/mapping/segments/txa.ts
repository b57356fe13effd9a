import type { Attachment, CodeableConcept, DocumentReference, DocumentReferenceRelatesTo, Extension, Identifier, Reference } from '@medplum/fhirtypes';
import { decodeEscapes, piece, type Hl7Encoding } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, eiToIdentifier, tableCode } from '../v2-datatypes.ts';
import { organizationFromHd, practitionerFromXcn } from '../v2-resources.ts';

/**
 * TXA (+ the document's OBX lines) -> DocumentReference (HL7 V2-to-FHIR IG segment map
 * TXA[DocumentReference], message map MDM_T02). The id comes from the unique document number
 * (TXA-12), so notifications, edits and status changes about one document update one resource.
 */

/**
 * HL7 table 0271 document completion status -> docStatus. The IG maps TXA-17 with no concept map;
 * ours: only an authenticated (AU) or legally authenticated (LA) document is final. Dictated,
 * documented, in progress, incomplete and pre-authenticated ones are preliminary: a draft is never
 * final (issue 4; the write-back path relies on it).
 */
const DOC_STATUS: Readonly<Record<string, DocumentReference['docStatus']>> = {
  AU: 'final',
  LA: 'final',
  DI: 'preliminary',
  DO: 'preliminary',
  IP: 'preliminary',
  IN: 'preliminary',
  PA: 'preliminary',
};

/** HL7 table 0273 document availability -> DocumentReference.status (AV available, CA canceled, OB obsolete, UN unavailable for patient care). */
const AVAILABILITY: Readonly<Record<string, DocumentReference['status']>> = { AV: 'current', CA: 'entered-in-error', OB: 'superseded', UN: 'current' };

/** How a document relates to its parent (TXA-13) by event: addenda append, replacements and edits replace. */
const RELATION: Readonly<Record<string, DocumentReferenceRelatesTo['code']>> = { T05: 'appends', T06: 'appends', T07: 'replaces', T08: 'replaces', T09: 'replaces', T10: 'replaces' };

/** ED-2 type of data (table 0191) -> MIME top-level type. */
const MIME_TOP: Readonly<Record<string, string>> = { AP: 'application', IM: 'image', AU: 'audio', TX: 'text', TEXT: 'text', NS: 'application', SD: 'application', SI: 'application', MULTIPART: 'multipart' };
/** ED-3 subtypes (table 0291) whose MIME type is not simply top/subtype. */
const MIME_SUBTYPE: Readonly<Record<string, string>> = { PDF: 'application/pdf', RTF: 'application/rtf', JPEG: 'image/jpeg', JPG: 'image/jpeg', GIF: 'image/gif', PNG: 'image/png', TIFF: 'image/tiff', XML: 'application/xml', HTML: 'text/html', DICOM: 'application/dicom', POSTSCRIPT: 'application/postscript', OCTET_STREAM: 'application/octet-stream', 'OCTET-STREAM': 'application/octet-stream' };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The document content an MDM message carries (OBX lines), and the OBX that are not content. */
export interface DocumentContent {
  readonly content: Attachment[];
  /** OBX of other value types (NM, CE, HD...): observations about the document, not its text. */
  readonly observations: SegmentReader[];
}

/**
 * OBX -> content (IG MDM_T02 OBSERVATION -> DocumentReference): TX/FT/ST lines are one text,
 * joined with line breaks in message order (FT formatting escapes decoded), as a base64 text/plain
 * attachment; each ED is its own attachment (IG ED[Attachment]); each RP an attachment by URL.
 * NTE after a line (IG NTE[DocumentReference]) are a further text attachment titled "notes".
 */
export function documentContent(ctx: MappingContext, segments: readonly SegmentReader[]): DocumentContent {
  const lines: string[] = [];
  const titles = new Set<string>();
  const content: Attachment[] = [];
  const observations: SegmentReader[] = [];
  const notes: string[] = [];
  let textSlot: number | undefined;
  for (const r of segments) {
    if (r.name === 'NTE') {
      r.skip(1, 'set id orders segments; not data');
      for (const rep of r.repetitions(3, 'DocumentReference.content.attachment.data')) notes.push(decodeEscapes(rep, r.encoding));
      for (const n of [2, 4, 5, 6, 7, 8, 9]) r.skip(n, 'a note on a document line is kept as text only (IG NTE[DocumentReference])');
      continue;
    }
    const type = r.text(2)?.toUpperCase();
    if (type === 'TX' || type === 'FT' || type === 'ST') {
      r.markUsed(2, 'DocumentReference.content.attachment.contentType');
      for (const rep of r.repetitions(5, 'DocumentReference.content.attachment.data')) lines.push(decodeEscapes(rep, r.encoding));
      const title = obxTitle(r);
      if (title !== undefined) titles.add(title);
      if (textSlot === undefined) {
        textSlot = content.length;
        content.push({});
      }
    } else if (type === 'ED' || type === 'RP') {
      r.markUsed(2, 'DocumentReference.content.attachment.contentType');
      const title = obxTitle(r);
      for (const rep of r.repetitions(5, 'DocumentReference.content.attachment')) {
        const a = type === 'ED' ? edAttachment(ctx, rep, r.encoding, r.index) : rpAttachment(rep, r.encoding);
        if (title !== undefined) a.title = title;
        content.push(a);
      }
    } else {
      observations.push(r);
      continue;
    }
    r.skip(1, 'set id orders segments; not data');
    r.skip(4, 'sub-id: the lines of one document are joined in message order');
    r.skip(11, 'the status of a document line: the document\'s status is TXA-17/TXA-19');
    for (const n of r.presentFields()) r.skip(n, 'no element in a document attachment (IG MDM_T02 maps the OBX to DocumentReference.content)');
  }
  if (textSlot !== undefined) {
    const a: Attachment = { contentType: 'text/plain', data: Buffer.from(lines.join('\n'), 'utf8').toString('base64') };
    if (titles.size > 0) a.title = [...titles].join('; ');
    content[textSlot] = a;
  }
  if (notes.length > 0) content.push({ contentType: 'text/plain', data: Buffer.from(notes.join('\n'), 'utf8').toString('base64'), title: 'notes' });
  return { content, observations };
}

function obxTitle(r: SegmentReader): string | undefined {
  const code = r.read(3, 'CWE', 'DocumentReference.content.attachment.title');
  return code?.originalText ?? code?.text ?? code?.code;
}

/** ED -> Attachment (IG ED[Attachment]): ED-3 the content type, ED-5 the data by its ED-4 encoding. */
function edAttachment(ctx: MappingContext, rep: string, enc: Hl7Encoding, index: number): Attachment {
  const comp = (n: number): string | undefined => {
    const c = piece(rep, enc.component, n);
    return c === undefined || c === '' ? undefined : c;
  };
  const out: Attachment = {};
  const top = comp(2)?.toUpperCase();
  const sub = comp(3);
  const contentType = sub === undefined ? undefined : sub.includes('/') ? sub.toLowerCase() : (MIME_SUBTYPE[sub.toUpperCase()] ?? `${(top !== undefined ? MIME_TOP[top] : undefined) ?? (comp(2) ?? 'application').toLowerCase()}/${sub.toLowerCase()}`);
  if (contentType !== undefined) out.contentType = contentType;
  else if (top !== undefined) out.extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/alternate-codes', valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0191', code: top }] } }];
  const encoding = comp(4)?.toUpperCase();
  const data = comp(5);
  if (data === undefined) return out;
  if (encoding === 'BASE64') {
    const b64 = decodeEscapes(data, enc).replace(/\s+/g, '');
    if (BASE64.test(b64)) out.data = b64;
    else ctx.warn(`OBX-5.5: ED data of segment ${index} is not base64; left out of the attachment`);
  } else if (encoding === 'HEX') {
    const hex = data.replace(/\s+/g, '');
    if (/^(?:[0-9A-Fa-f]{2})*$/.test(hex)) out.data = Buffer.from(hex, 'hex').toString('base64');
    else ctx.warn(`OBX-5.5: ED data of segment ${index} is not hexadecimal; left out of the attachment`);
  } else out.data = Buffer.from(decodeEscapes(data, enc), 'utf8').toString('base64');
  return out;
}

/** RP (reference pointer) -> Attachment by URL (IG RP[Attachment]). */
function rpAttachment(rep: string, enc: Hl7Encoding): Attachment {
  const out: Attachment = { url: decodeEscapes(piece(rep, enc.component, 1) ?? '', enc) };
  const sub = piece(rep, enc.component, 4);
  if (sub !== undefined && sub !== '') out.contentType = MIME_SUBTYPE[sub.toUpperCase()] ?? `${MIME_TOP[(piece(rep, enc.component, 3) ?? '').toUpperCase()] ?? 'application'}/${sub.toLowerCase()}`;
  return out;
}

export interface TxaOptions {
  /** The trigger event (T01..T11): edits, replacements and cancels change status and relatesTo. */
  readonly event: string;
  readonly content: readonly Attachment[];
  /** Resources the document relates to beyond its orders (observations sent with it). */
  readonly related?: readonly Reference[];
}

/** TXA -> DocumentReference, added to ctx; returns its reference. */
export function mapTxa(ctx: MappingContext, txa: SegmentReader, options: TxaOptions): Reference<DocumentReference> {
  const enc = txa.encoding;
  txa.skip(1, 'set id orders segments; not data');
  const master = eiToIdentifier(ctx, txa.raw(12, 'DocumentReference.masterIdentifier'), enc);
  if (master === undefined) ctx.warn('TXA-12: no unique document number; the DocumentReference id is derived from this message and will not match other messages');
  const id = master !== undefined ? documentId(ctx, master) : ctx.id('DocumentReference', ctx.messageKey, String(txa.index));

  const status = documentStatus(ctx, txa, options.event);
  const doc: DocumentReference & { id: string } = { resourceType: 'DocumentReference', id, status: status.status, content: [] };
  if (status.extension !== undefined) (doc as DocumentReference & { _status?: { extension: Extension[] } })._status = { extension: [status.extension] };
  if (master !== undefined) doc.masterIdentifier = master;
  const fileName = txa.text(16, 'DocumentReference.identifier');
  if (fileName !== undefined) doc.identifier = [{ value: fileName, type: { text: 'unique document file name' } }];

  const completion = txa.text(17, 'DocumentReference.docStatus')?.toUpperCase();
  let docStatus = completion !== undefined ? DOC_STATUS[completion] : undefined;
  if (completion !== undefined && docStatus === undefined) ctx.warn('TXA-17: completion status not in HL7 table 0271; docStatus left out');
  // An edit (T07/T08) of a released document: modified after it was made final.
  if (docStatus === 'final' && (options.event === 'T07' || options.event === 'T08')) docStatus = 'amended';
  if (docStatus !== undefined) doc.docStatus = docStatus;
  // The sent table 0271 code rides along on docStatus, so that FHIR -> v2 sends back exactly what
  // was sent (LA is a legal signature; it must never be inferred from a mere authenticator).
  if (completion !== undefined && docStatus !== undefined) {
    (doc as DocumentReference & { _docStatus?: { extension: Extension[] } })._docStatus = {
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/alternate-codes', valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0271', code: completion }] } }],
    };
  }

  const type = cweToCodeableConcept(ctx, txa.read(2, 'CWE', 'DocumentReference.type'), { field: 'TXA-2', table: '0270' });
  if (type !== undefined) doc.type = type;
  if (ctx.patient !== undefined) doc.subject = ctx.patient;

  const origination = txa.read(6, 'TS', 'DocumentReference.date');
  const date = ctx.instant(origination, 'TXA-6');
  if (date !== undefined) doc.date = date;
  const creation = ctx.dateTime(origination, 'TXA-6');

  // Authors: the primary activity provider (TXA-5), the originator (TXA-9), the creating facility (TXA-27).
  const authors: NonNullable<DocumentReference['author']> = [];
  for (const field of [5, 9]) {
    for (const xcn of txa.readAll(field, 'XCN', 'DocumentReference.author')) {
      const p = practitionerFromXcn(ctx, xcn);
      if (p !== undefined && !authors.some((a) => a.reference === p.reference)) authors.push(p);
    }
  }
  const facility = organizationFromHd(ctx, txa.read(27, 'HD', 'DocumentReference.author'));
  if (facility !== undefined) authors.push(facility);
  if (authors.length > 0) doc.author = authors;

  // The authenticator: who authenticated (TXA-22, PPN: an XCN with the time in component 15), else the one assigned (TXA-10).
  const related: Reference[] = [];
  const authenticatedBy = txa.readAll(22, 'XCN', 'DocumentReference.authenticator');
  const assigned = txa.readAll(10, 'XCN', 'DocumentReference.authenticator');
  const authRefs = authenticatedBy.map((x) => practitionerFromXcn(ctx, x)).filter((r) => r !== undefined);
  const assignedRefs = assigned.map((x) => practitionerFromXcn(ctx, x)).filter((r) => r !== undefined);
  const authenticator = authRefs[0] ?? assignedRefs[0];
  if (authenticator !== undefined) doc.authenticator = authenticator;
  // R4 has one authenticator: the other people named are kept as related.
  for (const r of [...authRefs, ...assignedRefs]) if (r !== authenticator && !related.some((x) => x.reference === r.reference)) related.push(r);
  if (authRefs.length > 0 || assignedRefs.length > 1) txa.markUsed(10, 'DocumentReference.context.related');

  const activity = ctx.dateTime(txa.read(4, 'TS', 'DocumentReference.context.period.start'), 'TXA-4');
  txa.skip(7, 'transcription time has no DocumentReference element (the IG leaves it to Provenance)');
  txa.skip(8, 'edit times have no DocumentReference element (IG TXA[Provenance])');
  txa.skip(11, 'a transcriptionist is neither author nor authenticator: no R4 DocumentReference element');

  // Orders the document belongs to (IG: context.related -> ServiceRequest), as logical references by identifier.
  for (const [field, code] of [[14, 'PLAC'], [15, 'FILL']] as const) {
    for (const rep of txa.repetitions(field, 'DocumentReference.context.related')) {
      const identifier = eiToIdentifier(ctx, rep, enc, code);
      if (identifier !== undefined) related.push({ type: 'ServiceRequest', identifier });
    }
  }
  related.push(...(options.related ?? []));

  const parent = eiToIdentifier(ctx, txa.raw(13, 'DocumentReference.relatesTo'), enc);
  if (parent !== undefined) {
    const code = RELATION[options.event] ?? 'appends';
    doc.relatesTo = [{ code, target: { reference: `DocumentReference/${documentId(ctx, parent)}`, type: 'DocumentReference', identifier: parent } }];
  }

  const confidentiality = txa.text(18, 'DocumentReference.securityLabel');
  // IG concept map DocumentConfidentialityStatus: V, R and U keep their table 0272 codes.
  if (confidentiality !== undefined) doc.securityLabel = [tableCode(confidentiality, '0272') as CodeableConcept];
  txa.skip(20, 'storage status (table 0275) describes the sender\'s archive: no DocumentReference element (IG leaves it unmapped)');
  txa.skip(21, 'change reason has no R4 DocumentReference element (IG leaves it unmapped)');
  txa.skip(23, 'distribution recipients have no DocumentReference element (IG leaves it unmapped)');
  const folders = txa.readAll(24, 'CWE', 'DocumentReference.category').map((c) => cweToCodeableConcept(ctx, c, { field: 'TXA-24' })).filter((c) => c !== undefined);
  if (folders.length > 0) doc.category = folders;
  const titles = txa.texts(25, 'DocumentReference.description');
  if (titles.length > 0) doc.description = titles.join('; ');
  txa.skip(26, 'agreed due time has no DocumentReference element (IG leaves it unmapped)');
  const specialty = cweToCodeableConcept(ctx, txa.read(28, 'CWE', 'DocumentReference.context.practiceSetting'), { field: 'TXA-28' });

  const presentation = txa.text(3, 'DocumentReference.content.attachment.contentType')?.toUpperCase();
  const content = options.content.map((a) => ({ ...a }));
  // content is 1..* in R4: a notification without the text (T01, T03...) still describes it.
  if (content.length === 0) content.push(presentation === 'TX' || presentation === 'FT' || presentation === 'TEXT' ? { contentType: 'text/plain' } : {});
  for (const a of content) if (creation !== undefined) a.creation ??= creation;
  doc.content = content.map((attachment) => ({ attachment }));

  const context: NonNullable<DocumentReference['context']> = {};
  if (ctx.encounter !== undefined) context.encounter = [ctx.encounter];
  if (activity !== undefined) context.period = { start: activity };
  if (specialty !== undefined) context.practiceSetting = specialty;
  if (related.length > 0) context.related = related;
  if (Object.keys(context).length > 0) doc.context = context;
  return ctx.add(doc);
}

/** The deterministic id of the document with this unique document number. */
export function documentId(ctx: MappingContext, number: Identifier): string {
  return ctx.id('DocumentReference', number.system, number.value);
}

/**
 * DocumentReference.status: a cancel notification (T11) makes the document entered-in-error;
 * otherwise TXA-19 availability (IG: AV current; CA, OB and UN keep their v2 code in an
 * alternate-codes extension), current when empty.
 */
function documentStatus(ctx: MappingContext, txa: SegmentReader, event: string): { status: DocumentReference['status']; extension?: Extension } {
  const availability = txa.text(19, 'DocumentReference.status')?.toUpperCase();
  const extension: Extension | undefined =
    availability !== undefined && availability !== 'AV'
      ? { url: 'http://hl7.org/fhir/StructureDefinition/alternate-codes', valueCodeableConcept: tableCode(availability, '0273') as CodeableConcept }
      : undefined;
  if (event === 'T11') return { status: 'entered-in-error', ...(extension !== undefined ? { extension } : {}) };
  if (availability === undefined) return { status: 'current' };
  const status = AVAILABILITY[availability];
  if (status === undefined) {
    ctx.warn('TXA-19: availability status not in HL7 table 0273; status current');
    return { status: 'current', ...(extension !== undefined ? { extension } : {}) };
  }
  return { status, ...(extension !== undefined ? { extension } : {}) };
}
