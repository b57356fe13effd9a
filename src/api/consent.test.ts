import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { isSwitchboardError } from '../core/errors.ts';
import type { FhirResource, SearchQuery, SearchResult } from '../core/ports/resource-store.ts';
import { fhirAuditEvent } from './audit-events.ts';
import type { Principal } from './auth/roles.ts';
import { breakGlassReason, createConsentEnforcement, evaluateConsents, isPrivacyConsentFor, type ConsentQuestion } from './consent.ts';

const now = new Date('2026-06-01T12:00:00Z');
const app1: Principal = { kind: 'client', subject: 'app1', clientId: 'app1', roles: [], scopes: ['system/*.rs'], via: 'token' };
const app2: Principal = { kind: 'client', subject: 'app2', clientId: 'app2', roles: [], scopes: ['system/*.rs'], via: 'token' };
const doctor: Principal = { kind: 'user', subject: 'u-7', username: 'doc', roles: ['reviewer'], via: 'session' };
const viewer: Principal = { kind: 'user', subject: 'u-8', username: 'view', roles: ['read-only'], via: 'session' };

const ask = (over: Partial<ConsentQuestion> = {}): ConsentQuestion => ({ patient: 'pa', principal: app1, purpose: undefined, resourceType: 'Observation', action: 'read', now, ...over });

function consent(id: string, provision: Record<string, unknown>, over: Record<string, unknown> = {}): FhirResource {
  return {
    resourceType: 'Consent',
    id,
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: 'Patient/pa' },
    provision,
    ...over,
  };
}
const device = (id: string): Record<string, unknown> => ({ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: `Device/${id}` } });
const purpose = (code: string): Record<string, unknown> => ({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code });

test('no Consent, or none that applies: permit (the opt-out model)', () => {
  assert.deepEqual(evaluateConsents([], ask()), { decision: 'permit' });
  const other = consent('c1', { type: 'deny' }, { patient: { reference: 'Patient/pb' } });
  assert.deepEqual(evaluateConsents([other], ask()), { decision: 'permit' });
});

test('only active patient-privacy Consents of the patient count', () => {
  assert.equal(isPrivacyConsentFor(consent('c1', { type: 'deny' }), 'pa'), true);
  assert.equal(isPrivacyConsentFor(consent('c1', { type: 'deny' }, { status: 'inactive' }), 'pa'), false);
  assert.equal(isPrivacyConsentFor(consent('c1', { type: 'deny' }, { scope: { coding: [{ code: 'research' }] } }), 'pa'), false);
  assert.equal(evaluateConsents([consent('c1', { type: 'deny' }, { status: 'rejected' })], ask()).decision, 'permit');
});

test('a deny for one actor stops that actor only, and names the Consent', () => {
  const c = consent('c-deny', { type: 'deny', actor: [device('app1')] });
  assert.deepEqual(evaluateConsents([c], ask()), { decision: 'deny', consent: 'c-deny' });
  assert.equal(evaluateConsents([c], ask({ principal: app2 })).decision, 'permit');
  const byIdentifier = consent('c-id', { type: 'deny', actor: [{ reference: { identifier: { system: 'urn:switchboard:user', value: 'u-7' } } }] });
  assert.equal(evaluateConsents([byIdentifier], ask({ principal: doctor })).decision, 'deny');
  assert.equal(evaluateConsents([byIdentifier], ask({ principal: viewer })).decision, 'permit');
  const practitioner = consent('c-pr', { type: 'deny', actor: [{ reference: { reference: 'Practitioner/u-8' } }] });
  assert.equal(evaluateConsents([practitioner], ask({ principal: viewer })).decision, 'deny');
});

test('a purpose-specific deny blocks that purpose, not another; an undeclared purpose fails closed', () => {
  const c = consent('c-mkt', { type: 'permit', provision: [{ type: 'deny', purpose: [purpose('HMARKT')] }] });
  assert.equal(evaluateConsents([c], ask({ purpose: 'HMARKT' })).decision, 'deny');
  assert.equal(evaluateConsents([c], ask({ purpose: 'TREAT' })).decision, 'permit');
  assert.equal(evaluateConsents([c], ask({ purpose: undefined })).decision, 'deny');
  // A permit limited to a purpose does not apply when none is declared.
  const p = consent('c-p', { type: 'deny', provision: [{ type: 'permit', purpose: [purpose('TREAT')] }] });
  assert.equal(evaluateConsents([p], ask({ purpose: 'TREAT' })).decision, 'permit');
  assert.equal(evaluateConsents([p], ask({ purpose: undefined })).decision, 'deny');
});

test('the most specific provision decides: a permit for one actor inside a deny', () => {
  const c = consent('c-nest', { type: 'deny', provision: [{ type: 'permit', actor: [device('app2')] }] });
  assert.deepEqual(evaluateConsents([c], ask()), { decision: 'deny', consent: 'c-nest' });
  assert.equal(evaluateConsents([c], ask({ principal: app2 })).decision, 'permit');
  // Three levels: a deny of Observation for app2 inside the permit.
  const deeper = consent('c-3', { type: 'deny', provision: [{ type: 'permit', actor: [device('app2')], provision: [{ type: 'deny', class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }] }] }] });
  assert.equal(evaluateConsents([deeper], ask({ principal: app2 })).decision, 'deny');
  assert.equal(evaluateConsents([deeper], ask({ principal: app2, resourceType: 'Patient' })).decision, 'permit');
});

test('deny wins over permit at the same level and across Consents', () => {
  const siblings = consent('c-s', { type: 'deny', provision: [{ type: 'permit', actor: [device('app1')] }, { type: 'deny', actor: [device('app1')] }] });
  assert.equal(evaluateConsents([siblings], ask()).decision, 'deny');
  const permit = consent('a-permit', { type: 'permit' });
  const deny = consent('b-deny', { type: 'deny' });
  assert.deepEqual(evaluateConsents([permit, deny], ask()), { decision: 'deny', consent: 'b-deny' });
  assert.deepEqual(evaluateConsents([permit], ask()), { decision: 'permit', consent: 'a-permit' });
});

test('class, action and period narrow a provision', () => {
  const cls = consent('c-cls', { type: 'deny', class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }] });
  assert.equal(evaluateConsents([cls], ask()).decision, 'deny');
  assert.equal(evaluateConsents([cls], ask({ resourceType: 'Patient' })).decision, 'permit');
  const action = consent('c-act', { type: 'deny', action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }] });
  assert.equal(evaluateConsents([action], ask()).decision, 'deny');
  assert.equal(evaluateConsents([action], ask({ action: 'write' })).decision, 'permit');
  const past = consent('c-past', { type: 'deny', period: { start: '2020-01-01', end: '2021-01-01' } });
  assert.equal(evaluateConsents([past], ask()).decision, 'permit');
  const current = consent('c-now', { type: 'deny', period: { start: '2026-01-01' } });
  assert.equal(evaluateConsents([current], ask()).decision, 'deny');
  // provision.data is not evaluated here: a deny with it applies (fail closed), a permit does not.
  const data = consent('c-data', { type: 'deny', provision: [{ type: 'permit', data: [{ meaning: 'instance', reference: { reference: 'Observation/1' } }] }] });
  assert.equal(evaluateConsents([data], ask()).decision, 'deny');
});

test('X-Break-Glass needs a reason of 1..500 characters', () => {
  assert.equal(breakGlassReason(undefined), undefined);
  assert.equal(breakGlassReason(' unconscious in ED '), 'unconscious in ED');
  for (const bad of ['', '   ', 'x'.repeat(501)]) {
    assert.throws(() => breakGlassReason(bad), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_BREAK_GLASS_REASON');
  }
});

function fakeRequest(principal: Principal | undefined, headers: Record<string, string> = {}): FastifyRequest {
  return { principal, headers } as unknown as FastifyRequest;
}

test('the guard: reads and writes of a denied patient refused, others pass; break-glass reads only, for permitted roles', async () => {
  const stored = [consent('c-deny', { type: 'deny', actor: [device('app1')] }), consent('c-all', { type: 'deny' }, { patient: { reference: 'Patient/pz' } })];
  let searches = 0;
  const store = {
    search: async (_type: string, query: SearchQuery): Promise<SearchResult> => {
      searches++;
      assert.ok(query.conditions.length >= 2, 'by patient and status');
      return { resources: stored, included: [] };
    },
  };
  const enforcement = createConsentEnforcement({ now: () => now });
  const obsA: FhirResource = { resourceType: 'Observation', id: 'o1', subject: { reference: 'Patient/pa' } };
  const obsB: FhirResource = { resourceType: 'Observation', id: 'o2', subject: { reference: 'Patient/pb' } };
  const guard = enforcement.guard(fakeRequest(app1));
  await assert.rejects(guard.check(store, obsA, 'read'), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_DENIED' && e.message.includes('c-deny'));
  await assert.rejects(guard.check(store, obsA, 'write'), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_DENIED');
  await guard.check(store, obsB, 'read');
  assert.deepEqual(await guard.filter(store, [obsA, obsB]), [obsB]);
  await assert.rejects(guard.checkPatient(store, 'pa', 'Observation', 'read'));
  // Memoized within the request: pa was loaded once, pb once.
  assert.equal(searches, 2);

  const glass = enforcement.guard(fakeRequest(doctor, { 'x-break-glass': 'emergency' }));
  assert.equal(glass.breakGlass, 'emergency');
  await glass.check(store, { ...obsA, subject: { reference: 'Patient/pz' } }, 'read');
  await assert.rejects(glass.check(store, { ...obsA, subject: { reference: 'Patient/pz' } }, 'write'), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_DENIED');
  assert.throws(() => enforcement.guard(fakeRequest(viewer, { 'x-break-glass': 'emergency' })), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_BREAK_GLASS_FORBIDDEN');
  assert.throws(() => enforcement.guard(fakeRequest(doctor, { 'x-break-glass': '' })), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_BREAK_GLASS_REASON');
  // Configurable: only admins.
  const strict = createConsentEnforcement({ breakGlassRoles: ['admin'] });
  assert.throws(() => strict.guard(fakeRequest(doctor, { 'x-break-glass': 'emergency' })), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_BREAK_GLASS_FORBIDDEN');
});

test('Consent resources are an admin\'s only', () => {
  const enforcement = createConsentEnforcement({});
  const admin: Principal = { kind: 'user', subject: 'u-1', roles: ['admin'], via: 'session' };
  enforcement.authorize(fakeRequest(admin), { interaction: 'read', resourceType: 'Consent' });
  enforcement.authorize(fakeRequest(app1), { interaction: 'read', resourceType: 'Observation' });
  assert.throws(() => enforcement.authorize(fakeRequest(app1), { interaction: 'search', resourceType: 'Consent' }), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_ADMIN_ONLY');
  assert.throws(() => enforcement.authorize(fakeRequest(doctor), { interaction: 'create', resourceType: 'Consent' }), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_ADMIN_ONLY');
});

test('a break-glass AuditEvent carries purposeOfUse BTG and the reason', () => {
  const e = fhirAuditEvent({
    requestId: 'corr-1',
    recorded: now,
    principal: doctor,
    purposeOfUse: 'ETREAT',
    outcome: { interaction: 'read', status: 200, resourceType: 'Patient', resource: { type: 'Patient', id: 'pa' }, patient: 'pa', breakGlass: { reason: 'unconscious' } },
    observer: 'switchboard',
  }) as unknown as { agent: Array<{ requestor: boolean; purposeOfUse?: Array<{ coding: Array<{ code: string }> }> }>; entity: Array<{ detail?: Array<{ type: string; valueString: string }> }> };
  const requestor = e.agent.find((a) => a.requestor);
  assert.deepEqual(requestor?.purposeOfUse?.map((p) => p.coding[0]?.code), ['ETREAT', 'BTG']);
  assert.deepEqual(e.entity[0]?.detail, [{ type: 'break-glass-reason', valueString: 'unconscious' }]);
});

test('the shared cache: a mark given with the read (useMark) stands for writeMark; a new mark empties the cache; a plain check asks writeMark once per request', async () => {
  const stored = [consent('c-deny', { type: 'deny', actor: [device('app1')] })];
  let searches = 0;
  let marks = 0;
  let mark = '1:0';
  const canonical = {
    writeMark: async (type: string): Promise<string> => {
      assert.equal(type, 'Consent');
      marks++;
      return mark;
    },
    search: async (): Promise<SearchResult> => {
      searches++;
      return { resources: stored, included: [] };
    },
  };
  const enforcement = createConsentEnforcement({ store: canonical, now: () => now });

  // A read by id: the routes hand the guard the mark read with the resource; the guard asks nothing more.
  const first = enforcement.guard(fakeRequest(app1));
  assert.equal(first.markType, 'Consent');
  first.useMark?.('1:0');
  await assert.rejects(first.checkPatient(canonical, 'pa', 'Patient', 'read'), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONSENT_DENIED');
  assert.deepEqual([marks, searches], [0, 1]);
  // The next request with the same mark: from the cache, no search.
  const second = enforcement.guard(fakeRequest(app1));
  second.useMark?.('1:0');
  await assert.rejects(second.checkPatient(canonical, 'pa', 'Patient', 'read'));
  assert.deepEqual([marks, searches], [0, 1]);
  // A Consent written since (the mark moved): searched again, and the new answer applies at once.
  stored.length = 0;
  const third = enforcement.guard(fakeRequest(app1));
  third.useMark?.('2:0');
  await third.checkPatient(canonical, 'pa', 'Patient', 'read');
  assert.deepEqual([marks, searches], [0, 2]);
  // Without a mark given (a search, a write): writeMark is asked, once per request.
  mark = '2:0';
  const fourth = enforcement.guard(fakeRequest(app1));
  await fourth.checkPatient(canonical, 'pa', 'Observation', 'read');
  await fourth.check(canonical, { resourceType: 'Observation', id: 'o1', subject: { reference: 'Patient/pa' } }, 'read');
  assert.deepEqual([marks, searches], [1, 2]);
  // Over another store (a Bundle's open transaction), the shared cache and the given mark are not used.
  const tx = { search: canonical.search };
  const fifth = enforcement.guard(fakeRequest(app1));
  fifth.useMark?.('2:0');
  await fifth.checkPatient(tx, 'pa', 'Patient', 'read');
  assert.deepEqual([marks, searches], [1, 3]);
  // Without a store to mark, the guard takes no mark.
  assert.equal(createConsentEnforcement({}).guard(fakeRequest(app1)).markType, undefined);
});
