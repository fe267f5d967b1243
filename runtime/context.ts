// runtime/context.ts
// Assembles one runtime: config, logger, stores and router, audit, status, registry, invoker, metrics.

import os from 'node:os';
import type { Mode } from '../config/schema.ts';
import { AuditLog } from './audit.ts';
import { ClockSkewMonitor } from './clock-skew.ts';
import { systemClock, type Clock } from './clock.ts';
import { pathsOf, s3ConnectionOf, type LoadedConfig } from './config.ts';
import { DiskMonitor } from './disk-space.ts';
import type { AnyFunction, FnContext, LeaseView, ModeControl } from './define.ts';
import { Invoker } from './invoker.ts';
import { nodeLocalFiles } from './local-files.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { loadFunctions, loadSchedules, type ScheduleDef } from './registry.ts';
import { configSecretValues, createMasker, type Masker } from './secrets.ts';
import { StatusWriter } from './status.ts';
import { RawStreams } from './streams.ts';
import { auditStreamReport, statusFollowsRouter } from './stream-reports.ts';
import { hasPendingInCache } from './sync/plan.ts';
import { createFsStore } from './store/fs.ts';
import { StorageRouter } from './store/router.ts';
import type { ObjectStore } from './store/types.ts';
import { LEASE_KEY } from './keys.ts';
import { LocalSlots } from './local-slots.ts';

export type RuntimePaths = ReturnType<typeof pathsOf>;

/** `locks/`: the folder of the lease key. */
const LEASE_PREFIX = LEASE_KEY.slice(0, LEASE_KEY.indexOf('/') + 1);

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

export interface CreateRuntimeOptions {
  clock?: Clock;
  log?: Logger;
  /** Replace the stores (tests). */
  primary?: ObjectStore;
  secondary?: ObjectStore;
  functions?: Map<string, AnyFunction>;
  /** Replace the schedules (tests that bring their own functions). */
  schedules?: ScheduleDef[];
  /** Pretty console logs (DEBUG on a TTY). */
  pretty?: boolean;
  /** Where console logs go: stderr (CLI commands) or stdout (the server). */
  consoleFd?: 1 | 2;
  /**
   * false for CLI commands: this host's status object (`collector/status/<host>.json`) is kept in
   * memory only, so a command never overwrites the row of the runtime serving this host. Default true.
   */
  writeStatus?: boolean;
  /** The pid this runtime writes into leases and heartbeat objects (tests: a restarted process in-process); default process.pid. */
  pid?: number;
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

/** Step 1: the host, its paths, the clock, the secret masker and the logger (under `<logsDir>`, masked). */
interface Basics {
  loaded: LoadedConfig;
  config: LoadedConfig['config'];
  host: string;
  paths: RuntimePaths;
  clock: Clock;
  masker: Masker;
  log: Logger;
}

function basicsOf(loaded: LoadedConfig, options: CreateRuntimeOptions): Basics {
  const { config, secrets } = loaded;
  const host = config.host;
  const paths = pathsOf(config);
  const clock = options.clock ?? systemClock();
  const masker = createMasker(secrets, configSecretValues(config));
  const log =
    options.log ??
    createLogger({ logsDir: paths.logsDir, masker, pretty: options.pretty, consoleFd: options.consoleFd, base: { host, pid: process.pid } });
  return { loaded, config, host, paths, clock, masker, log };
}

/**
 * Step 2: the primary (S3Store when `storage.s3.endpoint` is set, else an FsStore under
 * `<dataDir>/nas`), the cache (FsStore under `<dataDir>/cache`) and the failover store over both.
 */
interface Stores {
  primary: ObjectStore;
  secondary: ObjectStore;
  store: StorageRouter;
}

async function openStores({ loaded, config, host, paths }: Basics, options: CreateRuntimeOptions): Promise<Stores> {
  const s3 = s3ConnectionOf(loaded);
  const primary =
    options.primary ??
    (s3
      ? // The lease gets connections of its own: a renew must never wait behind 24 sync uploads.
        // Imported only when configured: the AWS SDK is a few hundred ms to load, the embedded store needs none of it.
        (await import('./store/s3.ts')).createS3Store({ ...s3, ownPoolPrefixes: [LEASE_PREFIX] })
      : createFsStore({ root: paths.fsPrimaryDir }));
  const secondary = options.secondary ?? createFsStore({ root: paths.cacheDir });
  const store = new StorageRouter({
    primary,
    secondary,
    host,
    probeTimeoutMs: config.storage.probe.timeoutMs,
    upAfterGoodProbes: config.storage.probe.upAfterGoodProbes,
    downAfterBadProbes: config.storage.probe.downAfterBadProbes,
  });
  return { primary, secondary, store };
}

/** Step 3: metrics, the audit log (its write-ahead log opened and recovered) and the raw streams. */
interface Records {
  metrics: Metrics;
  audit: AuditLog;
  streams: RawStreams;
}

async function openRecords({ config, host, paths, clock, masker, log }: Basics, options: CreateRuntimeOptions): Promise<Records> {
  const metrics = new Metrics({ defaults: options.log === undefined, now: () => clock.now() });
  const audit = new AuditLog({ walDir: paths.walDir, host, actor: config.actor, site: config.site, clock, masker, log });
  await audit.open();
  const streams = new RawStreams({ walDir: paths.walDir, clock, onReport: (report) => auditStreamReport(audit, log, report) });
  return { metrics, audit, streams };
}

/**
 * Step 4: the clock-skew monitor (this PC against the primary's clock), the disk monitor (first
 * reading taken) and the status writer that shows both; a skew crossing its limit rewrites the status.
 */
interface Watched {
  clockSkew: ClockSkewMonitor;
  disk: DiskMonitor;
  status: StatusWriter;
}

async function openStatus({ config, host, paths, clock, masker, log, primary, store, audit }: Basics & Stores & Records, options: CreateRuntimeOptions): Promise<Watched> {
  const clockSkew = new ClockSkewMonitor({
    serverClock: primary.serverClock,
    // A hand-moved test clock is not this PC's time: measure the process clock (plus any test shift) instead.
    pcNow: () => Date.now() + (clock.wallShiftMs ?? 0),
    limitMs: config.preflight.maxClockSkewSeconds * 1000,
    storeName: primary.describe,
    audit,
    log,
    onCrossing: () => void status.update(store, () => undefined).catch(() => undefined),
  });

  const disk = new DiskMonitor(paths.dataDir, config.storage.diskFreeWarnBytes, () => clock.now());
  await disk.read();

  const status = new StatusWriter({
    host,
    mode: initialMode(config),
    secondaryPath: paths.cacheDir,
    clock,
    masker,
    log,
    // storage-probe rewrites the status on every run, so its period is the status period.
    periodSeconds: config.storage.probe.everySeconds,
    persist: options.writeStatus ?? true,
    clockSkewMs: () => clockSkew.reading().skewMs,
    diskFreeBytes: () => disk.last()?.free_bytes ?? null,
  });
  return { clockSkew, disk, status };
}

/** The mode a runtime starts in: the configured one, DEBUG when none is set. */
function initialMode(config: LoadedConfig['config']): Mode {
  return config.mode ?? 'DEBUG';
}

/** Step 5: what a run shares in this process: the lease view, the typed local slots, the shutdown signal. */
interface RunState {
  lease: LeaseView;
  local: LocalSlots;
  shutdownController: AbortController;
}

function runStateOf(): RunState {
  const lease: LeaseView = { holder: false, epoch: 0, leaderHost: null, since: null, degraded: false };
  return { lease, local: new LocalSlots(), shutdownController: new AbortController() };
}

/** Step 6: the mode (DEBUG / PROD / DIAG): its gauge, and each change audited and written to the status. */
function modeControlOf({ config, store, metrics, audit, status }: Basics & Stores & Records & Watched): ModeControl {
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
function wireStoreEvents({ log, secondary, store, metrics, audit, status }: Basics & Stores & Records & Watched): void {
  store.onSwitch((change) => {
    metrics.primaryUp.set(change.to === 'primary' ? 1 : 0);
    metrics.recordStorageSwitch(change.from, change.to);
    audit.record('collector.storage.switch', { ...change, primary: store.primary.describe, secondary: store.secondary.describe }).catch((err: unknown) => log.error({ err: String(err) }, 'collector.storage.switch could not be audited'));
    log.warn(change, `storage switched to ${change.to}`);
  });
  statusFollowsRouter(store, status, log);
  // A backlog left by an earlier run (primary down, or a sync killed half-way) is pending from the start.
  void hasPendingInCache(secondary)
    .then((pending) => pending && store.setSyncPending(true))
    .catch((err) => log.warn({ err: String(err) }, 'could not check the cache for a sync backlog'));
  metrics.primaryUp.set(1);
  metrics.useStreamStatus(() => status.current().streams);
}

/**
 * Step 9 (after step 8, the duties and schedules from the registry): `context()`, one `FnContext`
 * per run, and the `Invoker` that runs the duties with it and ships the audit after each run.
 */
function invokerOf(
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
