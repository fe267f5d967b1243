// test/collector.trades-paging.test.ts
// What real exchanges serve (issue 15 A): aggregates with fills, repeated ids and fills, big gaps, Kraken's cursor, OKX's recent-only trades — through the real ccxt.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { emptyCursor, type Cursor } from '../runtime/collector/cursors.ts';
import { ExchangePool } from '../runtime/collector/exchanges.ts';
import type { FetchContext, StreamFetch } from '../runtime/collector/topics.ts';
import { fetchTradesStream } from '../runtime/collector/trades.ts';
import { holes } from '../runtime/collector/trades-by-id.ts';
import { aggregateKey } from '../runtime/emulator/binance.ts';
import { startEmulator, type Emulator } from '../runtime/emulator/server.ts';
import { DEFAULT_SYMBOLS } from '../runtime/emulator/market.ts';

type TradeRecord = { ts: number; data: { id: string; first_trade_id?: number; last_trade_id?: number; amount: number } };
type Event = StreamFetch['events'][number];

/** A frozen exchange clock (a whole minute + 30.7 s, so a second holds trades before and after it). */
let clockMs = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000 + 30_700;
const SYMBOLS = [
  { ...DEFAULT_SYMBOLS[0]!, tradesPerSecond: 3000 }, // more than a 1000-trade page inside one second
  { ...DEFAULT_SYMBOLS[1]!, tradesPerSecond: 5, maxFills: 4 },
];

let emulator: Emulator;
let pool: ExchangePool;

beforeAll(async () => {
  emulator = await startEmulator({ seed: 15, symbols: SYMBOLS, now: () => clockMs, recordServed: true });
  pool = new ExchangePool({ exchangeUrl: emulator.url, timeoutMs: 10_000 });
  // ccxt's throttle paces Kraken at one request a second; the emulator needs no protecting.
  for (const id of ['binance', 'kraken', 'okx']) pool.instance(id).enableRateLimit = false;
});
afterAll(async () => {
  await pool?.close();
  await emulator?.stop();
});
afterEach(() => emulator.faults.clear());

async function fetchOnce(exchange: string, symbol: string, cursor: Cursor, pageLimit = 1000, maxPages = 3): Promise<StreamFetch> {
  const fc: FetchContext = {
    exchange: await pool.ready(exchange),
    task: { exchange, topic: 'trades', symbol, everyMs: 1000, depth: 0, timeframe: '1m' },
    now: () => clockMs,
    cursor,
    deadlineMonotonicMs: performance.now() + 30_000,
    monotonicMs: () => performance.now(),
    pageLimit,
    maxPages,
  };
  return fetchTradesStream(fc);
}

/** Fetches until the cursor holds the emulator's newest id (or `rounds` fetches), collecting items and events. */
async function drain(exchange: string, symbol: string, cursor: Cursor, rounds = 20) {
  const items: TradeRecord[] = [];
  const events: Event[] = [];
  const problems: string[] = [];
  const target = emulator.lastTradeId(symbol);
  for (let i = 0; i < rounds; i++) {
    const got = await fetchOnce(exchange, symbol, cursor);
    items.push(...(got.items as TradeRecord[]));
    events.push(...got.events);
    if (got.problem) problems.push(got.problem.cause);
    cursor = got.cursor!;
    if ((cursor.last_id ?? 0) >= target && cursor.gaps.length === 0) break;
  }
  return { items, events, problems, cursor };
}

/** The soak's invariant: every id of (after, upTo] is stored exactly once, or inside a suspected gap's time range. */
function accountFor(symbol: string, after: number, upTo: number, items: TradeRecord[], events: Event[]) {
  const spec = SYMBOLS.find((s) => s.symbol === symbol)!;
  const counts = new Map<number, number>();
  for (const r of items) counts.set(Number(r.data.id), (counts.get(Number(r.data.id)) ?? 0) + 1);
  const suspected = events.filter((e) => e.event === 'collector.gap.suspected').map((e) => e.payload as { from_ts: number; to_ts: number });
  const out = { stored: 0, inSuspected: 0, missing: [] as number[], repeated: [...counts].filter(([, n]) => n > 1).map(([id]) => id) };
  for (let id = after + 1; id <= upTo; id++) {
    if (counts.has(id)) out.stored++;
    else {
      const ts = emulator.model.tradeTime(spec, id);
      if (suspected.some((g) => ts >= g.from_ts && ts <= g.to_ts)) out.inSuspected++;
      else out.missing.push(id);
    }
  }
  return out;
}

describe('Binance aggregate trades', () => {
  const symbol = 'ETH/USDT';
  const spec = SYMBOLS[1]!;

  it('keeps each aggregate\'s fills; per closed minute the fills add up to the kline\'s trade count and volume', async () => {
    const minute = Math.floor(clockMs / 60_000) * 60_000 - 120_000;
    const fromId = emulator.model.firstTradeIdAtOrAfter(spec, minute);
    const { items } = await drain('binance', symbol, { ...emptyCursor(1, 't'), last_id: fromId - 1 });
    expect(items.every((r) => Number.isSafeInteger(r.data.first_trade_id) && r.data.last_trade_id! >= r.data.first_trade_id!)).toBe(true);
    expect(items.some((r) => r.data.last_trade_id! > r.data.first_trade_id!)).toBe(true); // 1–4 fills, not all single
    const binance = (await pool.ready('binance')) as unknown as { publicGetKlines: (r: object) => Promise<unknown[][]> };
    const klines = await binance.publicGetKlines({ symbol: 'ETHUSDT', interval: '1m', startTime: minute, limit: 2 });
    expect(klines).toHaveLength(2);
    for (const k of klines) {
      const open = Number(k[0]);
      const inMinute = items.filter((r) => r.ts >= open && r.ts < open + 60_000);
      expect(inMinute.length).toBeGreaterThan(200);
      expect(inMinute.reduce((n, r) => n + r.data.last_trade_id! - r.data.first_trade_id! + 1, 0), `trades of ${open}`).toBe(Number(k[8]));
      const steps = inMinute.reduce((n, r) => n + Math.round(r.data.amount / spec.stepSize), 0);
      expect((steps * spec.stepSize).toFixed(4), `volume of ${open}`).toBe(k[5]);
    }
  });

  it('keeps an aggregate id served twice with other fills as its own record and audits collector.trade.conflict', async () => {
    emulator.faults.set({ duplicateAggId: { ratio: 1 } });
    clockMs += 120_000; // ids no earlier test asked for, so the served log holds only this answer's records
    const last = emulator.lastTradeId(symbol);
    const after = last - 300;
    const { items, events } = await drain('binance', symbol, { ...emptyCursor(1, 't'), last_id: after });
    const served = emulator.served!.of('binance', 'ETHUSDT');
    const multiFill = Array.from({ length: 300 }, (_, i) => emulator.model.aggTrade(spec, after + 1 + i)).filter((t) => t.l > t.f && Math.round(Number(t.q) / spec.stepSize) >= 2); // what the switch can split
    expect(multiFill.length).toBeGreaterThan(50);
    // Every record served for these ids is stored, exactly once; the repeats were not dropped.
    const storedKeys = items.map((r) => aggregateKey({ a: Number(r.data.id), f: r.data.first_trade_id!, l: r.data.last_trade_id! }));
    expect(new Set(storedKeys).size).toBe(storedKeys.length);
    const servedHere = [...served.keys()].filter((k) => Number(k.split(':')[0]) > after && Number(k.split(':')[0]) <= last);
    expect(storedKeys.sort()).toEqual(servedHere.sort());
    expect(items).toHaveLength(300 + multiFill.length);
    const conflicts = events.filter((e) => e.event === 'collector.trade.conflict');
    expect(conflicts).toHaveLength(multiFill.length);
    expect(conflicts.every((e) => e.payload['kind'] === 'aggregate_id_repeated')).toBe(true);
    expect(new Set(conflicts.map((e) => e.payload['id']))).toEqual(new Set(multiFill.map((t) => t.a)));
  });

  it('audits a fill served under two aggregate ids and keeps both aggregates', async () => {
    emulator.faults.set({ duplicateFill: { ratio: 0.2 } });
    const last = emulator.lastTradeId(symbol);
    const after = last - 300;
    const { items, events, cursor } = await drain('binance', symbol, { ...emptyCursor(1, 't'), last_id: after });
    expect(items.map((r) => Number(r.data.id))).toEqual(Array.from({ length: 300 }, (_, i) => after + 1 + i));
    // Which aggregates share a fill with their predecessor, read from what was stored.
    const byId = new Map(items.map((r) => [Number(r.data.id), r.data]));
    const shared = items.filter((r) => byId.has(Number(r.data.id) - 1) && r.data.first_trade_id! <= byId.get(Number(r.data.id) - 1)!.last_trade_id!);
    expect(shared.length).toBeGreaterThan(20);
    const conflicts = events.filter((e) => e.event === 'collector.trade.conflict' && e.payload['kind'] === 'fill_repeated');
    expect(conflicts.map((e) => e.payload['id']).sort()).toEqual(shared.map((r) => Number(r.data.id)).sort());
    expect(conflicts.every((e) => e.payload['also_in_aggregate'] === Number(e.payload['id']) - 1)).toBe(true);
    expect(cursor.last_fill_id).toBe(items.at(-1)!.data.last_trade_id);
  });
});

describe('big gaps', () => {
  it('computes holes in O(holes): a 500-million-id range with a few ids takes milliseconds', () => {
    const collected = new Map<number, unknown>([[1000, 1], [250_000_000, 1], [500_000_000, 1]]);
    const started = performance.now();
    const got = holes(collected, 1, 500_000_000);
    expect(performance.now() - started).toBeLessThan(50);
    expect(got).toEqual([{ from: 1, to: 999 }, { from: 1001, to: 249_999_999 }, { from: 250_000_001, to: 499_999_999 }]);
  });

  it('declares a range the exchange answers past unfillable at once, in one tick and a few requests', async () => {
    const symbol = 'ETH/USDT';
    emulator.faults.set({ shortHistory: { keepSeconds: 120 } });
    const requestsBefore = Number((await (await fetch(`${emulator.url}/admin/state`)).json()).requests['aggTrades'] ?? 0);
    const started = performance.now();
    const got = await fetchOnce('binance', symbol, { ...emptyCursor(1, 't'), last_id: 1000 });
    const elapsed = performance.now() - started;
    const requests = Number((await (await fetch(`${emulator.url}/admin/state`)).json()).requests['aggTrades']) - requestsBefore;
    const floorId = emulator.model.firstTradeIdAtOrAfter(SYMBOLS[1]!, clockMs - 120_000);
    expect(floorId).toBeGreaterThan(100_000_000);
    expect(got.events.map((e) => [e.event, e.payload['from'], e.payload['to'], e.payload['reason']])).toEqual([
      ['collector.gap.detected', 1001, floorId - 1, undefined],
      ['collector.gap.unfillable', 1001, floorId - 1, 'not_served'],
    ]);
    expect(got.cursor!.gaps).toEqual([]);
    expect(got.cursor!.last_id).toBe(emulator.lastTradeId(symbol));
    expect(requests).toBe(2); // the newest page, then one back-fill request answered past the gap
    expect(elapsed).toBeLessThan(5_000);
    expect(got.notes.some((n) => n.startsWith('unfillable gap') && n.includes('no longer served'))).toBe(true);
  });
});

describe('Kraken: paged by time at whole seconds, with its own cursor', () => {
  const symbol = 'BTC/USDT';

  it('pages by the `last` cursor through seconds holding more than a page, every id once, no gap', async () => {
    const first = await fetchOnce('kraken', symbol, emptyCursor(1, 't'));
    const after = Number((first.items.at(-1) as TradeRecord).data.id);
    expect(first.cursor!.page_cursor).toMatch(/^\d{19}$/);
    clockMs += 2_000; // 6,000 trades in two seconds, 1,000 a page
    try {
      const { items, events, problems, cursor } = await drain('kraken', symbol, first.cursor!);
      expect(cursor.last_id).toBe(emulator.lastTradeId(symbol));
      const account = accountFor(symbol, after, cursor.last_id!, items, events);
      expect(account).toEqual({ stored: 6000, inSuspected: 0, missing: [], repeated: [] });
      expect(events).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      clockMs += 1;
    }
  });

  it('a full page that cannot move forward (cursor read at whole seconds) is collector.gap.suspected, not ok, and moves on', async () => {
    const first = await fetchOnce('kraken', symbol, emptyCursor(1, 't'));
    const after = first.cursor!.last_id!;
    emulator.faults.set({ coarseSince: {} });
    clockMs += 3_000;
    const { items, events, problems, cursor } = await drain('kraken', symbol, first.cursor!, 12);
    const suspected = events.filter((e) => e.event === 'collector.gap.suspected');
    expect(suspected.length).toBeGreaterThan(0);
    expect(suspected[0]!.payload).toMatchObject({ from_ts: first.cursor!.last_ts, reason: 'a full page cannot move forward' });
    expect(problems).toContain('gap_suspected');
    // Not stuck: the cursor went on to the newest second, and nothing is missing without an event.
    expect(cursor.last_ts).toBeGreaterThanOrEqual(Math.floor(clockMs / 1000) * 1000);
    const account = accountFor(symbol, after, emulator.lastTradeId(symbol), items, events);
    expect(account.missing).toEqual([]);
    expect(account.repeated).toEqual([]);
    expect(account.inSuspected).toBeGreaterThan(0);
  });

  it('an answer that ignores the cursor (the newest page) is collector.gap.suspected covering what was skipped', async () => {
    const first = await fetchOnce('kraken', symbol, emptyCursor(1, 't'));
    const after = first.cursor!.last_id!;
    emulator.faults.set({ ignoreSince: { ratio: 1 } });
    clockMs += 2_000;
    const got = await fetchOnce('kraken', symbol, first.cursor!);
    expect(got.problem?.cause).toBe('gap_suspected');
    const account = accountFor(symbol, after, got.cursor!.last_id!, got.items as TradeRecord[], got.events);
    expect(account).toMatchObject({ stored: 1000, missing: [], repeated: [] });
    expect(account.inSuspected).toBe(5000);
  });
});

describe('OKX: only recent trades, no history', () => {
  const symbol = 'ETH/USDT';

  it('a trade missing inside the very first page is collector.gap.suspected (it is never asked for again)', async () => {
    clockMs += 1_000_000; // a page no earlier test was served
    emulator.faults.set({ dropTrades: { ratio: 0.02, permanent: false }, endpoints: ['okx/market/trades'] });
    const first = await fetchOnce('okx', symbol, emptyCursor(1, 't'));
    const ids = (first.items as TradeRecord[]).map((r) => Number(r.data.id));
    const newest = Math.max(...ids);
    const skipped = Array.from({ length: 500 }, (_, i) => newest - 499 + i).filter((id) => id >= Math.min(...ids) && !ids.includes(id));
    expect(skipped.length).toBeGreaterThan(0);
    expect(first.problem?.cause).toBe('gap_suspected');
    expect(accountFor(symbol, Math.min(...ids) - 1, newest, first.items as TradeRecord[], first.events)).toMatchObject({ inSuspected: skipped.length, missing: [] });
  });

  it('stores what the newest page overlaps, and a page that no longer reaches the cursor is collector.gap.suspected', async () => {
    const first = await fetchOnce('okx', symbol, emptyCursor(1, 't'));
    expect(first.items).toHaveLength(500); // OKX serves at most 500
    const after = first.cursor!.last_id!;
    clockMs += 30_000; // 150 trades: inside one page
    const quiet = await fetchOnce('okx', symbol, first.cursor!);
    expect(quiet.events).toEqual([]);
    expect(quiet.problem).toBeUndefined();
    expect(accountFor(symbol, after, quiet.cursor!.last_id!, quiet.items as TradeRecord[], [])).toEqual({ stored: 150, inSuspected: 0, missing: [], repeated: [] });
    clockMs += 200_000; // 1,000 trades: twice what one answer holds
    const behind = await fetchOnce('okx', symbol, quiet.cursor!);
    expect(behind.problem?.cause).toBe('gap_suspected');
    expect(behind.events.map((e) => e.event)).toEqual(['collector.gap.suspected']);
    expect(accountFor(symbol, quiet.cursor!.last_id!, behind.cursor!.last_id!, behind.items as TradeRecord[], behind.events)).toEqual({
      stored: 500,
      inSuspected: 500,
      missing: [],
      repeated: [],
    });
  });
});

describe('any other exchange: paged by `since`, de-duplicated by the ids at the cursor time', () => {
  /** The real ccxt kraken class under another id: an exchange the collector knows no cursor or sequential ids for. */
  const timePaged = async () => {
    const kraken = await pool.ready('kraken');
    return Object.assign(Object.create(kraken) as typeof kraken, { id: 'timepaged' });
  };
  const fetchSince = async (symbol: string, cursor: Cursor): Promise<StreamFetch> =>
    fetchTradesStream({
      exchange: await timePaged(),
      task: { exchange: 'timepaged', topic: 'trades', symbol, everyMs: 1000, depth: 0, timeframe: '1m' },
      now: () => clockMs,
      cursor,
      deadlineMonotonicMs: performance.now() + 30_000,
      monotonicMs: () => performance.now(),
      pageLimit: 1000,
      maxPages: 3,
    });

  it('overlapping answers store every trade once; an answer that ignores `since` is collector.gap.suspected', async () => {
    const symbol = 'ETH/USDT';
    const first = await fetchSince(symbol, emptyCursor(1, 't'));
    expect(first.cursor!.last_id).toBeNull(); // ids are not taken as sequential here
    const after = Number((first.items.at(-1) as TradeRecord).data.id);
    clockMs += 30_000;
    const quiet = await fetchSince(symbol, first.cursor!);
    expect(quiet.events).toEqual([]);
    const upTo = Number((quiet.items.at(-1) as TradeRecord).data.id);
    expect(accountFor(symbol, after, upTo, quiet.items as TradeRecord[], [])).toEqual({ stored: 150, inSuspected: 0, missing: [], repeated: [] });

    emulator.faults.set({ ignoreSince: { ratio: 1 } });
    clockMs += 300_000; // 1,500 trades; the exchange answers only its newest 1,000
    const ignored = await fetchSince(symbol, quiet.cursor!);
    expect(ignored.problem?.cause).toBe('gap_suspected');
    expect(ignored.events.map((e) => [e.event, e.payload['reason']])).toEqual([['collector.gap.suspected', 'answer does not overlap the cursor']]);
    expect(accountFor(symbol, upTo, emulator.lastTradeId(symbol), ignored.items as TradeRecord[], ignored.events)).toEqual({
      stored: 1000,
      inSuspected: 500,
      missing: [],
      repeated: [],
    });
  });

  it('more than a page inside one `since` step is collector.gap.suspected and the cursor moves on', async () => {
    const symbol = 'BTC/USDT'; // 3,000 trades a second; ccxt sends Kraken's since in whole seconds
    const first = await fetchSince(symbol, emptyCursor(1, 't'));
    const after = Number((first.items.at(-1) as TradeRecord).data.id);
    clockMs += 2_000;
    const got = await fetchSince(symbol, first.cursor!);
    expect(got.problem?.cause).toBe('gap_suspected');
    // ccxt drops the trades before `since` from the stuck page, so it looks empty; the newest page shows trades exist after the cursor.
    expect(got.events.map((e) => e.payload['reason'])).toEqual(['`since` brought nothing newer and the newest page does not reach the cursor']);
    expect(got.events[0]!.payload).toMatchObject({ from_ts: first.cursor!.last_ts });
    expect(got.cursor!.last_ts).toBeGreaterThan(first.cursor!.last_ts!);
    const next = await fetchSince(symbol, got.cursor!);
    const items = [...(got.items as TradeRecord[]), ...(next.items as TradeRecord[])];
    const account = accountFor(symbol, after, Number(items.at(-1)!.data.id), items, [...got.events, ...next.events]);
    expect(account.missing).toEqual([]);
    expect(account.repeated).toEqual([]);
    expect(account.stored).toBeGreaterThan(0);
  });
});
