// runtime/dashboard-export/quality-gaps.ts
// Gap facts of the quality check: the gap kinds, one gap row, and the collector's gap events read back from the audit trail of a day.

import { isoDate } from '../clock.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { auditDayPrefix, symbolKey } from '../keys.ts';
import { mapLimit } from '../async.ts';
import { READ_CONCURRENCY } from './raw-objects.ts';

export const DAY_MS = 86_400_000;

export const GAP_KINDS = ['missed', 'unfillable', 'exchange_had_none', 'suspected'] as const;
export type GapKind = (typeof GAP_KINDS)[number];
/** The audit events read as gap facts (names are the CONTRACT's; those not emitted yet are accepted by name). */
export const GAP_EVENTS = {
  unfillable: 'collector.gap.unfillable',
  detected: 'collector.gap.detected',
  filled: 'collector.gap.filled',
  suspected: 'collector.gap.suspected',
  exchangeHadNone: 'collector.gap.exchange_had_none',
} as const;

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

/** A gap event of the audit trail, as a window (ms) or a range of trade ids of one stream. */
export interface AuditGap {
  event: string;
  kind: GapKind;
  stream: string;
  fromMs: number | null;
  toMs: number | null;
  fromId: number | null;
  toId: number | null;
  count: number | null;
}

/** `exchange/topic/SYMBOL`: a stream's name in the report, the inventory and the audit events. */
export const streamName = (s: { exchange: string; topic: string; symbol: string }) => `${s.exchange}/${s.topic}/${symbolKey(s.symbol)}`;

/** Gap events of the day and the day after, whichever host recorded them. */
export async function readGapEvents(store: ObjectStore, date: string): Promise<AuditGap[]> {
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
