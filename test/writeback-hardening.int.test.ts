// Write-back hardening (issue 6 follow-up), the service over real stores and the generic EHR
// simulator over real HTTP:
//  - the worker claims the oldest approved proposals first;
//  - two services on one store (SQLite, and PostgreSQL when SWITCHBOARD_PG_URL is set): recovery in
//    one never takes the other's write in flight (its lease is renewed), but does take a claim whose
//    lease ran out (a process that died mid-write), and the ledger decides as before;
//  - a JSON Patch that appends to an array (`/-`) verifies, and the drift job does not flag it;
//  - the drift report counts the checks made.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createLogger } from '../src/core/logger.ts';
import type { Proposal, ProposalStore } from '../src/core/ports/proposal-store.ts';
import type { FhirResource } from '../src/core/ports/resource-store.ts';
import type { Store } from '../src/core/ports/store.ts';
import { startEhrSimulator, type EhrSimulator } from '../src/sim/ehr/ehr-simulator.ts';
import { dropPostgresSchema } from '../src/store/postgres/open-postgres-store.ts';
import { openStore } from '../src/store/open-store.ts';
import { createEhrAdapter } from '../src/writeback/ehr/ehr-adapters.ts';
import { parsePolicy } from '../src/writeback/policy.ts';
import { createWritebackService, type WritebackService } from '../src/writeback/writeback-service.ts';
import { tempDir } from './cli-helpers.ts';

const POLICY = `
defaultDecision: auto
actors:
  - {kind: '*', actions: [propose, approve, sign, reject, edit]}
`;

let sim: EhrSimulator;
let privateJwk: JWK;

before(async () => {
  const pair = await generateKeyPair('ES384', { extractable: true });
  privateJwk = { ...(await exportJWK(pair.privateKey)), kid: 'h1', alg: 'ES384' };
  sim = await startEhrSimulator({ profile: 'generic' });
  sim.registerClient({ clientId: 'switchboard', jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'h1', alg: 'ES384', use: 'sig' }] } });
});

after(async () => {
  await sim?.close();
});

const vitals = (value: number, extra: Record<string, unknown> = {}): FhirResource => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/pat-1' },
  valueQuantity: { value, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
  ...extra,
});

async function service(store: Store, options: { owner: string; concurrency?: number; leaseMs?: number; recoveryIntervalMs?: number; order?: string[] }): Promise<WritebackService> {
  const adapter = await createEhrAdapter({ name: 'generic-sim', profile: 'generic-r4', baseUrl: sim.fhirBase, auth: { clientId: 'switchboard', privateJwk, alg: 'ES384', kid: 'h1' } });
  const order = options.order;
  return createWritebackService({
    proposals: store.proposals,
    resources: store.resources,
    adapters: new Map([['generic-sim', adapter]]),
    policy: parsePolicy(POLICY, 'test'),
    logger: createLogger({ level: 'silent' }),
    owner: options.owner,
    commit: { concurrency: options.concurrency ?? 2, pollMs: 30, maxAttempts: 3, backoff: { initialMs: 20, maxMs: 100 }, leaseMs: options.leaseMs ?? 60_000, recoveryIntervalMs: options.recoveryIntervalMs ?? 0 },
    ...(order === undefined ? {} : { hooks: { onSettled: (p) => order.push(p.id) } }),
  });
}

/** A proposal as intake leaves an auto-approved one, at a given creation time. */
async function approved(proposals: ProposalStore, key: string, resource: FhirResource, at?: Date): Promise<Proposal> {
  const made = await proposals.create({ tenant: 'default', ehr: 'generic-sim', patient: 'Patient/pat-1', change: { kind: 'create', resource }, actor: { kind: 'app', id: 'hardening' }, purposeOfUse: 'TREAT', idempotencyKey: key, correlationId: `corr-${key}`, state: 'proposed', ...(at === undefined ? {} : { at }) });
  const r = await proposals.transition(made.proposal.id, { from: 'proposed', to: 'approved', actor: 'engine', reason: 'policy auto', ...(at === undefined ? {} : { at }) });
  assert.equal(r.kind, 'ok');
  return r.kind === 'ok' ? r.proposal : made.proposal;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const settledState = async (proposals: ProposalStore, id: string): Promise<Proposal | undefined> => {
  const p = await proposals.get(id);
  return p !== undefined && !['approved', 'committing', 'retrying', 'committed'].includes(p.state) ? p : undefined;
};

interface Backend {
  readonly name: string;
  readonly skip?: string;
  open(): Promise<{ url: string; cleanup: () => Promise<void> }>;
}

const pgUrl = process.env['SWITCHBOARD_PG_URL'];
const BACKENDS: Backend[] = [
  {
    name: 'SQLite',
    open: async () => {
      const dir = tempDir('swb-wb-hardening-');
      return { url: `sqlite:${join(dir, 'store.db')}`, cleanup: async () => undefined };
    },
  },
  {
    name: 'PostgreSQL',
    ...(pgUrl === undefined || pgUrl === '' ? { skip: 'SWITCHBOARD_PG_URL is not set' } : {}),
    open: async () => {
      const schema = `swb_test_${randomBytes(6).toString('hex')}`;
      const u = new URL(pgUrl ?? '');
      u.searchParams.set('schema', schema);
      return { url: u.toString(), cleanup: () => dropPostgresSchema(pgUrl ?? '', schema) };
    },
  },
];

for (const backend of BACKENDS) {
  describe(`two services on one ${backend.name} store`, () => {
    test('recovery never takes a live write (its lease is renewed) but takes an expired claim; the ledger decides', { timeout: 90_000, ...(backend.skip === undefined ? {} : { skip: backend.skip }) }, async () => {
      const { url, cleanup } = await backend.open();
      // Two processes' worth: each service has its own store connection (pool) on the one database.
      const storeA = await openStore(url);
      const storeB = await openStore(url);
      let a: WritebackService | undefined;
      let b: WritebackService | undefined;
      try {
        const live = await approved(storeA.proposals, `live-${backend.name}`, vitals(70));
        // A holds its write for 3 s, longer than its 1.2 s lease: only renewal keeps it.
        sim.addFault({ kind: 'latency', latencyMs: 3000, method: 'POST', resourceType: 'Observation' });
        // Concurrency 1: with its write in flight A claims nothing more, so the approved proposal
        // made below stays for the test to turn into a dead claim (with room, A's 30 ms poll could
        // take it first: a race that a loaded machine lost).
        a = await service(storeA, { owner: 'proc-a', leaseMs: 1200, concurrency: 1 });
        await a.start();
        await waitFor('A has the write in flight', async () => ((await storeA.proposals.ledger.forProposal(live.id)).length === 1 ? true : undefined));
        assert.equal((await storeA.proposals.get(live.id))?.leaseOwner, 'proc-a');

        // A claim left by a process that died mid-write: committing, lease expired, ledger open.
        const dead = await approved(storeB.proposals, `dead-${backend.name}`, vitals(71));
        const claim = await storeB.proposals.transition(dead.id, { from: 'approved', to: 'committing', actor: 'engine', set: { attempts: 1, lease: { owner: 'proc-dead', until: new Date(Date.now() - 1000) } } });
        assert.equal(claim.kind, 'ok');
        await storeB.proposals.ledger.begin({ proposalId: dead.id, attempt: 1, ehr: 'generic-sim', idempotencyKey: dead.id, request: 'POST Observation' });

        // B starts (recovery at start) and keeps recovering every 50 ms while A's write is in flight.
        b = await service(storeB, { owner: 'proc-b', recoveryIntervalMs: 50 });
        const report = await b.start();
        assert.deepEqual(report.retried, [dead.id], "B's start recovers only the expired claim (a conditional create: retried safely)");
        assert.deepEqual([...report.unknown, ...report.committed], []);

        const liveDone = await waitFor('the live write settled', () => settledState(storeA.proposals, live.id));
        assert.equal(liveDone.state, 'verified');
        const liveEvents = await storeA.proposals.events(live.id);
        assert.equal(liveEvents.filter((e) => e.detail?.['recovery'] === true).length, 0, 'recovery never touched the live write');
        assert.deepEqual((await storeA.proposals.ledger.forProposal(live.id)).map((e) => e.outcome), ['applied'], 'one attempt, settled by its owner');
        assert.equal(liveDone.leaseOwner, undefined, 'the lease ends with the claim');

        const deadDone = await waitFor('the recovered write settled', () => settledState(storeB.proposals, dead.id));
        assert.equal(deadDone.state, 'verified');
        assert.deepEqual((await storeB.proposals.ledger.forProposal(dead.id)).map((e) => e.outcome), ['unknown', 'applied']);
        const written = sim.writes().filter((w) => w.resourceType === 'Observation');
        assert.equal(written.filter((w) => w.id === liveDone.result?.id).length, 1, 'the live write reached the EHR once');
        assert.deepEqual(await storeA.proposals.ledger.open(), []);
      } finally {
        sim.clearFaults();
        await a?.stop();
        await b?.stop();
        await storeA.close();
        await storeB.close();
        await cleanup();
      }
    });
  });
}

describe('one service on SQLite', () => {
  let store: Store;
  let svc: WritebackService | undefined;
  before(async () => {
    store = await openStore(`sqlite:${join(tempDir('swb-wb-hardening-one-'), 'store.db')}`);
  });
  after(async () => {
    await svc?.stop();
    await store?.close();
  });

  test('the worker claims the oldest approved proposals first', async () => {
    const order: string[] = [];
    const t0 = Date.now() - 60_000;
    const made: Proposal[] = [];
    for (let i = 0; i < 6; i++) made.push(await approved(store.proposals, `order-${i}`, vitals(80 + i), new Date(t0 + i * 1000)));
    svc = await service(store, { owner: 'order', concurrency: 1, order });
    await svc.start();
    await svc.idle();
    await svc.stop();
    svc = undefined;
    assert.deepEqual(order, made.map((p) => p.id), 'committed in the order they were approved');
  });

  test('a patch appending to an array (`/-`) verifies against the base the EHR had, and the drift job leaves it verified', async () => {
    svc = await service(store, { owner: 'patch' });
    await svc.start();
    const base = await approved(store.proposals, 'patch-base', vitals(90, { note: [{ text: 'first' }] }));
    await svc.idle();
    const created = await store.proposals.get(base.id);
    assert.equal(created?.state, 'verified');
    const id = created?.result?.id ?? '';
    const made = await store.proposals.create({
      tenant: 'default',
      ehr: 'generic-sim',
      patient: 'Patient/pat-1',
      change: { kind: 'patch', resourceType: 'Observation', id, ...(created?.result?.versionId === undefined ? {} : { baseVersion: created.result.versionId }), patch: [{ op: 'add', path: '/note/-', value: { text: 'second' } }] },
      actor: { kind: 'app', id: 'hardening' },
      purposeOfUse: 'TREAT',
      idempotencyKey: 'patch-append',
      correlationId: 'corr-patch-append',
      state: 'proposed',
    });
    await store.proposals.transition(made.proposal.id, { from: 'proposed', to: 'approved', actor: 'engine' });
    await svc.idle();
    const patched = await store.proposals.get(made.proposal.id);
    const events = await store.proposals.events(made.proposal.id);
    assert.equal(patched?.state, 'verified', JSON.stringify(events.map((e) => [e.to, e.reason, e.detail?.['diff']])));
    const check = await svc.checkDrift({ ehr: 'generic-sim' });
    assert.ok(!check.drifted.includes(made.proposal.id), 'the drift job compares with the base patched, not the copy patched again');
    assert.equal((await store.proposals.get(made.proposal.id))?.state, 'verified');
  });

  test('the drift report counts the checks made (read-backs and drift job re-reads), not the writes', async () => {
    const day = new Date().toISOString().slice(0, 10);
    svc ??= await service(store, { owner: 'drift' });
    const before = await svc.driftReport('generic-sim', day);
    const first = await svc.checkDrift({ ehr: 'generic-sim' });
    const second = await svc.checkDrift({ ehr: 'generic-sim' });
    assert.ok(first.checked > 0);
    const report = await svc.driftReport('generic-sim', day);
    assert.equal(report.checked - before.checked, first.checked + second.checked, 'each re-read is counted once');
    assert.equal(report.errors, 0);
    // The read-backs right after each commit of this file's writes are checks too.
    const verifiedToday = (await store.proposals.eventsBetween({ from: new Date(`${day}T00:00:00Z`), to: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000), toStates: ['verified', 'drifted'] })).filter((e) => e.detail?.['phase'] === 'verify').length;
    assert.equal(report.checked, verifiedToday + (await store.proposals.driftChecks('generic-sim', day)).checked);
  });
});
