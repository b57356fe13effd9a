import type { Attachment, DiagnosticReport, Encounter, Identifier, Observation, ObservationComponent, Patient, Quantity, ServiceRequest, Specimen } from '@medplum/fhirtypes';
import type { Hl7Segment } from '../../hl7v2/index.ts';
import { v2TableUri } from '../code-systems.ts';
import { codeableConceptToCwe, composite, identifierToCx, identifierToEi, identifierTypeCode, nmText, periodToDr, quantityToNm, quantityUnits, raw, toDtm, toTm } from './fhir-datatypes.ts';
import { cnnFor, formattedText, writeNtes, writePid, writePv1, xcnFor, xonFor } from './patient-segments.ts';
import { inputError, type ReverseContext } from './reverse-context.ts';
import { OBSERVATION_STATUS_TO_V2, REPORT_STATUS_TO_V2, alternateCode, primitiveOf } from './reverse-codes.ts';

/**
 * DiagnosticReport + its Observations -> ORU^R01 (HL7 v2.5.1 ch.7 7.3.1; HL7 V2-to-FHIR IG message
 * map ORU_R01 and segment maps OBR[DiagnosticReport], OBX[Observation], SPM[Specimen] read right to
 * left): PID, [PV1], ORC, OBR, [NTE], OBX + NTE per Observation (hasMember and components
 * flattened after their parent), SPM per Specimen (v2.5+).
 */

const ANALYSIS_TIME = 'http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time';
const VALUE_ATTACHMENT = ['http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment', 'https://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.valueAttachment'];
/** ST is limited to 199 characters in v2.5.1 (ch.2A 2.A.74); longer text goes as TX. */
const ST_MAX = 199;

/**
 * One ORU^R01 for the given reports: one PATIENT (PID, [PV1]) from the first report's subject, and
 * one ORDER_OBSERVATION group (ORC, OBR, NTE, OBX..., SPM...) per report about that same patient,
 * in input order. Reports about another patient are left out (and reported): one message, one patient.
 */
export function buildOruR01(ctx: ReverseContext, reports: readonly DiagnosticReport[]): void {
  const first = reports[0];
  if (first === undefined) throw inputError('no DiagnosticReport in the input');
  ctx.visit(first);
  const patient = ctx.resolve<Patient>(first.subject, first);
  if (patient === undefined && first.subject?.identifier === undefined) throw inputError('DiagnosticReport.subject does not resolve to a Patient in the input (ORU^R01 needs PID)');
  writePid(ctx, patient, first.subject);
  const encounter = ctx.resolve<Encounter>(first.encounter, first);
  if (encounter !== undefined) writePv1(ctx, encounter);
  let n = 0;
  for (const report of reports) {
    const samePatient = report === first || (patient !== undefined ? ctx.resolve<Patient>(report.subject, report) === patient : report.subject?.reference === first.subject?.reference);
    if (!samePatient) continue;
    ctx.visit(report);
    ctx.use(report, 'subject', 'PID');
    if (encounter !== undefined && ctx.resolve<Encounter>(report.encounter, report) === encounter) ctx.use(report, 'encounter', 'PV1');
    else if (report.encounter !== undefined) ctx.unmapped(report, 'encounter', 'PV1 is written for the first report\'s Encounter only (when it is in the input)');
    writeOrderObservation(ctx, report, ++n);
  }
}

/** ORC, OBR, NTE (conclusion), OBX + NTE per Observation, SPM per Specimen for one report. */
function writeOrderObservation(ctx: ReverseContext, report: DiagnosticReport, obrSetId: number): void {

  const { placer, filler, order } = orderNumbers(ctx, report);
  const orc = ctx.message.addSegment('ORC');
  orc.set('1', 'RE');
  const enc = ctx.encoding;
  ctx.putRaw(orc, '2', identifierToEi(enc, placer, ctx.tenant));
  ctx.putRaw(orc, '3', identifierToEi(enc, filler, ctx.tenant));
  if (order !== undefined) {
    ctx.putRaw(orc, '12', xcnFor(ctx, order.requester, order));
    if (order.requester !== undefined) ctx.use(order, 'requester', 'ORC-12');
  }
  const obr = ctx.message.addSegment('OBR');
  obr.set('1', String(obrSetId));
  ctx.putRaw(obr, '2', identifierToEi(enc, placer, ctx.tenant));
  ctx.putRaw(obr, '3', identifierToEi(enc, filler, ctx.tenant));
  const code = codeableConceptToCwe(enc, report.code, { tenant: ctx.tenant });
  if (code === undefined) ctx.warn('OBR-4 (required) is empty: a DiagnosticReport has no code with a coding or text');
  else {
    obr.setRaw('4', code);
    ctx.use(report, 'code', 'OBR-4');
  }
  if (report.effectiveDateTime !== undefined) {
    ctx.putRaw(obr, '7', toDtm(report.effectiveDateTime, 'DiagnosticReport.effectiveDateTime'));
    ctx.use(report, 'effectiveDateTime', 'OBR-7');
  } else if (report.effectivePeriod !== undefined) {
    ctx.putRaw(obr, '7', toDtm(report.effectivePeriod.start, 'DiagnosticReport.effectivePeriod.start'));
    ctx.putRaw(obr, '8', toDtm(report.effectivePeriod.end, 'DiagnosticReport.effectivePeriod.end'));
    ctx.use(report, 'effectivePeriod', 'OBR-7/OBR-8');
  }
  if (report.issued !== undefined) {
    ctx.putRaw(obr, '22', toDtm(report.issued, 'DiagnosticReport.issued'));
    ctx.use(report, 'issued', 'OBR-22');
  }
  const section = report.category?.flatMap((c) => c.coding ?? []).find((c) => c.system === v2TableUri('0074'))?.code;
  if (section !== undefined) {
    obr.set('24', section);
    ctx.use(report, 'category', 'OBR-24');
  } else if (report.category !== undefined) ctx.skip(report, 'category', 'OBR-24 takes a table 0074 diagnostic service section code only');
  const status = alternateCode(primitiveOf(report, 'status'), '0123') ?? REPORT_STATUS_TO_V2[report.status];
  if (status !== undefined) {
    obr.set('25', status);
    ctx.use(report, 'status', 'OBR-25');
  } else ctx.unmapped(report, 'status', `${report.status} has no HL7 table 0123 code; OBR-25 left empty`);
  const interpreters = (report.resultsInterpreter ?? []).map((r) => cnnFor(ctx, r, report));
  if (interpreters.some((i) => i !== undefined)) {
    // OBR-32 is NDL, not repeating: the first interpreter.
    ctx.putRaw(obr, '32', interpreters.find((i) => i !== undefined));
    ctx.use(report, 'resultsInterpreter', 'OBR-32');
  }
  if (report.basedOn !== undefined) ctx.use(report, 'basedOn', 'ORC-2/OBR-2');
  if (report.identifier !== undefined) ctx.use(report, 'identifier', 'ORC-2/3, OBR-2/3');
  if (report.conclusion !== undefined) {
    writeNtes(ctx, report, 'conclusion', [{ text: report.conclusion }]);
  }
  // Performers (the forward map reads OBR-33/34/35 into them): sent as technicians (OBR-34, NDL).
  const technicians = (report.performer ?? []).filter((p) => (p.reference?.split('/').at(-2) ?? ctx.resolve(p, report)?.resourceType) !== 'Organization').map((p) => cnnFor(ctx, p, report));
  if (technicians.some((t) => t !== undefined)) {
    ctx.putReps(obr, '34', technicians);
    ctx.use(report, 'performer', 'OBR-34');
  } else ctx.skip(report, 'performer', 'an organization as performer has no OBR field (OBX-23 names the performing organization per result)');
  ctx.skip(report, 'presentedForm', 'the rendered report is not sent; its results are');
  ctx.skip(report, 'conclusionCode', 'OBR has no coded conclusion field');

  let setId = 0;
  const written = new Set<Observation>();
  const writeObservation = (obs: Observation): void => {
    if (written.has(obs)) return;
    written.add(obs);
    const hasValue = valueOf(obs) !== undefined;
    if (hasValue || obs.component === undefined || obs.hasMember !== undefined) {
      writeObx(ctx, obs, ++setId, obs, undefined);
      writeNtes(ctx, obs, 'note', obs.note);
    }
    for (const [i, c] of (obs.component ?? []).entries()) {
      writeObx(ctx, obs, ++setId, c, i);
      ctx.use(obs, 'component', 'OBX');
    }
    for (const m of obs.hasMember ?? []) {
      const member = ctx.resolve<Observation>(m, obs);
      if (member?.resourceType === 'Observation') {
        ctx.use(obs, 'hasMember', 'OBX (following)');
        writeObservation(member);
      } else ctx.unmapped(obs, 'hasMember', 'a member is not an Observation in the input');
    }
  };
  for (const ref of report.result ?? []) {
    const obs = ctx.resolve<Observation>(ref, report);
    if (obs?.resourceType !== 'Observation') {
      ctx.unmapped(report, 'result', 'a result is not an Observation in the input; no OBX written for it');
      continue;
    }
    ctx.use(report, 'result', 'OBX');
    writeObservation(obs);
  }
  writeSpecimens(ctx, report);
}

/** Placer and filler order numbers: typed identifiers (PLAC/FILL) of the report or its order. */
function orderNumbers(ctx: ReverseContext, report: DiagnosticReport): { placer: Identifier | undefined; filler: Identifier | undefined; order: ServiceRequest | undefined } {
  const order = report.basedOn?.map((r) => ctx.resolve<ServiceRequest>(r, report)).find((r) => r?.resourceType === 'ServiceRequest');
  if (order !== undefined) ctx.visit(order);
  const ids = [...(report.identifier ?? []), ...(order?.identifier ?? [])];
  const placer = ids.find((i) => identifierTypeCode(i) === 'PLAC') ?? order?.identifier?.find((i) => identifierTypeCode(i) !== 'FILL');
  const filler = ids.find((i) => identifierTypeCode(i) === 'FILL') ?? report.identifier?.find((i) => identifierTypeCode(i) === undefined);
  if (order !== undefined && order.identifier !== undefined) ctx.use(order, 'identifier', 'ORC-2/OBR-2');
  return { placer, filler, order };
}

type Valued = Pick<Observation, 'valueQuantity' | 'valueCodeableConcept' | 'valueString' | 'valueBoolean' | 'valueInteger' | 'valueRange' | 'valueRatio' | 'valueSampledData' | 'valueTime' | 'valueDateTime' | 'valuePeriod' | 'extension'>;

const VALUE_KEYS = ['valueQuantity', 'valueCodeableConcept', 'valueString', 'valueBoolean', 'valueInteger', 'valueRange', 'valueRatio', 'valueSampledData', 'valueTime', 'valueDateTime', 'valuePeriod'] as const;

function valueOf(v: Valued): string | undefined {
  const key = VALUE_KEYS.find((k) => v[k] !== undefined);
  if (key !== undefined) return key;
  return v.extension?.some((e) => VALUE_ATTACHMENT.includes(e.url)) === true ? 'valueAttachment' : undefined;
}

/** OBX-2 and OBX-5 (raw) and OBX-6 for a value[x] (IG OBX[Observation] OBX-5 rows, right to left). */
export function obxValue(ctx: ReverseContext, v: Valued, element: string): { type: string; value: string; units?: string } | undefined {
  const enc = ctx.encoding;
  const tenant = ctx.tenant;
  const cweType = ctx.atLeast('2.5') ? 'CWE' : 'CE';
  const dtmType = ctx.atLeast('2.5') ? 'DTM' : 'TS';
  const withUnits = (type: string, value: string | undefined, q: Quantity | undefined): { type: string; value: string; units?: string } | undefined => {
    if (value === undefined) return undefined;
    const units = quantityUnits(enc, q, tenant);
    return units === undefined ? { type, value } : { type, value, units };
  };
  if (v.valueQuantity !== undefined) {
    const q = v.valueQuantity;
    const nm = quantityToNm(enc, q, tenant);
    if (nm === undefined) return undefined;
    // A comparator needs SN (ch.2A 2.A.71): <^5.
    if (q.comparator !== undefined) return withUnits('SN', composite(enc, [q.comparator, nm.value]), q);
    return withUnits('NM', nm.value, q);
  }
  if (v.valueCodeableConcept !== undefined) {
    const cwe = codeableConceptToCwe(enc, v.valueCodeableConcept, { tenant });
    return cwe === undefined ? undefined : { type: cweType, value: cwe };
  }
  if (v.valueString !== undefined) {
    const s = v.valueString;
    // Lines keep their breaks as FT's \.br\; long single-line text is TX.
    if (/[\r\n]/.test(s)) return { type: 'FT', value: formattedText(ctx, s) };
    return { type: s.length > ST_MAX ? 'TX' : 'ST', value: composite(enc, [s]) ?? '' };
  }
  if (v.valueBoolean !== undefined) return { type: cweType, value: composite(enc, [v.valueBoolean ? 'Y' : 'N', v.valueBoolean ? 'Yes' : 'No', 'HL70136']) ?? '' };
  if (v.valueInteger !== undefined) return { type: 'NM', value: String(v.valueInteger) };
  if (v.valueRange !== undefined) {
    const { low, high } = v.valueRange;
    const lo = nmText(low?.value);
    const hi = nmText(high?.value);
    const sn = lo !== undefined && hi !== undefined ? composite(enc, [undefined, lo, '-', hi]) : lo !== undefined ? composite(enc, ['>=', lo]) : hi !== undefined ? composite(enc, ['<=', hi]) : undefined;
    return withUnits('SN', sn, low ?? high);
  }
  if (v.valueRatio !== undefined) {
    // SN ratio (titers are written 1:128).
    const n = nmText(v.valueRatio.numerator?.value);
    const d = nmText(v.valueRatio.denominator?.value);
    return n === undefined || d === undefined ? undefined : withUnits('SN', composite(enc, [undefined, n, ':', d]), v.valueRatio.numerator?.code !== undefined ? v.valueRatio.numerator : undefined);
  }
  if (v.valueDateTime !== undefined) return { type: dtmType, value: toDtm(v.valueDateTime, `${element}.valueDateTime`) ?? '' };
  if (v.valueTime !== undefined) return { type: 'TM', value: toTm(v.valueTime, `${element}.valueTime`) ?? '' };
  if (v.valuePeriod !== undefined) {
    const dr = periodToDr(enc, v.valuePeriod, `${element}.valuePeriod`);
    return dr === undefined ? undefined : { type: 'DR', value: dr };
  }
  const att = v.extension?.find((e) => VALUE_ATTACHMENT.includes(e.url))?.valueAttachment;
  if (att !== undefined) {
    const ed = attachmentToEd(ctx, att);
    return ed === undefined ? undefined : { type: 'ED', value: ed };
  }
  return undefined;
}

/**
 * Attachment -> ED (ch.2A 2.A.24): source application ^ type of data (table 0191) ^ subtype ^
 * encoding ^ data. The data stays base64 (its alphabet holds no delimiter).
 */
export function attachmentToEd(ctx: ReverseContext, att: Attachment): string | undefined {
  if (att.data === undefined) return undefined;
  const [major = 'application', minor = 'octet-stream'] = (att.contentType ?? 'application/octet-stream').split(';')[0]?.trim().split('/') ?? [];
  const type = major === 'text' ? 'TEXT' : major === 'image' ? 'IM' : major === 'audio' ? 'AU' : major === 'application' ? 'AP' : 'AP';
  return composite(ctx.encoding, [undefined, type, minor.toUpperCase(), 'Base64', raw(att.data)]);
}

/** One OBX for an Observation (or one of its components, `component` its index). */
function writeObx(ctx: ReverseContext, obs: Observation, setId: number, v: Observation | ObservationComponent, component: number | undefined): Hl7Segment {
  const enc = ctx.encoding;
  const el = component === undefined ? '' : 'component.';
  const obx = ctx.message.addSegment('OBX');
  obx.set('1', String(setId));
  const value = obxValue(ctx, v, component === undefined ? 'Observation' : 'Observation.component');
  const key = valueOf(v);
  if (value !== undefined) {
    obx.set('2', value.type);
    obx.setRaw('5', value.value);
    ctx.putRaw(obx, '6', value.units);
    ctx.use(obs, component === undefined ? (key ?? 'value') : 'component', `OBX-2/OBX-5${value.units !== undefined ? '/OBX-6' : ''}`);
    if (key === 'valueAttachment') ctx.use(obs, 'extension', 'OBX-5 (ED)');
  } else if (key !== undefined) ctx.unmapped(obs, `${el}${key}`, 'this value type has no OBX-2 value type (e.g. SampledData)');
  const code = codeableConceptToCwe(enc, v.code, { tenant: ctx.tenant });
  if (code === undefined) ctx.warn('OBX-3 (required) is empty: an Observation has no code with a coding or text');
  else {
    obx.setRaw('3', code);
    ctx.use(obs, `${el}code`, 'OBX-3');
  }
  const range = v.referenceRange?.[0];
  if (range !== undefined) {
    const lo = nmText(range.low?.value);
    const hi = nmText(range.high?.value);
    ctx.put(obx, '7', range.text ?? (lo !== undefined && hi !== undefined ? `${lo}-${hi}` : lo !== undefined ? `>=${lo}` : hi !== undefined ? `<=${hi}` : undefined));
    ctx.use(obs, `${el}referenceRange`, 'OBX-7');
  }
  if (v.interpretation !== undefined) {
    ctx.putReps(obx, '8', v.interpretation.map((i) => codeableConceptToCwe(enc, i, { tenant: ctx.tenant })));
    ctx.use(obs, `${el}interpretation`, 'OBX-8');
  }
  const status = alternateCode(primitiveOf(obs, 'status'), '0085') ?? statusCode(ctx, obs.status);
  if (status !== undefined) {
    obx.set('11', status);
    ctx.use(obs, 'status', 'OBX-11');
  } else {
    ctx.unmapped(obs, 'status', `${obs.status} has no HL7 table 0085 code; OBX-11 (required) left empty`);
    ctx.warn('OBX-11 (required) is empty for an Observation whose status has no table 0085 code');
  }
  const effective = obs.effectiveDateTime ?? obs.effectiveInstant ?? obs.effectivePeriod?.start;
  if (effective !== undefined) {
    ctx.putRaw(obx, '14', toDtm(effective, 'Observation.effective[x]'));
    ctx.use(obs, obs.effectiveDateTime !== undefined ? 'effectiveDateTime' : obs.effectiveInstant !== undefined ? 'effectiveInstant' : 'effectivePeriod', 'OBX-14');
  }
  if (component !== undefined) return obx;
  for (const p of obs.performer ?? []) {
    const type = p.reference?.split('/').at(-2) ?? ctx.resolve(p, obs)?.resourceType;
    if (type === 'Organization' && ctx.atLeast('2.5')) {
      ctx.putRaw(obx, '23', xonFor(ctx, p, obs));
      ctx.use(obs, 'performer', 'OBX-23');
    } else if (type === 'Practitioner' || type === 'PractitionerRole') {
      const prior = obx.rawField(16);
      const xcn = xcnFor(ctx, p, obs);
      if (xcn !== undefined) obx.setRaw('16', prior === undefined || prior === '' ? xcn : `${prior}${enc.repetition}${xcn}`);
      ctx.use(obs, 'performer', 'OBX-16');
    } else ctx.unmapped(obs, 'performer', 'a performer that is not a Practitioner or Organization has no OBX field');
  }
  if (obs.method !== undefined) {
    ctx.putRaw(obx, '17', codeableConceptToCwe(enc, obs.method, { tenant: ctx.tenant }));
    ctx.use(obs, 'method', 'OBX-17');
  }
  const analysis = obs.extension?.find((e) => e.url === ANALYSIS_TIME)?.valueDateTime;
  if (analysis !== undefined && ctx.atLeast('2.5')) {
    ctx.putRaw(obx, '19', toDtm(analysis, 'Observation.extension:analysisDateTime'));
    ctx.use(obs, 'extension', 'OBX-19');
  }
  if (obs.bodySite !== undefined && ctx.atLeast('2.5')) {
    ctx.putRaw(obx, '20', codeableConceptToCwe(enc, obs.bodySite, { tenant: ctx.tenant }));
    ctx.use(obs, 'bodySite', 'OBX-20');
  }
  if (obs.identifier !== undefined && ctx.atLeast('2.6')) {
    ctx.putRaw(obx, '21', identifierToEi(enc, obs.identifier[0], ctx.tenant));
    ctx.use(obs, 'identifier', 'OBX-21');
  }
  for (const k of ['subject', 'encounter', 'basedOn', 'specimen'] as const) if (obs[k] !== undefined) ctx.use(obs, k, k === 'subject' ? 'PID' : k === 'encounter' ? 'PV1' : k === 'basedOn' ? 'ORC/OBR' : 'SPM');
  ctx.skip(obs, 'category', 'OBX-29 (observation type) exists only from v2.8; the category is implied by the ORU');
  ctx.skip(obs, 'issued', 'OBR-22 carries the report\'s issue time');
  ctx.skip(obs, 'dataAbsentReason', 'OBX-5 is left empty');
  return obx;
}

function statusCode(ctx: ReverseContext, status: Observation['status']): string | undefined {
  if (status === 'amended' && !ctx.atLeast('2.7')) return 'C';
  return OBSERVATION_STATUS_TO_V2[status];
}

/** Specimens -> SPM (v2.5+ SPECIMEN group; IG SPM[Specimen] reversed). */
function writeSpecimens(ctx: ReverseContext, report: DiagnosticReport): void {
  const enc = ctx.encoding;
  let n = 0;
  for (const ref of report.specimen ?? []) {
    const s = ctx.resolve<Specimen>(ref, report);
    if (s?.resourceType !== 'Specimen' || !ctx.atLeast('2.5')) {
      ctx.unmapped(report, 'specimen', s === undefined ? 'the Specimen is not in the input' : 'SPM exists from v2.5');
      continue;
    }
    ctx.use(report, 'specimen', 'SPM');
    ctx.visit(s);
    const spm = ctx.message.addSegment('SPM');
    spm.set('1', String(++n));
    // SPM-2 EIP: placer assigned id ^ filler assigned id (EI in subcomponents).
    const sub = (id: Identifier | undefined): string | undefined => identifierToEi(enc, id, ctx.tenant)?.split(enc.component).join(enc.subcomponent);
    // By type as the forward map writes them (PLAC / FILL); an untyped one is the filler's. The
    // accession number is SPM-30 from v2.7, and stands in for the filler id before.
    const ids = s.identifier ?? [];
    const placerId = ids.find((i) => identifierTypeCode(i) === 'PLAC');
    const accessionAsFiller = !ctx.atLeast('2.7') ? s.accessionIdentifier : undefined;
    const fillerId = ids.find((i) => identifierTypeCode(i) === 'FILL') ?? ids.find((i) => identifierTypeCode(i) === undefined) ?? accessionAsFiller;
    const eip = composite(enc, [raw(sub(placerId)), raw(sub(fillerId))]);
    if (eip !== undefined) {
      spm.setRaw('2', eip);
      if (s.identifier !== undefined) ctx.use(s, 'identifier', 'SPM-2');
      if (fillerId !== undefined && fillerId === accessionAsFiller) ctx.use(s, 'accessionIdentifier', 'SPM-2.2');
    }
    if (s.accessionIdentifier !== undefined && ctx.atLeast('2.7')) {
      ctx.putRaw(spm, '30', identifierToCx(enc, s.accessionIdentifier, ctx.tenant));
      ctx.use(s, 'accessionIdentifier', 'SPM-30');
    }
    const type = codeableConceptToCwe(enc, s.type, { tenant: ctx.tenant });
    if (type === undefined) ctx.warn('SPM-4 (required) is empty: the Specimen has no type');
    ctx.putRaw(spm, '4', type);
    if (type !== undefined) ctx.use(s, 'type', 'SPM-4');
    const col = s.collection;
    if (col !== undefined) {
      ctx.putRaw(spm, '7', codeableConceptToCwe(enc, col.method, { tenant: ctx.tenant }));
      ctx.putRaw(spm, '8', codeableConceptToCwe(enc, col.bodySite, { tenant: ctx.tenant }));
      const dr = col.collectedPeriod !== undefined ? periodToDr(enc, col.collectedPeriod, 'Specimen.collection.collectedPeriod') : composite(enc, [toDtm(col.collectedDateTime, 'Specimen.collection.collectedDateTime')]);
      ctx.putRaw(spm, '17', dr);
      ctx.use(s, 'collection', 'SPM-7/8/17');
    }
    if (s.receivedTime !== undefined) {
      ctx.putRaw(spm, '18', toDtm(s.receivedTime, 'Specimen.receivedTime'));
      ctx.use(s, 'receivedTime', 'SPM-18');
    }
    if (s.subject !== undefined) ctx.use(s, 'subject', 'PID');
  }
}
