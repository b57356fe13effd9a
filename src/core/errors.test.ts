import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderErrorsDoc } from '../../scripts/errors-doc.ts';
import { ErrorCodes, SwitchboardError, toProblem } from './errors.ts';

test('docs/reference/errors.md lists exactly the registry (regenerate with scripts/errors-doc.ts)', () => {
  const page = readFileSync(new URL('../../docs/reference/errors.md', import.meta.url), 'utf8');
  assert.equal(page, renderErrorsDoc());
  for (const code of Object.keys(ErrorCodes)) assert.ok(page.includes(`\`${code}\``), `${code} missing from errors.md`);
});

test('every code follows SWB_ERR_<AREA>_<WHAT> and has a class and an HTTP status', () => {
  for (const [code, def] of Object.entries(ErrorCodes)) {
    assert.match(code, /^SWB_ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/);
    assert.ok(['transient', 'ambiguous', 'permanent'].includes(def.failureClass), code);
    assert.ok(def.httpStatus >= 400 && def.httpStatus < 600, code);
  }
});

test('SwitchboardError renders its template and exposes class and status', () => {
  const e = new SwitchboardError('SWB_ERR_MLLP_ACK_TIMEOUT', { target: 'mllp://h:1', ms: 500 });
  assert.equal(e.message, 'no ACK from mllp://h:1 within 500 ms');
  assert.equal(e.failureClass, 'ambiguous');
  assert.equal(e.httpStatus, 504);
  const p = toProblem(e, '/x');
  assert.equal(p['code'], 'SWB_ERR_MLLP_ACK_TIMEOUT');
  assert.equal(p['status'], 504);
  assert.equal(p['instance'], '/x');
});
