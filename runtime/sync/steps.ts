// runtime/sync/steps.ts
// The steps of one sync run (engine.ts runSync): open the run, announce the plan, transfer everything, report; and the state they share.

import { isBtcError } from '../errors.ts';
import type { ObjectInfo } from '../store/types.ts';
import { BoundedPool } from '../async.ts';
import { AdaptiveLimit, withBackoff, type BackoffOptions } from './backoff.ts';
import { ByteBudget, DEFAULT_MAX_BYTES_IN_FLIGHT } from './byte-budget.ts';
import type { SyncDeps, SyncOptions, SyncSummary } from './engine.ts';
import type { SyncPlan } from './plan.ts';
import { syncStream } from './stream-walk.ts';
import { copyAtomic, readHeld, releaseUnlessStarted, uploadSegment } from './transfer.ts';

/** How many issues travel in one audit event (the rest are counted). */
const ISSUES_IN_AUDIT = 100;

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
  return {
    deps,
    options,
    plan,
    summary: emptySummary(plan, options.dryRun),
    limit,
    pool: new BoundedPool(limit),
    budget: new ByteBudget(Math.max(1, options.maxBytesInFlight ?? DEFAULT_MAX_BYTES_IN_FLIGHT)),
    call: (op) => withBackoff(op, retry),
    onThrottle: (retryAfterMs) => {
      if (limit.onThrottle(retryAfterMs)) deps.log.warn({ concurrency: limit.current, retryAfterMs }, 'sync: primary is throttling (SlowDown); fewer uploads in flight');
    },
    elapsed: () => Math.round(performance.now() - started),
    lastChunkAt: 0,
  };
}

/** Step 1: the plan in the audit (`collector.sync.plan`; `collector.sync.start` unless a dry run). */
export async function announcePlan(run: SyncRun): Promise<void> {
  const { plan, summary, options, deps } = run;
  await deps.audit.record('collector.sync.plan', { ...summary.plan, dry_run: options.dryRun, targets: plan.streams.map((s) => s.stream) });
  if (!options.dryRun) await deps.audit.record('collector.sync.start', { items: plan.items, bytes: plan.bytes, elapsed_ms: run.elapsed() });
}

/**
 * Step 2: raw segments stream by stream (stream-walk.ts), then audit segments, then atomic
 * objects; waits for every upload in flight. A failure stops new work and lands in the summary
 * (`reason` unavailable or error); an abort signal stops it with reason `aborted`.
 */
export async function transferAll(run: SyncRun): Promise<void> {
  const { plan, pool, summary } = run;
  try {
    for (const { stream, segments } of plan.streams) {
      if (stopped(run)) break;
      await syncStream(run, stream, segments);
    }
    for (const info of plan.auditSegments) {
      if (stopped(run)) break;
      await transferAuditSegment(run, info);
    }
    for (const info of plan.atomic) {
      if (stopped(run)) break;
      await pool.submit(() => copyAtomic(run, info));
    }
    await pool.drain();
    if (pool.hasFailed) throw pool.error;
    if (run.options.signal?.aborted) {
      summary.ok = false;
      summary.reason = 'aborted';
    }
  } catch (err) {
    await pool.drain();
    summary.ok = false;
    summary.reason = isBtcError(err, 'Unavailable') ? 'unavailable' : 'error';
    summary.error = err instanceof Error ? err.message : String(err);
  }
}

/** One audit segment: read under the byte budget, uploaded like a raw segment (no continuity to check). */
async function transferAuditSegment(run: SyncRun, info: ObjectInfo): Promise<void> {
  const held = await readHeld(run, info.key, info.size);
  if (!held) return; // taken by a concurrent sync
  if (run.options.dryRun) {
    wouldCopy(run, held.body.length);
    run.budget.release(held.bytes);
    return;
  }
  await releaseUnlessStarted(run, held, () => uploadSegment(run, info.key, held));
}

/**
 * Step 3: empties the cache's folders, sets ok and the throttling figures, audits the continuity
 * issues and `collector.sync.complete` (or `.failed` with the reason), and returns the summary.
 */
export async function reportRun(run: SyncRun): Promise<SyncSummary> {
  const { deps, options, summary, limit } = run;
  await deps.cache.flush?.(); // the emptied dt= folders go now, not a moment after the summary
  summary.elapsed_ms = run.elapsed();
  if (limit.throttles > 0) summary.throttled = { answers: limit.throttles, lowest_concurrency: limit.lowest };
  if (summary.conflicts.length) summary.ok = false;
  if (summary.issues.length) {
    deps.log.warn({ issues: summary.issues.length }, 'sync: continuity issues found');
    await deps.audit.record('collector.sync.continuity', { count: summary.issues.length, issues: summary.issues.slice(0, ISSUES_IN_AUDIT) });
  }
  const totals = { items: summary.items, bytes: summary.bytes, elapsed_ms: summary.elapsed_ms, uploaded: summary.uploaded, already_present: summary.already_present, atomic: summary.atomic, conflicts: summary.conflicts.length, issues: summary.issues.length, dry_run: options.dryRun, ...(summary.would_copy ? { would_copy: summary.would_copy } : {}), ...(summary.throttled ? { throttled: summary.throttled } : {}) };
  if (summary.reason) await deps.audit.record('collector.sync.failed', { reason: summary.reason, error: summary.error, ...totals });
  else await deps.audit.record('collector.sync.complete', totals);
  return summary;
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
