/**
 * The write-back configuration file (`switchboard start --writeback FILE`, docs/writeback.md
 * "Service configuration"): which EHRs the engine may write to, the policy, and how the commit
 * worker, read-back verification and drift detection run. Declared once as a zod schema with its
 * defaults (STYLE.md "Configuration"); errors name the field path (`ehrs[1].profile must be one of ...`).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { parseYamlDocument } from '../core/channel-schema.ts';
import { SwitchboardError } from '../core/errors.ts';
import { EhrConfigSchema, type EhrConfig } from './ehr/ehr-adapters.ts';
import { DEFAULT_POLICY_YAML, parsePolicy, type WritebackPolicy } from './policy.ts';
import type { CommitOptions } from './writeback-context.ts';

export const WritebackConfigSchema = z
  .strictObject({
    tenant: z.string().min(1).default('default').meta({ description: 'The tenant proposals belong to when a request names none.' }),
    policy: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'A policy file (path relative to this file) or the policy itself as inline YAML; default: the built-in DEFAULT_POLICY_YAML.' }),
    ehrs: z.array(EhrConfigSchema).default([]).meta({ description: 'The EHRs proposals may target, by name.' }),
    commit: z
      .strictObject({
        concurrency: z.number().int().min(1).max(64).default(4).meta({ description: 'Writes in flight at once.' }),
        maxAttempts: z.number().int().min(1).max(100).default(5).meta({ description: 'Attempts of a transient failure before the proposal fails.' }),
        pollMs: z.number().int().min(10).default(250).meta({ description: 'How often the worker looks for approved and due proposals (it is also woken at once on approval).' }),
        backoff: z
          .strictObject({
            initialMs: z.number().int().min(1).default(1000),
            maxMs: z.number().int().min(1).default(60_000),
          })
          .default({ initialMs: 1000, maxMs: 60_000 }),
        leaseMs: z
          .number()
          .int()
          .min(100)
          .default(60_000)
          .meta({ description: 'How long a claim on a committing proposal holds without renewal; the worker renews it every third of this while the write is in flight, and recovery (in any process) takes only expired claims.' }),
        recoveryIntervalMs: z.number().int().min(0).default(30_000).meta({ description: 'How often expired claims (a process that died mid-write) are recovered while running; 0: only at start.' }),
      })
      .default({ concurrency: 4, maxAttempts: 5, pollMs: 250, backoff: { initialMs: 1000, maxMs: 60_000 }, leaseMs: 60_000, recoveryIntervalMs: 30_000 }),
    verify: z.strictObject({ enabled: z.boolean().default(true).meta({ description: 'Read every committed write back and compare it field by field.' }) }).default({ enabled: true }),
    drift: z
      .strictObject({ intervalMs: z.number().int().min(0).default(0).meta({ description: 'Re-read committed and verified writes this often; 0: never.' }) })
      .default({ intervalMs: 0 }),
  })
  .meta({ id: 'WritebackConfig' });

export type WritebackConfigDocument = z.output<typeof WritebackConfigSchema>;

/** The configuration with its policy parsed: every field set. */
export interface WritebackConfig {
  readonly tenant: string;
  readonly policy: WritebackPolicy;
  readonly ehrs: readonly EhrConfig[];
  readonly commit: CommitOptions;
  readonly verify: { readonly enabled: boolean };
  readonly drift: { readonly intervalMs: number };
}

/** Inline YAML holds a line break or a mapping key; anything else is a file name. */
function isInlinePolicy(value: string): boolean {
  return value.includes('\n') || /^\s*[\w-]+\s*:/.test(value);
}

/** Parses the configuration text; `fileName` names it in errors and anchors a relative policy path. */
export async function parseWritebackConfig(text: string, fileName: string): Promise<WritebackConfig> {
  const doc = parseYamlDocument(WritebackConfigSchema, text, fileName);
  const names = new Set<string>();
  doc.ehrs.forEach((e, i) => {
    if (names.has(e.name)) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${fileName}: ehrs[${i}].name`, reason: `"${e.name}" is also the name of another EHR` });
    names.add(e.name);
  });
  if (doc.commit.backoff.maxMs < doc.commit.backoff.initialMs) {
    throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${fileName}: commit.backoff.maxMs`, reason: 'must be >= commit.backoff.initialMs' });
  }
  let policy: WritebackPolicy;
  if (doc.policy === undefined) policy = parsePolicy(DEFAULT_POLICY_YAML, '(default policy)');
  else if (isInlinePolicy(doc.policy)) policy = parsePolicy(doc.policy, `${fileName}: policy`);
  else {
    const path = resolve(dirname(fileName), doc.policy);
    let policyText: string;
    try {
      policyText = await readFile(path, 'utf8');
    } catch (e) {
      throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${fileName}: policy`, reason: `cannot read ${doc.policy} (${(e as NodeJS.ErrnoException).code ?? 'unreadable'})` });
    }
    policy = parsePolicy(policyText, path);
  }
  // A key file named relative to this file, like the policy.
  const ehrs = doc.ehrs.map((e) => (e.auth?.privateKeyFile === undefined ? e : { ...e, auth: { ...e.auth, privateKeyFile: resolve(dirname(fileName), e.auth.privateKeyFile) } }));
  return { tenant: doc.tenant, policy, ehrs, commit: doc.commit, verify: doc.verify, drift: doc.drift };
}

/** Reads and parses a configuration file. */
export async function loadWritebackConfig(file: string): Promise<WritebackConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file, reason: (e as NodeJS.ErrnoException).code ?? 'unreadable' });
  }
  return parseWritebackConfig(text, file);
}
