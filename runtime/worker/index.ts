// runtime/worker/index.ts
// The workerd entry (Cloudflare Workers module syntax): `fetch` through the duties' hono router, `scheduled` through the schedules.

import appConfig from 'btc-worker:app-config';
import { functions, schedules } from 'btc-worker:duties';
import { deepMerge } from '../config.ts';
import { BtcError, publicMessage, toBtcError } from '../errors.ts';
import { createWorkerRuntime, type WorkerRuntime } from './runtime.ts';

/** The parts of workerd's ExecutionContext and ScheduledController used here. */
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}
interface ScheduledController {
  cron: string;
  scheduledTime: number;
}

let runtime: WorkerRuntime | null = null;

/**
 * One runtime per isolate, built on first use from the env bindings: string ones are the env
 * layer (same names as under Node); `BTC_TS_CONFIG_JSON` (a JSON var, or a string holding JSON) is
 * merged over the bundled config/app.yaml, like editing that file on a PC.
 */
function runtimeOf(env: Record<string, unknown>): WorkerRuntime {
  if (runtime) return runtime;
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === 'string' && k !== CONFIG_JSON) strings[k] = v;
  runtime = createWorkerRuntime(strings, { functions, schedules, appConfig: deepMerge(structuredClone(appConfig), configJson(env[CONFIG_JSON])) });
  return runtime;
}

const CONFIG_JSON = 'BTC_TS_CONFIG_JSON';

/** @throws BtcError InvalidInput when the binding is not a JSON object. */
function configJson(raw: unknown): Record<string, unknown> {
  if (raw === undefined) return {};
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw new BtcError('InvalidInput', `config error: ${CONFIG_JSON} is not JSON: ${(err as Error).message}`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BtcError('InvalidInput', `config error: ${CONFIG_JSON} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** A runtime that cannot be built (a config error) answers every request with why, never a bare 500. */
function startupFailure(err: unknown): Response {
  const e = toBtcError(err);
  const status = e.code === 'InvalidInput' ? 503 : 500;
  return Response.json({ ok: false, error: 'runtime_unavailable', message: publicMessage(e, 'worker') }, { status });
}

export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    let rt: WorkerRuntime;
    try {
      rt = runtimeOf(env);
    } catch (err) {
      console.error(String(err instanceof BtcError ? err.message : err));
      return startupFailure(err);
    }
    const response = await rt.app.fetch(request);
    await rt.settle(); // nothing a duty started may outlive the request (WorkerRuntime.settle)
    return response;
  },

  async scheduled(controller: ScheduledController, env: Record<string, unknown>, ctx: ExecutionContext): Promise<void> {
    const rt = runtimeOf(env);
    const done = rt.runScheduled(controller.cron, controller.scheduledTime).then((results) => {
      const failed = results.filter((r) => r.outcome === 'error');
      // A failed duty fails the invocation, so the platform's cron log shows it (and may retry).
      if (failed.length) throw new Error(`scheduled duties failed: ${failed.map((r) => `${r.fn} (${r.detail})`).join('; ')}`);
    });
    ctx.waitUntil(done);
    await done;
  },
};
