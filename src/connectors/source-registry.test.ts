import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { DirectorySource } from './directory/directory-source.ts';
import { HttpSource } from './http/http-source.ts';
import { MllpSource } from './mllp/mllp-source.ts';
import { createSource, sourceKinds } from './source-registry.ts';

const configError = (path: string) => (error: unknown) =>
  isSwitchboardError(error) && error.code === 'SWB_ERR_CONFIG_INVALID' && error.failureClass === 'permanent' && error.message.includes(path);

test('each kind builds its source, not started', () => {
  assert.ok(createSource('mllp', { port: 2575 }) instanceof MllpSource);
  assert.ok(createSource('http', { port: 8081 }) instanceof HttpSource);
  assert.ok(createSource('directory', { path: '/tmp/swb-in' }) instanceof DirectorySource);
  assert.deepEqual([...sourceKinds].sort(), ['directory', 'http', 'mllp']);
  assert.equal(createSource('mllp', { port: 2575 }).describe(), 'mllp://0.0.0.0:2575');
  assert.equal(createSource('mllp', { port: 2575, host: '::1', tls: { certFile: 'c', keyFile: 'k' } }).describe(), 'mllps://[::1]:2575');
  assert.equal(createSource('http', { port: 8081, path: '/hl7' }).describe(), 'http://0.0.0.0:8081/hl7');
  assert.equal(createSource('directory', { path: '/tmp/swb-in' }).describe(), 'dir:/tmp/swb-in');
});

test('an unknown kind is SWB_ERR_CONFIG_INVALID naming the kind', () => {
  for (const kind of ['smtp', 'toString', '__proto__', 'channel']) {
    assert.throws(() => createSource(kind, {}, 'a.yml: source.settings'), (e: unknown) => configError('a.yml: source.kind')(e) && (e as Error).message.includes(`"${kind}"`));
  }
});

test('settings a factory refuses name the field path', () => {
  assert.throws(() => createSource('mllp', {}, 'ch.yml: source.settings'), configError('ch.yml: source.settings.port is required'));
  assert.throws(() => createSource('mllp', { port: 70000 }), configError('source.settings.port'));
  assert.throws(() => createSource('mllp', { port: 1, maxFrameByte: 5 }), configError('source.settings.maxFrameByte is not a known setting'));
  assert.throws(() => createSource('mllp', { port: 1, tls: { certFile: 'c' } }), configError('source.settings.tls.keyFile'));
  assert.throws(() => createSource('mllp', { port: 1, encoding: 'ebcdic' }), configError('source.settings.encoding'));
  assert.throws(() => createSource('http', { port: 1, path: 'in' }), configError('source.settings.path'));
  assert.throws(() => createSource('http', { port: 1, maxBodyBytes: 0 }), configError('source.settings.maxBodyBytes'));
  assert.throws(() => createSource('directory', {}), configError('source.settings.path'));
  assert.throws(() => createSource('directory', { path: '/x', pattern: [] }), configError('source.settings.pattern'));
  assert.throws(() => createSource('directory', { path: '/x', pattern: ['a/b'] }), configError('source.settings.pattern'));
  assert.throws(() => createSource('directory', { path: '/x', pollMs: 1 }), configError('source.settings.pollMs'));
});
