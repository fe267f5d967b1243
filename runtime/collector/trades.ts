// runtime/collector/trades.ts
// Trades without holes or repeats: which paging an exchange gets (by id: trades-by-id.ts; by the exchange's cursor or by time: trades-by-time.ts), de-duplicated, what cannot be stored exactly once audited.

import type { Exchange } from 'ccxt';
import type { FetchContext, StreamFetch } from './topics.ts';
import { fetchBySequentialId } from './trades-by-id.ts';
import { fetchByTime, type TimePagingMethod } from './trades-by-time.ts';

/**
 * How an exchange's trades are paged (docs/collector.md, "Paging methods"):
 * `id` — sequential ids, `fromId` (the Binance family); `cursor` — the exchange's own cursor from
 * its previous answer (Kraken's `last`); `recent` — only the newest page is served, no history
 * (ccxt's okx and bybit fetchTrades); `since` — by time from the last stored trade time.
 */
export type PagingMethod = 'id' | TimePagingMethod;

/** Exchanges whose ccxt fetchTrades calls a recent-trades endpoint that ignores `since`. */
const RECENT_ONLY = new Set(['okx', 'bybit']);

/** How `exchange`'s trades are paged (by its ccxt id). */
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

/** One tick of a trades stream from `fc.cursor`, paged as pagingMethodOf says. @throws BadData for an answer that cannot be read as trades. */
export async function fetchTradesStream(fc: FetchContext): Promise<StreamFetch> {
  const method = pagingMethodOf(fc.exchange);
  return method === 'id' ? fetchBySequentialId(fc, 'fromId') : fetchByTime(fc, method);
}
