/**
 * The mapping report: what a conversion did with every segment and field it was given, so that
 * nothing present in the message is dropped without a stated reason (issue 4, "no silent loss").
 *
 * Field entries are keyed by segment occurrence (1-based position of the segment in the message)
 * and field number. A field is `mapped` when a mapper read it (with the FHIR element it fed, when
 * the mapper names one), `skipped` when a mapper decided not to map it and said why, and
 * `unmapped` when it was present and nothing touched it.
 */

export type FieldStatus = 'mapped' | 'skipped' | 'unmapped';

export interface FieldReport {
  /** e.g. `PID-5` (segment id and field number). */
  readonly field: string;
  /** 1-based index of the segment in the message (MSH is 1). */
  readonly segmentIndex: number;
  readonly status: FieldStatus;
  /** FHIR elements it fed, e.g. `Patient.name`. */
  readonly targets: readonly string[];
  /** Why a skipped or unmapped field was not mapped. */
  readonly reason?: string;
}

/** mapped: every present field mapped or skipped with a reason; partial: some left unmapped. */
export type SegmentStatus = 'mapped' | 'partial' | 'unmapped';

export interface SegmentReport {
  readonly segment: string;
  /** 1-based index of the segment in the message. */
  readonly segmentIndex: number;
  /** The group path it sat in, e.g. `ORU_R01/PATIENT_RESULT[1]/ORDER_OBSERVATION[2]`. */
  readonly group: string;
  readonly status: SegmentStatus;
  /** Why a whole segment was not mapped. */
  readonly reason?: string;
  readonly fields: readonly FieldReport[];
}

export interface MappingReport {
  /** MSH-9 as sent, e.g. `ORU^R01`. */
  readonly messageType: string;
  /** The structure used (e.g. ORU_R01) and the mapper that ran. */
  readonly structure: string;
  readonly mapper: string;
  readonly segments: readonly SegmentReport[];
  /** Resources in the bundle by type. */
  readonly resources: Readonly<Record<string, number>>;
  /** Things the mapper wants a human to know (assumed timezone, code not found in a map...). */
  readonly warnings: readonly string[];
  readonly summary: {
    readonly segments: number;
    readonly segmentsUnmapped: number;
    readonly fieldsMapped: number;
    readonly fieldsSkipped: number;
    readonly fieldsUnmapped: number;
  };
}

/** Every field that was present and not mapped (skipped with a reason, or untouched). */
export function unmappedFields(report: MappingReport): Array<FieldReport & { segment: string }> {
  const out: Array<FieldReport & { segment: string }> = [];
  for (const s of report.segments) for (const f of s.fields) if (f.status !== 'mapped') out.push({ ...f, segment: s.segment });
  return out;
}

/** A plain-text rendering for the CLI (stderr) and for logs of ids only: no field values. */
export function formatReport(report: MappingReport): string {
  const lines: string[] = [];
  const s = report.summary;
  lines.push(`${report.messageType} (${report.structure}, mapper ${report.mapper}): ${s.segments} segments, ${s.fieldsMapped} fields mapped, ${s.fieldsSkipped} skipped, ${s.fieldsUnmapped} unmapped`);
  const counts = Object.entries(report.resources).map(([t, n]) => `${t} ${n}`).join(', ');
  lines.push(`resources: ${counts || 'none'}`);
  for (const seg of report.segments) {
    if (seg.status === 'unmapped') {
      lines.push(`  ${seg.segment} #${seg.segmentIndex}: not mapped (${seg.reason ?? 'no mapper'})`);
      continue;
    }
    for (const f of seg.fields) {
      if (f.status === 'mapped') continue;
      lines.push(`  ${f.field} (#${f.segmentIndex}): ${f.status}${f.reason !== undefined ? ` - ${f.reason}` : ''}`);
    }
  }
  for (const w of report.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
