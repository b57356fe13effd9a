import assert from 'node:assert/strict';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { parseMessage } from '../../hl7v2/index.ts';
import type { FieldReport, MappingReport } from '../mapping-report.ts';
import { convertV2ToFhir, type V2ToFhirResult } from '../v2-to-fhir.ts';

/**
 * Test helpers for the ADT segment and message tests: messages are built in the tests from
 * numbered fields (PV1-19 reads as `19:`), never copied from a corpus.
 */

/** A segment from field number -> value, e.g. seg('PV1', { 2: 'I', 19: 'V1^^^HOSP' }). */
export function seg(name: string, fields: Readonly<Record<number, string>>): string {
  const max = Math.max(0, ...Object.keys(fields).map(Number));
  return [name, ...Array.from({ length: max }, (_, i) => fields[i + 1] ?? '')].join('|');
}

export const TEST_PID = 'PID|1||123^^^HOSP^MR||Doe^Jane||19800101|F';

/** Converts an ADT message of `event` made of the given segments after a fixed MSH. */
export function convertAdt(event: string, segments: readonly string[], controlId = 'CTRL1'): V2ToFhirResult {
  const msh = `MSH|^~\\&|APP|FAC|RCV|RFAC|20240305103000-0500||ADT^${event}|${controlId}|P|2.5.1`;
  return convertV2ToFhir(parseMessage([msh, ...segments].join('\r')), { now: () => new Date('2024-03-05T16:00:00Z') });
}

export function resourcesOf<T extends Resource>(bundle: Bundle, type: T['resourceType']): T[] {
  return (bundle.entry ?? []).map((e) => e.resource as Resource).filter((r): r is T => r.resourceType === type);
}

/** The single resource of a type (fails the test when there is not exactly one). */
export function onlyOf<T extends Resource>(bundle: Bundle, type: T['resourceType']): T {
  const found = resourcesOf<T>(bundle, type);
  assert.equal(found.length, 1, `expected one ${type}, got ${found.length}`);
  return found[0] as T;
}

/** The resource a reference points at, within the bundle. */
export function resolve<T extends Resource>(bundle: Bundle, reference: string | undefined): T | undefined {
  return (bundle.entry ?? []).map((e) => e.resource as Resource).find((r) => `${r.resourceType}/${r.id ?? ''}` === reference) as T | undefined;
}

/** A field's report entry (first occurrence), e.g. fieldReport(report, 'PV1-20'). */
export function fieldReport(report: MappingReport, field: string): FieldReport | undefined {
  return report.segments.flatMap((s) => s.fields).find((f) => f.field === field);
}
