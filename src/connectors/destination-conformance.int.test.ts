import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChannelInbox } from '../engine/destination-connector.ts';
import type { ReceiveResult } from '../engine/source-connector.ts';
import { MllpServer } from '../mllp/mllp-server.ts';
import { buildTestAck } from '../mllp/mllp-test-kit.ts';
import { ChannelDestination } from './channel/channel-destination.ts';
import { runDestinationSuite, type DestinationHarness, type FarSideEntry } from './destination-conformance.ts';
import { FileDestination } from './file/file-destination.ts';
import { HttpDestination } from './http/http-destination.ts';
import { MllpDestination } from './mllp/mllp-destination.ts';

const msh10 = (payload: string): string | undefined => /^MSH\|[^|]*(?:\|[^|]*){7}\|([^|]*)/.exec(payload)?.[1];

runDestinationSuite('mllp', async () => {
  const seen: FarSideEntry[] = [];
  let broken = false;
  const server = new MllpServer({
    host: '127.0.0.1',
    port: 0,
    closeTimeoutMs: 500,
    handler: async (m) => {
      if (broken) return buildTestAck(m.payload, 'AR', { errorCode: '207' });
      seen.push({ payload: m.payload, key: msh10(m.payload) });
      return buildTestAck(m.payload, 'AA');
    },
  });
  await server.listen();
  return {
    create: () => new MllpDestination({ host: '127.0.0.1', port: server.port, ackTimeoutMs: 5000 }),
    received: async () => [...seen],
    breakFarSide: async () => {
      broken = true;
      return 'transient';
    },
    heal: async () => {
      broken = false;
    },
    // HL7 receivers dedupe on MSH-10, which the payload carries unchanged across attempts.
    expectedKey: (d) => msh10(d.payload) ?? '',
    replacesResends: false,
    cleanup: () => server.close(),
  } satisfies DestinationHarness;
});

runDestinationSuite('http', async () => {
  const seen: FarSideEntry[] = [];
  let broken = false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (broken) {
        res.writeHead(503, { 'retry-after': '0' }).end();
        return;
      }
      const key = req.headers['idempotency-key'];
      seen.push({ payload: Buffer.concat(chunks).toString('utf8'), key: Array.isArray(key) ? key[0] : key });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    create: () => new HttpDestination({ url: `http://127.0.0.1:${port}/hook`, timeoutMs: 5000 }),
    received: async () => [...seen],
    breakFarSide: async () => {
      broken = true;
      return 'transient';
    },
    heal: async () => {
      broken = false;
    },
    expectedKey: (d) => d.idempotencyKey,
    replacesResends: false,
    cleanup: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } satisfies DestinationHarness;
});

runDestinationSuite('file', async () => {
  const root = await mkdtemp(join(tmpdir(), 'swb-dest-conf-'));
  const dir = join(root, 'out');
  return {
    create: () => new FileDestination({ directory: dir, fileName: '{deliveryId}.hl7' }),
    async received() {
      let names: string[];
      try {
        names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
      } catch {
        return [];
      }
      // Arrival order: by modification time, then name (sends within one clock tick).
      const entries = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n))).mtimeMs, payload: await readFile(join(dir, n), 'utf8') })));
      entries.sort((a, b) => a.t - b.t || (a.n < b.n ? -1 : 1));
      return entries.map((e) => ({ payload: e.payload, key: e.n }));
    },
    // A regular file where the folder should be: nothing can be written until an operator acts.
    breakFarSide: async () => {
      await rm(dir, { recursive: true, force: true });
      await writeFile(dir, 'not a folder');
      return 'permanent';
    },
    heal: async () => {
      await rm(dir, { force: true });
      await mkdir(dir);
    },
    // The file is named after the delivery: a resend replaces its own file.
    expectedKey: (d) => `${d.id}.hl7`,
    replacesResends: true,
    cleanup: () => rm(root, { recursive: true, force: true }),
  } satisfies DestinationHarness;
});

runDestinationSuite('channel', async () => {
  const seen: FarSideEntry[] = [];
  let broken = false;
  const keys = new Set<string>();
  const inbox: ChannelInbox = {
    receive: (channelId, message): Promise<ReceiveResult> | undefined => {
      if (channelId !== 'next') return undefined;
      if (broken) return Promise.resolve({ kind: 'rejected', errorCode: 'SWB_ERR_STORE_UNAVAILABLE', ack: undefined });
      const key = msh10(message.content);
      seen.push({ payload: message.content, key });
      const duplicate = key !== undefined && keys.has(key);
      if (key !== undefined) keys.add(key);
      return Promise.resolve({ kind: 'accepted', messageId: `m-${seen.length}`, duplicate, status: 'queued', ack: undefined });
    },
  };
  return {
    create: () => new ChannelDestination({ channel: 'next' }, { channels: inbox }),
    received: async () => [...seen],
    breakFarSide: async () => {
      broken = true;
      return 'transient';
    },
    heal: async () => {
      broken = false;
    },
    // The receiving channel dedupes on sender + MSH-10.
    expectedKey: (d) => msh10(d.payload) ?? '',
    replacesResends: false,
    cleanup: async () => undefined,
  } satisfies DestinationHarness;
});
