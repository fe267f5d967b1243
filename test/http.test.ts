// test/http.test.ts
// The HTTP contract through app.request (no server): status codes, bodies, auth, limits, no leaks.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineFunction, type AnyFunction } from '../runtime/define.ts';
import { createApp } from '../runtime/http/app.ts';
import { defineSlot } from '../runtime/local-slots.ts';
import { loadFunctions } from '../runtime/registry.ts';
import { testRuntime, type TestRuntime } from './helpers/runtime-inproc.ts';

const TOKEN = 'test-token-abcdef-0123456789abcdef';
const SECRET = 'sk-live-this-must-never-leak';
/** How many times `slow` ran in this runtime. */
const SLOW_RUNS = defineSlot<number>('slow.runs');

async function functionsWithExtras(): Promise<Map<string, AnyFunction>> {
  const functions = await loadFunctions();
  functions.set(
    'explode',
    defineFunction({
      name: 'explode',
      description: 'throws an internal error carrying a secret',
      input: z.object({}),
      output: z.object({}),
      run: async () => {
        throw new Error(`boom with ${SECRET}`);
      },
    }) as AnyFunction,
  );
  functions.set(
    'slow',
    defineFunction({
      name: 'slow',
      description: 'takes a while and counts its runs',
      input: z.object({ ms: z.number().default(200) }),
      output: z.object({ runs: z.number() }),
      run: async ({ ms }, ctx) => {
        const runs = (ctx.local.get(SLOW_RUNS) ?? 0) + 1;
        ctx.local.set(SLOW_RUNS, runs);
        await new Promise((r) => setTimeout(r, ms));
        return { runs };
      },
    }) as AnyFunction,
  );
  return functions;
}

describe('HTTP API without a token', () => {
  let rt: TestRuntime;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    rt = await testRuntime({ BTC_TS_S3_SECRET_KEY: SECRET }, { functions: await functionsWithExtras() });
    app = createApp(rt);
  });
  afterAll(() => rt.dispose());

  const post = (name: string, body: string, headers: Record<string, string> = {}) =>
    app.request(`/fn/${name}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('GET /health has mode, host, leader and storage', async () => {
    const res = await app.request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      mode: 'DEBUG',
      host: 'unit',
      leader: { host: null, epoch: 0, self: false, degraded: false },
      storage: { primary: 'up', secondary: 'idle', cause: null, conditional_writes: 'unknown: not probed yet' },
      // A directory primary shares this PC's clock: nothing to measure.
      clock_skew_ms: null,
      clock_skew_over_limit: false,
      // The data directory's file system, measured on the request; the default warning is 1 GiB.
      disk: { free_bytes: expect.any(Number), total_bytes: expect.any(Number), warn_bytes: 1 << 30, low: expect.any(Boolean) },
      collector: { exchange_url: null, streams: [] },
    });
    const { disk } = (await (await app.request('/health')).json()) as { disk: { free_bytes: number; total_bytes: number } };
    expect(disk.free_bytes).toBeGreaterThan(0);
    expect(disk.free_bytes).toBeLessThanOrEqual(disk.total_bytes);
  });

  it('POST /fn/storage-probe runs the duty', async () => {
    const res = await post('storage-probe', '{}');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ok: boolean; result: { ok: boolean; primary: string } };
    expect(body.ok).toBe(true);
    expect(body.result).toMatchObject({ ok: true, primary: 'up' });
  });

  it('an empty body counts as {}', async () => {
    expect((await post('storage-probe', '')).status).toBe(200);
  });

  it('unknown function → 404 unknown_function', async () => {
    const res = await post('nope', '{}');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ ok: false, error: 'unknown_function' });
  });

  it('malformed JSON and schema violations → 400 with issues', async () => {
    const bad = await post('storage-probe', '{"x":');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ ok: false, error: 'invalid_input', issues: [{ code: 'invalid_json' }] });
    const wrong = await post('slow', '{"ms":"soon"}');
    expect(wrong.status).toBe(400);
    const body = (await wrong.json()) as { issues: Array<{ path: string[] }> };
    expect(body.issues[0]!.path).toEqual(['ms']);
  });

  it('a body over the limit → 413', async () => {
    const res = await post('storage-probe', JSON.stringify({ pad: 'x'.repeat(2 << 20) }));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ ok: false, error: 'payload_too_large' });
  });

  it('an internal error → 500 without stack or secret', async () => {
    const res = await post('explode', '{}');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ ok: false, error: 'internal_error', message: 'internal error; see the runtime log' });
    expect(text).not.toContain(SECRET);
    expect(text).not.toMatch(/at .*\.ts:\d+/);
  });

  it('one in-flight run per function: the same input joins, another input is 409 busy', async () => {
    const [a, b] = await Promise.all([post('slow', '{"ms":300}'), post('slow', '{"ms":300}')]);
    const ra = (await a.json()) as { result: { runs: number } };
    const rb = (await b.json()) as { result: { runs: number } };
    expect(ra.result.runs).toBe(rb.result.runs);
    const started = rt.local.get(SLOW_RUNS)! + 1;
    const first = post('slow', '{"ms":300}');
    // Wait until that run has really started (a fixed pause is too short on a loaded machine).
    while (rt.local.get(SLOW_RUNS) !== started) await new Promise((r) => setTimeout(r, 5));
    const other = await post('slow', '{"ms":10}');
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: 'busy' });
    expect((await first).status).toBe(200);
  });

  it('GET /fn lists functions with JSON Schema inputs; GET /status merges hosts; /metrics is Prometheus text', async () => {
    const fns = (await (await app.request('/fn')).json()) as { functions: Array<{ name: string; input: { type: string } }> };
    expect(fns.functions.map((f) => f.name)).toContain('storage-probe');
    expect(fns.functions.find((f) => f.name === 'slow')!.input).toMatchObject({ type: 'object', properties: { ms: { type: 'number' } } });
    const status = (await (await app.request('/status')).json()) as { hosts: Array<{ host: string }> };
    expect(status.hosts.map((h) => h.host)).toContain('unit');
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/btc_ts_function_runs_total\{fn="storage-probe",source="http",result="ok"\} \d+/);
  });
});

describe('HTTP API with BTC_TS_API_TOKEN', () => {
  let rt: TestRuntime;
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    rt = await testRuntime({ BTC_TS_API_TOKEN: TOKEN });
    app = createApp(rt);
  });
  afterAll(() => rt.dispose());

  it('401 without or with a wrong bearer token, 200 with the right one; /health stays open', async () => {
    const call = (authorization?: string) =>
      app.request('/fn/storage-probe', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) } });
    expect((await call()).status).toBe(401);
    expect((await call('Bearer wrong-token-xxxxxx')).status).toBe(401);
    const denied = await call(`Basic ${TOKEN}`);
    expect(denied.status).toBe(401);
    expect(await denied.text()).not.toContain(TOKEN);
    expect((await call(`Bearer ${TOKEN}`)).status).toBe(200);
    expect((await app.request('/health')).status).toBe(200);
    expect((await app.request('/status')).status).toBe(401);
  });
});

describe('storage probe', () => {
  it('concurrent probes share one run and never read back each other\'s bytes', async () => {
    const rt = await testRuntime();
    const results = await Promise.all(Array.from({ length: 5 }, () => rt.store.probePrimary(Date.now())));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(new Set(results).size).toBe(1);
    await rt.dispose();
  });
});
