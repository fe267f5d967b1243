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

export async function createRuntime(loaded: LoadedConfig, options: CreateRuntimeOptions = {}): Promise<Runtime> {
  const { config, secrets } = loaded;
  const host = config.host;
  const paths = pathsOf(config);
  const clock = options.clock ?? systemClock();
  const masker = createMasker(secrets, configSecretValues(config));
  const log =
    options.log ??
    createLogger({ logsDir: paths.logsDir, masker, pretty: options.pretty, consoleFd: options.consoleFd, base: { host, pid: process.pid } });

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

  const metrics = new Metrics({ defaults: options.log === undefined, now: () => clock.now() });
  const audit = new AuditLog({ walDir: paths.walDir, host, actor: config.actor, site: config.site, clock, masker, log });
  await audit.open();
  const streams = new RawStreams({ walDir: paths.walDir, clock, onReport: (report) => auditStreamReport(audit, log, report) });

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

  let mode: Mode = config.mode ?? 'DEBUG';
  const status = new StatusWriter({
    host,
    mode,
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
  const lease: LeaseView = { holder: false, epoch: 0, leaderHost: null, since: null, degraded: false };
  const local = new LocalSlots();
  const shutdownController = new AbortController();

  const setModeGauge = () => {
    for (const m of ['DEBUG', 'PROD', 'DIAG'] as const) metrics.mode.set({ mode: m }, m === mode ? 1 : 0);
  };
  setModeGauge();
  const modeControl: ModeControl = {
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

  const functions = options.functions ?? (await loadFunctions());
  const schedules = options.schedules ?? (await loadSchedules(functions));

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
    mode: modeControl,
    masker,
    local,
    signal: shutdownController.signal,
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

  return {
    loaded,
    host,
    paths,
    clock,
    log,
    masker,
    store,
    audit,
    streams,
    status,
    lease,
    mode: modeControl,
    metrics,
    clockSkew,
    disk,
    functions,
    schedules,
    invoker,
    local,
    context,
    async shutdown() {
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
    },
  };
}

export function nodeMajor(): number {
  return Number(process.versions.node.split('.')[0]);
}

export function osSummary(): string {
  return `${os.type()} ${os.release()} ${os.arch()}`;
}
