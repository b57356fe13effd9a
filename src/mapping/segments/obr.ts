import type { CodeableConcept, DiagnosticReport, Encounter, Extension, Observation, Patient, Practitioner, Reference, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import { decodeEscapes, piece, type Hl7Encoding, type Hl7Xcn } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, period, tableCode, xtnToContactPoint } from '../v2-datatypes.ts';
import { practitionerFromXcn } from '../v2-resources.ts';
import { priorityFrom, tqTime, type OrderIdentity } from './orc.ts';
import { eipToIdentifiers } from './spm.ts';

/**
 * OBR -> ServiceRequest and DiagnosticReport (HL7 V2-to-FHIR IG segment maps OBR[ServiceRequest]
 * and OBR[DiagnosticReport]). The same OBR feeds both: applyObr fills the request, mapObrReport
 * builds the report, and each marks the fields it uses.
 */

/** HL7 table 0123 result status -> diagnostic-report-status (IG concept map ResultStatus[Non-Queries]; A, M, N by our reading). */
export const REPORT_STATUS: Readonly<Record<string, DiagnosticReport['status']>> = {
  O: 'registered',
  I: 'registered',
  S: 'registered',
  A: 'partial',
  P: 'preliminary',
  C: 'corrected',
  M: 'corrected',
  R: 'partial',
  F: 'final',
  X: 'cancelled',
  N: 'registered',
};

/** The request status a result status implies, for an order whose ORC says nothing usable (ORU ORC-1 is usually RE). */
const REQUEST_STATUS_FROM_RESULT: Readonly<Record<string, ServiceRequest['status']>> = {
  O: 'active', I: 'active', S: 'active', A: 'active', P: 'active', R: 'active', N: 'active', F: 'completed', C: 'completed', M: 'active', X: 'revoked',
};

/** OBR fields onto the ServiceRequest (code, priority, times, requester, reasons, parent...). */
export function applyObr(ctx: MappingContext, obr: SegmentReader, sr: ServiceRequest, options: { readonly statusSet: boolean }): void {
  obr.skip(1, 'set id orders segments; not data');
  const code = cweToCodeableConcept(ctx, obr.read(4, 'CWE', 'ServiceRequest.code'), { field: 'OBR-4' });
  if (code !== undefined) sr.code = code;
  const priority = priorityFrom(obr.text(5, 'ServiceRequest.priority'));
  if (priority !== undefined) sr.priority ??= priority;
  const requested = ctx.dateTime(obr.read(6, 'TS', 'ServiceRequest.occurrenceDateTime'), 'OBR-6');
  if (requested !== undefined && sr.occurrenceDateTime === undefined && sr.occurrencePeriod === undefined && sr.occurrenceTiming === undefined) sr.occurrenceDateTime = requested;
  const action = obr.text(11, 'ServiceRequest.intent')?.toUpperCase();
  // IG OBR-11: G (generated) -> reflex-order; A (add-on) has no R4 intent, so stays "order".
  if (action === 'G') sr.intent = 'reflex-order';
  obr.skip(12, 'danger code has no ServiceRequest element');
  const clinical = obr.text(13, 'ServiceRequest.note');
  if (clinical !== undefined) sr.note = [...(sr.note ?? []), { text: clinical }];
  const ordering = practitionerFromXcn(ctx, obr.read(16, 'XCN', 'ServiceRequest.requester'));
  if (ordering !== undefined) sr.requester ??= ordering;
  const callback = xtnToContactPoint(obr.read(17, 'XTN', 'ServiceRequest.extension:servicerequest-order-callback-phone-number'));
  const cbUrl = 'http://hl7.org/fhir/StructureDefinition/servicerequest-order-callback-phone-number';
  if (callback !== undefined && !(sr.extension ?? []).some((e) => e.url === cbUrl)) sr.extension = [...(sr.extension ?? []), { url: cbUrl, valueContactPoint: callback }];
  for (const n of [18, 19, 20, 21]) obr.skip(n, 'placer/filler private fields have no defined meaning');
  obr.skip(23, 'charge to practice belongs to billing, not the order');
  // OBR-27 (TQ, withdrawn in v2.7): start/end and priority when neither ORC-7 nor TQ1 gave them.
  const tq = obr.raw(27, 'ServiceRequest.occurrence[x]');
  if (tq !== undefined) {
    const start = tqTime(ctx, piece(tq, obr.encoding.component, 4), obr.encoding, 'OBR-27.4');
    const end = tqTime(ctx, piece(tq, obr.encoding.component, 5), obr.encoding, 'OBR-27.5');
    if (sr.occurrenceDateTime === undefined && sr.occurrencePeriod === undefined && sr.occurrenceTiming === undefined) {
      if (end !== undefined) sr.occurrencePeriod = { ...(start !== undefined ? { start } : {}), end };
      else if (start !== undefined) sr.occurrenceDateTime = start;
    }
    const pr = priorityFrom(piece(tq, obr.encoding.component, 6));
    if (pr !== undefined) sr.priority ??= pr;
  }
  obr.skip(28, 'result copies to has no FHIR R4 element');
  const parent = eipToIdentifiers(ctx, obr.raw(29, 'ServiceRequest.basedOn'), obr.encoding);
  for (const identifier of [parent.placer, parent.filler]) {
    if (identifier !== undefined) sr.basedOn = [...(sr.basedOn ?? []), { type: 'ServiceRequest', identifier }];
  }
  obr.skip(30, 'transportation mode has no ServiceRequest element');
  const reasons = obr.readAll(31, 'CWE', 'ServiceRequest.reasonCode').map((c) => cweToCodeableConcept(ctx, c, { field: 'OBR-31' })).filter((c) => c !== undefined);
  if (reasons.length > 0) sr.reasonCode = reasons;
  obr.skip(36, 'scheduled date/time has no ServiceRequest element once the occurrence is set');
  obr.skip(37, 'number of sample containers has no ServiceRequest element');
  obr.skip(38, 'transport logistics has no ServiceRequest element');
  obr.skip(39, "collector's comment has no Specimen element in R4");
  obr.skip(40, 'transport arrangement responsibility has no ServiceRequest element');
  obr.skip(41, 'transport arranged has no ServiceRequest element');
  obr.skip(42, 'escort required has no ServiceRequest element');
  obr.skip(43, 'planned patient transport comment has no ServiceRequest element');
  obr.skip(44, 'procedure code belongs to billing (Procedure/Claim), not the order');
  obr.skip(45, 'procedure code modifier belongs to billing');
  const details = [...obr.readAll(46, 'CWE', 'ServiceRequest.orderDetail'), ...obr.readAll(47, 'CWE', 'ServiceRequest.orderDetail')]
    .map((c) => cweToCodeableConcept(ctx, c, { field: 'OBR-46' }))
    .filter((c) => c !== undefined);
  if (details.length > 0) sr.orderDetail = details;
  obr.skip(48, 'medically necessary duplicate procedure reason has no ServiceRequest element');
  obr.skip(49, 'result handling has no ServiceRequest element');
  obr.skip(50, 'parent universal service identifier has no ServiceRequest element');
  obr.skip(51, 'observation group id has no ServiceRequest element');
  obr.skip(52, 'parent observation group id has no ServiceRequest element');
  obr.skip(54, 'parent order (v2.8) is carried by OBR-29 when sent; not mapped twice');
  obr.skip(55, 'action code is a message-level instruction, not data');
  if (!options.statusSet) {
    const result = obr.raw(25)?.toUpperCase();
    const s = result !== undefined ? REQUEST_STATUS_FROM_RESULT[result] : undefined;
    if (s !== undefined) sr.status = s;
  }
}

export interface ReportOptions {
  readonly identity: OrderIdentity;
  readonly subject?: Reference<Patient>;
  readonly encounter?: Reference<Encounter>;
  readonly basedOn?: Reference<ServiceRequest>;
  readonly results: ReadonlyArray<Reference<Observation>>;
  readonly specimens: ReadonlyArray<Reference<Specimen>>;
  readonly category?: CodeableConcept;
  readonly extension?: Extension[];
  /** Position of the group's first segment, for the id of a report without order numbers. */
  readonly anchorIndex: number;
}

/**
 * OBR -> DiagnosticReport (IG OBR[DiagnosticReport]): status from OBR-25 (table 0123), code OBR-4,
 * category OBR-24, effective OBR-7/8, issued OBR-22, interpreters and technicians OBR-32..35,
 * result = the Observations of its ORDER_OBSERVATION group. The id follows the filler order number
 * (the lab's report), else the placer, else the message and position. A group without OBR (ORC
 * only, or results only) still gets its report (IG ORU_R01: each ORC yields a DiagnosticReport),
 * with an unknown status and code.
 */
export function mapObrReport(ctx: MappingContext, obr: SegmentReader | undefined, options: ReportOptions): Reference<DiagnosticReport> {
  const key = options.identity.resultKey;
  const id = key !== undefined ? ctx.id('DiagnosticReport', key) : ctx.id('DiagnosticReport', ctx.messageKey, String(options.anchorIndex));
  const raw = obr?.text(25, 'DiagnosticReport.status')?.toUpperCase();
  if (raw === 'Y' || raw === 'Z') {
    // IG concept map ResultStatus: Y (no order on record) and Z (no record of this patient) are errors.
    throw new SwitchboardError('SWB_ERR_MAP_FIELD_FAILED', { field: 'OBR-25', reason: `result status ${raw} reports that the filler has no record of the ${raw === 'Y' ? 'order' : 'patient'}` });
  }
  const status = raw !== undefined ? REPORT_STATUS[raw] : undefined;
  if (raw !== undefined && status === undefined) ctx.warn(`OBR-25: result status not in HL7 table 0123; DiagnosticReport.status is unknown (segment ${options.anchorIndex})`);
  const codeCwe = obr === undefined ? undefined : obr.read(4, 'CWE', 'DiagnosticReport.code');
  const code = cweToCodeableConcept(ctx, codeCwe, { field: 'OBR-4' });
  const report: DiagnosticReport & { id: string } = {
    resourceType: 'DiagnosticReport',
    id,
    status: status ?? 'unknown',
    code: code ?? { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] },
  };
  if (options.identity.identifiers.length > 0) report.identifier = options.identity.identifiers.filter((i) => i.type?.coding?.[0]?.code !== 'PLAC' || i === options.identity.placer);
  const categories: CodeableConcept[] = [];
  if (options.category !== undefined) categories.push(options.category);
  const section = obr?.text(24, 'DiagnosticReport.category');
  if (section !== undefined) categories.push(tableCode(section, '0074') as CodeableConcept);
  if (categories.length > 0) report.category = categories;
  if (options.subject !== undefined) report.subject = options.subject;
  if (options.encounter !== undefined) report.encounter = options.encounter;
  if (options.basedOn !== undefined) report.basedOn = [options.basedOn];
  if (options.results.length > 0) report.result = [...options.results];
  if (options.specimens.length > 0) report.specimen = [...options.specimens];
  if (options.extension !== undefined && options.extension.length > 0) report.extension = options.extension;
  if (obr === undefined) return ctx.add(report);
  const start = ctx.dateTime(obr.read(7, 'TS', 'DiagnosticReport.effective[x]'), 'OBR-7');
  const end = ctx.dateTime(obr.read(8, 'TS', 'DiagnosticReport.effectivePeriod.end'), 'OBR-8');
  if (end !== undefined) report.effectivePeriod = period(start, end) as NonNullable<DiagnosticReport['effectivePeriod']>;
  else if (start !== undefined) report.effectiveDateTime = start;
  const issued = ctx.instant(obr.read(22, 'TS', 'DiagnosticReport.issued'), 'OBR-22');
  if (issued !== undefined) report.issued = issued;
  else if (obr.has(22)) ctx.warn(`OBR-22: results report time coarser than seconds cannot be an instant; not mapped (segment ${obr.index})`);
  const interpreters = ndlPractitioners(ctx, obr.repetitions(32, 'DiagnosticReport.resultsInterpreter'), obr.encoding);
  if (interpreters.length > 0) report.resultsInterpreter = interpreters;
  const performers = [
    ...ndlPractitioners(ctx, obr.repetitions(33, 'DiagnosticReport.performer'), obr.encoding),
    ...ndlPractitioners(ctx, obr.repetitions(34, 'DiagnosticReport.performer'), obr.encoding),
    ...ndlPractitioners(ctx, obr.repetitions(35, 'DiagnosticReport.performer'), obr.encoding),
  ];
  if (performers.length > 0) report.performer = performers;
  obr.skip(26, 'parent result links to another OBX; not mapped to a reference');
  return ctx.add(report);
}

/** NDL (CNN with subcomponents ^ start ^ end ^ location...) -> Practitioner references (IG NDL[PractitionerRole], person part). */
function ndlPractitioners(ctx: MappingContext, reps: readonly string[], enc: Hl7Encoding): Array<Reference<Practitioner>> {
  const out: Array<Reference<Practitioner>> = [];
  for (const rep of reps) {
    const cnn = (piece(rep, enc.component, 1) ?? '').split(enc.subcomponent).map((s) => (s === '' ? undefined : decodeEscapes(s, enc)));
    const [id, family, given, middle, suffix, prefix, degree] = cnn;
    const xcn: Hl7Xcn = {
      ...(id !== undefined ? { id } : {}),
      ...(family !== undefined ? { family } : {}),
      ...(given !== undefined ? { given } : {}),
      ...(middle !== undefined ? { middle } : {}),
      ...(suffix !== undefined ? { suffix } : {}),
      ...(prefix !== undefined ? { prefix } : {}),
      ...(degree !== undefined ? { degree } : {}),
      ...(cnn[8] !== undefined ? { assigningAuthority: { namespaceId: cnn[8] } } : {}),
    };
    const ref = practitionerFromXcn(ctx, xcn);
    if (ref !== undefined) out.push(ref);
  }
  return out;
}
