// runtime/sync/plan.ts
// What the local cache holds that the primary needs: raw segments by stream in (epoch, seq) order, audit segments, atomic objects.

import { listAll, type ObjectInfo, type ObjectStore } from '../store/types.ts';
import { compareRefs, parseRawKey, type SegmentRef } from './continuity.ts';
import { AUDIT_PREFIX, NOT_SYNCED_PREFIXES, RAW_PREFIX } from '../keys.ts';


/** Rough throughput for the plan's estimate; the real figures are in the complete audit. */
const EST_BYTES_PER_MS = 40_000;
const EST_MS_PER_OBJECT = 0.5;

export interface CachedSegment extends SegmentRef {
  size: number;
}

export interface SyncPlan {
  /** Raw segments grouped by stream; streams and segments in (exchange, topic, symbol, epoch, seq) order. */
  streams: Array<{ stream: string; segments: CachedSegment[] }>;
  auditSegments: ObjectInfo[];
  atomic: ObjectInfo[];
  /** raw/ keys that do not parse as segment keys: left alone and reported. */
  unrecognized: string[];
  items: number;
  bytes: number;
  estMs: number;
}

export async function planSync(cache: ObjectStore): Promise<SyncPlan> {
  const byStream = new Map<string, CachedSegment[]>();
  const auditSegments: ObjectInfo[] = [];
  const atomic: ObjectInfo[] = [];
  const unrecognized: string[] = [];
  let bytes = 0;
  for await (const info of listAll(cache, '', 1000, { etags: false })) {
    if (NOT_SYNCED_PREFIXES.some((p) => info.key.startsWith(p))) continue;
    bytes += info.size;
    if (info.key.startsWith(RAW_PREFIX)) {
      const ref = parseRawKey(info.key);
      if (!ref) {
        unrecognized.push(info.key);
        bytes -= info.size;
        continue;
      }
      const list = byStream.get(ref.stream) ?? [];
      list.push({ ...ref, size: info.size });
      byStream.set(ref.stream, list);
    } else if (info.key.startsWith(AUDIT_PREFIX)) {
      auditSegments.push(info);
    } else {
      atomic.push(info);
    }
  }
  const streams = [...byStream.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([stream, segments]) => ({ stream, segments: segments.sort(compareRefs) }));
  const items = streams.reduce((n, s) => n + s.segments.length, 0) + auditSegments.length + atomic.length;
  return { streams, auditSegments, atomic, unrecognized, items, bytes, estMs: Math.round(bytes / EST_BYTES_PER_MS + items * EST_MS_PER_OBJECT) };
}

/** Date partitions to list in the primary around the cached segments: their dates and the day before the first. */
export function neighbourDates(segments: SegmentRef[]): string[] {
  const dates = new Set(segments.map((s) => s.date));
  const first = [...dates].sort()[0];
  if (first) dates.add(new Date(Date.parse(`${first}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10));
  return [...dates].sort();
}

/** True as soon as one object in the cache still needs copying (stops at the first). */
export async function hasPendingInCache(cache: ObjectStore): Promise<boolean> {
  for await (const info of listAll(cache, '', 1000, { etags: false })) {
    if (!NOT_SYNCED_PREFIXES.some((p) => info.key.startsWith(p))) return true;
  }
  return false;
}
