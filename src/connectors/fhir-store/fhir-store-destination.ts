import { isSwitchboardError, type ErrorCode } from '../../core/errors.ts';
import type { ResourceStore } from '../../core/ports/resource-store.ts';
import type { DestinationConnector, DestinationContext, OutboundDelivery, SendResult } from '../../engine/destination-connector.ts';
import { processBundle } from '../../fhir/fhir-bundle.ts';
import type { InteractionContext } from '../../fhir/fhir-interactions.ts';
import { invalid, type Settings } from '../connector-settings.ts';

/**
 * Writes a FHIR transaction Bundle (a `toFhir` step's output) into the engine's canonical FHIR store
 * (issue 5: "the channels write into this store through a fhir-store destination"), with the same
 * Bundle processing as `POST /fhir/R4` (src/fhir/fhir-bundle.ts): a `transaction` is all-or-nothing
 * in one store transaction, in the FHIR processing order, `urn:uuid` references resolved (FHIR R4
 * http.html#transaction); a `batch` runs each entry on its own.
 *
 * The mapping's entries are PUTs by deterministic id (src/mapping/fhir-ids.ts), so a redelivery of
 * the same message is an idempotent update (ARCHITECTURE.md invariant 2): a retry after an
 * ambiguous failure cannot duplicate anything. Only entries that stay idempotent are taken: PUT,
 * DELETE, and POST with `ifNoneExist` (a conditional create). A plain POST would create again on
 * each redelivery, so it is refused as a permanent failure with the payload kept.
 *
 * Failures: the store unavailable or busy -> transient; a resource the store refuses (invalid, a
 * version conflict) -> permanent; a batch with a failed entry -> permanent (its other entries are
 * written; a retry rewrites them idempotently).
 */
export class FhirStoreDestination implements DestinationConnector {
  readonly kind = 'fhir-store';
  readonly #store: ResourceStore;
  readonly #context: InteractionContext;

  constructor(settings: Settings, context: DestinationContext) {
    for (const key of Object.keys(settings)) throw invalid(`destination.settings.${key}`, 'is not a setting of a fhir-store destination (it has none)');
    if (context.resources === undefined) throw invalid('destination.kind', "fhir-store needs the engine's FHIR store, which this process does not have");
    const store = context.resources;
    this.#store = store;
    this.#context = {
      store,
      atomic: (work) => store.transaction(work),
      history: (q) => store.history(q),
      // References in the Bundle are relative; an absolute URL under this base is ours.
      baseUrl: 'urn:switchboard:fhir-store',
      // The channel validates where its config says so (`toFhir: { validate: true }`); the store's
      // own checks still apply.
      validation: 'off',
      validateProfile: false,
      handling: 'strict',
      // The engine writes its own canonical store: the channel's configuration is the authority, not a caller's scopes.
      authorize: async () => undefined,
    };
  }

  async send(delivery: OutboundDelivery): Promise<SendResult> {
    let bundle: unknown;
    try {
      bundle = JSON.parse(delivery.payload);
    } catch {
      return failed('permanent', 'SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE', 'the payload is not JSON');
    }
    const refusal = refusalOf(bundle);
    if (refusal !== undefined) return failed('permanent', 'SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE', refusal);
    let response: { entry?: Array<{ response?: { status?: string; outcome?: unknown } }> };
    try {
      response = (await processBundle(this.#context, this.#store, bundle, 'minimal', delivery.id)) as typeof response;
    } catch (e) {
      if (!isSwitchboardError(e)) return failed('transient', 'SWB_ERR_STORE_UNAVAILABLE', 'the store failed');
      // The store's own classes decide: unavailable or busy is transient, a refused resource permanent.
      // A transaction rolled back: nothing was written, so a retry is safe.
      return failed(e.failureClass === 'permanent' ? 'permanent' : 'transient', e.code, e.code);
    }
    // Status lines and codes only: an entry's OperationOutcome may quote a value (invariant 7).
    const statuses = (response.entry ?? []).map((x) => x.response?.status ?? '');
    const bad = statuses.filter((s) => !/^2\d\d\b/.test(s));
    if (bad.length > 0) return failed('permanent', 'SWB_ERR_FHIR_STORE_DEST_NOT_A_BUNDLE', `${bad.length} of ${statuses.length} entries failed: ${bad.join(', ')}`);
    return { kind: 'delivered', response: `${statuses.length} entries applied: ${summarize(statuses)}` };
  }

  close(): Promise<void> {
    // The store belongs to the engine.
    return Promise.resolve();
  }
}

/** Why the Bundle is not taken (naming the entry, no values), or undefined. */
function refusalOf(bundle: unknown): string | undefined {
  if (typeof bundle !== 'object' || bundle === null) return 'the payload is not a Bundle';
  const b = bundle as { resourceType?: unknown; type?: unknown; entry?: unknown };
  if (b.resourceType !== 'Bundle' || (b.type !== 'transaction' && b.type !== 'batch')) return 'the payload is not a transaction or batch Bundle';
  if (b.entry === undefined) return undefined;
  if (!Array.isArray(b.entry)) return 'Bundle.entry is not an array';
  for (const [i, raw] of (b.entry as unknown[]).entries()) {
    const request = (raw as { request?: { method?: unknown; ifNoneExist?: unknown } } | null)?.request;
    const method = request?.method;
    if (method === 'PUT' || method === 'DELETE') continue;
    if (method === 'POST' && typeof request?.ifNoneExist === 'string' && request.ifNoneExist !== '') continue;
    return `Bundle.entry[${i}].request.method must be PUT, DELETE or a conditional POST (ifNoneExist): a redelivery must not create again`;
  }
  return undefined;
}

/** `200 OK` x2, `201 Created` x1 -> "2 x 200, 1 x 201". */
function summarize(statuses: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const s of statuses) {
    const code = s.split(' ')[0] ?? s;
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return [...counts].map(([code, n]) => `${n} x ${code}`).join(', ');
}

function failed(failureClass: 'transient' | 'permanent', errorCode: ErrorCode, response: string): SendResult {
  return { kind: 'failed', failureClass, errorCode, response };
}
