import { SwitchboardError } from '../core/errors.ts';
import type { ResourceIndexer } from '../core/ports/resource-store.ts';
import type { Store } from '../core/ports/store.ts';

/** The default embedded store, relative to the working directory (ARCHITECTURE.md "Storage"). */
export const DEFAULT_STORE_URL = 'sqlite:./data/switchboard.db';

/**
 * Opens a store from a URL: `sqlite:PATH` (embedded, the default) or `postgres://...` /
 * `postgresql://...` (scale-out; `?schema=NAME` picks the schema). Migrations run on open.
 * Drivers are imported lazily so that a SQLite user never loads pg and vice versa.
 */
export interface OpenStoreOptions {
  /** Opens the canonical FHIR store too (the composition root passes src/fhir's FhirSearchIndexer). */
  readonly resourceIndexer?: ResourceIndexer;
}

export async function openStore(url: string = DEFAULT_STORE_URL, options: OpenStoreOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new SwitchboardError('SWB_ERR_STORE_BAD_URL', { url });
    const { openSqliteStore } = await import('./sqlite/open-sqlite-store.ts');
    return openSqliteStore({ path, ...(options.resourceIndexer !== undefined ? { resourceIndexer: options.resourceIndexer } : {}) });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    const { openPostgresStore } = await import('./postgres/open-postgres-store.ts');
    return openPostgresStore({ url: parsed.toString(), ...(schema !== undefined ? { schema } : {}), ...(options.resourceIndexer !== undefined ? { resourceIndexer: options.resourceIndexer } : {}) });
  }
  // Never echo credentials: show only the scheme.
  throw new SwitchboardError('SWB_ERR_STORE_BAD_URL', { url: `${url.split(':')[0] ?? ''}:...` });
}
