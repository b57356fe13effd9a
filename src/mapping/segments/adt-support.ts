import type { CodeableConcept, Coding, Reference } from '@medplum/fhirtypes';
import type { Hl7Cwe } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { cweToCodeableConcept } from '../v2-datatypes.ts';

/**
 * Small helpers shared by the ADT segment mappers (EVN, PD1, NK1, PV1, PV2, AL1, DG1, PR1, IN1,
 * GT1, MRG, ROL). Code tables stay in the segment file that uses them.
 */

/** A concept-map target: the FHIR coding an HL7 table code maps to (HL7 V2-to-FHIR IG concept maps). */
export type ConceptTarget = Readonly<{ system: string; code: string; display?: string }>;

/** A CWE field (first repetition), codes trimmed (see cleanCwe); a malformed value reads as absent (SegmentReader.read). */
export function readCwe(ctx: MappingContext, r: SegmentReader, field: number, target: string): Hl7Cwe | undefined {
  return cleanCwe(r.read(field, 'CWE', target));
}

/**
 * Codes trimmed, and a blank code treated as absent: senders pad fields with spaces, and a FHIR
 * code may not be blank or carry edge whitespace (FHIR R4 datatypes.html#code).
 */
export function cleanCwe(cwe: Hl7Cwe | undefined): Hl7Cwe | undefined {
  if (cwe === undefined) return undefined;
  // Most values need no trimming: then the value itself is the answer (read values are never
  // mutated), with no copy and no `delete` (which would turn the copy into a slow dictionary).
  if (isClean(cwe.code) && isClean(cwe.alternateCode) && isClean(cwe.text) && isClean(cwe.alternateText) && isClean(cwe.originalText) && isClean(cwe.system) && isClean(cwe.alternateSystem)) {
    for (const _ in cwe) return cwe;
    return undefined;
  }
  const out: { -readonly [K in keyof Hl7Cwe]: Hl7Cwe[K] } = { ...cwe };
  for (const k of ['code', 'alternateCode', 'text', 'alternateText', 'originalText', 'system', 'alternateSystem'] as const) {
    const v = out[k]?.trim();
    if (v === undefined || v === '') delete out[k];
    else out[k] = v;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** True when cleanCwe would keep the value as it is (absent, or non-blank without edge whitespace). */
function isClean(v: string | undefined): boolean {
  return v === undefined || (v !== '' && v.trim() === v);
}

/**
 * CWE -> CodeableConcept with the IG concept map's target coding first (when the code is in the
 * map) and the codings as sent after it, so nothing sent is lost (IG CWE[CodeableConcept]).
 */
export function mappedConcept(ctx: MappingContext, cwe: Hl7Cwe | undefined, field: string, table: string | undefined, map: Readonly<Record<string, ConceptTarget>>): CodeableConcept | undefined {
  const cc = cweToCodeableConcept(ctx, cwe, table !== undefined ? { field, table } : { field });
  if (cc === undefined || cwe?.code === undefined) return cc;
  const target = map[cwe.code] ?? map[cwe.code.toUpperCase()];
  if (target === undefined) return cc;
  const codings: Coding[] = cc.coding ?? [];
  if (!codings.some((c) => c.system === target.system && c.code === target.code)) codings.unshift({ ...target });
  // cc is a new object (cweToCodeableConcept builds one per call): set in place, not copied.
  cc.coding = codings;
  return cc;
}

/** A field read as a timestamp and turned into a FHIR dateTime (a malformed one reads as absent). */
export function readDateTime(ctx: MappingContext, r: SegmentReader, field: number, target: string): string | undefined {
  const ts = r.read(field, 'TS', target);
  return ctx.dateTime(ts, `${r.name}-${field}`);
}

/** A field read as a date (FHIR date: the day part only). */
export function readDate(ctx: MappingContext, r: SegmentReader, field: number, target: string): string | undefined {
  const ts = r.read(field, 'TS', target);
  return ts?.iso.slice(0, 10);
}

/**
 * Skips every listed field with the same reason (each only if not read). No presence check: the
 * report lists present fields only, so a reason given to an absent field is never shown, and
 * looking each field up first cost more than the skip itself.
 */
export function skipAll(r: SegmentReader, fields: readonly number[], reason: string): void {
  for (let i = 0; i < fields.length; i++) r.skip(fields[i] as number, reason);
}

/** Reference display from a resource reference, dropping an empty display. */
export function withDisplay<T extends Reference>(ref: T, display: string | undefined): T {
  return display === undefined || display === '' ? ref : { ...ref, display };
}

/**
 * Adds `minutes` to a FHIR dateTime that carries a time and an offset, keeping the offset
 * (PR1-7 procedure minutes -> performedPeriod.end). Undefined for a date without a time.
 */
export function addMinutes(dateTime: string, minutes: number): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(dateTime);
  if (m === null) return undefined;
  const zone = m[7] as string;
  // Wall-clock arithmetic in the sent offset: the offset itself does not change.
  const local = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) + minutes * 60_000;
  const d = new Date(local);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}${zone}`;
}

/** The reference a resource will have in the bundle (`Type/id`). */
export function refOf(resourceType: string, id: string): string {
  return `${resourceType}/${id}`;
}
