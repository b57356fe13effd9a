import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSwitchboardError } from '../../core/errors.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { openSqliteResourceStore } from '../../store/sqlite/sqlite-resource-store.ts';
import { createDestination } from '../destination-registry.ts';

const delivery = (payload: unknown, attempt = 1) => ({ id: 'd1', messageId: 'm1', destination: 'fhir', payload: JSON.stringify(payload), idempotencyKey: 'k1', attempt });
const bundle = (family: string) => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    { fullUrl: 'urn:uuid:p1', resource: { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1' }], name: [{ family }] }, request: { method: 'PUT', url: 'Patient/p1' } },
    { fullUrl: 'urn:uuid:e1', resource: { resourceType: 'Encounter', id: 'e1', status: 'in-progress', class: { code: 'IMP' }, subject: { reference: 'Patient/p1' } }, request: { method: 'PUT', url: 'Encounter/e1' } },
  ],
});

test('fhir-store writes a transaction Bundle; a redelivery updates the same resources (no duplicates)', async () => {
  const store = openSqliteResourceStore({ path: join(mkdtempSync(join(tmpdir(), 'swb-fhirdest-')), 'f.db'), indexer: new FhirSearchIndexer() });
  const dest = createDestination('fhir-store', {}, { resources: store });
  const first = await dest.send(delivery(bundle('Doe')), new AbortController().signal);
  assert.equal(first.kind, 'delivered');
  const again = await dest.send(delivery(bundle('Doe-Smith'), 2), new AbortController().signal);
  assert.equal(again.kind, 'delivered');
  const p = await store.read('Patient', 'p1');
  assert.ok(p?.kind === 'resource');
  assert.equal(p.versionId, '2');
  assert.deepEqual((p.resource as unknown as { name: Array<{ family: string }> }).name[0]?.family, 'Doe-Smith');
  const found = await store.search('Patient', { conditions: [{ kind: 'token', param: 'identifier', not: false, values: [{ system: 'urn:oid:1.2.3', code: 'MRN1' }] }] });
  assert.equal(found.resources.length, 1);
  await store.close();
});

test('fhir-store: a Bundle it cannot apply is a permanent failure and writes nothing (all or nothing)', async () => {
  const store = openSqliteResourceStore({ path: join(mkdtempSync(join(tmpdir(), 'swb-fhirdest-')), 'f.db'), indexer: new FhirSearchIndexer() });
  const dest = createDestination('fhir-store', {}, { resources: store });
  const signal = new AbortController().signal;
  const notJson = await dest.send({ ...delivery({}), payload: '{nope' }, signal);
  assert.ok(notJson.kind === 'failed' && notJson.failureClass === 'permanent' && notJson.errorCode === 'SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE');
  const b = bundle('Doe');
  const mismatch = { ...b, entry: [b.entry[0], { ...b.entry[1], request: { method: 'PUT', url: 'Encounter/other' } }] };
  const r = await dest.send(delivery(mismatch), signal);
  assert.ok(r.kind === 'failed' && r.failureClass === 'permanent');
  assert.equal(await store.read('Patient', 'p1'), undefined);
  const post = { ...b, entry: [{ ...b.entry[0], request: { method: 'POST', url: 'Patient' } }] };
  assert.ok((await dest.send(delivery(post), signal)).kind === 'failed');
  await store.close();
});

test('fhir-store needs the engine store and takes no settings', () => {
  assert.throws(() => createDestination('fhir-store', {}, {}), (e: unknown) => isSwitchboardError(e) && e.code === 'SWB_ERR_CONFIG_INVALID');
  assert.throws(() => createDestination('fhir-store', { url: 'x' }, {}), (e: unknown) => isSwitchboardError(e) && /settings\.url/.test(e.message));
});

test('fhir-store processes Bundles as POST /fhir/R4 does: urn:uuid references resolved, conditional creates idempotent, batch failures reported', async () => {
  const store = openSqliteResourceStore({ path: join(mkdtempSync(join(tmpdir(), 'swb-fhirdest-')), 'f.db'), indexer: new FhirSearchIndexer() });
  const dest = createDestination('fhir-store', {}, { resources: store });
  const signal = new AbortController().signal;
  const conditional = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:org-1', resource: { resourceType: 'Organization', identifier: [{ system: 'urn:oid:9.9', value: 'LAB1' }], name: 'Lab' }, request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:oid:9.9|LAB1' } },
      { fullUrl: 'urn:uuid:p2', resource: { resourceType: 'Patient', id: 'p2', managingOrganization: { reference: 'urn:uuid:org-1' } }, request: { method: 'PUT', url: 'Patient/p2' } },
    ],
  };
  assert.equal((await dest.send(delivery(conditional), signal)).kind, 'delivered');
  // A redelivery finds the Organization instead of creating a second one.
  assert.equal((await dest.send(delivery(conditional, 2), signal)).kind, 'delivered');
  const orgs = await store.search('Organization', { conditions: [{ kind: 'token', param: 'identifier', not: false, values: [{ system: 'urn:oid:9.9', code: 'LAB1' }] }] });
  assert.equal(orgs.resources.length, 1);
  const p2 = await store.read('Patient', 'p2');
  assert.ok(p2?.kind === 'resource');
  assert.equal((p2.resource as unknown as { managingOrganization: { reference: string } }).managingOrganization.reference, `Organization/${orgs.resources[0]?.id ?? ''}`);

  const batch = { resourceType: 'Bundle', type: 'batch', entry: [bundle('Doe').entry[0], { ...bundle('Doe').entry[1], request: { method: 'PUT', url: 'Encounter/other' } }] };
  const r = await dest.send(delivery(batch), signal);
  assert.ok(r.kind === 'failed' && r.failureClass === 'permanent', JSON.stringify(r));
  assert.match(String(r.response), /^1 of 2 entries failed: 4\d\d/);
  assert.ok((await store.read('Patient', 'p1'))?.kind === 'resource', 'a batch entry stands on its own');
  await store.close();
});
