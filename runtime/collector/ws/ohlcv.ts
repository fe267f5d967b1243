// runtime/collector/ws/ohlcv.ts
// One OHLCV stream over WebSocket (ccxt pro watchOHLCV, Binance `@kline_<interval>`): closed candles only, REST back-fill on every (re)connect, fenced appends.

import type { Exchange } from 'ccxt';
import { sleep } from '../../async.ts';
import { BtcError } from '../../errors.ts';
import { BadData } from '../errors.ts';
import { clockOffsetMs } from '../exchange-clock.ts';
import { ensureCursor, streamIdOf, streamName } from '../stream-state.ts';
import { assertPlausibleTimes } from '../timestamps.ts';
import { CANDLE_SETTLE_DEFAULT_S, candleData, candleHoles, candlesCsv, LATEST_CANDLES_SHOWN } from '../topics.ts';
import { wsExchange, wsOhlcvSupported } from './exchange.ts';
import { Fenced, WsRunner } from './runner.ts';

/** Candles asked for per REST back-fill page (Binance `/api/v3/klines` serves up to 1000). */
const BACKFILL_PAGE = 1000;

/** One kline as received: Binance `k` of a `kline` event plus the event time. */
interface Kline {
  /** Open time (ms). */
  open: number;
  closed: boolean;
  /** Event time (ms, exchange clock): the lag's start. */
  eventMs: number;
  candle: [number, number, number, number, number, number];
}

/**
 * Runs one `transport: ws` OHLCV stream for one lease epoch. The socket (Binance
 * `<symbol>@kline_<interval>`, subscribed through ccxt pro `watchOHLCV`) sends the forming candle
 * every 1–2 s and each candle once more with `x: true` when it closes; only those closed candles are
 * stored, each once (the cursor's `last_ts` is the newest stored open time), as the REST collector's
 * OHLCV record (topics.ts candleData). On every (re)connect, the first kline received tells which
 * candle is forming: every candle after the last stored one and before it is back-filled over REST
 * (`fetchOHLCV` with Binance `startTime`/`endTime`), waiting until each is `collector.candleSettleSeconds`
 * past its close, as the REST collector does, so a candle the exchange revises right after its close
 * is stored as revised. A closed kline further than one interval after the last stored one (a message
 * lost on the socket) is back-filled the same way. Open times the exchange serves no candle for are
 * audited `collector.gap.detected` (reason `no_candles`), as the REST collector does. A back-fill that
 * fails ends the session before anything past the hole is appended; the next session retries.
 */
export class WsOhlcvRunner extends WsRunner {
  private queue: Kline[] = [];
  private signal: (() => void) | null = null;
  /** A kline that could not be read (thrown by the session, not inside ccxt's handler). */
  private failure: Error | null = null;
  /** The newest stored candles and the forming one, for the latest CSV (as the REST collector's). */
  private shown: Array<[number, number, number, number, number, number]> = [];
  private forming: Kline | null = null;

  protected async session(): Promise<void> {
    await ensureCursor(this.ctx, this.task, this.state, this.epoch);
    const rest = await this.pool.ready(this.task.exchange);
    if (!wsOhlcvSupported(this.task.exchange)) {
      throw new BtcError('InvalidInput', `${streamName(this.task)}: ws OHLCV needs Binance's kline stream (its closed flag); use transport: rest`);
    }
    if (this.fenced()) throw new Fenced();
    const ws = (this.ws = await wsExchange(this.task.exchange, rest, this.settings.exchangeUrl));
    const marketId = String(rest.market(this.task.symbol).id);
    const interval = String((ws.timeframes as Record<string, string> | undefined)?.[this.task.timeframe] ?? this.task.timeframe);
    const stepMs = rest.parseTimeframe(this.task.timeframe) * 1000;
    this.queue = [];
    this.failure = null;
    // ccxt's parsed candle drops Binance's `x` (closed) flag: the raw kline is read in ccxt's
    // message handler, which then runs as usual.
    const hooked = ws as unknown as { handleOHLCV: (client: unknown, message: unknown) => unknown };
    const original = hooked.handleOHLCV.bind(ws);
    hooked.handleOHLCV = (client, message) => {
      const m = message as { e?: unknown; E?: unknown; k?: Record<string, unknown> };
      if (m?.e === 'kline' && m.k?.['s'] === marketId && m.k?.['i'] === interval) {
        try {
          this.queue.push(parseKline(m.k, m.E, this.task.symbol));
        } catch (err) {
          this.failure ??= err as Error;
        }
        this.signal?.();
      }
      return original(client, message);
    };
    let first = true;
    this.newConnection();
    for (;;) {
      const batch = await this.withSilence(this.next(ws));
      this.assertSameConnection(ws);
      const received = Date.now();
      this.stats.messages += batch.length;
      let fill: { from: number; to: number } | null = null;
      const last = this.state.cursor!.last_ts;
      if (first) {
        this.stats.connected();
        first = false;
        // Everything before the first candle seen on this socket that is not stored yet comes over REST.
        const firstOpen = Math.min(...batch.map((k) => k.open));
        if (last !== null && firstOpen - stepMs > last) fill = { from: last + stepMs, to: firstOpen - stepMs };
      }
      await this.commit(batch, rest, stepMs, received, fill);
    }
  }

  /** The klines received since the last call; waits for one. Rejects when the socket fails. */
  private next(ws: Exchange): Promise<Kline[]> {
    const drain = () => this.queue.splice(0, this.queue.length);
    if (this.failure) return Promise.reject(this.failure);
    if (this.queue.length) return Promise.resolve(drain());
    return new Promise<Kline[]>((resolve, reject) => {
      this.signal = () => {
        this.signal = null;
        if (this.failure) reject(this.failure);
        else resolve(drain());
      };
      // Keeps the subscription and reports a failed socket; the candles are read in the hook.
      ws.watchOHLCV(this.task.symbol, this.task.timeframe).catch((err: unknown) => {
        this.signal = null;
        reject(err);
      });
    });
  }

  private async commit(batch: Kline[], rest: Exchange, stepMs: number, received: number, fill: { from: number; to: number } | null): Promise<void> {
    const cursor = this.state.cursor!;
    let last = cursor.last_ts;
    const out: Array<{ ts: number; data: ReturnType<typeof candleData> }> = [];
    const lags: number[] = [];
    const take = async (from: number, to: number) => {
      const candles = await this.backfill(rest, from, to, stepMs);
      out.push(...candles);
      if (candles.length) last = candles[candles.length - 1]!.ts;
    };
    if (fill) await take(fill.from, fill.to);
    // Closed candles in open-time order, each once (a repeat counts as a duplicate).
    for (const k of batch.filter((b) => b.closed).sort((a, b) => a.open - b.open)) {
      if (last !== null && k.open <= last) {
        this.stats.duplicates++;
        continue;
      }
      if (last !== null && k.open - stepMs > last) await take(last + stepMs, k.open - stepMs);
      out.push({ ts: k.open, data: candleData(k.candle, this.task.timeframe) });
      lags.push(k.eventMs);
      last = k.open;
    }
    const newest = batch.reduce<Kline | null>((a, k) => (!k.closed && (!a || k.open >= a.open) ? k : a), null);
    if (newest && newest.open > (last ?? -Infinity)) this.forming = newest;
    if (!out.length) {
      if (newest && this.shown.length) this.state.wsLatestCsv = this.latestCsv();
      return;
    }
    const exchangeNow = Date.now() + clockOffsetMs(this.ctx.local, this.task.exchange);
    assertPlausibleTimes(streamName(this.task), 'ohlcv', out, cursor, exchangeNow);
    // Open times the exchange served no candle for, between the last stored candle and these.
    const holes = candleHoles(this.task, cursor, out.map((c) => c.ts), stepMs);
    if (this.fenced()) throw new Fenced();
    const written = await this.ctx.streams.append(streamIdOf(this.task), this.epoch, out);
    const appended = Date.now();
    this.state.cursor = { ...cursor, last_ts: out[out.length - 1]!.ts };
    this.state.cursorDirty = true;
    this.state.lastOkMs = this.ctx.clock.now();
    this.state.failures = 0;
    this.state.cause = null;
    this.state.lastError = null;
    this.state.notes = holes.notes;
    this.shown = [...this.shown, ...out.map((c) => [c.ts, c.data.open, c.data.high, c.data.low, c.data.close, c.data.volume] as Kline['candle'])].slice(-LATEST_CANDLES_SHOWN);
    this.state.wsLatestCsv = this.latestCsv();
    this.stats.backfilled += out.length - lags.length;
    this.stats.appended(written.length, lags.map((e) => appended - e), received);
    this.ctx.metrics?.recordStream(streamIdOf(this.task), { records: written.length, okAtMs: this.state.lastOkMs });
    for (const e of holes.events) {
      await this.ctx.audit.record(e.event, { ...e.payload, topic: this.task.topic, epoch: this.epoch }).catch((err: unknown) =>
        this.ctx.log.error({ stream: streamName(this.task), event: e.event, err: this.ctx.masker.text(String(err)) }, 'audit event could not be recorded'),
      );
    }
  }

  /** The last stored candles (closed) and the forming one after them (`closed=false`). */
  private latestCsv(): string {
    const lastStored = this.shown.length ? this.shown[this.shown.length - 1]![0] : -Infinity;
    const rows = this.shown.map((candle) => ({ candle, closed: true }));
    if (this.forming && this.forming.open > lastStored) rows.push({ candle: this.forming.candle, closed: false });
    return candlesCsv(rows.slice(-LATEST_CANDLES_SHOWN));
  }

  /**
   * Closed candles with open times `from`..`to` (ms) over REST, in order; each waits until it is
   * `collector.candleSettleSeconds` past its close in exchange time. Open times the exchange does not
   * serve are left out (the caller reports them). Throws on a failed request (nothing is appended).
   */
  private async backfill(rest: Exchange, from: number, to: number, stepMs: number): Promise<Array<{ ts: number; data: ReturnType<typeof candleData> }>> {
    const settleMs = (this.ctx.config.collector.candleSettleSeconds ?? CANDLE_SETTLE_DEFAULT_S) * 1000;
    const exchangeNow = () => Date.now() + clockOffsetMs(this.ctx.local, this.task.exchange);
    // The newest candle of the range settles last: wait for it (bounded by the settle time).
    for (let wait = to + stepMs + settleMs - exchangeNow(); wait > 0; wait = to + stepMs + settleMs - exchangeNow()) {
      if (this.fenced()) throw new Fenced();
      await sleep(Math.min(wait, 250));
    }
    const out: Array<{ ts: number; data: ReturnType<typeof candleData> }> = [];
    let next = from;
    while (next <= to) {
      if (this.fenced()) throw new Fenced();
      const pageEnd = Math.min(to, next + (BACKFILL_PAGE - 1) * stepMs);
      // Binance's own startTime/endTime: ccxt drops candles before `since` from what it parsed.
      const page = await rest.fetchOHLCV(this.task.symbol, this.task.timeframe, undefined, BACKFILL_PAGE, { startTime: next, endTime: pageEnd + stepMs - 1 });
      for (const c of [...page].sort((a, b) => Number(a[0]) - Number(b[0]))) {
        if (!Array.isArray(c) || c.length < 6 || !c.slice(0, 5).every((v) => typeof v === 'number' && Number.isFinite(v))) {
          throw new BadData(`ohlcv ${this.task.symbol}: bad candle ${JSON.stringify(c)}`);
        }
        const open = Number(c[0]);
        if (open < next || open > pageEnd) continue;
        out.push({ ts: open, data: candleData(c, this.task.timeframe) });
      }
      next = pageEnd + stepMs;
    }
    if (out.length) {
      await this.ctx.audit
        .record('collector.ws.backfill', { exchange: this.task.exchange, topic: this.task.topic, symbol: this.task.symbol, epoch: this.epoch, from_ts: from, to_ts: to, count: out.length })
        .catch(() => undefined);
    }
    return out;
  }
}

/** Binance kline `k` `{ t, o, h, l, c, v, x }` → a Kline; BadData when a field is unusable. */
function parseKline(k: Record<string, unknown>, eventTime: unknown, symbol: string): Kline {
  const candle = [Number(k['t']), Number(k['o']), Number(k['h']), Number(k['l']), Number(k['c']), Number(k['v'])] as Kline['candle'];
  if (!Number.isSafeInteger(candle[0]) || !candle.every(Number.isFinite)) {
    throw new BadData(`ohlcv ${symbol}: kline ${JSON.stringify(k).slice(0, 200)} has no usable open time or price`);
  }
  const eventMs = Number(eventTime);
  return { open: candle[0], closed: k['x'] === true, eventMs: Number.isFinite(eventMs) ? eventMs : Date.now(), candle };
}
