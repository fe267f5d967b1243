// runtime/runtime-parts.ts
// The parts a runtime is assembled from (createRuntime's steps 1–4): host, paths, clock, masker and logger; primary, cache and failover store; metrics, audit log and raw streams; the status writer and its monitors.

import type { Mode } from '../config/schema.ts';
import { AuditLog } from './audit.ts';
import { ClockSkewMonitor } from './clock-skew.ts';
import { systemClock, type Clock } from './clock.ts';
import { pathsOf, s3ConnectionOf, type LoadedConfig, type RuntimePaths } from './config.ts';
import { DiskMonitor } from './disk-space.ts';
import type { AnyFunction } from './define.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import type { ScheduleDef } from './registry.ts';
import { configSecretValues, createMasker, type Masker } from './secrets.ts';
import { StatusWriter } from './status.ts';
import { RawStreams } from './streams.ts';
import { auditStreamReport } from './stream-reports.ts';
import { createFsStore } from './store/fs.ts';
import { StorageRouter } from './store/router.ts';
import type { ObjectStore } from './store/types.ts';
import { LEASE_KEY } from './keys.ts';

/** `locks/`: the folder of the lease key. */
const LEASE_PREFIX = LEASE_KEY.slice(0, LEASE_KEY.indexOf('/') + 1);

/** Options of createRuntime (runtime/context.ts): test replacements and how this runtime logs and writes its status. */
export interface CreateRuntimeOptions {
  clock?: Clock;
  log?: Logger;
  /** Replace the stores (tests). */
  primary?: ObjectStore;
  cache?: ObjectStore;
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
  /**
   * true for one-shot CLI commands: prom-client is loaded only if something reads the metrics
   * (runtime/metrics.ts `lazy`); a command that never serves /metrics does not pay its ~40 ms. Default false.
   */
  lazyMetrics?: boolean;
  /**
   * prom-client's process metrics (`btc_ts_process_*`, `btc_ts_nodejs_*`) on /metrics: `runtime start`
   * asks for them. Default: only when no logger is passed (the in-process runtimes of tests pass one
   * and need no event-loop and GC observers of their own).
   */
  processMetrics?: boolean;
  /** The pid this runtime writes into leases and heartbeat objects (tests: a restarted process in-process); default process.pid. */
  pid?: number;
}

/** Step 1: the host, its paths, the clock, the secret masker and the logger (under `<logsDir>`, masked). */
export interface Basics {
  loaded: LoadedConfig;
  config: LoadedConfig['config'];
  host: string;
  paths: RuntimePaths;
  clock: Clock;
  masker: Masker;
  log: Logger;
}

export function basicsOf(loaded: LoadedConfig, options: CreateRuntimeOptions): Basics {
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
export interface Stores {
  primary: ObjectStore;
  cache: ObjectStore;
  store: StorageRouter;
}

export async function openStores({ loaded, config, host, paths }: Basics, options: CreateRuntimeOptions): Promise<Stores> {
  const s3 = s3ConnectionOf(loaded);
  const primary =
    options.primary ??
    (s3
      ? // The lease gets connections of its own: a renew must never wait behind 24 sync uploads.
        // Imported only when configured: the AWS SDK is a few hundred ms to load, the embedded store needs none of it.
        (await import('./store/s3.ts')).createS3Store({ ...s3, ownPoolPrefixes: [LEASE_PREFIX] })
      : createFsStore({ root: paths.fsPrimaryDir }));
  const cache = options.cache ?? createFsStore({ root: paths.cacheDir });
  const store = new StorageRouter({
    primary,
    cache,
    host,
    probeTimeoutMs: config.storage.probe.timeoutMs,
    upAfterGoodProbes: config.storage.probe.upAfterGoodProbes,
    downAfterBadProbes: config.storage.probe.downAfterBadProbes,
  });
  return { primary, cache, store };
}

/** Step 3: metrics, the audit log (its write-ahead log opened and recovered) and the raw streams. */
export interface Records {
  metrics: Metrics;
  audit: AuditLog;
  streams: RawStreams;
}

export async function openRecords({ config, host, paths, clock, masker, log }: Basics, options: CreateRuntimeOptions): Promise<Records> {
  const metrics = new Metrics({ defaults: options.processMetrics ?? options.log === undefined, now: () => clock.now(), lazy: options.lazyMetrics });
  const audit = new AuditLog({ walDir: paths.walDir, host, actor: config.actor, site: config.site, clock, masker, log });
  await audit.open();
  const streams = new RawStreams({ walDir: paths.walDir, clock, onReport: (report) => auditStreamReport(audit, log, report) });
  return { metrics, audit, streams };
}

/**
 * Step 4: the clock-skew monitor (this PC against the primary's clock), the disk monitor (first
 * reading taken) and the status writer that shows both; a skew crossing its limit rewrites the status.
 */
export interface Watched {
  clockSkew: ClockSkewMonitor;
  disk: DiskMonitor;
  status: StatusWriter;
}

export async function openStatus({ config, host, paths, clock, masker, log, primary, store, audit }: Basics & Stores & Records, options: CreateRuntimeOptions): Promise<Watched> {
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
export function initialMode(config: LoadedConfig['config']): Mode {
  return config.mode ?? 'DEBUG';
}
