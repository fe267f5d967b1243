// runtime/collector/ws/ticker.ts
// One ticker stream over WebSocket (ccxt pro watchTicker, Binance `@ticker`): every sample appended, fenced; a reconnect's hole is reported, not filled.

import { clockOffsetMs } from '../exchange-clock.ts';
import { streamIdOf } from '../stream-state.ts';
import { tickerCsv, tickerRecord } from '../topics.ts';
import { wsExchange } from './exchange.ts';
import { Fenced, WsRunner } from './runner.ts';

/** Sticky status notes kept about ticker holes (the newest). */
const HOLE_NOTES = 5;
const LAST_TS = 'ws.ticker.last_ts';

/**
 * Runs one `transport: ws` ticker stream for one lease epoch. Each ticker the socket sends (Binance
 * `<symbol>@ticker`, the full 24 h ticker, once a second; ccxt pro `watchTicker` with `name: 'ticker'`)
 * is appended as the REST collector's ticker record (topics.ts tickerRecord), stamped with the
 * ticker's own time (Binance `C`); a repeat of the same time is dropped. A ticker has no history, so
 * nothing can be back-filled after a reconnect: the time between the last sample this process
 * appended and the first after the reconnect is reported as a sticky status note and as the audit
 * event `collector.ws.ticker_hole` `{ from_ts, to_ts }` (docs/collector.md). A hole across a failover
 * to the other PC is not reported by the new holder (it never saw the old one's last sample).
 */
export class WsTickerRunner extends WsRunner {
  /** Time (ms) of the last ticker appended by this process (kept in the stream's state, so a new epoch here sees it too). */
  private get lastTs(): number | null {
    const v = this.state.memory?.get(LAST_TS);
    return typeof v === 'number' ? v : null;
  }

  private set lastTs(ts: number) {
    (this.state.memory ??= new Map()).set(LAST_TS, ts);
  }

  protected async session(): Promise<void> {
    const rest = await this.pool.ready(this.task.exchange);
    if (this.fenced()) throw new Fenced();
    const ws = (this.ws = await wsExchange(this.task.exchange, rest, this.settings.exchangeUrl));
    this.newConnection();
    let first = true;
    for (;;) {
      // Binance: `@ticker` (ccxt's watchTicker defaults to `@miniTicker`, which has no bid, ask or vwap).
      const ticker = await this.withSilence(ws.watchTicker(this.task.symbol, { name: 'ticker' }));
      this.assertSameConnection(ws);
      const received = Date.now();
      const record = tickerRecord(ticker, this.task.symbol, () => received + clockOffsetMs(this.ctx.local, this.task.exchange));
      if (first) {
        this.stats.connected();
        first = false;
        if (this.lastTs !== null) await this.reportHole(this.lastTs, record.ts);
      }
      this.stats.messages++;
      if (this.lastTs !== null && record.ts <= this.lastTs) {
        this.stats.duplicates++;
        continue;
      }
      if (this.fenced()) throw new Fenced();
      const written = await this.ctx.streams.append(streamIdOf(this.task), this.epoch, [record]);
      const appended = Date.now();
      this.lastTs = record.ts;
      this.state.wsLatestCsv = tickerCsv(record.ts, this.task.symbol, record.data);
      this.state.lastOkMs = this.ctx.clock.now();
      this.state.failures = 0;
      this.state.cause = null;
      this.state.lastError = null;
      this.stats.appended(written.length, [appended - record.ts], received);
      this.ctx.metrics?.recordStream(streamIdOf(this.task), { records: written.length, okAtMs: this.state.lastOkMs });
    }
  }

  /** No ticker samples between `fromTs` (the last before the disconnect) and `toTs` (the first after): a sticky note and an audit event. */
  private async reportHole(fromTs: number, toTs: number): Promise<void> {
    const seconds = Math.round((toTs - fromTs) / 100) / 10;
    const note = `no ticker samples ${new Date(fromTs).toISOString()}–${new Date(toTs).toISOString()} (${seconds} s, ws reconnect; a ticker has no history to back-fill)`;
    this.state.stickyNotes = [...this.state.stickyNotes, note].slice(-HOLE_NOTES);
    await this.ctx.audit
      .record('collector.ws.ticker_hole', { exchange: this.task.exchange, topic: this.task.topic, symbol: this.task.symbol, epoch: this.epoch, from_ts: fromTs, to_ts: toTs })
      .catch(() => undefined);
  }
}
