import { randomBytes } from 'node:crypto';

/**
 * The simulator's in-memory FHIR resources with their version history (FHIR R4 http.html#history).
 * A test tool, not a product store: everything lives in maps and is gone when the process ends.
 */

export type SimResource = Record<string, unknown> & { resourceType: string; id: string };

export interface SimVersion {
  readonly versionId: string;
  readonly lastUpdated: string;
  /** null for a deletion: the version that records the resource is gone (R4 http.html#delete). */
  readonly resource: SimResource | null;
}

/** One applied client write, listed by `writes()` so that tests can count duplicates. */
export interface SimWrite {
  method: string;
  resourceType: string;
  id: string;
  versionId: string;
  at: string;
  requestId?: string;
}

export type TokenMatch = (resource: SimResource) => boolean;

const clone = <T>(value: T): T => structuredClone(value);

export class SimStore {
  readonly #resources = new Map<string, Map<string, SimVersion[]>>();
  #writes: SimWrite[] = [];

  clear(): void {
    this.#resources.clear();
    this.#writes = [];
  }

  newId(): string {
    // Opaque, like an EHR's own ids; never derived from content.
    return randomBytes(9).toString('base64url').replace(/[-_]/g, 'x');
  }

  #history(type: string, id: string): SimVersion[] | undefined {
    return this.#resources.get(type)?.get(id);
  }

  /** All versions, oldest first (a copy). */
  history(type: string, id: string): SimVersion[] {
    return clone(this.#history(type, id) ?? []);
  }

  latest(type: string, id: string): SimVersion | undefined {
    const h = this.#history(type, id);
    const last = h?.[h.length - 1];
    return last === undefined ? undefined : clone(last);
  }

  /** The current copy, or undefined when it never existed or was deleted. */
  current(type: string, id: string): SimResource | undefined {
    return this.latest(type, id)?.resource ?? undefined;
  }

  version(type: string, id: string, versionId: string): SimVersion | undefined {
    const v = this.#history(type, id)?.find((x) => x.versionId === versionId);
    return v === undefined ? undefined : clone(v);
  }

  /**
   * Stores a new version of `resource` (its `id` set by the caller) and returns it as stored, with
   * meta.versionId and meta.lastUpdated assigned by the server (R4 resource.html#Meta).
   */
  put(resource: SimResource, at: Date = new Date()): SimResource {
    let byId = this.#resources.get(resource.resourceType);
    if (byId === undefined) {
      byId = new Map();
      this.#resources.set(resource.resourceType, byId);
    }
    const history = byId.get(resource.id) ?? [];
    const versionId = String(history.length + 1);
    const lastUpdated = at.toISOString();
    const meta = typeof resource['meta'] === 'object' && resource['meta'] !== null ? (resource['meta'] as Record<string, unknown>) : {};
    const stored: SimResource = { ...clone(resource), meta: { ...clone(meta), versionId, lastUpdated } };
    history.push({ versionId, lastUpdated, resource: stored });
    byId.set(resource.id, history);
    return clone(stored);
  }

  /** Records a deletion as a new version; false when there is nothing current to delete. */
  delete(type: string, id: string, at: Date = new Date()): boolean {
    const history = this.#history(type, id);
    const last = history?.[history.length - 1];
    if (history === undefined || last === undefined || last.resource === null) return false;
    history.push({ versionId: String(history.length + 1), lastUpdated: at.toISOString(), resource: null });
    return true;
  }

  /** Current resources of a type that pass every test, in insertion order. */
  search(type: string, tests: readonly TokenMatch[]): SimResource[] {
    const out: SimResource[] = [];
    for (const history of this.#resources.get(type)?.values() ?? []) {
      const current = history[history.length - 1]?.resource;
      if (current !== null && current !== undefined && tests.every((t) => t(current))) out.push(clone(current));
    }
    return out;
  }

  /** Types that hold at least one resource. */
  types(): string[] {
    return [...this.#resources.keys()];
  }

  recordWrite(write: SimWrite): void {
    this.#writes.push({ ...write });
  }

  writes(): SimWrite[] {
    return this.#writes.map((w) => ({ ...w }));
  }
}
