import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { destinationId, type ChannelConfig } from '../core/channel-config.ts';
import { isSwitchboardError, SwitchboardError } from '../core/errors.ts';
import { newSortableId } from '../core/ids.ts';
import type { Logger } from '../core/logger.ts';
import type { Store } from '../core/ports/store.ts';
import { createDestination } from '../connectors/destination-registry.ts';
import { MllpSource } from '../connectors/mllp/mllp-source.ts';
import { createSource } from '../connectors/source-registry.ts';
import { loadChannelText, type LoadedChannel } from '../engine/channel-loader.ts';
import { createChannelReceiver, type ChannelReceiver } from '../engine/channel-runtime.ts';
import type { ChannelInbox, DestinationConnector } from '../engine/destination-connector.ts';
import { Dispatcher, type DispatchDestination } from '../engine/dispatcher.ts';
import { revisionPipelines } from '../engine/revision-pipelines.ts';
import { resolveSettingsEnv } from '../engine/settings-env.ts';
import type { InboundMessage, ReceiveResult, SourceConnector, SourceContext } from '../engine/source-connector.ts';
import { createEngineMetrics, type EngineMetrics } from './engine-metrics.ts';
import { ChannelActivity } from './channel-activity.ts';
import type { ChannelControl, ControlledChannel } from './channel-control-routes.ts';
import { messageTypeLabel } from './metrics.ts';
import { buildHttpApi, type HttpApiOptions } from './http-api.ts';
import { actorOf, type HttpSecurityOptions } from './http-security.ts';
import { RecentMessages } from './recent-messages.ts';

/**
 * The engine as `switchboard start` runs it: channels (applied as revisions), their sources, the
 * dispatcher over every destination, retention, metrics and the HTTP API. The composition root of
 * ARCHITECTURE.md "A message's path"; the parts live in engine/, connectors/ and store/.
 */

export interface EngineServiceOptions {
  readonly store: Store;
  readonly channels: readonly LoadedChannel[];
  readonly host: string;
  /** undefined: no HTTP API. */
  readonly httpPort: number | undefined;
  readonly logger: Logger;
  /** Who applied the channels (revision author), e.g. `cli:alice`. */
  readonly author: string;
  /** How often an idle destination polls (default 500 ms). */
  readonly pollMs?: number;
  /** Retention sweep period (default 10 min; 0 disables). */
  readonly retentionIntervalMs?: number;
  /** The channel directory: module paths of stored revisions resolve against it (replay). */
  readonly configDir?: string;
  /**
   * Poll the stored revisions this often and reload when a channel's latest revision differs from
   * what runs (a deploy with `switchboard channels apply`); off when omitted.
   */
  readonly watchRevisionsMs?: number;
  /** Where `${NAME}` in connector settings is read from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Dispatcher lease owner (default host:pid:random). */
  readonly owner?: string;
  /** Authentication and authorization of the HTTP API (security-setup.ts); open when omitted. */
  readonly security?: HttpSecurityOptions;
  /** Per-client rate limits of the HTTP API (rate-limit.ts); off when omitted or false. */
  readonly rateLimit?: HttpApiOptions['rateLimit'];
  /** CORS origins of the HTTP API (cors.ts); none when omitted. */
  readonly cors?: HttpApiOptions['cors'];
  /** The write-back service whose routes the HTTP API serves (started and stopped by the caller). */
  readonly writeback?: HttpApiOptions['writeback'];
  /** Where clients reach the HTTP API (HttpApiOptions.publicUrl); the request's Host when omitted. */
  readonly publicUrl?: string;
}

export interface RunningChannel {
  readonly config: ChannelConfig;
  readonly revision: number;
  readonly receiver: ChannelReceiver;
  readonly source: SourceConnector | undefined;
}

interface Runtime {
  readonly loaded: readonly LoadedChannel[];
  readonly channels: ReadonlyMap<string, RunningChannel>;
  readonly dispatcher: Dispatcher;
  readonly enabled: readonly LoadedChannel[];
  readonly destinations: readonly string[];
  readonly mllp: readonly MllpSource[];
  /** Stops / starts one channel's source (channel control); false when it already was. */
  stopSource(channelId: string): Promise<boolean>;
  startSource(channelId: string): Promise<boolean>;
  isListening(channelId: string): boolean;
  stop(): Promise<void>;
}

export interface EngineService {
  /** The running channels (empty for the moment of a reload). */
  readonly channels: ReadonlyMap<string, RunningChannel>;
  readonly dispatcher: Dispatcher | undefined;
  readonly metrics: EngineMetrics;
  readonly http: FastifyInstance | undefined;
  readonly httpUrl: string | undefined;
  /** Stop/start, pause/resume and per-minute activity, as the API's channel control uses them. */
  readonly control: ChannelControl;
  /** Restarts the channels under these definitions (applied as revisions); the HTTP API stays up. */
  reload(channels: readonly LoadedChannel[]): Promise<void>;
  /** Runs one retention sweep now; returns messages pruned per channel. */
  runRetention(now?: Date): Promise<Record<string, number>>;
  close(): Promise<void>;
}

const ABORT_GRACE_MS = 1000;
/** Room beyond an attempt's timeout for its outcome to be recorded before the lease runs out. */
const LEASE_MARGIN_MS = 5000;
/** The metrics label of a received message's type: non-HL7 input is `fhir` or `text`. */
function typeLabel(type: string): string {
  return messageTypeLabel(type, ['fhir', 'text']) || 'unparsed';
}

/** Destination factories name paths from `destination.settings`; say which channel file and destination. */
function withPath(e: unknown, path: string): unknown {
  if (isSwitchboardError(e) && e.code === 'SWB_ERR_CONFIG_INVALID') {
    const p = String((e.params as Record<string, unknown>)['path'] ?? '');
    const rest = p.startsWith('destination.settings') ? p.slice('destination.settings'.length) : p === '' ? '' : `.${p}`;
    return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: `${path}${rest}`, reason: String((e.params as Record<string, unknown>)['reason'] ?? '') });
  }
  return e;
}

export async function startEngineService(options: EngineServiceOptions): Promise<EngineService> {
  const { store, logger: log } = options;
  const env = options.env ?? process.env;
  const owner = options.owner ?? `${hostname()}:${process.pid}:${newSortableId().slice(-6)}`;
  let current: Runtime | undefined;
  const metrics = createEngineMetrics({ queue: store.queue, destinations: () => current?.destinations ?? [] });
  const recent = new RecentMessages();
  // Channel control (channel-control-routes.ts): per-minute counts kept in this process, and what
  // an operator stopped or paused, kept across reloads (not across restarts).
  const activity = new ChannelActivity();
  const stoppedChannels = new Set<string>();
  const pausedDestinations = new Set<string>();


  /**
   * Channels at run time: revisions applied, destinations and the dispatcher, receivers, sources.
   * Started at start and again on each reload; metrics, retention and the HTTP API outlive it.
   */
  async function startChannels(channels: readonly LoadedChannel[]): Promise<Runtime> {
    // 1. Revisions: every start applies the channel files; an unchanged one keeps its revision.
    const revisions = new Map<string, number>();
    for (const ch of channels) {
      const r = await store.channels.apply({ channelId: ch.config.id, document: ch.document, hash: ch.hash, author: options.author });
      revisions.set(ch.config.id, r.revision.revision);
      if (r.kind === 'created') log.info({ channel: ch.config.id, revision: r.revision.revision }, 'channel revision applied');
    }

    // 2. Destinations and the dispatcher over all of them.
    const receivers = new Map<string, ChannelReceiver>();
    const sources = new Map<string, { readonly source: SourceConnector; readonly context: SourceContext }>();
    const inbox: ChannelInbox = { receive: (channelId: string, message: InboundMessage) => receivers.get(channelId)?.receive(message) };
    const connectors: DestinationConnector[] = [];
    const destinations = new Map<string, DispatchDestination>();
    const enabled = channels.filter((c) => c.config.enabled);
    try {
      for (const ch of enabled) {
        ch.config.destinations.forEach((d, i) => {
          let connector: DestinationConnector;
          try {
            const settings = resolveSettingsEnv(d.settings, env, `${ch.file}: destinations[${i}].settings`) as Readonly<Record<string, unknown>>;
            connector = createDestination(d.kind, settings, { channels: inbox, ...(store.resources !== undefined ? { resources: store.resources } : {}) });
          } catch (e) {
            throw withPath(e, `${ch.file}: destinations[${i}].settings`);
          }
          connectors.push(connector);
          destinations.set(destinationId(ch.config.id, d.name), {
            connector,
            concurrency: d.concurrency,
            onError: d.onError,
            attemptTimeoutMs: d.timeoutMs,
            retry: { initialMs: d.retry.initialDelayMs, maxMs: d.retry.maxDelayMs, multiplier: d.retry.multiplier, jitter: d.retry.jitter },
          });
        });
      }
    } catch (e) {
      await Promise.allSettled(connectors.map((c) => c.close()));
      throw e;
    }
    const maxTimeout = Math.max(1000, ...[...destinations.values()].map((d) => d.attemptTimeoutMs));
    const dispatcher = new Dispatcher({
      queue: store.queue,
      destinations,
      owner,
      // Longer than any attempt can run, with room for the outcome to be recorded (see DispatcherOptions).
      leaseMs: maxTimeout + ABORT_GRACE_MS + LEASE_MARGIN_MS,
      pollMs: options.pollMs ?? 500,
      abortGraceMs: ABORT_GRACE_MS,
      logger: log,
      onAttempt: (a) => {
        activity.attempt(a.destination, a.result);
        metrics.deliveries.inc({ destination: a.destination, result: a.result });
        metrics.attemptSeconds.observe({ destination: a.destination }, a.durationMs / 1000);
        if (a.result === 'delivered') metrics.deliverySeconds.observe({ destination: a.destination }, a.sinceEnqueueMs / 1000);
      },
    });

    /** MLLP connection metrics and logs: addresses and codes, never content. */
    const watchMllp = (source: MllpSource, channel: string): void => {
      source.onEvent((event) => {
        switch (event.kind) {
          case 'connection-opened':
            metrics.mllpConnections.inc({ channel });
            log.info({ channel, connectionId: event.connectionId, remote: `${event.remoteAddress}:${event.remotePort}` }, 'connection opened');
            break;
          case 'connection-closed':
            metrics.mllpConnections.dec({ channel });
            log.info({ channel, connectionId: event.connectionId, reason: event.reason, messages: event.messages }, 'connection closed');
            break;
          case 'protocol-error':
            metrics.mllpProtocolErrors.inc({ channel, kind: event.error.code });
            log.warn({ channel, connectionId: event.connectionId, code: event.error.code }, 'protocol error');
            break;
          case 'connection-dropped':
            metrics.mllpProtocolErrors.inc({ channel, kind: 'max-connections' });
            break;
          case 'tls-error':
            metrics.mllpProtocolErrors.inc({ channel, kind: 'tls' });
            log.warn({ channel, remote: event.remoteAddress }, 'TLS handshake failed');
            break;
          case 'junk-skipped':
            metrics.mllpProtocolErrors.inc({ channel, kind: 'junk' });
            break;
          case 'server-error':
            log.error({ channel, err: event.error.message }, 'MLLP server error');
            break;
          case 'handler-error':
          case 'frame-received':
          case 'reply-sent':
            break;
        }
      });
    };

    // 3. Receivers (the channel runtime) and sources.
    const running = new Map<string, RunningChannel>();
    for (const ch of enabled) {
      const revision = revisions.get(ch.config.id) ?? 0;
      const receiver = createChannelReceiver({
        config: ch.config,
        revision,
        pipeline: ch.pipeline,
        ingest: (record) => store.messages.ingest(record),
        appendEvent: (event) => store.messages.appendEvent(event),
        onQueued: (ids) => {
          for (const id of ids) dispatcher.notify(id);
        },
      });
      receivers.set(ch.config.id, receiver);
    }
    for (const id of pausedDestinations) if (destinations.has(id)) dispatcher.pause(id);
    dispatcher.start();

    const started: SourceConnector[] = [];
    const stopAll = async (): Promise<void> => {
      await Promise.allSettled(started.map((s) => s.stop()));
      await dispatcher.stop();
      await Promise.allSettled(connectors.map((c) => c.close()));
    };
    try {
      for (const ch of enabled) {
        const receiver = receivers.get(ch.config.id);
        if (receiver === undefined) continue;
        const revision = revisions.get(ch.config.id) ?? 0;
        let source: SourceConnector | undefined;
        // `channel` sources are fed by other channels' channel destinations, through the inbox.
        if (ch.config.source.kind !== 'channel') {
          const settings = resolveSettingsEnv(ch.config.source.settings, env, `${ch.file}: source.settings`) as Readonly<Record<string, unknown>>;
          const created = createSource(ch.config.source.kind, settings, `${ch.file}: source.settings`);
          if (created instanceof MllpSource) watchMllp(created, ch.config.id);
          const context: SourceContext = {
            channelId: ch.config.id,
            receive: async (message: InboundMessage): Promise<ReceiveResult> => {
              const t0 = process.hrtime.bigint();
              const { result, summary } = await receiver.receiveWithSummary(message);
              activity.received(ch.config.id, result.kind === 'accepted' && (summary.ackCode === '' || summary.ackCode === 'AA' || summary.ackCode === 'CA'));
              metrics.receiveSeconds.observe({ channel: ch.config.id }, Number(process.hrtime.bigint() - t0) / 1e9);
              metrics.received.inc({ channel: ch.config.id, type: typeLabel(summary.messageType), ack: summary.ackCode || '-', status: result.kind === 'accepted' ? result.status : 'rejected' });
              if (result.kind === 'accepted' && result.duplicate) metrics.duplicates.inc({ channel: ch.config.id });
              recent.add({
                receivedAt: message.receivedAt.toISOString(),
                controlId: summary.controlId,
                type: typeLabel(summary.messageType),
                version: '',
                bytes: Buffer.byteLength(message.content),
                ack: summary.ackCode || '-',
                connectionId: ch.config.id,
                ...(result.kind === 'rejected' ? { errorCode: result.errorCode } : result.errorCode !== undefined ? { errorCode: result.errorCode } : {}),
              });
              if (result.kind === 'rejected') log.warn({ channel: ch.config.id, code: result.errorCode, controlId: summary.controlId }, 'message not stored; the sender was told to resend');
              else log.debug({ channel: ch.config.id, messageId: result.messageId, controlId: summary.controlId, ack: summary.ackCode, status: result.status }, 'message received');
              return result;
            },
          };
          sources.set(ch.config.id, { source: created, context });
          source = created;
          // A channel an operator stopped stays stopped through a reload.
          if (!stoppedChannels.has(ch.config.id)) {
            await created.start(context);
            started.push(created);
            log.info({ channel: ch.config.id, source: created.describe(), revision }, 'channel started');
          }
        }
        running.set(ch.config.id, { config: ch.config, revision, receiver, source });
      }
    } catch (e) {
      await stopAll();
      throw e;
    }
    return {
      loaded: channels,
      channels: running,
      dispatcher,
      enabled,
      destinations: [...destinations.keys()],
      get mllp() {
        return started.filter((x): x is MllpSource => x instanceof MllpSource);
      },
      isListening: (id) => {
        const s = sources.get(id);
        return s !== undefined && started.includes(s.source);
      },
      // Stopping a source stops new input only: queued deliveries go on (the dispatcher runs).
      stopSource: async (id) => {
        const s = sources.get(id);
        if (s === undefined) throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: `channel ${id} has no source of its own (it is fed by other channels): pause the destination that feeds it` });
        const at = started.indexOf(s.source);
        if (at < 0) return false;
        started.splice(at, 1);
        await s.source.stop();
        log.info({ channel: id }, 'channel source stopped');
        return true;
      },
      startSource: async (id) => {
        const s = sources.get(id);
        if (s === undefined) throw new SwitchboardError('SWB_ERR_HTTP_BAD_REQUEST', { reason: `channel ${id} has no source of its own (it is fed by other channels)` });
        if (started.includes(s.source)) return false;
        await s.source.start(s.context);
        started.push(s.source);
        log.info({ channel: id, source: s.source.describe() }, 'channel source started');
        return true;
      },
      stop: stopAll,
    };
  }

  current = await startChannels(options.channels);

  // 4. Retention (issue 3 "Storage"): content of old messages goes, metadata stays.
  const runRetention = async (now: Date = new Date()): Promise<Record<string, number>> => {
    const pruned: Record<string, number> = {};
    for (const ch of current?.enabled ?? []) {
      const { contentRetentionMs, erroredRetentionMs } = ch.config.storage;
      const n =
        (await store.messages.pruneContent({ channelId: ch.config.id, receivedBefore: new Date(now.getTime() - contentRetentionMs), statuses: ['delivered', 'filtered', 'resolved'] })) +
        (await store.messages.pruneContent({ channelId: ch.config.id, receivedBefore: new Date(now.getTime() - erroredRetentionMs), statuses: ['errored'] }));
      pruned[ch.config.id] = n;
      if (n > 0) metrics.retentionPruned.inc({ channel: ch.config.id }, n);
    }
    const longestWindow = Math.max(0, ...(current?.enabled ?? []).map((c) => (c.config.dedupe.enabled ? c.config.dedupe.windowMs : 0)));
    await store.messages.pruneDedupeKeys(new Date(now.getTime() - longestWindow));
    return pruned;
  };
  const retentionEvery = options.retentionIntervalMs ?? 10 * 60_000;
  let retentionTimer: NodeJS.Timeout | undefined;
  let retentionRun: Promise<unknown> = Promise.resolve();
  if (retentionEvery > 0) {
    retentionTimer = setInterval(() => {
      retentionRun = runRetention().then(
        (pruned) => log.info({ pruned }, 'retention sweep'),
        (e: unknown) => log.error({ code: isSwitchboardError(e) ? e.code : 'error' }, 'retention sweep failed'),
      );
    }, retentionEvery);
    retentionTimer.unref();
  }

  // Channel control for the API (channel-control-routes.ts): what an operator may do to the running channels.
  const runningChannel = (id: string): Runtime => {
    if (current === undefined || !current.channels.has(id)) throw new SwitchboardError('SWB_ERR_HTTP_CHANNEL_NOT_RUNNING', { channel: id });
    return current;
  };
  const control: ChannelControl = {
    activity,
    configDir: options.configDir,
    baseDir: options.configDir ?? process.cwd(),
    channels: () => {
      const rt = current;
      if (rt === undefined) return [];
      return [...rt.channels.values()].map((rc): ControlledChannel => ({
        id: rc.config.id,
        name: rc.config.name,
        revision: rc.revision,
        state: rc.source === undefined ? (stoppedChannels.has(rc.config.id) ? 'stopped' : 'running') : rt.isListening(rc.config.id) ? 'running' : 'stopped',
        destinations: rc.config.destinations.map((d) => {
          const id = destinationId(rc.config.id, d.name);
          return { name: d.name, id, paused: pausedDestinations.has(id), inFlight: rt.destinations.includes(id) ? rt.dispatcher.stats(id).inFlight : 0 };
        }),
      }));
    },
    stop: async (id) => {
      const changed = await runningChannel(id).stopSource(id);
      stoppedChannels.add(id);
      return changed;
    },
    start: async (id) => {
      const changed = await runningChannel(id).startSource(id);
      stoppedChannels.delete(id);
      return changed;
    },
    pause: (id, name) => {
      const did = destinationId(id, name);
      const dispatcher = runningChannel(id).dispatcher;
      const was = dispatcher.isPaused(did);
      dispatcher.pause(did);
      pausedDestinations.add(did);
      return !was;
    },
    resume: (id, name) => {
      const did = destinationId(id, name);
      const dispatcher = runningChannel(id).dispatcher;
      const was = dispatcher.isPaused(did);
      dispatcher.resume(did);
      pausedDestinations.delete(did);
      return was;
    },
    refresh: () => checkRevisions(),
  };

  // 5. HTTP API.
  let http: FastifyInstance | undefined;
  let httpUrl: string | undefined;
  if (options.httpPort !== undefined) {
    // /readyz and /healthz report on the MLLP listeners: ready only while every one listens.
    const mllp = (): readonly MllpSource[] => current?.mllp ?? [];
    http = buildHttpApi({
      registry: metrics.registry,
      store,
      // Exceptions, replay and revisions under /api/v1 (docs/operations.md), audited with the caller.
      ops: { notify: (id: string) => current?.dispatcher.notify(id), pipelineFor: revisionPipelines(store.channels, { baseDir: options.configDir ?? process.cwd() }), actor: actorOf },
      security: options.security,
      control,
      rateLimit: options.rateLimit,
      cors: options.cors,
      writeback: options.writeback,
      publicUrl: options.publicUrl,
      listener: {
        get listening() {
          return mllp().every((s) => s.server?.listening === true);
        },
        get port() {
          return mllp()[0]?.server?.port;
        },
        tls: mllp().some((s) => s.server?.tls === true),
        get connections() {
          return mllp().reduce((n, s) => n + (s.stats?.connections ?? 0), 0);
        },
        get received() {
          return mllp().reduce((n, s) => n + (s.stats?.messages ?? 0), 0);
        },
        recent: () => recent.list(),
      },
    });
    try {
      await http.listen({ host: options.host, port: options.httpPort });
    } catch (e) {
      // Without its API the engine is not what the operator started: do not keep acknowledging.
      await current.stop();
      throw e;
    }
    const addr = http.server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : options.httpPort;
    httpUrl = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  }

  // 6. Deploys: a new revision applied anywhere (`switchboard channels apply`, another process)
  // is picked up by polling the revisions; the channels restart under it, the API stays up.
  let reloading: Promise<void> = Promise.resolve();
  const reload = (channels: readonly LoadedChannel[]): Promise<void> => {
    reloading = reloading.then(async () => {
      const old = current;
      current = undefined;
      // The old sources finish what they hold and the dispatcher its sends before the new start:
      // the same ports are bound again and no delivery is claimed twice by this process.
      await old?.stop();
      try {
        current = await startChannels(channels);
      } catch (e) {
        // The new revision cannot run (a port taken, a module missing): go back to what ran.
        log.error({ code: isSwitchboardError(e) ? e.code : 'error' }, 'reload failed; restarting the previous channels');
        if (old !== undefined) current = await startChannels(old.loaded);
        throw e;
      }
      log.info({ channels: [...current.channels.values()].map((c) => `${c.config.id}@${c.revision}`) }, 'channels reloaded');
    });
    return reloading;
  };
  let watchTimer: NodeJS.Timeout | undefined;
  let watching: Promise<void> = Promise.resolve();
  const baseDir = options.configDir ?? process.cwd();
  /** Reloads when a channel this process runs has a newer revision; the watch and a deploy through the API call it. */
  const checkRevisions = (): Promise<void> => {
    const check = watching.then(async () => {
      if (current === undefined) return;
      // Only the channels this process runs: a channel new to the store starts with the next
      // `start` that names it, so one database can serve processes running different sets.
      const running = new Map(current.loaded.map((c) => [c.config.id, c.hash]));
      const latest = (await store.channels.list()).filter((r) => running.has(r.channelId));
      const changed = latest.some((r) => running.get(r.channelId) !== r.hash);
      if (!changed) return;
      const loaded = await Promise.all(latest.map((r) => loadChannelText(r.document, `${r.channelId}@${r.revision}`, baseDir)));
      await reload(loaded);
    });
    watching = check.catch(() => undefined);
    return check;
  };
  if (options.watchRevisionsMs !== undefined && options.watchRevisionsMs > 0) {
    watchTimer = setInterval(() => {
      checkRevisions().catch((e: unknown) => log.error({ code: isSwitchboardError(e) ? e.code : 'error' }, 'revision watch failed'));
    }, options.watchRevisionsMs);
    watchTimer.unref();
  }

  return {
    get channels() {
      return current?.channels ?? new Map<string, RunningChannel>();
    },
    get dispatcher() {
      return current?.dispatcher;
    },
    metrics,
    http,
    httpUrl,
    control,
    runRetention,
    reload,
    async close() {
      if (retentionTimer !== undefined) clearInterval(retentionTimer);
      if (watchTimer !== undefined) clearInterval(watchTimer);
      await watching;
      await reloading.catch(() => undefined);
      await http?.close();
      await current?.stop();
      await retentionRun;
    },
  };
}
