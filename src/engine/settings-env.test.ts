import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { resolveSettingsEnv } from './settings-env.ts';

void test('references are read from the environment; whole numeric references become numbers', () => {
  const env = { PORT: '2576', SECRET: 's3cr3t', ON: 'true' };
  assert.deepEqual(resolveSettingsEnv({ port: '${PORT}', url: 'http://h:${PORT}/x', tls: { key: '${SECRET}' }, list: ['${ON}'], n: 5 }, env, 'settings'), {
    port: 2576,
    url: 'http://h:2576/x',
    tls: { key: 's3cr3t' },
    list: [true],
    n: 5,
  });
  assert.equal(resolveSettingsEnv('${MISSING:-fallback}', env, 's'), 'fallback');
});

void test('a missing variable without a default names the settings path', () => {
  assert.throws(
    () => resolveSettingsEnv({ a: { b: '${NOPE}' } }, {}, 'adt.yaml: source.settings'),
    (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONFIG_INVALID' && e.message.includes('adt.yaml: source.settings.a.b') && e.message.includes('NOPE'),
  );
});
