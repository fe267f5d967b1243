// ops/bench/handoff.ts
// `npm run bench -- handoff`: wall time and peak RSS of `runtime handoff make --local` vs `git archive --format=zip HEAD`, on this repo and a 5,000-file one.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER = path.join(ROOT, 'ops/bench/_handoff-worker.ts');
/** The command users run (`npx runtime …`): whatever bin/runtime.mjs loads (TypeScript through tsx, or compiled JS) is timed with it. */
const RUNTIME_BIN = path.join(ROOT, 'bin/runtime.mjs');
/** Issue 19's target: a handoff takes at most this many times as long as `git archive` of the same repository. */
const TARGET_RATIO = 2;
/** GNU time prints "<elapsed s> <max RSS KB> <user s> <system s>" on the last stderr line. */
const TIME_FORMAT = '%e %M %U %S';

interface Measure {
  wall_ms: number;
  /** User + system CPU time of the process: steadier than wall time on a machine others load too. */
  cpu_ms: number;
  max_rss_mb: number;
  zip_bytes: number;
  /** The in-process run only: time of the handoff duty itself, without process start-up. */
  bundle_ms?: number;
  /** The in-process run only: CPU time (user + system) of the handoff duty itself. */
  bundle_cpu_ms?: number;
  entries?: number;
}

export default async function bench(args: string[]): Promise<object> {
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 5);
  const fileCount = Number(args.find((a) => a.startsWith('--files='))?.slice(8) ?? 5000);
  const generated = generateRepo(fileCount);
  try {
    const repos = { this_repository: ROOT, [`generated_${fileCount}_files`]: generated };
    const report: Record<string, object> = {};
    for (const [name, dir] of Object.entries(repos)) {
      // Alternating runs, a handoff then git archive: a machine that slows down for a while slows both.
      const pairs = await repeat(runs, async () => ({ handoff: await measureCommand(dir), git: await measureGitArchive(dir) }));
      const handoff = summarise(pairs.map((p) => p.handoff));
      const gitArchive = summarise(pairs.map((p) => p.git));
      const pairRatios = pairs.map((p) => p.handoff.wall_ms / p.git.wall_ms).sort((a, b) => a - b);
      report[name] = {
        files_in_head: Number(execFileSync('git', ['-C', dir, 'ls-files'], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').filter(Boolean).length),
        handoff,
        handoff_in_process: summarise(await repeat(runs, () => measureInProcess(dir))),
        git_archive_zip: gitArchive,
        ratio_to_git_archive: Number((handoff.wall_ms! / gitArchive.wall_ms!).toFixed(2)),
        /** Each handoff against the git archive run right after it: the median, and how many of the pairs were within the target. */
        pair_ratio_median: Number(pairRatios[Math.floor(pairRatios.length / 2)]!.toFixed(2)),
        pairs_within_target: `${pairRatios.filter((r) => r <= TARGET_RATIO).length}/${pairRatios.length}`,
        cpu_ratio_to_git_archive: Number((handoff.cpu_ms! / gitArchive.cpu_ms!).toFixed(2)),
        target_ratio: TARGET_RATIO,
      };
    }
    return {
      runs,
      node: process.versions.node,
      cpus: os.cpus().length,
      loadavg_1m: Number(os.loadavg()[0]!.toFixed(2)),
      note: 'median of runs; handoff and git archive run alternately; handoff = `node bin/runtime.mjs handoff make --local` (start-up included); handoff_in_process.bundle_ms = the duty alone; wall_ms timed around the process (ms); RSS = peak resident set of the process (GNU time %M); cpu_ms = user + system CPU (GNU time %U + %S), steadier than wall time under load',
      ...report,
    };
  } finally {
    rmSync(generated, { recursive: true, force: true });
  }
}

/** A repository of `count` small TypeScript files in 50 folders, committed (made with the git binary: fast, and git archive needs it anyway). */
function generateRepo(count: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-repo-'));
  for (let i = 0; i < count; i++) {
    const folder = `src/mod${String(i % 50).padStart(2, '0')}`;
    mkdirSync(path.join(dir, folder), { recursive: true });
    const rel = `${folder}/file${String(i).padStart(5, '0')}.ts`;
    const body = `// ${rel}\n// Generated module ${i} for the handoff benchmark.\n` + `export const value${i} = ${i};\n`.repeat(40);
    writeFileSync(path.join(dir, rel), body);
  }
  writeFileSync(path.join(dir, 'package.json'), '{ "name": "generated" }\n');
  const git = (...a: string[]) => execFileSync('git', ['-C', dir, '-c', 'user.name=bench', '-c', 'user.email=bench@localhost', ...a], { stdio: 'ignore' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'generated');
  return dir;
}

/** The environment of a measured handoff: only what it needs, so a developer's S3 settings cannot send bench bundles to a real bucket. */
function benchEnv(repoDir: string, dataDir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ...(process.env.SYSTEMROOT ? { SYSTEMROOT: process.env.SYSTEMROOT } : {}),
    // A secret in the environment makes the final secret scan run, as it does in production.
    BTC_TS_API_TOKEN: 'bench-token-0c4e9a1f-5d2b7e8a-9f3c6b1d',
    BTC_TS_REPO_DIR: repoDir,
    BTC_TS_DATA_DIR: dataDir,
    BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
    BTC_TS_HOST: 'bench',
  };
}

/** `runtime handoff make --local`: the whole command, process start-up included; the bundle goes to the data directory's store. */
async function measureCommand(repoDir: string): Promise<Measure> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-handoff-'));
  try {
    const { stdout, elapsedMs, maxRssKb, cpuMs } = await timed(process.execPath, [RUNTIME_BIN, 'handoff', 'make', '--local'], benchEnv(repoDir, dataDir));
    const summary = JSON.parse(stdout) as { bytes: number; files: string[] };
    return { wall_ms: elapsedMs, cpu_ms: cpuMs, max_rss_mb: maxRssKb / 1024, zip_bytes: summary.bytes, entries: summary.files.length };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The handoff duty timed inside its process (ops/bench/_handoff-worker.ts): what start-up leaves over. */
async function measureInProcess(repoDir: string): Promise<Measure> {
  const { stdout, elapsedMs, maxRssKb, cpuMs } = await timed(process.execPath, [path.join(ROOT, 'bin/tsnode.mjs'), WORKER, repoDir]);
  const inner = JSON.parse(stdout.trim().split('\n').pop()!) as { ms: number; cpuMs: number; bytes: number; files: number };
  return { wall_ms: elapsedMs, cpu_ms: cpuMs, max_rss_mb: maxRssKb / 1024, zip_bytes: inner.bytes, bundle_ms: inner.ms, bundle_cpu_ms: inner.cpuMs, entries: inner.files };
}

async function measureGitArchive(repoDir: string): Promise<Measure> {
  const out = path.join(os.tmpdir(), `btc-ts-bench-archive-${process.pid}.zip`);
  try {
    const { elapsedMs, maxRssKb, cpuMs } = await timed('git', ['-C', repoDir, 'archive', '--format=zip', '-o', out, 'HEAD']);
    return { wall_ms: elapsedMs, cpu_ms: cpuMs, max_rss_mb: maxRssKb / 1024, zip_bytes: statSync(out).size };
  } finally {
    rmSync(out, { force: true });
  }
}

/**
 * `cmd` run under GNU time (peak RSS, CPU); the wall time is taken here, in ms: GNU time's %e has
 * 10 ms steps, a few per cent of a 0.3 s git archive.
 */
function timed(cmd: string, args: string[], env?: Record<string, string>): Promise<{ stdout: string; elapsedMs: number; maxRssKb: number; cpuMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    execFile('/usr/bin/time', ['-f', TIME_FORMAT, cmd, ...args], { maxBuffer: 64 << 20, cwd: ROOT, ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      const elapsedMs = Math.round(performance.now() - started);
      if (err) return reject(new Error(`${cmd} failed: ${stderr.slice(-2000)}`));
      const [, rss, user, system] = stderr.trim().split('\n').pop()!.split(' ').map(Number);
      resolve({ stdout, elapsedMs, maxRssKb: rss!, cpuMs: Math.round((user! + system!) * 1000) });
    });
  });
}

async function repeat<T>(n: number, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}

function summarise(measures: Measure[]) {
  const median = (pick: (m: Measure) => number | undefined) => {
    const values = measures.map(pick).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
    return values.length ? values[Math.floor(values.length / 2)]! : undefined;
  };
  return {
    wall_ms: median((m) => m.wall_ms),
    cpu_ms: median((m) => m.cpu_ms),
    bundle_ms: median((m) => m.bundle_ms),
    bundle_cpu_ms: median((m) => m.bundle_cpu_ms),
    max_rss_mb: Number(median((m) => m.max_rss_mb)!.toFixed(1)),
    zip_bytes: median((m) => m.zip_bytes),
    entries: median((m) => m.entries),
  };
}
