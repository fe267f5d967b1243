// test/sync-byte-budget.test.ts
// Sync's byte budget: bodies held (read from the cache, not yet deleted after upload) and PUT bodies in flight never exceed it, against the real MinIO.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../runtime/logger.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';
import { ByteBudget } from '../runtime/sync/byte-budget.ts';
import { runSync, type SyncOptions } from '../runtime/sync/engine.ts';
import { freshBucket, segmentBody } from './helpers/sync-fixtures.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Watches a cache: bytes of bodies read and not yet deleted (what sync holds in memory), and the most at once. */
function watchedCache(inner: ObjectStore) {
  const held = new Map<string, number>();
  const seen = { now: 0, peak: 0 };
  const store: ObjectStore = {
    describe: inner.describe,
    get: (key) => inner.get(key),
    head: (key) => inner.head(key),
    put: (key, body, options) => inner.put(key, body, options),
    listPage: (prefix, options) => inner.listPage(prefix, options),
    flush: () => inner.flush?.() ?? Promise.resolve(),
    async getOrNull(key) {
      const got = await inner.getOrNull(key);
      if (got && !held.has(key)) {
        held.set(key, got.body.length);
        seen.now += got.body.length;
        seen.peak = Math.max(seen.peak, seen.now);
      }
      return got;
    },
    async delete(key, options) {
      await inner.delete(key, options);
      seen.now -= held.get(key) ?? 0;
      held.delete(key);
    },
  };
  return { store, seen };
}

/** Watches a primary: bytes of PUT bodies in flight at once (most at once) and how many PUTs overlapped. */
function watchedPrimary(inner: ObjectStore) {
  const seen = { bytes: 0, peakBytes: 0, puts: 0, peakPuts: 0 };
  const store: ObjectStore = Object.create(inner) as ObjectStore;
  store.put = async (key, body, options) => {
    const size = Buffer.byteLength(body);
    seen.bytes += size;
    seen.puts++;
    seen.peakBytes = Math.max(seen.peakBytes, seen.bytes);
    seen.peakPuts = Math.max(seen.peakPuts, seen.puts);
    try {
      return await inner.put(key, body, options);
    } finally {
      seen.bytes -= size;
      seen.puts--;
    }
  };
  return { store, seen };
}

/** 3 streams × 12 contiguous segments of ~6–30 KB each in a fresh directory cache; their sizes. */
async function backlog(): Promise<{ cache: ObjectStore; sizes: number[]; keys: string[] }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-budget-'));
  dirs.push(root);
  const cache = createFsStore({ root });
  const t0 = Date.now() - 3_600_000;
  const segments = [];
  for (let s = 0; s < 3; s++) {
    let seq = 0;
    for (let i = 0; i < 12; i++) {
      const records = 20 + ((i * 7 + s * 5) % 5) * 25; // 20..120 records of ~250 B
      segments.push(segmentBody({ exchange: 'binance', topic: 'trades', symbol: `B${s}/USDT` }, 1, seq, records, t0 + seq * 10, 10, 60));
      seq += records;
    }
  }
  for (const x of segments) await cache.put(x.key, x.body);
  return { cache, sizes: segments.map((x) => x.body.length), keys: segments.map((x) => x.key) };
}

function options(maxBytesInFlight: number): SyncOptions {
  return { dryRun: false, concurrency: 24, maxBytesInFlight, retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200 }, chunkItems: 1_000, timeGapMs: 60_000 };
}

async function primaryOf(name: string): Promise<ObjectStore> {
  const target = await freshBucket(inject('minio'), name);
  return createS3Store({ endpoint: target.endpoint, bucket: target.bucket, accessKeyId: target.accessKey, secretAccessKey: target.secretKey });
}

describe('sync byte budget', () => {
  it('never holds more bytes of bodies than the budget, though 24 uploads may be in flight, and still copies everything', async () => {
    const made = await backlog();
    const budget = 48 * 1024;
    const biggest = Math.max(...made.sizes);
    expect(biggest).toBeLessThan(budget);
    const total = made.sizes.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(8 * budget); // without a budget, 24 reads ahead would hold far more
    const cache = watchedCache(made.cache);
    const primary = watchedPrimary(await primaryOf('budget'));
    const events: string[] = [];
    const summary = await runSync({ primary: primary.store, cache: cache.store, audit: { record: async (event) => void events.push(event) }, log: silentLogger() }, options(budget));

    expect(summary).toMatchObject({ ok: true, uploaded: made.keys.length, items: made.keys.length, bytes: total, issues: [] });
    expect((await listKeys(primary.store, 'raw/')).sort()).toEqual([...made.keys].sort());
    expect(await listKeys(made.cache, 'raw/')).toEqual([]);
    expect(events.at(-1)).toBe('collector.sync.complete');
    // Held = read from the cache and not yet deleted after its verified upload.
    expect(cache.seen.peak).toBeLessThanOrEqual(budget);
    expect(primary.seen.peakBytes).toBeLessThanOrEqual(budget);
    expect(cache.seen.peak).toBeGreaterThan(budget / 2); // the budget was used, not one at a time
    expect(primary.seen.peakPuts).toBeGreaterThan(1);
  });

  it('a budget smaller than one segment lets each through alone: one body at a time, nothing stuck', async () => {
    const made = await backlog();
    const cache = watchedCache(made.cache);
    const primary = watchedPrimary(await primaryOf('budget-tiny'));
    const summary = await runSync({ primary: primary.store, cache: cache.store, audit: { record: async () => {} }, log: silentLogger() }, options(1));
    expect(summary).toMatchObject({ ok: true, uploaded: made.keys.length });
    expect(made.sizes).toContain(cache.seen.peak); // never two bodies at once
    expect(primary.seen.peakBytes).toBe(cache.seen.peak);
    expect(primary.seen.peakPuts).toBe(1);
  });
});

describe('ByteBudget', () => {
  it('serves waiters first come first served, lets one oversized body through alone, and tracks the peak', async () => {
    const budget = new ByteBudget(100);
    const order: string[] = [];
    await budget.acquire(60);
    const big = budget.acquire(50).then(() => order.push('big'));
    const small = budget.acquire(10).then(() => order.push('small')); // fits now, but waits behind big
    await Promise.resolve();
    expect(order).toEqual([]);
    budget.release(60);
    await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(budget.held).toBe(60);
    budget.release(50);
    budget.release(10);
    await budget.acquire(500); // alone: more than the whole budget
    expect(budget.held).toBe(500);
    let second = false;
    const next = budget.acquire(1).then(() => (second = true));
    await Promise.resolve();
    expect(second).toBe(false);
    budget.release(500);
    await next;
    expect(budget.peak).toBe(500);
  });
});
