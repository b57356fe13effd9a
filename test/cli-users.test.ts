import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { verifyPassword } from '../src/api/auth/passwords.ts';
import { openStore } from '../src/store/open-store.ts';
import { runCli, tempDir } from './cli-helpers.ts';

test('users add gives a new user a one-time password that verifies and must be changed; list shows roles, never secrets; bad input exits 2', async () => {
  const store = `sqlite:${join(tempDir('swb-users-cli-'), 'store.db')}`;
  const added = await runCli(['users', 'add', 'Dr.Jones', '--role', 'reviewer', '--store', store]);
  assert.equal(added.code, 0, added.stderr);
  const password = /\n\s+(\S+)\s*$/.exec(added.stdout)?.[1] ?? '';
  assert.match(password, /^\S{24}$/);

  const opened = await openStore(store);
  try {
    const user = await opened.identity.getUserByUsername('dr.jones');
    assert.ok(user !== undefined, 'the username is normalized as login does');
    assert.deepEqual(user.roles, ['reviewer']);
    assert.equal(user.mustChangePassword, true);
    assert.equal(await verifyPassword(password, user.passwordHash), true);
  } finally {
    await opened.close();
  }

  const listed = await runCli(['users', 'list', '--store', store]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /^dr\.jones\s+reviewer\s+must-change-password$/m);
  assert.ok(!listed.stdout.includes(password));

  const again = await runCli(['users', 'add', 'dr.jones', '--role', 'auditor', '--store', store]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /SWB_ERR_CONFIG_INVALID.*already exists/);
  const badRole = await runCli(['users', 'add', 'someone', '--role', 'superuser', '--store', store]);
  assert.equal(badRole.code, 2);
  assert.match(badRole.stderr, /superuser is not a role/);
});
