import { readFile } from 'node:fs/promises';
import type tls from 'node:tls';
import { SwitchboardError } from '../../core/errors.ts';
import type { SourceConnector, SourceContext } from '../../engine/source-connector.ts';
import { buildRejectAck, Hl7ErrorCode } from '../../hl7v2/index.ts';
import type { MllpEncoding } from '../../mllp/mllp-framer.ts';
import { MllpServer, type MllpInboundMessage, type MllpServerEvent, type MllpServerStats } from '../../mllp/mllp-server.ts';
import { invalid, optionalInt, optionalString, reasonOf, requiredString, type Settings } from '../connector-settings.ts';
import { hostPort, listenHost, listenPort, onlyKnown } from '../source-settings.ts';

/**
 * An MLLP listener (HL7 v2 Appendix C) feeding a channel: each frame is handed to the channel's
 * `receive`, which stores it before resolving (ARCHITECTURE.md invariant 1), and the ACK it returns
 * is framed back; `ack: undefined` (enhanced mode, no accept ACK due) sends nothing. If `receive`
 * throws (it should not), the sender gets an AR with SWB_ERR_MLLP_HANDLER_FAILED and resends.
 * A `rejected` result (store down) carries its own AR, so the sender resends too.
 *
 * Metrics: `onEvent(listener)` subscribes to the server's events (connections, protocol errors,
 * TLS failures; ids and sizes only, invariant 7) and `stats` reads its counters.
 */

export interface MllpSourceSettings {
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly port: number;
  /** PEM files; with `caFile` the listener requires client certificates signed by it (mutual TLS). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
  /** Default utf8; latin1 for ISO 8859-1 feeds. */
  readonly encoding?: MllpEncoding;
  readonly maxFrameBytes?: number;
  readonly idleTimeoutMs?: number;
  readonly maxConnections?: number;
  readonly maxInFlightPerConnection?: number;
  readonly closeTimeoutMs?: number;
}

const KNOWN = ['host', 'port', 'tls', 'encoding', 'maxFrameBytes', 'idleTimeoutMs', 'maxConnections', 'maxInFlightPerConnection', 'closeTimeoutMs'];

interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string | undefined;
}

function readTlsFiles(settings: Settings, path: string): TlsFiles | undefined {
  const value = settings['tls'];
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${path}.tls`, 'must be an object with certFile, keyFile and optionally caFile');
  const t = value as Settings;
  onlyKnown(t, `${path}.tls`, ['certFile', 'keyFile', 'caFile']);
  return { certFile: requiredString(t, `${path}.tls`, 'certFile'), keyFile: requiredString(t, `${path}.tls`, 'keyFile'), caFile: optionalString(t, `${path}.tls`, 'caFile') };
}

async function loadTls(files: TlsFiles): Promise<tls.TlsOptions> {
  const read = async (file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new SwitchboardError('SWB_ERR_IO_READ_FAILED', { path: file, reason: reasonOf(error) });
    }
  };
  const [cert, key] = await Promise.all([read(files.certFile), read(files.keyFile)]);
  if (files.caFile === undefined) return { cert, key };
  return { cert, key, ca: await read(files.caFile), requestCert: true, rejectUnauthorized: true };
}

export class MllpSource implements SourceConnector {
  readonly kind = 'mllp';
  readonly #host: string;
  readonly #port: number;
  readonly #tls: TlsFiles | undefined;
  readonly #encoding: MllpEncoding | undefined;
  readonly #limits: { maxFrameBytes?: number; idleTimeoutMs?: number; maxConnections?: number; maxInFlightPerConnection?: number; closeTimeoutMs?: number };
  readonly #listeners = new Set<(event: MllpServerEvent) => void>();
  #server: MllpServer | undefined;

  constructor(settings: Settings, path = 'source.settings') {
    onlyKnown(settings, path, KNOWN);
    this.#host = listenHost(settings, path);
    this.#port = listenPort(settings, path);
    this.#tls = readTlsFiles(settings, path);
    const encoding = optionalString(settings, path, 'encoding');
    if (encoding !== undefined && encoding !== 'utf8' && encoding !== 'latin1') throw invalid(`${path}.encoding`, 'must be utf8 or latin1');
    this.#encoding = encoding;
    const limits: Record<string, number> = {};
    for (const [field, min] of [['maxFrameBytes', 1], ['idleTimeoutMs', 0], ['maxConnections', 1], ['maxInFlightPerConnection', 1], ['closeTimeoutMs', 0]] as const) {
      const v = optionalInt(settings, path, field, min);
      if (v !== undefined) limits[field] = v;
    }
    this.#limits = limits;
  }

  /** Subscribes to the server's events (for metrics and logs); returns the unsubscribe function. */
  onEvent(listener: (event: MllpServerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The server's counters; undefined before `start()`. */
  get stats(): MllpServerStats | undefined {
    return this.#server?.stats;
  }

  /** The running server (for the API's listener status); undefined before `start()` and after `stop()`. */
  get server(): MllpServer | undefined {
    return this.#server;
  }

  async start(context: SourceContext): Promise<void> {
    if (this.#server !== undefined) return;
    const tlsOptions = this.#tls === undefined ? undefined : await loadTls(this.#tls);
    const server = new MllpServer({
      host: this.#host,
      port: this.#port,
      ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
      ...(this.#encoding === undefined ? {} : { encoding: this.#encoding }),
      ...this.#limits,
      handler: async (inbound: MllpInboundMessage) => {
        const result = await context.receive({
          content: inbound.payload,
          contentType: 'hl7v2',
          source: `mllp://${hostPort(inbound.remoteAddress, inbound.remotePort)}`,
          receivedAt: inbound.receivedAt,
        });
        return result.ack;
      },
      // Invariant 6: a failing handler still answers, with a reject the sender resends on.
      onHandlerError: (_error, inbound) =>
        buildRejectAck(inbound.payload, { hl7Code: Hl7ErrorCode.applicationInternalError, code: 'SWB_ERR_MLLP_HANDLER_FAILED' }).toString({ terminator: '\r' }),
      onEvent: (event) => {
        for (const listener of this.#listeners) listener(event);
      },
    });
    await server.listen();
    this.#server = server;
  }

  /** Stops accepting; replies owed for messages being handled are written first (MllpServer.close). */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.close();
  }

  /** `mllp://host:port` (`mllps://` with TLS), the bound port once started. */
  describe(): string {
    const port = this.#server?.listening === true ? this.#server.port : this.#port;
    return `${this.#tls === undefined ? 'mllp' : 'mllps'}://${hostPort(this.#host, port)}`;
  }
}
