/**
 * The records every EHR write leaves in our canonical store (ARCHITECTURE.md invariant 5): its
 * Provenance and its AuditEvent. The writes settled in one turn of the event loop store theirs in
 * ONE resource-store transaction, so under concurrent writes they share one commit (on SQLite one
 * fsync of the WAL, which held the event loop ~1-5 ms per write when each had its own) instead of
 * paying one each. Each caller's promise settles after that commit, so what it reports stored is
 * durable, as before.
 *
 * Inside the transaction each create runs in a savepoint of its own (both stores' transaction()
 * does this), so one write's records that the store refuses leave the others' in the batch. A
 * failure of the store as a whole (SWB_ERR_STORE_UNAVAILABLE: busy, I/O error, disk full) fails the
 * batch: nothing of it is reported stored.
 */
import { isSwitchboardError } from '../core/errors.ts';
import type { CreateOptions, CreateOutcome, FhirResource, ResourceStore } from '../core/ports/resource-store.ts';
import { parseSearchQuery } from '../fhir/search-query.ts';
import { CORRELATION_TAG_SYSTEM } from './ai-content.ts';

/** The Provenance's conditional create: none with its correlation tag yet (ai-content.ts buildProvenance). */
function onlyOnce(provenance: FhirResource): CreateOptions {
  const meta = provenance['meta'] as { tag?: ReadonlyArray<{ system?: string; code?: string }> } | undefined;
  const tag = meta?.tag?.find((t) => t.system === CORRELATION_TAG_SYSTEM && typeof t.code === 'string' && t.code !== '');
  if (tag?.code === undefined) return {};
  return { ifNoneExist: parseSearchQuery('Provenance', [['_tag', `${CORRELATION_TAG_SYSTEM}|${tag.code}`]]).query };
}

/** More records queued in one turn are written in several transactions of this many writes each. */
const MAX_BATCH = 64;

export interface StoredRecords {
  /** The Provenance as stored (its id), when one was given. */
  readonly provenance?: CreateOutcome;
}

interface Pending {
  readonly provenance: FhirResource | undefined;
  readonly auditEvent: FhirResource | undefined;
  readonly resolve: (stored: StoredRecords) => void;
  readonly reject: (error: unknown) => void;
}

class WriteRecordBatch {
  readonly #resources: ResourceStore;
  #pending: Pending[] = [];
  #scheduled = false;

  constructor(resources: ResourceStore) {
    this.#resources = resources;
  }

  add(provenance: FhirResource | undefined, auditEvent: FhirResource | undefined): Promise<StoredRecords> {
    return new Promise<StoredRecords>((resolve, reject) => {
      this.#pending.push({ provenance, auditEvent, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.#flush();
      });
    });
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, MAX_BATCH);
      const outcomes: Array<{ ok: true; stored: StoredRecords } | { ok: false; error: unknown }> = [];
      try {
        await this.#resources.transaction(async (tx) => {
          outcomes.length = 0; // a store that runs the work again (a retried transaction) starts afresh
          for (const item of batch) {
            try {
              // The Provenance first, then the AuditEvent, as one write's records were stored before.
              // Conditional on its correlation tag (FHIR R4 http.html#ccreate): a write's records
              // may be stored again (before its committed transition, then by the follow-up of a
              // recovery or a reviewer's confirmation), and it keeps one Provenance.
              const provenance = item.provenance === undefined ? undefined : await tx.create(item.provenance, onlyOnce(item.provenance));
              if (item.auditEvent !== undefined) await tx.create(item.auditEvent);
              outcomes.push({ ok: true, stored: provenance === undefined ? {} : { provenance } });
            } catch (error) {
              // The database as a whole refused: what the batch wrote before may be gone too.
              if (isSwitchboardError(error) && error.code === 'SWB_ERR_STORE_UNAVAILABLE') throw error;
              outcomes.push({ ok: false, error });
            }
          }
        });
      } catch (error) {
        for (const item of batch) item.reject(error);
        continue;
      }
      batch.forEach((item, i) => {
        const o = outcomes[i];
        if (o?.ok === true) item.resolve(o.stored);
        else item.reject(o?.error);
      });
    }
  }
}

const batches = new WeakMap<ResourceStore, WriteRecordBatch>();

/**
 * Stores one write's Provenance and AuditEvent (either may be absent), batched with the other
 * writes' records of this turn; settles after the commit. A refused create rejects with its error
 * (a Provenance already stored before a refused AuditEvent stays, unreported: a record too many,
 * never one missing that was reported).
 */
export function storeWriteRecords(resources: ResourceStore, provenance: FhirResource | undefined, auditEvent: FhirResource | undefined): Promise<StoredRecords> {
  if (provenance === undefined && auditEvent === undefined) return Promise.resolve({});
  let batch = batches.get(resources);
  if (batch === undefined) {
    batch = new WriteRecordBatch(resources);
    batches.set(resources, batch);
  }
  return batch.add(provenance, auditEvent);
}
