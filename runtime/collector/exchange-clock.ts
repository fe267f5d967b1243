// runtime/collector/exchange-clock.ts
// Each exchange's clock offset from this PC (ccxt fetchTime), so books and candle settling use exchange time.

import type { Exchange } from 'ccxt';
import type { FnContext } from '../define.ts';
import { defineSlot, type LocalSlots } from '../local-slots.ts';
import { ExchangeBan } from './pause.ts';

/** The offset is measured again after this long (ms). */
export const CLOCK_OFFSET_REFRESH_MS = 5 * 60_000;
/** Round trips slower than this (ms) are not trusted for an offset; the previous one stays. */
const MAX_ROUND_TRIP_MS = 5_000;

interface OffsetState {
  /** Exchange time − this PC's `clock.now()` (ms): positive when the exchange is ahead. */
  offsetMs: number;
  measuredAtMonotonicMs: number;
  /** Round trip of the measurement (ms): the offset's uncertainty is half of it. */
  roundTripMs: number;
  running: Promise<void> | null;
}

/** Exchange id → its measured clock offset: written by refreshClockOffset (collect ticks), read by clockOffsetMs (records' exchange time). */
const OFFSETS_SLOT = defineSlot<Map<string, OffsetState>>('collector:exchange-clock');

function offsets(local: LocalSlots): Map<string, OffsetState> {
  return local.ensure(OFFSETS_SLOT, () => new Map());
}

/**
 * Measures `exchange`'s clock offset with ccxt `fetchTime` (Binance `GET /api/v3/time`) when the
 * last measurement is older than CLOCK_OFFSET_REFRESH_MS: offset = server time − the midpoint of
 * the round trip. Exchanges without `fetchTime` keep offset 0 (this PC's clock). A failed
 * measurement keeps the last offset; a ban (ExchangeBan) is rethrown so the exchange pauses.
 */
export async function refreshClockOffset(ctx: Pick<FnContext, 'local' | 'clock' | 'log'>, exchange: Exchange): Promise<void> {
  const map = offsets(ctx.local);
  const state = map.get(exchange.id);
  if (state?.running) return state.running;
  if (state && ctx.clock.monotonicMs() - state.measuredAtMonotonicMs < CLOCK_OFFSET_REFRESH_MS) return;
  if (!exchange.has['fetchTime']) return;
  const running = (async () => {
    const sent = ctx.clock.now();
    const t0 = ctx.clock.monotonicMs();
    try {
      const server = await exchange.fetchTime();
      const roundTripMs = ctx.clock.monotonicMs() - t0;
      if (typeof server !== 'number' || !Number.isFinite(server) || roundTripMs > MAX_ROUND_TRIP_MS) return;
      map.set(exchange.id, { offsetMs: Math.round(server - (sent + roundTripMs / 2)), measuredAtMonotonicMs: ctx.clock.monotonicMs(), roundTripMs, running: null });
    } catch (err) {
      // Retried in a minute, not on every tick.
      const s = map.get(exchange.id);
      if (s) s.measuredAtMonotonicMs = ctx.clock.monotonicMs() - CLOCK_OFFSET_REFRESH_MS + 60_000;
      if (err instanceof ExchangeBan) throw err;
      ctx.log.warn({ exchange: exchange.id, err: String(err).slice(0, 200) }, 'exchange clock offset not measured; the last one (or this PC\'s clock) is used');
    }
  })().finally(() => {
    const s = map.get(exchange.id);
    if (s) s.running = null;
  });
  map.set(exchange.id, { ...(state ?? { offsetMs: 0, measuredAtMonotonicMs: -Infinity, roundTripMs: 0 }), running });
  return running;
}

/** Exchange time − this PC's clock (ms), 0 until measured. */
export function clockOffsetMs(local: LocalSlots, exchangeId: string): number {
  return offsets(local).get(exchangeId)?.offsetMs ?? 0;
}
