import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Observation, Practitioner } from '@medplum/fhirtypes';
import { convert, one, PID, ref } from './lab-test-kit.ts';

describe('NTE -> Annotation', () => {
  it('maps the text (FT escapes decoded), author and time', () => {
    const { bundle } = convert('ORU^R01', [PID, 'OBR|1||F1|X^x^L', 'OBX|1|ST|A^a^L||v||||||F', 'NTE|1|L|Hemolyzed\\.br\\sample|RE^Remark^HL70364|55^Nurse^Nina|202403051200']);
    const note = one<Observation>(bundle, 'Observation').note?.[0];
    assert.equal(note?.text, 'Hemolyzed\nsample');
    assert.equal(note?.authorReference?.reference, ref(one<Practitioner>(bundle, 'Practitioner')));
    assert.equal(note?.time, '2024-03-05T12:00:00-05:00');
  });

  it('an NTE without text makes no Annotation and is reported with a reason', () => {
    const { bundle, report } = convert('ORU^R01', [PID, 'OBR|1||F1|X^x^L', 'OBX|1|ST|A^a^L||v||||||F', 'NTE|1|L']);
    assert.equal(one<Observation>(bundle, 'Observation').note, undefined);
    const nte = report.segments.find((s) => s.segment === 'NTE');
    assert.equal(nte?.status, 'unmapped');
    assert.match(nte?.reason ?? '', /NTE-3/);
  });

  it('reports NTE-2 and NTE-4 as skipped with their reasons, not unmapped', () => {
    const { report } = convert('ORU^R01', [PID, 'OBR|1||F1|X^x^L', 'NTE|1|L|text|RE^Remark^HL70364']);
    const nte = report.segments.find((s) => s.segment === 'NTE');
    assert.deepEqual(nte?.fields.map((f) => [f.field, f.status]), [
      ['NTE-1', 'skipped'],
      ['NTE-2', 'skipped'],
      ['NTE-3', 'mapped'],
      ['NTE-4', 'skipped'],
    ]);
  });
});
