// runtime/collector/ws/stats.ts
// Per ws stream counters for status and the page: connected since, reconnects, messages/s, resyncs, lag to durable append.

/** Lag samples kept for the percentiles (the newest). */
const LAG_SAMPLES = 2_048;
/** Window of the messages/s rate (ms). */
const RATE_WINDOW_MS = 10_000;

/** The `ws` block of a stream's status row (docs/collector.md). */
export interface WsStatus {
  connected: boolean;
  /** ISO time of the current connection's first message; null while disconnected. */
  connected_since: string | null;
  reconnects: number;
  /** Messages received per second over the last 10 s. */
  messages_per_s: number;
  messages: number;
  duplicates: number;
  /** Records fetched over REST to close a hole (reconnects, dropped messages). */
  backfilled: number;
  resyncs: number;
  /** Exchange time → durable append (ms), over the newest samples. */
  lag_p50_ms: number | null;
  lag_p99_ms: number | null;
  last_disconnect: string | null;
}

export class WsStats {
  connectedSinceMs: number | null = null;
  reconnects = 0;
  messages = 0;
  duplicates = 0;
  backfilled = 0;
  resyncs = 0;
  /** Durable appends (each one fsync). */
  appends = 0;
  lastDisconnect: string | null = null;
  private readonly lags: number[] = [];
  private lagAt = 0;
  /** Every lag since start, 1 ms buckets up to 60 s (the benchmark's percentiles). */
  readonly lagHistogram = new Uint32Array(60_001);
  private readonly window: Array<{ at: number; n: number }> = [];
  private sessions = 0;

  connected(): void {
    if (this.sessions++ > 0) this.reconnects++;
    this.connectedSinceMs = Date.now();
  }

  disconnected(reason: string | null): void {
    this.connectedSinceMs = null;
    if (reason !== null) this.lastDisconnect = reason;
  }

  appended(records: number, lagsMs: number[], at: number): void {
    this.appends++;
    for (const lag of lagsMs) {
      if (this.lags.length < LAG_SAMPLES) this.lags.push(lag);
      else this.lags[this.lagAt++ % LAG_SAMPLES] = lag;
      this.lagHistogram[Math.max(0, Math.min(60_000, Math.round(lag)))]!++;
    }
    this.window.push({ at, n: records });
    while (this.window.length && this.window[0]!.at < at - RATE_WINDOW_MS) this.window.shift();
  }

  /** Lag percentile `p` in [0, 1] over the kept samples; null without samples. */
  lagPercentile(p: number): number | null {
    if (!this.lags.length) return null;
    const sorted = [...this.lags].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  }

  status(now = Date.now()): WsStatus {
    const recent = this.window.filter((w) => w.at >= now - RATE_WINDOW_MS).reduce((a, w) => a + w.n, 0);
    return {
      connected: this.connectedSinceMs !== null,
      connected_since: this.connectedSinceMs === null ? null : new Date(this.connectedSinceMs).toISOString(),
      reconnects: this.reconnects,
      messages_per_s: Math.round((recent / RATE_WINDOW_MS) * 1000 * 10) / 10,
      messages: this.messages,
      duplicates: this.duplicates,
      backfilled: this.backfilled,
      resyncs: this.resyncs,
      lag_p50_ms: this.lagPercentile(0.5),
      lag_p99_ms: this.lagPercentile(0.99),
      last_disconnect: this.lastDisconnect,
    };
  }
}

/** Percentile `p` in [0, 1] of summed lag histograms (ms); null when empty. */
export function histogramPercentile(histograms: Uint32Array[], p: number): number | null {
  const total = histograms.reduce((a, h) => a + h.reduce((x, y) => x + y, 0), 0);
  if (!total) return null;
  const target = Math.ceil(p * total);
  let seen = 0;
  for (let ms = 0; ms <= 60_000; ms++) {
    for (const h of histograms) seen += h[ms]!;
    if (seen >= target) return ms;
  }
  return 60_000;
}
