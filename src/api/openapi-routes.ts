import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';

/**
 * The hand-written OpenAPI 3.1 document of the HTTP API, served as written (YAML), as JSON, and as
 * a plain HTML page listing its operations. The page is rendered here, on the server, from the
 * parsed document: no script, no CDN, nothing fetched by the browser. src/api/openapi.test.ts
 * compares the document's paths with the routes the app registers, so the two cannot drift.
 */

/** docs/reference/openapi.yaml, from src/api/ and from dist/api/ alike (the package ships docs/). */
export const OPENAPI_FILE = new URL('../../docs/reference/openapi.yaml', import.meta.url);

/** HTTP methods an OpenAPI path item may hold (OpenAPI 3.1 4.8.9). */
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface OpenApiParameter {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly description: string;
}

export interface OpenApiOperation {
  /** Upper case, as Fastify names methods. */
  readonly method: string;
  /** With OpenAPI templates: `/api/v1/messages/{id}`. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly parameters: readonly OpenApiParameter[];
  readonly responses: ReadonlyArray<{ readonly status: string; readonly description: string }>;
}

export interface OpenApi {
  /** The file as written. */
  readonly yaml: string;
  readonly document: Record<string, unknown>;
  readonly operations: readonly OpenApiOperation[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Follows a local `$ref` (`#/components/...`); anything else is returned as is. */
function deref(document: Obj, value: unknown): unknown {
  if (!isObj(value) || typeof value['$ref'] !== 'string' || !value['$ref'].startsWith('#/')) return value;
  let node: unknown = document;
  for (const part of value['$ref'].slice(2).split('/')) node = isObj(node) ? node[part] : undefined;
  return node;
}

/** Every operation of the document, in document order. */
export function openApiOperations(document: Obj): OpenApiOperation[] {
  const out: OpenApiOperation[] = [];
  const paths = isObj(document['paths']) ? document['paths'] : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObj(item)) continue;
    const shared = Array.isArray(item['parameters']) ? item['parameters'] : [];
    for (const method of METHODS) {
      const op = item[method];
      if (!isObj(op)) continue;
      const params = [...shared, ...(Array.isArray(op['parameters']) ? op['parameters'] : [])].map((p) => deref(document, p)).filter(isObj);
      const responses = isObj(op['responses']) ? op['responses'] : {};
      out.push({
        method: method.toUpperCase(),
        path,
        operationId: str(op['operationId']),
        summary: str(op['summary']),
        tag: Array.isArray(op['tags']) ? str(op['tags'][0]) : '',
        parameters: params.map((p) => ({ name: str(p['name']), in: str(p['in']), required: p['required'] === true, description: str(p['description']) })),
        responses: Object.entries(responses).map(([status, r]) => {
          const resolved = deref(document, r);
          return { status, description: isObj(resolved) ? str(resolved['description']) : '' };
        }),
      });
    }
  }
  return out;
}

let cached: OpenApi | undefined;

/** Reads and parses the document once per process. */
export function loadOpenApi(): OpenApi {
  if (cached !== undefined) return cached;
  const yaml = readFileSync(OPENAPI_FILE, 'utf8');
  const parsed: unknown = parse(yaml);
  if (!isObj(parsed)) throw new Error('docs/reference/openapi.yaml is not a YAML mapping');
  cached = { yaml, document: parsed, operations: openApiOperations(parsed) };
  return cached;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The /docs page: the operations grouped by tag, each with its parameters and responses. */
export function renderDocsPage(api: OpenApi): string {
  const info = isObj(api.document['info']) ? api.document['info'] : {};
  const tags = Array.isArray(api.document['tags']) ? api.document['tags'].filter(isObj) : [];
  const tagNames = [...new Set([...tags.map((t) => str(t['name'])), ...api.operations.map((o) => o.tag)])];
  const tagDescription = (name: string): string => str(tags.find((t) => t['name'] === name)?.['description']);
  const anchor = (o: OpenApiOperation): string => escapeHtml(o.operationId !== '' ? o.operationId : `${o.method}-${o.path}`);
  const sections = tagNames.map((tag) => {
    const ops = api.operations.filter((o) => o.tag === tag);
    if (ops.length === 0) return '';
    const body = ops.map((o) => {
      const params = o.parameters.length === 0 ? '' : `<table><tr><th>parameter</th><th>in</th><th></th></tr>${o.parameters
        .map((p) => `<tr><td><code>${escapeHtml(p.name)}</code>${p.required ? ' <em>required</em>' : ''}</td><td>${escapeHtml(p.in)}</td><td>${escapeHtml(p.description)}</td></tr>`)
        .join('')}</table>`;
      const responses = `<ul>${o.responses.map((r) => `<li><code>${escapeHtml(r.status)}</code> ${escapeHtml(r.description)}</li>`).join('')}</ul>`;
      return `<section class="op" id="${anchor(o)}"><h3><span class="m ${o.method.toLowerCase()}">${o.method}</span> <code>${escapeHtml(o.path)}</code></h3><p>${escapeHtml(o.summary)}</p>${params}${responses}</section>`;
    });
    return `<h2 id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2><p>${escapeHtml(tagDescription(tag))}</p>${body.join('\n')}`;
  });
  const index = api.operations.map((o) => `<li><a href="#${anchor(o)}"><span class="m ${o.method.toLowerCase()}">${o.method}</span> <code>${escapeHtml(o.path)}</code></a> ${escapeHtml(o.summary)}</li>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(str(info['title']))}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{font:13px ui-monospace,monospace}.m{display:inline-block;min-width:3.5rem;font:bold 12px monospace;text-align:center;border-radius:3px;padding:1px 4px;color:#fff;background:#666}
.get{background:#2f6f9f}.post{background:#3d8b3d}.put,.patch{background:#a86b00}.delete{background:#a33}
.op{border-top:1px solid #ddd;padding:.3rem 0}table{border-collapse:collapse}td,th{text-align:left;padding:2px 8px 2px 0;vertical-align:top}ul{margin:.3rem 0}
</style></head><body>
<h1>${escapeHtml(str(info['title']))} <small>${escapeHtml(str(info['version']))}</small></h1>
<p>${escapeHtml(str(info['summary']))}</p>
<p>The document: <a href="/api/v1/openapi.yaml">openapi.yaml</a> · <a href="/api/v1/openapi.json">openapi.json</a>. Errors are problem JSON with a stable <code>code</code>.</p>
<ul>${index}</ul>
${sections.join('\n')}
</body></html>
`;
}

export function registerOpenApiRoutes(app: FastifyInstance): void {
  app.get('/api/v1/openapi.yaml', async (_req, reply) => {
    // RFC 9512 media type for YAML.
    reply.type('application/yaml; charset=utf-8');
    return loadOpenApi().yaml;
  });
  app.get('/api/v1/openapi.json', async () => loadOpenApi().document);
  app.get('/docs', async (_req, reply) => {
    // Self-contained: inline style only, nothing else may load.
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    return renderDocsPage(loadOpenApi());
  });
}
