// runtime/dashboard-export/quality.ts
// Data quality of one UTC day (seed 003): coverage_ratio per stream and the gap inventory, from raw/ and the audit trail.

import { isoDate } from '../clock.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { auditDayPrefix, qualityInventoryKey, qualitySummaryKey, streamDayPrefix, symbolKey } from '../keys.ts';
import { mapLimit } from '../async.ts';
import { parseRawLines, READ_CONCURRENCY } from './raw-objects.ts';

const DAY_MS = 86_400_000;

export const GAP_KINDS = ['missed', 'unfillable', 'exchange_had_none', 'suspected'] as const;
export type GapKind = (typeof GAP_KINDS)[number];
export const INVENTORY_HEADER = ['stream', 'kind', 'from', 'to', 'from_id', 'to_id', 'missing', 'source'];

/** The audit events read as gap facts (names are the CONTRACT's; those not emitted yet are accepted by name). */
export const GAP_EVENTS = {
  unfillable: 'collector.gap.unfillable',
  detected: 'collector.gap.detected',
  filled: 'collector.gap.filled',
  suspected: 'collector.gap.suspected',
  exchangeHadNone: 'collector.gap.exchange_had_none',
} as const;

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

export interface Gap {
  stream: string;
  kind: GapKind;
  /** ISO UTC; for trades the times of the trades either side of the hole (null when unknown). */
  from: string | null;
  to: string | null;
  /** Trade ids of the hole (trades only). */
  from_id: number | null;
  to_id: number | null;
  /** Ticks, candles or trade ids missing (null when the source does not say). */
  missing: number | null;
  /** `data` (found in raw/) or the audit event it comes from. */
  source: string;
}

export interface StreamQuality {
  [extra: string]: unknown;
  stream: string;
  exchange: string;
  topic: string;
  symbol: string;
  /** What is counted: polled ticks, closed candles or trade ids. */
  unit: 'ticks' | 'candles' | 'trade_ids';
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

interface Rec {
  ts: number;
  ingest_ts: number;
  data: unknown;
}

interface AuditGap {
  event: string;
  kind: GapKind;
  stream: string;
  fromMs: number | null;
  toMs: number | null;
  fromId: number | null;
  toId: number | null;
  count: number | null;
}

const streamName = (s: { exchange: string; topic: string; symbol: string }) => `${s.exchange}/${s.topic}/${symbolKey(s.symbol)}`;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

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

async function readStreamDay(store: ObjectStore, s: QualityStream, date: string): Promise<{ records: Rec[]; skipped: number }> {
  const keys: string[] = [];
  for await (const info of listAll(store, streamDayPrefix(s, date))) if (info.key.endsWith('.jsonl')) keys.push(info.key);
  const bodies = await mapLimit(keys, READ_CONCURRENCY, async (key) => (await store.getOrNull(key))?.body ?? Buffer.alloc(0));
  const records: Rec[] = [];
  let skipped = 0;
  for (const body of bodies) {
    const parsed = parseRawLines(body);
    records.push(...parsed.lines);
    skipped += parsed.skipped;
  }
  return { records, skipped };
}

/** Gap events of the day and the day after, whichever host recorded them. */
async function readGapEvents(store: ObjectStore, date: string): Promise<AuditGap[]> {
  const next = isoDate(Date.parse(`${date}T00:00:00Z`) + DAY_MS);
  const out: AuditGap[] = [];
  for (const day of [date, next]) {
    const keys: string[] = [];
    for await (const info of listAll(store, auditDayPrefix(day))) if (info.key.endsWith('.jsonl')) keys.push(info.key);
    const bodies = await mapLimit(keys, READ_CONCURRENCY, async (key) => (await store.getOrNull(key))?.body.toString('utf8') ?? '');
    for (const text of bodies) {
      for (const line of text.split('\n')) {
        if (!line.includes('collector.gap.')) continue;
        try {
          const gap = toAuditGap(JSON.parse(line) as { event?: unknown; ts?: unknown; payload?: Record<string, unknown> });
          if (gap) out.push(gap);
        } catch {
          // a torn line: the other events still count
        }
      }
    }
  }
  return out;
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const time = (v: unknown) => num(v) ?? (typeof v === 'string' && Number.isFinite(Date.parse(v)) ? Date.parse(v) : null);

/**
 * One audit event as a gap fact. Trade events (`collector.gap.detected|filled|unfillable`, payload
 * exchange, symbol, from/to trade ids) have no topic: trades. Time-window events name the stream
 * (`stream`, or exchange/topic/symbol) and the window (`from_ts`/`to_ts` ms, or `from`/`to` ISO).
 * A `kind` or `reason` of `exchange_had_none` on any gap event makes it that kind, and so does the
 * collector's candle gap (`collector.gap.detected` with `reason: no_candles`, `timeframe`, `from_ts`,
 * `to_ts` = the last open time without a candle): the exchange served no candle for those windows.
 */
function toAuditGap(e: { event?: unknown; ts?: unknown; payload?: Record<string, unknown> }): AuditGap | null {
  if (typeof e.event !== 'string' || !e.event.startsWith('collector.gap.')) return null;
  const p = e.payload ?? {};
  // Candle gaps of the collector (runtime/collector/topics.ts) carry a timeframe and reason no_candles but no topic.
  const topic = typeof p.topic === 'string' ? p.topic : typeof p.timeframe === 'string' || p.reason === 'no_candles' ? 'ohlcv' : 'trades';
  const stream =
    typeof p.stream === 'string'
      ? p.stream
      : typeof p.exchange === 'string' && typeof p.symbol === 'string'
        ? streamName({ exchange: p.exchange, topic, symbol: p.symbol })
        : null;
  if (!stream) return null;
  const said = [p.kind, p.reason].find((v) => typeof v === 'string');
  const kind: GapKind | 'detected' | 'filled' | null =
    said === 'exchange_had_none' || said === 'no_candles' || e.event === GAP_EVENTS.exchangeHadNone
      ? 'exchange_had_none'
      : e.event === GAP_EVENTS.unfillable
        ? 'unfillable'
        : e.event === GAP_EVENTS.suspected
          ? 'suspected'
          : e.event === GAP_EVENTS.detected
            ? 'detected'
            : e.event === GAP_EVENTS.filled
              ? 'filled'
              : null;
  if (kind === null || kind === 'filled') return null;
  const idRange = topic === 'trades' && num(p.from) !== null && num(p.to) !== null;
  return {
    event: e.event,
    // A detected trade gap that was neither filled (it would be in the data) nor declared unfillable is suspected.
    kind: kind === 'detected' ? 'suspected' : kind,
    stream,
    fromMs: idRange ? null : (time(p.from_ts) ?? time(p.from)),
    toMs: idRange ? null : (time(p.to_ts) ?? time(p.to)),
    fromId: idRange ? num(p.from) : null,
    toId: idRange ? num(p.to) : null,
    count: num(p.count),
  };
}

interface Judged {
  unit: StreamQuality['unit'];
  expected: number;
  seen: number;
  ratio: number | null;
  gaps: Gap[];
  note?: string;
}

/**
 * Slot counting for polled topics (slot = poll period, by ingest time) and candles (slot = timeframe,
 * by open time; only candles closed before the window's end are expected). An empty slot next to a
 * slot holding two records is a late or early poll, not a miss. Runs of empty slots are gaps: of the
 * kind an audit window over them says, else `missed`.
 */
function judgeSlots(name: string, unit: 'ticks' | 'candles', times: number[], stepMs: number, events: AuditGap[], from: number, to: number, closedOnly: boolean): Judged {
  const slots = Math.max(0, Math.floor((to - from) / stepMs));
  const counts = new Uint32Array(slots);
  for (const t of times) {
    const i = Math.floor((t - from) / stepMs);
    if (i >= 0 && i < slots) counts[i]!++;
  }
  const filled = new Uint8Array(slots);
  for (let i = 0; i < slots; i++) {
    if (counts[i]! > 0) filled[i] = 1;
    else if (!closedOnly && ((i > 0 && counts[i - 1]! > 1) || (i + 1 < slots && counts[i + 1]! > 1))) filled[i] = 1;
  }
  const timed = events.filter((e) => e.fromMs !== null && e.toMs !== null);
  const none = timed.filter((e) => e.kind === 'exchange_had_none');
  const slotStart = (i: number) => from + i * stepMs;
  const excluded = (i: number) => none.some((e) => slotStart(i) + stepMs > e.fromMs! && slotStart(i) <= e.toMs!);
  const gaps: Gap[] = [];
  let expected = 0;
  let seen = 0;
  for (let i = 0; i < slots; ) {
    if (filled[i]) {
      expected++;
      seen++;
      i++;
      continue;
    }
    let j = i;
    while (j < slots && !filled[j]) j++;
    const a = slotStart(i);
    const b = slotStart(j); // end of the run (exclusive)
    const over = timed.find((e) => e.toMs! >= a && e.fromMs! < b);
    const kind: GapKind = over?.kind ?? 'missed';
    for (let k = i; k < j; k++) if (!excluded(k)) expected++;
    gaps.push({ stream: name, kind, from: iso(a), to: iso(b), from_id: null, to_id: null, missing: j - i, source: over?.event ?? 'data' });
    i = j;
  }
  // Audit windows that matched no empty run (a suspected jump inside data that looks whole) are listed as they are.
  for (const e of timed) {
    if (gaps.some((g) => g.source === e.event && Date.parse(g.from!) <= e.toMs! && Date.parse(g.to!) >= e.fromMs!)) continue;
    if (e.toMs! < from || e.fromMs! >= to) continue;
    gaps.push({ stream: name, kind: e.kind, from: iso(e.fromMs), to: iso(e.toMs), from_id: null, to_id: null, missing: e.count, source: e.event });
  }
  gaps.sort((x, y) => (x.from ?? '').localeCompare(y.from ?? ''));
  return { unit, expected, seen, ratio: expected === 0 ? 1 : round(seen / expected), gaps };
}

/**
 * Id continuity: every id between the day's first and last trade is expected. Holes are gaps —
 * `unfillable` when the collector declared them so, `suspected` when it detected them and the
 * back-fill never finished, `missed` when nothing recorded them at all.
 */
function judgeTrades(name: string, records: Rec[], events: AuditGap[], from: number, to: number): Judged {
  const trades = records
    .filter((r) => r.ts >= from && r.ts < to)
    .map((r) => ({ ts: r.ts, id: Number((r.data as { id?: unknown } | null)?.id) }));
  const idEvents = events.filter((e) => e.fromId !== null && e.toId !== null);
  const listEvents = (gaps: Gap[]) => {
    for (const e of idEvents) {
      // A hole in the data already stands for every event about it (detected, then unfillable).
      if (gaps.some((g) => g.from_id !== null && g.from_id <= e.toId! && g.to_id! >= e.fromId!)) continue;
      gaps.push({ stream: name, kind: e.kind, from: null, to: null, from_id: e.fromId, to_id: e.toId, missing: e.count ?? e.toId! - e.fromId! + 1, source: e.event });
    }
  };
  if (trades.length === 0) {
    const gaps: Gap[] = [{ stream: name, kind: 'missed', from: iso(from), to: iso(to), from_id: null, to_id: null, missing: null, source: 'data' }];
    listEvents(gaps);
    return { unit: 'trade_ids', expected: 0, seen: 0, ratio: 0, gaps, note: 'no trade recorded in the window' };
  }
  if (!trades.every((t) => Number.isSafeInteger(t.id))) {
    return { unit: 'trade_ids', expected: 0, seen: trades.length, ratio: null, gaps: [], note: 'trade ids are not sequential numbers: id continuity cannot be judged' };
  }
  const byId = new Map<number, number>();
  for (const t of trades) byId.set(t.id, t.ts);
  const ids = [...byId.keys()].sort((a, b) => a - b);
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const gaps: Gap[] = [];
  for (let k = 1; k < ids.length; k++) {
    const a = ids[k - 1]!;
    const b = ids[k]!;
    if (b === a + 1) continue;
    const hole = { from: a + 1, to: b - 1 };
    const over = idEvents.find((e) => e.fromId! <= hole.to && e.toId! >= hole.from && e.kind !== 'suspected') ?? idEvents.find((e) => e.fromId! <= hole.to && e.toId! >= hole.from);
    gaps.push({
      stream: name,
      kind: over?.kind ?? 'missed',
      from: iso(byId.get(a)!),
      to: iso(byId.get(b)!),
      from_id: hole.from,
      to_id: hole.to,
      missing: hole.to - hole.from + 1,
      source: over?.event ?? 'data',
    });
  }
  listEvents(gaps);
  gaps.sort((x, y) => (x.from_id ?? 0) - (y.from_id ?? 0));
  const expected = last - first + 1;
  return { unit: 'trade_ids', expected, seen: ids.length, ratio: round(ids.length / expected), gaps };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
