// For the FHIR API tests and ad hoc measurements: a real Fastify server on an ephemeral port with the
// FHIR routes over the SQLite resource store on a temporary file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { newCorrelationId } from '../../core/ids.ts';
import type { ResourceStore } from '../../core/ports/resource-store.ts';
import { FhirSearchIndexer } from '../../fhir/search-parameters.ts';
import { openSqliteResourceStore } from '../../store/sqlite/sqlite-resource-store.ts';
import { FHIR_PREFIX, registerFhirRoutes, type FhirRoutesOptions } from './fhir-routes.ts';

export interface FhirTestServer {
  readonly app: FastifyInstance;
  readonly store: ResourceStore;
  /** `http://127.0.0.1:<port>/fhir/R4` */
  readonly baseUrl: string;
  close(): Promise<void>;
}

const REQUEST_ID = /^[\w.-]{1,128}$/;

/** `logTo`: Fastify logs at info level into this function (one JSON line per call). */
export async function startFhirTestServer(options: Omit<FhirRoutesOptions, 'store'> & { readonly logTo?: (line: string) => void } = {}): Promise<FhirTestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'swb-fhir-api-'));
  const store = openSqliteResourceStore({ path: join(dir, 'fhir.db'), indexer: new FhirSearchIndexer(), synchronous: 'NORMAL' });
  // The server's conventions (http-api.ts): a correlation id from X-Request-Id / X-Correlation-Id, echoed.
  const logTo = options.logTo;
  const app = Fastify({
    logger: logTo === undefined ? false : { level: 'info', stream: { write: (line: string) => logTo(line) } },
    genReqId: (req) => {
      const given = req.headers['x-request-id'] ?? req.headers['x-correlation-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : newCorrelationId();
    },
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  const { logTo: _logTo, ...routeOptions } = options;
  registerFhirRoutes(app, { ...routeOptions, store });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    app,
    store,
    baseUrl: `http://127.0.0.1:${port}${FHIR_PREFIX}`,
    async close() {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
