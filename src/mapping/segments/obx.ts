import type {
  Attachment,
  CodeableConcept,
  Device,
  DocumentReference,
  Encounter,
  Extension,
  Identifier,
  Observation,
  ObservationComponent,
  ObservationReferenceRange,
  Organization,
  Patient,
  PractitionerRole,
  Quantity,
  Reference,
  Specimen,
} from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import { decodeEscapes, piece, readCwe, readNm, readSn, readTimestamp, type Hl7Cwe, type Hl7Encoding, type Hl7Sn } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept, eiToIdentifier, nmToQuantity, snToValue, tableCode, xadToAddress } from '../v2-datatypes.ts';
import { encodingKey, organizationFromXon, partsKey, practitionerFromXcn } from '../v2-resources.ts';
import { tolerant } from './lab-support.ts';
import { notesFrom } from './nte.ts';

/**
 * OBX -> Observation (HL7 V2-to-FHIR IG segment map OBX[Observation]; an ED/RP value also
 * OBX[DocumentReference]). One OBX always yields one Observation (a value-less OBX gets a
 * dataAbsentReason), so counting Observations against OBX segments shows that none was lost.
 */
export interface ObxOptions {
  readonly subject?: Reference<Patient>;
  readonly encounter?: Reference<Encounter>;
  readonly basedOn?: Reference[];
  readonly specimen?: Reference<Specimen>;
  readonly notes?: SegmentReader[];
  readonly category?: CodeableConcept;
  /**
   * Business key of the order the OBX belongs to (e.g. the filler order number as `system|value`).
   * With it the Observation id is order + OBX-3 + OBX-4, stable across re-sent messages even when
   * OBX segments move; without it the id is the message key + the segment position.
   */
  readonly orderKey?: string;
}

// ---- code tables (IG concept maps) ---------------------------------------------------------------

/**
 * HL7 table 0085 -> observation-status (IG concept map ObservationResultStatusCodesInterpretation).
 * The IG maps A, C, D, F, P, W and X only; B, I, N, O, R, S, U and V have no target there, so they
 * give `unknown` with the v2 code kept in an alternate-codes extension on status (as the IG does
 * for X), and N (not asked) also a dataAbsentReason of not-asked.
 */
const OBSERVATION_STATUS: Readonly<Record<string, Observation['status']>> = {
  A: 'amended',
  C: 'corrected',
  D: 'entered-in-error',
  F: 'final',
  P: 'preliminary',
  W: 'entered-in-error',
  X: 'cancelled',
};
/** Table 0085 codes that exist but have no IG target (kept as alternate codes). */
const OBSERVATION_STATUS_UNMAPPED: ReadonlySet<string> = new Set(['B', 'I', 'N', 'O', 'R', 'S', 'U', 'V']);

/** HL7 table 0078 codes that v3 ObservationInterpretation has (IG concept map InterpretationCodes). */
const INTERPRETATION: ReadonlySet<string> = new Set([
  '<', '>', 'A', 'AA', 'B', 'CAR', 'D', 'DET', 'E', 'EX', 'EXP', 'H', 'HH', 'HU', 'I', 'IE', 'IND', 'L', 'LL', 'LU', 'MS', 'N', 'NCL', 'ND', 'NEG', 'NR', 'NS',
  'POS', 'R', 'RR', 'S', 'SDD', 'SYN-R', 'SYN-S', 'U', 'UNE', 'VS', 'W', 'WR',
]);
const V3_INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const DATA_ABSENT = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

/** ED-2 type of data (table 0191) -> MIME top-level type. */
const MIME_TYPE: Readonly<Record<string, string>> = { AP: 'application', APPLICATION: 'application', IM: 'image', IMAGE: 'image', AU: 'audio', AUDIO: 'audio', TX: 'text', TEXT: 'text', NS: 'application', SI: 'application', SD: 'application', MULTIPART: 'multipart', VIDEO: 'video' };

/** Value types OBX-6 units apply to. */
const NUMERIC_TYPES: ReadonlySet<string> = new Set(['NM', 'SN', 'NA', 'NR']);

/** Value types whose repetitions are lines of one text. */
const TEXT_TYPES = new Set(['ST', 'TX', 'FT']);

type ObservationValue = Pick<
  Observation,
  'valueQuantity' | 'valueCodeableConcept' | 'valueString' | 'valueBoolean' | 'valueInteger' | 'valueRange' | 'valueRatio' | 'valueSampledData' | 'valueTime' | 'valueDateTime' | 'valuePeriod'
>;

/**
 * Maps one OBX to an Observation in ctx and returns its reference. `undefined` is never returned
 * for an OBX of a known shape; the return type allows callers to treat it as optional.
 */
export function mapObx(ctx: MappingContext, obx: SegmentReader, options: ObxOptions = {}, notesOf: readonly SegmentReader[] | undefined = options.notes): Reference<Observation> | undefined {
  const codeCwe = obx.read(3, 'CWE', 'Observation.code');
  const code = cweToCodeableConcept(ctx, codeCwe, { field: 'OBX-3' });
  const subId = obx.text(4, 'Observation.extension:observation-v2-subid');
  const setId = obx.text(1);
  if (setId !== undefined) obx.skip(1, 'set id orders segments; not data');
  const id = observationId(ctx, obx, options.orderKey, codeCwe, subId, setId);

  const rawStatus = obx.text(11, 'Observation.status');
  const upperStatus = rawStatus?.toUpperCase();
  const status = upperStatus !== undefined ? OBSERVATION_STATUS[upperStatus] : undefined;
  if (upperStatus !== undefined && status === undefined && !OBSERVATION_STATUS_UNMAPPED.has(upperStatus)) ctx.warn(`OBX-11: result status not in HL7 table 0085; Observation.status is unknown (segment ${obx.index})`);
  if (rawStatus === undefined) ctx.warn(`OBX-11: result status is empty; Observation.status is unknown (segment ${obx.index})`);
  const observation: Observation & { id: string } = {
    resourceType: 'Observation',
    id,
    status: status ?? 'unknown',
    // Observation.code is 1..1: an empty OBX-3 is sent as a data-absent code rather than dropped.
    code: code ?? { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] },
  };
  if (code === undefined) ctx.warn(`OBX-3: observation identifier is empty (segment ${obx.index})`);
  const extensions: Extension[] = [];
  if (upperStatus === 'X' || (upperStatus !== undefined && OBSERVATION_STATUS_UNMAPPED.has(upperStatus))) {
    // IG OBX-11 = X: keep the v2 code beside the FHIR status (and so for codes the IG leaves open).
    (observation as Observation & { _status?: { extension: Extension[] } })._status = {
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/alternate-codes', valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0085', code: upperStatus }] } }],
    };
  }
  if (subId !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/observation-v2-subid', valueString: subId });

  const categories: CodeableConcept[] = [];
  if (options.category !== undefined) categories.push(options.category);
  const obsType = obx.text(29, 'Observation.category');
  if (obsType !== undefined) categories.push(tableCode(obsType, '0936') as CodeableConcept);
  if (categories.length > 0) observation.category = categories;
  if (options.subject !== undefined) observation.subject = options.subject;
  if (options.encounter !== undefined) observation.encounter = options.encounter;
  if (options.basedOn !== undefined && options.basedOn.length > 0) observation.basedOn = options.basedOn as NonNullable<Observation['basedOn']>;

  // ---- value --------------------------------------------------------------------------------
  const valueType = obx.text(2, 'Observation.value[x]')?.toUpperCase();
  const reps = obx.repetitions(5, 'Observation.value[x]');
  const unitsCwe = obx.has(6) ? obx.read(6, 'CWE', 'Observation.valueQuantity.unit') : undefined;
  if (reps.length === 0) {
    const reason = rawStatus?.toUpperCase() === 'N' ? 'not-asked' : rawStatus?.toUpperCase() === 'X' ? 'not-performed' : rawStatus?.toUpperCase() === 'D' || rawStatus?.toUpperCase() === 'W' ? 'error' : 'unknown';
    observation.dataAbsentReason = { coding: [{ system: DATA_ABSENT, code: reason }] };
    if (unitsCwe !== undefined) obx.skip(6, 'units without a value');
  } else if (valueType === 'ED' || valueType === 'RP') {
    observation.derivedFrom = [documentFromObx(ctx, obx, reps, valueType, id, code, options)];
  } else if (TEXT_TYPES.has(valueType ?? '') || valueType === undefined) {
    if (valueType === undefined) ctx.warn(`OBX-2: value type is empty; OBX-5 kept as text (segment ${obx.index})`);
    // IG: ST/TX/FT -> valueString; repetitions are lines (IG OBX[DocumentReference]: "each repeat
    // yields a line feed"). FT formatting escapes (\.br\, \.sp\) are decoded to line breaks.
    observation.valueString = reps.map((r) => decodeEscapes(r, obx.encoding)).join('\n');
    if (unitsCwe !== undefined) obx.skip(6, 'units apply to numeric values only');
  } else {
    const values = reps.map((rep) => valueOf(ctx, obx, valueType, rep, unitsCwe));
    if (values.length === 1) Object.assign(observation, values[0]);
    else {
      // Observation.value[x] is 0..1: several repetitions become components with the OBX-3 code
      // (IG OBX[Observation-Component], "component[each]").
      observation.component = values.map((v): ObservationComponent => ({ code: observation.code, ...v }));
    }
    if (unitsCwe !== undefined && !NUMERIC_TYPES.has(valueType)) obx.skip(6, 'units apply to numeric values only');
  }

  // ---- reference range, interpretation, status details ------------------------------------------
  const range = obx.raw(7, 'Observation.referenceRange');
  if (range !== undefined) observation.referenceRange = [referenceRange(ctx, decodeEscapes(range, obx.encoding), unitsCwe)];
  const interpretations: CodeableConcept[] = [];
  for (const rep of obx.repetitions(8, 'Observation.interpretation')) {
    const cwe = tolerant(ctx, 'OBX-8', () => ctx.parse('CWE', rep, 'OBX-8'));
    const c = interpretation(ctx, cwe);
    if (c !== undefined) interpretations.push(c);
  }
  if (interpretations.length > 0) observation.interpretation = interpretations;
  obx.skip(9, 'probability has no Observation element (IG OBX[Observation]: not mapped)');
  for (const nature of obx.texts(10, 'Observation.extension:observation-nature-of-abnormal-test')) {
    extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test', valueCodeableConcept: tableCode(nature, '0080') as CodeableConcept });
  }
  obx.skip(12, 'effective date of the reference range has no Observation element');
  obx.skip(13, 'user defined access checks have no Observation element');

  // ---- times ----------------------------------------------------------------------------------
  const effective = ctx.dateTime(obx.read(14, 'TS', 'Observation.effectiveDateTime'), 'OBX-14');
  if (effective !== undefined) observation.effectiveDateTime = effective;
  const analysis = ctx.dateTime(obx.read(19, 'TS', 'Observation.extension:observation-analysis-date-time'), 'OBX-19');
  if (analysis !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time', valueDateTime: analysis });

  // ---- performers -----------------------------------------------------------------------------
  const performers: NonNullable<Observation['performer']> = [];
  for (const xcn of obx.readAll(16, 'XCN', 'Observation.performer')) {
    const p = practitionerFromXcn(ctx, xcn);
    if (p !== undefined) performers.push(p);
  }
  const producer = obx.read(15, 'CWE', 'Observation.performer(Organization)');
  if (producer?.code !== undefined || producer?.text !== undefined) performers.push(producerOrganization(ctx, producer));
  const performing = performingOrganization(ctx, obx);
  if (performing !== undefined) performers.push(performing);
  if (performers.length > 0) observation.performer = performers;

  // ---- method, device, site, identifiers ----------------------------------------------------------
  const methods = obx.readAll(17, 'CWE', 'Observation.method');
  const method = cweToCodeableConcept(ctx, methods[0], { field: 'OBX-17' });
  if (method !== undefined) observation.method = method;
  if (methods.length > 1) ctx.warn(`OBX-17: Observation.method is 0..1; only the first method of segment ${obx.index} is mapped`);
  // OBX-18 repetitions are identifiers of the one piece of equipment (Observation.device is 0..1).
  const device = deviceFromEi(ctx, obx.repetitions(18, 'Observation.device'), obx.encoding);
  if (device !== undefined) observation.device = device;
  const sites = obx.readAll(20, 'CWE', 'Observation.bodySite');
  const site = cweToCodeableConcept(ctx, sites[0], { field: 'OBX-20' });
  if (site !== undefined) observation.bodySite = site;
  if (sites.length > 1) ctx.warn(`OBX-20: Observation.bodySite is 0..1; only the first site of segment ${obx.index} is mapped`);
  const instance = eiToIdentifier(ctx, obx.raw(21, 'Observation.identifier'), obx.encoding, 'FILL');
  if (instance !== undefined) observation.identifier = [instance];
  obx.skip(22, 'mood code has no Observation element (an OBX is an event)');
  obx.skip(26, 'patient results release category has no Observation element');
  obx.skip(27, 'root cause has no Observation element');
  obx.skip(28, 'local process control has no Observation element');
  const subType = obx.text(30, 'Observation.extension:observation-structure-type');
  if (subType !== undefined) extensions.push({ url: 'http://hl7.org/fhir/StructureDefinition/observation-structure-type', valueCodeableConcept: tableCode(subType, '0937') as CodeableConcept });
  obx.skip(31, 'action code is a message-level instruction, not data');
  obx.skip(32, 'value absent reason (v2.8) is carried by dataAbsentReason when OBX-5 is empty');

  // ---- specimen -------------------------------------------------------------------------------
  if (options.specimen !== undefined) {
    observation.specimen = options.specimen;
    obx.skip(33, 'the specimen is the SPM of the group');
  } else {
    const specimens = obx.repetitions(33, 'Observation.specimen');
    // EIP: placer EI ^ filler EI, each with its parts as subcomponents; the filler's id wins.
    const sub = { component: obx.encoding.subcomponent };
    const first = specimens[0] === undefined ? undefined : eiToIdentifier(ctx, piece(specimens[0], obx.encoding.component, 2), sub) ?? eiToIdentifier(ctx, piece(specimens[0], obx.encoding.component, 1), sub);
    // A logical reference by identifier (FHIR R4 references.html#logical): the Specimen may be in
    // another message.
    if (first !== undefined) observation.specimen = { identifier: first };
    if (specimens.length > 1) ctx.warn(`OBX-33: Observation.specimen is 0..1; only the first specimen of segment ${obx.index} is mapped`);
  }

  const notes = notesFrom(ctx, notesOf ?? [], 'Observation.note');
  if (notes.length > 0) observation.note = notes;
  if (extensions.length > 0) observation.extension = extensions;
  return ctx.add(observation);
}

/**
 * The Observation id: from the order, OBX-3 and OBX-4 when there is an order; else from the
 * message and position. Two OBX of one order with the same code and sub-id (common: no sub-id
 * sent) would share that id and be merged by ctx.add, so the set id (or the position) then tells
 * them apart: nothing is silently folded into another result.
 */
function observationId(ctx: MappingContext, obx: SegmentReader, orderKey: string | undefined, code: Hl7Cwe | undefined, subId: string | undefined, setId: string | undefined): string {
  if (orderKey === undefined) return ctx.id('Observation', ctx.messageKey, String(obx.index));
  // As [system, code].join('|') would write it (an absent part is empty).
  const codeKey = `${code?.system ?? ''}|${code?.code ?? code?.text ?? ''}`;
  const base = ctx.id('Observation', orderKey, codeKey, subId ?? '');
  if (!ctx.has('Observation', base)) return base;
  const bySet = ctx.id('Observation', orderKey, codeKey, subId ?? '', `set:${setId ?? ''}`);
  if (setId !== undefined && !ctx.has('Observation', bySet)) return bySet;
  return ctx.id('Observation', orderKey, codeKey, subId ?? '', `segment:${obx.index}`);
}

/** One OBX-5 repetition of a non-text type -> the Observation value element (IG OBX-5 rows). */
function valueOf(ctx: MappingContext, obx: SegmentReader, type: string, rep: string, units: Hl7Cwe | undefined): ObservationValue {
  const enc = obx.encoding;
  const path = `OBX-5 (segment ${obx.index})`;
  switch (type) {
    case 'NM':
      return numericValue(ctx, obx, rep, units);
    case 'SN': {
      let sn: Hl7Sn | undefined;
      try {
        sn = readSn(rep, enc, 'OBX-5');
      } catch (e) {
        if (!(e instanceof SwitchboardError && e.code === 'SWB_ERR_HL7_BAD_VALUE')) throw e;
        // A frequent sender error: "<0.10" in one component instead of "<^0.10". Read as NM with a
        // comparator when it parses so; otherwise the IG's valueString below.
        const asNumber = numericValue(ctx, obx, decodeEscapes(rep, enc).split(enc.component).join(''), units, true);
        if (asNumber !== undefined) {
          ctx.warn(`OBX-5: SN sent without its component separators; read as comparator and number (segment ${obx.index})`);
          return asNumber;
        }
        ctx.warn(`OBX-5: SN value is malformed; kept as valueString (segment ${obx.index})`);
      }
      const v = sn === undefined ? undefined : snToValue(ctx, sn, units, 'OBX-6');
      if (v !== undefined) return v;
      // IG: `<>` and categorical (`+`) values, or any SN that is none of the above -> valueString of
      // the components and the units.
      const parts = [1, 2, 3, 4].map((n) => piece(rep, enc.component, n)).filter((p): p is string => p !== undefined && p !== '').map((p) => decodeEscapes(p, enc));
      const unitText = units?.code ?? units?.text;
      return { valueString: [...parts, ...(unitText !== undefined ? [unitText] : [])].join(' ') };
    }
    case 'CE':
    case 'CWE':
    case 'CNE':
    case 'CF': {
      const cwe = tolerant(ctx, path, () => readCwe(rep, enc, 'OBX-5'));
      const cc = cweToCodeableConcept(ctx, cwe, { field: 'OBX-5' });
      return cc !== undefined ? { valueCodeableConcept: cc } : { valueString: decodeEscapes(rep, enc) };
    }
    case 'IS':
    case 'ID':
      return { valueCodeableConcept: { coding: [{ code: decodeEscapes(piece(rep, enc.component, 1) ?? rep, enc) }] } };
    case 'DT':
    case 'DTM':
    case 'TS': {
      const ts = tolerant(ctx, path, () => readTimestamp(rep, enc, 'OBX-5'));
      const dt = ts === undefined ? undefined : ctx.dateTime(ts, 'OBX-5');
      return dt !== undefined ? { valueDateTime: dt } : { valueString: decodeEscapes(piece(rep, enc.component, 1) ?? rep, enc) };
    }
    case 'TM': {
      const t = hl7Time(ctx, decodeEscapes(piece(rep, enc.component, 1) ?? rep, enc), obx.index);
      return t !== undefined ? { valueTime: t } : { valueString: decodeEscapes(rep, enc) };
    }
    case 'DR': {
      const [start, end] = [1, 2].map((n) => {
        const c = piece(rep, enc.component, n);
        if (c === undefined || c === '') return undefined;
        const ts = tolerant(ctx, path, () => readTimestamp(piece(c, enc.subcomponent, 1) ?? c, enc, 'OBX-5'));
        return ts === undefined ? undefined : ctx.dateTime(ts, 'OBX-5');
      });
      if (start === undefined && end === undefined) return { valueString: decodeEscapes(rep, enc) };
      return { valuePeriod: { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) } };
    }
    case 'NR': {
      // IG NR[Range]: low ^ high.
      const [low, high] = [1, 2].map((n) => {
        const c = piece(rep, enc.component, n);
        return c === undefined || c === '' ? undefined : tolerant(ctx, path, () => readNm(c, enc, 'OBX-5'));
      });
      if (low === undefined && high === undefined) return { valueString: decodeEscapes(rep, enc) };
      return { valueRange: { ...(low !== undefined ? { low: { value: low } } : {}), ...(high !== undefined ? { high: { value: high } } : {}) } };
    }
    case 'VR':
      // IG: OBX-5.1 + "-" + OBX-5.2.
      return { valueString: [1, 2].map((n) => decodeEscapes(piece(rep, enc.component, n) ?? '', enc)).join('-') };
    case 'CX':
    case 'EI':
    case 'HD':
      // No Identifier in Observation.value[x] (FHIR R4; the IG gives no OBX-5 row for CX): the id is
      // the valueString; the assigning authority stays readable in the same string.
      return { valueString: identifierText(rep, enc) };
    default:
      // NA (SampledData needs origin and period v2 does not send), XCN, XAD, PN, CP, MO... kept as
      // text so the value is not lost.
      ctx.warn(`OBX-2: value type ${type} has no structured mapping; OBX-5 kept as text (segment ${obx.index})`);
      return { valueString: decodeEscapes(rep, enc).split(enc.component).filter((p) => p !== '').join(' ') };
  }
}

/**
 * NM + OBX-6 -> valueQuantity (IG NM[Quantity], CWE[Quantity]). A non-numeric NM is a common
 * sender error ("<5", "Negative", "See note"): a number with a leading comparator becomes a
 * Quantity with that comparator; anything else becomes valueString with a warning. Rejecting the
 * whole message for one mistyped result would lose every other result in it.
 */
function numericValue(ctx: MappingContext, obx: SegmentReader, rep: string, units: Hl7Cwe | undefined): ObservationValue;
function numericValue(ctx: MappingContext, obx: SegmentReader, rep: string, units: Hl7Cwe | undefined, quiet: true): ObservationValue | undefined;
function numericValue(ctx: MappingContext, obx: SegmentReader, rep: string, units: Hl7Cwe | undefined, quiet = false): ObservationValue | undefined {
  const text = decodeEscapes(piece(rep, obx.encoding.component, 1) ?? rep, obx.encoding).trim();
  const m = /^(<=|>=|<|>)?\s*([+-]?(?:\d+\.?\d*|\.\d+))$/.exec(text);
  if (m !== null) {
    const q = nmToQuantity(ctx, Number(m[2]), units, 'OBX-6') as Quantity;
    if (m[1] !== undefined) q.comparator = m[1] as NonNullable<Quantity['comparator']>;
    return { valueQuantity: q };
  }
  if (quiet) return undefined;
  ctx.warn(`OBX-5: NM value is not a number; kept as valueString (segment ${obx.index})`);
  return { valueString: text };
}

/** TM (HH[MM[SS[.S]]][+/-ZZZZ]) -> FHIR time (hh:mm:ss; FHIR R4 time has no zone, so the offset is dropped with a warning). */
function hl7Time(ctx: MappingContext, raw: string, index: number): string | undefined {
  const m = /^(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$/.exec(raw.trim());
  if (m === null) {
    ctx.warn(`OBX-5: TM value is malformed; kept as valueString (segment ${index})`);
    return undefined;
  }
  const [, h, mi, s, frac, tz] = m;
  if (Number(h) > 23 || Number(mi ?? 0) > 59 || Number(s ?? 0) > 59) {
    ctx.warn(`OBX-5: TM value is out of range; kept as valueString (segment ${index})`);
    return undefined;
  }
  if (tz !== undefined) ctx.warn(`OBX-5: FHIR time has no offset; the TM offset of segment ${index} is dropped`);
  return `${h}:${mi ?? '00'}:${s ?? '00'}${frac ?? ''}`;
}

function identifierText(rep: string, enc: Hl7Encoding): string {
  const comps = rep.split(enc.component).map((c) => decodeEscapes(c.split(enc.subcomponent).filter((s) => s !== '').join(' '), enc));
  const id = comps[0] ?? '';
  const rest = comps.slice(1).filter((c) => c !== '');
  return rest.length === 0 ? id : `${id} (${rest.join(' ')})`;
}

/**
 * OBX-7 -> referenceRange: the text always (IG: referenceRange.text), and low/high when the text
 * is a plain `a-b`, `<b`, `<=b`, `>a` or `>=a` (IG: "if OBX-7 is sufficiently parseable").
 */
const RANGE_NUM = '[+-]?(?:\\d+\\.?\\d*|\\.\\d+)';
const RANGE_BOTH = new RegExp(`^(${RANGE_NUM})\\s*-\\s*(${RANGE_NUM})$`);
const RANGE_UPPER = new RegExp(`^<=?\\s*(${RANGE_NUM})$`);
const RANGE_LOWER = new RegExp(`^>=?\\s*(${RANGE_NUM})$`);

function referenceRange(ctx: MappingContext, text: string, units: Hl7Cwe | undefined): ObservationReferenceRange {
  const out: ObservationReferenceRange = { text };
  const t = text.trim();
  const range = RANGE_BOTH.exec(t);
  if (range !== null) return { low: rangeQuantity(ctx, range[1] as string, units), high: rangeQuantity(ctx, range[2] as string, units), text };
  const upper = RANGE_UPPER.exec(t);
  if (upper !== null) return { high: rangeQuantity(ctx, upper[1] as string, units), text };
  const lower = RANGE_LOWER.exec(t);
  if (lower !== null) return { low: rangeQuantity(ctx, lower[1] as string, units), text };
  return out;
}

function rangeQuantity(ctx: MappingContext, v: string, units: Hl7Cwe | undefined): Quantity {
  return nmToQuantity(ctx, Number(v), units, 'OBX-6') as Quantity;
}

/** OBX-8 (table 0078) -> v3 ObservationInterpretation (IG concept map InterpretationCodes). */
function interpretation(ctx: MappingContext, cwe: Hl7Cwe | undefined): CodeableConcept | undefined {
  if (cwe === undefined) return undefined;
  const sys = cwe.system?.toUpperCase();
  if (cwe.code !== undefined && INTERPRETATION.has(cwe.code) && (sys === undefined || sys === 'HL70078')) {
    const cc: CodeableConcept = { coding: [{ system: V3_INTERPRETATION, code: cwe.code, ...(cwe.text !== undefined ? { display: cwe.text } : {}) }] };
    if (cwe.originalText !== undefined) cc.text = cwe.originalText;
    return cc;
  }
  return cweToCodeableConcept(ctx, cwe, { field: 'OBX-8', table: '0078' });
}

/** OBX-15 producer's id (CWE) -> Organization with that identifier (IG: CWE[Organization]). */
function producerOrganization(ctx: MappingContext, cwe: Hl7Cwe): Reference<Organization> {
  // The same laboratory in every OBX of a feed: made once and shared (MappingContext.recurring).
  return ctx.memoFor(cwe, () => ctx.recurring(partsKey('OBX-15', [cwe.code, cwe.text, cwe.system]), () => makeProducer(ctx, cwe)));
}

function makeProducer(ctx: MappingContext, cwe: Hl7Cwe): Reference<Organization> {
  const identifier: Identifier = { value: cwe.code ?? (cwe.text as string) };
  if (cwe.system !== undefined) identifier.system = `${ctx.tenant.localSystemBase}:id:${encodeURIComponent(cwe.system)}`;
  const org: Organization & { id: string } = { resourceType: 'Organization', id: ctx.id('Organization', identifier.system, identifier.value), identifier: [identifier] };
  if (cwe.text !== undefined) org.name = cwe.text;
  return { ...ctx.add(org), ...(cwe.text !== undefined ? { display: cwe.text } : {}) };
}

/**
 * OBX-23/24/25 -> the performing laboratory (IG OBX-23..25): the Organization (with OBX-24 as its
 * address); when a medical director (OBX-25) is sent, a PractitionerRole (code MDIR, table 0912)
 * joining the director to the organization is the performer instead.
 */
function performingOrganization(ctx: MappingContext, obx: SegmentReader): Reference<Organization | PractitionerRole> | undefined {
  const name = obx.raw(23, 'Observation.performer(Organization)');
  const address = xadToAddress(obx.read(24, 'XAD', 'Organization.address'));
  // The laboratory with its address, as every OBX of a message (and of a feed) names it: made once
  // and shared (MappingContext.recurring), instead of the address merged in again for each OBX.
  const org =
    name === undefined
      ? undefined
      : ctx.recurring(partsKey(`OBX-lab\u0000${encodingKey(obx.encoding)}`, [name, address === undefined ? undefined : obx.segment.rawField(24)]), () => {
          const made = organizationFromXon(ctx, name, obx.encoding);
          const o = address === undefined ? undefined : ctx.get<Organization & { id: string }>(made);
          if (o !== undefined && address !== undefined) o.address = [...(o.address ?? []).filter((a) => JSON.stringify(a) !== JSON.stringify(address)), address];
          return made;
        });
  if (address !== undefined && org === undefined) ctx.warn(`OBX-24: performing organization address without a name (OBX-23) is not mapped (segment ${obx.index})`);
  const director = practitionerFromXcn(ctx, obx.read(25, 'XCN', 'Observation.performer(PractitionerRole)'));
  if (director === undefined) return org;
  const role: PractitionerRole & { id: string } = {
    resourceType: 'PractitionerRole',
    id: ctx.id('PractitionerRole', director.reference, org?.reference, 'MDIR'),
    practitioner: director,
    code: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0912', code: 'MDIR', display: 'Medical Director' }] }],
  };
  if (org !== undefined) role.organization = org;
  return ctx.add(role);
}

/** OBX-18 equipment instance identifiers (EI) -> Device with those identifiers (IG EI[Identifier-Extension]). */
function deviceFromEi(ctx: MappingContext, reps: readonly string[], enc: Hl7Encoding): Reference<Device> | undefined {
  // The same analyzer in message after message: made once and shared (MappingContext.recurring).
  return ctx.recurring(partsKey(`EI-device\u0000${encodingKey(enc)}`, reps), () => makeDevice(ctx, reps, enc));
}

function makeDevice(ctx: MappingContext, reps: readonly string[], enc: Hl7Encoding): Reference<Device> | undefined {
  const identifiers = reps.map((r) => eiToIdentifier(ctx, r, enc)).filter((i) => i !== undefined);
  const first = identifiers[0];
  if (first === undefined) return undefined;
  const device: Device & { id: string } = { resourceType: 'Device', id: ctx.id('Device', first.system, first.value), identifier: identifiers };
  return ctx.add(device);
}

/**
 * ED / RP -> DocumentReference (IG OBX[DocumentReference], ED[DocumentReference]): R4's
 * Observation.value[x] has no Attachment, so the document is its own resource and the Observation
 * points at it through derivedFrom. Each OBX-5 repetition is one content.attachment.
 */
function documentFromObx(ctx: MappingContext, obx: SegmentReader, reps: readonly string[], type: 'ED' | 'RP', observationId: string, code: CodeableConcept | undefined, options: ObxOptions): Reference<DocumentReference> {
  const enc = obx.encoding;
  const content = reps.map((rep) => ({ attachment: type === 'ED' ? edAttachment(ctx, rep, enc, obx.index) : rpAttachment(rep, enc) }));
  const doc: DocumentReference & { id: string } = { resourceType: 'DocumentReference', id: ctx.id('DocumentReference', observationId), status: 'current', content };
  if (code !== undefined) doc.type = code;
  if (options.subject !== undefined) doc.subject = options.subject;
  if (options.encounter !== undefined) doc.context = { encounter: [options.encounter] };
  return ctx.add(doc);
}

function edAttachment(ctx: MappingContext, rep: string, enc: Hl7Encoding, index: number): Attachment {
  const comp = (n: number): string | undefined => {
    const c = piece(rep, enc.component, n);
    return c === undefined || c === '' ? undefined : c;
  };
  const typeOfData = comp(2);
  const subtype = comp(3);
  const encoding = comp(4)?.toUpperCase();
  const data = comp(5) ?? '';
  const out: Attachment = {};
  const contentType = mimeType(typeOfData, subtype);
  if (contentType !== undefined) out.contentType = contentType;
  else if (typeOfData !== undefined) {
    // IG ED[Attachment]: ED-2 without ED-3 goes to an alternate-codes extension.
    out.extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/alternate-codes', valueCodeableConcept: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0191', code: typeOfData }] } }];
  }
  // ED-4 (table 0299): Base64 as sent (whitespace and escaped line breaks removed), Hex to bytes,
  // A (ASCII text) encoded.
  if (encoding === 'BASE64') out.data = decodeEscapes(data, enc).replace(/\s+/g, '');
  else if (encoding === 'HEX') {
    const hex = data.replace(/\s+/g, '');
    if (!/^(?:[0-9A-Fa-f]{2})*$/.test(hex)) throw new SwitchboardError('SWB_ERR_MAP_FIELD_FAILED', { field: 'OBX-5.5', reason: `ED data of segment ${index} is not hexadecimal` });
    out.data = Buffer.from(hex, 'hex').toString('base64');
  } else {
    if (encoding !== 'A' && encoding !== undefined) ctx.warn(`OBX-5.4: ED encoding not in HL7 table 0299; data taken as text (segment ${index})`);
    out.data = Buffer.from(decodeEscapes(data, enc), 'utf8').toString('base64');
  }
  return out;
}

function mimeType(typeOfData: string | undefined, subtype: string | undefined): string | undefined {
  if (subtype === undefined) return undefined;
  if (subtype.includes('/')) return subtype.toLowerCase();
  const top = typeOfData !== undefined ? MIME_TYPE[typeOfData.toUpperCase()] ?? typeOfData.toLowerCase() : 'application';
  const sub = subtype.toLowerCase() === 'octet-stream' ? 'octet-stream' : subtype.toLowerCase();
  return `${top}/${sub}`;
}

/** RP (reference pointer) -> Attachment with the URL (IG RP[Attachment]). */
function rpAttachment(rep: string, enc: Hl7Encoding): Attachment {
  const pointer = decodeEscapes(piece(rep, enc.component, 1) ?? '', enc);
  const out: Attachment = { url: pointer };
  const sub = piece(rep, enc.component, 4);
  const top = piece(rep, enc.component, 3);
  const ct = mimeType(top === '' ? undefined : top, sub === '' ? undefined : sub);
  if (ct !== undefined) out.contentType = ct;
  return out;
}
