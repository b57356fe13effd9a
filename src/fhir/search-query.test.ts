import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSwitchboardError, type ErrorCode } from '../core/errors.ts';
import type { SearchQuery } from '../core/ports/resource-store.ts';
import { parseConditionalQuery, parseSearchQuery } from './search-query.ts';

const parse = (type: string, qs: string, handling: 'strict' | 'lenient' = 'strict'): SearchQuery => parseSearchQuery(type, new URLSearchParams(qs), { handling }).query;

function throwsCode(fn: () => unknown, code: ErrorCode, mustNotMention?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isSwitchboardError(error), String(error));
    assert.equal(error.code, code);
    if (mustNotMention !== undefined) assert.ok(!error.message.includes(mustNotMention), `the message must not carry the searched value: ${error.message}`);
    return true;
  });
}

describe('parseSearchQuery', () => {
  test('token forms: code, system|code, |code, system|, escapes, comma = OR, repeat = AND, :not, :text', () => {
    assert.deepEqual(parse('Patient', 'identifier=urn:mrn|1\\,2,|X,urn:other|&identifier=Y').conditions, [
      { kind: 'token', param: 'identifier', not: false, values: [{ system: 'urn:mrn', code: '1,2' }, { system: null, code: 'X' }, { system: 'urn:other' }] },
      { kind: 'token', param: 'identifier', not: false, values: [{ code: 'Y' }] },
    ]);
    assert.deepEqual(parse('Patient', 'gender:not=male').conditions, [{ kind: 'token', param: 'gender', not: true, values: [{ code: 'male' }] }]);
    assert.deepEqual(parse('Observation', 'code:text=Héart').conditions, [{ kind: 'token-text', param: 'code', values: ['heart'] }]);
    assert.deepEqual(parse('Patient', '_id=a,b').conditions, [{ kind: 'token', param: '_id', not: false, values: [{ code: 'a' }, { code: 'b' }] }]);
    throwsCode(() => parse('Patient', 'identifier=a|b|c'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Patient', 'gender:exact=male'), 'SWB_ERR_FHIR_INVALID_SEARCH');
  });

  test('string modifiers and :missing on every type', () => {
    assert.deepEqual(parse('Patient', 'family=Sm&given:exact=Ann&name:contains=nn').conditions, [
      { kind: 'string', param: 'family', match: 'prefix', values: ['Sm'] },
      { kind: 'string', param: 'given', match: 'exact', values: ['Ann'] },
      { kind: 'string', param: 'name', match: 'contains', values: ['nn'] },
    ]);
    assert.deepEqual(parse('Patient', 'birthdate:missing=true&gender:missing=false').conditions, [
      { kind: 'missing', param: 'birthdate', paramType: 'date', missing: true },
      { kind: 'missing', param: 'gender', paramType: 'token', missing: false },
    ]);
    throwsCode(() => parse('Patient', 'gender:missing=maybe'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Patient', 'family:not=x'), 'SWB_ERR_FHIR_INVALID_SEARCH');
  });

  test('date, number and quantity prefixes with precision ranges', () => {
    const [date] = parse('Observation', 'date=ge2024-03,lt2024-03-02T10:00:00Z').conditions;
    assert.deepEqual(date, {
      kind: 'date',
      param: 'date',
      values: [
        { prefix: 'ge', low: Date.parse('2024-03-01T00:00:00Z'), high: Date.parse('2024-04-01T00:00:00Z') - 1 },
        { prefix: 'lt', low: Date.parse('2024-03-02T10:00:00Z'), high: Date.parse('2024-03-02T10:00:00Z') + 999 },
      ],
    });
    for (const prefix of ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']) {
      const [c] = parse('Observation', `date=${prefix}2024`).conditions;
      assert.equal(c?.kind === 'date' ? c.values[0]?.prefix : undefined, prefix);
    }
    assert.deepEqual(parse('Observation', 'value-quantity=gt5.4|http://unitsofmeasure.org|mg,100').conditions, [
      {
        kind: 'quantity',
        param: 'value-quantity',
        values: [
          { prefix: 'gt', value: 5.4, low: 5.4 - 0.05, high: 5.4 + 0.05, system: 'http://unitsofmeasure.org', code: 'mg' },
          { prefix: 'eq', value: 100, low: 99.5, high: 100.5 },
        ],
      },
    ]);
    assert.deepEqual(parse('RiskAssessment', 'probability=le0.5').conditions, [{ kind: 'number', param: 'probability', values: [{ prefix: 'le', value: 0.5, low: 0.45, high: 0.55 }] }]);
    throwsCode(() => parse('Patient', 'birthdate=1980-13-45'), 'SWB_ERR_FHIR_INVALID_SEARCH', '1980-13-45');
    throwsCode(() => parse('Observation', 'value-quantity=lots'), 'SWB_ERR_FHIR_INVALID_SEARCH', 'lots');
  });

  test('references: id, Type/id, :Type, absolute URL; uri :below', () => {
    assert.deepEqual(parse('Observation', 'subject=Patient/1,2&subject:Patient=3&patient=http://x/fhir/Patient/4').conditions, [
      { kind: 'reference', param: 'subject', values: [{ type: 'Patient', id: '1' }, { id: '2' }] },
      { kind: 'reference', param: 'subject', values: [{ type: 'Patient', id: '3' }] },
      { kind: 'reference', param: 'patient', values: [{ url: 'http://x/fhir/Patient/4' }] },
    ]);
    throwsCode(() => parse('Observation', 'subject:Medication=1'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    assert.deepEqual(parse('Patient', '_profile:below=http://hl7.org/fhir/us/core').conditions, [{ kind: 'uri', param: '_profile', match: 'below', values: ['http://hl7.org/fhir/us/core'] }]);
  });

  test('chaining: explicit type, a type inferred when only one target has the parameter, ambiguity refused', () => {
    assert.deepEqual(parse('Observation', 'subject:Patient.identifier=urn:mrn|1').conditions, [
      { kind: 'chain', param: 'subject', targetType: 'Patient', condition: { kind: 'token', param: 'identifier', not: false, values: [{ system: 'urn:mrn', code: '1' }] } },
    ]);
    assert.deepEqual(parse('Observation', 'patient.family:exact=Ünal').conditions, [
      { kind: 'chain', param: 'patient', targetType: 'Patient', condition: { kind: 'string', param: 'family', match: 'exact', values: ['Ünal'] } },
    ]);
    assert.deepEqual(parse('DiagnosticReport', 'result.subject:Patient.gender=female').conditions, [
      {
        kind: 'chain',
        param: 'result',
        targetType: 'Observation',
        condition: { kind: 'chain', param: 'subject', targetType: 'Patient', condition: { kind: 'token', param: 'gender', not: false, values: [{ code: 'female' }] } },
      },
    ]);
    throwsCode(() => parse('Observation', 'subject.identifier=x'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Observation', 'subject:Patient.nope=x'), 'SWB_ERR_FHIR_UNKNOWN_PARAMETER');
    throwsCode(() => parse('Observation', 'status.x=1'), 'SWB_ERR_FHIR_INVALID_SEARCH');
  });

  test('result parameters: _count, _sort, _include, _revinclude, _summary, _elements, _total, _cursor', () => {
    const query = parse(
      'Observation',
      '_count=5000&_sort=-date,code,_lastUpdated&_include=Observation:subject:Patient&_revinclude=Provenance:target&_summary=count&_elements=id,code&_total=accurate&_cursor=abc&_format=json',
    );
    assert.deepEqual(query, {
      conditions: [],
      count: 1000,
      sort: [
        { param: 'date', paramType: 'date', descending: true },
        { param: 'code', paramType: 'token', descending: false },
        { param: '_lastUpdated', paramType: 'date', descending: false },
      ],
      include: [{ sourceType: 'Observation', param: 'subject', targetType: 'Patient' }],
      revinclude: [{ sourceType: 'Provenance', param: 'target' }],
      summary: 'count',
      elements: ['id', 'code'],
      total: 'accurate',
      cursor: 'abc',
    });
    throwsCode(() => parse('Observation', '_include=Patient:organization'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Observation', '_include=Observation:status'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Observation', '_include:iterate=Observation:subject'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Observation', '_sort=nope'), 'SWB_ERR_FHIR_UNKNOWN_PARAMETER');
    throwsCode(() => parse('Observation', '_count=-1'), 'SWB_ERR_FHIR_INVALID_SEARCH');
    throwsCode(() => parse('Observation', '_summary=everything'), 'SWB_ERR_FHIR_INVALID_SEARCH');
  });

  test('unknown parameters: strict throws SWB_ERR_FHIR_UNKNOWN_PARAMETER (400); lenient leaves them out and names them', () => {
    throwsCode(() => parse('Patient', 'shoe-size=44'), 'SWB_ERR_FHIR_UNKNOWN_PARAMETER', '44');
    const lenient = parseSearchQuery('Patient', new URLSearchParams('shoe-size=44&gender=male&hat:exact=x'), { handling: 'lenient' });
    assert.deepEqual(lenient.ignored, ['shoe-size', 'hat:exact']);
    assert.deepEqual(lenient.query.conditions, [{ kind: 'token', param: 'gender', not: false, values: [{ code: 'male' }] }]);
  });

  test('conditional queries (If-None-Exist, conditional update) keep only conditions and need one', () => {
    assert.deepEqual(parseConditionalQuery('Patient', '?identifier=urn:mrn|1&_count=3'), {
      conditions: [{ kind: 'token', param: 'identifier', not: false, values: [{ system: 'urn:mrn', code: '1' }] }],
    });
    throwsCode(() => parseConditionalQuery('Patient', '_count=1'), 'SWB_ERR_FHIR_INVALID_SEARCH');
  });
});
