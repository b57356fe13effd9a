import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SwitchboardError } from '../core/errors.ts';
import { parseBatch, parseMessage, type Hl7Message } from '../hl7v2/index.ts';
import { convertFhirToV2, type FhirToV2Type } from './fhir-to-v2.ts';
import { convertV2ToFhir, mapperFor } from './v2-to-fhir.ts';

/**
 * v2 -> FHIR -> v2 keeps every mapped field (issue 4). For a message built here, each field the
 * forward report lists as mapped, and that the reverse writes (REVERSE_FIELDS), must come back with
 * the same value. Compared component by component after two documented normalisations only:
 * - timestamps: FHIR needs seconds and an offset, so a DTM sent without seconds or without an
 *   offset comes back with ":00" seconds and the offset the forward map gave it (MSH-7's);
 * - numbers: FHIR decimals in JSON lose trailing zeros ("5.40" comes back "5.4").
 */

const now = (): Date => new Date('2024-03-05T17:00:00Z');

/** The fields each reverse mapper writes (see src/mapping/reverse/*.ts). */
const PID = [3, 5, 6, 7, 8, 10, 11, 13, 14, 15, 16, 17, 19, 20, 22, 23, 24, 25, 26, 29, 30];
const PV1 = [2, 3, 4, 5, 7, 8, 9, 13, 14, 17, 18, 19, 38, 44, 45];
const REVERSE_FIELDS: Readonly<Record<string, Readonly<Record<string, readonly number[]>>>> = {
  ORU_R01: { PID, PV1, ORC: [1, 2, 3, 12], OBR: [2, 3, 4, 7, 8, 22, 24, 25, 32], OBX: [1, 2, 3, 5, 6, 7, 8, 11, 14, 16, 17, 19, 20, 23], NTE: [3], SPM: [2, 4, 7, 8, 17, 18] },
  MDM_T02: { PID, PV1, TXA: [2, 3, 4, 6, 9, 10, 12, 13, 16, 17, 18, 19, 24, 25], OBX: [2, 3, 5] },
  SIU_S12: { PID, SCH: [1, 2, 6, 7, 8, 9, 10, 11, 12, 16, 20, 25], TQ1: [6, 7, 8], NTE: [3], AIS: [3, 4, 7, 8, 10], AIG: [3, 4, 8, 11, 12, 14], AIL: [3, 4, 6, 9, 10, 12], AIP: [3, 4, 6, 9, 10, 12] },
  ADT_A31: { PID, PV1 },
  ADT_A08: { PID, PV1 },
};

const DTM = /^(\d{8})(\d{2})(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;

/** A component normalised as documented above. */
function normal(value: string, defaultOffset: string): string {
  const m = DTM.exec(value);
  if (m !== null && m[2] !== undefined && m[3] !== undefined) return `${m[1] as string}${m[2]}${m[3]}${m[4] ?? '00'}${m[5] ?? ''}${m[6] ?? defaultOffset}`;
  if (NUMBER.test(value) && !/^0\d/.test(value)) return String(Number(value));
  return value;
}

function normalField(raw: string, msg: Hl7Message, defaultOffset: string): string {
  const e = msg.encoding;
  return raw
    .split(e.repetition)
    .map((rep) =>
      rep
        .split(e.component)
        .map((c) => c.split(e.subcomponent).map((s) => normal(s, defaultOffset)).join(e.subcomponent))
        .join(e.component)
        .replace(new RegExp(`\\${e.component}+$`), ''),
    )
    .join(e.repetition);
}

interface Compared {
  readonly compared: string[];
  readonly differences: string[];
}

/** Forward, reverse, and the field-by-field comparison. */
function roundTrip(text: string, type: FhirToV2Type): Compared {
  const source = parseMessage(text);
  const forward = convertV2ToFhir(source, { now });
  const back = parseMessage(convertFhirToV2(forward.bundle, { type, now, controlId: source.controlId, version: source.version }).message.toString());
  const fields = REVERSE_FIELDS[type] ?? {};
  const offset = /([+-]\d{4})$/.exec(source.get('MSH-7') ?? '')?.[1] ?? '+0000';
  const occurrence = new Map<string, number>();
  const compared: string[] = [];
  const differences: string[] = [];
  for (const seg of forward.report.segments) {
    const n = (occurrence.get(seg.segment) ?? 0) + 1;
    occurrence.set(seg.segment, n);
    const wanted = fields[seg.segment];
    if (wanted === undefined) continue;
    for (const f of seg.fields) {
      const field = Number(f.field.split('-')[1]);
      if (f.status !== 'mapped' || !wanted.includes(field)) continue;
      const where = `${seg.segment}[${n}]-${field}`;
      const a = normalField(source.segment(seg.segment, n)?.rawField(field) ?? '', source, offset);
      const b = normalField(back.segment(seg.segment, n)?.rawField(field) ?? '', back, offset);
      compared.push(where);
      if (a !== b) differences.push(`${where}: sent ${JSON.stringify(a)}, came back ${JSON.stringify(b)}`);
    }
  }
  return { compared, differences };
}

/** A segment from its fields by number (so that no field lands one pipe off). */
function seg(name: string, fields: Readonly<Record<number, string>>): string {
  const last = Math.max(...Object.keys(fields).map(Number));
  const out: string[] = [name];
  for (let n = 1; n <= last; n++) out.push(fields[n] ?? '');
  return out.join('|');
}

const MSH = (type: string, id: string): string => `MSH|^~\\&|SRC|HOSP|EHR|HOSP|20240305120000-0500||${type}|${id}|P|2.5.1`;
const PID_SEGMENT = 'PID|1||MRN1^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||Doe^Jane^Q^^^^L~Roe^Ann^^^^^M||19800203|F|||1 Main St^Apt 2^Boston^MA^02110^USA^H||^PRN^PH^^^617^5551234~^NET^Internet^jd@example.org|^WPN^PH^^^617^5559999|en^English^ISO639|M^Married^HL70002|||123-45-6789';

const MESSAGES: ReadonlyArray<{ type: FhirToV2Type; text: string; minimum: number }> = [
  {
    type: 'ORU_R01',
    minimum: 40,
    text: [
      MSH('ORU^R01^ORU_R01', 'ORU1'),
      PID_SEGMENT,
      seg('PV1', { 1: '1', 2: 'O', 7: 'D9^House^Greg', 19: 'V100^^^HOSP^VN', 44: '20240301080000-0500' }),
      'ORC|RE|PL1^HOSP|FL1^LAB',
      'OBR|1|PL1^HOSP|FL1^LAB|24323-8^Comprehensive metabolic panel^LN|||20240305081500-0500||||||||||||||20240305110000-0500|||F',
      'OBX|1|NM|2345-7^Glucose^LN||95.0|mg/dL^mg/dL^UCUM|70-99|N^Normal^HL70078|||F|||20240305081500-0500',
      'NTE|1||fasting sample',
      'OBX|2|ST|5778-6^Color^LN||Pale \\T\\ yellow||||||F',
      'OBX|3|CWE|600-7^Culture^LN||260385009^Negative^SCT||||||P',
      'OBX|4|SN|5803-2^pH^LN||<^5|U/L^U/L^UCUM|||||F',
      seg('SPM', { 1: '1', 2: '^ACC1', 4: '119297000^Blood^SCT', 17: '20240305070000-0500' }),
      'ORC|RE|PL2^HOSP|FL2^LAB',
      seg('OBR', { 1: '2', 2: 'PL2^HOSP', 3: 'FL2^LAB', 4: '58410-2^CBC panel^LN', 7: '20240305081500-0500', 25: 'P' }),
      'OBX|1|NM|718-7^Hemoglobin^LN||13.5|g/dL^g/dL^UCUM|12.0-16.0|N^Normal^HL70078|||P',
    ].join('\r'),
  },
  {
    type: 'MDM_T02',
    minimum: 15,
    text: [
      MSH('MDM^T02^MDM_T02', 'MDM1'),
      'EVN|T02|20240305120000-0500',
      PID_SEGMENT,
      seg('PV1', { 1: '1', 2: 'I', 19: 'V200^^^HOSP^VN' }),
      seg('TXA', { 1: '1', 2: '11506-3^Progress note^LN', 3: 'TX', 4: '20240305083000-0500', 6: '20240305090000-0500', 9: 'A1^Author^Ann', 10: 'S1^Signer^Sam', 12: 'DOC1^HOSP', 17: 'LA', 18: 'R', 19: 'AV' }),
      'OBX|1|TX|11506-3^Progress note^LN||Patient seen today.||||||F',
      'OBX|2|TX|11506-3^Progress note^LN||Plan: follow up \\F\\ 2 weeks.||||||F',
    ].join('\r'),
  },
  {
    type: 'SIU_S12',
    minimum: 15,
    text: [
      MSH('SIU^S12^SIU_S12', 'SIU1'),
      seg('SCH', { 1: 'P-1^CLINIC', 2: 'F-1^SCHED', 7: 'ROUTINE^Routine^HL70276', 8: 'Normal^Normal^HL70277', 9: '30', 10: 'min^minutes^UCUM', 11: '^^^20240306090000-0500^20240306093000-0500', 25: 'Booked' }),
      seg('TQ1', { 1: '1', 6: '30^min&minutes&UCUM', 7: '20240306090000-0500', 8: '20240306093000-0500' }),
      'NTE|1||bring films',
      PID_SEGMENT,
      'RGS|1',
      seg('AIS', { 1: '1', 3: 'CHK^Checkup^99SVC', 4: '20240306090000-0500', 7: '30', 8: 'min^minutes^UCUM', 10: 'Booked' }),
      seg('AIG', { 1: '1', 3: 'XR-1^X-ray 1^EQ', 4: 'EQUIP^Equipment^99RT', 8: '20240306090000-0500', 11: '30', 12: 'min^minutes^UCUM', 14: 'Booked' }),
      seg('AIL', { 1: '1', 3: 'Ward A^Room 1', 6: '20240306090000-0500', 9: '30', 10: 'min^minutes^UCUM', 12: 'Booked' }),
      seg('AIP', { 1: '1', 3: 'D1^Who^Doc', 4: 'ATND^Attender^99RT', 6: '20240306090000-0500', 9: '30', 10: 'min^minutes^UCUM', 12: 'Booked' }),
    ].join('\r'),
  },
  {
    type: 'ADT_A31',
    minimum: 10,
    text: [MSH('ADT^A31^ADT_A05', 'ADT1'), 'EVN|A31|20240305120000-0500', PID_SEGMENT, 'PV1|1|N'].join('\r'),
  },
  {
    type: 'ADT_A08',
    minimum: 15,
    text: [
      MSH('ADT^A08^ADT_A01', 'ADT2'),
      'EVN|A08|20240305120000-0500',
      PID_SEGMENT,
      seg('PV1', { 1: '1', 2: 'I', 3: 'W1^201^B2', 4: 'E^Emergency^HL70007', 7: 'D9^House^Greg', 8: 'R1^Ref^Rita', 17: 'A7^Adm^Al', 19: 'V100^^^HOSP^VN', 44: '20240301080000-0500', 45: '20240304100000-0500' }),
    ].join('\r'),
  },
];

describe('round trip v2 -> FHIR -> v2 keeps every mapped field', () => {
  for (const { type, text, minimum } of MESSAGES) {
    it(type, (t) => {
      if (mapperFor(parseMessage(text)) === undefined) {
        t.skip(`no v2 -> FHIR mapper for ${type} yet (src/mapping/messages/*-mapper.ts)`);
        return;
      }
      const { compared, differences } = roundTrip(text, type);
      assert.deepEqual(differences, []);
      // The comparison must have had something to compare (a mapper that maps nothing would pass).
      assert.ok(compared.length >= minimum, `only ${compared.length} fields compared: ${compared.join(', ')}`);
    });
  }
});

/** MSH-9 -> the reverse type to rebuild it as. */
const REVERSE_TYPE: Readonly<Record<string, FhirToV2Type>> = { 'ORU^R01': 'ORU_R01', 'MDM^T02': 'MDM_T02', 'SIU^S12': 'SIU_S12', 'SIU^S14': 'SIU_S14', 'SIU^S15': 'SIU_S15', 'ADT^A31': 'ADT_A31', 'ADT^A08': 'ADT_A08' };

describe('round trip over the corpus: every message the forward map converts converts back', () => {
  it('rebuilds each corpus ORU^R01, MDM^T02, SIU^S12/S14/S15, ADT^A31/A08 (or refuses it with a stated reason)', (t) => {
    const root = path.resolve(import.meta.dirname, '../..', process.env.SWITCHBOARD_CORPUS ?? '../shared/corpus', 'hl7v2');
    if (!fs.existsSync(root)) {
      t.skip(`corpus not found at ${root} (set SWITCHBOARD_CORPUS)`);
      return;
    }
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(hl7|txt)$/i.test(e.name)) files.push(p);
      }
    };
    walk(root);
    const table: Record<string, { rebuilt: number; refused: number }> = {};
    const failures: string[] = [];
    for (const file of files) {
      const text = fs.readFileSync(file, 'latin1');
      let messages: Hl7Message[];
      try {
        messages = [parseMessage(text)];
      } catch {
        try {
          messages = parseBatch(text).messages;
        } catch {
          continue;
        }
      }
      for (const m of messages) {
        const type = REVERSE_TYPE[`${m.messageCode}^${m.triggerEvent}`];
        if (type === undefined || mapperFor(m) === undefined) continue;
        let bundle;
        try {
          bundle = convertV2ToFhir(m, { now }).bundle;
        } catch {
          continue; // the forward side's own tests own its refusals
        }
        const row = (table[type] ??= { rebuilt: 0, refused: 0 });
        try {
          const back = convertFhirToV2(bundle, { type, now, version: /^2\.\d(\.\d)?$/.test(m.version) ? m.version : '2.5.1' }).message;
          parseMessage(back.toString());
          row.rebuilt++;
        } catch (e) {
          // A refusal names what is missing (no DiagnosticReport for an ORU without OBR, no patient...).
          if (e instanceof SwitchboardError && (e.code === 'SWB_ERR_MAP_FHIR_INPUT' || e.code === 'SWB_ERR_MAP_UNSUPPORTED_RESOURCE')) row.refused++;
          else failures.push(`${path.relative(root, file)}: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
    console.log('corpus round trip (rebuilt / refused):', Object.entries(table).map(([k, v]) => `${k} ${v.rebuilt}/${v.refused}`).join(', '));
    assert.deepEqual(failures, []);
    assert.ok(Object.values(table).reduce((n, v) => n + v.rebuilt, 0) > 0, 'no corpus message was rebuilt');
  });
});

describe('TXA-17 across the round trip', () => {
  it('an AU document with an assigned authenticator (TXA-10) comes back AU, never upgraded to LA', () => {
    const text = [
      'MSH|^~\\&|DOCS|HOSP|EHR|HOSP|20240305120000-0500||MDM^T02^MDM_T02|AU1|P|2.5.1',
      'EVN|T02|20240305120000-0500',
      'PID|1||P1^^^HOSP^MR||Doe^Jane||19800101|F',
      'PV1|1|I',
      'TXA|1|11506-3^Progress note^LN|TX|20240305083000-0500||||||S1^Signer^Sam||DOC2^HOSP|||||AU||AV',
      'OBX|1|TX|11506-3^Progress note^LN||Seen.||||||F',
    ].join('\r');
    const { bundle } = convertV2ToFhir(parseMessage(text));
    const back = convertFhirToV2(bundle, { type: 'MDM_T02' }).message;
    assert.equal(back.get('TXA-17'), 'AU');
  });
});
