// runtime/runtime-wiring.ts
// What ties a runtime's parts together (createRuntime's steps 5–9): the shared run state, the mode control, what follows a storage switch, and the invoker with one FnContext per run.

import type { Mode } from '../config/schema.ts';
import type { AnyFunction, FnContext, LeaseView, ModeControl } from './define.ts';
import { Invoker } from './invoker.ts';
import { nodeLocalFiles } from './local-files.ts';
import { LocalSlots } from './local-slots.ts';
import { statusFollowsRouter } from './stream-reports.ts';
import { hasPendingInCache } from './sync/plan.ts';
import { initialMode, type Basics, type CreateRuntimeOptions, type Records, type Stores, type Watched } from './runtime-parts.ts';

/** Step 5: what a run shares in this process: the lease view, the typed local slots, the shutdown signal. */
export interface RunState {
  lease: LeaseView;
  local: LocalSlots;
  shutdownController: AbortController;
}

export function runStateOf(): RunState {
  const lease: LeaseView = { holder: false, epoch: 0, leaderHost: null, since: null, degraded: false };
  return { lease, local: new LocalSlots(), shutdownController: new AbortController() };
}

/** Step 6: the mode (DEBUG / PROD / DIAG): its gauge, and each change audited and written to the status. */
export function modeControlOf({ config, store, metrics, audit, status }: Basics & Stores & Records & Watched): ModeControl {
  let mode: Mode = initialMode(config);
  const setModeGauge = () => {
    for (const m of ['DEBUG', 'PROD', 'DIAG'] as const) metrics.mode.set({ mode: m }, m === mode ? 1 : 0);
  };
  setModeGauge();
  return {
    get: () => mode,
    async set(next, reason) {
      if (next === mode) return;
      const from = mode;
      mode = next;
      setModeGauge();
      await audit.record('runtime.mode.change', { from, to: next, reason });
      await status.update(store, (doc) => void (doc.mode = next)).catch(() => undefined);
    },
  };
}

/**
 * Step 7: what follows the failover store: a switch is counted, audited and logged, the status
 * follows the router, and a backlog left in the cache by an earlier run makes sync pending.
 */
export function wireStoreEvents({ log, cache, store, metrics, audit, status }: Basics & Stores & Records & Watched): void {
  store.onSwitch((change) => {
    metrics.primaryUp.set(change.to === 'primary' ? 1 : 0);
    metrics.recordStorageSwitch(change.from, change.to);
    audit.record('collector.storage.switch', { ...change, primary: store.primary.describe, secondary: store.cache.describe }).catch((err: unknown) => log.error({ err: String(err) }, 'collector.storage.switch could not be audited'));
    log.warn(change, `storage switched to ${change.to}`);
  });
  statusFollowsRouter(store, status, log);
  // A backlog left by an earlier run (primary down, or a sync killed half-way) is pending from the start.
  void hasPendingInCache(cache)
    .then((pending) => pending && store.setSyncPending(true))
    .catch((err) => log.warn({ err: String(err) }, 'could not check the cache for a sync backlog'));
  metrics.primaryUp.set(1);
  metrics.useStreamStatus(() => status.current().streams);
}

/**
 * Step 9 (after step 8, the duties and schedules from the registry): `context()`, one `FnContext`
 * per run, and the `Invoker` that runs the duties with it and ships the audit after each run.
 */
export function invokerOf(
  parts: Basics & Stores & Records & Watched & RunState & { mode: ModeControl; functions: Map<string, AnyFunction> },
  options: CreateRuntimeOptions,
): { context: () => FnContext; invoker: Invoker } {
  const { config, host, paths, clock, log, masker, store, metrics, audit, streams, disk, status, lease, local, functions } = parts;
  let invoker: Invoker;
  const context = (): FnContext => ({
    host,
    pid: options.pid ?? process.pid,
    files: nodeLocalFiles,
    config,
    paths,
    clock,
    log,
    audit,
    store,
    streams,
    disk,
    status: { current: () => status.current(), update: (change) => status.update(store, change) },
    lease,
    mode: parts.mode,
    masker,
    local,
    signal: parts.shutdownController.signal,
    metrics,
    invoke: (name, input) => invoker.invoke(name, input, 'internal'),
  });
  invoker = new Invoker({
    functions,
    context,
    log,
    metrics,
    afterRun: async () => {
      await audit.ship(store);
    },
  });
  return { context, invoker };
}
