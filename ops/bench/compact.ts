// ops/bench/compact.ts
// One synthetic day of 8 streams (≥ 10 million records, one segment per stream per 5 s tick) compacted to Parquet: records/s, ratio, peak RSS, and the plain-read floor.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StreamId } from '../../runtime/streams.ts';
import { segments } from '../../test/helpers/data-fixtures.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER = path.join(ROOT, 'ops/bench/_compact-worker.ts');
const DATE = '2026-01-15';
const TICK_MS = 5_000;
const TICKS = 86_400_000 / TICK_MS;
const TRADE_SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'SOL/USDT', 'XRP/USDT', 'ETH/BTC'];

function worker(mode: string, root: string): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/tsnode.mjs'), WORKER, root, mode, DATE], { cwd: ROOT, maxBuffer: 16 << 20, env: process.env }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${mode} worker failed: ${stderr.slice(-2000)}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!));
    });
  });
}

/** `npm run bench -- compact [--records N]`: default 10,000,000 records (5 trade streams carry almost all of them). */
export default async function bench(args: string[]) {
  const i = args.indexOf('--records');
  const total = i >= 0 ? Number(args[i + 1]) : 10_000_000;
  const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-compact-store-'));
  try {
    const t0 = Date.parse(`${DATE}T00:00:00Z`);
    const others: Array<{ stream: StreamId; count: number; stepMs: number }> = [
      { stream: { exchange: 'binance', topic: 'orderbook', symbol: 'BTC/USDT' }, count: TICKS, stepMs: TICK_MS },
      { stream: { exchange: 'binance', topic: 'ticker', symbol: 'BTC/USDT' }, count: TICKS, stepMs: TICK_MS },
      { stream: { exchange: 'binance', topic: 'ohlcv', symbol: 'BTC/USDT' }, count: 1440, stepMs: 60_000 },
    ];
    const perTrades = Math.ceil((total - others.reduce((n, o) => n + o.count, 0)) / TRADE_SYMBOLS.length);
    const plan = [
      ...TRADE_SYMBOLS.map((symbol, k) => ({ stream: { exchange: 'binance', topic: 'trades', symbol }, count: perTrades, stepMs: 86_400_000 / perTrades, firstId: 100_000_000 * (k + 1) })),
      ...others.map((o) => ({ ...o, firstId: 1 })),
    ];
    const genStarted = performance.now();
    let records = 0;
    let rawBytes = 0;
    let objects = 0;
    for (const p of plan) {
      // One segment per stream per tick, as the collector ships them.
      const perSegment = Math.max(1, Math.round(p.count / Math.min(TICKS, p.count)));
      for (const seg of segments({ stream: p.stream, epoch: 1, firstSeq: 0, count: p.count, perSegment, firstTs: t0, stepMs: p.stepMs, firstId: p.firstId, fills: true })) {
        const file = path.join(root, ...seg.key.split('/'));
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, seg.body);
        records += seg.records;
        rawBytes += seg.body.length;
        objects++;
      }
    }
    const generateMs = Math.round(performance.now() - genStarted);
    const loadBefore = os.loadavg().map((l) => Math.round(l * 10) / 10);
    const read = await worker('read', root);
    const parse = await worker('parse', root);
    const compact = await worker('compact', root);
    if (compact.failed) throw new Error(`compaction failed: ${JSON.stringify(compact.errors)}`);
    const recordsPerS = Math.round(records / (compact.elapsed_ms / 1000));
    const ratio = rawBytes / compact.parquet_bytes;
    const ph = compact.phases as Record<string, number>;
    const rate = (ms: number) => Math.round(records / (ms / 1000));
    const duckMs = ph.read_ms! + ph.dedup_ms! + ph.write_ms! + ph.verify_ms!;
    const duckCpu = ph.cpu_read_ms! + ph.cpu_dedup_ms! + ph.cpu_write_ms! + ph.cpu_verify_ms!;
    return {
      store: 'FsStore (local directory; listing with ETags hashes every file, as a directory store must)',
      cpus: os.availableParallelism(),
      threads: Number(process.env.BENCH_THREADS ?? 2),
      memory_limit: process.env.BENCH_MEMORY_LIMIT ?? '(default)',
      load_average_before: loadBefore,
      load_average_after: os.loadavg().map((l) => Math.round(l * 10) / 10),
      streams: plan.length,
      objects,
      records,
      raw_jsonl_bytes: rawBytes,
      generate_ms: generateMs,
      // cpu_ms: CPU time of the process (all threads); records_per_s_2_idle_cores: records / (cpu_ms / 2 s), the best two idle cores could give.
      floor_read: { elapsed_ms: read.elapsed_ms, cpu_ms: read.cpu_ms, peak_rss_mb: read.peak_rss_mb, mb_per_s: Math.round(rawBytes / 1e6 / (read.elapsed_ms / 1000)) },
      floor_read_and_parse: { elapsed_ms: parse.elapsed_ms, cpu_ms: parse.cpu_ms, peak_rss_mb: parse.peak_rss_mb, records_per_s: Math.round(records / (parse.elapsed_ms / 1000)) },
      compact: {
        elapsed_ms: compact.elapsed_ms,
        cpu_ms: compact.cpu_ms,
        records_per_s_2_idle_cores: Math.round(records / (compact.cpu_ms / 2000)),
        records_per_s: recordsPerS,
        rows_out: compact.rows,
        parquet_bytes: compact.parquet_bytes,
        compression_ratio: Math.round(ratio * 10) / 10,
        peak_rss_mb: compact.peak_rss_mb,
        // Where the time went, summed over the stream-days (records/s of the whole day's records at each step alone).
        plan_ms: compact.plan_ms,
        fetch_to_scratch: { elapsed_ms: ph.fetch_ms, cpu_ms: ph.cpu_fetch_ms, records_per_s: rate(ph.fetch_ms!), what: 'GET every segment, line scan, append to the scratch JSONL' },
        duckdb: {
          elapsed_ms: duckMs,
          cpu_ms: duckCpu,
          records_per_s: rate(duckMs),
          records_per_s_2_idle_cores: rate(duckCpu / 2),
          json_read: {
            elapsed_ms: ph.read_ms, cpu_ms: ph.cpu_read_ms, records_per_s: rate(ph.read_ms!), records_per_s_2_idle_cores: rate(ph.cpu_read_ms! / 2),
            mb_per_s: Math.round(rawBytes / 1e6 / (ph.read_ms! / 1000)),
          },
          cpu_dedup_ms: ph.cpu_dedup_ms,
          cpu_sort_write_ms: ph.cpu_write_ms,
          cpu_upload_verify_ms: ph.cpu_verify_ms,
          dedup_ms: ph.dedup_ms,
          sort_write_ms: ph.write_ms,
          upload_verify_ms: ph.verify_ms,
        },
        per_stream: compact.days,
      },
      targets: { records_per_s_1m: recordsPerS >= 1_000_000, ratio_8x: ratio >= 8, peak_rss_500mb: compact.peak_rss_mb <= 500 },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
