// test/collector.ws-ticker-ohlcv.test.ts
// transport: ws ticker and OHLCV (real ccxt pro against the emulator's Binance socket), and Binance's 24-hour forced disconnect made short for trades and OHLCV.

import { afterEach, describe, expect, it } from 'vitest';
import { ExchangePool } from '../runtime/collector/exchanges.ts';
import { checkStreams } from '../runtime/collector/plan.ts';
import { streamName, streamStates } from '../runtime/collector/stream-state.ts';
import { setLeaseView } from '../runtime/lease.ts';
import { wsExchange } from '../runtime/collector/ws/exchange.ts';
import { loadConfig } from '../runtime/config.ts';
import { csvLatestTs } from '../runtime/health.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { collectorHarness, tickLoop, until, type Harness } from './helpers/collector-harness.ts';

const SYMBOL = 'BTC/USDT';
const OHLCV = streamName({ exchange: 'binance', topic: 'ohlcv', symbol: SYMBOL });
const TRADES = streamName({ exchange: 'binance', topic: 'trades', symbol: SYMBOL });
const STEP_MS = 1_000;


type Candle = { ts: number; seq: number; epoch: number; data: { open: number; high: number; low: number; close: number; volume: number; timeframe: string } };

/** The emulator's closed 1 s candles `from`..`to` over its REST side (what the REST collector would store). */
async function restCandles(emu: Emulator, from: number, to: number): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (let start = from; start <= to; start += 1000 * STEP_MS) {
    const res = await fetch(`${emu.url}/api/v3/klines?symbol=BTCUSDT&interval=1s&startTime=${start}&endTime=${Math.min(to, start + 999 * STEP_MS)}&limit=1000`);
    for (const k of (await res.json()) as Array<Array<number | string>>) out.set(Number(k[0]), k.slice(1, 6).map(Number));
  }
  return out;
}

/** Every open time from the first stored candle to the last exactly once, each equal to the REST candle. */
async function expectEveryCandleOnce(emu: Emulator, raw: Candle[]): Promise<void> {
  const opens = raw.map((r) => r.ts);
  const counts = new Map<number, number>();
  for (const t of opens) counts.set(t, (counts.get(t) ?? 0) + 1);
  expect([...counts].filter(([, n]) => n > 1).map(([t]) => new Date(t).toISOString())).toEqual([]);
  const first = Math.min(...opens);
  const last = Math.max(...opens);
  const missing: string[] = [];
  for (let t = first; t <= last; t += STEP_MS) if (!counts.has(t)) missing.push(new Date(t).toISOString());
  expect(missing).toEqual([]);
  // Closed candles only: a forming one would show part of the volume (and a different close).
  const rest = await restCandles(emu, first, last);
  const differing = raw.filter((r) => JSON.stringify([r.data.open, r.data.high, r.data.low, r.data.close, r.data.volume]) !== JSON.stringify(rest.get(r.ts)));
  expect(differing.map((r) => ({ ts: r.ts, stored: r.data, rest: rest.get(r.ts) }))).toEqual([]);
  expect(new Set(raw.map((r) => r.data.timeframe))).toEqual(new Set(['1s']));
  // The fencing: within each epoch, seq counts 0, 1, 2, … with no hole.
  for (const epoch of new Set(raw.map((r) => r.epoch))) {
    const seqs = raw.filter((r) => r.epoch === epoch).map((r) => r.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  }
}

describe('ws ticker and OHLCV against the emulator', () => {
  let emulator: Emulator | undefined;
  let harness: Harness | undefined;
  let ticking: { stop(): Promise<void> } | undefined;

  afterEach(async () => {
    await ticking?.stop();
    ticking = undefined;
    await harness?.dispose();
    await emulator?.stop();
    harness = undefined;
    emulator = undefined;
  });

  const startTicking = (h: Harness) => {
    ticking = tickLoop(h);
  };

  it('stores every closed candle once and the REST ticker record, across a dropped and a silent socket', { timeout: 90_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 21, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === SYMBOL) });
    harness = await collectorHarness(emulator, {
      streams: [
        { exchange: 'binance', topic: 'ticker', symbols: [SYMBOL], transport: 'ws' },
        { exchange: 'binance', topic: 'ohlcv', symbols: [SYMBOL], timeframe: '1s', transport: 'ws' },
      ],
      candleSettleSeconds: 0,
      ws: { silentSeconds: 1.5, backoffMaxSeconds: 1 },
    });
    const h = harness;
    const emu = emulator;
    const cursor = () => streamStates(h.runtime.local).get(OHLCV)?.cursor?.last_ts ?? null;
    const ws = (topic: string) => h.row(topic).ws;
    startTicking(h);

    await until('first closed candle and ticker appended', () => cursor() !== null && Number(ws('ticker')?.['messages'] ?? 0) > 0 && (ws('ohlcv')?.connected ?? false));
    expect(emu.ws.subscriptions().sort()).toEqual(['btcusdt@kline_1s', 'btcusdt@ticker']);

    const beforeDrop = cursor()!;
    // 1. Dropped: reconnected at once (a candle that closed meanwhile comes over REST).
    emu.ws.drop();
    await until('both reconnected after the drop', () => (ws('ohlcv')?.reconnects ?? 0) >= 1 && ws('ohlcv')!.connected && (ws('ticker')?.reconnects ?? 0) >= 1 && ws('ticker')!.connected);
    // 2. Silent: detected after 1.5 s, so at least one candle closed unseen: back-filled over REST.
    emu.ws.silence();
    await until('both reconnected after silence', () => (ws('ohlcv')?.reconnects ?? 0) >= 2 && ws('ohlcv')!.connected && (ws('ticker')?.reconnects ?? 0) >= 2 && ws('ticker')!.connected, 20_000);
    const target = cursor()! + 3 * STEP_MS;
    await until('three more candles over the socket', () => (cursor() ?? 0) >= target);
    await until('shipped up to there', async () => (await h.raw('ohlcv')).some((r) => r.ts >= target));

    const candles = (await h.raw('ohlcv')) as unknown as Candle[];
    // From before the drop to after the silence, with nothing missing in between.
    expect(Math.min(...candles.map((c) => c.ts))).toBeLessThanOrEqual(beforeDrop);
    await expectEveryCandleOnce(emu, candles);
    const backfills = h.events('collector.ws.backfill').filter((e) => e.payload['topic'] === 'ohlcv');
    expect(backfills.length).toBeGreaterThanOrEqual(1);
    expect(Number(ws('ohlcv')!['backfilled'])).toBeGreaterThanOrEqual(1);

    // Ticker: the REST collector's record, one per sample time; the reconnects' holes are reported, not filled.
    const tickers = (await h.raw('ticker')) as unknown as Array<{ ts: number; data: Record<string, unknown> }>;
    expect(tickers.length).toBeGreaterThan(2);
    for (const t of tickers) {
      expect(Object.keys(t.data)).toEqual(['last', 'bid', 'ask', 'high', 'low', 'open', 'base_volume', 'quote_volume', 'vwap', 'percentage']);
      expect(Object.values(t.data).every((v) => typeof v === 'number')).toBe(true);
      expect((t.data['bid'] as number) < (t.data['ask'] as number)).toBe(true);
    }
    expect(new Set(tickers.map((t) => t.ts)).size).toBe(tickers.length);
    const holes = h.events('collector.ws.ticker_hole');
    expect(holes.length).toBeGreaterThanOrEqual(2);
    for (const hole of holes) expect(Number(hole.payload['to_ts'])).toBeGreaterThan(Number(hole.payload['from_ts']));
    expect(h.row('ticker').notes.filter((n) => n.startsWith('no ticker samples')).length).toBeGreaterThanOrEqual(2);

    // The latest CSVs (the page's, and what the health check compares with raw) follow the ws streams too.
    await h.tick();
    const csvOf = async (topic: string) => (await h.runtime.store.get(`latest/binance/${topic}/BTC-USDT.csv`)).body.toString('utf8');
    const [rawCandles, rawTickers] = [(await h.raw('ohlcv')).map((r) => r.ts), (await h.raw('ticker')).map((r) => r.ts)];
    const ohlcvCsv = await csvOf('ohlcv');
    expect(ohlcvCsv.split('\n')[0]).toBe('ts,open,high,low,close,volume,closed');
    // Its newest closed row is a stored candle (the forming row, closed=false, is skipped by the check).
    expect(rawCandles).toContain(csvLatestTs(ohlcvCsv));
    expect(rawTickers).toContain(csvLatestTs(await csvOf('ticker')));

    // The status rows' ws block for both.
    for (const topic of ['ticker', 'ohlcv']) {
      const row = h.row(topic);
      expect(row.ok).toBe(true);
      expect(row.ws?.connected).toBe(true);
      expect(row.ws?.connected_since).toBeTypeOf('string');
      expect(row.ws?.reconnects).toBeGreaterThanOrEqual(2);
      expect(row.ws?.messages_per_s).toBeGreaterThan(0);
      expect(row.ws?.lag_p99_ms).toBeTypeOf('number');
      expect(row.ws?.last_disconnect).toBe('silent');
    }
  });

  it("survives Binance's forced disconnect, made 1.5 s: trades gap- and repeat-free, every candle once, reconnects counted", { timeout: 90_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 22, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === SYMBOL).map((s) => ({ ...s, tradesPerSecond: 40 })) });
    harness = await collectorHarness(emulator, {
      streams: [
        { exchange: 'binance', topic: 'trades', symbols: [SYMBOL], transport: 'ws' },
        { exchange: 'binance', topic: 'ohlcv', symbols: [SYMBOL], timeframe: '1s', transport: 'ws' },
      ],
      candleSettleSeconds: 0,
      ws: { silentSeconds: 3, backoffMaxSeconds: 1 },
    });
    const h = harness;
    const emu = emulator;
    const states = () => streamStates(h.runtime.local);
    const ws = (topic: string) => h.row(topic).ws;
    startTicking(h);
    await until('both streams appending', () => states().get(TRADES)?.cursor?.last_id != null && states().get(OHLCV)?.cursor?.last_ts != null);

    emu.ws.setFaults({ forcedDisconnectMs: 1_500 });
    await until('three forced disconnects seen by both streams', () => (ws('trades')?.reconnects ?? 0) >= 3 && (ws('ohlcv')?.reconnects ?? 0) >= 3 && ws('trades')!.connected && ws('ohlcv')!.connected, 40_000);
    emu.ws.setFaults({});
    expect(emu.ws.counters.forcedDisconnects).toBeGreaterThanOrEqual(6);

    const lastId = emu.lastTradeId(SYMBOL);
    const lastOpen = states().get(OHLCV)!.cursor!.last_ts! + 2 * STEP_MS;
    await until('caught up', () => (states().get(TRADES)?.cursor?.last_id ?? 0) >= lastId && (states().get(OHLCV)?.cursor?.last_ts ?? 0) >= lastOpen);
    await until('shipped', async () => (await h.raw('trades')).some((r) => Number(r.data['id']) >= lastId) && (await h.raw('ohlcv')).some((r) => r.ts >= lastOpen));

    const trades = (await h.raw('trades')) as unknown as Array<{ seq: number; data: { id: string } }>;
    const ids = trades.map((r) => Number(r.data.id)).sort((a, b) => a - b);
    expect(new Set(ids).size).toBe(ids.length);
    const holes: string[] = [];
    for (let i = 1; i < ids.length; i++) if (ids[i] !== ids[i - 1]! + 1) holes.push(`${ids[i - 1]}→${ids[i]}`);
    expect(holes).toEqual([]);
    expect(ids[ids.length - 1]).toBeGreaterThanOrEqual(lastId);
    await expectEveryCandleOnce(emu, (await h.raw('ohlcv')) as unknown as Candle[]);

    // Reconnects are counted in status and audited; the holes they left were back-filled over REST.
    const reconnects = h.events('collector.ws.reconnect');
    for (const topic of ['trades', 'ohlcv']) {
      expect(ws(topic)!.reconnects).toBeGreaterThanOrEqual(3);
      expect(reconnects.filter((e) => e.payload['topic'] === topic).length).toBeGreaterThanOrEqual(3);
      expect(h.events('collector.ws.backfill').filter((e) => e.payload['topic'] === topic).length).toBeGreaterThanOrEqual(1);
      expect(h.row(topic).notes.some((n) => /ws: connected since .*, [3-9]\d* reconnects/.test(n))).toBe(true);
    }
  });

  it('OHLCV stops on step-down and, at the next epoch, back-fills the candles it missed: every candle once across both epochs', { timeout: 60_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 24, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === SYMBOL) });
    harness = await collectorHarness(emulator, {
      streams: [{ exchange: 'binance', topic: 'ohlcv', symbols: [SYMBOL], timeframe: '1s', transport: 'ws' }],
      candleSettleSeconds: 0,
    });
    const h = harness;
    const emu = emulator;
    const cursor = () => streamStates(h.runtime.local).get(OHLCV)?.cursor?.last_ts ?? null;
    await h.tick();
    await until('first candle at epoch 1', () => cursor() !== null && emu.ws.counters.open === 1);
    setLeaseView(h.runtime.lease, { holder: false, leaderHost: 'other' });
    await until('socket closed on step-down', () => emu.ws.counters.open === 0, 10_000);
    const stoppedAt = cursor()!;
    // Three candles close while nobody holds the lease here.
    await until('three candles closed meanwhile', () => Date.now() >= stoppedAt + 5 * STEP_MS, 10_000);
    expect(cursor()).toBe(stoppedAt);
    setLeaseView(h.runtime.lease, { holder: true, epoch: 2, leaderHost: 'harness' });
    const target = Math.floor(Date.now() / STEP_MS) * STEP_MS;
    await until('caught up at epoch 2', () => (cursor() ?? 0) >= target);
    await h.tick();
    const candles = (await h.raw('ohlcv')) as unknown as Candle[];
    await expectEveryCandleOnce(emu, candles);
    expect(candles.filter((c) => c.epoch === 2 && c.ts <= stoppedAt + 3 * STEP_MS).length).toBeGreaterThanOrEqual(3);
    expect(h.events('collector.ws.backfill').some((e) => e.payload['epoch'] === 2 && Number(e.payload['from_ts']) === stoppedAt + STEP_MS)).toBe(true);
  });

  it('accepts transport ws for ticker and OHLCV on Binance; refuses ws OHLCV where the socket does not say a candle closed', async () => {
    const { config } = loadConfig({
      env: { BTC_TS_HOST: 'check', BTC_TS_MODE: 'PROD' },
      overrides: {
        collector: {
          streams: [
            { exchange: 'binance', topic: 'ticker', symbols: [SYMBOL], transport: 'ws' },
            { exchange: 'binance', topic: 'ohlcv', symbols: [SYMBOL], transport: 'ws' },
            { exchange: 'kraken', topic: 'ticker', symbols: [SYMBOL], transport: 'ws' },
            { exchange: 'kraken', topic: 'ohlcv', symbols: [SYMBOL], transport: 'ws' },
          ],
        },
      },
    });
    const check = await checkStreams(config, new ExchangePool({ timeoutMs: 1_000 }), { loadMarkets: false });
    expect(check.errors).toEqual([expect.stringMatching(/^collector\.streams\[3\]: transport ws for ohlcv needs Binance's kline stream/)]);
  });

  it("the emulator's @bookTicker and @miniTicker as ccxt pro reads them (watchBidsAsks, watchTicker's default)", { timeout: 30_000 }, async () => {
    emulator = await startEmulator({ port: 0, seed: 23, symbols: DEFAULT_SYMBOLS.filter((s) => s.symbol === SYMBOL) });
    const emu = emulator;
    const rest = await new ExchangePool({ exchangeUrl: emu.url, timeoutMs: 3_000 }).ready('binance');
    const ws = await wsExchange('binance', rest, emu.url);
    try {
      const quote = (await ws.watchBidsAsks([SYMBOL]))[SYMBOL]!;
      const spec = emu.model.specs[0]!;
      const u = Number((quote.info as { u: number }).u);
      // The best bid and ask around the price of trade u, as /api/v3/ticker/24hr serves them.
      expect(quote.bid).toBeCloseTo(emu.model.price(spec, u) - spec.tickSize, 6);
      expect(quote.ask).toBeCloseTo(emu.model.price(spec, u) + spec.tickSize, 6);
      const mini = await ws.watchTicker(SYMBOL);
      expect(mini.last).toBeTypeOf('number');
      expect(mini.high! >= mini.low!).toBe(true);
      expect(emu.ws.subscriptions().sort()).toEqual(['btcusdt@bookTicker', 'btcusdt@miniTicker']);
    } finally {
      await ws.close();
    }
  });
});
