// Write-back (issue 6 "Proof", load): N proposals (BENCH_WRITEBACK_N, default 1,000) of a vital-sign
// Observation, under an auto-approve policy, committed to the generic EHR simulator.
//
// The simulator runs in its own process (`switchboard sim ehr --profile generic`), so it does not
// share an event loop with the engine. The engine is the write-back service in this process over a
// SQLite store (proposals, events, ledger; Provenance and AuditEvent into the canonical FHIR store),
// with the generic-r4 adapter (SMART backend token, conditional create). Two figures:
//  - proposals/s: intake of all N (validate, policy, idempotent create, transition), then the worker
//    started and run until the last one is verified (commit, Provenance, AuditEvent, read-back);
//    both phases are also reported on their own;
//  - the engine's overhead per write: the commit time (ledger begin -> adapter write -> the committed
//    transition, which settles the ledger entry in the same store transaction) minus the
//    simulator's own time, measured in the same run by a bare client (fetch with the same bearer
//    token, same body, same concurrency, POST with If-None-Exist) doing N writes. Overhead p50 = p50(commit) - p50(bare), p99 likewise (percentiles of two
//    distributions, not per-write differences). The target: overhead p99 < 20 ms.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import { engineResourceIndexer } from '../src/api/engine-indexer.ts';
import { createLogger } from '../src/core/logger.ts';
import { SmartBackendAuth } from '../src/fhir/smart-backend-auth.ts';
import { openStore } from '../src/store/open-store.ts';
import { createEhrAdapter } from '../src/writeback/ehr/ehr-adapters.ts';
import { parsePolicy } from '../src/writeback/policy.ts';
import { createWritebackService } from '../src/writeback/writeback-service.ts';
import { fmtInt, quantile, table } from './harness.ts';

const N = Number.parseInt(process.env['BENCH_WRITEBACK_N'] ?? '', 10) || 1000;
const CONCURRENCY = Number.parseInt(process.env['BENCH_WRITEBACK_CONCURRENCY'] ?? '', 10) || 8;
const TARGET_P99_MS = 20;
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const POLICY = `
defaultDecision: deny
rules:
  - {id: vitals-auto, resourceType: Observation, decision: auto}
actors:
  - {id: bench-app, kind: app, actions: [propose]}
`;

const vitals = (i: number): Record<string, unknown> & { resourceType: string } => ({
  resourceType: 'Observation',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  subject: { reference: `Patient/pat-${(i % 3) + 1}` },
  valueQuantity: { value: 60 + (i % 40), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
});

function startSim(dir: string): Promise<{ child: ChildProcess; fhirBase: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'sim', 'ehr', '--profile', 'generic', '--port', '0', '--client-id', 'bench', '--client-jwks', path.join(dir, 'jwks.json')], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const m = /FHIR base\s+(\S+)/.exec(line);
      if (m?.[1] !== undefined) resolve({ child, fhirBase: m[1] });
    });
    child.once('exit', (code) => reject(new Error(`simulator exited with ${String(code)}`)));
  });
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

export async function runWritebackBench(): Promise<void> {
  console.log(`Write-back: ${fmtInt(N)} auto-approved Observation proposals to the generic EHR simulator (own process), concurrency ${CONCURRENCY}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swb-bench-wb-'));
  const pair = await generateKeyPair('ES384', { extractable: true });
  const privateJwk = { ...(await exportJWK(pair.privateKey)), kid: 'b1', alg: 'ES384' };
  writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'b1', alg: 'ES384', use: 'sig' }] }));
  const sim = await startSim(dir);
  // The indexer `switchboard start` uses (AuditEvents of the server's own shapes indexed directly).
  const store = await openStore(`sqlite:${path.join(dir, 'store.db')}`, { resourceIndexer: engineResourceIndexer() });
  try {
    // 1. The bare client: the simulator's own time per write at the same concurrency.
    const auth = new SmartBackendAuth({ clientId: 'bench', privateKey: privateJwk, alg: 'ES384', kid: 'b1', fhirBaseUrl: sim.fhirBase });
    const { header } = await auth.authorization();
    const bare: number[] = [];
    const bareWrite = async (i: number): Promise<void> => {
      const t0 = performance.now();
      const r = await fetch(`${sim.fhirBase}/Observation`, {
        method: 'POST',
        headers: { authorization: header, 'content-type': 'application/fhir+json', prefer: 'return=representation', 'if-none-exist': `identifier=urn:bench|bare-${i}` },
        body: JSON.stringify({ ...vitals(i), identifier: [{ system: 'urn:bench', value: `bare-${i}` }] }),
      });
      await r.arrayBuffer();
      if (r.status !== 201) throw new Error(`bare write answered ${r.status}`);
      bare.push(performance.now() - t0);
    };
    await pool(
      Array.from({ length: 50 }, (_, i) => N + i),
      CONCURRENCY,
      bareWrite,
    ); // warm-up
    bare.length = 0;
    await pool(
      Array.from({ length: N }, (_, i) => i),
      CONCURRENCY,
      bareWrite,
    );

    // 2. The engine: intake of N proposals, the worker commits them.
    const adapter = await createEhrAdapter({ name: 'generic-sim', profile: 'generic-r4', baseUrl: sim.fhirBase, auth: { clientId: 'bench', privateJwk, alg: 'ES384', kid: 'b1' } });
    const commitMs: number[] = [];
    const totalMs: number[] = [];
    let settled = 0;
    let notApplied = 0;
    const service = createWritebackService({
      proposals: store.proposals,
      resources: store.resources,
      adapters: new Map([['generic-sim', adapter]]),
      policy: parsePolicy(POLICY, 'bench'),
      logger: createLogger({ level: 'silent' }),
      commit: { concurrency: CONCURRENCY, pollMs: 20, maxAttempts: 3, backoff: { initialMs: 50, maxMs: 500 } },
      hooks: {
        onSettled: (_p, outcome, timing) => {
          settled++;
          if (outcome !== 'applied') notApplied++;
          else {
            commitMs.push(timing.commitMs);
            totalMs.push(timing.totalMs);
          }
        },
      },
    });
    const actor = { kind: 'app' as const, id: 'bench-app' };
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const intakeMs: number[] = [];
    await pool(
      Array.from({ length: N }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        const s = performance.now();
        await service.propose({ ehr: 'generic-sim', patient: `pat-${(i % 3) + 1}`, change: { kind: 'create', resource: vitals(i) }, purposeOfUse: 'TREAT', idempotencyKey: `bench-${i}` }, actor);
        intakeMs.push(performance.now() - s);
      },
    );
    const intakeDone = performance.now() - t0;
    // The worker starts once intake is done, so that the commit times are not inflated by intake
    // work sharing the event loop and the database (both are reported).
    const c0 = performance.now();
    const cpuIntake = process.cpuUsage(cpu0);
    const cpu1 = process.cpuUsage();
    await service.start();
    while (settled < N) await new Promise((r) => setTimeout(r, 10));
    await service.idle(120_000);
    const elapsed = performance.now() - t0;
    const commitPhase = performance.now() - c0;
    const cpuCommit = process.cpuUsage(cpu1);
    await service.stop();

    const sort = (a: number[]): number[] => [...a].sort((x, y) => x - y);
    const [b, c, t, intake] = [sort(bare), sort(commitMs), sort(totalMs), sort(intakeMs)];
    const q = (a: number[], p: number): string => quantile(a, p).toFixed(2);
    console.log(
      table(
        ['per write (ms)', 'p50', 'p90', 'p99', 'max'],
        [
          ['intake (propose)', q(intake, 0.5), q(intake, 0.9), q(intake, 0.99), q(intake, 1)],
          ['bare client POST (simulator)', q(b, 0.5), q(b, 0.9), q(b, 0.99), q(b, 1)],
          ['engine commit (ledger+write+settle/commit)', q(c, 0.5), q(c, 0.9), q(c, 0.99), q(c, 1)],
          ['engine commit + Provenance/Audit/read-back', q(t, 0.5), q(t, 0.9), q(t, 0.99), q(t, 1)],
        ],
      ),
    );
    const o50 = quantile(c, 0.5) - quantile(b, 0.5);
    const o99 = quantile(c, 0.99) - quantile(b, 0.99);
    console.log(`Proposals/s (intake to last verified): ${fmtInt(Math.round((N / elapsed) * 1000))}   (intake: ${fmtInt(Math.round((N / intakeDone) * 1000))}/s; commit + verify: ${fmtInt(Math.round((N / commitPhase) * 1000))}/s; ${notApplied} attempt(s) not applied)`);
    // This process's CPU (user + system) per proposal in each phase: the engine's own work, less
    // noisy than wall-clock figures on a shared machine (the simulator runs in its own process).
    const perProposal = (u: NodeJS.CpuUsage): string => `${((u.user + u.system) / 1000 / N).toFixed(2)} ms (user ${(u.user / 1000 / N).toFixed(2)}, system ${(u.system / 1000 / N).toFixed(2)})`;
    console.log(`Engine CPU per proposal (this process): intake ${perProposal(cpuIntake)}, commit + verify ${perProposal(cpuCommit)}`);
    // Commits of the proposal store (SQLite group commit) per proposal; each proposal makes six writes.
    const flushes = (store.proposals as { flushes?: number }).flushes;
    if (flushes !== undefined) console.log(`Proposal-store commits per proposal (intake + commit + verify, group-committed): ${(flushes / N).toFixed(2)}`);
    console.log(`Engine overhead per write beyond the simulator: p50 ${o50.toFixed(2)} ms, p99 ${o99.toFixed(2)} ms (target p99 < ${TARGET_P99_MS} ms: ${o99 < TARGET_P99_MS ? 'met' : 'NOT met'})`);
    console.log('');
  } finally {
    await store.close();
    sim.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await runWritebackBench();
