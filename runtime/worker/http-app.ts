// runtime/worker/http-app.ts
// A worker's HTTP surface: /health, the duties' routes as under Node (a Node-only duty answers 501), and POST /dashboard/verify.

import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Clock } from '../clock.ts';
import type { LoadedConfig } from '../config.ts';
import type { AnyFunction, LeaseView } from '../define.ts';
import { BtcError } from '../errors.ts';
import { DATASETS } from '../dashboard-export/keys.ts';
import { verifyChain, verifyInputSchema } from '../dashboard-export/verify.ts';
import { bearerMatches, mountFunctionRoutes } from '../http/app.ts';
import { errorResponse } from '../http/errors.ts';
import { jsonBodyOnly, sameOriginGuard, securityHeaders, type OnRefused } from '../http/security.ts';
import type { Invoker } from '../invoker.ts';
import type { Logger } from '../logger.ts';
import type { Masker } from '../secrets.ts';
import type { StorageRouter } from '../store/router.ts';
import type { ObjectStore } from '../store/types.ts';
import { NODE_ONLY } from './node-only.ts';

/** POST /dashboard/verify's age limit when the body names none (hours): a 6-hourly export's period. */
const DEFAULT_VERIFY_MAX_AGE_H = 6;

/** What the worker's routes read: its config and secrets, its parts, and its env (for the secrets POST /dashboard/verify checks). */
export interface WorkerAppParts {
  env: Record<string, string>;
  loaded: LoadedConfig;
  host: string;
  masker: Masker;
  log: Logger;
  clock: Clock;
  primary: ObjectStore;
  store: StorageRouter;
  lease: LeaseView;
  /** The mode now. */
  mode: () => string;
  functions: Map<string, AnyFunction>;
  invoker: Invoker;
}

/** The worker's Hono app: the bearer token and body limit on every duty route, errors as under Node. */
export function workerApp(parts: WorkerAppParts): Hono {
  const { env, loaded, host, masker, log, clock, primary, store, lease, functions, invoker } = parts;
  const { config, secrets } = loaded;
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
      mode: parts.mode(),
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
  return app;
}
