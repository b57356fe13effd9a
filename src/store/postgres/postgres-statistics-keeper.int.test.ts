import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { parseSearchQuery } from '../../fhir/search-query.ts';
import { dropPostgresSchema, openPostgresStore } from './open-postgres-store.ts';

// The statistics keeper (postgres-statistics-keeper.ts) analyzes the store's tables whose rows
// changed past autovacuum's rule, so a search over bulk-loaded data gets a plan from real counts
// even where autovacuum is off (as on this CI machine's server). Needs SWITCHBOARD_PG_URL.
const url = process.env.SWITCHBOARD_PG_URL;
const schema = `swb_pgstats_${randomBytes(6).toString('hex')}`;
after(async () => {
  if (url !== undefined && url !== '') await dropPostgresSchema(url, schema);
});

test('a bulk load is analyzed; a table that barely changed is not; plans then probe the selective set', { skip: url === undefined || url === '' ? 'SWITCHBOARD_PG_URL is not set' : false }, async () => {
  const store = await openPostgresStore({ url: url as string, schema, resourceIndexer: new FhirSearchIndexer() });
  try {
    const resources = store.resources;
    assert.ok(resources !== undefined);
    // The tables were analyzed once (empty) so later counts are changes since then.
    await store.statistics.runOnce();
    for (let at = 0; at < 2000; at += 500) {
      await resources.transaction(async (tx) => {
        for (let j = at; j < at + 500; j++) {
          await tx.create({ resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: j % 2 === 0 ? '718-7' : '2345-7' }] }, subject: { reference: `Patient/p${j % 40}` } });
        }
      });
    }
    // Cumulative statistics reach pg_stat_user_tables once the writing backend reports them
    // (PostgreSQL 15: when it goes idle, within a second or so): poll.
    let analyzed: string[] = [];
    for (let i = 0; i < 50 && !analyzed.includes('fhir_idx_token'); i++) {
      analyzed = [...analyzed, ...(await store.statistics.runOnce())];
      if (!analyzed.includes('fhir_idx_token')) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(analyzed.includes('fhir_idx_token'), `the token index table was analyzed (got ${analyzed.join(', ')})`);
    assert.ok(analyzed.includes('fhir_resources'));
    assert.ok(!analyzed.includes('auth_clients'), 'a table with no changes is left alone');
    assert.deepEqual(await store.statistics.runOnce(), [], 'nothing is stale right after');
    // With real counts the planner no longer reads every row of the code (1,000) to intersect it
    // with the patient's (50), as it did with none (a merge join over fhir_idx_token_code): it
    // probes the token rows of the patient's resources by rid.
    const query = parseSearchQuery('Observation', [['patient', 'Patient/p7'], ['code', 'http://loinc.org|2345-7']]).query;
    const plan = (await resources.explainSearch('Observation', query)).join('\n');
    assert.match(plan, /fhir_idx_token_rid/);
    assert.doesNotMatch(plan, /fhir_idx_token_code/);
    const result = await resources.search('Observation', query);
    assert.equal(result.resources.length, 50);
  } finally {
    await store.close();
  }
});
