// runtime/collector/ws/manager.ts
// Starts the ws streams when this host holds the lease and stops them, synchronously, on step-down, pause, DEBUG or shutdown.

import type { FnContext } from '../../define.ts';
import { onLeaseChange } from '../../lease.ts';
import { defineSlot, type LocalSlots } from '../../local-slots.ts';
import { exchangePoolOf, planTasks } from '../plan.ts';
import { stateFor, streamName, streamStates } from '../stream-state.ts';
import type { StreamTask } from '../topics.ts';
import type { WsStatus } from './stats.ts';
import { WsBookRunner } from './orderbook.ts';
import { WsOhlcvRunner } from './ohlcv.ts';
import { WsTickerRunner } from './ticker.ts';
import type { WsRunner, WsSettings } from './runner.ts';
import { WsTradesRunner } from './trades.ts';

/** Defaults of collector.ws (config/schema.ts). */
export const WS_SILENT_DEFAULT_S = 10;
export const WS_BACKOFF_MAX_DEFAULT_S = 30;
export const WS_BOOK_SNAPSHOT_DEFAULT_S = 60;

interface WsManager {
  /** The newest duty context (its lease view, streams and store are the runtime's, shared by every run). */
  ctx: FnContext;
  runners: Map<string, WsRunner>;
}

/** The WebSocket streams of this runtime: written by syncWsStreams (collect-tick), read by stopWsStreams (shutdown), wsStatusOf (status rows) and wsRunnerOf (tests, benchmarks). */
const WS_SLOT = defineSlot<WsManager>('collector:ws');

/** The `transport: ws` streams of the config. */
export function wsTasks(ctx: FnContext): StreamTask[] {
  return planTasks(ctx.config).filter((t) => t.transport === 'ws');
}

/**
 * Called by every collect-tick (holder or not): remembers the context, subscribes once to lease
 * changes (runtime/lease.ts onLeaseChange: acquire starts the streams at once, step-down stops them
 * before the lease duty's next await), and brings the running set in line with the config and lease.
 */
export function syncWsStreams(ctx: FnContext): void {
  let mgr = ctx.local.get(WS_SLOT);
  if (!mgr) {
    const created: WsManager = { ctx, runners: new Map() };
    ctx.local.set(WS_SLOT, created);
    onLeaseChange(ctx.lease, () => reconcile(created));
    mgr = created;
  }
  mgr.ctx = ctx;
  reconcile(mgr);
}

function reconcile(mgr: WsManager): void {
  const { ctx } = mgr;
  const collecting = ctx.lease.holder && !ctx.signal.aborted && ctx.mode.get() !== 'DEBUG';
  const tasks = collecting ? wsTasks(ctx) : [];
  const wanted = new Map(tasks.map((t) => [streamName(t), t]));
  for (const [name, runner] of mgr.runners) {
    if (!wanted.has(name) || runner.epoch !== ctx.lease.epoch || !runner.running) {
      void runner.stop();
      mgr.runners.delete(name);
    }
  }
  if (!tasks.length) return;
  const pool = exchangePoolOf(ctx.local, ctx.config);
  const states = streamStates(ctx.local);
  const ws = ctx.config.collector.ws;
  for (const [name, task] of wanted) {
    if (mgr.runners.has(name)) continue;
    const state = stateFor(states, name);
    const settings: WsSettings = {
      silentMs: (ws?.silentSeconds ?? WS_SILENT_DEFAULT_S) * 1000,
      backoffMaxMs: (ws?.backoffMaxSeconds ?? WS_BACKOFF_MAX_DEFAULT_S) * 1000,
      pageLimit: ctx.config.collector.tradesPageLimit,
      exchangeUrl: ctx.config.collector.exchangeUrl,
      snapshotEveryMs: (ws?.bookSnapshotSeconds ?? WS_BOOK_SNAPSHOT_DEFAULT_S) * 1000,
    };
    const Runner = { orderbook: WsBookRunner, ticker: WsTickerRunner, ohlcv: WsOhlcvRunner, trades: WsTradesRunner }[task.topic];
    const runner = new Runner(ctx, task, ctx.lease.epoch, state, pool, settings);
    mgr.runners.set(name, runner);
    runner.start();
    ctx.log.info({ stream: name, epoch: ctx.lease.epoch }, 'ws stream started');
  }
}

/** Stops every ws stream and waits for their sockets to close (collect-tick's shutdown hook). */
export async function stopWsStreams(local: LocalSlots): Promise<void> {
  const mgr = local.get(WS_SLOT);
  if (!mgr) return;
  const runners = [...mgr.runners.values()];
  mgr.runners.clear();
  await Promise.all(runners.map((r) => r.stop()));
}

/** The ws block of a stream's status row; undefined when the stream is not running over ws here. */
export function wsStatusOf(local: LocalSlots, name: string): WsStatus | undefined {
  return local.get(WS_SLOT)?.runners.get(name)?.stats.status();
}

/** The running ws stream `name` (tests read an order book runner's current book). */
export function wsRunnerOf(local: LocalSlots, name: string): WsRunner | undefined {
  return local.get(WS_SLOT)?.runners.get(name);
}
