// ops/bench/_ws-worker.ts
// One phase of the ws bench in its own process (so CPU and peak RSS are the runtime's alone): runtime → emulator → MinIO; prints one JSON line.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { streamName, streamStates } from '../../runtime/collector/stream-state.ts';
import { wsRunnerOf } from '../../runtime/collector/ws/manager.ts';
import { histogramPercentile } from '../../runtime/collector/ws/stats.ts';
import { loadConfig } from '../../runtime/config.ts';
import { applyHeapSettings } from '../../runtime/heap.ts';
import { createRuntime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';
import { RAW_PREFIX } from '../../runtime/keys.ts';
import { afterEveryPut } from './_store-tap.ts';

/** What ops/bench/ws.ts hands in (argv[2], JSON). */
export interface WsPhaseInput {
  transport: 'rest' | 'ws';
  seconds: number;
  tickSeconds: number;
  symbols: string[];
  emulatorUrl: string;
  minio: { endpoint: string; bucket: string; accessKey: string; secretKey: string };
}

const TS_FIELD = Buffer.from('"ts":');
const HISTOGRAM_MS = 60_000;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Lag from trade time to "raw segment PUT returned" (the primary object), as a 1 ms histogram (no per-record array in the measured process). */
function measuringStore(inner: ObjectStore) {
  const figures = { records: 0, histogram: new Uint32Array(HISTOGRAM_MS + 1), measuring: false };
  const store = afterEveryPut(inner, (key, body) => {
    if (!figures.measuring || !key.startsWith(RAW_PREFIX)) return;
    const storedAt = Date.now();
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    for (let at = bytes.indexOf(TS_FIELD); at >= 0; at = bytes.indexOf(TS_FIELD, at + TS_FIELD.length)) {
      figures.records++;
      figures.histogram[Math.max(0, Math.min(HISTOGRAM_MS, storedAt - digitsAt(bytes, at + TS_FIELD.length)))]!++;
    }
  });
  return { store, figures };
}

/** The decimal integer starting at `at` in `body`, read in place (a segment is a few MB: no string of it is made in the measured process). */
function digitsAt(body: Buffer, at: number): number {
  let n = 0;
  for (let i = at; i < body.length && body[i]! >= 0x30 && body[i]! <= 0x39; i++) n = n * 10 + body[i]! - 0x30;
  return n;
}

function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

async function phase(input: WsPhaseInput) {
  const { transport, seconds, tickSeconds, symbols, emulatorUrl, minio } = input;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `btc-ts-bench-ws-${transport}-`));
  const loaded = loadConfig({
    env: { BTC_TS_HOST: `bench-${transport}`, BTC_TS_MODE: 'PROD', BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_EXCHANGE_URL: emulatorUrl },
    overrides: { collector: { tickSeconds, streams: [{ exchange: 'binance', topic: 'trades', symbols, transport }] } },
  });
  const s3 = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  const { store, figures } = measuringStore(s3);
  const runtime = await createRuntime(loaded, { log: silentLogger(), primary: store });
  const baseline = memory();
  Object.assign(runtime.lease, { holder: true, epoch: transport === 'ws' ? 2 : 1, leaderHost: `bench-${transport}`, since: Date.now() });
  const names = symbols.map((symbol) => streamName({ exchange: 'binance', topic: 'trades', symbol }));
  const states = streamStates(runtime.local);
  const tick = async () => {
    const started = Date.now();
    await runtime.invoker.invoke('collect-tick', {}, 'cron');
    await new Promise((r) => setTimeout(r, Math.max(0, tickSeconds * 1000 - (Date.now() - started))));
  };
  const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = memory();
    for (const k of Object.keys(peak) as Array<keyof typeof peak>) peak[k] = Math.max(peak[k], m[k]);
  };
  // Sampled apart from the tick, so a peak between two ticks is seen too.
  const sampler = setInterval(sample, 100);
  try {
    for (let i = 0; i < 3; i++) await tick(); // warm-up: markets, cursors, sockets
    const startIds = names.map((n) => states.get(n)?.cursor?.last_id ?? 0);
    const startMessages = names.map((n) => wsRunnerOf(runtime.local, n)?.stats.messages ?? 0);
    const histBefore = names.map((n) => Uint32Array.from(wsRunnerOf(runtime.local, n)?.stats.lagHistogram ?? new Uint32Array(HISTOGRAM_MS + 1)));
    figures.measuring = true;
    const cpu0 = process.cpuUsage();
    const started = Date.now();
    while (Date.now() - started < seconds * 1000) await tick();
    const elapsedS = (Date.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    figures.measuring = false;
    sample();
    const endIds = names.map((n) => states.get(n)?.cursor?.last_id ?? 0);
    const out: Record<string, unknown> = {
      transport,
      measured_s: Math.round(elapsedS * 10) / 10,
      trade_ids_stored_per_s: Math.round(endIds.reduce((a, id, i) => a + (id - startIds[i]!), 0) / elapsedS),
      records_shipped_per_s: Math.round(figures.records / elapsedS),
      lag_to_primary_ms_p50: histogramPercentile([figures.histogram], 0.5),
      lag_to_primary_ms_p99: histogramPercentile([figures.histogram], 0.99),
      cpu_percent_of_one_core: Math.round(((cpu.user + cpu.system) / 1000 / (elapsedS * 1000)) * 100),
      rss_mb_peak: mb(Math.max(peak.rss, process.resourceUsage().maxRSS * 1024)),
      rss_mb_idle_runtime: mb(baseline.rss),
      memory_mb_peak: { heap_used: mb(peak.heapUsed), heap_total: mb(peak.heapTotal), external: mb(peak.external), array_buffers: mb(peak.arrayBuffers) },
      memory_mb_idle_runtime: { heap_used: mb(baseline.heapUsed), heap_total: mb(baseline.heapTotal), external: mb(baseline.external), array_buffers: mb(baseline.arrayBuffers) },
      heap_growing_percent: heapGrowingPercent,
      execArgv: process.execArgv.filter((a) => !a.includes('tsx')),
    };
    if (transport === 'ws') {
      const runners = names.map((n) => wsRunnerOf(runtime.local, n)!);
      const hist = runners.map((r, i) => r.stats.lagHistogram.map((v, ms) => v - histBefore[i]![ms]!));
      out['messages_per_s'] = Math.round(runners.reduce((a, r, i) => a + r.stats.messages - startMessages[i]!, 0) / elapsedS);
      out['lag_to_durable_append_ms_p50'] = histogramPercentile(hist, 0.5);
      out['lag_to_durable_append_ms_p99'] = histogramPercentile(hist, 0.99);
      out['reconnects'] = runners.reduce((a, r) => a + r.stats.reconnects, 0);
      out['durable_appends_per_s'] = Math.round(runners.reduce((a, r) => a + r.stats.appends, 0) / elapsedS);
      out['backfilled'] = runners.reduce((a, r) => a + r.stats.backfilled, 0);
      out['duplicates_dropped'] = runners.reduce((a, r) => a + r.stats.duplicates, 0);
    }
    return out;
  } finally {
    clearInterval(sampler);
    await runtime.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// As bin/runtime.mjs does for `runtime start` (BTC_TS_HEAP_GROWING_PERCENT=0 in the bench's environment: V8's default).
const heapGrowingPercent = applyHeapSettings();
const input = JSON.parse(process.argv[2] ?? 'null') as WsPhaseInput | null;
if (!input) throw new Error('usage: _ws-worker.ts <phase JSON>');
process.stdout.write(JSON.stringify(await phase(input)) + '\n');
process.exit(0);
