// runtime/emulator/okx.ts
// OKX public REST (/api/v5) as ccxt's okx class calls it: SPOT instruments and market/trades, which serves only recent trades.

import type { Context } from 'hono';
import { Hono } from 'hono';
import { fixed, type SymbolSpec } from './market.ts';
import type { BinanceRoutesOptions } from './binance.ts';

/** GET /api/v5/market/trades: 100 trades when not asked, at most 500, newest first; no paging parameter. */
const TRADES_DEFAULT_LIMIT = 100;
const TRADES_MAX_LIMIT = 500;

/** The same options as Binance's routes, without its separate exchange clock. */
export type OkxRoutesOptions = Omit<BinanceRoutesOptions, 'clockNow'>;

/** OKX instrument id of a symbol, e.g. BTC/USDT → BTC-USDT. */
export const okxInstIdOf = (spec: SymbolSpec) => `${spec.base}-${spec.quote}`;

export function okxRoutes(options: OkxRoutesOptions): Hono {
  const { model, faults, now, requests, served } = options;
  const app = new Hono();
  const okxError = (c: Context, code: string, msg: string) => c.json({ code, msg, data: [] }, 400);

  app.use('/api/v5/*', async (c, next) => {
    const endpoint = `okx/${c.req.path.slice('/api/v5/'.length)}`;
    requests.set(endpoint, (requests.get(endpoint) ?? 0) + 1);
    const delay = faults.delayFor(endpoint);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    const fault = faults.decide(endpoint);
    if (fault.kind === 'rateLimit') {
      c.header('Retry-After', String(fault.retryAfterSeconds));
      return c.json({ code: '50011', msg: 'Too Many Requests', data: [] }, 429);
    }
    if (fault.kind === 'serverError') return c.text('<html><body>Service Unavailable (emulated)</body></html>', fault.status as 500);
    if (fault.kind === 'malformed') return c.body('{"code":"0","msg":"","data":[{"instId":"B', 200, { 'content-type': 'application/json' });
    await next();
  });

  const specOf = (instId: string | undefined) => model.specs.find((s) => okxInstIdOf(s) === instId);

  app.get('/api/v5/public/time', (c) => c.json({ code: '0', msg: '', data: [{ ts: String(now()) }] }));

  app.get('/api/v5/public/instruments', (c) => {
    if ((c.req.query('instType') ?? '').toUpperCase() !== 'SPOT') return c.json({ code: '0', msg: '', data: [] });
    return c.json({
      code: '0',
      msg: '',
      data: model.specs.map((spec) => ({
        alias: '',
        baseCcy: spec.base,
        category: '1',
        ctMult: '',
        ctType: '',
        ctVal: '',
        ctValCcy: '',
        expTime: '',
        instFamily: '',
        instId: okxInstIdOf(spec),
        instType: 'SPOT',
        lever: '10',
        listTime: '1548133413000',
        lotSz: fixed(spec.stepSize, spec.stepSize),
        maxIcebergSz: '9999999999',
        maxLmtSz: '9999999999',
        maxMktSz: '1000000',
        maxStopSz: '1000000',
        maxTriggerSz: '9999999999',
        maxTwapSz: '9999999999',
        minSz: fixed(spec.stepSize, spec.stepSize),
        optType: '',
        quoteCcy: spec.quote,
        settleCcy: '',
        state: 'live',
        stk: '',
        tickSz: fixed(spec.tickSize, spec.tickSize),
        uly: '',
      })),
    });
  });

  // https://www.okx.com/docs-v5/en/#order-book-trading-market-data-get-trades: the newest `limit` trades only.
  app.get('/api/v5/market/trades', (c) => {
    const endpoint = 'okx/market/trades';
    const spec = specOf(c.req.query('instId'));
    if (!spec) return okxError(c, '51001', "Instrument ID doesn't exist.");
    const raw = Number(c.req.query('limit') ?? TRADES_DEFAULT_LIMIT);
    const limit = Math.min(Math.max(Number.isFinite(raw) ? Math.floor(raw) : TRADES_DEFAULT_LIMIT, 1), TRADES_MAX_LIMIT);
    const last = model.lastTradeId(spec, now());
    const data = [];
    const servedNow: Array<{ key: string; ts: number }> = [];
    for (let id = last; id >= 1 && id > last - limit; id--) {
      if (!faults.keepTrade(`okx:${okxInstIdOf(spec)}`, id, endpoint)) continue;
      const ts = model.tradeTime(spec, id);
      data.push({
        instId: okxInstIdOf(spec),
        side: model.buyerMaker(spec, id) ? 'sell' : 'buy',
        sz: fixed(model.quantity(spec, id), spec.stepSize),
        px: fixed(model.price(spec, id), spec.tickSize),
        tradeId: String(id),
        ts: String(ts),
      });
      servedNow.push({ key: String(id), ts });
    }
    served?.record('okx', okxInstIdOf(spec), servedNow);
    return c.json({ code: '0', msg: '', data });
  });

  return app;
}
