// runtime/collector/ws/trades.ts
// One trades stream over WebSocket (ccxt pro watchTrades): REST back-fill on every (re)connect, silent-socket detection, fenced appends.

import type { Exchange, Trade } from 'ccxt';
import type { FnContext } from '../../define.ts';
import { BtcError } from '../../errors.ts';
import { BadData } from '../errors.ts';
import type { ExchangePool } from '../exchanges.ts';
import { ensureCursor, streamIdOf, streamName, type StreamState } from '../tick.ts';
import type { StreamTask } from '../topics.ts';
import { wsExchange } from './exchange.ts';
import { WsStats } from './stats.ts';

export interface WsSettings {
  /** A socket with no message for this long (ms) is dead: closed and reconnected. */
  silentMs: number;
  /** Reconnect backoff cap (ms). */
  backoffMaxMs: number;
  /** Ids per REST back-fill page. */
  pageLimit: number;
  exchangeUrl: string | undefined;
}

interface WsTrade {
  id: number;
  ts: number;
  data: { id: string; price: number; amount: number; cost: number | null; side: string | null };
}

/** The socket said nothing for `silentMs`: treated as dead (tardis-machine and cryptofeed do the same). */
class SilentSocket extends Error {}
/** The lease moved or the runner was stopped: nothing more may be appended. */
class Fenced extends Error {}

/**
 * Runs one `transport: ws` trades stream for one lease epoch. Each session: load the cursor (once per
 * epoch, reconciled with the raw segments), connect, and on the first batch back-fill over REST
 * (Binance `aggTrades?fromId=`) from the last stored id up to the first id of the socket; afterwards
 * every id jump inside the socket (a dropped message) is back-filled the same way and repeats are
 * dropped. An append happens only while this host still holds `epoch`. A back-fill that cannot be
 * completed fails the session before anything past the hole is appended: the cursor stays and the
 * next session tries again (with backoff), so the stored ids never have a hole.
 */
export class WsTradesRunner {
  readonly stats = new WsStats();
  private stopped = false;
  private ws: Exchange | null = null;
  private done: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private readonly ctx: FnContext;
  private readonly task: StreamTask;
  readonly epoch: number;
  private readonly state: StreamState;
  private readonly pool: ExchangePool;
  private readonly settings: WsSettings;

  constructor(ctx: FnContext, task: StreamTask, epoch: number, state: StreamState, pool: ExchangePool, settings: WsSettings) {
    this.ctx = ctx;
    this.task = task;
    this.epoch = epoch;
    this.state = state;
    this.pool = pool;
    this.settings = settings;
  }

  start(): void {
    this.done = this.loop();
  }

  /** Stops at once (synchronously no further append starts); resolves when the socket is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    void this.ws?.close().catch(() => undefined);
    return this.done;
  }

  get running(): boolean {
    return !this.stopped;
  }

  private fenced(): boolean {
    const { lease, signal } = this.ctx;
    return this.stopped || signal.aborted || !lease.holder || lease.epoch !== this.epoch;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.fenced()) {
      let reason: string;
      try {
        await this.session();
        break;
      } catch (err) {
        if (this.fenced() || err instanceof Fenced) break;
        failures = this.stats.connectedSinceMs !== null && Date.now() - this.stats.connectedSinceMs > 30_000 ? 1 : failures + 1;
        reason = err instanceof SilentSocket ? 'silent' : err instanceof Error ? err.message : String(err);
        this.stats.disconnected(reason);
        this.state.failures = failures;
        this.state.cause = err instanceof SilentSocket ? 'network' : classifyCause(err);
        this.state.lastError = this.ctx.masker.text(reason).slice(0, 300);
        this.ctx.log.warn({ stream: streamName(this.task), reason: this.state.lastError, failures }, 'ws stream disconnected; reconnecting');
        await this.ctx.audit
          .record('collector.ws.reconnect', { exchange: this.task.exchange, topic: this.task.topic, symbol: this.task.symbol, epoch: this.epoch, reason: this.state.lastError, failures })
          .catch(() => undefined);
      } finally {
        const ws = this.ws;
        this.ws = null;
        await ws?.close().catch(() => undefined);
      }
      const delay = Math.min(this.settings.backoffMaxMs, 250 * 2 ** Math.min(failures - 1, 10)) * (0.75 + Math.random() * 0.5);
      await this.sleep(delay);
    }
    this.stats.disconnected(null);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async session(): Promise<void> {
    await ensureCursor(this.ctx, this.task, this.state, this.epoch);
    const rest = await this.pool.ready(this.task.exchange);
    if (typeof (rest as unknown as { publicGetAggTrades?: unknown }).publicGetAggTrades !== 'function') {
      throw new BtcError('InvalidInput', `${streamName(this.task)}: ws trades need an exchange with sequential trade ids (Binance) for the REST back-fill`);
    }
    if (this.fenced()) throw new Fenced();
    this.ws = await wsExchange(this.task.exchange, rest, this.settings.exchangeUrl);
    let first = true;
    for (;;) {
      const batch = await this.watch(this.ws);
      if (first) {
        this.stats.connected();
        first = false;
      }
      await this.commit(batch, rest);
    }
  }

  /** The next trades of the socket, or SilentSocket after `silentMs` without any. */
  private async watch(ws: Exchange): Promise<Trade[]> {
    let timer: NodeJS.Timeout | undefined;
    const watching = ws.watchTrades(this.task.symbol, undefined, undefined, { name: 'aggTrade' });
    watching.catch(() => undefined);
    try {
      return await Promise.race([
        watching,
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new SilentSocket(`no message for ${this.settings.silentMs} ms`)), this.settings.silentMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async commit(batch: Trade[], rest: Exchange): Promise<void> {
    const received = Date.now();
    const trades = batch.map((t) => normalise(t, this.task.symbol)).sort((a, b) => a.id - b.id);
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

function classifyCause(err: unknown): StreamState['cause'] {
  const name = err instanceof Error ? err.constructor.name : '';
  if (err instanceof BadData) return 'bad_data';
  if (/RateLimit|DDoS/.test(name)) return 'rate_limit';
  if (/Network|Timeout|RequestTimeout/.test(name)) return 'network';
  return 'exchange';
}

/** ccxt's parsed aggTrade → the record the REST path stores (runtime/collector/trades.ts), cost = price × amount. */
function normalise(t: Trade, symbol: string): WsTrade {
  const id = Number(t.id);
  if (!Number.isSafeInteger(id)) throw new BadData(`trades ${symbol}: ws trade without a usable id (${String(t.id)})`);
  if (!Number.isFinite(t.price) || !Number.isFinite(t.amount) || !Number.isFinite(t.timestamp)) throw new BadData(`trades ${symbol}: ws trade ${id} has no price, amount or time`);
  return { id, ts: t.timestamp!, data: { id: String(id), price: t.price!, amount: t.amount!, cost: t.price! * t.amount!, side: t.side ?? null } };
}

/** Binance aggTrade `{ a, p, q, T, m }` (REST) → the stored record; the same shape as the REST collector's. */
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
