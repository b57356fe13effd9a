import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { isSwitchboardError, SwitchboardError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import { startListenerService } from '../api/listener-service.ts';
import { parseBatch } from '../hl7v2/index.ts';
import { MllpClient, MllpNakError } from '../mllp/mllp-client.ts';
import { describeError, err, out } from './cli-io.ts';
import { expandInputs, readInput } from './message-files.ts';
import { ProgressBar } from './progress-bar.ts';

interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

/** Parses `mllp://host:port` (or `mllps://` for TLS). */
export function parseTarget(url: string): Target {
  const m = /^(mllps?):\/\/(\[[^\]]+\]|[^:/]+):(\d{1,5})\/?$/.exec(url);
  const port = m ? Number(m[3]) : Number.NaN;
  if (m === null || port < 1 || port > 65535) {
    throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: `--to must look like mllp://HOST:PORT (or mllps://), got ${JSON.stringify(url)}` });
  }
  return { host: (m[2] as string).replace(/^\[|\]$/g, ''), port, tls: m[1] === 'mllps' };
}

interface Outgoing {
  readonly label: string;
  readonly payload: string;
}

interface SendOptions {
  to: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  concurrency: string;
  timeout: string;
  retries: string;
}

function loadMessages(inputs: string[]): { messages: Outgoing[]; unreadable: string[] } {
  const messages: Outgoing[] = [];
  const unreadable: string[] = [];
  for (const file of expandInputs(inputs)) {
    try {
      const batch = parseBatch(readInput(file));
      batch.messages.forEach((m, i) => {
        // MLLP peers expect CR between segments (HL7 v2.5.1 ch.2 2.5.2); BOMs do not belong on the wire.
        messages.push({ label: batch.messages.length > 1 ? `${file} message ${i + 1}` : file, payload: m.toString({ terminator: '\r', bom: false }) });
      });
    } catch (e) {
      unreadable.push(`${file}: ${describeError(e)}`);
    }
  }
  return { messages, unreadable };
}

export function registerMllpCommands(program: Command): void {
  program
    .command('send')
    .description('send messages over MLLP and summarise the ACK codes; exit 1 if any was not AA/CA')
    .argument('<inputs...>', 'files or directories of ER7 messages')
    .requiredOption('--to <url>', 'mllp://HOST:PORT (mllps:// for TLS)')
    .option('--tls', 'use TLS (same as mllps://)')
    .option('--ca <file>', 'CA certificate(s) to trust (PEM)')
    .option('--cert <file>', 'client certificate for mutual TLS (PEM)')
    .option('--key <file>', 'private key of --cert (PEM)')
    .option('--insecure', 'do not verify the server certificate')
    .option('--concurrency <n>', 'connections to use (one message in flight on each)', '1')
    .option('--timeout <ms>', 'time to wait for each ACK', '30000')
    .option('--retries <n>', 'resend after AR/CR up to n more times (AE/CE are never resent)', '0')
    .action(async (inputs: string[], opts: SendOptions) => {
      const target = parseTarget(opts.to);
      const concurrency = Number(opts.concurrency);
      const timeout = Number(opts.timeout);
      const retries = Number(opts.retries);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--concurrency must be an integer from 1 to 256' });
      if (!Number.isInteger(timeout) || timeout < 1) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--timeout must be a positive integer (ms)' });
      if (!Number.isInteger(retries) || retries < 0) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--retries must be an integer >= 0' });

      const { messages, unreadable } = loadMessages(inputs);
      for (const u of unreadable) err(`not sent: ${u}`);
      const useTls = target.tls || opts.tls === true;
      const tls: ConnectionOptions | undefined = useTls
        ? {
            ...(opts.ca !== undefined ? { ca: readFileSync(opts.ca) } : {}),
            ...(opts.cert !== undefined ? { cert: readFileSync(opts.cert) } : {}),
            ...(opts.key !== undefined ? { key: readFileSync(opts.key) } : {}),
            rejectUnauthorized: opts.insecure !== true,
            servername: /^[\d.]+$|:/.test(target.host) ? '' : target.host,
          }
        : undefined;
      const client = new MllpClient({
        host: target.host,
        port: target.port,
        poolSize: Math.min(concurrency, Math.max(1, messages.length)),
        ackTimeoutMs: timeout,
        connectTimeoutMs: Math.min(timeout, 10_000),
        ...(tls ? { tls } : {}),
        resend: { maxAttempts: retries + 1, initialDelayMs: 200, maxDelayMs: 5000 },
      });
      const bar = new ProgressBar(messages.length);
      const codes = new Map<string, number>();
      const problems: string[] = [];
      const count = (k: string): void => {
        codes.set(k, (codes.get(k) ?? 0) + 1);
      };
      let next = 0;
      const worker = async (): Promise<void> => {
        for (;;) {
          const item = messages[next++];
          if (item === undefined) return;
          try {
            const reply = retries > 0 ? await client.sendWithPolicy(item.payload) : await client.send(item.payload);
            if (reply.ack === null) {
              count('no ACK requested');
            } else {
              count(reply.ack.code);
              if (reply.ack.code !== 'AA' && reply.ack.code !== 'CA') problems.push(`${item.label}: ${reply.ack.code} (MSA-2 ${reply.ack.controlId})${reply.ack.errorCode ? ` ERR ${reply.ack.errorCode}` : ''}`);
            }
          } catch (e) {
            if (e instanceof MllpNakError) {
              count(e.reply.ack.code);
              problems.push(`${item.label}: ${e.reply.ack.code} (MSA-2 ${e.reply.ack.controlId})${e.reply.ack.errorCode ? ` ERR ${e.reply.ack.errorCode}` : ''}`);
            } else {
              count(isSwitchboardError(e) ? e.code : 'error');
              problems.push(`${item.label}: ${describeError(e)}`);
            }
          }
          bar.tick();
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, () => worker()));
      } finally {
        bar.finish();
        await client.close();
      }
      for (const p of problems) out(`NOT ACCEPTED ${p}`);
      const summary = [...codes.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`);
      out(`sent ${messages.length} to ${opts.to}: ${summary.length > 0 ? summary.join(', ') : 'nothing'}${unreadable.length > 0 ? `; ${unreadable.length} file(s) could not be read` : ''}`);
      // A message that asked for no ACK (MSH-15 and MSH-16 NE) counts as delivered once written.
      const accepted = (codes.get('AA') ?? 0) + (codes.get('CA') ?? 0) + (codes.get('no ACK requested') ?? 0);
      if (accepted !== messages.length || unreadable.length > 0) process.exitCode = 1;
    });

  program
    .command('listen')
    .description('a bare MLLP listener that ACKs and prints one line per message (no content)')
    .requiredOption('--port <port>', 'port to listen on (0 picks a free one)')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--validate', 'validate structure and answer AE with ERR segments when invalid')
    .action(async (opts: { port: string; host: string; validate?: boolean }) => {
      const portNumber = Number(opts.port);
      if (!Number.isInteger(portNumber) || portNumber < 0 || portNumber > 65535) throw new SwitchboardError('SWB_ERR_CLI_USAGE', { reason: '--port must be 0-65535' });
      const service = await startListenerService({
        host: opts.host,
        mllpPort: portNumber,
        httpPort: undefined,
        validate: opts.validate === true,
        maxFrameBytes: 16 * 1024 * 1024,
        idleTimeoutMs: 0,
        logger: createLogger({ level: process.env['SWITCHBOARD_LOG_LEVEL'] ?? 'warn' }),
        onHandled: (s) => {
          out(`${s.receivedAt.toISOString()} ${s.controlId || '-'} ${s.type || '-'} ${s.bytes}B ${s.ack}${s.errorCode ? ` ${s.errorCode}` : ''}`);
        },
      });
      err(`listening on mllp://${opts.host}:${service.mllp.port}`);
      const stop = (): void => {
        service.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
