import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot, runCli, tempDir, writeTemp } from './cli-helpers.ts';

// Proposals written for these tests (made-up patients and ids), checked against the documented example policy.
const examplePolicy = join(repoRoot, 'docs/examples/writeback-policy.yaml');
const dir = tempDir('swb-policy-cli-');

const vitals = {
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/pat-1' },
};
const base = { ehr: 'epic-sim', patient: 'Patient/pat-1', purposeOfUse: 'TREAT', consent: 'permit' };
const autoFile = writeTemp(dir, 'auto.json', JSON.stringify({ ...base, change: { kind: 'create', resource: vitals }, actor: { kind: 'app', id: 'client-1' } }));
const agentNote = writeTemp(
  dir,
  'agent-note.yaml',
  [
    'ehr: epic-sim',
    'patient: Patient/pat-1',
    'purposeOfUse: TREAT',
    'consent: permit',
    'actor: { kind: agent, id: scribe-1, model: note-drafter, modelVersion: "1" }',
    'change:',
    '  kind: create',
    '  resource:',
    '    resourceType: DocumentReference',
    '    status: current',
    '    docStatus: preliminary',
    '    type: { coding: [{ system: "http://loinc.org", code: "11506-3" }] }',
    '    subject: { reference: Patient/pat-1 }',
    '    content: [{ attachment: { contentType: text/plain, data: Tm90ZQ== } }]',
    '',
  ].join('\n'),
);
const outOfRange = writeTemp(dir, 'range.json', JSON.stringify({ ...base, change: { kind: 'create', resource: { ...vitals, valueQuantity: { value: 900 } } }, actor: { kind: 'app', id: 'client-1' } }));
const notJson = writeTemp(dir, 'broken.json', '{ "ehr": ');
const missingField = writeTemp(dir, 'missing.json', JSON.stringify({ ...base, actor: { kind: 'app', id: 'x' } }));
const badPolicy = writeTemp(dir, 'bad-policy.yaml', 'rules:\n  - resourceType: Observation\n    decision: sometimes\n');

void test('policy test prints auto with the matched rule and exits 0', async () => {
  const r = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', autoFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^decision: auto$/m);
  assert.match(r.stdout, /^rule: vitals-auto$/m);
  assert.match(r.stdout, /^violations: none$/m);
});

void test('an AI agent draft goes to review (exit 0); the agent may not sign, a reviewer may', async () => {
  const r = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', agentNote, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout) as { decision: string; rule: string; reasons: string[] };
  assert.equal(d.decision, 'review');
  assert.equal(d.rule, 'notes-review', r.stdout);
  const sign = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', agentNote, '--action', 'sign']);
  assert.equal(sign.code, 1, sign.stderr);
  assert.match(sign.stdout, /^allowed: no$/m);
  const ok = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', agentNote, '--action', 'approve', '--actor-role', 'reviewer', '--actor-id', 'dr.lee']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^allowed: yes$/m);
  assert.match(ok.stdout, /clinician-reviewers/);
});

void test('a validation violation denies with exit 1 and lists the violation', async () => {
  const r = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', outOfRange]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^decision: deny$/m);
  assert.match(r.stdout, /valueQuantity\.value \(vitals\): is 900, above the maximum 500/);
});

void test('bad input exits 2 with a coded message', async () => {
  const policyErr = await runCli(['policy', 'test', '--policy', badPolicy, '--proposal', autoFile]);
  assert.equal(policyErr.code, 2);
  assert.match(policyErr.stderr, /SWB_ERR_WRITEBACK_POLICY_INVALID: .*rules\[0\]\.decision must be one of auto, review, deny/);
  const broken = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', notJson]);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /SWB_ERR_CLI_USAGE/);
  const missing = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', missingField]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /change/);
  const noFile = await runCli(['policy', 'test', '--policy', join(dir, 'nope.yaml'), '--proposal', autoFile]);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /SWB_ERR_IO_READ_FAILED/);
  const badAction = await runCli(['policy', 'test', '--policy', examplePolicy, '--proposal', autoFile, '--action', 'delete']);
  assert.equal(badAction.code, 2);
  const noArgs = await runCli(['policy', 'test']);
  assert.equal(noArgs.code, 2);
});
