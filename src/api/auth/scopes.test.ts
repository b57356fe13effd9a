import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allows, formatScope, narrowScopes, parseScope, type ScopeAccess } from './scopes.ts';

describe('SMART scopes', () => {
  test('parse table: v2, v1 translated, and what is not a clinical scope', () => {
    const table: [string, string | undefined][] = [
      ['system/Observation.rs', 'system/Observation.rs'],
      ['user/*.cruds', 'user/*.cruds'],
      ['patient/Observation.r', 'patient/Observation.r'],
      ['patient/Patient.c', 'patient/Patient.c'],
      ['system/Encounter.cud', 'system/Encounter.cud'],
      ['system/Observation.read', 'system/Observation.rs'],
      ['user/Patient.write', 'user/Patient.cud'],
      ['patient/*.*', 'patient/*.cruds'],
      ['system/Observation.sr', undefined], // v2 letters must be in c r u d s order
      ['system/Observation.rr', undefined],
      ['system/Observation.x', undefined],
      ['system/Observation.', undefined],
      ['system/observation.rs', undefined], // resource types start upper case
      ['launch/Patient.rs', undefined],
      ['openid', undefined],
      ['fhirUser', undefined],
      ['system/Observation.rs?category=laboratory', undefined], // query restrictions not enforced, so refused
    ];
    for (const [input, expected] of table) {
      const parsed = parseScope(input);
      assert.equal(parsed === undefined ? undefined : formatScope(parsed), expected, input);
    }
  });

  test('allows: interaction x permission letter, type match, wildcard, and the patient compartment', () => {
    const read = (resourceType: string, extra: Partial<ScopeAccess> = {}): ScopeAccess => ({ interaction: 'read', resourceType, ...extra });
    const rows: [string, ScopeAccess, { patient?: string }, boolean][] = [
      ['system/Observation.rs', read('Observation'), {}, true],
      ['system/Observation.rs', { interaction: 'vread', resourceType: 'Observation' }, {}, true],
      ['system/Observation.rs', { interaction: 'search', resourceType: 'Observation' }, {}, true],
      ['system/Observation.rs', { interaction: 'create', resourceType: 'Observation' }, {}, false],
      ['system/Observation.rs', read('Patient'), {}, false],
      ['system/Observation.s', read('Observation'), {}, false],
      ['system/Observation.r', { interaction: 'search', resourceType: 'Observation' }, {}, false],
      ['system/Observation.r', { interaction: 'history', resourceType: 'Observation' }, {}, true],
      ['system/Observation.r', { interaction: 'history', resourceType: 'Observation', level: 'type' }, {}, false],
      ['system/Observation.s', { interaction: 'history', resourceType: 'Observation', level: 'type' }, {}, true],
      ['user/*.cruds', { interaction: 'delete', resourceType: 'Encounter' }, {}, true],
      ['user/*.cud', { interaction: 'update', resourceType: 'Encounter' }, {}, true],
      ['user/*.cud', read('Encounter'), {}, false],
      ['system/Observation.read', { interaction: 'search', resourceType: 'Observation' }, {}, true],
      ['system/Observation.write', { interaction: 'update', resourceType: 'Observation' }, {}, true],
      ['patient/Observation.r', read('Observation', { compartment: { patient: 'p1' } }), { patient: 'p1' }, true],
      ['patient/Observation.r', read('Observation', { compartment: { patient: 'p2' } }), { patient: 'p1' }, false],
      ['patient/Observation.r', read('Observation'), { patient: 'p1' }, false],
      ['patient/Observation.r', read('Observation', { compartment: { patient: 'p1' } }), {}, false],
      ['', read('Observation'), {}, false],
      ['openid fhirUser', read('Observation'), {}, false],
      ['system/Patient.r system/Observation.s', { interaction: 'search', resourceType: 'Observation' }, {}, true],
    ];
    for (const [scopes, access, context, expected] of rows) {
      assert.equal(allows(scopes, access, context), expected, `${scopes} / ${JSON.stringify(access)} / ${JSON.stringify(context)}`);
    }
    const parsed = parseScope('system/Observation.rs');
    assert.ok(parsed !== undefined);
    assert.equal(allows([parsed], read('Observation')), true, 'parsed scopes are accepted too');
  });

  test('a frozen list (a verified token\'s scopes) is parsed once and answers as the same list unfrozen; a list that can change is read as it is', () => {
    const read = (resourceType: string): ScopeAccess => ({ interaction: 'read', resourceType });
    const lists = [['system/Observation.rs'], ['patient/*.read', 'openid'], ['user/Patient.cruds', 'system/Encounter.s', 'bogus'], ['system/*.cruds'], []];
    const accesses: ScopeAccess[] = [
      read('Observation'),
      read('Patient'),
      { interaction: 'search', resourceType: 'Encounter' },
      { interaction: 'create', resourceType: 'Patient' },
      { interaction: 'read', resourceType: 'Observation', compartment: { patient: 'p1' } },
    ];
    for (const list of lists) {
      const frozen = Object.freeze([...list]);
      for (const access of accesses) {
        for (const context of [{}, { patient: 'p1' }, { patient: 'p2' }]) {
          // Twice: the second answer comes from the parsed list.
          for (let i = 0; i < 2; i++) assert.equal(allows(frozen, access, context), allows([...list], access, context), `${list.join(' ')} ${access.interaction} ${access.resourceType} ${JSON.stringify(context)}`);
        }
      }
    }
    const mutable = ['system/Patient.r'];
    assert.equal(allows(mutable, read('Observation')), false);
    mutable.push('system/Observation.r');
    assert.equal(allows(mutable, read('Observation')), true);
  });

  test('narrowScopes: intersection of asked and allowed, per context; plain scopes only verbatim', () => {
    const rows: [string[], string[], string[]][] = [
      [['system/Observation.cruds'], ['system/Observation.rs'], ['system/Observation.rs']],
      [['system/*.rs'], ['system/Observation.cruds', 'system/Patient.r'], ['system/Observation.rs', 'system/Patient.r']],
      [['system/Encounter.r'], ['system/*.rs'], ['system/Encounter.r']],
      [['system/Encounter.r'], ['system/Observation.rs'], []],
      [['user/Observation.r'], ['system/Observation.rs'], []],
      [['system/Observation.c'], ['system/Observation.rs'], []],
      [['openid', 'system/Patient.read'], ['openid', 'system/Patient.rs'], ['openid', 'system/Patient.rs']],
      [['fhirUser'], ['openid'], []],
      [['system/Patient.r', 'system/Patient.r'], ['system/Patient.r'], ['system/Patient.r']],
    ];
    for (const [asked, allowed, expected] of rows) assert.deepEqual(narrowScopes(asked, allowed), expected, `${asked.join(' ')} within ${allowed.join(' ')}`);
  });
});
