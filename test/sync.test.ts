// test/sync.test.ts
// Segments and sync against a real MinIO: seq across restarts, torn line cut and reported, conflicts, planted gaps, atomic objects.

import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Runtime } from '../runtime/context.ts';
import { listKeys } from '../runtime/store/types.ts';
import { BTC, freshBucket, inProcessRuntime, readAuditEvents, readRecords, runtimeEnv, segmentBody, type S3Target } from './helpers/sync-fixtures.ts';
import { rawSegmentKey } from '../runtime/keys.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const runtimes: Runtime[] = [];
async function open(target: S3Target, dataDir?: string): Promise<Runtime> {
  const rt = await inProcessRuntime(target, dataDir);
  runtimes.push(rt);
  return rt;
}
afterEach(async () => {
  for (const rt of runtimes.splice(0)) await rt.shutdown();
});

describe('segments', () => {
  it('continues seq across restarts of the same host, shipped or not', async () => {
    const target = await freshBucket(inject('minio'), 'seq');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-seq-'));
    const first = await open(target, dataDir);
    const t0 = Date.now();
    await first.streams.append(BTC, 3, [0, 1, 2, 3, 4].map((i) => ({ ts: t0 + i, data: i })));
    await first.streams.ship(first.store);
    await first.streams.append(BTC, 3, [5, 6].map((i) => ({ ts: t0 + i, data: i }))); // left open: a crash before the tick

    const second = await open(target, dataDir); // the same host restarted
    const stamped = await second.streams.append(BTC, 3, [7, 8].map((i) => ({ ts: t0 + i, data: i })));
    expect(stamped.map((r) => r.seq)).toEqual([7, 8]);
    await second.streams.ship(second.store);
    const records = await readRecords(second.store.primary);
    expect(records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(records.every((r) => r.epoch === 3)).toBe(true);
  });

  it('cuts a torn last line on restart, reports it in the audit, and ships every good line before it', async () => {
    const target = await freshBucket(inject('minio'), 'torn');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-torn-'));
    const first = await open(target, dataDir);
    const t0 = Date.now();
    await first.streams.append(BTC, 1, Array.from({ length: 10 }, (_, i) => ({ ts: t0 + i, data: { i } })));
    const openFile = path.join(dataDir, 'wal', 'raw', 'binance', 'trades', 'BTC-USDT', '000001', 'open.jsonl');
    appendFileSync(openFile, '{"exchange":"binance","topic":"trades","symbol":"BTC/USDT","ts":1,"ingest_ts":1,"ep'); // crash mid-write

    const second = await open(target, dataDir);
    const outcomes = await second.streams.ship(second.store);
    expect(outcomes.map((o) => o.result)).toEqual(['uploaded']);
    const records = await readRecords(second.store.primary);
    expect(records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const torn = second.audit.recentEvents().find((e) => e.event === 'collector.segment.torn');
    expect(torn?.payload).toMatchObject({ exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT', epoch: 1, good_records: 10, next_seq: 10 });
    expect(torn?.payload.torn_bytes).toBeGreaterThan(50);
    expect(String(torn?.payload.torn_preview)).toContain('"exchange":"binance"');
    // The report reaches the primary's audit like every other event.
    await second.audit.ship(second.store);
    expect((await readAuditEvents(second.store.primary)).some((e) => e.event === 'collector.segment.torn')).toBe(true);
    const [next] = await second.streams.append(BTC, 1, [{ ts: t0 + 10, data: {} }]);
    expect(next?.seq).toBe(10);
  });

  it('a segment key holding other bytes in the primary is a loud conflict, never an overwrite (ship path)', async () => {
    const target = await freshBucket(inject('minio'), 'conflict-ship');
    const rt = await open(target);
    const ts = Date.now();
    const key = rawSegmentKey(BTC, 7, 0, ts);
    await rt.store.primary.put(key, 'someone else wrote this\n');
    await rt.streams.append(BTC, 7, [{ ts, data: { mine: true } }]);
    const outcomes = await rt.streams.ship(rt.store);
    expect(outcomes).toMatchObject([{ key, result: 'conflict' }]);
    expect((await rt.store.primary.get(key)).body.toString()).toBe('someone else wrote this\n');
    const failed = rt.audit.recentEvents().find((e) => e.event === 'collector.sync.failed');
    expect(failed?.payload).toMatchObject({ reason: 'conflict', key, stage: 'ship' });
    // Our bytes are kept for the operator, and not retried on every tick.
    const kept = String(failed?.payload.kept_at);
    expect(existsSync(kept)).toBe(true);
    expect(await rt.streams.ship(rt.store)).toEqual([]);
  });
});

describe('sync', () => {
  it('a segment key holding other bytes in the primary is a conflict: nothing overwritten, local bytes kept aside', async () => {
    const target = await freshBucket(inject('minio'), 'conflict-sync');
    const rt = await open(target);
    const t0 = Date.now() - 60_000;
    const ours = segmentBody(BTC, 2, 0, 5, t0);
    const good = segmentBody(BTC, 2, 5, 5, t0 + 500);
    await rt.store.cache.put(ours.key, ours.body);
    await rt.store.cache.put(good.key, good.body);
    await rt.store.primary.put(ours.key, 'different bytes\n');

    const result = (await rt.invoker.invoke('sync', {})) as { ok: boolean; conflicts: Array<{ key: string }>; uploaded: number };
    expect(result.ok).toBe(false);
    expect(result.conflicts.map((c) => c.key)).toEqual([ours.key]);
    expect(result.uploaded).toBe(1);
    expect((await rt.store.primary.get(ours.key)).body.toString()).toBe('different bytes\n');
    expect((await rt.store.primary.get(good.key)).body.equals(good.body)).toBe(true);
    expect(await listKeys(rt.store.cache, 'raw/')).toEqual([]);
    expect((await rt.store.cache.get(`conflicts/${ours.key}`)).body.equals(ours.body)).toBe(true);
    const events = await readAuditEvents(rt.store.primary);
    expect(events.find((e) => e.event === 'collector.sync.failed')?.payload).toMatchObject({ reason: 'conflict', key: ours.key });
  });

  it('finds a planted seq gap and a planted overlap of two epochs, uploads anyway, and health --dry-run shows both', async () => {
    const target = await freshBucket(inject('minio'), 'gaps');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-gaps-'));
    const rt = await open(target, dataDir);
    const t0 = Date.now() - 120_000;
    const planted = [
      segmentBody(BTC, 1, 0, 10, t0), // epoch 1: seq 0..9
      segmentBody(BTC, 1, 15, 5, t0 + 1_500), // seq 10..14 never written: a gap
      segmentBody(BTC, 2, 0, 10, t0 + 200), // epoch 2 collected over the same time: an overlap
    ];
    for (const s of planted) await rt.store.cache.put(s.key, s.body);

    const dry = (await rt.invoker.invoke('sync', { dry_run: true })) as { issues: Array<Record<string, unknown>>; items: number };
    expect(dry.issues.map((i) => i.kind).sort()).toEqual(['seq_gap', 'time_overlap']);
    expect(await listKeys(rt.store.primary, 'raw/')).toEqual([]);

    const result = (await rt.invoker.invoke('sync', {})) as { ok: boolean; issues: Array<Record<string, unknown>>; uploaded: number };
    expect(result.uploaded).toBe(3);
    expect(result.issues).toContainEqual(expect.objectContaining({ kind: 'seq_gap', stream: 'binance/trades/BTC-USDT', epoch: 1, missing_from: 10, missing_to: 14 }));
    expect(result.issues).toContainEqual(
      expect.objectContaining({ kind: 'time_overlap', from_epoch: 1, to_epoch: 2, from_ts: t0 + 200, to_ts: t0 + 1_500 + 400 }),
    );
    const events = await readAuditEvents(rt.store.primary);
    const names = events.map((e) => e.event);
    expect(names).toEqual(expect.arrayContaining(['collector.sync.plan', 'collector.sync.start', 'collector.sync.continuity', 'collector.sync.complete']));

    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'health', '--dry-run', '--json'], {
      cwd: ROOT,
      env: { ...process.env, ...runtimeEnv(target, dataDir) },
    }).catch((err: { stdout: string; code: number }) => {
      expect(err.code).toBe(1); // a stream with gaps is a failed check
      return { stdout: err.stdout };
    });
    const health = JSON.parse(stdout) as { streams: Array<{ stream: string; issues: Array<{ kind: string }>; segments: number }> };
    expect(health.streams).toHaveLength(1);
    expect(health.streams[0]!.segments).toBe(3);
    expect(health.streams[0]!.issues.map((i) => i.kind).sort()).toEqual(['seq_gap', 'time_overlap']);
    const table = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'health', '--dry-run'], {
      cwd: ROOT,
      env: { ...process.env, ...runtimeEnv(target, dataDir), NO_COLOR: '1' },
    }).catch((err: { stdout: string }) => ({ stdout: err.stdout }));
    expect(table.stdout).toContain('seq_gap: binance/trades/BTC-USDT epoch 1: seq 10..14 missing');
    expect(table.stdout).toMatch(/time_overlap: .*epochs 1→2: both collected/);
  });

  it('copies atomic objects only when newer and different', async () => {
    const target = await freshBucket(inject('minio'), 'atomic');
    const rt = await open(target);
    await rt.store.primary.put('latest/x/ticker/A.csv', 'ts\n1\n');
    await rt.store.primary.put('latest/x/ticker/B.csv', 'ts\n2\n');
    await new Promise((r) => setTimeout(r, 1_100)); // MinIO's Last-Modified has second resolution
    await rt.store.cache.put('latest/x/ticker/A.csv', 'ts\n10\n'); // newer, different → copied
    await rt.store.cache.put('latest/x/ticker/B.csv', 'ts\n2\n'); // same → just dropped
    await rt.store.cache.put('latest/x/ticker/C.csv', 'ts\n3\n'); // absent in primary → copied
    await rt.store.cache.put('collector/status/old.json', '{"stale":true}');
    await new Promise((r) => setTimeout(r, 1_100));
    await rt.store.primary.put('collector/status/old.json', '{"fresh":true}'); // primary newer → kept

    const result = (await rt.invoker.invoke('sync', {})) as { atomic: Record<string, number>; ok: boolean; pending: boolean };
    expect(result.atomic).toEqual({ copied: 2, same: 1, primary_newer: 1 });
    expect(result.ok).toBe(true);
    expect(result.pending).toBe(false);
    expect((await rt.store.primary.get('latest/x/ticker/A.csv')).body.toString()).toBe('ts\n10\n');
    expect((await rt.store.primary.get('collector/status/old.json')).body.toString()).toBe('{"fresh":true}');
    expect(readdirSync(path.join(rt.paths.cacheDir)).filter((n) => !n.startsWith('.'))).toEqual([]);
  });
});

describe('sync pieces', () => {
  it('backoff doubles up to its cap, retries only Unavailable, and stops at max attempts', async () => {
    const { backoffDelay, withBackoff } = await import('../runtime/sync/backoff.ts');
    const { BtcError } = await import('../runtime/errors.ts');
    const delays = [1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, { baseDelayMs: 100, maxDelayMs: 1_000 }, () => 0.999_999));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000]);
    expect(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 1_000 }, () => 0)).toBe(200); // jitter: half at least
    let calls = 0;
    const unavailable = withBackoff(async () => {
      calls++;
      throw new BtcError('Unavailable', 'down');
    }, { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 });
    await expect(unavailable).rejects.toMatchObject({ code: 'Unavailable' });
    expect(calls).toBe(3);
    calls = 0;
    await expect(withBackoff(async () => {
      calls++;
      throw new BtcError('Conflict', 'no');
    }, { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 })).rejects.toMatchObject({ code: 'Conflict' });
    expect(calls).toBe(1);
  });

  it('lists a directory store without etags when asked: same keys and sizes', async () => {
    const { createFsStore } = await import('../runtime/store/fs.ts');
    const { listAll } = await import('../runtime/store/types.ts');
    const store = createFsStore({ root: mkdtempSync(path.join(os.tmpdir(), 'btc-ts-list-')) });
    for (let i = 0; i < 70; i++) await store.put(`a/${String(i).padStart(3, '0')}`, 'x'.repeat(i));
    const full: Array<[string, number, string]> = [];
    for await (const o of listAll(store, 'a/', 25)) full.push([o.key, o.size, o.etag]);
    const cheap: Array<[string, number, string]> = [];
    for await (const o of listAll(store, 'a/', 25, { etags: false })) cheap.push([o.key, o.size, o.etag]);
    expect(cheap.map(([k, s]) => [k, s])).toEqual(full.map(([k, s]) => [k, s]));
    expect(full).toHaveLength(70);
    expect(full.every(([, , e]) => /^[0-9a-f]{32}$/.test(e))).toBe(true);
    expect(cheap.every(([, , e]) => e === '')).toBe(true);
  });

  it('an unreachable S3 endpoint is Unavailable, quickly', async () => {
    const { createS3Store } = await import('../runtime/store/s3.ts');
    const { freePort } = await import('./helpers/minio.ts');
    const store = createS3Store({ endpoint: `http://127.0.0.1:${await freePort()}`, bucket: 'nowhere', accessKeyId: 'a', secretAccessKey: 'b', maxAttempts: 2 });
    const started = Date.now();
    await expect(store.put('raw/x', 'y', { ifNoneMatch: '*' })).rejects.toMatchObject({ code: 'Unavailable' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('runtime sync and health refuse bad usage with exit 2 and a one-line reason', async () => {
    const run = (args: string[]) =>
      promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), ...args], { cwd: ROOT, env: { ...process.env, BTC_TS_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'btc-ts-usage-')) } }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
    const badConcurrency = await run(['sync', '--concurrency', 'lots']);
    expect(badConcurrency.code).toBe(2);
    expect(badConcurrency.stderr).toContain('runtime sync: invalid input for sync: --concurrency: Invalid input: expected number, received string');
    const noDryRun = await run(['health']);
    expect(noDryRun.code).toBe(2);
    expect(noDryRun.stderr).toContain('display only');
  });
});

describe('damaged WAL', () => {
  it('a log with an unreadable record before its end is reported and left alone; other streams still ship', async () => {
    const target = await freshBucket(inject('minio'), 'damaged');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-damaged-'));
    const first = await open(target, dataDir);
    const t0 = Date.now();
    const ETH = { ...BTC, symbol: 'ETH/USDT' };
    await first.streams.append(BTC, 1, [0, 1, 2].map((i) => ({ ts: t0 + i, data: i })));
    await first.streams.append(ETH, 1, [0, 1].map((i) => ({ ts: t0 + i, data: i })));
    const damaged = path.join(dataDir, 'wal', 'raw', 'binance', 'trades', 'BTC-USDT', '000001', 'open.jsonl');
    const { readFileSync, writeFileSync } = await import('node:fs');
    const lines = readFileSync(damaged, 'utf8').split('\n');
    lines[1] = '#### not json ####';
    writeFileSync(damaged, lines.join('\n'));

    const second = await open(target, dataDir);
    const outcomes = await second.streams.ship(second.store);
    expect(outcomes.map((o) => o.key)).toEqual([expect.stringContaining('/ETH-USDT/')]);
    const report = second.audit.recentEvents().find((e) => e.event === 'collector.segment.unreadable');
    expect(report?.payload).toMatchObject({ symbol: 'BTC/USDT', epoch: 1 });
    expect(readFileSync(damaged, 'utf8')).toContain('#### not json ####'); // nothing guessed, nothing dropped
  });
});
