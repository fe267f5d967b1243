// runtime/lake/layout.ts
// The compacted data layout: typed columns per topic, stream names, UTC day arithmetic (its object keys are built in runtime/keys.ts).

import { BtcError } from '../errors.ts';

export const DAY_MS = 86_400_000;

/** The topics the collector writes (runtime/collector/topics.ts) and their Parquet columns. */
export type Topic = 'trades' | 'orderbook' | 'ticker' | 'ohlcv';
export const TOPICS: readonly Topic[] = ['trades', 'orderbook', 'ticker', 'ohlcv'];

/** One stream as it appears in object keys: `<exchange>/<topic>/<SYMBOL>` with SYMBOL like `BTC-USDT`. */
export interface StreamRef {
  exchange: string;
  topic: Topic;
  /** Key form (`BTC-USDT`, `BTC-USDT_USDT`), as in raw/ keys. */
  symbol: string;
}

export interface TopicSpec {
  /** DuckDB type of the raw record's `data` field for read_json (missing keys read as NULL). */
  dataType: string;
  /** The typed columns, selected from a raw record (`ts, ingest_ts, epoch, seq, data`). */
  select: string;
  /** Columns that make two records "the same datum" (duplicates across overlapping epochs). */
  content: string[];
  /** One content column that two copies of a datum always share, cheap to group on: only records whose value repeats are compared on the whole content. */
  dupKey: string;
  /** Exchange-time order of the rows in a Parquet object. */
  order: string;
}

/**
 * Column choice per topic. `ts` and `ingest_ts` stay BIGINT epoch milliseconds, exactly as in the
 * raw records (no time-zone or precision question for any reader). `first_trade_id` /
 * `last_trade_id` are the fills of a Binance aggregate trade (issue 15): NULL when a record has none.
 */
export const TOPIC_SPECS: Record<Topic, TopicSpec> = {
  trades: {
    dataType: 'STRUCT(id VARCHAR, price DOUBLE, amount DOUBLE, cost DOUBLE, side VARCHAR, first_trade_id BIGINT, last_trade_id BIGINT)',
    select:
      'ts, data.id AS id, data.price AS price, data.amount AS amount, data.cost AS cost, data.side AS side, ' +
      'data.first_trade_id AS first_trade_id, data.last_trade_id AS last_trade_id, epoch, seq, ingest_ts',
    content: ['id', 'ts', 'price', 'amount', 'side', 'first_trade_id', 'last_trade_id'],
    dupKey: 'id',
    order: 'ts, TRY_CAST(id AS BIGINT), id, epoch, seq',
  },
  orderbook: {
    dataType: 'STRUCT(bids DOUBLE[][], asks DOUBLE[][], nonce BIGINT)',
    select: 'ts, data.bids AS bids, data.asks AS asks, data.nonce AS update_id, epoch, seq, ingest_ts',
    content: ['ts', 'bids', 'asks', 'update_id'],
    dupKey: 'ts',
    order: 'ts, epoch, seq',
  },
  ticker: {
    dataType:
      'STRUCT("last" DOUBLE, bid DOUBLE, ask DOUBLE, high DOUBLE, low DOUBLE, open DOUBLE, base_volume DOUBLE, quote_volume DOUBLE, vwap DOUBLE, percentage DOUBLE)',
    select:
      'ts, data."last" AS "last", data.bid AS bid, data.ask AS ask, data.high AS high, data.low AS low, data.open AS open, ' +
      'data.base_volume AS base_volume, data.quote_volume AS quote_volume, data.vwap AS vwap, data.percentage AS percentage, epoch, seq, ingest_ts',
    content: ['ts', '"last"', 'bid', 'ask', 'high', 'low', 'open', 'base_volume', 'quote_volume', 'vwap', 'percentage'],
    dupKey: 'ts',
    order: 'ts, epoch, seq',
  },
  ohlcv: {
    dataType: 'STRUCT(open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE, volume DOUBLE, timeframe VARCHAR)',
    select: 'ts, data.open AS open, data.high AS high, data.low AS low, data.close AS close, data.volume AS volume, data.timeframe AS timeframe, epoch, seq, ingest_ts',
    content: ['ts', 'open', 'high', 'low', 'close', 'volume', 'timeframe'],
    dupKey: 'ts',
    order: 'ts, epoch, seq',
  },
};

export function isTopic(topic: string): topic is Topic {
  return (TOPICS as readonly string[]).includes(topic);
}

/** `binance/trades/BTC-USDT` → StreamRef; InvalidInput for anything else. */
export function parseStreamName(name: string): StreamRef {
  const m = /^([A-Za-z0-9_.-]+)\/([a-z]+)\/([A-Za-z0-9_.-]+)$/.exec(name);
  if (!m || !isTopic(m[2]!)) throw new BtcError('InvalidInput', `stream must be <exchange>/<topic>/<SYMBOL> with topic one of ${TOPICS.join(', ')} (e.g. binance/trades/BTC-USDT), got ${JSON.stringify(name)}`);
  return { exchange: m[1]!, topic: m[2] as Topic, symbol: m[3]! };
}

export function streamName(s: StreamRef): string {
  return `${s.exchange}/${s.topic}/${s.symbol}`;
}

/** 'YYYY-MM-DD' → its UTC midnight (ms); InvalidInput when not a real date. */
export function dayStart(date: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(date) ? Date.parse(`${date}T00:00:00Z`) : NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString().slice(0, 10) !== date) throw new BtcError('InvalidInput', `not a date (YYYY-MM-DD): ${JSON.stringify(date)}`);
  return ms;
}

export function addDays(date: string, days: number): string {
  return new Date(dayStart(date) + days * DAY_MS).toISOString().slice(0, 10);
}

/** Every date from `from` to `to` inclusive. */
export function datesBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** SQL string literal. */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
