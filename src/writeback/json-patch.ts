/**
 * RFC 6902 JSON Patch applied to a copy, so the review can show a `patch` proposal as the resource it
 * would produce, and verification can compare the EHR's copy with it. Paths are RFC 6901 JSON
 * Pointers (`~1` is `/`, `~0` is `~`).
 */
import type { JsonPatchOp } from '../core/ports/proposal-store.ts';

export class JsonPatchError extends Error {
  constructor(
    readonly index: number,
    reason: string,
  ) {
    super(`patch[${index}] ${reason}`);
    this.name = 'JsonPatchError';
  }
}

function tokens(pointer: string, index: number): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new JsonPatchError(index, `path ${JSON.stringify(pointer)} is not a JSON Pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return v !== null && typeof v === 'object';
}

/** The parent container of a pointer and the last token. */
function parentOf(doc: unknown, path: string[], index: number): { parent: Container; key: string } {
  let cur: unknown = doc;
  for (const t of path.slice(0, -1)) {
    if (!isContainer(cur)) throw new JsonPatchError(index, `path /${path.join('/')} does not exist`);
    cur = Array.isArray(cur) ? cur[Number(t)] : cur[t];
  }
  if (!isContainer(cur)) throw new JsonPatchError(index, `path /${path.join('/')} does not exist`);
  return { parent: cur, key: path[path.length - 1] ?? '' };
}

function get(doc: unknown, path: string[], index: number): unknown {
  let cur: unknown = doc;
  for (const t of path) {
    if (!isContainer(cur)) throw new JsonPatchError(index, `path /${path.join('/')} does not exist`);
    cur = Array.isArray(cur) ? cur[Number(t)] : cur[t];
    if (cur === undefined) throw new JsonPatchError(index, `path /${path.join('/')} does not exist`);
  }
  return cur;
}

function arrayIndex(parent: unknown[], key: string, index: number, forAdd: boolean): number {
  if (forAdd && key === '-') return parent.length;
  if (!/^(0|[1-9]\d*)$/.test(key)) throw new JsonPatchError(index, `${key} is not an array index`);
  const n = Number(key);
  if (n > parent.length || (!forAdd && n === parent.length)) throw new JsonPatchError(index, `index ${n} is out of range`);
  return n;
}

function add(doc: unknown, path: string[], value: unknown, index: number): unknown {
  if (path.length === 0) return value;
  const { parent, key } = parentOf(doc, path, index);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, index, true), 0, value);
  else parent[key] = value;
  return doc;
}

function remove(doc: unknown, path: string[], index: number): { doc: unknown; removed: unknown } {
  if (path.length === 0) throw new JsonPatchError(index, 'cannot remove the whole document');
  const { parent, key } = parentOf(doc, path, index);
  if (Array.isArray(parent)) {
    const n = arrayIndex(parent, key, index, false);
    const [removed] = parent.splice(n, 1);
    return { doc, removed };
  }
  if (!Object.hasOwn(parent, key)) throw new JsonPatchError(index, `path /${path.join('/')} does not exist`);
  const removed = parent[key];
  delete parent[key];
  return { doc, removed };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!isContainer(a) || !isContainer(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Applies `ops` to a deep copy of `doc`; throws JsonPatchError naming the failing op. */
export function applyJsonPatch<T>(doc: T, ops: readonly JsonPatchOp[]): T {
  let out: unknown = structuredClone(doc);
  ops.forEach((op, i) => {
    const path = tokens(op.path, i);
    switch (op.op) {
      case 'add':
        out = add(out, path, structuredClone(op.value), i);
        break;
      case 'remove':
        out = remove(out, path, i).doc;
        break;
      case 'replace':
        get(out, path, i);
        out = add(remove(out, path, i).doc, path, structuredClone(op.value), i);
        break;
      case 'move': {
        const r = remove(out, tokens(op.from ?? '', i), i);
        out = add(r.doc, path, r.removed, i);
        break;
      }
      case 'copy':
        out = add(out, path, structuredClone(get(out, tokens(op.from ?? '', i), i)), i);
        break;
      case 'test':
        if (!deepEqual(get(out, path, i), op.value)) throw new JsonPatchError(i, `test of ${op.path} failed`);
        break;
    }
  });
  return out as T;
}
