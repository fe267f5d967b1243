// ops/bench/export.ts
// Benchmark: 7 days of demo-rate raw data (4 streams, 1 record/s) → full dashboard export (time, RSS), then
// one more hour of data → incremental re-run.
// `npm run bench -- export [--store minio|fs] [--days 7] [--segment-seconds 60] [--start-hour 12]`.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { manualClock } from '../../runtime/clock.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { runDashboardExport, type ExportSummary } from '../../runtime/dashboard-export/export.ts';
import { mapLimit } from '../../runtime/async.ts';
import type { StreamId } from '../../runtime/streams.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';
import { startMinio } from '../../test/helpers/minio.ts';
import { indexKey, rawSegmentKey } from '../../runtime/keys.ts';

const STREAMS: StreamId[] = [
  { exchange: 'emu', topic: 'ticker', symbol: 'BTC/USDT' },
  { exchange: 'emu', topic: 'trades', symbol: 'BTC/USDT' },
  { exchange: 'emu', topic: 'orderbook', symbol: 'BTC/USDT' },
  { exchange: 'emu', topic: 'ticker', symbol: 'ETH/USDT' },
];
const DAY0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const WRITE_CONCURRENCY = 16;

/** Deterministic pseudo-random numbers, so every run measures the same data. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1_664_525 + 1_013_904_223) >>> 0) / 2 ** 32);
}

function datum(stream: StreamId, ts: number, seq: number, rand: () => number): unknown {
  const price = 40_000 + Math.round(rand() * 1000);
  if (stream.topic === 'trades') {
    const amount = Math.round(rand() * 1000) / 1000;
    return { id: String(seq), timestamp: ts, datetime: new Date(ts).toISOString(), symbol: stream.symbol, side: rand() < 0.5 ? 'buy' : 'sell', price, amount, cost: price * amount };
  }
  if (stream.topic === 'orderbook') {
    return { bids: [0, 1, 2, 3, 4].map((i) => [price - i, 1]), asks: [0, 1, 2, 3, 4].map((i) => [price + 1 + i, 1]), timestamp: ts, nonce: seq };
  }
  return { symbol: stream.symbol, timestamp: ts, bid: price, ask: price + 1, last: price, baseVolume: 1234.5 };
}

/** Writes raw objects covering [fromMs, toMs) for every stream, one object per `segmentMs`, 1 record/s. */
async function generate(store: ObjectStore, fromMs: number, toMs: number, segmentMs: number): Promise<{ objects: number; records: number; bytes: number }> {
  const jobs: Array<{ stream: StreamId; start: number }> = [];
  for (const stream of STREAMS) for (let t = fromMs; t < toMs; t += segmentMs) jobs.push({ stream, start: t });
  let records = 0;
  let bytes = 0;
  await mapLimit(jobs, WRITE_CONCURRENCY, async ({ stream, start }) => {
    const rand = rng(start ^ stream.topic.length ^ stream.symbol.length);
    const firstSeq = (start - DAY0) / 1000;
    const lines: string[] = [];
    for (let i = 0; i < segmentMs / 1000; i++) {
      const ts = start + i * 1000;
      const seq = firstSeq + i;
      lines.push(JSON.stringify({ ...stream, ts, ingest_ts: ts + 5 + Math.floor(rand() * 200), epoch: 1, seq, data: datum(stream, ts, seq, rand) }));
    }
    const body = lines.join('\n') + '\n';
    await store.put(rawSegmentKey(stream, 1, firstSeq, start), body);
    records += lines.length;
    bytes += Buffer.byteLength(body);
  });
  return { objects: jobs.length, records, bytes };
}

/** Runs `fn`, sampling RSS every 50 ms: wall time, peak RSS and RSS growth. */
async function measured<T>(fn: () => Promise<T>): Promise<{ result: T; ms: number; peak_rss_mb: number; rss_before_mb: number }> {
  const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const t0 = performance.now();
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, ms: Math.round(performance.now() - t0), peak_rss_mb: mb(peak), rss_before_mb: mb(before) };
  } finally {
    clearInterval(timer);
  }
}

const statsOf = (s: ExportSummary) => Object.fromEntries(s.datasets.map((d) => [d.name, { rows: d.rows, bytes: d.bytes, ...(d.stats ?? {}) }]));

export default async function bench(args: string[]): Promise<object> {
  const { values } = parseArgs({ args, options: {
      store: { type: 'string', default: 'minio' },
      days: { type: 'string', default: '7' },
      'segment-seconds': { type: 'string', default: '60' },
      // Collection starting mid-day puts the extra hour mid-day too: turnover then re-reads the day so far.
      'start-hour': { type: 'string', default: '12' },
    }, allowPositionals: true });
  const days = Number(values.days);
  const segmentMs = Number(values['segment-seconds']) * 1000;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-export-'));
  const minio = values.store === 'minio' ? await startMinio({ bucket: 'bench' }) : null;
  const primary = minio
    ? createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey })
    : createFsStore({ root: path.join(dir, 'nas') });
  const start = DAY0 + Number(values['start-hour']) * HOUR;
  const end = start + days * 24 * HOUR;
  const clock = manualClock(end + HOUR);
  const loaded = loadConfig({ env: { BTC_TS_HOST: 'bench', BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_MODE: 'PROD' } });
  const runtime = await createRuntime(loaded, { log: silentLogger(), primary, cache: createFsStore({ root: path.join(dir, 'cache') }), clock });
  try {
    const g0 = performance.now();
    const generated = await generate(primary, start, end, segmentMs);
    const generateMs = Math.round(performance.now() - g0);
    const full = await measured(() => runDashboardExport(runtime.context(), { historyWeeks: 8 }));
    const more = await generate(primary, end, end + HOUR, segmentMs);
    clock.advance(HOUR);
    const incremental = await measured(() => runDashboardExport(runtime.context(), { historyWeeks: 8 }));
    const indexBytes = (await primary.head(indexKey('latency')))?.size ?? null;
    return {
      store: minio ? 'minio (S3Store, loopback)' : 'fs (FsStore)',
      data: { days, start: new Date(start).toISOString(), streams: STREAMS.length, record_every_s: 1, segment_seconds: segmentMs / 1000, ...generated, mb: Math.round(generated.bytes / 2 ** 20), generate_ms: generateMs },
      full_export: { status: full.result.status, ms: full.ms, peak_rss_mb: full.peak_rss_mb, rss_before_mb: full.rss_before_mb, datasets: statsOf(full.result) },
      incremental_after_one_hour: { added_objects: more.objects, status: incremental.result.status, ms: incremental.ms, peak_rss_mb: incremental.peak_rss_mb, datasets: statsOf(incremental.result) },
      latency_index_bytes: indexBytes,
      node: process.version,
    };
  } finally {
    await runtime.shutdown();
    await minio?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await bench(process.argv.slice(2)), null, 2));
}
