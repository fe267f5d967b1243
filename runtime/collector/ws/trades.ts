// runtime/collector/ws/trades.ts
// One trades stream over WebSocket (ccxt pro watchTrades): REST back-fill on every (re)connect, silent-socket detection, fenced appends.

import type { Exchange } from 'ccxt';
import { BtcError } from '../../errors.ts';
import { BadData } from '../errors.ts';
import { ensureCursor, streamIdOf, streamName } from '../stream-state.ts';
import { BoundedQueue } from './backpressure.ts';
import { wsExchange } from './exchange.ts';
import { Fenced, WsRunner } from './runner.ts';

interface WsTrade {
  id: number;
  ts: number;
  data: { id: string; price: number; amount: number; cost: number | null; side: string | null };
}

/**
 * Runs one `transport: ws` trades stream for one lease epoch. Each session: load the cursor (once per
 * epoch, reconciled with the raw segments), connect, and on the first batch back-fill over REST
 * (Binance `aggTrades?fromId=`) from the last stored id up to the first id of the socket; afterwards
 * every id jump inside the socket (a dropped message) is back-filled the same way and repeats are
 * dropped. An append happens only while this host still holds `epoch`. A back-fill that cannot be
 * completed fails the session before anything past the hole is appended: the cursor stays and the
 * next session tries again (with backoff), so the stored ids never have a hole.
 */
export class WsTradesRunner extends WsRunner {
  private readonly queue = new BoundedQueue<unknown>();
  private signal: (() => void) | null = null;

  protected async session(): Promise<void> {
    await ensureCursor(this.ctx, this.task, this.state, this.epoch);
    const rest = await this.pool.ready(this.task.exchange);
    if (typeof (rest as unknown as { publicGetAggTrades?: unknown }).publicGetAggTrades !== 'function') {
      throw new BtcError('InvalidInput', `${streamName(this.task)}: ws trades need an exchange with sequential trade ids (Binance) for the REST back-fill`);
    }
    if (this.fenced()) throw new Fenced();
    const ws = (this.ws = await wsExchange(this.task.exchange, rest, this.settings.exchangeUrl));
    const marketId = String(rest.market(this.task.symbol).id);
    this.queue.clear();
    // ccxt's parse and trade cache cost tens of µs a message, which caps a 2-core PC well below
    // 20,000 messages/s: this stream's aggTrades are taken raw in ccxt's message hook instead.
    const hooked = ws as unknown as { handleTrade: (client: unknown, message: unknown) => unknown };
    const original = hooked.handleTrade.bind(ws);
    hooked.handleTrade = (client, message) => {
      const m = message as { e?: unknown; s?: unknown };
      if (m?.e !== 'aggTrade' || m.s !== marketId) return original(client, message);
      this.queue.push(message, ws);
      this.signal?.();
      return undefined;
    };
    let first = true;
    this.newConnection();
    for (;;) {
      const batch = await this.withSilence(this.next(ws));
      this.assertSameConnection(ws);
      if (first) {
        this.stats.connected();
        first = false;
      }
      await this.commit(batch, rest);
    }
  }

  /** The raw aggTrades received since the last call; waits for one. Rejects when the socket fails. */
  private next(ws: Exchange): Promise<unknown[]> {
    if (this.queue.length) return Promise.resolve(this.queue.take());
    return new Promise<unknown[]>((resolve, reject) => {
      this.signal = () => {
        this.signal = null;
        resolve(this.queue.take());
      };
      // Keeps the subscription (ccxt resolves nothing: the hook took the messages) and reports a failed socket.
      ws.watchTrades(this.task.symbol, undefined, undefined, { name: 'aggTrade' }).catch((err: unknown) => {
        this.signal = null;
        reject(err);
      });
    });
  }

  private async commit(batch: unknown[], rest: Exchange): Promise<void> {
    const received = Date.now();
    const trades = parseAggTrades(batch, this.task.symbol).sort((a, b) => a.id - b.id);
    this.stats.messages += trades.length;
    const cursor = this.state.cursor!;
    let last = cursor.last_id;
    let lastTs = cursor.last_ts;
    const out: WsTrade[] = [];
    for (const t of trades) {
      if (last !== null && t.id <= last) {
        this.stats.duplicates++;
        continue;
      }
      if (last !== null && t.id > last + 1) {
        const filled = await this.backfill(rest, last + 1, t.id - 1);
        out.push(...filled);
        this.stats.backfilled += filled.length;
      }
      out.push(t);
      last = t.id;
      lastTs = t.ts;
    }
    if (!out.length) return;
    if (this.fenced()) throw new Fenced();
    const written = await this.ctx.streams.append(streamIdOf(this.task), this.epoch, out.map((t) => ({ ts: t.ts, data: t.data })));
    const appended = Date.now();
    this.state.cursor = { ...cursor, last_id: last, last_ts: lastTs };
    this.state.cursorDirty = true;
    this.state.lastOkMs = this.ctx.clock.now();
    this.state.failures = 0;
    this.state.cause = null;
    this.state.lastError = null;
    this.stats.appended(written.length, trades.map((t) => appended - t.ts), received);
    this.ctx.metrics?.recordStream(streamIdOf(this.task), { records: written.length, okAtMs: this.state.lastOkMs });
  }

  /** Ids [from, to] over REST, all of them or an error (the caller appends nothing past the hole). */
  private async backfill(rest: Exchange, from: number, to: number): Promise<WsTrade[]> {
    const endpoint = (rest as unknown as { publicGetAggTrades: (req: object) => Promise<unknown> }).publicGetAggTrades.bind(rest);
    const marketId = rest.market(this.task.symbol).id;
    const out: WsTrade[] = [];
    let next = from;
    while (next <= to) {
      if (this.fenced()) throw new Fenced();
      const limit = Math.min(this.settings.pageLimit, to - next + 1);
      const page = parseAggTrades(await endpoint({ symbol: marketId, fromId: next, limit }), this.task.symbol).sort((a, b) => a.id - b.id);
      const inRange = page.filter((t) => t.id >= next && t.id <= to);
      for (const t of inRange) {
        if (t.id !== next) throw new BtcError('Unavailable', `${streamName(this.task)}: back-fill ${from}–${to}: id ${next} not served (got ${t.id}); retried on the next connect`);
        out.push(t);
        next++;
      }
      if (!inRange.length) throw new BtcError('Unavailable', `${streamName(this.task)}: back-fill ${from}–${to}: id ${next} not served yet; retried on the next connect`);
    }
    if (out.length) {
      await this.ctx.audit
        .record('collector.ws.backfill', { exchange: this.task.exchange, topic: this.task.topic, symbol: this.task.symbol, epoch: this.epoch, from, to, count: out.length })
        .catch(() => undefined);
    }
    return out;
  }
}

/** Binance aggTrade `{ a, p, q, T, m }` (REST list or ws events) → the stored record; the same shape as the REST collector's. */
function parseAggTrades(raw: unknown, symbol: string): WsTrade[] {
  if (!Array.isArray(raw)) throw new BadData(`trades ${symbol}: expected a list of aggTrades, got ${typeof raw}`);
  return raw.map((t: { a?: unknown; p?: unknown; q?: unknown; T?: unknown; m?: unknown }) => {
    const id = Number(t?.a);
    const price = Number(t?.p);
    const amount = Number(t?.q);
    const ts = Number(t?.T);
    if (!Number.isSafeInteger(id) || !Number.isFinite(price) || !Number.isFinite(amount) || !Number.isFinite(ts)) {
      throw new BadData(`trades ${symbol}: aggTrade ${String(t?.a)} has no usable id, price, amount or time`);
    }
    return { id, ts, data: { id: String(id), price, amount, cost: price * amount, side: t.m === true ? 'sell' : 'buy' } };
  });
}
