// runtime/streams.ts
// Raw market-data streams: one durable segment log per (exchange, topic, symbol, epoch), shipped as raw/… keys.

import path from 'node:path';
import { isoDate, type Clock } from './clock.ts';
import { SegmentLog, type ShipOutcome } from './segments.ts';
import type { ObjectStore } from './store/types.ts';

export interface StreamId {
  exchange: string;
  topic: string;
  /** The ccxt symbol, e.g. `BTC/USDT`. */
  symbol: string;
}

export interface RawRecord extends StreamId {
  /** Exchange time of the datum (ms). */
  ts: number;
  /** When this runtime received it (ms, this host's wall clock). */
  ingest_ts: number;
  /** Lease epoch of the writer: the fencing token. */
  epoch: number;
  /** Gap-free inside one (exchange, topic, symbol, epoch). */
  seq: number;
  data: unknown;
}

/** `BTC/USDT:USDT` → `BTC-USDT_USDT`: the SYMBOL part of object keys. */
export function symbolKey(symbol: string): string {
  return symbol.replace(/\//g, '-').replace(/:/g, '_');
}

export function streamPrefix(id: StreamId): string {
  return `raw/${id.exchange}/${id.topic}/${symbolKey(id.symbol)}/`;
}

/** raw/<exchange>/<topic>/<SYMBOL>/dt=<YYYY-MM-DD>/<epoch:6>-<firstSeq:12>.jsonl */
export function rawSegmentKey(id: StreamId, epoch: number, firstSeq: number, firstTs: number): string {
  return `${streamPrefix(id)}dt=${isoDate(firstTs)}/${String(epoch).padStart(6, '0')}-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

export interface RawStreamsOptions {
  walDir: string;
  clock: Clock;
}

export class RawStreams {
  private readonly logs = new Map<string, SegmentLog<RawRecord>>();
  private readonly options: RawStreamsOptions;

  constructor(options: RawStreamsOptions) {
    this.options = options;
  }

  /** Appends items to the stream's segment for `epoch`, durably; returns the stamped records. */
  async append(id: StreamId, epoch: number, items: Array<{ ts: number; data: unknown }>): Promise<RawRecord[]> {
    const log = await this.logFor(id, epoch);
    const ingest = this.options.clock.now();
    const records = items.map((item) => ({ ...id, ts: item.ts, ingest_ts: ingest, epoch, seq: 0, data: item.data }));
    return log.append(records.map(({ seq: _seq, ...r }) => r as RawRecord));
  }

  /** Seals and uploads every stream's closed segments. */
  async ship(store: ObjectStore): Promise<ShipOutcome[]> {
    const outcomes: ShipOutcome[] = [];
    for (const log of this.logs.values()) outcomes.push(...(await log.ship(store)));
    return outcomes;
  }

  private async logFor(id: StreamId, epoch: number): Promise<SegmentLog<RawRecord>> {
    const name = `${id.exchange}/${id.topic}/${symbolKey(id.symbol)}/${String(epoch).padStart(6, '0')}`;
    let log = this.logs.get(name);
    if (!log) {
      log = new SegmentLog<RawRecord>({
        dir: path.join(this.options.walDir, 'raw', ...name.split('/')),
        keyFor: (first, firstSeq) => rawSegmentKey(id, epoch, firstSeq, first.ts),
      });
      await log.open();
      this.logs.set(name, log);
    }
    return log;
  }
}
