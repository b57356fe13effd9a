// The writer of AuditEvents into the canonical FHIR store, off the request path: `record()` only
// queues the facts of an event (audit-events.ts AuditFacts); the queue is written in batches. Nothing
// is dropped while the trail is open: when the queue holds `capacity` events, new requests wait at
// the door (`room()`, an onRequest hook on /fhir/R4 and /auth) until the writer has caught up, so
// memory stays bounded. `flush()` drains, for tests; `close()` (the server's onClose) drains too, so
// a clean shutdown loses nothing. Nothing is logged here: the events carry PHI-bearing references.
//
// Two ways to the store (docs/adr/0010-audit-journal.md):
//  - With a journal (ResourceJournal: the SQLite store on a file), a batch of facts is appended to
//    it as text, one row per event and no index entry, on the store's writer thread. The AuditEvents
//    are made from the journal afterwards, in batches, each settled with its entries in one
//    transaction (exactly once): when the event loop is quiet, at once when the backlog passes
//    `maxBacklog` or someone is about to read AuditEvents (catchUp(), before any FHIR request that
//    may read them, so a search never misses a recorded access), and on close(). Making and indexing
//    an AuditEvent costs several times what journaling it does, so under a burst of reads the
//    requests no longer pay for it; over a long enough run they do, once the backlog is full.
//  - Without one (PostgreSQL, an in-memory SQLite), the AuditEvents are made and written in the
//    batches themselves, as one store transaction per batch (createBatchRelaxed where offered).
//
// What a crash can lose: the events still queued (at most `capacity` plus the admitted requests',
// i.e. the audit records of interactions answered in the last moments: at steady state the group
// delay's worth of traffic, 10 ms, or 50 ms over a store that writes batches on a thread of its own;
// under backpressure the whole queue). Journal appends and AuditEvent batches on SQLite commit
// without an fsync (createBatchRelaxed): they survive kill -9 at once, and a power loss from the next
// synced commit or checkpoint on. The journal left by a crash is made into AuditEvents at the next start.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { FhirResource, JournalEntry, ResourceStore } from '../core/ports/resource-store.ts';
import { auditEventOf, fhirAuditFacts, type AuditFacts, type FhirAuditOutcome } from './audit-events.ts';
import type { AuthEventSink } from './auth/auth-events.ts';
import type { FhirAccess } from '../fhir/fhir-interactions.ts';
import { SingleFlight } from '../core/single-flight.ts';

export interface AuditTrailOptions {
  /** With createBatchRelaxed (SQLite), a batch's commit skips the fsync: see the top of this file. */
  readonly store: Pick<ResourceStore, 'create' | 'transaction' | 'createBatchRelaxed' | 'createBatchRelaxedOffThread' | 'journal'>;
  /** This engine, as AuditEvent.source.observer (default 'switchboard'). */
  readonly observer?: string;
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
  /**
   * With a journal: entries waiting beyond which AuditEvents are made at once, busy or not (default
   * 50 000: about 20 MB of journal, and at most seconds of catching up before an AuditEvent search:
   * about 3 000 AuditEvents/s were made on a loaded 2-core machine, docs/adr/0010-audit-journal.md).
   */
  readonly maxBacklog?: number;
  /** With a journal: the event-loop utilization (0..1) above which the loop is busy and making AuditEvents waits (default 0.5). */
  readonly busyUtilization?: number;
}

export interface AuditTrailStats {
  readonly pending: number;
  /** Events stored: as AuditEvents, or in the journal. */
  readonly written: number;
  /** Lost: recorded after close() (the server was shutting down). */
  readonly dropped: number;
  /** Lost because the store refused the write (or, from the journal, an entry that could not be read back). */
  readonly failed: number;
  /** Times a request waited for room in the queue. */
  readonly waits: number;
  /** Journal entries not yet made into AuditEvents (0 without a journal). */
  readonly backlog: number;
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
const DEFAULT_MAX_BACKLOG = 50_000;
const DEFAULT_BUSY_UTILIZATION = 0.5;
/** Journal entries made into AuditEvents per settle (in slices of 32 between requests: sqlite-resource-store.ts). */
const SETTLE_BATCH = 512;
/** How long the event loop is watched before a settle when nothing presses, ms. */
const QUIET_WINDOW_MS = 10;
/** After a failed settle (the store refused, or another process settled the same entries), ms. */
const SETTLE_RETRY_MS = 200;

interface CatchUpWaiter {
  readonly to: number;
  readonly resolve: () => void;
}

/** A pause of the settling loop; it does not keep the process alive on its own (a trail never closed, a crash test). */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class AuditTrail {
  readonly #store: AuditTrailOptions['store'];
  readonly #observer: string;
  readonly #capacity: number;
  readonly #maxBatch: number;
  readonly #budgetMs: number;
  readonly #delayMs: number;
  /** The store writes batches on another thread: no event-loop budget to keep, so no adapting. */
  readonly #offThread: boolean;
  readonly #maxBacklog: number;
  readonly #busyUtilization: number;
  #timer: NodeJS.Timeout | undefined;
  #batch: number;
  #queue: AuditFacts[] = [];
  #draining: Promise<void> | undefined;
  #scheduled = false;
  #closed = false;
  #written = 0;
  #dropped = 0;
  #failed = 0;
  #waits = 0;
  /** Requests waiting for room, resolved once the queue is below capacity again. */
  #waiting: Array<() => void> = [];
  // With a journal: entries appended and not settled, as far as this trail knows (the journal left
  // by an earlier run is counted once its size is read), and the settling loop.
  #backlog = 0;
  readonly #settling = new SingleFlight(
    () => this.#settleLoop(),
    // Work that arrived as the loop ended.
    () => this.#backlog > 0 && this.#urgentTo > this.#settledTo,
  );
  /** Settle at once (no waiting for a quiet loop) every entry up to this seq: catchUp() and close(). */
  #urgentTo = 0;
  /** The largest seq settled by this trail (entries are settled oldest first). */
  #settledTo = 0;
  #caughtUp: CatchUpWaiter[] = [];

  constructor(options: AuditTrailOptions) {
    this.#store = options.store;
    this.#observer = options.observer ?? 'switchboard';
    this.#capacity = Math.max(1, options.capacity ?? DEFAULT_CAPACITY);
    this.#offThread = options.store.createBatchRelaxed !== undefined && options.store.createBatchRelaxedOffThread === true;
    this.#maxBatch = Math.max(1, options.batchSize ?? (this.#offThread ? OFF_THREAD_BATCH : DEFAULT_BATCH));
    this.#budgetMs = Math.max(0.5, options.batchBudgetMs ?? DEFAULT_BUDGET_MS);
    this.#delayMs = Math.max(0, options.groupDelayMs ?? (this.#offThread ? OFF_THREAD_GROUP_DELAY_MS : DEFAULT_GROUP_DELAY_MS));
    this.#batch = this.#offThread ? this.#maxBatch : Math.min(FIRST_BATCH, this.#maxBatch);
    this.#maxBacklog = Math.max(0, options.maxBacklog ?? DEFAULT_MAX_BACKLOG);
    this.#busyUtilization = options.busyUtilization ?? DEFAULT_BUSY_UTILIZATION;
    const journal = this.#store.journal;
    if (journal !== undefined) {
      // What an earlier run left (a crash, or a backlog at shutdown) is made into AuditEvents too.
      void journal.size().then(
        (n) => {
          this.#backlog += n;
          this.#settle();
        },
        () => undefined,
      );
    }
  }

  /** Queues an event (its facts, or an AuditEvent made already); never throws, never waits (admission waits, in room()). */
  record(event: AuditFacts): void {
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
    return { pending: this.#queue.length, written: this.#written, dropped: this.#dropped, failed: this.#failed, waits: this.#waits, backlog: this.#backlog };
  }

  /**
   * Resolves once every event queued before the call is an AuditEvent in the store (or counted as
   * failed): the queue written, and the journal settled as far as it reached then.
   */
  async flush(): Promise<void> {
    while (this.#draining !== undefined || this.#queue.length > 0) await (this.#draining ?? this.#drain());
    await this.#catchUp();
  }

  /** flush(), for a request about to read AuditEvents: it sees every access recorded before it. */
  catchUp(): Promise<void> {
    return this.flush();
  }

  /** Stops accepting events, writes the ones queued and settles the journal. */
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

  /** Writes a batch (to the journal, or as AuditEvents in one transaction); the time it took, ms (undefined when it failed). */
  async #write(batch: readonly AuditFacts[]): Promise<number | undefined> {
    const journal = this.#store.journal;
    if (journal !== undefined) {
      try {
        await journal.append(batch.map((facts) => JSON.stringify(facts)));
        this.#written += batch.length;
        this.#backlog += batch.length;
        this.#settle();
        return 0;
      } catch {
        this.#failed += batch.length;
        return undefined;
      }
    }
    const events = batch.map((facts) => auditEventOf(facts, this.#observer));
    try {
      let ms: number;
      if (this.#store.createBatchRelaxed !== undefined) {
        const started = performance.now();
        await this.#store.createBatchRelaxed(events);
        ms = performance.now() - started;
      } else {
        ms = await this.#store.transaction(async (tx) => {
          const started = performance.now();
          for (const event of events) await tx.create(event);
          return performance.now() - started;
        });
      }
      this.#written += events.length;
      return ms;
    } catch {
      // One bad event must not take its batch with it: write them one by one.
      for (const event of events) {
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

  // -------------------------------------------------------------------------------------------
  // The journal: settling entries into AuditEvents
  // -------------------------------------------------------------------------------------------

  /** Settles every entry in the journal now (up to its head at the call), whatever the load. */
  async #catchUp(): Promise<void> {
    const journal = this.#store.journal;
    if (journal === undefined) return;
    let head: number;
    try {
      head = await journal.head();
    } catch {
      return;
    }
    if (head <= this.#settledTo) return;
    this.#urgentTo = Math.max(this.#urgentTo, head);
    const reached = new Promise<void>((resolve) => this.#caughtUp.push({ to: head, resolve }));
    this.#settle();
    await reached;
  }

  /** Starts the settling loop unless it runs. */
  #settle(): void {
    if (this.#store.journal !== undefined) this.#settling.start();
  }

  /** Whether the event loop was mostly busy over a short window (requests are being served). */
  async #busy(): Promise<boolean> {
    const start = performance.eventLoopUtilization();
    await sleep(QUIET_WINDOW_MS);
    return performance.eventLoopUtilization(start).utilization > this.#busyUtilization;
  }

  async #settleLoop(): Promise<void> {
    const journal = this.#store.journal;
    if (journal === undefined) return;
    for (;;) {
      const urgent = (): boolean => this.#closed || this.#urgentTo > this.#settledTo || this.#backlog >= this.#maxBacklog;
      if (!urgent() && (await this.#busy()) && !urgent()) continue;
      let entries: JournalEntry[];
      try {
        entries = await journal.oldest(SETTLE_BATCH);
      } catch {
        this.#resolveCaughtUp(true);
        return;
      }
      if (entries.length === 0) {
        this.#backlog = 0;
        this.#resolveCaughtUp(true);
        return;
      }
      const events: FhirResource[] = [];
      let unreadable = 0;
      for (const e of entries) {
        try {
          events.push(auditEventOf(JSON.parse(e.entry) as AuditFacts, this.#observer));
        } catch {
          // Not facts this version can read: counted as failed, and settled so it does not block the rest.
          unreadable++;
        }
      }
      try {
        await journal.settle(entries, events);
      } catch {
        // Refused (the store is closing or failing, or another process settled these). The requests
        // waiting to read AuditEvents go on with what is indexed; the entries are tried again later.
        this.#resolveCaughtUp(true);
        if (this.#closed) return;
        await sleep(SETTLE_RETRY_MS);
        continue;
      }
      this.#failed += unreadable;
      this.#backlog = Math.max(0, this.#backlog - entries.length);
      this.#settledTo = Math.max(this.#settledTo, entries[entries.length - 1]?.seq ?? 0);
      this.#resolveCaughtUp(false);
    }
  }

  /** Wakes the catchUp() calls whose entries are settled (all of them when the journal is empty or unreadable). */
  #resolveCaughtUp(all: boolean): void {
    const still: CatchUpWaiter[] = [];
    for (const w of this.#caughtUp) {
      if (all || w.to <= this.#settledTo) w.resolve();
      else still.push(w);
    }
    this.#caughtUp = still;
    if (all) this.#urgentTo = this.#settledTo;
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
 * Whether a FHIR request may read AuditEvents: on the type, naming it anywhere in its URL (a chain,
 * `_include`, `_revinclude`, `_type`), or a system-level search or history. Those wait for the
 * journal to be settled first (AuditTrail.catchUp). A Bundle is decided by its entries, once its
 * body is read (bundleMayReadAuditEvents).
 */
export function mayReadAuditEvents(method: string, url: string): boolean {
  if (!url.startsWith('/fhir/R4')) return false;
  if (url.includes('AuditEvent')) return true;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  // POST to the base is a Bundle: its entries decide (bundleMayReadAuditEvents).
  if (path === '/fhir/R4' || path === '/fhir/R4/') return method !== 'POST';
  if (path.startsWith('/fhir/R4/_')) return true;
  if (q === -1 || !url.includes('%', q)) return false;
  try {
    return decodeURIComponent(url.slice(q)).includes('AuditEvent');
  } catch {
    return false;
  }
}

/** A batch or transaction Bundle (POST /fhir/R4) with an entry that may read AuditEvents. */
export function bundleMayReadAuditEvents(body: unknown): boolean {
  const entries = typeof body === 'object' && body !== null ? (body as { entry?: unknown }).entry : undefined;
  if (!Array.isArray(entries)) return false;
  return entries.some((e: unknown) => {
    const request = typeof e === 'object' && e !== null ? (e as { request?: unknown }).request : undefined;
    const r = typeof request === 'object' && request !== null ? (request as { method?: unknown; url?: unknown }) : undefined;
    if (r === undefined || typeof r.url !== 'string' || (r.method !== 'GET' && r.method !== 'HEAD')) return false;
    return mayReadAuditEvents('GET', `/fhir/R4/${r.url.replace(/^\//, '')}`);
  });
}

/**
 * A trail over the store, flushed when the server closes; `observer` names this engine in each
 * event. Requests to audited paths wait for room in the queue before anything else (backpressure);
 * requests that may read AuditEvents wait for the trail to catch up.
 */
export function attachAuditTrail(app: FastifyInstance, store: AuditTrailOptions['store'], observer = 'switchboard', options: Omit<AuditTrailOptions, 'store' | 'observer'> = {}): AuditSinks {
  const trail = new AuditTrail({ ...options, store, observer });
  trails.set(app, trail);
  app.addHook('onRequest', (req, _reply, done) => {
    const wait = AUDITED_PREFIXES.some((p) => req.url.startsWith(p)) ? trail.room() : undefined;
    const read = mayReadAuditEvents(req.method, req.url) ? trail.catchUp() : undefined;
    if (wait === undefined && read === undefined) done();
    else void Promise.all([wait, read]).then(() => done());
  });
  // A Bundle's entries are known once its body is parsed.
  app.addHook('preHandler', (req, _reply, done) => {
    if (req.method === 'POST' && (req.url === '/fhir/R4' || req.url === '/fhir/R4/') && bundleMayReadAuditEvents(req.body)) void trail.catchUp().then(() => done());
    else done();
  });
  app.addHook('onClose', async () => trail.close());
  return {
    trail,
    fhir: (req, access, outcome) => trail.record(fhirAuditFacts(req, access, outcome)),
    auth: (event) => trail.record({ k: 'auth', at: Date.now(), event }),
  };
}
