import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SWITCHBOARD_V8_FLAGS, v8FlagsToSet } from './v8-flags.ts';

test('the CLI sets its V8 flags unless its command line decides them', () => {
  assert.deepEqual(v8FlagsToSet([]), [...SWITCHBOARD_V8_FLAGS]);
  assert.deepEqual(v8FlagsToSet(['--import', 'tsx', '--max-old-space-size=4096']), [...SWITCHBOARD_V8_FLAGS]);
  // Either spelling of the flag, on or off, is the operator's choice and is kept.
  assert.deepEqual(v8FlagsToSet(['--allocation-site-pretenuring']), []);
  assert.deepEqual(v8FlagsToSet(['--no-allocation-site-pretenuring']), []);
  assert.deepEqual(v8FlagsToSet(['--allocation_site_pretenuring']), []);
});

test('in a real process, the flags are set from its own command line (process.execArgv)', () => {
  // V8 has no API to read a flag back, so the child reports what it set.
  const script = `import { applySwitchboardV8Flags } from ${JSON.stringify(new URL('./v8-flags.ts', import.meta.url).href)}; process.stdout.write(JSON.stringify(applySwitchboardV8Flags()));`;
  const run = (execArgv: string[]): string[] => {
    const r = spawnSync(process.execPath, [...execArgv, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as string[];
  };
  assert.deepEqual(run([]), [...SWITCHBOARD_V8_FLAGS]);
  assert.deepEqual(run(['--allocation-site-pretenuring']), []);
});
