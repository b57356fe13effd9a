// First: V8 flags the process sets for itself (src/cli/v8-flags.ts).
import './apply-v8-flags.ts';
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isSwitchboardError } from '../core/errors.ts';
import { describeError, err } from './cli-io.ts';
import { registerConvertCommand } from './convert-command.ts';
import { registerDemoCommands } from './demo-command.ts';
import { registerUsersCommands } from './users-command.ts';
import { registerHl7Commands } from './hl7-commands.ts';
import { registerMessagesCommands } from './messages-commands.ts';
import { registerTestCommand } from './test-command.ts';
import { registerMllpCommands } from './mllp-commands.ts';
import { registerOpsCommands } from './ops-commands.ts';
import { registerPolicyCommand } from './policy-command.ts';
import { registerStartCommand } from './start-command.ts';
import { registerStoreCommands } from './store-commands.ts';
import { registerSimCommands } from './sim-commands.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command();
program
  .name('switchboard')
  .description('Switchboard: an HL7 v2 / FHIR R4 integration engine')
  .version(pkg.version)
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  // Usage errors exit 2, so that scripts can tell them from a failed check (exit 1).
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2));

registerHl7Commands(program);
registerMllpCommands(program);
registerStartCommand(program);
registerStoreCommands(program);
registerMessagesCommands(program);
registerTestCommand(program);
registerOpsCommands(program);
registerConvertCommand(program);
registerSimCommands(program);
registerPolicyCommand(program);
registerDemoCommands(program);
registerUsersCommands(program);

const SETUP_ERRORS = new Set(['SWB_ERR_CLI_USAGE', 'SWB_ERR_CONFIG_INVALID', 'SWB_ERR_IO_READ_FAILED', 'SWB_ERR_STORE_BAD_URL']);

program.parseAsync(process.argv).catch((e: unknown) => {
  err(describeError(e));
  process.exitCode = isSwitchboardError(e) && SETUP_ERRORS.has(e.code) ? 2 : 1;
});
