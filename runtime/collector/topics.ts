// runtime/collector/topics.ts
// Fetch and normalise ticker, order book and candles through ccxt; each answer also renders the latest CSV.

import type { Exchange } from 'ccxt';
import type { AuditLog } from '../audit.ts';
import { BadData } from './errors.ts';
import type { Cursor } from './cursors.ts';

export interface StreamTask {
  exchange: string;
  topic: 'ticker' | 'trades' | 'orderbook' | 'ohlcv';
  symbol: string;
  /** Ms between fetches of this stream. */
  everyMs: number;
  depth: number;
  timeframe: string;
}

/** What one fetch produced; committed only when it arrived within the stream's timeout. */
export interface StreamFetch {
  items: Array<{ ts: number; data: unknown }>;
  /** The new latest CSV (null leaves the old one). */
  latestCsv: string | null;
  /** The stream's new cursor (trades, ohlcv). */
  cursor?: Cursor;
  /** Notes for the status row (gaps, catching up). */
  notes: string[];
  /** Audit events, recorded on commit. */
  events: Array<{ event: Parameters<AuditLog['record']>[0]; payload: Record<string, unknown> }>;
  /** Committed, but the stream is not ok (e.g. `gap_suspected`): the status row shows this cause until a clean fetch. */
  problem?: { cause: string; message: string };
}

export interface FetchContext {
  exchange: Exchange;
  task: StreamTask;
  now: () => number;
  cursor: Cursor;
  /** Stop starting new pages after this monotonic ms (the stream's timeout budget). */
  deadlineMonotonicMs: number;
  monotonicMs: () => number;
  pageLimit: number;
  maxPages: number;
}

export const DEFAULT_DEPTH = 20;
export const DEFAULT_TIMEFRAME = '1m';
/** Candles shown in the latest CSV. */
const LATEST_CANDLES = 10;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const orNull = (v: unknown) => (finite(v) ? v : null);

export async function fetchTicker({ exchange, task, now }: FetchContext): Promise<StreamFetch> {
  const t = await exchange.fetchTicker(task.symbol);
  if (!finite(t.last)) throw new BadData(`ticker ${task.symbol}: last price missing or not a number`);
  const ts = finite(t.timestamp) ? t.timestamp : now();
  const data = {
    last: t.last, bid: orNull(t.bid), ask: orNull(t.ask), high: orNull(t.high), low: orNull(t.low), open: orNull(t.open),
    base_volume: orNull(t.baseVolume), quote_volume: orNull(t.quoteVolume), vwap: orNull(t.vwap), percentage: orNull(t.percentage),
  };
  const header = ['ts', 'symbol', ...Object.keys(data)];
  return { items: [{ ts, data }], latestCsv: csv(header, [[ts, task.symbol, ...Object.values(data)]]), notes: [], events: [] };
}

export async function fetchOrderBook({ exchange, task, now }: FetchContext): Promise<StreamFetch> {
  const book = await exchange.fetchOrderBook(task.symbol, task.depth);
  const level = (side: string) => (l: unknown) => {
    if (!Array.isArray(l) || !finite(l[0]) || !finite(l[1])) throw new BadData(`order book ${task.symbol}: bad ${side} level ${JSON.stringify(l)}`);
    return [l[0], l[1]] as [number, number];
  };
  if (!Array.isArray(book.bids) || !Array.isArray(book.asks)) throw new BadData(`order book ${task.symbol}: bids/asks missing`);
  const bids = book.bids.slice(0, task.depth).map(level('bid'));
  const asks = book.asks.slice(0, task.depth).map(level('ask'));
  // Binance spot depth carries no time; the fetch time is the best we know.
  const ts = finite(book.timestamp) ? book.timestamp : now();
  const rows = [...bids.map((l, i) => [ts, 'bid', i + 1, l[0], l[1]]), ...asks.map((l, i) => [ts, 'ask', i + 1, l[0], l[1]])];
  return {
    items: [{ ts, data: { bids, asks, nonce: book.nonce ?? null } }],
    latestCsv: csv(['ts', 'side', 'level', 'price', 'amount'], rows),
    notes: [],
    events: [],
  };
}

/** Closed candles are stored once each (the cursor holds the last one); the forming candle shows only in the CSV. */
export async function fetchOhlcv({ exchange, task, cursor, now }: FetchContext): Promise<StreamFetch> {
  const stepMs = exchange.parseTimeframe(task.timeframe) * 1000;
  // Ask from the cursor, but never for fewer than the candles the latest CSV shows: asking only
  // from the cursor returns just the forming candle, and the CSV would shrink to one row.
  const formingStart = Math.floor(now() / stepMs) * stepMs;
  const since = cursor.last_ts !== null ? Math.min(cursor.last_ts + stepMs, formingStart - (LATEST_CANDLES - 1) * stepMs) : undefined;
  const candles = await exchange.fetchOHLCV(task.symbol, task.timeframe, since, since === undefined ? LATEST_CANDLES + 1 : 1000);
  for (const c of candles) {
    if (!Array.isArray(c) || c.length < 6 || !c.slice(0, 5).every(finite)) throw new BadData(`ohlcv ${task.symbol}: bad candle ${JSON.stringify(c)}`);
  }
  const sorted = [...candles].sort((a, b) => Number(a[0]) - Number(b[0]));
  // The newest candle of an answer is still forming; every earlier one is closed.
  const closed = sorted.slice(0, -1).filter((c) => cursor.last_ts === null || Number(c[0]) > cursor.last_ts);
  const toData = (c: (typeof sorted)[number]) => ({ open: c[1], high: c[2], low: c[3], close: c[4], volume: c[5] ?? null, timeframe: task.timeframe });
  const next = structuredClone(cursor);
  if (closed.length) next.last_ts = Number(closed[closed.length - 1]![0]);
  const shown = sorted.slice(-LATEST_CANDLES);
  return {
    items: closed.map((c) => ({ ts: Number(c[0]), data: toData(c) })),
    latestCsv: shown.length
      ? csv(['ts', 'open', 'high', 'low', 'close', 'volume', 'closed'], shown.map((c, i) => [c[0], c[1], c[2], c[3], c[4], c[5], i < shown.length - 1]))
      : null,
    cursor: next,
    notes: [],
    events: [],
  };
}

/** RFC 4180 CSV with a header row. */
export function csv(header: string[], rows: unknown[][]): string {
  const cell = (v: unknown) => {
    const text = v === null || v === undefined ? '' : String(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}
