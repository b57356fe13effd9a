import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { findChannelTests, runChannelTestFile } from '../engine/channel-test-runner.ts';
import { describeError, err, out } from './cli-io.ts';

/**
 * `switchboard test [DIR]`: runs every channel test file (`<channel>_test.yaml`) under DIR offline.
 * Exit 0: every case passed; 1: some failed; 2: usage or config error (a test file or channel
 * that does not load, no test files).
 */
export async function runTestCommand(dir: string): Promise<number> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch {
    err(`SWB_ERR_CLI_USAGE: ${dir} is not a directory`);
    return 2;
  }
  const files = await findChannelTests(dir);
  if (files.length === 0) {
    err(`SWB_ERR_CLI_USAGE: no channel test files (*_test.yaml) under ${dir}`);
    return 2;
  }
  let passed = 0;
  let failed = 0;
  let broken = 0;
  for (const file of files) {
    const result = await runChannelTestFile(file);
    if (result.error !== undefined) {
      broken++;
      err(`ERROR ${relative(dir, file) || file}: ${describeError(result.error)}`);
      continue;
    }
    for (const c of result.cases) {
      if (c.failures.length === 0) {
        passed++;
        out(`ok ${c.channel}: ${c.name}`);
      } else {
        failed++;
        out(`FAIL ${c.channel}: ${c.name}: ${c.failures.join('; ')}`);
      }
    }
  }
  out(`${passed} passed, ${failed} failed${broken > 0 ? `, ${broken} test file(s) did not load` : ''}`);
  return broken > 0 ? 2 : failed > 0 ? 1 : 0;
}

export function registerTestCommand(program: Command): void {
  program
    .command('test')
    .description('run channel tests (<channel>_test.yaml beside <channel>.yaml) offline; exit 1 if a case fails, 2 on a config error')
    .argument('[dir]', 'where to look for *_test.yaml, recursively', '.')
    .action(async (dir: string) => {
      process.exitCode = await runTestCommand(dir);
    });
}
