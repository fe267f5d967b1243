// runtime/collector/plan.ts
// Turns collector.streams into one task per (exchange, topic, symbol) and checks them against ccxt.

import type { AppConfig, StreamConfig } from '../../config/schema.ts';
import { timeout } from '../async.ts';
import { BtcError } from '../errors.ts';
import { defineSlot, type LocalSlots } from '../local-slots.ts';
import { ExchangePool, knownExchangeIds } from './exchanges.ts';
import { preferredHosts, shardCount, shardMap } from '../leader/shard-map.ts';
import { DEFAULT_DEPTH, DEFAULT_TIMEFRAME, type StreamTask } from './topics.ts';
import { NO_STREAMS_MESSAGE } from './first-run.ts';
import { wsHas, wsOhlcvSupported } from './ws/exchange.ts';

/** The ccxt pro method a `transport: ws` topic needs (docs/collector.md). */
const WS_CAPABILITY: Partial<Record<StreamConfig['topic'], string>> = { trades: 'watchTrades', orderbook: 'watchOrderBook', ticker: 'watchTicker', ohlcv: 'watchOHLCV' };

/** The ccxt capability each topic needs. */
const TOPIC_CAPABILITY: Record<StreamConfig['topic'], string> = {
  ticker: 'fetchTicker',
  trades: 'fetchTrades',
  orderbook: 'fetchOrderBook',
  ohlcv: 'fetchOHLCV',
};

export function planTasks(config: AppConfig): StreamTask[] {
  const tickMs = config.collector.tickSeconds * 1000;
  return config.collector.streams.flatMap((s) =>
    s.symbols.map((symbol) => ({
      exchange: s.exchange,
      topic: s.topic,
      symbol,
      everyMs: s.every !== undefined ? s.every * 1000 : tickMs,
      depth: s.depth ?? DEFAULT_DEPTH,
      timeframe: s.timeframe ?? DEFAULT_TIMEFRAME,
      ...(s.transport === 'ws' ? { transport: 'ws' as const } : {}),
    })),
  );
}

export interface StreamCheck {
  /** Config errors: unknown exchange, unsupported topic or timeframe, unknown symbol. */
  errors: string[];
  /** Exchanges whose markets could not be loaded, so their symbols are not verified yet. */
  unverified: Array<{ exchange: string; reason: string }>;
  /** Symbols missing from loaded markets (also in `errors`): whatif fails on them, start runs without them. */
  missingSymbols?: Array<{ exchange: string; symbol: string; message: string }>;
}

/**
 * Checks every stream against ccxt. Exchange ids, topics and timeframes are checked offline; symbols
 * need the exchange's markets, loaded once through the pool (an unreachable exchange is reported, not
 * an error: the symbols are checked again when its markets load).
 */
/** How long start and whatif wait for markets before calling the symbols unverified (the load goes on). */
const MARKETS_WAIT_MS = 10_000;

export async function checkStreams(config: AppConfig, pool: ExchangePool, options: { loadMarkets: boolean; waitMs?: number }): Promise<StreamCheck> {
  const errors: string[] = [];
  const unverified: StreamCheck['unverified'] = [];
  const missingSymbols: NonNullable<StreamCheck['missingSymbols']> = [];
  const known = new Set(knownExchangeIds());
  const byExchange = new Map<string, Array<{ stream: StreamConfig; index: number }>>();
  config.collector.streams.forEach((stream, index) => {
    const at = `collector.streams[${index}]`;
    if (!known.has(stream.exchange)) {
      const near = [...known].filter((id) => id.startsWith(stream.exchange.slice(0, 3))).slice(0, 5);
      errors.push(`${at}: unknown exchange "${stream.exchange}"${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`);
      return;
    }
    const exchange = pool.instance(stream.exchange);
    const capability = TOPIC_CAPABILITY[stream.topic];
    if (!exchange.has[capability]) errors.push(`${at}: exchange ${stream.exchange} does not support topic ${stream.topic} (ccxt has no ${capability})`);
    if (stream.topic === 'ohlcv') {
      const timeframe = stream.timeframe ?? DEFAULT_TIMEFRAME;
      if (exchange.timeframes && !(timeframe in exchange.timeframes)) {
        errors.push(`${at}: exchange ${stream.exchange} has no timeframe ${timeframe} (has ${Object.keys(exchange.timeframes).join(', ')})`);
      }
    }
    if (stream.transport === 'ws') {
      const watch = WS_CAPABILITY[stream.topic];
      if (!watch) errors.push(`${at}: transport ws is not available for topic ${stream.topic} yet (use rest; docs/collector.md)`);
      else if (!wsHas(stream.exchange, watch)) errors.push(`${at}: exchange ${stream.exchange} has no ${watch} over WebSocket in ccxt (use transport: rest)`);
      else if (stream.topic === 'ohlcv' && !wsOhlcvSupported(stream.exchange)) errors.push(`${at}: transport ws for ohlcv needs Binance's kline stream, which says when a candle is closed (use transport: rest for ${stream.exchange})`);
    }
    const list = byExchange.get(stream.exchange) ?? [];
    list.push({ stream, index });
    byExchange.set(stream.exchange, list);
  });
  if (!options.loadMarkets) return { errors, unverified };
  await Promise.all(
    [...byExchange.entries()].map(async ([id, streams]) => {
      try {
        const waitMs = options.waitMs ?? MARKETS_WAIT_MS;
        const exchange = await timeout(pool.ready(id), waitMs, () => new Error(`markets not loaded within ${waitMs} ms`));
        for (const { stream, index } of streams) {
          for (const symbol of stream.symbols) {
            const market = exchange.markets?.[symbol];
            if (!market) {
              const message = `collector.streams[${index}]: exchange ${id} has no symbol ${symbol}`;
              errors.push(message);
              missingSymbols.push({ exchange: id, symbol, message });
            }
            else if (market.spot === false) errors.push(`collector.streams[${index}]: ${symbol} on ${id} is not a spot market`);
          }
        }
      } catch (err) {
        unverified.push({ exchange: id, reason: (err instanceof Error ? err.message : String(err)).slice(0, 200) });
      }
    }),
  );
  return { errors, unverified, missingSymbols };
}

/** Throws a clear InvalidInput naming every bad stream. */
export function assertStreamsValid(check: StreamCheck, options: { allowMissingSymbols?: boolean } = {}): void {
  // `runtime start`: a symbol the exchange no longer lists fails only its own stream (symbol_unavailable).
  const missing = new Set(options.allowMissingSymbols ? (check.missingSymbols ?? []).map((m) => m.message) : []);
  const errors = check.errors.filter((e) => !missing.has(e));
  if (errors.length) throw new BtcError('InvalidInput', `config error: ${errors.join('; ')}`);
}

/** The runtime's ccxt instances: made by exchangePoolOf on first use (collect ticks, WebSocket streams, preflight, `runtime diag`), read through it. */
const POOL_SLOT = defineSlot<ExchangePool>('collector:exchange-pool');

/** The runtime's one exchange pool (process-local: ccxt instances are not state to keep in a store). */
export function exchangePoolOf(local: LocalSlots, config: AppConfig): ExchangePool {
  return local.ensure(POOL_SLOT, () => new ExchangePool({ exchangeUrl: config.collector.exchangeUrl, timeoutMs: config.collector.streamTimeoutMs }));
}

/**
 * The preflight line for the streams: fails on config errors; an unreachable exchange is named but
 * passes; none configured warns. A symbol the exchange does not list fails it for `whatif` (a typo
 * must be loud) and only warns with `allowMissingSymbols` (`runtime start`: that stream fails
 * `symbol_unavailable`, the others collect, so preflight must not keep the whole PC in DEBUG).
 */
export async function streamsPreflight(
  runtime: { loaded: { config: AppConfig }; local: LocalSlots },
  options: { allowMissingSymbols?: boolean } = {},
): Promise<string | { detail: string; warn: boolean }> {
  const { config } = runtime.loaded;
  if (!config.collector.streams.length) return { detail: NO_STREAMS_MESSAGE, warn: true };
  const check = await checkStreams(config, exchangePoolOf(runtime.local, config), { loadMarkets: true });
  assertStreamsValid(check, options);
  const tasks = planTasks(config).length;
  const unverified = check.unverified.map((u) => `${u.exchange} unreachable, symbols unverified (${u.reason.slice(0, 80)})`);
  const missing = options.allowMissingSymbols ? (check.missingSymbols ?? []) : [];
  const line = [`${tasks} stream(s) valid`, ...shardLine(config), ...unverified, ...missing.map((m) => `${m.message}: that stream fails symbol_unavailable`)].join('; ');
  return missing.length ? { detail: line, warn: true } : line;
}

/** whatif's stream → shard map with collector.shards > 1 (`shard k (prefers host): exchange/topic/symbol, …`; pinned ones marked). */
export function shardLine(config: AppConfig): string[] {
  const n = shardCount(config);
  if (n <= 1) return [];
  const map = shardMap(config);
  const preferred = preferredHosts(config);
  const parts = Array.from({ length: n }, (_, k) => {
    const streams = map.filter((m) => m.shard === k).map((m) => `${m.exchange}/${m.topic}/${m.symbol}${m.pinned ? ' (pinned)' : ''}`);
    return `shard ${k}${preferred[k] ? ` (prefers ${preferred[k]})` : ''}: ${streams.length ? streams.join(', ') : 'no streams'}`;
  });
  return [`${n} shards: ${parts.join(' | ')}`];
}
