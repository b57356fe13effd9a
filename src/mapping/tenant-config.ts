import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SwitchboardError } from '../core/errors.ts';

/**
 * Site-specific mapping behaviour, without forking code (issue 4): code maps (ConceptMap-like
 * tables, inline or from CSV), identifier system URIs per assigning authority, local code system
 * URIs, the timezone of timestamps sent without an offset, field overrides and Z-segment
 * handlers. One file per tenant, referenced from channel config or `switchboard convert --tenant`.
 */

export interface CodeMapEntry {
  /** Source coding system as sent (CWE-3), or undefined to match any system. */
  readonly sourceSystem?: string;
  readonly sourceCode: string;
  readonly targetSystem: string;
  readonly targetCode: string;
  readonly targetDisplay?: string;
}

export interface CodeMap {
  readonly name: string;
  /** Fields it applies to, e.g. ['OBX-3', 'OBR-4']; empty = every coded field. */
  readonly fields: readonly string[];
  /** What to do when a code of a mapped field is not in the table. */
  readonly unmapped: 'keep' | 'error';
  /** `${sourceSystem ?? ''}|${sourceCode}` -> entry. */
  readonly entries: ReadonlyMap<string, CodeMapEntry>;
}

/** What to do with one field, overriding the built-in mapping. */
export interface FieldOverride {
  /** e.g. `PID-19` or `PV1-2`. */
  readonly field: string;
  /** Do not map it; the report shows this reason. */
  readonly ignore?: string;
  /** A value table applied to the field's first component before mapping (e.g. local patient classes). */
  readonly valueMap?: Readonly<Record<string, string>>;
}

/** A Z-segment handler: turns a site's Z-segment into FHIR extensions or resources. */
export interface ZSegmentRule {
  readonly segment: string;
  /** Map fields of the segment to extensions on a resource produced by the message. */
  readonly extensions?: ReadonlyArray<{ readonly field: number; readonly component?: number; readonly resource: string; readonly url: string; readonly type: 'string' | 'code' | 'dateTime' }>;
  /** Or declare it deliberately not mapped. */
  readonly ignore?: string;
}

export interface TenantMappingConfig {
  readonly tenant: string;
  /** IANA zone for timestamps with a time and no offset, when MSH-7 has no offset either. */
  readonly timezone?: string;
  /** Assigning authority (HD-1 namespace, or HD-2 universal id) -> identifier system URI. */
  readonly identifierSystems: Readonly<Record<string, string>>;
  /** Local coding system names (CWE-3, e.g. 99LAB) -> code system URI. */
  readonly codeSystems: Readonly<Record<string, string>>;
  /** Base for identifier systems and code systems with no configured URI. */
  readonly localSystemBase: string;
  readonly codeMaps: readonly CodeMap[];
  readonly overrides: ReadonlyMap<string, FieldOverride>;
  readonly zSegments: ReadonlyMap<string, ZSegmentRule>;
}

export const DEFAULT_TENANT: TenantMappingConfig = {
  tenant: 'default',
  identifierSystems: {},
  codeSystems: {},
  localSystemBase: 'urn:switchboard:local',
  codeMaps: [],
  overrides: new Map(),
  zSegments: new Map(),
};

const fieldName = z.string().regex(/^[A-Z][A-Z0-9]{2}-\d+$/, 'must be a field like PID-3');
const codeMapEntry = z.strictObject({
  sourceSystem: z.string().optional(),
  sourceCode: z.string().min(1),
  targetSystem: z.string().min(1),
  targetCode: z.string().min(1),
  targetDisplay: z.string().optional(),
});
const tenantSchema = z.strictObject({
  tenant: z.string().min(1),
  timezone: z.string().optional(),
  identifierSystems: z.record(z.string(), z.string()).default({}),
  codeSystems: z.record(z.string(), z.string()).default({}),
  localSystemBase: z.string().default('urn:switchboard:local'),
  codeMaps: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        fields: z.array(fieldName).default([]),
        unmapped: z.enum(['keep', 'error']).default('keep'),
        /** A CSV file (relative to the tenant file): sourceSystem,sourceCode,targetSystem,targetCode,targetDisplay */
        file: z.string().optional(),
        entries: z.array(codeMapEntry).default([]),
      }),
    )
    .default([]),
  overrides: z.array(z.strictObject({ field: fieldName, ignore: z.string().optional(), valueMap: z.record(z.string(), z.string()).optional() })).default([]),
  zSegments: z
    .array(
      z.strictObject({
        segment: z.string().regex(/^Z[A-Z0-9]{2}$/, 'must be a Z-segment id'),
        ignore: z.string().optional(),
        extensions: z
          .array(z.strictObject({ field: z.number().int().min(1), component: z.number().int().min(1).optional(), resource: z.string().min(1), url: z.string().min(1), type: z.enum(['string', 'code', 'dateTime']).default('string') }))
          .optional(),
      }),
    )
    .default([]),
});

const codeKey = (system: string | undefined, code: string): string => `${system ?? ''}|${code}`;

/** Reads the code map CSV: a header row, then sourceSystem,sourceCode,targetSystem,targetCode[,targetDisplay]. */
export function parseCodeMapCsv(text: string, file: string): CodeMapEntry[] {
  const rows = text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const header = rows.shift();
  if (header === undefined) return [];
  const cols = splitCsvLine(header).map((c) => c.trim());
  const at = (name: string): number => cols.indexOf(name);
  for (const required of ['sourceCode', 'targetSystem', 'targetCode']) {
    if (at(required) === -1) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: file, reason: `needs a ${required} column` });
  }
  return rows.map((line, i) => {
    const cells = splitCsvLine(line);
    const get = (name: string): string | undefined => {
      const n = at(name);
      const v = n === -1 ? undefined : cells[n]?.trim();
      return v === '' ? undefined : v;
    };
    const sourceCode = get('sourceCode');
    const targetSystem = get('targetSystem');
    const targetCode = get('targetCode');
    if (sourceCode === undefined || targetSystem === undefined || targetCode === undefined) {
      throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${file}:${i + 2}`, reason: 'sourceCode, targetSystem and targetCode are required' });
    }
    const sourceSystem = get('sourceSystem');
    const targetDisplay = get('targetDisplay');
    return { sourceCode, targetSystem, targetCode, ...(sourceSystem !== undefined ? { sourceSystem } : {}), ...(targetDisplay !== undefined ? { targetDisplay } : {}) };
  });
}

/** One CSV line: commas, with double-quoted cells ("" is a quote inside one). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line.charAt(i);
    if (quoted) {
      if (ch === '"' && line.charAt(i + 1) === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** Parses a tenant document (already read from YAML/JSON); `baseDir` resolves code map files. */
export function parseTenantConfig(doc: unknown, source: string, baseDir: string): TenantMappingConfig {
  const parsed = tenantSchema.safeParse(doc);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: source, reason });
  }
  const d = parsed.data;
  if (d.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: d.timezone });
    } catch {
      throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${source}: timezone`, reason: 'is not an IANA time zone' });
    }
  }
  const codeMaps: CodeMap[] = d.codeMaps.map((m) => {
    const entries = [...m.entries];
    if (m.file !== undefined) {
      const file = path.resolve(baseDir, m.file);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file, reason: (err as NodeJS.ErrnoException).code ?? 'unreadable' });
      }
      entries.push(...parseCodeMapCsv(text, file));
    }
    const byKey = new Map<string, CodeMapEntry>();
    for (const e of entries) {
      const entry: CodeMapEntry = {
        sourceCode: e.sourceCode,
        targetSystem: e.targetSystem,
        targetCode: e.targetCode,
        ...(e.sourceSystem !== undefined ? { sourceSystem: e.sourceSystem } : {}),
        ...(e.targetDisplay !== undefined ? { targetDisplay: e.targetDisplay } : {}),
      };
      byKey.set(codeKey(e.sourceSystem, e.sourceCode), entry);
    }
    return { name: m.name, fields: m.fields, unmapped: m.unmapped, entries: byKey };
  });
  const overrides = new Map<string, FieldOverride>();
  for (const o of d.overrides) overrides.set(o.field, { field: o.field, ...(o.ignore !== undefined ? { ignore: o.ignore } : {}), ...(o.valueMap !== undefined ? { valueMap: o.valueMap } : {}) });
  const zSegments = new Map<string, ZSegmentRule>();
  for (const z0 of d.zSegments) {
    zSegments.set(z0.segment, {
      segment: z0.segment,
      ...(z0.ignore !== undefined ? { ignore: z0.ignore } : {}),
      ...(z0.extensions !== undefined
        ? { extensions: z0.extensions.map((e) => ({ field: e.field, resource: e.resource, url: e.url, type: e.type, ...(e.component !== undefined ? { component: e.component } : {}) })) }
        : {}),
    });
  }
  return {
    tenant: d.tenant,
    ...(d.timezone !== undefined ? { timezone: d.timezone } : {}),
    identifierSystems: d.identifierSystems,
    codeSystems: d.codeSystems,
    localSystemBase: d.localSystemBase.replace(/[:/]+$/, ''),
    codeMaps,
    overrides,
    zSegments,
  };
}

/** Loads a tenant file (YAML or JSON). */
export function loadTenantConfig(file: string): TenantMappingConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file, reason: (err as NodeJS.ErrnoException).code ?? 'unreadable' });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: file, reason: (err as Error).message.split('\n')[0] ?? 'invalid YAML' });
  }
  return parseTenantConfig(doc, path.basename(file), path.dirname(file));
}

/** Looks up a code in a map. */
export function lookupCode(map: CodeMap, system: string | undefined, code: string): CodeMapEntry | undefined {
  return map.entries.get(codeKey(system, code)) ?? map.entries.get(codeKey(undefined, code));
}

/**
 * The files a tenant mapping is made of: the tenant file and the code map CSVs it names (absolute
 * paths), so that a channel's revision hash changes when any of them does. Unreadable or invalid
 * files yield what could be found; loading reports the error.
 */
export function tenantFiles(file: string): string[] {
  const out = [file];
  try {
    const doc = parseYaml(fs.readFileSync(file, 'utf8')) as { codeMaps?: Array<{ file?: unknown }> } | null;
    for (const m of doc?.codeMaps ?? []) if (typeof m.file === 'string') out.push(path.resolve(path.dirname(file), m.file));
  } catch {
    // Compilation reports it with the path; the hash need not.
  }
  return out;
}
