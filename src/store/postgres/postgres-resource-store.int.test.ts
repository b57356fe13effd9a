import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { FhirResource, ResourceStoreTx, SearchQuery } from '../../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { parseConditionalQuery, parseSearchQuery } from '../../fhir/search-query.ts';
import { runResourceStoreSuite, type ResourceStoreFactory } from '../resource-store-conformance.ts';
import { dropPostgresSchema } from './open-postgres-store.ts';
import { quoteSchema } from './postgres-migrations.ts';
import { POSTGRES_RESOURCE_SCHEMA } from './postgres-resource-schema.ts';
import { openPostgresResourceStore, PostgresResourceStore } from './postgres-resource-store.ts';

const url = process.env.SWITCHBOARD_PG_URL;
const indexer = new FhirSearchIndexer();
const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const corpus = resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus');

const newSchema = (): string => `swb_test_${randomBytes(6).toString('hex')}`;

/** A fresh random schema per call (the store creates its tables); cleanup closes the store and drops the schema. */
function postgresFactory(pgUrl: string): ResourceStoreFactory {
  return async ({ clock }) => {
    const schema = newSchema();
    const store = await openPostgresResourceStore({ url: pgUrl, schema, indexer, clock, poolSize: 8 });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await dropPostgresSchema(pgUrl, schema);
      },
    };
  };
}

/** Runs `body` with a store on a fresh schema, then drops it. */
async function withSchema(pgUrl: string, body: (store: PostgresResourceStore, schema: string) => Promise<void>): Promise<void> {
  const schema = newSchema();
  const store = await openPostgresResourceStore({ url: pgUrl, schema, indexer });
  try {
    await body(store, schema);
  } finally {
    await store.close();
    await dropPostgresSchema(pgUrl, schema);
  }
}

if (url === undefined || url === '') {
  test('PostgresResourceStore', (t) => {
    t.skip('SWITCHBOARD_PG_URL is not set');
  });
} else {
  runResourceStoreSuite('PostgresResourceStore: ResourceStore conformance', postgresFactory(url));

  describe('PostgresResourceStore specifics', { timeout: 300_000 }, () => {
    test('the schema applies twice (IF NOT EXISTS), and a second pool on the same schema sees the first one\'s writes', async () => {
      await withSchema(url, async (a, schema) => {
        const pool = new pg.Pool({ connectionString: url, max: 2, options: `-c search_path=${quoteSchema(schema)}` });
        try {
          await pool.query(POSTGRES_RESOURCE_SCHEMA);
        } finally {
          await pool.end();
        }
        const b = await openPostgresResourceStore({ url, schema, indexer });
        try {
          await a.update({ resourceType: 'Patient', id: 'shared', gender: 'male' });
          assert.equal((await b.read('Patient', 'shared'))?.versionId, '1');
          const created = await b.create({ resourceType: 'Patient', gender: 'male' }, { ifNoneExist: { conditions: [{ kind: 'token', param: 'gender', not: false, values: [{ code: 'male' }] }] } });
          assert.equal(created.outcome, 'exists', "the condition is checked against the other pool's committed write");
        } finally {
          await b.close();
        }
      });
    });

    test('20 conditional creates split over two pools (two engine processes) yield exactly one resource, whatever the default isolation', async () => {
      await withSchema(url, async (a, schema) => {
        // The second pool's sessions default to REPEATABLE READ: the store must still search after the lock with a fresh snapshot.
        const pool = new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${quoteSchema(schema)} -c default_transaction_isolation=repeatable\\ read` });
        const b = new PostgresResourceStore(pool, { indexer, ownsPool: true });
        try {
          assert.equal((await pool.query<{ level: string }>('SELECT current_setting(\'transaction_isolation\') AS level')).rows[0]?.level, 'repeatable read');
          // The same condition written with its OR values in two orders takes the same advisory lock.
          const condition = (order: 0 | 1): SearchQuery => ({
            conditions: [{ kind: 'token', param: 'identifier', not: false, values: order === 0 ? [{ system: 'urn:mrn', code: 'R1' }, { system: 'urn:other', code: 'R1' }] : [{ system: 'urn:other', code: 'R1' }, { system: 'urn:mrn', code: 'R1' }] }],
          });
          const outcomes = await Promise.all(
            Array.from({ length: 20 }, (_v, i) =>
              (i % 2 === 0 ? a : b).create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'R1' }] }, { ifNoneExist: condition(i % 3 === 0 ? 0 : 1) }),
            ),
          );
          assert.equal(outcomes.filter((o) => o.outcome === 'created').length, 1);
          assert.equal(outcomes.filter((o) => o.outcome === 'exists').length, 19);
          assert.equal((await a.search('Patient', { conditions: [], total: 'accurate' })).total, 1);
        } finally {
          await b.close();
        }
      });
    });

    test('concurrent plain updates of one id (including update as create) get distinct, consecutive versions', async () => {
      await withSchema(url, async (store) => {
        const outcomes = await Promise.all(Array.from({ length: 12 }, (_v, i) => store.update({ resourceType: 'Patient', id: 'race', birthDate: `19${String(10 + i)}` })));
        assert.equal(outcomes.filter((o) => o.outcome === 'created').length, 1);
        assert.deepEqual(outcomes.map((o) => Number(o.resource.meta?.versionId)).sort((x, y) => x - y), Array.from({ length: 12 }, (_v, i) => i + 1));
        const history = await store.history({ type: 'Patient', id: 'race', count: 100 });
        assert.equal(history.entries.length, 12);
        assert.equal((await store.search('Patient', { conditions: [{ kind: 'missing', param: 'birthdate', paramType: 'date', missing: false }], total: 'accurate' })).total, 1, 'one set of index rows');
      });
    });

    test('a cursor whose values do not fit the sort columns is a bad cursor', async () => {
      await withSchema(url, async (store) => {
        await store.update({ resourceType: 'Patient', id: 'c1', birthDate: '1990' });
        const forged = Buffer.from(JSON.stringify(['not-a-number', 'x'])).toString('base64url');
        await assert.rejects(store.search('Patient', { conditions: [], sort: [{ param: 'birthdate', paramType: 'date', descending: false }], cursor: forged }), { code: 'SWB_ERR_STORE_BAD_CURSOR' });
        await assert.rejects(store.search('Patient', { conditions: [], cursor: forged }), { code: 'SWB_ERR_STORE_BAD_CURSOR' });
      });
    });

    test('search reads index tables, never a scan of the resources table (EXPLAIN on a populated, analyzed table)', async () => {
      await withSchema(url, async (store, schema) => {
        const patients = 1000;
        await store.transaction(async (tx) => {
          for (let i = 0; i < patients; i++) {
            await tx.update({ resourceType: 'Patient', id: `p${i}`, identifier: [{ system: 'urn:mrn', value: String(i) }], name: [{ family: `Fam${i}`, given: [`Giv${i % 50}`] }], gender: i % 2 === 0 ? 'male' : 'female' });
            for (let j = 0; j < 4; j++) {
              await tx.update({
                resourceType: 'Observation',
                id: `o${i}-${j}`,
                status: 'final',
                code: { coding: [{ system: 'http://loinc.org', code: j % 2 === 0 ? '8867-4' : '29463-7' }] },
                subject: { reference: `Patient/p${i}` },
                effectiveDateTime: `2024-01-${String((i % 28) + 1).padStart(2, '0')}`,
                valueQuantity: { value: i + j },
              });
            }
          }
        });
        // Statistics, as autovacuum would gather them on a real database.
        const pool = new pg.Pool({ connectionString: url, max: 1, options: `-c search_path=${quoteSchema(schema)}` });
        try {
          await pool.query('ANALYZE');
        } finally {
          await pool.end();
        }
        const queries: Array<[string, string]> = [
          ['Patient', 'identifier=urn:mrn|123'],
          ['Patient', 'family=fam12&given=giv12'],
          ['Observation', 'patient=Patient/p1&code=http://loinc.org|8867-4'],
          ['Observation', 'subject=Patient/p1&code=8867-4&status=final'],
          ['Observation', 'subject:Patient.identifier=urn:mrn|123'],
          ['Observation', 'patient=Patient/p2&date=ge2024-01-01&value-quantity=gt5'],
          ['Observation', 'patient=p3&code:not=8867-4'],
          ['AuditEvent', 'entity=Patient/p1&date=ge2024'],
        ];
        for (const [type, qs] of queries) {
          const plan = (await store.explainSearch(type, parseSearchQuery(type, new URLSearchParams(qs)).query)).join('\n');
          assert.match(plan, /Index (Only )?Scan using fhir_idx_\w+/, `${type}?${qs} uses an index table:\n${plan}`);
          assert.doesNotMatch(plan, /Seq Scan on fhir_resources/, `${type}?${qs} scans the resources table:\n${plan}`);
          assert.doesNotMatch(plan, /Seq Scan on fhir_idx_/, `${type}?${qs} scans an index table:\n${plan}`);
        }
        // _id is read from the resource row (ROW_PARAMS), through its (type, id) key: no index table.
        const byId = (await store.explainSearch('Patient', parseSearchQuery('Patient', new URLSearchParams('_id=p7')).query)).join('\n');
        assert.match(byId, /Index (Only )?Scan using fhir_resources_type_id_key/, `Patient?_id=p7 uses the (type, id) key:\n${byId}`);
        assert.doesNotMatch(byId, /Seq Scan/, `Patient?_id=p7 scans a table:\n${byId}`);
        // And they find what they should, on the populated table.
        const found = async (type: string, qs: string): Promise<string[]> => (await store.search(type, parseSearchQuery(type, new URLSearchParams(qs)).query)).resources.map((r) => r.id ?? '').sort();
        assert.deepEqual(await found('Patient', 'identifier=urn:mrn|123'), ['p123']);
        assert.deepEqual(await found('Observation', 'patient=Patient/p1&code=http://loinc.org|8867-4'), ['o1-0', 'o1-2']);
        assert.deepEqual(await found('Observation', 'subject:Patient.identifier=urn:mrn|123'), ['o123-0', 'o123-1', 'o123-2', 'o123-3']);
        assert.deepEqual(await found('Observation', 'patient=p3&code:not=8867-4'), ['o3-1', 'o3-3']);
      });
    });

    test('URL parameters parsed by src/fhir/search-query.ts run against the store', async () => {
      await withSchema(url, async (store) => {
        await store.update({ resourceType: 'Patient', id: 'a', identifier: [{ system: 'urn:mrn', value: '1,2' }], name: [{ family: 'Åberg', given: ['Lil'] }], birthDate: '1990-05-06' });
        await store.update({ resourceType: 'Patient', id: 'b', identifier: [{ system: 'urn:mrn', value: '3' }], name: [{ family: 'Aberdeen' }], birthDate: '1990' });
        await store.update({ resourceType: 'Observation', id: 'o', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'Patient/a' }, valueQuantity: { value: 70, system: 'http://unitsofmeasure.org', code: '/min' } });
        const search = async (type: string, qs: string): Promise<string[]> => {
          const result = await store.search(type, parseSearchQuery(type, new URLSearchParams(qs)).query);
          return [...result.resources, ...result.included].map((r) => `${r.resourceType}/${r.id ?? ''}`).sort();
        };
        assert.deepEqual(await search('Patient', 'identifier=urn:mrn|1\\,2'), ['Patient/a'], 'an escaped comma is part of the value');
        assert.deepEqual(await search('Patient', 'family=aber'), ['Patient/a', 'Patient/b']);
        assert.deepEqual(await search('Patient', 'family:exact=Åberg'), ['Patient/a']);
        assert.deepEqual(await search('Patient', 'birthdate=1990-05'), ['Patient/a']);
        assert.deepEqual(await search('Patient', 'birthdate=ge1990-05&birthdate=le1990-05-31'), ['Patient/a', 'Patient/b']);
        assert.deepEqual(await search('Observation', 'subject:Patient.identifier=urn:mrn|1\\,2&_include=Observation:patient'), ['Observation/o', 'Patient/a']);
        assert.deepEqual(await search('Observation', 'patient.family=åber&value-quantity=ge70|http://unitsofmeasure.org|/min'), ['Observation/o']);
        assert.deepEqual(await search('Patient', '_revinclude=Observation:subject&_id=a'), ['Observation/o', 'Patient/a']);
        const conditional = await store.create({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: '3' }] }, { ifNoneExist: parseConditionalQuery('Patient', 'identifier=urn:mrn|3') });
        assert.equal(conditional.outcome === 'exists' ? conditional.resource.id : undefined, 'b');
        const read = await store.read('Patient', 'a');
        assert.deepEqual(read?.kind === 'resource' ? Object.keys(read.resource).slice(0, 3) : [], ['resourceType', 'id', 'meta'], 'jsonb key order is not what clients see');
      });
    });
  });

  // -------------------------------------------------------------------------------------------
  // Load test: the Synthea transaction bundles through the store (figures printed, not asserted)
  // -------------------------------------------------------------------------------------------

  interface BundleEntry {
    fullUrl?: string;
    resource?: FhirResource;
  }

  /** Replaces every `reference` that names a Bundle fullUrl with the stored Type/id (FHIR R4 bundle.html#references). */
  const rewriteReferences = (value: unknown, ids: ReadonlyMap<string, string>): unknown => {
    if (Array.isArray(value)) return value.map((v) => rewriteReferences(v, ids));
    if (typeof value !== 'object' || value === null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = k === 'reference' && typeof v === 'string' && ids.has(v) ? ids.get(v) : rewriteReferences(v, ids);
    return out;
  };

  /**
   * A transaction bundle's entries as the FHIR API will write them: ids allocated ahead for urn:uuid
   * fullUrls; Organizations and Practitioners conditionally created on their identifier (Synthea
   * repeats them in every bundle), so references go to the one that exists.
   */
  const loadTransactionBundle = async (tx: ResourceStoreTx, bundle: { entry?: BundleEntry[] }): Promise<number> => {
    const ids = new Map<string, string>();
    const later: Array<{ resource: FhirResource; id: string }> = [];
    let written = 0;
    for (const entry of bundle.entry ?? []) {
      const r = entry.resource;
      if (r === undefined) continue;
      const identifier = (r['identifier'] as Array<{ system?: string; value?: string }> | undefined)?.[0];
      if ((r.resourceType === 'Organization' || r.resourceType === 'Practitioner') && identifier?.system !== undefined && identifier.value !== undefined) {
        const outcome = await tx.create(r, { ifNoneExist: parseConditionalQuery(r.resourceType, `identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}`) });
        assert.notEqual(outcome.outcome, 'multiple');
        if (outcome.outcome !== 'multiple' && entry.fullUrl !== undefined) ids.set(entry.fullUrl, `${r.resourceType}/${outcome.resource.id ?? ''}`);
        if (outcome.outcome === 'created') written++;
        continue;
      }
      const id = entry.fullUrl?.startsWith('urn:uuid:') === true ? entry.fullUrl.slice('urn:uuid:'.length) : randomBytes(16).toString('hex');
      if (entry.fullUrl !== undefined) ids.set(entry.fullUrl, `${r.resourceType}/${id}`);
      later.push({ resource: r, id });
    }
    for (const { resource, id } of later) {
      await tx.create(rewriteReferences(resource, ids) as FhirResource, { id });
      written++;
    }
    return written;
  };

  const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;

  test('load: the Synthea transaction bundles go in through the store and can be searched back', { timeout: 600_000 }, async (t) => {
    const dir = join(corpus, 'fhir', 'synthea');
    if (!existsSync(dir)) {
      t.skip(`no Synthea corpus at ${dir} (set SWITCHBOARD_CORPUS)`);
      return;
    }
    const bundles = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { resourceType?: string; type?: string; entry?: BundleEntry[] })
      .filter((b) => b.resourceType === 'Bundle' && b.type === 'transaction');
    assert.ok(bundles.length > 0, 'the corpus holds transaction bundles');
    await withSchema(url, async (store) => {
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
        const query = parseSearchQuery('Observation', [
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
        `synthea on PostgreSQL: ${bundles.length} bundles, ${resources} resources written in ${elapsedMs.toFixed(0)} ms = ${((resources / elapsedMs) * 1000).toFixed(0)} resources/s ` +
          `(one transaction per bundle, a savepoint per entry); ${practitioners} practitioners after conditional create; ` +
          `search p50 ${percentile(timings, 0.5).toFixed(2)} ms, p99 ${percentile(timings, 0.99).toFixed(2)} ms over ${timings.length} searches`,
      );
    });
  });
}
