import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './cli-helpers.ts';

/** Helpers for tests that run real engine processes (`switchboard start`) and kill them. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Starts `switchboard start --config DIR` and resolves once it printed that it runs. */
export async function startEngine(storeUrl: string, configDir: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  return (await startSwitchboard(['--host', '127.0.0.1', '--config', configDir, '--http-port', '0', '--store', storeUrl], { env })).child;
}

/**
 * Runs `switchboard start ARGS...` (through tsx, so the sources under test run, not dist/) and
 * resolves with the process and what it printed once stdout holds `until` (default: the banner's
 * first line).
 */
export function startSwitchboard(args: readonly string[], options: { env?: Record<string, string>; until?: string; timeoutMs?: number } = {}): Promise<{ child: ChildProcess; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src/cli/main.ts'), 'start', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'warn', ...options.env },
  });
  const until = options.until ?? 'Switchboard is running.';
  return new Promise((resolve, reject) => {
    let out = '';
    let errText = '';
    const timer = setTimeout(() => reject(new Error(`engine did not start: ${errText}`)), options.timeoutMs ?? 60_000);
    child.stderr?.on('data', (d: Buffer) => (errText += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(until)) {
        clearTimeout(timer);
        resolve({ child, output: out });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`engine exited with ${code} before starting: ${errText}`));
    });
  });
}

export function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** A webhook that records MSH-10 of every HL7 request body, in arrival order, and answers 200. */
export async function startWebhook(): Promise<{ url: string; arrivals: string[]; close: () => Promise<void> }> {
  const arrivals: string[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      arrivals.push(body.split('\r', 1)[0]?.split('|')[9] ?? '');
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/in`,
    arrivals,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
