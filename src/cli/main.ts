import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { describeError, err } from './cli-io.ts';
import { registerHl7Commands } from './hl7-commands.ts';
import { registerMllpCommands } from './mllp-commands.ts';
import { registerStartCommand } from './start-command.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command();
program
  .name('switchboard')
  .description('Switchboard: an HL7 v2 / FHIR R4 integration engine')
  .version(pkg.version)
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

registerHl7Commands(program);
registerMllpCommands(program);
registerStartCommand(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  err(describeError(e));
  process.exitCode = process.exitCode === undefined || process.exitCode === 0 ? 1 : process.exitCode;
});
