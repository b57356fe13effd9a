// The write-back policy file, declared once as a zod schema with its defaults (STYLE.md
// "Configuration"). docs/writeback.md "Policy format" describes each key; policy.ts evaluates it.

import * as z from 'zod';

export const DECISIONS = ['auto', 'review', 'deny'] as const;
export type Decision = (typeof DECISIONS)[number];

export const ACTIONS = ['propose', 'approve', 'sign', 'reject', 'edit'] as const;
export type PolicyAction = (typeof ACTIONS)[number];

const ACTOR_KINDS = ['user', 'app', 'agent', 'service', '*'] as const;

/** A name or a glob where `*` stands for any run of characters: `*`, `MDM^*`, `epic-*`. */
const Glob = z.string().min(1);
const Decision = z.enum(DECISIONS);

/** Routing: which changes go through automatically, to review, or nowhere. */
const RuleSchema = z.strictObject({
  /** Named in decisions; `rules[<index>]` when absent. */
  id: z.string().min(1).optional(),
  tenant: Glob.default('*'),
  ehr: Glob.default('*'),
  /** A FHIR resource type, or an HL7 v2 message type (`MDM^T02`) for `hl7v2` changes. */
  resourceType: Glob.default('*'),
  /** An element path without indices (`valueQuantity`, `code.coding.code`), or an HL7 v2 path (`TXA-17`). */
  field: z.string().min(1).optional(),
  /** With `field`: the rule matches only when the field's new value equals this. */
  equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
  actorKind: z.enum(ACTOR_KINDS).default('*'),
  decision: Decision,
  reason: z.string().optional(),
});

const ActorRuleSchema = z.strictObject({
  id: z.string().min(1).optional(),
  kind: z.enum(ACTOR_KINDS).default('*'),
  /** When set, the actor must hold at least one of these roles (src/api/auth/roles.ts names). */
  roles: z.array(z.string().min(1)).min(1).optional(),
  actions: z.array(z.enum(ACTIONS)).min(1),
  resourceTypes: z.array(Glob).min(1).default(['*']),
  tenant: Glob.default('*'),
  ehr: Glob.default('*'),
  effect: z.enum(['allow', 'deny']).default('allow'),
  /** For `propose`: the decision is at least this strict (an AI agent's drafts always go to review). */
  minDecision: Decision.optional(),
  reason: z.string().optional(),
});

const CodesSchema = z.strictObject({
  /** FHIRPath to Coding elements (`code.coding`). */
  path: z.string().min(1),
  /** `system|code`; `*` globs allowed (`http://loinc.org|*`). At least one found Coding must match. */
  allowed: z.array(z.string().min(1)).min(1),
});

const RangeSchema = z
  .strictObject({
    /** FHIRPath to numbers (`valueQuantity.value`). Every number found must lie in [min, max]. */
    path: z.string().min(1),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .refine((r) => r.min !== undefined || r.max !== undefined, { message: 'needs min or max' })
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, { message: 'min must be <= max' });

const ValidationSchema = z.strictObject({
  id: z.string().min(1).optional(),
  tenant: Glob.default('*'),
  ehr: Glob.default('*'),
  resourceType: Glob,
  /** FHIRPath expressions that must yield something (and not `false`). */
  required: z.array(z.string().min(1)).default([]),
  codes: z.array(CodesSchema).default([]),
  ranges: z.array(RangeSchema).default([]),
});

export const PolicySchema = z.strictObject({
  version: z.literal(1).default(1),
  /** The decision when no routing rule matches a change (or one of its fields). */
  defaultDecision: Decision.default('deny'),
  rules: z.array(RuleSchema).default([]),
  actors: z.array(ActorRuleSchema).default([]),
  validation: z.array(ValidationSchema).default([]),
  consent: z
    .strictObject({
      /** The decision floor when no Consent speaks for the patient (`consent: none`). `deny` on a denying Consent is fixed. */
      whenNone: Decision.default('auto'),
    })
    .default({ whenNone: 'auto' }),
});

export type WritebackPolicyDocument = z.output<typeof PolicySchema>;
export type PolicyRule = WritebackPolicyDocument['rules'][number];
export type ActorRule = WritebackPolicyDocument['actors'][number];
export type ValidationRule = WritebackPolicyDocument['validation'][number];
