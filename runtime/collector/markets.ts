// runtime/collector/markets.ts
// Symbols that leave an exchange's markets (delisted, renamed): the stream fails `symbol_unavailable`, markets are reloaded.

import type { Exchange } from 'ccxt';
import type { FnContext } from '../define.ts';
import { defineSlot, type LocalSlots } from '../local-slots.ts';
import type { ExchangePool } from './exchanges.ts';
import type { FailureClass } from './errors.ts';
import type { StreamTask } from './topics.ts';

/** Default of `collector.marketsReloadSeconds`. */
export const MARKETS_RELOAD_DEFAULT_S = 3600;
/** A missing symbol reloads the markets at most this often per exchange (ms), or at the periodic rate when shorter. */
export const MISSING_RELOAD_MIN_MS = 60_000;

/** Raised before calling the exchange when the stream's symbol is not in its (freshly reloaded) markets. */
export class SymbolUnavailable extends Error {
  constructor(exchange: string, symbol: string) {
    super(`exchange ${exchange} has no symbol ${symbol} in its markets (delisted or renamed); the other streams go on`);
    this.name = 'SymbolUnavailable';
  }
}

interface ReloadState {
  /** Monotonic ms of the last reload started (at first: when the state was made, just after the first load). */
  lastMonotonicMs: number;
  /** Monotonic ms of the last reload a missing symbol started. */
  lastMissingMonotonicMs: number;
  running: Promise<void> | null;
}

/** Exchange id → its market reload state: written and read only by reloadMarkets (collect ticks, WebSocket runners). */
const RELOADS_SLOT = defineSlot<Map<string, ReloadState>>('collector:markets');

function reloads(local: LocalSlots): Map<string, ReloadState> {
  return local.ensure(RELOADS_SLOT, () => new Map());
}

/**
 * Reloads `exchange`'s markets (`loadMarkets(true)`) when the last reload (`missing`: the last one a
 * missing symbol started) is older than `minAgeMs`;
 * one reload per exchange at a time, shared by every caller. A failed reload keeps the old markets.
 * The first load (ExchangePool.ready) counts as a reload at the time the pool was first used.
 */
export function reloadMarkets(ctx: Pick<FnContext, 'local' | 'clock' | 'log'>, exchange: Exchange, minAgeMs: number, missing = false): Promise<void> {
  const map = reloads(ctx.local);
  const now = ctx.clock.monotonicMs();
  let state = map.get(exchange.id);
  if (!state) map.set(exchange.id, (state = { lastMonotonicMs: now, lastMissingMonotonicMs: -Infinity, running: null }));
  if (state.running) return state.running;
  if (now - (missing ? state.lastMissingMonotonicMs : state.lastMonotonicMs) < minAgeMs) return Promise.resolve();
  state.lastMonotonicMs = now;
  if (missing) state.lastMissingMonotonicMs = now;
  const running = exchange
    .loadMarkets(true)
    .then(() => undefined)
    .catch((err: unknown) => ctx.log.warn({ exchange: exchange.id, err: String(err).slice(0, 200) }, 'markets reload failed; the markets loaded before stay'))
    .finally(() => (state!.running = null));
  state.running = running;
  return running;
}

const reloadEveryMs = (ctx: Pick<FnContext, 'config'>) => (ctx.config.collector.marketsReloadSeconds ?? MARKETS_RELOAD_DEFAULT_S) * 1000;

/** Starts the periodic reload of every exchange already loaded (not awaited: streams go on with the old markets meanwhile). */
export function reloadMarketsPeriodically(ctx: Pick<FnContext, 'local' | 'clock' | 'log' | 'config'>, pool: ExchangePool): void {
  for (const id of pool.ids()) {
    const exchange = pool.instance(id);
    if (exchange.markets && Object.keys(exchange.markets).length > 0) void reloadMarkets(ctx, exchange, reloadEveryMs(ctx));
  }
}

/**
 * Throws SymbolUnavailable when the stream's symbol is missing from the exchange's markets, after
 * reloading them (at most once a minute per exchange) in case it was just listed or renamed back.
 */
export async function ensureSymbol(ctx: Pick<FnContext, 'local' | 'clock' | 'log' | 'config'>, exchange: Exchange, task: StreamTask): Promise<void> {
  if (exchange.markets?.[task.symbol]) return;
  await reloadMarkets(ctx, exchange, Math.min(MISSING_RELOAD_MIN_MS, reloadEveryMs(ctx)), true);
  if (!exchange.markets?.[task.symbol]) throw new SymbolUnavailable(task.exchange, task.symbol);
}

/**
 * Audits a stream entering (`collector.symbol.unavailable`) or leaving (`collector.symbol.available`)
 * cause `symbol_unavailable`, once per change. A failure of that cause while the markets still list
 * the symbol (the exchange answered "invalid symbol") also reloads them.
 */
export async function symbolTransition(
  ctx: Pick<FnContext, 'local' | 'clock' | 'log' | 'config' | 'audit'>,
  pool: ExchangePool,
  task: StreamTask,
  before: FailureClass | null,
  after: FailureClass | null,
  error: string | null,
): Promise<void> {
  const stream = { exchange: task.exchange, topic: task.topic, symbol: task.symbol };
  if (after === 'symbol_unavailable') {
    void reloadMarkets(ctx, pool.instance(task.exchange), Math.min(MISSING_RELOAD_MIN_MS, reloadEveryMs(ctx)), true);
    if (before !== 'symbol_unavailable') await ctx.audit.record('collector.symbol.unavailable', { ...stream, error });
  } else if (before === 'symbol_unavailable' && after === null) await ctx.audit.record('collector.symbol.available', stream);
}
