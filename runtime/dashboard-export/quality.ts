// runtime/dashboard-export/quality.ts
// Data quality of one UTC day (seed 003): coverage_ratio per stream and the gap inventory, from raw/ and the audit trail (gap facts: quality-gaps.ts; counting: quality-judge.ts).

import { listAll, type ObjectStore } from '../store/types.ts';
import { qualityInventoryKey, qualitySummaryKey, streamDayPrefix } from '../keys.ts';
import { mapLimit } from '../async.ts';
import { DAY_MS, GAP_KINDS, readGapEvents, streamName, type Gap, type GapKind } from './quality-gaps.ts';
import { judgeSlots, judgeTrades, type CoverageUnit } from './quality-judge.ts';
import { parseRawLines, READ_CONCURRENCY, type RawLine } from './raw-objects.ts';

export const INVENTORY_HEADER = ['stream', 'kind', 'from', 'to', 'from_id', 'to_id', 'missing', 'source'];

/** A stream as the quality check needs it (planTasks in runtime/collector/plan.ts gives these). */
export interface QualityStream {
  exchange: string;
  topic: 'ticker' | 'trades' | 'orderbook' | 'ohlcv';
  symbol: string;
  /** Poll period (ms) of ticker / orderbook. */
  everyMs: number;
  /** ccxt timeframe of ohlcv (`1m`, `5m`, `1h`, `1d`, …). */
  timeframe: string;
}

export interface StreamQuality {
  [extra: string]: unknown;
  stream: string;
  exchange: string;
  topic: string;
  symbol: string;
  /** What is counted: polled ticks, closed candles or trade ids. */
  unit: CoverageUnit;
  /** Expected units in the day's window, without windows the exchange had no data for. */
  expected: number;
  seen: number;
  /** seen / expected (1 when nothing was expected); null when it cannot be known (trade ids not sequential). */
  coverage_ratio: number | null;
  records: number;
  /** Lines of raw objects that could not be parsed (counted, never fatal). */
  skipped_lines: number;
  gaps: Record<GapKind, number>;
  below_threshold: boolean;
  note?: string;
}

export interface QualityReport {
  [extra: string]: unknown;
  version: 1;
  date: string;
  generated_at: string;
  host: string;
  /** [from, to) of the day that was judged (to = now for the current day). */
  window: { from: string; to: string };
  coverage_threshold: number;
  status: 'ok' | 'below_threshold';
  streams: StreamQuality[];
  /** Streams under the threshold, by name. */
  below: string[];
  gaps_total: Record<GapKind, number>;
  keys: { summary: string; gap_inventory: string };
  audit_events_read: number;
}

export interface QualityOptions {
  date: string;
  streams: QualityStream[];
  /** 0..1: a stream whose coverage_ratio is below it fails the day. */
  threshold: number;
  now: number;
  host: string;
}

/** `1m` → 60000; ccxt timeframes (s, m, h, d, w, M≈30 d). @throws Error for an unknown notation. */
export function timeframeMs(tf: string): number {
  const m = /^(\d+)([smhdwM])$/.exec(tf);
  if (!m) throw new Error(`unknown timeframe ${tf}`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS, M: 30 * DAY_MS }[m[2] as 's'];
  return Number(m[1]) * unit;
}

/**
 * Judges one UTC day. Reads every raw segment of each stream under `dt=<date>/` (records are
 * assigned to the day by their segment's key; a segment begun just before midnight counts for the
 * day before) and the gap events of `audit/dt=<date>/` and the day after (an unfillable verdict can
 * come after midnight). Coverage: polled topics (ticker, orderbook) count poll periods with a
 * record by ingest time; ohlcv counts closed candles by open time; trades count ids between the
 * day's first and last id. Windows an audit event says the exchange had no data for are left out
 * of `expected` and listed as `exchange_had_none`.
 */
export async function computeQuality(store: ObjectStore, o: QualityOptions): Promise<{ report: QualityReport; inventory: Gap[] }> {
  const dayStart = Date.parse(`${o.date}T00:00:00Z`);
  const windowEnd = Math.min(dayStart + DAY_MS, Math.max(dayStart, o.now));
  const audit = await readGapEvents(store, o.date);
  const streams: StreamQuality[] = [];
  const inventory: Gap[] = [];
  const seenNames = new Set<string>();
  for (const s of o.streams) {
    const name = streamName(s);
    if (seenNames.has(name)) continue;
    seenNames.add(name);
    const { records, skipped } = await readStreamDay(store, s, o.date);
    const events = audit.filter((e) => e.stream === name);
    const judged =
      s.topic === 'trades'
        ? judgeTrades(name, records, events, dayStart, windowEnd)
        : s.topic === 'ohlcv'
          ? judgeSlots(name, 'candles', records.map((r) => r.ts), timeframeMs(s.timeframe), events, dayStart, windowEnd, true)
          : judgeSlots(name, 'ticks', records.map((r) => r.ingest_ts), s.everyMs, events, dayStart, windowEnd, false);
    const gaps = Object.fromEntries(GAP_KINDS.map((k) => [k, judged.gaps.filter((g) => g.kind === k).length])) as Record<GapKind, number>;
    inventory.push(...judged.gaps);
    streams.push({
      stream: name,
      exchange: s.exchange,
      topic: s.topic,
      symbol: s.symbol,
      unit: judged.unit,
      expected: judged.expected,
      seen: judged.seen,
      coverage_ratio: judged.ratio,
      records: records.length,
      skipped_lines: skipped,
      gaps,
      below_threshold: judged.ratio !== null && judged.ratio < o.threshold,
      ...(judged.note ? { note: judged.note } : {}),
    });
  }
  const below = streams.filter((s) => s.below_threshold).map((s) => s.stream);
  const report: QualityReport = {
    version: 1,
    date: o.date,
    generated_at: new Date(o.now).toISOString(),
    host: o.host,
    window: { from: new Date(dayStart).toISOString(), to: new Date(windowEnd).toISOString() },
    coverage_threshold: o.threshold,
    status: below.length ? 'below_threshold' : 'ok',
    streams,
    below,
    gaps_total: Object.fromEntries(GAP_KINDS.map((k) => [k, inventory.filter((g) => g.kind === k).length])) as Record<GapKind, number>,
    keys: { summary: qualitySummaryKey(o.date), gap_inventory: qualityInventoryKey(o.date) },
    audit_events_read: audit.length,
  };
  return { report, inventory };
}

/** RFC 4180 CSV with a header row (as the collector's latest CSVs; not imported from there, which loads ccxt). */
function csv(header: string[], rows: unknown[][]): string {
  const cell = (v: unknown) => {
    const text = v === null || v === undefined ? '' : String(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}

/** The gap inventory CSV: one row per gap, header INVENTORY_HEADER. */
export function inventoryCsv(gaps: Gap[]): string {
  return csv(INVENTORY_HEADER, gaps.map((g) => [g.stream, g.kind, g.from, g.to, g.from_id, g.to_id, g.missing, g.source]));
}

/** Stores quality/dt=<date>/summary.json and gap_inventory.csv (a re-run of the day replaces both). */
export async function writeQuality(store: ObjectStore, report: QualityReport, inventory: Gap[]): Promise<void> {
  await store.put(qualityInventoryKey(report.date), inventoryCsv(inventory), { contentType: 'text/csv' });
  await store.put(qualitySummaryKey(report.date), JSON.stringify(report, null, 2) + '\n', { contentType: 'application/json' });
}

async function readStreamDay(store: ObjectStore, s: QualityStream, date: string): Promise<{ records: RawLine[]; skipped: number }> {
  const keys: string[] = [];
  for await (const info of listAll(store, streamDayPrefix(s, date))) if (info.key.endsWith('.jsonl')) keys.push(info.key);
  const bodies = await mapLimit(keys, READ_CONCURRENCY, async (key) => (await store.getOrNull(key))?.body ?? Buffer.alloc(0));
  const records: RawLine[] = [];
  let skipped = 0;
  for (const body of bodies) {
    const parsed = parseRawLines(body);
    records.push(...parsed.lines);
    skipped += parsed.skipped;
  }
  return { records, skipped };
}

