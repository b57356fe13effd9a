/**
 * Test-only helpers for the MLLP tests: a minimal ACK builder, a sample message, a raw socket peer
 * that collects framed replies, polling, and throwaway TLS certificates made with the openssl CLI.
 * Not used by runtime code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MllpFramer } from './mllp-framer.ts';
import { peekEr7 } from './peek-er7.ts';

let ackCounter = 0;

/** `MSH|^~\&|...|ACK|<new id>|P|2.5.1` + `MSA|<code>|<inbound MSH-10>`, segments ended by CR. */
export function buildTestAck(inbound: string, code = 'AA', options: { controlId?: string; errorCode?: string } = {}): string {
  const id = options.controlId ?? peekEr7(inbound).controlId ?? '';
  ackCounter += 1;
  const segments = [`MSH|^~\\&|SWB|TEST|PEER|TEST|20240101120000||ACK|ACK${ackCounter}|P|2.5.1`, `MSA|${code}|${id}`];
  if (options.errorCode !== undefined) segments.push(`ERR|||${options.errorCode}^Test error^HL70357|E`);
  return `${segments.join('\r')}\r`;
}

/** A small ADT^A01 with the given MSH-10 (synthetic data, no PHI). */
export function testMessage(controlId: string, note = ''): string {
  return [
    `MSH|^~\\&|SENDER|FAC|SWB|TEST|20240101120000||ADT^A01^ADT_A01|${controlId}|P|2.5.1`,
    'EVN|A01|20240101120000',
    `PID|1||TEST${controlId}^^^TEST^MR||TEST^PATIENT||19700101|U`,
    `NTE|1||${note}`,
    '',
  ].join('\r');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `check` is true; rejects after `timeoutMs` (generous: this is not a speed assertion). */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A raw TCP peer that decodes the frames it receives. */
export interface RawPeer {
  readonly socket: net.Socket;
  readonly frames: string[];
  readonly closed: Promise<void>;
  isClosed(): boolean;
  waitFrames(count: number, timeoutMs?: number): Promise<string[]>;
}

export async function connectRaw(port: number, host = '127.0.0.1'): Promise<RawPeer> {
  const socket = net.connect({ port, host, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const frames: string[] = [];
  const framer = new MllpFramer({ onFrame: (p) => frames.push(p.toString('utf8')) });
  socket.on('data', (chunk: Buffer) => framer.push(chunk));
  socket.on('error', () => undefined);
  let isClosed = false;
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isClosed = true;
      resolve();
    }),
  );
  return {
    socket,
    frames,
    closed,
    isClosed: () => isClosed,
    async waitFrames(count: number, timeoutMs = 10_000): Promise<string[]> {
      await waitFor(() => frames.length >= count, timeoutMs, `${count} frames`);
      return frames;
    },
  };
}

export interface TlsFixtures {
  readonly ca: Buffer;
  readonly serverKey: Buffer;
  readonly serverCert: Buffer;
  readonly clientKey: Buffer;
  readonly clientCert: Buffer;
  /** A client certificate from a different CA (must be refused under mutual TLS). */
  readonly rogueKey: Buffer;
  readonly rogueCert: Buffer;
}

/** Throwaway CA, server (CN/SAN localhost, 127.0.0.1) and client certs; undefined without openssl. */
export function makeTlsFixtures(): TlsFixtures | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'swb-mllp-tls-'));
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  try {
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const ca of ['ca', 'rogue-ca']) {
      ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '2', '-subj', `/CN=Switchboard Test ${ca}`);
    }
    const leaf = (name: string, cn: string, ca: string, ext: string): void => {
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext);
    };
    leaf('server', 'localhost', 'ca', 'server.ext');
    leaf('client', 'test-sender', 'ca', 'client.ext');
    leaf('rogue', 'rogue-sender', 'rogue-ca', 'client.ext');
    const read = (f: string): Buffer => readFileSync(join(dir, f));
    return {
      ca: read('ca.crt'),
      serverKey: read('server.key'),
      serverCert: read('server.crt'),
      clientKey: read('client.key'),
      clientCert: read('client.crt'),
      rogueKey: read('rogue.key'),
      rogueCert: read('rogue.crt'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
