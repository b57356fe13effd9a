import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import type { FhirResource, ResourceStore } from '../core/ports/resource-store.ts';
import { FhirSearchIndexer } from './search-parameters.ts';
import { openSqliteResourceStore } from '../store/sqlite/sqlite-resource-store.ts';
import { processBundle } from './fhir-bundle.ts';
import type { InteractionContext } from './fhir-interactions.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let store: ResourceStore;
let ctx: InteractionContext;

before(() => {
  store = openSqliteResourceStore({ path: ':memory:', indexer: new FhirSearchIndexer() });
  ctx = {
    store,
    atomic: (work) => store.transaction(work),
    history: (q) => store.history(q),
    baseUrl: 'http://localhost/fhir/R4',
    validation: 'structure',
    validateProfile: false,
    handling: 'strict',
    authorize: async () => undefined,
  };
});
after(async () => {
  await store.close();
});

const run = (bundle: Json): Promise<Json> => processBundle(ctx, store, bundle, undefined, 'test') as Promise<Json>;
const tx = (entry: Json[]): Json => ({ resourceType: 'Bundle', type: 'transaction', entry });
const mrn = (value: string): Json => ({ identifier: [{ system: 'urn:unit:mrn', value }] });

test('a transaction runs DELETE, then POST, then PUT, then GET, whatever the entry order', async () => {
  await store.update({ resourceType: 'Patient', id: 'ord-a', ...mrn('A') } as FhirResource);
  await store.update({ resourceType: 'Patient', id: 'ord-b', ...mrn('B') } as FhirResource);
  const out = await run(
    tx([
      { request: { method: 'GET', url: 'Patient/ord-a' } },
      { resource: { resourceType: 'Patient', id: 'ord-a', gender: 'female', ...mrn('A') }, request: { method: 'PUT', url: 'Patient/ord-a' } },
      // Runs before the DELETE below only if the order were wrong: B still exists then, and nothing is created.
      { resource: { resourceType: 'Patient', ...mrn('B') }, request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:unit:mrn|B' } },
      { request: { method: 'DELETE', url: 'Patient/ord-b' } },
    ]),
  );
  const status = (out['entry'] as Json[]).map((e) => e['response']['status']);
  assert.deepEqual(status, ['200 OK', '200 OK', '201 Created', '204 No Content']);
  assert.equal(out['entry'][0]['resource']['gender'], 'female', 'GET saw the PUT');
});

test('conditional references and urn:uuid fullUrls are resolved; an unknown urn:uuid fails the transaction', async () => {
  await store.update({ resourceType: 'Organization', id: 'org-1', identifier: [{ system: 'urn:unit:org', value: 'O1' }] } as FhirResource);
  const out = await run(
    tx([
      { fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', managingOrganization: { reference: 'Organization?identifier=urn:unit:org|O1' }, ...mrn('R1') }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Provenance', target: [{ reference: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001' }], recorded: '2024-01-01T00:00:00Z', agent: [{ who: { display: 'unit' } }] }, request: { method: 'POST', url: 'Provenance' } },
    ]),
  );
  const patientRef = (out['entry'][0]['response']['location'] as string).split('/_history')[0] as string;
  const provenanceId = (out['entry'][1]['response']['location'] as string).split('/')[1] as string;
  const provenance = await store.read('Provenance', provenanceId);
  assert.equal(provenance?.kind === 'resource' ? (provenance.resource['target'] as Json[])[0]?.['reference'] : undefined, patientRef);
  const patient = await store.read('Patient', patientRef.split('/')[1] as string);
  assert.equal(patient?.kind === 'resource' ? (patient.resource['managingOrganization'] as Json)['reference'] : undefined, 'Organization/org-1');

  await assert.rejects(
    run(tx([{ resource: { resourceType: 'Patient', link: [{ other: { reference: 'urn:uuid:bbbbbbbb-0000-4000-8000-000000000009' }, type: 'seealso' }], ...mrn('R2') }, request: { method: 'POST', url: 'Patient' } }])),
    (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_FHIR_INVALID_BUNDLE',
  );
  const none = await store.search('Patient', { conditions: [{ kind: 'token', param: 'identifier', not: false, values: [{ system: 'urn:unit:mrn', code: 'R2' }] }] });
  assert.equal(none.resources.length, 0);
});

test('one resource touched twice, or a history read, is refused inside a transaction', async () => {
  await assert.rejects(
    run(tx([{ request: { method: 'DELETE', url: 'Patient/dup-1' } }, { resource: { resourceType: 'Patient', id: 'dup-1' }, request: { method: 'PUT', url: 'Patient/dup-1' } }])),
    (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_FHIR_INVALID_BUNDLE',
  );
  await assert.rejects(run(tx([{ request: { method: 'GET', url: 'Patient/_history' } }])), (e: unknown) => isSwitchboardError(e) && e.httpStatus === 400);
});

test('Prefer: return=representation puts the resources in the response entries; the default is minimal', async () => {
  const entry = [{ resource: { resourceType: 'Patient', ...mrn('P1') }, request: { method: 'POST', url: 'Patient' } }];
  const minimal = await run(tx(entry));
  assert.equal(minimal['entry'][0]['resource'], undefined);
  const full = (await processBundle(ctx, store, tx([{ resource: { resourceType: 'Patient', ...mrn('P2') }, request: { method: 'POST', url: 'Patient' } }]), 'representation', 't')) as Json;
  assert.equal(full['entry'][0]['resource']['resourceType'], 'Patient');
});
