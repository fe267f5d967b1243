// test/continuity.test.ts
// Continuity across epochs: a candle stream's records are one timeframe apart, so a failover between two candles is no time gap.

import { describe, expect, it } from 'vitest';
import { checkPair, spacingOfStreams, timeframeMs, type SegmentSummary } from '../runtime/sync/continuity.ts';
import { parseRawSegmentKey } from '../runtime/keys.ts';

const T = Date.UTC(2026, 10, 29, 11, 13);

function segment(topic: string, epoch: number, firstSeq: number, lastSeq: number, firstTs: number, lastTs: number): SegmentSummary {
  const key = `raw/binance/${topic}/BTC-USDT/dt=2026-11-29/${String(epoch).padStart(6, '0')}-${String(firstSeq).padStart(12, '0')}.jsonl`;
  return { ...parseRawSegmentKey(key)!, lastSeq, records: lastSeq - firstSeq + 1, firstTs, lastTs, lastIngestTs: lastTs };
}

describe('time gaps across epochs', () => {
  const streams = [
    { exchange: 'binance', topic: 'ohlcv', symbols: ['BTC/USDT'] },
    { exchange: 'binance', topic: 'ohlcv', symbols: ['ETH/USDT'], timeframe: '5m' },
    { exchange: 'binance', topic: 'trades', symbols: ['BTC/USDT'] },
  ];
  const spacingMs = spacingOfStreams(streams, '1m');

  it('knows each candle stream’s timeframe and nothing else', () => {
    expect(timeframeMs('1m')).toBe(60_000);
    expect(timeframeMs('4h')).toBe(14_400_000);
    expect(timeframeMs('bogus')).toBe(0);
    expect(spacingMs('binance/ohlcv/BTC-USDT')).toBe(60_000);
    expect(spacingMs('binance/ohlcv/ETH-USDT')).toBe(300_000);
    expect(spacingMs('binance/trades/BTC-USDT')).toBe(0);
  });

  it('two consecutive 1m candles in two epochs are continuous; a missing candle is a gap', () => {
    const before = segment('ohlcv', 1, 0, 15, T - 15 * 60_000, T);
    const next = segment('ohlcv', 2, 0, 3, T + 60_000, T + 4 * 60_000);
    // The old rule (2 ticks = 10 s) called this a 60 s gap after every failover.
    expect(checkPair(before, next, { timeGapMs: 10_000 })).toMatchObject({ kind: 'time_gap', gap_ms: 60_000 });
    expect(checkPair(before, next, { timeGapMs: 10_000, spacingMs })).toBeNull();
    const skipped = segment('ohlcv', 2, 0, 3, T + 2 * 60_000, T + 5 * 60_000);
    expect(checkPair(before, skipped, { timeGapMs: 10_000, spacingMs })).toMatchObject({ kind: 'time_gap', gap_ms: 120_000 });
  });

  it('trades keep the tick-based rule', () => {
    const before = segment('trades', 1, 0, 9, T - 5_000, T);
    const late = segment('trades', 2, 0, 9, T + 30_000, T + 35_000);
    expect(checkPair(before, late, { timeGapMs: 10_000, spacingMs })).toMatchObject({ kind: 'time_gap', gap_ms: 30_000 });
  });
});
