// runtime/collector/topics.ts
// Fetch and normalise ticker, order book and candles through ccxt; each answer also renders the latest CSV.

import type { Exchange } from 'ccxt';
import type { FetchEvent } from '../audit-events.ts';
import { BadData } from './errors.ts';
import type { Cursor } from './cursors.ts';
import { assertPlausibleTimes } from './timestamps.ts';

export interface StreamTask {
  exchange: string;
  topic: 'ticker' | 'trades' | 'orderbook' | 'ohlcv';
  symbol: string;
  /** Ms between fetches of this stream. */
  everyMs: number;
  depth: number;
  timeframe: string;
  /** `ws`: the stream runs in runtime/collector/ws/ while this host holds the lease; the tick only ships it. */
  transport?: 'rest' | 'ws';
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
  events: FetchEvent[];
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
  /** The exchange's clock (this PC's plus the measured offset, exchange-clock.ts), ms. */
  exchangeNow?: () => number;
  /** A candle is stored once its period plus this (ms) has passed in exchange time. */
  candleSettleMs?: number;
  /** Kept between this stream's fetches in this process (the order book's last update id). */
  memory?: Map<string, unknown>;
}

export const DEFAULT_DEPTH = 20;
export const DEFAULT_TIMEFRAME = '1m';
/** Default of `collector.candleSettleSeconds`. */
export const CANDLE_SETTLE_DEFAULT_S = 10;
/** Candles shown in the latest CSV. */
const LATEST_CANDLES = 10;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const orNull = (v: unknown) => (finite(v) ? v : null);

/**
 * The stored ticker record of a ccxt ticker (REST fetchTicker or ws watchTicker): `ts` is the
 * ticker's own time (ms) or else `fallbackTs`; throws BadData without a numeric last price.
 */
export function tickerRecord(t: { last?: unknown; bid?: unknown; ask?: unknown; high?: unknown; low?: unknown; open?: unknown; baseVolume?: unknown; quoteVolume?: unknown; vwap?: unknown; percentage?: unknown; timestamp?: unknown }, symbol: string, fallbackTs: () => number) {
  if (!finite(t.last)) throw new BadData(`ticker ${symbol}: last price missing or not a number`);
  // A ticker without its own time is stamped in exchange time, like an order book.
  const ts = finite(t.timestamp) ? t.timestamp : fallbackTs();
  const data = {
    last: t.last, bid: orNull(t.bid), ask: orNull(t.ask), high: orNull(t.high), low: orNull(t.low), open: orNull(t.open),
    base_volume: orNull(t.baseVolume), quote_volume: orNull(t.quoteVolume), vwap: orNull(t.vwap), percentage: orNull(t.percentage),
  };
  return { ts, data };
}

export async function fetchTicker({ exchange, task, now, exchangeNow }: FetchContext): Promise<StreamFetch> {
  const t = await exchange.fetchTicker(task.symbol);
  const { ts, data } = tickerRecord(t, task.symbol, exchangeNow ?? now);
  return { items: [{ ts, data }], latestCsv: tickerCsv(ts, task.symbol, data), notes: [], events: [] };
}

/** The ticker's latest CSV: one row `ts, symbol, <record fields>`. */
export function tickerCsv(ts: number, symbol: string, data: Record<string, unknown>): string {
  return csv(['ts', 'symbol', ...Object.keys(data)], [[ts, symbol, ...Object.values(data)]]);
}

/**
 * The top `depth` levels, stamped with the book's own time or else exchange time (this PC's clock +
 * the offset measured with fetchTime). A crossed book (best bid ≥ best ask) and an update id
 * (`nonce`, Binance `lastUpdateId`) lower than the last one are stored as served, with `flags`,
 * a status note and `collector.book.anomaly` (crossed: once when it starts).
 */
export async function fetchOrderBook({ exchange, task, now, exchangeNow, memory }: FetchContext): Promise<StreamFetch> {
  const book = await exchange.fetchOrderBook(task.symbol, task.depth);
  const level = (side: string) => (l: unknown) => {
    if (!Array.isArray(l) || !finite(l[0]) || !finite(l[1])) throw new BadData(`order book ${task.symbol}: bad ${side} level ${JSON.stringify(l)}`);
    return [l[0], l[1]] as [number, number];
  };
  if (!Array.isArray(book.bids) || !Array.isArray(book.asks)) throw new BadData(`order book ${task.symbol}: bids/asks missing`);
  const bids = book.bids.slice(0, task.depth).map(level('bid'));
  const asks = book.asks.slice(0, task.depth).map(level('ask'));
  // Binance spot depth carries no time: the fetch time in the exchange's clock is the best we know.
  const ts = finite(book.timestamp) ? book.timestamp : (exchangeNow ?? now)();
  const rows = [...bids.map((l, i) => [ts, 'bid', i + 1, l[0], l[1]]), ...asks.map((l, i) => [ts, 'ask', i + 1, l[0], l[1]])];
  const flags: string[] = [];
  const notes: string[] = [];
  const events: StreamFetch['events'] = [];
  const anomaly = (kind: string, extra: Record<string, unknown>) => ({ event: 'collector.book.anomaly' as const, payload: { exchange: task.exchange, symbol: task.symbol, kind, ts, ...extra } });
  const crossed = bids.length > 0 && asks.length > 0 && bids[0]![0] >= asks[0]![0];
  if (crossed) {
    flags.push('crossed');
    notes.push(`crossed book: best bid ${bids[0]![0]} ≥ best ask ${asks[0]![0]}`);
    if (memory?.get('book.crossed') !== true) events.push(anomaly('crossed', { best_bid: bids[0]![0], best_ask: asks[0]![0] }));
  }
  memory?.set('book.crossed', crossed);
  const nonce = finite(book.nonce) ? book.nonce : null;
  const previous = memory?.get('book.nonce');
  if (nonce !== null && typeof previous === 'number' && nonce < previous) {
    flags.push('update_id_backwards');
    notes.push(`order book update id went backwards: ${nonce} after ${previous}`);
    events.push(anomaly('update_id_backwards', { update_id: nonce, previous_update_id: previous }));
  }
  if (nonce !== null) memory?.set('book.nonce', nonce);
  return {
    items: [{ ts, data: { bids, asks, nonce: book.nonce ?? null, ...(flags.length ? { flags } : {}) } }],
    latestCsv: csv(['ts', 'side', 'level', 'price', 'amount'], rows),
    notes,
    events,
  };
}

/** Missing open times listed in one `collector.gap.detected` (the count covers them all). */
const MAX_LISTED_OPEN_TIMES = 100;

/**
 * Settled candles are stored once each (the cursor holds the last one): a candle is settled once
 * its period plus `candleSettleMs` has passed in exchange time, so a revision the exchange makes
 * shortly after the close is what gets stored. The CSV shows the last candles as served; the forming
 * one and any not yet settled are marked `closed=false` (only settled candles are stored). Open times the exchange skipped between stored candles (maintenance) are
 * audited as `collector.gap.detected` with `missing_open_times`.
 */
export async function fetchOhlcv({ exchange, task, cursor, now, exchangeNow, candleSettleMs }: FetchContext): Promise<StreamFetch> {
  const stepMs = exchange.parseTimeframe(task.timeframe) * 1000;
  const exNow = (exchangeNow ?? now)();
  const settleMs = candleSettleMs ?? CANDLE_SETTLE_DEFAULT_S * 1000;
  // Ask from the cursor, but never for fewer than the candles the latest CSV shows: asking only
  // from the cursor returns just the forming candle, and the CSV would shrink to one row.
  const formingStart = Math.floor(exNow / stepMs) * stepMs;
  const since = cursor.last_ts !== null ? Math.min(cursor.last_ts + stepMs, formingStart - (LATEST_CANDLES - 1) * stepMs) : undefined;
  // ccxt drops candles before `since` from what it parsed, so a feed serving seconds would look
  // empty; Binance's own `startTime` is passed instead and every candle served reaches the checks.
  const rawSince = since !== undefined && exchange.id.startsWith('binance');
  const candles = await exchange.fetchOHLCV(task.symbol, task.timeframe, rawSince ? undefined : since, since === undefined ? LATEST_CANDLES + 1 : 1000, rawSince ? { startTime: since } : {});
  for (const c of candles) {
    if (!Array.isArray(c) || c.length < 6 || !c.slice(0, 5).every(finite)) throw new BadData(`ohlcv ${task.symbol}: bad candle ${JSON.stringify(c)}`);
  }
  // Seconds for milliseconds or far-future open times anywhere in the answer: nothing is stored.
  assertPlausibleTimes(`ohlcv ${task.symbol}`, 'answer', candles.map((c) => ({ ts: Number(c[0]) })), { last_id: null, last_ts: null }, exNow);
  const sorted = [...candles].sort((a, b) => Number(a[0]) - Number(b[0]));
  // Asked from at most the candle after the cursor: an answer ending before the cursor went back in time.
  const newest = sorted.length ? Number(sorted[sorted.length - 1]![0]) : null;
  if (newest !== null && cursor.last_ts !== null && newest < cursor.last_ts) {
    throw new BadData(`ohlcv ${task.symbol}: the newest candle ${new Date(newest).toISOString()} is before the last stored one ${new Date(cursor.last_ts).toISOString()}; nothing appended`);
  }
  const isSettled = (c: (typeof sorted)[number]) => Number(c[0]) + stepMs + settleMs <= exNow;
  const closed = sorted.filter((c) => isSettled(c) && (cursor.last_ts === null || Number(c[0]) > cursor.last_ts));
  const toData = (c: (typeof sorted)[number]) => candleData(c, task.timeframe);
  const next = structuredClone(cursor);
  if (closed.length) next.last_ts = Number(closed[closed.length - 1]![0]);
  const shown = sorted.slice(-LATEST_CANDLES);
  const { events, notes } = candleHoles(task, cursor, closed.map((c) => Number(c[0])), stepMs);
  return {
    items: closed.map((c) => ({ ts: Number(c[0]), data: toData(c) })),
    // `closed` = settled, i.e. stored: a candle whose period ended less than the settle time ago
    // is final neither in the exchange's eyes nor in raw, and the health check skips it.
    latestCsv: shown.length ? candlesCsv(shown.map((c) => ({ candle: c, closed: isSettled(c) }))) : null,
    cursor: next,
    notes,
    events,
  };
}

/** Candles shown in the latest CSV (REST and ws). */
export const LATEST_CANDLES_SHOWN = LATEST_CANDLES;

/** The OHLCV latest CSV: `ts, open, high, low, close, volume, closed`, one row per candle given. */
export function candlesCsv(rows: Array<{ candle: ReadonlyArray<unknown>; closed: boolean }>): string {
  return csv(['ts', 'open', 'high', 'low', 'close', 'volume', 'closed'], rows.map(({ candle: c, closed }) => [c[0], c[1], c[2], c[3], c[4], c[5], closed]));
}

/** The stored OHLCV record's data of a ccxt candle `[open ms, o, h, l, c, v]` (REST and ws). */
export function candleData(c: ReadonlyArray<unknown>, timeframe: string) {
  return { open: c[1], high: c[2], low: c[3], close: c[4], volume: c[5] ?? null, timeframe };
}

/** Open times missing between the cursor and the candles about to be stored, as one `collector.gap.detected`. */
export function candleHoles(task: StreamTask, cursor: Cursor, opens: number[], stepMs: number): Pick<StreamFetch, 'events' | 'notes'> {
  const missing: number[] = [];
  let count = 0;
  let last = 0;
  let expected = cursor.last_ts !== null ? cursor.last_ts + stepMs : (opens[0] ?? null);
  for (const open of opens) {
    for (; expected !== null && expected < open; expected += stepMs) {
      if (missing.length < MAX_LISTED_OPEN_TIMES) missing.push(expected);
      count++;
      last = expected;
      // A hole longer than the list is counted in one step.
      if (missing.length === MAX_LISTED_OPEN_TIMES) {
        count += Math.floor((open - expected - stepMs) / stepMs);
        last = open - stepMs;
        expected = open;
        break;
      }
    }
    expected = open + stepMs;
  }
  if (count === 0) return { events: [], notes: [] };
  const from = missing[0]!;
  const to = last;
  return {
    events: [{
      event: 'collector.gap.detected',
      payload: { exchange: task.exchange, symbol: task.symbol, timeframe: task.timeframe, reason: 'no_candles', from_ts: from, to_ts: to, count, missing_open_times: missing },
    }],
    notes: [`no candles from the exchange for ${count} open time(s) ${new Date(from).toISOString()}–${new Date(to).toISOString()}`],
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
