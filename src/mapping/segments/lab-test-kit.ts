import type { Bundle, Resource } from '@medplum/fhirtypes';
import { parseMessage } from '../../hl7v2/index.ts';
import type { MappingReport } from '../mapping-report.ts';
import { convertV2ToFhir } from '../v2-to-fhir.ts';

/** Test helpers for the lab mapping: small messages built in the test (never corpus copies). */

export const PID = 'PID|1||P100^^^HOSP^MR||Doe^Jane||19800101|F';

/** A segment from field number -> value (field 0 is the name). */
export function seg(name: string, fields: Readonly<Record<number, string>>): string {
  const max = Math.max(0, ...Object.keys(fields).map(Number));
  const parts = [name];
  for (let n = 1; n <= max; n++) parts.push(fields[n] ?? '');
  return parts.join('|');
}

export function convert(type: string, segments: readonly string[], controlId = 'MSG1'): { bundle: Bundle; report: MappingReport } {
  const [code, event] = type.split('^') as [string, string];
  const msh = `MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240305103000-0500||${code}^${event}^${code}_${event}|${controlId}|P|2.5.1`;
  return convertV2ToFhir(parseMessage([msh, ...segments].join('\r')), { now: () => new Date('2024-03-05T16:00:00Z') });
}

export function all<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource as Resource).filter((r): r is T => r.resourceType === type);
}

export function one<T extends Resource>(bundle: Bundle, type: T['resourceType']): T {
  const found = all<T>(bundle, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as T;
}

export function ref(r: Resource): string {
  return `${r.resourceType}/${r.id ?? ''}`;
}

/** The report entry of one field of the n-th segment with that name (1-based). */
export function fieldStatus(report: MappingReport, field: string, nth = 1): string | undefined {
  const [name] = field.split('-');
  const segs = report.segments.filter((s) => s.segment === name);
  return segs[nth - 1]?.fields.find((f) => f.field === field)?.status;
}
