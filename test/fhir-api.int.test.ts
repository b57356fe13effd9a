// The FHIR R4 API driven by an independent client (fhir-kit-client, npm) against a real server on a
// socket, over the SQLite resource store on a temporary file. Test data is written here; the names
// (ZZFHIR*) are markers that must never reach a log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, type FhirResource } from 'fhir-kit-client';
import { startFhirTestServer, type FhirTestServer } from '../src/api/fhir/fhir-test-support.ts';
import type { FhirAccess } from '../src/api/fhir/fhir-routes.ts';
import { SwitchboardError } from '../src/core/errors.ts';

let server: FhirTestServer;
let client: Client;

before(async () => {
  server = await startFhirTestServer();
  client = new Client({ baseUrl: server.baseUrl });
});

after(async () => {
  await server.close();
});

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Json = { resourceType: string } & Obj;

/** The HTTP status and body of a rejected fhir-kit-client call. */
async function failure(call: Promise<unknown>): Promise<{ status: number; data: Json }> {
  try {
    await call;
  } catch (error) {
    const response = (error as { response?: { status: number; data: Json } }).response;
    if (response !== undefined) return response;
    throw error;
  }
  assert.fail('the call succeeded; a failure was expected');
}

function headersOf(result: FhirResource): Headers {
  const response = Client.httpFor(result).response;
  assert.ok(response !== undefined);
  return response.headers;
}

/** An OperationOutcome carrying our code in issue.details.coding (urn:switchboard:error). */
function assertOutcome(body: Json, code: string): void {
  assert.equal(body['resourceType'], 'OperationOutcome');
  const codes = (body['issue'] as Json[]).flatMap((i) => (i['details']?.['coding'] ?? []) as Json[]).filter((c) => c['system'] === 'urn:switchboard:error').map((c) => c['code']);
  assert.ok(codes.includes(code), `expected ${code}, got ${codes.join(', ')}`);
}

const raw = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${server.baseUrl}/${path}`, init);
const json = { 'content-type': 'application/fhir+json' };

function patient(family: string, extra: Obj = {}): Json {
  return { resourceType: 'Patient', name: [{ family, given: ['Ann'] }], ...extra };
}

async function searchIds(resourceType: string, searchParams: Record<string, string | string[]>): Promise<string[]> {
  const bundle = (await client.search({ resourceType, searchParams })) as Json;
  return ((bundle['entry'] ?? []) as Json[]).filter((e) => e['search']?.['mode'] === 'match').map((e) => e['resource']['id'] as string);
}

describe('metadata', () => {
  test('a truthful CapabilityStatement', async () => {
    const cs = (await client.capabilityStatement()) as Json;
    assert.equal(cs['resourceType'], 'CapabilityStatement');
    assert.equal(cs['fhirVersion'], '4.0.1');
    assert.ok((cs['format'] as string[]).includes('application/fhir+json'));
    assert.ok(!(cs['format'] as string[]).some((f) => f.includes('xml')));
    const rest = (cs['rest'] as Json[])[0] as Json;
    assert.deepEqual((rest['interaction'] as Json[]).map((i) => i['code']).sort(), ['batch', 'history-system', 'transaction']);
    const pat = (rest['resource'] as Json[]).find((r) => r['type'] === 'Patient') as Json;
    assert.deepEqual((pat['interaction'] as Json[]).map((i) => i['code']).sort(), ['create', 'delete', 'history-instance', 'history-type', 'read', 'search-type', 'update', 'vread']);
    assert.equal(pat['versioning'], 'versioned-update');
    assert.equal(pat['readHistory'], true);
    assert.equal(pat['conditionalCreate'], true);
    assert.equal(pat['conditionalDelete'], 'single');
    const params = new Map((pat['searchParam'] as Json[]).map((p) => [p['name'], p['type']]));
    for (const [name, type] of [['identifier', 'token'], ['name', 'string'], ['birthdate', 'date'], ['_id', 'token'], ['_lastUpdated', 'date']]) assert.equal(params.get(name), type, name);
    assert.ok(!params.has('phonetic'), 'phonetic is not honoured, so not advertised');
    assert.ok((pat['searchRevInclude'] as string[]).includes('Observation:subject'));
    const obs = (rest['resource'] as Json[]).find((r) => r['type'] === 'Observation') as Json;
    assert.ok((obs['searchInclude'] as string[]).includes('Observation:patient'));
    assert.ok((obs['searchParam'] as Json[]).some((p) => p['name'] === 'value-quantity' && p['type'] === 'quantity'));
  });
});

describe('metadata caching', () => {
  test('GET /metadata carries an ETag of the statement; If-None-Match with it gets 304 and no body, another tag the statement', async () => {
    const first = await fetch(`${server.baseUrl}/metadata`);
    assert.equal(first.status, 200);
    const text = await first.text();
    const etag = first.headers.get('etag');
    assert.match(etag ?? '', /^W\/"[A-Za-z0-9_-]{22}"$/);
    const again = await fetch(`${server.baseUrl}/metadata`, { headers: { 'if-none-match': etag as string } });
    assert.equal(again.status, 304);
    assert.equal(await again.text(), '');
    assert.equal(again.headers.get('etag'), etag);
    // The strong form and a list that holds it match too (RFC 9110 13.1.2: weak comparison).
    assert.equal((await fetch(`${server.baseUrl}/metadata`, { headers: { 'if-none-match': `"other", ${(etag as string).slice(2)}` } })).status, 304);
    const other = await fetch(`${server.baseUrl}/metadata`, { headers: { 'if-none-match': 'W/"not-this-one"' } });
    assert.equal(other.status, 200);
    assert.equal(await other.text(), text);
  });
});

describe('CRUD, versions and history', () => {
  test('create, read, update, vread, history, delete then 410, with ETag / Last-Modified / Location', async () => {
    const created = (await client.create({ resourceType: 'Patient', body: patient('ZZFHIRCRUD', { gender: 'female' }) })) as Json;
    const id = created['id'] as string;
    assert.equal(created['meta']['versionId'], '1');
    const h = headersOf(created as FhirResource);
    assert.equal(Client.httpFor(created as FhirResource).response?.status, 201);
    assert.equal(h.get('etag'), 'W/"1"');
    assert.equal(h.get('location'), `${server.baseUrl}/Patient/${id}/_history/1`);
    assert.match(h.get('content-type') ?? '', /^application\/fhir\+json; charset=utf-8$/);
    assert.equal(new Date(h.get('last-modified') ?? '').toUTCString(), h.get('last-modified'));

    const read = (await client.read({ resourceType: 'Patient', id })) as Json;
    assert.equal(read['name'][0]['family'], 'ZZFHIRCRUD');
    assert.equal(headersOf(read as FhirResource).get('etag'), 'W/"1"');

    const updated = (await client.update({ resourceType: 'Patient', id, body: { ...read, gender: 'male' } })) as Json;
    assert.equal(updated['meta']['versionId'], '2');
    assert.equal(Client.httpFor(updated as FhirResource).response?.status, 200);
    assert.equal(headersOf(updated as FhirResource).get('location'), `${server.baseUrl}/Patient/${id}/_history/2`);

    const v1 = (await client.vread({ resourceType: 'Patient', id, version: '1' })) as Json;
    assert.equal(v1['gender'], 'female');
    const v2 = (await client.vread({ resourceType: 'Patient', id, version: '2' })) as Json;
    assert.equal(v2['gender'], 'male');

    await client.delete({ resourceType: 'Patient', id });
    const gone = await failure(client.read({ resourceType: 'Patient', id }));
    assert.equal(gone.status, 410);
    assertOutcome(gone.data, 'SWB_ERR_FHIR_GONE');
    // Kept in history: the old versions still read, and the history shows the delete first.
    assert.equal(((await client.vread({ resourceType: 'Patient', id, version: '1' })) as Json)['gender'], 'female');
    const history = (await client.resourceHistory({ resourceType: 'Patient', id })) as Json;
    assert.equal(history['type'], 'history');
    const entries = history['entry'] as Json[];
    assert.deepEqual(entries.map((e) => e['request']['method']), ['DELETE', 'PUT', 'POST']);
    assert.deepEqual(entries.map((e) => e['response']['etag']), ['W/"3"', 'W/"2"', 'W/"1"']);
    // A repeated delete is 204 again; a resource that never existed is 404.
    assert.equal((await raw(`Patient/${id}`, { method: 'DELETE' })).status, 204);
    assert.equal((await raw('Patient/never-was', { method: 'DELETE' })).status, 404);
    // Update on a deleted resource brings it back as version 4 (update as create).
    const back = await raw(`Patient/${id}`, { method: 'PUT', headers: json, body: JSON.stringify(patient('ZZFHIRCRUD', { id })) });
    assert.equal(back.status, 201);
    assert.equal(back.headers.get('etag'), 'W/"4"');
  });

  test('update as create with a client-chosen id; type and system history', async () => {
    const put = (await client.update({ resourceType: 'Patient', id: 'client-chosen-1', body: patient('ZZFHIRPUT', { id: 'client-chosen-1' }) })) as Json;
    assert.equal(Client.httpFor(put as FhirResource).response?.status, 201);
    assert.equal(put['id'], 'client-chosen-1');
    const typeHistory = (await client.typeHistory({ resourceType: 'Patient' })) as Json;
    assert.ok((typeHistory['entry'] as Json[]).some((e) => e['resource']?.['id'] === 'client-chosen-1'));
    const systemHistory = (await client.history()) as Json;
    assert.equal(systemHistory['type'], 'history');
    assert.ok((systemHistory['entry'] as Json[]).length > 0);
    const notThere = await failure(client.resourceHistory({ resourceType: 'Patient', id: 'no-such-patient' }));
    assert.equal(notThere.status, 404);
  });

  test('If-Match: a stale version is 412, the current one succeeds', async () => {
    const created = (await client.create({ resourceType: 'Patient', body: patient('ZZFHIRMATCH') })) as Json;
    const id = created['id'] as string;
    await client.update({ resourceType: 'Patient', id, body: { ...created, gender: 'other' }, options: { headers: { 'if-match': 'W/"1"' } } });
    const stale = await failure(client.update({ resourceType: 'Patient', id, body: { ...created, gender: 'unknown' }, options: { headers: { 'if-match': 'W/"1"' } } }));
    assert.equal(stale.status, 412);
    assertOutcome(stale.data, 'SWB_ERR_FHIR_VERSION_CONFLICT');
    const ok = (await client.update({ resourceType: 'Patient', id, body: { ...created, gender: 'unknown' }, options: { headers: { 'if-match': 'W/"2"' } } })) as Json;
    assert.equal(ok['meta']['versionId'], '3');
    const staleDelete = await raw(`Patient/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"2"' } });
    assert.equal(staleDelete.status, 412);
  });

  test('If-None-Match on read answers 304 for the current version', async () => {
    const created = (await client.create({ resourceType: 'Patient', body: patient('ZZFHIRNM') })) as Json;
    const res = await raw(`Patient/${created['id'] as string}`, { headers: { 'if-none-match': 'W/"1"' } });
    assert.equal(res.status, 304);
  });
});

describe('conditional interactions', () => {
  test('20 simultaneous conditional creates for one identifier yield exactly one resource', async () => {
    const body = patient('ZZFHIRCOND', { identifier: [{ system: 'urn:test:mrn', value: 'CC-20' }] });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => client.create({ resourceType: 'Patient', body, options: { headers: { 'if-none-exist': 'identifier=urn:test:mrn|CC-20' } } }) as Promise<Json>),
    );
    const statuses = results.map((r) => Client.httpFor(r as FhirResource).response?.status).sort();
    assert.deepEqual(statuses, [200, ...Array<number>(18).fill(200), 201].sort());
    assert.equal(new Set(results.map((r) => r['id'])).size, 1);
    assert.deepEqual(await searchIds('Patient', { identifier: 'urn:test:mrn|CC-20' }), [results[0]?.['id']]);
  });

  test('conditional update creates, then updates the match; several matches are 412', async () => {
    const body = patient('ZZFHIRCU', { identifier: [{ system: 'urn:test:mrn', value: 'CU-1' }] });
    const first = (await client.update({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:mrn|CU-1' }, body })) as Json;
    assert.equal(Client.httpFor(first as FhirResource).response?.status, 201);
    const second = (await client.update({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:mrn|CU-1' }, body: { ...body, gender: 'female' } })) as Json;
    assert.equal(Client.httpFor(second as FhirResource).response?.status, 200);
    assert.equal(second['id'], first['id']);
    assert.equal(second['meta']['versionId'], '2');
    const dup = { ...patient('ZZFHIRCU2'), identifier: [{ system: 'urn:test:dup', value: 'D' }] };
    await client.create({ resourceType: 'Patient', body: dup });
    await client.create({ resourceType: 'Patient', body: dup });
    const many = await failure(client.update({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:dup|D' }, body: dup }));
    assert.equal(many.status, 412);
    assertOutcome(many.data, 'SWB_ERR_FHIR_MULTIPLE_MATCHES');
    const manyCreate = await failure(client.create({ resourceType: 'Patient', body: dup, options: { headers: { 'if-none-exist': 'identifier=urn:test:dup|D' } } }));
    assert.equal(manyCreate.status, 412);
  });

  test('conditional delete removes the single match', async () => {
    const created = (await client.create({ resourceType: 'Patient', body: patient('ZZFHIRCD', { identifier: [{ system: 'urn:test:mrn', value: 'CD-1' }] }) })) as Json;
    const res = await raw('Patient?identifier=urn:test:mrn%7CCD-1', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal((await failure(client.read({ resourceType: 'Patient', id: created['id'] as string }))).status, 410);
  });
});

describe('errors are OperationOutcomes with our code', () => {
  test('400, 404, 406, 415, 422', async () => {
    const badJson = await raw('Patient', { method: 'POST', headers: json, body: '{"resourceType": "Patient", "name": [ZZFHIRSECRET' });
    assert.equal(badJson.status, 400);
    const badJsonBody = (await badJson.json()) as Json;
    assertOutcome(badJsonBody, 'SWB_ERR_FHIR_INVALID_JSON');
    assert.ok(!JSON.stringify(badJsonBody).includes('ZZFHIRSECRET'), 'the body is never echoed');

    const wrongType = await raw('Patient/x1', { method: 'PUT', headers: json, body: JSON.stringify({ resourceType: 'Observation', id: 'x1', status: 'final', code: { text: 't' } }) });
    assert.equal(wrongType.status, 400);
    assertOutcome((await wrongType.json()) as Json, 'SWB_ERR_FHIR_INVALID_REQUEST');
    const idMismatch = await raw('Patient/x1', { method: 'PUT', headers: json, body: JSON.stringify(patient('ZZFHIRID', { id: 'x2' })) });
    assert.equal(idMismatch.status, 400);
    const noId = await raw('Patient/x1', { method: 'PUT', headers: json, body: JSON.stringify(patient('ZZFHIRID')) });
    assert.equal(noId.status, 400);

    const unknownId = await failure(client.read({ resourceType: 'Patient', id: 'does-not-exist' }));
    assert.equal(unknownId.status, 404);
    assertOutcome(unknownId.data, 'SWB_ERR_FHIR_NOT_FOUND');
    const unknownType = await raw('Unicorn/1');
    assert.equal(unknownType.status, 404);
    assertOutcome((await unknownType.json()) as Json, 'SWB_ERR_FHIR_UNKNOWN_TYPE');

    const xml = await raw('Patient?_format=xml');
    assert.equal(xml.status, 406);
    assert.match(xml.headers.get('content-type') ?? '', /application\/fhir\+json/);
    assertOutcome((await xml.json()) as Json, 'SWB_ERR_FHIR_FORMAT_NOT_SUPPORTED');
    assert.equal((await raw('metadata', { headers: { accept: 'application/fhir+xml' } })).status, 406);
    const asJson = await raw('metadata?_format=json');
    assert.equal(asJson.status, 200);
    assert.equal(((await asJson.json()) as Json)['resourceType'], 'CapabilityStatement');

    const text = await raw('Patient', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(text.status, 415);
    assertOutcome((await text.json()) as Json, 'SWB_ERR_FHIR_MEDIA_TYPE');

    const invalid = await raw('Patient', { method: 'POST', headers: json, body: JSON.stringify(patient('ZZFHIRINVALID', { gender: 'sometimes', birthDate: 'last tuesday' })) });
    assert.equal(invalid.status, 422);
    const outcome = (await invalid.json()) as Json;
    assertOutcome(outcome, 'SWB_ERR_FHIR_VALIDATION_FAILED');
    const expressions = (outcome['issue'] as Json[]).flatMap((i) => (i['expression'] ?? []) as string[]);
    assert.ok(expressions.includes('Patient.gender'), expressions.join());
    assert.ok(expressions.includes('Patient.birthDate'), expressions.join());
    assert.ok(!JSON.stringify(outcome).includes('sometimes'), 'no value in the outcome');
  });

  test('unknown search parameters: strict by default, lenient on request', async () => {
    const strict = await failure(client.search({ resourceType: 'Patient', searchParams: { nmae: 'x' } }));
    assert.equal(strict.status, 400);
    assertOutcome(strict.data, 'SWB_ERR_FHIR_UNKNOWN_PARAMETER');
    // Indexed as a plain string, so not advertised and not accepted as `phonetic`.
    assert.equal((await failure(client.search({ resourceType: 'Patient', searchParams: { phonetic: 'smith' } }))).status, 400);
    const lenient = (await client.search({ resourceType: 'Patient', searchParams: { nmae: 'x', family: 'ZZFHIRNOBODY' }, options: { headers: { prefer: 'handling=lenient' } } })) as Json;
    const outcome = (lenient['entry'] as Json[]).find((e) => e['search']?.['mode'] === 'outcome');
    assert.ok(outcome !== undefined);
    assert.match(JSON.stringify(outcome), /nmae/);
  });

  test('Prefer: return=minimal and return=OperationOutcome', async () => {
    const minimal = await raw('Patient', { method: 'POST', headers: { ...json, prefer: 'return=minimal' }, body: JSON.stringify(patient('ZZFHIRMIN')) });
    assert.equal(minimal.status, 201);
    assert.equal(await minimal.text(), '');
    assert.match(minimal.headers.get('location') ?? '', /\/Patient\/[^/]+\/_history\/1$/);
    const oo = await raw('Patient', { method: 'POST', headers: { ...json, prefer: 'return=OperationOutcome' }, body: JSON.stringify(patient('ZZFHIRMIN')) });
    assert.equal(oo.status, 201);
    assert.equal(((await oo.json()) as Json)['resourceType'], 'OperationOutcome');
  });

  test('the request id is echoed', async () => {
    const res = await raw('metadata', { headers: { 'x-request-id': 'req-fhir-1' } });
    assert.equal(res.headers.get('x-request-id'), 'req-fhir-1');
    await res.arrayBuffer(); // an unread 600 kB body would hold the connection open past close()
    const head = await raw('metadata', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
  });
});

describe('Bundles', () => {
  test('transaction: urn:uuid references resolved, conditional-create results included, FHIR order', async () => {
    const existing = (await client.create({ resourceType: 'Practitioner', body: { resourceType: 'Practitioner', identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '9990001' }] } })) as Json;
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: 'Patient?identifier=urn:test:mrn|TX-1' } },
        {
          fullUrl: 'urn:uuid:0f1c2d3e-0000-4000-8000-000000000002',
          resource: { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] }, subject: { reference: 'urn:uuid:0f1c2d3e-0000-4000-8000-000000000001' }, performer: [{ reference: 'urn:uuid:0f1c2d3e-0000-4000-8000-000000000003' }] },
          request: { method: 'POST', url: 'Observation' },
        },
        {
          fullUrl: 'urn:uuid:0f1c2d3e-0000-4000-8000-000000000001',
          resource: patient('ZZFHIRTX', { identifier: [{ system: 'urn:test:mrn', value: 'TX-1' }], generalPractitioner: [{ reference: 'urn:uuid:0f1c2d3e-0000-4000-8000-000000000003' }] }),
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: 'urn:uuid:0f1c2d3e-0000-4000-8000-000000000003',
          resource: { resourceType: 'Practitioner', identifier: [{ system: 'http://hl7.org/fhir/sid/us-npi', value: '9990001' }] },
          request: { method: 'POST', url: 'Practitioner', ifNoneExist: 'identifier=http://hl7.org/fhir/sid/us-npi|9990001' },
        },
      ],
    };
    const response = (await client.transaction({ body: bundle })) as Json;
    assert.equal(response['type'], 'transaction-response');
    const entries = response['entry'] as Json[];
    assert.deepEqual(entries.map((e) => e['response']['status']), ['200 OK', '201 Created', '201 Created', '200 OK']);
    const patientId = (entries[2]?.['response']['location'] as string).split('/')[1] as string;
    const obsId = (entries[1]?.['response']['location'] as string).split('/')[1] as string;
    assert.equal(entries[1]?.['response']['etag'], 'W/"1"');
    assert.ok(entries[1]?.['response']['lastModified']);
    // The conditional create matched: its urn:uuid resolves to the existing practitioner.
    assert.equal(entries[3]?.['response']['location'], `Practitioner/${existing['id'] as string}/_history/1`);
    const obs = (await client.read({ resourceType: 'Observation', id: obsId })) as Json;
    assert.equal(obs['subject']['reference'], `Patient/${patientId}`);
    assert.equal(obs['performer'][0]['reference'], `Practitioner/${existing['id'] as string}`);
    const pat = (await client.read({ resourceType: 'Patient', id: patientId })) as Json;
    assert.equal(pat['generalPractitioner'][0]['reference'], `Practitioner/${existing['id'] as string}`);
    // GET ran after the writes (FHIR processing order): the searchset holds the new patient.
    const searchset = entries[0]?.['resource'] as Json;
    assert.equal(searchset['type'], 'searchset');
    assert.deepEqual((searchset['entry'] as Json[]).map((e) => e['resource']['id']), [patientId]);
  });

  test('transaction: a failing entry rolls everything back and the outcome names the entry', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1f1c2d3e-0000-4000-8000-000000000001', resource: patient('ZZFHIRROLLBACK', { identifier: [{ system: 'urn:test:mrn', value: 'RB-1' }] }), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:1f1c2d3e-0000-4000-8000-000000000001' } }, request: { method: 'POST', url: 'Observation' } },
        { resource: { resourceType: 'Observation', status: 'not-a-status', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const failed = await failure(client.transaction({ body: bundle }));
    assert.equal(failed.status, 422);
    assertOutcome(failed.data, 'SWB_ERR_FHIR_VALIDATION_FAILED');
    const expressions = (failed.data['issue'] as Json[]).flatMap((i) => (i['expression'] ?? []) as string[]);
    assert.ok(expressions.includes('Bundle.entry[2]'), expressions.join());
    assert.ok(expressions.includes('Bundle.entry[2].resource.status'), expressions.join());
    assert.deepEqual(await searchIds('Patient', { identifier: 'urn:test:mrn|RB-1' }), [], 'nothing persisted');
    assert.deepEqual(await searchIds('Observation', { code: 'x' }).then((ids) => ids.length), 0);

    const stale = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: patient('ZZFHIRROLLBACK', { identifier: [{ system: 'urn:test:mrn', value: 'RB-2' }] }), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: 'Patient/never-existed-rb' } },
      ],
    };
    const notFound = await failure(client.transaction({ body: stale }));
    assert.equal(notFound.status, 404);
    assert.deepEqual(await searchIds('Patient', { identifier: 'urn:test:mrn|RB-2' }), []);
  });

  test('batch: entries are independent; a failing one does not stop the others', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: patient('ZZFHIRBATCH', { identifier: [{ system: 'urn:test:mrn', value: 'B-1' }] }), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/batch-missing' } },
        { resource: patient('ZZFHIRBATCH', { gender: 'neither' }), request: { method: 'POST', url: 'Patient' } },
        { resource: patient('ZZFHIRBATCH', { identifier: [{ system: 'urn:test:mrn', value: 'B-2' }] }), request: { method: 'POST', url: 'Patient' } },
      ],
    };
    const response = (await client.batch({ body: bundle })) as Json;
    assert.equal(response['type'], 'batch-response');
    const entries = response['entry'] as Json[];
    assert.deepEqual(entries.map((e) => e['response']['status']), ['201 Created', '404 Not Found', '422 Unprocessable Entity', '201 Created']);
    assertOutcome(entries[1]?.['response']['outcome'] as Json, 'SWB_ERR_FHIR_NOT_FOUND');
    assertOutcome(entries[2]?.['response']['outcome'] as Json, 'SWB_ERR_FHIR_VALIDATION_FAILED');
    assert.equal((await searchIds('Patient', { identifier: 'urn:test:mrn|B-1' })).length, 1);
    assert.equal((await searchIds('Patient', { identifier: 'urn:test:mrn|B-2' })).length, 1);
  });

  test('a Bundle of another type is refused', async () => {
    const res = await failure(client.transaction({ body: { resourceType: 'Bundle', type: 'collection', entry: [] } }));
    assert.equal(res.status, 400);
    assertOutcome(res.data, 'SWB_ERR_FHIR_INVALID_BUNDLE');
  });
});

describe('search', () => {
  const ids: Record<string, string> = {};
  before(async () => {
    const make = async (key: string, resourceType: string, body: Obj): Promise<void> => {
      ids[key] = ((await client.create({ resourceType, body: { resourceType, ...body } })) as Json)['id'] as string;
    };
    await make('p1', 'Patient', {
      identifier: [{ system: 'urn:test:srch', value: 'S-1' }],
      name: [{ family: 'Zzsearchlund', given: ['Åsa'] }],
      gender: 'female',
      birthDate: '1970-06-15',
      address: [{ city: 'Zzcityone', postalCode: '11111' }],
      telecom: [{ system: 'phone', value: '555-0101' }],
      photo: [{ contentType: 'image/png', title: 'not a summary element' }],
    });
    await make('p2', 'Patient', { identifier: [{ system: 'urn:test:srch', value: 'S-2' }], name: [{ family: 'Zzsearchlundberg', given: ['Bo'] }], gender: 'male', birthDate: '1985-01-02' });
    await make('p3', 'Patient', { identifier: [{ system: 'urn:test:srch', value: 'S-3' }], name: [{ family: 'Zzsearchother' }] });
    const obs = (key: string, subject: string, code: string, value: number, date: string, category: string): Promise<void> =>
      make(key, 'Observation', {
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
        code: { coding: [{ system: 'http://loinc.org', code, display: code === '8867-4' ? 'Heart rate' : 'Body weight' }] },
        subject: { reference: `Patient/${subject}` },
        effectiveDateTime: date,
        valueQuantity: { value, unit: code === '8867-4' ? '/min' : 'kg', system: 'http://unitsofmeasure.org', code: code === '8867-4' ? '/min' : 'kg' },
      });
    await obs('o1', ids['p1'] as string, '8867-4', 72, '2024-03-01T10:00:00Z', 'vital-signs');
    await obs('o2', ids['p1'] as string, '29463-7', 80, '2024-04-01T10:00:00Z', 'vital-signs');
    await obs('o3', ids['p2'] as string, '8867-4', 110, '2023-01-01T10:00:00Z', 'vital-signs');
    await make('r1', 'RiskAssessment', { status: 'final', subject: { reference: `Patient/${ids['p1'] as string}` }, prediction: [{ probabilityDecimal: 0.8 }] });
    await make('r2', 'RiskAssessment', { status: 'final', subject: { reference: `Patient/${ids['p2'] as string}` }, prediction: [{ probabilityDecimal: 0.2 }] });
    await make('v1', 'ValueSet', { status: 'active', url: 'http://example.org/zz/vs/one' });
    await make('v2', 'ValueSet', { status: 'active', url: 'http://example.org/zz/other' });
  });

  const same = (actual: string[], keys: string[]): void => assert.deepEqual([...actual].sort(), keys.map((k) => ids[k] as string).sort());

  test('string: default prefix, :exact, :contains, accents', async () => {
    same(await searchIds('Patient', { family: 'zzsearchlund' }), ['p1', 'p2']);
    same(await searchIds('Patient', { 'family:exact': 'Zzsearchlund' }), ['p1']);
    same(await searchIds('Patient', { 'name:contains': 'searchoth' }), ['p3']);
    same(await searchIds('Patient', { given: 'asa' }), ['p1']);
    same(await searchIds('Patient', { address: 'zzcityone' }), ['p1']);
  });

  test('token: system|code, code, :not, :text, :missing', async () => {
    same(await searchIds('Patient', { identifier: 'urn:test:srch|S-2' }), ['p2']);
    same(await searchIds('Patient', { identifier: 'S-3' }), ['p3']);
    same(await searchIds('Patient', { identifier: 'urn:test:srch|S-1,urn:test:srch|S-3' }), ['p1', 'p3']);
    same(await searchIds('Patient', { family: 'zzsearch', 'gender:not': 'female' }), ['p2', 'p3']);
    same(await searchIds('Patient', { family: 'zzsearch', 'gender:missing': 'true' }), ['p3']);
    same(await searchIds('Patient', { telecom: 'phone|555-0101' }), ['p1']);
    same(await searchIds('Observation', { 'code:text': 'heart rate', subject: `Patient/${ids['p1'] as string}` }), ['o1']);
  });

  test('date and number prefixes', async () => {
    same(await searchIds('Patient', { family: 'zzsearch', birthdate: 'lt1980' }), ['p1']);
    same(await searchIds('Patient', { family: 'zzsearch', birthdate: 'ge1985-01-02' }), ['p2']);
    same(await searchIds('Patient', { family: 'zzsearch', birthdate: '1970-06' }), ['p1']);
    same(await searchIds('Patient', { family: 'zzsearch', birthdate: 'ne1970-06-15' }), ['p2']);
    same(await searchIds('Observation', { code: '8867-4', date: ['ge2023-06-01', 'le2024-12-31'] }), ['o1']);
    same(await searchIds('Observation', { code: 'http://loinc.org|8867-4', date: 'sa2023-06-01' }), ['o1']);
    same(await searchIds('Observation', { code: 'http://loinc.org|8867-4', date: 'eb2023-06-01' }), ['o3']);
    same(await searchIds('RiskAssessment', { probability: 'gt0.5' }), ['r1']);
    same(await searchIds('RiskAssessment', { probability: 'le0.5' }), ['r2']);
  });

  test('quantity, reference, uri, _id, _lastUpdated', async () => {
    same(await searchIds('Observation', { 'value-quantity': 'gt100|http://unitsofmeasure.org|/min' }), ['o3']);
    same(await searchIds('Observation', { 'value-quantity': 'lt75', code: '8867-4' }), ['o1']);
    same(await searchIds('Observation', { patient: ids['p1'] as string, code: 'http://loinc.org|8867-4' }), ['o1']);
    same(await searchIds('Observation', { subject: `Patient/${ids['p2'] as string}` }), ['o3']);
    same(await searchIds('Observation', { category: 'vital-signs', status: 'final', patient: `Patient/${ids['p1'] as string}` }), ['o1', 'o2']);
    same(await searchIds('ValueSet', { url: 'http://example.org/zz/vs/one' }), ['v1']);
    same(await searchIds('ValueSet', { 'url:below': 'http://example.org/zz' }), ['v1', 'v2']);
    same(await searchIds('Patient', { _id: `${ids['p1'] as string},${ids['p3'] as string}` }), ['p1', 'p3']);
    same(await searchIds('Patient', { family: 'zzsearch', _lastUpdated: 'gt2000-01-01' }), ['p1', 'p2', 'p3']);
    same(await searchIds('Patient', { family: 'zzsearch', _lastUpdated: 'lt2000-01-01' }), []);
  });

  test('chaining, _include, _revinclude, _sort', async () => {
    same(await searchIds('Observation', { 'subject:Patient.identifier': 'urn:test:srch|S-2' }), ['o3']);
    same(await searchIds('Observation', { 'patient.family': 'zzsearchlund', code: '29463-7' }), ['o2']);
    const withInclude = (await client.search({ resourceType: 'Observation', searchParams: { code: '29463-7', patient: ids['p1'] as string, _include: 'Observation:subject' } })) as Json;
    const modes = (withInclude['entry'] as Json[]).map((e) => `${e['search']['mode'] as string}:${e['resource']['resourceType'] as string}`).sort();
    assert.deepEqual(modes, ['include:Patient', 'match:Observation']);
    const withRev = (await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:srch|S-1', _revinclude: 'Observation:subject' } })) as Json;
    const included = (withRev['entry'] as Json[]).filter((e) => e['search']['mode'] === 'include').map((e) => e['resource']['id'] as string);
    same(included, ['o1', 'o2']);
    const sorted = await searchIds('Observation', { code: '8867-4', _sort: '-date' });
    assert.deepEqual(sorted.filter((id) => id === ids['o1'] || id === ids['o3']), [ids['o1'], ids['o3']]);
  });

  test('_summary, _elements, _total, POST _search', async () => {
    const summary = (await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:srch|S-1', _summary: 'true' } })) as Json;
    const p = (summary['entry'] as Json[])[0]?.['resource'] as Json;
    assert.equal(p['name'][0]['family'], 'Zzsearchlund');
    assert.equal(p['photo'], undefined, 'photo is not a summary element');
    assert.ok((p['meta']['tag'] as Json[]).some((t) => t['code'] === 'SUBSETTED'));
    const count = (await client.search({ resourceType: 'Patient', searchParams: { family: 'zzsearch', _summary: 'count' } })) as Json;
    assert.equal(count['total'], 3);
    assert.equal(count['entry'], undefined);
    const elements = (await client.search({ resourceType: 'Patient', searchParams: { identifier: 'urn:test:srch|S-1', _elements: 'birthDate' } })) as Json;
    const e = (elements['entry'] as Json[])[0]?.['resource'] as Json;
    assert.equal(e['birthDate'], '1970-06-15');
    assert.equal(e['name'], undefined);
    assert.equal(e['id'], ids['p1']);
    const total = (await client.search({ resourceType: 'Patient', searchParams: { family: 'zzsearch', _count: '1', _total: 'accurate' } })) as Json;
    assert.equal(total['total'], 3);
    const posted = (await client.search({ resourceType: 'Patient', searchParams: { family: 'zzsearchlund', gender: 'male' }, options: { postSearch: true } })) as Json;
    same(((posted['entry'] ?? []) as Json[]).map((x) => x['resource']['id'] as string), ['p2']);
    const read = (await raw(`Patient/${ids['p1'] as string}?_elements=gender`).then((r) => r.json())) as Json;
    assert.equal(read['gender'], 'female');
    assert.equal(read['name'], undefined);
  });

  test('paging: following next links returns every match once', async () => {
    const subject = ((await client.create({ resourceType: 'Patient', body: patient('ZZFHIRPAGING') })) as Json)['id'] as string;
    const bundle = { resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 45 }, (_, i) => ({ resource: { resourceType: 'Observation', status: 'final', code: { text: `p${i}` }, subject: { reference: `Patient/${subject}` } }, request: { method: 'POST', url: 'Observation' } })) };
    await client.batch({ body: bundle });
    let page = (await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${subject}`, _count: '10' } })) as Json;
    const seen: string[] = [];
    let pages = 0;
    for (;;) {
      pages++;
      seen.push(...((page['entry'] ?? []) as Json[]).map((e) => e['resource']['id'] as string));
      const next = client.nextPage({ bundle: page as FhirResource & { link: Array<{ relation: string; url: string }> } });
      if (next === undefined) break;
      assert.match(((page['link'] as Json[]).find((l) => l['relation'] === 'next')?.['url'] as string) ?? '', /_cursor=/);
      page = (await next) as Json;
    }
    assert.equal(pages, 5);
    assert.equal(seen.length, 45);
    assert.equal(new Set(seen).size, 45);
    const defaultPage = (await client.search({ resourceType: 'Observation', searchParams: { subject: `Patient/${subject}` } })) as Json;
    assert.equal((defaultPage['entry'] as Json[]).length, 20, 'default _count is 20');
  });
});

describe('options', () => {
  test('authorize is asked for every interaction and may refuse', async () => {
    const seen: FhirAccess[] = [];
    const guarded = await startFhirTestServer({
      authorize: (_req, access) => {
        seen.push(access);
        if (access.interaction === 'delete') throw new SwitchboardError('SWB_ERR_AUTH_SCOPE_INSUFFICIENT', { interaction: access.interaction, resourceType: access.resourceType });
      },
    });
    try {
      const c = new Client({ baseUrl: guarded.baseUrl });
      const p = (await c.create({ resourceType: 'Patient', body: patient('ZZFHIRAUTH') })) as Json;
      await c.search({ resourceType: 'Observation', searchParams: { patient: p['id'] as string } });
      const denied = await failure(c.delete({ resourceType: 'Patient', id: p['id'] as string }));
      assert.equal(denied.status, 403);
      assertOutcome(denied.data, 'SWB_ERR_AUTH_SCOPE_INSUFFICIENT');
      await c.read({ resourceType: 'Patient', id: p['id'] as string });
      assert.deepEqual(seen.map((a) => a.interaction), ['create', 'search', 'delete', 'read']);
      assert.deepEqual(seen[1]?.compartment, { patient: p['id'] });
      assert.deepEqual(seen[3]?.compartment, { patient: p['id'] });
      // In a batch, a refused entry is refused alone.
      const batch = (await c.batch({ body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'DELETE', url: `Patient/${p['id'] as string}` } }, { request: { method: 'GET', url: `Patient/${p['id'] as string}` } }] } })) as Json;
      assert.deepEqual((batch['entry'] as Json[]).map((e) => e['response']['status']), ['403 Forbidden', '200 OK']);
    } finally {
      await guarded.close();
    }
  });

  test('no PHI in the logs of a logging server: names and identifiers in bodies and queries never appear', async () => {
    const lines: string[] = [];
    const logged = await startFhirTestServer({ logTo: (line) => lines.push(line) });
    try {
      const c = new Client({ baseUrl: logged.baseUrl });
      const body = patient('ZZFHIRLOGNAME', { identifier: [{ system: 'urn:test:mrn', value: 'ZZFHIRLOGMRN' }] });
      await c.create({ resourceType: 'Patient', body, options: { headers: { 'if-none-exist': 'identifier=urn:test:mrn|ZZFHIRLOGMRN' } } });
      await c.search({ resourceType: 'Patient', searchParams: { family: 'ZZFHIRLOGNAME', identifier: 'urn:test:mrn|ZZFHIRLOGMRN' } });
      await failure(c.search({ resourceType: 'Patient', searchParams: { nmae: 'ZZFHIRLOGNAME' } }));
      await failure(c.create({ resourceType: 'Patient', body: { ...body, gender: 'ZZFHIRLOGGENDER' } }));
      await c.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: body, request: { method: 'POST', url: 'Patient' } }] } });
    } finally {
      await logged.close();
    }
    const text = lines.join('');
    for (const marker of ['ZZFHIRLOGNAME', 'ZZFHIRLOGMRN', 'ZZFHIRLOGGENDER']) assert.ok(!text.includes(marker), `${marker} reached the log`);
  });

  test('bodyLimit: a larger body is 413', async () => {
    const small = await startFhirTestServer({ bodyLimit: 2000 });
    try {
      const res = await fetch(`${small.baseUrl}/Patient`, { method: 'POST', headers: json, body: JSON.stringify(patient('x'.repeat(5000))) });
      assert.equal(res.status, 413);
      assertOutcome((await res.json()) as Json, 'SWB_ERR_FHIR_TOO_LARGE');
    } finally {
      await small.close();
    }
  });

  test('validateOnWrite off stores what the structural check would refuse', async () => {
    const lax = await startFhirTestServer({ validateOnWrite: 'off' });
    try {
      const res = await fetch(`${lax.baseUrl}/Patient`, { method: 'POST', headers: json, body: JSON.stringify(patient('ZZFHIRLAX', { gender: 'sometimes' })) });
      assert.equal(res.status, 201);
    } finally {
      await lax.close();
    }
  });
});
