import type { Command } from 'commander';
import { parseBatch, type Hl7Batch } from '../hl7v2/index.ts';
import { describeError, err, out } from './cli-io.ts';
import { expandInputs, readInput } from './message-files.ts';
import { roundtripFile } from './roundtrip.ts';

function parseFileOrFail(file: string): Hl7Batch | undefined {
  try {
    return parseBatch(readInput(file));
  } catch (e) {
    err(`${file}: ${describeError(e)}`);
    process.exitCode = 1;
    return undefined;
  }
}

export function registerHl7Commands(program: Command): void {
  const hl7 = program.command('hl7').description('work with HL7 v2 (ER7) messages');

  hl7
    .command('parse')
    .description('print the parsed tree as JSON; exit 1 with a located error on bad input')
    .argument('<file>', 'an ER7 message, batch or file')
    .action((file: string) => {
      const batch = parseFileOrFail(file);
      if (batch === undefined) return;
      const messages = batch.messages;
      const wrapped = batch.fileHeader !== undefined || batch.batches.some((b) => b.header !== undefined || b.trailer !== undefined) || batch.fileTrailer !== undefined;
      if (messages.length === 1 && !wrapped) {
        out(JSON.stringify((messages[0] as (typeof messages)[number]).toJSON(), null, 2));
      } else {
        out(JSON.stringify({ messages: messages.map((m) => m.toJSON()) }, null, 2));
      }
    });

  hl7
    .command('validate')
    .description('validate message structure; exit 1 if invalid')
    .argument('<file>', 'an ER7 message, batch or file')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const batch = parseFileOrFail(file);
      if (batch === undefined) return;
      const { validateMessage } = await import('../hl7v2/hl7-validator.ts');
      const reports = batch.messages.map((m, i) => ({ message: i + 1, controlId: m.controlId, ...validateMessage(m) }));
      if (opts.json === true) out(JSON.stringify(reports, null, 2));
      else {
        for (const r of reports) {
          out(`message ${r.message} (MSH-10 ${r.controlId}) ${r.structure ?? 'unknown structure'} v${r.version}: ${r.valid ? 'valid' : 'INVALID'}`);
          for (const issue of r.issues) out(`  ${issue.severity} ${issue.code} ${issue.where}: ${issue.message}`);
        }
      }
      if (reports.some((r) => !r.valid)) process.exitCode = 1;
    });

  hl7
    .command('roundtrip')
    .description('check serialize(parse(x)) == x for every message (segment terminators normalised)')
    .argument('<inputs...>', 'files or directories')
    .action((inputs: string[]) => {
      let passed = 0;
      let failed = 0;
      for (const file of expandInputs(inputs)) {
        for (const r of roundtripFile(file, readInput(file))) {
          if (r.ok) passed++;
          else {
            failed++;
            out(`FAIL ${r.file}${r.message > 0 ? ` message ${r.message}` : ''}: ${r.reason ?? ''}`);
          }
        }
      }
      out(`${passed} passed, ${failed} failed`);
      if (failed > 0) process.exitCode = 1;
    });
}
