import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Store } from '../../core/ports/store.ts';
import { runAuditLogSuite } from '../audit-log-conformance.ts';
import { runChannelRevisionSuite } from '../channel-revisions-conformance.ts';
import { runDeliveryQueueSuite } from '../delivery-queue-conformance.ts';
import { runMessageStoreSuite, type StoreFactory } from '../message-store-conformance.ts';
import { dropPostgresSchema, openPostgresStore } from './open-postgres-store.ts';

const url = process.env.SWITCHBOARD_PG_URL;

/** A fresh random schema per call; cleanup closes what is open and drops the schema. */
function postgresFactory(pgUrl: string): StoreFactory {
  return async () => {
    const schema = `swb_test_${randomBytes(6).toString('hex')}`;
    const opened: Store[] = [];
    const open = async (): Promise<Store> => {
      const store = await openPostgresStore({ url: pgUrl, schema });
      opened.push(store);
      return store;
    };
    const store = await open();
    return {
      store,
      reopen: open,
      cleanup: async () => {
        // A test may already have closed a store (the durability test does); closing twice is not
        // part of the port's contract, so its error is ignored here.
        for (const s of opened) await s.close().catch(() => undefined);
        await dropPostgresSchema(pgUrl, schema);
      },
    };
  };
}

if (url === undefined || url === '') {
  test('PostgresStore conformance', (t) => {
    t.skip('SWITCHBOARD_PG_URL is not set');
  });
} else {
  runMessageStoreSuite('PostgresStore: MessageStore conformance', postgresFactory(url));
  runDeliveryQueueSuite('PostgresStore: DeliveryQueue conformance', postgresFactory(url));
  runChannelRevisionSuite('PostgresStore: ChannelRevisionStore conformance', postgresFactory(url));
  runAuditLogSuite('PostgresStore: AuditLog conformance', postgresFactory(url));
}
