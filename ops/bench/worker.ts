// ops/bench/worker.ts
// The worker bundle in workerd (miniflare 3): bundle size (raw, minified, gzip) and cold start to the first answer.

import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Miniflare } from 'miniflare';
import { buildWorker, COMPATIBILITY_DATE, COMPATIBILITY_FLAGS } from '../../runtime/worker/build.ts';

/**
 * `npm run bench -- worker [runs]`. Cold start = `new Miniflare` → first `GET /health` 200: the
 * workerd process starting, the bundle loading (module evaluation) and the runtime being built
 * from the env; no store call (the S3 endpoint is only parsed). `first_duty_ms` is not measured
 * here (it needs a MinIO): test/worker.test.ts exercises the duties.
 */
export default async function bench(args: string[]): Promise<unknown> {
  const runs = Number(args[0] ?? 5);
  let t = performance.now();
  const plain = await buildWorker();
  const buildMs = performance.now() - t;
  const minified = await buildWorker({ minify: true });
  const bindings = { BTC_TS_HOST: 'bench', BTC_TS_S3_ENDPOINT: 'http://127.0.0.1:9', BTC_TS_S3_ACCESS_KEY: 'bench-access', BTC_TS_S3_SECRET_KEY: 'bench-secret-key' };
  const cold: number[] = [];
  const warm: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    // The same start with a one-line worker: what workerd itself costs, so the difference is the bundle's.
    t = performance.now();
    const empty = new Miniflare({ modules: true, script: 'export default { fetch: () => new Response("ok") };', compatibilityDate: COMPATIBILITY_DATE, compatibilityFlags: COMPATIBILITY_FLAGS });
    try {
      await (await empty.dispatchFetch('http://worker.test/')).arrayBuffer();
      baseline.push(performance.now() - t);
    } finally {
      await empty.dispose();
    }
    t = performance.now();
    const mf = new Miniflare({
      modules: [{ type: 'ESModule', path: path.resolve('btc-ts-worker.js'), contents: minified.code }],
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: COMPATIBILITY_FLAGS,
      bindings,
    });
    try {
      const res = await mf.dispatchFetch('http://worker.test/health');
      if (res.status !== 200) throw new Error(`worker answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
      cold.push(performance.now() - t);
      t = performance.now();
      const again = await mf.dispatchFetch('http://worker.test/health');
      await again.arrayBuffer();
      warm.push(performance.now() - t);
    } finally {
      await mf.dispose();
    }
  }
  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: Math.round(s[0]!), median: Math.round(s[Math.floor(s.length / 2)]!), max: Math.round(s[s.length - 1]!) };
  };
  return {
    workerd: COMPATIBILITY_DATE,
    functions: minified.functions,
    absent_node_modules: Object.keys(minified.absent),
    bundle_bytes: plain.bytes,
    bundle_min_bytes: minified.bytes,
    bundle_min_gzip_bytes: gzipSync(minified.code).length,
    build_ms: Math.round(buildMs),
    runs,
    cold_start_ms: stats(cold),
    empty_worker_cold_start_ms: stats(baseline),
    warm_health_ms: stats(warm),
  };
}
