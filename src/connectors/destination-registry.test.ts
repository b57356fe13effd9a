import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { createDestination, destinationKinds } from './destination-registry.ts';
import { ChannelDestination } from './channel/channel-destination.ts';
import { FileDestination } from './file/file-destination.ts';
import { HttpDestination } from './http/http-destination.ts';
import { MllpDestination } from './mllp/mllp-destination.ts';

test('each kind builds its connector', async () => {
  const mllp = createDestination('mllp', { host: '127.0.0.1', port: 2575 });
  const http = createDestination('http', { url: 'http://127.0.0.1:8080/hook' });
  const file = createDestination('file', { directory: '/tmp/swb-registry-test' });
  assert.ok(mllp instanceof MllpDestination);
  assert.ok(http instanceof HttpDestination);
  assert.ok(file instanceof FileDestination);
  const channel = createDestination('channel', { channel: 'next' }, { channels: { receive: () => undefined } });
  assert.ok(channel instanceof ChannelDestination);
  assert.equal(channel.channel, 'next');
  assert.deepEqual([mllp.kind, http.kind, file.kind, channel.kind], ['mllp', 'http', 'file', 'channel']);
  assert.deepEqual([...destinationKinds].sort(), ['channel', 'fhir-store', 'file', 'http', 'mllp']);
  await Promise.all([mllp.close(), http.close(), file.close(), channel.close()]);
});

test('an unknown kind is SWB_ERR_CONFIG_INVALID naming the kind', () => {
  for (const kind of ['smtp', 'toString', '__proto__']) {
    assert.throws(
      () => createDestination(kind, {}),
      (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_CONFIG_INVALID' && error.failureClass === 'permanent' && error.message.includes(`"${kind}"`),
    );
  }
});

test('settings a factory refuses surface as SWB_ERR_CONFIG_INVALID', () => {
  assert.throws(
    () => createDestination('http', { url: 42 }),
    (error: unknown) => isSwitchboardError(error) && error.code === 'SWB_ERR_CONFIG_INVALID' && error.message.includes('destination.settings.url'),
  );
});
