import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from './cli-helpers.ts';

// The README tells a newcomer to run these: they must keep passing as the schema evolves.
void test('the example channels load and their tests pass', async () => {
  const r = await runCli(['test', 'examples/channels']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\d+ passed, 0 failed$/m);
});
