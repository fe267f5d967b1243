// runtime/context.ts
// Assembles one runtime: config, logger, stores and router, audit, status, registry, invoker, metrics (the steps: runtime-parts.ts, runtime-wiring.ts); its shutdown.

import os from 'node:os';
import type { ClockSkewMonitor } from './clock-skew.ts';
import type { Clock } from './clock.ts';
import type { LoadedConfig, RuntimePaths } from './config.ts';
import type { DiskMonitor } from './disk-space.ts';
import type { AnyFunction, FnContext, LeaseView, ModeControl } from './define.ts';
import type { Invoker } from './invoker.ts';
import type { LocalSlots } from './local-slots.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { loadFunctions, loadSchedules, type ScheduleDef } from './registry.ts';
import type { Masker } from './secrets.ts';
import type { StatusWriter } from './status.ts';
import type { RawStreams } from './streams.ts';
import type { StorageRouter } from './store/router.ts';
import type { AuditLog } from './audit.ts';
import { basicsOf, openRecords, openStatus, openStores, type CreateRuntimeOptions } from './runtime-parts.ts';
import { invokerOf, modeControlOf, runStateOf, wireStoreEvents } from './runtime-wiring.ts';

/** How long shutdown waits for in-flight function runs before running the shutdown hooks anyway. */
const SHUTDOWN_SETTLE_MS = 5_000;

export interface Runtime {
  loaded: LoadedConfig;
  host: string;
  paths: RuntimePaths;
  clock: Clock;
  log: Logger;
  masker: Masker;
  store: StorageRouter;
  audit: AuditLog;
  streams: RawStreams;
  status: StatusWriter;
  lease: LeaseView;
  mode: ModeControl;
  metrics: Metrics;
  /** This PC's clock against the primary's (learnt from its answers). */
  clockSkew: ClockSkewMonitor;
  /** Free space of the data directory (bytes), with the `storage.diskFreeWarnBytes` warning. */
  disk: DiskMonitor;
  functions: Map<string, AnyFunction>;
  schedules: ScheduleDef[];
  invoker: Invoker;
  local: LocalSlots;
  context(): FnContext;
  shutdown(): Promise<void>;
}

/**
 * Assembles one runtime, step by step (each step is a function below, in this order): basics (host,
 * paths, clock, masker, logger) → stores (primary, cache, failover store) → records (metrics, audit
 * log, raw streams) → status (clock-skew and disk monitors, status writer) → run state (lease view,
 * typed local slots, shutdown signal) → mode → store events → duties and schedules → invoker.
 */
export async function createRuntime(loaded: LoadedConfig, options: CreateRuntimeOptions = {}): Promise<Runtime> {
  const basics = basicsOf(loaded, options);
  const stores = await openStores(basics, options);
  const records = await openRecords(basics, options);
  const watched = await openStatus({ ...basics, ...stores, ...records }, options);
  const runState = runStateOf();
  const mode = modeControlOf({ ...basics, ...stores, ...records, ...watched });
  wireStoreEvents({ ...basics, ...stores, ...records, ...watched });
  const functions = options.functions ?? (await loadFunctions());
  const schedules = options.schedules ?? (await loadSchedules(functions));
  const { context, invoker } = invokerOf({ ...basics, ...stores, ...records, ...watched, ...runState, mode, functions }, options);
  const { host, paths, clock, log, masker } = basics;
  const { store } = stores;
  const { audit, streams, metrics } = records;
  const { status, clockSkew, disk } = watched;
  const { lease, local } = runState;
  const runtime: Omit<Runtime, 'shutdown'> = {
    loaded, host, paths, clock, log, masker, store, audit, streams, status, lease, mode, metrics, clockSkew, disk, functions, schedules, invoker, local, context,
  };
  return { ...runtime, shutdown: () => shutdownOf(runtime, runState.shutdownController) };
}

/** `Runtime.shutdown`: abort, let runs settle, the duties' shutdown hooks, then status, audit and store flushed. */
async function shutdownOf(runtime: Omit<Runtime, 'shutdown'>, shutdownController: AbortController): Promise<void> {
  const { invoker, functions, context, log, masker, status, store, audit } = runtime;
  shutdownController.abort();
  // Let in-flight runs end (they see the aborted signal), then the functions' own shutdown
  // hooks, e.g. leader-heartbeat releasing the lease so the standby need not wait it out.
  await invoker.settle(SHUTDOWN_SETTLE_MS);
  for (const fn of functions.values()) {
    if (!fn.onShutdown) continue;
    await fn.onShutdown(context()).catch((err) => log.warn({ fn: fn.name, err: masker.text(String(err)) }, 'shutdown hook failed'));
  }
  // After the hooks (the lease release updates the leader row): `runtime status` and the page say "stopped", not PROD forever.
  await status.markStopped(store).catch((err) => log.warn({ err: String(err) }, 'status write on shutdown failed'));
  await audit.ship(store).catch((err) => log.warn({ err: String(err) }, 'audit ship on shutdown failed'));
  await store.flush().catch((err) => log.warn({ err: String(err) }, 'store flush on shutdown failed'));
  log.flush?.();
}

export function nodeMajor(): number {
  return Number(process.versions.node.split('.')[0]);
}

export function osSummary(): string {
  return `${os.type()} ${os.release()} ${os.arch()}`;
}
