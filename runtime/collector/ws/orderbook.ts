// runtime/collector/ws/orderbook.ts
// One order book stream over WebSocket: REST snapshot + Binance diffs (U/u), resync on a sequence break or a crossed book, diffs and snapshots stored.

import type { Exchange } from 'ccxt';
import ccxt from '../ccxt.ts';
import { BtcError } from '../../errors.ts';
import { BadData } from '../errors.ts';
import { streamIdOf, streamName } from '../stream-state.ts';
import { LocalBook, type BookLevel, type BookRecord } from './book.ts';
import { wsExchange } from './exchange.ts';
import { Fenced, WsRunner } from './runner.ts';

/** Binance `depthUpdate` as received (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams#diff-depth-stream). */
interface DepthUpdate {
  e: 'depthUpdate';
  E: number;
  s: string;
  U: number;
  u: number;
  b: Array<[string, string]>;
  a: Array<[string, string]>;
}

/**
 * Keeps the full book (up to the stream's `depth` per side) from a REST snapshot plus the diff
 * stream, following Binance's rules ("How to manage a local order book correctly"): diffs are
 * buffered from the subscription on; the snapshot's `lastUpdateId` drops the older ones; the first
 * applied diff must straddle it (U ≤ lastUpdateId + 1 ≤ u) and every later one continue it
 * (U = previous u + 1). A break, or a crossed book after a diff, is a resync (audited
 * `collector.orderbook.resync`): a new snapshot, stored with reason `resync`. Stored records
 * (runtime/collector/ws/book.ts BookRecord): each applied diff as received, a snapshot at every
 * (re)sync and every `snapshotEveryMs`, so rebuildBook() gives any moment.
 *
 * ccxt pro's watchOrderBook keeps the subscription (and its own book, which is not used); the raw
 * diffs are taken in ccxt's message hook `handleOrderBook` before ccxt parses them.
 */
export class WsBookRunner extends WsRunner {
  private queue: DepthUpdate[] = [];
  private signal: (() => void) | null = null;
  private book: LocalBook | null = null;
  /** The last snapshot was taken and no diff applied on it yet (the straddle rule applies). */
  private fresh = false;
  private lastSnapshotMs = 0;
  private resyncReason: string | null = null;

  /** The book as this runner holds it now (tests compare it with the exchange's). */
  current(): { updateId: number; bids: BookLevel[]; asks: BookLevel[] } | null {
    return this.book ? { updateId: this.book.updateId, ...this.book.top(this.task.depth) } : null;
  }

  protected async session(): Promise<void> {
    const rest = await this.pool.ready(this.task.exchange);
    if (typeof (rest as unknown as { publicGetDepth?: unknown }).publicGetDepth !== 'function') {
      throw new BtcError('InvalidInput', `${streamName(this.task)}: ws order books are implemented for Binance-format exchanges (U/u update ids) only`);
    }
    if (this.fenced()) throw new Fenced();
    const ws = (this.ws = await wsExchange(this.task.exchange, rest, this.settings.exchangeUrl));
    const marketId = String(rest.market(this.task.symbol).id);
    this.queue = [];
    this.book = null;
    const hooked = ws as unknown as { handleOrderBook: (client: unknown, message: unknown) => unknown };
    const original = hooked.handleOrderBook.bind(ws);
    hooked.handleOrderBook = (client, message) => {
      const m = message as Partial<DepthUpdate>;
      if (m?.e === 'depthUpdate' && m.s === marketId) {
        this.queue.push(m as DepthUpdate);
        this.signal?.();
        // Not handed to ccxt: its own copy of the book (and its buffer of diffs, which grows
        // without bound while its snapshot is missing) would double this stream's memory for nothing.
        return undefined;
      }
      try {
        return original(client, message);
      } catch {
        return undefined; // ccxt's own book and nonce checks: ours decide
      }
    };
    let first = true;
    this.newConnection();
    for (;;) {
      const diffs = await this.withSilence(this.next(ws));
      this.assertSameConnection(ws);
      if (first) {
        this.stats.connected();
        first = false;
      }
      await this.apply(diffs, rest, marketId);
    }
  }

  /** The diffs received since the last call; waits for one. Rejects when the socket fails. */
  private next(ws: Exchange): Promise<DepthUpdate[]> {
    const drain = () => this.queue.splice(0, this.queue.length);
    if (this.queue.length) return Promise.resolve(drain());
    return new Promise<DepthUpdate[]>((resolve, reject) => {
      this.signal = () => {
        this.signal = null;
        resolve(drain());
      };
      // Keeps the subscription; its own book errors (InvalidNonce, checksum) are not ours.
      ws.watchOrderBook(this.task.symbol).catch((err: unknown) => {
        if (err instanceof ccxt.NetworkError || this.fenced()) {
          this.signal = null;
          reject(err);
        }
      });
    });
  }

  private async apply(diffs: DepthUpdate[], rest: Exchange, marketId: string): Promise<void> {
    const records: Array<{ ts: number; data: BookRecord }> = [];
    const lags: number[] = [];
    for (const d of diffs) {
      this.stats.messages++;
      if (!this.book) records.push(await this.snapshot(rest, marketId));
      const book = this.book!;
      if (d.u <= book.updateId) continue; // older than the snapshot
      const breaks = this.fresh ? d.U > book.updateId + 1 : d.U !== book.updateId + 1;
      if (breaks) {
        await this.resync(`sequence break: expected U ${book.updateId + 1}, got ${d.U}–${d.u}`, { expected_u: book.updateId + 1, got_U: d.U, got_u: d.u });
        records.push(await this.snapshot(rest, marketId));
        if (d.u <= this.book!.updateId) continue;
        if (d.U > this.book!.updateId + 1) continue; // still ahead: the next diffs decide
      }
      const diff = { U: d.U, u: d.u, bids: parseLevels(d.b, this.task.symbol), asks: parseLevels(d.a, this.task.symbol) };
      this.book!.apply(diff);
      this.book!.trim(this.task.depth);
      this.fresh = false;
      records.push({ ts: d.E, data: { type: 'diff', ...diff } });
      lags.push(d.E);
      if (this.book!.crossed()) {
        const top = this.book!.top(1);
        await this.resync(`crossed book after update ${d.u}: best bid ${top.bids[0]?.[0]} ≥ best ask ${top.asks[0]?.[0]}`, { update_id: d.u });
        records.push(await this.snapshot(rest, marketId));
      }
    }
    if (this.book && Date.now() - this.lastSnapshotMs >= this.settings.snapshotEveryMs) records.push(this.snapshotRecord('periodic'));
    if (!records.length) return;
    if (this.fenced()) throw new Fenced();
    const written = await this.ctx.streams.append(streamIdOf(this.task), this.epoch, records);
    const appended = Date.now();
    this.state.lastOkMs = this.ctx.clock.now();
    this.state.failures = 0;
    this.state.cause = null;
    this.state.lastError = null;
    this.stats.appended(written.length, lags.map((e) => appended - e), appended);
    this.ctx.metrics?.recordStream(streamIdOf(this.task), { records: written.length, okAtMs: this.state.lastOkMs });
  }

  private async resync(reason: string, extra: Record<string, unknown>): Promise<void> {
    this.stats.resyncs++;
    this.book = null;
    this.resyncReason = reason;
    this.ctx.log.warn({ stream: streamName(this.task), reason }, 'order book resync');
    await this.ctx.audit
      .record('collector.orderbook.resync', { exchange: this.task.exchange, topic: this.task.topic, symbol: this.task.symbol, epoch: this.epoch, reason, ...extra })
      .catch(() => undefined);
  }

  /** A REST snapshot (Binance `/api/v3/depth`, `lastUpdateId`) becomes the book; its record is returned. */
  private async snapshot(rest: Exchange, marketId: string): Promise<{ ts: number; data: BookRecord }> {
    if (this.fenced()) throw new Fenced();
    const endpoint = (rest as unknown as { publicGetDepth: (req: object) => Promise<unknown> }).publicGetDepth.bind(rest);
    const raw = (await endpoint({ symbol: marketId, limit: this.task.depth })) as { lastUpdateId?: unknown; bids?: unknown; asks?: unknown };
    const updateId = Number(raw?.lastUpdateId);
    if (!Number.isSafeInteger(updateId) || !Array.isArray(raw.bids) || !Array.isArray(raw.asks)) throw new BadData(`order book ${this.task.symbol}: snapshot without lastUpdateId, bids or asks`);
    this.book = new LocalBook({ update_id: updateId, bids: parseLevels(raw.bids, this.task.symbol), asks: parseLevels(raw.asks, this.task.symbol) });
    this.book.trim(this.task.depth);
    this.fresh = true;
    const reason = this.resyncReason ? 'resync' : 'sync';
    this.resyncReason = null;
    return this.snapshotRecord(reason);
  }

  private snapshotRecord(reason: 'sync' | 'resync' | 'periodic'): { ts: number; data: BookRecord } {
    this.lastSnapshotMs = Date.now();
    const book = this.book!;
    return { ts: this.ctx.clock.now(), data: { type: 'snapshot', update_id: book.updateId, reason, ...book.top(this.task.depth) } };
  }
}

function parseLevels(raw: unknown, symbol: string): BookLevel[] {
  if (!Array.isArray(raw)) throw new BadData(`order book ${symbol}: levels are not a list`);
  return raw.map((l: unknown) => {
    const p = Number((l as unknown[])?.[0]);
    const q = Number((l as unknown[])?.[1]);
    if (!Number.isFinite(p) || !Number.isFinite(q) || q < 0) throw new BadData(`order book ${symbol}: bad level ${JSON.stringify(l)}`);
    return [p, q];
  });
}
