import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FhirResource, IndexEntry } from '../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../fhir/search-parameters.ts';
import { authAuditEvent, fhirAuditEvent, type AuditInteraction, type FhirAuditOutcome } from './audit-events.ts';
import type { AuthEventType } from './auth/auth-events.ts';
import type { Principal } from './auth/roles.ts';
import { DirectIndexer } from '../fhir/direct-indexing.ts';
import { auditEventEntries } from './audit-event-indexer.ts';

const fhirpath = new FhirSearchIndexer();
const fast = new DirectIndexer(fhirpath, { AuditEvent: auditEventEntries });
/** Fails when an AuditEvent reaches the fallback: proves the direct path handled it. */
const direct = new DirectIndexer(
  {
    index: (r) => {
      if (r.resourceType === 'AuditEvent') throw new Error('fell back to FHIRPath');
      return fhirpath.index(r);
    },
  },
  { AuditEvent: auditEventEntries },
);

/** As the store keeps it: id and meta set. */
const stored = (event: FhirResource, n: number): FhirResource => ({ ...event, id: `ae${n}`, meta: { versionId: '1', lastUpdated: '2026-03-01T09:00:00.123Z' } });
const sorted = (entries: IndexEntry[]): string[] => entries.map((e) => JSON.stringify(e, Object.keys(e).sort())).sort();

const client: Principal = { kind: 'client', subject: 'lab-app', clientId: 'lab-app', roles: [], scopes: ['system/*.rs'], via: 'token' };
const user: Principal = { kind: 'user', subject: 'u-17', username: 'dr.who', roles: ['reviewer'], via: 'session' };
const userViaClient: Principal = { kind: 'user', subject: 'u-18', clientId: 'portal', roles: [], scopes: ['user/*.rs'], via: 'token' };

function events(): FhirResource[] {
  const out: FhirResource[] = [];
  const interactions: AuditInteraction[] = ['read', 'vread', 'update', 'delete', 'history-instance', 'history-type', 'history-system', 'create', 'search-type', 'search-system', 'transaction', 'batch', 'capabilities'];
  const outcomes: FhirAuditOutcome[] = [];
  for (const interaction of interactions) {
    outcomes.push({ interaction, status: 200 });
    outcomes.push({ interaction, status: 404, resourceType: 'Observation', resource: { type: 'Observation', id: 'o-1' }, patient: 'p-1' });
    outcomes.push({ interaction, status: 200, resourceType: 'Patient', resource: { type: 'Patient', id: 'p-2' }, patient: 'p-2' });
    outcomes.push({ interaction, status: 500, resourceType: 'Observation', query: 'patient=Patient/p-3&code=http://loinc.org|718-7', patient: 'p-3' });
    outcomes.push({ interaction, status: 403, resourceType: 'Condition', resource: { type: 'Condition', id: 'c.9' }, breakGlass: { reason: 'unconscious patient, ED' } });
  }
  const principals = [client, user, userViaClient, undefined];
  let i = 0;
  for (const outcome of outcomes) {
    const principal = principals[i % principals.length];
    out.push(
      fhirAuditEvent({
        requestId: `req-${i}`,
        recorded: new Date(Date.UTC(2026, 2, 1, 9, 0, 0, i)),
        principal,
        ip: i % 3 === 0 ? undefined : i % 3 === 1 ? '127.0.0.1' : '2001:db8::1',
        purposeOfUse: i % 2 === 0 ? 'TREAT' : undefined,
        outcome,
        observer: 'switchboard',
      }),
    );
    i++;
  }
  const types: AuthEventType[] = ['token.issued', 'token.refused', 'login.succeeded', 'login.failed', 'login.rate_limited', 'logout', 'password.changed', 'password.change_failed'];
  for (const type of types) {
    out.push(authAuditEvent({ type, requestId: `auth-${type}`, ip: '10.0.0.1', clientId: 'lab-app' }, 'switchboard', new Date(Date.UTC(2026, 2, 1))));
    out.push(authAuditEvent({ type, requestId: `auth2-${type}`, ip: '10.0.0.2', userId: 'u-17', code: 'SWB_ERR_AUTH_BAD_PASSWORD' }, 'switchboard', new Date(Date.UTC(2026, 2, 1))));
  }
  return out.map(stored);
}

describe('AuditEvent direct indexing', () => {
  test('gives exactly the FHIRPath indexer entries for every AuditEvent shape the server builds', () => {
    const all = events();
    assert.ok(all.length > 60);
    for (const event of all) {
      const expected = sorted(fhirpath.index(event));
      assert.ok(expected.length > 5, 'the FHIRPath indexer found entries');
      assert.deepEqual(sorted(direct.index(event)), expected, `entries of ${JSON.stringify(event)}`);
    }
  });

  test('an AuditEvent of another shape (agent.who reference, meta.tag, entity.name) is indexed by FHIRPath, entries included', () => {
    const base = events()[1] as FhirResource & { agent: Array<Record<string, unknown>>; entity: Array<Record<string, unknown>> };
    const variants: FhirResource[] = [
      { ...base, agent: [{ ...base.agent[0], who: { reference: 'Practitioner/pr-1' } }, ...base.agent.slice(1)] },
      { ...base, meta: { ...base.meta, tag: [{ system: 'urn:t', code: 'x' }] } },
      { ...base, entity: [...base.entity, { name: 'Jones' }] },
      { ...base, source: { observer: { reference: 'Device/engine-1' }, site: 'main' } },
    ];
    const params = ['agent', '_tag', 'entity-name', 'source'];
    variants.forEach((v, i) => {
      assert.throws(() => direct.index(v), /fell back/);
      const entries = fast.index(v);
      assert.deepEqual(sorted(entries), sorted(fhirpath.index(v)));
      assert.ok(entries.some((e) => e.param === params[i]), `${params[i]} indexed`);
    });
  });

  test('other resource types go to the FHIRPath indexer', () => {
    const patient: FhirResource = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Testfamily', given: ['Ann'] }], gender: 'female' };
    assert.deepEqual(sorted(fast.index(patient)), sorted(fhirpath.index(patient)));
    assert.ok(fast.index(patient).some((e) => e.param === 'family'));
  });
});
