import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../../core/errors.ts';
import { checkFormat, parsePrefer } from './fhir-routes.ts';

test('Prefer: return and handling, in any order, quoted or not', () => {
  assert.deepEqual(parsePrefer('return=minimal'), { return: 'minimal' });
  assert.deepEqual(parsePrefer('handling=lenient, return="OperationOutcome"'), { return: 'OperationOutcome', handling: 'lenient' });
  assert.deepEqual(parsePrefer(['return=representation', 'handling=strict']), { return: 'representation', handling: 'strict' });
  assert.deepEqual(parsePrefer('respond-async; wait=10'), {});
  assert.deepEqual(parsePrefer(undefined), {});
});

const refused = (format: string | null, accept: string | undefined): boolean => {
  try {
    checkFormat(format, accept);
    return false;
  } catch (e) {
    assert.ok(isSwitchboardError(e) && e.code === 'SWB_ERR_FHIR_FORMAT_NOT_SUPPORTED' && e.httpStatus === 406);
    return true;
  }
};

test('_format and Accept: JSON only; _format wins over Accept', () => {
  for (const f of ['json', 'application/json', 'application/fhir+json', 'application/fhir+json;charset=utf-8']) assert.equal(refused(f, undefined), false, f);
  for (const f of ['xml', 'application/fhir+xml', 'text/xml', 'html', 'ttl']) assert.equal(refused(f, undefined), true, f);
  assert.equal(refused(null, 'application/fhir+xml'), true);
  assert.equal(refused(null, 'application/fhir+xml, application/fhir+json;q=0.9'), false);
  assert.equal(refused(null, 'text/html,application/xhtml+xml,*/*;q=0.8'), false);
  assert.equal(refused('json', 'application/fhir+xml'), false);
  assert.equal(refused(null, undefined), false);
});
