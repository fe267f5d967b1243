// runtime/collector/freshness.ts
// A stream whose exchange answers but whose data stopped moving (halted market, frozen feed) turns not ok with cause `stale`.

import type { AppConfig } from '../../config/schema.ts';
import type { StreamFetch, StreamTask } from './topics.ts';

/** Default seconds without new data before a stream is `stale`, per topic (ohlcv: 3 periods + the settle time, at least this). */
export const STALE_AFTER_DEFAULT_S: Record<StreamTask['topic'], number> = { ticker: 120, orderbook: 120, trades: 600, ohlcv: 300 };

/** What the freshness check remembers about one stream. */
export interface Freshness {
  /** Fingerprint of the last answer (ticker, order book): the same one again is no progress. */
  lastFingerprint: string | null;
  /** Monotonic ms the data last moved (null: never answered yet). */
  movedAtMonotonicMs: number | null;
  /** Monotonic ms it was declared stale (null: fresh). */
  staleSinceMonotonicMs: number | null;
}

export const emptyFreshness = (): Freshness => ({ lastFingerprint: null, movedAtMonotonicMs: null, staleSinceMonotonicMs: null });

/** `collector.staleAfterSeconds[topic]` in ms, else the default (ohlcv: at least 3 candle periods + settle). */
export function staleAfterMs(config: AppConfig, task: StreamTask, stepMs?: number, settleMs = 0): number {
  const set = config.collector.staleAfterSeconds?.[task.topic];
  if (set !== undefined) return set * 1000;
  const base = STALE_AFTER_DEFAULT_S[task.topic] * 1000;
  return task.topic === 'ohlcv' && stepMs ? Math.max(base, 3 * stepMs + settleMs) : base;
}

/**
 * Judges one successful answer. Trades and candles move when they bring new records; a ticker or
 * an order book moves when its data differs from the last answer's (prices, volumes, update id). Returns
 * `became` 'stale' or 'fresh' on a change (to audit), else null.
 */
export function judgeFreshness(f: Freshness, task: StreamTask, result: StreamFetch, nowMonotonicMs: number, limitMs: number): 'stale' | 'fresh' | null {
  let moved: boolean;
  if (task.topic === 'trades' || task.topic === 'ohlcv') moved = result.items.length > 0;
  else {
    // Data only: a book stamped with this PC's clock (plus the offset) has a new time every fetch.
    const fingerprint = JSON.stringify(result.items.map((i) => i.data));
    moved = fingerprint !== f.lastFingerprint;
    f.lastFingerprint = fingerprint;
  }
  // The first answer starts the clock.
  if (moved || f.movedAtMonotonicMs === null) f.movedAtMonotonicMs = nowMonotonicMs;
  const stale = nowMonotonicMs - f.movedAtMonotonicMs > limitMs;
  if (stale && f.staleSinceMonotonicMs === null) {
    f.staleSinceMonotonicMs = nowMonotonicMs;
    return 'stale';
  }
  if (!stale && f.staleSinceMonotonicMs !== null) {
    f.staleSinceMonotonicMs = null;
    return 'fresh';
  }
  return null;
}

/** A stale stream's row: not ok, cause `stale`, with how long its data has not moved. */
export function staleRow<R extends { ok: boolean; cause: string | null; notes: string[] }>(row: R, f: Freshness | undefined, nowMonotonicMs: number, limitMs: number): R {
  if (!f || f.staleSinceMonotonicMs === null || f.movedAtMonotonicMs === null || row.cause !== null) return row;
  const still = Math.round((nowMonotonicMs - f.movedAtMonotonicMs) / 1000);
  return { ...row, ok: false, cause: 'stale', notes: [...row.notes, `stale: the exchange answers but its data has not moved for ${still} s (limit ${Math.round(limitMs / 1000)} s)`] };
}
