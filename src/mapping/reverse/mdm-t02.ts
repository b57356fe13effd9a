import type { Attachment, DocumentReference, Encounter, Patient } from '@medplum/fhirtypes';
import { codeableConceptToCwe, composite, identifierToEi, toDtm } from './fhir-datatypes.ts';
import { attachmentToEd } from './oru-r01.ts';
import { writeEvn, writePid, writePv1, xcnFor } from './patient-segments.ts';
import { inputError, type ReverseContext } from './reverse-context.ts';
import { CONFIDENTIALITY_TO_V2, DOCUMENT_AVAILABILITY_TO_V2, alternateCode, primitiveOf } from './reverse-codes.ts';

/**
 * DocumentReference -> MDM^T02 (HL7 v2.5.1 ch.9 9.6.2; HL7 V2-to-FHIR IG segment maps
 * TXA[DocumentReference] and OBX[DocumentReference] read right to left): EVN, PID, PV1, TXA, and the
 * content as OBX: TX lines for a text/plain attachment, one ED (base64) for anything else.
 *
 * TXA-17 is the safety-relevant field: a receiving EHR files an AU/LA document as signed. A
 * DocumentReference that is not final (docStatus preliminary or absent, as an AI-drafted note is)
 * is therefore never sent as AU or LA, whatever else it carries.
 */

/** Table 0271 codes that do not claim authentication (DI dictated, DO documented, IN incomplete, IP in progress, PA pre-authenticated). */
const UNAUTHENTICATED = new Set(['DI', 'DO', 'IN', 'IP', 'PA']);

/**
 * docStatus -> TXA-17 (table 0271). preliminary or absent: IP (in progress), or the unauthenticated
 * code the forward map kept in an alternate-codes extension, or DI (dictated) for audio content;
 * final: AU (authenticated), or LA (legally authenticated) only when the forward map kept LA in the
 * docStatus alternate-codes extension: an authenticator alone is not proof of a legal signature;
 * amended: the same as final (an amended document is a complete, authenticated one; TXA-13 names
 * what it replaces); entered-in-error cannot be sent as a new document.
 */
export function completionStatus(doc: DocumentReference): string {
  switch (doc.docStatus) {
    case undefined:
    case 'preliminary': {
      const kept = alternateCode(primitiveOf(doc, 'docStatus'), '0271');
      if (kept !== undefined && UNAUTHENTICATED.has(kept)) return kept;
      const audio = doc.content?.some((c) => c.attachment?.contentType?.startsWith('audio/') === true) === true;
      return audio ? 'DI' : 'IP';
    }
    case 'final':
    case 'amended': {
      // LA claims a legal signature: only when the document says so itself (the code the forward
      // map kept); an authenticator alone does not make it one.
      const kept = alternateCode(primitiveOf(doc, 'docStatus'), '0271');
      return kept === 'LA' ? 'LA' : 'AU';
    }
    case 'entered-in-error':
      throw inputError('DocumentReference.docStatus is entered-in-error: it cannot be sent as a new document (MDM^T02); send a cancel (T11) instead');
    default:
      throw inputError('DocumentReference.docStatus is not a FHIR R4 composition-status code');
  }
}

/** MIME type -> table 0191 type of referenced data (TXA-3 content presentation). */
function presentation(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [major, minor] = contentType.split(';')[0]?.trim().toLowerCase().split('/') ?? [];
  if (major === 'text') return minor === 'plain' ? 'TX' : 'TEXT';
  if (major === 'image') return 'IM';
  if (major === 'audio') return 'AU';
  if (major === 'multipart') return 'multipart';
  return 'AP';
}

export function buildMdmT02(ctx: ReverseContext, doc: DocumentReference): void {
  ctx.visit(doc);
  const enc = ctx.encoding;
  const status = completionStatus(doc);
  writeEvn(ctx, 'T02');
  const patient = ctx.resolve<Patient>(doc.subject, doc);
  if (patient === undefined && doc.subject?.identifier === undefined) throw inputError('DocumentReference.subject does not resolve to a Patient in the input (MDM^T02 needs PID)');
  writePid(ctx, patient, doc.subject);
  ctx.use(doc, 'subject', 'PID');
  const encounter = doc.context?.encounter?.map((e) => ctx.resolve<Encounter>(e, doc)).find((e) => e?.resourceType === 'Encounter');
  writePv1(ctx, encounter);

  const txa = ctx.message.addSegment('TXA');
  txa.set('1', '1');
  const type = codeableConceptToCwe(enc, doc.type, { tenant: ctx.tenant });
  if (type === undefined) ctx.warn('TXA-2 (required) is empty: the DocumentReference has no type');
  else {
    // TXA-2 is IS (table 0270) before v2.7 and CWE from 2.7; the whole CWE is sent (receivers read
    // component 1) so that the coding system is not lost.
    txa.setRaw('2', type);
    ctx.use(doc, 'type', 'TXA-2');
  }
  const first = doc.content?.[0]?.attachment;
  ctx.put(txa, '3', presentation(first?.contentType));
  if (doc.context !== undefined) {
    ctx.putRaw(txa, '4', toDtm(doc.context.period?.start, 'DocumentReference.context.period.start'));
    if (encounter !== undefined) ctx.use(doc, 'context', 'PV1');
    if (doc.context.period !== undefined) ctx.use(doc, 'context', 'TXA-4');
  }
  if (doc.date !== undefined) {
    ctx.putRaw(txa, '6', toDtm(doc.date, 'DocumentReference.date'));
    ctx.use(doc, 'date', 'TXA-6');
  }
  if (doc.author !== undefined) {
    ctx.putReps(txa, '9', doc.author.map((a) => xcnFor(ctx, a, doc)));
    ctx.use(doc, 'author', 'TXA-9');
  }
  if (doc.authenticator !== undefined) {
    ctx.putRaw(txa, '10', xcnFor(ctx, doc.authenticator, doc));
    ctx.use(doc, 'authenticator', 'TXA-10');
  }
  const number = doc.masterIdentifier ?? doc.identifier?.[0];
  const ei = identifierToEi(enc, number, ctx.tenant);
  if (ei !== undefined) {
    txa.setRaw('12', ei);
    ctx.use(doc, doc.masterIdentifier !== undefined ? 'masterIdentifier' : 'identifier', 'TXA-12');
  } else if (doc.id !== undefined) {
    // TXA-12 is required and identifies the document in later edits (T08) and cancels (T11): the
    // resource id is the one stable identity left.
    txa.set('12', doc.id);
    ctx.warn('TXA-12: the DocumentReference has no identifier; its resource id is sent as the document number');
  } else ctx.warn('TXA-12 (required) is empty: the DocumentReference has no identifier and no id');
  const fileName = doc.identifier?.find((i) => i.type?.text === 'unique document file name' && i !== number);
  if (fileName?.value !== undefined) {
    txa.set('16', fileName.value);
    ctx.use(doc, 'identifier', 'TXA-16');
  }
  const parent = doc.relatesTo?.find((r) => r.code === 'replaces' || r.code === 'appends');
  if (parent !== undefined) {
    const target = ctx.resolve<DocumentReference>(parent.target, doc);
    ctx.putRaw(txa, '13', identifierToEi(enc, target?.masterIdentifier ?? target?.identifier?.[0] ?? parent.target.identifier, ctx.tenant));
    ctx.use(doc, 'relatesTo', 'TXA-13');
  }
  txa.set('17', status);
  ctx.use(doc, 'docStatus', 'TXA-17');
  const conf = doc.securityLabel?.flatMap((l) => l.coding ?? []).map((c) => (c.system === 'http://terminology.hl7.org/CodeSystem/v2-0272' ? c.code : c.code !== undefined ? CONFIDENTIALITY_TO_V2[c.code] : undefined)).find((c) => c !== undefined);
  if (conf !== undefined) {
    txa.set('18', conf);
    ctx.use(doc, 'securityLabel', 'TXA-18');
  }
  const availability = alternateCode(primitiveOf(doc, 'status'), '0273') ?? DOCUMENT_AVAILABILITY_TO_V2[doc.status];
  ctx.put(txa, '19', availability);
  ctx.use(doc, 'status', 'TXA-19');
  if (doc.category !== undefined && ctx.atLeast('2.6')) {
    // TXA-24 folder assignment (v2.6+) is what the forward map reads into category.
    ctx.putReps(txa, '24', doc.category.map((c) => codeableConceptToCwe(enc, c, { tenant: ctx.tenant })));
    ctx.use(doc, 'category', 'TXA-24');
  }
  if (doc.description !== undefined) {
    if (ctx.atLeast('2.7')) {
      txa.set('25', doc.description);
      ctx.use(doc, 'description', 'TXA-25');
    } else ctx.skip(doc, 'description', 'TXA-25 (document title) exists from v2.7');
  }

  // The content, as OBX lines (IG OBX[DocumentReference] reversed).
  const obxStatus = status === 'AU' || status === 'LA' ? 'F' : 'P';
  // OBX-3 names the content: the document type, or the attachment's title when it says otherwise.
  const typeNames = new Set([doc.type?.text, ...(doc.type?.coding ?? []).flatMap((c) => [c.code, c.display])]);
  const obxCodeFor = (title: string | undefined): string => (title !== undefined && !typeNames.has(title) ? composite(enc, [undefined, title]) : type) ?? composite(enc, ['TEXT', 'Text']) ?? '';
  let obxCode = '';
  let setId = 0;
  const obx = (valueType: string, value: string, rawValue: boolean): void => {
    const seg = ctx.message.addSegment('OBX');
    seg.set('1', String(++setId));
    seg.set('2', valueType);
    seg.setRaw('3', obxCode);
    if (rawValue) seg.setRaw('5', value);
    else seg.set('5', value);
    seg.set('11', obxStatus);
  };
  const notes: string[] = [];
  for (const c of doc.content ?? []) {
    const att: Attachment | undefined = c.attachment;
    if (att.title === 'notes' && att.data !== undefined && /^text\/plain\b/i.test(att.contentType ?? '')) {
      // The forward map keeps NTE on document lines as a text attachment titled "notes" (IG
      // NTE[DocumentReference]): they go back as NTE after the lines.
      notes.push(Buffer.from(att.data, 'base64').toString('utf8'));
      ctx.use(doc, 'content', 'NTE-3');
      continue;
    }
    const plain = att.contentType === undefined || /^text\/plain\b/i.test(att.contentType);
    obxCode = obxCodeFor(att.title);
    if (att.data !== undefined && plain) {
      const text = Buffer.from(att.data, 'base64').toString('utf8');
      for (const line of text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n')) obx('TX', line, false);
      ctx.use(doc, 'content', 'OBX-5 (TX)');
    } else if (att.data !== undefined) {
      obx('ED', attachmentToEd(ctx, att) ?? '', true);
      ctx.use(doc, 'content', 'OBX-5 (ED)');
    } else if (att.url !== undefined) {
      // A reference pointer (RP, ch.2A 2.A.65): pointer ^ application ^ type of data ^ subtype.
      const subtype = att.contentType?.split('/')[1]?.split(';')[0]?.toUpperCase();
      obx('RP', composite(enc, [att.url, undefined, presentation(att.contentType), subtype]) ?? '', true);
      ctx.use(doc, 'content', 'OBX-5 (RP)');
    } else ctx.unmapped(doc, 'content', 'an attachment with neither data nor url has nothing to send');
  }
  let nte = 0;
  for (const line of notes.length === 0 ? [] : notes.join('\n').split('\n')) {
    const seg = ctx.message.addSegment('NTE');
    seg.set('1', String(++nte));
    seg.set('3', line);
  }
  if (setId === 0) ctx.warn('MDM^T02 needs at least one OBX: the DocumentReference has no content to send');
  ctx.skip(doc, 'category', 'TXA-24 (folder assignment) exists from v2.6');
  ctx.skip(doc, 'custodian', 'TXA has no custodian field');
}
