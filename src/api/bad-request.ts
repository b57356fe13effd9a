import type { FastifyReply, FastifyRequest } from 'fastify';
import { SwitchboardError, toProblem } from '../core/errors.ts';

/**
 * A 400 naming the offending parameter or body field (the field path), as /api/v1/messages does;
 * shared by the /api/v1 route modules (operations, channel control).
 */
export class BadRequest extends Error {
  constructor(
    readonly parameter: string,
    readonly reason: string,
  ) {
    super(`${parameter} ${reason}`);
  }
}

export type ParamsRequest = FastifyRequest<{ Params: Record<string, string> }>;

/** Runs a handler, answering BadRequest as a 400 problem naming the parameter; other errors go to the app's error handler. */
export const route =
  <R>(handler: (req: ParamsRequest, reply: FastifyReply) => Promise<R>) =>
  async (req: ParamsRequest, reply: FastifyReply): Promise<R | FastifyReply> => {
    try {
      return await handler(req, reply);
    } catch (e) {
      if (!(e instanceof BadRequest)) throw e;
      const url = req.url.split('?')[0] ?? req.url;
      const error = new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: e.message });
      return reply.code(400).type('application/problem+json').send({ ...toProblem(error, url), parameter: e.parameter });
    }
  };

/** The query parameters, each given once; unknown names are refused, not ignored: a mistyped filter must not silently widen a list. */
export function queryOf(req: FastifyRequest, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
    if (!allowed.includes(name)) throw new BadRequest(name, 'is not a known parameter');
    if (typeof value !== 'string') throw new BadRequest(name, 'must be given once');
    out[name] = value;
  }
  return out;
}
