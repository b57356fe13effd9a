// Retention per channel policy (issue 3 "Stores"): content of processed messages goes after
// `storage.contentRetention`, of errored ones after `storage.erroredRetention`; metadata stays.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEngineService } from '../src/api/engine-service.ts';
import { createLogger } from '../src/core/logger.ts';
import { loadChannelDir } from '../src/engine/channel-loader.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

const DAY = 24 * 60 * 60 * 1000;

void test('the retention sweep prunes content by each channel policy and keeps metadata', { timeout: 30_000 }, async () => {
  const dir = tempDir('swb-retention-');
  writeFileSync(join(dir, 'keep.yaml'), ['id: keep', 'source: { kind: mllp, settings: { host: 127.0.0.1, port: 0 } }', 'storage: { contentRetention: 1d, erroredRetention: 3d }'].join('\n'));
  writeFileSync(join(dir, 'long.yaml'), ['id: long', 'source: { kind: mllp, settings: { host: 127.0.0.1, port: 0 } }', 'storage: { contentRetention: 10d, erroredRetention: 10d }'].join('\n'));
  const store = await openStore(`sqlite:${join(dir, 'store.db')}`);
  const engine = await startEngineService({ store, channels: await loadChannelDir(dir), host: '127.0.0.1', httpPort: undefined, logger: createLogger({ level: 'silent' }), author: 'test', retentionIntervalMs: 0 });
  try {
    for (const channel of ['keep', 'long']) {
      const port = Number(/:(\d+)$/.exec(engine.channels.get(channel)?.source?.describe() ?? '')?.[1]);
      const client = new MllpClient({ host: '127.0.0.1', port });
      try {
        await client.send(`MSH|^~\\&|A|B|C|D|20260101120000||ADT^A01^ADT_A01|${channel}-ok|P|2.5.1\rPID|1||P1^^^B^MR`);
      } finally {
        await client.close();
      }
      // No MSH: stored errored, answered AR (sent raw: our client refuses to send a non-message).
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port }, () => socket.write('\x0bthis is not HL7\x1c\r'));
        socket.once('data', () => {
          socket.end();
          resolve();
        });
        socket.once('error', reject);
      });
    }
    const content = async (channelId: string, status: 'delivered' | 'errored'): Promise<string | undefined> => {
      const [m] = (await store.messages.search({ channelId, status })).items;
      assert.ok(m !== undefined, `${channelId} has a ${status} message`);
      return (await store.messages.get(m.id))?.content;
    };
    assert.ok((await content('keep', 'delivered')) !== undefined);
    assert.ok((await content('keep', 'errored')) !== undefined);

    // Two days on: the processed message of `keep` loses its content; its errored one and all of `long` keep theirs.
    assert.deepEqual(await engine.runRetention(new Date(Date.now() + 2 * DAY)), { keep: 1, long: 0 });
    assert.equal(await content('keep', 'delivered'), undefined);
    assert.ok((await content('keep', 'errored')) !== undefined);
    assert.ok((await content('long', 'delivered')) !== undefined);
    // Four days on: the errored one goes too. Metadata outlives content.
    assert.deepEqual(await engine.runRetention(new Date(Date.now() + 4 * DAY)), { keep: 1, long: 0 });
    assert.equal(await content('keep', 'errored'), undefined);
    assert.equal((await store.messages.search({ channelId: 'keep' })).items.length, 2);
  } finally {
    await engine.close();
    await store.close();
  }
});
