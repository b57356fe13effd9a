import { SwitchboardError } from '../core/errors.ts';

/**
 * A parsed accessor path, 1-based like the spec: `PID-3[2].1.2` is PID, field 3, repetition 2,
 * component 1, subcomponent 2; `OBX[3]-5` is the third OBX segment's field 5. The segment part may
 * be omitted when the path is applied to a segment (`3[2].1`).
 */
export interface Hl7Path {
  readonly segment: string | undefined;
  /** 1-based occurrence of the segment; undefined means the first (get) or every one (getAll). */
  readonly occurrence: number | undefined;
  readonly field: number | undefined;
  /** 1-based repetition; undefined means the first (get) or every one (getAll). */
  readonly repetition: number | undefined;
  readonly component: number | undefined;
  readonly subcomponent: number | undefined;
}

const PATH_RE = /^(?:([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?)?(?:(?:^|-)(\d+)(?:\[(\d+)\])?(?:\.(\d+)(?:\.(\d+))?)?)?$/;

const cache = new Map<string, Hl7Path>();
const CACHE_LIMIT = 4096;

function positive(text: string | undefined, what: string, path: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number.parseInt(text, 10);
  if (n < 1) throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: `${what} positions are 1-based` });
  return n;
}

/** Parses (and memoises) a path; throws SWB_ERR_HL7_BAD_PATH with the reason. */
export function parsePath(path: string): Hl7Path {
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  const m = PATH_RE.exec(path);
  if (m === null || path === '') {
    throw new SwitchboardError('SWB_ERR_HL7_BAD_PATH', { path, reason: 'expected SEG[n]-F[r].C.S, e.g. PID-3[2].1' });
  }
  const parsed: Hl7Path = {
    segment: m[1],
    occurrence: positive(m[2], 'segment occurrence', path),
    field: m[3] === undefined ? undefined : positive(m[3], 'field', path),
    repetition: positive(m[4], 'repetition', path),
    component: positive(m[5], 'component', path),
    subcomponent: positive(m[6], 'subcomponent', path),
  };
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(path, parsed);
  return parsed;
}
