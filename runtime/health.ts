// runtime/health.ts
// Per-stream health for the restart playbook: latest CSV vs last raw record, last record age, gap inventory. Reads only.

import type { StreamConfig } from '../config/schema.ts';
import { mapLimit } from './async.ts';
import { listAll, type ObjectStore } from './store/types.ts';
import { checkPair, compareRefs, parseRawKey, summarizeSegment, type ContinuityIssue, type SegmentRef, type SegmentSummary } from './sync/continuity.ts';
import { latestStreamKey, RAW_PREFIX, rawStreamDayPrefix, symbolKey } from './keys.ts';

export interface HealthOptions {
  /** The primary (the truth) and the local cache (what is still waiting for sync). */
  primary: ObjectStore;
  cache: ObjectStore;
  streams: StreamConfig[];
  now: number;
  /** Date partitions inspected, counting back from today. */
  days: number;
  /** A last record older than this is stale (ms). */
  maxAgeMs: number;
  /** Latest CSV and last raw record may differ by this much (ms): raw is shipped once per tick. */
  toleranceMs: number;
  timeGapMs: number;
  /** The normal distance between records per stream (continuity.ts spacingOfStreams): a candle stream's timeframe. */
  spacingMs?: (stream: string) => number;
}

export interface StreamHealth {
  stream: string;
  segments: number;
  pending_in_cache: number;
  last: { epoch: number; seq: number; ts: number; ingest_ts: number; age_ms: number } | null;
  age_ok: boolean;
  /** `ts`: the CSV's newest closed row (ms); `delta_ms`: last raw record's ts minus that. */
  latest_csv: { ts: number | null; delta_ms: number | null; ok: boolean } | null;
  issues: ContinuityIssue[];
  ok: boolean;
  /** Why `ok` is false, one short phrase per failed check (empty when ok). */
  reasons: string[];
}

const TS_COLUMNS = ['ts', 'timestamp', 'time', 'datetime'];
const READ_PARALLEL = 16;

export async function inspectStreams(options: HealthOptions): Promise<StreamHealth[]> {
  const streams = new Set<string>();
  for (const s of options.streams) for (const symbol of s.symbols) streams.add(`${s.exchange}/${s.topic}/${symbolKey(symbol)}`);
  for await (const info of listAll(options.cache, RAW_PREFIX, 1000, { etags: false })) {
    const ref = parseRawKey(info.key);
    if (ref) streams.add(ref.stream);
  }
  if (options.streams.length === 0) {
    for await (const info of listAll(options.primary, RAW_PREFIX)) {
      const ref = parseRawKey(info.key);
      if (ref) streams.add(ref.stream);
    }
  }
  const result: StreamHealth[] = [];
  for (const stream of [...streams].sort()) result.push(await inspectStream(stream, options));
  return result;
}

async function inspectStream(stream: string, options: HealthOptions): Promise<StreamHealth> {
  // The CSV is read before the raw listing: a tick ships its segments first and writes the CSV
  // after, so a CSV read first never shows a record the later listing misses. Read after, it
  // could be a tick ahead of a listing made before that tick (seen under load).
  const csv = await readLatestCsv(options, stream);
  const dates = Array.from({ length: options.days }, (_, i) => new Date(options.now - (options.days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
  const refs = new Map<string, { ref: SegmentRef; store: ObjectStore }>();
  let pending = 0;
  for (const [store, isCache] of [[options.primary, false], [options.cache, true]] as const) {
    for (const date of dates) {
      for await (const info of listAll(store, rawStreamDayPrefix(stream, date), 1000, { etags: false })) {
        const ref = parseRawKey(info.key);
        if (!ref) continue;
        if (isCache) pending++;
        if (!refs.has(ref.key)) refs.set(ref.key, { ref, store });
      }
    }
  }
  const ordered = [...refs.values()].sort((a, b) => compareRefs(a.ref, b.ref));
  const issues: ContinuityIssue[] = [];
  const summaries = await mapLimit(ordered, READ_PARALLEL, async ({ ref, store }) => {
    const got = await store.getOrNull(ref.key);
    if (!got) return null;
    try {
      return summarizeSegment(ref, got.body);
    } catch (err) {
      issues.push({ kind: 'bad_segment', stream, key: ref.key, reason: (err as Error).message });
      return null;
    }
  });
  const whole = summaries.filter((s): s is SegmentSummary => s !== null);
  for (let i = 1; i < whole.length; i++) {
    const issue = checkPair(whole[i - 1]!, whole[i]!, options);
    if (issue) issues.push(issue);
  }
  const newest = whole.reduce<SegmentSummary | null>((best, s) => (!best || s.lastIngestTs > best.lastIngestTs ? s : best), null);
  const last = newest ? { epoch: newest.epoch, seq: newest.lastSeq, ts: newest.lastTs, ingest_ts: newest.lastIngestTs, age_ms: options.now - newest.lastIngestTs } : null;
  const ageOk = last !== null && last.age_ms <= options.maxAgeMs;
  const latest = compareLatestCsv(options, stream, csv, newest);
  const reasons = failureReasons(options, stream, last, latest, issues);
  return { stream, segments: whole.length, pending_in_cache: pending, last, age_ok: ageOk, latest_csv: latest, issues, ok: reasons.length === 0, reasons };
}

function failureReasons(options: HealthOptions, stream: string, last: StreamHealth['last'], latest: StreamHealth['latest_csv'], issues: ContinuityIssue[]): string[] {
  const reasons: string[] = [];
  const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
  if (!last) reasons.push(`no raw record in the last ${options.days} day(s)`);
  else if (last.age_ms > options.maxAgeMs) reasons.push(`stale: last record ${seconds(last.age_ms)} old (limit ${seconds(options.maxAgeMs)})`);
  if (latest && !latest.ok) {
    reasons.push(
      latest.delta_ms === null
        ? latest.ts === null ? 'latest CSV has no readable timestamp' : 'latest CSV but no raw record to compare'
        : `latest CSV ${Math.abs(latest.delta_ms)} ms ${latest.delta_ms > 0 ? 'behind' : 'ahead of'} raw (limit ${csvLimitMs(options, stream, latest.delta_ms)} ms)`,
    );
  }
  if (issues.length) reasons.push(`${issues.length} continuity issue(s): ${[...new Set(issues.map((i) => i.kind))].join(', ')}`);
  return reasons;
}

/** The newest timestamp of the stream's latest CSV (primary, else the cache): undefined when there is no CSV, null when it has no readable one. */
async function readLatestCsv(options: HealthOptions, stream: string): Promise<number | null | undefined> {
  const key = latestStreamKey(stream);
  const got = (await options.primary.getOrNull(key)) ?? (await options.cache.getOrNull(key));
  return got ? csvLatestTs(got.body.toString('utf8')) : undefined;
}

function compareLatestCsv(options: HealthOptions, stream: string, ts: number | null | undefined, newest: SegmentSummary | null): StreamHealth['latest_csv'] {
  if (ts === undefined) return null;
  const delta = ts !== null && newest ? newest.lastTs - ts : null;
  return { ts, delta_ms: delta, ok: delta !== null && Math.abs(delta) <= csvLimitMs(options, stream, delta) };
}

/**
 * How far the latest CSV may be from the newest raw record (ms). A tick ships its segments first
 * and writes the CSV after, so a reader in between sees the CSV one record behind: for a candle
 * stream that is a whole timeframe. Behind is therefore allowed the tolerance plus the stream's
 * record spacing; ahead only the tolerance.
 */
function csvLimitMs(options: HealthOptions, stream: string, delta: number | null): number {
  return options.toleranceMs + (delta !== null && delta > 0 ? (options.spacingMs?.(stream) ?? 0) : 0);
}

/**
 * The newest timestamp in a CSV with a header row (column ts, timestamp, time or datetime; ms or
 * ISO). Rows with `closed=false` are skipped: the forming candle of an ohlcv CSV is one period
 * ahead of every stored (closed) candle, so like is compared with like.
 */
export function csvLatestTs(text: string): number | null {
  const [header, ...rows] = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (!header) return null;
  const names = header.split(',').map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase());
  const column = names.findIndex((h) => TS_COLUMNS.includes(h));
  if (column < 0) return null;
  const closedColumn = names.indexOf('closed');
  let best: number | null = null;
  for (const row of rows) {
    const cells = row.split(',');
    if (closedColumn >= 0 && cells[closedColumn]?.trim() === 'false') continue;
    const cell = cells[column]?.trim().replace(/^"|"$/g, '') ?? '';
    const value = /^\d+(\.\d+)?$/.test(cell) ? Number(cell) : Date.parse(cell);
    if (Number.isFinite(value) && (best === null || value > best)) best = value;
  }
  return best;
}
