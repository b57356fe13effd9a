// Public FHIR data through the API: the official R4 examples and the US Core examples PUT by their
// ids, the Synthea patient bundles POSTed as transactions, then searched back. Read from
// SWITCHBOARD_CORPUS (default ../shared/corpus); skipped with a reason when absent. The counts are
// printed as diagnostics; known-invalid official examples are listed with the location of the issue.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { supportedResourceTypes } from '../src/fhir/capability-statement.ts';
import { startFhirTestServer, type FhirTestServer } from '../src/api/fhir/fhir-test-support.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const corpus = resolve(repoRoot, process.env['SWITCHBOARD_CORPUS'] ?? '../shared/corpus', 'fhir');
const json = { 'content-type': 'application/fhir+json' };

let server: FhirTestServer;

before(async () => {
  server = await startFhirTestServer();
});
after(async () => {
  await server.close();
});

function jsonFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'package.json')
    .sort()
    .map((f) => join(dir, f));
}

interface LoadReport {
  loaded: number;
  skipped: Map<string, number>;
  invalid: string[];
  failed: string[];
}

/** PUTs each resource by its id, a few at a time. */
async function putAll(files: readonly string[], query = ''): Promise<LoadReport> {
  const report: LoadReport = { loaded: 0, skipped: new Map(), invalid: [], failed: [] };
  const skip = (reason: string): void => {
    report.skipped.set(reason, (report.skipped.get(reason) ?? 0) + 1);
  };
  const queue = [...files];
  const worker = async (): Promise<void> => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const resource = JSON.parse(readFileSync(file, 'utf8')) as Json;
      const type = resource['resourceType'] as string;
      if (!supportedResourceTypes().has(type)) {
        skip(`type ${type} not served`);
        continue;
      }
      if (typeof resource['id'] !== 'string') {
        skip('no id to PUT by');
        continue;
      }
      if (type === 'AuditEvent') {
        // Audit records are written by the server only: a PUT must be refused (405), never stored.
        const refused = await fetch(`${server.baseUrl}/${type}/${encodeURIComponent(resource['id'])}${query}`, { method: 'PUT', headers: json, body: JSON.stringify(resource) });
        await refused.text();
        if (refused.status === 405) skip('AuditEvent: written by the server only (405 checked)');
        else report.failed.push(`${file.split('/').pop() ?? ''}: AuditEvent PUT answered ${refused.status}, not 405`);
        continue;
      }
      const res = await fetch(`${server.baseUrl}/${type}/${encodeURIComponent(resource['id'])}${query}`, { method: 'PUT', headers: json, body: JSON.stringify(resource) });
      const body = (await res.json()) as Json;
      if (res.status === 201 || res.status === 200) report.loaded++;
      else if (res.status === 422) {
        const where = ((body['issue'] as Json[]).slice(1, 3).map((i) => `${(i['expression'] as string[] | undefined)?.[0] ?? ''}: ${i['diagnostics'] as string}`)).join('; ');
        report.invalid.push(`${file.split('/').pop() ?? ''} (${where})`);
      } else report.failed.push(`${file.split('/').pop() ?? ''}: ${res.status} ${JSON.stringify(body['issue']?.[0]?.['diagnostics'])}`);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return report;
}

async function search(path: string): Promise<Json> {
  const res = await fetch(`${server.baseUrl}/${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as Json;
}

const ids = (bundle: Json): string[] => ((bundle['entry'] ?? []) as Json[]).filter((e) => e['search']?.['mode'] === 'match').map((e) => e['resource']['id'] as string);

test('the FHIR R4 spec examples load by PUT and search back', async (t) => {
  const dir = join(corpus, 'r4-spec-examples', 'instances');
  if (!existsSync(dir)) {
    t.skip(`no R4 examples at ${dir}`);
    return;
  }
  const report = await putAll(jsonFiles(dir));
  t.diagnostic(`R4 examples: ${report.loaded} loaded, ${report.invalid.length} refused by the structural validator, ${[...report.skipped].map(([r, n]) => `${n} skipped (${r})`).join(', ')}`);
  for (const line of report.invalid) t.diagnostic(`invalid official example: ${line}`);
  assert.deepEqual(report.failed, [], 'every answer is 201/200 or a 422 validation outcome');
  assert.ok(report.loaded >= 600, `at least 600 loaded, got ${report.loaded}`);
  assert.ok(ids(await search('Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345')).includes('example'));
  assert.ok(ids(await search('Observation?patient=example&code=http://loinc.org|29463-7')).includes('example'));
});

test('the US Core examples load by PUT, and pass the US Core rules on request', async (t) => {
  const dir = join(corpus, 'us-core-examples');
  if (!existsSync(dir)) {
    t.skip(`no US Core examples at ${dir}`);
    return;
  }
  const files = jsonFiles(dir);
  const report = await putAll(files);
  t.diagnostic(`US Core examples: ${report.loaded} loaded, ${report.invalid.length} refused, ${[...report.skipped].map(([r, n]) => `${n} skipped (${r})`).join(', ')}`);
  for (const line of report.invalid) t.diagnostic(`refused: ${line}`);
  assert.deepEqual(report.failed, []);
  assert.ok(report.loaded >= files.length - 5, `${report.loaded} of ${files.length}`);
  const profiled = await putAll(files, '?_validate-profile=true');
  t.diagnostic(`US Core examples with _validate-profile=true: ${profiled.loaded} pass, ${profiled.invalid.length} refused`);
  for (const line of profiled.invalid) t.diagnostic(`US Core rule: ${line}`);
  assert.deepEqual(profiled.failed, []);
  const pat = (await fetch(`${server.baseUrl}/Patient/example`).then((r) => r.json())) as Json;
  const mrn = (pat['identifier'] as Json[])[0] as Json;
  assert.ok(ids(await search(`Patient?identifier=${encodeURIComponent(`${mrn['system'] as string}|${mrn['value'] as string}`)}`)).includes('example'));
});

test('the Synthea bundles load as transactions and search back', async (t) => {
  const dir = join(corpus, 'synthea');
  if (!existsSync(dir)) {
    t.skip(`no Synthea bundles at ${dir}`);
    return;
  }
  let bundles = 0;
  let entries = 0;
  let checkedPatients = 0;
  for (const file of jsonFiles(dir)) {
    const bundle = JSON.parse(readFileSync(file, 'utf8')) as Json;
    const res = await fetch(server.baseUrl, { method: 'POST', headers: json, body: JSON.stringify(bundle) });
    const body = (await res.json()) as Json;
    assert.equal(res.status, 200, `${file.split('/').pop() ?? ''}: ${JSON.stringify(body['issue']?.slice(0, 2))}`);
    assert.equal(body['type'], 'transaction-response');
    const responses = body['entry'] as Json[];
    assert.equal(responses.length, (bundle['entry'] as Json[]).length);
    assert.ok(responses.every((e) => e['response']['status'] === '201 Created'));
    bundles++;
    entries += responses.length;

    // Search the patient back by identifier, and its Observations by patient + code.
    const index = (bundle['entry'] as Json[]).findIndex((e) => e['resource']['resourceType'] === 'Patient');
    if (index === -1) continue;
    const source = (bundle['entry'] as Json[])[index]?.['resource'] as Json;
    const patientId = (responses[index]?.['response']['location'] as string).split('/')[1] as string;
    const identifier = (source['identifier'] as Json[]).find((i) => typeof i['system'] === 'string' && typeof i['value'] === 'string') as Json;
    assert.ok(ids(await search(`Patient?identifier=${encodeURIComponent(`${identifier['system'] as string}|${identifier['value'] as string}`)}`)).includes(patientId));
    const observations = (bundle['entry'] as Json[]).map((e) => e['resource'] as Json).filter((r) => r['resourceType'] === 'Observation');
    const code = (observations[0]?.['code']?.['coding'] as Json[] | undefined)?.find((c) => c['system'] === 'http://loinc.org')?.['code'] as string | undefined;
    if (code === undefined) continue;
    const expected = observations.filter((o) => (o['code']['coding'] as Json[]).some((c) => c['system'] === 'http://loinc.org' && c['code'] === code)).length;
    const found = await search(`Observation?patient=${patientId}&code=${encodeURIComponent(`http://loinc.org|${code}`)}&_count=1000&_total=accurate`);
    assert.equal(found['total'], expected);
    checkedPatients++;
  }
  t.diagnostic(`Synthea: ${bundles} transaction bundles, ${entries} entries created; ${checkedPatients} patients searched back by identifier and Observation by patient+code`);
  assert.ok(bundles >= 30);
});
