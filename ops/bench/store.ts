// ops/bench/store.ts
// Small-object PUT/s and conditional-PUT/s: S3Store vs the bare @aws-sdk/client-s3 on a real MinIO, and FsStore.

import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMinio } from '../../test/helpers/minio.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { createS3Client, createS3Store, type S3StoreOptions } from '../../runtime/store/s3.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';

const BODY = Buffer.alloc(1024, 'x');
const CONCURRENCY = 16;

/** Runs `op(i)` for `n` indices with a fixed number in flight; returns ops per second. */
async function rate(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < n; i = next++) await op(i);
    }),
  );
  return Math.round((n / (performance.now() - started)) * 1000);
}

async function storeFigures(store: ObjectStore, prefix: string, n: number) {
  const put = await rate(n, (i) => store.put(`${prefix}/put/${i}`, BODY));
  const conditional = await rate(n, (i) => store.put(`${prefix}/cond/${i}`, BODY, { ifNoneMatch: '*' }));
  return { put_per_s: put, conditional_put_per_s: conditional };
}

const ROUNDS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export default async function storeBench(args: string[]) {
  const n = Number(args[0] ?? 2000);
  const minio = await startMinio();
  const fsRoot = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-bench-fs-'));
  try {
    const options: S3StoreOptions = { endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey };
    const adapter = createS3Store(options);
    const bare = createS3Client(options);
    // Warm connections and MinIO before measuring.
    await storeFigures(adapter, 'warm', 500);
    const bareRounds: Array<{ put_per_s: number; conditional_put_per_s: number }> = [];
    const adapterRounds: typeof bareRounds = [];
    // Alternate the two clients round by round so background load hits both alike.
    for (let round = 0; round < ROUNDS; round++) {
      bareRounds.push({
        put_per_s: await rate(n, (i) => bare.send(new PutObjectCommand({ Bucket: minio.bucket, Key: `bare/${round}/put/${i}`, Body: BODY }))),
        conditional_put_per_s: await rate(n, (i) =>
          bare.send(new PutObjectCommand({ Bucket: minio.bucket, Key: `bare/${round}/cond/${i}`, Body: BODY, IfNoneMatch: '*' })),
        ),
      });
      adapterRounds.push(await storeFigures(adapter, `adapter/${round}`, n));
    }
    const pick = (rounds: typeof bareRounds) => ({
      put_per_s: median(rounds.map((r) => r.put_per_s)),
      conditional_put_per_s: median(rounds.map((r) => r.conditional_put_per_s)),
    });
    const s3Store = pick(adapterRounds);
    const bareSdk = pick(bareRounds);
    const fsStore = await storeFigures(createFsStore({ root: fsRoot }), 'fs', n);
    return {
      objects_per_round: n,
      rounds: ROUNDS,
      object_bytes: BODY.length,
      concurrency: CONCURRENCY,
      s3store_median: s3Store,
      bare_aws_sdk_median: bareSdk,
      ratio_s3store_vs_bare: {
        put: +(s3Store.put_per_s / bareSdk.put_per_s).toFixed(3),
        conditional_put: +(s3Store.conditional_put_per_s / bareSdk.conditional_put_per_s).toFixed(3),
      },
      fsstore: fsStore,
      rounds_detail: { s3store: adapterRounds, bare_aws_sdk: bareRounds },
    };
  } finally {
    await minio.dispose();
    rmSync(fsRoot, { recursive: true, force: true });
  }
}
