// Value parsing shared by the search indexer (search-parameters.ts) and the query parser
// (search-query.ts): date precision ranges and decimal precision ranges (FHIR R4 search.html#date,
// search.html#number).

export interface InstantRange {
  /** Epoch ms, inclusive. */
  readonly low: number;
  /** Epoch ms, inclusive: the last millisecond the value's precision covers. */
  readonly high: number;
}

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instant range a FHIR date, dateTime or instant covers, honouring its precision: `2020` is the
 * whole year, `2020-03-04T10:00` the whole minute, `...10:00:00.123Z` one millisecond. Values
 * without a time zone are read as UTC (FHIR R4 datatypes.html#dateTime leaves it to the server).
 * Undefined when the text is not a FHIR date.
 */
export function dateRange(text: string): InstantRange | undefined {
  const m = DATE_RE.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]);
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (month === undefined) return { low: Date.UTC(year, 0, 1), high: Date.UTC(year + 1, 0, 1) - 1 };
  if (day === undefined) return { low: Date.UTC(year, month - 1, 1), high: Date.UTC(year, month, 1) - 1 };
  const dayStart = Date.UTC(year, month - 1, day);
  if (new Date(dayStart).getUTCDate() !== day) return undefined;
  if (m[4] === undefined) return { low: dayStart, high: Date.UTC(year, month - 1, day + 1) - 1 };
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (hour > 24 || minute > 59 || second > 60) return undefined;
  const fraction = m[7];
  const ms = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  let offsetMs = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMs = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  const low = dayStart + ((hour * 60 + minute) * 60 + second) * 1000 + ms - offsetMs;
  let span: number;
  if (m[6] === undefined) span = 60_000;
  else if (fraction === undefined) span = 1000;
  else span = fraction.length >= 3 ? 1 : 10 ** (3 - fraction.length);
  return { low, high: low + span - 1 };
}

export interface DecimalRange {
  readonly value: number;
  /** The range implied by the significant digits written: `100` is [99.5, 100.5). */
  readonly low: number;
  readonly high: number;
}

const DECIMAL_RE = /^[+-]?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** A FHIR decimal with its implied precision range (FHIR R4 search.html#number), or undefined. */
export function decimalRange(text: string): DecimalRange | undefined {
  const m = DECIMAL_RE.exec(text);
  if (m === null) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) return undefined;
  const decimals = (m[2]?.length ?? 0) - Number(m[3] ?? 0);
  const half = 0.5 * 10 ** -decimals;
  return { value, low: value - half, high: value + half };
}
