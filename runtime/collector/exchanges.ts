// runtime/collector/exchanges.ts
// One ccxt instance per exchange id, created once: markets loaded once, rate limiter on, API hosts replaced by exchangeUrl.

import dns from 'node:dns';
import type { Exchange } from 'ccxt';
import ccxt from './ccxt.ts';
import { BtcError } from '../errors.ts';
import { banUntilFromBody, ExchangeBan, ExchangePauses } from './pause.ts';

export interface ExchangePoolOptions {
  /** Replaces the scheme and host of every ccxt API URL (BTC_TS_EXCHANGE_URL: the emulator, a proxy). */
  exchangeUrl?: string;
  /** ccxt's own request timeout (ms); the collector's per-stream timeout. */
  timeoutMs: number;
}

/** An error a ccxt call raised on a 429/418, carrying the Retry-After the exchange asked for. */
export interface RetryAfterCarrier {
  retryAfterMs?: number;
}

/** ccxt timeout while loading markets (ms). */
export const MARKETS_TIMEOUT_MS = 30_000;

/** Every exchange id ccxt knows. */
export const knownExchangeIds = (): string[] => ccxt.exchanges as string[];

export class ExchangePool {
  private readonly instances = new Map<string, Exchange>();
  private readonly loading = new Map<string, Promise<Exchange>>();
  /** Monotonic ms until which an exchange asked us (Retry-After) not to call it. */
  private readonly pausedUntil = new Map<string, number>();
  private readonly options: ExchangePoolOptions;
  /** One pause per exchange after a 429/418/403 (runtime/collector/pause.ts). */
  readonly pauses = new ExchangePauses();

  constructor(options: ExchangePoolOptions) {
    this.options = options;
    // Exchanges with a broken IPv6 path are common; try IPv4 addresses first.
    dns.setDefaultResultOrder('ipv4first');
  }

  /** The instance for `id`, created on first use and reused for the life of the runtime. */
  instance(id: string): Exchange {
    let exchange = this.instances.get(id);
    if (exchange) return exchange;
    const ExchangeClass = ccxt.exchangeClass(id);
    if (typeof ExchangeClass !== 'function') {
      throw new BtcError('InvalidInput', `unknown exchange id "${id}" (not a ccxt exchange)`);
    }
    exchange = new ExchangeClass({ enableRateLimit: true, timeout: this.options.timeoutMs });
    preferSpot(exchange);
    if (this.options.exchangeUrl) exchange.urls['api'] = rewriteApiUrls(exchange.urls['api'], this.options.exchangeUrl) as typeof exchange.urls['api'];
    surfaceRetryAfterAndBadJson(exchange);
    refuseWhilePaused(exchange, this.pauses);
    this.instances.set(id, exchange);
    return exchange;
  }

  /** The instance with its markets loaded (once; a failed load is retried on the next call). */
  ready(id: string): Promise<Exchange> {
    const exchange = this.instance(id);
    if (exchange.markets && Object.keys(exchange.markets).length > 0) return Promise.resolve(exchange);
    let pending = this.loading.get(id);
    if (!pending) {
      // A real exchange's market list is megabytes: it gets more time than one stream's fetch.
      // The load is shared, so a stream that times out waiting leaves it running for the next tick.
      exchange.timeout = Math.max(this.options.timeoutMs, MARKETS_TIMEOUT_MS);
      pending = exchange
        .loadMarkets()
        .then(() => exchange)
        .finally(() => (exchange.timeout = this.options.timeoutMs));
      this.loading.set(id, pending);
      pending.catch(() => this.loading.delete(id));
    }
    return pending;
  }

  pause(id: string, untilMonotonicMs: number): void {
    this.pausedUntil.set(id, Math.max(this.pausedUntil.get(id) ?? 0, untilMonotonicMs));
  }

  /** Ms still to wait before calling `id` again (0 = go): the longer of pause() and the ban pause. */
  pausedFor(id: string, nowMonotonicMs: number): number {
    return Math.max(0, (this.pausedUntil.get(id) ?? 0) - nowMonotonicMs, this.pauses.pausedFor(id, nowMonotonicMs));
  }

  ids(): string[] {
    return [...this.instances.keys()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.instances.values()].map((e) => e.close?.().catch(() => undefined)));
  }
}

/** Rewrites `https://api.binance.com/api/v3` → `<base>/api/v3` in ccxt's (nested) urls.api. */
export function rewriteApiUrls(api: unknown, base: string): unknown {
  const origin = base.replace(/\/+$/, '');
  if (typeof api === 'string') return api.replace(/^[a-z]+:\/\/[^/]+/i, origin);
  if (api && typeof api === 'object') {
    return Object.fromEntries(Object.entries(api as Record<string, unknown>).map(([k, v]) => [k, rewriteApiUrls(v, base)]));
  }
  return api;
}

/** Spot markets only, where the exchange lets ccxt choose (Binance would else load futures markets too). */
function preferSpot(exchange: Exchange): void {
  const options = exchange.options as Record<string, unknown>;
  const fetchMarkets = options['fetchMarkets'] as { types?: unknown } | unknown[] | undefined;
  if (Array.isArray(fetchMarkets) && fetchMarkets.includes('spot')) options['fetchMarkets'] = ['spot'];
  else if (fetchMarkets && typeof fetchMarkets === 'object' && Array.isArray((fetchMarkets as { types?: unknown[] }).types)) {
    if ((fetchMarkets as { types: unknown[] }).types.includes('spot')) (fetchMarkets as { types: unknown[] }).types = ['spot'];
  }
  if ('defaultType' in options) options['defaultType'] = 'spot';
}

/**
 * ccxt turns a 429 into an error without the Retry-After header, and hands a 200 with a non-JSON
 * body to the parsers as a string. Both are caught here, in ccxt's own error hook, before parsing.
 */
function surfaceRetryAfterAndBadJson(exchange: Exchange): void {
  const original = exchange.handleErrors.bind(exchange);
  exchange.handleErrors = ((code: number, reason: string, url: string, method: string, headers: Record<string, string>, body: string, response: unknown, ...rest: unknown[]) => {
    if (code === 429 || code === 418 || code === 403) {
      // 403: Binance's WAF and Bybit's IP limit; like 418, the whole exchange pauses (pause.ts).
      const retryAfterMs = parseRetryAfter(headers?.['Retry-After'] ?? headers?.['retry-after']);
      const banUntilMs = banUntilFromBody(typeof body === 'string' ? body : undefined, Date.now());
      throw new ExchangeBan(`${exchange.id} ${method} ${url} ${code} ${reason}${typeof body === 'string' ? ` ${body.slice(0, 160)}` : ''}`, { status: code, retryAfterMs, banUntilMs });
    }
    if (code >= 200 && code < 300 && response === undefined && typeof body === 'string' && body.trim() !== '') {
      throw new ccxt.BadResponse(`${exchange.id} ${method} ${url}: body is not valid JSON (${JSON.stringify(body.slice(0, 60))}…)`);
    }
    return (original as (...args: unknown[]) => unknown)(code, reason, url, method, headers, body, response, ...rest);
  }) as typeof exchange.handleErrors;
}

/** Every HTTP request of `exchange` first checks its pause (after ccxt's rate limiter gave it a slot). */
function refuseWhilePaused(exchange: Exchange, pauses: ExchangePauses): void {
  const original = exchange.fetch.bind(exchange);
  exchange.fetch = ((...args: Parameters<Exchange['fetch']>) => {
    pauses.assertOpen(exchange.id);
    return original(...args);
  }) as Exchange['fetch'];
}

/** Retry-After is seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}
