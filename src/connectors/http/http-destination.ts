import { createHmac } from 'node:crypto';
import { SwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { DestinationConnector, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import { invalid, optionalBoolean, optionalInt, optionalString, optionalStringRecord, requiredString, type Settings } from '../connector-settings.ts';

/**
 * Sends each delivery as one HTTP request (a webhook) with Node's global `fetch`, and classifies the
 * outcome by failure class (ARCHITECTURE.md invariant 3):
 *  - 2xx: delivered; the response is the status line and the first 2 KB of the body;
 *  - 408, 425, 429, 500, 502, 503, 504 and other 5xx except 501/505: transient
 *    (SWB_ERR_HTTP_DEST_STATUS_RETRYABLE); 429 and 503 honour Retry-After, in seconds or as an
 *    HTTP-date (RFC 9110 10.2.3), as `retryAfterMs`;
 *  - any other status (3xx: redirects are not followed, a POST must not turn into a GET; other 4xx;
 *    501, 505): permanent (SWB_ERR_HTTP_DEST_STATUS);
 *  - a network error before the request left (connection refused, DNS, unreachable, connect
 *    timeout): transient (SWB_ERR_HTTP_DEST_CONNECT_FAILED);
 *  - a timeout (`timeoutMs`, SWB_ERR_HTTP_DEST_TIMEOUT), a connection reset after sending, or any
 *    other failure: ambiguous, since the far side may have acted.
 *
 * Every request carries `Idempotency-Key: <delivery.idempotencyKey>` so that a receiver can drop a
 * resent delivery (invariant 2), and `X-Correlation-Id` when the delivery has one.
 *
 * Signature: with `hmacSecret`, the header `hmacHeader` (default `X-Switchboard-Signature`) is
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the secret>`, the body being the
 * exact bytes sent (UTF-8). A receiver recomputes the HMAC over `t`, a dot and the raw body, compares
 * it in constant time, and rejects a `t` too far from its own clock to limit replays.
 *
 * Connections: by default each request asks for `Connection: close`, so no socket outlives its
 * delivery and `close()` leaves nothing open. `keepAlive: true` reuses connections from Node's
 * shared fetch pool instead (faster; idle sockets then belong to that pool, which closes them after
 * its keep-alive timeout, not to this connector).
 *
 * Error results never carry the payload; the request body is never logged.
 */

export interface HttpDestinationSettings {
  readonly url: string;
  /** Default POST. */
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Default `application/hl7-v2` for ER7 payloads, `application/json` for JSON, else `text/plain; charset=utf-8`. */
  readonly contentType?: string;
  readonly hmacSecret?: string;
  /** Default `X-Switchboard-Signature`. */
  readonly hmacHeader?: string;
  /** Time allowed for the whole exchange, request to response body (default 30 s). */
  readonly timeoutMs?: number;
  /** Reuse connections from Node's shared fetch pool (default false). */
  readonly keepAlive?: boolean;
}

/** How much of a response body is kept as the delivery's response. */
export const RESPONSE_BODY_LIMIT = 2048;

const PATH = 'destination.settings';
const METHODS = ['POST', 'PUT', 'PATCH'];
const TRANSIENT_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
/** 5xx that say the request itself cannot be served. */
const PERMANENT_5XX = new Set([501, 505]);
/**
 * Failures that happen before a request is written: DNS, routing, refused or timed-out connects.
 * Undici reports them as the `cause` of fetch's TypeError (an AggregateError when several addresses
 * were tried).
 */
const BEFORE_SEND_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

interface Resolved {
  readonly url: URL;
  readonly target: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly hmacSecret: string | undefined;
  readonly hmacHeader: string;
  readonly timeoutMs: number;
  readonly keepAlive: boolean;
}

function resolve(settings: Settings): Resolved {
  const raw = requiredString(settings, PATH, 'url');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`${PATH}.url`, 'is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${PATH}.url`, 'must be an http: or https: URL');
  if (url.username !== '' || url.password !== '') throw invalid(`${PATH}.url`, 'must not carry credentials; use headers');
  const method = (optionalString(settings, PATH, 'method') ?? 'POST').toUpperCase();
  if (!METHODS.includes(method)) throw invalid(`${PATH}.method`, `must be one of ${METHODS.join(', ')}`);
  const hmacHeader = optionalString(settings, PATH, 'hmacHeader') ?? 'X-Switchboard-Signature';
  return {
    url,
    // Origin and path only: a query string may carry a token.
    target: `${url.origin}${url.pathname}`,
    method,
    headers: optionalStringRecord(settings, PATH, 'headers') ?? {},
    contentType: optionalString(settings, PATH, 'contentType'),
    hmacSecret: optionalString(settings, PATH, 'hmacSecret'),
    hmacHeader,
    timeoutMs: optionalInt(settings, PATH, 'timeoutMs', 1) ?? 30_000,
    keepAlive: optionalBoolean(settings, PATH, 'keepAlive') ?? false,
  };
}

/** The default media type for a payload: HL7 v2 ER7, JSON, or text. */
function defaultContentType(payload: string): string {
  if (/^(MSH|FHS|BHS)/.test(payload)) return 'application/hl7-v2';
  if (/^\s*[[{]/.test(payload)) return 'application/json';
  return 'text/plain; charset=utf-8';
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<body>")>`. */
export function signBody(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function causeCodes(error: unknown): string[] {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  if (cause instanceof AggregateError) return cause.errors.map((e: unknown) => (e as NodeJS.ErrnoException).code ?? '');
  if (cause instanceof Error) return [(cause as NodeJS.ErrnoException).code ?? ''];
  return [''];
}

async function readHead(response: Response): Promise<string> {
  const statusLine = `HTTP ${response.status}${response.statusText === '' ? '' : ` ${response.statusText}`}`;
  const body = response.body;
  if (body === null) return statusLine;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < RESPONSE_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut short or timed out: keep what arrived; the status already decided the outcome.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const bytes = Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT);
  return bytes.length === 0 ? statusLine : `${statusLine}\n\n${bytes.toString('utf8')}`;
}

export class HttpDestination implements DestinationConnector {
  readonly kind = 'http';
  readonly #o: Resolved;
  readonly #inFlight = new Set<AbortController>();
  #closed = false;

  constructor(settings: Settings) {
    this.#o = resolve(settings);
  }

  /** The URL without its query string, as used in error messages. */
  get target(): string {
    return this.#o.target;
  }

  async send(delivery: OutboundDelivery, signal: AbortSignal): Promise<SendResult> {
    const o = this.#o;
    if (this.#closed) return this.#fail('SWB_ERR_DEST_NOT_SENT', { reason: 'the connector is closed' });
    if (signal.aborted) return this.#fail('SWB_ERR_DEST_NOT_SENT', { reason: 'aborted before sending' });
    const headers = new Headers({ 'content-type': o.contentType ?? defaultContentType(delivery.payload) });
    for (const [name, value] of Object.entries(o.headers)) headers.set(name, value);
    if (o.contentType !== undefined) headers.set('content-type', o.contentType);
    headers.set('idempotency-key', delivery.idempotencyKey);
    if (delivery.correlationId !== undefined) headers.set('x-correlation-id', delivery.correlationId);
    if (o.hmacSecret !== undefined) headers.set(o.hmacHeader, signBody(o.hmacSecret, delivery.payload, Math.floor(Date.now() / 1000)));
    if (!o.keepAlive) headers.set('connection', 'close');

    const closing = new AbortController();
    const timeout = AbortSignal.timeout(o.timeoutMs);
    this.#inFlight.add(closing);
    try {
      return await this.#exchange(delivery, headers, AbortSignal.any([signal, timeout, closing.signal]), () => {
        if (timeout.aborted) return 'timeout';
        return signal.aborted || closing.signal.aborted ? 'aborted' : undefined;
      });
    } finally {
      this.#inFlight.delete(closing);
    }
  }

  async #exchange(delivery: OutboundDelivery, headers: Headers, signal: AbortSignal, stoppedBy: () => 'timeout' | 'aborted' | undefined): Promise<SendResult> {
    const o = this.#o;
    let response: Response;
    try {
      response = await fetch(o.url, {
        method: o.method,
        headers,
        body: delivery.payload,
        redirect: 'manual',
        signal,
      });
    } catch (error) {
      const stopped = stoppedBy();
      if (stopped === 'timeout') return this.#fail('SWB_ERR_HTTP_DEST_TIMEOUT', { ms: o.timeoutMs });
      if (stopped === 'aborted') return this.#fail('SWB_ERR_DEST_ABORTED', {});
      const codes = causeCodes(error);
      const reason = codes.filter((c) => c !== '').join(', ') || 'network error';
      if (codes.every((c) => BEFORE_SEND_CODES.has(c))) return this.#fail('SWB_ERR_HTTP_DEST_CONNECT_FAILED', { reason });
      return this.#fail('SWB_ERR_HTTP_DEST_CONNECTION_LOST', { reason });
    }
    const head = await readHead(response);
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: 'delivered', response: head };
    const transient = TRANSIENT_STATUSES.has(status) || (status >= 500 && status < 600 && !PERMANENT_5XX.has(status));
    const code: ErrorCode = transient ? 'SWB_ERR_HTTP_DEST_STATUS_RETRYABLE' : 'SWB_ERR_HTTP_DEST_STATUS';
    const error = new SwitchboardError(code, { target: o.target, status });
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(response.headers.get('retry-after'), Date.now()) : undefined;
    return {
      kind: 'failed',
      failureClass: error.failureClass,
      errorCode: error.code,
      response: head,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    };
  }

  /** Refuses new sends and aborts requests in flight (their results are ambiguous). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#inFlight) c.abort();
    this.#inFlight.clear();
  }

  #fail(code: ErrorCode, params: Readonly<Record<string, string | number>>): SendResult {
    const error = new SwitchboardError(code, { target: this.#o.target, ...params });
    return { kind: 'failed', failureClass: error.failureClass, errorCode: error.code, response: error.message };
  }
}
