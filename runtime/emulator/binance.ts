// runtime/emulator/binance.ts
// Binance public spot REST (/api/v3) as ccxt calls it: exchangeInfo, ticker/24hr, aggTrades, trades, depth, klines.

import type { Context } from 'hono';
import { Hono } from 'hono';
import type { FaultSwitches } from './faults.ts';
import { fixed, marketIdOf, type AggTrade, type MarketModel, type SymbolSpec } from './market.ts';
import type { ServedLog } from './served.ts';

const TRADES_DEFAULT_LIMIT = 500;
const TRADES_MAX_LIMIT = 1000;
const KLINES_DEFAULT_LIMIT = 500;
const KLINES_MAX_LIMIT = 1000;
const DEPTH_DEFAULT_LIMIT = 100;
const DEPTH_MAX_LIMIT = 5000;
/** Binance refuses an aggTrades time window wider than an hour. */
const MAX_TRADE_WINDOW_MS = 3_600_000;
/** Points sampled per candle / per day for high and low (exact scans would cost O(trades)). */
const SAMPLES = 64;
const DAY_MS = 86_400_000;

/** Binance kline intervals the emulator serves (ms), REST and ws. */
export const INTERVAL_MS: Record<string, number> = {
  '1s': 1_000, '1m': 60_000, '3m': 180_000, '5m': 300_000, '15m': 900_000, '30m': 1_800_000,
  '1h': 3_600_000, '2h': 7_200_000, '4h': 14_400_000, '6h': 21_600_000, '8h': 28_800_000, '12h': 43_200_000, '1d': DAY_MS,
};

export interface BinanceRoutesOptions {
  model: MarketModel;
  faults: FaultSwitches;
  now: () => number;
  /** Counts requests per endpoint (admin stats). */
  requests: Map<string, number>;
  /** The exchange's clock for `/time` and `serverTime` when it differs from the market's `now` (a frozen feed); default `now`. */
  clockNow?: () => number;
  /** Records every aggregate trade served (the soak benchmark's reference), when given. */
  served?: ServedLog;
}

/** Binance's error body: `{ code, msg }` with HTTP 400. */
const binanceError = (c: Context, code: number, msg: string) => c.json({ code, msg }, 400);

export function binanceRoutes(options: BinanceRoutesOptions): Hono {
  const { model, faults, now, requests, served } = options;
  const clockNow = options.clockNow ?? now;
  const app = new Hono();

  // Every endpoint passes through the fault switches first.
  app.use('/api/v3/*', async (c, next) => {
    const endpoint = c.req.path.slice('/api/v3/'.length);
    requests.set(endpoint, (requests.get(endpoint) ?? 0) + 1);
    const delay = faults.delayFor(endpoint);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const fault = faults.decide(endpoint);
    if (fault.kind === 'rateLimit') {
      c.header('Retry-After', String(fault.retryAfterSeconds));
      return c.json({ code: -1003, msg: 'Too many requests; current limit of IP is exceeded. (emulated)' }, 429);
    }
    if (fault.kind === 'ban') {
      if (fault.retryAfterSeconds !== undefined) c.header('Retry-After', String(fault.retryAfterSeconds));
      if (fault.status === 403) return c.html('<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1> (emulated)</body></html>', 403);
      const until = fault.untilMs !== undefined ? ` until ${fault.untilMs}` : '';
      return c.json({ code: -1003, msg: `Way too much request weight used; IP banned${until}. Please use WebSocket Streams for live updates to avoid bans. (emulated)` }, fault.status as 418);
    }
    if (fault.kind === 'serverError') return c.text('<html><body>Service Unavailable (emulated)</body></html>', fault.status as 500);
    if (fault.kind === 'malformed') return c.body('{"symbol":"BTCUSDT","lastPrice":"6', 200, { 'content-type': 'application/json' });
    await next();
  });

  const listed = (spec: SymbolSpec | undefined) => (spec && !faults.delisted(spec.symbol, marketIdOf(spec)) ? spec : undefined);
  const specOf = (c: Context): SymbolSpec | undefined => listed(model.spec(c.req.query('symbol') ?? ''));
  const intParam = (c: Context, name: string): number | undefined => {
    const raw = c.req.query(name);
    return raw === undefined || raw === '' || Number.isNaN(Number(raw)) ? undefined : Math.floor(Number(raw));
  };

  app.get('/api/v3/ping', (c) => c.json({}));
  app.get('/api/v3/time', (c) => c.json({ serverTime: clockNow() }));

  app.get('/api/v3/exchangeInfo', (c) =>
    c.json({
      timezone: 'UTC',
      serverTime: clockNow(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
      ],
      exchangeFilters: [],
      symbols: model.specs.filter((spec) => listed(spec)).map((spec) => ({
        symbol: marketIdOf(spec),
        status: 'TRADING',
        baseAsset: spec.base,
        baseAssetPrecision: 8,
        quoteAsset: spec.quote,
        quotePrecision: 8,
        quoteAssetPrecision: 8,
        orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET'],
        icebergAllowed: true,
        ocoAllowed: true,
        isSpotTradingAllowed: true,
        isMarginTradingAllowed: false,
        filters: [
          { filterType: 'PRICE_FILTER', minPrice: fixed(spec.tickSize, spec.tickSize), maxPrice: '1000000.00000000', tickSize: fixed(spec.tickSize, spec.tickSize) },
          { filterType: 'LOT_SIZE', minQty: fixed(spec.stepSize, spec.stepSize), maxQty: '9000.00000000', stepSize: fixed(spec.stepSize, spec.stepSize) },
        ],
        permissions: ['SPOT'],
      })),
    }),
  );

  app.get('/api/v3/ticker/24hr', (c) => {
    const symbol = c.req.query('symbol');
    if (symbol === undefined) return c.json(model.specs.filter((spec) => listed(spec)).map((spec) => ticker24h(model, spec, now())));
    const spec = listed(model.spec(symbol));
    if (!spec) return binanceError(c, -1121, 'Invalid symbol.');
    return c.json(ticker24h(model, spec, now()));
  });

  app.get('/api/v3/depth', (c) => {
    const spec = specOf(c);
    if (!spec) return binanceError(c, -1121, 'Invalid symbol.');
    const limit = Math.min(intParam(c, 'limit') ?? DEPTH_DEFAULT_LIMIT, DEPTH_MAX_LIMIT);
    const last = model.lastTradeId(spec, now());
    const mid = model.price(spec, last);
    const level = (side: number, i: number) => [
      fixed(mid + side * spec.tickSize * (i + 1), spec.tickSize),
      fixed(model.quantity(spec, last, i * 2 + (side > 0 ? 1 : 0)), spec.stepSize),
    ];
    const quirks = faults.bookQuirks();
    const bids = Array.from({ length: limit }, (_, i) => level(-1, i));
    // Crossed: the best bid two ticks above the mid, so above the best ask.
    if (quirks?.crossed && bids[0]) bids[0][0] = fixed(mid + spec.tickSize * 2, spec.tickSize);
    return c.json({
      lastUpdateId: last - (quirks?.updateIdBack ?? 0),
      bids,
      asks: Array.from({ length: limit }, (_, i) => level(1, i)),
    });
  });

  app.get('/api/v3/aggTrades', (c) => {
    const spec = specOf(c);
    if (!spec) return binanceError(c, -1121, 'Invalid symbol.');
    const fromId = intParam(c, 'fromId');
    const startTime = intParam(c, 'startTime');
    const endTime = intParam(c, 'endTime');
    const limit = Math.min(Math.max(intParam(c, 'limit') ?? TRADES_DEFAULT_LIMIT, 1), TRADES_MAX_LIMIT);
    if (fromId !== undefined && (startTime !== undefined || endTime !== undefined)) {
      return binanceError(c, -1128, 'Combination of optional parameters invalid.');
    }
    if (startTime !== undefined && endTime !== undefined && endTime - startTime > MAX_TRADE_WINDOW_MS) {
      return binanceError(c, -1127, 'More than 1 hours between startTime and endTime.');
    }
    const t = now();
    const last = model.lastTradeId(spec, t);
    let first: number;
    let upTo = last;
    if (fromId !== undefined) first = Math.max(1, fromId);
    else if (startTime !== undefined) {
      first = model.firstTradeIdAtOrAfter(spec, startTime);
      if (endTime !== undefined) upTo = Math.min(last, model.firstTradeIdAtOrAfter(spec, endTime + 1) - 1);
    } else first = Math.max(1, last - limit + 1);
    const endpoint = 'aggTrades';
    // An exchange that no longer serves old history answers an older fromId from the oldest it keeps.
    const floorMs = faults.historyFloorMs(t, endpoint);
    if (floorMs !== null) first = Math.max(first, model.firstTradeIdAtOrAfter(spec, floorMs));
    const out: AggTrade[] = [];
    for (let id = first; id <= upTo && id < first + limit; id++) {
      if (faults.keepTrade(marketIdOf(spec), id, endpoint)) {
        for (const trade of servedAggregates(model, faults, spec, id, endpoint)) out.push({ ...trade, T: faults.retime(trade.T) });
      }
    }
    served?.record('binance', marketIdOf(spec), out.map((r) => ({ key: aggregateKey(r), ts: r.T })));
    return c.json(out);
  });

  // Raw trades (recent and historical): ccxt's fetchTradesMethod publicGetTrades / publicGetHistoricalTrades.
  const rawTrades = (c: Context, historical: boolean) => {
    const spec = specOf(c);
    if (!spec) return binanceError(c, -1121, 'Invalid symbol.');
    const limit = Math.min(Math.max(intParam(c, 'limit') ?? TRADES_DEFAULT_LIMIT, 1), TRADES_MAX_LIMIT);
    const last = model.lastTradeId(spec, now());
    const fromId = historical ? intParam(c, 'fromId') : undefined;
    const first = fromId !== undefined ? Math.max(1, fromId) : Math.max(1, last - limit + 1);
    const endpoint = historical ? 'historicalTrades' : 'trades';
    const out = [];
    for (let id = first; id <= last && id < first + limit; id++) {
      if (!faults.keepTrade(marketIdOf(spec), id, endpoint)) continue;
      const price = model.price(spec, id);
      const qty = model.quantity(spec, id);
      out.push({
        id,
        price: fixed(price, spec.tickSize),
        qty: fixed(qty, spec.stepSize),
        quoteQty: (price * qty).toFixed(8),
        time: faults.retime(model.tradeTime(spec, id)),
        isBuyerMaker: model.buyerMaker(spec, id),
        isBestMatch: true,
      });
    }
    return c.json(out);
  };
  app.get('/api/v3/trades', (c) => rawTrades(c, false));
  app.get('/api/v3/historicalTrades', (c) => rawTrades(c, true));

  app.get('/api/v3/klines', (c) => {
    const spec = specOf(c);
    if (!spec) return binanceError(c, -1121, 'Invalid symbol.');
    const interval = c.req.query('interval') ?? '';
    const step = INTERVAL_MS[interval];
    if (!step) return binanceError(c, -1120, 'Invalid interval.');
    const limit = Math.min(Math.max(intParam(c, 'limit') ?? KLINES_DEFAULT_LIMIT, 1), KLINES_MAX_LIMIT);
    const t = now();
    const startTime = intParam(c, 'startTime');
    const endTime = Math.min(intParam(c, 'endTime') ?? t, t);
    const lastOpen = Math.floor(endTime / step) * step;
    let firstOpen = startTime !== undefined ? Math.ceil(startTime / step) * step : lastOpen - (limit - 1) * step;
    firstOpen = Math.max(firstOpen, Math.ceil(model.tradeTime(spec, 1) / step) * step);
    const candles = [];
    for (let open = firstOpen; open <= lastOpen && candles.length < limit; open += step) {
      if (faults.noCandle(open)) continue;
      const k = kline(model, spec, open, step, t);
      if (faults.provisional(open + step - 1, t)) k[5] = fixed(Number(k[5]) * 0.9, spec.stepSize);
      k[0] = faults.retime(open);
      k[6] = faults.retime(open + step - 1);
      candles.push(k);
    }
    return c.json(candles);
  });

  return app;
}

/** One served aggregate as the soak compares it: id and fill range. */
export const aggregateKey = (r: { a: number; f: number; l: number }) => `${r.a}:${r.f}-${r.l}`;

/**
 * Aggregate `id` as served, with the anomalies Binance has shown: one aggregate id served twice with
 * its fills split between the two records (duplicateAggId), or its first fill also the previous
 * aggregate's last (duplicateFill).
 */
function servedAggregates(model: MarketModel, faults: FaultSwitches, spec: SymbolSpec, id: number, endpoint: string): AggTrade[] {
  const t = model.aggTrade(spec, id);
  const market = marketIdOf(spec);
  if (id > 1 && faults.hits('duplicateFill', market, id, endpoint)) t.f = model.fills(spec, id - 1).last;
  const steps = Math.round(Number(t.q) / spec.stepSize);
  if (t.l > t.f && steps >= 2 && faults.hits('duplicateAggId', market, id, endpoint)) {
    const half = Math.floor(steps / 2);
    return [
      { ...t, l: t.f, q: fixed(half * spec.stepSize, spec.stepSize) },
      { ...t, f: t.f + 1, q: fixed((steps - half) * spec.stepSize, spec.stepSize) },
    ];
  }
  return [t];
}

function sampleIds(first: number, last: number): number[] {
  if (last - first + 1 <= SAMPLES) return Array.from({ length: last - first + 1 }, (_, i) => first + i);
  return Array.from({ length: SAMPLES }, (_, i) => first + Math.round(((last - first) * i) / (SAMPLES - 1)));
}

/** One `/api/v3/klines` row `[open, o, h, l, c, v, close, q, n, V, Q, '0']` of the candle opening at `open` as of market time `now` (also the ws kline's values). */
export function kline(model: MarketModel, spec: SymbolSpec, open: number, step: number, now: number): Array<number | string> {
  const close = open + step - 1;
  const first = model.firstTradeIdAtOrAfter(spec, open);
  const last = Math.min(model.lastTradeId(spec, Math.min(close, now)), model.firstTradeIdAtOrAfter(spec, close + 1) - 1);
  const aggregates = Math.max(0, last - first + 1);
  // Trade count and volume come from the same fills and aggregates aggTrades serves.
  const count = model.fillCount(spec, first, last);
  const prices = aggregates > 0 ? sampleIds(first, last).map((id) => model.price(spec, id)) : [model.price(spec, first)];
  const volume = volumeOf(model, spec, first, last, close <= now);
  const px = (v: number) => fixed(v, spec.tickSize);
  return [
    open,
    px(prices[0]!),
    px(Math.max(...prices)),
    px(Math.min(...prices)),
    px(prices[prices.length - 1]!),
    fixed(volume, spec.stepSize),
    close,
    (volume * prices[prices.length - 1]!).toFixed(8),
    count,
    fixed(volume / 2, spec.stepSize),
    ((volume / 2) * prices[prices.length - 1]!).toFixed(8),
    '0',
  ];
}

/** Closed candles' volumes, computed once each (the sum walks every aggregate of the candle). */
const closedVolumes = new Map<string, number>();
const CLOSED_VOLUMES_KEPT = 20_000;

/** Sum of the aggregate quantities `first`..`last`, in steps so the sum is exact. */
function volumeOf(model: MarketModel, spec: SymbolSpec, first: number, last: number, closed: boolean): number {
  const key = `${model.chance(0)}:${marketIdOf(spec)}:${first}:${last}`;
  const known = closedVolumes.get(key);
  if (known !== undefined) return known;
  let steps = 0;
  for (let id = first; id <= last; id++) steps += Math.round(model.quantity(spec, id) / spec.stepSize);
  const volume = steps * spec.stepSize;
  if (closed) {
    if (closedVolumes.size >= CLOSED_VOLUMES_KEPT) closedVolumes.clear();
    closedVolumes.set(key, volume);
  }
  return volume;
}

/** `/api/v3/ticker/24hr` of one symbol at market time `now` (also the ws `@ticker` and `@bookTicker` values). */
export function ticker24h(model: MarketModel, spec: SymbolSpec, now: number) {
  const last = model.lastTradeId(spec, now);
  const first = Math.max(1, model.firstTradeIdAtOrAfter(spec, now - DAY_MS));
  const prices = sampleIds(first, last).map((id) => model.price(spec, id));
  const open = prices[0]!;
  const lastPrice = model.price(spec, last);
  const count = last - first + 1;
  const volume = count * (model.quantity(spec, last) || spec.stepSize);
  const px = (v: number) => fixed(v, spec.tickSize);
  return {
    symbol: marketIdOf(spec),
    priceChange: px(lastPrice - open),
    priceChangePercent: (((lastPrice - open) / open) * 100).toFixed(3),
    weightedAvgPrice: px(prices.reduce((a, b) => a + b, 0) / prices.length),
    prevClosePrice: px(open),
    lastPrice: px(lastPrice),
    lastQty: fixed(model.quantity(spec, last), spec.stepSize),
    bidPrice: px(lastPrice - spec.tickSize),
    bidQty: fixed(model.quantity(spec, last, 1), spec.stepSize),
    askPrice: px(lastPrice + spec.tickSize),
    askQty: fixed(model.quantity(spec, last, 2), spec.stepSize),
    openPrice: px(open),
    highPrice: px(Math.max(...prices, lastPrice)),
    lowPrice: px(Math.min(...prices, lastPrice)),
    volume: fixed(volume, spec.stepSize),
    quoteVolume: (volume * lastPrice).toFixed(8),
    openTime: now - DAY_MS,
    closeTime: now,
    firstId: first,
    lastId: last,
    count,
  };
}
