// Field-level diffs of FHIR resources (JSON): what a reviewer sees before approving, what read-back
// verification compares, and the three-way diff shown on a 409/412 conflict (issue 6 "Review",
// "Reconciliation"). Paths read like FHIRPath with indices: `code.coding[0].code`; a key that is not
// an identifier is written `["odd key"]`.

export interface FieldChange {
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface ThreeWayChange {
  readonly path: string;
  readonly base?: unknown;
  readonly proposal?: unknown;
  readonly current?: unknown;
  /** Both the proposal and the EHR's current copy changed this path from base, differently. */
  readonly conflict: boolean;
}

export interface DiffOptions {
  /**
   * Paths (without indices) not compared, with everything below them. Replaces the default
   * SERVER_ASSIGNED_PATHS; pass `[...SERVER_ASSIGNED_PATHS, 'x']` to extend it, `[]` to compare all.
   */
  readonly ignore?: readonly string[];
}

/**
 * Elements a FHIR server sets itself (FHIR R4 resource.html#Meta, http.html#create: "the server
 * SHALL ignore" id and meta on create), so an EHR's copy differs from what we sent in them without
 * anyone having changed the content. `text.div` and `text.status` are ignored only when one side's
 * narrative is server-generated (`text.status = generated`, narrative.html#Narrative); an authored
 * narrative is content and is compared.
 */
export const SERVER_ASSIGNED_PATHS: readonly string[] = ['id', 'meta.versionId', 'meta.lastUpdated', 'meta.source', 'text.div', 'text.status'];

type Key = string | number;
type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `code.coding[0].code` from ['code', 'coding', 0, 'code']. */
export function formatFieldPath(keys: readonly Key[]): string {
  let out = '';
  for (const k of keys) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (IDENT.test(k)) out += out === '' ? k : `.${k}`;
    else out += `[${JSON.stringify(k)}]`;
  }
  return out;
}

/** The inverse of formatFieldPath. */
export function parseFieldPath(path: string): Key[] {
  const keys: Key[] = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      i++;
    } else if (c === '[') {
      if (path[i + 1] === '"') {
        // A JSON string literal up to its closing quote (escapes skipped), then `]`.
        let j = i + 2;
        while (j < path.length && path[j] !== '"') j += path[j] === '\\' ? 2 : 1;
        keys.push(JSON.parse(path.slice(i + 1, j + 1)) as string);
        i = j + 2;
      } else {
        const end = path.indexOf(']', i);
        keys.push(Number(path.slice(i + 1, end)));
        i = end + 1;
      }
    } else {
      let j = i;
      while (j < path.length && path[j] !== '.' && path[j] !== '[') j++;
      keys.push(path.slice(i, j));
      i = j;
    }
  }
  return keys;
}

/** The path's names only (`code.coding.code`): what ignore lists and policy field rules match. */
export function elementPath(keys: readonly Key[]): string {
  return keys.filter((k): k is string => typeof k === 'string').join('.');
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

interface Ignore {
  readonly paths: readonly string[];
}

function ignored(ig: Ignore, keys: readonly Key[]): boolean {
  if (ig.paths.length === 0) return false;
  const p = elementPath(keys);
  return ig.paths.some((x) => p === x || p.startsWith(`${x}.`));
}

/** A copy of `value` (found at `keys`) without the ignored paths below it; undefined when nothing is left. */
function prune(ig: Ignore, keys: readonly Key[], value: unknown): unknown {
  if (ignored(ig, keys)) return undefined;
  if (ig.paths.length === 0 || !isObject(value)) return value;
  const out: JsonObject = {};
  let kept = 0;
  for (const [k, v] of Object.entries(value)) {
    const p = prune(ig, [...keys, k], v);
    if (p !== undefined) {
      Object.defineProperty(out, k, { value: p, enumerable: true, writable: true, configurable: true });
      kept++;
    }
  }
  // An object emptied by pruning (e.g. a meta holding only versionId) is no difference.
  return kept === 0 && Object.keys(value).length > 0 ? undefined : out;
}

function walk(ig: Ignore, keys: Key[], a: unknown, b: unknown, out: FieldChange[]): void {
  if (ignored(ig, keys)) return;
  if (a === undefined && b === undefined) return;
  if (a === undefined) {
    const after = prune(ig, keys, b);
    if (after !== undefined) out.push({ path: formatFieldPath(keys), kind: 'added', after });
    return;
  }
  if (b === undefined) {
    const before = prune(ig, keys, a);
    if (before !== undefined) out.push({ path: formatFieldPath(keys), kind: 'removed', before });
    return;
  }
  if (isObject(a) && isObject(b)) {
    const seen = new Set<string>();
    for (const k of Object.keys(a)) {
      seen.add(k);
      walk(ig, [...keys, k], a[k], Object.hasOwn(b, k) ? b[k] : undefined, out);
    }
    for (const k of Object.keys(b)) if (!seen.has(k)) walk(ig, [...keys, k], undefined, b[k], out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    // Element by element: FHIR repetitions are ordered (datatypes.html "order of elements is significant").
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) walk(ig, [...keys, i], i < a.length ? a[i] : undefined, i < b.length ? b[i] : undefined, out);
    return;
  }
  if (!deepEqual(a, b)) out.push({ path: formatFieldPath(keys), kind: 'changed', before: a, after: b });
}

function narrativeGenerated(v: unknown): boolean {
  return isObject(v) && isObject(v['text']) && v['text']['status'] === 'generated';
}

/**
 * The differences from `before` to `after`, in document order (before's keys, then after's new
 * ones). A subtree that exists on one side only is one `added`/`removed` entry holding it whole;
 * array elements are compared by index (trailing extras are added/removed, from the lowest index).
 * Two non-object roots that differ give one change at path ''.
 */
export function diffResources(before: unknown, after: unknown, options: DiffOptions = {}): FieldChange[] {
  let paths = options.ignore ?? SERVER_ASSIGNED_PATHS;
  if (paths.includes('text.div') && !narrativeGenerated(before) && !narrativeGenerated(after)) paths = paths.filter((p) => p !== 'text.div' && p !== 'text.status');
  const out: FieldChange[] = [];
  walk({ paths }, [], before, after, out);
  return out;
}

/** The value at a path, or undefined. */
export function valueAtPath(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const k of parseFieldPath(path)) {
    if (typeof k === 'number') cur = Array.isArray(cur) ? cur[k] : undefined;
    else cur = isObject(cur) && Object.hasOwn(cur, k) ? cur[k] : undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** A deep copy of JSON data with no shared subtrees (structuredClone would keep aliasing). */
function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => clone(x)) as T;
  if (isObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, clone(x));
    return out as T;
  }
  return v;
}

/**
 * Applies changes from diffResources to a copy of `doc` (a reviewer's accepted subset, a
 * re-applied edit). Removals of array elements are applied from the highest index down so the
 * indices the diff reported stay valid.
 */
export function applyFieldChanges(doc: unknown, changes: readonly FieldChange[]): unknown {
  let root = clone(doc);
  const removals = changes.filter((c) => c.kind === 'removed').map((c) => ({ c, keys: parseFieldPath(c.path) }));
  const others = changes.filter((c) => c.kind !== 'removed');
  for (const c of others) {
    const keys = parseFieldPath(c.path);
    if (keys.length === 0) {
      root = clone(c.after);
      continue;
    }
    let cur: unknown = root;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i] as Key;
      const next = keys[i + 1] as Key;
      const container = cur as Record<Key, unknown>;
      if (typeof container[k] !== 'object' || container[k] === null) setOwn(container, k, typeof next === 'number' ? [] : {});
      cur = container[k];
    }
    setOwn(cur as Record<Key, unknown>, keys[keys.length - 1] as Key, clone(c.after));
  }
  // Deepest and highest index first, so that no removal shifts another's target.
  removals.sort((x, y) => compareForRemoval(y.keys, x.keys));
  for (const { keys } of removals) {
    if (keys.length === 0) {
      root = undefined;
      continue;
    }
    let cur: unknown = root;
    for (const k of keys.slice(0, -1)) cur = (cur as Record<Key, unknown> | undefined)?.[k];
    const last = keys[keys.length - 1] as Key;
    if (Array.isArray(cur) && typeof last === 'number') cur.splice(last, 1);
    else if (isObject(cur)) delete cur[last as string];
  }
  return root;
}

function compareForRemoval(a: readonly Key[], b: readonly Key[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as Key;
    const y = b[i] as Key;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

/** Assigns an own property, even `__proto__` (data from JSON may hold any key). */
function setOwn(target: Record<Key, unknown>, key: Key, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Base (what the author saw), the proposal, and the EHR's current copy: every path either side
 * changed from base, with the three values; `conflict` when both changed it and disagree (FHIR R4
 * http.html#concurrency: a 409/412 means someone else wrote in between).
 */
export function threeWayDiff(base: unknown, proposal: unknown, current: unknown): ThreeWayChange[] {
  const ours = diffResources(base, proposal);
  const theirs = diffResources(base, current);
  const paths: string[] = [];
  const seen = new Set<string>();
  for (const c of [...ours, ...theirs]) {
    if (seen.has(c.path)) continue;
    seen.add(c.path);
    paths.push(c.path);
  }
  const changedIn = (changes: readonly FieldChange[], path: string): boolean =>
    changes.some((c) => c.path === path || c.path.startsWith(`${path}.`) || c.path.startsWith(`${path}[`) || path.startsWith(`${c.path}.`) || path.startsWith(`${c.path}[`) || c.path === '');
  return paths.map((path) => {
    const b = valueAtPath(base, path);
    const p = valueAtPath(proposal, path);
    const c = valueAtPath(current, path);
    const conflict = changedIn(ours, path) && changedIn(theirs, path) && !deepEqual(p, c);
    return { path, ...(b === undefined ? {} : { base: b }), ...(p === undefined ? {} : { proposal: p }), ...(c === undefined ? {} : { current: c }), conflict };
  });
}
