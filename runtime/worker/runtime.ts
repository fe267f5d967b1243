// runtime/worker/runtime.ts
// One worker runtime: the same duties, router and invoker as runtime/context.ts, with the context a worker can give (fetch S3, store audit, console logs).

import { Cron } from 'croner';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import pino from 'pino';
import type { Mode } from '../../config/schema.ts';
import { systemClock, type Clock } from '../clock.ts';
import { loadConfig, pathsOf, s3ConnectionOf, type LoadedConfig } from '../config.ts';
import type { AnyFunction, FnContext, LeaseView, ModeControl } from '../define.ts';
import { BtcError } from '../errors.ts';
import { bearerMatches, mountFunctionRoutes } from '../http/app.ts';
import { errorResponse } from '../http/errors.ts';
import { jsonBodyOnly, sameOriginGuard, securityHeaders, type OnRefused } from '../http/security.ts';
import { Invoker } from '../invoker.ts';
import type { Logger } from '../logger.ts';
import type { ScheduleDef } from '../registry.ts';
import { configSecretValues, createMasker, type Masker } from '../secrets.ts';
import { DATASETS } from '../dashboard-export/keys.ts';
import { verifyChain, verifyInputSchema } from '../dashboard-export/verify.ts';
import { StatusWriter } from '../status.ts';
import { StorageRouter } from '../store/router.ts';
import type { ObjectStore } from '../store/types.ts';
import type { RawStreams } from '../streams.ts';
import { LocalSlots } from '../local-slots.ts';
import { StoreAudit } from './audit.ts';
import { NODE_ONLY } from './node-only.ts';
import { createFetchS3Store } from './s3-fetch.ts';

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
    secondary: noCache(),
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

  const app = new Hono();
  const refused: OnRefused = (reason, c) => log.debug({ reason, method: c.req.method, path: c.req.path }, 'HTTP request refused');
  const token = secrets.BTC_TS_API_TOKEN;
  const guard: MiddlewareHandler = async (c, next) => {
    if (token && !bearerMatches(c.req.header('authorization'), token)) {
      return errorResponse(c, new BtcError('Unauthorized', 'missing or wrong bearer token'), masker, log);
    }
    await next();
  };
  const limit = bodyLimit({
    maxSize: config.http.bodyLimitBytes,
    onError: (c) => errorResponse(c, new BtcError('PayloadTooLarge', `body over ${config.http.bodyLimitBytes} bytes`), masker, log),
  });
  app.onError((err, c) => errorResponse(c, err, masker, log));
  app.notFound((c) => c.json({ ok: false, error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.use('*', securityHeaders());
  app.use('*', sameOriginGuard(refused));
  app.get('/health', (c) =>
    c.json({
      mode,
      host,
      runtime: 'workerd',
      leader: { host: lease.leaderHost, epoch: lease.epoch, self: lease.holder, degraded: lease.degraded },
      storage: { primary: store.state().primary, secondary: store.state().secondary, cause: store.state().cause },
      functions: [...functions.keys()].sort(),
      not_here: [...NODE_ONLY.keys()].sort(),
    }),
  );
  mountFunctionRoutes(app, { functions, invoker, guard, limit, refused, notHere: NODE_ONLY });
  // `runtime dashboard verify` as a route: the same verifyChain on the primary; the env checked for secrets is the worker's.
  app.post('/dashboard/verify', guard, jsonBodyOnly(refused), limit, async (c) => {
    const text = await c.req.text();
    let raw: unknown = {};
    try {
      raw = text.trim() ? JSON.parse(text) : {};
    } catch (err) {
      throw new BtcError('InvalidInput', 'body is not valid JSON', { details: [{ code: 'invalid_json', path: [], message: (err as Error).message }] });
    }
    const parsed = verifyInputSchema.safeParse(raw);
    if (!parsed.success) throw new BtcError('InvalidInput', 'invalid input for dashboard verify', { details: parsed.error.issues });
    const report = await verifyChain(primary, {
      now: clock.now(),
      maxHeartbeatAgeMs: (parsed.data.max_heartbeat_age_h ?? DEFAULT_VERIFY_MAX_AGE_H) * 3_600_000,
      expectedDatasets: parsed.data.expected_datasets ?? [...DATASETS],
      secrets: parsed.data.secrets ?? [],
      env,
    });
    return c.json({ ok: true, result: report });
  });

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

/** POST /dashboard/verify's age limit when the body names none (hours): a 6-hourly export's period. */
const DEFAULT_VERIFY_MAX_AGE_H = 6;

/** The lease names its holder by host and this id: one per isolate (a worker has no process id); drawn on first use (no randomness at global scope in workerd). */
let isolateId: number | undefined;
const isolateIdOf = () => (isolateId ??= 1 + Math.floor(Math.random() * 0x7ffffffe));
/** ctx.local: what a duty keeps between runs in this isolate (the candidate's lease observation). */
const ISOLATE_MEMORY = new LocalSlots();

const NO_CACHE = 'none (worker: no cache)';

/**
 * The router's secondary in a worker: there is no cache to fall back to, so every call fails
 * Unavailable, naming why. A write the primary refuses is then an error the caller sees, never a
 * record kept somewhere that does not survive the request.
 */
function noCache(): ObjectStore {
  const refuse = async (): Promise<never> => {
    throw new BtcError('Unavailable', 'the primary is down and a worker has no cache to write to');
  };
  return { describe: NO_CACHE, get: refuse, getOrNull: refuse, head: refuse, put: refuse, delete: refuse, listPage: refuse };
}

/**
 * ctx.streams in a worker: no raw segments are written here (collect-tick is Node-only). `ship`
 * has nothing to send (the lease's flush before release calls it); anything else is a defect.
 */
const NO_STREAMS = new Proxy({} as RawStreams, {
  get(_t, prop) {
    if (prop === 'ship') return async () => [];
    if (typeof prop === 'symbol' || prop === 'then') return undefined;
    return () => {
      throw new BtcError('NotAvailableHere', `raw streams (${String(prop)}) are not available in a worker`);
    };
  },
});

/** A croner pattern is due when its next run after one minute before the tick is not after the tick (cron ticks are per minute). */
function cronDue(pattern: string, scheduledTimeMs: number): boolean {
  const next = new Cron(pattern, { paused: true }).nextRun(new Date(scheduledTimeMs - 60_000));
  return next !== null && next.getTime() <= scheduledTimeMs;
}

/**
 * An `everySeconds` schedule on cron ticks, without memory (an isolate may be new at every tick):
 * due when a multiple of the period lies in (previous tick, this tick]. A period no longer than
 * the tick interval runs at every tick. Ticks are the trigger pattern's own times (a late
 * delivery counts as its tick), 60 s apart when the pattern does not parse.
 */
function periodDue(periodMs: number, cron: string, scheduledTimeMs: number): boolean {
  const { tick, interval } = tickOf(cron, scheduledTimeMs);
  if (periodMs <= interval) return true;
  return Math.floor(tick / periodMs) > Math.floor((tick - interval) / periodMs);
}

function tickOf(cron: string, scheduledTimeMs: number): { tick: number; interval: number } {
  try {
    const job = new Cron(cron, { paused: true });
    const tick = job.previousRuns(1, new Date(scheduledTimeMs + 1))[0];
    const previous = tick && job.previousRuns(1, tick)[0];
    if (tick && previous) return { tick: tick.getTime(), interval: tick.getTime() - previous.getTime() };
  } catch {
    // not a pattern croner reads: per minute, as Cloudflare's finest trigger
  }
  return { tick: scheduledTimeMs, interval: 60_000 };
}

/** pino's browser build writing one masked JSON line per entry to the console (workerd's log). */
function consoleLogger(host: string, masker: Masker, level: string): Logger {
  const write = (o: object) => console.log(masker.text(JSON.stringify(o)));
  return pino({ level, base: { host }, browser: { asObject: true, write } }) as unknown as Logger;
}
