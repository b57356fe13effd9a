import { exportJWK, generateKeyPair } from 'jose';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { registerSecretClient } from '../api/auth/bootstrap.ts';
import type { IdentityStore } from '../core/ports/identity-store.ts';
import { startEhrSimulator, type EhrSimulator } from '../sim/ehr/ehr-simulator.ts';
import { startHl7Simulator, type Hl7Simulator } from '../sim/hl7/hl7-simulator.ts';
import { DEFAULT_POLICY_YAML } from '../writeback/policy.ts';
import { DEMO_CONNECTION_FILE, type DemoConnection } from './demo-command.ts';

/**
 * The demo behind a bare `npm start` (issue 7): an EHR simulator with the Epic profile to write back
 * to, an HL7 v2 simulator standing in for a downstream lab system, and the configuration that wires
 * them to the engine:
 *  - the MLLP channel maps every message to FHIR into the canonical store, and forwards results
 *    (ORU) to the HL7 simulator, so the dispatcher and its queue have real work;
 *  - write-back to the Epic simulator (notes and vitals) and to the HL7 simulator (MDM notes), under
 *    a demo policy: AI-drafted notes always go to a clinician's review; vitals from an app commit
 *    at once.
 * Everything lives in the data directory; `--no-demo` turns it all off.
 */

export const DEMO_EHR = 'epic-sim';
export const DEMO_HL7_EHR = 'hl7-sim';
const DEMO_EHR_CLIENT = 'switchboard-demo';
const DEMO_TRAFFIC_CLIENT = 'demo-traffic';

/**
 * The demo policy: the built-in default (docs/writeback.md "Policy format": notes, problems and
 * allergies reviewed, AI agents always reviewed, unknown types denied) with vitals committed without
 * review, and vitals checked for a LOINC code and a plausible heart rate.
 */
function demoPolicy(): string {
  const doc = parse(DEFAULT_POLICY_YAML) as { rules: { id: string; resourceType: string; decision: string }[]; validation: Record<string, unknown>[] };
  doc.rules = doc.rules.map((r) => (r.resourceType === 'Observation' ? { ...r, id: 'demo-vitals-auto', decision: 'auto' } : r));
  doc.validation.push({ id: 'demo-vitals-checks', resourceType: 'Observation', codes: [{ path: 'code.coding', allowed: ['http://loinc.org|*'] }], ranges: [{ path: "valueQuantity.where(code = '/min').value", min: 20, max: 250 }] });
  return stringify(doc);
}

export interface DemoEnvironment {
  readonly ehr: EhrSimulator;
  readonly hl7: Hl7Simulator;
  /** The write-back config file to start the engine with (`--writeback`). */
  readonly writebackFile: string;
  /** Destinations to add to the MLLP channel. */
  readonly destinations: readonly Record<string, unknown>[];
  close(): Promise<void>;
}

export interface DemoOptions {
  readonly dataDir: string;
  readonly host: string;
  /** The EHR simulator's port (0: any free one). */
  readonly ehrPort: number;
  /** The HL7 simulator's port (0: any free one). */
  readonly hl7Port: number;
}

/** A file only its owner may read (it holds a private key or a secret of the demo). */
function writePrivate(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export async function startDemoEnvironment(options: DemoOptions): Promise<DemoEnvironment> {
  mkdirSync(options.dataDir, { recursive: true });
  const ehr = await startEhrSimulator({ profile: 'epic', host: options.host, port: options.ehrPort });
  let hl7: Hl7Simulator | undefined;
  try {
    hl7 = await startHl7Simulator({ host: options.host, port: options.hl7Port, mode: 'AA' });
    // Switchboard is a SMART Backend Services client of the simulated EHR: a fresh ES384 key each
    // start, its public half registered with the simulator (which forgets clients when it stops).
    const { publicKey, privateKey } = await generateKeyPair('ES384', { extractable: true });
    const kid = `demo-${Date.now().toString(36)}`;
    const keyFile = resolve(join(options.dataDir, 'demo-ehr-client-key.json'));
    writePrivate(keyFile, JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES384' }));
    ehr.registerClient({ clientId: DEMO_EHR_CLIENT, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES384', use: 'sig' }] }, scopes: ['system/*.cruds'] });

    const writeback = {
      tenant: 'demo',
      policy: demoPolicy(),
      ehrs: [
        { name: DEMO_EHR, profile: 'epic', baseUrl: ehr.fhirBase, auth: { clientId: DEMO_EHR_CLIENT, privateKeyFile: keyFile, alg: 'ES384', kid, tokenUrl: ehr.tokenUrl, scope: 'system/*.cruds' }, timeoutMs: 10_000 },
        { name: DEMO_HL7_EHR, profile: 'hl7v2-mllp', mllp: { host: options.host, port: hl7.port }, timeoutMs: 10_000 },
      ],
      commit: { concurrency: 4, maxAttempts: 5, pollMs: 250, backoff: { initialMs: 500, maxMs: 10_000 } },
      verify: { enabled: true },
      drift: { intervalMs: 60_000 },
    };
    const writebackFile = resolve(join(options.dataDir, 'demo-writeback.yaml'));
    writeFileSync(writebackFile, `# Written by the demo at each start (switchboard start without --config).\n${stringify(writeback)}`);

    const destinations = [
      { name: 'fhir-store', kind: 'fhir-store', transformers: [{ toFhir: { validate: true } }], retry: { maxAttempts: 5, initialDelay: '200ms' } },
      { name: 'lab-results', kind: 'mllp', settings: { host: options.host, port: hl7.port }, when: { messageType: ['ORU^R01'] }, retry: { maxAttempts: 5, initialDelay: '500ms' } },
    ];
    const started = hl7;
    return {
      ehr,
      hl7: started,
      writebackFile,
      destinations,
      close: async () => {
        await Promise.allSettled([ehr.close(), started.close()]);
      },
    };
  } catch (e) {
    await Promise.allSettled([ehr.close(), ...(hl7 === undefined ? [] : [hl7.close()])]);
    throw e;
  }
}

/**
 * After the engine is up: a client that may propose write-backs, and the file `switchboard demo
 * traffic` reads to reach the engine. A new secret at each start (the old one stops working).
 */
export async function writeDemoConnection(input: { identity: IdentityStore; dataDir: string; api: string; mllp: { host: string; port: number } }): Promise<string> {
  const { secret } = await registerSecretClient(input.identity, { id: DEMO_TRAFFIC_CLIENT, name: 'Demo traffic (switchboard demo traffic)', scopes: ['system/*.rs'], roles: ['operator'] });
  const connection: DemoConnection = {
    mllp: input.mllp,
    api: input.api,
    tokenUrl: `${input.api}/auth/token`,
    clientId: DEMO_TRAFFIC_CLIENT,
    clientSecret: secret,
    ehr: DEMO_EHR,
    ehrPatients: ['Patient/pat-1', 'Patient/pat-2', 'Patient/pat-3'],
  };
  const file = resolve(join(input.dataDir, DEMO_CONNECTION_FILE));
  writePrivate(file, JSON.stringify(connection, null, 2));
  return file;
}
