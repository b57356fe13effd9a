import type { Command } from 'commander';
import { addUser } from '../api/auth/bootstrap.ts';
import { SwitchboardError } from '../core/errors.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open-store.ts';
import { out } from './cli-io.ts';

/**
 * People who use the console and `/api/v1` (src/api/auth/roles.ts): `switchboard users add` gives
 * a new user a one-time password, printed once, that must be changed at first login.
 */
export function registerUsersCommands(program: Command): void {
  const users = program.command('users').description('people who log in to the console and /api/v1');
  users
    .command('add <username>')
    .description('add a user with a one-time password (printed once; changed at first login)')
    .requiredOption('--role <role...>', 'admin, operator, reviewer (a clinician: approves and signs write-backs), auditor, read-only')
    .option('--store <url>', 'sqlite:PATH or postgres://...', process.env['SWITCHBOARD_STORE'] ?? DEFAULT_STORE_URL)
    .action(async (username: string, opts: { role: string[]; store: string }) => {
      const store = await openStore(opts.store);
      try {
        const added = await addUser(store.identity, { username, roles: opts.role });
        if (added.kind === 'exists') throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: 'username', reason: `${added.username} already exists` });
        out(`Added "${added.username}" (${opts.role.join(', ')}). One-time password (shown once; it must be changed at first login):\n  ${added.password}`);
      } finally {
        await store.close();
      }
    });
  users
    .command('list')
    .description('list users: name, roles, disabled, must change password (no secrets)')
    .option('--store <url>', 'sqlite:PATH or postgres://...', process.env['SWITCHBOARD_STORE'] ?? DEFAULT_STORE_URL)
    .action(async (opts: { store: string }) => {
      const store = await openStore(opts.store);
      try {
        for (const u of await store.identity.listUsers()) out(`${u.username.padEnd(24)} ${u.roles.join(',').padEnd(24)}${u.disabled ? ' disabled' : ''}${u.mustChangePassword ? ' must-change-password' : ''}`);
      } finally {
        await store.close();
      }
    });
}
