import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateResource } from '../fhir/fhir-validator.ts';
import { authAuditEvent, fhirAuditEvent, outcomeCode, purposeOfUse } from './audit-events.ts';

const recorded = new Date('2026-03-01T10:00:00Z');

test('outcome from the HTTP status class (FHIR R4 valueset-audit-event-outcome)', () => {
  assert.equal(outcomeCode(200), '0');
  assert.equal(outcomeCode(304), '0');
  assert.equal(outcomeCode(403), '4');
  assert.equal(outcomeCode(503), '8');
});

test('X-Purpose-Of-Use takes a v3-ActReason code only', () => {
  assert.equal(purposeOfUse('TREAT'), 'TREAT');
  assert.equal(purposeOfUse('http://terminology.hl7.org/CodeSystem/v3-ActReason|ETREAT'), 'ETREAT');
  assert.equal(purposeOfUse('treat me please'), undefined);
  assert.equal(purposeOfUse(undefined), undefined);
});

test('a FHIR interaction event is a valid R4 AuditEvent with user and client agents, the user the requestor', () => {
  const e = fhirAuditEvent({
    requestId: 'corr-9',
    recorded,
    principal: { kind: 'user', subject: 'u1', username: 'alice', clientId: 'dash', roles: ['reviewer'], via: 'session' },
    ip: '10.0.0.7',
    purposeOfUse: 'TREAT',
    outcome: { interaction: 'search-type', status: 200, resourceType: 'Observation', patient: 'p1', query: 'patient=p1&code=1234-5' },
    observer: 'switchboard',
  });
  assert.deepEqual(validateResource(e).issues.filter((i) => i.severity === 'error'), []);
  const agents = e['agent'] as Array<{ requestor: boolean; who?: { identifier?: { value?: string } }; purposeOfUse?: unknown }>;
  const requestors = agents.filter((a) => a.requestor);
  assert.equal(requestors.length, 1);
  assert.equal(requestors[0]?.who?.identifier?.value, 'u1');
  assert.equal(e['action'], 'E');
  const entities = e['entity'] as Array<{ role?: { code?: string }; query?: string }>;
  assert.equal(Buffer.from(entities.find((x) => x.role?.code === '24')?.query ?? '', 'base64').toString(), 'Observation?patient=p1&code=1234-5');
});

test('no query entity outside searches; a logout is 110114/110123', () => {
  const read = fhirAuditEvent({ requestId: 'c', recorded, outcome: { interaction: 'read', status: 404, resourceType: 'Patient', resource: { type: 'Patient', id: 'p2' }, query: 'x=1' }, observer: 'sb' });
  assert.equal(read['outcome'], '4');
  assert.ok(!(read['entity'] as Array<{ role?: { code?: string } }>).some((x) => x.role?.code === '24'));
  const out = authAuditEvent({ type: 'logout', requestId: 'c2', ip: '127.0.0.1', userId: 'u1' }, 'sb', recorded);
  assert.deepEqual(validateResource(out).issues.filter((i) => i.severity === 'error'), []);
  assert.equal((out['type'] as { code: string }).code, '110114');
  assert.equal((out['subtype'] as Array<{ code: string }>)[0]?.code, '110123');
});
