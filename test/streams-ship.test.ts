// test/streams-ship.test.ts
// One stream whose segments cannot be uploaded does not stop the others (reported with its cause, kept, shipped once it can be); ETags that are not MD5s do not fail a segment.

import { PutBucketEncryptionCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../runtime/clock.ts';
import { putOnce } from '../runtime/segments.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listAll } from '../runtime/store/types.ts';
import { RawStreams, type StreamReport } from '../runtime/streams.ts';
import { startMinio } from './helpers/minio.ts';

const BTC = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };
const ETH = { exchange: 'binance', topic: 'trades', symbol: 'ETH/USDT' };
const SOL = { exchange: 'binance', topic: 'ticker', symbol: 'SOL/USDT' };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function keys(store: ReturnType<typeof createFsStore>, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store, prefix)) out.push(o.key);
  return out;
}

describe('RawStreams.ship: each stream on its own', () => {
  it('a stream whose key cannot be written is reported with its cause; the others ship; it ships once it can', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-ship-'));
    dirs.push(dir);
    const root = path.join(dir, 'nas');
    const store = createFsStore({ root });
    const reports: StreamReport[] = [];
    const clock = manualClock(Date.UTC(2026, 10, 29, 12));
    const streams = new RawStreams({ walDir: path.join(dir, 'wal'), clock, onReport: (r) => void reports.push(r) });
    for (const id of [BTC, ETH, SOL]) await streams.append(id, 1, [0, 1, 2].map((i) => ({ ts: clock.now() + i, data: { i } })));

    // ETH's folder in the store is a file: every upload of its segments fails (ENOTDIR), the way a
    // store that refuses one key would. It is the middle stream, so a throw would stop SOL too.
    mkdirSync(path.join(root, 'raw', 'binance', 'trades'), { recursive: true });
    writeFileSync(path.join(root, 'raw', 'binance', 'trades', 'ETH-USDT'), 'in the way');

    const outcomes = await streams.ship(store);
    expect(outcomes.map((o) => o.key.split('/').slice(1, 4).join('/')).sort()).toEqual(['binance/ticker/SOL-USDT', 'binance/trades/BTC-USDT']);
    expect(await keys(store, 'raw/binance/ticker/SOL-USDT/')).toHaveLength(1);
    expect(await keys(store, 'raw/binance/trades/BTC-USDT/')).toHaveLength(1);
    expect(streams.shipFailed(ETH)).toBe(true);
    expect(streams.shipFailed(BTC) || streams.shipFailed(SOL)).toBe(false);
    const failed = reports.filter((r) => r.kind === 'ship_failed');
    expect(failed).toEqual([expect.objectContaining({ kind: 'ship_failed', stream: ETH, epoch: 1, cause: expect.any(String), error: expect.any(String) })]);
    expect((failed[0] as Extract<StreamReport, { kind: 'ship_failed' }>).cause).not.toBe('');

    // The way is cleared: the next ship uploads ETH's segment, with every record kept.
    rmSync(path.join(root, 'raw', 'binance', 'trades', 'ETH-USDT'));
    const later = await streams.ship(store);
    expect(later.map((o) => o.result)).toEqual(['uploaded']);
    expect(streams.shipFailed(ETH)).toBe(false);
    const [ethKey] = await keys(store, 'raw/binance/trades/ETH-USDT/');
    const lines = (await store.get(ethKey!)).body.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number });
    expect(lines.map((l) => l.seq)).toEqual([0, 1, 2]);
  });
});

describe('a bucket whose ETags are not MD5s (SSE-KMS on a real MinIO)', () => {
  it('ships: the segment is verified by reading it back, not failed forever; a re-ship is already_present', { timeout: 60_000 }, async () => {
    const minio = await startMinio({ env: { MINIO_KMS_SECRET_KEY: `btc-ts-test-key:${randomBytes(32).toString('base64')}` } });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-ship-kms-'));
    dirs.push(dir);
    try {
      const client = new S3Client({ endpoint: minio.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey } });
      await client.send(
        new PutBucketEncryptionCommand({
          Bucket: minio.bucket,
          ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'btc-ts-test-key' } }] },
        }),
      );
      client.destroy();
      const store = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
      const body = Buffer.from('{"probe":1}\n');
      const put = await store.put('probe/etag.jsonl', body);
      expect(put.etag).not.toBe(createHash('md5').update(body).digest('hex')); // the premise: not an MD5

      const clock = manualClock(Date.UTC(2026, 10, 29, 12));
      const reports: StreamReport[] = [];
      const streams = new RawStreams({ walDir: path.join(dir, 'wal'), clock, onReport: (r) => void reports.push(r) });
      await streams.append(BTC, 1, [0, 1, 2].map((i) => ({ ts: clock.now() + i, data: { i } })));
      const outcomes = await streams.ship(store);
      expect(outcomes.map((o) => o.result)).toEqual(['uploaded']);
      expect(reports).toEqual([]);
      const [key] = await keys(store as ReturnType<typeof createFsStore>, 'raw/');
      expect((await store.get(key!)).body.toString().trim().split('\n')).toHaveLength(3);
      expect(await putOnce(store, key!, (await store.get(key!)).body)).toMatchObject({ result: 'already_present' });
    } finally {
      await minio.dispose();
    }
  });
});
