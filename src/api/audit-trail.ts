// The writer of AuditEvents into the canonical FHIR store, off the request path: `record()` only
// queues; batches are written in one store transaction each (one commit for many events). A full
// queue drops and counts (a request is never blocked or failed by its audit record); `flush()`
// drains, for tests and on close. Nothing is logged here: the events carry PHI-bearing references.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FhirResource, ResourceStore } from '../core/ports/resource-store.ts';
import { authAuditEvent, fhirAuditEventFor, type FhirAuditOutcome } from './audit-events.ts';
import type { AuthEventSink } from './auth/auth-events.ts';
import type { FhirAccess } from './fhir/fhir-interactions.ts';

export interface AuditTrailOptions {
  readonly store: Pick<ResourceStore, 'create' | 'transaction'>;
  /** Events held at most before new ones are dropped (default 10 000). */
  readonly capacity?: number;
  /** Events written per store transaction (default 8). */
  readonly batchSize?: number;
}

export interface AuditTrailStats {
  readonly pending: number;
  readonly written: number;
  /** Refused because the queue was full. */
  readonly dropped: number;
  /** Lost because the store refused the write. */
  readonly failed: number;
}

/**
 * The embedded store writes synchronously (better-sqlite3): a batch holds the event loop while it is
 * written (about 0.6 ms per AuditEvent, indexes included, measured on the 2-core dev machine). Small
 * batches, with a turn of the event loop between them, keep that pause near 5 ms for the requests
 * waiting; one commit still covers several events.
 */
const DEFAULT_BATCH = 8;

export class AuditTrail {
  readonly #store: AuditTrailOptions['store'];
  readonly #capacity: number;
  readonly #batchSize: number;
  #queue: FhirResource[] = [];
  #draining: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #failed = 0;

  constructor(options: AuditTrailOptions) {
    this.#store = options.store;
    this.#capacity = Math.max(1, options.capacity ?? 10_000);
    this.#batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH);
  }

  /** Queues an event; never throws, never waits. */
  record(event: FhirResource): void {
    if (this.#closed || this.#queue.length >= this.#capacity) {
      this.#dropped++;
      return;
    }
    this.#queue.push(event);
    if (!this.#scheduled && this.#draining === undefined) {
      this.#scheduled = true;
      // After the current request's work: the write never sits on its path.
      setImmediate(() => {
        this.#scheduled = false;
        void this.#drain();
      });
    }
  }

  get stats(): AuditTrailStats {
    return { pending: this.#queue.length, written: this.#written, dropped: this.#dropped, failed: this.#failed };
  }

  /** Resolves once every event queued before the call is written (or counted as failed). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined || this.#queue.length > 0) await (this.#draining ?? this.#drain());
  }

  /** Stops accepting events and writes the ones queued. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  #drain(): Promise<void> {
    if (this.#draining !== undefined) return this.#draining;
    const run = async (): Promise<void> => {
      try {
        while (this.#queue.length > 0) {
          const batch = this.#queue.splice(0, this.#batchSize);
          await this.#write(batch);
          // Let waiting requests run before the next batch.
          if (this.#queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } finally {
        this.#draining = undefined;
      }
    };
    this.#draining = run();
    return this.#draining;
  }

  async #write(batch: readonly FhirResource[]): Promise<void> {
    try {
      await this.#store.transaction(async (tx) => {
        for (const event of batch) await tx.create(event);
      });
      this.#written += batch.length;
    } catch {
      // One bad event must not take its batch with it: write them one by one.
      for (const event of batch) {
        try {
          await this.#store.create(event);
          this.#written++;
        } catch {
          this.#failed++;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring into the HTTP server (http-api.ts)
// ---------------------------------------------------------------------------------------------

const trails = new WeakMap<FastifyInstance, AuditTrail>();

/** The trail a server writes to (tests flush it before searching AuditEvent). */
export function auditTrailOf(app: FastifyInstance): AuditTrail | undefined {
  return trails.get(app);
}

export interface AuditSinks {
  readonly trail: AuditTrail;
  /** For registerFhirRoutes({ audit }). */
  readonly fhir: (req: FastifyRequest, access: FhirAccess | undefined, outcome: FhirAuditOutcome) => void;
  /** For installHttpSecurity({ audit }): logins, logouts, tokens. */
  readonly auth: AuthEventSink;
}

/** A trail over the store, flushed when the server closes; `observer` names this engine in each event. */
export function attachAuditTrail(app: FastifyInstance, store: AuditTrailOptions['store'], observer = 'switchboard'): AuditSinks {
  const trail = new AuditTrail({ store });
  trails.set(app, trail);
  app.addHook('onClose', async () => trail.close());
  return {
    trail,
    fhir: (req, access, outcome) => trail.record(fhirAuditEventFor(req, access, outcome, observer)),
    auth: (event) => trail.record(authAuditEvent(event, observer)),
  };
}
