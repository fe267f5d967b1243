// runtime/worker/runtime.ts
// One worker runtime: the same duties, router and invoker as runtime/context.ts, with the context a worker can give (fetch S3, store audit, console logs; HTTP: http-app.ts; stand-ins for a PC's parts: stand-ins.ts).

import type { Hono } from 'hono';
import type { Mode } from '../../config/schema.ts';
import { systemClock, type Clock } from '../clock.ts';
import { loadConfig, pathsOf, s3ConnectionOf, type LoadedConfig } from '../config.ts';
import type { AnyFunction, FnContext, LeaseView, ModeControl } from '../define.ts';
import { BtcError } from '../errors.ts';
import { Invoker } from '../invoker.ts';
import type { ScheduleDef } from '../registry.ts';
import { configSecretValues, createMasker } from '../secrets.ts';
import { StatusWriter } from '../status.ts';
import { StorageRouter } from '../store/router.ts';
import { LocalSlots } from '../local-slots.ts';
import { StoreAudit } from './audit.ts';
import { workerApp } from './http-app.ts';
import { NODE_ONLY } from './node-only.ts';
import { createFetchS3Store } from './s3-fetch.ts';
import { cronDue, periodDue } from './schedule-due.ts';
import { consoleLogger, NO_CACHE, noCache, NO_STREAMS } from './stand-ins.ts';

/** What the bundle carries: the duties and schedules by file, and config/app.yaml as data. */
export interface Bundled {
  functions: Array<{ file: string; value: AnyFunction }>;
  schedules: Array<{ file: string; value: ScheduleDef }>;
  appConfig: Record<string, unknown>;
}

export interface ScheduledRun {
  schedule: string;
  fn: string;
  outcome: 'ok' | 'skipped' | 'error';
  /** skipped: why; error: the BtcError code and message (masked). */
  detail?: string;
}

export interface WorkerRuntime {
  loaded: LoadedConfig;
  host: string;
  store: StorageRouter;
  functions: Map<string, AnyFunction>;
  schedules: ScheduleDef[];
  invoker: Invoker;
  app: Hono;
  context(): FnContext;
  /** One cron tick (workerd's `scheduled` event): every schedule that is due and allowed, at once. */
  runScheduled(cron: string, scheduledTimeMs: number): Promise<ScheduledRun[]>;
  /**
   * Resolves when the writes a duty started without awaiting (the status row the lease publishes,
   * an audited storage switch) have settled. The entry awaits it before a request ends: workerd
   * cancels what outlives its request, and a cancelled status write never settles, so the next
   * write queued behind it (StatusWriter serialises them) would hang that isolate for good.
   */
  settle(): Promise<void>;
}

/**
 * Builds the runtime from the worker's env (string vars and secrets, same names as the Node
 * runtime's env: BTC_TS_HOST, BTC_TS_S3_*, BTC_TS_API_TOKEN, …) and what the bundle carries.
 * @throws BtcError InvalidInput on a config error; Internal when a Node-only duty was bundled.
 */
export function createWorkerRuntime(env: Record<string, string>, bundled: Bundled): WorkerRuntime {
  // No machine here: the host defaults to `worker` (set BTC_TS_HOST), the actor to BTC_TS_ACTOR or `operator`.
  const loaded = loadConfig({ env, fileData: { name: 'config/app.yaml (bundled)', data: bundled.appConfig }, machine: { hostname: () => 'worker', user: undefined } });
  const { config, secrets } = loaded;
  const host = config.host;
  const clock: Clock = systemClock(0);
  const masker = createMasker(secrets, configSecretValues(config));
  const log = consoleLogger(host, masker, env.BTC_TS_LOG_LEVEL ?? 'info');
  const s3 = s3ConnectionOf(loaded);
  if (!s3) {
    throw new BtcError('InvalidInput', 'config error: a worker needs an S3 primary (BTC_TS_S3_ENDPOINT): it has no disk for a directory store');
  }
  const primary = createFetchS3Store(s3);
  const store = new StorageRouter({
    primary,
    cache: noCache(),
    host,
    probeTimeoutMs: config.storage.probe.timeoutMs,
    upAfterGoodProbes: config.storage.probe.upAfterGoodProbes,
    downAfterBadProbes: config.storage.probe.downAfterBadProbes,
  });
  const audit = new StoreAudit({ host, actor: config.actor, site: config.site, clock, masker, log, store: primary });
  const status = new StatusWriter({
    host,
    mode: config.mode ?? 'DEBUG',
    secondaryPath: NO_CACHE,
    clock,
    masker,
    log,
    periodSeconds: config.storage.probe.everySeconds,
    persist: true,
  });
  const background = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    const settled = p.catch(() => undefined).finally(() => background.delete(settled));
    background.add(settled);
    return p;
  };
  const settle = async () => {
    while (background.size) await Promise.all([...background]);
  };
  store.onSwitch((change) => {
    void track(audit.record('collector.storage.switch', { ...change, primary: primary.describe, secondary: NO_CACHE })).catch(() => undefined);
    log.warn(change, `storage switched to ${change.to}`);
  });

  let mode: Mode = config.mode ?? 'DEBUG';
  const modeControl: ModeControl = {
    get: () => mode,
    async set(next, reason) {
      if (next === mode) return;
      const from = mode;
      mode = next;
      await audit.record('runtime.mode.change', { from, to: next, reason });
      await track(status.update(store, (doc) => void (doc.mode = next))).catch(() => undefined);
    },
  };

  const functions = new Map<string, AnyFunction>();
  for (const { file, value } of bundled.functions) {
    if (NODE_ONLY.has(value.name)) throw new BtcError('Internal', `Node-only duty ${value.name} (${file}) was bundled into the worker`);
    functions.set(value.name, value);
  }
  const schedules = bundled.schedules.map(({ file, value }) => ({ ...value, name: value.name ?? file.replace(/\.(ts|mjs|js)$/, '') })).filter((s) => functions.has(s.fn));

  const lease: LeaseView = { holder: false, epoch: 0, leaderHost: null, since: null, degraded: false };
  const shutdown = new AbortController();
  let invoker: Invoker;
  const context = (): FnContext => ({
    host,
    pid: isolateIdOf(),
    files: null,
    config,
    paths: pathsOf(config),
    clock,
    log,
    audit,
    store,
    streams: NO_STREAMS,
    status: { current: () => status.current(), update: (change) => track(status.update(store, change)) },
    lease,
    mode: modeControl,
    masker,
    local: ISOLATE_MEMORY,
    signal: shutdown.signal,
    invoke: (name, input) => invoker.invoke(name, input, 'internal'),
  });
  invoker = new Invoker({ functions, context, log });

  const app = workerApp({ env, loaded, host, masker, log, clock, primary, store, lease, mode: () => mode, functions, invoker });

  const runScheduled = async (cron: string, scheduledTimeMs: number): Promise<ScheduledRun[]> => {
    const ctx = context();
    const runs = schedules.map(async (s): Promise<ScheduledRun> => {
      const base = { schedule: s.name!, fn: s.fn };
      if (s.cron && !cronDue(s.cron, scheduledTimeMs)) return { ...base, outcome: 'skipped', detail: `not due (${s.cron})` };
      const period = typeof s.everySeconds === 'function' ? s.everySeconds(config) : s.everySeconds;
      if (period !== undefined && !periodDue(period * 1000, cron, scheduledTimeMs)) return { ...base, outcome: 'skipped', detail: `not due (every ${period} s)` };
      if (s.when && !s.when(ctx)) return { ...base, outcome: 'skipped', detail: 'its condition says no' };
      try {
        await invoker.invoke(s.fn, s.input ?? {}, 'cron');
        return { ...base, outcome: 'ok' };
      } catch (err) {
        const e = err instanceof BtcError ? err : new BtcError('Internal', String(err));
        return { ...base, outcome: 'error', detail: `${e.code}: ${masker.text(e.message)}` };
      }
    });
    const results = await Promise.all(runs);
    await settle();
    log.info({ cron, results }, 'scheduled tick');
    return results;
  };

  return { loaded, host, store, functions, schedules, invoker, app, context, runScheduled, settle };
}

/** The lease names its holder by host and this id: one per isolate (a worker has no process id); drawn on first use (no randomness at global scope in workerd). */
let isolateId: number | undefined;
const isolateIdOf = () => (isolateId ??= 1 + Math.floor(Math.random() * 0x7ffffffe));
/** ctx.local: what a duty keeps between runs in this isolate (the candidate's lease observation). */
const ISOLATE_MEMORY = new LocalSlots();

