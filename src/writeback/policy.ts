// Write-back policy (issue 6 "Policy"; ARCHITECTURE.md "Write-back state machine"): decides at intake
// whether a proposed change is applied automatically, goes to a clinician's review, or is refused,
// and which actor may take which action. Pure code: the YAML comes in as text (loadPolicyFile is the
// one function that reads a file). docs/writeback.md "Policy format" is the user's reference.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import { parse as parseYaml } from 'yaml';
import type * as z from 'zod';
import { SwitchboardError } from '../core/errors.ts';
import type { FhirResource } from '../core/ports/resource-store.ts';
import type { JsonPatchOp, ProposalActor, ProposedChange } from '../core/ports/proposal-store.ts';
import { parseMessage } from '../hl7v2/index.ts';
import { diffResources, elementPath, parseFieldPath } from './field-diff.ts';
import { PolicySchema, type ActorRule, type Decision, type PolicyAction, type PolicyRule, type ValidationRule, type WritebackPolicyDocument } from './policy-schema.ts';

export { DECISIONS, ACTIONS, PolicySchema, type Decision, type PolicyAction, type PolicyRule, type ActorRule, type ValidationRule, type WritebackPolicyDocument } from './policy-schema.ts';

/** A parsed, checked policy. */
export interface WritebackPolicy extends WritebackPolicyDocument {
  /** Where it came from (a file name, `default`), for messages. */
  readonly source: string;
}

export interface PolicyInput {
  readonly tenant: string;
  readonly ehr: string;
  readonly patient: string;
  readonly change: ProposedChange;
  readonly actor: ProposalActor;
  /** A v3 PurposeOfUse code (TREAT...). */
  readonly purposeOfUse: string;
  /** The patient's consent as the caller determined it; `deny` refuses the change. */
  readonly consent?: 'permit' | 'deny' | 'none';
  /**
   * The EHR's current copy of the resource an update or patch targets, when the caller has read it.
   * Then only the fields that actually change count for field rules, and a patch is validated as
   * the resource it produces. (An addition to the issue 6 contract; optional.)
   */
  readonly before?: FhirResource;
}

export interface PolicyViolation {
  /** The element (FHIRPath) or the input that failed. */
  readonly path: string;
  /** The validation rule's id (or `validation[i]`). */
  readonly rule: string;
  readonly message: string;
}

export interface PolicyDecision {
  readonly decision: Decision;
  /** The rule that decided: a routing rule's id, `consent`, an actor rule, a validation rule, or `(default)`. */
  readonly rule: string;
  readonly reasons: string[];
  readonly violations: PolicyViolation[];
}

export interface AuthorizeInput {
  readonly action: PolicyAction;
  readonly actor: ProposalActor;
  readonly resourceType: string;
  readonly tenant: string;
  readonly ehr: string;
}

// ---------------------------------------------------------------------------------------------
// Parsing

const EXPECTED: Record<string, string> = { object: 'a mapping', array: 'a list', string: 'a string', number: 'a number', boolean: 'a boolean' };

function formatZodPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(document)' : out;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let cur = data;
  for (const p of path) cur = typeof cur === 'object' && cur !== null ? (cur as Record<PropertyKey, unknown>)[p] : undefined;
  return cur;
}

/** `rules[2].decision must be one of auto, review, deny`: one line per problem, located. */
function describeIssues(issues: readonly z.core.$ZodIssue[], data: unknown): string[] {
  return issues.flatMap((i): string[] => {
    const p = formatZodPath(i.path);
    switch (i.code) {
      case 'invalid_value':
        if (valueAt(data, i.path) === undefined) return [`${p} is required`];
        return [`${p} must be one of ${i.values.map(String).join(', ')}`];
      case 'invalid_type':
        return [valueAt(data, i.path) === undefined ? `${p} is required` : `${p} must be ${EXPECTED[i.expected] ?? i.expected}`];
      case 'unrecognized_keys':
        return i.keys.map((k) => `${formatZodPath([...i.path, k])} is not a known key`);
      case 'too_small':
        return [i.origin === 'array' ? `${p} must have at least ${String(i.minimum)} item(s)` : i.origin === 'string' ? `${p} must not be empty` : `${p} must be >= ${String(i.minimum)}`];
      case 'invalid_union':
        return [`${p} must be a string, a number or a boolean`];
      case 'too_big':
        return [`${p} must be <= ${String(i.maximum)}`];
      case 'custom':
      case 'invalid_element':
      case 'invalid_format':
      case 'invalid_key':
      case 'not_multiple_of':
        // Our refinements carry their own wording ("needs min or max").
        return [`${p} ${i.message}`];
    }
  });
}

function invalid(source: string, reasons: readonly string[]): SwitchboardError {
  return new SwitchboardError('SWB_ERR_WRITEBACK_POLICY_INVALID', { source, reason: reasons.join('; ') });
}

type Evaluator = (resource: unknown) => unknown[];
const compiled = new Map<string, Evaluator>();

/** A plain resource type name can type the expression (choice elements resolve); a glob cannot. */
const baseType = (resourceType: string): string | undefined => (/^[A-Z][A-Za-z]+$/.test(resourceType) ? resourceType : undefined);

function compileFhirPath(resourceType: string, expression: string): Evaluator {
  const base = baseType(resourceType);
  const key = `${base ?? ''}|${expression}`;
  let fn = compiled.get(key);
  if (fn === undefined) {
    fn = (base === undefined ? fhirpath.compile(expression, r4Model) : fhirpath.compile({ base, expression }, r4Model)) as unknown as Evaluator;
    compiled.set(key, fn);
  }
  return fn;
}

/**
 * Parses and checks a policy (YAML or JSON). Throws SWB_ERR_WRITEBACK_POLICY_INVALID naming each
 * problem's path, including FHIRPath expressions that do not compile.
 */
export function parsePolicy(yamlText: string, source = 'policy'): WritebackPolicy {
  let data: unknown;
  try {
    data = parseYaml(yamlText);
  } catch (e) {
    throw invalid(source, [`not valid YAML: ${(e as Error).message.split('\n')[0] ?? ''}`]);
  }
  const parsed = PolicySchema.safeParse(data ?? {});
  if (!parsed.success) throw invalid(source, describeIssues(parsed.error.issues, data));
  const doc = parsed.data;
  const problems: string[] = [];
  doc.rules.forEach((r, i) => {
    if (r.equals !== undefined && r.field === undefined) problems.push(`rules[${i}].equals needs a field`);
  });
  doc.validation.forEach((v, i) => {
    const check = (expr: string, at: string): void => {
      try {
        compileFhirPath(v.resourceType, expr);
      } catch (e) {
        problems.push(`${at} is not a valid FHIRPath expression (${(e as Error).message.split('\n')[0] ?? ''})`);
      }
    };
    v.required.forEach((e, j) => check(e, `validation[${i}].required[${j}]`));
    v.codes.forEach((c, j) => check(c.path, `validation[${i}].codes[${j}].path`));
    v.ranges.forEach((r, j) => check(r.path, `validation[${i}].ranges[${j}].path`));
  });
  if (problems.length > 0) throw invalid(source, problems);
  return { ...doc, source };
}

export async function loadPolicyFile(path: string): Promise<WritebackPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path, reason: (cause as NodeJS.ErrnoException).code ?? 'unreadable' }, { cause });
  }
  return parsePolicy(text, basename(path));
}

// ---------------------------------------------------------------------------------------------
// Matching helpers

const globCache = new Map<string, RegExp>();

function globMatch(glob: string, value: string): boolean {
  if (glob === '*') return true;
  if (!glob.includes('*')) return glob === value;
  let re = globCache.get(glob);
  if (re === undefined) {
    re = new RegExp(`^${glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
    globCache.set(glob, re);
  }
  return re.test(value);
}

/** 2 exact, 1 a glob with some literal text, 0 `*`. */
const globScore = (glob: string): number => (glob === '*' ? 0 : glob.includes('*') ? 1 : 2);

const STRICTNESS: Record<Decision, number> = { auto: 0, review: 1, deny: 2 };
const stricter = (a: Decision, b: Decision): Decision => (STRICTNESS[a] >= STRICTNESS[b] ? a : b);

const ruleName = (section: string, id: string | undefined, i: number): string => id ?? `${section}[${i}]`;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Values at an element path (`code.coding.code`), arrays flattened, as FHIRPath would navigate. */
function valuesAt(doc: unknown, dotted: string): unknown[] {
  let level: unknown[] = [doc];
  for (const name of dotted.split('.')) {
    const next: unknown[] = [];
    for (const node of level) {
      const v = isObject(node) ? node[name] : undefined;
      if (Array.isArray(v)) next.push(...(v as unknown[]));
      else if (v !== undefined) next.push(v);
    }
    level = next;
  }
  return level;
}

/** `/valueQuantity/value` -> `valueQuantity.value`; `/note/0/text` -> `note.text` (RFC 6901 unescaped). */
function pointerToElementPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
    .filter((t) => !/^(\d+|-)$/.test(t))
    .join('.');
}

function pointerTokens(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 applied to a copy; throws a plain Error naming the failed operation. */
function applyJsonPatch(doc: unknown, ops: readonly JsonPatchOp[]): unknown {
  let root: unknown = structuredClone(doc);
  const parentOf = (pointer: string): { parent: unknown; key: string } => {
    const tokens = pointerTokens(pointer);
    const key = tokens.pop();
    if (key === undefined) throw new Error(`${pointer}: cannot address the document root`);
    let cur = root;
    for (const t of tokens) {
      cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
      if (cur === undefined) throw new Error(`${pointer}: the parent does not exist`);
    }
    return { parent: cur, key };
  };
  const get = (pointer: string): unknown => {
    let cur = root;
    for (const t of pointerTokens(pointer)) cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    return cur;
  };
  const add = (pointer: string, value: unknown): void => {
    if (pointer === '') {
      root = value;
      return;
    }
    const { parent, key } = parentOf(pointer);
    if (Array.isArray(parent)) parent.splice(key === '-' ? parent.length : Number(key), 0, value);
    else if (isObject(parent)) parent[key] = value;
    else throw new Error(`${pointer}: the parent is not a container`);
  };
  const remove = (pointer: string): void => {
    const { parent, key } = parentOf(pointer);
    if (Array.isArray(parent) && Number(key) < parent.length) parent.splice(Number(key), 1);
    else if (isObject(parent) && Object.hasOwn(parent, key)) delete parent[key];
    else throw new Error(`${pointer}: nothing to remove`);
  };
  for (const op of ops) {
    switch (op.op) {
      case 'add':
        add(op.path, structuredClone(op.value));
        break;
      case 'remove':
        remove(op.path);
        break;
      case 'replace':
        remove(op.path);
        add(op.path, structuredClone(op.value));
        break;
      case 'move': {
        const v = get(op.from ?? '');
        remove(op.from ?? '');
        add(op.path, v);
        break;
      }
      case 'copy':
        add(op.path, structuredClone(get(op.from ?? '')));
        break;
      case 'test':
        if (JSON.stringify(get(op.path)) !== JSON.stringify(op.value)) throw new Error(`${op.path}: test failed`);
        break;
    }
  }
  return root;
}

/** A document holding only what a patch writes: enough to check the values it sets. */
function sparseFromPatch(resourceType: string, ops: readonly JsonPatchOp[]): Json {
  const root: Json = { resourceType };
  for (const op of ops) {
    if (op.op !== 'add' && op.op !== 'replace') continue;
    const tokens = pointerTokens(op.path).filter((t) => !/^(\d+|-)$/.test(t));
    if (tokens.length === 0) continue;
    let cur = root;
    for (const t of tokens.slice(0, -1)) {
      if (!isObject(cur[t])) cur[t] = {};
      cur = cur[t] as Json;
    }
    const last = tokens[tokens.length - 1] as string;
    const prev = cur[last];
    cur[last] = prev === undefined ? op.value : [...(Array.isArray(prev) ? prev : [prev]), op.value];
  }
  return root;
}

// ---------------------------------------------------------------------------------------------
// What a change touches

interface ChangeView {
  /** FHIR resource type, or `MSH-9.1^MSH-9.2` for HL7 v2. */
  readonly resourceType: string;
  /** Element paths (no indices) the change writes; empty for HL7 v2. */
  readonly touched: readonly string[];
  /** The resource as it will be (complete for create/update, and for a patch when `before` is known). */
  readonly after?: unknown;
  readonly before?: unknown;
  /** True when `after` holds only what a patch writes. */
  readonly sparse: boolean;
  /** Paths a patch removes (without `before`, the required checks that can still be made). */
  readonly removed: readonly string[];
  readonly hl7?: ReturnType<typeof parseMessage>;
  readonly problems: readonly PolicyViolation[];
}

function topLevelPaths(resource: FhirResource): string[] {
  return Object.keys(resource).filter((k) => k !== 'resourceType');
}

function viewOf(input: PolicyInput): ChangeView {
  const c = input.change;
  switch (c.kind) {
    case 'create':
      return { resourceType: c.resource.resourceType, touched: topLevelPaths(c.resource), after: c.resource, sparse: false, removed: [], problems: [] };
    case 'update': {
      const touched = input.before === undefined ? topLevelPaths(c.resource) : [...new Set(diffResources(input.before, c.resource).map((d) => elementPath(parseFieldPath(d.path))))];
      return { resourceType: c.resourceType, touched, after: c.resource, ...(input.before === undefined ? {} : { before: input.before }), sparse: false, removed: [], problems: [] };
    }
    case 'patch': {
      const touched = new Set<string>();
      const removed: string[] = [];
      for (const op of c.patch) {
        if (op.op === 'test') continue;
        touched.add(pointerToElementPath(op.path));
        if (op.op === 'move') {
          touched.add(pointerToElementPath(op.from ?? ''));
          removed.push(pointerToElementPath(op.from ?? ''));
        }
        if (op.op === 'remove') removed.push(pointerToElementPath(op.path));
      }
      if (input.before !== undefined) {
        try {
          return { resourceType: c.resourceType, touched: [...touched], after: applyJsonPatch(input.before, c.patch), before: input.before, sparse: false, removed, problems: [] };
        } catch (e) {
          return { resourceType: c.resourceType, touched: [...touched], sparse: true, removed, problems: [{ path: 'change.patch', rule: 'patch', message: `the patch does not apply to the current copy: ${(e as Error).message}` }] };
        }
      }
      return { resourceType: c.resourceType, touched: [...touched], after: sparseFromPatch(c.resourceType, c.patch), sparse: true, removed, problems: [] };
    }
    case 'hl7v2': {
      try {
        const msg = parseMessage(c.message);
        return { resourceType: `${msg.messageCode}^${msg.triggerEvent}`, touched: [], sparse: false, removed: [], hl7: msg, problems: [] };
      } catch (e) {
        return { resourceType: '(unparseable HL7 v2)', touched: [], sparse: false, removed: [], problems: [{ path: 'change.message', rule: 'hl7v2', message: `not a parseable HL7 v2 message: ${(e as Error).message}` }] };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Validation rules

function scopeMatches(r: { tenant: string; ehr: string }, input: { tenant: string; ehr: string }): boolean {
  return globMatch(r.tenant, input.tenant) && globMatch(r.ehr, input.ehr);
}

/** The first identifier of a FHIRPath expression: which top-level element it reads. */
const leadingElement = (expression: string): string => /^[A-Za-z_][A-Za-z0-9_]*/.exec(expression.trim())?.[0] ?? '';

function touches(view: ChangeView, expression: string): boolean {
  const head = leadingElement(expression);
  return view.touched.some((p) => p === head || p.startsWith(`${head}.`));
}

function evaluate(rule: ValidationRule, expression: string, doc: unknown): unknown[] {
  return compileFhirPath(rule.resourceType, expression)(doc);
}

function validate(policy: WritebackPolicy, input: PolicyInput, view: ChangeView): PolicyViolation[] {
  const out: PolicyViolation[] = [...view.problems];
  if (view.after === undefined || view.hl7 !== undefined) return out;
  policy.validation.forEach((rule, i) => {
    if (!globMatch(rule.resourceType, view.resourceType) || !scopeMatches(rule, input)) return;
    const name = ruleName('validation', rule.id, i);
    const run = (expression: string, check: (result: unknown[]) => string | undefined): void => {
      try {
        const message = check(evaluate(rule, expression, view.after));
        if (message !== undefined) out.push({ path: expression, rule: name, message });
      } catch (e) {
        out.push({ path: expression, rule: name, message: `could not be evaluated: ${(e as Error).message.split('\n')[0] ?? ''}` });
      }
    };
    for (const expression of rule.required) {
      if (view.sparse) {
        // Without the current copy only a removal can break a required element.
        const head = leadingElement(expression);
        if (view.removed.some((p) => p === head || head.startsWith(`${p}.`))) out.push({ path: expression, rule: name, message: 'is required, and the patch removes it' });
        continue;
      }
      run(expression, (r) => (r.length === 0 || r.every((v) => v === false) ? 'is required' : undefined));
    }
    for (const codes of rule.codes) {
      if (view.sparse && !touches(view, codes.path)) continue;
      run(codes.path, (r) => {
        if (r.length === 0) return undefined;
        const found = r.filter(isObject).map((c) => `${String(c['system'] ?? '')}|${String(c['code'] ?? '')}`);
        return found.some((f) => codes.allowed.some((a) => globMatch(a, f))) ? undefined : `no coding is one of the allowed codes (${found.join(', ') || 'none'})`;
      });
    }
    for (const range of rule.ranges) {
      if (view.sparse && !touches(view, range.path)) continue;
      run(range.path, (r) => {
        for (const v of r) {
          const n = typeof v === 'number' ? v : Number.NaN;
          if (Number.isNaN(n)) return 'is not a number';
          if (range.min !== undefined && n < range.min) return `is ${n}, below the minimum ${range.min}`;
          if (range.max !== undefined && n > range.max) return `is ${n}, above the maximum ${range.max}`;
        }
        return undefined;
      });
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Routing rules

/** One thing a decision is made for: a touched element, or the change as a whole. */
type Unit = { readonly kind: 'field'; readonly path: string } | { readonly kind: 'whole' };

function fieldValueMatches(rule: PolicyRule, view: ChangeView): boolean {
  const field = rule.field as string;
  if (view.hl7 !== undefined) {
    let values: unknown[];
    try {
      values = view.hl7.getAll(field);
    } catch {
      return false;
    }
    const texts = values.filter((v): v is string => typeof v === 'string' && v !== '');
    return rule.equals === undefined ? texts.length > 0 : texts.includes(String(rule.equals));
  }
  if (rule.equals === undefined) return true;
  return valuesAt(view.after, field).some((v) => String(v) === String(rule.equals));
}

function ruleApplies(rule: PolicyRule, unit: Unit, view: ChangeView): boolean {
  if (rule.field === undefined) return true;
  if (unit.kind === 'whole') return view.hl7 !== undefined && fieldValueMatches(rule, view);
  const f = rule.field;
  const p = unit.path;
  if (p === f || p.startsWith(`${f}.`)) return fieldValueMatches(rule, view);
  if (f.startsWith(`${p}.`)) {
    // The change writes a whole subtree (`valueQuantity`) that may hold the field (`valueQuantity.value`).
    const present = (doc: unknown): boolean => doc !== undefined && valuesAt(doc, f).length > 0;
    if (view.after !== undefined && !present(view.after) && !present(view.before)) return false;
    return fieldValueMatches(rule, view);
  }
  return false;
}

/** Higher wins, compared in order: field (+ value), resource type, EHR, tenant, actor kind. */
function specificity(rule: PolicyRule): number[] {
  return [rule.field === undefined ? 0 : rule.equals === undefined ? 1 : 2, globScore(rule.resourceType), globScore(rule.ehr), globScore(rule.tenant), rule.actorKind === '*' ? 0 : 1];
}

function compareSpecificity(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

interface Routed {
  readonly decision: Decision;
  readonly rule: string;
  readonly reason: string;
}

function route(policy: WritebackPolicy, input: PolicyInput, view: ChangeView): Routed {
  const inScope = policy.rules
    .map((rule, i) => ({ rule, i }))
    .filter(({ rule }) => globMatch(rule.resourceType, view.resourceType) && scopeMatches(rule, input) && (rule.actorKind === '*' || rule.actorKind === input.actor.kind));
  const units: Unit[] = view.touched.length === 0 ? [{ kind: 'whole' }] : view.touched.map((path) => ({ kind: 'field', path }));
  let result: Routed | undefined;
  for (const unit of units) {
    let best: { rule: PolicyRule; i: number; spec: number[] } | undefined;
    for (const { rule, i } of inScope) {
      if (!ruleApplies(rule, unit, view)) continue;
      const spec = specificity(rule);
      const cmp = best === undefined ? 1 : compareSpecificity(spec, best.spec);
      // Equal specificity: the stricter decision, then the earlier rule.
      if (best === undefined || cmp > 0 || (cmp === 0 && STRICTNESS[rule.decision] > STRICTNESS[best.rule.decision])) best = { rule, i, spec };
    }
    const where = unit.kind === 'field' ? ` (${unit.path})` : '';
    const routed: Routed =
      best === undefined
        ? { decision: policy.defaultDecision, rule: '(default)', reason: `no rule matches ${view.resourceType}${where}: default ${policy.defaultDecision}` }
        : { decision: best.rule.decision, rule: ruleName('rules', best.rule.id, best.i), reason: `${ruleName('rules', best.rule.id, best.i)}: ${best.rule.decision}${where}${best.rule.reason === undefined ? '' : ` — ${best.rule.reason}`}` };
    if (result === undefined || STRICTNESS[routed.decision] > STRICTNESS[result.decision]) result = routed;
  }
  return result as Routed;
}

// ---------------------------------------------------------------------------------------------
// Actor rules

function actorRuleMatches(rule: ActorRule, input: AuthorizeInput): boolean {
  if (rule.kind !== '*' && rule.kind !== input.actor.kind) return false;
  if (rule.roles !== undefined && !rule.roles.some((r) => input.actor.roles?.includes(r) === true)) return false;
  return rule.actions.includes(input.action) && rule.resourceTypes.some((t) => globMatch(t, input.resourceType)) && scopeMatches(rule, input);
}

/**
 * Whether an actor may take an action on a resource type. An explicit `deny` rule wins over any
 * `allow`; with no matching rule the answer is no (least privilege).
 */
export function authorizeAction(policy: WritebackPolicy, input: AuthorizeInput): { allowed: boolean; reason: string } {
  const matching = policy.actors.map((rule, i) => ({ rule, i })).filter(({ rule }) => actorRuleMatches(rule, input));
  const denied = matching.find(({ rule }) => rule.effect === 'deny');
  if (denied !== undefined) return { allowed: false, reason: `${ruleName('actors', denied.rule.id, denied.i)}: ${denied.rule.reason ?? `${input.actor.kind} may not ${input.action} ${input.resourceType}`}` };
  const allowed = matching.find(({ rule }) => rule.effect === 'allow');
  if (allowed !== undefined) return { allowed: true, reason: `${ruleName('actors', allowed.rule.id, allowed.i)}: allows ${input.actor.kind} to ${input.action} ${input.resourceType}` };
  return { allowed: false, reason: `no actor rule allows ${input.actor.kind}${input.actor.roles?.length ? ` (roles ${input.actor.roles.join(', ')})` : ''} to ${input.action} ${input.resourceType}` };
}

// ---------------------------------------------------------------------------------------------
// The decision

/**
 * The intake decision for a proposed change, in this order (docs/writeback.md "Order of precedence"):
 * 1. a denying consent -> deny; 2. an actor not allowed to propose -> deny; 3. any validation
 * violation -> deny, listing them; 4. routing rules, per touched field, most specific first, the
 * strictest across fields; 5. floors: the proposing actor rule's minDecision, consent.whenNone.
 */
export function evaluatePolicy(policy: WritebackPolicy, input: PolicyInput): PolicyDecision {
  const view = viewOf(input);
  const reasons: string[] = [];
  if (input.consent === 'deny') return { decision: 'deny', rule: 'consent', reasons: ['the patient\'s consent denies this write'], violations: [] };

  const auth = authorizeAction(policy, { action: 'propose', actor: input.actor, resourceType: view.resourceType, tenant: input.tenant, ehr: input.ehr });
  if (!auth.allowed) return { decision: 'deny', rule: auth.reason.split(':')[0] ?? 'actors', reasons: [auth.reason], violations: [] };

  const violations = validate(policy, input, view);
  if (violations.length > 0) {
    return { decision: 'deny', rule: violations[0]?.rule ?? 'validation', reasons: violations.map((v) => `${v.rule}: ${v.path} ${v.message}`), violations };
  }

  const routed = route(policy, input, view);
  let decision = routed.decision;
  let rule = routed.rule;
  reasons.push(routed.reason);

  if (decision !== 'deny') {
    policy.actors.forEach((a, i) => {
      if (a.effect !== 'allow' || a.minDecision === undefined) return;
      if (!actorRuleMatches(a, { action: 'propose', actor: input.actor, resourceType: view.resourceType, tenant: input.tenant, ehr: input.ehr })) return;
      if (STRICTNESS[a.minDecision] > STRICTNESS[decision]) {
        decision = stricter(decision, a.minDecision);
        rule = ruleName('actors', a.id, i);
        reasons.push(`${rule}: at least ${a.minDecision} for ${input.actor.kind} proposals${a.reason === undefined ? '' : ` — ${a.reason}`}`);
      }
    });
    if ((input.consent === undefined || input.consent === 'none') && STRICTNESS[policy.consent.whenNone] > STRICTNESS[decision]) {
      decision = policy.consent.whenNone;
      rule = 'consent';
      reasons.push(`no consent on record: at least ${policy.consent.whenNone}`);
    }
  }
  return { decision, rule, reasons, violations: [] };
}

/** The resource type (or HL7 v2 message type) a change is about, as policy matches it. */
export function changeResourceType(change: ProposedChange): string {
  return viewOf({ tenant: '', ehr: '', patient: '', change, actor: { kind: 'service', id: '' }, purposeOfUse: '' }).resourceType;
}

// ---------------------------------------------------------------------------------------------
// The default

/**
 * A conservative default: the four clinical write types go to review, notes over HL7 v2 too;
 * anything else is refused; AI agents only draft (always reviewed); only a person with the
 * `reviewer` role approves, edits, rejects or signs; a service account may not write notes.
 */
export const DEFAULT_POLICY_YAML = `# Switchboard default write-back policy (docs/writeback.md "Policy format").
version: 1
defaultDecision: deny          # resource types not named below are refused
rules:
  - id: vitals-review
    resourceType: Observation
    decision: review
  - id: notes-review
    resourceType: DocumentReference
    decision: review
  - id: problems-review
    resourceType: Condition
    decision: review
  - id: allergies-review
    resourceType: AllergyIntolerance
    decision: review
  - id: hl7-notes-review
    resourceType: "MDM^*"
    decision: review
  - id: hl7-results-review
    resourceType: "ORU^R01"
    decision: review
actors:
  - id: clinician-reviewers
    kind: user
    roles: [reviewer]
    actions: [propose, approve, edit, reject, sign]
  - id: users-propose
    kind: user
    actions: [propose]
  - id: apps-propose
    kind: app
    actions: [propose]
  - id: ai-agents-draft-only
    kind: agent
    actions: [propose]
    minDecision: review
    reason: AI-drafted content is always reviewed by a clinician
  - id: services-propose
    kind: service
    actions: [propose]
  - id: services-no-notes
    kind: service
    actions: [propose]
    resourceTypes: [DocumentReference, "MDM^*"]
    effect: deny
    reason: a service account may not write clinical notes
validation:
  - id: observation-required
    resourceType: Observation
    required: [status, code.coding.exists(), subject.exists()]
  - id: note-required
    resourceType: DocumentReference
    required: [status, type.exists(), subject.exists(), content.attachment.exists()]
  - id: condition-required
    resourceType: Condition
    required: [code.exists(), subject.exists()]
  - id: allergy-required
    resourceType: AllergyIntolerance
    required: [code.exists(), patient.exists()]
`;
