// runtime/collector/fetch-stream.ts
// One stream's turn in a collection tick: due check, per-exchange limit, fetch under the stream timeout, append, state update.

import { Slots, timeout } from '../async.ts';
import type { FnContext, LeaseView } from '../define.ts';
import type { StreamId } from '../streams.ts';
import { latestKey } from '../keys.ts';
import type { Clock } from '../clock.ts';
import { classify, StreamTimeout } from './errors.ts';
import type { ExchangePool } from './exchanges.ts';
import { clockOffsetMs, refreshClockOffset } from './exchange-clock.ts';
import { emptyFreshness, judgeFreshness } from './freshness.ts';
import { ensureSymbol, symbolTransition } from './markets.ts';
import { pauseOnRefusal } from './pause.ts';
import { ensureCursor, recordFailure, stateFor, streamIdOf, streamName, type StreamState } from './stream-state.ts';
import { assertPlausibleTimes } from './timestamps.ts';
import { fetchOhlcv, fetchOrderBook, fetchTicker, type FetchContext, type StreamFetch, type StreamTask } from './topics.ts';
import { fetchTradesStream } from './trades.ts';
import type { TickSummary } from './tick.ts';

const STICKY_NOTES = 5;
const FETCHERS: Record<StreamTask['topic'], (fc: FetchContext) => Promise<StreamFetch>> = {
  ticker: fetchTicker,
  orderbook: fetchOrderBook,
  ohlcv: fetchOhlcv,
  trades: fetchTradesStream,
};

/** One tick as its steps share it (made by the plan step in tick.ts). */
export interface TickRun {
  ctx: FnContext;
  config: FnContext['config'];
  clock: Clock;
  /** The streams this runtime collects in this tick (its shards' streams when sharded). */
  tasks: StreamTask[];
  /** collector.shards > 1: each stream is collected under its shard's lease. */
  sharded: boolean;
  pool: ExchangePool;
  states: Map<string, StreamState>;
  summary: TickSummary;
  /** latest/…csv objects to write after the segments shipped. */
  latest: Array<{ key: string; body: string }>;
  /** One counting semaphore per exchange (collector.perExchangeConcurrency). */
  limiters: Map<string, Slots>;
  /** collector.streamTimeoutMs. */
  timeoutMs: number;
  /** collector.tickSeconds in ms. */
  tickMs: number;
  /** How long a candle needs to settle (ms). */
  settleMs: number;
  /** The stream's fencing token: its lease's epoch as the tick started. */
  epochOf(task: StreamId): number;
  /** The lease the stream is collected under (its shard's, or the collector lease). */
  leaseOf(task: StreamId): LeaseView;
  /** When the stream counts as stale (ms without new data). */
  staleLimit(task: StreamTask): number;
}

/**
 * Step 2 of a tick, for one stream: skipped while not due, in back-off or paused; else fetched
 * under the exchange's concurrency limit and the stream timeout, checked, appended under the
 * stream's epoch (nothing when the lease moved meanwhile), and its state, notes and freshness
 * updated. A failure is classified, backed off and counted; it never throws.
 */
export async function runStream(tick: TickRun, task: StreamTask): Promise<void> {
  const { ctx, config, clock, pool, states, summary, limiters, latest, timeoutMs, tickMs, settleMs, epochOf, leaseOf, staleLimit } = tick;
  const name = streamName(task);
  const state = stateFor(states, name);
  // A ws stream appends by itself; the tick only ships its segments and saves its cursor.
  if (task.transport === 'ws') return;
  const epoch = epochOf(task);
  const now = clock.monotonicMs();
  if (state.inFlight || now < state.retryAtMonotonicMs || now < state.nextDueMonotonicMs || pool.pausedFor(task.exchange, now) > 0) return;
  summary.ran++;
  state.nextDueMonotonicMs = now + task.everyMs - Math.min(250, task.everyMs / 4);
  const limiter = limiters.get(task.exchange) ?? new Slots(config.collector.perExchangeConcurrency);
  limiters.set(task.exchange, limiter);
  await limiter.acquire();
  // Queued behind other streams of this exchange: a pause taken meanwhile holds this one too.
  if (pool.pausedFor(task.exchange, clock.monotonicMs()) > 0) {
    limiter.release();
    summary.ran--;
    state.nextDueMonotonicMs = 0;
    return;
  }
  const started = clock.monotonicMs();
  let settled = false;
  const work = (async () => {
    await ensureCursor(ctx, task, state, epoch);
    const exchange = await pool.ready(task.exchange);
    await ensureSymbol(ctx, exchange, task);
    await refreshClockOffset(ctx, exchange);
    const cursorBefore = state.cursor!;
    const exchangeNow = () => clock.now() + clockOffsetMs(ctx.local, task.exchange);
    const fetched = await FETCHERS[task.topic]({
      exchange,
      task,
      now: () => clock.now(),
      cursor: state.cursor!,
      deadlineMonotonicMs: started + timeoutMs / 2,
      monotonicMs: () => clock.monotonicMs(),
      pageLimit: config.collector.tradesPageLimit,
      maxPages: config.collector.maxPagesPerTick,
      exchangeNow,
      candleSettleMs: settleMs,
      memory: (state.memory ??= new Map()),
    });
    // Seconds for milliseconds, far future, before the cursor: bad_data, nothing appended.
    if (task.topic === 'trades' || task.topic === 'ohlcv') assertPlausibleTimes(`${streamName(task)}`, task.topic, fetched.items, cursorBefore, exchangeNow());
    return fetched;
  })().finally(() => {
    settled = true;
    state.inFlight = false;
  });
  try {
    const result = await timeout(work, timeoutMs, () => new StreamTimeout(timeoutMs));
    // The lease may have moved while we fetched: a fenced-out holder writes nothing.
    if (!leaseOf(task).holder || leaseOf(task).epoch !== epoch) return;
    // A rejected append (a full disk) throws before the cursor moves: those trades are fetched again.
    const written = await ctx.streams.append(streamIdOf(task), epoch, result.items);
    if (result.cursor) {
      state.cursor = result.cursor;
      state.cursorDirty = true;
    }
    summary.records += written.length;
    ctx.metrics?.recordStream(streamIdOf(task), { records: written.length, okAtMs: ctx.clock.now() });
    // The records are acknowledged: an audit write that fails now (the same full disk) is logged,
    // and must not fail the stream, which would fetch and store them a second time.
    for (const e of result.events) {
      await ctx.audit.record(e.event, { ...e.payload, topic: task.topic, epoch }).catch((err: unknown) =>
        ctx.log.error({ stream: name, event: e.event, err: ctx.masker.text(String(err)) }, 'audit event could not be recorded'),
      );
    }
    if (result.latestCsv !== null) latest.push({ key: latestKey(task), body: result.latestCsv });
    const isSticky = (n: string) => n.startsWith('unfillable') || n.startsWith('suspected gap');
    state.stickyNotes = [...state.stickyNotes, ...result.notes.filter(isSticky)].slice(-STICKY_NOTES);
    state.notes = result.notes.filter((n) => !isSticky(n));
    state.problem = result.problem ?? null;
    await symbolTransition(ctx, pool, task, state.cause, null, null);
    state.failures = 0;
    state.cause = null;
    state.lastError = null;
    state.lastOkMs = clock.now();
    state.retryAtMonotonicMs = 0;
    pool.pauses.answered(task.exchange);
    const freshness = judgeFreshness((state.freshness ??= emptyFreshness()), task, result, clock.monotonicMs(), staleLimit(task));
    if (freshness) {
      await ctx.audit.record(freshness === 'stale' ? 'collector.stream.stale' : 'collector.stream.fresh', {
        exchange: task.exchange, topic: task.topic, symbol: task.symbol, stale_after_ms: staleLimit(task), epoch,
      });
    }
    summary.ok++;
  } catch (err) {
    const failure = classify(err);
    await symbolTransition(ctx, pool, task, state.cause, failure.cls, failure.message);
    recordFailure(state, failure, clock.monotonicMs(), Math.max(tickMs * 6, 5_000));
    if (failure.cls === 'rate_limit') pauseOnRefusal(pool.pauses, task.exchange, err, tickMs);
    if (!settled) state.inFlight = true;
    summary.failed++;
    ctx.log.warn({ stream: name, cause: failure.cls, retries: state.failures, err: ctx.masker.text(failure.message) }, 'collector stream failed');
  } finally {
    limiter.release();
  }
}
