// runtime/sync/stream-walk.ts
// One stream of a sync run: its cached segments merged with the primary's neighbours in (epoch, seq) order, each pair continuity-checked, uploads handed to the pool.

import { rawStreamDayPrefix } from '../keys.ts';
import type { ObjectInfo } from '../store/types.ts';
import { checkPair, parseRawKey, summarizeSegment, type SegmentRef, type SegmentSummary } from './continuity.ts';
import { neighbourDates, type CachedSegment } from './plan.ts';
import { readBody, releaseHeld, stopped, wouldCopy, type HeldBody, type SyncRun } from './run.ts';
import { releaseUnlessStarted, uploadSegment } from './transfer.ts';

/**
 * Walks one stream: the cached segments merged with the primary's segments of the same dates (and
 * the day before) in (epoch, seq) order; every pair that involves a cached segment is checked
 * (continuity.ts checkPair: seq gaps/overlaps inside an epoch, time gaps/overlaps across epochs),
 * issues go to the summary, and each cached segment is then uploaded (or counted, in a dry run).
 *
 * Bodies are read ahead of the in-order check, at most `concurrency` items ahead and never more
 * bytes than the run's byte budget allows together with the uploads in flight, so a slow disk read
 * never leaves the uploads waiting and memory stays bounded.
 */
export async function syncStream(run: SyncRun, stream: string, cached: CachedSegment[]): Promise<void> {
  const ordered = await walkOrder(run, stream, cached);
  const sizeOf = new Map(cached.map((s) => [s.key, s.size]));
  const reads = new Map<string, Promise<HeldBody>>();
  let readAhead = 0;
  const readUpTo = (end: number) => {
    for (; readAhead < Math.min(end, ordered.length); readAhead++) {
      const key = ordered[readAhead]!.key;
      const size = sizeOf.get(key);
      if (size !== undefined) reads.set(key, readAheadOf(run, key, size));
    }
  };
  let prev: { ref: SegmentRef; summary: SegmentSummary | null | undefined } | null = null;
  let unsent: HeldBody | null = null;
  try {
    for (const [index, ref] of ordered.entries()) {
      if (stopped(run)) return;
      readUpTo(index + 1 + run.options.concurrency);
      const cachedHere = sizeOf.has(ref.key);
      let current: SegmentSummary | null | undefined;
      if (cachedHere) {
        unsent = await reads.get(ref.key)!;
        reads.delete(ref.key);
        // A read ahead that failed is tried once more, now letting its error stop the run.
        unsent.body ??= await readBody(run, ref.key);
        if (!unsent.body) {
          releaseHeld(run, unsent, 'reuse');
          unsent = null;
          continue; // taken by a concurrent sync
        }
        current = summarizeOrReport(run, ref, unsent.body);
      }
      if (prev && (cachedHere || sizeOf.has(prev.ref.key))) {
        prev.summary ??= await primarySummary(run, prev.ref);
        if (prev.summary && ref.epoch !== prev.ref.epoch && current === undefined) current = await primarySummary(run, ref);
        if (prev.summary && current !== null) {
          const issue = checkPair(prev.summary, current ?? ref, run.options);
          if (issue) run.summary.issues.push(issue);
        }
      }
      if (unsent) {
        const held = unsent as HeldBody & { body: Buffer };
        unsent = null;
        await transferOrCount(run, ref.key, held);
      }
      prev = { ref, summary: current };
    }
  } finally {
    // Bodies no longer needed when the walk stopped early still hold budget: give it back.
    if (unsent) releaseHeld(run, unsent, 'reuse'); // read, never sent
    for (const pending of reads.values()) void pending.then((held) => releaseHeld(run, held, 'reuse'));
  }
}

/**
 * A read ahead of the check: waits for `size` bytes of budget, then reads. The budget stays held
 * even when the key is gone or the read failed (body null), so the walk can try once more without
 * queueing behind later reads.
 */
async function readAheadOf(run: SyncRun, key: string, size: number): Promise<HeldBody> {
  await run.budget.acquire(size);
  const body = await readBody(run, key).catch(() => null);
  return { body, bytes: size };
}

/** The cached segments of `stream` and the primary's around them, sorted by (epoch, firstSeq). */
async function walkOrder(run: SyncRun, stream: string, cached: CachedSegment[]): Promise<SegmentRef[]> {
  const merged = new Map<string, SegmentRef>(cached.map((s) => [s.key, s]));
  for (const date of neighbourDates(cached)) {
    for await (const info of listPrimary(run, rawStreamDayPrefix(stream, date))) {
      const ref = parseRawKey(info.key);
      if (ref && !merged.has(ref.key)) merged.set(ref.key, ref);
    }
  }
  return [...merged.values()].sort((a, b) => a.epoch - b.epoch || a.firstSeq - b.firstSeq);
}

/** A checked cached segment: uploaded through the pool (which then owns its budget), or counted in a dry run. */
async function transferOrCount(run: SyncRun, key: string, held: HeldBody & { body: Buffer }): Promise<void> {
  if (run.options.dryRun) {
    wouldCopy(run, held.body.length);
    releaseHeld(run, held, 'reuse');
    return;
  }
  await releaseUnlessStarted(run, held, () => uploadSegment(run, key, held));
}

/** The segment's ranges, or null with a `bad_segment` issue when its body is not a whole segment. */
function summarizeOrReport(run: SyncRun, ref: SegmentRef, body: Buffer): SegmentSummary | null {
  try {
    return summarizeSegment(ref, body);
  } catch (err) {
    run.summary.issues.push({ kind: 'bad_segment', stream: ref.stream, key: ref.key, reason: (err as Error).message });
    return null;
  }
}

/** A neighbour's ranges read from the primary (null when it is gone or unreadable). */
async function primarySummary(run: SyncRun, ref: SegmentRef): Promise<SegmentSummary | null> {
  const got = await run.call(() => run.deps.primary.getOrNull(ref.key));
  return got ? summarizeOrReport(run, ref, got.body) : null;
}

async function* listPrimary(run: SyncRun, prefix: string): AsyncGenerator<ObjectInfo> {
  let startAfter: string | undefined;
  for (;;) {
    const page = await run.call(() => run.deps.primary.listPage(prefix, { startAfter }));
    yield* page.objects;
    if (!page.nextStartAfter) return;
    startAfter = page.nextStartAfter;
  }
}
