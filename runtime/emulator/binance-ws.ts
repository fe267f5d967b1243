// runtime/emulator/binance-ws.ts
// Binance spot WebSocket market streams (raw /ws and combined /stream, SUBSCRIBE: aggTrade, depth, ticker, bookTicker, kline), from the REST side's MarketModel, with fault switches.

import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono } from 'hono';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { INTERVAL_MS, kline, ticker24h } from './binance.ts';
import { bookAt, diffLevels } from './book.ts';
import { fixed, marketIdOf, type MarketModel, type SymbolSpec } from './market.ts';

/** Binance closes every connection after 24 h (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams). */
export const BINANCE_FORCED_DISCONNECT_MS = 86_400_000;
/** How often the emulator pushes what the market produced since the last push (ms). */
const PUMP_MS = 20;
/** At most this many events of one stream per push, so a socket that fell far behind cannot stall the loop. */
const MAX_EVENTS_PER_PUMP = 20_000;
/** Unsent bytes queued for one connection beyond which it is cut (a slow consumer). */
const SLOW_CONSUMER_BYTES = 32 * 2 ** 20;
/** Levels per side the diff stream covers (a collector's depth cap must not exceed it). */
export const WS_BOOK_LEVELS = 200;
/** Binance's `depth@100ms` update speed. */
const DEPTH_EVERY_MS = 100;
/** Intermediate books a diff accounts for (a busier window sends the removals it can). */
const MAX_BOOKS_PER_DIFF = 64;
/** Binance's `@ticker` update speed. */
const TICKER_EVERY_MS = 1_000;
/** Binance's kline update speed: 1000 ms for `kline_1s`, 2000 ms for the other intervals. */
const klineEveryMs = (stepMs: number) => (stepMs === 1_000 ? 1_000 : 2_000);
/** Closed candles sent at most in one push (a socket whose market time jumped far ahead gets the newest). */
const MAX_CLOSED_KLINES_PER_PUMP = 100;

/** Settings of the WebSocket faults (`PUT /admin/ws`); actions are `POST /admin/ws/drop` and `/admin/ws/silence`. */
export const wsFaultsSchema = z.strictObject({
  /** Each message is sent twice with this probability (seeded dice). */
  duplicate: z.strictObject({ ratio: z.number().min(0).max(1) }).optional(),
  /** Connections are closed this long (ms) after they opened: Binance's 24-hour disconnect, made short. */
  forcedDisconnectMs: z.number().int().min(100).max(BINANCE_FORCED_DISCONNECT_MS).optional(),
});
export type WsFaults = z.infer<typeof wsFaultsSchema>;

export interface WsCounters {
  connections: number;
  open: number;
  messages: number;
  dropped: number;
  silenced: number;
  duplicated: number;
  forcedDisconnects: number;
  skippedDiffs: number;
  /** Connections cut because they did not read (more than 32 MB queued). */
  slowConsumers: number;
}

interface Subscription {
  /** Stream name as Binance spells it: `btcusdt@aggTrade`. */
  name: string;
  spec: SymbolSpec;
  kind: 'aggTrade' | 'depth' | 'ticker' | 'miniTicker' | 'bookTicker' | 'kline';
  /** aggTrade: the next trade id to push; depth, bookTicker: the last update id pushed (u); kline: open time (ms) of the candle forming at the last push. */
  nextId: number;
  /** depth, ticker, kline: wall ms of the last push. */
  lastPushMs: number;
  /** kline: Binance interval (`1s`, `1m`, …) and its length (ms). */
  interval?: string;
  stepMs?: number;
}

interface Connection {
  socket: WebSocket;
  combined: boolean;
  openedAt: number;
  silent: boolean;
  /** Diffs still to leave out (sequence-break fault). */
  skipDiffs: number;
  subs: Map<string, Subscription>;
}

export interface BinanceWsOptions {
  model: MarketModel;
  /** The market's clock (the REST side's `now`, with its clock offset and freeze). */
  now: () => number;
  /** Whether a symbol is delisted (the REST fault switch): its streams send nothing. */
  listed?: (spec: SymbolSpec) => boolean;
}

/**
 * The WebSocket side of the emulator. `attach(server)` serves upgrades on `/ws`, `/ws/<anything>`
 * (raw events; ccxt's binance connects to `<urls.api.ws.spot>/<n>` and sends SUBSCRIBE) and
 * `/stream?streams=a/b` (combined: `{ stream, data }`). Events follow Binance's formats
 * (https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams): aggTrade
 * `{ e, E, s, a, p, q, f, l, T, m, M }`; depthUpdate `{ e, E, s, U, u, b, a }` every 100 ms, update
 * ids being trade ids, so `/api/v3/depth`'s `lastUpdateId` and the diffs share one sequence;
 * `@ticker` 24hrTicker `{ e, E, s, p, P, w, x, c, Q, b, B, a, A, o, h, l, v, q, O, C, F, L, n }` every
 * second with `/api/v3/ticker/24hr`'s values (`@miniTicker`: `{ e, E, s, c, o, h, l, v, q }`); `@bookTicker` `{ u, s, b, B, a, A }` (no `e`) on every
 * new trade; `@kline_<interval>` `{ e: 'kline', E, s, k: { t, T, s, i, f, L, o, c, h, l, v, n, x, q, V, Q, B } }`
 * with `/api/v3/klines`' values, the forming candle every 1 s (`1s`) or 2 s, and each candle once
 * more with `x: true` as it closes (REST faults such as noCandle do not apply to the socket).
 */
export class BinanceWs {
  readonly counters: WsCounters = { connections: 0, open: 0, messages: 0, dropped: 0, silenced: 0, duplicated: 0, forcedDisconnects: 0, skippedDiffs: 0, slowConsumers: 0 };
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly connections = new Set<Connection>();
  private faults: WsFaults = {};
  private dice = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly options: BinanceWsOptions;

  constructor(options: BinanceWsOptions) {
    this.options = options;
    this.timer = setInterval(() => this.pump(), PUMP_MS);
    this.timer.unref();
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', 'http://emulator');
      const combined = url.pathname === '/stream';
      if (!combined && url.pathname !== '/ws' && !url.pathname.startsWith('/ws/')) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, combined, url.searchParams.get('streams')));
    });
  }

  getFaults(): WsFaults {
    return structuredClone(this.faults);
  }

  setFaults(faults: z.input<typeof wsFaultsSchema>): void {
    this.faults = wsFaultsSchema.parse(faults);
  }

  /** Cuts every open connection at once (no close frame), as a network drop does. */
  drop(): number {
    let n = 0;
    for (const c of this.connections) {
      c.socket.terminate();
      n++;
    }
    this.counters.dropped += n;
    return n;
  }

  /** Every connection open now stops sending (it stays open and answers pings); new ones are live. */
  silence(): number {
    let n = 0;
    for (const c of this.connections) if (!c.silent) (c.silent = true), n++;
    this.counters.silenced += n;
    return n;
  }

  /** Every open connection leaves its next depth diff out: the client sees `U` ≠ previous `u` + 1. */
  skipDiff(): number {
    let n = 0;
    for (const c of this.connections) if ([...c.subs.values()].some((s) => s.kind === 'depth')) (c.skipDiffs++, n++);
    return n;
  }

  /** Streams subscribed on open connections (for tests and /admin/ws). */
  subscriptions(): string[] {
    return [...this.connections].flatMap((c) => [...c.subs.keys()]);
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.connections) c.socket.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private open(socket: WebSocket, combined: boolean, streams: string | null): void {
    const conn: Connection = { socket, combined, openedAt: Date.now(), silent: false, skipDiffs: 0, subs: new Map() };
    this.connections.add(conn);
    this.counters.connections++;
    this.counters.open++;
    for (const name of (streams ?? '').split('/').filter(Boolean)) this.subscribe(conn, name);
    socket.on('message', (raw) => this.onMessage(conn, raw.toString()));
    socket.on('close', () => {
      if (this.connections.delete(conn)) this.counters.open--;
    });
    socket.on('error', () => undefined);
  }

  private onMessage(conn: Connection, text: string): void {
    let msg: { method?: unknown; params?: unknown; id?: unknown };
    try {
      msg = JSON.parse(text);
    } catch {
      conn.socket.send(JSON.stringify({ code: 2, msg: 'Invalid JSON' }));
      return;
    }
    const id = typeof msg.id === 'number' || typeof msg.id === 'string' ? msg.id : null;
    const params = Array.isArray(msg.params) ? msg.params.filter((p): p is string => typeof p === 'string') : [];
    if (msg.method === 'SUBSCRIBE') {
      const bad = params.filter((p) => !this.subscribe(conn, p));
      if (bad.length) conn.socket.send(JSON.stringify({ error: { code: 2, msg: `Invalid request: unknown stream ${bad.join(',')}` }, id }));
      else conn.socket.send(JSON.stringify({ result: null, id }));
    } else if (msg.method === 'UNSUBSCRIBE') {
      for (const p of params) conn.subs.delete(p);
      conn.socket.send(JSON.stringify({ result: null, id }));
    } else if (msg.method === 'LIST_SUBSCRIPTIONS') {
      conn.socket.send(JSON.stringify({ result: [...conn.subs.keys()], id }));
    } else {
      conn.socket.send(JSON.stringify({ error: { code: 2, msg: `Invalid request: method ${String(msg.method)}` }, id }));
    }
  }

  /**
   * Adds `btcusdt@aggTrade`, `btcusdt@depth@100ms` (or `@depth`), `btcusdt@ticker`, `btcusdt@bookTicker`,
   * `btcusdt@kline_<interval>`; false when unknown. Trades and diffs start with the next trade / update;
   * a ticker and the forming candle are pushed at once, as Binance does.
   */
  private subscribe(conn: Connection, name: string): boolean {
    const [symbolPart, kind, speed] = name.split('@');
    const depth = kind === 'depth' && (speed === undefined || speed === '100ms' || speed === '1000ms');
    const interval = kind?.startsWith('kline_') ? kind.slice('kline_'.length) : undefined;
    const stepMs = interval !== undefined ? INTERVAL_MS[interval] : undefined;
    const simple = kind === 'aggTrade' || kind === 'ticker' || kind === 'miniTicker' || kind === 'bookTicker';
    if ((!simple && !depth && stepMs === undefined) || speed !== undefined && !depth || !symbolPart) return false;
    const spec = this.options.model.specs.find((s) => marketIdOf(s).toLowerCase() === symbolPart);
    if (!spec) return false;
    if (conn.subs.has(name)) return true;
    const t = this.options.now();
    const last = this.options.model.lastTradeId(spec, t);
    if (stepMs !== undefined) {
      conn.subs.set(name, { name, spec, kind: 'kline', nextId: Math.floor(t / stepMs) * stepMs, lastPushMs: 0, interval: interval!, stepMs });
    } else {
      const k = depth ? 'depth' : (kind as 'aggTrade' | 'ticker' | 'miniTicker' | 'bookTicker');
      const ticker = k === 'ticker' || k === 'miniTicker';
      conn.subs.set(name, { name, spec, kind: k, nextId: k === 'aggTrade' ? last + 1 : k === 'bookTicker' ? last - 1 : last, lastPushMs: ticker ? 0 : Date.now() });
    }
    return true;
  }

  /** `@ticker`: a 24hrTicker every second with `/api/v3/ticker/24hr`'s values; `@miniTicker` its `{ e, E, s, c, o, h, l, v, q }`. */
  private pushTicker(conn: Connection, sub: Subscription, t: number, wall: number, listed: boolean): void {
    if (wall - sub.lastPushMs < TICKER_EVERY_MS) return;
    sub.lastPushMs = wall;
    if (!listed || conn.silent) return;
    const r = ticker24h(this.options.model, sub.spec, t);
    if (sub.kind === 'miniTicker') {
      this.send(conn, sub.name, { e: '24hrMiniTicker', E: wall, s: r.symbol, c: r.lastPrice, o: r.openPrice, h: r.highPrice, l: r.lowPrice, v: r.volume, q: r.quoteVolume });
      return;
    }
    this.send(conn, sub.name, {
      e: '24hrTicker', E: wall, s: r.symbol, p: r.priceChange, P: r.priceChangePercent, w: r.weightedAvgPrice, x: r.prevClosePrice,
      c: r.lastPrice, Q: r.lastQty, b: r.bidPrice, B: r.bidQty, a: r.askPrice, A: r.askQty, o: r.openPrice, h: r.highPrice, l: r.lowPrice,
      v: r.volume, q: r.quoteVolume, O: r.openTime, C: r.closeTime, F: r.firstId, L: r.lastId, n: r.count,
    });
  }

  /** `@bookTicker`: best bid and ask (the REST ticker's) whenever a trade moved them; `u` is the update id (the trade id). */
  private pushBookTicker(conn: Connection, sub: Subscription, t: number, listed: boolean): void {
    const { model } = this.options;
    const u = model.lastTradeId(sub.spec, t);
    if (u <= sub.nextId) return;
    sub.nextId = u;
    if (!listed || conn.silent) return;
    const price = model.price(sub.spec, u);
    const px = (v: number) => fixed(v, sub.spec.tickSize);
    this.send(conn, sub.name, {
      u, s: marketIdOf(sub.spec),
      b: px(price - sub.spec.tickSize), B: fixed(model.quantity(sub.spec, u, 1), sub.spec.stepSize),
      a: px(price + sub.spec.tickSize), A: fixed(model.quantity(sub.spec, u, 2), sub.spec.stepSize),
    });
  }

  /** `@kline_<interval>`: every candle that closed since the last push once with `x: true`, then the forming one. */
  private pushKline(conn: Connection, sub: Subscription, t: number, wall: number, listed: boolean): void {
    const step = sub.stepMs!;
    const forming = Math.floor(t / step) * step;
    const send = (open: number, closed: boolean) => {
      if (listed && !conn.silent) this.send(conn, sub.name, this.klineEvent(sub, open, t, wall, closed));
    };
    if (forming > sub.nextId) {
      for (let open = Math.max(sub.nextId, forming - MAX_CLOSED_KLINES_PER_PUMP * step); open < forming; open += step) send(open, true);
      sub.nextId = forming;
    } else if (wall - sub.lastPushMs < klineEveryMs(step)) {
      return;
    }
    sub.lastPushMs = wall;
    send(forming, false);
  }

  private klineEvent(sub: Subscription, open: number, t: number, wall: number, closed: boolean): object {
    const { model } = this.options;
    const step = sub.stepMs!;
    const row = kline(model, sub.spec, open, step, t);
    const first = model.firstTradeIdAtOrAfter(sub.spec, open);
    const last = Math.min(model.lastTradeId(sub.spec, Math.min(open + step - 1, t)), model.firstTradeIdAtOrAfter(sub.spec, open + step) - 1);
    const s = marketIdOf(sub.spec);
    return {
      e: 'kline', E: wall, s,
      k: {
        t: open, T: open + step - 1, s, i: sub.interval, f: last >= first ? first : -1, L: last >= first ? last : -1,
        o: row[1], c: row[4], h: row[2], l: row[3], v: row[5], n: row[8], x: closed, q: row[7], V: row[9], Q: row[10], B: '0',
      },
    };
  }

  /** One `depthUpdate` from the last pushed update id to the current one (Binance: U = previous u + 1). */
  private pushDepth(conn: Connection, sub: Subscription, t: number, wall: number, listed: boolean): void {
    if (wall - sub.lastPushMs < DEPTH_EVERY_MS) return;
    const u = this.options.model.lastTradeId(sub.spec, t);
    if (u <= sub.nextId) return;
    sub.lastPushMs = wall;
    const before = bookAt(this.options.model, sub.spec, sub.nextId, WS_BOOK_LEVELS);
    const after = bookAt(this.options.model, sub.spec, u, WS_BOOK_LEVELS);
    // Levels that came and went inside the window are sent too, as Binance does.
    const window = [before];
    for (let k = sub.nextId + 1; k < u && k <= sub.nextId + MAX_BOOKS_PER_DIFF; k++) window.push(bookAt(this.options.model, sub.spec, k, WS_BOOK_LEVELS));
    const event = {
      e: 'depthUpdate', E: wall, s: marketIdOf(sub.spec), U: sub.nextId + 1, u,
      b: diffLevels(window.map((w) => w.bids), after.bids, sub.spec.stepSize),
      a: diffLevels(window.map((w) => w.asks), after.asks, sub.spec.stepSize),
    };
    sub.nextId = u;
    if (!listed || conn.silent) return;
    if (conn.skipDiffs > 0) {
      conn.skipDiffs--;
      this.counters.skippedDiffs++;
      return;
    }
    this.send(conn, sub.name, event);
  }

  private pump(): void {
    const t = this.options.now();
    const wall = Date.now();
    for (const conn of this.connections) {
      if (this.faults.forcedDisconnectMs !== undefined && wall - conn.openedAt >= this.faults.forcedDisconnectMs) {
        // Binance's 24-hour cut is a normal close.
        this.counters.forcedDisconnects++;
        this.connections.delete(conn);
        this.counters.open--;
        conn.socket.close(1000, 'forced disconnect (emulated 24 h limit)');
        continue;
      }
      for (const sub of conn.subs.values()) {
        if (sub.kind === 'depth') {
          this.pushDepth(conn, sub, t, wall, this.options.listed?.(sub.spec) ?? true);
          continue;
        }
        if (sub.kind === 'ticker' || sub.kind === 'miniTicker') {
          this.pushTicker(conn, sub, t, wall, this.options.listed?.(sub.spec) ?? true);
          continue;
        }
        if (sub.kind === 'bookTicker') {
          this.pushBookTicker(conn, sub, t, this.options.listed?.(sub.spec) ?? true);
          continue;
        }
        if (sub.kind === 'kline') {
          this.pushKline(conn, sub, t, wall, this.options.listed?.(sub.spec) ?? true);
          continue;
        }
        const last = this.options.model.lastTradeId(sub.spec, t);
        if (last < sub.nextId) continue;
        const upTo = Math.min(last, sub.nextId + MAX_EVENTS_PER_PUMP - 1);
        const listed = this.options.listed?.(sub.spec) ?? true;
        for (let id = sub.nextId; id <= upTo; id++) {
          if (!listed || conn.silent) continue;
          const trade = this.options.model.aggTrade(sub.spec, id);
          this.send(conn, sub.name, { e: 'aggTrade', E: wall, s: marketIdOf(sub.spec), ...trade });
        }
        sub.nextId = upTo + 1;
      }
    }
  }

  private send(conn: Connection, stream: string, data: object): void {
    if (conn.socket.readyState !== conn.socket.OPEN) return;
    // A client that does not read is cut off, as Binance does with slow consumers (and the emulator's memory stays bounded).
    if (conn.socket.bufferedAmount > SLOW_CONSUMER_BYTES) {
      this.counters.slowConsumers++;
      conn.socket.terminate();
      return;
    }
    const text = JSON.stringify(conn.combined ? { stream, data } : data);
    conn.socket.send(text);
    this.counters.messages++;
    const dup = this.faults.duplicate;
    if (dup && this.options.model.chance(1_000_000_000 + this.dice++) < dup.ratio) {
      conn.socket.send(text);
      this.counters.duplicated++;
    }
  }
}

/** `/admin/ws`: GET state, PUT settings (zod-checked, 400 with the issues), POST drop / silence, DELETE clears. */
export function wsAdminRoutes(ws: BinanceWs): Hono {
  const app = new Hono();
  app.get('/admin/ws', (c) => c.json({ faults: ws.getFaults(), counters: ws.counters, subscriptions: ws.subscriptions() }));
  app.put('/admin/ws', async (c) => {
    const parsed = wsFaultsSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.json({ ok: false, error: 'invalid_input', issues: parsed.error.issues }, 400);
    ws.setFaults(parsed.data);
    return c.json({ ok: true, faults: ws.getFaults() });
  });
  app.delete('/admin/ws', (c) => {
    ws.setFaults({});
    return c.json({ ok: true });
  });
  app.post('/admin/ws/drop', (c) => c.json({ ok: true, dropped: ws.drop() }));
  app.post('/admin/ws/silence', (c) => c.json({ ok: true, silenced: ws.silence() }));
  app.post('/admin/ws/skip-diff', (c) => c.json({ ok: true, connections: ws.skipDiff() }));
  return app;
}
