// The writer of AuditEvents into the canonical FHIR store, off the request path: `record()` only
// queues; the queue is written in batches, one store transaction (one commit) per batch. Nothing is
// dropped while the trail is open: when the queue holds `capacity` events, new requests wait at the
// door (`room()`, an onRequest hook on /fhir/R4 and /auth) until the writer has caught up, so memory
// stays bounded (capacity + what the requests already admitted record) and a sustained load runs at
// the speed the trail can write. `flush()` drains, for tests; `close()` (the server's onClose)
// drains too, so a clean shutdown loses nothing. Nothing is logged here: the events carry
// PHI-bearing references.
//
// What a crash can lose: the events still queued (at most `capacity` plus the admitted requests'),
// i.e. the audit records of interactions answered in the last moments (at steady state the group
// delay's worth of traffic, 10 ms, or 50 ms over a store that writes batches on a thread of its own;
// under backpressure the whole queue). On SQLite a batch commits
// without an fsync (createBatchRelaxed): a written batch survives kill -9 at once, and a power loss
// from the next synced commit or checkpoint on. The resources' own writes keep their full sync.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FhirResource, ResourceStore } from '../core/ports/resource-store.ts';
import { authAuditEvent, fhirAuditEventFor, type FhirAuditOutcome } from './audit-events.ts';
import type { AuthEventSink } from './auth/auth-events.ts';
import type { FhirAccess } from '../fhir/fhir-interactions.ts';

export interface AuditTrailOptions {
  /** With createBatchRelaxed (SQLite), a batch's commit skips the fsync: see the top of this file. */
  readonly store: Pick<ResourceStore, 'create' | 'transaction' | 'createBatchRelaxed' | 'createBatchRelaxedOffThread'>;
  /** Events queued at most before new requests wait for room (default 2 000). */
  readonly capacity?: number;
  /**
   * Events written per store transaction at most (default 512); the size adapts below it. Over a
   * store whose batches are written off this thread (createBatchRelaxedOffThread), default 256 and
   * no adapting: a batch holds no request, and a large one costs less per event (a commit writes
   * each page the batch touched once); but requests held at the door under backpressure wait for a
   * whole batch, so not larger (1 024 cost ~10% less CPU per event and tripled the p99 in the bench).
   */
  readonly batchSize?: number;
  /** The event-loop time one batch should take at most, ms (default 4). */
  readonly batchBudgetMs?: number;
  /**
   * How long the first event of a batch waits for others, ms (default 10; 50 off-thread): a commit
   * costs a sync of the database file (and writes every page the batch touched), whatever the batch,
   * so a trickle of events is grouped, not committed one by one.
   */
  readonly groupDelayMs?: number;
}

export interface AuditTrailStats {
  readonly pending: number;
  readonly written: number;
  /** Recorded after close() (the server was shutting down): not written. */
  readonly dropped: number;
  /** Lost because the store refused the write. */
  readonly failed: number;
  /** Times a request waited for room in the queue. */
  readonly waits: number;
}

/**
 * The embedded store writes synchronously (better-sqlite3): a batch holds the event loop while it is
 * written. The batch size adapts so that a batch takes about `batchBudgetMs` (doubling while batches
 * are faster and the queue is longer, halving when one was much slower): under load one commit
 * covers many events, and the requests waiting meanwhile wait a few milliseconds at most.
 */
const DEFAULT_BATCH = 512;
const FIRST_BATCH = 8;
const DEFAULT_BUDGET_MS = 4;
const DEFAULT_CAPACITY = 2000;
const DEFAULT_GROUP_DELAY_MS = 10;
const OFF_THREAD_BATCH = 256;
const OFF_THREAD_GROUP_DELAY_MS = 50;

export class AuditTrail {
  readonly #store: AuditTrailOptions['store'];
  readonly #capacity: number;
  readonly #maxBatch: number;
  readonly #budgetMs: number;
  readonly #delayMs: number;
  /** The store writes batches on another thread: no event-loop budget to keep, so no adapting. */
  readonly #offThread: boolean;
  #timer: NodeJS.Timeout | undefined;
  #batch: number;
  #queue: FhirResource[] = [];
  #draining: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #failed = 0;
  #waits = 0;
  /** Requests waiting for room, resolved once the queue is below capacity again. */
  #waiting: Array<() => void> = [];

  constructor(options: AuditTrailOptions) {
    this.#store = options.store;
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_CAPACITY);
    this.#offThread = options.store.createBatchRelaxed !== undefined && options.store.createBatchRelaxedOffThread === true;
    this.#maxBatch = Math.max(1, options.batchSize ?? (this.#offThread ? OFF_THREAD_BATCH : DEFAULT_BATCH));
    this.#budgetMs = Math.max(0.5, options.batchBudgetMs ?? DEFAULT_BUDGET_MS);
    this.#delayMs = Math.max(0, options.groupDelayMs ?? (this.#offThread ? OFF_THREAD_GROUP_DELAY_MS : DEFAULT_GROUP_DELAY_MS));
    this.#batch = this.#offThread ? this.#maxBatch : Math.min(FIRST_BATCH, this.#maxBatch);
  }

  /** Queues an event; never throws, never waits (admission waits, in room()). */
  record(event: FhirResource): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    this.#queue.push(event);
    this.#schedule();
  }

  /**
   * Undefined when the queue has room; else a promise that resolves once it has (the caller, a new
   * request, waits). Never rejects; resolves at once after close().
   */
  room(): Promise<void> | undefined {
    if (this.#closed || this.#queue.length < this.#capacity) return undefined;
    this.#waits++;
    this.#schedule();
    return new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  get stats(): AuditTrailStats {
    return { pending: this.#queue.length, written: this.#written, dropped: this.#dropped, failed: this.#failed, waits: this.#waits };
  }

  /** Resolves once every event queued before the call is written (or counted as failed). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined || this.#queue.length > 0) await (this.#draining ?? this.#drain());
  }

  /** Stops accepting events and writes the ones queued. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#release();
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#scheduled = false;
    }
    await this.flush();
  }

  #schedule(): void {
    if (this.#draining !== undefined) return;
    // A full batch (or a waiting request, or a closing trail) goes after the current request's
    // work; a partial one waits up to the group delay for more. The write never sits on a request's path.
    const now = this.#closed || this.#waiting.length > 0 || this.#queue.length >= this.#batch || this.#delayMs === 0;
    if (this.#scheduled && !(now && this.#timer !== undefined)) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#scheduled = true;
    const go = (): void => {
      this.#scheduled = false;
      this.#timer = undefined;
      void this.#drain();
    };
    if (now) {
      this.#timer = undefined;
      setImmediate(go);
    } else {
      this.#timer = setTimeout(go, this.#delayMs);
    }
  }

  #release(): void {
    if (!this.#closed && this.#queue.length >= this.#capacity) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }

  #drain(): Promise<void> {
    if (this.#draining !== undefined) return this.#draining;
    if (this.#queue.length === 0) return Promise.resolve();
    const run = async (): Promise<void> => {
      while (this.#queue.length > 0) {
        const full = this.#queue.length > this.#batch;
        const batch = this.#queue.splice(0, this.#batch);
        const ms = await this.#write(batch);
        if (ms !== undefined) this.#adapt(ms, full);
        this.#release();
        // A backlog goes on at once (after the waiting requests ran); a partial batch is grouped again.
        if (!this.#closed && this.#waiting.length === 0 && this.#queue.length < this.#batch) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    // Cleared by the run's own promise, which settles after this assignment (never before it).
    const draining: Promise<void> = run().finally(() => {
      if (this.#draining === draining) this.#draining = undefined;
      this.#release();
      if (this.#queue.length > 0) this.#schedule();
    });
    this.#draining = draining;
    return draining;
  }

  /**
   * Grows the batch while batches are fast and the queue has more; halves it after a slow one. The
   * time is the inserts' (the commit's sync costs the same for any batch: a slow disk calls for
   * bigger batches, not smaller ones).
   */
  #adapt(ms: number, full: boolean): void {
    if (this.#offThread) return;
    if (ms > 2 * this.#budgetMs) this.#batch = Math.max(Math.min(FIRST_BATCH, this.#maxBatch), Math.floor(this.#batch / 2));
    else if (full && ms < this.#budgetMs / 2) this.#batch = Math.min(this.#maxBatch, this.#batch * 2);
  }

  /** Writes a batch in one transaction; the time its inserts took, ms (undefined when it failed). */
  async #write(batch: readonly FhirResource[]): Promise<number | undefined> {
    try {
      let ms: number;
      if (this.#store.createBatchRelaxed !== undefined) {
        const started = performance.now();
        await this.#store.createBatchRelaxed(batch);
        ms = performance.now() - started;
      } else {
        ms = await this.#store.transaction(async (tx) => {
          const started = performance.now();
          for (const event of batch) await tx.create(event);
          return performance.now() - started;
        });
      }
      this.#written += batch.length;
      return ms;
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
      return undefined;
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

/** The paths whose requests record AuditEvents, and so wait for room in the trail. */
const AUDITED_PREFIXES = ['/fhir/R4', '/auth/'] as const;

/**
 * A trail over the store, flushed when the server closes; `observer` names this engine in each
 * event. Requests to audited paths wait for room in the queue before anything else (backpressure).
 */
export function attachAuditTrail(app: FastifyInstance, store: AuditTrailOptions['store'], observer = 'switchboard', options: Omit<AuditTrailOptions, 'store'> = {}): AuditSinks {
  const trail = new AuditTrail({ ...options, store });
  trails.set(app, trail);
  app.addHook('onRequest', (req, _reply, done) => {
    const wait = AUDITED_PREFIXES.some((p) => req.url.startsWith(p)) ? trail.room() : undefined;
    if (wait === undefined) done();
    else void wait.then(() => done());
  });
  app.addHook('onClose', async () => trail.close());
  return {
    trail,
    fhir: (req, access, outcome) => trail.record(fhirAuditEventFor(req, access, outcome, observer)),
    auth: (event) => trail.record(authAuditEvent(event, observer)),
  };
}
