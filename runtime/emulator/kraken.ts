// runtime/emulator/kraken.ts
// Kraken public REST (/0/public) as ccxt's kraken class calls it: Assets, AssetPairs, Trades paged by time with a `last` cursor.

import type { Context } from 'hono';
import { Hono } from 'hono';
import { fixed, type MarketModel, type SymbolSpec } from './market.ts';
import type { BinanceRoutesOptions } from './binance.ts';

/** Kraken answers at most 1000 trades (`count`), 1000 when not asked. */
const TRADES_MAX_COUNT = 1000;

/** The same options as Binance's routes, without its separate exchange clock. */
export type KrakenRoutesOptions = Omit<BinanceRoutesOptions, 'clockNow'>;

/** Kraken's asset ids: BTC is XBT, the classic crypto assets carry an X prefix (XXBT, XETH), fiat a Z (ZUSD). */
const KRAKEN_ASSET: Record<string, string> = { BTC: 'XXBT', ETH: 'XETH', USD: 'ZUSD', EUR: 'ZEUR' };
const assetId = (code: string) => KRAKEN_ASSET[code] ?? code;
const altname = (code: string) => (code === 'BTC' ? 'XBT' : code);

/** Kraken pair id of a symbol, e.g. BTC/USDT → XBTUSDT. */
export const krakenPairOf = (spec: SymbolSpec) => `${altname(spec.base)}${altname(spec.quote)}`;

/**
 * Kraken's `since`: whole seconds (what ccxt sends for a `since` in ms), or the nanosecond `last`
 * cursor of a previous answer. The emulator's cursor is `<trade time ms><trade id mod 10^6, 6 digits>`,
 * a nanosecond time as Kraken's is, from which the trade it names can be found again.
 */
export function krakenCursorOf(model: MarketModel, spec: SymbolSpec, id: number): string {
  return `${model.tradeTime(spec, id)}${String(id % 1_000_000).padStart(6, '0')}`;
}

/** The first trade id an answer to `since` starts with (null: no since, the newest page). */
function firstIdFor(model: MarketModel, spec: SymbolSpec, since: string | undefined, coarse: boolean): number | null {
  if (since === undefined || !/^\d+$/.test(since)) return null;
  if (since.length <= 11) return model.firstTradeIdAtOrAfter(spec, Number(since) * 1000);
  const ms = Number(since.slice(0, -6));
  // Read at whole seconds, the cursor sends the client back to the start of its second.
  if (coarse) return model.firstTradeIdAtOrAfter(spec, Math.floor(ms / 1000) * 1000);
  const rest = Number(since.slice(-6));
  for (let id = model.firstTradeIdAtOrAfter(spec, ms); model.tradeTime(spec, id) === ms; id++) {
    if (id % 1_000_000 === rest) return id + 1;
  }
  // A cursor naming no trade: continue after its time.
  return model.firstTradeIdAtOrAfter(spec, ms + 1);
}

export function krakenRoutes(options: KrakenRoutesOptions): Hono {
  const { model, faults, now, requests, served } = options;
  const app = new Hono();
  const krakenError = (c: Context, message: string) => c.json({ error: [message] }, 200);

  app.use('/0/public/*', async (c, next) => {
    const endpoint = `kraken/${c.req.path.slice('/0/public/'.length)}`;
    requests.set(endpoint, (requests.get(endpoint) ?? 0) + 1);
    const delay = faults.delayFor(endpoint);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const fault = faults.decide(endpoint);
    if (fault.kind === 'rateLimit') {
      c.header('Retry-After', String(fault.retryAfterSeconds));
      return c.json({ error: ['EAPI:Rate limit exceeded'] }, 429);
    }
    if (fault.kind === 'serverError') return c.text('<html><body>Service Unavailable (emulated)</body></html>', fault.status as 500);
    if (fault.kind === 'malformed') return c.body('{"error":[],"result":{"XBTUSDT":[["6', 200, { 'content-type': 'application/json' });
    await next();
  });

  const specOf = (pair: string | undefined) => model.specs.find((s) => krakenPairOf(s) === pair);

  app.get('/0/public/Time', (c) => c.json({ error: [], result: { unixtime: Math.floor(now() / 1000), rfc1123: new Date(now()).toUTCString() } }));

  app.get('/0/public/Assets', (c) => {
    const codes = [...new Set(model.specs.flatMap((s) => [s.base, s.quote]))];
    return c.json({
      error: [],
      result: Object.fromEntries(
        codes.map((code) => [assetId(code), { aclass: 'currency', altname: altname(code), decimals: 10, display_decimals: 5, status: 'enabled' }]),
      ),
    });
  });

  app.get('/0/public/AssetPairs', (c) =>
    c.json({
      error: [],
      result: Object.fromEntries(
        model.specs.map((spec) => [
          krakenPairOf(spec),
          {
            altname: krakenPairOf(spec),
            wsname: `${altname(spec.base)}/${altname(spec.quote)}`,
            aclass_base: 'currency',
            base: assetId(spec.base),
            aclass_quote: 'currency',
            quote: assetId(spec.quote),
            lot: 'unit',
            cost_decimals: 5,
            pair_decimals: decimals(spec.tickSize),
            lot_decimals: decimals(spec.stepSize),
            lot_multiplier: 1,
            leverage_buy: [],
            leverage_sell: [],
            fees: [[0, 0.26]],
            fees_maker: [[0, 0.16]],
            fee_volume_currency: 'ZUSD',
            margin_call: 80,
            margin_stop: 40,
            ordermin: fixed(spec.stepSize, spec.stepSize),
            costmin: '0.5',
            tick_size: fixed(spec.tickSize, spec.tickSize),
            status: 'online',
          },
        ]),
      ),
    }),
  );

  // https://docs.kraken.com/api-reference/market-data/get-recent-trades: up to `count` trades after `since`, oldest first.
  app.get('/0/public/Trades', (c) => {
    const endpoint = 'kraken/Trades';
    const pair = c.req.query('pair');
    const spec = specOf(pair);
    if (!spec) return krakenError(c, 'EQuery:Unknown asset pair');
    const countRaw = Number(c.req.query('count') ?? TRADES_MAX_COUNT);
    const count = Math.min(Math.max(Number.isFinite(countRaw) ? Math.floor(countRaw) : TRADES_MAX_COUNT, 1), TRADES_MAX_COUNT);
    const t = now();
    const last = model.lastTradeId(spec, t);
    let first = faults.ignoresSince(endpoint) ? null : firstIdFor(model, spec, c.req.query('since'), faults.coarseSince(endpoint));
    first ??= Math.max(1, last - count + 1);
    const floorMs = faults.historyFloorMs(t, endpoint);
    if (floorMs !== null) first = Math.max(first, model.firstTradeIdAtOrAfter(spec, floorMs));
    const rows: Array<[string, string, number, string, string, string, number]> = [];
    let lastId: number | null = null;
    const servedNow: Array<{ key: string; ts: number }> = [];
    for (let id = Math.max(1, first); id <= last && id < first + count; id++) {
      lastId = id;
      if (!faults.keepTrade(`kraken:${krakenPairOf(spec)}`, id, endpoint)) continue;
      const time = model.tradeTime(spec, id);
      rows.push([
        fixed(model.price(spec, id), spec.tickSize),
        fixed(model.quantity(spec, id), spec.stepSize),
        time / 1000,
        model.buyerMaker(spec, id) ? 's' : 'b',
        'm',
        '',
        id,
      ]);
      servedNow.push({ key: String(id), ts: time });
    }
    served?.record('kraken', krakenPairOf(spec), servedNow);
    const cursor = lastId !== null ? krakenCursorOf(model, spec, lastId) : (c.req.query('since') ?? krakenCursorOf(model, spec, last));
    return c.json({ error: [], result: { [krakenPairOf(spec)]: rows, last: cursor } });
  });

  return app;
}

function decimals(step: number): number {
  return fixed(step, step).split('.')[1]?.length ?? 0;
}

