import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IdentityStore, NewOAuthClient, Session } from '../core/ports/identity-store.ts';

/**
 * The one IdentityStore conformance suite (STYLE.md "Ports and adapters"): run by
 * src/store/<kind>/*-identity-store.test.ts against every implementation. The factory gives a fresh,
 * empty store whose clock is `clock` (so that expiry can be tested without waiting).
 */
export interface IdentityStoreFixture {
  readonly store: IdentityStore;
  /** Sets the store's clock (ms since the epoch). */
  readonly setNow: (ms: number) => void;
  readonly cleanup: () => Promise<void>;
}
export type IdentityStoreFactory = () => Promise<IdentityStoreFixture>;

const T0 = Date.parse('2026-03-01T09:00:00.000Z');
const at = (offsetMs: number): Date => new Date(T0 + offsetMs);

const jwtClient: NewOAuthClient = {
  id: 'lab-app',
  name: 'Lab app',
  kind: 'private_key_jwt',
  jwks: { keys: [{ kty: 'EC', crv: 'P-384', x: 'AAAA', y: 'BBBB', kid: 'k1', alg: 'ES384' }] },
  scopes: ['system/Observation.rs', 'system/Patient.r'],
};

const session = (idHash: string, userId: string, createdMs: number, ttlMs: number): Session => ({
  idHash,
  userId,
  createdAt: at(createdMs),
  expiresAt: at(createdMs + ttlMs),
  lastSeenAt: at(createdMs),
});

export function runIdentityStoreSuite(name: string, factory: IdentityStoreFactory): void {
  const it = (title: string, body: (store: IdentityStore, fixture: IdentityStoreFixture) => Promise<void>): void => {
    test(title, { timeout: 30_000 }, async () => {
      const fixture = await factory();
      fixture.setNow(T0);
      try {
        await body(fixture.store, fixture);
      } finally {
        await fixture.cleanup();
      }
    });
  };

  describe(name, () => {
    it('putClient stores a client exactly; get, list, replace keeps createdAt, delete', async (store, fx) => {
      const stored = await store.putClient(jwtClient);
      assert.deepEqual(stored, { ...jwtClient, roles: [], disabled: false, createdAt: at(0) });
      assert.deepEqual(await store.getClient('lab-app'), stored);
      assert.equal(await store.getClient('nope'), undefined);

      fx.setNow(T0 + 5000);
      const secretClient = await store.putClient({ id: 'billing', name: 'Billing', kind: 'client_secret', secretHash: 'scrypt$x', scopes: ['system/Coverage.rs'], roles: ['operator'] });
      assert.equal(secretClient.jwks, undefined);
      assert.equal(secretClient.jku, undefined);
      assert.deepEqual(secretClient.roles, ['operator']);

      const { jwks: _registeredKeys, ...withoutKeys } = jwtClient;
      const replaced = await store.putClient({ ...withoutKeys, jku: 'https://keys.example.org/jwks.json', disabled: true });
      assert.equal(replaced.jku, 'https://keys.example.org/jwks.json');
      assert.equal(replaced.jwks, undefined, 'replace drops what the new registration lacks');
      assert.equal(replaced.disabled, true);
      assert.deepEqual(replaced.createdAt, at(0), 'createdAt kept');

      assert.deepEqual((await store.listClients()).map((c) => c.id), ['billing', 'lab-app']);
      assert.equal(await store.deleteClient('billing'), true);
      assert.equal(await store.deleteClient('billing'), false);
      assert.deepEqual((await store.listClients()).map((c) => c.id), ['lab-app']);
    });

    it('putClient refuses a client without the credential its kind needs', async (store) => {
      await assert.rejects(store.putClient({ id: 'x', name: 'x', kind: 'private_key_jwt', scopes: [] }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
      await assert.rejects(store.putClient({ id: 'y', name: 'y', kind: 'client_secret', scopes: [] }), { code: 'SWB_ERR_STORE_INVALID_RECORD' });
    });

    it('createUser: created with an id, found by id and username; a taken username is `exists`', async (store) => {
      const out = await store.createUser({ username: 'alice', passwordHash: 'h1', roles: ['operator'], mustChangePassword: true });
      assert.equal(out.kind, 'created');
      if (out.kind !== 'created') return;
      assert.ok(out.user.id.length > 0);
      assert.deepEqual(out.user, { id: out.user.id, username: 'alice', passwordHash: 'h1', roles: ['operator'], disabled: false, mustChangePassword: true, createdAt: at(0), updatedAt: at(0) });
      assert.deepEqual(await store.getUser(out.user.id), out.user);
      assert.deepEqual(await store.getUserByUsername('alice'), out.user);
      assert.equal(await store.getUserByUsername('Alice'), undefined, 'exact match; callers normalize');
      assert.deepEqual(await store.createUser({ username: 'alice', passwordHash: 'h2', roles: [] }), { kind: 'exists' });
      assert.equal((await store.getUserByUsername('alice'))?.passwordHash, 'h1', 'the existing user is untouched');
      assert.equal(await store.countUsers(), 1);
    });

    it('createUser is atomic: 10 concurrent creates of one username yield one user', async (store) => {
      const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => store.createUser({ username: 'admin', passwordHash: `h${i}`, roles: ['admin'] })));
      assert.equal(outcomes.filter((o) => o.kind === 'created').length, 1);
      assert.equal(await store.countUsers(), 1);
    });

    it('updateUser patches only the given fields and bumps updatedAt; unknown id -> undefined', async (store, fx) => {
      const out = await store.createUser({ username: 'bob', passwordHash: 'h1', roles: ['read-only'], mustChangePassword: true });
      assert.equal(out.kind, 'created');
      if (out.kind !== 'created') return;
      fx.setNow(T0 + 60_000);
      const updated = await store.updateUser(out.user.id, { passwordHash: 'h2', mustChangePassword: false });
      assert.deepEqual(updated, { ...out.user, passwordHash: 'h2', mustChangePassword: false, updatedAt: at(60_000) });
      const disabled = await store.updateUser(out.user.id, { disabled: true, roles: ['auditor', 'read-only'] });
      assert.equal(disabled?.disabled, true);
      assert.deepEqual(disabled?.roles, ['auditor', 'read-only']);
      assert.equal(disabled?.passwordHash, 'h2');
      assert.equal(await store.updateUser('nobody', { disabled: true }), undefined);
      await store.createUser({ username: 'aaron', passwordHash: 'h', roles: [] });
      assert.deepEqual((await store.listUsers()).map((u) => u.username), ['aaron', 'bob']);
    });

    it('sessions: create, get, touch (never backwards), delete, delete all of a user', async (store) => {
      const a = await store.createUser({ username: 'carol', passwordHash: 'h', roles: [] });
      const b = await store.createUser({ username: 'dave', passwordHash: 'h', roles: [] });
      assert.ok(a.kind === 'created' && b.kind === 'created');
      await store.createSession(session('s1', a.user.id, 0, 3_600_000));
      await store.createSession(session('s2', a.user.id, 0, 3_600_000));
      await store.createSession(session('s3', b.user.id, 0, 3_600_000));
      assert.deepEqual(await store.getSession('s1'), session('s1', a.user.id, 0, 3_600_000));
      await store.touchSession('s1', at(120_000));
      await store.touchSession('s1', at(60_000));
      assert.deepEqual((await store.getSession('s1'))?.lastSeenAt, at(120_000));
      assert.equal(await store.deleteSession('s1'), true);
      assert.equal(await store.deleteSession('s1'), false);
      assert.equal(await store.getSession('s1'), undefined);
      assert.equal(await store.deleteUserSessions(a.user.id), 1);
      assert.equal(await store.getSession('s2'), undefined);
      assert.ok((await store.getSession('s3')) !== undefined, "another user's session stays");
    });

    it('recordJti: first use true, a replay false (also for concurrent calls), per client; an expired record can be reused', async (store, fx) => {
      assert.equal(await store.recordJti('c1', 'j1', at(300_000)), true);
      assert.equal(await store.recordJti('c1', 'j1', at(300_000)), false);
      assert.equal(await store.recordJti('c2', 'j1', at(300_000)), true, 'jtis are per client');
      const burst = await Promise.all(Array.from({ length: 10 }, () => store.recordJti('c1', 'j2', at(300_000))));
      assert.equal(burst.filter(Boolean).length, 1);
      fx.setNow(T0 + 300_000);
      assert.equal(await store.recordJti('c1', 'j1', at(600_000)), true, 'the earlier record has expired');
      assert.equal(await store.recordJti('c1', 'j1', at(600_000)), false);
    });

    it('pruneExpired removes expired sessions, idle sessions and expired jtis only', async (store) => {
      const u = await store.createUser({ username: 'erin', passwordHash: 'h', roles: [] });
      assert.ok(u.kind === 'created');
      await store.createSession(session('old', u.user.id, 0, 1000));
      await store.createSession(session('idle', u.user.id, 0, 3_600_000));
      await store.createSession({ ...session('live', u.user.id, 0, 3_600_000), lastSeenAt: at(50_000) });
      await store.recordJti('c', 'a', at(1000));
      await store.recordJti('c', 'b', at(100_000));
      assert.deepEqual(await store.pruneExpired(at(2000)), { sessions: 1, jtis: 1 });
      assert.deepEqual(await store.pruneExpired(at(2000), { idleBefore: at(10_000) }), { sessions: 1, jtis: 0 });
      assert.ok((await store.getSession('live')) !== undefined);
      assert.equal(await store.getSession('idle'), undefined);
      assert.equal(await store.recordJti('c', 'b', at(100_000)), false, 'live jti kept');
    });
  });
}
