import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SwitchboardError } from '../core/errors.ts';
import { asSwitchboardError, entryError, FhirApiError, outcomeOf, statusLine, SWB_ERROR_SYSTEM } from './fhir-outcome.ts';

test('an error becomes an OperationOutcome with the FHIR issue code and our code in details.coding', () => {
  const cases: Array<[SwitchboardError, string]> = [
    [new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type: 'Patient', id: '1' }), 'not-found'],
    [new SwitchboardError('SWB_ERR_FHIR_GONE', { type: 'Patient', id: '1' }), 'deleted'],
    [new SwitchboardError('SWB_ERR_FHIR_VERSION_CONFLICT', { type: 'Patient', id: '1', current: '2', expected: '1' }), 'conflict'],
    [new SwitchboardError('SWB_ERR_FHIR_MULTIPLE_MATCHES', { type: 'Patient' }), 'multiple-matches'],
    [new SwitchboardError('SWB_ERR_AUTH_SCOPE_INSUFFICIENT', { interaction: 'read', resourceType: 'Patient' }), 'forbidden'],
    [new SwitchboardError('SWB_ERR_AUTH_REQUIRED', {}), 'login'],
    [new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: 'r1' }), 'exception'],
  ];
  for (const [error, code] of cases) {
    const oo = outcomeOf(error);
    assert.equal(oo.resourceType, 'OperationOutcome');
    assert.equal(oo.issue[0]?.code, code, error.code);
    assert.deepEqual(oo.issue[0]?.details?.coding, [{ system: SWB_ERROR_SYSTEM, code: error.code }]);
    assert.equal(oo.issue[0]?.diagnostics, error.message);
  }
});

test('validation issues are located; in a Bundle they move under Bundle.entry[n].resource', () => {
  const e = new FhirApiError('SWB_ERR_FHIR_VALIDATION_FAILED', { type: 'Observation', count: 1 }, [{ severity: 'error', code: 'code-invalid', expression: 'Observation.status', diagnostics: 'not in the value set' }]);
  assert.deepEqual(outcomeOf(e).issue[1]?.expression, ['Observation.status']);
  const moved = entryError(e, 3, 'POST Observation');
  assert.equal(moved.code, 'SWB_ERR_FHIR_VALIDATION_FAILED');
  assert.equal(moved.httpStatus, 422);
  const expressions = outcomeOf(moved).issue.flatMap((i) => i.expression ?? []);
  assert.deepEqual(expressions, ['Bundle.entry[3]', 'Bundle.entry[3].resource.status']);
  const plain = entryError(new SwitchboardError('SWB_ERR_FHIR_NOT_FOUND', { type: 'Patient', id: 'x' }), 0, 'DELETE Patient');
  assert.equal(plain.httpStatus, 404);
  assert.deepEqual(outcomeOf(plain).issue.flatMap((i) => i.expression ?? []), ['Bundle.entry[0]']);
});

test('an unexpected error is a 500 naming only the request id; status lines', () => {
  const e = asSwitchboardError(new Error('SELECT * FROM patients WHERE name = ZZSECRET'), 'req-9');
  assert.equal(e.httpStatus, 500);
  assert.ok(!e.message.includes('ZZSECRET'));
  assert.ok(e.message.includes('req-9'));
  assert.equal(statusLine(201), '201 Created');
  assert.equal(statusLine(422), '422 Unprocessable Entity');
});
