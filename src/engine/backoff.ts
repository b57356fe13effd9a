import { SwitchboardError } from '../core/errors.ts';

/** A destination's retry timing, in milliseconds (the channel schema resolves it). */
export interface BackoffPolicy {
  /** The ceiling of the first retry's delay. */
  readonly initialMs: number;
  /** No ceiling grows past this. */
  readonly maxMs: number;
  /** Growth of the ceiling per attempt (default 2). */
  readonly multiplier?: number;
  /**
   * The random share of each delay, 0..1 (default 1, "full jitter"): the delay is uniform in
   * [ceiling * (1 - jitter), ceiling].
   */
  readonly jitter?: number;
}

export interface BackoffRequest extends BackoffPolicy {
  /** The attempt that just failed: 1 after the first attempt. */
  readonly attempt: number;
  /** The far side asked to wait at least this long (HTTP Retry-After): a floor on the delay. */
  readonly retryAfterMs?: number;
  /** Uniform in [0, 1), like Math.random (the default); tests inject a fixed one. */
  readonly random?: () => number;
}

/**
 * The delay before the next attempt: exponential backoff with full jitter, i.e. a uniformly random
 * integer in [0, min(maxMs, initialMs * 2^(attempt - 1))]. Full jitter spreads the retries of many
 * deliveries that failed together (an endpoint went down) instead of letting them return in step.
 * A connector's `retryAfterMs` is a floor: the result is never below it, even above `maxMs`,
 * because the far side said sooner is pointless.
 */
export function backoff(request: BackoffRequest): number {
  const { attempt, initialMs, maxMs } = request;
  if (!Number.isSafeInteger(attempt) || attempt < 1) throw invalid('attempt', 'must be an integer >= 1');
  if (!Number.isFinite(initialMs) || initialMs < 0) throw invalid('retry.initialMs', 'must be a number >= 0');
  if (!Number.isFinite(maxMs) || maxMs < initialMs) throw invalid('retry.maxMs', 'must be a number >= retry.initialMs');
  const multiplier = request.multiplier ?? 2;
  const jitter = request.jitter ?? 1;
  if (!Number.isFinite(multiplier) || multiplier < 1) throw invalid('retry.multiplier', 'must be a number >= 1');
  if (!Number.isFinite(jitter) || jitter < 0 || jitter > 1) throw invalid('retry.jitter', 'must be a number between 0 and 1');
  // multiplier^(attempt-1) overflows to Infinity for large attempts; min() then yields maxMs, as wanted.
  const ceiling = Math.floor(Math.min(maxMs, initialMs * multiplier ** (attempt - 1)));
  const r = (request.random ?? Math.random)();
  // A random source outside [0, 1) (a bad test double) is clamped rather than trusted.
  const unit = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  const fixed = Math.floor(ceiling * (1 - jitter));
  const jittered = Math.min(ceiling, fixed + Math.floor(unit * (ceiling - fixed + 1)));
  const floor = request.retryAfterMs !== undefined && Number.isFinite(request.retryAfterMs) && request.retryAfterMs > 0 ? Math.ceil(request.retryAfterMs) : 0;
  return Math.max(jittered, floor);
}

function invalid(path: string, reason: string): SwitchboardError {
  return new SwitchboardError('SWB_ERR_CONFIG_INVALID', { path, reason });
}
