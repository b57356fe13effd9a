import { isSwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { FhirResource, ResourceStore } from '../../core/ports/resource-store.ts';
import type { DestinationConnector, DestinationContext, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import { invalid, type Settings } from '../connector-settings.ts';

/**
 * Writes a FHIR transaction Bundle (a `toFhir` step's output) into the engine's canonical FHIR store
 * (issue 5: "the channels write into this store through a fhir-store destination"), all-or-nothing
 * in one store transaction.
 *
 * The mapping's entries are PUTs by deterministic id (src/mapping/fhir-ids.ts), so a redelivery of
 * the same message is an idempotent update (ARCHITECTURE.md invariant 2): a retry after an
 * ambiguous failure cannot duplicate anything. DELETE entries delete. Other methods are refused as
 * a permanent failure with the payload kept, since retrying cannot change the Bundle.
 *
 * Failures: the store unavailable or busy -> transient; a resource the store refuses (invalid, a
 * version conflict) -> permanent.
 */
export class FhirStoreDestination implements DestinationConnector {
  readonly kind = 'fhir-store';
  readonly #store: ResourceStore;

  constructor(settings: Settings, context: DestinationContext) {
    for (const key of Object.keys(settings)) throw invalid(`destination.settings.${key}`, 'is not a setting of a fhir-store destination (it has none)');
    if (context.resources === undefined) throw invalid('destination.kind', "fhir-store needs the engine's FHIR store, which this process does not have");
    this.#store = context.resources;
  }

  async send(delivery: OutboundDelivery): Promise<SendResult> {
    let bundle: unknown;
    try {
      bundle = JSON.parse(delivery.payload);
    } catch {
      return failed('permanent', 'SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE', 'the payload is not JSON');
    }
    const entries = entriesOf(bundle);
    if (typeof entries === 'string') return failed('permanent', 'SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE', entries);
    try {
      const counts = await this.#store.transaction(async (tx) => {
        let written = 0;
        let deleted = 0;
        for (const e of entries) {
          if (e.method === 'PUT') {
            await tx.update(e.resource);
            written++;
          } else {
            await tx.delete(e.type, e.id);
            deleted++;
          }
        }
        return { written, deleted };
      });
      return { kind: 'delivered', response: `${counts.written} resources written, ${counts.deleted} deleted` };
    } catch (e) {
      if (!isSwitchboardError(e)) return failed('transient', 'SWB_ERR_STORE_UNAVAILABLE', 'the store failed');
      // The store's own classes decide: unavailable or busy is transient, a refused resource permanent.
      // Nothing was written (the transaction rolled back), so a retry is safe.
      return failed(e.failureClass === 'permanent' ? 'permanent' : 'transient', e.code, e.code);
    }
  }

  close(): Promise<void> {
    // The store belongs to the engine.
    return Promise.resolve();
  }
}

type Entry = { readonly method: 'PUT'; readonly resource: FhirResource } | { readonly method: 'DELETE'; readonly type: string; readonly id: string };

/** The Bundle's entries as store operations, or why they cannot be (naming the entry, no values). */
function entriesOf(bundle: unknown): Entry[] | string {
  if (typeof bundle !== 'object' || bundle === null) return 'the payload is not a Bundle';
  const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (b.resourceType !== 'Bundle' || (b.type !== 'transaction' && b.type !== 'batch')) return 'the payload is not a transaction or batch Bundle';
  if (b.entry === undefined) return [];
  if (!Array.isArray(b.entry)) return 'Bundle.entry is not an array';
  const out: Entry[] = [];
  for (const [i, raw] of (b.entry as unknown[]).entries()) {
    const e = raw as { request?: { method?: unknown; url?: unknown }; resource?: FhirResource };
    const method = e.request?.method;
    const url = typeof e.request?.url === 'string' ? e.request.url : '';
    const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(url);
    if (m === null) return `Bundle.entry[${i}].request.url is not Type/id`;
    const type = m[1] as string;
    const id = m[2] as string;
    if (method === 'PUT') {
      const r = e.resource;
      if (r === undefined || r.resourceType !== type || r.id !== id) return `Bundle.entry[${i}].resource does not match its request url`;
      out.push({ method: 'PUT', resource: r });
    } else if (method === 'DELETE') out.push({ method: 'DELETE', type, id });
    else return `Bundle.entry[${i}].request.method must be PUT or DELETE`;
  }
  return out;
}

function failed(failureClass: 'transient' | 'permanent', errorCode: ErrorCode, response: string): SendResult {
  return { kind: 'failed', failureClass, errorCode, response };
}
