// test/helpers/dashboard.ts
// Dashboard-export test set-up: a fresh bucket on the shared MinIO, in-process runtimes on it, raw fixtures.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { manualClock } from '../../runtime/clock.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';

export interface DashboardWorld {
  bucket: string;
  store: ObjectStore;
  /** Env that points a `runtime` CLI process at this bucket. */
  env: Record<string, string>;
  runtime(host: string, clock?: ReturnType<typeof manualClock>): Promise<Runtime & { dir: string }>;
  dispose(): Promise<void>;
}

/** A bucket of its own (the shared bucket is used by other tests writing raw/ and dashboard/ keys). */
export async function dashboardWorld(): Promise<DashboardWorld> {
  const m = inject('minio');
  const bucket = `dash-${randomBytes(5).toString('hex')}`;
  await bootstrapBucket({ endpoint: m.endpoint, bucket, accessKey: m.accessKey, secretKey: m.secretKey });
  const makeStore = () => createS3Store({ endpoint: m.endpoint, bucket, accessKeyId: m.accessKey, secretAccessKey: m.secretKey });
  const dirs: string[] = [];
  const runtimes: Runtime[] = [];
  return {
    bucket,
    store: makeStore(),
    env: { BTC_TS_S3_ENDPOINT: m.endpoint, BTC_TS_S3_BUCKET: bucket, BTC_TS_S3_ACCESS_KEY: m.accessKey, BTC_TS_S3_SECRET_KEY: m.secretKey },
    async runtime(host, clock) {
      const dir = mkdtempSync(path.join(os.tmpdir(), `btc-ts-dash-${host}-`));
      dirs.push(dir);
      const loaded = loadConfig({ env: { BTC_TS_HOST: host, BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs'), BTC_TS_MODE: 'PROD' } });
      const rt = await createRuntime(loaded, { log: silentLogger(), primary: makeStore(), cache: createFsStore({ root: path.join(dir, 'cache') }), clock });
      runtimes.push(rt);
      return Object.assign(rt, { dir });
    },
    async dispose() {
      for (const rt of runtimes) await rt.shutdown();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

export interface FixtureRecord {
  ts: number;
  ingest_ts: number;
  data?: unknown;
}

/** Writes one raw object the way the streams ship them: JSONL of { exchange, topic, symbol, ts, ingest_ts, epoch, seq, data }. */
export async function putRaw(
  store: ObjectStore,
  stream: { exchange: string; topic: string; symbol: string },
  epoch: number,
  firstSeq: number,
  records: Array<FixtureRecord | string>,
): Promise<string> {
  const first = records.find((r): r is FixtureRecord => typeof r !== 'string')!;
  const day = new Date(first.ts).toISOString().slice(0, 10);
  const key = `raw/${stream.exchange}/${stream.topic}/${stream.symbol.replace('/', '-')}/dt=${day}/${String(epoch).padStart(6, '0')}-${String(firstSeq).padStart(12, '0')}.jsonl`;
  const lines = records.map((r, i) => (typeof r === 'string' ? r : JSON.stringify({ ...stream, ts: r.ts, ingest_ts: r.ingest_ts, epoch, seq: firstSeq + i, data: r.data ?? {} })));
  await store.put(key, lines.join('\n') + '\n');
  return key;
}

export async function getJson<T = any>(store: ObjectStore, key: string): Promise<T> {
  return JSON.parse((await store.get(key)).body.toString('utf8')) as T;
}
