import type { Command } from 'commander';
import { DEFAULT_STORE_URL, openStore } from '../store/open-store.ts';
import { out } from './cli-io.ts';

export function registerStoreCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply the store migrations (start does this too) and print the schema version')
    .option('--store <url>', 'sqlite:PATH or postgres://...', process.env['SWITCHBOARD_STORE'] ?? DEFAULT_STORE_URL)
    .action(async (opts: { store: string }) => {
      const store = await openStore(opts.store);
      try {
        out(`${store.kind} store at schema version ${store.schemaVersion}`);
      } finally {
        await store.close();
      }
    });
}
