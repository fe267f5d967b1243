// runtime/collector/trades.ts
// Trades without holes or repeats: page by id, by the exchange's cursor or by time; de-duplicate; audit what cannot be stored exactly once.

import type { Exchange, Trade } from 'ccxt';
import { BadData } from './errors.ts';
import type { Cursor, TradeGap } from './cursors.ts';
import { csv, type FetchContext, type StreamFetch } from './topics.ts';

/** Back-fill attempts (one per tick) before a gap is declared unfillable. */
export const GAP_MAX_ATTEMPTS = 5;
/** Trades shown in the latest CSV. */
const LATEST_TRADES = 50;
/** The coarsest `since` resolution among the time-paged exchanges (Kraken: whole seconds), ms. */
const SINCE_RESOLUTION_MS = 1_000;

interface TradeData {
  id: string;
  price: number;
  amount: number;
  cost: number | null;
  side: string | null;
  /** An aggregate trade's fills (Binance `f`..`l`): real trades first_trade_id..last_trade_id. */
  first_trade_id?: number;
  last_trade_id?: number;
}

interface NormalTrade {
  id: number | string;
  ts: number;
  data: TradeData;
}

/**
 * How an exchange's trades are paged (docs/collector.md, "Paging methods"):
 * `id` — sequential ids, `fromId` (the Binance family); `cursor` — the exchange's own cursor from
 * its previous answer (Kraken's `last`); `recent` — only the newest page is served, no history
 * (ccxt's okx and bybit fetchTrades); `since` — by time from the last stored trade time.
 */
export type PagingMethod = 'id' | 'cursor' | 'recent' | 'since';

/** Exchanges whose ccxt fetchTrades calls a recent-trades endpoint that ignores `since`. */
const RECENT_ONLY = new Set(['okx', 'bybit']);
/**
 * Most trades one answer can hold, where it is below `tradesPageLimit`: OKX `GET /api/v5/market/trades`
 * (at most 500), Bybit `GET /v5/market/recent-trade` for spot (at most 60) — from their API docs.
 */
const PAGE_MAX: Record<string, number> = { okx: 500, bybit: 60 };
/** Time-paged exchanges whose trade ids are sequential numbers: a jump in ids is a hole. */
const SEQUENTIAL_IDS = new Set(['kraken', 'okx']);

export function pagingMethodOf(exchange: Exchange): PagingMethod {
  if (exchange.id.startsWith('binance')) return 'id';
  if (exchange.id === 'kraken') return 'cursor';
  if (RECENT_ONLY.has(exchange.id)) return 'recent';
  return 'since';
}

/** Exchanges whose trade ids are sequential and can be paged by id (ccxt passes the param through). */
export function idPagingParam(exchange: Exchange): string | null {
  return pagingMethodOf(exchange) === 'id' ? 'fromId' : null;
}

const finiteInt = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && v !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
};

function normalise(trades: Trade[], symbol: string, numericIds: boolean): NormalTrade[] {
  return trades.map((t) => {
    const id = numericIds ? Number(t.id) : String(t.id);
    if (t.id === undefined || (numericIds && !Number.isSafeInteger(id))) throw new BadData(`trades ${symbol}: trade without a usable id (${String(t.id)})`);
    if (!Number.isFinite(t.price) || !Number.isFinite(t.amount) || !Number.isFinite(t.timestamp)) {
      throw new BadData(`trades ${symbol}: trade ${t.id} has no price, amount or time`);
    }
    const data: TradeData = { id: String(t.id), price: t.price as number, amount: t.amount!, cost: Number.isFinite(t.cost) ? t.cost! : null, side: t.side ?? null };
    // ccxt's info of a Binance aggregate trade carries its fills.
    const info = t.info as { f?: unknown; l?: unknown } | undefined;
    const first = finiteInt(info?.f);
    const last = finiteInt(info?.l);
    if (first !== undefined && last !== undefined) Object.assign(data, { first_trade_id: first, last_trade_id: last });
    return { id, ts: t.timestamp!, data };
  });
}

type RawEndpoint = (request: Record<string, unknown>) => Promise<unknown>;

/**
 * Binance-format spot markets: ccxt's implicit `publicGetAggTrades` (the same HTTP client, rate
 * limiter and error mapping as fetchTrades). ccxt's unified parseTrades costs ~35 µs a trade, which
 * alone would cap a 2-core PC below 20,000 trades/s; the aggTrade fields are read here instead.
 */
function aggTradesEndpoint(exchange: Exchange, symbol: string): RawEndpoint | null {
  const endpoint = (exchange as unknown as { publicGetAggTrades?: RawEndpoint }).publicGetAggTrades;
  return typeof endpoint === 'function' && exchange.market(symbol).spot ? endpoint.bind(exchange) : null;
}

/** Binance aggTrade `{ a: id, p: price, q: qty, f: first fill, l: last fill, T: time, m: buyer is maker }` → the normalised trade. */
function parseAggTrades(raw: unknown, symbol: string): NormalTrade[] {
  if (!Array.isArray(raw)) throw new BadData(`trades ${symbol}: expected a list of aggTrades, got ${typeof raw}`);
  return raw.map((t: { a?: unknown; p?: unknown; q?: unknown; f?: unknown; l?: unknown; T?: unknown; m?: unknown }) => {
    const id = Number(t?.a);
    const price = Number(t?.p);
    const amount = Number(t?.q);
    const ts = Number(t?.T);
    const first = finiteInt(t?.f);
    const last = finiteInt(t?.l);
    if (!Number.isSafeInteger(id)) throw new BadData(`trades ${symbol}: aggTrade without a usable id (${String(t?.a)})`);
    if (!Number.isFinite(price) || !Number.isFinite(amount) || !Number.isFinite(ts)) throw new BadData(`trades ${symbol}: aggTrade ${id} has no price, amount or time`);
    if (first === undefined || last === undefined || last < first) throw new BadData(`trades ${symbol}: aggTrade ${id} has no usable fills (f ${String(t?.f)}, l ${String(t?.l)})`);
    // The buyer was the maker: the taker sold.
    const data: TradeData = { id: String(id), price, amount, cost: price * amount, side: t.m === true ? 'sell' : 'buy', first_trade_id: first, last_trade_id: last };
    return { id, ts, data };
  });
}

export async function fetchTradesStream(fc: FetchContext): Promise<StreamFetch> {
  const method = pagingMethodOf(fc.exchange);
  return method === 'id' ? fetchBySequentialId(fc, 'fromId') : fetchByTime(fc, method);
}

/** Same record: same time and the same data (price, amount, side, fills). */
const sameTrade = (a: NormalTrade, b: NormalTrade) => a.ts === b.ts && JSON.stringify(a.data) === JSON.stringify(b.data);

async function fetchBySequentialId(fc: FetchContext, param: string): Promise<StreamFetch> {
  const { exchange, task, pageLimit, maxPages } = fc;
  const next = structuredClone(fc.cursor);
  const collected = new Map<number, NormalTrade>();
  /** Records that repeat a collected id with other content: kept, each as its own record. */
  const repeats: NormalTrade[] = [];
  const result: StreamFetch = { items: [], latestCsv: null, notes: [], events: [] };
  const base = { exchange: task.exchange, symbol: task.symbol };
  const gapPayload = (g: { from: number; to: number }) => ({ ...base, from: g.from, to: g.to, count: g.to - g.from + 1 });
  const conflict = (kind: string, t: NormalTrade, extra: Record<string, unknown>) =>
    result.events.push({ event: 'collector.trade.conflict', payload: { ...base, kind, id: Number(t.id), ts: t.ts, data: t.data, ...extra } });
  let pages = 0;
  const aggTrades = aggTradesEndpoint(exchange, task.symbol);
  const page = async (fromId: number | undefined, limit: number) => {
    pages++;
    const params = fromId === undefined ? {} : { [param]: fromId };
    const trades = aggTrades
      ? parseAggTrades(await aggTrades({ symbol: exchange.market(task.symbol).id, limit, ...params }), task.symbol)
      : normalise(await exchange.fetchTrades(task.symbol, undefined, limit, params), task.symbol, true);
    // Stable: two records of one id keep the exchange's order.
    return trades.sort((a, b) => Number(a.id) - Number(b.id));
  };
  const budgetLeft = () => pages < maxPages && fc.monotonicMs() < fc.deadlineMonotonicMs;
  /** Takes a trade; an id already collected with other content is kept as its own record and audited. */
  const take = (t: NormalTrade): boolean => {
    const id = Number(t.id);
    const held = collected.get(id);
    if (!held) {
      collected.set(id, t);
      return true;
    }
    if (sameTrade(held, t) || repeats.some((r) => Number(r.id) === id && sameTrade(r, t))) return false;
    repeats.push(t);
    conflict('aggregate_id_repeated', t, { first_seen: held.data });
    return true;
  };
  // A fill (real trade id) at or below the newest fill already taken belongs to two aggregates.
  let lastFill = next.last_fill_id;
  let lastFillAggregate: number | null = next.last_id;
  const checkFills = (t: NormalTrade) => {
    const { first_trade_id: f, last_trade_id: l } = t.data;
    if (f === undefined || l === undefined) return;
    if (lastFill !== null && f <= lastFill && lastFillAggregate !== Number(t.id)) {
      conflict('fill_repeated', t, { fills: [f, Math.min(l, lastFill)], also_in_aggregate: lastFillAggregate });
    }
    if (lastFill === null || l > lastFill) {
      lastFill = l;
      lastFillAggregate = Number(t.id);
    }
  };

  // Walk forward from the last stored id; a jump in ids is a gap.
  let expected = next.last_id === null ? null : next.last_id + 1;
  let behind = false;
  do {
    const from = expected ?? undefined;
    const trades = await page(from, pageLimit);
    for (const t of trades) {
      const id = Number(t.id);
      if (expected !== null && id < expected) {
        // An id already passed: a repeat of one taken this tick is compared; an older one cannot be and is audited.
        if (collected.has(id)) {
          if (take(t)) checkFills(t);
        } else conflict('before_cursor', t, { cursor_last_id: expected - 1 });
        continue;
      }
      if (expected !== null && id > expected) {
        const gap: TradeGap = { from: expected, to: id - 1, detected_at: fc.now(), attempts: 0 };
        next.gaps.push(gap);
        result.events.push({ event: 'collector.gap.detected', payload: gapPayload(gap) });
      }
      take(t);
      checkFills(t);
      expected = id + 1;
    }
    // A full id window means more trades are waiting (first fetch: only the newest page is taken).
    // (A page that jumped ahead counts its window from its own first id.)
    behind = from !== undefined && trades.length > 0 && (trades.length >= pageLimit || Number(trades[trades.length - 1]!.id) >= Number(trades[0]!.id) + pageLimit - 1);
  } while (behind && budgetLeft());
  if (behind) result.notes.push(`catching up: ${pages} pages this tick, more waiting`);

  // Back-fill open gaps (new and older ones) by paging the history. Bookkeeping costs O(holes):
  // a gap of hundreds of millions of ids is two numbers, and a range the exchange answers past
  // (it no longer serves that history) is declared unfillable at once.
  // One back-fill request per tick is always made, so catching up never starves the gaps.
  const stillOpen: TradeGap[] = [];
  let backFillAsked = false;
  for (const gap of next.gaps) {
    let windowFrom = gap.from;
    /** Ids up to here were answered past: the exchange served a later id for a fromId at or below them. */
    let answeredPastTo = gap.from - 1;
    while (windowFrom <= gap.to && (budgetLeft() || !backFillAsked)) {
      backFillAsked = true;
      const limit = Math.min(pageLimit, gap.to - windowFrom + 1);
      const got = await page(windowFrom, limit);
      for (const t of got) if (Number(t.id) >= gap.from && Number(t.id) <= gap.to) take(t);
      const firstServed = got.length ? Number(got[0]!.id) : Infinity;
      if (firstServed > windowFrom) {
        answeredPastTo = Math.min(gap.to, firstServed - 1);
        windowFrom = answeredPastTo + 1;
      } else windowFrom += limit;
    }
    const missing = holes(collected, gap.from, gap.to);
    if (missing.length === 0) {
      result.events.push({ event: 'collector.gap.filled', payload: { ...gapPayload(gap), attempts: gap.attempts + 1 } });
      continue;
    }
    for (const m of missing) {
      // Only ranges actually asked for this tick count as an attempt.
      const left: TradeGap = { ...m, detected_at: gap.detected_at, attempts: gap.attempts + (m.from < windowFrom ? 1 : 0) };
      const notServed = left.to <= answeredPastTo;
      if (notServed || left.attempts >= GAP_MAX_ATTEMPTS) {
        const reason = notServed ? 'not_served' : 'attempts';
        result.events.push({ event: 'collector.gap.unfillable', payload: { ...gapPayload(left), attempts: left.attempts, reason } });
        result.notes.push(
          `unfillable gap: ids ${left.from}–${left.to} (${left.to - left.from + 1} trades) ${notServed ? 'no longer served by the exchange' : `not served after ${left.attempts} attempts`}`,
        );
      } else stillOpen.push(left);
    }
  }
  next.gaps = stillOpen;
  if (stillOpen.length) result.notes.push(`back-filling ${stillOpen.length} gap(s): ${stillOpen.map((g) => `${g.from}–${g.to}`).join(', ')}`);

  const ordered = [...collected.values(), ...repeats].sort((a, b) => Number(a.id) - Number(b.id));
  if (collected.size) {
    let newest: NormalTrade | null = null;
    for (const t of collected.values()) if (newest === null || Number(t.id) > Number(newest.id)) newest = t;
    if (next.last_id === null || Number(newest!.id) > next.last_id) {
      next.last_id = Number(newest!.id);
      next.last_ts = newest!.ts;
    }
  }
  if (lastFill !== null) next.last_fill_id = lastFill;
  result.items = ordered.map((t) => ({ ts: t.ts, data: t.data }));
  result.cursor = next;
  result.latestCsv = latestTradesCsv(ordered);
  return result;
}

/** Missing id ranges of [from, to] given what was collected: O(collected ids in range + holes), never O(to − from). */
export function holes(collected: Map<number, unknown>, from: number, to: number): Array<{ from: number; to: number }> {
  const present = [...collected.keys()].filter((id) => id >= from && id <= to).sort((a, b) => a - b);
  const out: Array<{ from: number; to: number }> = [];
  let expected = from;
  for (const id of present) {
    if (id > expected) out.push({ from: expected, to: id - 1 });
    expected = id + 1;
  }
  if (expected <= to) out.push({ from: expected, to });
  return out;
}

/** Kraken's `last` (ccxt appends it to the info of an answer's last trade). */
function exchangeCursorOf(raw: Trade[]): string | null {
  for (let i = raw.length - 1; i >= 0; i--) {
    const info = raw[i]!.info as unknown;
    if (Array.isArray(info) && info.length > 7 && info[7] !== undefined && info[7] !== null) return String(info[7]);
  }
  return null;
}

/**
 * Exchanges paged by time (`cursor`, `since`, `recent`). Pages overlap the cursor and are
 * de-duplicated (trades before `last_ts`, the ids stored at `last_ts`, and on exchanges with
 * sequential ids every id ≤ `last_id`). What cannot be stored exactly once is a
 * `collector.gap.suspected { from_ts, to_ts }` event, and the stream is not ok for that fetch:
 * an answer that does not overlap the cursor (an exchange that ignores `since`, or a recent-only
 * endpoint that fell behind), a jump in sequential ids, and a full page the exchange's cursor
 * cannot move past, which is skipped to the end of its second. A `since` answer with nothing new
 * is checked against the newest page (one more request): ccxt drops the trades before `since`
 * from an answer, so a page stuck inside one `since` step (more than a page of trades in one
 * second on Kraken) looks like a quiet market; the newest page either overlaps the cursor (quiet)
 * or does not (`collector.gap.suspected`, and the newest page is stored).
 */
async function fetchByTime(fc: FetchContext, method: Exclude<PagingMethod, 'id'>): Promise<StreamFetch> {
  const { exchange, task } = fc;
  const pageLimit = Math.min(fc.pageLimit, PAGE_MAX[exchange.id] ?? fc.pageLimit);
  const next: Cursor = structuredClone(fc.cursor);
  const sequential = SEQUENTIAL_IDS.has(exchange.id);
  const collected: NormalTrade[] = [];
  const result: StreamFetch = { items: [], latestCsv: null, notes: [], events: [] };
  const suspected: Array<{ from_ts: number; to_ts: number; reason: string }> = [];
  const suspect = (from_ts: number, to_ts: number, reason: string) => {
    suspected.push({ from_ts, to_ts, reason });
    result.events.push({ event: 'collector.gap.suspected', payload: { exchange: task.exchange, symbol: task.symbol, from_ts, to_ts, reason, paging: method } });
  };
  let pages = 0;
  /** Asking for the newest page: a `since` answer brought nothing new (ccxt drops trades before `since`, so a page stuck inside one `since` step looks like a quiet market). */
  let probe = false;
  for (;;) {
    const first = next.last_ts === null;
    const byExchangeCursor = method === 'cursor' && next.page_cursor !== null;
    const bySince = !(method === 'recent' || first || probe || byExchangeCursor);
    let raw: Trade[];
    if (method === 'recent' || first || probe) raw = await exchange.fetchTrades(task.symbol, undefined, pageLimit);
    else if (byExchangeCursor) raw = await exchange.fetchTrades(task.symbol, undefined, pageLimit, { since: next.page_cursor });
    // Nothing stored at last_ts (after a skip): ask past it.
    else raw = await exchange.fetchTrades(task.symbol, next.ids_at_last_ts.length ? next.last_ts! : next.last_ts! + 1, pageLimit);
    pages++;
    const trades = normalise(raw, task.symbol, false).sort((a, b) => a.ts - b.ts || compareIds(a.id, b.id));
    const answerCursor = method === 'cursor' ? exchangeCursorOf(raw) : null;
    const known = (t: NormalTrade) =>
      !first &&
      (t.ts < next.last_ts! ||
        (t.ts === next.last_ts && next.ids_at_last_ts.includes(String(t.id))) ||
        (sequential && next.last_id !== null && Number(t.id) <= next.last_id));
    const fresh = trades.filter((t) => !known(t));
    if (fresh.length && (sequential || !first)) {
      if (sequential && (first || next.last_id !== null)) {
        // Sequential ids: every id after last_id (on the first page: after its first id) must come, in order.
        const byId = [...fresh].sort((a, b) => compareIds(a.id, b.id));
        let expectedId = first ? Number(byId[0]!.id) : next.last_id! + 1;
        let prevTs = first ? byId[0]!.ts : next.last_ts!;
        for (const t of byId) {
          if (Number(t.id) > expectedId) suspect(prevTs, t.ts, `ids ${expectedId}–${Number(t.id) - 1} not served`);
          expectedId = Number(t.id) + 1;
          prevTs = t.ts;
        }
      } else if (fresh.length === trades.length && !byExchangeCursor) {
        // Asked from last_ts (inclusive), or the newest page: the trades at last_ts must come back.
        suspect(next.last_ts!, fresh[0]!.ts, probe ? '`since` brought nothing newer and the newest page does not reach the cursor' : 'answer does not overlap the cursor');
      }
    }
    for (const t of fresh) {
      if (next.last_ts === null || t.ts > next.last_ts) {
        next.last_ts = t.ts;
        next.ids_at_last_ts = [];
      }
      next.ids_at_last_ts.push(String(t.id));
      if (sequential && (next.last_id === null || Number(t.id) > next.last_id)) next.last_id = Number(t.id);
      collected.push(t);
    }
    if (method === 'cursor' && raw.length) next.page_cursor = answerCursor;
    const full = raw.length >= pageLimit;
    if (bySince && fresh.length === 0) {
      // Nothing new after last_ts: a quiet market, or a page stuck inside one `since` step. The newest page tells.
      probe = true;
      continue;
    }
    if (byExchangeCursor && full && fresh.length === 0) {
      // A full page that cannot move forward: skip to the end of the cursor's second, and say so.
      const skipTo = Math.floor(next.last_ts! / SINCE_RESOLUTION_MS) * SINCE_RESOLUTION_MS + SINCE_RESOLUTION_MS - 1;
      suspect(next.last_ts!, skipTo, 'a full page cannot move forward');
      next.last_ts = skipTo;
      next.ids_at_last_ts = [];
      next.page_cursor = null;
      break;
    }
    if (first || probe || method === 'recent' || !full || fresh.length === 0 || pages >= fc.maxPages || fc.monotonicMs() >= fc.deadlineMonotonicMs) break;
  }
  if (suspected.length) {
    const span = `${new Date(suspected[0]!.from_ts).toISOString()}–${new Date(suspected[suspected.length - 1]!.to_ts).toISOString()}`;
    result.notes.push(`suspected gap: ${suspected.length} range(s) ${span} may be missing (${suspected[0]!.reason})`);
    result.problem = { cause: 'gap_suspected', message: `${suspected.length} suspected gap(s): ${suspected.map((s) => s.reason).join('; ')}` };
  }
  result.items = collected.map((t) => ({ ts: t.ts, data: t.data }));
  result.latestCsv = latestTradesCsv(collected);
  result.cursor = next;
  return result;
}

function compareIds(a: number | string, b: number | string): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function latestTradesCsv(trades: NormalTrade[]): string | null {
  if (!trades.length) return null;
  return csv(
    ['ts', 'id', 'price', 'amount', 'cost', 'side'],
    trades.slice(-LATEST_TRADES).map((t) => [t.ts, t.data.id, t.data.price, t.data.amount, t.data.cost, t.data.side]),
  );
}
