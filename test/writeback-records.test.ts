import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { createLogger } from '../src/core/logger.ts';
import type { ProposalStore } from '../src/core/ports/proposal-store.ts';
import type { ResourceStore } from '../src/core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { parseSearchQuery } from '../src/fhir/search-query.ts';
import { startEhrSimulator } from '../src/sim/ehr/ehr-simulator.ts';
import { openStore } from '../src/store/open-store.ts';
import { CORRELATION_TAG_SYSTEM } from '../src/writeback/ai-content.ts';
import { afterCommit } from '../src/writeback/commit-worker.ts';
import { createEhrAdapter } from '../src/writeback/ehr/ehr-adapters.ts';
import { parsePolicy } from '../src/writeback/policy.ts';
import { createWritebackService } from '../src/writeback/writeback-service.ts';
import type { WritebackContext } from '../src/writeback/writeback-context.ts';
import { tempDir } from './cli-helpers.ts';

// ARCHITECTURE.md invariant 5 across a crash: a write's Provenance and AuditEvent are in our store
// BEFORE the transition that reports it committed, so a process that dies right after that
// transition (before the read-back) cannot leave a committed write without its records. And the
// records can be stored again (a recovery's or a reviewer's follow-up) without a second Provenance.

const POLICY = `
defaultDecision: auto
actors:
  - {kind: '*', actions: [propose, approve, sign, reject, edit]}
`;

async function provenances(resources: ResourceStore, correlationId: string): Promise<number> {
  const query = parseSearchQuery('Provenance', [['_tag', `${CORRELATION_TAG_SYSTEM}|${correlationId}`]]).query;
  return (await resources.search('Provenance', query)).resources.length;
}

test('a committed write has its Provenance and AuditEvent stored before the committed transition, and a second follow-up makes no second Provenance', async () => {
  const dir = tempDir('swb-writeback-records-');
  const store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  const sim = await startEhrSimulator({ profile: 'generic' });
  const pair = await generateKeyPair('ES384', { extractable: true });
  sim.registerClient({ clientId: 'switchboard', jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'r1', alg: 'ES384', use: 'sig' }] } });
  const resources = store.resources as ResourceStore;
  // What the store held at the moment each proposal was moved to committed (a look, not a stand-in:
  // every call goes to the real store).
  const atCommit = new Map<string, { provenances: number; auditEvents: number }>();
  const observe: ProposalStore['transition'] = async (id, t) => {
    if (t.to === 'committed') {
      const p = await store.proposals.get(id);
      const audits = await resources.search('AuditEvent', { conditions: [] });
      atCommit.set(id, {
        provenances: p === undefined ? 0 : await provenances(resources, p.correlationId),
        auditEvents: audits.resources.filter((e) => JSON.stringify(e).includes(p?.correlationId ?? '\u0000')).length,
      });
    }
    return store.proposals.transition(id, t);
  };
  const real = store.proposals;
  const proposals = new Proxy(real, {
    get: (target, key) => {
      if (key === 'transition') return observe;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const adapter = await createEhrAdapter({ name: 'generic-sim', profile: 'generic-r4', baseUrl: sim.fhirBase, auth: { clientId: 'switchboard', privateJwk: { ...(await exportJWK(pair.privateKey)), kid: 'r1', alg: 'ES384' }, alg: 'ES384', kid: 'r1' } });
  const service = createWritebackService({
    proposals,
    resources,
    adapters: new Map([['generic-sim', adapter]]),
    policy: parsePolicy(POLICY, 'test'),
    logger: createLogger({ level: 'silent' }),
    commit: { concurrency: 2, pollMs: 20, maxAttempts: 3, backoff: { initialMs: 10, maxMs: 50 } },
  });
  try {
    const vitals = (i: number): Record<string, unknown> & { resourceType: string } => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      subject: { reference: 'Patient/pat-1' },
      valueQuantity: { value: 60 + i, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    const made = await Promise.all([0, 1, 2].map((i) => service.propose({ ehr: 'generic-sim', patient: 'pat-1', change: { kind: 'create', resource: vitals(i) }, purposeOfUse: 'TREAT', idempotencyKey: `rec-${i}` }, { kind: 'app', id: 'vitals-app' })));
    await service.start();
    await service.idle(30_000);
    for (const m of made) {
      const p = await store.proposals.get(m.proposal.id);
      assert.equal(p?.state, 'verified', `proposal ${m.proposal.id}`);
      assert.deepEqual(atCommit.get(m.proposal.id), { provenances: 1, auditEvents: 1 }, 'records in the store when the write was reported committed');
    }

    // A follow-up run again (as after a recovery or a reviewer's confirmation): still one Provenance.
    const first = await store.proposals.get(made[0]?.proposal.id ?? '');
    assert.ok(first !== undefined);
    const ctx: WritebackContext = {
      proposals: store.proposals,
      resources,
      adapters: new Map([['generic-sim', adapter]]),
      policy: parsePolicy(POLICY, 'test'),
      tenant: 'default',
      clock: { now: () => new Date() },
      logger: createLogger({ level: 'silent' }),
      commit: { concurrency: 1, maxAttempts: 1, pollMs: 1000, backoff: { initialMs: 1, maxMs: 1 }, leaseMs: 60_000, recoveryIntervalMs: 0 },
      owner: 'records-test',
      audit: undefined,
      verify: false,
      wake: () => undefined,
    };
    await afterCommit(ctx, first);
    assert.equal(await provenances(resources, first.correlationId), 1);
  } finally {
    await service.stop();
    await store.close();
    await sim.close();
  }
});
