// ops/bench/startup.ts
// Benchmark: wall time from spawning `runtime start` to its first /health answer, and to a clean exit after SIGTERM.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/helpers/minio.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** /health is polled this often: the figure's resolution. */
const POLL_MS = 20;
const GIVE_UP_MS = 120_000;

/** `npm run bench -- startup [--runs N] [--demo]`: the embedded store (no MinIO), or --demo with the emulator. */
export default async function startup(args: string[]): Promise<object> {
  const runs = Number(flag(args, '--runs') ?? 5);
  const demo = args.includes('--demo');
  const measured: Array<{ to_health_ms: number; stop_ms: number }> = [];
  for (let i = 0; i < runs; i++) measured.push(await once(demo));
  return {
    setup: { runs, demo, store: 'embedded FsStore primary (no MinIO)', poll_ms: POLL_MS },
    spawn_to_health_ms: summary(measured.map((m) => m.to_health_ms)),
    sigterm_to_exit_ms: summary(measured.map((m) => m.stop_ms)),
    runs: measured,
  };
}

async function once(demo: boolean): Promise<{ to_health_ms: number; stop_ms: number }> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-start-'));
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'start', '--port', String(port), ...(demo ? ['--demo'] : [])], {
    cwd: ROOT,
    env: { ...process.env, BTC_TS_CONFIG: path.join(ROOT, 'config/app.yaml'), BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), BTC_TS_HOST: 'bench-start', BTC_TS_LOG_JSON: '1' },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`runtime exited with ${child.exitCode} before answering /health`);
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`no /health answer within ${GIVE_UP_MS} ms`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const toHealth = performance.now() - started;
    const stopAt = performance.now();
    child.kill('SIGTERM');
    await exited;
    return { to_health_ms: Math.round(toHealth), stop_ms: Math.round(performance.now() - stopAt) };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted[sorted.length - 1] };
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
