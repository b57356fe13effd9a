import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { SwitchboardError } from '../core/errors.ts';
import type { FhirValidationResult } from '../fhir/fhir-validator.ts';
import { parseBatch, type Hl7Message } from '../hl7v2/index.ts';
import type { FhirToV2Result } from '../mapping/fhir-to-v2.ts';
import { formatReport, type MappingReport } from '../mapping/mapping-report.ts';
import { loadTenantConfig, type TenantMappingConfig } from '../mapping/tenant-config.ts';
import { convertV2ToFhir } from '../mapping/v2-to-fhir.ts';
import { describeError, err, out } from './cli-io.ts';

/**
 * `switchboard convert FILE --to fhir` (HL7 v2 -> a FHIR R4 transaction Bundle on stdout, the
 * mapping report on stderr) and `switchboard convert FILE --from fhir --to hl7v2` (a Bundle or a
 * resource -> an HL7 v2 message on stdout). FILE `-` is stdin. Exit 0 converted; 1 a message or
 * resource that cannot be converted (located, coded error on stderr; nothing on stdout), or
 * `--validate` found errors; 2 usage or setup (tenant file) errors.
 */

export interface ConvertOptions {
  readonly from: 'hl7v2' | 'fhir';
  readonly to: 'fhir' | 'hl7v2';
  readonly tenant?: string;
  readonly report: 'text' | 'json';
  readonly validate: boolean;
  /** Also check each resource against the US Core profile that applies to it (src/fhir/us-core.ts). */
  readonly usCore: boolean;
  readonly type?: string;
  readonly version?: string;
}

const FORMATS = new Set(['hl7v2', 'fhir']);

function usage(reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CLI_USAGE', { reason });
}

function readSource(file: string): Buffer {
  try {
    // fd 0: stdin, read to its end (a pipe or a redirected file).
    return file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (cause) {
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file === '-' ? 'stdin' : file, reason: (cause as NodeJS.ErrnoException).code ?? 'unreadable' }, { cause });
  }
}

/** Resolves raw commander options into ConvertOptions, or throws a usage error. */
export function resolveConvertOptions(raw: { from?: string; to?: string; tenant?: string; report?: string; validate?: boolean; usCore?: boolean; type?: string; version?: string }): ConvertOptions {
  const from = raw.from ?? (raw.to === 'hl7v2' ? 'fhir' : 'hl7v2');
  const to = raw.to ?? (from === 'fhir' ? 'hl7v2' : 'fhir');
  if (!FORMATS.has(from)) throw usage(`--from must be hl7v2 or fhir`);
  if (!FORMATS.has(to)) throw usage(`--to must be fhir or hl7v2`);
  if (from === to) throw usage(`--from and --to are both ${from}: nothing to convert`);
  const report = raw.report ?? 'text';
  if (report !== 'text' && report !== 'json') throw usage('--report must be text or json');
  if (from === 'hl7v2' && (raw.type !== undefined || raw.version !== undefined)) throw usage('--type and --version apply to --to hl7v2');
  return {
    from: from as ConvertOptions['from'],
    to: to as ConvertOptions['to'],
    report,
    validate: raw.validate === true || raw.usCore === true,
    usCore: raw.usCore === true,
    ...(raw.tenant !== undefined ? { tenant: raw.tenant } : {}),
    ...(raw.type !== undefined ? { type: raw.type } : {}),
    ...(raw.version !== undefined ? { version: raw.version } : {}),
  };
}

/** Where a message sits, for errors: its position and control id (an id, never content). */
const whereMessage = (i: number, total: number, msg: Hl7Message): string => `${total > 1 ? `message ${i + 1} ` : ''}(MSH-10 ${msg.controlId || '-'})`;

interface Converted {
  readonly bundle: Bundle;
  readonly report: MappingReport;
  readonly validation?: { readonly valid: boolean; readonly issues: ReadonlyArray<{ severity: string; expression: string; diagnostics: string }> };
}

async function v2ToFhir(file: string, opts: ConvertOptions): Promise<number> {
  const tenant: TenantMappingConfig | undefined = opts.tenant !== undefined ? loadTenantConfig(opts.tenant) : undefined;
  const batch = parseBatch(readSource(file));
  const messages = batch.messages;
  if (messages.length === 0) throw new SwitchboardError('SWB_ERR_HL7_EMPTY', {});
  const structural = opts.validate ? (await import('../fhir/fhir-validator.ts')).validateBundle : undefined;
  const usCore = opts.usCore ? await import('../fhir/us-core.ts') : undefined;
  // Structure (FHIR R4), then on demand US Core for the resources a covered profile applies to.
  const validateBundle =
    structural === undefined
      ? undefined
      : (bundle: Bundle): FhirValidationResult => {
          const result = structural(bundle);
          if (usCore === undefined) return result;
          const issues = [...result.issues];
          (bundle.entry ?? []).forEach((e, i) => {
            if (e.resource === undefined || usCore.usCoreProfilesFor(e.resource).length === 0) return;
            for (const issue of usCore.validateUsCore(e.resource).issues) issues.push({ ...issue, expression: `Bundle.entry[${i}].resource.${issue.expression.replace(/^[A-Z][A-Za-z]+\.?/, '')}`.replace(/\.$/, '') });
          });
          return { valid: !issues.some((x) => x.severity === 'error'), issues };
        };
  const results: Converted[] = [];
  let failed = false;
  messages.forEach((msg, i) => {
    try {
      const { bundle, report } = convertV2ToFhir(msg, tenant !== undefined ? { tenant } : {});
      results.push({ bundle, report, ...(validateBundle !== undefined ? { validation: validateBundle(bundle) } : {}) });
    } catch (e) {
      failed = true;
      err(`${whereMessage(i, messages.length, msg)}: ${describeError(e)}`);
    }
  });
  if (failed) return 1;
  if (results.length === 1) out(JSON.stringify((results[0] as Converted).bundle, null, 2));
  // Several messages: one Bundle per line (NDJSON), in message order.
  else for (const r of results) out(JSON.stringify(r.bundle));
  if (opts.report === 'json') {
    const reports = results.map((r) => ({ ...r.report, ...(r.validation !== undefined ? { validation: r.validation } : {}) }));
    err(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  } else {
    results.forEach((r, i) => {
      const msg = messages[i] as Hl7Message;
      if (results.length > 1) err(`${whereMessage(i, results.length, msg)}`);
      err(formatReport(r.report));
      if (r.validation !== undefined) {
        err(r.validation.valid ? `validation: valid (FHIR R4 structure${opts.usCore ? ' and US Core' : ''})` : 'validation: INVALID');
        for (const issue of r.validation.issues) err(`  ${issue.severity} ${issue.expression}: ${issue.diagnostics}`);
      }
    });
  }
  return results.some((r) => r.validation !== undefined && !r.validation.valid) ? 1 : 0;
}

async function fhirToV2(file: string, opts: ConvertOptions): Promise<number> {
  const text = readSource(file).toString('utf8').replace(/^\uFEFF/, '');
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    throw new SwitchboardError('SWB_ERR_MAP_FHIR_INPUT', { reason: `${file === '-' ? 'stdin' : file} is not JSON` });
  }
  if (typeof input !== 'object' || input === null || typeof (input as { resourceType?: unknown }).resourceType !== 'string') {
    throw new SwitchboardError('SWB_ERR_MAP_FHIR_INPUT', { reason: 'expected a FHIR resource or Bundle (no resourceType)' });
  }
  // Loaded on demand: v2 -> FHIR users do not load the reverse mappers.
  const { convertFhirToV2, FHIR_TO_V2_TYPES } = await import('../mapping/fhir-to-v2.ts');
  const type = FHIR_TO_V2_TYPES.find((t) => t === opts.type);
  if (opts.type !== undefined && type === undefined) throw usage(`--type must be one of ${FHIR_TO_V2_TYPES.join(', ')}`);
  const tenant = opts.tenant !== undefined ? loadTenantConfig(opts.tenant) : undefined;
  let result: FhirToV2Result;
  try {
    result = convertFhirToV2(input as Bundle | Resource, {
      ...(type !== undefined ? { type } : {}),
      ...(opts.version !== undefined ? { version: opts.version } : {}),
      ...(tenant !== undefined ? { tenant } : {}),
    });
  } catch (e) {
    err(describeError(e));
    return 1;
  }
  // One segment per line: readable, and every Switchboard reader accepts LF as well as CR.
  out(result.message.toString({ terminator: '\n' }));
  let code = 0;
  const validation = opts.validate ? (await import('../hl7v2/hl7-validator.ts')).validateMessage(result.message) : undefined;
  if (opts.report === 'json') {
    err(JSON.stringify({ ...result.report, ...(validation !== undefined ? { validation: { valid: validation.valid, issues: validation.issues } } : {}) }, null, 2));
  } else {
    err(`${result.message.messageCode}^${result.message.triggerEvent} v${result.message.version}: ${result.report.mapped.length} elements mapped, ${result.report.unmapped.length} not mapped`);
    for (const u of result.report.unmapped) err(`  ${u.element}: not mapped - ${u.reason}`);
    for (const w of result.report.warnings) err(`  warning: ${w}`);
  }
  if (validation !== undefined) {
    if (opts.report === 'text') {
      err(validation.valid ? 'validation: valid (HL7 v2 structure)' : 'validation: INVALID');
      for (const i of validation.issues) err(`  ${i.severity} ${i.code} ${i.where}: ${i.message}`);
    }
    if (!validation.valid) code = 1;
  }
  return code;
}

export async function runConvert(file: string, opts: ConvertOptions): Promise<number> {
  return opts.from === 'hl7v2' ? v2ToFhir(file, opts) : fhirToV2(file, opts);
}

export function registerConvertCommand(program: Command): void {
  // `convert --version 2.5.1` is the HL7 version of the output: program options (the root's
  // `--version`) are then only recognised before the subcommand, as commander's docs advise for
  // a subcommand option that shares a program option's name.
  program.enablePositionalOptions();
  program
    .command('convert')
    .description('convert HL7 v2 to a FHIR R4 transaction Bundle (report on stderr), or FHIR to HL7 v2; exit 1 on a message it cannot convert')
    .argument('<file>', 'the input file; - reads stdin')
    .option('--from <format>', 'input format: hl7v2 or fhir (default: the other of --to)')
    .option('--to <format>', 'output format: fhir or hl7v2 (default: the other of --from)')
    .option('--tenant <file>', 'tenant mapping config (YAML/JSON: code maps, identifier systems, overrides, Z-segment rules); with --to hl7v2 its systems are turned back into v2 names')
    .option('--report <format>', 'mapping report on stderr: text or json', 'text')
    .option('--validate', 'validate the output (FHIR R4 structure, or HL7 v2 structure); exit 1 if invalid')
    .option('--us-core', 'with --to fhir: also check each resource against the US Core profile that applies (implies --validate)')
    .option('--type <type>', 'with --to hl7v2: message structure, e.g. ORU_R01, MDM_T02, SIU_S12, ADT_A31 (default: inferred)')
    .option('--version <version>', 'with --to hl7v2: MSH-12 version (default 2.5.1)')
    .action(async (file: string, raw: { from?: string; to?: string; tenant?: string; report?: string; validate?: boolean; usCore?: boolean; type?: string; version?: string }) => {
      process.exitCode = await runConvert(file, resolveConvertOptions(raw));
    });
}
