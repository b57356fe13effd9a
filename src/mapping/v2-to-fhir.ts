import type { Bundle, Extension } from '@medplum/fhirtypes';
import { SwitchboardError } from '../core/errors.ts';
import { validateBundle } from '../fhir/fhir-validator.ts';
import { groupMessage, Hl7Segment, type Hl7GroupNode, type Hl7Message, type Hl7MessageTree } from '../hl7v2/index.ts';
import { MappingContext, type IdentifiedResource, type V2ToFhirOptions } from './mapping-context.ts';
import type { FieldReport, MappingReport, SegmentReport } from './mapping-report.ts';
import { MESSAGE_MAPPERS, type MessageMapper } from './messages/index.ts';
import { mapMsh, finishProvenance } from './segments/msh.ts';
import { fieldNames, leaf, type SegmentReader } from './segment-reader.ts';

export type { V2ToFhirOptions } from './mapping-context.ts';

export interface V2ToFhirResult {
  /** A FHIR R4 transaction Bundle: one PUT per resource, by deterministic id. */
  readonly bundle: Bundle;
  /** Built on first read (see convertV2ToFhir). */
  readonly report: MappingReport;
}

/** The mapper for a message's MSH-9 (`ADT^A01`), or undefined. */
export function mapperFor(message: Hl7Message): MessageMapper | undefined {
  const byEvent = (MAPPER_BY_EVENT ??= mappersByEvent());
  return byEvent.get(`${message.messageCode}^${message.triggerEvent}`) ?? byEvent.get(`${message.messageCode}^*`);
}

/** Each event (and `TYPE^*` wildcard) -> the first mapper listing it, as a search in order would find. */
let MAPPER_BY_EVENT: Map<string, MessageMapper> | undefined;

function mappersByEvent(): Map<string, MessageMapper> {
  const out = new Map<string, MessageMapper>();
  for (const m of MESSAGE_MAPPERS) for (const e of m.events) if (!out.has(e)) out.set(e, m);
  return out;
}

/** Message types with a mapper, e.g. `ADT^A01`. */
export function supportedMessageTypes(): string[] {
  return MESSAGE_MAPPERS.flatMap((m) => m.events).sort();
}

/**
 * HL7 v2 -> FHIR R4 (HL7 V2-to-FHIR IG message maps). Runs the message's mapper (with the message
 * grouped by its structure), applies the tenant's Z-segment rules, and reports every segment and field:
 * mapped, skipped with a reason, or present and unmapped. Throws SWB_ERR_MAP_UNSUPPORTED_MESSAGE
 * for a type without a mapper, and SwitchboardErrors with located reasons for values that cannot
 * be mapped.
 */
export function convertV2ToFhir(message: Hl7Message, options: V2ToFhirOptions = {}): V2ToFhirResult {
  const mapper = mapperFor(message);
  if (mapper === undefined) {
    const structure = structureOf(groupMessage(message));
    throw new SwitchboardError('SWB_ERR_MAP_UNSUPPORTED_MESSAGE', { messageType: `${message.messageCode}^${message.triggerEvent}`, structure: structure || 'unknown' });
  }
  // The message is grouped by its structure when a mapper asks for the tree (lab, immunization),
  // else only when the report (structure, group paths) is read: the ADT mapper walks the segments.
  const ctx = new MappingContext(message, undefined, options);
  mapMsh(ctx);
  mapper.map(ctx);
  applyZSegments(ctx);
  finishProvenance(ctx);
  const entry = ctx.entries();
  const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry };
  if (options.validate === true) {
    const result = validateBundle(bundle);
    const first = result.issues.find((i) => i.severity === 'error');
    if (first !== undefined) {
      // The location and the rule, never the value (FhirIssue diagnostics carry none).
      const m = /^Bundle\.entry\[(\d+)\]\.resource/.exec(first.expression);
      const resourceType = m !== null ? (entry[Number(m[1])]?.resource?.resourceType ?? 'resource') : 'Bundle';
      throw new SwitchboardError('SWB_ERR_MAP_INVALID_RESOURCE', { resourceType, reason: `${first.expression}: ${first.diagnostics}`, field: first.expression });
    }
  }
  // The report is built when first read: the channel pipeline keeps only the bundle, and the
  // report (an object per present field, the group tree) is then never needed. Nothing changes
  // the readers once the mapping is done, so building it later gives the same report as building
  // it here; the counts, warnings and segment lines (the raw text, no copy) are taken now all the
  // same, in case the caller edits the message before reading the report.
  const facts: ReportFacts = {
    messageType: `${message.messageCode}^${message.triggerEvent}`,
    mapper: mapper.name,
    lines: ctx.readers.map((r) => r.segment.toString()),
    resources: resourceCounts(ctx),
    warnings: [...ctx.warnings],
  };
  return new ConversionResult(bundle, ctx, facts);
}

/**
 * A conversion's bundle, and its report built on first read. A class (the getter on its prototype)
 * rather than an object literal with a getter: V8 builds such literals slowly and, measured, the
 * closure raised the GC share of a conversion from about 8% to 39% in the benchmark.
 * toJSON keeps `JSON.stringify(result)` as it was: `{"bundle":...,"report":...}`.
 */
class ConversionResult implements V2ToFhirResult {
  readonly bundle: Bundle;
  #ctx: MappingContext | undefined;
  #facts: ReportFacts | undefined;
  #report: MappingReport | undefined;

  constructor(bundle: Bundle, ctx: MappingContext, facts: ReportFacts) {
    this.bundle = bundle;
    this.#ctx = ctx;
    this.#facts = facts;
  }

  get report(): MappingReport {
    if (this.#report === undefined) {
      this.#report = buildReport(this.#ctx as MappingContext, this.#facts as ReportFacts);
      // The readers are no longer needed once the report exists.
      this.#ctx = undefined;
      this.#facts = undefined;
    }
    return this.#report;
  }

  toJSON(): { bundle: Bundle; report: MappingReport } {
    return { bundle: this.bundle, report: this.report };
  }
}

/** What the report needs from the conversion besides the readers' bookkeeping, taken when it ends. */
interface ReportFacts {
  readonly messageType: string;
  readonly mapper: string;
  /** Each reader's segment as ER7 when the conversion ended. */
  readonly lines: readonly string[];
  readonly resources: Record<string, number>;
  readonly warnings: string[];
}

function resourceCounts(ctx: MappingContext): Record<string, number> {
  const resources: Record<string, number> = {};
  const list = ctx.added;
  for (let i = 0; i < list.length; i++) {
    const type = (list[i] as IdentifiedResource).resourceType;
    resources[type] = (resources[type] ?? 0) + 1;
  }
  return resources;
}

/** Each segment's group path (by 0-based position in the message) and the structure, as grouping gives them. */
interface GroupLayout {
  readonly structure: string;
  readonly groups: ReadonlyArray<string | undefined>;
}

function layoutOf(tree: Hl7MessageTree): GroupLayout {
  const groups: Array<string | undefined> = [];
  collectGroups(tree.root, tree.root.name, groups);
  return { structure: structureOf(tree), groups };
}

function collectGroups(group: Hl7GroupNode, path: string, out: Array<string | undefined>): void {
  for (const child of group.children) {
    if (child.kind === 'segment') out[child.index] = path;
    else collectGroups(child, `${path}/${child.name}[${child.repetition}]`, out);
  }
}

/**
 * Layouts by the inputs of groupMessage: MSH-12, MSH-9 and the sequence of segment ids (it reads
 * nothing else of the message). A sender's messages of one type mostly share a few layouts, so
 * the report of a message the mapper did not group (ADT mappers walk the segments) is placed
 * without grouping it again. Bounded: cleared when full, as the id cache is.
 */
const LAYOUTS = new Map<string, GroupLayout>();
const LAYOUT_LIMIT = 1000;

/** The layout of a message as groupMessage would give it now, from the cache when the inputs were seen. */
function messageLayout(m: Hl7Message): GroupLayout {
  let key = JSON.stringify([m.version, m.messageCode, m.triggerEvent, m.messageStructure]);
  const segments = m.segments;
  for (let i = 0; i < segments.length; i++) {
    const name = (segments[i] as Hl7Segment).name;
    // Parsed segment ids are three characters, so their concatenation is unambiguous; anything
    // else (a segment built by hand) is grouped directly.
    if (name.length !== 3) return layoutOf(groupMessage(m));
    key += name;
  }
  let layout = LAYOUTS.get(key);
  if (layout === undefined) {
    layout = layoutOf(groupMessage(m));
    if (LAYOUTS.size >= LAYOUT_LIMIT) LAYOUTS.clear();
    LAYOUTS.set(key, layout);
  }
  return layout;
}

function assignGroups(ctx: MappingContext, group: Hl7GroupNode, path: string): void {
  for (const child of group.children) {
    if (child.kind === 'segment') ctx.setGroup(child.segment, path);
    else assignGroups(ctx, child, `${path}/${child.name}[${child.repetition}]`);
  }
}

/** Tenant Z-segment rules: extensions on a resource of the message, or a stated skip. */
function applyZSegments(ctx: MappingContext): void {
  for (const reader of ctx.readers) {
    const rule = ctx.tenant.zSegments.get(reader.name);
    if (rule === undefined) continue;
    if (rule.ignore !== undefined) {
      reader.skippedWhole = `tenant rule: ${rule.ignore}`;
      continue;
    }
    for (const ext of rule.extensions ?? []) {
      const at = ctx.added.findIndex((r) => r.resourceType === ext.resource);
      const rep = reader.raw(ext.field, `${ext.resource}.extension`);
      const value = rep === undefined ? undefined : leaf(rep, reader.encoding, ext.component ?? 1);
      if (value === undefined) continue;
      // Through get(): a resource shared across messages (MappingContext.recurring) is copied before it changes.
      const target = at === -1 ? undefined : ctx.get({ reference: ctx.addedKeys[at] as string });
      if (target === undefined) {
        ctx.warn(`${reader.name}-${ext.field}: no ${ext.resource} in this message to carry the extension`);
        continue;
      }
      const extension: Extension = ext.type === 'code' ? { url: ext.url, valueCode: value } : ext.type === 'dateTime' ? { url: ext.url, valueDateTime: value } : { url: ext.url, valueString: value };
      const holder = target as { extension?: Extension[] };
      (holder.extension ??= []).push(extension);
    }
    reader.handledWhole = 'tenant Z-segment rule';
  }
}

function structureOf(tree: Hl7MessageTree): string {
  return tree.structure?.id ?? (tree.resolution.kind === 'known' ? tree.resolution.id : '');
}

function buildReport(ctx: MappingContext, facts: ReportFacts): MappingReport {
  let structure: string;
  if (ctx.grouped) {
    // A mapper that walked the tree has paid for it already.
    const tree = ctx.tree;
    structure = structureOf(tree);
    assignGroups(ctx, tree.root, tree.root.name);
  } else {
    const layout = messageLayout(ctx.message);
    structure = layout.structure;
    const messageSegments = ctx.message.segments;
    for (let i = 0; i < messageSegments.length; i++) {
      const group = layout.groups[i];
      if (group !== undefined) ctx.setGroup(messageSegments[i] as Hl7Segment, group);
    }
  }
  const segments: SegmentReport[] = [];
  let fieldsMapped = 0;
  let fieldsSkipped = 0;
  let fieldsUnmapped = 0;
  let segmentsUnmapped = 0;
  const where = structure || 'this message';
  const readers = ctx.readers;
  for (let i = 0; i < readers.length; i++) {
    const r = readers[i] as SegmentReader;
    const line = facts.lines[i] as string;
    // The segment as it was at the end of the conversion (an edited one is read from its line).
    const segment = r.segment.toString() === line ? r.segment : new Hl7Segment(r.segment.name, line, r.segment.encoding);
    const fields: FieldReport[] = [];
    const name = r.name;
    const index = r.index;
    const touched = r.touched || r.handledWhole !== undefined;
    const skippedWhole = r.skippedWhole;
    const handled = r.handledWhole === undefined ? undefined : `not used by the ${r.handledWhole}`;
    const untouched = touched ? 'no mapping for this field' : `no mapping for ${name} in ${where}`;
    let unmapped = false;
    const names = fieldNames(name);
    for (const n of r.presentFields(segment)) {
      const field = (names[n] ??= `${name}-${n}`);
      const targets = r.targetsOf(n);
      if (targets !== undefined) {
        fields.push({ field, segmentIndex: index, status: 'mapped', targets });
        fieldsMapped++;
        continue;
      }
      const reason = r.skipReason(n) ?? skippedWhole ?? handled;
      if (reason !== undefined) {
        fields.push({ field, segmentIndex: index, status: 'skipped', targets: [], reason });
        fieldsSkipped++;
      } else {
        fields.push({ field, segmentIndex: index, status: 'unmapped', targets: [], reason: untouched });
        fieldsUnmapped++;
        unmapped = true;
      }
    }
    let status: SegmentReport['status'];
    let reason: string | undefined;
    if (skippedWhole !== undefined) {
      status = 'unmapped';
      reason = skippedWhole;
    } else if (!touched) {
      status = 'unmapped';
      reason = name.startsWith('Z') ? 'Z-segment with no tenant rule' : `no mapping for ${name} in ${where}`;
      // Skipped fields were decided on (with a reason); only untouched ones make a segment partial.
    } else status = unmapped ? 'partial' : 'mapped';
    if (status === 'unmapped') segmentsUnmapped++;
    const entry: { -readonly [K in keyof SegmentReport]: SegmentReport[K] } = { segment: name, segmentIndex: index, group: r.group, status, fields };
    if (reason !== undefined) entry.reason = reason;
    segments.push(entry);
  }
  return {
    messageType: facts.messageType,
    structure,
    mapper: facts.mapper,
    segments,
    resources: facts.resources,
    warnings: facts.warnings,
    summary: { segments: segments.length, segmentsUnmapped, fieldsMapped, fieldsSkipped, fieldsUnmapped },
  };
}
