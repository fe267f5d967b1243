// runtime/dashboard-export/raw-datasets.ts
// The two datasets computed from raw objects: latency (per stream and hour) and turnover (per symbol and day).

import { isoDate } from '../clock.ts';
import type { RawLine, RawObject } from './raw-objects.ts';

/** How a dataset buckets raw records and summarises one bucket; the incremental engine does the rest. */
export interface BucketedDataset<Sample, Row> {
  name: 'latency' | 'turnover';
  /** Which raw objects feed this dataset. */
  includes(object: RawObject): boolean;
  /** Samples of one object, per bucket id. */
  extract(lines: RawLine[]): Map<string, Sample[]>;
  summarise(object: Pick<RawObject, 'exchange' | 'topic' | 'symbolKey' | 'stream'>, bucket: string, samples: Sample[]): Row;
  /** stream + bucket of a row already in the dataset (to replace it when its bucket is recomputed). */
  identify(row: Row): { stream: string; bucket: string };
}

const HOUR_MS = 3_600_000;

export interface LatencyRow {
  stream: string;
  exchange: string;
  topic: string;
  symbol: string;
  /** Start of the UTC hour in which the records were ingested. */
  hour: string;
  count: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** Nearest-rank percentile of ascending-sorted values: the ⌈p/100·n⌉-th smallest. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** latency = ingest_ts − ts (exchange time → our receipt), bucketed by the UTC hour of ingest_ts. */
export const latencyDataset: BucketedDataset<number, LatencyRow> = {
  name: 'latency',
  includes: () => true,
  extract(lines) {
    const byHour = new Map<string, number[]>();
    for (const line of lines) {
      const hour = new Date(Math.floor(line.ingest_ts / HOUR_MS) * HOUR_MS).toISOString();
      let list = byHour.get(hour);
      if (!list) byHour.set(hour, (list = []));
      list.push(line.ingest_ts - line.ts);
    }
    return byHour;
  },
  summarise(object, hour, samples) {
    const sorted = Float64Array.from(samples).sort();
    return {
      stream: object.stream,
      exchange: object.exchange,
      topic: object.topic,
      symbol: object.symbolKey,
      hour,
      count: sorted.length,
      p50_ms: percentile(sorted, 50),
      p95_ms: percentile(sorted, 95),
      p99_ms: percentile(sorted, 99),
      max_ms: sorted[sorted.length - 1]!,
    };
  },
  identify: (row) => ({ stream: row.stream, bucket: row.hour }),
};

export interface TradeSample {
  /** Exchange trade id; trades seen twice (two epochs overlapping) are counted once. */
  id: string | null;
  amount: number;
  notional: number;
  side: 'buy' | 'sell' | null;
}

export interface TurnoverRow {
  stream: string;
  exchange: string;
  symbol: string;
  /** UTC date of the trades' exchange timestamps. */
  date: string;
  trades: number;
  volume: number;
  notional: number;
  buy_volume: number;
  sell_volume: number;
  /** notional / volume; null without volume. */
  vwap: number | null;
  /** Trade records without a usable amount/price (not counted). */
  skipped: number;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A ccxt trade as collected: amount, price, cost (price × amount when absent), side, id, timestamp. */
function tradeOf(line: RawLine): { day: string; sample: TradeSample | null } {
  const t = (line.data ?? {}) as Record<string, unknown>;
  const at = finite(t.timestamp) ? t.timestamp : line.ts;
  const day = isoDate(at);
  if (!finite(t.amount) || (!finite(t.cost) && !finite(t.price))) return { day, sample: null };
  const notional = finite(t.cost) ? t.cost : (t.price as number) * t.amount;
  const side = t.side === 'buy' || t.side === 'sell' ? t.side : null;
  const id = typeof t.id === 'string' || typeof t.id === 'number' ? String(t.id) : null;
  return { day, sample: { id, amount: t.amount, notional, side } };
}

/** turnover per (exchange, symbol, UTC day) from the trades topic: volume = Σ amount, notional = Σ cost. */
export const turnoverDataset: BucketedDataset<TradeSample | null, TurnoverRow> = {
  name: 'turnover',
  includes: (object) => object.topic === 'trades',
  extract(lines) {
    const byDay = new Map<string, Array<TradeSample | null>>();
    for (const line of lines) {
      const { day, sample } = tradeOf(line);
      let list = byDay.get(day);
      if (!list) byDay.set(day, (list = []));
      list.push(sample);
    }
    return byDay;
  },
  summarise(object, date, samples) {
    const seen = new Set<string>();
    const row: TurnoverRow = {
      stream: object.stream,
      exchange: object.exchange,
      symbol: object.symbolKey,
      date,
      trades: 0,
      volume: 0,
      notional: 0,
      buy_volume: 0,
      sell_volume: 0,
      vwap: null,
      skipped: 0,
    };
    for (const s of samples) {
      if (!s) {
        row.skipped++;
        continue;
      }
      if (s.id !== null) {
        if (seen.has(s.id)) continue;
        seen.add(s.id);
      }
      row.trades++;
      row.volume += s.amount;
      row.notional += s.notional;
      if (s.side === 'buy') row.buy_volume += s.amount;
      if (s.side === 'sell') row.sell_volume += s.amount;
    }
    row.vwap = row.volume > 0 ? row.notional / row.volume : null;
    return row;
  },
  identify: (row) => ({ stream: row.stream, bucket: row.date }),
};
