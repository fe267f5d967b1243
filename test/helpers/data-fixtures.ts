// test/helpers/data-fixtures.ts
// Synthetic raw segments as the collector writes them (trades, order book, ticker, OHLCV), for compaction tests and the compact bench.

import type { StreamId } from '../../runtime/streams.ts';
import { rawSegmentKey } from '../../runtime/keys.ts';

export interface SegmentSpec {
  stream: StreamId;
  epoch: number;
  /** Seq of the first record of the first segment. */
  firstSeq: number;
  /** Records in all. */
  count: number;
  /** Records per segment (one per tick in production). */
  perSegment: number;
  /** Exchange time of the first record (ms) and the step between records. */
  firstTs: number;
  stepMs: number;
  /** Trades: id of the first record (ids rise by one per record, like Binance aggregate ids). */
  firstId?: number;
  /** Trades: add first_trade_id/last_trade_id (issue 15's shape). */
  fills?: boolean;
}

/** The data field of record number `i` of a stream (deterministic, so two epochs writing the same datum agree). */
export function dataOf(topic: string, i: number, id: number): unknown {
  const price = 50_000 + ((i * 7919) % 1000) / 100;
  switch (topic) {
    case 'trades': {
      const amount = 0.001 + (i % 13) / 1000;
      return { id: String(id), price, amount, cost: price * amount, side: i % 3 === 0 ? 'sell' : 'buy' };
    }
    case 'orderbook':
      return { bids: [[price - 0.5, 1.5], [price - 1, 2]], asks: [[price + 0.5, 1.25], [price + 1, 3]], nonce: id };
    case 'ticker':
      return { last: price, bid: price - 0.5, ask: price + 0.5, high: price + 10, low: price - 10, open: price - 1, base_volume: 1000, quote_volume: 5e7, vwap: price, percentage: 0.1 };
    default:
      return { open: price, high: price + 5, low: price - 5, close: price + 1, volume: 12.5, timeframe: '1m' };
  }
}

/**
 * Segments of one epoch: `count` records from `firstSeq`, `perSegment` to a segment, keyed as
 * rawSegmentKey does (first record's day). Record i has ts firstTs + i·stepMs and, for trades,
 * id firstId + i — so two epochs that overlap in time carry the same ids and content.
 */
export function* segments(spec: SegmentSpec): Generator<{ key: string; body: Buffer; records: number }> {
  const offsetIndex = spec.firstId !== undefined ? spec.firstId : 0;
  for (let start = 0; start < spec.count; start += spec.perSegment) {
    const n = Math.min(spec.perSegment, spec.count - start);
    const lines: string[] = [];
    let firstTs = 0;
    for (let j = 0; j < n; j++) {
      const i = start + j;
      const ts = spec.firstTs + i * spec.stepMs;
      if (j === 0) firstTs = ts;
      const id = offsetIndex + i;
      const data = dataOf(spec.stream.topic, id, id) as Record<string, unknown>;
      if (spec.fills && spec.stream.topic === 'trades') Object.assign(data, { first_trade_id: id * 3, last_trade_id: id * 3 + 2 });
      lines.push(JSON.stringify({ ...spec.stream, ts, ingest_ts: ts + 250, epoch: spec.epoch, seq: spec.firstSeq + i, data }));
    }
    yield { key: rawSegmentKey(spec.stream, spec.epoch, spec.firstSeq + start, firstTs), body: Buffer.from(lines.join('\n') + '\n'), records: n };
  }
}
