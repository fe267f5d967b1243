// runtime/sync/engine.ts
// Cache → primary: plan, per-stream continuity check in order, bounded parallel create-only uploads verified by hash, delete after success.

import { defineSlot } from '../local-slots.ts';
import type { Logger } from '../logger.ts';
import type { RecordAudit } from '../audit-events.ts';
import type { ObjectStore } from '../store/types.ts';
import type { BackoffOptions } from './backoff.ts';
import type { ContinuityIssue } from './continuity.ts';
import { planSync } from './plan.ts';
import { announcePlan, openRun, reportRun, transferAll } from './steps.ts';

export interface SyncDeps {
  primary: ObjectStore;
  cache: ObjectStore;
  audit: { record: RecordAudit };
  log: Logger;
}

export interface SyncOptions {
  dryRun: boolean;
  /** Uploads in flight at once. */
  concurrency: number;
  /**
   * Bytes of object bodies held in memory at once: read ahead of the continuity check plus uploads
   * in flight (byte-budget.ts). A 1 MB segment takes 1 MB of it; one larger than the budget goes
   * alone. Default DEFAULT_MAX_BYTES_IN_FLIGHT (byte-budget.ts).
   */
  maxBytesInFlight?: number;
  retry: Omit<BackoffOptions, 'signal' | 'onRetry'>;
  /** A chunk audit every this many finished items. */
  chunkItems: number;
  /** Pause between epochs reported as a time gap (ms). */
  timeGapMs: number;
  /** The normal distance between records per stream, added to timeGapMs (continuity.ts spacingOfStreams). */
  spacingMs?: (stream: string) => number;
  signal?: AbortSignal;
  onProgress?: (progress: SyncProgress) => void;
}

export interface SyncProgress {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  elapsedMs: number;
}

/**
 * `ctx.local` slot in which a caller in this process (the CLI's progress bar, runtime/cli/sync.ts)
 * puts a `(progress: SyncProgress) => void`; the sync duty (functions/sync.ts) reads it and passes
 * it to runSync as `onProgress`.
 */
export const SYNC_PROGRESS_SLOT = defineSlot<(progress: SyncProgress) => void>('sync:progress');

export interface SyncSummary {
  ok: boolean;
  dry_run: boolean;
  /** Why it stopped early: `unavailable` (primary unreachable after retries), `aborted`, or `error`. */
  reason?: string;
  error?: string;
  plan: { items: number; bytes: number; est_ms: number; streams: number; segments: number; audit_segments: number; atomic: number };
  items: number;
  bytes: number;
  elapsed_ms: number;
  uploaded: number;
  already_present: number;
  /** `would_copy` only in a dry run, where `copied` stays 0: a dry run copies nothing. */
  atomic: { copied: number; same: number; primary_newer: number; would_copy?: number };
  /** Dry run only: what a real run would upload (segments, audit segments, atomic objects). */
  would_copy?: { items: number; bytes: number };
  conflicts: Array<{ key: string; local_etag: string; remote_etag: string }>;
  /** Only when the primary throttled (503 SlowDown / 429): answers seen and the lowest concurrency the run fell to. */
  throttled?: { answers: number; lowest_concurrency: number };
  issues: ContinuityIssue[];
  unrecognized: string[];
}

/**
 * One sync of the cache into the primary, in named steps (steps.ts):
 * 1. list the cache into a plan (plan.ts planSync) and audit it (`collector.sync.plan`, `.start`);
 * 2. transfer: raw segments stream by stream in (epoch, seq) order, each pair continuity-checked
 *    (stream-walk.ts) and uploaded create-only, verified by MD5, its cache copy deleted only then
 *    (transfer.ts); audit segments the same way; atomic objects copied when newer and different;
 * 3. report: continuity issues, `collector.sync.complete` or `.failed`, and the summary.
 * Never throws for a store failure: the summary says `ok: false` with a reason.
 */
export async function runSync(deps: SyncDeps, options: SyncOptions): Promise<SyncSummary> {
  const started = performance.now();
  const plan = await planSync(deps.cache);
  const run = openRun(deps, options, plan, started);
  await announcePlan(run);
  await transferAll(run);
  return reportRun(run);
}

/** Objects still waiting in the cache (what keeps sync.pending true). */
export async function pendingInCache(cache: ObjectStore): Promise<number> {
  const plan = await planSync(cache);
  return plan.items;
}
