// runtime/collector/tick.ts
// One collection tick: due streams fetched concurrently (per-exchange limit, per-stream timeout), appended, shipped.

import type { FnContext } from '../define.ts';
import { shardOfStream } from '../leader/shard-map.ts';
import { shardStateOf } from '../leader/shard-state.ts';
import type { LeaseView } from '../define.ts';
import { cursorKey, latestKey } from '../keys.ts';
import type { StreamId } from '../streams.ts';
import { saveCursor } from './cursors.ts';
import { runStream, type TickRun } from './fetch-stream.ts';
import { staleAfterMs, staleRow } from './freshness.ts';
import { reloadMarketsPeriodically } from './markets.ts';
import { updateCollectorMode } from './mode.ts';
import { pauseRow } from './pause.ts';
import { exchangePoolOf, planTasks } from './plan.ts';
import { stateFor, statusRow, streamIdOf, streamName, streamStates } from './stream-state.ts';
import { CANDLE_SETTLE_DEFAULT_S, type StreamTask } from './topics.ts';
import { syncWsStreams, wsStatusOf } from './ws/manager.ts';

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

/**
 * One tick, step by step: plan (which streams this runtime collects now, under which epoch) → run
 * each stream (fetch-stream.ts) → ship (segments, then cursors and latest CSVs) → report (status
 * rows, collector mode).
 */
export async function collectTick(ctx: FnContext): Promise<TickSummary> {
  const planned = planTick(ctx);
  if ('skipped' in planned) return planned.skipped;
  const tick = planned.tick;
  await Promise.all(tick.tasks.map((t) => runStream(tick, t).catch((err) => ctx.log.error({ err: String(err) }, 'collector stream crashed'))));
  await shipTick(tick);
  await reportTick(tick);
  return tick.summary;
}

/**
 * Step 1: the ws streams started or stopped; nothing when this runtime holds no lease (of the
 * collector, or of any shard), is in DEBUG or has no streams; else this tick's streams, each with
 * its lease and epoch, and the shared parts (exchange pool, stream states, limits).
 */
function planTick(ctx: FnContext): { skipped: TickSummary } | { tick: TickRun } {
  const mode = ctx.mode.get();
  const base = { streams: 0, ran: 0, ok: 0, failed: 0, records: 0, shipped: 0, mode };
  // transport: ws streams run between ticks while this host holds the lease (runtime/collector/ws/).
  syncWsStreams(ctx);
  // collector.shards > 1: only the streams of the shards this runtime holds, each under its shard's lease.
  const shards = (ctx.config.collector.shards ?? 1) > 1 ? shardStateOf(ctx.local) : null;
  const leaseOf = (task: StreamId): LeaseView => (shards ? shards.slots[shardOfStream(ctx.config, task)]!.view : ctx.lease);
  if (shards ? !shards.slots.some((s) => s.view.holder) : !ctx.lease.holder) return { skipped: { ...base, skipped: 'not_holder' } };
  if (mode === 'DEBUG') return { skipped: { ...base, skipped: 'debug_mode' } };
  const planned = planTasks(ctx.config);
  if (!planned.length) return { skipped: { ...base, skipped: 'no_streams' } };
  const tasks = shards ? planned.filter((t) => leaseOf(t).holder) : planned;
  if (!tasks.length) return { skipped: { ...base, skipped: 'not_holder' } };

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
  const limiters: TickRun['limiters'] = new Map();
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
  const tick: TickRun = { ctx, config, clock, tasks, sharded: shards !== null, pool, states, summary, latest, limiters, timeoutMs, tickMs, settleMs, epochOf, leaseOf, staleLimit };
  return { tick };
}

/** Step 3: every open segment shipped, then the cursors of the streams whose segments are in the store, and the latest CSVs. */
async function shipTick(tick: TickRun): Promise<void> {
  const { ctx, clock, tasks, states, summary, latest, epochOf, leaseOf } = tick;
  const shards = tick.sharded;
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
}

/** Step 4: this host's status rows (pause, staleness, ws figures, ship failures) and the collector mode (PROD / DIAG). */
async function reportTick(tick: TickRun): Promise<void> {
  const { ctx, clock, tasks, pool, states, summary, staleLimit } = tick;
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
}
