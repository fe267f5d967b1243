// runtime/collector/tick.ts
// One collection tick: due streams fetched concurrently (per-exchange limit, per-stream timeout), appended, shipped.

import { Slots, timeout } from '../async.ts';
import type { FnContext } from '../define.ts';
import { BtcError } from '../errors.ts';
import { defineSlot, type LocalSlots } from '../local-slots.ts';
import type { StreamStatus } from '../status.ts';
import type { StreamId } from '../streams.ts';
import { emptyCursor, loadCursor, reconcileWithRaw, saveCursor, type Cursor } from './cursors.ts';
import { backoffMs, classify, StreamTimeout, type ClassifiedFailure, type FailureClass } from './errors.ts';
import { exchangePoolOf, planTasks } from './plan.ts';
import { fetchOhlcv, fetchOrderBook, fetchTicker, type FetchContext, type StreamFetch, type StreamTask } from './topics.ts';
import { fetchTradesStream } from './trades.ts';
import { updateCollectorMode } from './mode.ts';
import { pauseOnRefusal, pauseRow } from './pause.ts';
import { ensureSymbol, reloadMarketsPeriodically, symbolTransition } from './markets.ts';
import { clockOffsetMs, refreshClockOffset } from './exchange-clock.ts';
import { emptyFreshness, judgeFreshness, staleAfterMs, staleRow, type Freshness } from './freshness.ts';
import { assertPlausibleTimes } from './timestamps.ts';
import { CANDLE_SETTLE_DEFAULT_S } from './topics.ts';
import { syncWsStreams, wsStatusOf } from './ws/manager.ts';
import { shardOfStream, shardStateOf } from '../leader/shards.ts';
import type { LeaseView } from '../define.ts';
import { cursorKey, latestKey, symbolKey } from '../keys.ts';

/** What the collector remembers about one stream inside this process (the cursor itself lives in the store). */
export interface StreamState {
  failures: number;
  cause: FailureClass | null;
  lastError: string | null;
  retryAtMonotonicMs: number;
  nextDueMonotonicMs: number;
  lastOkMs: number | null;
  /** A fetch that outlived its timeout and has not settled; the stream waits for it. */
  inFlight: boolean;
  cursor: Cursor | null;
  /** Epoch the cursor was loaded (and reconciled) for. */
  cursorEpoch: number | null;
  cursorDirty: boolean;
  notes: string[];
  /** Notes that stay until replaced (unfillable and suspected gaps). */
  stickyNotes: string[];
  /** Whether the stream's data still moves (freshness.ts). */
  freshness?: Freshness;
  /** What a fetcher keeps between ticks (the order book's last update id). */
  memory?: Map<string, unknown>;
  /** The last fetch was committed but reported a problem (a suspected gap): not ok until a clean fetch. */
  problem?: { cause: string; message: string } | null;
  /** ws streams (ticker, ohlcv): the latest CSV as of their last append; the tick writes it after shipping. */
  wsLatestCsv?: string | null;
}

export interface TickSummary {
  skipped?: 'not_holder' | 'debug_mode' | 'no_streams';
  streams: number;
  ran: number;
  ok: number;
  failed: number;
  records: number;
  shipped: number;
  mode: string;
}

/** Stream name → its collector state: made by streamStates, written by collect ticks and the WebSocket runners, read by status rows, tests and benchmarks. */
const STREAMS_SLOT = defineSlot<Map<string, StreamState>>('collector:streams');
const STICKY_NOTES = 5;
const FETCHERS: Record<StreamTask['topic'], (fc: FetchContext) => Promise<StreamFetch>> = {
  ticker: fetchTicker,
  orderbook: fetchOrderBook,
  ohlcv: fetchOhlcv,
  trades: fetchTradesStream,
};

/** Only the stream's identity: RawStreams copies every field of it into each record. */
export const streamIdOf = (t: StreamId): StreamId => ({ exchange: t.exchange, topic: t.topic, symbol: t.symbol });

export const streamName = (t: StreamId) => `${t.exchange}/${t.topic}/${symbolKey(t.symbol)}`;

/** Every stream's collector state in this runtime (made empty on first use). */
export function streamStates(local: LocalSlots): Map<string, StreamState> {
  return local.ensure(STREAMS_SLOT, () => new Map());
}

export async function collectTick(ctx: FnContext): Promise<TickSummary> {
  const mode = ctx.mode.get();
  const base = { streams: 0, ran: 0, ok: 0, failed: 0, records: 0, shipped: 0, mode };
  // transport: ws streams run between ticks while this host holds the lease (runtime/collector/ws/).
  syncWsStreams(ctx);
  // collector.shards > 1: only the streams of the shards this runtime holds, each under its shard's lease.
  const shards = (ctx.config.collector.shards ?? 1) > 1 ? shardStateOf(ctx.local) : null;
  const leaseOf = (task: StreamId): LeaseView => (shards ? shards.slots[shardOfStream(ctx.config, task)]!.view : ctx.lease);
  if (shards ? !shards.slots.some((s) => s.view.holder) : !ctx.lease.holder) return { ...base, skipped: 'not_holder' };
  if (mode === 'DEBUG') return { ...base, skipped: 'debug_mode' };
  const planned = planTasks(ctx.config);
  if (!planned.length) return { ...base, skipped: 'no_streams' };
  const tasks = shards ? planned.filter((t) => leaseOf(t).holder) : planned;
  if (!tasks.length) return { ...base, skipped: 'not_holder' };

  const { config, clock } = ctx;
  // The fencing token of each stream: its lease's epoch as the tick starts.
  const epochs = new Map(tasks.map((t) => [streamName(t), leaseOf(t).epoch]));
  const epochOf = (task: StreamId) => epochs.get(streamName(task))!;
  const pool = exchangePoolOf(ctx.local, config);
  const states = streamStates(ctx.local);
  const timeoutMs = config.collector.streamTimeoutMs;
  const tickMs = config.collector.tickSeconds * 1000;
  const summary: TickSummary = { ...base, streams: tasks.length };
  const latest: Array<{ key: string; body: string }> = [];
  const limiters = new Map<string, Slots>();
  const settleMs = (config.collector.candleSettleSeconds ?? CANDLE_SETTLE_DEFAULT_S) * 1000;
  const staleLimit = (task: StreamTask) => {
    let stepMs: number | undefined;
    try {
      stepMs = task.topic === 'ohlcv' ? pool.instance(task.exchange).parseTimeframe(task.timeframe) * 1000 : undefined;
    } catch {
      stepMs = undefined;
    }
    return staleAfterMs(config, task, stepMs, settleMs);
  };
  pool.pauses.useClock(clock);
  reloadMarketsPeriodically(ctx, pool);

  const runOne = async (task: StreamTask) => {
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
  };

  await Promise.all(tasks.map((t) => runOne(t).catch((err) => ctx.log.error({ err: String(err) }, 'collector stream crashed'))));

  // Segments first, then cursors: a cursor never points past data that is not in the store yet.
  // A ws stream may append while we ship: its cursor as of now is the one the shipped data covers.
  const shippedCursors = new Map(tasks.map((t) => [streamName(t), states.get(streamName(t))?.cursor ?? null]));
  // Likewise a ws stream's latest CSV: taken now, it shows nothing the segments shipped below lack.
  for (const t of tasks) {
    const state = t.transport === 'ws' ? states.get(streamName(t)) : undefined;
    if (state?.wsLatestCsv) {
      latest.push({ key: latestKey(t), body: state.wsLatestCsv });
      state.wsLatestCsv = null;
    }
  }
  try {
    summary.shipped = (await ctx.streams.ship(ctx.store)).length;
  } catch (err) {
    ctx.log.warn({ err: ctx.masker.text(String(err)) }, 'shipping raw segments failed; they stay in the local log for the next tick');
  }
  await Promise.all([
    ...tasks.map(async (task) => {
      const state = states.get(streamName(task));
      const shipped = shippedCursors.get(streamName(task));
      if (!state?.cursorDirty || !shipped) return;
      // This stream's segments are still only in the local log: its cursor waits for them.
      if (ctx.streams.shipFailed(streamIdOf(task))) return;
      const epoch = epochOf(task);
      // A shard handed over during this tick: its cursor is the new holder's to write.
      if (shards && (!leaseOf(task).holder || leaseOf(task).epoch !== epoch)) return;
      const saved = { ...shipped, epoch, host: ctx.host, updated_at: new Date(clock.now()).toISOString() };
      if (state.cursor === shipped) state.cursor = saved;
      await saveCursor(ctx.store, task, saved).then(
        () => void (state.cursor === saved && (state.cursorDirty = false)),
        (err) => ctx.log.warn({ key: cursorKey(task), err: String(err) }, 'cursor write failed; retried next tick'),
      );
    }),
    ...latest.map(({ key, body }) =>
      ctx.store.put(key, body, { contentType: 'text/csv' }).catch((err) => ctx.log.warn({ key, err: String(err) }, 'latest CSV write failed')),
    ),
  ]);

  const rows = tasks.map((task) => {
    const state = stateFor(states, streamName(task));
    const row = pauseRow(staleRow(statusRow(task, state, clock.monotonicMs()), state.freshness, clock.monotonicMs(), staleLimit(task)), pool.pauses.current(task.exchange));
    const shipCause = ctx.streams.shipFailureOf(streamIdOf(task));
    const ws = task.transport === 'ws' ? wsStatusOf(ctx.local, streamName(task)) : undefined;
    if (ws) {
      row.ws = { ...ws };
      // The page shows notes: the ws figures in one line.
      const since = ws.connected_since ? `connected since ${ws.connected_since}` : `disconnected${ws.last_disconnect ? ` (${ws.last_disconnect})` : ''}`;
      row.notes = [...row.notes, `ws: ${since}, ${ws.reconnects} reconnects, ${ws.messages_per_s} msg/s, ${ws.resyncs} resyncs, lag p50/p99 ${ws.lag_p50_ms ?? '–'}/${ws.lag_p99_ms ?? '–'} ms`];
    }
    return shipCause ? { ...row, notes: [...row.notes, `segments wait in the local log: upload failed (${shipCause})`] } : row;
  });
  await ctx.status.update((doc) => void (doc.streams = rows)).catch(() => undefined);
  const shipFailures = tasks.flatMap((t) => {
    const cause = ctx.streams.shipFailureOf(streamIdOf(t));
    return cause ? [{ name: streamName(t), cause }] : [];
  });
  summary.mode = await updateCollectorMode(ctx, tasks.map((t) => ({ name: streamName(t), state: stateFor(states, streamName(t)) })), shipFailures);
  return summary;
}

/** Loads the stream's cursor from the store once per epoch and reconciles it with the newest raw segments. */
export async function ensureCursor(ctx: FnContext, task: StreamTask, state: StreamState, epoch: number): Promise<void> {
  if (state.cursor && state.cursorEpoch === epoch) return;
  if (task.topic !== 'trades' && task.topic !== 'ohlcv') {
    state.cursor = emptyCursor(epoch, ctx.host);
    state.cursorEpoch = epoch;
    return;
  }
  // Ship whatever this epoch's local log still holds first, so the reconcile below sees it.
  await ctx.streams.append(streamIdOf(task), epoch, []);
  await ctx.streams.ship(ctx.store);
  // The reconcile below reads the store: with this stream's segments still local it would rewind.
  if (ctx.streams.shipFailed(streamIdOf(task))) {
    throw new BtcError('Unavailable', `${streamName(task)}: its raw segments could not be uploaded yet; the cursor is loaded once they are`);
  }
  const stored = (await loadCursor(ctx.store, task)) ?? emptyCursor(epoch, ctx.host);
  // Within this process the in-memory cursor is newest; the store's matters when none is held yet.
  const base = state.cursor && (state.cursor.last_id ?? -1) >= (stored.last_id ?? -1) && (state.cursor.last_ts ?? -1) >= (stored.last_ts ?? -1) ? state.cursor : stored;
  state.cursor = await reconcileWithRaw(ctx.store, task, base);
  state.cursorDirty = state.cursor.last_id !== stored.last_id || state.cursor.last_ts !== stored.last_ts;
  state.cursorEpoch = epoch;
}

function recordFailure(state: StreamState, failure: ClassifiedFailure, nowMonotonic: number, capMs: number): void {
  state.failures++;
  state.cause = failure.cls;
  state.lastError = failure.message;
  state.retryAtMonotonicMs = nowMonotonic + backoffMs(state.failures, failure, capMs);
}

function statusRow(task: StreamTask, state: StreamState, nowMonotonic: number): StreamStatus {
  const notes = [...state.stickyNotes, ...state.notes];
  if (state.lastError) notes.push(`${state.cause}: ${state.lastError}`);
  if (state.problem && !state.lastError) notes.push(`${state.problem.cause}: ${state.problem.message}`);
  if (state.retryAtMonotonicMs > nowMonotonic) notes.push(`next attempt in ${Math.round(state.retryAtMonotonicMs - nowMonotonic)} ms`);
  return {
    exchange: task.exchange,
    topic: task.topic,
    symbol: task.symbol,
    ok: state.failures === 0 && state.lastOkMs !== null && !state.problem,
    cause: state.cause ?? state.problem?.cause ?? null,
    retries: state.failures,
    last_ok_ms: state.lastOkMs,
    notes,
  };
}

function stateFor(states: Map<string, StreamState>, name: string): StreamState {
  let state = states.get(name);
  if (!state) {
    state = {
      failures: 0, cause: null, lastError: null, retryAtMonotonicMs: 0, nextDueMonotonicMs: 0, lastOkMs: null, inFlight: false,
      cursor: null, cursorEpoch: null, cursorDirty: false, notes: [], stickyNotes: [],
    };
    states.set(name, state);
  }
  return state;
}
