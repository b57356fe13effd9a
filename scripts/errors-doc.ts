// Prints docs/reference/errors.md from the registry: `node --import tsx scripts/errors-doc.ts > docs/reference/errors.md`.
// The test src/core/errors.test.ts fails when the committed page and the registry disagree.
import { ErrorCodes } from '../src/core/errors.ts';

export function renderErrorsDoc(): string {
  const lines = [
    '# Error codes',
    '',
    'Every error Switchboard reports carries one of these stable codes. A code is never reused once',
    'retired. The failure class decides what the engine does next: `transient` is retried with backoff',
    'and jitter, `ambiguous` (the far side may have acted) goes to review unless the delivery is',
    'idempotent, `permanent` goes to the exception queue with its payload kept.',
    '',
    'At the edges the code travels in the protocol\'s own error: an HL7 ACK carries it in ERR-5, a FHIR',
    'answer in an OperationOutcome, `/api/v1` in a problem document (`code`).',
    '',
    'This page is generated from `src/core/errors.ts` by `scripts/errors-doc.ts`.',
    '',
    '| code | HTTP | class | message |',
    '| --- | --- | --- | --- |',
  ];
  for (const [code, def] of Object.entries(ErrorCodes)) {
    lines.push(`| \`${code}\` | ${def.httpStatus} | ${def.failureClass} | ${def.message.replace(/\|/g, '\\|')} |`);
  }
  lines.push('', '## Retired codes', '', 'None yet.', '');
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(renderErrorsDoc());
