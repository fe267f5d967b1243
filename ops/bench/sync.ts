// ops/bench/sync.ts
// Benchmark: a cache backlog (20,000 × ~2 KB + 200 × ~1 MB segments) synced to an empty MinIO bucket, against rclone copy of the same files.

import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { AuditLog } from '../../runtime/audit.ts';
import { systemClock } from '../../runtime/clock.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createMasker } from '../../runtime/secrets.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listAll, type ObjectStore } from '../../runtime/store/types.ts';
import { runSync } from '../../runtime/sync/engine.ts';
import { startMinio } from '../../test/helpers/minio.ts';
import { segmentBody, writeIntoDir } from '../../test/helpers/sync-fixtures.ts';

const SMALL_STREAMS = 20;
const LARGE_STREAMS = 2;
/** Bytes of one JSON record in the generated segments (with its padding). */
const RECORD_BYTES = 200;

export default async function syncBench(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      small: { type: 'string', default: '20000' },
      large: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '32' },
      'skip-rclone': { type: 'boolean', default: false },
    },
  });
  const small = Number(values.small);
  const large = Number(values.large);
  const work = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-sync-'));
  const minio = await startMinio({ bucket: 'bench-ours' });
  try {
    const cacheDir = path.join(work, 'cache');
    const generated = generateBacklog(cacheDir, small, large);
    const rcloneSource = path.join(work, 'rclone-src');
    cpSync(cacheDir, rcloneSource, { recursive: true }); // our sync deletes its copy; rclone reads this one

    const s3 = { endpoint: minio.endpoint, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey };
    const primary = createS3Store({ ...s3, bucket: 'bench-ours' });
    const audit = new AuditLog({ walDir: path.join(work, 'wal'), host: 'bench', actor: 'bench', site: 'bench', clock: systemClock(), masker: createMasker({}), log: silentLogger() });
    await audit.open();
    const rssBefore = process.resourceUsage().maxRSS;
    const started = performance.now();
    const summary = await runSync(
      { primary, cache: createFsStore({ root: cacheDir }), audit, log: silentLogger() },
      { dryRun: false, concurrency: Number(values.concurrency), retry: { maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5_000 }, chunkItems: 1_000, timeGapMs: 10_000 },
    );
    const oursSeconds = (performance.now() - started) / 1000;
    const ours = {
      ...rates(generated, oursSeconds),
      ok: summary.ok,
      uploaded: summary.uploaded,
      issues: summary.issues.length,
      in_bucket: await countObjects(primary),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      rss_before_mb: Math.round(rssBefore / 1024),
    };

    const result: Record<string, unknown> = {
      objects: generated.objects,
      bytes: generated.bytes,
      mb: +(generated.bytes / 1e6).toFixed(1),
      concurrency: Number(values.concurrency),
      ours,
    };
    if (!values['skip-rclone']) {
      for (const [name, transfers] of [['rclone_default', undefined], ['rclone_transfers_16', 16]] as const) {
        const bucket = `bench-${name.replace(/_/g, '-')}`;
        await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
        const run = await rcloneCopy(rcloneSource, bucket, minio, transfers);
        result[name] = { ...rates(generated, run.seconds), exit_code: run.code, in_bucket: await countObjects(createS3Store({ ...s3, bucket })), peak_rss_mb: run.peakRssMb };
      }
      const secs = (name: string) => (result[name] as { seconds: number }).seconds;
      result.ratio = {
        ours_vs_rclone_default: +(secs('rclone_default') / oursSeconds).toFixed(2),
        ours_vs_rclone_transfers_16: +(secs('rclone_transfers_16') / oursSeconds).toFixed(2),
        note: 'rclone seconds ÷ our seconds: above 1 means our sync is faster',
      };
    }
    return result;
  } finally {
    await minio.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Contiguous segments per stream: small ones (~2 KB) across 20 streams, large ones (~1 MB) across 2. */
function generateBacklog(cacheDir: string, small: number, large: number): { objects: number; bytes: number } {
  let bytes = 0;
  const t0 = Date.now() - 86_400_000 / 2;
  const write = (streams: number, count: number, records: number, symbolPrefix: string) => {
    for (let i = 0; i < count; i++) {
      const s = i % streams;
      const n = Math.floor(i / streams);
      const id = { exchange: 'binance', topic: 'trades', symbol: `${symbolPrefix}${s}/USDT` };
      const seg = segmentBody(id, 1, n * records, records, t0 + n * records * 10, 10, RECORD_BYTES - 170);
      writeIntoDir(cacheDir, seg.key, seg.body);
      bytes += seg.body.length;
    }
  };
  write(SMALL_STREAMS, small, 10, 'S'); // 10 × ~200 B ≈ 2 KB
  write(LARGE_STREAMS, large, 5_000, 'L'); // 5,000 × ~200 B ≈ 1 MB
  return { objects: small + large, bytes };
}

async function rcloneCopy(source: string, bucket: string, minio: { endpoint: string; accessKey: string; secretKey: string }, transfers?: number) {
  // AWS_CA_BUNDLE (set on some machines) makes rclone's S3 backend refuse its own HTTP transport; loopback needs no CA.
  const { AWS_CA_BUNDLE: _caBundle, ...inherited } = process.env;
  const env = {
    ...inherited,
    RCLONE_CONFIG_BENCH_TYPE: 's3',
    RCLONE_CONFIG_BENCH_PROVIDER: 'Minio',
    RCLONE_CONFIG_BENCH_ENDPOINT: minio.endpoint,
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: minio.accessKey,
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: minio.secretKey,
    RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
  };
  const args = ['copy', source, `bench:${bucket}`, ...(transfers ? ['--transfers', String(transfers)] : [])];
  const rcloneStarted = performance.now();
  const child = spawn('rclone', args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  let peakKb = 0;
  const poll = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
    } catch {
      // exited between ticks
    }
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(poll);
  if (code !== 0) throw new Error(`rclone ${args.join(' ')} exited ${code}: ${stderr}`);
  return { seconds: (performance.now() - rcloneStarted) / 1000, code, peakRssMb: Math.round(peakKb / 1024) };
}

function rates(generated: { objects: number; bytes: number }, seconds: number) {
  return { seconds: +seconds.toFixed(2), objects_per_s: Math.round(generated.objects / seconds), mb_per_s: +(generated.bytes / 1e6 / seconds).toFixed(1) };
}

async function countObjects(store: ObjectStore): Promise<number> {
  let n = 0;
  for await (const info of listAll(store, 'raw/')) if (info.key) n++;
  return n;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await syncBench(process.argv.slice(2)), null, 2));
}
