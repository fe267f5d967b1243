// test/collector.bans.test.ts
// 418/403 bans with and without Retry-After: one pause per exchange, queued streams and page loops hold, status says until when.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExchangePool } from '../runtime/collector/exchanges.ts';
import { banUntilFromBody, ExchangePaused, ExchangePauses } from '../runtime/collector/pause.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { collectorHarness, type Harness } from './helpers/collector-harness.ts';

const STREAMS = [
  { exchange: 'binance', topic: 'ticker', symbols: ['BTC/USDT'] },
  { exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'] },
  { exchange: 'binance', topic: 'orderbook', symbols: ['BTC/USDT'], depth: 5 },
];

describe('exchange bans and rate limits', () => {
  let emulator: Emulator;
  let h: Harness | undefined;
  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, seed: 3 });
  });
  afterEach(async () => {
    emulator.faults.clear();
    await h?.dispose();
    h = undefined;
  });
  afterAll(async () => emulator?.stop());

  /** Streams queue for one request slot, so only the first of a tick meets the ban; the others must hold. */
  const start = async () => {
    h = await collectorHarness(emulator, { perExchangeConcurrency: 1, streams: STREAMS });
    expect(await h.tickUntil(() => ['ticker', 'trades', 'orderbook'].every((t) => h!.row(t).ok))).toBe(true);
    return h;
  };
  const allOk = () => ['ticker', 'trades', 'orderbook'].every((t) => h!.row(t).ok);
  const banned = () => emulator.faults.counters.banned ?? 0;

  for (const variant of [
    { name: '418 with Retry-After', ban: { status: 418 as const, seconds: 2, header: true, bodyUntil: false } },
    { name: '418 without the header, ban-until in the body', ban: { status: 418 as const, seconds: 2, header: false, bodyUntil: true } },
    { name: '403 with Retry-After', ban: { status: 403 as const, seconds: 2, header: true, bodyUntil: false } },
  ]) {
    it(`${variant.name}: the whole exchange pauses until the stated end, no call during it, then every stream recovers`, { timeout: 60_000 }, async () => {
      await start();
      emulator.faults.set({ ban: variant.ban });
      const before = banned();
      const setAt = Date.now();
      expect(await h!.tickUntil(() => banned() > before, 10_000, 50)).toBe(true);
      // One refusal reached the collector; the queued streams did not fire after it.
      expect(banned() - before).toBe(1);
      for (const topic of ['ticker', 'trades', 'orderbook']) {
        const row = h!.row(topic);
        expect(row.ok, topic).toBe(false);
        expect(row.cause, topic).toBe('rate_limit');
        const until = Date.parse(row.paused_until!);
        expect(until, topic).toBeGreaterThan(setAt + 1_000);
        expect(until, topic).toBeLessThan(Date.now() + 3_500);
        expect(row.notes.join('\n'), topic).toMatch(new RegExp(`exchange paused until .*HTTP ${variant.ban.status}, ${variant.ban.header ? 'Retry-After' : 'ban time in the body'}`));
      }
      expect(await h!.tickUntil(allOk)).toBe(true);
      // The pause covered the whole ban: the exchange was not called again while it lasted.
      expect(banned() - before).toBe(1);
      expect(Date.now() - setAt).toBeGreaterThanOrEqual(1_500);
      expect(h!.row('ticker').paused_until).toBeUndefined();
    });
  }

  it('403 without any ban time: exponential backoff per exchange (2 s, then 4 s), not a retry every tick', { timeout: 60_000 }, async () => {
    await start();
    emulator.faults.set({ ban: { status: 403, seconds: 3, header: false, bodyUntil: false } });
    const before = banned();
    expect(await h!.tickUntil(() => banned() > before, 10_000, 50)).toBe(true);
    const firstPause = Date.parse(h!.row('orderbook').paused_until!) - Date.now();
    expect(firstPause).toBeGreaterThan(1_000);
    expect(firstPause).toBeLessThanOrEqual(2_000);
    expect(h!.row('trades').notes.join('\n')).toMatch(/HTTP 403, backoff, no ban time given/);
    // The second refusal (the ban still runs after 2 s) doubles the pause.
    expect(await h!.tickUntil(() => banned() - before === 2)).toBe(true);
    const secondPause = Date.parse(h!.row('ticker').paused_until!) - Date.now();
    // Not doubled would be ≤ 2 s; the slack is for a loaded machine.
    expect(secondPause).toBeGreaterThan(2_500);
    expect(secondPause).toBeLessThanOrEqual(4_000);
    expect(await h!.tickUntil(allOk)).toBe(true);
    expect(banned() - before).toBe(2);
  });

  it('pause lengths: refusals of streams in flight when a ban began are one strike; the body\'s ban-until is read in ms or s', () => {
    const pauses = new ExchangePauses();
    let mono = 0;
    const wall = 1_800_000_000_000;
    pauses.useClock({ now: () => wall + mono, monotonicMs: () => mono });
    expect(pauses.refused('x', { status: 403 }).untilMonotonicMs).toBe(2_000);
    expect(pauses.refused('x', { status: 403 }).untilMonotonicMs).toBe(2_000);
    mono = 2_500;
    expect(pauses.refused('x', { status: 403 }).untilMonotonicMs).toBe(2_500 + 4_000);
    pauses.answered('x');
    mono = 10_000;
    expect(pauses.refused('x', { status: 403 }, 5_000).untilMonotonicMs).toBe(15_000);
    expect(pauses.refused('y', { status: 418, banUntilMs: wall + 10_000 + 7_000 })).toMatchObject({ untilMs: wall + 17_000, source: 'body' });
    expect(pauses.refused('y', { status: 418, retryAfterMs: 60_000 })).toMatchObject({ untilMs: wall + 70_000, source: 'retry-after' });
    expect(banUntilFromBody('{"code":-1003,"msg":"Way too much request weight used; IP banned until 1659146000000. Please use WebSocket Streams"}', 0)).toBe(1_659_146_000_000);
    expect(banUntilFromBody('IP banned until 1659146000.', 0)).toBe(1_659_146_000_000);
    expect(banUntilFromBody('access too frequent, try again in 10 minutes', 1_000)).toBe(601_000);
    expect(banUntilFromBody('<html>403 Forbidden</html>', 0)).toBeUndefined();
  });

  it('a paused exchange refuses every request before it leaves: a trade page loop stops at its next page', async () => {
    const pool = new ExchangePool({ exchangeUrl: emulator.url, timeoutMs: 3_000 });
    const exchange = await pool.ready('binance');
    await exchange.fetchTrades('BTC/USDT', undefined, 5);
    pool.pauses.refused('binance', { status: 418, retryAfterMs: 60_000 });
    const stateBefore = await (await fetch(`${emulator.url}/admin/state`)).json() as { requests: Record<string, number> };
    await expect(exchange.fetchTrades('BTC/USDT', undefined, 5)).rejects.toBeInstanceOf(ExchangePaused);
    const stateAfter = await (await fetch(`${emulator.url}/admin/state`)).json() as { requests: Record<string, number> };
    expect(stateAfter.requests['aggTrades']).toBe(stateBefore.requests['aggTrades']);
    await pool.close();
  });
});
