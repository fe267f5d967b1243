// runtime/sync/run.ts
// The state one sync run shares between its steps (steps.ts, stream-walk.ts, transfer.ts): the summary being filled, the limits on work in flight, the bodies held.

import { BoundedPool } from '../async.ts';
import { AdaptiveLimit, withBackoff, type BackoffOptions } from './backoff.ts';
import { BodyPool } from './body-pool.ts';
import { ByteBudget, DEFAULT_MAX_BYTES_IN_FLIGHT } from './byte-budget.ts';
import type { SyncPlan } from './plan.ts';
import type { SyncDeps, SyncOptions, SyncSummary } from './types.ts';

/** What every step of one run shares: its inputs, the summary being filled, and the limits on work in flight. */
export interface SyncRun {
  readonly deps: SyncDeps;
  readonly options: SyncOptions;
  readonly plan: SyncPlan;
  readonly summary: SyncSummary;
  /** Uploads in flight (a count), lowered while the primary throttles. */
  readonly limit: AdaptiveLimit;
  readonly pool: BoundedPool;
  /** Bytes of bodies held in memory (read ahead or uploading). */
  readonly budget: ByteBudget;
  /** The buffers those bodies are read into, reused once an upload is verified (body-pool.ts). */
  readonly bodies: BodyPool;
  /** A store call with the run's retries (only Unavailable is retried). */
  call<T>(op: () => Promise<T>): Promise<T>;
  /** Told of each throttled answer: fewer uploads in flight. */
  onThrottle(retryAfterMs: number): void;
  /** ms since the run started. */
  elapsed(): number;
  /** Items finished when the last chunk audit went out. */
  lastChunkAt: number;
}

/** Step 0: the run's shared state for `plan` (started: performance.now() at the start). */
export function openRun(deps: SyncDeps, options: SyncOptions, plan: SyncPlan, started: number): SyncRun {
  const retry: BackoffOptions = {
    ...options.retry,
    signal: options.signal,
    onRetry: (attempt, delayMs, err) => deps.log.warn({ attempt, delayMs, err: String(err) }, 'sync: store call failed, retrying'),
  };
  // Fewer uploads in flight while the primary says SlowDown, back up slowly once it stops.
  const limit = new AdaptiveLimit(Math.max(1, options.concurrency));
  const budget = new ByteBudget(Math.max(1, options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT));
  return {
    deps,
    options,
    plan,
    summary: emptySummary(plan, options.dryRun),
    limit,
    pool: new BoundedPool(limit),
    budget,
    bodies: new BodyPool(budget.limit),
    call: (op) => withBackoff(op, retry),
    onThrottle: (retryAfterMs) => {
      if (limit.onThrottle(retryAfterMs)) deps.log.warn({ concurrency: limit.current, retryAfterMs }, 'sync: primary is throttling (SlowDown); fewer uploads in flight');
    },
    elapsed: () => Math.round(performance.now() - started),
    lastChunkAt: 0,
  };
}

/** A body read from the cache and the bytes of the run's budget it holds until released. */
export interface HeldBody {
  /** null while a read ahead failed or found the key gone (stream-walk.ts). */
  body: Buffer | null;
  /** What was acquired from the budget: the size the cache listed (release exactly this). */
  bytes: number;
}

/**
 * Reads `key` from the cache into a buffer of the run's pool (a store that cannot read into a
 * given buffer allocates its own); null when the key is gone. The caller already holds the budget
 * for it. Throws what the cache throws.
 */
export async function readBody(run: SyncRun, key: string): Promise<Buffer | null> {
  let lent: Buffer | undefined;
  try {
    const got = await run.deps.cache.getOrNull(key, { into: (size) => (lent = run.bodies.take(size)) });
    if (lent && got?.body.buffer !== lent.buffer) run.bodies.give(lent); // not used after all
    return got?.body ?? null;
  } catch (err) {
    if (lent) run.bodies.give(lent); // the read failed and is over: nobody else holds these bytes
    throw err;
  }
}

/**
 * Gives back what a held body took: its budget, and its buffer to the pool — `reuse` only when the
 * body was never sent, or its upload was verified (the store answered for every byte, checked
 * against their MD5, before the buffer can be overwritten); `forget` otherwise: a refused PUT
 * (conflict, already present) or a failed one may still be writing it, and its memory is left to
 * the GC. Whatever a reused buffer later holds, it is never what a store keeps for this key: a
 * late write belongs to an attempt the store already answered, and Content-MD5 guards every PUT.
 */
export function releaseHeld(run: SyncRun, held: HeldBody, buffer: 'reuse' | 'forget'): void {
  if (held.body) {
    if (buffer === 'reuse') run.bodies.give(held.body);
    else run.bodies.forget(held.body);
  }
  run.budget.release(held.bytes);
}

/** True once an upload failed or the run was aborted: nothing new starts. */
export function stopped(run: SyncRun): boolean {
  return run.pool.hasFailed || run.options.signal?.aborted === true;
}

/** One item done: counts, progress, and a `collector.sync.chunk` audit every `chunkItems`. */
export async function finished(run: SyncRun, bytes: number): Promise<void> {
  const { summary, plan, options } = run;
  summary.items++;
  summary.bytes += bytes;
  options.onProgress?.({ done: summary.items, total: plan.items, bytesDone: summary.bytes, bytesTotal: plan.bytes, elapsedMs: run.elapsed() });
  if (summary.items - run.lastChunkAt >= options.chunkItems) {
    run.lastChunkAt = summary.items;
    await run.deps.audit.record('collector.sync.chunk', { items: summary.items, bytes: summary.bytes, elapsed_ms: run.elapsed(), total_items: plan.items });
  }
}

/** Dry run: one more item a real run would upload. */
export function wouldCopy(run: SyncRun, bytes: number): void {
  run.summary.would_copy!.items++;
  run.summary.would_copy!.bytes += bytes;
}

function emptySummary(plan: SyncPlan, dryRun: boolean): SyncSummary {
  const segments = plan.streams.reduce((n, s) => n + s.segments.length, 0);
  return {
    ok: true,
    dry_run: dryRun,
    plan: { items: plan.items, bytes: plan.bytes, est_ms: plan.estMs, streams: plan.streams.length, segments, audit_segments: plan.auditSegments.length, atomic: plan.atomic.length },
    items: 0,
    bytes: 0,
    elapsed_ms: 0,
    uploaded: 0,
    already_present: 0,
    atomic: dryRun ? { copied: 0, same: 0, primary_newer: 0, would_copy: 0 } : { copied: 0, same: 0, primary_newer: 0 },
    ...(dryRun ? { would_copy: { items: 0, bytes: 0 } } : {}),
    conflicts: [],
    issues: [],
    unrecognized: plan.unrecognized,
  };
}
