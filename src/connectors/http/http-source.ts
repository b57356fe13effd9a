import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SwitchboardError } from '../../core/errors.ts';
import type { InboundMessage, ReceiveResult, SourceConnector, SourceContext } from '../../engine/source-connector.ts';
import { invalid, optionalInt, optionalString, type Settings } from '../connector-settings.ts';
import { hostPort, listenHost, listenPort, onlyKnown } from '../source-settings.ts';
import { signBody } from './http-destination.ts';
import { writeProblem } from './http-problem.ts';

/**
 * An HTTP endpoint feeding a channel: `POST <path>` with one message per request, on its own
 * listener (node:http), so a channel's inbound port is separate from the API's.
 *
 * Media types (the Content-Type's parameters are ignored; the body is read as UTF-8):
 *  - `application/hl7-v2`, `x-application/hl7-v2+er7`, `text/plain`: HL7 v2 ER7. Once the channel
 *    has stored it the answer is 200 with the ACK as the body (`application/hl7-v2`) whatever its
 *    code: AA/CA, or AE/CE when the message was stored errored (resending unchanged cannot help),
 *    as HL7 over HTTP peers expect the ACK, not the status, to carry the application outcome. When
 *    no ACK is due (MSH-15 NE) the answer is 202 with the JSON below.
 *  - `application/fhir+json`, `application/json`: FHIR R4 JSON. Stored, then 202 with
 *    `{messageId, status, duplicate}` (and `errorCode` when stored errored). A body that is not a
 *    JSON object with a string `resourceType` is still stored (as `text`, what arrived is kept for
 *    the operator) and answered 400 problem JSON SWB_ERR_HTTP_SOURCE_NOT_FHIR with its messageId.
 *  - anything else: 415 problem JSON, nothing stored.
 * Transport-level refusals happen before anything is stored: 401 (bad or missing credentials),
 * 404 (another path), 405 (not POST), 413 (over `maxBodyBytes`, default 10 MiB), 415.
 * Not stored (the store failed): 503 problem JSON SWB_ERR_SOURCE_NOT_STORED with Retry-After; the
 * sender resends, which the channel's dedupe (sender + MSH-10) makes safe for HL7.
 *
 * `X-Correlation-Id` (up to 128 visible ASCII characters) becomes the message's correlation id and
 * is echoed on the response.
 *
 * Authentication (optional, one or both): `bearerToken` (`Authorization: Bearer <token>`), or
 * `hmacSecret`: header `hmacHeader` (default `X-Switchboard-Signature`) `t=<unix s>,v1=<hex
 * HMAC-SHA256("<t>.<raw body>")>` as the http destination signs, `t` within `hmacToleranceSec`
 * (default 300) of this clock. Both are compared in constant time.
 */

export interface HttpSourceSettings {
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly port: number;
  /** Default `/`. */
  readonly path?: string;
  /** Default 10 MiB. */
  readonly maxBodyBytes?: number;
  readonly bearerToken?: string;
  readonly hmacSecret?: string;
  readonly hmacHeader?: string;
  readonly hmacToleranceSec?: number;
  /** Seconds sent in Retry-After with a 503 (default 5). */
  readonly retryAfterSec?: number;
}

const KNOWN = ['host', 'port', 'path', 'maxBodyBytes', 'bearerToken', 'hmacSecret', 'hmacHeader', 'hmacToleranceSec', 'retryAfterSec'];
const HL7_TYPES = new Set(['application/hl7-v2', 'x-application/hl7-v2+er7', 'text/plain']);
const JSON_TYPES = new Set(['application/fhir+json', 'application/json']);
const CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;
const DEFAULT_MAX_BODY = 10 * 1024 * 1024;

interface Resolved {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly maxBodyBytes: number;
  readonly bearerToken: string | undefined;
  readonly hmacSecret: string | undefined;
  readonly hmacHeader: string;
  readonly hmacToleranceSec: number;
  readonly retryAfterSec: number;
}

function resolve(settings: Settings, path: string): Resolved {
  onlyKnown(settings, path, KNOWN);
  const urlPath = optionalString(settings, path, 'path') ?? '/';
  if (!urlPath.startsWith('/') || urlPath.includes('?') || urlPath.includes('#')) throw invalid(`${path}.path`, 'must be a URL path starting with /, without query');
  return {
    host: listenHost(settings, path),
    port: listenPort(settings, path),
    path: urlPath,
    maxBodyBytes: optionalInt(settings, path, 'maxBodyBytes', 1) ?? DEFAULT_MAX_BODY,
    bearerToken: optionalString(settings, path, 'bearerToken'),
    hmacSecret: optionalString(settings, path, 'hmacSecret'),
    hmacHeader: (optionalString(settings, path, 'hmacHeader') ?? 'X-Switchboard-Signature').toLowerCase(),
    hmacToleranceSec: optionalInt(settings, path, 'hmacToleranceSec', 1) ?? 300,
    retryAfterSec: optionalInt(settings, path, 'retryAfterSec', 0) ?? 5,
  };
}

/** Constant-time string comparison (hashing first makes the lengths equal). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

class BodyTooLarge extends Error {}

/** Reads the body, refusing more than `limit` bytes without buffering them. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error: Error | undefined): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (error === undefined) resolveBody(Buffer.concat(chunks, size));
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        finish(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish(undefined));
    req.once('error', (error) => finish(error));
    req.once('close', () => finish(new Error('request closed')));
  });
}

function isFhirResource(text: string): { ok: true } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'not a JSON object' };
  return typeof (value as Record<string, unknown>)['resourceType'] === 'string' ? { ok: true } : { ok: false, reason: 'no string resourceType' };
}

export class HttpSource implements SourceConnector {
  readonly kind = 'http';
  readonly #o: Resolved;
  #server: http.Server | undefined;
  readonly #inFlight = new Set<Promise<void>>();

  constructor(settings: Settings, path = 'source.settings') {
    this.#o = resolve(settings, path);
  }

  async start(context: SourceContext): Promise<void> {
    if (this.#server !== undefined) return;
    const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, (req, res) => {
      const handling = this.#handle(context, req, res).catch(() => {
        // #handle answers every failure itself; this only guards a broken socket.
        if (!res.headersSent) writeProblem(res, new SwitchboardError('SWB_ERR_SOURCE_RECEIVE_FAILED'));
        else res.destroy();
      });
      this.#inFlight.add(handling);
      void handling.finally(() => this.#inFlight.delete(handling));
    });
    // Invariant 6: a malformed request is answered 400 by Node and closed, never thrown.
    server.on('clientError', (_error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    this.#server = server;
  }

  /** Stops accepting, waits for requests in hand to be answered, then closes every connection. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    server.closeIdleConnections();
    await Promise.allSettled([...this.#inFlight]);
    server.closeAllConnections();
    await closed;
  }

  describe(): string {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    const port = address?.port ?? this.#o.port;
    return `http://${hostPort(this.#o.host, port)}${this.#o.path}`;
  }

  async #handle(context: SourceContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const o = this.#o;
    const receivedAt = new Date();
    const rawCorrelation = header(req, 'x-correlation-id');
    const correlationId = rawCorrelation !== undefined && CORRELATION_ID.test(rawCorrelation) ? rawCorrelation : undefined;
    const echo: Record<string, string> = correlationId === undefined ? {} : { 'x-correlation-id': correlationId };
    // Refusals before the body is read close the connection: the unread body must not be parsed
    // as the next request.
    const refuse = (error: SwitchboardError, headers: Record<string, string> = {}): void => {
      writeProblem(res, error, { ...echo, ...headers, connection: 'close' });
    };

    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (pathname !== o.path) return refuse(new SwitchboardError('SWB_ERR_HTTP_NOT_FOUND', { method: req.method ?? '', url: pathname }));
    if (req.method !== 'POST') return refuse(new SwitchboardError('SWB_ERR_HTTP_SOURCE_METHOD', { method: req.method ?? '' }), { allow: 'POST' });
    if (o.bearerToken !== undefined) {
      const auth = header(req, 'authorization') ?? '';
      const token = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
      if (token === undefined || !sameSecret(token, o.bearerToken)) {
        return refuse(new SwitchboardError('SWB_ERR_HTTP_SOURCE_UNAUTHORIZED', { reason: token === undefined ? 'no bearer token' : 'wrong bearer token' }), { 'www-authenticate': 'Bearer' });
      }
    }
    const mediaType = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
    const isHl7 = HL7_TYPES.has(mediaType);
    if (!isHl7 && !JSON_TYPES.has(mediaType)) return refuse(new SwitchboardError('SWB_ERR_HTTP_SOURCE_MEDIA_TYPE', { type: mediaType === '' ? '(none)' : mediaType }));
    const declared = Number(header(req, 'content-length') ?? 'NaN');
    if (Number.isFinite(declared) && declared > o.maxBodyBytes) return refuse(new SwitchboardError('SWB_ERR_HTTP_SOURCE_TOO_LARGE', { limit: o.maxBodyBytes }));

    let body: Buffer;
    try {
      body = await readBody(req, o.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLarge) return refuse(new SwitchboardError('SWB_ERR_HTTP_SOURCE_TOO_LARGE', { limit: o.maxBodyBytes }));
      res.destroy();
      return;
    }
    const content = body.toString('utf8');
    if (o.hmacSecret !== undefined) {
      const reason = this.#checkSignature(header(req, o.hmacHeader), content);
      if (reason !== undefined) return refuse(new SwitchboardError('SWB_ERR_HTTP_SOURCE_UNAUTHORIZED', { reason }));
    }

    const fhirCheck = isHl7 ? ({ ok: true } as const) : isFhirResource(content);
    const inbound: InboundMessage = {
      content,
      // What is not FHIR is still kept, as text, for the operator to see (ALWAYS store what arrived).
      contentType: isHl7 ? 'hl7v2' : fhirCheck.ok ? 'fhir+json' : 'text',
      source: `http://${hostPort(req.socket.remoteAddress ?? 'unknown', req.socket.remotePort ?? 0)}`,
      receivedAt,
      ...(correlationId === undefined ? {} : { correlationId }),
    };
    let result: ReceiveResult;
    try {
      result = await context.receive(inbound);
    } catch {
      writeProblem(res, new SwitchboardError('SWB_ERR_SOURCE_RECEIVE_FAILED'), { ...echo, 'retry-after': String(o.retryAfterSec) });
      return;
    }
    if (result.kind === 'rejected') {
      writeProblem(res, new SwitchboardError('SWB_ERR_SOURCE_NOT_STORED', { reason: result.errorCode }), { ...echo, 'retry-after': String(o.retryAfterSec) }, { errorCode: result.errorCode });
      return;
    }
    const summary = { messageId: result.messageId, status: result.status, duplicate: result.duplicate, ...(result.errorCode === undefined ? {} : { errorCode: result.errorCode }) };
    if (!fhirCheck.ok) {
      writeProblem(res, new SwitchboardError('SWB_ERR_HTTP_SOURCE_NOT_FHIR', { reason: fhirCheck.reason }), echo, { messageId: result.messageId });
      return;
    }
    if (isHl7 && result.ack !== undefined) {
      res.writeHead(200, { ...echo, 'content-type': 'application/hl7-v2; charset=utf-8', 'content-length': Buffer.byteLength(result.ack) });
      res.end(result.ack);
      return;
    }
    const json = JSON.stringify(summary);
    res.writeHead(202, { ...echo, 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  /** undefined when the signature is valid, else the reason (no secret or body in it). */
  #checkSignature(value: string | undefined, body: string): string | undefined {
    const secret = this.#o.hmacSecret;
    if (secret === undefined) return undefined;
    if (value === undefined) return 'no signature header';
    const t = /(?:^|,)\s*t=(\d+)/.exec(value)?.[1];
    const v1 = /(?:^|,)\s*v1=([0-9a-f]{64})/i.exec(value)?.[1];
    if (t === undefined || v1 === undefined) return 'malformed signature header';
    const seconds = Number(t);
    if (Math.abs(Date.now() / 1000 - seconds) > this.#o.hmacToleranceSec) return 'signature timestamp out of tolerance';
    const expected = signBody(secret, body, seconds);
    return sameSecret(expected, `t=${t},v1=${v1.toLowerCase()}`) ? undefined : 'signature does not match';
  }
}
