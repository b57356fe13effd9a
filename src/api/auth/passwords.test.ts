import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateSecret, hashPassword, hashSecret, needsRehash, passwordProblem, verifyAgainstDummy, verifyPassword } from './passwords.ts';

describe('password hashing', () => {
  test('scrypt encoding: versioned parameters N=2^15 r=8 p=1, 16-byte salt, 32-byte key', async () => {
    const h = await hashPassword('correct horse battery staple');
    const parts = h.split('$');
    assert.equal(parts.length, 6);
    assert.deepEqual(parts.slice(0, 4), ['scrypt', '32768', '8', '1']);
    assert.equal(Buffer.from(parts[4] as string, 'base64url').length, 16);
    assert.equal(Buffer.from(parts[5] as string, 'base64url').length, 32);
    assert.equal(needsRehash(h), false);
  });

  test('verify: the right password true, a wrong one false; two users with one password get different hashes', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    assert.notEqual(a, b, 'per-user salt');
    assert.equal(await verifyPassword('correct horse battery staple', a), true);
    assert.equal(await verifyPassword('correct horse battery staple', b), true);
    assert.equal(await verifyPassword('correct horse battery stapler', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  test('Unicode is normalized (NFKC): a composed and a decomposed é match', async () => {
    const h = await hashPassword('caf\u00e9 au lait, s\u2019il vous pla\u00eet');
    assert.equal(await verifyPassword('cafe\u0301 au lait, s\u2019il vous pla\u00eet', h), true);
  });

  test('a malformed or hostile stored hash verifies false, never throws or runs away', async () => {
    assert.equal(await verifyPassword('x', 'plain-text-password'), false);
    assert.equal(await verifyPassword('x', 'scrypt$1048576000$8$1$c2FsdA$aGFzaA'), false, 'N out of bounds');
    assert.equal(await verifyPassword('x', 'scrypt$32768$8$1$$'), false);
    assert.equal(await verifyPassword('x'.repeat(5000), await hashPassword('short one here')), false, 'overlong input');
    assert.equal(needsRehash('scrypt$16384$8$1$c2FsdA$aGFzaA'), true, 'weaker than today');
    await assert.rejects(hashPassword('x', { log2N: 10 }), RangeError);
  });

  test('machine secrets: HMAC encoding, verified by the same function', async () => {
    const secret = generateSecret();
    assert.equal(secret.length, 43);
    const h = hashSecret(secret);
    assert.match(h, /^hmac-sha256\$/);
    assert.notEqual(h, hashSecret(secret));
    assert.equal(await verifyPassword(secret, h), true);
    assert.equal(await verifyPassword(`${secret}x`, h), false);
  });

  test('the dummy verification always fails', async () => {
    assert.equal(await verifyAgainstDummy('anything at all'), false);
  });

  test('new password rules: length, not the username, not the current one', () => {
    assert.match(passwordProblem('short') ?? '', /12 characters/);
    assert.match(passwordProblem('my-name-is-alice-ok', { username: 'alice' }) ?? '', /username/);
    assert.match(passwordProblem('same old password', { current: 'same old password' }) ?? '', /differ/);
    assert.equal(passwordProblem('a perfectly good passphrase', { username: 'alice', current: 'old one' }), undefined);
  });
});
