import { isAscii } from 'node:buffer';
import net from 'node:net';
import tls from 'node:tls';
import { SwitchboardError } from '../core/errors.ts';
import { DEFAULT_MAX_FRAME_BYTES, encodeMllpFrame, MllpFramer, type MllpEncoding } from './mllp-framer.ts';

/**
 * MLLP listener (HL7 v2 Appendix C, MLLP release 2), over TCP or TLS.
 *
 * Each decoded frame goes to `handler`; what it resolves to is framed and written back. Replies
 * leave in the order the messages arrived on their connection, whatever order the handlers finish
 * in: a sender that pipelines matches replies by position, and the engine acknowledges only after
 * its durable commit (ARCHITECTURE.md invariant 1), which may finish out of order.
 *
 * Memory per connection is bounded by `maxFrameBytes` for the frame being read plus
 * `maxInFlightPerConnection` messages being handled: at the cap, or while the socket's write buffer
 * is full (a peer that does not read its ACKs), the socket stops being read and TCP pushes back on
 * the sender.
 */

export interface MllpTlsInfo {
  /** The peer's certificate chains to `ca` (always false without `requestCert`). */
  readonly authorized: boolean;
  readonly authorizationError: string | undefined;
  /** Subject CN of the peer certificate (mutual TLS), when one was presented. */
  readonly peerCommonName: string | undefined;
  readonly protocol: string | undefined;
}

export interface MllpInboundMessage {
  /** The payload decoded with the listener's `encoding`. */
  readonly payload: string;
  /** The payload bytes as received, without the MLLP envelope. */
  readonly raw: Buffer;
  readonly connectionId: string;
  /** 1-based position of this message on its connection. */
  readonly sequence: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly receivedAt: Date;
  /** null on plain TCP. */
  readonly tls: MllpTlsInfo | null;
}

/**
 * Handles one message and returns the reply payload (the ACK) to frame and send. `undefined` sends
 * nothing for this message (enhanced acknowledgment mode, MSH-15 NE/ER/SU: no accept ACK due); the
 * replies after it keep their order.
 */
export type MllpHandler = (message: MllpInboundMessage) => Promise<string | Buffer | undefined>;

export type MllpCloseReason = 'peer' | 'idle' | 'oversize' | 'handler-error' | 'server-close' | 'socket-error';

/** Observability hook payloads. They carry ids, sizes and error codes, never message content (invariant 7). */
export type MllpServerEvent =
  | { readonly kind: 'connection-opened'; readonly connectionId: string; readonly remoteAddress: string; readonly remotePort: number; readonly tls: MllpTlsInfo | null }
  | {
      readonly kind: 'connection-closed';
      readonly connectionId: string;
      readonly reason: MllpCloseReason;
      /** SWB_ERR_MLLP_IDLE_TIMEOUT or SWB_ERR_MLLP_FRAME_TOO_LARGE when one caused the close. */
      readonly error: SwitchboardError | undefined;
      readonly messages: number;
      readonly bytesRead: number;
      readonly bytesWritten: number;
    }
  | { readonly kind: 'connection-dropped'; readonly remoteAddress: string | undefined; readonly reason: 'max-connections' }
  | { readonly kind: 'tls-error'; readonly remoteAddress: string | undefined; readonly error: Error }
  | { readonly kind: 'frame-received'; readonly connectionId: string; readonly sequence: number; readonly bytes: number }
  | { readonly kind: 'reply-sent'; readonly connectionId: string; readonly sequence: number; readonly bytes: number; readonly latencyMs: number }
  | { readonly kind: 'junk-skipped'; readonly connectionId: string; readonly bytes: number }
  | { readonly kind: 'protocol-error'; readonly connectionId: string; readonly error: SwitchboardError }
  | { readonly kind: 'handler-error'; readonly connectionId: string; readonly sequence: number; readonly error: unknown; readonly replied: boolean }
  | { readonly kind: 'server-error'; readonly error: Error };

export interface MllpServerOptions {
  /** Interface to bind; by default all interfaces (Node's default). */
  readonly host?: string;
  /** TCP port; 0 picks a free one (read it from `port` after `listen()`). */
  readonly port: number;
  readonly handler: MllpHandler;
  /**
   * Enables TLS with these node:tls server options (key, cert, ca, requestCert, rejectUnauthorized,
   * ...). Mutual TLS: `requestCert: true` with `ca`; `rejectUnauthorized` defaults to true there, so
   * a client without a valid certificate fails the handshake. `minVersion` defaults to TLSv1.2.
   */
  readonly tls?: tls.TlsOptions;
  /** Default 'utf8'. Use 'latin1' for feeds that send ISO 8859-1 (MSH-18 8859/1). */
  readonly encoding?: MllpEncoding;
  /** Largest payload accepted (default 16 MiB); a larger frame closes its connection. */
  readonly maxFrameBytes?: number;
  /**
   * Close a connection that has been silent this long with nothing in flight (default 0: never;
   * HL7 feeds keep one connection open through quiet nights, and TCP keepalive finds dead peers).
   */
  readonly idleTimeoutMs?: number;
  /** Connections beyond this are closed on accept (default 256). */
  readonly maxConnections?: number;
  /** Messages handled at once per connection before the socket stops being read (default 8). */
  readonly maxInFlightPerConnection?: number;
  /** How long `close()` waits for in-flight handlers before destroying sockets (default 10 s). */
  readonly closeTimeoutMs?: number;
  /**
   * The reply for a message whose handler threw or rejected, typically an AR/AE ACK built by the
   * caller (the transport does not build HL7). `undefined`, or no hook, closes the connection after
   * the replies before it are written: the sender sees no ACK and resends, which is safe because
   * nothing was acknowledged.
   */
  readonly onHandlerError?: (error: unknown, message: MllpInboundMessage) => string | Buffer | undefined;
  /** Metrics and logging hook. Exceptions it throws are ignored. */
  readonly onEvent?: (event: MllpServerEvent) => void;
}

export interface MllpServerStats {
  /** Open connections. */
  readonly connections: number;
  readonly connectionsTotal: number;
  /** Connections refused because `maxConnections` was reached. */
  readonly connectionsDropped: number;
  readonly messages: number;
  readonly replies: number;
  /** Messages being handled or waiting for an earlier reply on their connection. */
  readonly inFlight: number;
  readonly bytesReceived: number;
  readonly junkBytes: number;
  readonly protocolErrors: number;
  readonly handlerErrors: number;
  readonly tlsErrors: number;
}

interface ResolvedServerOptions {
  readonly host: string | undefined;
  readonly port: number;
  readonly handler: MllpHandler;
  readonly tls: tls.TlsOptions | undefined;
  readonly encoding: MllpEncoding;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxInFlightPerConnection: number;
  readonly closeTimeoutMs: number;
  readonly onHandlerError: ((error: unknown, message: MllpInboundMessage) => string | Buffer | undefined) | undefined;
  readonly onEvent: ((event: MllpServerEvent) => void) | undefined;
}

function nonNegativeInt(name: string, value: number | undefined, fallback: number, min = 0): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`MllpServer option ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

function resolveOptions(o: MllpServerOptions): ResolvedServerOptions {
  return {
    host: o.host,
    port: nonNegativeInt('port', o.port, 0),
    handler: o.handler,
    tls: o.tls,
    encoding: o.encoding ?? 'utf8',
    maxFrameBytes: nonNegativeInt('maxFrameBytes', o.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES, 1),
    idleTimeoutMs: nonNegativeInt('idleTimeoutMs', o.idleTimeoutMs, 0),
    maxConnections: nonNegativeInt('maxConnections', o.maxConnections, 256, 1),
    maxInFlightPerConnection: nonNegativeInt('maxInFlightPerConnection', o.maxInFlightPerConnection, 8, 1),
    closeTimeoutMs: nonNegativeInt('closeTimeoutMs', o.closeTimeoutMs, 10_000),
    onHandlerError: o.onHandlerError,
    onEvent: o.onEvent,
  };
}

/** TCP keepalive probe delay: finds peers that vanished without a FIN while a feed is quiet. */
const KEEPALIVE_MS = 60_000;

export class MllpServer {
  readonly #opts: ResolvedServerOptions;
  readonly #server: net.Server;
  readonly #connections = new Set<MllpServerConnection>();
  /** Every accepted TCP socket, including TLS sockets still in their handshake. */
  readonly #rawSockets = new Set<net.Socket>();
  readonly #host: ConnectionHost = this.#makeHost();
  #nextConnection = 0;
  #closing: Promise<void> | undefined;
  #activeHandlers = 0;
  #handlersIdle: (() => void)[] = [];

  #connectionsTotal = 0;
  #connectionsDropped = 0;
  #messages = 0;
  #replies = 0;
  #bytesReceived = 0;
  #junkBytes = 0;
  #protocolErrors = 0;
  #handlerErrors = 0;
  #tlsErrors = 0;

  constructor(options: MllpServerOptions) {
    this.#opts = resolveOptions(options);
    const tlsOptions = this.#opts.tls;
    if (tlsOptions?.requestCert === true && tlsOptions.ca === undefined) {
      // Without a CA of its own, Node would check client certificates against the public roots:
      // any certificate from a public CA would pass as a trusted peer.
      throw new RangeError('MllpServer: tls.requestCert needs tls.ca (the CA that signs client certificates)');
    }
    if (tlsOptions === undefined) {
      // allowHalfOpen: a sender may send and then shut down its side; it still gets its ACKs.
      this.#server = net.createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
      this.#server.on('connection', (socket: net.Socket) => this.#accept(socket));
    } else {
      // No half-open over TLS: a peer gone mid-handshake would otherwise leave a socket waiting
      // for a close nobody sends, and TLS ends a session with close_notify anyway (RFC 8446 6.1).
      const server = tls.createServer({ minVersion: 'TLSv1.2', ...tlsOptions, allowHalfOpen: false });
      server.on('secureConnection', (socket: tls.TLSSocket) => this.#accept(socket));
      server.on('tlsClientError', (error: Error, socket: tls.TLSSocket) => {
        this.#tlsErrors += 1;
        this.#emit({ kind: 'tls-error', remoteAddress: socket.remoteAddress, error });
      });
      this.#server = server;
    }
    this.#server.maxConnections = this.#opts.maxConnections;
    // For TLS this sees the TCP socket before the handshake, so close() can destroy it too.
    this.#server.on('connection', (socket: net.Socket) => {
      this.#rawSockets.add(socket);
      socket.once('close', () => this.#rawSockets.delete(socket));
      if (tlsOptions !== undefined) {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, KEEPALIVE_MS);
      }
    });
    this.#server.on('drop', (data?: net.DropArgument) => {
      this.#connectionsDropped += 1;
      this.#emit({ kind: 'connection-dropped', remoteAddress: data?.remoteAddress, reason: 'max-connections' });
    });
    // Accept errors (EMFILE, ...) after listen() must not crash the process (invariant 6).
    this.#server.on('error', (error: Error) => {
      if (this.#server.listening) this.#emit({ kind: 'server-error', error });
    });
  }

  /** Starts listening; rejects on bind errors such as EADDRINUSE. */
  listen(): Promise<void> {
    if (this.#server.listening) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.#server.off('listening', onListening);
        reject(error);
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        resolve();
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      if (this.#opts.host === undefined) this.#server.listen(this.#opts.port);
      else this.#server.listen(this.#opts.port, this.#opts.host);
    });
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  get tls(): boolean {
    return this.#opts.tls !== undefined;
  }

  /** The bound address; throws before `listen()` resolves. */
  address(): net.AddressInfo {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') throw new Error('MllpServer is not listening');
    return a;
  }

  get port(): number {
    return this.address().port;
  }

  get stats(): MllpServerStats {
    let inFlight = 0;
    for (const c of this.#connections) inFlight += c.inFlight;
    return {
      connections: this.#connections.size,
      connectionsTotal: this.#connectionsTotal,
      connectionsDropped: this.#connectionsDropped,
      messages: this.#messages,
      replies: this.#replies,
      inFlight,
      bytesReceived: this.#bytesReceived,
      junkBytes: this.#junkBytes,
      protocolErrors: this.#protocolErrors,
      handlerErrors: this.#handlerErrors,
      tlsErrors: this.#tlsErrors,
    };
  }

  /**
   * Stops accepting, lets every connection write the replies of messages already being handled
   * (messages read but not yet handed to the handler are dropped: unacknowledged, so the sender
   * resends them), then closes. After `closeTimeoutMs` the remaining sockets are destroyed.
   * Resolves when every socket is closed and no handler is running (or the timeout passed).
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const serverClosed = new Promise<void>((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
    for (const c of this.#connections) c.beginClose('server-close', undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#opts.closeTimeoutMs);
    });
    const handlersDone = new Promise<void>((resolve) => {
      if (this.#activeHandlers === 0) resolve();
      else this.#handlersIdle.push(resolve);
    });
    const socketsClosed = this.#waitSocketsClosed();
    await Promise.race([Promise.all([socketsClosed, handlersDone]), timedOut]);
    clearTimeout(timer);
    for (const c of this.#connections) c.destroy('server-close', undefined);
    for (const s of this.#rawSockets) s.destroy();
    await serverClosed;
  }

  #waitSocketsClosed(): Promise<void> {
    const pending = [...this.#rawSockets].filter((s) => !s.destroyed);
    return Promise.all(pending.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())))).then(() => undefined);
  }

  #accept(socket: net.Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    this.#nextConnection += 1;
    this.#connectionsTotal += 1;
    const connection = new MllpServerConnection(this.#host, this.#opts, `mllp-${this.#nextConnection}`, socket);
    this.#connections.add(connection);
    this.#emit({ kind: 'connection-opened', connectionId: connection.id, remoteAddress: connection.remoteAddress, remotePort: connection.remotePort, tls: connection.tlsInfo });
  }

  #emit(event: MllpServerEvent): void {
    const hook = this.#opts.onEvent;
    if (hook === undefined) return;
    try {
      hook(event);
    } catch {
      // A metrics hook must not break the transport.
    }
  }

  #handlerSettled(): void {
    this.#activeHandlers -= 1;
    if (this.#activeHandlers === 0) {
      const waiters = this.#handlersIdle;
      this.#handlersIdle = [];
      for (const w of waiters) w();
    }
  }

  /** What a connection may tell its server; kept off the public class. */
  #makeHost(): ConnectionHost {
    return {
      emit: (event) => this.#emit(event),
      message: (bytes) => {
        this.#messages += 1;
        this.#bytesReceived += bytes;
      },
      reply: () => {
        this.#replies += 1;
      },
      protocolError: () => {
        this.#protocolErrors += 1;
      },
      handlerError: () => {
        this.#handlerErrors += 1;
      },
      junk: (bytes) => {
        this.#junkBytes += bytes;
      },
      handlerStarted: () => {
        this.#activeHandlers += 1;
      },
      handlerSettled: () => this.#handlerSettled(),
      connectionClosed: (connection) => {
        this.#connections.delete(connection);
      },
    };
  }
}

/** The server side of a connection's bookkeeping. */
interface ConnectionHost {
  emit(event: MllpServerEvent): void;
  message(bytes: number): void;
  reply(): void;
  protocolError(): void;
  handlerError(): void;
  junk(bytes: number): void;
  handlerStarted(): void;
  handlerSettled(): void;
  connectionClosed(connection: MllpServerConnection): void;
}

/** What became of one message, in arrival order. */
interface Slot {
  readonly message: MllpInboundMessage;
  state: 'pending' | 'reply' | 'no-reply' | 'close';
  reply: Buffer | undefined;
}

interface Received {
  readonly raw: Buffer;
  readonly receivedAt: Date;
  readonly sequence: number;
}

function tlsInfoOf(socket: net.Socket): MllpTlsInfo | null {
  if (!(socket instanceof tls.TLSSocket)) return null;
  // null when the socket's handle is already gone; this runs inside an event handler, where a
  // throw would take the process down.
  const cert = socket.getPeerCertificate() as Partial<tls.PeerCertificate> | null;
  // Subject fields can repeat, in which case Node gives an array.
  const cn: unknown = cert?.subject?.CN;
  const peerCommonName = typeof cn === 'string' ? cn : Array.isArray(cn) && typeof cn[0] === 'string' ? cn[0] : undefined;
  const authError: unknown = socket.authorizationError;
  return {
    authorized: socket.authorized,
    authorizationError: authError === undefined || authError === null ? undefined : String(authError instanceof Error ? authError.message : authError),
    peerCommonName,
    protocol: socket.getProtocol() ?? undefined,
  };
}

/**
 * The payload as text. Most HL7 feeds are plain ASCII, which reads the same in UTF-8 and
 * ISO 8859-1, and the 8859-1 decoder only copies bytes: UTF-8 decoding is for payloads that need it.
 */
function decodePayload(raw: Buffer, encoding: MllpEncoding): string {
  return encoding === 'utf8' && isAscii(raw) ? raw.toString('latin1') : raw.toString(encoding);
}

function encodeReply(reply: string | Buffer, encoding: MllpEncoding): Buffer | undefined {
  try {
    return encodeMllpFrame(reply, encoding);
  } catch {
    return undefined;
  }
}

/** One accepted connection: framing, ordered replies, flow control, close. */
class MllpServerConnection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly tlsInfo: MllpTlsInfo | null;
  readonly #server: ConnectionHost;
  readonly #opts: ResolvedServerOptions;
  readonly #socket: net.Socket;
  readonly #framer: MllpFramer;
  /** Messages handed to the handler whose replies are not written yet, oldest first. */
  #slots: Slot[] = [];
  /** Frames read while at the in-flight cap, not yet handed to the handler. */
  #backlog: Received[] = [];
  #sequence = 0;
  #paused = false;
  #writeBlocked = false;
  #peerEnded = false;
  /** No new messages are taken; the connection ends once its slots are written. */
  #closingReason: MllpCloseReason | undefined;
  #closingError: SwitchboardError | undefined;
  #closed = false;
  #destroyTimer: NodeJS.Timeout | undefined;

  constructor(server: ConnectionHost, opts: ResolvedServerOptions, id: string, socket: net.Socket) {
    this.#server = server;
    this.#opts = opts;
    this.id = id;
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.tlsInfo = tlsInfoOf(socket);
    this.#framer = new MllpFramer({
      maxFrameBytes: opts.maxFrameBytes,
      // A socket's 'data' chunks are fresh memory per read, never reused.
      adoptChunks: true,
      onFrame: (payload) => this.#onFrame(payload),
      onError: (error) => this.#onProtocolError(error),
      onJunk: (bytes) => {
        server.junk(bytes);
        if (opts.onEvent !== undefined) server.emit({ kind: 'junk-skipped', connectionId: id, bytes });
      },
    });
    socket.on('data', (chunk: Buffer) => {
      // After a close decision the rest of the stream is not looked at.
      if (this.#closingReason === undefined) this.#framer.push(chunk);
    });
    socket.on('end', () => {
      this.#peerEnded = true;
      this.#maybeEnd();
    });
    socket.on('drain', () => {
      this.#writeBlocked = false;
      this.#flush();
    });
    socket.on('error', () => {
      // ECONNRESET and friends: the peer is gone; 'close' follows.
      this.#closingReason ??= 'socket-error';
    });
    socket.on('close', () => this.#onClose());
    if (opts.idleTimeoutMs > 0) {
      socket.setTimeout(opts.idleTimeoutMs);
      socket.on('timeout', () => {
        // Busy is not idle: the peer is waiting for our reply. Re-arm explicitly, since a message
        // that gets no reply (enhanced mode NE) writes nothing that would.
        if (this.#slots.length > 0 || this.#backlog.length > 0) {
          socket.setTimeout(opts.idleTimeoutMs);
          return;
        }
        this.destroy('idle', new SwitchboardError('SWB_ERR_MLLP_IDLE_TIMEOUT', { ms: opts.idleTimeoutMs }));
      });
    }
  }

  get inFlight(): number {
    return this.#slots.length + this.#backlog.length;
  }

  /** Stop taking messages; end the connection once the replies in progress are written. */
  beginClose(reason: MllpCloseReason, error: SwitchboardError | undefined): void {
    if (this.#closed) return;
    this.#closingReason ??= reason;
    this.#closingError ??= error;
    this.#backlog = [];
    this.#pause();
    this.#maybeEnd();
  }

  destroy(reason: MllpCloseReason, error: SwitchboardError | undefined): void {
    this.#closingReason ??= reason;
    this.#closingError ??= error;
    this.#slots = [];
    this.#backlog = [];
    this.#socket.destroy();
  }

  #onFrame(raw: Buffer): void {
    if (this.#closingReason !== undefined) return;
    this.#sequence += 1;
    const sequence = this.#sequence;
    const receivedAt = new Date();
    this.#server.message(raw.length);
    // Event objects are built only for a hook: this runs for every message.
    if (this.#opts.onEvent !== undefined) this.#server.emit({ kind: 'frame-received', connectionId: this.id, sequence, bytes: raw.length });
    // Behind the backlog, never ahead of it: replies follow arrival order.
    const wait = this.#backlog.length > 0 || this.#writeBlocked || this.#slots.length >= this.#opts.maxInFlightPerConnection;
    if (wait) this.#backlog.push({ raw, receivedAt, sequence });
    else this.#start(raw, receivedAt, sequence);
    this.#updateFlow();
  }

  #onProtocolError(error: SwitchboardError): void {
    this.#server.protocolError();
    this.#server.emit({ kind: 'protocol-error', connectionId: this.id, error });
    // An oversize frame is refused by closing: there is no MLLP-level NAK, and reading on would
    // only feed the framer bytes it discards. Replies already in progress are still written.
    this.beginClose('oversize', error);
  }

  #start(raw: Buffer, receivedAt: Date, sequence: number): void {
    const message: MllpInboundMessage = {
      payload: decodePayload(raw, this.#opts.encoding),
      raw,
      connectionId: this.id,
      sequence,
      remoteAddress: this.remoteAddress,
      remotePort: this.remotePort,
      receivedAt,
      tls: this.tlsInfo,
    };
    const slot: Slot = { message, state: 'pending', reply: undefined };
    this.#slots.push(slot);
    this.#server.handlerStarted();
    let result: Promise<string | Buffer | undefined>;
    try {
      result = this.#opts.handler(message);
    } catch (error) {
      result = Promise.reject(error);
    }
    Promise.resolve(result).then(
      (reply) => {
        this.#server.handlerSettled();
        this.#settle(slot, reply);
      },
      (error: unknown) => {
        this.#server.handlerSettled();
        this.#handlerFailed(slot, error);
      },
    );
  }

  #settle(slot: Slot, reply: string | Buffer | undefined): void {
    if (reply === undefined) {
      slot.state = 'no-reply';
    } else {
      try {
        slot.reply = encodeMllpFrame(reply, this.#opts.encoding);
      } catch (error) {
        // Not a string or Buffer (a JavaScript caller): handled like a handler failure.
        this.#handlerFailed(slot, error);
        return;
      }
      slot.state = 'reply';
    }
    this.#flush();
  }

  #handlerFailed(slot: Slot, error: unknown): void {
    this.#server.handlerError();
    let reply: string | Buffer | undefined;
    try {
      reply = this.#opts.onHandlerError?.(error, slot.message);
    } catch {
      reply = undefined;
    }
    this.#server.emit({ kind: 'handler-error', connectionId: this.id, sequence: slot.message.sequence, error, replied: reply !== undefined });
    slot.reply = reply === undefined ? undefined : encodeReply(reply, this.#opts.encoding);
    slot.state = slot.reply === undefined ? 'close' : 'reply';
    this.#flush();
  }

  /** Writes every finished reply at the head of the queue, then takes work from the backlog. */
  #flush(): void {
    // Replies that became ready together (a pipelining sender, a batch commit) leave in one write.
    const cork = this.#slots.length > 1 && this.#slots[1]?.state !== 'pending' && this.#slots[0]?.state !== 'pending';
    if (cork) this.#socket.cork();
    try {
      while (!this.#closed) {
        const head = this.#slots[0];
        if (head === undefined || head.state === 'pending') break;
        this.#slots.shift();
        if (head.state === 'close') {
          // Later messages get no reply: the sender resends them on a new connection.
          this.#slots = [];
          this.beginClose('handler-error', undefined);
          return;
        }
        if (head.state === 'reply' && head.reply !== undefined) this.#write(head);
      }
    } finally {
      if (cork) this.#socket.uncork();
    }
    // No new work while the peer is not reading its replies: they would pile up in memory.
    while (this.#closingReason === undefined && !this.#writeBlocked && this.#slots.length < this.#opts.maxInFlightPerConnection) {
      const next = this.#backlog.shift();
      if (next === undefined) break;
      this.#start(next.raw, next.receivedAt, next.sequence);
    }
    this.#updateFlow();
    this.#maybeEnd();
  }

  #write(slot: Slot): void {
    const reply = slot.reply;
    if (reply === undefined || this.#socket.destroyed || !this.#socket.writable) return;
    const ok = this.#socket.write(reply);
    this.#server.reply();
    if (this.#opts.onEvent !== undefined) {
      this.#server.emit({
        kind: 'reply-sent',
        connectionId: this.id,
        sequence: slot.message.sequence,
        bytes: reply.length - 3,
        latencyMs: Date.now() - slot.message.receivedAt.getTime(),
      });
    }
    // A peer that does not read its ACKs: stop reading its messages until the buffer drains.
    if (!ok) this.#writeBlocked = true;
  }

  #updateFlow(): void {
    if (this.#closed) return;
    const mustPause = this.#closingReason !== undefined || this.#writeBlocked || this.#backlog.length > 0 || this.#slots.length >= this.#opts.maxInFlightPerConnection;
    if (mustPause) this.#pause();
    else if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#socket.pause();
  }

  /** Ends our side once nothing is owed: after the peer ended, or when closing. */
  #maybeEnd(): void {
    if (this.#closed || this.#slots.length > 0) return;
    const closing = this.#closingReason !== undefined;
    if (!closing && !(this.#peerEnded && this.#backlog.length === 0)) return;
    this.#closingReason ??= 'peer';
    if (!this.#socket.writableEnded) this.#socket.end();
    // A peer that never closes its side must not hold the socket forever.
    this.#destroyTimer ??= setTimeout(() => this.#socket.destroy(), Math.max(this.#opts.closeTimeoutMs, 1000)).unref();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#destroyTimer);
    this.#slots = [];
    this.#backlog = [];
    this.#server.connectionClosed(this);
    this.#server.emit({
      kind: 'connection-closed',
      connectionId: this.id,
      reason: this.#closingReason ?? 'peer',
      error: this.#closingError,
      messages: this.#sequence,
      bytesRead: this.#socket.bytesRead,
      bytesWritten: this.#socket.bytesWritten,
    });
  }
}
