// ops/bench/sync.ts
// Benchmark: a cache backlog (20,000 × ~2 KB + 200 × ~1 MB segments) synced to an empty MinIO bucket, against rclone copy of the same files.

import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listAll, type ObjectStore } from '../../runtime/store/types.ts';
import { startMinio } from '../../test/helpers/minio.ts';
import { runtimeEnv, segmentBody, writeIntoDir } from '../../test/helpers/sync-fixtures.ts';
import { RAW_PREFIX } from '../../runtime/keys.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SMALL_STREAMS = 20;
/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;
const LARGE_STREAMS = 2;
/** Bytes of one JSON record in the generated segments (with its padding). */
const RECORD_BYTES = 200;

export default async function syncBench(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      small: { type: 'string', default: '20000' },
      large: { type: 'string', default: '200' },
      concurrency: { type: 'string', default: '24' },
      'skip-rclone': { type: 'boolean', default: false },
      /** Where the memory goes: process.memoryUsage() and V8's spaces sampled in `runtime sync` (ops/bench/_memory-split.mjs). */
      'memory-split': { type: 'boolean', default: false },
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
    const minioPid = findPid(minio.dataDir);
    const result: Record<string, unknown> = {
      objects: generated.objects,
      bytes: generated.bytes,
      mb: +(generated.bytes / 1e6).toFixed(1),
      concurrency: Number(values.concurrency),
      note: 'cpu_s = CPU seconds of the tool plus of MinIO during the run: unlike wall time, it does not depend on what else the machine is doing',
    };
    /** Our side runs exactly as an operator would: `runtime sync` as its own process on a data dir. */
    const oursRun = async (name: string, bucket: string, dataDir: string) => {
      await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
      const env = runtimeEnv({ ...minio, bucket }, dataDir, { BTC_TS_HOST: 'bench' });
      const minioBefore = cpuSecondsOf(minioPid);
      const splitFile = path.join(dataDir, `memory-split-${name}.json`);
      const split = values['memory-split'] ? ['--import', pathToFileURL(path.join(ROOT, 'ops/bench/_memory-split.mjs')).href] : [];
      const run = await timedProcess(process.execPath, [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_CPU_PROF] : []), ...split, ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), path.join(ROOT, 'bin/runtime.mjs'), 'sync', '--concurrency', String(values.concurrency)], { ...process.env, ...env, BENCH_MEMORY_SPLIT_OUT: splitFile });
      const summary = JSON.parse(run.stdout) as { ok: boolean; uploaded: number; issues: unknown[]; elapsed_ms: number };
      result[name] = {
        ...rates(generated, run.seconds),
        sync_elapsed_s: +(summary.elapsed_ms / 1000).toFixed(2),
        cpu_s: +(run.cpuSeconds + cpuSecondsOf(minioPid) - minioBefore).toFixed(1),
        tool_cpu_s: +run.cpuSeconds.toFixed(1),
        ok: summary.ok,
        uploaded: summary.uploaded,
        issues: summary.issues.length,
        in_bucket: await countObjects(createS3Store({ ...s3, bucket })),
        peak_rss_mb: run.peakRssMb,
        ...(values['memory-split'] ? { memory_split_mb: memorySplit(splitFile) } : {}),
      };
    };
    await oursRun('ours', 'bench-ours', work);
    if (!values['skip-rclone']) {
      ensureRclone();
      for (const [name, transfers] of [['rclone_default', undefined], ['rclone_transfers_16', 16]] as const) {
        const bucket = `bench-${name.replace(/_/g, '-')}`;
        await bootstrapBucket({ endpoint: minio.endpoint, bucket, accessKey: minio.accessKey, secretKey: minio.secretKey });
        const minioBefore = cpuSecondsOf(minioPid);
        const run = await rcloneCopy(rcloneSource, bucket, minio, transfers);
        result[name] = {
          ...rates(generated, run.seconds),
          cpu_s: +(run.cpuSeconds + cpuSecondsOf(minioPid) - minioBefore).toFixed(1),
          tool_cpu_s: +run.cpuSeconds.toFixed(1),
          in_bucket: await countObjects(createS3Store({ ...s3, bucket })),
          peak_rss_mb: run.peakRssMb,
        };
      }
      // Ours once more after rclone, on a fresh copy: the load of a shared machine drifts during a run.
      const again = path.join(work, 'again');
      cpSync(rcloneSource, path.join(again, 'cache'), { recursive: true });
      await oursRun('ours_again', 'bench-ours-again', again);
      const pick = (name: string, field: 'seconds' | 'cpu_s') => (result[name] as Record<string, number>)[field]!;
      const oursBest = (field: 'seconds' | 'cpu_s') => Math.min(pick('ours', field), pick('ours_again', field));
      const ratio = (name: string, field: 'seconds' | 'cpu_s') => +(pick(name, field) / oursBest(field)).toFixed(2);
      result.ratio = {
        wall_vs_rclone_default: ratio('rclone_default', 'seconds'),
        wall_vs_rclone_transfers_16: ratio('rclone_transfers_16', 'seconds'),
        cpu_vs_rclone_default: ratio('rclone_default', 'cpu_s'),
        cpu_vs_rclone_transfers_16: ratio('rclone_transfers_16', 'cpu_s'),
        note: "rclone's figure ÷ our better run: above 1 means our sync is faster (wall) or cheaper (CPU)",
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
  return timedProcess('rclone', ['copy', source, `bench:${bucket}`, ...(transfers ? ['--transfers', String(transfers)] : [])], env);
}

/** Runs a command to completion: wall seconds, stdout, and peak RSS (VmHWM polled from /proc). */
async function timedProcess(command: string, args: string[], env: NodeJS.ProcessEnv) {
  const started = performance.now();
  const child = spawn(command, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  let peakKb = 0;
  let cpuSeconds = 0;
  const poll = setInterval(() => {
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]));
      cpuSeconds = Math.max(cpuSeconds, cpuSecondsOf(child.pid));
    } catch {
      // exited between polls
    }
  }, 50);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearInterval(poll);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`);
  return { seconds: (performance.now() - started) / 1000, code, stdout, peakRssMb: Math.round(peakKb / 1024), cpuSeconds };
}

/** User + system CPU seconds of a live process (Linux /proc; last poll before exit, so within 50 ms). */
function cpuSecondsOf(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The MinIO server serving `dataDir` (its command line names the directory). */
function findPid(dataDir: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('server') && cmdline.includes(dataDir)) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

type MemorySample = Record<'rss' | 'heap_total' | 'heap_used' | 'external' | 'array_buffers' | 'new_space' | 'old_space', number>;

/** The samples of ops/bench/_memory-split.mjs: each figure's largest value, and all of them at the largest RSS (MB). */
function memorySplit(file: string): { max: MemorySample; at_peak_rss: MemorySample; samples: number } {
  const samples = JSON.parse(readFileSync(file, 'utf8')) as MemorySample[];
  const round = (s: MemorySample) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, +v.toFixed(1)])) as MemorySample;
  const max = Object.fromEntries(Object.keys(samples[0]!).map((k) => [k, Math.max(...samples.map((s) => s[k as keyof MemorySample]))])) as MemorySample;
  const atPeak = samples.reduce((a, b) => (b.rss > a.rss ? b : a));
  return { max: round(max), at_peak_rss: round(atPeak), samples: samples.length };
}

function rates(generated: { objects: number; bytes: number }, seconds: number) {
  return { seconds: +seconds.toFixed(2), objects_per_s: Math.round(generated.objects / seconds), mb_per_s: +(generated.bytes / 1e6 / seconds).toFixed(1) };
}

async function countObjects(store: ObjectStore): Promise<number> {
  let n = 0;
  for await (const info of listAll(store, RAW_PREFIX)) if (info.key) n++;
  return n;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await syncBench(process.argv.slice(2)), null, 2));
}

/** rclone is the peer: install it from Debian's packages when missing (root), else say how. */
function ensureRclone(): void {
  const has = () => spawnSync('rclone', ['version'], { stdio: 'ignore' }).status === 0;
  if (has()) return;
  if (process.getuid?.() === 0) {
    console.error('bench sync: rclone missing; installing it with apt-get (Debian package rclone)…');
    spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq rclone'], { stdio: 'inherit' });
  }
  if (!has()) throw new Error('rclone is not installed: apt-get install rclone, or run with --skip-rclone');
}
