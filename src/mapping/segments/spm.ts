import type { Annotation, Identifier, Patient, Reference, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { decodeEscapes, piece, readCwe, readTimestamp, type Hl7Encoding } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, cxToIdentifier, eiToIdentifier } from '../v2-datatypes.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import { tolerant } from './lab-support.ts';

export interface SpecimenOptions {
  readonly subject?: Reference<Patient>;
  readonly request?: Reference<ServiceRequest>;
}

const PLAC = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PLAC', display: 'Placer Identifier' }] };
const FILL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'FILL', display: 'Filler Identifier' }] };

/** EIP (placer EI ^ filler EI, parts in subcomponents) -> identifiers typed PLAC / FILL (IG EIP maps). */
export function eipToIdentifiers(ctx: MappingContext, raw: string | undefined, enc: Hl7Encoding): { placer?: Identifier; filler?: Identifier } {
  if (raw === undefined) return {};
  const sub = { component: enc.subcomponent };
  const placer = eiToIdentifier(ctx, piece(raw, enc.component, 1), sub);
  const filler = eiToIdentifier(ctx, piece(raw, enc.component, 2), sub);
  return { ...(placer !== undefined ? { placer: { ...placer, type: PLAC } } : {}), ...(filler !== undefined ? { filler: { ...filler, type: FILL } } : {}) };
}

/**
 * SPM -> Specimen (HL7 V2-to-FHIR IG segment map SPM[Specimen]). The id comes from the specimen
 * id (SPM-2, filler first, else placer), else the accession number (SPM-30), else the message
 * and position.
 */
export function mapSpm(ctx: MappingContext, spm: SegmentReader, options: SpecimenOptions = {}): Reference<Specimen> {
  const enc = spm.encoding;
  spm.skip(1, 'set id orders segments; not data');
  const { placer, filler } = eipToIdentifiers(ctx, spm.raw(2, 'Specimen.identifier'), enc);
  const accession = cxToIdentifier(ctx, spm.read(30, 'CX', 'Specimen.accessionIdentifier'));
  const identifiers: Identifier[] = [];
  if (placer !== undefined) identifiers.push(placer);
  if (filler !== undefined) identifiers.push(filler);
  for (const cx of spm.readAll(31, 'CX', 'Specimen.identifier')) {
    const i = cxToIdentifier(ctx, cx);
    if (i !== undefined) identifiers.push(i);
  }
  const shipment = eiToIdentifier(ctx, spm.raw(32, 'Specimen.identifier'), enc, 'SHIP');
  if (shipment !== undefined) identifiers.push(shipment);
  const key = filler ?? placer ?? accession;
  const id = key !== undefined ? ctx.id('Specimen', key.system, key.value) : ctx.id('Specimen', ctx.messageKey, String(spm.index));
  const specimen: Specimen & { id: string } = { resourceType: 'Specimen', id };
  if (identifiers.length > 0) specimen.identifier = identifiers;
  if (accession !== undefined) specimen.accessionIdentifier = accession;
  const parents = spm.repetitions(3, 'Specimen.parent').map((r) => eipToIdentifiers(ctx, r, enc)).map((p) => p.filler ?? p.placer).filter((p): p is Identifier => p !== undefined);
  // Logical references by identifier (FHIR R4 references.html#logical): the parent may not be in this message.
  if (parents.length > 0) specimen.parent = parents.map((identifier) => ({ identifier }));
  const type = cweToCodeableConcept(ctx, spm.read(4, 'CWE', 'Specimen.type'), { field: 'SPM-4', table: '0487' });
  if (type !== undefined) specimen.type = type;
  spm.skip(5, 'specimen type modifier has no Specimen element (IG SPM: no target)');
  if (options.subject !== undefined) specimen.subject = options.subject;
  if (options.request !== undefined) specimen.request = [options.request];

  const collection: NonNullable<Specimen['collection']> = {};
  const method = cweToCodeableConcept(ctx, spm.read(7, 'CWE', 'Specimen.collection.method'), { field: 'SPM-7', table: '0488' });
  if (method !== undefined) collection.method = method;
  const site = cweToCodeableConcept(ctx, spm.read(8, 'CWE', 'Specimen.collection.bodySite'), { field: 'SPM-8', table: '0163' });
  if (site !== undefined) collection.bodySite = site;
  spm.skip(9, 'source site modifier has no Specimen element (IG SPM: no target)');
  spm.skip(10, 'collection site has no Specimen element');
  spm.skip(11, 'specimen role has no Specimen element');
  const amount = spm.raw(12, 'Specimen.collection.quantity');
  if (amount !== undefined) {
    const v = piece(amount, enc.component, 1) ?? '';
    const unit = tolerant(ctx, 'SPM-12', () => readCwe(piece(amount, enc.component, 2) ?? '', { ...enc, component: enc.subcomponent }, 'SPM-12'));
    if (/^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(v.trim())) collection.quantity = { value: Number(v), ...(unit?.code !== undefined ? { unit: unit.text ?? unit.code, code: unit.code, system: 'http://unitsofmeasure.org' } : {}) };
    else ctx.warn(`SPM-12: collection amount is not a number; not mapped (segment ${spm.index})`);
  }
  spm.skip(13, 'grouped specimen count has no Specimen element');
  const notes: Annotation[] = spm.repetitions(14, 'Specimen.note').map((r) => ({ text: decodeEscapes(r, enc) }));
  spm.skip(15, 'specimen handling code has no Specimen element in R4');
  spm.skip(16, 'specimen risk code has no Specimen element');
  const collected = spm.raw(17, 'Specimen.collection.collected[x]');
  if (collected !== undefined) {
    const at = (n: number): string | undefined => {
      const c = piece(collected, enc.component, n);
      const v = c === undefined ? undefined : piece(c, enc.subcomponent, 1);
      return v === undefined || v === '' ? undefined : tolerant(ctx, 'SPM-17', () => ctx.dateTime(readTimestamp(v, enc, 'SPM-17'), 'SPM-17'));
    };
    const start = at(1);
    const end = at(2);
    // IG: SPM-17.2 valued -> collectedPeriod, else collectedDateTime.
    if (end !== undefined) collection.collectedPeriod = { ...(start !== undefined ? { start } : {}), end };
    else if (start !== undefined) collection.collectedDateTime = start;
  }
  const received = ctx.dateTime(spm.read(18, 'TS', 'Specimen.receivedTime'), 'SPM-18');
  if (received !== undefined) specimen.receivedTime = received;
  spm.skip(19, 'specimen expiration has no Specimen element');
  const available = spm.text(20, 'Specimen.status')?.toUpperCase();
  if (available === 'Y') specimen.status = 'available';
  else if (available === 'N') specimen.status = 'unavailable';
  const rejects = spm.readAll(21, 'CWE', 'Specimen.status').map((c) => cweToCodeableConcept(ctx, c, { field: 'SPM-21', table: '0490' })).filter((c) => c !== undefined);
  if (rejects.length > 0) {
    // A rejected specimen is unsatisfactory (IG concept map SpecimenRejectReason); R4 has no element
    // for the reason itself, so it is kept as a note.
    specimen.status = 'unsatisfactory';
    for (const r of rejects) notes.push({ text: `Rejected: ${r.text ?? r.coding?.[0]?.display ?? r.coding?.[0]?.code ?? ''}` });
  }
  spm.skip(22, 'specimen quality has no Specimen element');
  spm.skip(23, 'specimen appropriateness has no Specimen element');
  const conditions = spm.readAll(24, 'CWE', 'Specimen.condition').map((c) => cweToCodeableConcept(ctx, c, { field: 'SPM-24', table: '0493' })).filter((c) => c !== undefined);
  if (conditions.length > 0) specimen.condition = conditions;
  spm.skip(25, 'current quantity has no Specimen element');
  spm.skip(26, 'number of specimen containers has no Specimen element');
  const additives = spm.readAll(6, 'CWE', 'Specimen.container.additiveCodeableConcept').map((c) => cweToCodeableConcept(ctx, c, { field: 'SPM-6', table: '0371' })).filter((c) => c !== undefined);
  const containerType = cweToCodeableConcept(ctx, spm.read(27, 'CWE', 'Specimen.container.type'), { field: 'SPM-27' });
  if (additives.length > 0 || containerType !== undefined) {
    const first = additives[0];
    specimen.container = [{ ...(containerType !== undefined ? { type: containerType } : {}), ...(first !== undefined ? { additiveCodeableConcept: first } : {}) }];
    for (const extra of additives.slice(1)) specimen.container.push({ additiveCodeableConcept: extra });
  }
  spm.skip(28, 'container condition has no Specimen element');
  spm.skip(29, 'specimen child role has no Specimen element');
  if (Object.keys(collection).length > 0) specimen.collection = collection;
  if (notes.length > 0) specimen.note = notes;
  return ctx.add(specimen);
}

/**
 * OBR-15 specimen source (SPS, withdrawn in v2.7) with OBR-7/8/9/10/14 -> Specimen (IG segment map
 * OBR[Specimen]), for messages without SPM. Undefined when OBR says nothing about a specimen
 * (none of OBR-9, -10, -14, -15).
 */
export function specimenFromObr(ctx: MappingContext, obr: SegmentReader, options: SpecimenOptions & { readonly key?: string } = {}): Reference<Specimen> | undefined {
  if (![9, 10, 14, 15].some((n) => obr.has(n))) return undefined;
  const sps = obr.raw(15, 'Specimen.type') ?? '';
  const enc = obr.encoding;
  const sub = { ...enc, component: enc.subcomponent };
  const specimen: Specimen & { id: string } = { resourceType: 'Specimen', id: ctx.id('Specimen', options.key ?? ctx.messageKey, 'obr', options.key === undefined ? String(obr.index) : '') };
  // SPS-1 source (CWE in subcomponents), SPS-4 body site, SPS-3 collection method (text).
  const type = cweToCodeableConcept(ctx, tolerant(ctx, 'OBR-15', () => readCwe(piece(sps, enc.component, 1) ?? '', sub, 'OBR-15')), { field: 'OBR-15', table: '0070' });
  if (type !== undefined) specimen.type = type;
  const collection: NonNullable<Specimen['collection']> = {};
  const site = cweToCodeableConcept(ctx, tolerant(ctx, 'OBR-15', () => readCwe(piece(sps, enc.component, 4) ?? '', sub, 'OBR-15')), { field: 'OBR-15', table: '0163' });
  if (site !== undefined) collection.bodySite = site;
  const methodText = sps === '' ? undefined : piece(sps, enc.component, 3);
  if (methodText !== undefined && methodText !== '') collection.method = { text: decodeEscapes(methodText, enc) };
  const start = ctx.dateTime(obr.read(7, 'TS', 'Specimen.collection.collected[x]'), 'OBR-7');
  const end = ctx.dateTime(obr.read(8, 'TS', 'Specimen.collection.collectedPeriod.end'), 'OBR-8');
  if (end !== undefined) collection.collectedPeriod = { ...(start !== undefined ? { start } : {}), end };
  else if (start !== undefined) collection.collectedDateTime = start;
  const volume = obr.raw(9, 'Specimen.collection.quantity');
  if (volume !== undefined) {
    const v = piece(volume, enc.component, 1) ?? '';
    const u = piece(piece(volume, enc.component, 2) ?? '', enc.subcomponent, 1);
    if (/^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(v.trim())) collection.quantity = { value: Number(v), ...(u !== undefined && u !== '' ? { unit: u } : {}) };
  }
  const collector = practitionerFromXcn(ctx, obr.read(10, 'XCN', 'Specimen.collection.collector'));
  if (collector !== undefined) collection.collector = collector;
  const received = ctx.dateTime(obr.read(14, 'TS', 'Specimen.receivedTime'), 'OBR-14');
  if (received !== undefined) specimen.receivedTime = received;
  if (Object.keys(collection).length > 0) specimen.collection = collection;
  if (options.subject !== undefined) specimen.subject = options.subject;
  if (options.request !== undefined) specimen.request = [options.request];
  return ctx.add(specimen);
}
