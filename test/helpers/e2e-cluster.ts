// test/helpers/e2e-cluster.ts
// The multi-runtime e2e set-up in one place: a fresh MinIO bucket, an optional emulator and config file, N real runtimes, one dispose that stops everything.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../runtime/emulator/server.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../../runtime/store/types.ts';
import { freshBucket } from './lease-probe.ts';
import { spawnRuntime, spawnRuntimes, type RuntimeProcess } from './runtime-process.ts';

/** The shared test MinIO as the global setup provides it (`inject('minio')`). */
export interface MinioAccess {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

export interface E2eClusterOptions {
  minio: MinioAccess;
  /** Prefix of the fresh bucket's name (a random suffix is added). */
  name: string;
  /** Hosts to start, in this order (e.g. `['pc-a', 'pc-b']`); more can join later with `spawn`. */
  hosts: string[];
  /** Body of app.yaml, written to a temp dir and passed as BTC_TS_CONFIG; none: the runtime's default config. */
  config?: string;
  /** Starts the emulator (`port` defaults to 0) and points BTC_TS_EXCHANGE_URL at it. */
  emulator?: EmulatorOptions;
  /** Lease and tick timings in seconds (BTC_TS_LEASE_SECONDS, BTC_TS_HEARTBEAT_SECONDS, BTC_TS_TICK_SECONDS); a missing one is not set. */
  timings?: { leaseSeconds?: number; heartbeatSeconds?: number; tickSeconds?: number };
  /** Further env for every runtime (after the cluster's own, so it may override). */
  env?: Record<string, string>;
  /** Env for one host only, on top of `env` (e.g. a clock skew or a proxy endpoint for 'pc-a'). */
  hostEnv?: Record<string, Record<string, string>>;
  /**
   * 'sequential' (default): one runtime after the other, because two cold starts at once on a loaded
   * 2-core machine can miss the ready bound. 'parallel': all at once, all or none (spawnRuntimes).
   */
  start?: 'sequential' | 'parallel';
}

export interface E2eCluster {
  bucket: string;
  /** The env every runtime got (S3, config, emulator URL, timings, extra). */
  env: Record<string, string>;
  /** The written app.yaml, or null without `config`. */
  configPath: string | null;
  /** The emulator; throws when the cluster was made without one. */
  readonly emulator: Emulator;
  /** Every runtime started so far, joiners included, in start order. */
  runtimes: RuntimeProcess[];
  /** A fresh S3 store on the cluster's bucket. */
  store(): ObjectStore;
  /** Starts one more runtime with the cluster's env (plus `env`); it is disposed with the cluster. */
  spawn(host: string, env?: Record<string, string>): Promise<RuntimeProcess>;
  /**
   * Stops every runtime (each one even when another's stop fails), then the emulator, then removes
   * the config dir. Throws the first failure after all of it ran. Safe to call twice.
   */
  dispose(): Promise<void>;
}

/**
 * Starts the cluster. When any step fails, whatever already started is stopped before the error is
 * rethrown, so a failed `beforeAll` leaves no process behind (the caller has no handle to dispose).
 */
export async function e2eCluster(options: E2eClusterOptions): Promise<E2eCluster> {
  const { minio } = options;
  const runtimes: RuntimeProcess[] = [];
  let emulator: Emulator | undefined;
  let configDir: string | null = null;
  let disposed: Promise<void> | null = null;

  const dispose = () =>
    (disposed ??= (async () => {
      const results = await Promise.allSettled(runtimes.map((r) => r.dispose()));
      const stopped = await Promise.allSettled([emulator?.stop()]);
      if (configDir) rmSync(configDir, { recursive: true, force: true });
      const failed = [...results, ...stopped].find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    })());

  try {
    const bucket = await freshBucket(minio, options.name);
    const env: Record<string, string> = {
      BTC_TS_S3_ENDPOINT: minio.endpoint,
      BTC_TS_S3_BUCKET: bucket,
      BTC_TS_S3_ACCESS_KEY: minio.accessKey,
      BTC_TS_S3_SECRET_KEY: minio.secretKey,
    };
    let configPath: string | null = null;
    if (options.config !== undefined) {
      configDir = mkdtempSync(path.join(os.tmpdir(), `btc-ts-${options.name}-`));
      configPath = path.join(configDir, 'app.yaml');
      writeFileSync(configPath, options.config);
      env.BTC_TS_CONFIG = configPath;
    }
    if (options.emulator) {
      emulator = await startEmulator({ port: 0, ...options.emulator });
      env.BTC_TS_EXCHANGE_URL = emulator.url;
    }
    const t = options.timings ?? {};
    if (t.leaseSeconds !== undefined) env.BTC_TS_LEASE_SECONDS = String(t.leaseSeconds);
    if (t.heartbeatSeconds !== undefined) env.BTC_TS_HEARTBEAT_SECONDS = String(t.heartbeatSeconds);
    if (t.tickSeconds !== undefined) env.BTC_TS_TICK_SECONDS = String(t.tickSeconds);
    Object.assign(env, options.env);

    const spawn = async (host: string, extra: Record<string, string> = {}) => {
      const rt = await spawnRuntime({ host, env: { ...env, ...extra } });
      runtimes.push(rt);
      return rt;
    };
    const hostEnv = (host: string) => options.hostEnv?.[host] ?? {};
    if (options.start === 'parallel') runtimes.push(...(await spawnRuntimes(options.hosts.map((host) => ({ host, env: { ...env, ...hostEnv(host) } })))));
    else for (const host of options.hosts) await spawn(host, hostEnv(host));

    return {
      bucket,
      env,
      configPath,
      get emulator() {
        if (!emulator) throw new Error('this e2e cluster has no emulator');
        return emulator;
      },
      runtimes,
      store: () => createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey }),
      spawn,
      dispose,
    };
  } catch (err) {
    await dispose().catch(() => undefined);
    throw err;
  }
}

/** GET /health with a short timeout; null while the process is down, too slow, or answers non-2xx. */
export async function healthJson<T>(rt: RuntimeProcess, timeoutMs = 2_000): Promise<T | null> {
  try {
    const res = await fetch(`${rt.url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? ((await res.json()) as T) : null;
  } catch {
    return null;
  }
}

/** The trade-stream cursor's `last_id` (collector/cursors/…), or null before the first tick stored one. */
export async function cursorLastId(store: ObjectStore, cursorKey: string): Promise<number | null> {
  const cursor = await store.getOrNull(cursorKey);
  return cursor ? (JSON.parse(cursor.body.toString()) as { last_id: number }).last_id : null;
}

/**
 * Every stored raw trade under `prefix` (JSON lines of `{ epoch, data: { id } }`): how often each id
 * occurs, and the epochs seen.
 */
export async function storedTradeIds(store: ObjectStore, prefix: string): Promise<{ counts: Map<number, number>; epochs: Set<number> }> {
  const counts = new Map<number, number>();
  const epochs = new Set<number>();
  for (const key of await listKeys(store, prefix)) {
    for (const line of (await store.get(key)).body.toString().split('\n')) {
      if (!line) continue;
      const record = JSON.parse(line) as { epoch: number; data: { id: string } };
      epochs.add(record.epoch);
      counts.set(Number(record.data.id), (counts.get(Number(record.data.id)) ?? 0) + 1);
    }
  }
  return { counts, epochs };
}

/** The ids in `first … last` (inclusive) that `counts` lacks, and the ids stored more than once. */
export function idGaps(counts: Map<number, number>, first: number, last: number): { missing: number[]; repeated: number[] } {
  const missing: number[] = [];
  for (let id = first; id <= last; id++) if (!counts.has(id)) missing.push(id);
  return { missing, repeated: [...counts].filter(([, n]) => n > 1).map(([id]) => id) };
}
