// runtime/collector/trades-by-id.ts
// Trades paged by sequential id (the Binance family): walk forward from the last stored id, a jump is a gap, back-fill gaps until filled or unfillable, audit repeats.

import type { TradeGap } from './cursors.ts';
import type { FetchContext, StreamFetch } from './topics.ts';
import { aggTradesEndpoint, latestTradesCsv, normalise, parseAggTrades, type NormalTrade } from './trades-parse.ts';

/** Back-fill attempts (one per tick) before a gap is declared unfillable. */
export const GAP_MAX_ATTEMPTS = 5;
/** Same record: same time and the same data (price, amount, side, fills). */
const sameTrade = (a: NormalTrade, b: NormalTrade) => a.ts === b.ts && JSON.stringify(a.data) === JSON.stringify(b.data);

/** One tick of an id-paged stream from `fc.cursor`, by the exchange's `param` (`fromId`): the new trades, the next cursor, gap and conflict events. */
export async function fetchBySequentialId(fc: FetchContext, param: string): Promise<StreamFetch> {
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
