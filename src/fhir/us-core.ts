// US Core profile validation on demand: the key rules of us-core-profiles.ts, evaluated with HL7's
// FHIRPath engine (`fhirpath`, R4 model). The profile comes from meta.profile, or, when the resource
// names none that is covered, from its type (and category / code for Observation, Condition and
// DiagnosticReport), as a US Core server would expect it (US Core "Conforming to US Core").

import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4';
import { resultOf, type FhirIssue, type FhirValidationResult } from './fhir-issue.ts';
import { US_CORE_PROFILES, type UsCoreProfile, type UsCoreRule } from './us-core-profiles.ts';

export { US_CORE_PROFILES, type UsCoreProfile, type UsCoreRule } from './us-core-profiles.ts';

export interface UsCoreValidationResult extends FhirValidationResult {
  /** Canonical URLs of the profiles checked (the chosen one and those it derives from). */
  readonly profiles: readonly string[];
}

type JsonObject = Record<string, unknown>;
type Evaluator = (resource: unknown) => unknown[];

const BY_URL = new Map(US_CORE_PROFILES.map((p) => [p.url, p]));
const compiled = new Map<string, Evaluator>();

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compiles a rule's FHIRPath once, typed at `<resourceType>.<on>` so choice elements resolve. */
function evaluatorFor(resourceType: string, rule: UsCoreRule): Evaluator {
  const base = rule.on === undefined ? resourceType : `${resourceType}.${rule.on}`;
  const key = `${base}|${rule.check}`;
  let fn = compiled.get(key);
  if (fn === undefined) {
    fn = fhirpath.compile({ base, expression: rule.check }, r4Model) as Evaluator;
    compiled.set(key, fn);
  }
  return fn;
}

/** The elements at a dotted path, each with its location (`Patient.identifier[1]`). */
function elementsAt(resource: JsonObject, path: string | undefined): Array<{ node: unknown; at: string }> {
  let level: Array<{ node: unknown; at: string }> = [{ node: resource, at: String(resource['resourceType']) }];
  if (path === undefined) return level;
  for (const name of path.split('.')) {
    const next: Array<{ node: unknown; at: string }> = [];
    for (const { node, at } of level) {
      const v = isObject(node) ? node[name] : undefined;
      if (Array.isArray(v)) v.forEach((item, i) => next.push({ node: item, at: `${at}.${name}[${i}]` }));
      else if (v !== undefined) next.push({ node: v, at: `${at}.${name}` });
    }
    level = next;
  }
  return level;
}

function codings(resource: JsonObject, element: 'category' | 'code'): Array<{ system?: unknown; code?: unknown }> {
  const v = resource[element];
  const concepts = Array.isArray(v) ? v : [v];
  return concepts.flatMap((c) => (isObject(c) && Array.isArray(c['coding']) ? (c['coding'] as Array<{ system?: unknown; code?: unknown }>) : []));
}

function hasCoding(resource: JsonObject, element: 'category' | 'code', system: string, code: string): boolean {
  return codings(resource, element).some((c) => c.system === system && c.code === code);
}

const url = (id: string): string => `http://hl7.org/fhir/us/core/StructureDefinition/${id}`;

/** Vital sign profiles recognised by their LOINC code (the first code rule of each). */
function vitalByCode(resource: JsonObject): UsCoreProfile | undefined {
  const loinc = new Set(codings(resource, 'code').filter((c) => c.system === 'http://loinc.org').map((c) => c.code));
  return US_CORE_PROFILES.find((p) => p.parent === url('us-core-vital-signs') && [...(p.rules[0]?.check.matchAll(/code = '([^']+)'/g) ?? [])].some((m) => loinc.has(m[1])));
}

/** The profile a resource that names no covered profile is held to. */
function inferredProfile(resource: JsonObject): UsCoreProfile | undefined {
  const type = resource['resourceType'];
  const obsCat = 'http://terminology.hl7.org/CodeSystem/observation-category';
  const conCat = 'http://terminology.hl7.org/CodeSystem/condition-category';
  switch (type) {
    case 'Observation':
      if (hasCoding(resource, 'category', obsCat, 'laboratory')) return BY_URL.get(url('us-core-observation-lab'));
      if (hasCoding(resource, 'category', obsCat, 'vital-signs')) return vitalByCode(resource) ?? BY_URL.get(url('us-core-vital-signs'));
      return undefined;
    case 'Condition':
      if (hasCoding(resource, 'category', conCat, 'encounter-diagnosis')) return BY_URL.get(url('us-core-condition-encounter-diagnosis'));
      return BY_URL.get(url('us-core-condition-problems-health-concerns'));
    case 'DiagnosticReport':
      return BY_URL.get(url(hasCoding(resource, 'category', 'http://terminology.hl7.org/CodeSystem/v2-0074', 'LAB') ? 'us-core-diagnosticreport-lab' : 'us-core-diagnosticreport-note'));
    default:
      return US_CORE_PROFILES.find((p) => p.resourceType === type && p.parent === undefined);
  }
}

/** The covered profiles a resource is checked against, most specific first, with their parents. */
export function usCoreProfilesFor(resource: unknown): UsCoreProfile[] {
  if (!isObject(resource)) return [];
  const meta = resource['meta'];
  const declared = isObject(meta) && Array.isArray(meta['profile']) ? (meta['profile'] as unknown[]) : [];
  // A canonical may carry a version (`...us-core-patient|9.0.0`); the rules are version-independent.
  let chosen = declared
    .map((p) => (typeof p === 'string' ? BY_URL.get(p.split('|')[0] ?? '') : undefined))
    .filter((p): p is UsCoreProfile => p !== undefined && p.resourceType === resource['resourceType']);
  if (chosen.length === 0) {
    const inferred = inferredProfile(resource);
    chosen = inferred === undefined ? [] : [inferred];
  }
  const out: UsCoreProfile[] = [];
  for (let p of chosen) {
    for (;;) {
      if (!out.includes(p)) out.push(p);
      const parent = p.parent === undefined ? undefined : BY_URL.get(p.parent);
      if (parent === undefined) break;
      p = parent;
    }
  }
  return out;
}

/** The major version of the US Core the resource declares (`...|9.0.0` -> 9), if any. */
function declaredMajor(resource: JsonObject): number | undefined {
  const meta = resource['meta'];
  const declared = isObject(meta) && Array.isArray(meta['profile']) ? (meta['profile'] as unknown[]) : [];
  for (const p of declared) {
    if (typeof p !== 'string' || !p.startsWith('http://hl7.org/fhir/us/core/')) continue;
    const m = /\|(\d+)\./.exec(p);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return undefined;
}

/** Checks one rule; issues are located at the element (or the `at` child of it). */
function checkRule(resource: JsonObject, profile: UsCoreProfile, rule: UsCoreRule, major: number | undefined): FhirIssue[] {
  if (rule.droppedIn !== undefined && major !== undefined && major >= rule.droppedIn) return [];
  const evaluate = evaluatorFor(profile.resourceType, rule);
  const issues: FhirIssue[] = [];
  for (const { node, at } of elementsAt(resource, rule.on)) {
    let holds: boolean;
    try {
      const r = evaluate(node);
      holds = r.length === 1 && r[0] === true;
    } catch {
      // FHIRPath raises on data it cannot type (e.g. a singleton over a list): the rule fails.
      holds = false;
    }
    if (holds) continue;
    issues.push({
      severity: 'error',
      code: rule.code,
      expression: rule.at === undefined ? at : `${at}.${rule.at}`,
      diagnostics: `${profile.name} (${rule.key}): ${rule.human}`,
    });
  }
  return issues;
}

/** Validates a resource against the US Core profile(s) that apply to it. */
export function validateUsCore(resource: unknown): UsCoreValidationResult {
  const profiles = usCoreProfilesFor(resource);
  if (!isObject(resource) || profiles.length === 0) {
    const issue: FhirIssue = { severity: 'warning', code: 'not-supported', expression: 'meta.profile', diagnostics: 'no covered US Core profile applies to this resource' };
    return { ...resultOf([issue]), profiles: [] };
  }
  const major = declaredMajor(resource);
  const issues = profiles.flatMap((p) => p.rules.flatMap((rule) => checkRule(resource, p, rule, major)));
  return { ...resultOf(issues), profiles: profiles.map((p) => p.url) };
}
