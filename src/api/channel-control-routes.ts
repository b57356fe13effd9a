import { basename } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { destinationId } from '../core/channel-config.ts';
import { parseChannelDocument } from '../core/channel-schema.ts';
import { isSwitchboardError, SwitchboardError } from '../core/errors.ts';
import type { Store } from '../core/ports/store.ts';
import { loadChannelText } from '../engine/channel-loader.ts';
import { BadRequest, queryOf, route } from './bad-request.ts';
import { findChannelTests, runChannelTestFile } from '../engine/channel-test-runner.ts';
import { applyChannels } from '../engine/operations.ts';
import { ChannelActivity, errorRate, MAX_ACTIVITY_MINUTES } from './channel-activity.ts';

/**
 * `/api/v1` channel control for the operations console: a live summary per channel (per-minute
 * counts, queue depth and age per destination), stop/start of a channel's source, pause/resume of a
 * destination, a channel's YAML, deploy of a new revision and the channel's own tests. Every change
 * is recorded in the audit log with the caller (store.audit); answers carry ids and counts, never
 * message content.
 */

export interface ControlledDestination {
  readonly name: string;
  /** The queue's destination id, `<channel id>/<name>`. */
  readonly id: string;
  readonly paused: boolean;
  /** Sends this process has in flight now. */
  readonly inFlight: number;
}

export interface ControlledChannel {
  readonly id: string;
  readonly name: string | undefined;
  /** The revision this process runs. */
  readonly revision: number;
  /** `stopped`: its source is not listening (deliveries already queued go on). */
  readonly state: 'running' | 'stopped';
  readonly destinations: readonly ControlledDestination[];
}

/** What the running engine lets the API do (engine-service.ts implements it). */
export interface ChannelControl {
  /** The channels this process runs (enabled ones). */
  channels(): readonly ControlledChannel[];
  /** Stops the channel's source; false when it was already stopped. Throws SWB_ERR_HTTP_CHANNEL_NOT_RUNNING. */
  stop(channelId: string): Promise<boolean>;
  /** Starts the channel's source again; false when it was already running. */
  start(channelId: string): Promise<boolean>;
  /** Pauses claiming for a destination; false when it was already paused. Throws SWB_ERR_DISPATCH_UNKNOWN_DESTINATION. */
  pause(channelId: string, destination: string): boolean;
  resume(channelId: string, destination: string): boolean;
  readonly activity: ChannelActivity;
  /** Picks up newly applied revisions now, as the revision watch does on its next tick. */
  refresh(): Promise<void>;
  /** The --config DIR the engine was started with: channel tests live there. */
  readonly configDir: string | undefined;
  /** Where module paths of a deployed channel resolve (configDir, else the working directory). */
  readonly baseDir: string;
}

export interface ChannelControlRouteOptions {
  readonly store: Store;
  /** The running engine; without one (an API over a store only) nothing runs here: reads and deploys only. */
  readonly control?: ChannelControl | undefined;
  readonly actor: (req: FastifyRequest) => string;
}

const CHANNEL_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const DESTINATION_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DEFAULT_MINUTES = 30;
/** A channel document is small; this bounds the parse, under the API's own body limit. */
const MAX_YAML_CHARS = 1024 * 1024;
/** The exception count per destination is read up to this many. */
const MAX_FAILED_COUNT = 1000;

type Req = FastifyRequest<{ Params: Record<string, string> }>;

function channelIdOf(req: Req): string {
  const raw = req.params['id'] ?? '';
  if (!CHANNEL_ID.test(raw)) throw new BadRequest('id', 'is not a channel id');
  return raw;
}

function destinationOf(req: Req): string {
  const raw = req.params['name'] ?? '';
  if (!DESTINATION_NAME.test(raw)) throw new BadRequest('name', 'is not a destination name');
  return raw;
}

function noBody(body: unknown): void {
  if (body === undefined || body === null || body === '') return;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
  throw new BadRequest('body', 'must be empty');
}

/** The control of an API that runs no channels: every channel is `stopped` here and cannot be started. */
function noEngine(): ChannelControl {
  const notRunning = (channel: string): never => {
    throw new SwitchboardError('SWB_ERR_HTTP_CHANNEL_NOT_RUNNING', { channel });
  };
  return {
    channels: () => [],
    stop: async (id) => notRunning(id),
    start: async (id) => notRunning(id),
    pause: (id) => notRunning(id),
    resume: (id) => notRunning(id),
    activity: new ChannelActivity(),
    refresh: async () => undefined,
    configDir: undefined,
    baseDir: process.cwd(),
  };
}

export function registerChannelControlRoutes(app: FastifyInstance, options: ChannelControlRouteOptions): void {
  const { store } = options;
  const control = options.control ?? noEngine();

  const running = (id: string): ControlledChannel | undefined => control.channels().find((c) => c.id === id);

  app.get(
    '/api/v1/metrics/summary',
    route(async (req) => {
      const q = queryOf(req, ['minutes']);
      const raw = q['minutes'];
      const minutes = raw === undefined ? DEFAULT_MINUTES : /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
      if (!(Number.isInteger(minutes) && minutes >= 1 && minutes <= MAX_ACTIVITY_MINUTES)) throw new BadRequest('minutes', `must be an integer 1-${MAX_ACTIVITY_MINUTES}`);
      const live = new Map(control.channels().map((c) => [c.id, c]));
      // Channels known to the store but not run here are listed stopped, with their queues: a
      // deployment's other processes may run them, and their backlog still matters.
      const stored = await store.channels.list();
      const ids = [...new Set([...live.keys(), ...stored.map((r) => r.channelId)])].sort();
      const channels = await Promise.all(
        ids.map(async (id) => {
          const ch = live.get(id);
          let name = ch?.name;
          let revision = ch?.revision;
          let destinations: readonly Pick<ControlledDestination, 'name' | 'id' | 'paused' | 'inFlight'>[] = ch?.destinations ?? [];
          if (ch === undefined) {
            const r = stored.find((x) => x.channelId === id);
            revision = r?.revision;
            try {
              const config = parseChannelDocument(r?.document ?? '', `${id}@${r?.revision ?? 0}`);
              name = config.name;
              destinations = config.destinations.map((d) => ({ name: d.name, id: destinationId(id, d.name), paused: false, inFlight: 0 }));
            } catch {
              // A revision stored under an older schema: listed without its destinations.
            }
          }
          const perMinute = control.activity.perMinute(id, minutes);
          return {
            id,
            name: name ?? id,
            state: ch?.state ?? 'stopped',
            revision: revision ?? null,
            perMinute,
            errorRate: errorRate(perMinute),
            destinations: await Promise.all(
              destinations.map(async (d) => {
                const [stats, failed] = await Promise.all([store.queue.stats(d.id), store.queue.exceptions({ destination: d.id, limit: MAX_FAILED_COUNT })]);
                return { name: d.name, paused: d.paused, queueDepth: stats.depth, oldestAgeMs: stats.depth === 0 ? null : stats.oldestAgeMs, inFlight: d.inFlight, failed: failed.length };
              }),
            ),
          };
        }),
      );
      return { generatedAt: new Date().toISOString(), minutes, channels };
    }),
  );

  app.get(
    '/api/v1/channels/:id',
    route(async (req) => {
      queryOf(req, []);
      const id = channelIdOf(req);
      const latest = await store.channels.latest(id);
      const ch = running(id);
      if (latest === undefined) throw new SwitchboardError('SWB_ERR_STORE_NOT_FOUND', { kind: 'channel', id });
      let name = ch?.name;
      if (name === undefined) {
        try {
          name = parseChannelDocument(latest.document, `${id}@${latest.revision}`).name;
        } catch {
          name = undefined;
        }
      }
      return { id, name: name ?? id, revision: latest.revision, runningRevision: ch?.revision ?? null, state: ch?.state ?? 'stopped', yaml: latest.document };
    }),
  );

  const change = async (req: Req, action: string, target: string, detail: Record<string, string | number | boolean | null>): Promise<void> => {
    await store.audit.append({ actor: options.actor(req), action, target, detail });
  };

  app.post(
    '/api/v1/channels/:id/stop',
    route(async (req) => {
      noBody(req.body);
      const id = channelIdOf(req);
      const changed = await control.stop(id);
      await change(req, 'channel.stop', id, { changed });
      return { id, state: 'stopped', changed };
    }),
  );

  app.post(
    '/api/v1/channels/:id/start',
    route(async (req) => {
      noBody(req.body);
      const id = channelIdOf(req);
      const changed = await control.start(id);
      await change(req, 'channel.start', id, { changed });
      return { id, state: 'running', changed };
    }),
  );

  for (const verb of ['pause', 'resume'] as const) {
    app.post(
      `/api/v1/channels/:id/destinations/:name/${verb}`,
      route(async (req) => {
        noBody(req.body);
        const id = channelIdOf(req);
        const name = destinationOf(req);
        if (running(id) === undefined) throw new SwitchboardError('SWB_ERR_HTTP_CHANNEL_NOT_RUNNING', { channel: id });
        const changed = verb === 'pause' ? control.pause(id, name) : control.resume(id, name);
        await change(req, `destination.${verb}`, destinationId(id, name), { changed });
        return { id, destination: name, paused: verb === 'pause', changed };
      }),
    );
  }

  app.post(
    '/api/v1/channels/:id/deploy',
    route(async (req) => {
      const id = channelIdOf(req);
      const body = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('body', 'must be a JSON object {"yaml": "..."}');
      for (const key of Object.keys(body)) if (key !== 'yaml' && key !== 'comment') throw new BadRequest(key, 'is not a known field');
      const { yaml, comment } = body as { yaml?: unknown; comment?: unknown };
      if (typeof yaml !== 'string' || yaml.trim() === '' || yaml.length > MAX_YAML_CHARS) throw new BadRequest('yaml', `must be the channel document, 1-${MAX_YAML_CHARS} characters`);
      if (comment !== undefined && (typeof comment !== 'string' || comment === '' || comment.length > 1000)) throw new BadRequest('comment', 'must be a string of 1-1000 characters');
      // The same validation as a channel file (one schema); errors name the path:
      // `<id>.yaml: destinations[0].retry.maxAttempts must be >= 1`.
      const loaded = await loadChannelText(yaml, `${id}.yaml`, control.baseDir);
      if (loaded.config.id !== id) throw new BadRequest('yaml', `declares the channel id ${loaded.config.id}, not ${id}`);
      // Recorded as a revision with the caller as author, and audited (channel.apply), as
      // `switchboard channels apply` does; the engine then reloads the channels it runs.
      const [result] = await applyChannels({ channels: store.channels, audit: store.audit }, [loaded], options.actor(req), typeof comment === 'string' ? comment : undefined);
      if (result === undefined) throw new SwitchboardError('SWB_ERR_INTERNAL_UNEXPECTED', { ref: String(req.id) });
      let reloaded: boolean | string = false;
      if (result.kind === 'created' && running(id) !== undefined) {
        try {
          await control.refresh();
          reloaded = true;
        } catch (e) {
          // The revision is stored; the engine went back to what ran. Say why, by code.
          reloaded = isSwitchboardError(e) ? e.code : 'error';
        }
      }
      return { id, revision: result.revision, previous: result.previous ?? null, changed: result.kind === 'created', reloaded };
    }),
  );

  app.post(
    '/api/v1/channels/:id/test',
    route(async (req) => {
      noBody(req.body);
      const id = channelIdOf(req);
      const dir = control.configDir;
      if (dir === undefined) throw new SwitchboardError('SWB_ERR_HTTP_NO_CONFIG_DIR', { channel: id });
      // The tests beside the channel files (`switchboard test DIR`), run offline: nothing is sent.
      const files = await findChannelTests(dir);
      const results: { file: string; name: string; passed: boolean; failures: readonly string[] }[] = [];
      const errors: { file: string; code: string; detail: string }[] = [];
      for (const file of files) {
        const r = await runChannelTestFile(file);
        if (r.error !== undefined) {
          if (basename(file).startsWith(`${id}_test.`)) errors.push({ file: basename(file), code: r.error.code, detail: r.error.message });
          continue;
        }
        for (const c of r.cases) if (c.channel === id) results.push({ file: basename(file), name: c.name, passed: c.failures.length === 0, failures: c.failures });
      }
      const passed = results.filter((r) => r.passed).length;
      const failed = results.length - passed + errors.length;
      await change(req, 'channel.test', id, { passed, failed });
      return { id, passed, failed, results, errors };
    }),
  );
}
