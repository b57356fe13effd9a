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
