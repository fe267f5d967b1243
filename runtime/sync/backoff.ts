// runtime/sync/backoff.ts
// Retries of store calls with capped exponential backoff, and a bounded pool of uploads in flight.

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
  const exponential = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential * (0.5 + random() / 2));
}

/** Runs `op`, retrying only Unavailable (network, 5xx, timeouts): anything else is a real answer. */
export async function withBackoff<T>(op: () => Promise<T>, options: BackoffOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isBtcError(err, 'Unavailable') || attempt >= options.maxAttempts || options.signal?.aborted) throw err;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(attempt, delay, err);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * At most `limit` tasks in flight. `submit` waits for a free slot, so the producer (which reads
 * and checks segments in order) never runs far ahead; the first failure stops new submissions.
 */
export class BoundedPool {
  private readonly inFlight = new Set<Promise<void>>();
  private firstError: unknown;
  private failed = false;

  constructor(private readonly limit: number) {}

  get error(): unknown {
    return this.firstError;
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  async submit(task: () => Promise<void>): Promise<void> {
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    if (this.failed) return;
    const run = task()
      .catch((err) => {
        if (!this.failed) this.firstError = err;
        this.failed = true;
      })
      .finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
  }
}
