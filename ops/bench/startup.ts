// ops/bench/startup.ts
// Benchmark: `runtime --help`, `runtime status` and `runtime start` to its first /health answer, from the compiled dist/ and from the sources through tsx, in one run.

import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/minio.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RUNTIME = path.join(ROOT, 'bin/runtime.mjs');
/** /health is polled this often: the start figure's resolution. */
const POLL_MS = 20;
const GIVE_UP_MS = 120_000;
/** Issue 19's targets on an idle 2-core machine (ms). */
const TARGETS = { help_ms: 300, status_ms: 800, start_to_health_ms: 1500 };
/**
 * Loaded into each measured process with --import: at exit it prints its own peak RSS and CPU time
 * (user + system) on stderr (process.resourceUsage: the operating system's figures, on Windows too).
 * CPU time moves far less than wall time on a loaded machine. A data: URL: nothing read from disk.
 */
const PROBE = `data:text/javascript,process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('\\nBENCH_USAGE='+u.maxRSS+','+(u.userCPUTime+u.systemCPUTime)+'\\n')})`;

type Code = 'dist' | 'tsx';
/** BTC_TS_NO_DIST=1 makes bin/runtime.mjs run the sources through tsx even when dist/ is fresh. */
const CODE_ENV: Record<Code, Record<string, string>> = { dist: { BTC_TS_NO_DIST: '' }, tsx: { BTC_TS_NO_DIST: '1' } };

interface Sample {
  ms: number;
  rss_mb: number | null;
  cpu_ms: number | null;
}

/**
 * `npm run bench -- startup [--runs N] [--demo] [--code dist|tsx|both]`: N runs of each command
 * (default 5) for each code path (default both). `status` reads the embedded store of a runtime
 * started for it (no MinIO); `start` uses the embedded store too, or --demo with the emulator.
 * Builds dist/ first when it is stale (bin/build.mjs --if-stale). Prints medians; quote them with
 * the machine's load (`load_avg`).
 */
export default async function startup(args: string[]): Promise<object> {
  const runs = Number(flag(args, '--runs') ?? 5);
  const demo = args.includes('--demo');
  const which = flag(args, '--code') ?? 'both';
  const codes: Code[] = which === 'both' ? ['dist', 'tsx'] : [which as Code];
  if (!codes.every((c) => c in CODE_ENV)) throw new Error(`--code must be dist, tsx or both, got ${which}`);
  const load_before = os.loadavg();
  if (codes.includes('dist')) {
    execFileSync(process.execPath, [path.join(ROOT, 'bin/build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
    execFileSync(process.execPath, [path.join(ROOT, 'bin/build.mjs'), '--check'], { cwd: ROOT, stdio: 'ignore' });
  }

  const results: Record<string, object> = {};
  const statusHost = await startForStatus();
  try {
    for (const code of codes) {
      const help: Sample[] = [];
      const status: Sample[] = [];
      const start: Array<Sample & { stop_ms: number }> = [];
      // Interleaved, so a load spike on the machine hits every command alike.
      for (let i = 0; i < runs; i++) {
        help.push(await timedCommand(['--help'], CODE_ENV[code]));
        status.push(await timedCommand(['status'], { ...CODE_ENV[code], ...statusHost.env }));
        start.push(await startOnce(code, demo));
      }
      results[code] = {
        help: { wall_ms: summary(help.map((s) => s.ms)), cpu_ms: summary(help.map((s) => s.cpu_ms)), peak_rss_mb: summary(help.map((s) => s.rss_mb)) },
        status: { wall_ms: summary(status.map((s) => s.ms)), cpu_ms: summary(status.map((s) => s.cpu_ms)), peak_rss_mb: summary(status.map((s) => s.rss_mb)) },
        start: {
          spawn_to_health_ms: summary(start.map((s) => s.ms)),
          cpu_ms: summary(start.map((s) => s.cpu_ms)),
          peak_rss_mb: summary(start.map((s) => s.rss_mb)),
          sigterm_to_exit_ms: summary(start.map((s) => s.stop_ms)),
        },
      };
    }
  } finally {
    await statusHost.stop();
  }
  return {
    setup: {
      runs,
      demo,
      store: 'embedded FsStore primary (no MinIO)',
      poll_ms: POLL_MS,
      code: { dist: 'compiled dist/ (bin/build.mjs)', tsx: 'the TypeScript sources through tsx (BTC_TS_NO_DIST=1)' },
      status: 'against a runtime started for the run on the embedded store (one host status object)',
      peak_rss: "each process's own maxRSS at exit (start: stopped right after its first /health answer)",
      cpu: 'user + system CPU of the process at exit (start: includes the stop); under tsx its esbuild service process is not counted',
    },
    load_avg: { before: load_before.map((l) => Math.round(l * 100) / 100), after: os.loadavg().map((l) => Math.round(l * 100) / 100) },
    targets: TARGETS,
    ...results,
  };
}

/** One `runtime <args>` to its exit: wall ms and peak RSS. Throws on a non-zero exit. */
function timedCommand(args: string[], env: Record<string, string>): Promise<Sample> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', PROBE, RUNTIME, ...args], { cwd: ROOT, env: { ...process.env, BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'), ...env }, maxBuffer: 16 << 20 }, (err, _stdout, stderr) => {
      const ms = performance.now() - started;
      if (err) return reject(new Error(`runtime ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-2000)}`));
      resolve({ ms: Math.round(ms), ...usageOf(stderr) });
    });
  });
}

/** A runtime (compiled) that `runtime status` reads: its data dir holds the embedded store with its status object. */
async function startForStatus(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-status-'));
  const env = { BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_HOST: 'bench-status', BTC_TS_S3_ENDPOINT: '' };
  const port = await freePort();
  const child = spawn(process.execPath, [RUNTIME, 'start', '--port', String(port)], {
    cwd: ROOT,
    env: { ...process.env, BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'), BTC_TS_LOG_JSON: '1', ...env },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await untilHealthy(port, child, performance.now());
    return { env, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startOnce(code: Code, demo: boolean): Promise<Sample & { stop_ms: number }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-start-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', PROBE, RUNTIME, 'start', '--port', String(port), ...(demo ? ['--demo'] : [])], {
    cwd: ROOT,
    env: {
      ...process.env,
      BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'),
      BTC_TS_DATA_DIR: dataDir,
      BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
      BTC_TS_HOST: 'bench-start',
      BTC_TS_LOG_JSON: '1',
      BTC_TS_S3_ENDPOINT: '',
      ...CODE_ENV[code],
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await untilHealthy(port, child, started);
    const toHealth = performance.now() - started;
    const stopAt = performance.now();
    child.kill('SIGTERM');
    await exited;
    const stopMs = performance.now() - stopAt;
    // The runtime says which code it ran (runtime/cli/start.ts): a figure for the wrong one is worthless.
    const ran = /"code":"(dist|sources)"/.exec(stdout)?.[1];
    if (ran !== (code === 'dist' ? 'dist' : 'sources')) throw new Error(`asked for ${code}, the runtime ran ${ran ?? 'unknown code'} (is dist/ fresh? npm run build)`);
    return { ms: Math.round(toHealth), ...usageOf(stderr), stop_ms: Math.round(stopMs) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function untilHealthy(port: number, child: ReturnType<typeof spawn>, started: number): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`runtime exited with ${child.exitCode} before answering /health`);
    if (performance.now() - started > GIVE_UP_MS) throw new Error(`no /health answer within ${GIVE_UP_MS} ms`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function usageOf(stderr: string): { rss_mb: number | null; cpu_ms: number | null } {
  const m = /BENCH_USAGE=(\d+),(\d+)/.exec(stderr);
  return m ? { rss_mb: Math.round(Number(m[1]) / 1024), cpu_ms: Math.round(Number(m[2]) / 1000) } : { rss_mb: null, cpu_ms: null };
}

function summary(values: Array<number | null>) {
  const sorted = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
