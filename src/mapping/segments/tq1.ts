import type { ServiceRequest, Timing } from '@medplum/fhirtypes';
import { decodeEscapes, piece, type Hl7Encoding } from '../../hl7v2/index.ts';
import type { MappingContext } from '../mapping-context.ts';
import type { SegmentReader } from '../segment-reader.ts';
import { priorityFrom } from './orc.ts';

/** CQ units (CWE code) -> Timing unit for TQ1-6/TQ1-13 (UCUM time units, FHIR R4 units-of-time). */
const TIME_UNIT: Readonly<Record<string, NonNullable<NonNullable<Timing['repeat']>['durationUnit']>>> = {
  S: 's', SEC: 's', s: 's', MIN: 'min', min: 'min', M: 'min', H: 'h', HR: 'h', h: 'h', D: 'd', DAY: 'd', d: 'd', WK: 'wk', W: 'wk', wk: 'wk', MO: 'mo', mo: 'mo', Y: 'a', YR: 'a', a: 'a',
};

/**
 * TQ1 -> ServiceRequest.occurrence[x], quantity and priority (HL7 V2-to-FHIR IG segment map
 * TQ1[ServiceRequest]). Start/end alone give occurrencePeriod (or occurrenceDateTime with a start
 * only); a repeat pattern (TQ1-3), explicit times (TQ1-4), a duration (TQ1-13) or a count (TQ1-14)
 * need occurrenceTiming, whose repeat.boundsPeriod then carries start/end. Several TQ1 (a
 * TIMING group that repeats) are rare; the first sets occurrence and the others are reported.
 */
export function applyTq1(ctx: MappingContext, tq1s: readonly SegmentReader[], sr: ServiceRequest): void {
  tq1s.forEach((tq1, i) => {
    tq1.skip(1, 'set id orders segments; not data');
    if (i > 0) {
      tq1.skippedWhole = 'only the first TQ1 of an order sets ServiceRequest.occurrence (0..1)';
      ctx.warn(`TQ1: an order has several timings; only the first is mapped (segment ${tq1.index})`);
      return;
    }
    const enc = tq1.encoding;
    const start = ctx.dateTime(tq1.read(7, 'TS', 'ServiceRequest.occurrence[x].start'), 'TQ1-7');
    const end = ctx.dateTime(tq1.read(8, 'TS', 'ServiceRequest.occurrence[x].end'), 'TQ1-8');
    const repeatPattern = tq1.repetitions(3, 'ServiceRequest.occurrenceTiming.code').map((r) => decodeEscapes(piece(r, enc.component, 1) ?? r, enc));
    const times = tq1.texts(4, 'ServiceRequest.occurrenceTiming.repeat.timeOfDay').map(hhmmToTime).filter((t): t is string => t !== undefined);
    const duration = cq(tq1.raw(13, 'ServiceRequest.occurrenceTiming.repeat.duration'), enc);
    const count = tq1.text(14, 'ServiceRequest.occurrenceTiming.repeat.count');
    const serviceDuration = cq(tq1.raw(6, 'ServiceRequest.occurrenceTiming.repeat.boundsDuration'), enc);
    const needsTiming = repeatPattern.length > 0 || times.length > 0 || duration !== undefined || count !== undefined || (serviceDuration !== undefined && start === undefined && end === undefined);
    if (needsTiming) {
      const repeat: NonNullable<Timing['repeat']> = {};
      if (start !== undefined || end !== undefined) repeat.boundsPeriod = { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) };
      else if (serviceDuration !== undefined) repeat.boundsDuration = { value: serviceDuration.value, ...(serviceDuration.unit !== undefined ? { unit: serviceDuration.unit, system: 'http://unitsofmeasure.org', code: serviceDuration.unit } : {}) };
      if (times.length > 0) repeat.timeOfDay = times;
      if (duration !== undefined) {
        repeat.duration = duration.value;
        if (duration.unit !== undefined) repeat.durationUnit = duration.unit;
      }
      if (count !== undefined && /^\d+$/.test(count)) repeat.count = Number(count);
      const timing: Timing = {};
      if (Object.keys(repeat).length > 0) timing.repeat = repeat;
      if (repeatPattern.length > 0) timing.code = { text: repeatPattern.join(', ') };
      sr.occurrenceTiming = timing;
    } else if (start !== undefined && end === undefined) sr.occurrenceDateTime = start;
    else if (start !== undefined || end !== undefined) sr.occurrencePeriod = { ...(start !== undefined ? { start } : {}), ...(end !== undefined ? { end } : {}) };
    if (serviceDuration !== undefined && (start !== undefined || end !== undefined)) tq1.skip(6, 'service duration is implied by the start and end already mapped');
    const qty = cq(tq1.raw(2, 'ServiceRequest.quantityQuantity'), enc);
    if (qty !== undefined) sr.quantityQuantity = { value: qty.value, ...(qty.rawUnit !== undefined ? { unit: qty.rawUnit } : {}) };
    const priority = priorityFrom(tq1.text(9, 'ServiceRequest.priority'));
    if (priority !== undefined) sr.priority = priority;
    const notes = [tq1.text(10, 'ServiceRequest.note'), tq1.text(11, 'ServiceRequest.note')].filter((t): t is string => t !== undefined);
    if (notes.length > 0) sr.note = [...(sr.note ?? []), ...notes.map((text) => ({ text }))];
    tq1.skip(5, 'relative time and units have no Timing element we can fill without a reference event');
    tq1.skip(12, 'conjunction links timings; a single timing is mapped');
  });
}

/** HHMM -> hh:mm:00. */
function hhmmToTime(v: string): string | undefined {
  const m = /^(\d{2})(\d{2})?(\d{2})?$/.exec(v.trim());
  if (m === null) return undefined;
  return `${m[1]}:${m[2] ?? '00'}:${m[3] ?? '00'}`;
}

/** CQ (quantity ^ units) -> value and a time unit. */
function cq(raw: string | undefined, enc: Hl7Encoding): { value: number; unit?: NonNullable<NonNullable<Timing['repeat']>['durationUnit']>; rawUnit?: string } | undefined {
  if (raw === undefined) return undefined;
  const v = piece(raw, enc.component, 1) ?? '';
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)$/.test(v.trim())) return undefined;
  const unitCode = piece(piece(raw, enc.component, 2) ?? '', enc.subcomponent, 1) ?? '';
  const unit = TIME_UNIT[unitCode] ?? TIME_UNIT[unitCode.toUpperCase()];
  return { value: Number(v), ...(unit !== undefined ? { unit } : {}), ...(unitCode !== '' ? { rawUnit: unitCode } : {}) };
}
