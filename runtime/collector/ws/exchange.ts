// runtime/collector/ws/exchange.ts
// A ccxt pro (WebSocket) instance per ws stream: markets copied from the REST pool, ws hosts pointed at BTC_TS_EXCHANGE_URL.

import type { Exchange } from 'ccxt';
import ccxt from '../ccxt.ts';
import { BtcError } from '../../errors.ts';
import { rewriteApiUrls } from '../exchanges.ts';

/**
 * A fresh ccxt pro instance of `id` for one stream (closing it to reconnect touches no other stream).
 * Markets come from `rest` (already loaded), so no extra REST load. With `exchangeUrl` (the emulator,
 * a proxy) every `urls.api.ws` host becomes that host with `ws:`/`wss:` for `http:`/`https:`; ccxt then
 * needs its plain-HTTP agent for `ws://` (ccxt Exchange.getHttpAgentIfNeeded). Throws InvalidInput
 * when ccxt has no WebSocket class for the exchange.
 */
export async function wsExchange(id: string, rest: Exchange, exchangeUrl: string | undefined): Promise<Exchange> {
  const ExchangeClass = ccxt.proExchangeClass(id);
  if (typeof ExchangeClass !== 'function') throw new BtcError('InvalidInput', `exchange ${id} has no WebSocket API in ccxt (use transport: rest)`);
  // No rate limiter: ccxt 4.5 sends a throttled subscribe without catching its rejection
  // (Exchange.watchMultiple: `client.throttle(cost).then(() => { client.send(message) })`), so a
  // socket closing at that moment is an unhandled rejection, which ends a Node process. One
  // subscribe per instance needs no throttle; the REST back-fill goes through the pool's limiter.
  const exchange = new ExchangeClass({ enableRateLimit: false, timeout: rest.timeout });
  const options = exchange.options as Record<string, unknown>;
  // Keep every trade between two reads (ccxt's default cache holds 1000).
  options['tradesLimit'] = 50_000;
  if ('defaultType' in options) options['defaultType'] = 'spot';
  if (exchangeUrl) {
    const wsBase = exchangeUrl.replace(/^http(s?):/i, 'ws$1:');
    // REST too: ccxt's watchOrderBook takes its own snapshot over REST.
    const api = rewriteApiUrls(exchange.urls['api'], exchangeUrl) as Record<string, unknown>;
    api['ws'] = rewriteApiUrls((exchange.urls['api'] as unknown as Record<string, unknown>)['ws'], wsBase);
    exchange.urls['api'] = api as typeof exchange.urls['api'];
    if (wsBase.startsWith('ws:')) await (exchange as unknown as { loadHttpProxyAgent(): Promise<unknown> }).loadHttpProxyAgent();
  }
  (exchange as unknown as { setMarkets(m: unknown, c?: unknown): void }).setMarkets(rest.markets, rest.currencies);
  return exchange;
}

/** Whether ccxt offers `capability` (`watchTrades`, …) over WebSocket for `id`. */
export function wsHas(id: string, capability: string): boolean {
  const ExchangeClass = ccxt.proExchangeClass(id);
  if (typeof ExchangeClass !== 'function') return false;
  return Boolean(new ExchangeClass({}).has[capability]);
}

/** Whether ws OHLCV works for exchange `id`: only Binance's kline stream says when a candle is closed (`k.x`, ws/ohlcv.ts). */
export function wsOhlcvSupported(id: string): boolean {
  return id.startsWith('binance');
}
