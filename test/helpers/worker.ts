// test/helpers/worker.ts
// Runs the worker bundle (runtime/worker/build.ts) in a real workerd through miniflare 3, on env bindings like a deployed worker's.

import path from 'node:path';
import { Miniflare } from 'miniflare';
import { buildWorker, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS, type WorkerBundle } from '../../runtime/worker/build.ts';

let bundle: Promise<WorkerBundle> | undefined;

/** The bundle, built once per test file. */
export function workerBundle(): Promise<WorkerBundle> {
  return (bundle ??= buildWorker());
}

export interface TestWorker {
  mf: Miniflare;
  /** `fetch` into the worker (URL host is irrelevant; the worker sees it as given). */
  fetch(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any }>;
  /** POST /fn/:name with a JSON body; the `{ status, body }` answer. */
  call(name: string, input?: unknown): Promise<{ status: number; body: any }>;
  /** Delivers one cron tick through workerd's `scheduled` handler. */
  scheduled(cron?: string, scheduledTime?: Date): Promise<{ outcome: string }>;
  dispose(): Promise<void>;
  /** ms from `new Miniflare` to the first answer of GET /health (workerd start + bundle load + runtime build). */
  coldStartMs: number;
}

/** Starts workerd with the bundle and `bindings` as the worker's env (vars and secrets alike are strings). */
export async function startWorker(bindings: Record<string, string>): Promise<TestWorker> {
  const { code } = await workerBundle();
  const started = performance.now();
  const mf = new Miniflare({
    // The path only names the module (relative to the cwd); the contents are the bundle.
    modules: [{ type: 'ESModule', path: path.resolve('btc-ts-worker.js'), contents: code }],
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: COMPATIBILITY_FLAGS,
    bindings,
    // Our MinIO listens on 127.0.0.1: let workerd's fetch reach private addresses, as a test needs.
    outboundService: undefined,
  });
  try {
    const fetchJson = async (path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
      const res = await mf.dispatchFetch(`http://worker.test${path}`, {
        method: init.method ?? 'GET',
        headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body };
    };
    const health = await fetchJson('/health');
    if (health.status !== 200) throw new Error(`worker did not start: ${health.status} ${JSON.stringify(health.body)}`);
    const coldStartMs = Math.round(performance.now() - started);
    return {
      mf,
      coldStartMs,
      fetch: fetchJson,
      call: (name, input = {}) => fetchJson(`/fn/${name}`, { method: 'POST', body: input }),
      async scheduled(cron = '* * * * *', scheduledTime = new Date()) {
        // miniflare 3's Fetcher type loses `scheduled` in its type mapping; the method is there (workerd's Fetcher.scheduled).
        const worker = (await mf.getWorker()) as unknown as { scheduled(o: { cron: string; scheduledTime: Date }): Promise<{ outcome: string }> };
        return worker.scheduled({ cron, scheduledTime });
      },
      dispose: () => mf.dispose(),
    };
  } catch (err) {
    await mf.dispose();
    throw err;
  }
}
