// runtime/streams.ts
// Raw market-data streams: one durable segment log per (exchange, topic, symbol, epoch), shipped as raw/… keys.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Clock } from './clock.ts';
import { diskCauseOf, writeFileDurable } from './durable.ts';
import { rawSegmentKey, streamPrefix, symbolKey } from './keys.ts';
import { SegmentLog, type RecoveryReport, type ShipOutcome } from './segments.ts';
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

/** What a stream's log reports on its own: a torn line cut on open, a conflicting segment kept aside. */
export type StreamReport =
  | { kind: 'torn'; stream: StreamId; epoch: number; report: RecoveryReport }
  | { kind: 'unreadable'; stream: StreamId; epoch: number; error: string }
  | { kind: 'conflict'; stream: StreamId; epoch: number; outcome: Extract<ShipOutcome, { result: 'conflict' }> }
  /** Uploading this stream's segments failed (the others went on); `cause` is `disk_full`, `io_error` or the error code. */
  | { kind: 'ship_failed'; stream: StreamId; epoch: number; cause: string; error: string };

export interface RawStreamsOptions {
  walDir: string;
  clock: Clock;
  /** Told about torn lines and conflicts (the runtime audits them); never throws back into a tick. */
  onReport?: (report: StreamReport) => Promise<void> | void;
}

/** Written once per log directory so a restart can find every stream and epoch it left behind. */
const STREAM_META_FILE = 'stream.json';

/**
 * The WAL of the market-data streams. It belongs to the process that collects (`runtime start`):
 * short-lived CLI commands never open it, so two processes never append to one log.
 */
export class RawStreams {
  private readonly logs = new Map<string, SegmentLog<RawRecord>>();
  /** The StreamId of each log name (the SYMBOL in a name cannot be turned back into a ccxt symbol). */
  private readonly ids = new Map<string, StreamId>();
  private readonly options: RawStreamsOptions;
  private recovered: Promise<void> | undefined;
  /** Streams (key prefix) whose segments failed to upload in the last ship(), with the cause. */
  private failedLastShip = new Map<string, string>();

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

  /**
   * Seals and uploads every stream's closed segments, including those of earlier epochs and
   * earlier runs found in the WAL. A conflicting segment is reported and kept aside. Each stream
   * ships on its own: one whose upload fails (an odd store answer, a key it cannot write) is
   * reported (`ship_failed`, with its cause) and stays in its local log, and the others carry on;
   * `shipFailed(id)` says which failed. Never throws for one stream's failure.
   */
  async ship(store: ObjectStore): Promise<ShipOutcome[]> {
    await this.recoverAll();
    const outcomes: ShipOutcome[] = [];
    const failed = new Map<string, string>();
    for (const [name, log] of this.logs) {
      const { stream, epoch } = this.parseName(name);
      let shipped: ShipOutcome[];
      try {
        shipped = await log.ship(store);
      } catch (err) {
        const code = (err as { code?: unknown })?.code;
        const cause = diskCauseOf(err) ?? (typeof code === 'string' ? code : 'unknown');
        failed.set(streamPrefix(stream), cause);
        await this.report({ kind: 'ship_failed', stream, epoch, cause, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      outcomes.push(...shipped);
      for (const outcome of shipped) {
        if (outcome.result !== 'conflict') continue;
        await this.report({ kind: 'conflict', stream, epoch, outcome });
      }
    }
    this.failedLastShip = failed;
    return outcomes;
  }

  /** True when the last ship() could not upload this stream's segments (they wait in its local log). */
  shipFailed(id: StreamId): boolean {
    return this.failedLastShip.has(streamPrefix(id));
  }

  /** Why the last ship() could not upload this stream (`disk_full`, `io_error`, an error code); null when it could. */
  shipFailureOf(id: StreamId): string | null {
    return this.failedLastShip.get(streamPrefix(id)) ?? null;
  }

  /** Opens every log left in the WAL (cutting and reporting torn lines); once per process. */
  recoverAll(): Promise<void> {
    this.recovered ??= this.openLeftovers();
    return this.recovered;
  }

  private async openLeftovers(): Promise<void> {
    const root = path.join(this.options.walDir, 'raw');
    for (const metaFile of await findFiles(root, STREAM_META_FILE, 4)) {
      const meta = await fsp
        .readFile(metaFile, 'utf8')
        .then((t) => JSON.parse(t) as StreamId & { epoch: number })
        .catch(() => null);
      if (!meta || typeof meta.epoch !== 'number') continue;
      const id = { exchange: meta.exchange, topic: meta.topic, symbol: meta.symbol };
      // One damaged log must not keep every other stream from shipping: report it and go on.
      await this.logFor(id, meta.epoch).catch((err) => this.report({ kind: 'unreadable', stream: id, epoch: meta.epoch, error: String(err instanceof Error ? err.message : err) }));
    }
  }

  private parseName(name: string): { stream: StreamId; epoch: number } {
    return { stream: this.ids.get(name)!, epoch: Number(name.split('/').pop()) };
  }

  private async report(report: StreamReport): Promise<void> {
    try {
      await this.options.onReport?.(report);
    } catch {
      // Reporting must never stop collection; the runtime's hook logs its own failures.
    }
  }

  private async logFor(id: StreamId, epoch: number): Promise<SegmentLog<RawRecord>> {
    const name = `${id.exchange}/${id.topic}/${symbolKey(id.symbol)}/${String(epoch).padStart(6, '0')}`;
    let log = this.logs.get(name);
    if (!log) {
      const dir = path.join(this.options.walDir, 'raw', ...name.split('/'));
      log = new SegmentLog<RawRecord>({
        dir,
        keyFor: (first, firstSeq) => rawSegmentKey(id, epoch, firstSeq, first.ts),
      });
      this.logs.set(name, log);
      this.ids.set(name, { exchange: id.exchange, topic: id.topic, symbol: id.symbol });
      const recovery = await log.open().catch((err: unknown) => {
        this.logs.delete(name); // the next append tries again (and fails loudly) instead of using a broken log
        throw err;
      });
      await writeFileDurable(path.join(dir, STREAM_META_FILE), JSON.stringify({ ...this.ids.get(name), epoch }));
      if (recovery.tornBytes > 0) await this.report({ kind: 'torn', stream: this.ids.get(name)!, epoch, report: recovery });
    }
    return log;
  }
}

/** Files named `name` exactly `depth` directories below `root`. */
async function findFiles(root: string, name: string, depth: number): Promise<string[]> {
  if (depth === 0) {
    const file = path.join(root, name);
    return (await fsp.stat(file).then((s) => s.isFile()).catch(() => false)) ? [file] : [];
  }
  const entries = await fsp.readdir(root, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const e of entries.filter((e) => e.isDirectory()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    found.push(...(await findFiles(path.join(root, e.name), name, depth - 1)));
  }
  return found;
}
