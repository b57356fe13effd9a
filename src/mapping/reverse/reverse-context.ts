import type { Reference, Resource } from '@medplum/fhirtypes';
import { SwitchboardError } from '../../core/errors.ts';
import { compareVersions, type Hl7Encoding, type Hl7Message, type Hl7Segment } from '../../hl7v2/index.ts';
import { DEFAULT_TENANT, type TenantMappingConfig } from '../tenant-config.ts';

/** What a FHIR -> v2 conversion did with its input (issue 4, "no silent loss", the other way). */
export interface FhirToV2Report {
  /** `Resource.element -> SEG-n`, e.g. `DiagnosticReport.code -> OBR-4`, each once. */
  readonly mapped: string[];
  /** Elements present in the input and not written, with why. `Observation/abc.bodySite`. */
  readonly unmapped: Array<{ element: string; reason: string }>;
  /** Things a human should know (a required v2 field left empty, a code without a v2 system...). */
  readonly warnings: string[];
}

/** Elements never reported: identity and bookkeeping, not clinical content. */
const BOOKKEEPING = new Set(['resourceType', 'id', 'meta', 'text', 'implicitRules', 'language']);

/**
 * What a reverse mapper works with: the input resources (indexed by every way a Bundle entry can be
 * referenced), the message being built, the target version, and a ledger of which input elements
 * went where, so that the report can list what was present and not written.
 */
export class ReverseContext {
  readonly message: Hl7Message;
  readonly version: string;
  readonly tenant: TenantMappingConfig;
  readonly now: () => Date;
  readonly warnings: string[] = [];
  readonly #resources: readonly Resource[];
  readonly #byRef = new Map<string, Resource>();
  readonly #used = new Map<Resource, Set<string>>();
  readonly #skipped = new Map<Resource, Map<string, string>>();
  readonly #mapped = new Set<string>();
  readonly #visited = new Set<Resource>();
  readonly #extra: Array<{ element: string; reason: string }> = [];

  constructor(resources: ReadonlyArray<{ resource: Resource; fullUrl?: string }>, message: Hl7Message, options: { version: string; tenant?: TenantMappingConfig; now?: () => Date }) {
    this.message = message;
    this.version = options.version;
    this.tenant = options.tenant ?? DEFAULT_TENANT;
    this.now = options.now ?? (() => new Date());
    this.#resources = resources.map((r) => r.resource);
    for (const { resource, fullUrl } of resources) {
      if (fullUrl !== undefined) this.#byRef.set(fullUrl, resource);
      if (resource.id !== undefined) {
        this.#byRef.set(`${resource.resourceType}/${resource.id}`, resource);
        // A Bundle built by our v2 -> FHIR side uses urn:uuid:<id> fullUrls; accept those too.
        this.#byRef.set(`urn:uuid:${resource.id}`, resource);
      }
    }
  }

  get encoding(): Hl7Encoding {
    return this.message.encoding;
  }

  /** True when the target version is at least `v` (e.g. OBX-21 exists from 2.6). */
  atLeast(v: string): boolean {
    return compareVersions(this.version, v) >= 0;
  }

  /**
   * The resource a reference points to, from the input: `Type/id`, `urn:uuid:...`, an absolute URL
   * ending in `Type/id`, or a contained `#id` of `from`. Undefined when it is not in the input.
   */
  resolve<T extends Resource>(ref: Reference | undefined, from?: Resource): T | undefined {
    const r = ref?.reference;
    if (r === undefined) return undefined;
    if (r.startsWith('#') && from !== undefined) {
      const contained = (from as { contained?: Resource[] }).contained ?? [];
      return contained.find((c) => c.id === r.slice(1)) as T | undefined;
    }
    const direct = this.#byRef.get(r);
    if (direct !== undefined) return direct as T;
    // An absolute reference (https://server/fhir/Patient/1, or with /_history/n).
    const m = /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(r);
    return m === null ? undefined : (this.#byRef.get(`${m[1] as string}/${m[2] as string}`) as T | undefined);
  }

  /** Input resources of a type, in input order. */
  all<T extends Resource>(type: T['resourceType']): T[] {
    return this.#resources.filter((r) => r.resourceType === type) as T[];
  }

  /** Declares that a resource is being written (its unused elements are then reported). */
  visit(resource: Resource): void {
    this.#visited.add(resource);
  }

  /** Marks `element` of `resource` as written to `field` (e.g. 'code' -> 'OBR-4'). */
  use(resource: Resource, element: string, field: string): void {
    this.#visited.add(resource);
    let set = this.#used.get(resource);
    if (set === undefined) this.#used.set(resource, (set = new Set()));
    set.add(element.split('.')[0] as string);
    this.#mapped.add(`${resource.resourceType}.${element} -> ${field}`);
  }

  /** Declares an element deliberately not written, with the reason the report shows. */
  skip(resource: Resource, element: string, reason: string): void {
    this.#visited.add(resource);
    let m = this.#skipped.get(resource);
    if (m === undefined) this.#skipped.set(resource, (m = new Map()));
    if (!m.has(element)) m.set(element, reason);
  }

  /** Reports a part of an element not written (one extension of several, one reference...). */
  unmapped(resource: Resource, element: string, reason: string): void {
    this.#visited.add(resource);
    this.#extra.push({ element: `${resource.resourceType}${resource.id !== undefined ? `/${resource.id}` : ''}.${element}`, reason });
  }

  warn(text: string): void {
    if (!this.warnings.includes(text)) this.warnings.push(text);
  }

  /** Sets a plain value (escaped) at a segment position; nothing for an empty value. */
  put(seg: Hl7Segment, path: string, value: string | undefined): void {
    if (value !== undefined && value !== '') seg.set(path, value);
  }

  /** Sets raw ER7 (built by the datatype writers, already escaped); nothing for an empty value. */
  putRaw(seg: Hl7Segment, path: string, raw: string | undefined): void {
    if (raw !== undefined && raw !== '') seg.setRaw(path, raw);
  }

  /** Several repetitions of raw ER7 in one field. */
  putReps(seg: Hl7Segment, path: string, reps: ReadonlyArray<string | undefined>): void {
    const kept = reps.filter((r): r is string => r !== undefined && r !== '');
    if (kept.length > 0) seg.setRaw(path, kept.join(this.encoding.repetition));
  }

  /** The report: every written element, and every present element of a written resource that was not. */
  report(): FhirToV2Report {
    const unmapped: Array<{ element: string; reason: string }> = [...this.#extra];
    for (const r of this.#resources) {
      const name = `${r.resourceType}${r.id !== undefined ? `/${r.id}` : ''}`;
      if (!this.#visited.has(r)) {
        unmapped.push({ element: name, reason: `not referenced by the ${this.message.messageCode}^${this.message.triggerEvent} being built` });
        continue;
      }
      const used = this.#used.get(r) ?? new Set<string>();
      const skipped = this.#skipped.get(r) ?? new Map<string, string>();
      for (const key of Object.keys(r)) {
        if (BOOKKEEPING.has(key)) continue;
        // `_status` carries the extensions of `status`: it goes with its element.
        const base = key.startsWith('_') ? key.slice(1) : key;
        if (used.has(base)) continue;
        const value = (r as unknown as Record<string, unknown>)[key];
        if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) continue;
        unmapped.push({ element: `${name}.${key}`, reason: skipped.get(base) ?? skipped.get(key) ?? `no ${this.message.messageCode}^${this.message.triggerEvent} field for this element` });
      }
    }
    return { mapped: [...this.#mapped], unmapped, warnings: [...this.warnings] };
  }
}

/** An input that cannot be converted; the reason names elements, never values. */
export function inputError(reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_MAP_FHIR_INPUT', { reason });
}
