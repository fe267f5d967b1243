// test/sync-body-pool.test.ts
// Sync's reusable read buffers (runtime/sync/body-pool.ts): reuse within the byte budget, never reuse of a body a refused PUT may still send, and every reused-buffer upload byte-exact in the real MinIO.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../runtime/logger.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';
import { BodyPool, POOLED_MIN_BYTES } from '../runtime/sync/body-pool.ts';
import { runSync } from '../runtime/sync/engine.ts';
import { freshBucket, segmentBody } from './helpers/sync-fixtures.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-body-pool-'));
  dirs.push(dir);
  return dir;
}

describe('BodyPool', () => {
  it('reuses a returned buffer for a body of about its size, and keeps lent + free within the limit', () => {
    const pool = new BodyPool(4 * 200_000);
    const a = pool.take(200_000);
    expect(a.length).toBe(200_000);
    a.fill(1);
    pool.give(a);
    const b = pool.take(190_000);
    expect(b.buffer).toBe(a.buffer); // the same memory, no new allocation
    expect(b.length).toBe(190_000);
    expect(pool.reuses).toBe(1);
    const lent = [b, pool.take(200_000), pool.take(200_000), pool.take(200_000), pool.take(200_000)];
    // Five lent over a limit of four: the fifth is made anyway (the byte budget, not the pool, decides
    // what is held), but only what fits under the limit is kept when they come back.
    for (const x of lent) pool.give(x);
    expect(pool.bytes().lent).toBe(0);
    expect(pool.bytes().free).toBeLessThanOrEqual(pool.limit);
    expect(pool.bytes().free).toBeGreaterThan(0);
  });

  it('does not pool small bodies, never reuses a forgotten buffer, and ignores buffers it did not lend', () => {
    const pool = new BodyPool(1_000_000);
    const small = pool.take(POOLED_MIN_BYTES - 1);
    pool.give(small);
    expect(pool.bytes()).toEqual({ lent: 0, free: 0 });
    const sent = pool.take(300_000);
    pool.forget(sent); // a refused PUT may still be sending these bytes
    const next = pool.take(300_000);
    expect(next.buffer).not.toBe(sent.buffer);
    pool.give(Buffer.alloc(300_000)); // not one of ours
    pool.give(next);
    expect(pool.bytes()).toEqual({ lent: 0, free: next.buffer.byteLength });
  });

  it('drops its free buffers after a run of small bodies and keeps none returned then', () => {
    const pool = new BodyPool(10_000_000);
    const big = [pool.take(500_000), pool.take(500_000)];
    pool.give(big[0]!);
    expect(pool.bytes().free).toBeGreaterThan(0);
    for (let i = 0; i < 32; i++) pool.take(2_000);
    expect(pool.bytes().free).toBe(0);
    pool.give(big[1]!); // an upload of the large stream finishing late
    expect(pool.bytes().free).toBe(0);
  });
});

describe('FsStore getOrNull into a given buffer', () => {
  it('reads the body into the buffer it is handed, the same bytes as a plain read', async () => {
    const store = createFsStore({ root: tempDir() });
    const bytes = Buffer.from('x'.repeat(70_000) + '\n');
    await store.put('raw/a.jsonl', bytes);
    const backing = Buffer.alloc(100_000);
    const sizes: number[] = [];
    const got = await store.getOrNull('raw/a.jsonl', { into: (size) => (sizes.push(size), backing.subarray(0, size)) });
    expect(sizes).toEqual([bytes.length]);
    expect(got!.body.buffer).toBe(backing.buffer);
    expect(got!.body.equals(bytes)).toBe(true);
    expect(got!.etag).toBe((await store.get('raw/a.jsonl')).etag);
    expect(await store.getOrNull('raw/missing.jsonl', { into: () => backing })).toBeNull();
  });
});

describe('sync with reused read buffers (real MinIO)', () => {
  it('reads large segments into reused buffers, uploads every one byte-exact, and never reuses the buffer of a conflicting upload', async () => {
    const root = tempDir();
    const cache = createFsStore({ root });
    const t0 = Date.now() - 3_600_000;
    const segments = [];
    let seq = 0;
    for (let i = 0; i < 10; i++) {
      const records = 400 + (i % 3) * 40; // ~85–100 KB each: pooled
      segments.push(segmentBody({ exchange: 'binance', topic: 'trades', symbol: 'POOL/USDT' }, 1, seq, records, t0 + seq * 10, 10, 60));
      seq += records;
    }
    for (const s of segments) {
      expect(s.body.length).toBeGreaterThan(POOLED_MIN_BYTES);
      await cache.put(s.key, s.body);
    }
    const minio = await freshBucket(inject('minio'), 'body-pool');
    const primary = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
    // The primary already holds other bytes under the 4th key: a conflict, kept aside, not overwritten.
    const conflicting = segments[3]!;
    await primary.put(conflicting.key, Buffer.from(conflicting.body.toString().replace('"seq"', '"seq" ')));
    // Watch which memory each body is read into (the cache passes `into` through, as FsStore is used by sync).
    const reads: Array<{ key: string; memory: ArrayBufferLike }> = [];
    const watched: ObjectStore = Object.create(cache) as ObjectStore;
    watched.getOrNull = async (key, options) => {
      const got = await cache.getOrNull(key, options);
      if (got && key.startsWith('raw/')) reads.push({ key, memory: got.body.buffer });
      return got;
    };
    const summary = await runSync(
      { primary, cache: watched, audit: { record: async () => {} }, log: silentLogger() },
      { dryRun: false, concurrency: 4, maxBytesInFlight: 250_000, retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200 }, chunkItems: 1_000, timeGapMs: 60_000 },
    );

    expect(summary).toMatchObject({ uploaded: segments.length - 1, issues: [] });
    expect(summary.conflicts.map((c) => c.key)).toEqual([conflicting.key]);
    const memories = reads.map((r) => r.memory);
    expect(new Set(memories).size).toBeLessThan(memories.length); // buffers were reused
    // The conflicting body's memory was never lent again after its read: its refused PUT may still
    // be on the wire. (Before that read it may have held an uploaded body: that is reuse as meant.)
    const first = reads.findIndex((r) => r.key === conflicting.key);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(reads.length - 1); // reads came after it, so a wrong reuse would show
    const conflictMemory = reads[first]!.memory;
    expect(reads.slice(first + 1).filter((r) => r.memory === conflictMemory).map((r) => r.key)).toEqual([]);
    for (const s of segments) {
      if (s === conflicting) continue;
      expect((await primary.get(s.key)).body.equals(s.body)).toBe(true);
    }
    expect((await listKeys(cache, 'raw/')).length).toBe(0); // the conflict went to conflicts/, the rest deleted
    expect((await cache.get(`conflicts/${conflicting.key}`)).body.equals(conflicting.body)).toBe(true);
  });
});
