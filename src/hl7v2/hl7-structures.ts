/**
 * Message structures (HL7 v2.5.1 ch.2 2.12 "abstract message syntax") and segment field rules, as
 * data. Written for Switchboard from the standard's chapter text; nothing here is generated.
 *
 * A structure is a list of entries in a small notation that reads like the standard's tables:
 *
 *   'PID'               required, once
 *   '[PD1]'             optional, once
 *   '{OBX}'             required, repeating
 *   '[{NTE}]'           optional, repeating
 *   '<OBR|RQD|RQ1>'     one segment out of a choice (ORM_O01 ORDER_DETAIL)
 *   '[{SFT}] >=2.5'     exists from v2.5 on; '<2.7' means before v2.7; both may be given
 *   ['[{PROCEDURE}]', 'PR1', '[{ROL}]']   a group: the first string names it, the rest are its parts
 *
 * Versions differ only by such ranges, so one table serves v2.3 to v2.8; `structureFor(id, version)`
 * compiles the entries that exist in that version. Group names follow v2.5.1 in every version
 * (ORU_R01 PATIENT_RESULT is called RESPONSE in some older tables), so code can rely on them.
 */

// ---------------------------------------------------------------------------------------------
// Versions

/** HL7 versions whose structures this file describes. */
export const SUPPORTED_VERSIONS = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2'] as const;

/** The version used when MSH-12 is empty or unreadable: the most widely deployed one. */
export const DEFAULT_VERSION = '2.5.1';

/** A version interval: `from` is inclusive, `before` exclusive; an absent bound is open. */
export interface VersionRange {
  readonly from?: string;
  readonly before?: string;
}

function versionParts(v: string): number[] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2]), m[3] === undefined ? 0 : Number(m[3])];
}

/** Orders two version numbers (`2.5` < `2.5.1` < `2.6`); an unreadable one sorts first. */
export function compareVersions(a: string, b: string): number {
  const x = versionParts(a) ?? [0, 0, 0];
  const y = versionParts(b) ?? [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function inVersionRange(version: string, range: VersionRange): boolean {
  if (range.from !== undefined && compareVersions(version, range.from) < 0) return false;
  if (range.before !== undefined && compareVersions(version, range.before) >= 0) return false;
  return true;
}

/**
 * The version whose structures are used for a message's MSH-12.1. Versions before 2.3 read as 2.3
 * and those after 2.8.x as 2.8 (the nearest described); `supported` says whether the version is
 * one this file describes, so callers can report HL7 error 203 and soften their findings.
 */
export function structureVersion(msh12: string): { readonly version: string; readonly supported: boolean } {
  const v = msh12.trim();
  if ((SUPPORTED_VERSIONS as readonly string[]).includes(v)) return { version: v, supported: true };
  if (versionParts(v) === undefined) return { version: DEFAULT_VERSION, supported: false };
  if (compareVersions(v, '2.3') < 0) return { version: '2.3', supported: false };
  if (compareVersions(v, '2.9') >= 0) return { version: '2.8', supported: false };
  return { version: v, supported: false };
}

// ---------------------------------------------------------------------------------------------
// Structure elements

export interface StructureSegment {
  readonly kind: 'segment';
  /** The segment id, or several for a choice (`<OBR|RQD|...>`). */
  readonly ids: readonly string[];
  readonly optional: boolean;
  readonly repeating: boolean;
  readonly versions: VersionRange;
}

export interface StructureGroup {
  readonly kind: 'group';
  readonly name: string;
  readonly optional: boolean;
  readonly repeating: boolean;
  readonly versions: VersionRange;
  readonly children: readonly StructureElement[];
}

export type StructureElement = StructureSegment | StructureGroup;

/** A structure compiled for one version: only the elements that exist in it. */
export interface MessageStructure {
  /** Table 0354 id, e.g. ORU_R01. */
  readonly id: string;
  /** The version it was compiled for (see structureVersion). */
  readonly version: string;
  /** The whole message as a group named after the structure. */
  readonly root: StructureGroup;
  /**
   * False when this file's data does not describe the structure in that version (e.g. OML_O21
   * before 2.5): the nearest description is used, and findings should be warnings only.
   */
  readonly covered: boolean;
}

type Spec = string | readonly [string, ...Spec[]];

interface StructureSource {
  readonly spec: readonly Spec[];
  /** Versions the data below was written for; outside them it is a best effort. */
  readonly covers?: VersionRange;
}

const TOKEN_RE = /^(\[?)(\{?)([A-Z][A-Z0-9_]*|<[A-Z][A-Z0-9]{2}(?:\|[A-Z][A-Z0-9]{2})+>)(\}?)(\]?)((?:\s+(?:>=|<)\d+\.\d+(?:\.\d+)?)*)$/;
const SEGMENT_ID_RE = /^[A-Z][A-Z0-9]{2}$/;

interface Token {
  readonly name: string;
  readonly ids: readonly string[];
  readonly optional: boolean;
  readonly repeating: boolean;
  readonly versions: VersionRange;
}

function parseToken(token: string, where: string): Token {
  const m = TOKEN_RE.exec(token.trim());
  if (m === null) throw new Error(`bad structure entry ${JSON.stringify(token)} in ${where}`);
  const [, open, openRep, name = '', closeRep, close, ranges = ''] = m;
  if ((open === '[') !== (close === ']') || (openRep === '{') !== (closeRep === '}')) {
    throw new Error(`unbalanced brackets in ${JSON.stringify(token)} in ${where}`);
  }
  let from: string | undefined;
  let before: string | undefined;
  for (const r of ranges.trim().split(/\s+/).filter((x) => x !== '')) {
    if (r.startsWith('>=')) from = r.slice(2);
    else before = r.slice(1);
  }
  const versions: VersionRange = { ...(from !== undefined ? { from } : {}), ...(before !== undefined ? { before } : {}) };
  const ids = name.startsWith('<') ? name.slice(1, -1).split('|') : [name];
  return { name, ids, optional: open === '[', repeating: openRep === '{', versions };
}

function compileSpec(spec: Spec, where: string): StructureElement {
  if (typeof spec === 'string') {
    const t = parseToken(spec, where);
    if (!t.ids.every((id) => SEGMENT_ID_RE.test(id))) throw new Error(`${JSON.stringify(spec)} in ${where} is not a segment id (groups are arrays)`);
    return { kind: 'segment', ids: t.ids, optional: t.optional, repeating: t.repeating, versions: t.versions };
  }
  const [head, ...rest] = spec;
  const t = parseToken(head, where);
  if (rest.length === 0) throw new Error(`group ${t.name} in ${where} has no parts`);
  return { kind: 'group', name: t.name, optional: t.optional, repeating: t.repeating, versions: t.versions, children: rest.map((s) => compileSpec(s, `${where}/${t.name}`)) };
}

function forVersion(group: StructureGroup, version: string): StructureGroup {
  const children: StructureElement[] = [];
  for (const c of group.children) {
    if (!inVersionRange(version, c.versions)) continue;
    children.push(c.kind === 'group' ? forVersion(c, version) : c);
  }
  return { ...group, children };
}

// ---------------------------------------------------------------------------------------------
// The structures. Citations are to the chapter that defines each message in v2.5.1; version
// ranges record where the segment list changed (SFT from 2.5, ARV from 2.6, PRT and UAC from 2.7).

/** From 2.5 every message has [{SFT}] after MSH (ch.2, SFT segment); 2.7 adds [UAC] (v2.7 ch.2, UAC segment). */
const HEADER: readonly Spec[] = ['MSH', '[{SFT}] >=2.5', '[UAC] >=2.7'];

/** MDM from 2.5: the orders a document relates to (ch.9 9.6), before TXA. */
const COMMON_ORDER: Spec = ['[{COMMON_ORDER}] >=2.5', 'ORC', ['[{TIMING}]', 'TQ1', '[{TQ2}]'], 'OBR', '[{NTE}]'];

/** ADT INSURANCE group (ch.3): IN3 repeats and ROL joins from 2.4. */
const insurance = (range = ''): Spec => [`[{INSURANCE}]${range}`, 'IN1', '[IN2]', '[IN3] <2.4', '[{IN3}] >=2.4', '[{ROL}] >=2.4'];

/** ch.3 3.3.1 ADT^A01; also A04, A08, A13. ROL and PDA arrive in 2.4, ARV in 2.6. */
const ADT_A01: readonly Spec[] = [
  ...HEADER,
  'EVN',
  'PID',
  '[PD1]',
  '[{ARV}] >=2.6',
  '[{ROL}] >=2.4',
  '[{NK1}]',
  'PV1',
  '[PV2]',
  '[{ARV}] >=2.6',
  '[{ROL}] >=2.4',
  '[{DB1}]',
  '[{OBX}] <2.7',
  // From 2.7 an observation may carry its participations (PRT), hence the group.
  ['[{OBSERVATION}] >=2.7', 'OBX', '[{PRT}]'],
  '[{AL1}]',
  '[{DG1}]',
  '[DRG]',
  ['[{PROCEDURE}]', 'PR1', '[{ROL}]'],
  '[{GT1}]',
  insurance(),
  '[ACC]',
  '[UB1]',
  '[UB2]',
  '[PDA] >=2.4',
];

const SOURCES: Readonly<Record<string, StructureSource>> = {
  /** ch.2 2.13.1 general acknowledgment; ERR repeats from 2.5. */
  ACK: { spec: [...HEADER, 'MSA', '[ERR] <2.5', '[{ERR}] >=2.5'] },

  ADT_A01: { spec: ADT_A01 },

  /** ch.3 3.3.5 ADT^A05 (also A14, A28, A31): the A01 list without PDA. */
  ADT_A05: { spec: ADT_A01.filter((s) => s !== '[PDA] >=2.4') },

  /** ch.3 3.3.3 ADT^A03 discharge; 2.4 adds NK1, AL1, GT1, insurance, ACC and PDA. */
  ADT_A03: {
    spec: [
      ...HEADER,
      'EVN',
      'PID',
      '[PD1]',
      '[{ARV}] >=2.6',
      '[{ROL}] >=2.4',
      '[{NK1}] >=2.4',
      'PV1',
      '[PV2]',
      '[{ARV}] >=2.6',
      '[{ROL}] >=2.4',
      '[{DB1}]',
      '[{AL1}] >=2.4',
      '[{DG1}]',
      '[DRG]',
      ['[{PROCEDURE}]', 'PR1', '[{ROL}]'],
      '[{OBX}] <2.7',
      ['[{OBSERVATION}] >=2.7', 'OBX', '[{PRT}]'],
      '[{GT1}] >=2.4',
      insurance(' >=2.4'),
      '[ACC] >=2.4',
      '[PDA] >=2.4',
    ],
  },

  /** ch.3 3.3.39/3.3.40 ADT^A39 and A40 (also A41, A42): merge, one PATIENT group per merge. */
  ADT_A39: { spec: [...HEADER, 'EVN', ['{PATIENT}', 'PID', '[PD1]', 'MRG', '[PV1]']] },

  /**
   * ch.7 7.3.1 ORU^R01. In 2.3-2.4 the OBSERVATION group's OBX is optional and NK1 precedes the
   * patient NTE; 2.5 makes OBX required, moves NK1 after NTE and adds TIMING_QTY and SPECIMEN; 2.7
   * adds PRT after the segments it qualifies, so OBX with its PRT become groups.
   */
  ORU_R01: {
    spec: [
      ...HEADER,
      [
        '{PATIENT_RESULT}',
        [
          '[PATIENT]',
          'PID',
          '[PD1]',
          '[{PRT}] >=2.7',
          '[{NK1}] >=2.3.1 <2.5',
          '[{NTE}]',
          '[{NK1}] >=2.5',
          ['[{PATIENT_OBSERVATION}] >=2.7', 'OBX', '[{PRT}]'],
          ['[VISIT]', 'PV1', '[PV2]', '[{PRT}] >=2.7'],
        ],
        [
          '{ORDER_OBSERVATION}',
          '[ORC]',
          'OBR',
          '[{NTE}]',
          '[{PRT}] >=2.7',
          ['[{TIMING_QTY}] >=2.5', 'TQ1', '[{TQ2}]'],
          '[CTD] >=2.4',
          ['[{OBSERVATION}]', '[OBX] <2.5', 'OBX >=2.5', '[{PRT}] >=2.7', '[{NTE}]'],
          '[{FT1}] >=2.4',
          '[{CTI}]',
          ['[{SPECIMEN}] >=2.5', 'SPM', '[{OBX}] <2.7', ['[{SPECIMEN_OBSERVATION}] >=2.7', 'OBX', '[{PRT}]']],
        ],
      ],
      '[DSC]',
    ],
  },

  /** ch.4 4.4.1 ORM^O01 general order; retained for backward compatibility and withdrawn in 2.7. */
  ORM_O01: {
    covers: { before: '2.7' },
    spec: [
      ...HEADER,
      '[{NTE}]',
      ['[PATIENT]', 'PID', '[PD1]', '[{NTE}]', ['[PATIENT_VISIT]', 'PV1', '[PV2]'], ['[{INSURANCE}]', 'IN1', '[IN2]', '[IN3]'], '[GT1]', '[{AL1}]'],
      [
        '{ORDER}',
        'ORC',
        ['[{TIMING}] >=2.5', 'TQ1', '[{TQ2}]'],
        ['[ORDER_DETAIL]', '<OBR|RQD|RQ1|RXO|ODS|ODT>', '[{NTE}]', '[CTD] >=2.4', '[{DG1}]', ['[{OBSERVATION}]', 'OBX', '[{NTE}]']],
        '[{FT1}]',
        '[{CTI}]',
        '[BLG]',
      ],
    ],
  },

  /** ch.4 4.4.6 OML^O21 laboratory order, as from 2.5 (2.4's container-first layout is not described). */
  OML_O21: {
    covers: { from: '2.5' },
    spec: [
      ...HEADER,
      '[{NTE}]',
      [
        '[PATIENT]',
        'PID',
        '[PD1]',
        '[{PRT}] >=2.7',
        '[{NTE}]',
        '[{NK1}]',
        '[{ARV}] >=2.6',
        ['[PATIENT_VISIT]', 'PV1', '[PV2]', '[{PRT}] >=2.7'],
        ['[{INSURANCE}]', 'IN1', '[IN2]', '[IN3]'],
        '[GT1]',
        '[{AL1}]',
      ],
      [
        '{ORDER}',
        'ORC',
        '[{PRT}] >=2.7',
        ['[{TIMING}]', 'TQ1', '[{TQ2}]'],
        [
          '[OBSERVATION_REQUEST]',
          'OBR',
          '[TCD]',
          '[{NTE}]',
          '[{PRT}] >=2.7',
          '[CTD] >=2.6',
          '[{DG1}]',
          ['[{OBSERVATION}]', 'OBX', '[{PRT}] >=2.7', '[TCD]', '[{NTE}]'],
          [
            '[{SPECIMEN}]',
            'SPM',
            '[{OBX}] <2.7',
            ['[{SPECIMEN_OBSERVATION}] >=2.7', 'OBX', '[{PRT}]'],
            ['[{CONTAINER}]', 'SAC', '[{OBX}] <2.7', ['[{CONTAINER_OBSERVATION}] >=2.7', 'OBX', '[{PRT}]']],
          ],
          [
            '[{PRIOR_RESULT}]',
            ['[PATIENT_PRIOR]', 'PID', '[PD1]', '[{PRT}] >=2.7', '[{ARV}] >=2.6'],
            ['[PATIENT_VISIT_PRIOR]', 'PV1', '[PV2]', '[{PRT}] >=2.7'],
            '[{AL1}]',
            [
              '{ORDER_PRIOR}',
              '[ORC]',
              '[{PRT}] >=2.7',
              'OBR',
              '[{NTE}]',
              ['[{TIMING_PRIOR}]', 'TQ1', '[{TQ2}]'],
              ['{OBSERVATION_PRIOR}', 'OBX', '[{PRT}] >=2.7', '[{NTE}]'],
            ],
          ],
        ],
        '[{FT1}]',
        '[{CTI}]',
        '[BLG]',
      ],
    ],
  },

  /** ch.10 10.4.1 SIU^S12 (S12-S24, S26); TQ1 after SCH from 2.5. */
  SIU_S12: {
    spec: [
      ...HEADER,
      'SCH',
      '[{TQ1}] >=2.5',
      '[{NTE}]',
      ['[{PATIENT}]', 'PID', '[PD1]', '[PV1]', '[PV2]', '[{OBX}]', '[{DG1}]'],
      [
        '{RESOURCES}',
        'RGS',
        ['[{SERVICE}]', 'AIS', '[{NTE}]'],
        ['[{GENERAL_RESOURCE}]', 'AIG', '[{NTE}]'],
        ['[{LOCATION_RESOURCE}]', 'AIL', '[{NTE}]'],
        ['[{PERSONNEL_RESOURCE}]', 'AIP', '[{NTE}]'],
      ],
    ],
  },

  /** ch.9 9.6.1 MDM^T01 (odd events): notification without content; CON from 2.6. */
  MDM_T01: { spec: [...HEADER, 'EVN', 'PID', 'PV1', COMMON_ORDER, 'TXA', '[{CON}] >=2.6'] },

  /** ch.9 9.6.2 MDM^T02 (even events): with the document content as OBX; NTE from 2.4. */
  MDM_T02: { spec: [...HEADER, 'EVN', 'PID', 'PV1', COMMON_ORDER, 'TXA', '[{CON}] >=2.6', ['{OBSERVATION}', 'OBX', '[{NTE}] >=2.4']] },

  /** ch.4A 4A.3.10 VXU^V04 unsolicited vaccination record update. */
  VXU_V04: {
    spec: [
      ...HEADER,
      'PID',
      '[PD1]',
      '[{NK1}]',
      '[{ARV}] >=2.6',
      ['[PATIENT]', 'PV1', '[PV2]', '[{ARV}] >=2.6'],
      '[{GT1}] >=2.5',
      ['[{INSURANCE}]', 'IN1', '[IN2]', '[IN3]'],
      ['[{PERSON_OBSERVATION}] >=2.7', 'OBX', '[{PRT}]', '[{NTE}]'],
      [
        '[{ORDER}]',
        '[ORC]',
        '[{PRT}] >=2.7',
        ['[{TIMING}] >=2.5', 'TQ1', '[{TQ2}]'],
        'RXA',
        '[RXR]',
        ['[{OBSERVATION}]', 'OBX', '[{PRT}] >=2.7', '[{NTE}]'],
      ],
    ],
  },
};

const COMPILED: ReadonlyMap<string, StructureGroup> = new Map(
  Object.entries(SOURCES).map(([id, src]) => [id, compileSpec([`${id}`, ...src.spec] as const, id) as StructureGroup]),
);

/** Structure ids this file describes. */
export const STRUCTURE_IDS: readonly string[] = Object.freeze([...COMPILED.keys()]);

const byVersion = new Map<string, MessageStructure>();

/** A structure for a version (see structureVersion), or undefined when it is not described here. */
export function structureFor(id: string, version: string = DEFAULT_VERSION): MessageStructure | undefined {
  const all = COMPILED.get(id);
  if (all === undefined) return undefined;
  const v = structureVersion(version).version;
  const key = `${id}@${v}`;
  let hit = byVersion.get(key);
  if (hit === undefined) {
    const covers = SOURCES[id]?.covers ?? {};
    hit = { id, version: v, root: forVersion(all, v), covered: inVersionRange(v, covers) };
    byVersion.set(key, hit);
  }
  return hit;
}

// ---------------------------------------------------------------------------------------------
// Events to structures (HL7 table 0354). In the versions described, these pairs do not change.

const EVENT_STRUCTURES: ReadonlyMap<string, string> = new Map([
  ...['A01', 'A04', 'A08', 'A13'].map((e) => [`ADT^${e}`, 'ADT_A01'] as const),
  ...['A05', 'A14', 'A28', 'A31'].map((e) => [`ADT^${e}`, 'ADT_A05'] as const),
  ['ADT^A03', 'ADT_A03'],
  ...['A39', 'A40', 'A41', 'A42'].map((e) => [`ADT^${e}`, 'ADT_A39'] as const),
  ['ORU^R01', 'ORU_R01'],
  ['ORM^O01', 'ORM_O01'],
  ['OML^O21', 'OML_O21'],
  // S25 is a query event, so it is not here.
  ...[12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26].map((n) => [`SIU^S${n}`, 'SIU_S12'] as const),
  // Odd MDM events notify without content (T01), even ones carry it (T02); ch.9 9.4.
  ...[1, 3, 5, 7, 9, 11].map((n) => [`MDM^T${String(n).padStart(2, '0')}`, 'MDM_T01'] as const),
  ...[2, 4, 6, 8, 10].map((n) => [`MDM^T${String(n).padStart(2, '0')}`, 'MDM_T02'] as const),
  ['VXU^V04', 'VXU_V04'],
]);

const KNOWN_CODES = new Set(['ACK', ...[...EVENT_STRUCTURES.keys()].map((k) => k.slice(0, 3))]);

/** The structure table 0354 gives an event, e.g. `('ADT', 'A04')` -> ADT_A01. */
export function structureForEvent(messageCode: string, triggerEvent: string): string | undefined {
  const code = messageCode.trim().toUpperCase();
  // Every application acknowledgment has the ACK structure whatever event it echoes (ch.2 2.13.1).
  if (code === 'ACK') return 'ACK';
  return EVENT_STRUCTURES.get(`${code}^${triggerEvent.trim().toUpperCase()}`);
}

/** How a message's structure was found. */
export type StructureResolution =
  | { readonly kind: 'known'; readonly id: string; readonly via: 'msh-9.3' | 'event'; readonly eventStructure: string | undefined; readonly declared: string }
  | { readonly kind: 'unknown'; readonly reason: 'message-code' | 'event'; readonly declared: string };

/**
 * Finds the structure of a message from MSH-9: MSH-9.3 when it names a structure described here
 * (it is the sender's statement, v2.3.1+ ch.2 2.14.9.9), else the event's structure from table 0354.
 */
export function resolveStructure(messageCode: string, triggerEvent: string, declaredStructure = ''): StructureResolution {
  const declared = declaredStructure.trim().toUpperCase();
  const eventStructure = structureForEvent(messageCode, triggerEvent);
  if (declared !== '' && COMPILED.has(declared)) return { kind: 'known', id: declared, via: 'msh-9.3', eventStructure, declared };
  if (eventStructure !== undefined) return { kind: 'known', id: eventStructure, via: 'event', eventStructure, declared };
  return { kind: 'unknown', reason: KNOWN_CODES.has(messageCode.trim().toUpperCase()) ? 'event' : 'message-code', declared };
}

// ---------------------------------------------------------------------------------------------
// Field rules

/**
 * Datatypes the validator checks the format of: TS/DTM (ch.2A 2.A.22, 2.A.77), DT (2.A.21),
 * DR (2.A.20: two TS), NM (2.A.47), SI (2.A.70). Other datatypes are recorded for reference only.
 */
export type CheckedDatatype = 'TS' | 'DTM' | 'DT' | 'DR' | 'NM' | 'SI';
export const CHECKED_DATATYPES: ReadonlySet<string> = new Set<CheckedDatatype>(['TS', 'DTM', 'DT', 'DR', 'NM', 'SI']);

export interface FieldRule {
  readonly field: number;
  readonly datatype: string;
  /** Versions in which the field exists (with this datatype). */
  readonly versions: VersionRange;
  /** Versions in which the field is Required (R); undefined when it is not required. */
  readonly required: VersionRange | undefined;
  /** Components that must be valued in every valued repetition (e.g. CX.1 of PID-3). */
  readonly requiredComponents: readonly number[];
  /** An HL7 table the first component must come from (see HL7_TABLES). */
  readonly table: string | undefined;
}

/**
 * Required fields and checked datatypes of common segments, per the v2.5.1 segment definitions
 * (ch.2 MSH/MSA/ERR/SFT, ch.3 EVN/PID/PD1/NK1/PV1/PV2/MRG/AL1/DG1, ch.4 ORC/OBR/TQ1/RXA/RXR, ch.6
 * IN1, ch.7 OBX/SPM, ch.9 TXA, ch.10 SCH/RGS/AIS/AIG/AIL/AIP). Only fields marked R there are
 * required here; conditional (C) fields are not, except OBX-2, which the validator checks against
 * OBX-5. Notation: datatype, then `R` (or `R>=2.5`, `R<2.5`), `C1:R` (component 1 required),
 * `Tnnnn` (table), and `>=2.4` when the field was added in that version.
 */
const FIELD_SOURCE: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  // MSH-7 became R in 2.5 (optional before); MSH-9.1, MSH-11.1 and MSH-12.1 are the parts that carry meaning.
  MSH: { 1: 'ST R', 2: 'ST R', 7: 'TS R>=2.5', 9: 'MSG R C1:R', 10: 'ST R', 11: 'PT R C1:R T0103', 12: 'VID R C1:R', 13: 'NM' },
  EVN: { 2: 'TS R', 3: 'TS', 6: 'TS' },
  PID: { 1: 'SI', 3: 'CX R C1:R', 5: 'XPN R', 7: 'TS', 29: 'TS', 33: 'TS >=2.4' },
  PD1: { 13: 'DT >=2.5', 17: 'DT >=2.5', 18: 'DT >=2.5' },
  NK1: { 1: 'SI R', 8: 'DT', 9: 'DT', 16: 'TS' },
  PV1: { 1: 'SI', 2: 'IS R', 44: 'TS', 45: 'TS' },
  PV2: { 8: 'TS', 9: 'TS' },
  MRG: { 1: 'CX R C1:R' },
  OBR: { 1: 'SI', 4: 'CE R', 6: 'TS', 7: 'TS', 8: 'TS', 14: 'TS', 22: 'TS', 36: 'TS' },
  OBX: { 1: 'SI', 2: 'ID', 3: 'CE R', 11: 'ID R T0085', 12: 'TS', 14: 'TS', 19: 'TS >=2.5' },
  ORC: { 1: 'ID R', 9: 'TS', 15: 'TS' },
  NTE: { 1: 'SI' },
  TQ1: { 1: 'SI', 7: 'TS', 8: 'TS' },
  SPM: { 1: 'SI', 4: 'CWE R', 17: 'DR', 18: 'TS', 19: 'TS' },
  TXA: { 1: 'SI R', 2: 'IS R', 4: 'TS', 6: 'TS', 7: 'TS', 8: 'TS', 12: 'EI R', 17: 'ID R' },
  SCH: { 3: 'NM', 6: 'CE R', 9: 'NM' },
  RGS: { 1: 'SI R' },
  AIS: { 1: 'SI R', 3: 'CE R', 4: 'TS', 5: 'NM', 7: 'NM' },
  AIG: { 1: 'SI R', 3: 'CE R', 8: 'TS', 9: 'NM', 11: 'NM' },
  AIL: { 1: 'SI R', 6: 'TS', 7: 'NM', 9: 'NM' },
  AIP: { 1: 'SI R', 6: 'TS', 7: 'NM', 9: 'NM' },
  // RXA-4 (end of administration, "if applies") is not marked required: whether the base table
  // makes it R could not be confirmed, and immunization feeds routinely leave it empty.
  RXA: { 1: 'NM R', 2: 'NM R', 3: 'TS R', 4: 'TS', 5: 'CE R', 6: 'NM R', 16: 'TS', 22: 'TS' },
  RXR: { 1: 'CE R' },
  AL1: { 1: 'SI R', 3: 'CE R', 6: 'DT' },
  DG1: { 1: 'SI R', 5: 'TS', 6: 'IS R', 19: 'TS' },
  IN1: { 1: 'SI R', 2: 'CE R', 3: 'CX R', 12: 'DT', 13: 'DT', 18: 'TS', 29: 'TS' },
  MSA: { 1: 'ID R T0008', 2: 'ST R', 4: 'NM' },
  // ERR-1 (ELD) was the whole error before 2.5; from 2.5 it is backward-compatible only and
  // ERR-3 (code, table 0357) and ERR-4 (severity) are required (ch.2 2.15.5).
  ERR: { 1: 'ELD R<2.5', 3: 'CWE R>=2.5', 4: 'ID R>=2.5 T0516' },
  SFT: { 1: 'XON R', 2: 'ST R', 3: 'ST R', 4: 'ST R', 6: 'TS' },
};

function parseRule(field: number, text: string, where: string): FieldRule {
  const [datatype = '', ...flags] = text.trim().split(/\s+/);
  let required: VersionRange | undefined;
  const requiredComponents: number[] = [];
  let table: string | undefined;
  let from: string | undefined;
  let before: string | undefined;
  for (const f of flags) {
    let m: RegExpExecArray | null;
    if ((m = /^(>=|<)(\d+\.\d+(?:\.\d+)?)$/.exec(f)) !== null) {
      if (m[1] === '>=') from = m[2];
      else before = m[2];
    } else if ((m = /^R(?:(>=|<)(\d+\.\d+(?:\.\d+)?))?$/.exec(f)) !== null) {
      required = m[1] === undefined ? {} : m[1] === '>=' ? { from: m[2] as string } : { before: m[2] as string };
    } else if ((m = /^C(\d+):R$/.exec(f)) !== null) requiredComponents.push(Number(m[1]));
    else if ((m = /^T(\d{4})$/.exec(f)) !== null) table = m[1];
    else throw new Error(`bad field rule ${JSON.stringify(text)} at ${where}`);
  }
  const versions: VersionRange = { ...(from !== undefined ? { from } : {}), ...(before !== undefined ? { before } : {}) };
  return { field, datatype, versions, required, requiredComponents, table };
}

/** Field rules by segment id, in field order. */
export const SEGMENT_FIELDS: Readonly<Record<string, readonly FieldRule[]>> = Object.freeze(
  Object.fromEntries(
    Object.entries(FIELD_SOURCE).map(([seg, fields]) => [
      seg,
      Object.entries(fields)
        .map(([n, text]) => parseRule(Number(n), text, `${seg}-${n}`))
        .sort((a, b) => a.field - b.field),
    ]),
  ),
);

/** The rules of a segment in a version (none for segments not described, Z-segments included). */
export function fieldRulesFor(segmentId: string, version: string = DEFAULT_VERSION): readonly FieldRule[] {
  const rules = SEGMENT_FIELDS[segmentId] ?? [];
  return rules.every((r) => r.versions.from === undefined && r.versions.before === undefined) ? rules : rules.filter((r) => inVersionRange(version, r.versions));
}

/** Whether a rule makes its field required in a version. */
export function isRequiredIn(rule: FieldRule, version: string): boolean {
  return rule.required !== undefined && inVersionRange(version, rule.required);
}

/**
 * The few HL7-defined tables whose values are checked. Table 0085's value set grew across versions
 * (and sites extend it), so a miss there is only a warning.
 */
export const HL7_TABLES: Readonly<Record<string, { readonly name: string; readonly values: ReadonlySet<string>; readonly severity: 'error' | 'warning' }>> = {
  '0008': { name: 'Acknowledgment code', values: new Set(['AA', 'AE', 'AR', 'CA', 'CE', 'CR']), severity: 'error' },
  '0085': { name: 'Observation result status', values: new Set(['C', 'D', 'F', 'I', 'N', 'O', 'P', 'R', 'S', 'U', 'W', 'X']), severity: 'warning' },
  '0103': { name: 'Processing ID', values: new Set(['D', 'P', 'T']), severity: 'error' },
  '0516': { name: 'Error severity', values: new Set(['E', 'F', 'I', 'W']), severity: 'error' },
};
