import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { API_ACTIONS, can, ROLES, type ApiAction, type Principal, type Role } from './roles.ts';
import type { FhirInteraction } from './scopes.ts';

const user = (role: Role): Principal => ({ kind: 'user', subject: `u-${role}`, roles: [role], via: 'session' });

/** The expected matrix, written out in full so that a change to roles.ts must change this too. */
const API_MATRIX: Record<ApiAction, Role[]> = {
  'channels:read': ['admin', 'operator', 'auditor', 'read-only'],
  'channels:deploy': ['admin', 'operator'],
  'messages:search': ['admin', 'operator', 'auditor', 'read-only'],
  'messages:read': ['admin', 'operator'],
  'messages:retry': ['admin', 'operator'],
  'messages:resolve': ['admin', 'operator'],
  'exceptions:read': ['admin', 'operator', 'read-only'],
  'exceptions:resolve': ['admin', 'operator'],
  'replay:run': ['admin', 'operator'],
  'writeback:read': ['admin', 'operator', 'reviewer', 'auditor'],
  'writeback:review': ['reviewer'],
  'writeback:propose': ['admin', 'operator'],
  'writeback:operate': ['admin', 'operator'],
  'audit:read': ['admin', 'auditor'],
  'metrics:read': ['admin', 'operator', 'reviewer', 'auditor', 'read-only'],
  'users:read': ['admin', 'auditor'],
  'users:manage': ['admin'],
  'clients:manage': ['admin'],
};

const READS: FhirInteraction[] = ['read', 'vread', 'search', 'history'];
const WRITES: FhirInteraction[] = ['create', 'update', 'delete'];

describe('roles and can()', () => {
  test('every role x every /api/v1 action', () => {
    assert.deepEqual(Object.keys(API_MATRIX).sort(), [...API_ACTIONS].sort(), 'the matrix covers every action');
    for (const action of API_ACTIONS) {
      for (const role of ROLES) {
        assert.equal(can(user(role), action), API_MATRIX[action].includes(role), `${role} ${action}`);
      }
    }
  });

  test('every role x FHIR interaction on a clinical type and on AuditEvent (session: roles decide)', () => {
    for (const role of ROLES) {
      for (const interaction of [...READS, ...WRITES]) {
        const write = WRITES.includes(interaction);
        const clinical = can(user(role), { fhir: { interaction, resourceType: 'Observation' } });
        const audit = can(user(role), { fhir: { interaction, resourceType: 'AuditEvent' } });
        const expectClinical = role === 'admin' || (!write && ['operator', 'reviewer', 'read-only'].includes(role));
        const expectAudit = role === 'admin' || (!write && role === 'auditor');
        assert.equal(clinical, expectClinical, `${role} ${interaction} Observation`);
        assert.equal(audit, expectAudit, `${role} ${interaction} AuditEvent`);
      }
    }
  });

  test('a client token: scopes alone decide FHIR; no roles, no /api/v1', () => {
    const client: Principal = { kind: 'client', subject: 'lab', clientId: 'lab', roles: [], scopes: ['system/Observation.rs'], via: 'token' };
    assert.equal(can(client, { fhir: { interaction: 'search', resourceType: 'Observation' } }), true);
    assert.equal(can(client, { fhir: { interaction: 'create', resourceType: 'Observation' } }), false);
    assert.equal(can(client, { fhir: { interaction: 'read', resourceType: 'Patient' } }), false);
    assert.equal(can(client, 'messages:search'), false);
    assert.equal(can({ ...client, roles: ['operator'] }, 'messages:search'), true, 'a client given a role');
    assert.equal(can({ ...client, roles: ['read-only'] }, { fhir: { interaction: 'search', resourceType: 'Observation' } }), true);
  });

  test('a user token: both scopes and role must allow', () => {
    const p: Principal = { kind: 'user', subject: 'u1', roles: ['read-only'], scopes: ['user/*.cruds'], via: 'token' };
    assert.equal(can(p, { fhir: { interaction: 'read', resourceType: 'Observation' } }), true);
    assert.equal(can(p, { fhir: { interaction: 'update', resourceType: 'Observation' } }), false, 'role forbids');
    assert.equal(can({ ...p, roles: ['admin'], scopes: ['user/Patient.r'] }, { fhir: { interaction: 'read', resourceType: 'Observation' } }), false, 'scope forbids');
  });

  test('no roles: nothing; a pending password change: nothing', () => {
    const none: Principal = { kind: 'user', subject: 'u', roles: [], via: 'session' };
    assert.equal(API_ACTIONS.some((a) => can(none, a)), false);
    assert.equal(can(none, { fhir: { interaction: 'read', resourceType: 'Patient' } }), false);
    const pending: Principal = { ...user('admin'), mustChangePassword: true };
    assert.equal(API_ACTIONS.some((a) => can(pending, a)), false);
  });
});
