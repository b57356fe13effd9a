import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { SwitchboardError } from '../core/errors.ts';
import { startEhrSimulator } from '../sim/ehr/ehr-simulator.ts';
import { isSimProfileName, SIM_PROFILES } from '../sim/ehr/sim-profiles.ts';
import { HL7_SIM_MODES, isHl7SimMode, startHl7Simulator } from '../sim/hl7/hl7-simulator.ts';
import { describeError, err, out } from './cli-io.ts';

/** `switchboard sim ehr|hl7`: the EHR simulators of docs/simulators.md, up until Ctrl+C. */

function portOption(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--port must be an integer from 0 to 65535' });
  return port;
}

function stopOnSignal(close: () => Promise<void>): void {
  const stop = (): void => {
    close().then(
      () => process.exit(0),
      (e: unknown) => {
        err(describeError(e));
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function readJwks(file: string): { keys: object[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `--client-jwks ${file} is not a readable JSON file (${describeError(e)})` });
  }
  // A single public JWK is accepted as a set of one.
  if (typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { keys?: unknown }).keys)) return parsed as { keys: object[] };
  if (typeof parsed === 'object' && parsed !== null && 'kty' in parsed) return { keys: [parsed] };
  throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `--client-jwks ${file} is not a JWK Set` });
}

export function registerSimCommands(program: Command): void {
  const sim = program.command('sim').description('simulators to develop and test write-back against (test tools: unauthenticated control API)');

  sim
    .command('ehr')
    .description('a FHIR R4 EHR with a SMART backend token endpoint, vendor write rules and fault injection')
    .requiredOption('--profile <profile>', `write rules: ${SIM_PROFILES.join(' | ')}`)
    .requiredOption('--port <port>', 'port to listen on (0 picks a free one)')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--client-id <id>', 'register a SMART backend client with this id (needs --client-jwks)')
    .option('--client-jwks <file>', "the client's public JWK Set (JSON)")
    .option('--client-scopes <scopes>', 'scopes the client may be granted (space-separated)')
    .option('--token-ttl <seconds>', 'access token lifetime', '300')
    .option('--no-seed', 'start without the seeded patients and encounters')
    .action(async (opts: { profile: string; port: string; host: string; clientId?: string; clientJwks?: string; clientScopes?: string; tokenTtl: string; seed: boolean }) => {
      if (!isSimProfileName(opts.profile)) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `--profile must be one of ${SIM_PROFILES.join(', ')}` });
      if ((opts.clientId === undefined) !== (opts.clientJwks === undefined)) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--client-id and --client-jwks go together' });
      const ttl = Number(opts.tokenTtl);
      if (!Number.isInteger(ttl) || ttl < 1) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--token-ttl must be a positive integer (seconds)' });
      const jwks = opts.clientJwks === undefined ? undefined : readJwks(opts.clientJwks);
      const ehr = await startEhrSimulator({ profile: opts.profile, host: opts.host, port: portOption(opts.port), tokenTtlSeconds: ttl, seed: opts.seed });
      if (opts.clientId !== undefined && jwks !== undefined) {
        try {
          ehr.registerClient({ clientId: opts.clientId, jwks, ...(opts.clientScopes === undefined ? {} : { scopes: opts.clientScopes.split(/\s+/).filter((s) => s !== '') }) });
        } catch (e) {
          await ehr.close();
          throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `the client cannot be registered: ${describeError(e)}` });
        }
      }
      out(`EHR simulator (${opts.profile}) at ${ehr.url}`);
      out(`  FHIR base     ${ehr.fhirBase}`);
      out(`  token URL     ${ehr.tokenUrl}`);
      out(`  discovery     ${ehr.fhirBase}/.well-known/smart-configuration`);
      out(`  control API   ${ehr.url}/_sim (clients, faults, drift, writes, reset)`);
      if (opts.clientId !== undefined) out(`  client        ${opts.clientId} registered`);
      err('Ctrl+C stops it.');
      stopOnSignal(() => ehr.close());
    });

  sim
    .command('hl7')
    .description('an HL7 v2 MLLP peer that answers AA, AE, AR or nothing')
    .requiredOption('--port <port>', 'port to listen on (0 picks a free one)')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--mode <mode>', `reply: ${HL7_SIM_MODES.join(' | ')}`, 'AA')
    .action(async (opts: { port: string; host: string; mode: string }) => {
      if (!isHl7SimMode(opts.mode)) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `--mode must be one of ${HL7_SIM_MODES.join(', ')}` });
      const peer = await startHl7Simulator({ host: opts.host, port: portOption(opts.port), mode: opts.mode });
      out(`HL7 v2 simulator at mllp://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${peer.port} answering ${opts.mode}`);
      err('Ctrl+C stops it.');
      stopOnSignal(() => peer.close());
    });
}
