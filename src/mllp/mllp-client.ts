import net from 'node:net';
import tls from 'node:tls';
import { isSwitchboardError, SwitchboardError, type ErrorParams } from '../core/errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, encodeMllpFrame, MllpFramer, type MllpEncoding } from './mllp-framer.ts';
import { isAckCode, peekEr7, type AckCode } from './peek-er7.ts';

/**
 * MLLP sender with a small connection pool (HL7 v2 Appendix C, MLLP release 2).
 *
 * MLLP has no message ids at the transport level, so a connection carries one message at a time
 * and the reply on it is the answer to that message (C.2.3). Each reply is still checked: MSA-2
 * must equal the MSH-10 we sent (HL7 v2.5.1 ch.2 2.9.2), and any doubt about which message a frame
 * answers (a timeout, an unexpected frame, a mismatch) destroys the connection, so a late ACK can
 * never be read as the answer to the next message.
 *
 * Failure classes (src/core/errors.ts) tell the caller what is safe:
 *  - SWB_ERR_MLLP_CONNECT_FAILED, transient: nothing was sent;
 *  - SWB_ERR_MLLP_ACK_TIMEOUT / CONNECTION_LOST / ACK_MISMATCH / ACK_INVALID, ambiguous: the far
 *    side may have stored the message;
 *  - AR/CR (NAK_REJECT, transient) may be resent; AE/CE (NAK_ERROR, permanent) must not be resent
 *    unchanged (ch.2 2.9.2.2: the receiver found an error in the message itself).
 */

export interface MllpReconnectOptions {
  /** First backoff ceiling after a failed connect (default 250 ms). */
  readonly initialDelayMs?: number;
  /** Largest backoff ceiling (default 30 s). */
  readonly maxDelayMs?: number;
}

export interface MllpResendOptions {
  /** Total attempts including the first (default 3). */
  readonly maxAttempts?: number;
  /** First backoff ceiling between attempts (default 1 s); full jitter, doubling. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /**
   * Resend after an ambiguous failure (ACK timeout, connection lost, mismatch). Default false: only
   * safe when the receiver drops duplicates by MSH-10 (ARCHITECTURE.md invariant 2).
   */
  readonly retryAmbiguous?: boolean;
}

export interface MllpClientOptions {
  readonly host: string;
  readonly port: number;
  /** Enables TLS with these node:tls options (ca, cert and key for mutual TLS, servername, ...). */
  readonly tls?: tls.ConnectionOptions;
  /** Connections kept open to the peer, each carrying one message at a time (default 1). */
  readonly poolSize?: number;
  /** Time allowed for the ACK once the message is written (default 30 s). */
  readonly ackTimeoutMs?: number;
  /**
   * For a message that asks for an ACK only on error (enhanced mode, MSH-15/MSH-16 NE or ER): how
   * long silence is awaited before it counts as accepted (default 1 s, at most ackTimeoutMs).
   */
  readonly noAckWaitMs?: number;
  /** Time allowed for TCP connect and the TLS handshake (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Backoff between connect attempts after failures (exponential, full jitter). */
  readonly reconnect?: MllpReconnectOptions;
  /** Largest reply accepted (default 16 MiB). */
  readonly maxFrameBytes?: number;
  /** Default 'utf8'. */
  readonly encoding?: MllpEncoding;
  /** Policy used by `sendWithPolicy`. */
  readonly resend?: MllpResendOptions;
}

export interface MllpSendOptions {
  /** The MSH-10 the ACK must carry in MSA-2; read from the payload when absent. */
  readonly controlId?: string;
}

export interface MllpAck {
  /** MSA-1 (HL7 table 0008). */
  readonly code: AckCode;
  /** MSA-2. */
  readonly controlId: string;
  /** MSA-3. */
  readonly text: string;
  /** First ERR's code (ERR-3.1, or ERR-1.4.1 before v2.5). */
  readonly errorCode: string | undefined;
  readonly errorText: string | undefined;
}

export interface MllpTiming {
  readonly startedAt: Date;
  /** Waiting for a free connection, including a connect. */
  readonly queuedMs: number;
  /** From the write to the reply. */
  readonly roundTripMs: number;
  readonly totalMs: number;
}

export interface MllpReply {
  /** The reply payload, decoded ('' when no ACK was requested). */
  readonly raw: string;
  /**
   * The ACK, or null when the message asked for none: enhanced mode with MSH-15 and MSH-16 both NE
   * (HL7 v2.5.1 ch.2 2.9.2), where the receiver sends nothing and waiting would only time out.
   */
  readonly ack: MllpAck | null;
  /** The MSH-10 sent. */
  readonly controlId: string;
  readonly connectionId: string;
  /** 1 for `send`; the attempt that succeeded for `sendWithPolicy`. */
  readonly attempts: number;
  readonly timing: MllpTiming;
}

/** A NAK (AE/CE or AR/CR) as an error, carrying the reply for the exception or review queue. */
export type MllpAckedReply = MllpReply & { readonly ack: MllpAck };

export class MllpNakError extends SwitchboardError {
  readonly reply: MllpAckedReply;

  constructor(code: 'SWB_ERR_MLLP_NAK_ERROR' | 'SWB_ERR_MLLP_NAK_REJECT', params: ErrorParams, reply: MllpAckedReply) {
    super(code, params);
    this.reply = reply;
  }
}

export interface MllpClientStats {
  readonly connections: number;
  readonly sent: number;
  readonly replies: number;
  readonly connectFailures: number;
  readonly timeouts: number;
  readonly connectionsLost: number;
  readonly mismatches: number;
}

interface ResolvedClientOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: tls.ConnectionOptions | undefined;
  readonly target: string;
  readonly poolSize: number;
  readonly ackTimeoutMs: number;
  readonly noAckWaitMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnectInitialMs: number;
  readonly reconnectMaxMs: number;
  readonly maxFrameBytes: number;
  readonly encoding: MllpEncoding;
  readonly resendMaxAttempts: number;
  readonly resendInitialMs: number;
  readonly resendMaxMs: number;
  readonly retryAmbiguous: boolean;
}

function int(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`MllpClient option ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function resolveOptions(o: MllpClientOptions): ResolvedClientOptions {
  return {
    host: o.host,
    port: int('port', o.port, 0, 1),
    tls: o.tls,
    target: `${o.tls === undefined ? 'mllp' : 'mllps'}://${o.host}:${o.port}`,
    poolSize: int('poolSize', o.poolSize, 1, 1),
    ackTimeoutMs: int('ackTimeoutMs', o.ackTimeoutMs, 30_000, 1),
    noAckWaitMs: Math.min(int('noAckWaitMs', o.noAckWaitMs, 1000, 1), o.ackTimeoutMs ?? 30_000),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, 10_000, 1),
    reconnectInitialMs: int('reconnect.initialDelayMs', o.reconnect?.initialDelayMs, 250, 0),
    reconnectMaxMs: int('reconnect.maxDelayMs', o.reconnect?.maxDelayMs, 30_000, 0),
    maxFrameBytes: int('maxFrameBytes', o.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 1),
    encoding: o.encoding ?? 'utf8',
    resendMaxAttempts: int('resend.maxAttempts', o.resend?.maxAttempts, 3, 1),
    resendInitialMs: int('resend.initialDelayMs', o.resend?.initialDelayMs, 1000, 0),
    resendMaxMs: int('resend.maxDelayMs', o.resend?.maxDelayMs, 30_000, 0),
    retryAmbiguous: o.resend?.retryAmbiguous ?? false,
  };
}

/** "Full jitter" backoff: uniform in [0, min(max, initial * 2^(n-1))] (AWS Architecture Blog, 2015). */
export function fullJitterDelay(failures: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(random() * ceiling);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

interface PoolSlot {
  conn: ClientConnection | undefined;
  busy: boolean;
  connecting: boolean;
  failures: number;
  nextAttemptAt: number;
}

interface Lease {
  readonly slot: PoolSlot;
  readonly conn: ClientConnection;
}

interface Waiter {
  readonly resolve: (lease: Lease) => void;
  readonly reject: (error: unknown) => void;
}

export class MllpClient {
  readonly #opts: ResolvedClientOptions;
  readonly #slots: PoolSlot[];
  #waiters: Waiter[] = [];
  readonly #connects = new Set<Promise<void>>();
  /** Settles when close() is called, to cut backoff waits short. */
  readonly #closing = (() => {
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  })();
  #closed = false;
  #nextConnection = 0;
  #sent = 0;
  #replies = 0;
  #connectFailures = 0;
  #timeouts = 0;
  #connectionsLost = 0;
  #mismatches = 0;

  constructor(options: MllpClientOptions) {
    this.#opts = resolveOptions(options);
    this.#slots = Array.from({ length: this.#opts.poolSize }, () => ({ conn: undefined, busy: false, connecting: false, failures: 0, nextAttemptAt: 0 }));
  }

  /** `mllp://host:port` or `mllps://host:port`, as used in error messages. */
  get target(): string {
    return this.#opts.target;
  }

  get stats(): MllpClientStats {
    return {
      connections: this.#slots.filter((s) => s.conn?.alive === true).length,
      sent: this.#sent,
      replies: this.#replies,
      connectFailures: this.#connectFailures,
      timeouts: this.#timeouts,
      connectionsLost: this.#connectionsLost,
      mismatches: this.#mismatches,
    };
  }

  /**
   * Sends one message and resolves with its ACK, whatever the ACK code: the caller (or
   * `sendWithPolicy`) decides what AE/AR mean. Rejects with a SwitchboardError for transport
   * failures and for replies that are not the ACK of this message.
   */
  async send(payload: string, options: MllpSendOptions = {}): Promise<MllpReply> {
    if (this.#closed) throw new SwitchboardError('SWB_ERR_MLLP_CLIENT_CLOSED');
    const sent = peekEr7(payload);
    const controlId = options.controlId ?? sent.controlId;
    if (controlId === undefined || controlId === '') {
      throw new SwitchboardError('SWB_ERR_MLLP_NO_CONTROL_ID', { reason: payload.startsWith('MSH') ? 'MSH-10 is empty' : 'the payload does not start with MSH' });
    }
    const frame = encodeMllpFrame(payload, this.#opts.encoding);
    const startedAt = new Date();
    const lease = await this.#acquire();
    const writtenAt = Date.now();
    const quiet = (v: string): boolean => v === 'NE' || v === 'ER';
    // Enhanced mode (HL7 v2.5.1 ch.2 2.9.2): NE/NE asks for no ACK at all; NE or ER in both fields
    // asks for one only on error, so silence for a moment means accepted.
    const noAckAtAll = sent.acceptAck === 'NE' && sent.applicationAck === 'NE';
    const nakOnly = !noAckAtAll && quiet(sent.acceptAck) && quiet(sent.applicationAck);
    if (noAckAtAll) {
      // No ACK will come: the message is done once written.
      try {
        this.#sent += 1;
        await lease.conn.post(frame, controlId);
      } catch (error) {
        this.#countFailure(error);
        this.#release(lease);
        throw error;
      }
      this.#release(lease);
      const doneAt = Date.now();
      return { raw: '', ack: null, controlId, connectionId: lease.conn.id, attempts: 1, timing: { startedAt, queuedMs: writtenAt - startedAt.getTime(), roundTripMs: doneAt - writtenAt, totalMs: doneAt - startedAt.getTime() } };
    }
    let rawReply: Buffer | null;
    try {
      this.#sent += 1;
      rawReply = await lease.conn.exchange(frame, controlId, nakOnly ? this.#opts.noAckWaitMs : undefined);
    } catch (error) {
      this.#countFailure(error);
      this.#release(lease);
      throw error;
    }
    const repliedAt = Date.now();
    if (rawReply === null) {
      this.#release(lease);
      return { raw: '', ack: null, controlId, connectionId: lease.conn.id, attempts: 1, timing: { startedAt, queuedMs: writtenAt - startedAt.getTime(), roundTripMs: repliedAt - writtenAt, totalMs: repliedAt - startedAt.getTime() } };
    }
    this.#replies += 1;
    const raw = rawReply.toString(this.#opts.encoding);
    const peek = peekEr7(raw);
    let failure: SwitchboardError | undefined;
    if (peek.msa === undefined) {
      failure = new SwitchboardError('SWB_ERR_MLLP_ACK_INVALID', { target: this.#opts.target, reason: peek.controlId === undefined ? 'no MSH segment' : 'no MSA segment' });
    } else if (peek.msa.controlId !== controlId) {
      this.#mismatches += 1;
      failure = new SwitchboardError('SWB_ERR_MLLP_ACK_MISMATCH', { got: peek.msa.controlId, expected: controlId });
    } else if (!isAckCode(peek.msa.code)) {
      failure = new SwitchboardError('SWB_ERR_MLLP_ACK_INVALID', { target: this.#opts.target, reason: `MSA-1 ${peek.msa.code} is not in HL7 table 0008` });
    }
    if (failure !== undefined || peek.msa === undefined || !isAckCode(peek.msa.code)) {
      // This connection's stream can no longer be trusted to pair replies with messages.
      lease.conn.destroy();
      this.#release(lease);
      throw failure;
    }
    this.#release(lease);
    return {
      raw,
      ack: {
        code: peek.msa.code,
        controlId: peek.msa.controlId,
        text: peek.msa.text,
        errorCode: peek.err?.code || undefined,
        errorText: peek.err?.text || undefined,
      },
      controlId,
      connectionId: lease.conn.id,
      attempts: 1,
      timing: { startedAt, queuedMs: writtenAt - startedAt.getTime(), roundTripMs: repliedAt - writtenAt, totalMs: repliedAt - startedAt.getTime() },
    };
  }

  /**
   * `send` with the resend rules of HL7 v2.5.1 ch.2 2.9.2 (original mode) / 2.9.3 (enhanced):
   * AA/CA resolve; AE/CE reject with SWB_ERR_MLLP_NAK_ERROR (permanent: resending the same message
   * cannot succeed); AR/CR are resent after a full-jitter backoff up to `resend.maxAttempts`, then
   * reject with SWB_ERR_MLLP_NAK_REJECT (transient). Connect failures are retried the same way
   * (nothing was sent); ambiguous failures only when `resend.retryAmbiguous` is set.
   */
  async sendWithPolicy(payload: string, options: MllpSendOptions = {}): Promise<MllpReply> {
    const o = this.#opts;
    for (let attempt = 1; ; attempt += 1) {
      const last = attempt >= o.resendMaxAttempts;
      let reply: MllpReply;
      try {
        reply = await this.send(payload, options);
      } catch (error) {
        const retryable =
          isSwitchboardError(error) &&
          (error.code === 'SWB_ERR_MLLP_CONNECT_FAILED' || (o.retryAmbiguous && error.failureClass === 'ambiguous'));
        if (last || !retryable || this.#closed) throw error;
        await sleep(fullJitterDelay(attempt, o.resendInitialMs, o.resendMaxMs));
        continue;
      }
      const result: MllpReply = { ...reply, attempts: attempt };
      if (reply.ack === null) return result;
      const acked: MllpAckedReply = { ...result, ack: reply.ack };
      const params = { target: o.target, code: reply.ack.code, text: reply.ack.errorCode ?? 'no ERR code', controlId: reply.controlId };
      switch (reply.ack.code) {
        case 'AA':
        case 'CA':
          return result;
        case 'AE':
        case 'CE':
          throw new MllpNakError('SWB_ERR_MLLP_NAK_ERROR', params, acked);
        case 'AR':
        case 'CR':
          if (last || this.#closed) throw new MllpNakError('SWB_ERR_MLLP_NAK_REJECT', { ...params, attempts: attempt }, acked);
          await sleep(fullJitterDelay(attempt, o.resendInitialMs, o.resendMaxMs));
          break;
      }
    }
  }

  /**
   * Refuses new sends, rejects sends still waiting for a connection, lets sends in flight finish
   * (bounded by `ackTimeoutMs`), then closes every connection.
   */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#closing.resolve();
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.reject(new SwitchboardError('SWB_ERR_MLLP_CLIENT_CLOSED'));
    }
    await Promise.allSettled([...this.#connects]);
    const closing: Promise<void>[] = [];
    for (const slot of this.#slots) {
      const conn = slot.conn;
      if (conn === undefined) continue;
      closing.push(conn.closed);
      if (!slot.busy) conn.end();
    }
    await Promise.all(closing);
  }

  #countFailure(error: unknown): void {
    if (!isSwitchboardError(error)) return;
    if (error.code === 'SWB_ERR_MLLP_ACK_TIMEOUT') this.#timeouts += 1;
    else if (error.code === 'SWB_ERR_MLLP_CONNECTION_LOST') this.#connectionsLost += 1;
  }

  #acquire(): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#pump();
    });
  }

  #release(lease: Lease): void {
    const { slot, conn } = lease;
    slot.busy = false;
    if (!conn.alive) {
      if (slot.conn === conn) slot.conn = undefined;
    } else if (this.#closed) {
      conn.end();
    }
    this.#pump();
  }

  /** Hands free connections to waiters, opening new ones while the pool has room. */
  #pump(): void {
    while (this.#waiters.length > 0 && !this.#closed) {
      const idle = this.#slots.find((s) => !s.busy && !s.connecting && s.conn !== undefined && s.conn.alive);
      if (idle !== undefined && idle.conn !== undefined) {
        const waiter = this.#waiters.shift() as Waiter;
        idle.busy = true;
        waiter.resolve({ slot: idle, conn: idle.conn });
        continue;
      }
      const empty = this.#slots.find((s) => !s.busy && !s.connecting && (s.conn === undefined || !s.conn.alive));
      if (empty === undefined) return;
      const waiter = this.#waiters.shift() as Waiter;
      empty.conn = undefined;
      empty.connecting = true;
      const connecting = this.#connect(empty, waiter);
      this.#connects.add(connecting);
      void connecting.finally(() => this.#connects.delete(connecting));
    }
  }

  /** Opens a connection for `slot` after its backoff delay; never rejects. */
  async #connect(slot: PoolSlot, waiter: Waiter): Promise<void> {
    const o = this.#opts;
    const delay = slot.nextAttemptAt - Date.now();
    // The backoff wait ends early when the client closes, so close() never waits it out.
    if (delay > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        void this.#closing.promise.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (this.#closed) {
      slot.connecting = false;
      waiter.reject(new SwitchboardError('SWB_ERR_MLLP_CLIENT_CLOSED'));
      return;
    }
    this.#nextConnection += 1;
    const id = `mllp-out-${this.#nextConnection}`;
    let conn: ClientConnection;
    try {
      conn = await ClientConnection.open(o, id);
    } catch (error) {
      this.#connectFailures += 1;
      slot.connecting = false;
      slot.failures += 1;
      slot.nextAttemptAt = Date.now() + fullJitterDelay(slot.failures, o.reconnectInitialMs, o.reconnectMaxMs);
      waiter.reject(error);
      this.#pump();
      return;
    }
    slot.connecting = false;
    slot.failures = 0;
    slot.nextAttemptAt = 0;
    slot.conn = conn;
    void conn.closed.then(() => {
      // An idle connection the peer closed frees its slot for a new connect.
      if (slot.conn === conn && !slot.busy) {
        slot.conn = undefined;
        this.#pump();
      }
    });
    if (this.#closed) {
      conn.end();
      waiter.reject(new SwitchboardError('SWB_ERR_MLLP_CLIENT_CLOSED'));
      return;
    }
    slot.busy = true;
    waiter.resolve({ slot, conn });
  }
}

interface PendingExchange {
  readonly resolve: (reply: Buffer | null) => void;
  readonly reject: (error: SwitchboardError) => void;
  readonly timer: NodeJS.Timeout;
  readonly controlId: string;
  /** A write that expects no reply (post). */
  readonly post?: boolean;
}

/** How many answered control ids a connection remembers, to drop their late or second frames. */
const RECENT_IDS = 16;

/** One socket carrying one message at a time. */
class ClientConnection {
  readonly id: string;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  readonly #opts: ResolvedClientOptions;
  readonly #socket: net.Socket;
  readonly #framer: MllpFramer;
  #pending: PendingExchange | undefined;
  #alive = true;
  /** Control ids already answered (or sent without an ACK) on this connection. */
  readonly #recent: string[] = [];

  static open(o: ResolvedClientOptions, id: string): Promise<ClientConnection> {
    return new Promise<ClientConnection>((resolve, reject) => {
      const socket =
        o.tls === undefined
          ? net.connect({ host: o.host, port: o.port, noDelay: true })
          : tls.connect({ host: o.host, port: o.port, ...(net.isIP(o.host) === 0 ? { servername: o.host } : {}), ...o.tls });
      const fail = (reason: string): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new SwitchboardError('SWB_ERR_MLLP_CONNECT_FAILED', { target: o.target, reason }));
      };
      const onError = (error: Error): void => fail(reasonOf(error));
      const timer = setTimeout(() => fail(`no connection within ${o.connectTimeoutMs} ms`), o.connectTimeoutMs);
      socket.once('error', onError);
      socket.once(o.tls === undefined ? 'connect' : 'secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new ClientConnection(o, id, socket));
      });
    });
  }

  private constructor(o: ResolvedClientOptions, id: string, socket: net.Socket) {
    this.#opts = o;
    this.id = id;
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    this.#framer = new MllpFramer({
      maxFrameBytes: o.maxFrameBytes,
      onFrame: (payload) => this.#onFrame(payload),
      onError: () => this.#fail(new SwitchboardError('SWB_ERR_MLLP_ACK_INVALID', { target: o.target, reason: `reply larger than ${o.maxFrameBytes} bytes` })),
    });
    socket.on('data', (chunk: Buffer) => this.#framer.push(chunk));
    socket.on('error', () => {
      // 'close' follows and settles the pending exchange.
    });
    socket.on('end', () => {
      this.#alive = false;
    });
    this.closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.#alive = false;
        this.#fail(new SwitchboardError('SWB_ERR_MLLP_CONNECTION_LOST', { target: o.target }));
        resolve();
      });
    });
  }

  get alive(): boolean {
    return this.#alive && !this.#socket.destroyed;
  }

  /**
   * Writes one framed message and resolves with its reply frame. With `silenceMs`, the message is
   * one whose sender asked for no positive ACK (enhanced mode, MSH-15/MSH-16 NE or ER): silence for
   * that long means accepted and resolves null; a NAK arriving earlier still resolves with it.
   */
  exchange(frame: Buffer, controlId: string, silenceMs?: number): Promise<Buffer | null> {
    if (this.#pending !== undefined) throw new Error('MLLP allows one message in flight per connection');
    if (!this.alive) return Promise.reject(new SwitchboardError('SWB_ERR_MLLP_CONNECTION_LOST', { target: this.#opts.target }));
    return new Promise<Buffer | null>((resolve, reject) => {
      const timer =
        silenceMs === undefined
          ? setTimeout(() => {
              // Destroyed, not reused: a late ACK must not be matched to the next message.
              this.#fail(new SwitchboardError('SWB_ERR_MLLP_ACK_TIMEOUT', { target: this.#opts.target, ms: this.#opts.ackTimeoutMs }));
            }, this.#opts.ackTimeoutMs)
          : setTimeout(() => {
              this.#pending = undefined;
              this.#remember(controlId);
              resolve(null);
            }, silenceMs);
      this.#pending = { resolve, reject, timer, controlId };
      this.#socket.write(frame);
    });
  }

  /**
   * Writes one framed message that expects no reply at all (MSH-15 and MSH-16 NE); resolves once
   * the socket has taken it, or fails (ambiguous) when it has not within the ACK timeout.
   */
  post(frame: Buffer, controlId: string): Promise<void> {
    if (this.#pending !== undefined) throw new Error('MLLP allows one message in flight per connection');
    if (!this.alive) return Promise.reject(new SwitchboardError('SWB_ERR_MLLP_CONNECTION_LOST', { target: this.#opts.target }));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A peer that stops reading: the write never completes. Give up on this connection.
        this.#pending = undefined;
        this.destroy();
        reject(new SwitchboardError('SWB_ERR_MLLP_ACK_TIMEOUT', { target: this.#opts.target, ms: this.#opts.ackTimeoutMs }));
      }, this.#opts.ackTimeoutMs);
      // Held as pending so that a close settles it; a frame arriving meanwhile is not its answer.
      this.#pending = { resolve: () => undefined, reject, timer, controlId, post: true };
      this.#socket.write(frame, (error) => {
        if (this.#pending?.timer !== timer) return;
        clearTimeout(timer);
        this.#pending = undefined;
        if (error) reject(new SwitchboardError('SWB_ERR_MLLP_CONNECTION_LOST', { target: this.#opts.target }, { cause: error }));
        else {
          this.#remember(controlId);
          resolve();
        }
      });
    });
  }

  #remember(controlId: string): void {
    this.#recent.push(controlId);
    if (this.#recent.length > RECENT_IDS) this.#recent.shift();
  }

  /** Graceful close (FIN). */
  end(): void {
    this.#alive = false;
    this.#socket.end();
    // A peer that never closes its side must not keep the client's close() waiting.
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.#alive = false;
    this.#socket.destroy();
  }

  #onFrame(payload: Buffer): void {
    // While a no-ACK message is being written, any frame is about an earlier message: drop it.
    if (this.#pending?.post === true) return;
    // A second frame for a message already answered here (a CA then an AA in enhanced mode, or an
    // ACK from a receiver that acknowledges even NE/NE) is dropped, not taken for the next answer.
    const answers = peekEr7(payload.toString(this.#opts.encoding)).msa?.controlId;
    if (answers !== undefined && answers !== this.#pending?.controlId && this.#recent.includes(answers)) return;
    const pending = this.#pending;
    if (pending === undefined) {
      // A frame nobody asked for: the peer is out of step with us, so the stream is not trusted.
      this.destroy();
      return;
    }
    this.#pending = undefined;
    clearTimeout(pending.timer);
    this.#remember(pending.controlId);
    pending.resolve(payload);
  }

  /** Rejects the exchange in progress (if any) and destroys the socket. */
  #fail(error: SwitchboardError): void {
    const pending = this.#pending;
    this.#pending = undefined;
    this.destroy();
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }
}
