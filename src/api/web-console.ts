import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The operations console (web/, issue 7) served at `/`: the built assets of `npm run build:web`
 * (web/dist) and, for any other GET outside the engine's own prefixes, the console's index.html,
 * so that client routes such as /messages/01J... load on a reload or a shared link (SPA fallback).
 * Without a build, `/` answers a short page saying how to make one.
 *
 * Security: the HTML carries a Content-Security-Policy allowing scripts, styles and requests to
 * this origin only (W3C CSP Level 3), no framing; hashed assets are cached for a year, the HTML
 * is revalidated on each load so a deploy is picked up.
 */
export interface WebConsoleOptions {
  /** The built console (default: web/dist of this checkout). */
  readonly dir?: string;
}

/** The console's build output: the same from src/api/ (tsx) and dist/api/ (built). */
export const DEFAULT_WEB_DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** Paths the engine answers itself: never the console's fallback. */
const ENGINE_PREFIXES = ['/api', '/fhir', '/auth', '/docs', '/metrics', '/healthz', '/readyz'];

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * No inline script, no eval, no other origin. `style-src 'self'` still lets scripts set
 * element.style (CSSOM is not governed by the style-src inline check); uPlot and Preact do.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 10vh auto; padding: 0 1rem">
<h1>Switchboard</h1>
<p>The engine is running, but its web console has not been built.</p>
<p>Build it with <code>npm run build:web</code> (or <code>npm run build</code>), then reload this page.</p>
<p>The HTTP API is described at <a href="/docs">/docs</a>; health at <a href="/healthz">/healthz</a>.</p>
</body></html>
`;

function isEnginePath(path: string): boolean {
  return ENGINE_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`) || path.startsWith(`${p}.`) || path.startsWith(`${p}?`));
}

function htmlHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

export function registerWebConsole(app: FastifyInstance, options: WebConsoleOptions = {}): void {
  const root = resolve(options.dir ?? DEFAULT_WEB_DIST);

  /** A file inside the build, or undefined (missing, a directory, or outside the root). */
  const fileOf = async (urlPath: string): Promise<string | undefined> => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return undefined;
    }
    if (decoded.includes('\0')) return undefined;
    const file = resolve(join(root, decoded));
    // No escaping the build directory (../, encoded or not).
    if (file !== root && !file.startsWith(root + sep)) return undefined;
    try {
      return (await stat(file)).isFile() ? file : undefined;
    } catch {
      return undefined;
    }
  };

  const sendIndex = async (reply: FastifyReply): Promise<FastifyReply> => {
    const index = await fileOf('/index.html');
    if (index === undefined) return htmlHeaders(reply).send(NOT_BUILT);
    return htmlHeaders(reply).send(await readFile(index));
  };

  app.get('/', async (_req, reply) => sendIndex(reply));

  // Everything else that no route of the engine claims (find-my-way prefers static and
  // parametric routes to this wildcard, so /api/v1/..., /fhir/R4/... keep their handlers).
  app.get('/*', async (req: FastifyRequest, reply: FastifyReply) => {
    const path = (req.url.split('?')[0] ?? '/').replace(/\/{2,}/g, '/');
    // An unknown engine path stays a 404 problem document, never the console's HTML.
    if (isEnginePath(path)) return reply.callNotFound();
    if (path.startsWith('/assets/')) {
      const file = await fileOf(path);
      if (file === undefined) return reply.callNotFound();
      const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      // Vite names assets by content hash: a changed file has a new name (RFC 9111 5.2.2.3 immutable).
      return reply.type(type).header('x-content-type-options', 'nosniff').header('cache-control', 'public, max-age=31536000, immutable').send(await readFile(file));
    }
    const file = path === '/index.html' ? undefined : await fileOf(path);
    if (file !== undefined) {
      const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
      return reply.type(type).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(await readFile(file));
    }
    // A client route (no extension): the console decides what to show.
    if (extname(path) === '') return sendIndex(reply);
    return reply.callNotFound();
  });
}
