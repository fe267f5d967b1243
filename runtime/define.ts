// runtime/define.ts
// defineFunction and the context every duty receives: all a duty may touch, no globals.

import type { z } from 'zod';
import type { AppConfig, Mode } from '../config/schema.ts';
import type { AuditLog } from './audit.ts';
import type { Clock } from './clock.ts';
import type { RuntimePaths } from './config.ts';
import type { DiskMonitor } from './disk-space.ts';
import type { LocalFiles } from './local-files.ts';
import { defineSlot, type LocalSlots } from './local-slots.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import type { Masker } from './secrets.ts';
import type { HostStatus } from './status.ts';
import type { StorageRouter } from './store/router.ts';
import type { RawStreams } from './streams.ts';

/** What a duty may do with the audit trail: record an event, ship what is closed, read and follow this process's recent events. */
export type AuditTrail = Pick<AuditLog, 'record' | 'ship' | 'recentEvents' | 'onRecord'>;

/** What this runtime knows of the collector lease (updated by leader-heartbeat). */
export interface LeaseView {
  /** This host holds the lease and may collect. */
  holder: boolean;
  /** Fencing token: the epoch of the lease as last seen; stamped on every record and segment key. */
  epoch: number;
  /** Host holding the lease as last seen (null when none). */
  leaderHost: string | null;
  /** Wall-clock ms since this host holds the lease (null when not holder). */
  since: number | null;
  /** Holder that cannot reach the primary and keeps collecting into the cache. */
  degraded: boolean;
}

export interface ModeControl {
  get(): Mode;
  /** Changes the mode; audited as runtime.mode.change and written to status. */
  set(mode: Mode, reason: string): Promise<void>;
}

/**
 * `ctx.local` slot set (true) in the runtime a short-lived CLI command builds (runtime/cli/load.ts):
 * its lease view, router state and memory are not the serving runtime's, so duties that keep state
 * over time (alert-check reads it) refuse to run there.
 */
export const CLI_COMMAND_SLOT = defineSlot<boolean>('cli:command');

export interface FnContext {
  host: string;
  /**
   * This runtime instance's id in the lease document (`pid`): `process.pid` under Node, a random id
   * per isolate in a worker. Duties never read `process` themselves.
   */
  pid: number;
  /** This PC's disk for log mirrors and local copies; null where there is none (a worker). */
  files: LocalFiles | null;
  config: AppConfig;
  paths: RuntimePaths;
  clock: Clock;
  log: Logger;
  /** The audit trail: the local write-ahead log under Node, the store itself in a worker (runtime/worker/audit.ts). */
  audit: AuditTrail;
  /** Primary or cache, decided by the router; duties never ask which. `store.primary` for lease-only ops. */
  store: StorageRouter;
  /** Raw market-data segments (append durably, ship per tick). */
  streams: RawStreams;
  /** Free space of the data directory (absent in hand-built test contexts and where there is no local disk). */
  disk?: DiskMonitor;
  status: { current(): HostStatus; update(change: (doc: HostStatus) => void): Promise<void> };
  lease: LeaseView;
  mode: ModeControl;
  masker: Masker;
  /**
   * Process-local memory for what cannot live in the store by design (a candidate's own
   * monotonic observation of the lease ETag): typed slots (runtime/local-slots.ts), each declared
   * once next to its owner; names are namespaced by the owner.
   */
  local: LocalSlots;
  /** Aborted when the runtime shuts down. */
  signal: AbortSignal;
  /** Prometheus recorders (recordStream, setSyncBacklog, …); absent only in hand-built test contexts. */
  metrics?: Metrics;
  /** Runs another function through the invoker (same one-in-flight rule). */
  invoke(name: string, input?: unknown): Promise<unknown>;
}

export interface FunctionDef<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  input: I;
  output: O;
  run(input: z.output<I>, ctx: FnContext): Promise<z.input<O>>;
  /**
   * Called once on graceful shutdown (SIGTERM/SIGINT), after in-flight runs settled and before the
   * audit is shipped: give up what others wait for (the leader lease), flush what must not wait.
   */
  onShutdown?(ctx: FnContext): Promise<void>;
}

/** Identity with types: a duty is one file with `export default defineFunction({...})`. */
export function defineFunction<I extends z.ZodType, O extends z.ZodType>(def: FunctionDef<I, O>): FunctionDef<I, O> {
  return def;
}

export type AnyFunction = FunctionDef<z.ZodType, z.ZodType>;
