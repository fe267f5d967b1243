// runtime/lake/compact-inputs.ts
// What one stream-day compacts from: its own raw segments, the day before's that spill over midnight, and the verified Parquet copy of segments retention has deleted — downloaded into scratch files.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from '../errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { readManifest, type DayManifest } from './compact-manifest.ts';
import type { ListedSegments } from './compact-plan.ts';
import { downloadInto, listObjects, type SourceSegment } from './compact-sources.ts';
import { addDays, dayStart, streamName, type StreamRef } from './layout.ts';
import { rawDayPrefix } from '../keys.ts';

/** A stream-day's inputs in its scratch directory. */
export interface DayInputs {
  /** The day's own segments (dt=<date>), appended in key order, and what was read of each. */
  curFile: string;
  curSources: SourceSegment[];
  /** The day before's segments that may hold records of this day, and what was read of each. */
  prevFile: string;
  prevRead: SourceSegment[];
  /** The manifest's sources: the day before's segments holding records of the day, the day's own, the deleted ones carried. */
  sources: SourceSegment[];
  /** The day's earlier verified Parquet object, copied here when sources it holds were deleted; else null. */
  carriedFile: string | null;
  /** The day's manifest of an earlier compaction (null: none). */
  oldManifest: DayManifest | null;
}

/**
 * Lists (unless `listed` by the plan) and downloads a stream-day's sources into `dir`; segments of
 * the day before whose records all end before midnight (known from its manifest) are not
 * downloaded. `onDownloaded` runs once the segments are local. Sources of an earlier compaction of
 * this day that retention has deleted since live on only in the day's verified Parquet object,
 * which is then copied as one more source. @throws BtcError Internal when that object is missing
 * or changed (its records would be lost).
 */
export async function gatherDayInputs(
  stream: StreamRef,
  date: string,
  source: { store: ObjectStore; downloadConcurrency?: number },
  dir: string,
  listed: ListedSegments | undefined,
  onDownloaded: () => void | Promise<void>,
): Promise<DayInputs> {
  const start = dayStart(date);
  const prevDate = addDays(date, -1);
  const current = listed?.current ?? (await listObjects(source.store, rawDayPrefix(stream, date)));
  const previous = listed?.previous ?? (await listObjects(source.store, rawDayPrefix(stream, prevDate)));
  const prevManifest = await readManifest(source.store, stream, prevDate);
  const known = new Map((prevManifest?.sources ?? []).map((s) => [`${s.key}\0${s.etag}`, s]));
  const prevCandidates = previous.filter((o) => {
    const s = known.get(`${o.key}\0${o.etag}`);
    return !s || s.max_ts >= start;
  });
  const curFile = path.join(dir, 'cur.jsonl');
  const prevFile = path.join(dir, 'prev.jsonl');
  const curSources = await downloadInto(source, current, curFile);
  const prevRead = await downloadInto(source, prevCandidates, prevFile);
  const prevSources = prevRead.filter((s) => s.max_ts >= start);
  await onDownloaded();
  const oldManifest = await readManifest(source.store, stream, date);
  const present = new Set([...current, ...previous].map((o) => o.key));
  const gone = (oldManifest?.sources ?? []).filter((s) => !present.has(s.key));
  let carriedFile: string | null = null;
  if (gone.length && oldManifest?.parquet) {
    const old = await source.store.getOrNull(oldManifest.parquet.key);
    const oldSha = old ? createHash('sha256').update(old.body).digest('hex') : null;
    if (!old || oldSha !== oldManifest.parquet.sha256) {
      throw new BtcError('Internal', `${streamName(stream)} ${date}: ${gone.length} source segment(s) were deleted and the verified Parquet object that holds their records is ${old ? 'changed' : 'missing'}; not recompacted (records would be lost)`);
    }
    carriedFile = path.join(dir, 'carried.parquet');
    await fsp.writeFile(carriedFile, old.body);
  }
  return { curFile, curSources, prevFile, prevRead, sources: [...prevSources, ...curSources, ...gone], carriedFile, oldManifest };
}
