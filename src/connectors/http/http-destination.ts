import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { SwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { DestinationConnector, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import { invalid, optionalBoolean, optionalInt, optionalString, optionalStringRecord, requiredString, type Settings } from '../connector-settings.ts';

/**
 * Sends each delivery as one HTTP request (a webhook) with node:http/https over the connector's own
 * agent, and classifies the outcome by failure class (ARCHITECTURE.md invariant 3):
 *  - 2xx: delivered; the response is the status line and the first 2 KB of the body;
 *  - 408, 425, 429, 500, 502, 503, 504 and other 5xx except 501/505: transient
 *    (SWB_ERR_HTTP_DEST_STATUS_RETRYABLE); 429 and 503 honour Retry-After, in seconds or as an
 *    HTTP-date (RFC 9110 10.2.3), as `retryAfterMs`;
 *  - any other status (3xx: redirects are not followed, a POST must not turn into a GET; other 4xx;
 *    501, 505): permanent (SWB_ERR_HTTP_DEST_STATUS);
 *  - a network error before the request left (connection refused, DNS, unreachable, connect
 *    timeout), or a reset of a reused keep-alive connection before any answer (the server closed
 *    it while idle; Node's http docs describe this race): transient (SWB_ERR_HTTP_DEST_CONNECT_FAILED);
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
 * Connections: kept alive and reused by default (`keepAlive: false` asks for `Connection: close`
 * on each request). The sockets belong to this connector's agent, so `close()` destroys every one.
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
  /** Reuse connections (default true). */
  readonly keepAlive?: boolean;
}

/** How much of a response body is kept as the delivery's response. */
export const RESPONSE_BODY_LIMIT = 2048;

const PATH = 'destination.settings';
const METHODS = ['POST', 'PUT', 'PATCH'];
const TRANSIENT_STATUSES = new Set([408, 425, 429, 500, 502, 503, 504]);
/** 5xx that say the request itself cannot be served. */
const PERMANENT_5XX = new Set([501, 505]);
/** Failures that happen before a request is written: DNS, routing, refused or timed-out connects. */
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
    keepAlive: optionalBoolean(settings, PATH, 'keepAlive') ?? true,
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

/** Reads at most this much of a response; a larger body drops the connection instead of draining it. */
const MAX_DRAIN_BYTES = 1024 * 1024;

type Exchange =
  | { readonly kind: 'response'; readonly status: number; readonly head: string; readonly retryAfter: string | null }
  | { readonly kind: 'error'; readonly code: string; readonly written: boolean; readonly reusedSocket: boolean };

/**
 * One request's abort state. It is the caller signal's listener itself (an EventTarget calls
 * `handleEvent`), so no closure is made for it per request.
 */
class PendingExchange {
  /** Why the request was aborted, when it was. */
  why: 'timeout' | 'caller' | 'closing' | undefined;
  request: ClientRequest | undefined;

  handleEvent(): void {
    this.abort('caller');
  }

  abort(reason: 'timeout' | 'caller' | 'closing'): void {
    if (this.why !== undefined) return;
    this.why = reason;
    // Destroying the request emits its 'error' (after 'finish' if it was written), as an abort
    // through node:http's `signal` option does.
    this.request?.destroy(Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' }));
  }
}

/** The timer's callback, shared: the exchange is its argument, so no closure is made per request. */
function abortOnTimeout(exchange: PendingExchange): void {
  exchange.abort('timeout');
}

export class HttpDestination implements DestinationConnector {
  readonly kind = 'http';
  readonly #o: Resolved;
  /** The requests in flight, aborted by close(). */
  readonly #inFlight = new Set<PendingExchange>();
  readonly #agent: HttpAgent;
  /**
   * The request options every send shares, the URL already taken apart: node:http does that
   * (urlToHttpOptions) on every call given a URL object.
   */
  readonly #requestBase: RequestOptions;
  #closed = false;

  constructor(settings: Settings) {
    this.#o = resolve(settings);
    // Idle sockets are dropped after 4 s, before the common 5 s server keep-alive timeout, which
    // keeps the reused-connection reset race rare; `scheduling: lifo` reuses the warmest socket.
    const agentOptions = { keepAlive: this.#o.keepAlive, timeout: 4000, scheduling: 'lifo' as const };
    this.#agent = this.#o.url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#requestBase = { ...urlToHttpOptions(this.#o.url), method: this.#o.method, agent: this.#agent };
  }

  /** The URL without its query string, as used in error messages. */
  get target(): string {
    return this.#o.target;
  }

  async send(delivery: OutboundDelivery, signal: AbortSignal): Promise<SendResult> {
    const o = this.#o;
    if (this.#closed) return this.#fail('SWB_ERR_DEST_NOT_SENT', { reason: 'the connector is closed' });
    if (signal.aborted) return this.#fail('SWB_ERR_DEST_NOT_SENT', { reason: 'aborted before sending' });
    const body = Buffer.from(delivery.payload, 'utf8');
    const headers: Record<string, string> = { 'content-type': o.contentType ?? defaultContentType(delivery.payload) };
    for (const [name, value] of Object.entries(o.headers)) headers[name.toLowerCase()] = value;
    if (o.contentType !== undefined) headers['content-type'] = o.contentType;
    headers['content-length'] = String(body.length);
    headers['idempotency-key'] = delivery.idempotencyKey;
    if (delivery.correlationId !== undefined) headers['x-correlation-id'] = delivery.correlationId;
    if (o.hmacSecret !== undefined) headers[o.hmacHeader.toLowerCase()] = signBody(o.hmacSecret, delivery.payload, Math.floor(Date.now() / 1000));
    if (!o.keepAlive) headers['connection'] = 'close';

    // Whichever comes first of the caller's signal, the timeout and close() destroys the request
    // (what node:http's own `signal` option does on abort); `why` keeps which one it was, to
    // classify the outcome. No AbortController or signal of our own per request: creating them and
    // the listener node:http adds to one was ~1.5% of the engine's CPU per delivery in the
    // end-to-end profile.
    const exchange = new PendingExchange();
    const timer = setTimeout(abortOnTimeout, o.timeoutMs, exchange);
    timer.unref();
    signal.addEventListener('abort', exchange);
    this.#inFlight.add(exchange);
    try {
      const result = await this.#exchange(body, headers, exchange);
      const why = exchange.why;
      if (result.kind === 'error') {
        if (why === 'timeout') return this.#fail('SWB_ERR_HTTP_DEST_TIMEOUT', { ms: o.timeoutMs });
        if (why !== undefined) return result.written ? this.#fail('SWB_ERR_DEST_ABORTED', {}) : this.#fail('SWB_ERR_DEST_NOT_SENT', { reason: 'aborted before sending' });
        const stale = result.reusedSocket && (result.code === 'ECONNRESET' || result.code === 'EPIPE');
        if (!result.written || stale || BEFORE_SEND_CODES.has(result.code)) return this.#fail('SWB_ERR_HTTP_DEST_CONNECT_FAILED', { reason: stale ? `${result.code} on a reused connection` : result.code });
        return this.#fail('SWB_ERR_HTTP_DEST_CONNECTION_LOST', { reason: result.code });
      }
      const status = result.status;
      if (status >= 200 && status < 300) return { kind: 'delivered', response: result.head };
      const transient = TRANSIENT_STATUSES.has(status) || (status >= 500 && status < 600 && !PERMANENT_5XX.has(status));
      const code: ErrorCode = transient ? 'SWB_ERR_HTTP_DEST_STATUS_RETRYABLE' : 'SWB_ERR_HTTP_DEST_STATUS';
      const error = new SwitchboardError(code, { target: o.target, status });
      const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(result.retryAfter, Date.now()) : undefined;
      return {
        kind: 'failed',
        failureClass: error.failureClass,
        errorCode: error.code,
        response: result.head,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', exchange);
      this.#inFlight.delete(exchange);
    }
  }

  /**
   * One request and its response head plus the first RESPONSE_BODY_LIMIT bytes of the body; never
   * rejects. `written`: the whole request reached the socket, so the far side may have acted.
   */
  #exchange(body: Buffer, headers: Record<string, string>, pending: PendingExchange): Promise<Exchange> {
    const o = this.#o;
    return new Promise<Exchange>((resolve) => {
      // Aborted before the request exists (the caller's signal fired during the await above).
      if (pending.why !== undefined) {
        resolve({ kind: 'error', code: 'ABORT_ERR', written: false, reusedSocket: false });
        return;
      }
      let written = false;
      let settled = false;
      const settle = (x: Exchange): void => {
        if (settled) return;
        settled = true;
        resolve(x);
      };
      const send = o.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send({ ...this.#requestBase, headers }, (res) => {
        const status = res.statusCode ?? 0;
        const statusLine = `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
        const chunks: Buffer[] = [];
        let kept = 0;
        let seen = 0;
        const done = (): void => {
          const bytes = Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT);
          settle({ kind: 'response', status, head: bytes.length === 0 ? statusLine : `${statusLine}\n\n${bytes.toString('utf8')}`, retryAfter: res.headers['retry-after'] ?? null });
        };
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (kept < RESPONSE_BODY_LIMIT) {
            chunks.push(chunk);
            kept += chunk.length;
          }
          // Draining keeps the connection reusable; a huge answer is not worth reading.
          if (seen > MAX_DRAIN_BYTES) {
            res.destroy();
            done();
          }
        });
        res.on('end', done);
        // A body cut short or timed out: keep what arrived; the status already decided the outcome.
        res.on('error', done);
        res.on('aborted', done);
      });
      req.on('finish', () => {
        written = true;
      });
      req.on('error', (e: NodeJS.ErrnoException) => settle({ kind: 'error', code: e.code ?? e.name, written, reusedSocket: req.reusedSocket }));
      pending.request = req;
      req.end(body);
    });
  }

  /** Refuses new sends, aborts requests in flight (their results are ambiguous) and closes every socket. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const exchange of this.#inFlight) exchange.abort('closing');
    this.#inFlight.clear();
    this.#agent.destroy();
  }

  #fail(code: ErrorCode, params: Readonly<Record<string, string | number>>): SendResult {
    const error = new SwitchboardError(code, { target: this.#o.target, ...params });
    return { kind: 'failed', failureClass: error.failureClass, errorCode: error.code, response: error.message };
  }
}
