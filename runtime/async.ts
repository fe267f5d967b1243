// runtime/async.ts
// The one async toolkit: backoff delay, retries (p-retry), concurrency limits (p-limit) and timeouts, so no module writes its own.

import pLimit, { type LimitFunction } from 'p-limit';
import pRetry from 'p-retry';
import { BtcError } from './errors.ts';

/** The shape of an exponential backoff; each caller keeps its own constants. */
export interface BackoffShape {
  /** Delay for the first retry (attempt 1), before jitter (ms). */
  baseMs: number;
  /** No delay before jitter is longer than this (ms); Infinity for none. */
  capMs: number;
  /**
   * The factor the capped delay is multiplied by, drawn uniformly from [low, high): `[0, 1]` is
   * "full jitter", `[0.8, 1.2]` is ±20 %. Default `[1, 1]` (none; `random` is then not called).
   */
  jitter?: readonly [low: number, high: number];
  /** Doublings stop after this many (default: none before the cap). */
  maxDoublings?: number;
}

/**
 * min(cap, base × 2^(attempt−1)) × jitter, for `attempt` ≥ 1 (0 or less counts as 1). Not rounded:
 * callers that report or assert whole milliseconds round it themselves. Pure; `random` in [0, 1).
 */
export function backoffDelay(attempt: number, shape: BackoffShape, random: () => number = Math.random): number {
  const doublings = Math.min(Math.max(0, attempt - 1), shape.maxDoublings ?? Number.POSITIVE_INFINITY, 1_000);
  const capped = Math.min(shape.capMs, shape.baseMs * 2 ** doublings);
  const [low, high] = shape.jitter ?? [1, 1];
  return low === high ? capped * low : capped * (low + (high - low) * random());
}

/** Resolves after `ms` (never rejects); early, at once, when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface RetryOptions {
  /** Attempts including the first (≥ 1; Infinity with a `retryIf` that ends it). */
  attempts: number;
  /** Whether this failure of attempt `attempt` (1-based) is tried again; false throws it. */
  retryIf: (err: unknown, attempt: number) => boolean;
  /** Wait before the next attempt after attempt `attempt` failed with `err` (ms). */
  delayMs: (attempt: number, err: unknown) => number;
  /** Told before each wait (logs, metrics, audit); awaited. */
  onRetry?: (attempt: number, delayMs: number, err: unknown) => void | Promise<void>;
  /** Once aborted no new attempt starts: the wait ends at once and the last error is thrown. */
  signal?: AbortSignal;
}

/** Carries what an attempt threw through p-retry untouched (p-retry never retries non-network TypeErrors or non-Errors). */
class Attempt extends Error {
  constructor(readonly thrown: unknown) {
    super('attempt failed');
  }
}

/**
 * Runs `op(attempt)` until it succeeds, `retryIf` says no, the attempts are used up or `signal`
 * aborts; throws what the last attempt threw, as it came (p-retry underneath). A successful
 * attempt's result is returned even when `signal` aborted meanwhile.
 */
export async function retry<T>(op: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { signal } = options;
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await op(attempt);
        } catch (err) {
          throw new Attempt(err);
        }
      },
      {
        retries: Math.max(0, options.attempts - 1),
        minTimeout: 0, // the wait is ours, in shouldRetry: p-retry waits 0
        shouldRetry: async ({ error, attemptNumber }) => {
          const err = (error as Attempt).thrown;
          if (signal?.aborted || !options.retryIf(err, attemptNumber)) return false;
          const delay = options.delayMs(attemptNumber, err);
          await options.onRetry?.(attemptNumber, delay, err);
          await sleep(delay, signal);
          return !signal?.aborted;
        },
      },
    );
  } catch (err) {
    throw err instanceof Attempt ? err.thrown : err;
  }
}

/**
 * `promise`'s outcome, or the error `onTimeout()` makes when it has not settled within `ms`. The
 * work itself is not cancelled (a late rejection is handled, never unhandled); the timer is
 * cleared when it settles. Written here rather than on p-timeout: it runs once per ws message
 * (runner.ts withSilence), and p-timeout costs ~30× more per call (allocates an Error each time).
 */
export function timeout<T>(promise: PromiseLike<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return within<T, never>(promise, ms, (_resolve, reject) => reject(onTimeout()));
}

/** `promise`'s value, or `fallback` when it has not settled within `ms` (a rejection still rejects; the timer is cleared when it settles). */
export function orAfter<T, F>(promise: PromiseLike<T>, ms: number, fallback: F): Promise<T | F> {
  return within<T, F>(promise, ms, (resolve) => resolve(fallback));
}

/** `promise` settled as it settles, or as `atTimeout` says after `ms`; the timer is cleared when it settles. */
function within<T, F>(promise: PromiseLike<T>, ms: number, atTimeout: (resolve: (value: F) => void, reject: (err: Error) => void) => void): Promise<T | F> {
  return new Promise<T | F>((resolve, reject) => {
    const timer = setTimeout(() => atTimeout(resolve, reject), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/**
 * Rejects with Unavailable ("<what> timed out after <ms> ms") when `promise` has not settled within
 * `ms`. The call itself may still land later (callers that care, like the lease, recognise their
 * own late write).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'call'): Promise<T> {
  return timeout(promise, ms, () => new BtcError('Unavailable', `${what} timed out after ${ms} ms`));
}

/** Runs `fn` over `items` with at most `limit` in flight (p-limit); results keep the input order; the first rejection rejects. */
export function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const run = pLimit(Math.max(1, limit));
  return Promise.all(items.map((item) => run(() => fn(item))));
}

/**
 * `size` slots taken and given back by hand (first come, first served, on p-limit), for work whose
 * slot is held across steps that do not fit in one callback. Every `acquire` needs one `release`.
 */
export class Slots {
  private readonly limit: LimitFunction;
  private readonly held: Array<() => void> = [];

  constructor(size: number) {
    this.limit = pLimit(Math.max(1, size));
  }

  /** Resolves once a slot is free (and taken). */
  acquire(): Promise<void> {
    return new Promise<void>((taken) => {
      void this.limit(
        () =>
          new Promise<void>((free) => {
            this.held.push(free);
            taken();
          }),
      );
    });
  }

  /** Gives one slot back (the slots are interchangeable); the next waiter gets it. */
  release(): void {
    this.held.shift()?.();
  }
}

/** A limit read afresh before each start, and a wait new work must sit out (sync's AdaptiveLimit). */
export interface DynamicLimit {
  readonly current: number;
  pauseMs(): number;
}

/**
 * At most `limit` tasks in flight (a number, or a DynamicLimit read at every start, on p-limit's
 * adjustable concurrency). `submit` resolves once its task has started, so a producer that awaits
 * it never runs far ahead; the first failure is kept (`error`) and stops new tasks.
 */
export class BoundedPool {
  private readonly limit: LimitFunction;
  private readonly dynamic: DynamicLimit | null;
  private readonly running = new Set<Promise<void>>();
  private firstError: unknown;
  private failed = false;

  constructor(limit: number | DynamicLimit) {
    this.dynamic = typeof limit === 'number' ? null : limit;
    this.limit = pLimit(Math.max(1, typeof limit === 'number' ? limit : limit.current));
  }

  get error(): unknown {
    return this.firstError;
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  async submit(task: () => Promise<void>): Promise<void> {
    const dynamic = this.dynamic;
    for (;;) {
      if (dynamic) {
        const pause = dynamic.pauseMs();
        if (pause > 0) {
          await sleep(pause);
          continue;
        }
        this.setConcurrency(dynamic.current);
      }
      const started = await new Promise<boolean>((resolve) => {
        const run = this.limit(async () => {
          // The limit fell, or a Retry-After came, while this one queued: queue again.
          if (dynamic && (dynamic.pauseMs() > 0 || this.limit.activeCount > dynamic.current)) return resolve(false);
          resolve(true);
          if (this.failed) return;
          try {
            await task();
          } catch (err) {
            if (!this.failed) this.firstError = err;
            this.failed = true;
          } finally {
            if (dynamic) this.setConcurrency(dynamic.current);
          }
        });
        this.running.add(run);
        void run.finally(() => this.running.delete(run));
      });
      if (started) return;
    }
  }

  /** Resolves when every submitted task has finished. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  private setConcurrency(n: number): void {
    const next = Math.max(1, n);
    if (this.limit.concurrency !== next) this.limit.concurrency = next;
  }
}
