// runtime/http/app.ts
// The hono app: POST /fn/:name, GET /fn, /health, /status, /metrics; bearer token and body limit.

import { shardMap } from '../leader/shard-map.ts';
import { shardStateOf } from '../leader/shard-state.ts';
import { preferenceBlock, shardRows } from '../leader/shard-status.ts';
import { timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Runtime } from '../context.ts';
import type { AnyFunction } from '../define.ts';
import { BtcError } from '../errors.ts';
import type { Invoker } from '../invoker.ts';
import { describeFunctions } from '../registry.ts';
import { readAllStatus } from '../status.ts';
import { measureBacklog } from '../store/backlog.ts';
import { errorResponse } from './errors.ts';
import { hostGuard, jsonBodyOnly, sameOriginGuard, securityHeaders, type OnRefused } from './security.ts';

export interface AppOptions {
  /** Extra routes (the dashboard page, docs) mounted after the API. */
  extend?: (app: Hono, runtime: Runtime, guard: MiddlewareHandler) => void;
}

export function createApp(runtime: Runtime, options: AppOptions = {}): Hono {
  const { masker, log, invoker } = runtime;
  const token = runtime.loaded.secrets.BTC_TS_API_TOKEN;
  const app = new Hono();

  app.onError((err, c) => errorResponse(c, err, masker, log));
  app.notFound((c) => c.json({ ok: false, error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404));
  // Token or not: headers on every answer, the Host allow-list on every route (DNS rebinding),
  // the same-origin rule on every state-changing one (CSRF). See docs/security.md.
  const refused: OnRefused = (reason, c) => {
    runtime.metrics.httpRefused.inc({ reason });
    log.debug({ reason, method: c.req.method, path: c.req.path }, 'HTTP request refused');
  };
  app.use('*', securityHeaders());
  app.use('*', hostGuard({ bindHost: runtime.loaded.config.http.host, allowedHosts: runtime.loaded.config.http.allowedHosts }, refused));
  app.use('*', sameOriginGuard(refused));

  /** Bearer token check when BTC_TS_API_TOKEN is set (constant-time compare). */
  const guard: MiddlewareHandler = async (c, next) => {
    if (token && !bearerMatches(c.req.header('authorization'), token)) {
      return errorResponse(c, new BtcError('Unauthorized', 'missing or wrong bearer token'), masker, log);
    }
    await next();
  };
  const limit = bodyLimit({
    maxSize: runtime.loaded.config.http.bodyLimitBytes,
    onError: (c) => errorResponse(c, new BtcError('PayloadTooLarge', `body over ${runtime.loaded.config.http.bodyLimitBytes} bytes`), masker, log),
  });

  app.get('/health', async (c) =>
    c.json({
      mode: runtime.mode.get(),
      host: runtime.host,
      leader: { host: runtime.lease.leaderHost, epoch: runtime.lease.epoch, self: runtime.lease.holder, degraded: runtime.lease.degraded },
      // cause: why writes go to the cache (`network`, or the S3 code of a refusal such as MaxVersionsExceeded); null while up.
      // conditional_writes: `ok`, `missing: <behaviour>, …` or `unknown: …` (runtime/store/capabilities.ts): why a runtime stays DEBUG on a weak NAS.
      storage: {
        primary: runtime.store.state().primary,
        secondary: runtime.store.state().secondary,
        cause: runtime.store.state().cause,
        conditional_writes: runtime.store.state().conditionalWrites,
      },
      // This PC − the NAS (ms, + = ahead), from the S3 Date headers; null before the NAS answered or on a local primary.
      clock_skew_ms: runtime.clockSkew.reading().skewMs,
      clock_skew_over_limit: runtime.clockSkew.reading().overLimit,
      // Free bytes of the data directory's file system (WAL and cache), measured now; low: under storage.diskFreeWarnBytes.
      disk: await diskBody(runtime),
      // What this runtime collects from, so `runtime diag api` / `whatif` check the same (a --demo emulator's URL is known only here); origin only.
      collector: { exchange_url: exchangeOrigin(runtime.loaded.config.collector.exchangeUrl), streams: runtime.loaded.config.collector.streams },
      // collector.shards > 1 only: who holds which shard with its epoch, the live runtimes, the share, and the stream → shard map (docs/leader.md).
      ...shardsBody(runtime),
    }),
  );

  app.get('/status', guard, async (c) => {
    const { hosts, errors } = await readAllStatus(runtime.store);
    return c.json({ hosts, errors, self: runtime.host });
  });

  app.get('/metrics', async (c) => {
    const shardState = shardStateOf(runtime.local);
    if (shardState) for (const r of shardRows(shardState)) runtime.metrics.noteShard(r.shard, r.self, r.epoch);
    runtime.metrics.leaseHolder.set(runtime.lease.holder ? 1 : 0);
    runtime.metrics.leaseEpoch.set(runtime.lease.epoch);
    // Measured at scrape time, like the streams' last-ok age: the gauge is never stale.
    const backlog = await measureBacklog(runtime.store.cache).catch(() => null);
    const disk = await runtime.disk.read();
    if (disk) runtime.metrics.diskFreeBytes.set(disk.free_bytes);
    if (backlog) runtime.metrics.setSyncBacklog(backlog.objects, backlog.bytes);
    c.header('content-type', runtime.metrics.registry.contentType);
    return c.body(await runtime.metrics.registry.metrics());
  });

  mountFunctionRoutes(app, { functions: runtime.functions, invoker, guard, limit, refused });

  options.extend?.(app, runtime, guard);
  return app;
}

export interface FunctionRoutesDeps {
  functions: Map<string, AnyFunction>;
  invoker: Invoker;
  /** The bearer-token check. */
  guard: MiddlewareHandler;
  /** The body limit. */
  limit: MiddlewareHandler;
  refused: OnRefused;
  /** Duties this runtime knows of but cannot run (Node-only ones in a worker): 501 not_available_here. */
  notHere?: ReadonlyMap<string, string>;
}

/**
 * `GET /fn` and `POST /fn/:name`: the one router of duties, shared by the Node server and the
 * worker (runtime/worker/), so both answer with the same status codes and bodies.
 */
export function mountFunctionRoutes(app: Hono, deps: FunctionRoutesDeps): void {
  const { functions, invoker, guard, limit, refused, notHere } = deps;
  app.get('/fn', guard, (c) => c.json({ functions: describeFunctions(functions) }));

  app.post('/fn/:name', guard, jsonBodyOnly(refused), limit, async (c) => {
    const name = c.req.param('name');
    const why = notHere?.get(name);
    if (why !== undefined) throw new BtcError('NotAvailableHere', `${name} does not run here: ${why}`);
    if (!invoker.has(name)) throw new BtcError('UnknownFunction', `unknown function ${name}`);
    const input = await readJsonBody(c.req.raw);
    const result = await invoker.invoke(name, input, 'http');
    // A duty may answer raw bytes (the handoff zip) when the client asks for them.
    if (isBinaryResult(result) && c.req.header('accept')?.includes(result.contentType)) {
      c.header('content-type', result.contentType);
      if (result.filename) c.header('content-disposition', `attachment; filename="${result.filename}"`);
      return c.body(new Uint8Array(result.bytes));
    }
    return c.json({ ok: true, result: isBinaryResult(result) ? result.json : result });
  });
}

/** A function result that can also be served as bytes (`Accept` decides). */
export interface BinaryResult {
  contentType: string;
  filename?: string;
  bytes: Buffer;
  json: unknown;
}

export function isBinaryResult(v: unknown): v is BinaryResult {
  return typeof v === 'object' && v !== null && Buffer.isBuffer((v as BinaryResult).bytes) && typeof (v as BinaryResult).contentType === 'string';
}

async function readJsonBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BtcError('InvalidInput', 'body is not valid JSON', {
      details: [{ code: 'invalid_json', path: [], message: (err as Error).message }],
    });
  }
}

export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!.trim());
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Scheme, host and port of the exchange URL: never credentials or a path a proxy URL may carry. */
function exchangeOrigin(url: string | undefined): string | null {
  return url ? new URL(url).origin : null;
}

/** `/health` `disk`: the data directory's free space now; null when it cannot be measured. */
async function diskBody(runtime: Runtime): Promise<{ free_bytes: number; total_bytes: number; warn_bytes: number; low: boolean } | null> {
  const reading = await runtime.disk.read();
  return reading && { free_bytes: reading.free_bytes, total_bytes: reading.total_bytes, warn_bytes: reading.warn_bytes, low: reading.low };
}

/** `/health`'s `shards` block: present only with collector.shards > 1 (the one-lease fields stay as they are). */
function shardsBody(runtime: Runtime): { shards?: unknown } {
  const state = shardStateOf(runtime.local);
  if ((runtime.loaded.config.collector.shards ?? 1) <= 1) return {};
  return {
    shards: {
      count: runtime.loaded.config.collector.shards,
      live: state?.live ?? [],
      share: state?.share ?? null,
      refused: state?.refused ?? null,
      held: state ? state.slots.filter((s) => s.view.holder).map((s) => s.shard) : [],
      rows: state ? shardRows(state) : [],
      preference: state ? preferenceBlock({ host: runtime.host, config: runtime.loaded.config, clock: runtime.clock }, state) : null,
      map: shardMap(runtime.loaded.config),
    },
  };
}
