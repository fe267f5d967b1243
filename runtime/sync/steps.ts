// runtime/sync/steps.ts
// The steps of one sync run (engine.ts runSync) after planning: announce the plan, transfer everything, report.

import { isBtcError } from '../errors.ts';
import type { ObjectInfo } from '../store/types.ts';
import { releaseHeld, stopped, wouldCopy, type SyncRun } from './run.ts';
import { syncStream } from './stream-walk.ts';
import { copyAtomic, readHeld, releaseUnlessStarted, uploadSegment } from './transfer.ts';
import type { SyncSummary } from './types.ts';

/** How many issues travel in one audit event (the rest are counted). */
const ISSUES_IN_AUDIT = 100;

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
    releaseHeld(run, held, 'reuse');
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

