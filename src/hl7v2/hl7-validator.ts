import type { AckError } from './hl7-ack.ts';
import { readNm, readSn, readTimestamp } from './hl7-datatypes.ts';
import type { Hl7Encoding } from './hl7-encoding.ts';
import type { Hl7Message } from './hl7-message.ts';
import { Hl7ErrorCode, formatLocation, type Hl7Location } from './hl7-parse-error.ts';
import { piece, splitOn, type Hl7Segment } from './hl7-segment.ts';
import { groupMessage, type Hl7GroupNode, type Hl7MessageTree, type Hl7SegmentNode } from './hl7-structure-parser.ts';
import { HL7_TABLES, fieldRulesFor, isRequiredIn, structureVersion, type FieldRule, type StructureElement } from './hl7-structures.ts';

/**
 * Conformance checks of one message against its structure and the segment field rules in
 * hl7-structures.ts. Findings carry HL7 table 0357 codes and ERR-2 style locations so they can go
 * straight into an ACK (validationErrorsToAck). No message text ever includes a field's value:
 * issues end up in logs and ACKs, and a value may be PHI.
 */

export type ValidationSeverity = 'error' | 'warning';

export interface ValidationIssue {
  readonly severity: ValidationSeverity;
  /** HL7 table 0357: 100 segment sequence, 101 required field missing, 102 datatype, 103 table value, 200/201/203 unsupported. */
  readonly code: Hl7ErrorCode;
  /** Segment id, 1-based position of the segment in the message, field, repetition, component. */
  readonly location: Hl7Location;
  /** The location as people read it, `PID[3]-7[1]` (formatLocation). */
  readonly where: string;
  /** Human-readable and value-free: "PID-7 is not a valid TS". */
  readonly message: string;
  /** For structure findings, where in the structure: `ORU_R01/PATIENT_RESULT[1]/ORDER_OBSERVATION[2]`. */
  readonly path?: string;
}

export interface ValidationResult {
  /** True when there is no issue of severity 'error'. */
  readonly valid: boolean;
  /** The structure checked against, or undefined when the message type is not described. */
  readonly structure: string | undefined;
  /** MSH-12.1 as sent. */
  readonly version: string;
  readonly issues: readonly ValidationIssue[];
  readonly tree: Hl7MessageTree;
}

export interface ValidateOptions {
  /** Check against this structure instead of the one MSH-9 gives. */
  readonly structure?: string;
  /** Check required fields, datatypes and table values (default true). */
  readonly fields?: boolean;
}

/** Renders a field position for messages: `PID-3`, `PID-3.1`. */
function at(seg: string, field: number, component?: number): string {
  return `${seg}-${field}${component === undefined ? '' : `.${component}`}`;
}

class Issues {
  readonly list: ValidationIssue[] = [];
  readonly #segments: readonly Hl7Segment[];
  constructor(segments: readonly Hl7Segment[]) {
    this.#segments = segments;
  }
  add(severity: ValidationSeverity, code: Hl7ErrorCode, location: Hl7Location, message: string, path?: string): void {
    const loc = withOccurrence(location, this.#segments);
    this.list.push({ severity, code, location: loc, where: formatLocation(loc), message, ...(path !== undefined ? { path } : {}) });
  }
}

/** ERR-2.2 (ERL.2) counts occurrences of the segment id, not positions in the message. */
function withOccurrence(location: Hl7Location, segments: readonly Hl7Segment[]): Hl7Location {
  if (location.sequence === undefined || location.occurrence !== undefined) return location;
  let n = 0;
  for (let i = 0; i < location.sequence && i < segments.length; i++) if ((segments[i] as Hl7Segment).name === location.segment) n++;
  return n === 0 ? location : { ...location, occurrence: n };
}

/** The ids that can open a group, for messages about a missing one (e.g. "ORC or OBR"). */
function leadIds(el: StructureElement): string[] {
  if (el.kind === 'segment') return [...el.ids];
  const out: string[] = [];
  for (const c of el.children) {
    out.push(...leadIds(c));
    if (!c.optional) break;
  }
  return out;
}

function describeElement(el: StructureElement): string {
  if (el.kind === 'segment') return el.ids.length === 1 ? `segment ${el.ids[0] as string}` : `one of ${el.ids.join('/')}`;
  return `group ${el.name} (starting ${leadIds(el).join(' or ')})`;
}

function checkStructure(tree: Hl7MessageTree, issues: Issues, severity: ValidationSeverity): void {
  const s = tree.structure;
  if (s === undefined) return;
  const label = `${s.id} (v${s.version})`;
  const walk = (g: Hl7GroupNode, path: string): void => {
    const seen = new Set<StructureElement>();
    for (const c of g.children) {
      if (c.kind === 'group') {
        seen.add(c.element);
        walk(c, `${path}/${c.name}[${c.repetition}]`);
      } else if (c.element !== undefined) seen.add(c.element);
    }
    for (const el of g.element.children) {
      if (el.optional || seen.has(el)) continue;
      // ERR-2 names a segment: for a missing group, the segment(s) that would have opened it.
      const first = leadIds(el)[0] ?? g.name;
      issues.add(severity, Hl7ErrorCode.segmentSequenceError, { segment: first }, `required ${describeElement(el)} is missing from ${g === tree.root ? label : `${g.name} in ${label}`}`, path);
    }
  };
  walk(tree.root, tree.root.name);
  for (const u of tree.unexpected) issues.add(severity, Hl7ErrorCode.segmentSequenceError, { segment: u.name, sequence: u.index + 1 }, unexpectedMessage(u, label), pathOf(tree.root, u));
}

function unexpectedMessage(u: Hl7SegmentNode, label: string): string {
  switch (u.problem) {
    case 'repeated':
      return `${u.name} (segment ${u.index + 1}) repeats a segment that may occur only once here in ${label}`;
    case 'out-of-order':
      return `${u.name} (segment ${u.index + 1}) is out of place for ${label}`;
    case 'not-in-structure':
    case undefined:
      return `${u.name} (segment ${u.index + 1}) is not part of ${label}`;
  }
}

/** The group path of a node: `ORU_R01/PATIENT_RESULT[1]/ORDER_OBSERVATION[2]`. */
function pathOf(root: Hl7GroupNode, target: Hl7SegmentNode): string | undefined {
  const walk = (g: Hl7GroupNode, path: string): string | undefined => {
    for (const c of g.children) {
      if (c === target) return path;
      if (c.kind === 'group') {
        const p = walk(c, `${path}/${c.name}[${c.repetition}]`);
        if (p !== undefined) return p;
      }
    }
    return undefined;
  };
  return walk(root, root.name);
}

// ---------------------------------------------------------------------------------------------
// Field checks

const DT_RE = /^\d{4}(?:\d{2}(?:\d{2})?)?$/;
const SI_RE = /^\d+$/;

const FORMAT_HINT: Readonly<Record<string, string>> = {
  TS: 'expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]',
  DTM: 'expected YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]',
  DT: 'expected YYYY[MM[DD]]',
  DR: 'expected two timestamps, YYYY[MM[DD[HH[MM[SS]]]]]',
  NM: 'expected an optionally signed decimal number',
  SI: 'expected a non-negative integer',
  SN: 'expected [comparator]^number[^separator^number]',
};

/** Whether one repetition's raw text is a valid instance of a checked datatype. */
function formatOk(datatype: string, raw: string, enc: Hl7Encoding): boolean {
  try {
    switch (datatype) {
      case 'TS':
      case 'DTM': {
        // TS.1 is the time (TS.2, degree of precision, is deprecated); an empty TS.1 is "not valued".
        if ((piece(raw, enc.component, 1) ?? '').trim() === '') return true;
        readTimestamp(raw, enc, '');
        return true;
      }
      case 'DT': {
        const v = piece(raw, enc.component, 1) ?? '';
        if (!DT_RE.test(v)) return false;
        readTimestamp(v, enc, '');
        return true;
      }
      case 'DR': {
        // DR.1 and DR.2 are TS; inside a component their own components are subcomponents.
        for (let n = 1; n <= 2; n++) {
          const c = piece(raw, enc.component, n);
          if (c === undefined || c === '' || c === '""') continue;
          const ts = enc.subcomponent === '' ? c : (piece(c, enc.subcomponent, 1) ?? '');
          if (ts.trim() !== '') readTimestamp(ts, enc, '');
        }
        return true;
      }
      case 'NM':
        readNm(raw, enc, '');
        return true;
      case 'SN':
        readSn(raw, enc, '');
        return true;
      case 'SI':
        // ch.2A 2.A.70: a non-negative integer in the form of an NM field.
        return SI_RE.test(raw);
      default:
        return true;
    }
  } catch {
    // The readers' own messages quote the value, so only the fact of failure is kept.
    return false;
  }
}

/** Repetitions of a field (MSH-1/MSH-2 and other header encoding fields never split). */
function repetitionsOf(seg: Hl7Segment, field: number, enc: Hl7Encoding): string[] {
  const raw = seg.rawField(field);
  if (raw === undefined || raw === '') return [];
  if ((seg.name === 'MSH' || seg.name === 'BHS' || seg.name === 'FHS') && field <= 2) return [raw];
  return splitOn(raw, enc.repetition);
}

function isNull(raw: string): boolean {
  return raw === '""';
}

function checkRule(seg: Hl7Segment, sequence: number, rule: FieldRule, version: string, enc: Hl7Encoding, issues: Issues, soft: boolean): void {
  const loc = (extra: Partial<Hl7Location> = {}): Hl7Location => ({ segment: seg.name, sequence, field: rule.field, ...extra });
  const reps = repetitionsOf(seg, rule.field, enc);
  if (reps.length === 0 || reps.every((r) => r === '')) {
    if (isRequiredIn(rule, version)) issues.add(soft ? 'warning' : 'error', Hl7ErrorCode.requiredFieldMissing, loc(), `${at(seg.name, rule.field)} is required but ${seg.rawField(rule.field) === undefined ? 'absent' : 'empty'}`);
    return;
  }
  reps.forEach((rep, i) => {
    if (rep === '' || isNull(rep)) return;
    const repetition = i + 1;
    for (const c of rule.requiredComponents) {
      const comp = piece(rep, enc.component, c);
      if (comp === undefined || comp === '') {
        issues.add(soft ? 'warning' : 'error', Hl7ErrorCode.requiredFieldMissing, loc({ repetition, component: c }), `${at(seg.name, rule.field, c)} is required when ${at(seg.name, rule.field)} is valued`);
      }
    }
    if (!formatOk(rule.datatype, rep, enc)) {
      issues.add(soft ? 'warning' : 'error', Hl7ErrorCode.dataTypeError, loc({ repetition }), `${at(seg.name, rule.field)} is not a valid ${rule.datatype} (${FORMAT_HINT[rule.datatype] ?? ''})`);
    }
    if (rule.table !== undefined) {
      const table = HL7_TABLES[rule.table];
      const value = (piece(rep, enc.component, 1) ?? '').trim();
      if (table !== undefined && value !== '' && !table.values.has(value)) {
        issues.add(soft ? 'warning' : table.severity, Hl7ErrorCode.tableValueNotFound, loc({ repetition, component: 1 }), `${at(seg.name, rule.field)} is not a value of HL7 table ${rule.table} (${table.name})`);
      }
    }
  });
}

/** OBX-5 is typed by OBX-2 (ch.7 7.4.2.2): check the simple types, and OBX-2 whenever OBX-5 is valued. */
function checkObservationValue(seg: Hl7Segment, sequence: number, enc: Hl7Encoding, issues: Issues, soft: boolean): void {
  const values = repetitionsOf(seg, 5, enc).filter((r) => r !== '');
  if (values.length === 0) return;
  const type = (seg.rawAt(2, 1, 1) ?? '').trim();
  if (type === '') {
    issues.add(soft ? 'warning' : 'error', Hl7ErrorCode.requiredFieldMissing, { segment: 'OBX', sequence, field: 2 }, 'OBX-2 is required when OBX-5 is valued');
    return;
  }
  if (!['NM', 'SN', 'DT', 'TS', 'DTM'].includes(type)) return;
  values.forEach((rep, i) => {
    if (isNull(rep) || formatOk(type, rep, enc)) return;
    issues.add(soft ? 'warning' : 'error', Hl7ErrorCode.dataTypeError, { segment: 'OBX', sequence, field: 5, repetition: i + 1 }, `OBX-5 is not a valid ${type} as OBX-2 declares (${FORMAT_HINT[type] ?? ''})`);
  });
}

/**
 * Field checks. `soft` (a version outside 2.3-2.8) makes findings warnings, except those on MSH,
 * whose layout every version shares (ch.2 2.14.9).
 */
function checkFields(msg: Hl7Message, version: string, issues: Issues, soft: boolean): void {
  const enc = msg.encoding;
  msg.segments.forEach((seg, i) => {
    const sequence = i + 1;
    const s = soft && seg.name !== 'MSH';
    for (const rule of fieldRulesFor(seg.name, version)) checkRule(seg, sequence, rule, version, enc, issues, s);
    if (seg.name === 'OBX') checkObservationValue(seg, sequence, enc, issues, s);
  });
}

// ---------------------------------------------------------------------------------------------

/** Text safe to quote from MSH-9/MSH-12 (codes, not data); anything else is not quoted. */
function code(text: string): string {
  return /^[A-Za-z0-9_.]{1,16}$/.test(text) ? text : '(unreadable)';
}

/**
 * Validates a message: its type and version are supported, its segments follow the structure
 * (required segments present, none repeated or out of place; Z-segments are allowed anywhere),
 * required fields are valued, and typed fields are well formed. Never throws on a parsed message.
 */
export function validateMessage(msg: Hl7Message, options: ValidateOptions = {}): ValidationResult {
  const issues = new Issues(msg.segments);
  const sent = msg.version;
  const { version, supported } = structureVersion(sent);
  if (sent.trim() !== '' && !supported) {
    issues.add('warning', Hl7ErrorCode.unsupportedVersionId, { segment: 'MSH', sequence: 1, field: 12 }, `version ${code(sent)} is outside 2.3-2.8; checked as v${version}`);
  }

  const tree = groupMessage(msg, options.structure !== undefined ? { structure: options.structure } : {});
  const r = tree.resolution;
  const type = `${code(msg.messageCode)}^${code(msg.triggerEvent)}`;
  if (tree.structure === undefined) {
    if (r.kind === 'unknown') {
      const c = r.reason === 'message-code' ? Hl7ErrorCode.unsupportedMessageType : Hl7ErrorCode.unsupportedEventCode;
      issues.add('warning', c, { segment: 'MSH', sequence: 1, field: 9, component: r.reason === 'message-code' ? 1 : 2 }, `no structure is described for ${type}; segment order not checked`);
    } else {
      issues.add('warning', Hl7ErrorCode.unsupportedMessageType, { segment: 'MSH', sequence: 1, field: 9 }, `structure ${code(r.id)} is not described; segment order not checked`);
    }
  } else if (r.kind === 'known' && r.via === 'msh-9.3' && r.eventStructure !== undefined && r.eventStructure !== r.id) {
    // HL7 table 0354 pairs each event with one structure; MSH-9.3 is still followed.
    issues.add('warning', Hl7ErrorCode.tableValueNotFound, { segment: 'MSH', sequence: 1, field: 9, component: 3 }, `MSH-9.3 declares ${r.id} but ${type} uses ${r.eventStructure} (HL7 table 0354); grouped as ${r.id}`);
  } else if (r.kind === 'known' && r.via === 'event' && r.declared !== '') {
    issues.add('warning', Hl7ErrorCode.tableValueNotFound, { segment: 'MSH', sequence: 1, field: 9, component: 3 }, `MSH-9.3 names ${code(r.declared)}, which is not a structure for ${type} (HL7 table 0354); grouped as ${r.id}`);
  }

  if (tree.structure !== undefined) {
    const covered = tree.structure.covered && supported;
    if (!tree.structure.covered) {
      issues.add('warning', Hl7ErrorCode.unsupportedVersionId, { segment: 'MSH', sequence: 1, field: 12 }, `${tree.structure.id} is not described for v${version}; segment order findings are warnings`);
    }
    // Outside the versions the data describes, a sequence finding may be the data's gap, not the sender's.
    checkStructure(tree, issues, covered ? 'error' : 'warning');
  }
  if (options.fields !== false) checkFields(msg, version, issues, !supported && sent.trim() !== '');

  return { valid: !issues.list.some((i) => i.severity === 'error'), structure: tree.structure?.id, version: sent, issues: issues.list, tree };
}

export interface AckErrorOptions {
  /** Include warnings as ERR segments with severity W (default false). */
  readonly warnings?: boolean;
  /** At most this many ERR segments (default 50); receivers choke on very long ACKs. */
  readonly limit?: number;
}

/** Issues as AckError entries for buildAck: ERR-2 location, ERR-3 code, ERR-4 severity, ERR-8 message. */
export function validationErrorsToAck(result: ValidationResult, options: AckErrorOptions = {}): AckError[] {
  const limit = options.limit ?? 50;
  const out: AckError[] = [];
  for (const i of result.issues) {
    if (out.length >= limit) break;
    if (i.severity === 'warning' && options.warnings !== true) continue;
    out.push({ code: i.code, location: i.location, severity: i.severity === 'error' ? 'E' : 'W', message: i.message });
  }
  return out;
}
