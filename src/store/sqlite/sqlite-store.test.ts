import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../core/ports/store.ts';
import { runAuditLogSuite } from '../audit-log-conformance.ts';
import { runChannelRevisionSuite } from '../channel-revisions-conformance.ts';
import { runDeliveryQueueSuite } from '../delivery-queue-conformance.ts';
import { runMessageStoreSuite, type StoreFactory } from '../message-store-conformance.ts';
import { openSqliteStore } from './open-sqlite-store.ts';

/** A fresh SQLite file in its own temp directory per call; cleanup closes what is open and removes it. */
const sqliteFactory: StoreFactory = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-sqlite-'));
  const path = join(dir, 'switchboard.db');
  const opened: Store[] = [];
  const open = async (): Promise<Store> => {
    const store = await openSqliteStore({ path });
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
      await rm(dir, { recursive: true, force: true });
    },
  };
};

runMessageStoreSuite('SqliteStore: MessageStore conformance', sqliteFactory);
runDeliveryQueueSuite('SqliteStore: DeliveryQueue conformance', sqliteFactory);
runChannelRevisionSuite('SqliteStore: ChannelRevisionStore conformance', sqliteFactory);
runAuditLogSuite('SqliteStore: AuditLog conformance', sqliteFactory);
