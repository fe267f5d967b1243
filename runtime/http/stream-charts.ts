// runtime/http/stream-charts.ts
// The page's per-stream series of the last hour (records per minute, collection lag p50/p99, ticker price), read incrementally from raw/.

import { isoDate } from '../clock.ts';
import { parseRawLines } from '../dashboard-export/raw-objects.ts';
import { timeframeMs } from '../dashboard-export/quality.ts';
import type { StreamId } from '../streams.ts';
import type { ObjectStore } from '../store/types.ts';
import { streamKeyOf } from './records-today.ts';
import { streamDayPrefix } from '../keys.ts';

const MINUTE_MS = 60_000;
/** Minutes shown: the last hour, the current (partial) minute last. */
export const CHART_MINUTES = 60;
/** Segments read per stream and refresh: the first look at a busy hour is spread over a few refreshes. */
const MAX_READS_PER_REFRESH = 200;
/** Lag samples kept per minute (enough for p99; more only costs memory). */
const MAX_LAG_SAMPLES = 2_000;
/** A stream is looked at again at most this often; a page refresh in between costs nothing. */
const REFRESH_AFTER_MS = 2_000;
/** The current minute's rate is shown once this much of it has passed. */
const PARTIAL_MINUTE_MIN_MS = 10_000;

export interface StreamSeries {
  /** Start (ms, UTC) of each minute, oldest first; the last one is the current, partial minute. */
  minutes: number[];
  /**
   * Records received per minute (by ingest time). The current minute is its rate so far scaled to a
   * minute (null in its first 10 s), so the line does not dip at every minute's start.
   */
  records: Array<number | null>;
  /** Collection lag (ingest time − exchange time; for candles, − close time), ms, per minute; null without records. */
  lagP50: Array<number | null>;
  lagP99: Array<number | null>;
  /** Ticker only: the last price of each minute (null without a tick, and for other topics). */
  price: Array<number | null>;
}

interface Bucket {
  count: number;
  lags: number[];
  price: number | null;
  priceTs: number;
}

interface StreamState {
  /** Listing of each day prefix resumes after this key (segments are immutable, keys grow). */
  lastKeyByDay: Map<string, string | undefined>;
  buckets: Map<number, Bucket>;
  refreshedAt: number;
  inFlight: Promise<void> | null;
  /** The last refresh stopped at MAX_READS_PER_REFRESH: minutes after `readUpTo` are not known yet. */
  behind: boolean;
  /** Newest ingest minute read so far. */
  readUpTo: number;
}

/** One per runtime (DashboardData): keeps the buckets between refreshes so each refresh reads only new segments. */
export class StreamCharts {
  private readonly store: ObjectStore;
  private readonly states = new Map<string, StreamState>();

  constructor(store: ObjectStore) {
    this.store = store;
  }

  /**
   * The series of each stream, keyed by streamKeyOf(). A stream whose store read fails keeps its
   * last series (or an empty one); a refresh still running is not started twice.
   */
  async series(streams: StreamId[], now: number): Promise<Map<string, StreamSeries>> {
    const out = new Map<string, StreamSeries>();
    const unique = [...new Map(streams.map((s) => [streamKeyOf(s), s])).values()];
    await Promise.all(
      unique.map(async (id) => {
        const key = streamKeyOf(id);
        let state = this.states.get(key);
        if (!state) {
          state = { lastKeyByDay: new Map(), buckets: new Map(), refreshedAt: 0, inFlight: null, behind: false, readUpTo: 0 };
          this.states.set(key, state);
        }
        if (!state.inFlight && now - state.refreshedAt >= REFRESH_AFTER_MS) {
          const s = state;
          s.inFlight = this.refresh(id, s, now)
            .catch(() => undefined) // unreadable now: the last series stays
            .finally(() => {
              s.refreshedAt = now;
              s.inFlight = null;
            });
        }
        if (state.inFlight) await state.inFlight;
        out.set(key, toSeries(state, now));
      }),
    );
    return out;
  }

  private async refresh(id: StreamId, state: StreamState, now: number): Promise<void> {
    const from = minuteOf(now) - (CHART_MINUTES - 1) * MINUTE_MS;
    for (const [minute] of state.buckets) if (minute < from) state.buckets.delete(minute);
    const stepMs = id.topic === 'ohlcv' ? null : 0;
    let reads = 0;
    state.behind = false;
    for (const day of new Set([isoDate(from), isoDate(now)])) {
      const prefix = streamDayPrefix(id, day);
      for (;;) {
        const page = await this.store.listPage(prefix, { startAfter: state.lastKeyByDay.get(day), etags: false });
        for (const info of page.objects) {
          if (reads >= MAX_READS_PER_REFRESH) {
            state.behind = true;
            return;
          }
          state.lastKeyByDay.set(day, info.key);
          // Written more than an hour ago: nothing in it is still on the chart.
          if (info.lastModified < from - MINUTE_MS) continue;
          reads++;
          const got = await this.store.getOrNull(info.key);
          if (!got) continue;
          for (const line of parseRawLines(got.body).lines) {
            const minute = minuteOf(line.ingest_ts);
            if (minute > state.readUpTo) state.readUpTo = minute;
            if (minute < from) continue;
            let b = state.buckets.get(minute);
            if (!b) state.buckets.set(minute, (b = { count: 0, lags: [], price: null, priceTs: -Infinity }));
            b.count++;
            const data = line.data as Record<string, unknown> | null;
            const closeMs = stepMs === null ? candleMs(data) : 0;
            if (b.lags.length < MAX_LAG_SAMPLES) b.lags.push(line.ingest_ts - (line.ts + closeMs));
            if (id.topic === 'ticker' && typeof data?.last === 'number' && Number.isFinite(data.last) && line.ingest_ts >= b.priceTs) {
              b.price = data.last;
              b.priceTs = line.ingest_ts;
            }
          }
        }
        if (!page.nextStartAfter) break;
      }
    }
  }
}

function candleMs(data: Record<string, unknown> | null): number {
  try {
    return typeof data?.timeframe === 'string' ? timeframeMs(data.timeframe) : 0;
  } catch {
    return 0;
  }
}

const minuteOf = (ms: number) => Math.floor(ms / MINUTE_MS) * MINUTE_MS;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function toSeries(state: StreamState, now: number): StreamSeries {
  const first = minuteOf(now) - (CHART_MINUTES - 1) * MINUTE_MS;
  const s: StreamSeries = { minutes: [], records: [], lagP50: [], lagP99: [], price: [] };
  for (let i = 0; i < CHART_MINUTES; i++) {
    const minute = first + i * MINUTE_MS;
    // Still catching up on a busy hour: minutes not read yet are unknown, not empty.
    if (state.behind && minute > state.readUpTo) {
      s.minutes.push(minute);
      s.records.push(null);
      s.lagP50.push(null);
      s.lagP99.push(null);
      s.price.push(null);
      continue;
    }
    const b = state.buckets.get(minute);
    const sorted = b?.lags.length ? [...b.lags].sort((x, y) => x - y) : null;
    s.minutes.push(minute);
    if (i === CHART_MINUTES - 1) {
      const elapsed = now - minute;
      s.records.push(elapsed < PARTIAL_MINUTE_MIN_MS ? null : Math.round(((b?.count ?? 0) * MINUTE_MS) / elapsed));
    } else s.records.push(b?.count ?? 0);
    s.lagP50.push(sorted ? percentile(sorted, 0.5) : null);
    s.lagP99.push(sorted ? percentile(sorted, 0.99) : null);
    s.price.push(b?.price ?? null);
  }
  return s;
}
