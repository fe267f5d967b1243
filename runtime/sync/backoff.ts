// runtime/sync/backoff.ts
// Retries of store calls with capped exponential backoff and an AIMD concurrency limit for a throttling store (the pool of uploads in flight is runtime/async.ts's).

import { backoffDelay as delayOf, retry } from '../async.ts';
import { isBtcError } from '../errors.ts';


export interface BackoffOptions {
  /** Attempts including the first; after the last one the error is thrown. */
  maxAttempts: number;
  /** Delay before the second attempt (ms); doubles per attempt. */
  baseDelayMs: number;
  /** No delay is longer than this (ms). */
  maxDelayMs: number;
  signal?: AbortSignal;
  /** Told before each wait (logs, metrics). */
  onRetry?: (attempt: number, delayMs: number, err: unknown) => void;
}

/** min(cap, base × 2^(attempt-1)), scaled by a jitter in [0.5, 1) so many clients do not retry in step. */
export function backoffDelay(attempt: number, options: Pick<BackoffOptions, 'baseDelayMs' | 'maxDelayMs'>, random = Math.random): number {
  return Math.round(delayOf(attempt, { baseMs: options.baseDelayMs, capMs: options.maxDelayMs, jitter: [0.5, 1] }, random));
}

/** Runs `op`, retrying only Unavailable (network, 5xx, timeouts): anything else is a real answer. */
export function withBackoff<T>(op: () => Promise<T>, options: BackoffOptions): Promise<T> {
  return retry(op, {
    attempts: options.maxAttempts,
    retryIf: (err) => isBtcError(err, 'Unavailable'),
    // A throttled answer's Retry-After (s3-put.ts, already capped) is the least we wait.
    delayMs: (attempt, err) => {
      const retryAfter = ((err as { details?: unknown }).details as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
      return Math.max(backoffDelay(attempt, options), typeof retryAfter === 'number' ? retryAfter : 0);
    },
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** One burst of throttled answers (the requests in flight when the store got busy) is one signal, not many. */
const THROTTLE_CUT_COOLDOWN_MS = 1_000;

/**
 * Concurrency for bulk uploads against a store that may answer 503 SlowDown (TCP's AIMD): halved
 * on a throttled answer (at most once per cooldown, never below 1), one more after as many
 * successes in a row as the current limit, never above `max`. New work also waits out the
 * latest Retry-After.
 */
export class AdaptiveLimit {
  current: number;
  /** Lowest limit reached and throttled answers seen (for the summary and audit). */
  lowest: number;
  throttles = 0;
  private successes = 0;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  private resumeAt = 0;

  constructor(readonly max: number, private readonly now: () => number = () => performance.now()) {
    this.current = max;
    this.lowest = max;
  }

  /** A throttled answer with its Retry-After (ms, 0 when none); true when this one lowered the limit. */
  onThrottle(retryAfterMs: number): boolean {
    this.throttles++;
    const at = this.now();
    this.resumeAt = Math.max(this.resumeAt, at + retryAfterMs);
    this.successes = 0;
    if (at - this.lastCutAt < Math.max(THROTTLE_CUT_COOLDOWN_MS, retryAfterMs)) return false;
    this.lastCutAt = at;
    this.current = Math.max(1, Math.floor(this.current / 2));
    this.lowest = Math.min(this.lowest, this.current);
    return true;
  }

  onSuccess(): void {
    if (this.current >= this.max) return;
    if (++this.successes >= this.current) {
      this.current++;
      this.successes = 0;
    }
  }

  /** How long new work should still wait for the latest Retry-After (ms). */
  pauseMs(): number {
    return Math.max(0, this.resumeAt - this.now());
  }
}
