// runtime/lake/retention.ts
// Retention: raw segments go only after their days' Parquet objects are verified and retention.rawDays passed; Parquet optionally after parquetDays.

import { listAll, type ObjectStore } from '../store/types.ts';
import { readManifest, type DayManifest } from './compact-manifest.ts';
import { addDays, dayStart, DAY_MS, isTopic, streamName, type StreamRef } from './layout.ts';
import { manifestKey, PARQUET_MANIFESTS_PREFIX, parseManifestKey, parseRawSegmentKey, RAW_PREFIX } from '../keys.ts';

export interface RetentionOptions {
  store: ObjectStore;
  now: number;
  rawDays: number;
  parquetDays?: number;
  dryRun: boolean;
}

export interface RetentionGroup {
  stream: string;
  /** Key date of the raw segments (or the Parquet day). */
  date: string;
  kind: 'raw' | 'parquet';
  deleted: number;
  bytes: number;
  /** Raw segments of this day kept although old enough, and why (first reason). */
  kept: number;
  kept_reason?: string;
}

export interface RetentionReport {
  dry_run: boolean;
  raw_days: number;
  parquet_days: number | null;
  groups: RetentionGroup[];
  deleted_objects: number;
  deleted_bytes: number;
  kept_unverified: number;
}

/**
 * Deletes raw segments of days that ended more than `rawDays` days ago when the segment (same
 * key and ETag) is listed in the verified manifest of its key date — and, when it holds records
 * past midnight, in the next day's too — and each such manifest's Parquet object is still the
 * one verified (HEAD ETag = manifest ETag). Anything else is kept and counted with its reason.
 * Dry run: the same accounting, nothing deleted.
 */
export async function applyRetention(options: RetentionOptions): Promise<RetentionReport> {
  const { store } = options;
  const report: RetentionReport = { dry_run: options.dryRun, raw_days: options.rawDays, parquet_days: options.parquetDays ?? null, groups: [], deleted_objects: 0, deleted_bytes: 0, kept_unverified: 0 };
  const groups = new Map<string, { stream: StreamRef; date: string; objects: Array<{ key: string; etag: string; size: number }> }>();
  for await (const o of listAll(store, RAW_PREFIX)) {
    const ref = parseRawSegmentKey(o.key);
    if (!ref || !isTopic(ref.topic)) continue;
    if (dayStart(ref.date) + DAY_MS + options.rawDays * DAY_MS > options.now) continue; // not old enough
    const id = `${ref.stream}\0${ref.date}`;
    const g = groups.get(id) ?? { stream: { exchange: ref.exchange, topic: ref.topic, symbol: ref.symbol }, date: ref.date, objects: [] };
    g.objects.push({ key: o.key, etag: o.etag, size: o.size });
    groups.set(id, g);
  }
  const verifiedCache = new Map<string, Promise<{ manifest: DayManifest | null; why: string | null }>>();
  const verifiedManifest = (stream: StreamRef, date: string) => {
    const id = `${streamName(stream)}\0${date}`;
    if (!verifiedCache.has(id)) verifiedCache.set(id, checkManifest(store, stream, date));
    return verifiedCache.get(id)!;
  };
  for (const g of [...groups.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : streamName(a.stream) < streamName(b.stream) ? -1 : 1))) {
    const own = await verifiedManifest(g.stream, g.date);
    const next = await verifiedManifest(g.stream, addDays(g.date, 1));
    const ownSources = new Map((own.manifest?.sources ?? []).map((s) => [s.key, s]));
    const nextSources = new Map((next.manifest?.sources ?? []).map((s) => [s.key, s]));
    const group: RetentionGroup = { stream: streamName(g.stream), date: g.date, kind: 'raw', deleted: 0, bytes: 0, kept: 0 };
    const deletable: Array<{ key: string; size: number }> = [];
    for (const o of g.objects) {
      let why: string | null = null;
      const listed = ownSources.get(o.key);
      if (!own.manifest) why = own.why ?? 'day not compacted';
      else if (!listed) why = 'segment not in the day\'s manifest (late segment: recompaction pending)';
      else if (listed.etag !== o.etag) why = 'segment changed since compaction';
      else if (listed.max_ts >= dayStart(g.date) + DAY_MS) {
        // It holds records of the next day too: that day must be verified with this segment.
        const n = nextSources.get(o.key);
        if (!next.manifest) why = `holds records of ${addDays(g.date, 1)}, ${next.why ?? 'not compacted'}`;
        else if (!n || n.etag !== o.etag) why = `holds records of ${addDays(g.date, 1)}, not in that day's manifest`;
      }
      if (why) {
        group.kept++;
        group.kept_reason ??= why;
      } else deletable.push(o);
    }
    if (!options.dryRun) for (const o of deletable) await store.delete(o.key);
    group.deleted = deletable.length;
    group.bytes = deletable.reduce((n, o) => n + o.size, 0);
    report.kept_unverified += group.kept;
    report.groups.push(group);
  }
  if (options.parquetDays !== undefined) {
    for await (const o of listAll(store, PARQUET_MANIFESTS_PREFIX)) {
      const parsed = parseManifestKey(o.key);
      if (!parsed || dayStart(parsed.date) + DAY_MS + options.parquetDays * DAY_MS > options.now) continue;
      const manifest = await readManifest(store, parsed.stream, parsed.date);
      const parquetBytes = manifest?.parquet?.bytes ?? 0;
      if (!options.dryRun) {
        if (manifest?.parquet) await store.delete(manifest.parquet.key);
        await store.delete(o.key);
      }
      report.groups.push({ stream: streamName(parsed.stream), date: parsed.date, kind: 'parquet', deleted: manifest?.parquet ? 2 : 1, bytes: parquetBytes + o.size, kept: 0 });
    }
  }
  await store.flush?.();
  report.deleted_objects = report.groups.reduce((n, g) => n + g.deleted, 0);
  report.deleted_bytes = report.groups.reduce((n, g) => n + g.bytes, 0);
  return report;
}

/** The day's manifest when it is verified and its Parquet object is the one verified; else why not. */
async function checkManifest(store: ObjectStore, stream: StreamRef, date: string): Promise<{ manifest: DayManifest | null; why: string | null }> {
  const manifest = await readManifest(store, stream, date);
  if (!manifest) return { manifest: null, why: `${date} not compacted (no ${manifestKey(stream, date)})` };
  if (!manifest.verified || manifest.verified.rows !== manifest.rows) return { manifest: null, why: `${date} manifest not verified` };
  if (manifest.parquet) {
    const head = await store.head(manifest.parquet.key);
    if (!head) return { manifest: null, why: `${date} Parquet object missing` };
    if (head.etag !== manifest.parquet.etag) return { manifest: null, why: `${date} Parquet object differs from the verified one (recompaction pending)` };
  }
  return { manifest, why: null };
}
