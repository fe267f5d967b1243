// ops/bench/ingest.ts
// End-to-end ingest: emulator (own process) at a high trade rate → real ccxt → collect-tick → real MinIO; records/s, PUTs, lag, RSS.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';
import { freePort, startMinio } from '../../test/helpers/minio.ts';
import { RAW_PREFIX } from '../../runtime/keys.ts';
import { afterEveryPut } from './_store-tap.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'ETH/BTC'];
const TICK_SECONDS = 1;
const TS_FIELD = /"ts":(\d+)/g;

/** Counts PUTs and, for raw segments, each record's lag from exchange time to "stored in MinIO". */
function measuringStore(inner: ObjectStore) {
  const figures = { puts: 0, rawPuts: 0, records: 0, lagsMs: [] as number[], measuring: false };
  const store = afterEveryPut(inner, (key, body) => {
    if (!figures.measuring) return;
    const storedAt = Date.now();
    figures.puts++;
    if (key.startsWith(RAW_PREFIX)) {
      figures.rawPuts++;
      for (const m of body.toString().matchAll(TS_FIELD)) {
        figures.records++;
        figures.lagsMs.push(storedAt - Number(m[1]));
      }
    }
  });
  return { store, figures };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export default async function ingestBench(args: string[]) {
  // `ingest --processes [seconds] [trades/s per stream]`: one runtime process against two sharing the streams.
  if (args[0] === '--processes') return (await import('./_ingest-processes.ts')).ingestProcesses(args.slice(1));
  const seconds = Number(args[0] ?? 30);
  const offeredPerSecond = Number(args[1] ?? 24_000);
  const perSymbol = Math.ceil(offeredPerSecond / SYMBOLS.length);
  const minio = await startMinio();
  const emulatorPort = await freePort();
  const emulator = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'emulator', '--port', String(emulatorPort), '--trades-per-second', String(perSymbol)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-ingest-'));
  try {
    const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
    for (let i = 0; ; i++) {
      if (await fetch(`${emulatorUrl}/api/v3/ping`).then((r) => r.ok).catch(() => false)) break;
      if (i > 300) throw new Error('emulator did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const loaded = loadConfig({
      env: {
        BTC_TS_HOST: 'bench-collector',
        BTC_TS_MODE: 'PROD',
        BTC_TS_DATA_DIR: dataDir,
        BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
        BTC_TS_EXCHANGE_URL: emulatorUrl,
      },
      overrides: { collector: { tickSeconds: TICK_SECONDS, streams: [{ exchange: 'binance', topic: 'trades', symbols: SYMBOLS }] } },
    });
    const s3 = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
    const { store, figures } = measuringStore(s3);
    const runtime = await createRuntime(loaded, { log: silentLogger(), primary: store });
    Object.assign(runtime.lease, { holder: true, epoch: 1, leaderHost: 'bench-collector', since: Date.now() });

    const tick = async () => {
      const started = Date.now();
      const result = (await runtime.invoker.invoke('collect-tick', {}, 'cron')) as { failed: number };
      await new Promise((r) => setTimeout(r, Math.max(0, TICK_SECONDS * 1000 - (Date.now() - started))));
      return result;
    };
    // Warm-up: markets, cursors, connections; the first fetch takes the newest page only.
    for (let i = 0; i < 3; i++) await tick();

    figures.measuring = true;
    const rss: number[] = [];
    let ticks = 0;
    let failedStreams = 0;
    const started = Date.now();
    while (Date.now() - started < seconds * 1000) {
      failedStreams += (await tick()).failed;
      ticks++;
      rss.push(process.memoryUsage().rss);
    }
    const elapsedS = (Date.now() - started) / 1000;
    figures.measuring = false;
    const lags = figures.lagsMs.sort((a, b) => a - b);
    const status = await fetch(`${emulatorUrl}/admin/state`).then((r) => r.json() as Promise<{ requests: Record<string, number> }>);
    await runtime.shutdown();
    return {
      offered_trades_per_s: perSymbol * SYMBOLS.length,
      streams: SYMBOLS.length,
      tick_s: TICK_SECONDS,
      measured_s: Math.round(elapsedS * 10) / 10,
      ticks,
      records: figures.records,
      records_per_s: Math.round(figures.records / elapsedS),
      puts_total: figures.puts,
      puts_raw_segments: figures.rawPuts,
      puts_per_1000_records: Math.round((figures.puts / Math.max(1, figures.records)) * 1000 * 100) / 100,
      raw_puts_per_stream_per_tick: Math.round((figures.rawPuts / Math.max(1, ticks * SYMBOLS.length)) * 100) / 100,
      lag_ms_p50: percentile(lags, 50),
      lag_ms_p99: percentile(lags, 99),
      rss_mb_max: Math.round(Math.max(...rss) / 2 ** 20),
      rss_mb_end: Math.round(rss[rss.length - 1]! / 2 ** 20),
      failed_stream_fetches: failedStreams,
      emulator_requests: status.requests,
      note: 'runtime in this process (RSS is its own); emulator and MinIO in their own processes; lag = time the segment PUT returned − trade time',
    };
  } finally {
    emulator.kill('SIGTERM');
    await minio.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
