import type { FastifyReply } from 'fastify';
import type { SwitchboardError} from '../core/errors.ts';
import { toProblem } from '../core/errors.ts';

/** Sends an RFC 9457 problem document with the stable code (STYLE.md "Speak the protocol's error"). */
export function sendProblem(reply: FastifyReply, error: SwitchboardError, instance?: string): FastifyReply {
  // The instance is the path only: a query string may hold search values such as a patient id.
  return reply.code(error.httpStatus).type('application/problem+json').send(toProblem(error, instance?.split('?')[0]));
}
