// HL7 v2 in, FHIR out, on real parts: MLLP over TCP -> channel with a toFhir step -> SQLite ->
// ACK -> dispatcher -> fhir-store destination -> the canonical FHIR store (its own SQLite file).
// Proves the mapped resources land, and that re-sending the same patient's messages updates them
// (deterministic ids) instead of duplicating them.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startEngineService, type EngineService } from '../src/api/engine-service.ts';
import { createLogger } from '../src/core/logger.ts';
import type { Store } from '../src/core/ports/store.ts';
import { loadChannelDir } from '../src/engine/channel-loader.ts';
import { FhirSearchIndexer } from '../src/fhir/search-parameters.ts';
import { MllpClient } from '../src/mllp/mllp-client.ts';
import { openStore } from '../src/store/open-store.ts';
import { tempDir } from './cli-helpers.ts';

let dir: string;
let store: Store;
let engine: EngineService;

const adt = (event: string, controlId: string, family: string): string =>
  [
    `MSH|^~\\&|ADT|NORTH|FHIR|SOUTH|20260101120000-0500||ADT^${event}^ADT_A01|${controlId}|P|2.5.1`,
    'EVN||20260101120000-0500',
    `PID|1||MRN77^^^NORTH&2.16.840.1.113883.19.5&ISO^MR||${family}^JANE||19800101|F`,
    'PV1|1|I|W1^101^1||||||||||||||||V900^^^NORTH&2.16.840.1.113883.19.5&ISO^VN',
  ].join('\r');

before(async () => {
  dir = tempDir('swb-fhirstore-');
  writeFileSync(
    join(dir, 'adt-fhir.yaml'),
    ['id: adt-fhir', 'source:', '  kind: mllp', '  settings: { host: 127.0.0.1, port: 0 }', 'orderingKey: PID-3[1].1', 'destinations:', '  - name: fhir', '    kind: fhir-store', '    transformers: [{ toFhir: { validate: true } }]', '    retry: { maxAttempts: 3, initialDelay: 20ms }'].join('\n'),
  );
  store = await openStore(`sqlite:${join(dir, 'store.db')}`, { resourceIndexer: new FhirSearchIndexer() });
  engine = await startEngineService({ store, channels: await loadChannelDir(dir), host: '127.0.0.1', httpPort: 0, logger: createLogger({ level: 'silent' }), author: 'test', pollMs: 20, retentionIntervalMs: 0 });
});

after(async () => {
  await engine.close();
  await store.close();
});

test('ADT over MLLP becomes Patient and Encounter in the FHIR store; a later message updates them', { timeout: 30_000 }, async () => {
  const d = engine.channels.get('adt-fhir')?.source?.describe() ?? '';
  const port = Number(/:(\d+)$/.exec(d)?.[1]);
  const client = new MllpClient({ host: '127.0.0.1', port });
  try {
    assert.equal((await client.send(adt('A01', 'F1', 'DOE'))).ack?.code, 'AA');
    assert.equal((await client.send(adt('A08', 'F2', 'DOE-SMITH'))).ack?.code, 'AA');
  } finally {
    await client.close();
  }
  const resources = store.resources;
  assert.ok(resources !== undefined);
  const byMrn = { conditions: [{ kind: 'token' as const, param: 'identifier', not: false, values: [{ system: 'urn:oid:2.16.840.1.113883.19.5', code: 'MRN77' }] }] };
  let found: Awaited<ReturnType<typeof resources.search>> | undefined;
  for (let i = 0; i < 300; i++) {
    found = await resources.search('Patient', byMrn);
    const family = (found.resources[0] as { name?: Array<{ family?: string }> } | undefined)?.name?.[0]?.family;
    if (family === 'DOE-SMITH') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(found?.resources.length, 1, 'one Patient for the MRN, not one per message');
  const patient = found?.resources[0] as { id: string; meta?: { versionId?: string }; name?: Array<{ family?: string }> };
  assert.equal(patient.name?.[0]?.family, 'DOE-SMITH');
  assert.equal(patient.meta?.versionId, '2');
  const encounters = await resources.search('Encounter', { conditions: [{ kind: 'reference', param: 'subject', values: [{ type: 'Patient', id: patient.id }] }] });
  assert.equal(encounters.resources.length, 1);
  // The Provenance of each message names it by control id.
  const provenance = await resources.search('Provenance', { conditions: [{ kind: 'reference', param: 'target', values: [{ type: 'Patient', id: patient.id }] }] });
  assert.equal(provenance.resources.length, 2);
});
