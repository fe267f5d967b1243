// test/emulator.test.ts
// The exchange emulator: Binance answer shapes, sequential ids and paging, seed-deterministic prices, every fault switch.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';

const get = async (e: Emulator, pathname: string) => {
  const res = await fetch(`${e.url}${pathname}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
};
const json = async <T>(e: Emulator, pathname: string) => JSON.parse((await get(e, pathname)).text) as T;
type AggTrade = { a: number; p: string; q: string; T: number; m: boolean };

describe('exchange emulator', () => {
  let one: Emulator;
  let same: Emulator;
  let other: Emulator;
  beforeAll(async () => {
    [one, same, other] = await Promise.all([startEmulator({ seed: 5 }), startEmulator({ seed: 5 }), startEmulator({ seed: 6 })]);
  });
  afterAll(async () => Promise.all([one, same, other].map((e) => e?.stop())));

  it('serves sequential aggTrade ids, pages by fromId, caps a page at 1000 and refuses fromId with a time window', async () => {
    const last = one.lastTradeId('BTC/USDT');
    const page = await json<AggTrade[]>(one, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${last - 2000}&limit=5000`);
    expect(page).toHaveLength(1000);
    expect(page.map((t) => t.a)).toEqual(Array.from({ length: 1000 }, (_, i) => last - 2000 + i));
    expect(page.every((t, i) => i === 0 || t.T >= page[i - 1]!.T)).toBe(true);
    const newest = await json<AggTrade[]>(one, '/api/v3/aggTrades?symbol=BTCUSDT&limit=3');
    expect(newest.at(-1)!.a).toBeGreaterThanOrEqual(last);
    expect(await json<AggTrade[]>(one, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${last + 10_000}`)).toEqual([]);
    const refused = await get(one, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=1&startTime=1`);
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text)).toMatchObject({ code: -1128 });
    expect(JSON.parse((await get(one, '/api/v3/depth?symbol=NOPE')).text)).toEqual({ code: -1121, msg: 'Invalid symbol.' });
  });

  it('derives prices from the seed: same seed same trades, another seed other prices', async () => {
    const from = one.lastTradeId('ETH/USDT') - 100;
    const [a, b, c] = await Promise.all(
      [one, same, other].map((e) => json<AggTrade[]>(e, `/api/v3/aggTrades?symbol=ETHUSDT&fromId=${from}&limit=50`)),
    );
    expect(b).toEqual(a);
    expect(c!.map((t) => t.a)).toEqual(a!.map((t) => t.a));
    expect(c!.map((t) => t.p)).not.toEqual(a!.map((t) => t.p));
  });

  it('answers ticker, depth and klines in the shapes ccxt parses', async () => {
    const ticker = await json<Record<string, unknown>>(one, '/api/v3/ticker/24hr?symbol=BTCUSDT');
    for (const field of ['symbol', 'lastPrice', 'bidPrice', 'askPrice', 'highPrice', 'lowPrice', 'volume', 'quoteVolume', 'closeTime', 'count']) {
      expect(ticker, field).toHaveProperty(field);
    }
    const depth = await json<{ lastUpdateId: number; bids: string[][]; asks: string[][] }>(one, '/api/v3/depth?symbol=BTCUSDT&limit=5');
    expect(depth.bids).toHaveLength(5);
    expect(Number(depth.bids[0]![0])).toBeGreaterThan(Number(depth.bids[4]![0]));
    expect(Number(depth.asks[0]![0])).toBeLessThan(Number(depth.asks[4]![0]));
    expect(Number(depth.bids[0]![0])).toBeLessThan(Number(depth.asks[0]![0]));
    const klines = await json<unknown[][]>(one, '/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3');
    expect(klines).toHaveLength(3);
    expect(klines[0]).toHaveLength(12);
    expect((klines[1]![0] as number) - (klines[0]![0] as number)).toBe(60_000);
  });

  it('switches every fault on and off through /admin/faults', async () => {
    const put = (faults: unknown) => fetch(`${one.url}/admin/faults`, { method: 'PUT', body: JSON.stringify(faults) });
    expect((await put({ rateLimit: { retryAfterSeconds: 'soon' } })).status).toBe(400);

    await put({ rateLimit: { retryAfterSeconds: 7 } });
    const limited = await get(one, '/api/v3/ticker/24hr?symbol=BTCUSDT');
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '7']);
    expect((await get(one, '/api/v3/exchangeInfo')).status).toBe(200); // markets stay loadable

    await put({ serverError: { status: 502 } });
    expect((await get(one, '/api/v3/depth?symbol=BTCUSDT')).status).toBe(502);

    await put({ malformed: {} });
    const bad = await get(one, '/api/v3/klines?symbol=BTCUSDT&interval=1m');
    expect(bad.status).toBe(200);
    expect(() => JSON.parse(bad.text)).toThrow();

    await put({ slow: { delayMs: 600 }, endpoints: ['depth'] });
    const started = Date.now();
    expect((await get(one, '/api/v3/depth?symbol=BTCUSDT')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect((await get(one, '/api/v3/ticker/24hr?symbol=BTCUSDT')).status).toBe(200); // not in endpoints

    // Dropped once: missing from the first answer, served when asked again (history has it).
    await put({ dropTrades: { ratio: 0.5 }, endpoints: ['aggTrades'] });
    const from = one.lastTradeId('BTC/USDT') - 500;
    const first = await json<AggTrade[]>(one, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${from}&limit=100`);
    expect(first.length).toBeLessThan(100);
    const again = await json<AggTrade[]>(one, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=${from}&limit=100`);
    const missing = Array.from({ length: 100 }, (_, i) => from + i).filter((id) => !first.some((t) => t.a === id));
    expect(missing.every((id) => again.some((t) => t.a === id))).toBe(true);

    await fetch(`${one.url}/admin/faults`, { method: 'DELETE' });
    const state = await json<{ faults: unknown; injected: Record<string, number> }>(one, '/admin/state');
    expect(state.faults).toEqual({});
    expect(state.injected).toMatchObject({ rateLimit: 1, serverError: 1, malformed: 1, slow: 1 });
    // The second answer drops other ids for the first time, so at least the first answer's holes.
    expect(state.injected.droppedTrades).toBeGreaterThanOrEqual(missing.length);
  });
});
