import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSwitchboardError } from '../core/errors.ts';
import type { ApplyResult, ChannelRevision } from '../core/ports/channel-revisions.ts';
import type { Store } from '../core/ports/store.ts';
import type { StoreFactory, StoreFixture } from './message-store-conformance.ts';

/**
 * The one ChannelRevisionStore conformance suite (STYLE.md "Ports and adapters"), run by
 * src/store/<kind>/*.test.ts against every implementation, with the message store suite's factory.
 * Concurrency cases use two stores opened on the same database (`fixture.reopen()`), as two engine
 * processes would.
 */

const TEST_TIMEOUT_MS = 60_000;
const T0 = Date.parse('2026-02-01T10:00:00.000Z');
const YAML_V1 = 'id: adt-in\nsource:\n  kind: mllp\n  port: 2575\n# Zoë 東京\n';
const YAML_V2 = 'id: adt-in\nsource:\n  kind: mllp\n  port: 2576\n';

function revisionFields(r: ChannelRevision): Record<string, unknown> {
  return { channelId: r.channelId, revision: r.revision, document: r.document, hash: r.hash, author: r.author, comment: r.comment, createdAt: r.createdAt };
}

async function created(result: Promise<ApplyResult>): Promise<ChannelRevision> {
  const r = await result;
  assert.equal(r.kind, 'created', `expected created, got ${r.kind}`);
  return r.revision;
}

export function runChannelRevisionSuite(name: string, factory: StoreFactory): void {
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
    it('the first apply creates revision 1 with every field kept exactly', async (store) => {
      const r = await created(store.channels.apply({ channelId: 'adt-in', document: YAML_V1, hash: 'h1', author: 'cli:alice', comment: 'first', at: new Date(T0) }));
      assert.deepEqual(revisionFields(r), { channelId: 'adt-in', revision: 1, document: YAML_V1, hash: 'h1', author: 'cli:alice', comment: 'first', createdAt: new Date(T0) });
      assert.deepEqual(revisionFields((await store.channels.latest('adt-in')) as ChannelRevision), revisionFields(r));
      assert.deepEqual(revisionFields((await store.channels.get('adt-in', 1)) as ChannelRevision), revisionFields(r));
    });

    it('the same hash as the latest is unchanged and stores nothing; a new hash is the next revision', async (store) => {
      const r1 = await created(store.channels.apply({ channelId: 'c', document: YAML_V1, hash: 'h1', author: 'a', at: new Date(T0) }));
      const same = await store.channels.apply({ channelId: 'c', document: YAML_V1, hash: 'h1', author: 'b', comment: 'again', at: new Date(T0 + 1000) });
      assert.equal(same.kind, 'unchanged');
      assert.deepEqual(revisionFields(same.revision), revisionFields(r1), 'the latest revision, untouched');
      const r2 = await created(store.channels.apply({ channelId: 'c', document: YAML_V2, hash: 'h2', author: 'b', at: new Date(T0 + 2000) }));
      assert.equal(r2.revision, 2);
      assert.equal(r2.comment, undefined, 'no comment given');
      // Going back to an older document is a change too: a new revision, not a pointer to revision 1.
      const r3 = await created(store.channels.apply({ channelId: 'c', document: YAML_V1, hash: 'h1', author: 'c', at: new Date(T0 + 3000) }));
      assert.equal(r3.revision, 3);
      assert.deepEqual((await store.channels.history('c')).map((r) => [r.revision, r.hash, r.author]), [[3, 'h1', 'c'], [2, 'h2', 'b'], [1, 'h1', 'a']]);
    });

    it('revisions are numbered per channel; list gives the latest of every channel; unknown ones are undefined or empty', async (store) => {
      await created(store.channels.apply({ channelId: 'a', document: 'x', hash: 'ha1', author: 'u' }));
      await created(store.channels.apply({ channelId: 'b', document: 'y', hash: 'hb1', author: 'u' }));
      await created(store.channels.apply({ channelId: 'a', document: 'x2', hash: 'ha2', author: 'u' }));
      assert.equal((await store.channels.latest('b'))?.revision, 1);
      assert.deepEqual(
        (await store.channels.list()).map((r) => [r.channelId, r.revision, r.hash]).sort(),
        [['a', 2, 'ha2'], ['b', 1, 'hb1']],
      );
      assert.equal(await store.channels.latest('nope'), undefined);
      assert.equal(await store.channels.get('a', 3), undefined);
      assert.equal(await store.channels.get('a', 0), undefined);
      assert.deepEqual(await store.channels.history('nope'), []);
    });

    it('createdAt defaults to the store clock', async (store) => {
      const before = Date.now();
      const r = await created(store.channels.apply({ channelId: 'clock', document: 'x', hash: 'h', author: 'u' }));
      assert.ok(r.createdAt.getTime() >= before - 1000 && r.createdAt.getTime() <= Date.now() + 1000);
    });

    it('a bad input is refused with SWB_ERR_STORE_INVALID_RECORD', async (store) => {
      for (const input of [
        { channelId: '', document: 'x', hash: 'h', author: 'u' },
        { channelId: 'c', document: 'x', hash: '', author: 'u' },
        { channelId: 'c', document: 'x', hash: 'h', author: 'u', at: new Date(Number.NaN) },
      ]) {
        await assert.rejects(store.channels.apply(input), (e) => isSwitchboardError(e) && e.code === 'SWB_ERR_STORE_INVALID_RECORD');
      }
      assert.deepEqual(await store.channels.list(), []);
    });

    it('concurrent applies of different hashes from two stores get revisions N+1 and N+2', async (store, fixture) => {
      const other = await fixture.reopen();
      await created(store.channels.apply({ channelId: 'race', document: 'base', hash: 'h0', author: 'u' }));
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all([
          store.channels.apply({ channelId: 'race', document: `a${round}`, hash: `ha${round}`, author: 'one' }),
          other.channels.apply({ channelId: 'race', document: `b${round}`, hash: `hb${round}`, author: 'two' }),
          store.channels.apply({ channelId: 'race', document: `c${round}`, hash: `hc${round}`, author: 'one' }),
        ]);
        assert.ok(results.every((r) => r.kind === 'created'), `round ${round}: all created`);
        assert.deepEqual(results.map((r) => r.revision.revision).sort((x, y) => x - y), [2 + 3 * round, 3 + 3 * round, 4 + 3 * round]);
      }
      const history = await store.channels.history('race');
      assert.deepEqual(history.map((r) => r.revision), Array.from({ length: 16 }, (_, i) => 16 - i), 'no gap, no repeat');
    });

    it('concurrent applies of the same hash from two stores: one created, the others unchanged', async (store, fixture) => {
      const other = await fixture.reopen();
      await created(store.channels.apply({ channelId: 'same', document: 'base', hash: 'h0', author: 'u' }));
      for (let round = 0; round < 5; round++) {
        const input = { channelId: 'same', document: `doc ${round}`, hash: `h${round + 1}`, author: 'u' };
        const results = await Promise.all([store.channels.apply(input), other.channels.apply(input), store.channels.apply(input), other.channels.apply(input)]);
        assert.equal(results.filter((r) => r.kind === 'created').length, 1, `round ${round}: exactly one created`);
        assert.ok(results.every((r) => r.revision.revision === round + 2 && r.revision.hash === `h${round + 1}`), 'all name the same revision');
      }
      assert.equal((await store.channels.history('same')).length, 6);
    });

    it('revisions survive close and reopen', async (store, fixture) => {
      const r1 = await created(store.channels.apply({ channelId: 'dur', document: YAML_V1, hash: 'h1', author: 'u', comment: 'c', at: new Date(T0) }));
      const r2 = await created(store.channels.apply({ channelId: 'dur', document: YAML_V2, hash: 'h2', author: 'u', at: new Date(T0 + 1) }));
      await store.close();
      const reopened = await fixture.reopen();
      assert.deepEqual((await reopened.channels.history('dur')).map(revisionFields), [r2, r1].map(revisionFields));
      assert.equal((await reopened.channels.apply({ channelId: 'dur', document: YAML_V2, hash: 'h2', author: 'u' })).kind, 'unchanged');
    });
  });
}
