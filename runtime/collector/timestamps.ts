// runtime/collector/timestamps.ts
// Trade and candle times that cannot be right (seconds for ms, far future, before the cursor) are bad_data, nothing appended.

import { BadData } from './errors.ts';
import type { Cursor } from './cursors.ts';

/** Earlier than this (2009-01-03, Bitcoin's first block) no market time is plausible: 1.7e9 is seconds, not ms. */
export const MIN_PLAUSIBLE_MS = Date.UTC(2009, 0, 3);
/** Later than exchange time + this (ms) is "far future". */
export const MAX_AHEAD_MS = 10 * 60_000;

/**
 * Throws BadData naming the first impossible time among `items` (`ts` ms): not an integer, before
 * MIN_PLAUSIBLE_MS (ccxt has shipped seconds instead of milliseconds for several exchanges), more
 * than MAX_AHEAD_MS after `exchangeNowMs`, or before the cursor. "Before the cursor": a trade with
 * a sequential id above `cursor.last_id` older than `cursor.last_ts` (back-filled ids below it may
 * be older), or a candle opening at or before `cursor.last_ts`. The whole answer is refused.
 */
export function assertPlausibleTimes(
  what: string,
  topic: string,
  items: ReadonlyArray<{ ts: number; data?: unknown }>,
  cursor: Pick<Cursor, 'last_id' | 'last_ts'>,
  exchangeNowMs: number,
): void {
  for (const item of items) {
    const ts = item.ts;
    if (!Number.isSafeInteger(ts)) throw new BadData(`${what}: time ${String(ts)} is not whole milliseconds; nothing appended`);
    if (ts < MIN_PLAUSIBLE_MS) {
      const asSeconds = ts * 1000 >= MIN_PLAUSIBLE_MS && ts * 1000 <= exchangeNowMs + MAX_AHEAD_MS;
      throw new BadData(`${what}: time ${ts} (${iso(ts)}) ${asSeconds ? 'is in seconds, not milliseconds' : 'is before 2009'}; nothing appended`);
    }
    if (ts > exchangeNowMs + MAX_AHEAD_MS) throw new BadData(`${what}: time ${ts} (${iso(ts)}) is in the future (exchange time ${iso(exchangeNowMs)}); nothing appended`);
    if (cursor.last_ts === null) continue;
    if (topic === 'ohlcv' && ts <= cursor.last_ts) {
      throw new BadData(`${what}: candle ${ts} (${iso(ts)}) is not after the last stored one ${iso(cursor.last_ts)}; nothing appended`);
    }
    if (topic === 'trades' && cursor.last_id !== null && ts < cursor.last_ts) {
      const id = Number((item.data as { id?: unknown } | undefined)?.id);
      if (Number.isSafeInteger(id) && id > cursor.last_id) {
        throw new BadData(`${what}: trade ${id} at ${iso(ts)} is older than the last stored trade ${cursor.last_id} at ${iso(cursor.last_ts)}; nothing appended`);
      }
    }
  }
}

const iso = (ms: number) => {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
};
