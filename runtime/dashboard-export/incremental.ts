// runtime/dashboard-export/incremental.ts
// Incremental recompute of a bucketed raw dataset: only buckets (hours/days) touched by new, changed or
// removed raw objects are recomputed, from an index of raw object key → etag and the buckets it fed.

import { z } from 'zod';
import type { ObjectStore } from '../store/types.ts';
import type { BucketedDataset } from './raw-datasets.ts';
import { mapLimit } from '../async.ts';
import { parseRawKey, parseRawLines, READ_CONCURRENCY, type RawObject } from './raw-objects.ts';
import { splitRawStreamKey } from '../keys.ts';

export const INDEX_VERSION = 2;

/** In memory: raw object key → [etag, ...buckets]. */
export type IndexEntries = Record<string, string[]>;

/**
 * Stored compactly, because it has one entry per raw object: keys grouped by stream prefix and bucket
 * names replaced by their position in `buckets` — `streams[prefix][rest] = [etag, bucketNo…]`.
 */
export const indexSchema = z.object({
  version: z.literal(INDEX_VERSION),
  dataset: z.string(),
  /** sha256 of the dataset object this index describes; any other object means: recompute everything. */
  dataset_sha256: z.string().nullable(),
  buckets: z.array(z.string()),
  streams: z.record(z.string(), z.record(z.string(), z.tuple([z.string()], z.number().int().nonnegative()))),
});
export type StoredIndex = z.infer<typeof indexSchema>;
export interface DatasetIndex {
  dataset: string;
  dataset_sha256: string | null;
  objects: IndexEntries;
}

export function packIndex(index: DatasetIndex): StoredIndex {
  const bucketNo = new Map<string, number>();
  const streams: StoredIndex['streams'] = {};
  for (const [key, [etag, ...buckets]] of Object.entries(index.objects)) {
    const [prefix, rest] = splitRawStreamKey(key) ?? [];
    if (!prefix || !rest) continue;
    const nos = buckets.map((b) => bucketNo.get(b) ?? bucketNo.set(b, bucketNo.size).get(b)!);
    (streams[prefix] ??= {})[rest] = [etag!, ...nos];
  }
  return { version: INDEX_VERSION, dataset: index.dataset, dataset_sha256: index.dataset_sha256, buckets: [...bucketNo.keys()], streams };
}

export function unpackIndex(stored: StoredIndex): DatasetIndex {
  const objects: IndexEntries = {};
  for (const [prefix, files] of Object.entries(stored.streams)) {
    for (const [rest, [etag, ...nos]] of Object.entries(files)) objects[prefix + rest] = [etag, ...nos.map((n) => stored.buckets[n] ?? '')];
  }
  return { dataset: stored.dataset, dataset_sha256: stored.dataset_sha256, objects };
}

export interface RecomputeStats {
  /** No usable previous index/dataset: every bucket was computed. */
  full: boolean;
  objects: number;
  objects_read: number;
  buckets_recomputed: number;
  skipped_lines: number;
}

export interface RecomputeResult<Row> {
  rows: Row[];
  objects: IndexEntries;
  stats: RecomputeStats;
}

export async function recomputeDataset<S, Row>(
  store: ObjectStore,
  def: BucketedDataset<S, Row>,
  listed: RawObject[],
  previous: { rows: Row[]; index: DatasetIndex } | null,
): Promise<RecomputeResult<Row>> {
  const prevObjects = previous?.index.objects ?? {};
  const relevant = listed.filter((o) => def.includes(o));
  const byStream = new Map<string, RawObject[]>();
  for (const o of relevant) {
    const list = byStream.get(o.stream);
    if (list) list.push(o);
    else byStream.set(o.stream, [o]);
  }
  // Objects that vanished (sync replaced a cache copy, an operator deleted one): their buckets change too.
  const dirtyByStream = new Map<string, Set<string>>();
  const dirtyOf = (stream: string) => dirtyByStream.get(stream) ?? dirtyByStream.set(stream, new Set()).get(stream)!;
  const listedKeys = new Set(relevant.map((o) => o.key));
  for (const [key, [, ...buckets]] of Object.entries(prevObjects)) {
    if (listedKeys.has(key)) continue;
    const parsed = parseRawKey({ key, etag: '', size: 0, lastModified: 0 });
    if (parsed) buckets.forEach((b) => dirtyOf(parsed.stream).add(b));
  }

  const stats: RecomputeStats = { full: previous === null, objects: relevant.length, objects_read: 0, buckets_recomputed: 0, skipped_lines: 0 };
  const index: IndexEntries = {};
  const recomputed = new Set<string>();
  const newRows: Row[] = [];
  const read = async (o: RawObject) => {
    const got = await store.get(o.key);
    const { lines, skipped } = parseRawLines(got.body);
    stats.objects_read++;
    stats.skipped_lines += skipped;
    return { etag: got.etag, samples: def.extract(lines) };
  };

  for (const stream of new Set([...byStream.keys(), ...dirtyByStream.keys()])) {
    const objs = byStream.get(stream) ?? [];
    const dirty = dirtyOf(stream);
    const changed = objs.filter((o) => prevObjects[o.key]?.[0] !== o.etag);
    const unchanged = objs.filter((o) => prevObjects[o.key]?.[0] === o.etag);
    const samples = new Map<string, S[]>();
    const add = (from: Map<string, S[]>, only?: Set<string>) => {
      for (const [bucket, list] of from) {
        if (only && !only.has(bucket)) continue;
        const into = samples.get(bucket);
        if (into) for (const s of list) into.push(s);
        else samples.set(bucket, [...list]);
      }
    };
    for (const o of unchanged) index[o.key] = prevObjects[o.key]!;
    const fresh = await mapLimit(changed, READ_CONCURRENCY, read);
    changed.forEach((o, i) => {
      const { etag, samples: perBucket } = fresh[i]!;
      prevObjects[o.key]?.slice(1).forEach((b) => dirty.add(b));
      for (const b of perBucket.keys()) dirty.add(b);
      // An object with no usable line still gets an entry, so it is not re-read every run.
      index[o.key] = [etag, ...perBucket.keys()];
      add(perBucket);
    });
    if (dirty.size === 0) continue;
    // Percentiles and de-duplicated sums need every sample of a bucket: re-read its unchanged objects too.
    const neighbours = unchanged.filter((o) => prevObjects[o.key]!.slice(1).some((b) => dirty.has(b)));
    for (const { samples: perBucket } of await mapLimit(neighbours, READ_CONCURRENCY, read)) add(perBucket, dirty);
    for (const bucket of dirty) {
      recomputed.add(`${stream}|${bucket}`);
      const list = samples.get(bucket);
      if (list && list.length > 0) newRows.push(def.summarise(objs[0]!, bucket, list));
    }
  }
  stats.buckets_recomputed = recomputed.size;
  const kept = (previous?.rows ?? []).filter((row) => {
    const { stream, bucket } = def.identify(row);
    return !recomputed.has(`${stream}|${bucket}`);
  });
  const rows = [...kept, ...newRows].sort((a, b) => {
    const x = def.identify(a);
    const y = def.identify(b);
    return x.stream < y.stream ? -1 : x.stream > y.stream ? 1 : x.bucket < y.bucket ? -1 : x.bucket > y.bucket ? 1 : 0;
  });
  return { rows, objects: index, stats };
}
