// runtime/sync/continuity.ts
// Reads raw segment keys and bodies into seq/time ranges and finds seq gaps inside an epoch and time gaps/overlaps across epochs.

import { BtcError } from '../errors.ts';
import { parseRawSegmentKey, type RawSegmentKey, symbolKey } from '../keys.ts';

/** What a raw segment key says (built by rawSegmentKey, parsed by parseRawSegmentKey in runtime/streams.ts). */
export type SegmentRef = RawSegmentKey;

/** A segment's ranges, read from its body. */
export interface SegmentSummary extends SegmentRef {
  lastSeq: number;
  records: number;
  firstTs: number;
  lastTs: number;
  lastIngestTs: number;
}

export type ContinuityIssue =
  | { kind: 'seq_gap'; stream: string; epoch: number; missing_from: number; missing_to: number; after_key: string; before_key: string }
  | { kind: 'seq_overlap'; stream: string; epoch: number; from: number; to: number; after_key: string; before_key: string }
  | { kind: 'time_gap'; stream: string; from_epoch: number; to_epoch: number; from_ts: number; to_ts: number; gap_ms: number }
  | { kind: 'time_overlap'; stream: string; from_epoch: number; to_epoch: number; from_ts: number; to_ts: number; overlap_ms: number }
  | { kind: 'bad_segment'; stream: string; key: string; reason: string };

export { parseRawSegmentKey as parseRawKey };

/** The order sync and health walk a stream in: (exchange, topic, symbol, epoch, seq). */
export function compareRefs(a: SegmentRef, b: SegmentRef): number {
  if (a.stream !== b.stream) return a.stream < b.stream ? -1 : 1;
  return a.epoch - b.epoch || a.firstSeq - b.firstSeq;
}

/**
 * Reads the first and last record and counts lines: a segment is whole when its line count equals
 * its seq span and its first record matches its key. Only two lines are parsed, so a 1 MB segment
 * costs one scan for newlines.
 */
export function summarizeSegment(ref: SegmentRef, body: Buffer): SegmentSummary {
  const bad = (reason: string) => new BtcError('InvalidInput', `segment ${ref.key}: ${reason}`, { details: { key: ref.key } });
  if (body.length === 0 || body[body.length - 1] !== 0x0a) throw bad('empty or not newline-terminated');
  let lines = 0;
  for (let i = body.indexOf(0x0a); i !== -1; i = body.indexOf(0x0a, i + 1)) lines++;
  const firstEnd = body.indexOf(0x0a);
  const lastStart = body.lastIndexOf(0x0a, body.length - 2) + 1;
  const first = parseLine(body.subarray(0, firstEnd));
  const last = parseLine(body.subarray(lastStart, body.length - 1));
  if (!first || !last) throw bad('first or last line is not a record');
  if (first.seq !== ref.firstSeq) throw bad(`first seq ${first.seq} does not match key (${ref.firstSeq})`);
  if (first.epoch !== ref.epoch || last.epoch !== ref.epoch) throw bad(`epoch does not match key (${ref.epoch})`);
  if (last.seq - first.seq + 1 !== lines) throw bad(`${lines} lines for seq ${first.seq}..${last.seq}: a gap inside the segment`);
  return { ...ref, lastSeq: last.seq, records: lines, firstTs: first.ts, lastTs: last.ts, lastIngestTs: last.ingest_ts ?? last.ts };
}

function parseLine(bytes: Buffer): { seq: number; epoch: number; ts: number; ingest_ts?: number } | null {
  try {
    const r = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    if (typeof r.seq !== 'number' || typeof r.epoch !== 'number' || typeof r.ts !== 'number') return null;
    return { seq: r.seq, epoch: r.epoch, ts: r.ts, ingest_ts: typeof r.ingest_ts === 'number' ? r.ingest_ts : undefined };
  } catch {
    return null;
  }
}

export interface PairCheckOptions {
  /** Across epochs, a pause longer than this between the last record of one and the first of the next is a time gap (ms). */
  timeGapMs: number;
  /**
   * The normal distance between two records of `stream` (ms), added to timeGapMs: a candle stream's
   * records are one timeframe apart (1m candles are stamped 60 s apart), so its pause across a
   * failover is measured beyond that. 0 for streams without a period.
   */
  spacingMs?: (stream: string) => number;
}

const TIMEFRAME_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, M: 2_592_000_000, y: 31_536_000_000 };

/** A ccxt timeframe (`1m`, `4h`, `1d`) in ms; 0 when it does not parse. */
export function timeframeMs(timeframe: string): number {
  const m = /^(\d+)([smhdwMy])$/.exec(timeframe);
  return m ? Number(m[1]) * TIMEFRAME_UNIT_MS[m[2]!]! : 0;
}

/**
 * `spacingMs` for PairCheckOptions from the configured streams: each ohlcv stream's timeframe
 * (`defaultTimeframe` when unset: the collector's DEFAULT_TIMEFRAME), keyed like segment keys
 * (`exchange/topic/SYMBOL`).
 */
export function spacingOfStreams(streams: ReadonlyArray<{ exchange: string; topic: string; symbols: string[]; timeframe?: string }>, defaultTimeframe: string): (stream: string) => number {
  const spacing = new Map<string, number>();
  for (const s of streams) {
    if (s.topic !== 'ohlcv') continue;
    for (const symbol of s.symbols) spacing.set(`${s.exchange}/${s.topic}/${symbolKey(symbol)}`, timeframeMs(s.timeframe ?? defaultTimeframe));
  }
  return (stream) => spacing.get(stream) ?? 0;
}

/**
 * Checks one neighbouring pair of one stream (b follows a in (epoch, seq) order): inside an epoch
 * the seq must continue exactly; across epochs the time ranges must neither overlap nor leave a
 * pause longer than `timeGapMs`.
 */
export function checkPair(a: SegmentSummary, b: SegmentRef & Partial<SegmentSummary>, options: PairCheckOptions): ContinuityIssue | null {
  if (a.epoch === b.epoch) {
    const expected = a.lastSeq + 1;
    if (b.firstSeq > expected) {
      return { kind: 'seq_gap', stream: a.stream, epoch: a.epoch, missing_from: expected, missing_to: b.firstSeq - 1, after_key: a.key, before_key: b.key };
    }
    if (b.firstSeq < expected) {
      return { kind: 'seq_overlap', stream: a.stream, epoch: a.epoch, from: b.firstSeq, to: a.lastSeq, after_key: a.key, before_key: b.key };
    }
    return null;
  }
  if (b.firstTs === undefined) throw new BtcError('Internal', `checkPair across epochs needs the summary of ${b.key}`);
  if (b.firstTs <= a.lastTs) {
    return { kind: 'time_overlap', stream: a.stream, from_epoch: a.epoch, to_epoch: b.epoch, from_ts: b.firstTs, to_ts: a.lastTs, overlap_ms: a.lastTs - b.firstTs };
  }
  if (b.firstTs - a.lastTs > options.timeGapMs + (options.spacingMs?.(a.stream) ?? 0)) {
    return { kind: 'time_gap', stream: a.stream, from_epoch: a.epoch, to_epoch: b.epoch, from_ts: a.lastTs, to_ts: b.firstTs, gap_ms: b.firstTs - a.lastTs };
  }
  return null;
}

/** One line for humans: what is missing or doubled, with its range. */
export function describeIssue(issue: ContinuityIssue): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  switch (issue.kind) {
    case 'seq_gap':
      return `${issue.stream} epoch ${issue.epoch}: seq ${issue.missing_from}..${issue.missing_to} missing`;
    case 'seq_overlap':
      return `${issue.stream} epoch ${issue.epoch}: seq ${issue.from}..${issue.to} written twice`;
    case 'time_gap':
      return `${issue.stream} epochs ${issue.from_epoch}→${issue.to_epoch}: no data ${iso(issue.from_ts)} .. ${iso(issue.to_ts)} (${issue.gap_ms} ms)`;
    case 'time_overlap':
      return `${issue.stream} epochs ${issue.from_epoch}→${issue.to_epoch}: both collected ${iso(issue.from_ts)} .. ${iso(issue.to_ts)} (${issue.overlap_ms} ms overlap)`;
    case 'bad_segment':
      return `${issue.stream}: ${issue.reason}`;
  }
}
