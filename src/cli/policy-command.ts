import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import * as z from 'zod';
import { isSwitchboardError, SwitchboardError } from '../core/errors.ts';
import type { ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import { ACTIONS, authorizeAction, changeResourceType, evaluatePolicy, loadPolicyFile, type PolicyAction } from '../writeback/policy.ts';
import { describeError, err, out } from './cli-io.ts';

/**
 * `switchboard policy test --policy FILE --proposal FILE [--action A --actor-kind K --actor-role R]`:
 * evaluates a proposal against a write-back policy offline (docs/writeback.md). Without --action (or
 * with `propose`) it prints the intake decision, the rule that decided, the reasons and any
 * validation violations; with another action it prints whether the actor may take it. Exit 0: auto,
 * review or allowed; 1: deny or not allowed; 2: bad input (unreadable or invalid policy or proposal).
 */

const ActorSchema = z.strictObject({
  kind: z.enum(['user', 'app', 'agent', 'service']),
  id: z.string().min(1),
  display: z.string().optional(),
  roles: z.array(z.string()).optional(),
  model: z.string().optional(),
  modelVersion: z.string().optional(),
});

const ResourceSchema = z.looseObject({ resourceType: z.string().min(1) });
const ChangeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('create'), resource: ResourceSchema }),
  z.strictObject({ kind: z.literal('update'), resourceType: z.string().min(1), id: z.string().min(1), resource: ResourceSchema, baseVersion: z.string().optional() }),
  z.strictObject({
    kind: z.literal('patch'),
    resourceType: z.string().min(1),
    id: z.string().min(1),
    patch: z.array(z.strictObject({ op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']), path: z.string(), from: z.string().optional(), value: z.unknown().optional() })),
    baseVersion: z.string().optional(),
  }),
  z.strictObject({ kind: z.literal('hl7v2'), message: z.string().min(1) }),
]);

/** What a proposal file holds: the POST /api/v1/writeback/proposals body, plus consent and the current copy. */
const ProposalFileSchema = z.strictObject({
  tenant: z.string().default('default'),
  ehr: z.string().min(1),
  patient: z.string().min(1),
  change: ChangeSchema,
  actor: ActorSchema,
  purposeOfUse: z.string().default('TREAT'),
  consent: z.enum(['permit', 'deny', 'none']).optional(),
  before: ResourceSchema.optional(),
  idempotencyKey: z.string().optional(),
  correlationId: z.string().optional(),
});

export interface PolicyTestOptions {
  readonly policy: string;
  readonly proposal: string;
  readonly action?: string;
  readonly actorKind?: string;
  readonly actorId?: string;
  readonly actorRole?: readonly string[];
  readonly json?: boolean;
}

function usage(reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CLI_USAGE', { reason });
}

async function readProposal(file: string): Promise<z.output<typeof ProposalFileSchema>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file, reason: (cause as NodeJS.ErrnoException).code ?? 'unreadable' }, { cause });
  }
  let data: unknown;
  try {
    data = parseYaml(text); // YAML is a superset of JSON: either works
  } catch (e) {
    throw usage(`${file} is not valid JSON or YAML: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
  const parsed = ProposalFileSchema.safeParse(data);
  if (!parsed.success) throw usage(`${file}: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(document)'} ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** The actor for the check: the proposal's, with any --actor-* option applied. */
function actorFor(base: ProposalActor, opts: PolicyTestOptions): ProposalActor {
  if (opts.actorKind === undefined && opts.actorId === undefined && opts.actorRole === undefined) return base;
  const kind = opts.actorKind ?? (opts.actorRole !== undefined ? 'user' : base.kind);
  const k = ActorSchema.shape.kind.safeParse(kind);
  if (!k.success) throw usage('--actor-kind must be user, app, agent or service');
  return { kind: k.data, id: opts.actorId ?? (kind === base.kind ? base.id : `cli-${kind}`), ...(opts.actorRole === undefined ? {} : { roles: opts.actorRole }) };
}

export async function runPolicyTest(opts: PolicyTestOptions): Promise<number> {
  try {
    const action = (opts.action ?? 'propose') as PolicyAction;
    if (!ACTIONS.includes(action)) throw usage(`--action must be one of ${ACTIONS.join(', ')}`);
    const policy = await loadPolicyFile(opts.policy);
    const p = await readProposal(opts.proposal);
    const actor = actorFor(p.actor as ProposalActor, opts);
    const change = p.change as ProposedChange;
    if (action === 'propose') {
      const d = evaluatePolicy(policy, {
        tenant: p.tenant,
        ehr: p.ehr,
        patient: p.patient,
        change,
        actor,
        purposeOfUse: p.purposeOfUse,
        ...(p.consent === undefined ? {} : { consent: p.consent }),
        ...(p.before === undefined ? {} : { before: p.before as FhirResource }),
      });
      if (opts.json === true) out(JSON.stringify(d, null, 2));
      else {
        out(`decision: ${d.decision}`);
        out(`rule: ${d.rule}`);
        out(`reasons:${d.reasons.length === 0 ? ' none' : ''}`);
        for (const r of d.reasons) out(`  - ${r}`);
        out(`violations:${d.violations.length === 0 ? ' none' : ''}`);
        for (const v of d.violations) out(`  - ${v.path} (${v.rule}): ${v.message}`);
      }
      return d.decision === 'deny' ? 1 : 0;
    }
    const r = authorizeAction(policy, { action, actor, resourceType: changeResourceType(change), tenant: p.tenant, ehr: p.ehr });
    if (opts.json === true) out(JSON.stringify({ action, actor: { kind: actor.kind, id: actor.id, roles: actor.roles ?? [] }, ...r }, null, 2));
    else {
      out(`action: ${action} by ${actor.kind}${actor.roles === undefined ? '' : ` (roles ${actor.roles.join(', ')})`}`);
      out(`allowed: ${r.allowed ? 'yes' : 'no'}`);
      out(`reason: ${r.reason}`);
    }
    return r.allowed ? 0 : 1;
  } catch (e) {
    err(describeError(e));
    // Bad input (a policy or proposal that does not load) is 2; nothing else is expected here.
    return isSwitchboardError(e) ? 2 : 1;
  }
}

export function registerPolicyCommand(program: Command): void {
  const policy = program.command('policy').description('write-back policy tools');
  policy
    .command('test')
    .description('evaluate a proposal against a write-back policy offline; exit 0 auto/review/allowed, 1 deny, 2 bad input')
    .requiredOption('--policy <file>', 'the write-back policy (YAML)')
    .requiredOption('--proposal <file>', 'the proposal (JSON or YAML: ehr, patient, change, actor, purposeOfUse, consent?, before?)')
    .option('--action <action>', `propose (default: the intake decision) or ${ACTIONS.filter((a) => a !== 'propose').join(', ')} (may the actor do it?)`)
    .option('--actor-kind <kind>', 'check as this actor kind (user, app, agent, service) instead of the proposal\'s actor')
    .option('--actor-id <id>', 'the checking actor\'s id')
    .option('--actor-role <role>', 'a role of the checking actor (repeatable; implies --actor-kind user)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--json', 'print the decision as JSON')
    .action(async (o: { policy: string; proposal: string; action?: string; actorKind?: string; actorId?: string; actorRole?: string[]; json?: boolean }) => {
      process.exitCode = await runPolicyTest(o);
    });
}
