import type { Bundle, Extension } from '@medplum/fhirtypes';
import { SwitchboardError } from '../core/errors.ts';
import { validateBundle } from '../fhir/fhir-validator.ts';
import { groupMessage, type Hl7GroupNode, type Hl7Message } from '../hl7v2/index.ts';
import { MappingContext, type V2ToFhirOptions } from './mapping-context.ts';
import type { FieldReport, MappingReport, SegmentReport } from './mapping-report.ts';
import { MESSAGE_MAPPERS, type MessageMapper } from './messages/index.ts';
import { mapMsh, finishProvenance } from './segments/msh.ts';
import { fieldName, leaf } from './segment-reader.ts';

export type { V2ToFhirOptions } from './mapping-context.ts';

export interface V2ToFhirResult {
  /** A FHIR R4 transaction Bundle: one PUT per resource, by deterministic id. */
  readonly bundle: Bundle;
  readonly report: MappingReport;
}

/** The mapper for a message's MSH-9 (`ADT^A01`), or undefined. */
export function mapperFor(message: Hl7Message): MessageMapper | undefined {
  const event = `${message.messageCode}^${message.triggerEvent}`;
  return MESSAGE_MAPPERS.find((m) => m.events.includes(event)) ?? MESSAGE_MAPPERS.find((m) => m.events.includes(`${message.messageCode}^*`));
}

/** Message types with a mapper, e.g. `ADT^A01`. */
export function supportedMessageTypes(): string[] {
  return MESSAGE_MAPPERS.flatMap((m) => m.events).sort();
}

/**
 * HL7 v2 -> FHIR R4 (HL7 V2-to-FHIR IG message maps). Groups the message by its structure, runs the
 * message's mapper, applies the tenant's Z-segment rules, and reports every segment and field:
 * mapped, skipped with a reason, or present and unmapped. Throws SWB_ERR_MAP_UNSUPPORTED_MESSAGE
 * for a type without a mapper, and SwitchboardErrors with located reasons for values that cannot
 * be mapped.
 */
export function convertV2ToFhir(message: Hl7Message, options: V2ToFhirOptions = {}): V2ToFhirResult {
  const mapper = mapperFor(message);
  const tree = groupMessage(message);
  const structure = tree.structure?.id ?? (tree.resolution.kind === 'known' ? tree.resolution.id : '');
  if (mapper === undefined) {
    throw new SwitchboardError('SWB_ERR_MAP_UNSUPPORTED_MESSAGE', { messageType: `${message.messageCode}^${message.triggerEvent}`, structure: structure || 'unknown' });
  }
  const ctx = new MappingContext(message, tree, options);
  assignGroups(ctx, tree.root, tree.root.name);
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
  return { bundle, report: buildReport(ctx, mapper.name, structure) };
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
      const target = ctx.resources().find((r) => r.resourceType === ext.resource);
      const rep = reader.raw(ext.field, `${ext.resource}.extension`);
      const value = rep === undefined ? undefined : leaf(rep, reader.encoding, ext.component ?? 1);
      if (value === undefined) continue;
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

function buildReport(ctx: MappingContext, mapperName: string, structure: string): MappingReport {
  const segments: SegmentReport[] = [];
  let fieldsMapped = 0;
  let fieldsSkipped = 0;
  let fieldsUnmapped = 0;
  let segmentsUnmapped = 0;
  const where = structure || 'this message';
  for (const r of ctx.readers) {
    const fields: FieldReport[] = [];
    const name = r.name;
    const index = r.index;
    const touched = r.touched || r.handledWhole !== undefined;
    const skippedWhole = r.skippedWhole;
    const handled = r.handledWhole === undefined ? undefined : `not used by the ${r.handledWhole}`;
    const untouched = touched ? 'no mapping for this field' : `no mapping for ${name} in ${where}`;
    let unmapped = false;
    for (const n of r.presentFields()) {
      const field = fieldName(name, n);
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
    segments.push({ segment: name, segmentIndex: index, group: r.group, status, fields, ...(reason !== undefined ? { reason } : {}) });
  }
  const resources: Record<string, number> = {};
  for (const res of ctx.resources()) resources[res.resourceType] = (resources[res.resourceType] ?? 0) + 1;
  return {
    messageType: `${ctx.message.messageCode}^${ctx.message.triggerEvent}`,
    structure,
    mapper: mapperName,
    segments,
    resources,
    warnings: [...ctx.warnings],
    summary: { segments: segments.length, segmentsUnmapped, fieldsMapped, fieldsSkipped, fieldsUnmapped },
  };
}
