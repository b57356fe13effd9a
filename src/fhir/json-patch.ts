/**
 * JSON Patch (RFC 6902) over JSON Pointers (RFC 6901), the one implementation: the EHR simulator's
 * PATCH (FHIR R4 http.html#patch), and write-back's review (a `patch` proposal shown as the resource
 * it would produce) and read-back verification. Applies to a copy; any failed operation fails the
 * whole patch (RFC 6902 5: "evaluation ... SHALL terminate and the application of the entire patch
 * document SHALL NOT be deemed successful"). The patch is taken as `unknown` and checked op by op,
 * because the simulator receives it from the network.
 */

export class JsonPatchError extends Error {
  override readonly name = 'JsonPatchError';
  /** The index of the failing operation, when one failed (not for a malformed patch document). */
  readonly index: number | undefined;

  constructor(message: string, index?: number) {
    super(index === undefined ? message : `patch[${index}]: ${message}`);
    this.index = index;
  }
}

type Json = unknown;
type Container = Record<string, Json> | Json[];

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchError(`path ${JSON.stringify(pointer)} is not a JSON Pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function isContainer(v: Json): v is Container {
  return typeof v === 'object' && v !== null;
}

function arrayIndex(token: string, length: number, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new JsonPatchError(`${JSON.stringify(token)} is not an array index`);
  const i = Number(token);
  if (i > length || (!allowEnd && i === length)) throw new JsonPatchError(`index ${i} is out of range`);
  return i;
}

/** The container holding the last token, and that token. */
function parentOf(doc: Json, tokens: readonly string[]): { parent: Container; key: string } {
  let node = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(t, node.length, false)];
    else if (isContainer(node) && Object.hasOwn(node, t)) node = (node as Record<string, Json>)[t];
    else throw new JsonPatchError('a path element does not exist');
  }
  if (!isContainer(node)) throw new JsonPatchError('the target parent is not an object or array');
  return { parent: node, key: tokens[tokens.length - 1] as string };
}

function getAt(doc: Json, tokens: readonly string[]): Json {
  let node = doc;
  for (const t of tokens) {
    if (Array.isArray(node)) node = node[arrayIndex(t, node.length, false)];
    else if (isContainer(node) && Object.hasOwn(node, t)) node = (node as Record<string, Json>)[t];
    else throw new JsonPatchError('a path element does not exist');
  }
  return node;
}

function add(doc: Json, tokens: readonly string[], value: Json): Json {
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true), 0, value);
  else parent[key] = value;
  return doc;
}

function remove(doc: Json, tokens: readonly string[]): Json {
  if (tokens.length === 0) throw new JsonPatchError('cannot remove the whole document');
  const { parent, key } = parentOf(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, false), 1);
  else if (Object.hasOwn(parent, key)) delete parent[key];
  else throw new JsonPatchError('the path to remove does not exist');
  return doc;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (!isContainer(a) || !isContainer(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, Json>)[k], (b as Record<string, Json>)[k]));
}

/**
 * Applies `patch` (an array of operations) to a copy of `document` and returns the result. The
 * result has the document's type unless the patch replaces the root (callers that take patches from
 * outside check what they get).
 */
export function applyJsonPatch<T = Json>(document: T, patch: unknown): T {
  if (!Array.isArray(patch)) throw new JsonPatchError('a JSON Patch document is an array of operations');
  let doc: Json = structuredClone(document);
  patch.forEach((raw: unknown, index) => {
    try {
      doc = applyOne(doc, raw);
    } catch (e) {
      if (e instanceof JsonPatchError) throw new JsonPatchError(e.message, index);
      throw e;
    }
  });
  return doc as T;
}

function applyOne(doc: Json, raw: unknown): Json {
  if (!isContainer(raw) || Array.isArray(raw)) throw new JsonPatchError('the operation is not an object');
  const op = raw as Record<string, Json>;
  if (typeof op['path'] !== 'string') throw new JsonPatchError('the operation has no path');
  const path = parsePointer(op['path']);
  const needValue = (): Json => {
    if (!Object.hasOwn(op, 'value')) throw new JsonPatchError('the operation has no value');
    return structuredClone(op['value']);
  };
  const from = (): string[] => {
    if (typeof op['from'] !== 'string') throw new JsonPatchError('the operation has no from');
    return parsePointer(op['from']);
  };
  switch (op['op']) {
    case 'add':
      return add(doc, path, needValue());
    case 'remove':
      return remove(doc, path);
    case 'replace':
      getAt(doc, path);
      return path.length === 0 ? needValue() : add(remove(doc, path), path, needValue());
    case 'move': {
      const f = from();
      // RFC 6902 4.4: a location cannot be moved into one of its children.
      if (path.length > f.length && f.every((t, i) => path[i] === t)) throw new JsonPatchError('the operation moves a value into itself');
      const value = getAt(doc, f);
      return add(remove(doc, f), path, value);
    }
    case 'copy':
      return add(doc, path, structuredClone(getAt(doc, from())));
    case 'test':
      if (!deepEqual(getAt(doc, path), needValue())) throw new JsonPatchError(`test of ${String(op['path'])} failed`);
      return doc;
    default:
      throw new JsonPatchError('the operation has an unknown op');
  }
}
