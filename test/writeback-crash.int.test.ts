import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import type { Proposal, ProposalStore } from '../src/core/ports/proposal-store.ts';
import type { Store } from '../src/core/ports/store.ts';
import { startEhrSimulator, type EhrSimulator } from '../src/sim/ehr/ehr-simulator.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';
import { killHard, sleep, startSwitchboard } from './engine-process-helpers.ts';

/**
 * ARCHITECTURE.md invariant 2 for write-back: a real engine process (`switchboard start --writeback`)
 * is SIGKILLed while two writes are in flight (the simulators hold them with a latency fault, then
 * apply them after the client is gone: the worst case, applied but never answered). After a restart
 * the ledger decides: the generic EHR's conditional create is retried safely and ends committed with
 * exactly one resource in the EHR; the Epic note (no conditional create) becomes `unknown` and is
 * never sent again. Nothing duplicated, nothing lost.
 */

const POLICY = `
defaultDecision: auto
actors:
  - {kind: '*', actions: [propose, approve, sign, reject, edit]}
`;

async function startEngine(storeUrl: string, writebackFile: string): Promise<ChildProcess> {
  return (await startSwitchboard(['--host', '127.0.0.1', '--http-port', '0', '--mllp-port', '0', '--store', storeUrl, '--writeback', writebackFile])).child;
}

/** An approved proposal, written the way intake leaves one (proposed, then approved by policy). */
async function seed(proposals: ProposalStore, ehr: string, key: string, resource: Record<string, unknown> & { resourceType: string }): Promise<Proposal> {
  const made = await proposals.create({ tenant: 'default', ehr, patient: 'Patient/pat-1', change: { kind: 'create', resource }, actor: { kind: 'app', id: 'crash-test' }, purposeOfUse: 'TREAT', idempotencyKey: key, correlationId: `corr-${key}`, state: 'proposed' });
  const r = await proposals.transition(made.proposal.id, { from: 'proposed', to: 'approved', actor: 'engine', reason: 'policy auto' });
  assert.equal(r.kind, 'ok');
  return made.proposal;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('SIGKILL during committing: after restart no write is duplicated and none is lost (the ledger decides)', { timeout: 180_000 }, async () => {
  const dir = tempDir('swb-writeback-crash-');
  const storeUrl = `sqlite:${join(dir, 'store.db')}`;
  let generic: EhrSimulator | undefined;
  let epic: EhrSimulator | undefined;
  let child: ChildProcess | undefined;
  let store: Store | undefined;
  try {
    const pair = await generateKeyPair('RS384', { extractable: true });
    const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'c1', alg: 'RS384', use: 'sig' };
    writeFileSync(join(dir, 'ehr-key.json'), JSON.stringify({ ...(await exportJWK(pair.privateKey)), kid: 'c1', alg: 'RS384' }));
    generic = await startEhrSimulator({ profile: 'generic' });
    epic = await startEhrSimulator({ profile: 'epic' });
    for (const sim of [generic, epic]) sim.registerClient({ clientId: 'switchboard', jwks: { keys: [publicJwk] } });
    const auth = '{clientId: switchboard, privateKeyFile: ehr-key.json, alg: RS384, kid: c1}';
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    const configFile = join(dir, 'writeback.yaml');
    writeFileSync(
      configFile,
      [
        'policy: policy.yaml',
        'ehrs:',
        `  - {name: generic-sim, profile: generic-r4, baseUrl: "${generic.fhirBase}", auth: ${auth}, timeoutMs: 20000}`,
        `  - {name: epic-sim, profile: epic, baseUrl: "${epic.fhirBase}", auth: ${auth}, timeoutMs: 20000}`,
        'commit: {concurrency: 4, pollMs: 50, backoff: {initialMs: 20, maxMs: 200}, leaseMs: 3000, recoveryIntervalMs: 200}',
      ].join('\n'),
    );

    store = await openStore(storeUrl);
    const vitals = { resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }], code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'Patient/pat-1' }, valueQuantity: { value: 64, unit: '/min' } };
    const note = { resourceType: 'DocumentReference', status: 'current', docStatus: 'preliminary', type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] }, subject: { reference: 'Patient/pat-1' }, content: [{ attachment: { contentType: 'text/plain', data: 'c3RhYmxl' } }] };
    const obs = await seed(store.proposals, 'generic-sim', 'crash-obs', vitals);
    const doc = await seed(store.proposals, 'epic-sim', 'crash-note', note);

    // Both EHRs hold the write for 2 s, then apply it: the engine is killed while it waits.
    generic.addFault({ kind: 'latency', latencyMs: 2000, method: 'POST', resourceType: 'Observation' });
    epic.addFault({ kind: 'latency', latencyMs: 2000, method: 'POST', resourceType: 'DocumentReference' });
    child = await startEngine(storeUrl, configFile);
    const proposals = store.proposals;
    await waitFor('both writes in flight (open ledger entries)', async () => ((await proposals.ledger.open()).length === 2 ? true : undefined));
    await killHard(child);
    child = undefined;
    assert.equal((await proposals.get(obs.id))?.state, 'committing');
    assert.equal((await proposals.get(doc.id))?.state, 'committing');
    // Let the held requests finish on the EHR side (applied, with nobody listening).
    await sleep(2500);
    const obsWritesBefore = generic.writes().filter((w) => w.resourceType === 'Observation').length;
    const noteWritesBefore = epic.writes().filter((w) => w.resourceType === 'DocumentReference').length;
    assert.ok(obsWritesBefore <= 1 && noteWritesBefore <= 1);

    generic.clearFaults();
    epic.clearFaults();
    child = await startEngine(storeUrl, configFile);
    const obsDone = await waitFor('the Observation settled', async () => {
      const p = await proposals.get(obs.id);
      // Committed is not the end: the read-back follows at once (verified or drifted).
      return p !== undefined && ['verified', 'failed', 'unknown', 'drifted', 'conflict'].includes(p.state) ? p : undefined;
    });
    const docDone = await waitFor('the note settled', async () => {
      const p = await proposals.get(doc.id);
      return p !== undefined && p.state !== 'committing' && p.state !== 'retrying' && p.state !== 'approved' ? p : undefined;
    });
    // Generic (If-None-Exist on the proposal identifier): retried safely, committed and verified, once.
    assert.equal(obsDone.state, 'verified', `Observation ended ${obsDone.state}`);
    assert.equal(generic.writes().filter((w) => w.resourceType === 'Observation').length, 1, 'exactly one Observation in the EHR');
    const obsLedger = await proposals.ledger.forProposal(obs.id);
    assert.equal(obsLedger[0]?.outcome, 'unknown', 'the interrupted attempt is settled as unknown by recovery');
    assert.equal(obsLedger.at(-1)?.outcome, 'applied');
    // Epic (no conditional create): unknown, for a person; never sent again.
    assert.equal(docDone.state, 'unknown');
    await sleep(500);
    assert.equal(epic.writes().filter((w) => w.resourceType === 'DocumentReference').length, noteWritesBefore, 'the note was not sent again');
    assert.equal((await proposals.ledger.forProposal(doc.id)).length, 1);
    assert.equal((await proposals.ledger.open()).length, 0);
  } finally {
    if (child !== undefined) await killHard(child);
    await store?.close();
    await Promise.all([generic?.close(), epic?.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
});
