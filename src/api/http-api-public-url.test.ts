import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Store } from '../core/ports/store.ts';
import { openStore } from '../store/open-store.ts';
import { buildHttpApi } from './http-api.ts';
import { engineResourceIndexer } from './engine-indexer.ts';

// The FHIR API's absolute URLs come from the configured public URL when there is one
// (`switchboard start --public-url`), never from the Host header a client sends.

describe('HTTP API: the FHIR base URL', () => {
  let dir: string;
  let store: Store;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'swb-public-url-'));
    store = await openStore(`sqlite:${path.join(dir, 'engine.db')}`, { resourceIndexer: engineResourceIndexer() });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = async (publicUrl: string | undefined): Promise<{ location: string | undefined; next: string | undefined }> => {
    const app = buildHttpApi({ registry: new Registry(), store, webConsole: false, ...(publicUrl === undefined ? {} : { publicUrl }) });
    try {
      const headers = { host: 'attacker.example', 'content-type': 'application/fhir+json' };
      const created = await app.inject({ method: 'POST', url: '/fhir/R4/Patient', headers, payload: { resourceType: 'Patient', gender: 'unknown' } });
      assert.equal(created.statusCode, 201, created.body);
      await app.inject({ method: 'POST', url: '/fhir/R4/Patient', headers, payload: { resourceType: 'Patient', gender: 'other' } });
      const page = await app.inject({ method: 'GET', url: '/fhir/R4/Patient?_count=1', headers });
      const links = (JSON.parse(page.body) as { link?: Array<{ relation: string; url: string }> }).link ?? [];
      return { location: created.headers['location'] as string | undefined, next: links.find((l) => l.relation === 'next')?.url };
    } finally {
      await app.close();
    }
  };

  it('with a public URL: Location and paging links use it, whatever the Host header says', async () => {
    const { location, next } = await create('https://fhir.hospital.example/');
    assert.match(location ?? '', /^https:\/\/fhir\.hospital\.example\/fhir\/R4\/Patient\/[^/]+\/_history\/1$/);
    assert.ok(next?.startsWith('https://fhir.hospital.example/fhir/R4/Patient?'), next);
  });

  it('without one: they follow the request (an embedded or test server)', async () => {
    const { location, next } = await create(undefined);
    assert.ok(location?.startsWith('http://attacker.example/fhir/R4/Patient/'), location);
    assert.ok(next?.startsWith('http://attacker.example/fhir/R4/Patient?'), next);
  });
});
