// test/collector.data-quality.test.ts
// Impossible times are bad_data, frozen feeds turn stale, books carry exchange time and flags, candles settle and holes are named.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { collectorHarness, type Harness } from './helpers/collector-harness.ts';
import { latestKey } from '../runtime/keys.ts';

const YEAR_MS = 365 * 86_400_000;

describe('what real exchanges serve: times, freshness, books, candles', () => {
  let emulator: Emulator;
  let h: Harness | undefined;
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, seed: 9 });
  });
  afterEach(async () => {
    emulator.faults.clear();
    await h?.dispose();
    h = undefined;
  });
  afterAll(async () => emulator?.stop());

  it('trade and candle times in seconds, in the far future or before the cursor are bad_data and nothing is appended', { timeout: 90_000 }, async () => {
    h = await collectorHarness(emulator, {
      candleSettleSeconds: 0,
      streams: [
        { exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'] },
        { exchange: 'binance', topic: 'ohlcv', symbols: ['BTC/USDT'], timeframe: '1s' },
      ],
    });
    const bothOk = () => h!.row('trades').ok && h!.row('ohlcv').ok;
    expect(await h.tickUntil(async () => bothOk() && (await h!.raw('ohlcv')).length > 0)).toBe(true);
    for (const [badTimes, trades, ohlcv] of [
      [{ seconds: true }, /is in seconds, not milliseconds/, /is in seconds, not milliseconds/],
      [{ shiftMs: YEAR_MS }, /is in the future/, /is in the future/],
      [{ shiftMs: -86_400_000 }, /is older than the last stored trade/, /is before the last stored one/],
    ] as const) {
      const before = { trades: (await h.raw('trades')).length, ohlcv: (await h.raw('ohlcv')).length };
      emulator.faults.set({ badTimes });
      expect(await h.tickUntil(() => h!.row('trades').cause === 'bad_data' && h!.row('ohlcv').cause === 'bad_data'), JSON.stringify(badTimes)).toBe(true);
      await h.tick();
      expect(h.row('trades').notes.join('\n')).toMatch(trades);
      expect(h.row('ohlcv').notes.join('\n')).toMatch(ohlcv);
      expect((await h.raw('trades')).length, JSON.stringify(badTimes)).toBe(before.trades);
      expect((await h.raw('ohlcv')).length, JSON.stringify(badTimes)).toBe(before.ohlcv);
      emulator.faults.clear();
      expect(await h.tickUntil(bothOk)).toBe(true);
    }
    const keys = await import('../runtime/store/types.ts').then((m) => m.listKeys(h!.runtime.store, 'raw/binance/'));
    expect(keys.filter((k) => /dt=19[0-9]{2}-|dt=2[1-9][0-9]{2}-/.test(k))).toEqual([]);
    const trades = await h.raw('trades');
    const ids = trades.map((t) => Number(t.data['id']));
    expect(new Set(ids).size).toBe(ids.length);
    // Nothing lost meanwhile: the stream went on from its cursor once the times were right.
    const sorted = [...ids].sort((a, b) => a - b);
    expect(sorted.at(-1)! - sorted[0]! + 1).toBe(ids.length);
  });

  it('a frozen feed turns ticker and order book stale after their own limits while trades (longer limit) stay ok', { timeout: 60_000 }, async () => {
    h = await collectorHarness(emulator, {
      staleAfterSeconds: { ticker: 2, orderbook: 2, trades: 60 },
      streams: [
        { exchange: 'binance', topic: 'ticker', symbols: ['BTC/USDT'] },
        { exchange: 'binance', topic: 'orderbook', symbols: ['BTC/USDT'], depth: 5 },
        { exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'] },
      ],
    });
    const topics = ['ticker', 'orderbook', 'trades'];
    expect(await h.tickUntil(() => topics.every((t) => h!.row(t).ok))).toBe(true);
    emulator.faults.set({ freeze: {} });
    expect(await h.tickUntil(() => h!.row('ticker').cause === 'stale' && h!.row('orderbook').cause === 'stale')).toBe(true);
    expect(h.row('ticker').ok).toBe(false);
    expect(h.row('orderbook').notes.join('\n')).toMatch(/stale: the exchange answers but its data has not moved for \d+ s \(limit 2 s\)/);
    expect(h.row('trades').ok).toBe(true);
    expect(h.events('collector.stream.stale').map((e) => e.payload['topic']).sort()).toEqual(['orderbook', 'ticker']);
    emulator.faults.clear();
    expect(await h.tickUntil(() => topics.every((t) => h!.row(t).ok))).toBe(true);
    expect(h.events('collector.stream.fresh').map((e) => e.payload['topic']).sort()).toEqual(['orderbook', 'ticker']);
  });

  it('stamps order books in exchange time (measured offset) and flags a crossed book and an update id going back', { timeout: 60_000 }, async () => {
    const offset = 30_000;
    emulator.faults.set({ clockOffsetMs: offset });
    h = await collectorHarness(emulator, { streams: [{ exchange: 'binance', topic: 'orderbook', symbols: ['BTC/USDT'], depth: 5 }] });
    expect(await h.tickUntil(async () => (await h!.raw('orderbook')).length >= 2)).toBe(true);
    for (const r of (await h.raw('orderbook')) as Array<{ ts: number; ingest_ts: number; data: Record<string, unknown> }>) {
      expect(Math.abs(r.ts - r.ingest_ts - offset)).toBeLessThan(1_500);
      expect(r.data['flags']).toBeUndefined();
    }

    emulator.faults.set({ clockOffsetMs: offset, book: { crossed: true, updateIdBack: 0 } });
    const stored = (await h.raw('orderbook')).length;
    expect(await h.tickUntil(async () => (await h!.raw('orderbook')).length >= stored + 3)).toBe(true);
    const crossed = (await h.raw('orderbook')).slice(stored);
    expect(crossed.every((r) => JSON.stringify(r.data['flags']) === '["crossed"]')).toBe(true);
    expect(h.row('orderbook').notes.join('\n')).toMatch(/crossed book: best bid [\d.]+ ≥ best ask/);
    // Audited once when it started, not once per tick.
    expect(h.events('collector.book.anomaly').map((e) => e.payload['kind'])).toEqual(['crossed']);

    emulator.faults.set({ clockOffsetMs: offset, book: { crossed: false, updateIdBack: 1_000_000 } });
    expect(await h.tickUntil(() => h!.events('collector.book.anomaly').length === 2)).toBe(true);
    const back = h.events('collector.book.anomaly').find((e) => e.payload['kind'] !== 'crossed')!.payload;
    expect(back['kind']).toBe('update_id_backwards');
    expect(Number(back['previous_update_id']) - Number(back['update_id'])).toBeGreaterThan(900_000);
    expect((await h.raw('orderbook')).some((r) => JSON.stringify(r.data['flags']) === '["update_id_backwards"]')).toBe(true);
  });

  it('a window without candles is audited with its missing open times; nothing else is missing', { timeout: 60_000 }, async () => {
    h = await collectorHarness(emulator, { candleSettleSeconds: 0, streams: [{ exchange: 'binance', topic: 'ohlcv', symbols: ['BTC/USDT'], timeframe: '1s' }] });
    expect(await h.tickUntil(async () => (await h!.raw('ohlcv')).length > 0)).toBe(true);
    const from = Math.ceil(Date.now() / 1000) * 1000 + 2_000;
    emulator.faults.set({ candleHoles: { fromMs: from, toMs: from + 2_000 } });
    expect(await h.tickUntil(() => h!.events('collector.gap.detected').length > 0)).toBe(true);
    const gap = h.events('collector.gap.detected')[0]!.payload;
    expect(gap).toMatchObject({ topic: 'ohlcv', reason: 'no_candles', from_ts: from, to_ts: from + 2_000, count: 3, missing_open_times: [from, from + 1_000, from + 2_000] });
    expect(h.row('ohlcv').notes.join('\n')).toMatch(/no candles from the exchange for 3 open time\(s\)/);
    await h.tick();
    const opens = (await h.raw('ohlcv')).map((r) => r.ts);
    // Every open time from the first stored to the last is there once, except the three the exchange had none for.
    const expected: number[] = [];
    for (let t = opens[0]!; t <= opens.at(-1)!; t += 1_000) if (t < from || t > from + 2_000) expected.push(t);
    expect(opens).toEqual(expected);
    expect(h.events('collector.gap.detected')).toHaveLength(1);
  });

  it('stores a candle only once it has settled: an exchange revising it after the close never leaves the provisional one', { timeout: 60_000 }, async () => {
    emulator.faults.set({ reviseCandles: { afterCloseMs: 1_200 } });
    h = await collectorHarness(emulator, { candleSettleSeconds: 2, streams: [{ exchange: 'binance', topic: 'ohlcv', symbols: ['BTC/USDT'], timeframe: '1s' }] });
    const started = Date.now();
    expect(await h.tickUntil(async () => Date.now() - started > 6_000 && (await h!.raw('ohlcv')).length > 5, 30_000, 200)).toBe(true);
    // The collector was shown provisional candles (closed, not yet revised) and did not store them.
    expect(emulator.faults.counters.provisionalCandles ?? 0).toBeGreaterThan(0);
    const stored = await h.raw('ohlcv');
    const final = (await (await fetch(`${emulator.url}/api/v3/klines?symbol=BTCUSDT&interval=1s&startTime=${stored[0]!.ts}&limit=1000`)).json()) as unknown[][];
    const finalVolume = new Map(final.map((k) => [Number(k[0]), Number(k[5])]));
    for (const r of stored) expect(Number(r.data['volume']), `candle ${r.ts}`).toBe(finalVolume.get(r.ts));
    // The latest CSV says the same: its newest closed=true row is the newest stored candle; the
    // forming candle and those closed less than the settle time ago are closed=false (the health
    // check compares closed rows with raw, and read "CSV ahead of raw" inside the settle time).
    await h.tick();
    const rows = (await h.runtime.store.get(latestKey({ exchange: 'binance', topic: 'ohlcv', symbol: 'BTC/USDT' }))).body.toString('utf8').trim().split('\n').slice(1).map((r) => r.split(','));
    const newestStored = (await h.raw('ohlcv')).at(-1)!.ts;
    expect(Number(rows.filter((c) => c.at(-1) === 'true').at(-1)![0]), rows.join('\n')).toBe(newestStored);
    expect(rows.filter((c) => c.at(-1) === 'false').length, rows.join('\n')).toBeGreaterThanOrEqual(2);
  });
});
