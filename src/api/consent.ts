// FHIR R4 Consent (consent.html, scope patient-privacy) enforced on the canonical store, and
// break-glass (issue 5 "Consent"). Two parts:
//
// - `evaluateConsents()`: pure. The active patient-privacy Consents of a patient and a question (who,
//   for what purpose, which resource type, read or write) give permit or deny, with the deciding
//   Consent's id. No Consent that applies: permit (the opt-out model: data are shared unless the
//   patient said otherwise; docs/security.md "Consent").
// - `createConsentEnforcement()`: the per-request guard the FHIR routes ask once the resource is
//   known (fhir-interactions.ts ConsentGuard), the admin-only rule for Consent resources, and the
//   X-Break-Glass check.
//
// A patient's active Consents are cached per patient when the store can say whether any Consent was
// written since (ResourceStore.writeMark, checked on every request; a read by id gets the mark with
// the resource, from the same snapshot: ResourceStore.readJsonMarked): a new or revoked Consent takes
// effect on the very next request, whether it came through the FHIR API, a channel's fhir-store
// destination or another process. Inside a transaction Bundle, and over a store without a write
// mark, they are re-read for every request (memoized within it). Nothing here logs; errors name
// Consent ids and resource types only.
import type { FastifyRequest } from 'fastify';
import { SwitchboardError } from '../core/errors.ts';
import { LruMap } from '../core/lru-map.ts';
import type { FhirResource, ResourceStore, ResourceStoreTx } from '../core/ports/resource-store.ts';
import { parseSearchQuery } from '../fhir/search-query.ts';
import { CLIENT_ID_SYSTEM, purposeOfUse, USER_ID_SYSTEM } from './audit-events.ts';
import { BREAK_GLASS_ROLES, mayBreakGlass, Role, type Principal } from './auth/roles.ts';
import { patientOf } from './fhir/fhir-audit-hook.ts';
import type { ConsentGuard, FhirAccess } from '../fhir/fhir-interactions.ts';

/**
 * A ConsentGuard that can be given the Consent write mark read along with the resource, from the
 * same snapshot (ResourceStore.readJsonMarked; the FHIR routes do it for a read by id), instead of
 * asking the store for it separately: one statement per read instead of two on SQLite.
 */
export interface MarkedConsentGuard extends ConsentGuard {
  /** Present when the guard checks a shared cache against a write mark: the type whose mark. */
  readonly markType?: string;
  /** The mark of `markType` read from the canonical store; the request's mark unless it took one already. */
  useMark?(mark: string): void;
}

// Code systems (FHIR R4 consent.html; terminology.hl7.org).
const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const ACT_REASON = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const RESOURCE_TYPES = 'http://hl7.org/fhir/resource-types';
const CONSENT_ACTION = 'http://terminology.hl7.org/CodeSystem/consentaction';

/** X-Break-Glass: the reason is required and bounded (it is stored in the AuditEvent). */
export const BREAK_GLASS_HEADER = 'x-break-glass';
export const BREAK_GLASS_MAX_REASON = 500;

export type ConsentAction = 'read' | 'write';

/** What is asked of a patient's Consents. */
export interface ConsentQuestion {
  readonly patient: string;
  readonly principal: Principal | undefined;
  /** A v3-ActReason code from X-Purpose-Of-Use (TREAT, HMARKT, ...); undefined when none was declared. */
  readonly purpose: string | undefined;
  readonly resourceType: string;
  readonly action: ConsentAction;
  readonly now: Date;
}

export type ConsentDecision = { readonly decision: 'permit'; readonly consent?: string } | { readonly decision: 'deny'; readonly consent: string };

/** A condition of a provision: holds, does not hold, or cannot be decided here. */
type Match = 'yes' | 'no' | 'unknown';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arrayOf = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);
const codings = (concepts: unknown): Json[] => arrayOf(concepts).flatMap((c) => arrayOf(c['coding']));

const PATIENT_REF = /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/;

/** An active patient-privacy Consent about this patient (consent.html: scope, status, patient). */
export function isPrivacyConsentFor(consent: FhirResource, patient: string): boolean {
  if (consent.resourceType !== 'Consent' || consent['status'] !== 'active') return false;
  const scope = isObject(consent['scope']) ? arrayOf(consent['scope']['coding']) : [];
  if (!scope.some((c) => c['code'] === 'patient-privacy' && (c['system'] === undefined || c['system'] === CONSENT_SCOPE))) return false;
  const ref = isObject(consent['patient']) ? consent['patient']['reference'] : undefined;
  return typeof ref === 'string' && PATIENT_REF.exec(ref)?.[1] === patient;
}

/**
 * provision.actor.reference against the caller. The convention (docs/security.md "Consent"): a
 * client is `Device/<client id>` or an identifier in urn:switchboard:client; a user is
 * `Practitioner/<user id>` or an identifier in urn:switchboard:user (the ids AuditEvent agents
 * carry, audit-events.ts). Any other reference (an Organization, a CareTeam) names someone the
 * server cannot place the caller in, so it does not match.
 */
function actorMatches(actors: readonly Json[], principal: Principal | undefined): Match {
  if (actors.length === 0) return 'yes';
  if (principal === undefined) return 'unknown';
  const clientId = principal.kind === 'client' ? (principal.clientId ?? principal.subject) : undefined;
  const userId = principal.kind === 'user' ? principal.subject : undefined;
  for (const actor of actors) {
    const ref = isObject(actor['reference']) ? actor['reference'] : undefined;
    if (ref === undefined) continue;
    const literal = typeof ref['reference'] === 'string' ? ref['reference'] : undefined;
    const identifier = isObject(ref['identifier']) ? ref['identifier'] : undefined;
    if (clientId !== undefined && (literal === `Device/${clientId}` || (identifier?.['system'] === CLIENT_ID_SYSTEM && identifier['value'] === clientId))) return 'yes';
    if (userId !== undefined && (literal === `Practitioner/${userId}` || (identifier?.['system'] === USER_ID_SYSTEM && identifier['value'] === userId))) return 'yes';
  }
  return 'no';
}

/** provision.purpose (Coding[], v3-ActReason) against X-Purpose-Of-Use; undeclared purpose: unknown. */
function purposeMatches(purposes: readonly Json[], purpose: string | undefined): Match {
  if (purposes.length === 0) return 'yes';
  if (purpose === undefined) return 'unknown';
  return purposes.some((c) => c['code'] === purpose && (c['system'] === undefined || c['system'] === ACT_REASON)) ? 'yes' : 'no';
}

/** provision.class (Coding[]): resource types (http://hl7.org/fhir/resource-types); other systems cannot be placed. */
function classMatches(classes: readonly Json[], resourceType: string): Match {
  if (classes.length === 0) return 'yes';
  const types = classes.filter((c) => c['system'] === RESOURCE_TYPES || c['system'] === undefined);
  if (types.some((c) => c['code'] === resourceType)) return 'yes';
  return types.length === classes.length ? 'no' : 'unknown';
}

/** provision.action (consentaction): access/use/disclose are reads; collect/correct are writes. */
function actionMatches(actions: readonly Json[], action: ConsentAction): Match {
  if (actions.length === 0) return 'yes';
  const reads = new Set(['access', 'use', 'disclose']);
  const writes = new Set(['collect', 'correct']);
  let known = true;
  for (const c of actions) {
    const code = c['system'] === undefined || c['system'] === CONSENT_ACTION ? c['code'] : undefined;
    if (typeof code !== 'string' || (!reads.has(code) && !writes.has(code))) {
      known = false;
      continue;
    }
    if ((action === 'read' ? reads : writes).has(code)) return 'yes';
  }
  return known ? 'no' : 'unknown';
}

/** provision.period (FHIR R4 datatypes.html#Period): both ends inclusive, either open. */
function periodMatches(period: unknown, now: Date): Match {
  if (!isObject(period)) return 'yes';
  const at = now.getTime();
  for (const [key, before] of [['start', true], ['end', false]] as const) {
    const text = period[key];
    if (text === undefined) continue;
    const t = typeof text === 'string' ? Date.parse(text) : Number.NaN;
    if (Number.isNaN(t)) return 'unknown';
    if (before ? at < t : at > t) return 'no';
  }
  return 'yes';
}

/**
 * Whether a provision's conditions hold. A condition that cannot be decided (an undeclared purpose,
 * a class in another code system, provision.data / securityLabel / code / dataPeriod, which are not
 * evaluated here) fails closed: a deny applies, a permit does not.
 */
function applies(provision: Json, q: ConsentQuestion, type: 'permit' | 'deny' | undefined): boolean {
  const unsupported = ['data', 'securityLabel', 'code', 'dataPeriod'].some((k) => provision[k] !== undefined);
  const matches: Match[] = [
    periodMatches(provision['period'], q.now),
    actorMatches(arrayOf(provision['actor']), q.principal),
    purposeMatches(arrayOf(provision['purpose']), q.purpose),
    classMatches(arrayOf(provision['class']), q.resourceType),
    actionMatches(codings(provision['action']), q.action),
    unsupported ? 'unknown' : 'yes',
  ];
  if (matches.includes('no')) return false;
  return !matches.includes('unknown') || type !== 'permit';
}

/**
 * consent.html#provision: a nested provision is an exception to its parent, so the deepest
 * provision that applies decides; among siblings that apply, deny wins. Undefined: nothing applies.
 */
function decideProvision(provision: Json, q: ConsentQuestion): 'permit' | 'deny' | undefined {
  const raw = provision['type'];
  const type = raw === 'permit' || raw === 'deny' ? raw : undefined;
  if (!applies(provision, q, type)) return undefined;
  const nested = arrayOf(provision['provision'])
    .map((p) => decideProvision(p, q))
    .filter((d) => d !== undefined);
  if (nested.length > 0) return nested.includes('deny') ? 'deny' : 'permit';
  return type;
}

/**
 * The decision of a patient's Consents. Across several Consents that decide, deny wins (the patient
 * said no somewhere); the first Consent by id is named, so the answer is stable. None decides: permit.
 */
export function evaluateConsents(consents: readonly FhirResource[], q: ConsentQuestion): ConsentDecision {
  let permit: string | undefined;
  const sorted = [...consents].filter((c) => isPrivacyConsentFor(c, q.patient)).sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
  for (const consent of sorted) {
    const root = consent['provision'];
    if (!isObject(root)) continue;
    const decision = decideProvision(root, q);
    if (decision === 'deny') return { decision: 'deny', consent: consent.id ?? 'unknown' };
    if (decision === 'permit') permit ??= consent.id;
  }
  return permit === undefined ? { decision: 'permit' } : { decision: 'permit', consent: permit };
}

// ---------------------------------------------------------------------------------------------
// Enforcement in the FHIR API
// ---------------------------------------------------------------------------------------------

export interface ConsentEnforcementOptions {
  /** Roles allowed to break the glass (default BREAK_GLASS_ROLES: admin, reviewer). */
  readonly breakGlassRoles?: readonly Role[];
  readonly now?: () => Date;
  /**
   * The canonical store the FHIR routes read (outside transactions): with its writeMark, patients'
   * Consents are cached across requests (at most `cachedPatients` patients, least recently used first out).
   */
  readonly store?: Pick<ResourceStore, 'writeMark'>;
  /** Default 10 000. */
  readonly cachedPatients?: number;
}

export interface ConsentEnforcement {
  /** The authorize hook's part: Consent resources are an admin's only (they decide who sees what). */
  authorize(req: FastifyRequest, access: FhirAccess): void;
  /** The guard for one request; throws when X-Break-Glass is malformed or not allowed to the caller. */
  guard(req: FastifyRequest): MarkedConsentGuard;
}

/** The reason of an X-Break-Glass header, or undefined without one; throws on a malformed one. */
export function breakGlassReason(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const reason = (Array.isArray(header) ? header.join(', ') : header).trim();
  if (reason.length < 1 || reason.length > BREAK_GLASS_MAX_REASON) throw new SwitchboardError('SWB_ERR_CONSENT_BREAK_GLASS_REASON', { max: BREAK_GLASS_MAX_REASON });
  return reason;
}

/** Patients looked up per Consent search (`patient=a,b,...`, an OR: FHIR R4 search.html#combining). */
const PATIENTS_PER_SEARCH = 50;
const CONSENT_PAGE = 1000;

/**
 * Active Consents per patient across requests, valid while the store's Consent write mark is the one
 * taken before they were read: the mark is taken first, so what is read is at least as new as the
 * mark says, and any Consent write after it changes the mark and empties the cache.
 */
class ConsentCache {
  #mark: string | undefined;
  #patients: ConsentGeneration;
  constructor(private readonly max: number) {
    this.#patients = new LruMap(max);
  }

  /** The generation for `mark` (a new, empty one when the mark moved). */
  generation(mark: string): ConsentGeneration {
    if (mark !== this.#mark) {
      this.#mark = mark;
      this.#patients = new LruMap(this.max);
    }
    return this.#patients;
  }
}

/** The active Consents per patient read under one write mark (least recently used patients out). */
type ConsentGeneration = LruMap<string, FhirResource[]>;

const DEFAULT_CACHED_PATIENTS = 10_000;

export function createConsentEnforcement(options: ConsentEnforcementOptions): ConsentEnforcement {
  const allowed = options.breakGlassRoles ?? BREAK_GLASS_ROLES;
  const now = options.now ?? ((): Date => new Date());
  const shared = options.store?.writeMark === undefined ? undefined : { store: options.store, cache: new ConsentCache(options.cachedPatients ?? DEFAULT_CACHED_PATIENTS) };

  /**
   * Active Consents of these patients into the request's map: from the shared cache when `store` is
   * the canonical store (not a Bundle's open transaction, which may hold Consent writes of its own)
   * and it has a write mark; else from the store.
   */
  async function load(store: Pick<ResourceStoreTx, 'search'>, patients: readonly string[], into: Map<string, FhirResource[]>, request: { generation?: ConsentGeneration }): Promise<void> {
    let missing = patients.filter((p) => !into.has(p));
    if (missing.length === 0) return;
    if (shared === undefined || (store as unknown) !== shared.store) {
      await search(store, missing, into);
      return;
    }
    // The mark once per request, before any read of it: every request sees the Consents as of its start.
    request.generation ??= shared.cache.generation(await (shared.store.writeMark as (type: string) => Promise<string>)('Consent'));
    const generation = request.generation;
    for (const p of missing) {
      const hit = generation.get(p);
      if (hit !== undefined) into.set(p, hit);
    }
    missing = missing.filter((p) => !into.has(p));
    if (missing.length === 0) return;
    await search(store, missing, into);
    for (const p of missing) generation.set(p, into.get(p) ?? []);
  }

  /** Active Consents of these patients (the store's `patient` and `status` index; never a scan). */
  async function search(store: Pick<ResourceStoreTx, 'search'>, patients: readonly string[], into: Map<string, FhirResource[]>): Promise<void> {
    const wanted = patients.filter((p) => !into.has(p));
    for (let i = 0; i < wanted.length; i += PATIENTS_PER_SEARCH) {
      const chunk = wanted.slice(i, i + PATIENTS_PER_SEARCH);
      for (const p of chunk) into.set(p, []);
      const params: Array<[string, string]> = [
        ['patient', chunk.map((p) => `Patient/${p}`).join(',')],
        ['status', 'active'],
        ['_count', String(CONSENT_PAGE)],
      ];
      const query = parseSearchQuery('Consent', params).query;
      let cursor: string | undefined;
      do {
        const page = await store.search('Consent', { ...query, ...(cursor === undefined ? {} : { cursor }) });
        for (const consent of page.resources) {
          const ref = isObject(consent['patient']) ? consent['patient']['reference'] : undefined;
          const id = typeof ref === 'string' ? PATIENT_REF.exec(ref)?.[1] : undefined;
          if (id !== undefined) into.get(id)?.push(consent);
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    }
  }

  /**
   * One request's Consent checks: the Consents it read, memoized, and the Consent write mark taken
   * once (its first check), so every check of the request sees the Consents as of then.
   */
  class RequestConsent implements MarkedConsentGuard {
    declare readonly breakGlass?: string;
    declare readonly markType?: string;
    readonly #consents = new Map<string, FhirResource[]>();
    readonly #request: { generation?: ConsentGeneration } = {};

    constructor(
      private readonly principal: Principal | undefined,
      private readonly reason: string | undefined,
      private readonly purpose: string | undefined,
      private readonly at: Date,
    ) {
      if (reason !== undefined) this.breakGlass = reason;
      if (shared !== undefined) this.markType = 'Consent';
    }

    useMark(mark: string): void {
      if (shared !== undefined) this.#request.generation ??= shared.cache.generation(mark);
    }

    #decide(patient: string, resourceType: string, action: ConsentAction): ConsentDecision {
      const consents = this.#consents.get(patient) ?? [];
      // No Consent of the patient: permit (what evaluateConsents answers for none), without building the question.
      if (consents.length === 0) return PERMIT;
      const decision = evaluateConsents(consents, { patient, principal: this.principal, purpose: this.purpose, resourceType, action, now: this.at });
      // Break-glass reads through a deny; a write stays refused (an emergency is a read).
      if (decision.decision === 'deny' && this.reason !== undefined && action === 'read') return { decision: 'permit', consent: decision.consent };
      return decision;
    }

    #enforce(patient: string, resourceType: string, action: ConsentAction): void {
      const decision = this.#decide(patient, resourceType, action);
      if (decision.decision === 'deny') throw new SwitchboardError('SWB_ERR_CONSENT_DENIED', { consent: decision.consent, action, resourceType });
    }

    async check(store: Pick<ResourceStoreTx, 'search'>, resource: FhirResource, action: ConsentAction): Promise<void> {
      const patient = subjectOf(resource);
      if (patient === undefined) return;
      await load(store, [patient], this.#consents, this.#request);
      this.#enforce(patient, resource.resourceType, action);
    }

    async checkPatient(store: Pick<ResourceStoreTx, 'search'>, patient: string, resourceType: string, action: ConsentAction): Promise<void> {
      if (resourceType === 'Consent') return;
      // A read by id asks once for one patient: the shared cache is looked up here, with no call of
      // load() (one promise less per read); a miss goes through load() as any other request.
      if (!this.#consents.has(patient) && shared !== undefined && (store as unknown) === shared.store) {
        this.#request.generation ??= shared.cache.generation(await (shared.store.writeMark as (type: string) => Promise<string>)('Consent'));
        const hit = this.#request.generation.get(patient);
        if (hit !== undefined) this.#consents.set(patient, hit);
      }
      if (!this.#consents.has(patient)) await load(store, [patient], this.#consents, this.#request);
      this.#enforce(patient, resourceType, action);
    }

    async filter(store: Pick<ResourceStoreTx, 'search'>, resources: readonly FhirResource[]): Promise<FhirResource[]> {
      await load(store, [...new Set(resources.map(subjectOf).filter((p) => p !== undefined))], this.#consents, this.#request);
      return resources.filter((r) => {
        const patient = subjectOf(r);
        return patient === undefined || this.#decide(patient, r.resourceType, 'read').decision === 'permit';
      });
    }
  }

  return {
    authorize(req, access) {
      if (access.resourceType !== 'Consent') return;
      if (req.principal?.roles.includes(Role.admin) === true && req.principal.mustChangePassword !== true) return;
      throw new SwitchboardError('SWB_ERR_CONSENT_ADMIN_ONLY', { interaction: access.interaction });
    },

    guard(req) {
      const principal = req.principal;
      const reason = breakGlassReason(req.headers[BREAK_GLASS_HEADER]);
      if (reason !== undefined && (principal === undefined || !mayBreakGlass(principal, allowed))) {
        throw new SwitchboardError('SWB_ERR_CONSENT_BREAK_GLASS_FORBIDDEN', { roles: allowed.join(', ') });
      }
      return new RequestConsent(principal, reason, purposeOfUse(req.headers['x-purpose-of-use']), now());
    },
  };
}

const PERMIT: ConsentDecision = Object.freeze({ decision: 'permit' });

/** The patient whose Consents govern a resource; Consent resources are governed by the admin-only rule, not by themselves. */
function subjectOf(resource: FhirResource): string | undefined {
  return resource.resourceType === 'Consent' ? undefined : patientOf(resource);
}
