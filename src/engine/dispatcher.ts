import { SwitchboardError, isSwitchboardError } from '../core/errors.ts';
import type { ErrorCode, FailureClass } from '../core/errors.ts';
import type { Delivery, DeliveryQueue } from '../core/ports/delivery-queue.ts';
import { backoff } from './backoff.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { DestinationConnector, OutboundDelivery, SendResult } from './destination-connector.ts';

/**
 * The dispatcher: the step of a message's path between the queue and the connectors
 * (ARCHITECTURE.md "A message's path"). One loop per destination leases deliveries, sends each
 * through the destination's connector, and records the outcome by failure class (invariant 3).
 * Ordering per key (invariant 4) is the queue's job: it hands out only the head of each key, so the
 * dispatcher may send different keys in parallel and never sees two deliveries of one key at once.
 *
 * History: the queue appends the `delivered` / `failed` event in the same transaction as the
 * outcome (DeliveryQueue.complete/fail), so the dispatcher writes no events of its own; each
 * attempt's start and end are on its attempt row. Every store call here is bookkeeping that may
 * commit without fsync (docs/adr/0002-delivery-bookkeeping-durability.md).
 */

export const OnError = { block: 'block', park: 'park' } as const;
export type OnError = (typeof OnError)[keyof typeof OnError];

export interface DispatchDestination {
  readonly connector: DestinationConnector;
  /** Sends in flight at once (different keys; a key never has two). */
  readonly concurrency: number;
  readonly retry: BackoffPolicy;
  /** A delivery that finally failed blocks its key (`block`) or is moved aside so the key flows (`park`). */
  readonly onError: OnError;
  /** The signal given to the connector aborts after this long; an unclassified abort is ambiguous. */
  readonly attemptTimeoutMs: number;
}

/** The subset of a pino logger the dispatcher uses; it logs ids and codes only (invariant 7). */
export interface DispatcherLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

export interface DispatcherOptions {
  readonly queue: DeliveryQueue;
  readonly destinations: ReadonlyMap<string, DispatchDestination>;
  /** The lease owner: unique per process and dispatcher (e.g. host + pid). */
  readonly owner: string;
  /** Must exceed every destination's attemptTimeoutMs + abortGraceMs, so a live send keeps its lease. */
  readonly leaseMs: number;
  /** How often an idle destination looks for due work (retries coming due, other processes' enqueues). */
  readonly pollMs: number;
  readonly clock?: () => Date;
  readonly logger?: DispatcherLogger;
  /** Jitter source for backoff (default Math.random). */
  readonly random?: () => number;
  /**
   * After the signal aborts, how long the connector still has to classify the outcome before the
   * dispatcher records it as ambiguous itself (default 1000 ms).
   */
  readonly abortGraceMs?: number;
  /** How long stop() waits for in-flight sends before aborting them (default 10 s). */
  readonly stopTimeoutMs?: number;
  /** Told of every recorded attempt (for metrics: counts by result, latency). */
  readonly onAttempt?: (attempt: AttemptReport) => void;
}

export interface AttemptReport {
  readonly destination: string;
  readonly result: 'delivered' | 'retry' | 'failed' | 'ambiguous' | 'parked';
  readonly durationMs: number;
  readonly errorCode?: string;
  /** From the delivery's creation to this attempt's end: how long the message waited in all. */
  readonly sinceEnqueueMs: number;
}

/** Counters since start, per destination (for /metrics). */
export interface DispatchStats {
  readonly inFlight: number;
  readonly delivered: number;
  /** Final failures: permanent, ambiguous, attempts used up (parked ones included). */
  readonly failed: number;
  /** Transient failures with attempts left, scheduled again. */
  readonly retried: number;
}

/** Kept so that a connector's reply stored with the attempt stays bounded. */
const MAX_RESPONSE_CHARS = 16_384;
const DEFAULT_ABORT_GRACE_MS = 1000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

const noopLogger: DispatcherLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

type State = 'idle' | 'running' | 'stopping' | 'stopped';

/** A one-slot wake-up: a fire with nobody waiting is remembered, so a notify during a claim is not lost. */
class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  fire(): void {
    const resolve = this.#resolve;
    if (resolve !== undefined) {
      this.#resolve = undefined;
      // On the next turn, not now: outcomes recorded by one group commit all settle in this turn,
      // so the loop wakes once with every freed slot and claims them in one batch.
      setImmediate(resolve);
    } else this.#pending = true;
  }

  wait(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#resolve = undefined;
        resolve();
      }, ms);
      this.#resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

interface InFlight {
  readonly destination: string;
  /** The delivery's attempts when it was claimed. */
  readonly attempts: number;
  /** The same delivery claimed again for its next attempt before this one settled: run it after. */
  next: Delivery | undefined;
  readonly controller: AbortController;
  /** Why the signal was aborted, when it was. */
  abortedBy: 'timeout' | 'shutdown' | undefined;
  /** Settles once the attempt is recorded (or could not be). */
  done: Promise<void>;
}

interface Lane {
  readonly name: string;
  readonly config: DispatchDestination;
  readonly wakeup: Wakeup;
  readonly inFlight: Map<string, InFlight>;
  paused: boolean;
  delivered: number;
  failed: number;
  retried: number;
}

/** What an attempt came to, before it is recorded. */
type Outcome =
  | { readonly kind: 'delivered'; readonly response: string | undefined }
  | {
      readonly kind: 'failed';
      readonly failureClass: FailureClass;
      readonly errorCode: string;
      readonly response: string | undefined;
      readonly retryAfterMs: number | undefined;
    };

export class Dispatcher {
  readonly #queue: DeliveryQueue;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #clock: () => Date;
  readonly #logger: DispatcherLogger;
  readonly #random: () => number;
  readonly #abortGraceMs: number;
  readonly #stopTimeoutMs: number;
  readonly #onAttempt: ((attempt: AttemptReport) => void) | undefined;
  readonly #lanes = new Map<string, Lane>();
  readonly #loops: Promise<void>[] = [];
  #state: State = 'idle';
  #stopping: Promise<void> | undefined;
  /** stop() ran out of time and aborted the in-flight sends. */
  #aborting = false;

  constructor(options: DispatcherOptions) {
    this.#queue = options.queue;
    this.#owner = options.owner;
    this.#leaseMs = options.leaseMs;
    this.#pollMs = options.pollMs;
    this.#clock = options.clock ?? ((): Date => new Date());
    this.#logger = options.logger ?? noopLogger;
    this.#random = options.random ?? Math.random;
    this.#abortGraceMs = options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.#onAttempt = options.onAttempt;
    if (typeof this.#owner !== 'string' || this.#owner === '') throw invalid('dispatcher.owner', 'must be a non-empty string');
    positive('dispatcher.pollMs', this.#pollMs);
    positive('dispatcher.leaseMs', this.#leaseMs);
    if (!Number.isFinite(this.#abortGraceMs) || this.#abortGraceMs < 0) throw invalid('dispatcher.abortGraceMs', 'must be a number >= 0');
    if (!Number.isFinite(this.#stopTimeoutMs) || this.#stopTimeoutMs < 0) throw invalid('dispatcher.stopTimeoutMs', 'must be a number >= 0');
    for (const [name, config] of options.destinations) {
      const at = `destinations.${name}`;
      if (!Number.isSafeInteger(config.concurrency) || config.concurrency < 1) throw invalid(`${at}.concurrency`, 'must be an integer >= 1');
      positive(`${at}.attemptTimeoutMs`, config.attemptTimeoutMs);
      if (!Number.isFinite(config.retry.initialMs) || config.retry.initialMs < 0) throw invalid(`${at}.retry.initialMs`, 'must be a number >= 0');
      if (!Number.isFinite(config.retry.maxMs) || config.retry.maxMs < config.retry.initialMs) throw invalid(`${at}.retry.maxMs`, 'must be a number >= retry.initialMs');
      if (config.onError !== 'block' && config.onError !== 'park') throw invalid(`${at}.onError`, 'must be block or park');
      // A lease that can run out while the send is still live would let another worker send the
      // same delivery concurrently.
      if (this.#leaseMs <= config.attemptTimeoutMs + this.#abortGraceMs) {
        throw invalid('dispatcher.leaseMs', `must exceed ${at}.attemptTimeoutMs + abortGraceMs (${config.attemptTimeoutMs + this.#abortGraceMs})`);
      }
      this.#lanes.set(name, { name, config, wakeup: new Wakeup(), inFlight: new Map(), paused: false, delivered: 0, failed: 0, retried: 0 });
    }
  }

  /** Starts one loop per destination. Calling it again while running does nothing. */
  start(): void {
    if (this.#state === 'running') return;
    if (this.#state !== 'idle') throw new SwitchboardError('SWB_ERR_DISPATCH_STOPPED');
    this.#state = 'running';
    for (const lane of this.#lanes.values()) this.#loops.push(this.#run(lane));
    this.#logger.info({ owner: this.#owner, destinations: [...this.#lanes.keys()] }, 'dispatcher started');
  }

  /**
   * Stops claiming, waits for in-flight sends (at most `timeoutMs`, default the stopTimeoutMs
   * option), then aborts what is left and gives it abortGraceMs to be recorded. A send still
   * unrecorded after that keeps its lease, which expires and hands the delivery to another worker.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.timeoutMs ?? this.#stopTimeoutMs);
    return this.#stopping;
  }

  /** Claims for `destination` now instead of at the next poll (the ingest path calls it after enqueue). */
  notify(destination: string): void {
    // Not ours: another process may serve it; its own poll will find the work.
    this.#lanes.get(destination)?.wakeup.fire();
  }

  /** Stops claiming for a destination; its in-flight sends finish and are recorded. */
  pause(destination: string): void {
    this.#lane(destination).paused = true;
    this.#logger.info({ destination, owner: this.#owner }, 'destination paused');
  }

  resume(destination: string): void {
    const lane = this.#lane(destination);
    lane.paused = false;
    lane.wakeup.fire();
    this.#logger.info({ destination, owner: this.#owner }, 'destination resumed');
  }

  isPaused(destination: string): boolean {
    return this.#lane(destination).paused;
  }

  stats(destination: string): DispatchStats {
    const lane = this.#lane(destination);
    return { inFlight: lane.inFlight.size, delivered: lane.delivered, failed: lane.failed, retried: lane.retried };
  }

  #lane(destination: string): Lane {
    const lane = this.#lanes.get(destination);
    if (lane === undefined) throw new SwitchboardError('SWB_ERR_DISPATCH_UNKNOWN_DESTINATION', { destination });
    return lane;
  }

  async #stop(timeoutMs: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    for (const lane of this.#lanes.values()) lane.wakeup.fire();
    // Each loop ends after its current claim; what that claim returned is already in flight.
    await Promise.all(this.#loops);
    const pending = (): InFlight[] => [...this.#lanes.values()].flatMap((lane) => [...lane.inFlight.values()]);
    // Until nothing is in flight: a settling attempt may launch its delivery's next one.
    const drained = async (ms: number): Promise<boolean> => {
      const deadline = Date.now() + ms;
      for (let left = pending(); left.length > 0; left = pending()) {
        if (!(await within(Promise.all(left.map((f) => f.done)), deadline - Date.now()))) return false;
      }
      return true;
    };
    if (!(await drained(timeoutMs))) {
      const left = [...this.#lanes.values()].flatMap((lane) => [...lane.inFlight.keys()]);
      this.#logger.warn({ owner: this.#owner, deliveryIds: left }, 'stop timed out; aborting in-flight sends');
      this.#aborting = true;
      for (const f of pending()) {
        f.abortedBy ??= 'shutdown';
        f.controller.abort(new SwitchboardError('SWB_ERR_DISPATCH_SHUTDOWN', { destination: f.destination }));
      }
      // The attempt itself gives the connector abortGraceMs; allow that plus a little for the store.
      if (!(await drained(this.#abortGraceMs + 1000))) {
        const stuck = [...this.#lanes.values()].flatMap((lane) => [...lane.inFlight.keys()]);
        this.#logger.error({ owner: this.#owner, deliveryIds: stuck }, 'in-flight sends not recorded at stop; their leases will expire');
      }
    }
    this.#state = 'stopped';
    this.#logger.info({ owner: this.#owner }, 'dispatcher stopped');
  }

  /** One destination's loop. Never rejects: every failure inside is logged and the loop goes on. */
  async #run(lane: Lane): Promise<void> {
    while (this.#state === 'running') {
      let full = false;
      const free = lane.config.concurrency - lane.inFlight.size;
      if (!lane.paused && free > 0) {
        let claimed: Delivery[] = [];
        try {
          claimed = await this.#queue.claim({ destination: lane.name, owner: this.#owner, leaseMs: this.#leaseMs, limit: free, now: this.#clock() });
        } catch (error) {
          this.#logger.error({ destination: lane.name, owner: this.#owner, code: codeOf(error) }, 'claim failed; retrying at the next poll');
        }
        // Sent even when stop() began meanwhile: they are leased to us now, and dropping them would
        // delay them until the lease expires.
        for (const delivery of claimed) this.#launch(lane, delivery);
        // A full batch: more may be waiting, claim again at once (or when a slot frees).
        full = claimed.length > 0 && claimed.length >= free;
      }
      if (this.#state !== 'running') break;
      if (full && lane.inFlight.size < lane.config.concurrency) continue;
      await lane.wakeup.wait(this.#pollMs);
    }
  }

  #launch(lane: Lane, delivery: Delivery): void {
    const current = lane.inFlight.get(delivery.id);
    if (current !== undefined) {
      // Claimed again while our previous attempt is still settling. More attempts than then: that
      // attempt's outcome is recorded (a retry due at once) and this is the next one, to run when
      // it settles. The same count: our own lease ran out mid-send (a store call stalled past
      // leaseMs) and the live send will record the outcome, so this copy is dropped.
      if (delivery.attempts > current.attempts) current.next = delivery;
      return;
    }
    const flight: InFlight = { destination: lane.name, attempts: delivery.attempts, next: undefined, controller: new AbortController(), abortedBy: undefined, done: Promise.resolve() };
    lane.inFlight.set(delivery.id, flight);
    flight.done = this.#attempt(lane, delivery, flight)
      .catch((error: unknown) => {
        // #attempt handles its own failures; this is a last line against a bug taking the loop down.
        this.#logger.error({ destination: lane.name, deliveryId: delivery.id, code: codeOf(error) }, 'attempt failed unexpectedly');
      })
      .finally(() => {
        lane.inFlight.delete(delivery.id);
        // Once stop() is aborting, a next attempt would only be aborted in turn: it keeps its lease,
        // which expires and hands it to another worker.
        if (flight.next !== undefined && !this.#aborting) this.#launch(lane, flight.next);
        // A slot is free, and the next delivery of this key may have become the head.
        lane.wakeup.fire();
      });
  }

  async #attempt(lane: Lane, delivery: Delivery, flight: InFlight): Promise<void> {
    const { config } = lane;
    const { controller } = flight;
    const attempt = delivery.attempts + 1;
    const startedAt = this.#clock();

    const timer = setTimeout(() => {
      flight.abortedBy ??= 'timeout';
      controller.abort(new SwitchboardError('SWB_ERR_DISPATCH_ATTEMPT_TIMEOUT', { destination: lane.name, ms: config.attemptTimeoutMs }));
    }, config.attemptTimeoutMs);
    let outcome: Outcome;
    try {
      outcome = await this.#send(lane, delivery, attempt, controller.signal, () => flight.abortedBy);
    } finally {
      clearTimeout(timer);
    }
    const finishedAt = this.#clock();
    const response = outcome.response === undefined ? undefined : outcome.response.slice(0, MAX_RESPONSE_CHARS);
    const ids = { destination: lane.name, deliveryId: delivery.id, messageId: delivery.messageId, attempt };

    try {
      if (outcome.kind === 'delivered') {
        await this.#queue.complete(delivery.id, this.#owner, { startedAt, finishedAt, ...(response !== undefined ? { response } : {}) });
        lane.delivered++;
        this.#report(lane.name, 'delivered', delivery, startedAt, finishedAt);
        return;
      }
      const willRetry = outcome.failureClass === 'transient' && attempt < delivery.maxAttempts;
      const park = config.onError === 'park';
      let retryAt: Date | undefined;
      if (willRetry) {
        const delay = backoff({
          attempt,
          initialMs: config.retry.initialMs,
          maxMs: config.retry.maxMs,
          ...(config.retry.multiplier !== undefined ? { multiplier: config.retry.multiplier } : {}),
          ...(config.retry.jitter !== undefined ? { jitter: config.retry.jitter } : {}),
          random: this.#random,
          ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
        });
        retryAt = new Date(finishedAt.getTime() + delay);
      }
      await this.#queue.fail(delivery.id, this.#owner, {
        startedAt,
        finishedAt,
        errorCode: outcome.errorCode,
        failureClass: outcome.failureClass,
        ...(retryAt !== undefined ? { retryAt } : {}),
        ...(park ? { park } : {}),
        ...(response !== undefined ? { response } : {}),
      });
      // Mirrors the queue's rule (DeliveryQueue.fail): parking applies only to a final failure.
      const result = willRetry ? 'retry' : park ? 'parked' : outcome.failureClass === 'ambiguous' ? 'ambiguous' : 'failed';
      if (willRetry) lane.retried++;
      else lane.failed++;
      this.#report(lane.name, result, delivery, startedAt, finishedAt, outcome.errorCode);
      const log = { ...ids, code: outcome.errorCode, failureClass: outcome.failureClass, result };
      if (willRetry) this.#logger.info({ ...log, retryAt: retryAt?.toISOString() ?? null }, 'delivery attempt failed; will retry');
      else this.#logger.warn(log, 'delivery failed; in the exception queue');
    } catch (error) {
      if (isSwitchboardError(error) && error.code === 'SWB_ERR_QUEUE_LEASE_LOST') {
        // Our lease expired and another worker claimed the delivery: its outcome is theirs to record.
        this.#logger.warn({ ...ids, owner: this.#owner, code: error.code }, 'lease lost before the outcome was recorded; the new holder owns it');
        return;
      }
      // The store failed: the lease expires and the delivery is sent again (at-least-once, invariant 2).
      this.#logger.error({ ...ids, code: codeOf(error) }, 'could not record the attempt; the delivery returns when its lease expires');
    }
  }

  #report(destination: string, result: AttemptReport['result'], delivery: Delivery, startedAt: Date, finishedAt: Date, errorCode?: string): void {
    if (this.#onAttempt === undefined) return;
    try {
      this.#onAttempt({
        destination,
        result,
        durationMs: finishedAt.getTime() - startedAt.getTime(),
        sinceEnqueueMs: finishedAt.getTime() - delivery.createdAt.getTime(),
        ...(errorCode !== undefined ? { errorCode } : {}),
      });
    } catch {
      // A metrics hook must not change what happens to the delivery.
    }
  }

  /** Calls the connector and turns whatever happens into an Outcome; never throws. */
  async #send(lane: Lane, delivery: Delivery, attempt: number, signal: AbortSignal, abortedBy: () => InFlight['abortedBy']): Promise<Outcome> {
    const outbound: OutboundDelivery = {
      id: delivery.id,
      messageId: delivery.messageId,
      destination: delivery.destination,
      payload: delivery.payload,
      idempotencyKey: delivery.idempotencyKey,
      attempt,
    };
    // An async wrapper so that a connector throwing synchronously is caught the same way.
    const sending = (async (): Promise<unknown> => lane.config.connector.send(outbound, signal))();
    const guard = abandonAfterAbort(signal, this.#abortGraceMs);
    let settled: { kind: 'result'; value: unknown } | { kind: 'threw'; error: unknown } | { kind: 'abandoned' };
    try {
      settled = await Promise.race([
        sending.then(
          (value) => ({ kind: 'result' as const, value }),
          (error: unknown) => ({ kind: 'threw' as const, error }),
        ),
        guard.promise.then(() => ({ kind: 'abandoned' as const })),
      ]);
    } finally {
      guard.cancel();
    }
    const unclassifiedAbort = (): Outcome => {
      const code: ErrorCode = abortedBy() === 'shutdown' ? 'SWB_ERR_DISPATCH_SHUTDOWN' : 'SWB_ERR_DISPATCH_ATTEMPT_TIMEOUT';
      return { kind: 'failed', failureClass: 'ambiguous', errorCode: code, response: undefined, retryAfterMs: undefined };
    };
    const ids = { destination: lane.name, deliveryId: delivery.id, attempt };
    switch (settled.kind) {
      case 'abandoned':
        this.#logger.warn({ ...ids, connector: lane.config.connector.kind }, 'connector ignored the abort signal; recording the attempt as ambiguous');
        return unclassifiedAbort();
      case 'threw':
        // Aborted: the request may have reached the far side, and the connector did not say.
        if (signal.aborted) return unclassifiedAbort();
        // A connector must return failures as data; a throw is its bug. Log the error's name and
        // code only: its message may quote the payload (invariant 7).
        this.#logger.error({ ...ids, connector: lane.config.connector.kind, errorName: errorName(settled.error), code: codeOf(settled.error) }, 'connector threw');
        return { kind: 'failed', failureClass: 'transient', errorCode: 'SWB_ERR_DISPATCH_CONNECTOR_THREW', response: undefined, retryAfterMs: undefined };
      case 'result': {
        const result = asSendResult(settled.value);
        if (result === undefined) {
          this.#logger.error({ ...ids, connector: lane.config.connector.kind }, 'connector returned an invalid result');
          return { kind: 'failed', failureClass: 'transient', errorCode: 'SWB_ERR_DISPATCH_BAD_RESULT', response: undefined, retryAfterMs: undefined };
        }
        if (result.kind === 'delivered') return { kind: 'delivered', response: result.response };
        return { kind: 'failed', failureClass: result.failureClass, errorCode: result.errorCode, response: result.response, retryAfterMs: result.retryAfterMs };
      }
    }
  }
}

/** Validates what a connector returned, field by field: connectors are plugins and may be wrong. */
function asSendResult(value: unknown): SendResult | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const response = v['response'];
  if (response !== undefined && typeof response !== 'string') return undefined;
  if (v['kind'] === 'delivered') return { kind: 'delivered', ...(response !== undefined ? { response } : {}) };
  if (v['kind'] !== 'failed') return undefined;
  const failureClass = v['failureClass'];
  const errorCode = v['errorCode'];
  const retryAfterMs = v['retryAfterMs'];
  if (failureClass !== 'transient' && failureClass !== 'ambiguous' && failureClass !== 'permanent') return undefined;
  if (typeof errorCode !== 'string' || errorCode === '') return undefined;
  if (retryAfterMs !== undefined && (typeof retryAfterMs !== 'number' || !Number.isFinite(retryAfterMs) || retryAfterMs < 0)) return undefined;
  return {
    kind: 'failed',
    failureClass,
    errorCode,
    ...(response !== undefined ? { response } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** Resolves `graceMs` after `signal` aborts; cancel() releases the timer and the listener. */
function abandonAfterAbort(signal: AbortSignal, graceMs: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<void>((resolve) => {
    onAbort = (): void => {
      timer = setTimeout(resolve, graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return {
    promise,
    cancel: (): void => {
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
    },
  };
}

/** True if `promise` settled within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function codeOf(error: unknown): string {
  return isSwitchboardError(error) ? error.code : 'SWB_ERR_INTERNAL_UNEXPECTED';
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function positive(path: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw invalid(path, 'must be a number > 0');
}

function invalid(path: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path, reason });
}
