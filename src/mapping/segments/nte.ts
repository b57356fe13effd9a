import type { Annotation } from '@medplum/fhirtypes';
import { decodeEscapes } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { practitionerFromXcn } from '../v2-resources.ts';

/**
 * NTE -> Annotation (HL7 V2-to-FHIR IG segment maps NTE[Observation], NTE[ServiceRequest]):
 * NTE-3 is the text (its repetitions are lines; FT formatting escapes are decoded, so `\.br\`
 * becomes a line break), NTE-5 the author, NTE-6 the time. `target` names the element the notes
 * feed (e.g. `Observation.note`) for the report. An NTE without text yields no Annotation (its
 * `text` is 1..1) and is reported as skipped.
 */
export function notesFrom(ctx: MappingContext, ntes: readonly SegmentReader[], target: string): Annotation[] {
  const out: Annotation[] = [];
  for (const nte of ntes) {
    const lines = nte.repetitions(3, `${target}.text`).map((rep) => decodeEscapes(rep, nte.encoding));
    nte.skip(1, 'set id orders segments; not data');
    if (lines.length === 0) {
      nte.skippedWhole ??= 'NTE without a comment (NTE-3): Annotation.text is required';
      for (const n of [2, 4, 5, 6, 7, 8]) nte.skip(n, 'NTE without a comment (NTE-3) yields no Annotation');
      continue;
    }
    const note: Annotation = { text: lines.join('\n') };
    const author = practitionerFromXcn(ctx, nte.read(5, 'XCN', `${target}.authorReference`));
    if (author !== undefined) note.authorReference = author;
    const time = ctx.dateTime(nte.read(6, 'TS', `${target}.time`), 'NTE-6');
    if (time !== undefined) note.time = time;
    // NTE-2 (source of comment, table 0105) and NTE-4 (comment type, table 0364) have no Annotation
    // element; the IG marks the latter "extension??" (no extension defined yet).
    nte.skip(2, 'source of comment (table 0105) has no Annotation element');
    nte.skip(4, 'comment type (table 0364) has no Annotation element (IG NTE[Observation]: extension not yet defined)');
    nte.skip(7, 'effective start date has no Annotation element');
    nte.skip(8, 'expiration date has no Annotation element');
    nte.skip(9, 'coded comment has no Annotation element');
    out.push(note);
  }
  return out;
}
