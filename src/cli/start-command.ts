import type { Command } from 'commander';
import { SwitchboardError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { startEngineService } from '../api/engine-service.ts';
import { setupSecurity } from '../api/security-setup.ts';
import { normalizeOrigin } from '../api/cors.ts';
import { DEFAULT_RATE_BURST, DEFAULT_RATE_PER_MINUTE } from '../api/rate-limit.ts';
import { loadChannelDir, loadChannelText, type LoadedChannel } from '../engine/channel-loader.ts';
import { DEFAULT_STORE_URL, openStore } from '../store/open-store.ts';
import { engineResourceIndexer } from '../api/engine-indexer.ts';
import { err, out } from './cli-io.ts';
import { startWriteback, type StartedWriteback } from './writeback-start.ts';
import { startDemoEnvironment, writeDemoConnection, type DemoEnvironment } from './demo-setup.ts';
import { addUser, type AddUserOutcome } from '../api/auth/bootstrap.ts';

function port(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: name, reason: `must be a port number 0-65535, got ${JSON.stringify(value)}` });
  return n;
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: name, reason: `must be an integer >= 1, got ${JSON.stringify(value)}` });
  return n;
}

interface StartOptions {
  host: string;
  mllpPort: string;
  httpPort: string;
  validate?: boolean;
  maxFrameBytes: string;
  idleTimeout: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  store: string;
  config?: string;
  writeback?: string;
  demo: boolean;
  ehrSimPort: string;
  hl7SimPort: string;
  watchRevisions: string;
  publicUrl?: string;
  authKeyFile?: string;
  corsOrigin?: string[];
  rateLimit: string;
}

/** `--rate-limit N` requests per minute per client (0: off); the burst is min(N, 100). */
function rateLimitOption(value: string): { perMinute: number; burst: number } | false {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: '--rate-limit', reason: `must be an integer >= 0, got ${JSON.stringify(value)}` });
  return n === 0 ? false : { perMinute: n, burst: Math.min(n, DEFAULT_RATE_BURST) };
}

/** `--cors-origin` values and SWITCHBOARD_CORS_ORIGINS, either comma separated. */
function corsOrigins(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/**
 * The channel `start` runs when no --config is given: an MLLP listener that stores every message
 * (no destinations), set from the command-line flags. Built as YAML and loaded like any channel, so
 * it is validated, revisioned and exported the same way.
 */
function defaultChannel(opts: StartOptions, mllpPort: number, destinations: readonly Record<string, unknown>[] = []): Promise<LoadedChannel> {
  const idle = Number(opts.idleTimeout);
  const settings = {
    host: opts.host,
    port: mllpPort,
    maxFrameBytes: positiveInt('--max-frame-bytes', opts.maxFrameBytes),
    ...(idle === 0 ? {} : { idleTimeoutMs: positiveInt('--idle-timeout', opts.idleTimeout) }),
    ...(opts.tlsCert !== undefined && opts.tlsKey !== undefined ? { tls: { certFile: opts.tlsCert, keyFile: opts.tlsKey, ...(opts.tlsCa !== undefined ? { caFile: opts.tlsCa } : {}) } } : {}),
  };
  const doc = { id: 'mllp', name: 'MLLP listener (from switchboard start flags)', source: { kind: 'mllp', settings }, ack: { mode: 'commit', validate: opts.validate === true }, ...(destinations.length > 0 ? { orderingKey: 'PID-3[1].1' } : {}), destinations };
  return loadChannelText(stringify(doc), '(start flags)', process.cwd());
}

/** A store URL without its password, for printing. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/** Stops cleanly on SIGINT/SIGTERM: close listeners, let in-flight ACKs finish. */
function onShutdown(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    err(`switchboard: ${signal} received, stopping`);
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the engine: channels (sources, pipeline, durable store, dispatcher to destinations) and the HTTP API')
    .option('--host <host>', 'interface to bind', process.env['SWITCHBOARD_HOST'] ?? '127.0.0.1')
    .option('--mllp-port <port>', 'MLLP port (0 picks a free one)', process.env['SWITCHBOARD_MLLP_PORT'] ?? '2575')
    .option('--http-port <port>', 'HTTP port (0 picks a free one)', process.env['SWITCHBOARD_HTTP_PORT'] ?? '8080')
    // Off by default: real feeds are rarely fully conformant, and rejecting is a site's decision,
    // not the transport's. Input that does not parse is always answered AE (and stored).
    .option('--validate', 'validate structure and answer AE/CE (with ERR segments) when a message is invalid')
    .option('--max-frame-bytes <n>', 'largest MLLP frame accepted', String(16 * 1024 * 1024))
    .option('--idle-timeout <ms>', 'close MLLP connections idle this long (0: never)', '0')
    .option('--tls-cert <file>', 'serve MLLP over TLS with this certificate (PEM)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', 'require client certificates signed by this CA (mutual TLS)')
    .option('--store <url>', 'where messages are stored before they are acknowledged: sqlite:PATH or postgres://...', process.env['SWITCHBOARD_STORE'] ?? DEFAULT_STORE_URL)
    .option('--watch-revisions <ms>', 'reload the channels when a newer revision is applied (switchboard channels apply), checking this often; 0: never', '5000')
    .option('--public-url <url>', 'the base URL clients reach the HTTP API at (issuer and audience of access tokens)', process.env['SWITCHBOARD_PUBLIC_URL'])
    .option('--auth-key-file <file>', 'where the access-token signing key is kept (made on first start; share it between the processes of one deployment)', process.env['SWITCHBOARD_AUTH_KEY_FILE'])
    .option('--cors-origin <origin...>', 'let browser apps on these origins call /api/v1 and /fhir/R4 (CORS; * for any, without cookies)', process.env['SWITCHBOARD_CORS_ORIGINS']?.split(','))
    .option('--rate-limit <n>', 'requests per minute per client (token or user; else IP) on /api/v1 and /fhir/R4, burst min(n, 100); 0: off', process.env['SWITCHBOARD_RATE_LIMIT'] ?? String(DEFAULT_RATE_PER_MINUTE))
    .option('--config <dir>', 'a directory of channel files (*.yaml); without it, one MLLP channel from the flags above', process.env['SWITCHBOARD_CONFIG'])
    // The demo (issue 7): with no --config and no --writeback, an EHR simulator (Epic profile) and
    // an HL7 v2 simulator start beside the engine, wired to it (src/cli/demo-setup.ts).
    .option('--no-demo', 'without --config: run only the MLLP listener, no simulators, no demo channels or write-back')
    .option('--ehr-sim-port <port>', 'the demo EHR simulator\'s port', process.env['SWITCHBOARD_EHR_SIM_PORT'] ?? '8090')
    .option('--hl7-sim-port <port>', 'the demo HL7 v2 simulator\'s port', process.env['SWITCHBOARD_HL7_SIM_PORT'] ?? '2576')
    .option('--writeback <file>', 'write back to EHRs as this file configures (docs/writeback.md): proposals, policy, commit worker, drift job', process.env['SWITCHBOARD_WRITEBACK'])
    .action(async (opts: StartOptions) => {
      if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
        throw new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path: '--tls-cert/--tls-key', reason: 'must be given together' });
      }
      // Checked before anything opens: a bad origin or limit must not leave a half-started engine.
      const origins = corsOrigins(opts.corsOrigin).map(normalizeOrigin);
      const rateLimit = rateLimitOption(opts.rateLimit);
      const logger = createLogger();
      const mllpPort = port('--mllp-port', opts.mllpPort);
      const demoOn = opts.config === undefined && opts.writeback === undefined && opts.demo;
      const dataDir = defaultDataDir(opts.store);
      const demo: DemoEnvironment | undefined = demoOn ? await startDemoEnvironment({ dataDir, host: opts.host, ehrPort: port('--ehr-sim-port', opts.ehrSimPort), hl7Port: port('--hl7-sim-port', opts.hl7SimPort) }) : undefined;
      let channels: LoadedChannel[];
      try {
        channels = opts.config !== undefined ? await loadChannelDir(opts.config) : [await defaultChannel(opts, mllpPort, demo?.destinations)];
      } catch (e) {
        await demo?.close();
        throw e;
      }
      // The canonical FHIR store opens with the engine's (its own file on SQLite; issue 5).
      // AuditEvents (one per FHIR interaction) are indexed directly, the rest by FHIRPath.
      const store = await openStore(opts.store, { resourceIndexer: engineResourceIndexer() }).catch(async (e: unknown) => {
        await demo?.close();
        throw e;
      });
      const httpPort = port('--http-port', opts.httpPort);
      let service;
      let writeback: StartedWriteback | undefined;
      let admin: Awaited<ReturnType<typeof setupSecurity>>['admin'] | undefined;
      try {
        // Security in one place (issue 5): every /api/v1 route needs a token or a session.
        const setup = await setupSecurity({
          identity: store.identity,
          keyFile: opts.authKeyFile ?? defaultKeyFile(opts.store),
          publicUrl: opts.publicUrl ?? `http://${opts.host === '0.0.0.0' ? 'localhost' : opts.host}:${httpPort}`,
        });
        const security = setup.security;
        admin = setup.admin;
        // Write-back (issue 6): crash recovery runs before the commit worker and the API start.
        const writebackFile = opts.writeback ?? demo?.writebackFile;
        writeback = writebackFile === undefined ? undefined : await startWriteback(writebackFile, store, logger);
        service = await startEngineService({ store, channels, security, rateLimit, ...(opts.publicUrl === undefined ? {} : { publicUrl: opts.publicUrl }), ...(writeback === undefined ? {} : { writeback: writeback.service }), ...(origins.length > 0 ? { cors: { origins } } : {}), ...(opts.config !== undefined ? { configDir: opts.config } : {}), host: opts.host, httpPort, logger, watchRevisionsMs: opts.watchRevisions === '0' ? 0 : positiveInt('--watch-revisions', opts.watchRevisions), author: `cli:${userInfo().username}` });
      } catch (e) {
        await writeback?.service.stop();
        await store.close();
        await demo?.close();
        throw e;
      }
      const firstMllp = [...service.channels.values()].map((c) => c.source?.describe() ?? '').find((d) => d.startsWith('mllp'));
      const mllpAt = firstMllp === undefined ? undefined : /^mllps?:\/\/([^:/]+):(\d+)/.exec(firstMllp);
      const api = service.httpUrl === undefined ? undefined : service.httpUrl.replace('//0.0.0.0:', '//localhost:');
      // The demo's clinician (role reviewer) reviews and signs the AI-drafted notes: the admin may
      // not (separation of duties, roles.ts). Made with the admin on first start only.
      const clinician: AddUserOutcome | undefined = demo !== undefined && admin?.kind === 'created' ? await addUser(store.identity, { username: 'clinician', roles: ['reviewer'] }) : undefined;
      const demoFile = demo === undefined || mllpAt === null || mllpAt === undefined || api === undefined ? undefined : await writeDemoConnection({ identity: store.identity, dataDir, api, mllp: { host: mllpAt[1] as string, port: Number(mllpAt[2]) } });
      const lines = [...service.channels.values()].map((c) => `  channel ${c.config.id.padEnd(16)} ${c.source?.describe() ?? '(fed by other channels)'}  rev ${c.revision}, ${c.config.destinations.length} destination(s)`);
      out(
        [
          'Switchboard is running.',
          ...lines,
          `  HTTP API                 ${service.httpUrl ?? '-'}   (/healthz, /readyz, /metrics, /api/v1, /fhir/R4, /docs)`,
          ...(writeback === undefined ? [] : [`  Write-back               ${writeback.summary}`]),
          ...(demo === undefined ? [] : [`  EHR simulator (Epic)     ${demo.ehr.fhirBase}`, `  HL7 v2 simulator         mllp://${demo.hl7.host}:${demo.hl7.port}   (the lab-results destination)`]),
          `  Store                    ${store.kind}, schema v${store.schemaVersion} (${redactUrl(opts.store)})`,
          '',
          ...(api !== undefined ? [`Console                    ${api}/`, ''] : []),
          ...(demoFile !== undefined ? ['Send sample traffic (a mixed ADT/ORU/SIU feed, and AI-drafted notes to review):', '  npx switchboard demo traffic', ''] : []),
          ...(firstMllp !== undefined ? ['Send it messages:', `  npx switchboard send <file-or-dir> --to ${firstMllp}`] : []),
          ...(admin?.kind === 'created'
            ? ['', `First start: log in as "${admin.username}" with this one-time password (shown once; you must change it):`, `  ${admin.password}`]
            : []),
          ...(clinician?.kind === 'created' ? [`and as "${clinician.username}" (role reviewer: approves and signs the write-back proposals):`, `  ${clinician.password}`] : []),
          '',
          'Stop with Ctrl+C.',
        ].join('\n'),
      );
      logger.info({ channels: [...service.channels.keys()], http: service.httpUrl }, 'started');
      onShutdown(async () => {
        await service.close();
        await writeback?.service.stop();
        await store.close();
        await demo?.close();
      });
    });
}

/** Where the engine keeps its files: beside a SQLite database, else ./data. */
function defaultDataDir(storeUrl: string): string {
  const sqlite = /^sqlite:(.+)$/.exec(storeUrl);
  return sqlite !== null ? dirname(sqlite[1] as string) : './data';
}

/** The signing key's default place: in the data directory. */
function defaultKeyFile(storeUrl: string): string {
  return join(defaultDataDir(storeUrl), 'auth-signing-key.json');
}
