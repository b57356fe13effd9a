import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import { loadWritebackConfig, parseWritebackConfig } from './writeback-config.ts';

const examples = new URL('../../docs/examples/', import.meta.url).pathname;

test('the example file loads: EHRs, policy file relative to it, key files resolved beside it, defaults', async () => {
  const c = await loadWritebackConfig(join(examples, 'writeback.yaml'));
  assert.equal(c.tenant, 'default');
  assert.deepEqual(
    c.ehrs.map((e) => [e.name, e.profile]),
    [
      ['epic-sim', 'epic'],
      ['generic-sim', 'generic-r4'],
      ['legacy-notes', 'hl7v2-mllp'],
    ],
  );
  assert.equal(c.ehrs[0]?.auth?.privateKeyFile, join(examples, 'keys/switchboard.private.jwk.json'));
  assert.ok(c.policy.rules.length > 0);
  assert.deepEqual(c.commit, { concurrency: 4, maxAttempts: 5, pollMs: 250, backoff: { initialMs: 1000, maxMs: 60000 }, leaseMs: 60000, recoveryIntervalMs: 30000 });
  assert.equal(c.drift.intervalMs, 900000);
});

test('defaults: no file keys at all gives the built-in policy and no EHRs; inline policy YAML is parsed', async () => {
  const empty = await parseWritebackConfig('{}', 'w.yaml');
  assert.equal(empty.tenant, 'default');
  assert.deepEqual(empty.ehrs, []);
  assert.equal(empty.verify.enabled, true);
  assert.equal(empty.drift.intervalMs, 0);
  assert.ok(empty.policy.rules.some((r) => r.resourceType === 'DocumentReference'));
  const inline = await parseWritebackConfig('policy: |\n  defaultDecision: auto\n', 'w.yaml');
  assert.equal(inline.policy.defaultDecision, 'auto');
});

test('errors name the file and the field path', async () => {
  const cases: Array<[string, RegExp]> = [
    ['ehrs:\n  - {name: a, profile: nope, baseUrl: "http://x"}', /w\.yaml: ehrs\[0\]\.profile/],
    ['commit: {maxAttempts: 0}', /commit\.maxAttempts must be >= 1/],
    ['commit: {backoff: {initialMs: 500, maxMs: 10}}', /commit\.backoff\.maxMs/],
    ['surprise: 1', /surprise is not a known key/],
    ['ehrs:\n  - {name: a, profile: generic-r4, baseUrl: "http://x"}\n  - {name: a, profile: generic-r4, baseUrl: "http://y"}', /ehrs\[1\]\.name/],
    ['policy: missing-policy.yaml', /policy.*cannot read missing-policy\.yaml/],
  ];
  for (const [text, pattern] of cases) {
    await assert.rejects(parseWritebackConfig(text, 'w.yaml'), (e: unknown) => isSwitchboardError(e) && pattern.test(e.message), text);
  }
});

test('a policy file with an error is reported by the policy parser with its path', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-wbcfg-'));
  try {
    writeFileSync(join(dir, 'p.yaml'), 'rules:\n  - {resourceType: Observation, decision: maybe}\n');
    writeFileSync(join(dir, 'w.yaml'), 'policy: p.yaml\n');
    await assert.rejects(loadWritebackConfig(join(dir, 'w.yaml')), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_WRITEBACK_POLICY_INVALID' && /rules\[0\]\.decision/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
