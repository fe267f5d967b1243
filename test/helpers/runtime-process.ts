// test/helpers/runtime-process.ts
// Spawns real `runtime start` processes for multi-PC tests: distinct host, data dir and port; kill -9 included.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './minio.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/**
 * A child that has not answered /health by then is stuck, not slow: readiness is the /health
 * answer itself (or the child's exit), and this bound only keeps a hung start from hanging the
 * suite. Six runtimes starting at once on two loaded cores took up to ~25 s here.
 */
const READY_TIMEOUT_MS = 120_000;

export interface RuntimeProcess {
  host: string;
  port: number;
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process printed (stdout + stderr), for assertions and failure reports. */
  output(): string;
  /** GET/POST helpers against this runtime. */
  get<T = unknown>(pathname: string): Promise<T>;
  post<T = unknown>(pathname: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** SIGKILL, no cleanup: a crashed PC. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** Starts it again with the same host, data dir and port. */
  restart(): Promise<void>;
  /** Stops it and removes its data dir. */
  dispose(): Promise<void>;
}

export interface SpawnRuntimeOptions {
  host: string;
  /** Extra env (BTC_TS_S3_*, timings, …). */
  env?: Record<string, string>;
  args?: string[];
  dataDir?: string;
  port?: number;
  /** The installation to run (default this checkout): a copy with its own dist/ (test/cli-build.test.ts). */
  root?: string;
}

export async function spawnRuntime(options: SpawnRuntimeOptions): Promise<RuntimeProcess> {
  let port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), `btc-ts-rt-${options.host}-`));
  let url = `http://127.0.0.1:${port}`;
  const root = options.root ?? ROOT;
  let child!: ChildProcess;
  let output = '';

  const launch = async () => {
    child = spawn(process.execPath, [path.join(root, 'bin/runtime.mjs'), 'start', ...(options.args ?? [])], {
      cwd: root,
      env: {
        ...process.env,
        BTC_TS_CONFIG: path.join(root, 'config/app.yaml'),
        BTC_TS_HOST: options.host,
        BTC_TS_PORT: String(port),
        BTC_TS_DATA_DIR: dataDir,
        BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
        BTC_TS_LOG_JSON: '1',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const append = (d: Buffer) => (output = (output + d.toString()).slice(-200_000));
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`runtime ${options.host} exited with ${child.exitCode}:\n${output}`);
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
        // Ours only: another test's runtime may have bound this port between freePort and our bind.
        if (res.ok && ((await res.json()) as { host?: string }).host === options.host) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Never leave a half-started child behind: the caller gets no handle to stop it.
    child.kill('SIGKILL');
    await waitExit(child);
    throw new Error(`runtime ${options.host} not ready on ${url} after ${READY_TIMEOUT_MS} ms:\n${output}`);
  };

  const waitExit = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()));

  try {
    // A port freePort found free can be taken by a parallel test before the child binds it
    // (EADDRINUSE, exit 2): with a port of our choosing, try another.
    for (let attempt = 1; ; attempt++) {
      try {
        await launch();
        break;
      } catch (err) {
        if (options.port !== undefined || attempt >= 3 || !output.includes('EADDRINUSE')) throw err;
        port = await freePort();
        url = `http://127.0.0.1:${port}`;
        output = '';
      }
    }
  } catch (err) {
    if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const proc: RuntimeProcess = {
    host: options.host,
    port,
    url,
    dataDir,
    get child() {
      return child;
    },
    output: () => output,
    async get<T>(pathname: string) {
      const res = await fetch(`${url}${pathname}`, { signal: AbortSignal.timeout(5000) });
      return (await res.json()) as T;
    },
    async post<T>(pathname: string, body: unknown = {}) {
      const res = await fetch(`${url}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      return { status: res.status, body: (await res.json()) as T };
    },
    async kill9() {
      child.kill('SIGKILL');
      await waitExit(child);
    },
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await waitExit(child);
      clearTimeout(timer);
    },
    restart: launch,
    async dispose() {
      await proc.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  } as RuntimeProcess;
  return proc;
}

/**
 * Starts several runtimes at once, all or none: when one fails to start, the ones that did are
 * disposed before the error is thrown (a plain Promise.all would leave them running).
 */
export async function spawnRuntimes(options: SpawnRuntimeOptions[]): Promise<RuntimeProcess[]> {
  const settled = await Promise.allSettled(options.map((o) => spawnRuntime(o)));
  const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((r) => r.dispose()));
    throw failed.reason;
  }
  return started;
}
