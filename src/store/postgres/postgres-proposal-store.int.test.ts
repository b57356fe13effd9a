import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { runProposalStoreSuite } from '../proposal-store-conformance.ts';
import { dropPostgresSchema, openPostgresStore } from './open-postgres-store.ts';

const url = process.env.SWITCHBOARD_PG_URL;

if (url === undefined || url === '') {
  test('PostgresProposalStore conformance', (t) => {
    t.skip('SWITCHBOARD_PG_URL is not set');
  });
} else {
  // Through openPostgresStore, so the suite also proves migration 5 and the wiring: a fresh random
  // schema per test, dropped afterwards; the pool is big enough for the concurrency tests to race.
  runProposalStoreSuite('PostgresProposalStore: ProposalStore conformance', async () => {
    const schema = `swb_test_${randomBytes(6).toString('hex')}`;
    let now = Date.now();
    const store = await openPostgresStore({ url, schema, poolSize: 12, clock: () => new Date(now) });
    return {
      store: store.proposals,
      setNow: (ms: number) => {
        now = ms;
      },
      cleanup: async () => {
        await store.close();
        await dropPostgresSchema(url, schema);
      },
    };
  });
}
