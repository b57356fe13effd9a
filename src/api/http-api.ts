import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { isSwitchboardError, SwitchboardError, toProblem } from '../core/errors.ts';
import { newCorrelationId } from '../core/ids.ts';
import { parseBatch } from '../hl7v2/index.ts';
import { validateMessage } from '../hl7v2/hl7-validator.ts';
import { formatLocation } from '../hl7v2/hl7-parse-error.ts';
import { sendProblem } from './problem.ts';

/** What the API can tell about the MLLP listener it sits beside (no message bodies: ids only). */
export interface ListenerStatus {
  readonly listening: boolean;
  readonly port: number | undefined;
  readonly tls: boolean;
  readonly connections: number;
  readonly received: number;
  readonly recent: () => readonly RecentMessage[];
}

/** A summary of a received message: identifiers, never content (ARCHITECTURE.md invariant 7). */
export interface RecentMessage {
  readonly receivedAt: string;
  readonly controlId: string;
  readonly type: string;
  readonly version: string;
  readonly bytes: number;
  readonly ack: string;
  readonly connectionId: string;
  readonly errorCode?: string;
}

export interface HttpApiOptions {
  readonly registry: Registry;
  readonly listener?: ListenerStatus;
  /** Largest request body accepted (bytes). */
  readonly bodyLimit?: number;
}

/**
 * The HTTP surface that exists so far: health, Prometheus metrics, and HL7 utilities under
 * `/api/v1`. Every error is a problem document with a stable code; request logs carry ids only.
 */
export function buildHttpApi(options: HttpApiOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 10 * 1024 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-correlation-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : newCorrelationId();
    },
  });
  // HL7 arrives as text: accept text/plain and the registered x-application/hl7-v2+er7 type.
  app.addContentTypeParser(['text/plain', 'x-application/hl7-v2+er7', 'application/hl7-v2'], { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-correlation-id', req.id);
  });

  app.setNotFoundHandler((req, reply) => sendProblem(reply, new SwitchboardError('SWB_ERR_HTTP_NOT_FOUND', { method: req.method, url: req.url.split('?')[0] }), req.url));
  app.setErrorHandler((error, req, reply) => {
    if (isSwitchboardError(error)) return sendProblem(reply, error, req.url);
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const bad = new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: error instanceof Error ? error.message : 'unreadable request' });
      return reply.code(status).type('application/problem+json').send({ ...toProblem(bad, req.url), status });
    }
    return sendProblem(reply, new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: String(req.id) }), req.url);
  });

  app.get('/healthz', async () => {
    const l = options.listener;
    return {
      status: 'ok',
      mllp: l === undefined ? null : { listening: l.listening, port: l.port, tls: l.tls, connections: l.connections, received: l.received },
    };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.type(options.registry.contentType);
    return options.registry.metrics();
  });

  const bodyText = (body: unknown): string => {
    if (typeof body !== 'string' || body.length === 0) {
      throw new SwitchboardError('SWB_ERR_HL7_EMPTY', {});
    }
    return body;
  };

  app.post('/api/v1/hl7/parse', async (req) => {
    const batch = parseBatch(bodyText(req.body));
    const messages = batch.messages.map((m) => m.toJSON());
    return messages.length === 1 ? messages[0] : { messages };
  });

  app.post('/api/v1/hl7/validate', async (req) => {
    const batch = parseBatch(bodyText(req.body));
    return {
      messages: batch.messages.map((m, i) => {
        const r = validateMessage(m);
        return { message: i + 1, controlId: m.controlId, valid: r.valid, structure: r.structure ?? null, version: r.version, issues: r.issues.map((x) => ({ ...x, where: formatLocation(x.location) })) };
      }),
    };
  });

  app.get('/api/v1/listener/messages', async (req) => {
    const limitRaw = (req.query as Record<string, string | undefined>)['limit'];
    const limit = Math.min(Math.max(Number.parseInt(limitRaw ?? '50', 10) || 50, 1), 500);
    const recent = options.listener?.recent() ?? [];
    return { items: recent.slice(-limit).reverse() };
  });

  return app;
}
