import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { parseMessage } from './hl7-message.ts';

// Invariant 7: a datatype error names the path and the rule, never the value (a birth date, a result).
test('datatype errors locate the field without quoting the value', () => {
  const m = parseMessage('MSH|^~\\&|||||20240101||ORU^R01|1|P|2.5.1\rPID|1||1||||19991345\rOBX|1|NM|X||7.2.9|||||F\rOBX|2|SN|X||=>^1|||||F\rOBX|3|TS|X||1999-12-01');
  const cases: Array<[string, 'TS' | 'NM' | 'SN', string]> = [
    ['PID-7', 'TS', '19991345'],
    ['OBX-5', 'NM', '7.2.9'],
    ['OBX(2)-5', 'SN', '=>'],
    ['OBX(3)-5', 'TS', '1999-12-01'],
  ];
  for (const [path, type, value] of cases) {
    const p = path.replace('(2)', '[2]').replace('(3)', '[3]');
    assert.throws(
      () => m.read(p, type),
      (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_HL7_BAD_VALUE' && e.message.includes(p) && !e.message.includes(value),
      `${path} ${type}`,
    );
  }
});
