// runtime/lake/capacity.ts
// Capacity of the bucket: bytes and objects per prefix and per stream-day, compression ratio, growth per day, the day the NAS is full.

import { defineSlot } from '../local-slots.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { DAY_MS, dayStart } from './layout.ts';
import { parseParquetKey, parseRawSegmentKey } from '../keys.ts';

export interface CapacityReport {
  at: string;
  total_objects: number;
  total_bytes: number;
  prefixes: Array<{ prefix: string; objects: number; bytes: number }>;
  stream_days: Array<{ stream: string; date: string; raw_objects: number; raw_bytes: number; parquet_bytes: number | null; ratio: number | null }>;
  /** Raw bytes over Parquet bytes, over the stream-days that have both (null when none). */
  compression_ratio: number | null;
  /** Mean bytes a closed day leaves for good (its Parquet object when compacted, else its raw segments), over the last `growthDays` closed days. */
  growth_bytes_per_day: number;
  capacity_bytes: number | null;
  days_until_full: number | null;
  full_at: string | null;
}

export interface CompactLast {
  at: number;
  ok: boolean;
  compacted: number;
  failed: number;
  rows: number;
  raw_deleted: number | null;
  capacity: { total_bytes: number; growth_bytes_per_day: number; days_until_full: number | null; full_at: string | null; compression_ratio: number | null } | null;
}

/** The last compact run: written by the compact duty (functions/compact.ts), read by the dashboard's Data card and the NAS-capacity alert rule (runtime/alerts/facts.ts). */
export const COMPACT_LAST_SLOT = defineSlot<CompactLast>('compact.last');

/**
 * One listing of the whole bucket (sizes only, no ETags). The forecast is linear: (capacity −
 * used) / growth per day, growth measured over the last `growthDays` (default 7) closed days.
 */
export async function capacityReport(store: ObjectStore, options: { now: number; capacityBytes?: number; growthDays?: number }): Promise<CapacityReport> {
  const prefixes = new Map<string, { objects: number; bytes: number }>();
  const days = new Map<string, { stream: string; date: string; raw_objects: number; raw_bytes: number; parquet_bytes: number | null }>();
  const dayOf = (stream: string, date: string) => {
    const id = `${stream}\0${date}`;
    let d = days.get(id);
    if (!d) days.set(id, (d = { stream, date, raw_objects: 0, raw_bytes: 0, parquet_bytes: null }));
    return d;
  };
  let totalObjects = 0;
  let totalBytes = 0;
  for await (const o of listAll(store, '', 1000, { etags: false })) {
    totalObjects++;
    totalBytes += o.size;
    const top = o.key.includes('/') ? `${o.key.slice(0, o.key.indexOf('/'))}/` : o.key;
    const p = prefixes.get(top) ?? { objects: 0, bytes: 0 };
    p.objects++;
    p.bytes += o.size;
    prefixes.set(top, p);
    const raw = parseRawSegmentKey(o.key);
    if (raw) {
      const d = dayOf(raw.stream, raw.date);
      d.raw_objects++;
      d.raw_bytes += o.size;
      continue;
    }
    const pq = parseParquetKey(o.key);
    if (pq) {
      const d = dayOf(pq.stream, pq.date);
      d.parquet_bytes = (d.parquet_bytes ?? 0) + o.size;
    }
  }
  const streamDays = [...days.values()]
    .sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.date < b.date ? -1 : 1))
    .map((d) => ({ ...d, ratio: d.parquet_bytes && d.raw_bytes ? d.raw_bytes / d.parquet_bytes : null }));
  const both = streamDays.filter((d) => d.ratio !== null);
  const compression = both.length ? both.reduce((n, d) => n + d.raw_bytes, 0) / both.reduce((n, d) => n + d.parquet_bytes!, 0) : null;
  // Growth: what each of the last closed days keeps for good, summed over streams.
  const growthDays = options.growthDays ?? 7;
  const today = new Date(options.now).toISOString().slice(0, 10);
  const perDate = new Map<string, number>();
  for (const d of streamDays) {
    if (d.date >= today || dayStart(d.date) < dayStart(today) - growthDays * DAY_MS) continue;
    perDate.set(d.date, (perDate.get(d.date) ?? 0) + (d.parquet_bytes ?? d.raw_bytes));
  }
  const growth = perDate.size ? [...perDate.values()].reduce((a, b) => a + b, 0) / perDate.size : 0;
  const capacity = options.capacityBytes ?? null;
  const daysUntilFull = capacity !== null && growth > 0 ? Math.max(0, (capacity - totalBytes) / growth) : null;
  return {
    at: new Date(options.now).toISOString(),
    total_objects: totalObjects,
    total_bytes: totalBytes,
    prefixes: [...prefixes.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([prefix, v]) => ({ prefix, ...v })),
    stream_days: streamDays,
    compression_ratio: compression,
    growth_bytes_per_day: Math.round(growth),
    capacity_bytes: capacity,
    days_until_full: daysUntilFull,
    full_at: daysUntilFull === null ? null : new Date(options.now + daysUntilFull * DAY_MS).toISOString(),
  };
}
