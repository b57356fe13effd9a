import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { parse } from 'yaml';
import { ErrorCodes } from '../core/errors.ts';
import type { Store } from '../core/ports/store.ts';
import { revisionPipelines } from '../engine/revision-pipelines.ts';
import { openStore } from '../store/open-store.ts';
import { buildHttpApi } from './http-api.ts';
import { loadOpenApi, OPENAPI_FILE, openApiOperations, renderDocsPage } from './openapi-routes.ts';

// The app as `switchboard start` builds it (engine-service.ts): a real SQLite store and the
// operations routes, so that every route the engine serves is registered.
let dir: string;
let store: Store;
let app: FastifyInstance;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swb-openapi-'));
  store = await openStore(`sqlite:${join(dir, 'switchboard.db')}`);
  app = buildHttpApi({
    registry: new Registry(),
    store,
    ops: { notify: () => undefined, pipelineFor: revisionPipelines(store.channels, { baseDir: dir }), actor: () => 'api:anonymous' },
  });
  await app.ready();
});

after(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Every (method, path) the app serves, read from Fastify's route tree. HEAD is left out: Fastify
 * answers HEAD for every GET by itself (exposeHeadRoutes), as HTTP (RFC 9110 9.3.2) has it.
 * `:name` becomes OpenAPI's `{name}`.
 */
function servedRoutes(fastify: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of fastify.printRoutes({ commonPrefix: false }).split('\n')) {
    // "│   ├── /:id/revisions (GET, HEAD)": depth from the tree prefix, then segment and methods.
    const m = /^((?:│ {3}| {4})*)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (m === null) {
      assert.equal(line.trim(), '', `unreadable line of printRoutes: ${JSON.stringify(line)}`);
      continue;
    }
    const depth = (m[1] ?? '').length / 4;
    stack.length = depth;
    stack.push(m[2] ?? '');
    const path = stack.join('').replace(/:(\w+)/g, '{$1}');
    for (const method of (m[3] ?? '').split(', ')) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out.sort();
}

test('every route the engine serves is in openapi.yaml, and every documented operation is served', () => {
  const served = servedRoutes(app);
  const documented = loadOpenApi().operations.map((o) => `${o.method} ${o.path}`).sort();
  // A sanity floor, so that a parser that reads nothing cannot pass.
  assert.ok(served.length >= 20, `only ${served.length} routes read from printRoutes`);
  assert.deepEqual(
    served.filter((r) => !documented.includes(r)),
    [],
    'served but not documented',
  );
  assert.deepEqual(
    documented.filter((r) => !served.includes(r)),
    [],
    'documented but not served',
  );
  // And by Fastify's own lookup, independent of the tree parsing above.
  for (const op of loadOpenApi().operations) {
    const url = op.path.replace(/\{(\w+)\}/g, ':$1');
    assert.ok(app.hasRoute({ method: op.method as 'GET', url }), `${op.method} ${op.path} is not a route`);
  }
});

test('the document is OpenAPI 3.1 and consistent: unique operation ids, path parameters declared, error codes exist', () => {
  const { document, operations, yaml } = loadOpenApi();
  assert.equal(document['openapi'], '3.1.0');
  const ids = operations.map((o) => o.operationId);
  assert.ok(ids.every((id) => id !== ''), 'every operation has an operationId');
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  for (const op of operations) {
    assert.notEqual(op.summary, '', `${op.operationId} has a summary`);
    assert.ok(op.responses.some((r) => /^2\d\d$/.test(r.status)), `${op.operationId} documents a success response`);
    const templated = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const declared = op.parameters.filter((p) => p.in === 'path').map((p) => p.name).sort();
    assert.deepEqual(declared, templated, `${op.operationId}: path parameters`);
    assert.ok(op.parameters.filter((p) => p.in === 'path').every((p) => p.required), `${op.operationId}: path parameters are required`);
  }
  // Every code the document names is in the registry (a renamed code would leave it stale).
  // `SWB_ERR_HL7_*` names a family: some code must start with it.
  const codes = new Set(yaml.match(/SWB_ERR_[A-Z0-9_]+\*?/g) ?? []);
  assert.ok(codes.size > 5);
  for (const code of codes) {
    const known = code.endsWith('*') ? Object.keys(ErrorCodes).some((c) => c.startsWith(code.slice(0, -1))) : code in ErrorCodes;
    assert.ok(known, `${code} is not in src/core/errors.ts`);
  }
});

test('the Problem schema describes what the API actually answers', async () => {
  const { document } = loadOpenApi();
  const schema = (document['components'] as { schemas: Record<string, { required: string[]; properties: Record<string, unknown> }> }).schemas['Problem'];
  assert.ok(schema !== undefined);
  for (const field of ['code', 'type', 'title', 'status', 'detail']) assert.ok(schema.required.includes(field), `Problem requires ${field}`);
  const res = await app.inject({ method: 'GET', url: '/api/v1/messages/01NOSUCH' });
  assert.equal(res.statusCode, 404);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  for (const field of schema.required) assert.ok(field in body, `a 404 carries ${field}`);
  for (const field of Object.keys(body)) assert.ok(field in schema.properties, `Problem documents ${field}`);
});

test('GET /api/v1/openapi.yaml serves the file; /api/v1/openapi.json the same document as JSON', async () => {
  const file = readFileSync(OPENAPI_FILE, 'utf8');
  const y = await app.inject({ method: 'GET', url: '/api/v1/openapi.yaml' });
  assert.equal(y.statusCode, 200);
  assert.equal(y.headers['content-type'], 'application/yaml; charset=utf-8');
  assert.equal(y.body, file);
  const j = await app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
  assert.equal(j.statusCode, 200);
  assert.match(String(j.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(j.body), parse(file));
});

test('GET /docs is a self-contained HTML page listing every operation', async () => {
  const res = await app.inject({ method: 'GET', url: '/docs' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
  const html = res.body;
  assert.match(html, /^<!doctype html>/);
  for (const op of loadOpenApi().operations) {
    assert.ok(html.includes(`id="${op.operationId}"`), `${op.operationId} has a section`);
    assert.ok(html.includes(`<span class="m ${op.method.toLowerCase()}">${op.method}</span> <code>${op.path}</code>`), `${op.method} ${op.path} is listed`);
  }
  // Nothing loaded from elsewhere: no script, no external stylesheet, image or frame.
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|src=/i);
  assert.doesNotMatch(html, /href="https?:/i);
});

test('the page escapes the text of the document', () => {
  const document = { info: { title: 'T <b>' }, paths: { '/a/{id}': { get: { operationId: 'x"y', tags: ['t'], summary: '<script>alert(1)</script>', parameters: [{ name: 'id', in: 'path', required: true, description: 'a & b' }], responses: { '200': { description: '<i>ok</i>' } } } } } };
  const html = renderDocsPage({ yaml: '', document, operations: openApiOperations(document) });
  assert.doesNotMatch(html, /<script|<i>|<b>|x"y/);
  assert.match(html, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  assert.match(html, /a &#38; b/);
  assert.match(html, /id="x&#34;y"/);
});
