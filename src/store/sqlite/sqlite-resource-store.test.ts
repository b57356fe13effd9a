import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DERIVED_REFERENCE_PARAMS, type FhirResource, type ResourceStoreTx, type SearchQuery } from '../../core/ports/resource-store.ts';
import { FhirSearchIndexer, searchParametersFor } from '../../fhir/search-parameters.ts';
import { parseConditionalQuery, parseSearchQuery } from '../../fhir/search-query.ts';
import { runResourceStoreSuite, type ResourceStoreFactory } from '../resource-store-conformance.ts';
import { openSqliteResourceStore, SqliteResourceStore } from './sqlite-resource-store.ts';

const indexer = new FhirSearchIndexer();

/** A fresh SQLite file per call, on a connection of the store's own. */
const sqliteFactory: ResourceStoreFactory = async ({ clock }) => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-fhir-'));
  const store = openSqliteResourceStore({ path: join(dir, 'fhir.db'), indexer, clock, synchronous: 'NORMAL' });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

runResourceStoreSuite('SqliteResourceStore: ResourceStore conformance', sqliteFactory);

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const corpus = resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');

function memoryStore(): { store: SqliteResourceStore; db: Database.Database } {
  const db = new Database(':memory:');
  return { store: new SqliteResourceStore(db, { indexer }), db };
}

describe('SqliteResourceStore specifics', () => {
  test('the schema applies twice without error (IF NOT EXISTS) and a second store on the same file sees the first one\'s writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-fhir-'));
    try {
      const a = openSqliteResourceStore({ path: join(dir, 'f.db'), indexer });
      const b = openSqliteResourceStore({ path: join(dir, 'f.db'), indexer });
      await a.update({ resourceType: 'Patient', id: 'shared', gender: 'male' });
      assert.equal((await b.read('Patient', 'shared'))?.versionId, '1');
      const created = await b.create({ resourceType: 'Patient', gender: 'male' }, { ifNoneExist: { conditions: [{ kind: 'token', param: 'gender', not: false, values: [{ code: 'male' }] }] } });
      assert.equal(created.outcome, 'exists', 'the condition is checked against the other connection\'s committed write');
      await a.close();
      await b.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('search reads index tables, never a scan of resource bodies (EXPLAIN QUERY PLAN)', async () => {
    const { store, db } = memoryStore();
    try {
      // Some data, so the plans are those of a populated database.
      await store.transaction(async (tx) => {
        for (let i = 0; i < 60; i++) {
          await tx.update({ resourceType: 'Patient', id: `p${i}`, identifier: [{ system: 'urn:mrn', value: String(i) }], name: [{ family: `Fam${i}` }], gender: i % 2 === 0 ? 'male' : 'female' });
          for (let j = 0; j < 4; j++) {
            await tx.update({ resourceType: 'Observation', id: `o${i}-${j}`, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: j % 2 === 0 ? '8867-4' : '29463-7' }] }, subject: { reference: `Patient/p${i}` }, effectiveDateTime: `2024-01-${String(j + 1).padStart(2, '0')}`, valueQuantity: { value: j * 10 } });
          }
        }
      });
      const queries: Array<[string, string]> = [
        ['Patient', 'gender:missing=true&family=fam'],
        ['Patient', 'identifier=urn:mrn|123'],
        ['Patient', 'family=smi&given=ann'],
        ['Observation', 'patient=Patient/p1&code=http://loinc.org|8867-4'],
        ['Observation', 'subject:Patient.identifier=urn:mrn|123'],
        ['Observation', 'date=ge2024-01-01&value-quantity=gt5'],
        ['Observation', 'code:not=8867-4&status=final'],
        ['AuditEvent', 'entity=Patient/p1&date=ge2024'],
        ['Patient', '_profile:below=http://hl7.org'],
      ];
      for (const [type, qs] of queries) {
        const plan = store.explainSearch(type, parseSearchQuery(type, new URLSearchParams(qs)).query);
        const text = plan.join('\n');
        assert.match(text, /USING (COVERING )?INDEX fhir_idx_/, `${type}?${qs} uses an index table:\n${text}`);
        assert.doesNotMatch(text, /SCAN (TABLE )?(r|fhir_resources)\b(?! USING)/, `${type}?${qs} scans resources:\n${text}`);
        assert.doesNotMatch(text, /SCAN (TABLE )?fhir_idx_\w+(?! USING)/, `${type}?${qs} scans an index table without an index:\n${text}`);
        assert.doesNotMatch(text, /CORRELATED SCALAR SUBQUERY \d+\nSEARCH fhir_idx_\w+ USING (COVERING )?INDEX fhir_idx_\w+_(?!rid)/, `${type}?${qs} probes by value instead of by rid:\n${text}`);
      }
    } finally {
      await store.close();
      db.close();
    }
  });

  test('_id and _lastUpdated are not written as index rows (single writes, batches, the writer thread) and are searched through the resource row\'s indexes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchboard-fhir-'));
    const store = openSqliteResourceStore({ path: join(dir, 'f.db'), indexer });
    const db = new Database(join(dir, 'f.db'), { readonly: true });
    try {
      await store.update({ resourceType: 'Patient', id: 'p1', gender: 'male' });
      await store.transaction(async (tx) => {
        await tx.create({ resourceType: 'Patient', gender: 'female' });
      });
      // createBatchRelaxed: on the writer thread for a file database.
      await store.createBatchRelaxed?.([{ resourceType: 'Patient', gender: 'other' }, { resourceType: 'Observation', status: 'final', code: { text: 'x' } }]);
      const rows = (param: string): number => (db.prepare('SELECT (SELECT COUNT(*) FROM fhir_idx_token WHERE param = ?) + (SELECT COUNT(*) FROM fhir_idx_date WHERE param = ?) AS n').get(param, param) as { n: number }).n;
      assert.equal(rows('_id'), 0);
      assert.equal(rows('_lastUpdated'), 0);
      assert.equal((db.prepare("SELECT COUNT(*) AS n FROM fhir_idx_token WHERE param = 'gender'").get() as { n: number }).n, 3, 'the other rows are written');
      assert.deepEqual((await store.search('Patient', parseSearchQuery('Patient', new URLSearchParams('_id=p1')).query)).resources.map((r) => r.id), ['p1']);
      for (const qs of ['_id=p1', '_lastUpdated=ge2024-01-01', '_id=p1&gender=male', 'gender=male&_lastUpdated=lt2024', '_id:not=p1&gender=male']) {
        const text = store.explainSearch('Patient', parseSearchQuery('Patient', new URLSearchParams(qs)).query).join('\n');
        assert.doesNotMatch(text, /SCAN (TABLE )?(r|fhir_resources)\b(?! USING)/, `Patient?${qs} scans resources:\n${text}`);
        assert.doesNotMatch(text, /SCAN (TABLE )?fhir_idx_\w+(?! USING)/, `Patient?${qs} scans an index table without an index:\n${text}`);
      }
      const byId = store.explainSearch('Patient', parseSearchQuery('Patient', new URLSearchParams('_id=p1')).query).join('\n');
      assert.match(byId, /USING (COVERING )?INDEX sqlite_autoindex_fhir_resources_1/, `_id uses the (type, id) key:\n${byId}`);
      const byDate = store.explainSearch('Patient', parseSearchQuery('Patient', new URLSearchParams('_lastUpdated=ge2024-01-01')).query).join('\n');
      assert.match(byDate, /USING (COVERING )?INDEX fhir_resources_updated/, `_lastUpdated uses fhir_resources_updated:\n${byDate}`);
    } finally {
      db.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a derived reference parameter is what its R4 definition says, and its rows are not written', async () => {
    // DERIVED_REFERENCE_PARAMS must stay the exact reading of the definitions the indexer uses.
    for (const [key, derived] of DERIVED_REFERENCE_PARAMS) {
      const [type = '', code = ''] = key.split('.');
      const definitions = searchParametersFor(type);
      const parts = derived.from.map((from) => `${definitions.get(from)?.expression ?? '?'}.where(resolve() is ${derived.targetType})`);
      assert.equal(definitions.get(code)?.expression, parts.join(' | '), key);
    }
    const { store, db } = memoryStore();
    try {
      const event = { resourceType: 'AuditEvent', type: { code: 'rest' }, recorded: '2026-01-05T08:00:00Z', agent: [{ who: { reference: 'Patient/a' }, requestor: true }], source: { observer: { display: 's' } }, entity: [{ what: { reference: 'Patient/b' } }] };
      await store.update({ ...event, id: 'one' });
      await store.createBatchRelaxed?.([event]);
      const count = (param: string): number => (db.prepare('SELECT COUNT(*) AS n FROM fhir_idx_reference WHERE param = ?').get(param) as { n: number }).n;
      assert.equal(count('patient'), 0);
      assert.equal(count('agent'), 2);
      assert.equal(count('entity'), 2);
      assert.equal((await store.search('AuditEvent', parseSearchQuery('AuditEvent', new URLSearchParams('patient=a')).query)).resources.length, 2);
    } finally {
      await store.close();
      db.close();
    }
  });

  test('URL parameters parsed by src/fhir/search-query.ts run against the store', async () => {
    const { store, db } = memoryStore();
    try {
      await store.update({ resourceType: 'Patient', id: 'a', identifier: [{ system: 'urn:mrn', value: '1,2' }], name: [{ family: 'Åberg', given: ['Lil'] }], birthDate: '1990-05-06' });
      await store.update({ resourceType: 'Patient', id: 'b', identifier: [{ system: 'urn:mrn', value: '3' }], name: [{ family: 'Aberdeen' }], birthDate: '1990' });
      await store.update({ resourceType: 'Observation', id: 'o', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'Patient/a' }, valueQuantity: { value: 70, system: 'http://unitsofmeasure.org', code: '/min' } });
      const run = async (type: string, qs: string): Promise<string[]> => {
        const result = await store.search(type, parseSearchQuery(type, new URLSearchParams(qs)).query);
        return [...result.resources, ...result.included].map((r) => `${r.resourceType}/${r.id ?? ''}`).sort();
      };
      assert.deepEqual(await run('Patient', 'identifier=urn:mrn|1\\,2'), ['Patient/a'], 'an escaped comma is part of the value');
      assert.deepEqual(await run('Patient', 'family=aber'), ['Patient/a', 'Patient/b']);
      assert.deepEqual(await run('Patient', 'family:exact=Åberg'), ['Patient/a']);
      assert.deepEqual(await run('Patient', 'birthdate=1990-05'), ['Patient/a']);
      // A year-precision birthDate (b: 1990) overlaps May on both sides, so ge and le both hold (search.html#prefix).
      assert.deepEqual(await run('Patient', 'birthdate=ge1990-05&birthdate=le1990-05-31'), ['Patient/a', 'Patient/b']);
      assert.deepEqual(await run('Patient', 'birthdate=sa1990-04&birthdate=eb1990-06'), ['Patient/a']);
      assert.deepEqual(await run('Observation', 'subject:Patient.identifier=urn:mrn|1\\,2&_include=Observation:patient'), ['Observation/o', 'Patient/a']);
      assert.deepEqual(await run('Observation', 'patient.family=åber&value-quantity=ge70|http://unitsofmeasure.org|/min'), ['Observation/o']);
      assert.deepEqual(await run('Patient', '_revinclude=Observation:subject&_id=a'), ['Observation/o', 'Patient/a']);
      const conditional = await store.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: '3' }] }, { ifNoneExist: parseConditionalQuery('Patient', 'identifier=urn:mrn|3') });
      assert.equal(conditional.outcome === 'exists' ? conditional.resource.id : undefined, 'b');
    } finally {
      await store.close();
      db.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Load test: the Synthea transaction bundles through the store (figures printed, not asserted)
// ---------------------------------------------------------------------------------------------

interface BundleEntry {
  fullUrl?: string;
  resource?: FhirResource;
  request?: { method?: string; url?: string; ifNoneExist?: string };
}

/** Replaces every `reference` that names a Bundle fullUrl with the stored Type/id (FHIR R4 bundle.html#references). */
function rewriteReferences(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, ids));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === 'reference' && typeof v === 'string' && ids.has(v) ? ids.get(v) : rewriteReferences(v, ids);
  }
  return out;
}

/**
 * A transaction bundle's POSTs, the way the FHIR API will process them: ids allocated ahead for
 * urn:uuid fullUrls; Organizations and Practitioners conditionally created on their identifier
 * (Synthea repeats them in every bundle), so references go to the one that exists.
 */
async function loadTransactionBundle(tx: ResourceStoreTx, bundle: { entry?: BundleEntry[] }): Promise<number> {
  const ids = new Map<string, string>();
  const entries = (bundle.entry ?? []).filter((e): e is BundleEntry & { resource: FhirResource } => e.resource !== undefined);
  const deferred: Array<{ entry: BundleEntry & { resource: FhirResource }; id: string }> = [];
  let written = 0;
  for (const entry of entries) {
    const r = entry.resource;
    const identifier = (r['identifier'] as Array<{ system?: string; value?: string }> | undefined)?.[0];
    if ((r.resourceType === 'Organization' || r.resourceType === 'Practitioner') && identifier?.system !== undefined && identifier.value !== undefined) {
      const outcome = await tx.create(r, { ifNoneExist: parseConditionalQuery(r.resourceType, `identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}`) });
      assert.notEqual(outcome.outcome, 'multiple');
      if (outcome.outcome !== 'multiple' && entry.fullUrl !== undefined) ids.set(entry.fullUrl, `${r.resourceType}/${outcome.resource.id ?? ''}`);
      if (outcome.outcome === 'created') written++;
      continue;
    }
    const id = entry.fullUrl?.startsWith('urn:uuid:') === true ? entry.fullUrl.slice('urn:uuid:'.length) : crypto.randomUUID();
    if (entry.fullUrl !== undefined) ids.set(entry.fullUrl, `${r.resourceType}/${id}`);
    deferred.push({ entry, id });
  }
  for (const { entry, id } of deferred) {
    await tx.create(rewriteReferences(entry.resource, ids) as FhirResource, { id });
    written++;
  }
  return written;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

test('load: the Synthea transaction bundles go in through the store and can be searched back', { timeout: 600_000 }, async (t) => {
  const dir = join(corpus, 'fhir', 'synthea');
  if (!existsSync(dir)) {
    t.skip(`no Synthea corpus at ${dir} (set SWITCHBOARD_CORPUS)`);
    return;
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const bundles = files
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { resourceType?: string; type?: string; entry?: BundleEntry[] })
    .filter((b) => b.resourceType === 'Bundle' && b.type === 'transaction');
  assert.ok(bundles.length > 0, 'the corpus holds transaction bundles');
  const tmp = await mkdtemp(join(tmpdir(), 'switchboard-fhir-load-'));
  const store = openSqliteResourceStore({ path: join(tmp, 'load.db'), indexer, synchronous: 'FULL' });
  try {
    let resources = 0;
    const started = performance.now();
    for (const bundle of bundles) resources += await store.transaction((tx) => loadTransactionBundle(tx, bundle));
    const elapsedMs = performance.now() - started;

    // Every patient back by identifier; its observations by patient + code.
    const patients = (await store.search('Patient', { conditions: [], count: 1000 })).resources;
    const withPatient = bundles.filter((b) => b.entry?.some((e) => e.resource?.resourceType === 'Patient') === true).length;
    assert.equal(patients.length, withPatient, 'one Patient per patient bundle');
    const timings: number[] = [];
    let observationsFound = 0;
    for (const p of patients) {
      const ident = (p['identifier'] as Array<{ system?: string; value?: string }> | undefined)?.find((i) => i.system !== undefined && i.value !== undefined);
      assert.ok(ident !== undefined);
      let t0 = performance.now();
      const byIdentifier = await store.search('Patient', parseSearchQuery('Patient', [['identifier', `${ident.system ?? ''}|${ident.value ?? ''}`]]).query);
      timings.push(performance.now() - t0);
      assert.deepEqual(byIdentifier.resources.map((r) => r.id), [p.id]);
      const all = await store.search('Observation', { conditions: [{ kind: 'reference', param: 'patient', values: [{ type: 'Patient', id: p.id ?? '' }] }], count: 1000 });
      const coding = (all.resources[0]?.['code'] as { coding?: Array<{ system?: string; code?: string }> } | undefined)?.coding?.[0];
      if (coding?.code === undefined) continue;
      const query: SearchQuery = parseSearchQuery('Observation', [
        ['patient', `Patient/${p.id ?? ''}`],
        ['code', `${coding.system ?? ''}|${coding.code}`],
      ]).query;
      t0 = performance.now();
      const byCode = await store.search('Observation', query);
      timings.push(performance.now() - t0);
      const expected = all.resources.filter((o) => (o['code'] as { coding?: Array<{ code?: string }> }).coding?.some((c) => c.code === coding.code)).map((o) => o.id);
      assert.deepEqual(byCode.resources.map((o) => o.id).sort(), expected.sort());
      observationsFound += byCode.resources.length;
    }
    assert.ok(observationsFound > 0);
    timings.sort((a, b) => a - b);
    const practitioners = (await store.search('Practitioner', { conditions: [], summary: 'count' })).total ?? 0;
    t.diagnostic(
      `synthea: ${bundles.length} bundles, ${resources} resources written in ${elapsedMs.toFixed(0)} ms = ${((resources / elapsedMs) * 1000).toFixed(0)} resources/s ` +
        `(synchronous=FULL, one transaction per bundle); ${practitioners} practitioners after conditional create; ` +
        `search p50 ${percentile(timings, 0.5).toFixed(2)} ms, p99 ${percentile(timings, 0.99).toFixed(2)} ms over ${timings.length} searches`,
    );
  } finally {
    await store.close();
    await rm(tmp, { recursive: true, force: true });
  }
});
