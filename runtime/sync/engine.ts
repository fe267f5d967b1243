// runtime/sync/engine.ts
// Cache → primary: plan, per-stream continuity check in order, bounded parallel create-only uploads verified by hash, delete after success.

import { defineSlot } from '../local-slots.ts';
import type { ObjectStore } from '../store/types.ts';
import { planSync } from './plan.ts';
import { openRun } from './run.ts';
import { announcePlan, reportRun, transferAll } from './steps.ts';
import type { SyncDeps, SyncOptions, SyncProgress, SyncSummary } from './types.ts';

export type { SyncDeps, SyncOptions, SyncProgress, SyncSummary } from './types.ts';

/**
 * `ctx.local` slot in which a caller in this process (the CLI's progress bar, runtime/cli/sync.ts)
 * puts a `(progress: SyncProgress) => void`; the sync duty (functions/sync.ts) reads it and passes
 * it to runSync as `onProgress`.
 */
export const SYNC_PROGRESS_SLOT = defineSlot<(progress: SyncProgress) => void>('sync:progress');

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
