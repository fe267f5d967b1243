// runtime/collector/trades-parse.ts
// Trades as the collector stores them: ccxt's unified trades and Binance aggTrades normalised (id, time, price, amount, side, fills), their order, and the latest CSV.

import type { Exchange, Trade } from 'ccxt';
import { BadData } from './errors.ts';
import { csv } from './topics.ts';

/** Trades shown in the latest CSV. */
const LATEST_TRADES = 50;
/** A trade's stored data. */
export interface TradeData {
  id: string;
  price: number;
  amount: number;
  cost: number | null;
  side: string | null;
  /** An aggregate trade's fills (Binance `f`..`l`): real trades first_trade_id..last_trade_id. */
  first_trade_id?: number;
  last_trade_id?: number;
}

/** A trade as fetched: its id (a number where ids are sequential), exchange time (ms) and stored data. */
export interface NormalTrade {
  id: number | string;
  ts: number;
  data: TradeData;
}

const finiteInt = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && v !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
};

/** ccxt trades → normalised trades. @throws BadData for a trade without a usable id (a number when `numericIds`), price, amount or time. */
export function normalise(trades: Trade[], symbol: string, numericIds: boolean): NormalTrade[] {
  return trades.map((t) => {
    const id = numericIds ? Number(t.id) : String(t.id);
    if (t.id === undefined || (numericIds && !Number.isSafeInteger(id))) throw new BadData(`trades ${symbol}: trade without a usable id (${String(t.id)})`);
    if (!Number.isFinite(t.price) || !Number.isFinite(t.amount) || !Number.isFinite(t.timestamp)) {
      throw new BadData(`trades ${symbol}: trade ${t.id} has no price, amount or time`);
    }
    const data: TradeData = { id: String(t.id), price: t.price as number, amount: t.amount!, cost: Number.isFinite(t.cost) ? t.cost! : null, side: t.side ?? null };
    // ccxt's info of a Binance aggregate trade carries its fills.
    const info = t.info as { f?: unknown; l?: unknown } | undefined;
    const first = finiteInt(info?.f);
    const last = finiteInt(info?.l);
    if (first !== undefined && last !== undefined) Object.assign(data, { first_trade_id: first, last_trade_id: last });
    return { id, ts: t.timestamp!, data };
  });
}

export type RawEndpoint = (request: Record<string, unknown>) => Promise<unknown>;

/**
 * Binance-format spot markets: ccxt's implicit `publicGetAggTrades` (the same HTTP client, rate
 * limiter and error mapping as fetchTrades). ccxt's unified parseTrades costs ~35 µs a trade, which
 * alone would cap a 2-core PC below 20,000 trades/s; the aggTrade fields are read here instead.
 */
export function aggTradesEndpoint(exchange: Exchange, symbol: string): RawEndpoint | null {
  const endpoint = (exchange as unknown as { publicGetAggTrades?: RawEndpoint }).publicGetAggTrades;
  return typeof endpoint === 'function' && exchange.market(symbol).spot ? endpoint.bind(exchange) : null;
}

/** Binance aggTrade `{ a: id, p: price, q: qty, f: first fill, l: last fill, T: time, m: buyer is maker }` → the normalised trade. */
export function parseAggTrades(raw: unknown, symbol: string): NormalTrade[] {
  if (!Array.isArray(raw)) throw new BadData(`trades ${symbol}: expected a list of aggTrades, got ${typeof raw}`);
  return raw.map((t: { a?: unknown; p?: unknown; q?: unknown; f?: unknown; l?: unknown; T?: unknown; m?: unknown }) => {
    const id = Number(t?.a);
    const price = Number(t?.p);
    const amount = Number(t?.q);
    const ts = Number(t?.T);
    const first = finiteInt(t?.f);
    const last = finiteInt(t?.l);
    if (!Number.isSafeInteger(id)) throw new BadData(`trades ${symbol}: aggTrade without a usable id (${String(t?.a)})`);
    if (!Number.isFinite(price) || !Number.isFinite(amount) || !Number.isFinite(ts)) throw new BadData(`trades ${symbol}: aggTrade ${id} has no price, amount or time`);
    if (first === undefined || last === undefined || last < first) throw new BadData(`trades ${symbol}: aggTrade ${id} has no usable fills (f ${String(t?.f)}, l ${String(t?.l)})`);
    // The buyer was the maker: the taker sold.
    const data: TradeData = { id: String(id), price, amount, cost: price * amount, side: t.m === true ? 'sell' : 'buy', first_trade_id: first, last_trade_id: last };
    return { id, ts, data };
  });
}

/** Numeric ids by value, any other ids as strings. */
export function compareIds(a: number | string, b: number | string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/** The newest LATEST_TRADES trades as the latest CSV (null when none). */
export function latestTradesCsv(trades: NormalTrade[]): string | null {
  if (!trades.length) return null;
  return csv(
    ['ts', 'id', 'price', 'amount', 'cost', 'side'],
    trades.slice(-LATEST_TRADES).map((t) => [t.ts, t.data.id, t.data.price, t.data.amount, t.data.cost, t.data.side]),
  );
}
