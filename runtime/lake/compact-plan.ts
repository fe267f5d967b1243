// runtime/lake/compact-plan.ts
// Which stream-days need (re)compaction: closed days whose raw segments are not all in the day's manifest.

import { listAll, type ObjectStore } from '../store/types.ts';
import { parseRawSegmentKey, RAW_PREFIX, rawStreamPrefix } from '../keys.ts';
import { readManifest, type DayManifest } from './compact-manifest.ts';
import { addDays, DAY_MS, dayStart, isTopic, streamName, type StreamRef } from './layout.ts';

/** The raw segments keyed on the day and on the day before, as a listing just found them. */
export interface ListedSegments {
  current: Array<{ key: string; etag: string; size: number }>;
  previous: Array<{ key: string; etag: string; size: number }>;
}

export interface PlanItem {
  stream: StreamRef;
  date: string;
  reason: 'new' | 'late_segment' | 'changed_segment' | 'manifest_unreadable' | 'parquet_changed' | 'forced';
  /** Set when only the day before's segments made this day a candidate: asked again once that day is compacted. */
  recheck?: { own: Map<string, string>; prev: Map<string, string> };
  /** The plan's listing of the day's segments (saves listing them again). */
  listed: ListedSegments;
}

/**
 * Which stream-days need (re)compaction: closed days (ended more than `graceMs` ago) whose raw
 * segments are not all listed, with the same ETag, in the day's manifest — a day never compacted,
 * or one a late segment (a sync after an outage) arrived for. Days of the segments' key dates and
 * the day after each (spill-over past midnight) are considered, in date order per stream.
 */
export async function planCompaction(store: ObjectStore, options: { now: number; graceMs: number; streams?: StreamRef[]; dates?: string[]; force?: boolean }): Promise<PlanItem[]> {
  const byStream = new Map<string, { stream: StreamRef; dates: Map<string, Map<string, string>> }>();
  const sizes = new Map<string, number>();
  const prefixes = options.streams?.length ? options.streams.map((s) => rawStreamPrefix(streamName(s))) : [RAW_PREFIX];
  for (const prefix of prefixes) {
    for await (const o of listAll(store, prefix)) {
      const ref = parseRawSegmentKey(o.key);
      if (!ref || !isTopic(ref.topic)) continue;
      const entry = byStream.get(ref.stream) ?? { stream: { exchange: ref.exchange, topic: ref.topic, symbol: ref.symbol }, dates: new Map() };
      byStream.set(ref.stream, entry);
      const keys = entry.dates.get(ref.date) ?? new Map<string, string>();
      keys.set(o.key, o.etag);
      sizes.set(o.key, o.size);
      entry.dates.set(ref.date, keys);
    }
  }
  const plan: PlanItem[] = [];
  for (const { stream, dates } of [...byStream.values()].sort((a, b) => (streamName(a.stream) < streamName(b.stream) ? -1 : 1))) {
    const candidates = new Set<string>();
    for (const d of dates.keys()) {
      candidates.add(d);
      candidates.add(addDays(d, 1));
    }
    const manifests = new Map<string, DayManifest | null>();
    const manifestOf = async (d: string) => {
      if (!manifests.has(d)) manifests.set(d, await readManifest(store, stream, d));
      return manifests.get(d)!;
    };
    for (const date of [...candidates].sort()) {
      if (options.dates?.length && !options.dates.includes(date)) continue;
      if (dayStart(date) + DAY_MS + options.graceMs > options.now) continue; // not closed yet
      if (options.force) {
        plan.push({ stream, date, reason: 'forced', listed: listedOf(dates, date, sizes) });
        continue;
      }
      const own = dates.get(date) ?? new Map<string, string>();
      const prev = dates.get(addDays(date, -1)) ?? new Map<string, string>();
      const check = await reasonToCompact(store, stream, date, own, prev, manifestOf);
      const reason = check?.reason ?? null;
      if (reason) plan.push({ stream, date, reason, recheck: check!.onlyPrev ? { own, prev } : undefined, listed: listedOf(dates, date, sizes) });
      // Today's manifest decision may change the next day's: forget it so the next day rereads.
      if (reason) manifests.delete(date);
    }
  }
  return plan;
}

function listedOf(dates: Map<string, Map<string, string>>, date: string, sizes: Map<string, number>): ListedSegments {
  const of = (d: string) => [...(dates.get(d) ?? new Map<string, string>())].map(([key, etag]) => ({ key, etag, size: sizes.get(key) ?? 0 }));
  return { current: of(date), previous: of(addDays(date, -1)) };
}

/**
 * Why a stream-day needs (re)compaction, or null. `onlyPrev`: only because segments of the day
 * before might hold records of this day — which that day's compaction, run first, settles.
 */
export async function reasonToCompact(
  store: ObjectStore, stream: StreamRef, date: string, own: Map<string, string>, prev: Map<string, string>,
  manifestOf: (d: string) => Promise<DayManifest | null>,
): Promise<{ reason: PlanItem['reason']; onlyPrev: boolean } | null> {
  const manifest = await manifestOf(date);
  const listed = new Map((manifest?.sources ?? []).map((s) => [s.key, s.etag]));
  const prevManifest = await manifestOf(addDays(date, -1));
  const prevEnded = new Map((prevManifest?.sources ?? []).filter((s) => s.max_ts < dayStart(date)).map((s) => [s.key, s.etag]));
  let reason: PlanItem['reason'] | null = null;
  for (const [key, etag] of own) {
    if (!listed.has(key)) reason ??= manifest ? 'late_segment' : 'new';
    else if (listed.get(key) !== etag) reason ??= 'changed_segment';
  }
  if (manifest && manifest.parquet === undefined) reason ??= 'manifest_unreadable';
  if (!reason && manifest?.parquet && (own.size > 0 || prev.size > 0)) {
    // The object is not the one verified (a crash between upload and manifest, a hand edit): redo the day.
    if ((await store.head(manifest.parquet.key))?.etag !== manifest.parquet.etag) reason = 'parquet_changed';
  }
  if (reason) return { reason, onlyPrev: false };
  for (const [key, etag] of prev) {
    if (listed.get(key) === etag || prevEnded.get(key) === etag) continue;
    // A segment of the day before not known to end before midnight: it may hold records of this day.
    return { reason: manifest ? 'late_segment' : 'new', onlyPrev: true };
  }
  return null;
}
