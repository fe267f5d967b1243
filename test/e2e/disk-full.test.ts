// test/e2e/disk-full.test.ts
// The issue-14 walk: --demo into a real MinIO, MinIO stopped, the data disk (a small tmpfs) fills, space returns, MinIO returns: every acknowledged record in the primary exactly once.

import path from 'node:path';
import { mkdirSync, readdirSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import type { RawRecord } from '../../runtime/streams.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { readAudit, cacheStoreOf } from '../helpers/audit-read.ts';
import { startMinio, type MinioServer } from '../helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.ts';
import { parseRawSegmentKey } from '../../runtime/keys.ts';

type Health = {
  mode: string;
  leader: { self: boolean; epoch: number };
  storage: { primary: string };
  disk: { free_bytes: number; low: boolean } | null;
};

let minio: MinioServer | undefined;
let rt: RuntimeProcess | undefined;
let disk: Tmpfs | undefined;

afterAll(async () => {
  try {
    await rt?.stop();
  } finally {
    try {
      await minio?.dispose();
    } finally {
      disk?.dispose();
    }
  }
});

/** Polls until `predicate` holds; the bound only stops a hung run (the wait ends on the event itself). */
async function until<T>(what: string, read: () => Promise<T>, predicate: (value: T) => boolean, boundMs = 90_000): Promise<T> {
  const started = Date.now();
  let last: T | undefined;
  while (Date.now() - started < boundMs) {
    try {
      last = await read();
      if (predicate(last)) return last;
    } catch {
      // the runtime is busy or restarting its answer: ask again
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not seen within ${boundMs} ms (last: ${JSON.stringify(last)})\n${rt?.output().slice(-4000)}`);
}

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out = out.concat(filesUnder(path.join(dir, e.name)));
    else out.push(path.join(dir, e.name));
  }
  return out;
}

it('a full cache disk during a NAS outage loses no acknowledged record: seq contiguous per (stream, epoch), trade ids contiguous, DIAG with disk_full and back to PROD by itself', { timeout: 240_000 }, async () => {
  minio = await startMinio();
  disk = mountTmpfs(8 * 1024 * 1024);
  // A data directory with a space and a non-ASCII letter, as on a Windows desk PC.
  const dataDir = path.join(disk.dir, 'btc ts データ');
  mkdirSync(dataDir);
  rt = await spawnRuntime({
    host: 'pc-full',
    dataDir,
    args: ['--demo'],
    env: { ...minio.env, BTC_TS_PROBE_SECONDS: '1', BTC_TS_DISK_FREE_WARN_BYTES: String(1024 * 1024) },
  });
  const runtime = rt;
  const health = () => runtime.get<Health>('/health');

  const primary = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, region: 'us-east-1', accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  await until('collecting into MinIO', () => listKeys(primary, 'raw/binance/trades/'), (keys) => keys.length >= 2);
  const { leader } = await until('PROD and holding the lease', health, (h) => h.mode === 'PROD' && h.leader.self);
  expect((await health()).disk).toMatchObject({ low: false });

  await minio.stop();
  await until('primary down', health, (h) => h.storage.primary === 'down');
  await until('segments going to the cache', async () => (await listKeys(cacheStoreOf(dataDir), 'raw/')).length, (n) => n >= 2);

  disk.fill();
  const full = await until('DIAG because the disk is full', health, (h) => h.mode === 'DIAG');
  expect(full.disk).toMatchObject({ low: true });
  expect(full.disk!.free_bytes).toBeLessThan(64 * 1024);
  // The runtime is alive and answering while nothing can be written.
  const metrics = await (await fetch(`${runtime.url}/metrics`)).text();
  expect(metrics).toMatch(/^btc_ts_disk_free_bytes \d+/m);

  disk.free();
  await until('back to PROD by itself once writes succeed', health, (h) => h.mode === 'PROD');

  await minio.restart();
  await until('primary up', health, (h) => h.storage.primary === 'up');
  await until('cache drained by sync', async () => (await listKeys(cacheStoreOf(dataDir), 'raw/')).length, (n) => n === 0);
  // A last tick or two into the primary, then a clean stop ships what the write-ahead log holds.
  await until('more trades after the outage', () => listKeys(primary, 'raw/binance/trades/'), (keys) => keys.length >= 4);
  await runtime.stop();
  const leftInWal = filesUnder(path.join(dataDir, 'wal', 'raw')).filter((f) => /\.jsonl$/.test(f) && !f.endsWith('open.jsonl'));
  expect(leftInWal).toEqual([]);

  // Every acknowledged record is in the primary exactly once.
  const byStreamEpoch = new Map<string, RawRecord[]>();
  for (const key of await listKeys(primary, 'raw/')) {
    const ref = parseRawSegmentKey(key)!;
    const lines = (await primary.get(key)).body.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as RawRecord);
    const name = `${ref.stream}#${ref.epoch}`;
    byStreamEpoch.set(name, [...(byStreamEpoch.get(name) ?? []), ...lines]);
  }
  expect(byStreamEpoch.size).toBeGreaterThanOrEqual(8); // 4 topics × 2 symbols
  for (const [name, records] of byStreamEpoch) {
    const seqs = records.map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs, `${name}: seq contiguous from 0`).toEqual(seqs.map((_, i) => i));
  }
  for (const symbol of ['BTC-USDT', 'ETH-USDT']) {
    const ids = [...byStreamEpoch.entries()]
      .filter(([name]) => name.startsWith(`binance/trades/${symbol}#`))
      .flatMap(([, records]) => records.map((r) => Number((r.data as { id: string }).id)))
      .sort((a, b) => a - b);
    expect(new Set(ids).size, `${symbol}: no trade stored twice`).toBe(ids.length);
    expect(ids[ids.length - 1]! - ids[0]! + 1, `${symbol}: trade ids contiguous`).toBe(ids.length);
  }

  const events = await readAudit([primary]);
  const enter = events.find((e) => e.event === 'collector.diag.enter');
  expect(JSON.stringify(enter?.payload)).toMatch(/disk_full/);
  expect(events.some((e) => e.event === 'collector.diag.exit')).toBe(true);
  expect(leader.epoch).toBeGreaterThan(0);
});
