// runtime/sync/engine.ts
// Cache → primary: plan, per-stream continuity check in order, bounded parallel create-only uploads verified by hash, delete after success.

import type { RecordAudit } from '../audit-events.ts';
import { isBtcError } from '../errors.ts';
import { defineSlot } from '../local-slots.ts';
import type { Logger } from '../logger.ts';
import { putOnce } from '../segments.ts';
import { etagOf } from '../store/fs.ts';
import type { ObjectInfo, ObjectStore } from '../store/types.ts';
import { AdaptiveLimit, BoundedPool, withBackoff, type BackoffOptions } from './backoff.ts';
import { checkPair, parseRawKey, summarizeSegment, type ContinuityIssue, type SegmentRef, type SegmentSummary } from './continuity.ts';
import { neighbourDates, planSync, type CachedSegment, type SyncPlan } from './plan.ts';
import { conflictKey, rawStreamDayPrefix } from '../keys.ts';

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

/** How many issues travel in one audit event (the rest are counted). */
const ISSUES_IN_AUDIT = 100;

export async function runSync(deps: SyncDeps, options: SyncOptions): Promise<SyncSummary> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const { primary, cache, audit, log } = deps;
  const retry: BackoffOptions = {
    ...options.retry,
    signal: options.signal,
    onRetry: (attempt, delayMs, err) => log.warn({ attempt, delayMs, err: String(err) }, 'sync: store call failed, retrying'),
  };
  const call = <T>(op: () => Promise<T>) => withBackoff(op, retry);

  const plan = await planSync(cache);
  const summary = emptySummary(plan, options.dryRun);
  await audit.record('collector.sync.plan', { ...summary.plan, dry_run: options.dryRun, targets: plan.streams.map((s) => s.stream) });
  if (!options.dryRun) await audit.record('collector.sync.start', { items: plan.items, bytes: plan.bytes, elapsed_ms: elapsed() });

  let lastChunkAt = 0;
  const finished = async (bytes: number) => {
    summary.items++;
    summary.bytes += bytes;
    options.onProgress?.({ done: summary.items, total: plan.items, bytesDone: summary.bytes, bytesTotal: plan.bytes, elapsedMs: elapsed() });
    if (summary.items - lastChunkAt >= options.chunkItems) {
      lastChunkAt = summary.items;
      await audit.record('collector.sync.chunk', { items: summary.items, bytes: summary.bytes, elapsed_ms: elapsed(), total_items: plan.items });
    }
  };

  // Fewer uploads in flight while the primary says SlowDown, back up slowly once it stops.
  const limit = new AdaptiveLimit(Math.max(1, options.concurrency));
  const onThrottle = (retryAfterMs: number) => {
    if (limit.onThrottle(retryAfterMs)) log.warn({ concurrency: limit.current, retryAfterMs }, 'sync: primary is throttling (SlowDown); fewer uploads in flight');
  };
  const pool = new BoundedPool(limit);
  const upload = async (key: string, body: Buffer) => {
    const outcome = await call(() => putOnce(primary, key, body, { onThrottle }));
    limit.onSuccess();
    if (outcome.result === 'conflict') {
      // Keep the local bytes where sync will not pick them up again, then make it loud.
      await cache.put(conflictKey(key), body);
      await cache.delete(key);
      summary.conflicts.push({ key, local_etag: outcome.localEtag, remote_etag: outcome.remoteEtag });
      log.error({ key }, 'sync: segment key already holds different bytes in the primary: conflict, not overwritten');
      await audit.record('collector.sync.failed', { reason: 'conflict', stage: 'sync', key, local_etag: outcome.localEtag, remote_etag: outcome.remoteEtag });
    } else {
      if (outcome.result === 'uploaded') summary.uploaded++;
      else summary.already_present++;
      await cache.delete(key); // only now: the primary holds these exact bytes
    }
    await finished(body.length);
  };

  try {
    for (const { stream, segments } of plan.streams) {
      if (pool.hasFailed || options.signal?.aborted) break;
      await syncStream(stream, segments);
    }
    for (const info of plan.auditSegments) {
      if (pool.hasFailed || options.signal?.aborted) break;
      const body = await cache.getOrNull(info.key);
      if (!body) continue; // taken by a concurrent sync
      if (!options.dryRun) await pool.submit(() => upload(info.key, body.body));
      else wouldCopy(body.body.length);
    }
    for (const info of plan.atomic) {
      if (pool.hasFailed || options.signal?.aborted) break;
      await pool.submit(() => copyAtomic(info));
    }
    await pool.drain();
    if (pool.hasFailed) throw pool.error;
    if (options.signal?.aborted) {
      summary.ok = false;
      summary.reason = 'aborted';
    }
  } catch (err) {
    await pool.drain();
    summary.ok = false;
    summary.reason = isBtcError(err, 'Unavailable') ? 'unavailable' : 'error';
    summary.error = err instanceof Error ? err.message : String(err);
  }

  await cache.flush?.(); // the emptied dt= folders go now, not a moment after the summary
  summary.elapsed_ms = elapsed();
  if (limit.throttles > 0) summary.throttled = { answers: limit.throttles, lowest_concurrency: limit.lowest };
  if (summary.conflicts.length) summary.ok = false;
  if (summary.issues.length) {
    log.warn({ issues: summary.issues.length }, 'sync: continuity issues found');
    await audit.record('collector.sync.continuity', { count: summary.issues.length, issues: summary.issues.slice(0, ISSUES_IN_AUDIT) });
  }
  const totals = { items: summary.items, bytes: summary.bytes, elapsed_ms: summary.elapsed_ms, uploaded: summary.uploaded, already_present: summary.already_present, atomic: summary.atomic, conflicts: summary.conflicts.length, issues: summary.issues.length, dry_run: options.dryRun, ...(summary.would_copy ? { would_copy: summary.would_copy } : {}), ...(summary.throttled ? { throttled: summary.throttled } : {}) };
  if (summary.reason) await audit.record('collector.sync.failed', { reason: summary.reason, error: summary.error, ...totals });
  else await audit.record('collector.sync.complete', totals);
  return summary;

  /**
   * One stream: walk the cached segments merged with the primary's neighbours in (epoch, seq)
   * order, check each pair that involves a cached segment, and hand uploads to the pool.
   */
  async function syncStream(stream: string, cached: CachedSegment[]): Promise<void> {
    const inCache = new Set(cached.map((s) => s.key));
    const merged = new Map<string, SegmentRef>(cached.map((s) => [s.key, s]));
    for (const date of neighbourDates(cached)) {
      for await (const info of listPrimary(rawStreamDayPrefix(stream, date))) {
        const ref = parseRawKey(info.key);
        if (ref && !merged.has(ref.key)) merged.set(ref.key, ref);
      }
    }
    const ordered = [...merged.values()].sort((a, b) => a.epoch - b.epoch || a.firstSeq - b.firstSeq);
    // Reads run ahead of the in-order checks (a window as wide as the pool), so a slow disk read
    // never leaves the uploads waiting; at most that many bodies are held at once.
    const reads = new Map<string, Promise<Buffer | null>>();
    let readAhead = 0;
    const readUpTo = (end: number) => {
      for (; readAhead < Math.min(end, ordered.length); readAhead++) {
        const key = ordered[readAhead]!.key;
        if (inCache.has(key)) reads.set(key, cache.getOrNull(key).then((got) => got?.body ?? null, () => null));
      }
    };
    let prev: { ref: SegmentRef; summary: SegmentSummary | null | undefined } | null = null;
    for (const [index, ref] of ordered.entries()) {
      if (pool.hasFailed || options.signal?.aborted) return;
      readUpTo(index + 1 + options.concurrency);
      const cachedHere = inCache.has(ref.key);
      let body: Buffer | null = null;
      let current: SegmentSummary | null | undefined;
      if (cachedHere) {
        body = (await reads.get(ref.key)) ?? (await cache.getOrNull(ref.key))?.body ?? null;
        reads.delete(ref.key);
        if (!body) continue; // taken by a concurrent sync
        current = summarizeOrReport(ref, body);
      }
      if (prev && (cachedHere || inCache.has(prev.ref.key))) {
        prev.summary ??= await primarySummary(prev.ref);
        if (prev.summary && ref.epoch !== prev.ref.epoch && current === undefined) current = await primarySummary(ref);
        if (prev.summary && current !== null) {
          const issue = checkPair(prev.summary, current ?? ref, options);
          if (issue) summary.issues.push(issue);
        }
      }
      if (cachedHere && body && !options.dryRun) {
        const bytes = body;
        await pool.submit(() => upload(ref.key, bytes));
      } else if (cachedHere && body) wouldCopy(body.length);
      prev = { ref, summary: current };
    }
  }


  function wouldCopy(bytes: number): void {
    summary.would_copy!.items++;
    summary.would_copy!.bytes += bytes;
  }

  function summarizeOrReport(ref: SegmentRef, body: Buffer): SegmentSummary | null {
    try {
      return summarizeSegment(ref, body);
    } catch (err) {
      summary.issues.push({ kind: 'bad_segment', stream: ref.stream, key: ref.key, reason: (err as Error).message });
      return null;
    }
  }

  async function primarySummary(ref: SegmentRef): Promise<SegmentSummary | null> {
    const got = await call(() => primary.getOrNull(ref.key));
    return got ? summarizeOrReport(ref, got.body) : null;
  }

  async function* listPrimary(prefix: string): AsyncGenerator<ObjectInfo> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await call(() => primary.listPage(prefix, { startAfter }));
      yield* page.objects;
      if (!page.nextStartAfter) return;
      startAfter = page.nextStartAfter;
    }
  }

  /** Latest CSV, status and other whole objects: copied only when newer than the primary's and different. */
  async function copyAtomic(info: ObjectInfo): Promise<void> {
    const local = await cache.getOrNull(info.key);
    if (!local) return;
    const remote = await call(() => primary.head(info.key));
    let outcome: keyof Required<SyncSummary['atomic']>;
    if (remote && remote.etag === local.etag) outcome = 'same';
    else if (remote && remote.lastModified >= local.lastModified) outcome = 'primary_newer';
    else if (options.dryRun) {
      outcome = 'would_copy';
      wouldCopy(local.body.length);
    }
    else {
      try {
        const put = await call(() => primary.put(info.key, local.body, { ...(remote ? { ifMatch: remote.etag } : { ifNoneMatch: '*' as const }), onThrottle }));
        // An ETag that is not the MD5 (an encrypted bucket) is settled by reading the copy back.
        if (put.etag && put.etag !== etagOf(local.body) && !(await call(() => primary.get(info.key))).body.equals(local.body)) {
          throw new Error(`copy of ${info.key} reads back different bytes`);
        }
        outcome = 'copied';
      } catch (err) {
        // Someone wrote the primary's copy after we looked: theirs is newer.
        if (!isBtcError(err, 'PreconditionFailed') && !isBtcError(err, 'NotFound')) throw err;
        outcome = 'primary_newer';
      }
    }
    summary.atomic[outcome] = (summary.atomic[outcome] ?? 0) + 1;
    if (!options.dryRun) {
      // Delete only the version we copied, in one conditional step: a newer cache write (the
      // primary went down again meanwhile) stays for the next sync.
      await cache.delete(info.key, { ifMatch: local.etag }).catch((err) => {
        if (!isBtcError(err, 'PreconditionFailed')) throw err;
      });
    }
    await finished(local.body.length);
  }
}

/** Objects still waiting in the cache (what keeps sync.pending true). */
export async function pendingInCache(cache: ObjectStore): Promise<number> {
  const plan = await planSync(cache);
  return plan.items;
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

