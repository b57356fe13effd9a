import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTokenIssuer } from './tokens.ts';

const ISS = 'https://switchboard.test';
const AUD = 'https://switchboard.test/fhir/R4';

describe('access tokens', () => {
  test('issue then verify round-trips the claims (ES256 generated, and EdDSA)', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const issuer = await createTokenIssuer({ generate: true, alg, issuer: ISS, audience: AUD });
      const t = await issuer.issue({ sub: 'lab-app', clientId: 'lab-app', scopes: ['system/Observation.rs'], roles: ['operator'], patient: 'p1' });
      assert.equal(t.expiresIn, 300);
      const header = JSON.parse(Buffer.from(t.accessToken.split('.')[0] as string, 'base64url').toString()) as Record<string, string>;
      assert.equal(header['alg'], alg);
      assert.equal(header['typ'], 'at+jwt');
      const claims = await issuer.verify(t.accessToken);
      assert.equal(claims.sub, 'lab-app');
      assert.equal(claims.clientId, 'lab-app');
      assert.deepEqual(claims.scopes, ['system/Observation.rs']);
      assert.deepEqual(claims.roles, ['operator']);
      assert.equal(claims.patient, 'p1');
      assert.equal(claims.jti, t.jti);
      assert.equal(claims.expiresAt.getTime() - claims.issuedAt.getTime(), 300_000);
    }
  });

  test('a kept key pair reloads: tokens from before verify after a restart', async () => {
    const first = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD });
    const kept = JSON.parse(JSON.stringify(first.exportKeyPair())) as ReturnType<typeof first.exportKeyPair>;
    assert.equal(first.publicJwks().keys[0]?.['d'], undefined, 'the public set has no private member');
    const t = await first.issue({ sub: 'u1', scopes: [], roles: ['admin'] });
    const second = await createTokenIssuer({ keyPair: kept, issuer: ISS, audience: AUD });
    assert.equal((await second.verify(t.accessToken)).sub, 'u1');
  });

  test('expired (beyond 30 s of skew) -> SWB_ERR_AUTH_TOKEN_EXPIRED; within the skew still valid', async () => {
    let now = Date.parse('2026-03-01T09:00:00Z');
    const issuer = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD, ttlSeconds: 60, clock: () => new Date(now) });
    const t = await issuer.issue({ sub: 'c', clientId: 'c', scopes: [], roles: [] });
    now += 60_000 + 20_000;
    assert.equal((await issuer.verify(t.accessToken)).sub, 'c');
    now += 20_000;
    await assert.rejects(issuer.verify(t.accessToken), { code: 'SWB_ERR_AUTH_TOKEN_EXPIRED' });
  });

  test('a token for another audience or from another issuer, or signed by another key, is refused', async () => {
    const ours = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD });
    const otherAudience = await createTokenIssuer({ keyPair: ours.exportKeyPair(), issuer: ISS, audience: 'https://elsewhere.test' });
    const otherIssuer = await createTokenIssuer({ keyPair: ours.exportKeyPair(), issuer: 'https://evil.test', audience: AUD });
    const otherKey = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD });
    const input = { sub: 'c', scopes: [], roles: [] };
    await assert.rejects(ours.verify((await otherAudience.issue(input)).accessToken), { code: 'SWB_ERR_AUTH_TOKEN_AUDIENCE' });
    await assert.rejects(ours.verify((await otherIssuer.issue(input)).accessToken), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
    await assert.rejects(ours.verify((await otherKey.issue(input)).accessToken), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
  });

  test('tampered payload, stripped signature and garbage are SWB_ERR_AUTH_TOKEN_INVALID', async () => {
    const issuer = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD });
    const t = (await issuer.issue({ sub: 'c', clientId: 'c', scopes: ['system/Patient.r'], roles: [] })).accessToken;
    const [h, p, s] = t.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    payload['scope'] = 'system/*.cruds';
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    await assert.rejects(issuer.verify(tampered), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
    await assert.rejects(issuer.verify(`${h}.${p}.`), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
    const none = `${Buffer.from('{"alg":"none","typ":"at+jwt"}').toString('base64url')}.${p}.`;
    await assert.rejects(issuer.verify(none), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
    await assert.rejects(issuer.verify('garbage'), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
  });
  test('a verified token is remembered until its exp, never past it; the cache is bounded', async () => {
    let now = Date.parse('2026-03-01T09:00:00Z');
    const issuer = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD, ttlSeconds: 60, clock: () => new Date(now), verifiedCacheSize: 1 });
    const a = (await issuer.issue({ sub: 'a', clientId: 'a', scopes: ['system/Patient.r'], roles: [] })).accessToken;
    const b = (await issuer.issue({ sub: 'b', clientId: 'b', scopes: [], roles: [] })).accessToken;
    const first = await issuer.verify(a);
    assert.equal(await issuer.verify(a), first, 'the same claims, from the cache');
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.scopes), 'shared claims cannot be changed by a caller');
    // Bounded (size 1 here): b pushes a out, so a is verified again (new claims object).
    await issuer.verify(b);
    const again = await issuer.verify(a);
    assert.notEqual(again, first);
    assert.deepEqual(again, first);
    // Past exp (and the 30 s skew) the cached entry is not used: jose's EXPIRED, as without a cache.
    now += 60_000 + 31_000;
    await assert.rejects(issuer.verify(a), { code: 'SWB_ERR_AUTH_TOKEN_EXPIRED' });
    // A clock set back before the verification does not reuse it either (nbf/iat are checked again).
    now = Date.parse('2026-03-01T08:00:00Z');
    await assert.rejects(issuer.verify(a), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
  });

  test('verifiedCached answers what verify would at once for a token verified and still valid, and nothing for any other', async () => {
    let now = Date.parse('2026-03-01T09:00:00Z');
    const issuer = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD, ttlSeconds: 60, clock: () => new Date(now) });
    const a = (await issuer.issue({ sub: 'a', clientId: 'a', scopes: ['system/Patient.r'], roles: [] })).accessToken;
    assert.equal(issuer.verifiedCached?.(a), undefined, 'not verified yet');
    const claims = await issuer.verify(a);
    assert.equal(issuer.verifiedCached?.(a), claims);
    assert.equal(issuer.verifiedCached?.(a), claims, 'again (the last token found, compared by text)');
    const [h, p, sig] = a.split('.') as [string, string, string];
    assert.equal(issuer.verifiedCached?.(`${h}.${p}.${sig.slice(0, -2)}AA`), undefined, 'a tampered copy');
    // Its exp reached: no answer (verify then runs jose, which refuses it).
    now += 60_000;
    assert.equal(issuer.verifiedCached?.(a), undefined);
    // A clock set back before the verification: no answer either.
    now = Date.parse('2026-03-01T08:00:00Z');
    assert.equal(issuer.verifiedCached?.(a), undefined);
  });

  test('the token used last stays cached while others come and go (bounded, least recently used out)', async () => {
    const issuer = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD, verifiedCacheSize: 2 });
    const token = async (sub: string): Promise<string> => (await issuer.issue({ sub, clientId: sub, scopes: [], roles: [] })).accessToken;
    const [a, b, c] = [await token('a'), await token('b'), await token('c')];
    const first = await issuer.verify(a);
    assert.equal(await issuer.verify(a), first);
    const bFirst = await issuer.verify(b);
    // a is used again: the most recent now, b the least.
    assert.equal(await issuer.verify(a), first);
    await issuer.verify(c);
    assert.equal(await issuer.verify(a), first, 'a kept');
    assert.equal(issuer.verifiedCached?.(b), undefined, 'b, the least recently used, went out');
    assert.notEqual(await issuer.verify(b), bFirst);
  });

  test('a forged token is never remembered: a tampered copy of a cached token is refused', async () => {
    const issuer = await createTokenIssuer({ generate: true, issuer: ISS, audience: AUD });
    const t = (await issuer.issue({ sub: 'c', clientId: 'c', scopes: ['system/Patient.r'], roles: [] })).accessToken;
    await issuer.verify(t);
    const [h, p, sig] = t.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'system/*.cruds' })).toString('base64url')}.${sig}`;
    await assert.rejects(issuer.verify(forged), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
    await assert.rejects(issuer.verify(forged), { code: 'SWB_ERR_AUTH_TOKEN_INVALID' });
  });
});
