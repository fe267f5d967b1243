// runtime/collector/errors.ts
// Collector failures in classes (network, rate_limit, exchange, bad_data; disk_full, io_error of this PC) and the backoff for each.

import ccxt from './ccxt.ts';
import { backoffDelay } from '../async.ts';
import { diskCauseOf } from '../durable.ts';
import type { RetryAfterCarrier } from './exchanges.ts';
import { SymbolUnavailable } from './markets.ts';

/**
 * Why a stream failed. `network` … `bad_data` are the exchange's side; `symbol_unavailable`: the
 * symbol left the exchange's markets (markets.ts); `stale`: answers that stopped moving
 * (freshness.ts); `disk_full` and `io_error` are this PC's: the write-ahead log could not take the
 * records (nothing was acknowledged, the cursor stays).
 */
export type FailureClass = 'network' | 'rate_limit' | 'exchange' | 'bad_data' | 'symbol_unavailable' | 'stale' | 'disk_full' | 'io_error';

export interface ClassifiedFailure {
  cls: FailureClass;
  message: string;
  /** What the exchange asked for (Retry-After), ms. */
  retryAfterMs?: number;
}

/** Raised by the collector itself when a fetch outlives its stream's timeout. */
export class StreamTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'StreamTimeout';
  }
}

/** Raised when an answer parses but makes no sense (missing id, NaN price, …). */
export class BadData extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadData';
  }
}

export function classify(err: unknown): ClassifiedFailure {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 300);
  const disk = diskCauseOf(err);
  if (disk) return { cls: disk, message };
  // Order matters: ccxt's RateLimitExceeded and ExchangeNotAvailable are NetworkError subclasses.
  if (err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.DDoSProtection) {
    return { cls: 'rate_limit', message, retryAfterMs: (err as RetryAfterCarrier).retryAfterMs };
  }
  if (err instanceof SymbolUnavailable || err instanceof ccxt.BadSymbol) return { cls: 'symbol_unavailable', message };
  if (err instanceof ccxt.ExchangeNotAvailable || err instanceof ccxt.OnMaintenance) return { cls: 'exchange', message };
  if (err instanceof StreamTimeout || err instanceof ccxt.NetworkError) return { cls: 'network', message };
  if (err instanceof BadData || err instanceof ccxt.BadResponse) return { cls: 'bad_data', message };
  if (err instanceof ccxt.BaseError) return { cls: 'exchange', message };
  // A TypeError from a parser fed something odd is bad data, not a bug of ours to crash on.
  if (err instanceof TypeError || err instanceof SyntaxError || err instanceof RangeError) return { cls: 'bad_data', message };
  return { cls: 'exchange', message };
}

const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

/**
 * Delay before the next attempt after `failures` consecutive failures: exponential with ±20 %
 * jitter, capped; never shorter than the exchange's Retry-After.
 */
export function backoffMs(failures: number, failure: ClassifiedFailure, capMs = BACKOFF_MAX_MS, random = Math.random): number {
  const jittered = backoffDelay(failures, { baseMs: BACKOFF_BASE_MS, capMs, jitter: [0.8, 1.2] }, random);
  return Math.max(Math.round(jittered), failure.retryAfterMs ?? 0);
}
