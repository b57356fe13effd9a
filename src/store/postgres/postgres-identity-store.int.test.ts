import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { runIdentityStoreSuite } from '../identity-store-conformance.ts';
import { dropPostgresSchema } from './open-postgres-store.ts';
import { POSTGRES_IDENTITY_SCHEMA } from './postgres-identity-schema.ts';
import { PostgresIdentityStore } from './postgres-identity-store.ts';
import { quoteSchema } from './postgres-migrations.ts';

const url = process.env.SWITCHBOARD_PG_URL;

if (url === undefined || url === '') {
  test('PostgresIdentityStore conformance', (t) => {
    t.skip('SWITCHBOARD_PG_URL is not set');
  });
} else {
  // A fresh random schema per test with the identity schema applied twice (it is idempotent; the
  // numbered migrations do not hold it yet); dropped afterwards.
  runIdentityStoreSuite('PostgresIdentityStore: IdentityStore conformance', async () => {
    const schema = `swb_test_${randomBytes(6).toString('hex')}`;
    const pool = new pg.Pool({ connectionString: url, max: 4, options: `-c search_path=${quoteSchema(schema)}` });
    pool.on('error', () => undefined);
    await pool.query(`CREATE SCHEMA ${quoteSchema(schema)}`);
    await pool.query(POSTGRES_IDENTITY_SCHEMA);
    await pool.query(POSTGRES_IDENTITY_SCHEMA);
    let now = Date.now();
    const store = new PostgresIdentityStore(pool, { clock: () => new Date(now) });
    return {
      store,
      setNow: (ms: number) => {
        now = ms;
      },
      cleanup: async () => {
        await pool.end();
        await dropPostgresSchema(url, schema);
      },
    };
  });
}
