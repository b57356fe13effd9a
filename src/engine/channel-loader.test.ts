import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadChannelFile } from './channel-loader.ts';

test('a channel revision hash covers its tenant mapping file and the code map CSVs it names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-loader-'));
  const channel = join(dir, 'lab.yaml');
  writeFileSync(channel, 'id: lab\nsource: {kind: mllp}\ndestinations:\n  - {name: fhir, kind: file, transformers: [{toFhir: {tenant: north.yaml}}]}\n');
  writeFileSync(join(dir, 'north.yaml'), 'tenant: north\ncodeMaps:\n  - {name: lab, fields: [OBX-3], file: codes.csv}\n');
  writeFileSync(join(dir, 'codes.csv'), 'sourceSystem,sourceCode,targetSystem,targetCode\n99LAB,GLU,http://loinc.org,2345-7\n');
  const first = await loadChannelFile(channel);
  assert.equal((await loadChannelFile(channel)).hash, first.hash);
  writeFileSync(join(dir, 'codes.csv'), 'sourceSystem,sourceCode,targetSystem,targetCode\n99LAB,GLU,http://loinc.org,2339-0\n');
  const csvChanged = await loadChannelFile(channel);
  assert.notEqual(csvChanged.hash, first.hash);
  assert.equal(csvChanged.document, first.document);
  writeFileSync(join(dir, 'north.yaml'), 'tenant: north\ntimezone: Europe/Paris\ncodeMaps:\n  - {name: lab, fields: [OBX-3], file: codes.csv}\n');
  assert.notEqual((await loadChannelFile(channel)).hash, csvChanged.hash);
});
