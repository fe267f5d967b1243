// runtime/collector/trades-by-time.ts
// Trades paged by time (the exchange's cursor, `since`, or the newest page only): overlapping pages de-duplicated, what cannot be stored exactly once audited as a suspected gap.

import type { Trade } from 'ccxt';
import type { Cursor } from './cursors.ts';
import type { FetchContext, StreamFetch } from './topics.ts';
import { compareIds, latestTradesCsv, normalise, type NormalTrade } from './trades-parse.ts';

/** The paging methods by time (runtime/collector/trades.ts PagingMethod). */
export type TimePagingMethod = 'cursor' | 'recent' | 'since';

/** The coarsest `since` resolution among the time-paged exchanges (Kraken: whole seconds), ms. */
const SINCE_RESOLUTION_MS = 1_000;

/**
 * Most trades one answer can hold, where it is below `tradesPageLimit`: OKX `GET /api/v5/market/trades`
 * (at most 500), Bybit `GET /v5/market/recent-trade` for spot (at most 60) — from their API docs.
 */
const PAGE_MAX: Record<string, number> = { okx: 500, bybit: 60 };
/** Time-paged exchanges whose trade ids are sequential numbers: a jump in ids is a hole. */
const SEQUENTIAL_IDS = new Set(['kraken', 'okx']);

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
export async function fetchByTime(fc: FetchContext, method: TimePagingMethod): Promise<StreamFetch> {
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
