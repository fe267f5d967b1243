// runtime/collector/trades.ts
// Trades without holes or repeats: page from the last stored id, de-duplicate, detect id jumps and back-fill them.

import type { Exchange, Trade } from 'ccxt';
import { BadData } from './errors.ts';
import type { Cursor, TradeGap } from './cursors.ts';
import { csv, type FetchContext, type StreamFetch } from './topics.ts';

/** Back-fill attempts (one per tick) before a gap is declared unfillable. */
export const GAP_MAX_ATTEMPTS = 5;
/** Trades shown in the latest CSV. */
const LATEST_TRADES = 50;

interface NormalTrade {
  id: number | string;
  ts: number;
  data: { id: string; price: number; amount: number; cost: number | null; side: string | null };
}

/** Exchanges whose trade ids are sequential and can be paged by id (ccxt passes the param through). */
export function idPagingParam(exchange: Exchange): string | null {
  return exchange.id.startsWith('binance') ? 'fromId' : null;
}

function normalise(trades: Trade[], symbol: string, numericIds: boolean): NormalTrade[] {
  return trades.map((t) => {
    const id = numericIds ? Number(t.id) : String(t.id);
    if (t.id === undefined || (numericIds && !Number.isSafeInteger(id))) throw new BadData(`trades ${symbol}: trade without a usable id (${String(t.id)})`);
    if (!Number.isFinite(t.price) || !Number.isFinite(t.amount) || !Number.isFinite(t.timestamp)) {
      throw new BadData(`trades ${symbol}: trade ${t.id} has no price, amount or time`);
    }
    return {
      id,
      ts: t.timestamp!,
      data: { id: String(t.id), price: t.price as number, amount: t.amount!, cost: Number.isFinite(t.cost) ? t.cost! : null, side: t.side ?? null },
    };
  });
}

type RawEndpoint = (request: Record<string, unknown>) => Promise<unknown>;

/**
 * Binance-format spot markets: ccxt's implicit `publicGetAggTrades` (the same HTTP client, rate
 * limiter and error mapping as fetchTrades). ccxt's unified parseTrades costs ~35 µs a trade, which
 * alone would cap a 2-core PC below 20,000 trades/s; the five aggTrade fields are read here instead.
 */
function aggTradesEndpoint(exchange: Exchange, symbol: string): RawEndpoint | null {
  const endpoint = (exchange as unknown as { publicGetAggTrades?: RawEndpoint }).publicGetAggTrades;
  return typeof endpoint === 'function' && exchange.market(symbol).spot ? endpoint.bind(exchange) : null;
}

/** Binance aggTrade `{ a: id, p: price, q: qty, T: time, m: buyer is maker }` → the normalised trade. */
function parseAggTrades(raw: unknown, symbol: string): NormalTrade[] {
  if (!Array.isArray(raw)) throw new BadData(`trades ${symbol}: expected a list of aggTrades, got ${typeof raw}`);
  return raw.map((t: { a?: unknown; p?: unknown; q?: unknown; T?: unknown; m?: unknown }) => {
    const id = Number(t?.a);
    const price = Number(t?.p);
    const amount = Number(t?.q);
    const ts = Number(t?.T);
    if (!Number.isSafeInteger(id)) throw new BadData(`trades ${symbol}: aggTrade without a usable id (${String(t?.a)})`);
    if (!Number.isFinite(price) || !Number.isFinite(amount) || !Number.isFinite(ts)) throw new BadData(`trades ${symbol}: aggTrade ${id} has no price, amount or time`);
    // The buyer was the maker: the taker sold.
    return { id, ts, data: { id: String(id), price, amount, cost: price * amount, side: t.m === true ? 'sell' : 'buy' } };
  });
}

export async function fetchTradesStream(fc: FetchContext): Promise<StreamFetch> {
  return idPagingParam(fc.exchange) ? fetchBySequentialId(fc, idPagingParam(fc.exchange)!) : fetchBySince(fc);
}

async function fetchBySequentialId(fc: FetchContext, param: string): Promise<StreamFetch> {
  const { exchange, task, pageLimit, maxPages } = fc;
  const next = structuredClone(fc.cursor);
  const collected = new Map<number, NormalTrade>();
  const result: StreamFetch = { items: [], latestCsv: null, notes: [], events: [] };
  const gapPayload = (g: { from: number; to: number }) => ({ exchange: task.exchange, symbol: task.symbol, from: g.from, to: g.to, count: g.to - g.from + 1 });
  let pages = 0;
  const aggTrades = aggTradesEndpoint(exchange, task.symbol);
  const page = async (fromId: number | undefined, limit: number) => {
    pages++;
    const params = fromId === undefined ? {} : { [param]: fromId };
    const trades = aggTrades
      ? parseAggTrades(await aggTrades({ symbol: exchange.market(task.symbol).id, limit, ...params }), task.symbol)
      : normalise(await exchange.fetchTrades(task.symbol, undefined, limit, params), task.symbol, true);
    return trades.sort((a, b) => Number(a.id) - Number(b.id));
  };
  const budgetLeft = () => pages < maxPages && fc.monotonicMs() < fc.deadlineMonotonicMs;

  // Walk forward from the last stored id; a jump in ids is a gap.
  let expected = next.last_id === null ? null : next.last_id + 1;
  let behind = false;
  do {
    const from = expected ?? undefined;
    const trades = await page(from, pageLimit);
    for (const t of trades) {
      const id = Number(t.id);
      if (expected !== null && id < expected) continue;
      if (expected !== null && id > expected) {
        const gap: TradeGap = { from: expected, to: id - 1, detected_at: fc.now(), attempts: 0 };
        next.gaps.push(gap);
        result.events.push({ event: 'collector.gap.detected', payload: gapPayload(gap) });
      }
      collected.set(id, t);
      expected = id + 1;
    }
    // A full id window means more trades are waiting (first fetch: only the newest page is taken).
    behind = from !== undefined && trades.length > 0 && Number(trades[trades.length - 1]!.id) >= from + pageLimit - 1;
  } while (behind && budgetLeft());
  if (behind) result.notes.push(`catching up: ${pages} pages this tick, more waiting`);

  // Back-fill open gaps (new and older ones) by paging the history.
  const stillOpen: TradeGap[] = [];
  for (const gap of next.gaps) {
    // Ask for the gap window by window; ids a window did not bring stay missing for the next tick.
    let windowFrom = gap.from;
    while (windowFrom <= gap.to && budgetLeft()) {
      const limit = Math.min(pageLimit, gap.to - windowFrom + 1);
      const got = await page(windowFrom, limit);
      for (const t of got) if (Number(t.id) >= gap.from && Number(t.id) <= gap.to) collected.set(Number(t.id), t);
      windowFrom += limit;
    }
    const missing = holes(collected, gap.from, gap.to);
    if (missing.length === 0) {
      result.events.push({ event: 'collector.gap.filled', payload: { ...gapPayload(gap), attempts: gap.attempts + 1 } });
      continue;
    }
    for (const m of missing) {
      // Only ranges actually asked for this tick count as an attempt.
      const left: TradeGap = { ...m, detected_at: gap.detected_at, attempts: gap.attempts + (m.from < windowFrom ? 1 : 0) };
      if (left.attempts >= GAP_MAX_ATTEMPTS) {
        result.events.push({ event: 'collector.gap.unfillable', payload: { ...gapPayload(left), attempts: left.attempts } });
        result.notes.push(`unfillable gap: ids ${left.from}–${left.to} (${left.to - left.from + 1} trades) not served after ${left.attempts} attempts`);
      } else stillOpen.push(left);
    }
  }
  next.gaps = stillOpen;
  if (stillOpen.length) result.notes.push(`back-filling ${stillOpen.length} gap(s): ${stillOpen.map((g) => `${g.from}–${g.to}`).join(', ')}`);

  const ordered = [...collected.values()].sort((a, b) => Number(a.id) - Number(b.id));
  if (ordered.length) {
    const newest = ordered.reduce((a, b) => (Number(b.id) > Number(a.id) ? b : a));
    if (next.last_id === null || Number(newest.id) > next.last_id) {
      next.last_id = Number(newest.id);
      next.last_ts = newest.ts;
    }
  }
  result.items = ordered.map((t) => ({ ts: t.ts, data: t.data }));
  result.cursor = next;
  result.latestCsv = latestTradesCsv(ordered);
  return result;
}

/** Missing id ranges of [from, to] given what was collected. */
function holes(collected: Map<number, unknown>, from: number, to: number): Array<{ from: number; to: number }> {
  const out: Array<{ from: number; to: number }> = [];
  let start: number | null = null;
  for (let id = from; id <= to; id++) {
    if (!collected.has(id)) start ??= id;
    else if (start !== null) {
      out.push({ from: start, to: id - 1 });
      start = null;
    }
  }
  if (start !== null) out.push({ from: start, to });
  return out;
}

/** Exchanges without sequential ids: page by time, de-duplicate at the boundary with the ids seen at the last time. */
async function fetchBySince(fc: FetchContext): Promise<StreamFetch> {
  const { exchange, task, pageLimit } = fc;
  const next: Cursor = structuredClone(fc.cursor);
  const collected: NormalTrade[] = [];
  let pages = 0;
  for (;;) {
    const raw = await exchange.fetchTrades(task.symbol, next.last_ts ?? undefined, pageLimit);
    pages++;
    const trades = normalise(raw, task.symbol, false).sort((a, b) => a.ts - b.ts);
    const fresh = trades.filter((t) => next.last_ts === null || t.ts > next.last_ts || (t.ts === next.last_ts && !next.ids_at_last_ts.includes(String(t.id))));
    for (const t of fresh) {
      if (next.last_ts === null || t.ts > next.last_ts) {
        next.last_ts = t.ts;
        next.ids_at_last_ts = [];
      }
      next.ids_at_last_ts.push(String(t.id));
      collected.push(t);
    }
    if (trades.length < pageLimit || fresh.length === 0 || pages >= fc.maxPages || fc.monotonicMs() >= fc.deadlineMonotonicMs) break;
  }
  return {
    items: collected.map((t) => ({ ts: t.ts, data: t.data })),
    latestCsv: latestTradesCsv(collected),
    cursor: next,
    notes: [],
    events: [],
  };
}

function latestTradesCsv(trades: NormalTrade[]): string | null {
  if (!trades.length) return null;
  return csv(
    ['ts', 'id', 'price', 'amount', 'cost', 'side'],
    trades.slice(-LATEST_TRADES).map((t) => [t.ts, t.data.id, t.data.price, t.data.amount, t.data.cost, t.data.side]),
  );
}
