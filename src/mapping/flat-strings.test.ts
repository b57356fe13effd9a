import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { flatJoin2, flatJoin5, JoinCache } from './flat-strings.ts';

describe('flat strings', () => {
  it('joins as concatenation does', () => {
    assert.equal(flatJoin2('Patient', '/', 'abc'), 'Patient/abc');
    assert.equal(flatJoin2('urn:uuid', ':', ''), 'urn:uuid:');
    assert.equal(flatJoin5('a', 'bb', '', 'd', 'e', '-'), 'a-bb--d-e');
  });

  it('JoinCache gives a + sep + b (b percent-encoded when asked), the same on every call and after it is cleared', () => {
    const plain = new JoinCache(':');
    const encoded = new JoinCache(':id:', { encodeURIComponent: true });
    for (let i = 0; i < 2; i++) {
      assert.equal(plain.get('urn:oid', '2.16.840.1'), 'urn:oid:2.16.840.1');
      assert.equal(encoded.get('urn:switchboard:local', 'St Mary/West'), 'urn:switchboard:local:id:St%20Mary%2FWest');
    }
    // Bounded: past its limit it starts over and still answers right.
    for (let i = 0; i < 6000; i++) assert.equal(plain.get('p', String(i)), `p:${i}`);
    assert.equal(plain.get('urn:oid', '2.16.840.1'), 'urn:oid:2.16.840.1');
    // A limit of its own (v2TableUri's), the same answers past it.
    const small = new JoinCache('-', { limit: 3 });
    for (let i = 0; i < 10; i++) assert.equal(small.get('v2', String(i % 5).padStart(4, '0')), `v2-000${i % 5}`);
  });
});
