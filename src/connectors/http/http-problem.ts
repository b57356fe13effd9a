import type { ServerResponse } from 'node:http';
import { toProblem, type SwitchboardError } from '../../core/errors.ts';

/**
 * Writes an RFC 9457 problem document with the stable code (STYLE.md "Speak the protocol's error
 * at the edge"); the same shape as src/api/problem.ts, which connectors may not import.
 */
export function writeProblem(res: ServerResponse, error: SwitchboardError, headers: Readonly<Record<string, string>> = {}, extra: Readonly<Record<string, unknown>> = {}): void {
  const body = JSON.stringify({ ...toProblem(error), ...extra });
  res.writeHead(error.httpStatus, { ...headers, 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
