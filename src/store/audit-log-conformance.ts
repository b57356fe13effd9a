import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import type { AuditEntry } from '../core/ports/audit-log.ts';
import type { Store } from '../core/ports/store.ts';
import type { StoreFactory, StoreFixture } from './message-store-conformance.ts';

/**
 * The one AuditLog conformance suite (STYLE.md "Ports and adapters"), run by
 * src/store/<kind>/*.test.ts against every implementation, with the message store suite's factory.
 */

const TEST_TIMEOUT_MS = 60_000;
const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const at = (offsetMs: number): Date => new Date(T0 + offsetMs);

function entryFields(e: AuditEntry): Record<string, unknown> {
  return { id: e.id, at: e.at, actor: e.actor, action: e.action, target: e.target, detail: e.detail };
}

export function runAuditLogSuite(name: string, factory: StoreFactory): void {
  const it = (title: string, body: (store: Store, fixture: StoreFixture) => Promise<void>): void => {
    test(title, { timeout: TEST_TIMEOUT_MS }, async () => {
      const fixture = await factory();
      try {
        await body(fixture.store, fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };

  describe(name, () => {
    it('append returns the entry with an id; list returns it exactly, detail values typed as given', async (store) => {
      const detail = { previousStatus: 'failed', edited: true, attempts: 3, ratio: 0.25, note: null, who: 'Zoë 東京' };
      const e = await store.audit.append({ actor: 'user:alice', action: 'delivery.retry', target: 'dlv-1', detail, at: at(0) });
      assert.equal(typeof e.id, 'string');
      assert.ok(e.id.length > 0);
      assert.deepEqual(entryFields(e), { id: e.id, at: at(0), actor: 'user:alice', action: 'delivery.retry', target: 'dlv-1', detail });
      assert.deepEqual((await store.audit.list()).map(entryFields), [entryFields(e)]);
    });

    it('at defaults to the store clock; ids are unique and sort in creation order', async (store) => {
      const before = Date.now();
      const entries: AuditEntry[] = [];
      for (let i = 0; i < 20; i++) entries.push(await store.audit.append({ actor: 'cli:root', action: 'replay.run', target: `q${i}`, detail: { n: i } }));
      const first = entries[0] as AuditEntry;
      assert.ok(first.at.getTime() >= before - 1000 && first.at.getTime() <= Date.now() + 1000);
      const ids = entries.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'unique');
      assert.deepEqual([...ids].sort(), ids, 'sortable: text order is creation order');
    });

    it('list is newest first (by at, then by insertion), filters by action and target, and honours limit', async (store) => {
      const a = await store.audit.append({ actor: 'u', action: 'channel.apply', target: 'adt-in', detail: { revision: 1 }, at: at(1000) });
      const b = await store.audit.append({ actor: 'u', action: 'delivery.resolve', target: 'dlv-9', detail: {}, at: at(3000) });
      const c = await store.audit.append({ actor: 'u', action: 'channel.apply', target: 'adt-in', detail: { revision: 2 }, at: at(2000) });
      const d = await store.audit.append({ actor: 'u', action: 'channel.apply', target: 'orm-out', detail: { revision: 1 }, at: at(2000) });
      const ids = (entries: AuditEntry[]): string[] => entries.map((e) => e.id);
      assert.deepEqual(ids(await store.audit.list()), [b.id, d.id, c.id, a.id], 'same instant: the later append first');
      assert.deepEqual(ids(await store.audit.list({ action: 'channel.apply' })), [d.id, c.id, a.id]);
      assert.deepEqual(ids(await store.audit.list({ target: 'adt-in' })), [c.id, a.id]);
      assert.deepEqual(ids(await store.audit.list({ action: 'channel.apply', target: 'orm-out' })), [d.id]);
      assert.deepEqual(ids(await store.audit.list({ action: 'nope' })), []);
      assert.deepEqual(ids(await store.audit.list({ limit: 2 })), [b.id, d.id]);
    });

    it('list returns at most 100 entries by default', async (store) => {
      for (let i = 0; i < 120; i += 20) {
        await Promise.all(Array.from({ length: 20 }, (_, j) => store.audit.append({ actor: 'u', action: 'bulk', target: 't', detail: { i: i + j }, at: at(i + j) })));
      }
      const page = await store.audit.list();
      assert.equal(page.length, 100);
      assert.equal(page[0]?.detail.i, 119);
      assert.equal((await store.audit.list({ limit: 500 })).length, 120);
    });

    it('a bad entry is refused with SWB_ERR_STORE_INVALID_RECORD and nothing is stored', async (store) => {
      const bad = [
        { actor: '', action: 'x', target: 't', detail: {} },
        { actor: 'u', action: '', target: 't', detail: {} },
        { actor: 'u', action: 'x', target: 't', detail: { nested: { no: 1 } } as unknown as AuditEntry['detail'] },
        { actor: 'u', action: 'x', target: 't', detail: { n: Number.NaN } },
      ];
      for (const entry of bad) await assert.rejects(store.audit.append(entry), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_INVALID_RECORD');
      assert.deepEqual(await store.audit.list(), []);
    });

    it('entries survive close and reopen', async (store, fixture) => {
      const e = await store.audit.append({ actor: 'u', action: 'delivery.retry', target: 'd', detail: { ok: true }, at: at(5) });
      await store.close();
      const reopened = await fixture.reopen();
      assert.deepEqual((await reopened.audit.list()).map(entryFields), [entryFields(e)]);
    });
  });
}
