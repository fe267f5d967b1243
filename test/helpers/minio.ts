// test/helpers/minio.ts
// Starts and stops real MinIO servers on free loopback ports for tests and benchmarks.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MINIO_USER = 'btcts-test';
export const MINIO_PASSWORD = 'btcts-test-secret-0123';
const START_TIMEOUT_MS = 30_000;

export interface MinioServer {
  endpoint: string;
  port: number;
  bucket: string;
  accessKey: string;
  secretKey: string;
  dataDir: string;
  /** The MinIO console (object browser) when started with `console: true`, else null. */
  consoleUrl: string | null;
  /** Env vars that point a runtime at this server. */
  env: Record<string, string>;
  /** Stops the process (SIGTERM, then SIGKILL); data stays for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data dir. */
  restart(): Promise<void>;
  /** Stops it and removes its data dir. */
  dispose(): Promise<void>;
}

/** Path of the minio binary, building it once through infra/minio/ensure.sh. */
export async function ensureMinioBinary(): Promise<string> {
  const { stdout } = await promisify(execFile)('bash', [path.join(ROOT, 'infra/minio/ensure.sh')], {
    maxBuffer: 1 << 20,
    timeout: 30 * 60_000,
  });
  return stdout.trim().split('\n').pop()!;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartMinioOptions {
  bucket?: string;
  port?: number;
  /** false: no bucket is created. Default true. */
  bootstrap?: boolean;
  /** false: bootstrap versions the churny prefixes too (locks/, health/, collector/status/). Default true. */
  excludeChurny?: boolean;
  /** Serves MinIO's own console (object browser) on a free port too; off by default (it costs start-up time). */
  console?: boolean;
  /** Extra server env, e.g. `{ MINIO_API_OBJECT_MAX_VERSIONS: '20' }` (a low per-object version limit). */
  env?: Record<string, string>;
}

export async function startMinio(options: StartMinioOptions = {}): Promise<MinioServer> {
  const binary = await ensureMinioBinary();
  const port = options.port ?? (await freePort());
  const consolePort = await freePort();
  const bucket = options.bucket ?? 'btc-ts';
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-minio-'));
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(binary, ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
      env: { ...process.env, ...options.env, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD, MINIO_BROWSER: options.console ? 'on' : 'off' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`minio exited with ${child.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`${endpoint}/minio/health/ready`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`minio did not become ready on ${endpoint}: ${stderr}`);
  };

  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  if (options.bootstrap !== false) {
    await bootstrapBucket({ endpoint, bucket, accessKey: MINIO_USER, secretKey: MINIO_PASSWORD, excludeChurny: options.excludeChurny });
  }
  return {
    endpoint,
    port,
    bucket,
    accessKey: MINIO_USER,
    secretKey: MINIO_PASSWORD,
    dataDir,
    consoleUrl: options.console ? `http://127.0.0.1:${consolePort}` : null,
    env: {
      BTC_TS_S3_ENDPOINT: endpoint,
      BTC_TS_S3_BUCKET: bucket,
      BTC_TS_S3_ACCESS_KEY: MINIO_USER,
      BTC_TS_S3_SECRET_KEY: MINIO_PASSWORD,
    },
    stop,
    restart: launch,
    dispose: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
