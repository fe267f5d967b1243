// ops/bench/ws.ts
// WebSocket vs REST ingest on the same trade streams: emulator (own process) → real ccxt → MinIO; messages/s, lag to append and to MinIO, CPU, RSS, loss.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { streamName, streamStates } from '../../runtime/collector/tick.ts';
import { wsRunnerOf } from '../../runtime/collector/ws/manager.ts';
import { histogramPercentile } from '../../runtime/collector/ws/stats.ts';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';
import { freePort, startMinio } from '../../test/helpers/minio.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'ETH/BTC'];
const TICK_SECONDS = 1;
const TS_FIELD = /"ts":(\d+)/g;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/** Lag from trade time to "raw segment PUT returned" (the primary object). */
function measuringStore(inner: ObjectStore) {
  const figures = { records: 0, lagsMs: [] as number[], measuring: false };
  const store: ObjectStore = {
    describe: inner.describe,
    get: (k) => inner.get(k),
    getOrNull: (k) => inner.getOrNull(k),
    head: (k) => inner.head(k),
    delete: (k) => inner.delete(k),
    listPage: (p, o) => inner.listPage(p, o),
    async put(key, body, options) {
      const result = await inner.put(key, body, options);
      if (figures.measuring && key.startsWith('raw/')) {
        const storedAt = Date.now();
        for (const m of body.toString().matchAll(TS_FIELD)) {
          figures.records++;
          figures.lagsMs.push(storedAt - Number(m[1]));
        }
      }
      return result;
    },
  };
  return { store, figures };
}

async function phase(transport: 'rest' | 'ws', seconds: number, emulatorUrl: string, minio: { endpoint: string; bucket: string; accessKey: string; secretKey: string }) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `btc-ts-bench-ws-${transport}-`));
  // A bucket per phase: no phase starts from another's cursor (a different rate means other ids).
  const bucket = `bench-ws-${transport}-${Date.now().toString(36)}`;
  await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
  const loaded = loadConfig({
    env: { BTC_TS_HOST: `bench-${transport}`, BTC_TS_MODE: 'PROD', BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_EXCHANGE_URL: emulatorUrl },
    overrides: { collector: { tickSeconds: TICK_SECONDS, streams: [{ exchange: 'binance', topic: 'trades', symbols: SYMBOLS, transport }] } },
  });
  const s3 = createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  const { store, figures } = measuringStore(s3);
  const runtime = await createRuntime(loaded, { log: silentLogger(), primary: store });
  Object.assign(runtime.lease, { holder: true, epoch: transport === 'ws' ? 2 : 1, leaderHost: `bench-${transport}`, since: Date.now() });
  const names = SYMBOLS.map((symbol) => streamName({ exchange: 'binance', topic: 'trades', symbol }));
  const states = streamStates(runtime.local);
  const tick = async () => {
    const started = Date.now();
    await runtime.invoker.invoke('collect-tick', {}, 'cron');
    await new Promise((r) => setTimeout(r, Math.max(0, TICK_SECONDS * 1000 - (Date.now() - started))));
  };
  try {
    for (let i = 0; i < 3; i++) await tick(); // warm-up: markets, cursors, sockets
    const startIds = names.map((n) => states.get(n)?.cursor?.last_id ?? 0);
    const startAppended = names.map((n) => wsRunnerOf(runtime.local, n)?.stats.messages ?? 0);
    const histBefore = names.map((n) => Uint32Array.from(wsRunnerOf(runtime.local, n)?.stats.lagHistogram ?? new Uint32Array(60_001)));
    figures.measuring = true;
    const cpu0 = process.cpuUsage();
    const started = Date.now();
    const rss: number[] = [];
    while (Date.now() - started < seconds * 1000) {
      await tick();
      rss.push(process.memoryUsage().rss);
    }
    const elapsedS = (Date.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    figures.measuring = false;
    const endIds = names.map((n) => states.get(n)?.cursor?.last_id ?? 0);
    const idsCovered = endIds.reduce((a, id, i) => a + (id - startIds[i]!), 0);
    const lags = figures.lagsMs.sort((a, b) => a - b);
    const out: Record<string, unknown> = {
      transport,
      measured_s: Math.round(elapsedS * 10) / 10,
      trade_ids_stored_per_s: Math.round(idsCovered / elapsedS),
      records_shipped_per_s: Math.round(figures.records / elapsedS),
      lag_to_primary_ms_p50: percentile(lags, 50),
      lag_to_primary_ms_p99: percentile(lags, 99),
      cpu_percent_of_one_core: Math.round(((cpu.user + cpu.system) / 1000 / (elapsedS * 1000)) * 100),
      rss_mb_max: Math.round(Math.max(...rss) / 2 ** 20),
    };
    if (transport === 'ws') {
      const runners = names.map((n) => wsRunnerOf(runtime.local, n)!);
      const hist = runners.map((r, i) => r.stats.lagHistogram.map((v, ms) => v - histBefore[i]![ms]!));
      out['messages_per_s'] = Math.round(runners.reduce((a, r, i) => a + r.stats.messages - startAppended[i]!, 0) / elapsedS);
      out['lag_to_durable_append_ms_p50'] = histogramPercentile(hist, 0.5);
      out['lag_to_durable_append_ms_p99'] = histogramPercentile(hist, 0.99);
      out['reconnects'] = runners.reduce((a, r) => a + r.stats.reconnects, 0);
      out['durable_appends_per_s'] = Math.round(runners.reduce((a, r) => a + r.stats.appends, 0) / elapsedS);
      out['backfilled'] = runners.reduce((a, r) => a + r.stats.backfilled, 0);
      out['duplicates_dropped'] = runners.reduce((a, r) => a + r.stats.duplicates, 0);
    }
    return out;
  } finally {
    await runtime.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export default async function wsBench(args: string[]) {
  const seconds = Number(args[0] ?? 20);
  const rates = (args[1] ?? '5000,20000').split(',').map(Number);
  const minio = await startMinio();
  const results: unknown[] = [];
  try {
    for (const offered of rates) {
      const perSymbol = Math.ceil(offered / SYMBOLS.length);
      const emulatorPort = await freePort();
      const emulator = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'emulator', '--port', String(emulatorPort), '--trades-per-second', String(perSymbol)], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const emulatorUrl = `http://127.0.0.1:${emulatorPort}`;
        for (let i = 0; ; i++) {
          if (await fetch(`${emulatorUrl}/api/v3/ping`).then((r) => r.ok).catch(() => false)) break;
          if (i > 300) throw new Error('emulator did not start');
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const transport of ['ws', 'rest'] as const) {
          results.push({ offered_trades_per_s: perSymbol * SYMBOLS.length, ...(await phase(transport, seconds, emulatorUrl, minio)) });
        }
      } finally {
        emulator.kill('SIGTERM');
      }
    }
  } finally {
    await minio.dispose();
  }
  return {
    streams: SYMBOLS.length,
    tick_s: TICK_SECONDS,
    results,
    targets: { ws_lag_to_durable_append_ms_p99_at_5000: 250, ws_sustained_messages_per_s: 20_000, rss_mb: 300 },
    note: 'runtime in this process (CPU and RSS are its own); emulator and MinIO in their own processes. Lag to durable append: ws runner, trade time → fsynced local append; lag to primary: trade time → raw segment PUT returned. trade_ids_stored_per_s = cursor advance (ids stored without holes).',
  };
}
