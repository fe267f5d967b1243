// runtime/emulator/server.ts
// Starts the exchange emulator: Binance-format public REST plus /admin (fault switches, state) on loopback.

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { binanceRoutes } from './binance.ts';
import { BinanceWs, wsAdminRoutes } from './binance-ws.ts';
import { faultsSchema, FaultSwitches } from './faults.ts';
import { DEFAULT_SYMBOLS, marketIdOf, MarketModel, type SymbolSpec } from './market.ts';
import { krakenRoutes } from './kraken.ts';
import { okxRoutes } from './okx.ts';
import { ServedLog } from './served.ts';

export interface EmulatorOptions {
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Bind address (loopback by default). */
  host?: string;
  /** Seed of the price path and the fault dice. */
  seed?: number;
  symbols?: SymbolSpec[];
  /** Overrides every symbol's trade rate (the ingest benchmark). */
  tradesPerSecond?: number;
  now?: () => number;
  /** Fills per aggregate trade: 1 to this many (every symbol without its own maxFills). */
  maxFills?: number;
  /** Keep a log of every trade served (`Emulator.served`; the soak benchmark). */
  recordServed?: boolean;
}

export interface Emulator {
  url: string;
  port: number;
  model: MarketModel;
  faults: FaultSwitches;
  /** Every trade served, per dialect and market (only with `recordServed`). */
  served: ServedLog | undefined;
  /** The WebSocket side (`ws://…/ws`, `/stream`) and its fault switches. */
  ws: BinanceWs;
  /** The newest trade id of a ccxt symbol at `now` (what the emulator has produced so far). */
  lastTradeId(symbol: string, now?: number): number;
  stop(): Promise<void>;
}

export const DEFAULT_EMULATOR_PORT = 8789;

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const now = options.now ?? Date.now;
  const symbols = (options.symbols ?? DEFAULT_SYMBOLS)
    .map((s) => (options.tradesPerSecond ? { ...s, tradesPerSecond: options.tradesPerSecond } : s))
    .map((s) => (options.maxFills && s.maxFills === undefined ? { ...s, maxFills: options.maxFills } : s));
  const served = options.recordServed ? new ServedLog() : undefined;
  const model = new MarketModel(options.seed ?? 1, symbols);
  const faults = new FaultSwitches((n) => model.chance(n));
  const requests = new Map<string, number>();
  const specOf = (symbol: string) => {
    const spec = symbols.find((s) => s.symbol === symbol || marketIdOf(s) === symbol);
    if (!spec) throw new Error(`emulator has no symbol ${symbol}`);
    return spec;
  };

  const app = new Hono();
  const ws = new BinanceWs({ model, now: () => faults.marketTime(now()), listed: (s) => !faults.delisted(s.symbol, marketIdOf(s)) });
  app.route('/', wsAdminRoutes(ws));
  // The market is served at the exchange's own time (clock offset, frozen feed); /time tells its clock.
  app.route('/', binanceRoutes({ model, faults, now: () => faults.marketTime(now()), clockNow: () => faults.clockTime(now()), requests, served }));
  // Other dialects on their own paths (one emulator URL serves every exchange ccxt is pointed at), at the same exchange time.
  app.route('/', krakenRoutes({ model, faults, now: () => faults.marketTime(now()), requests, served }));
  app.route('/', okxRoutes({ model, faults, now: () => faults.marketTime(now()), requests, served }));
  app.get('/admin/faults', (c) => c.json(faults.get()));
  app.put('/admin/faults', async (c) => {
    const parsed = faultsSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.json({ ok: false, error: 'invalid_input', issues: parsed.error.issues }, 400);
    faults.set(parsed.data);
    return c.json({ ok: true, faults: faults.get() });
  });
  app.delete('/admin/faults', (c) => {
    faults.clear();
    return c.json({ ok: true });
  });
  app.get('/admin/state', (c) =>
    c.json({
      now: now(),
      faults: faults.get(),
      injected: faults.counters,
      requests: Object.fromEntries(requests),
      symbols: symbols.map((s) => ({
        symbol: s.symbol,
        id: marketIdOf(s),
        tradesPerSecond: s.tradesPerSecond,
        lastTradeId: model.lastTradeId(s, now()),
        lostTradeIds: faults.lost.get(marketIdOf(s)) ?? [],
      })),
    }),
  );
  app.notFound((c) => c.json({ code: -1000, msg: `emulator: no route ${c.req.method} ${c.req.path}` }, 404));

  const server = serve({ fetch: app.fetch, hostname: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('listening', () => resolve((server.address() as { port: number }).port));
    server.once('error', reject);
  });
  ws.attach(server as unknown as import('node:http').Server);
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    model,
    faults,
    served,
    ws,
    lastTradeId: (symbol, at = now()) => model.lastTradeId(specOf(symbol), at),
    stop: () =>
      ws.close().then(() => new Promise<void>((resolve) => {
        // Stalled (slow-fault) answers must not hold the shutdown.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      })),
  };
}
