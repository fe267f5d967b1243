// test/helpers/sync-fixtures.ts
// Sync test fixtures: an in-process runtime on a given S3 primary, a steady test writer, raw segment bodies, primary readers.

import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { type RawRecord, type StreamId } from '../../runtime/streams.ts';
import { listAll, type ObjectStore } from '../../runtime/store/types.ts';
import { bootstrapBucket } from '../../infra/minio/bootstrap.ts';
import { rawSegmentKey } from '../../runtime/keys.ts';

export interface S3Target {
  endpoint: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
}

/** A fresh bucket on a shared MinIO, so fixed keys (raw/…) never collide between tests. */
export async function freshBucket(minio: S3Target, name: string): Promise<S3Target> {
  const bucket = `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`.toLowerCase();
  await bootstrapBucket({ ...minio, bucket });
  return { ...minio, bucket };
}

export function runtimeEnv(target: S3Target, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BTC_TS_HOST: 'pc-sync',
    BTC_TS_MODE: 'PROD',
    BTC_TS_DATA_DIR: dataDir,
    BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'),
    BTC_TS_S3_ENDPOINT: target.endpoint,
    BTC_TS_S3_BUCKET: target.bucket,
    BTC_TS_S3_ACCESS_KEY: target.accessKey,
    BTC_TS_S3_SECRET_KEY: target.secretKey,
    BTC_TS_TICK_SECONDS: '1',
    ...extra,
  };
}

export async function inProcessRuntime(target: S3Target, dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-sync-'))): Promise<Runtime> {
  return createRuntime(loadConfig({ env: runtimeEnv(target, dataDir) }), { log: silentLogger() });
}

export const BTC: StreamId = { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' };

/** A raw segment body as SegmentLog writes it: seq firstSeq.. contiguous, one record per `stepMs`. */
export function segmentBody(id: StreamId, epoch: number, firstSeq: number, count: number, firstTs: number, stepMs = 100, pad = 0): { key: string; body: Buffer } {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const ts = firstTs + i * stepMs;
    const record: RawRecord = { ...id, ts, ingest_ts: ts, epoch, seq: firstSeq + i, data: { price: 50_000 + i, pad: 'x'.repeat(pad) } };
    lines.push(JSON.stringify(record));
  }
  return { key: rawSegmentKey(id, epoch, firstSeq, firstTs), body: Buffer.from(lines.join('\n') + '\n') };
}

/** Writes an object straight into an FsStore root (fast bulk fixtures; FsStore maps keys to paths). */
export function writeIntoDir(root: string, key: string, body: Buffer): void {
  const file = path.join(root, ...key.split('/'));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, body);
}

/** Every raw record in a store, in key order per (epoch, firstSeq). */
export async function readRecords(store: ObjectStore, prefix = 'raw/'): Promise<RawRecord[]> {
  const keys: string[] = [];
  for await (const info of listAll(store, prefix)) keys.push(info.key);
  const records: RawRecord[] = [];
  for (const body of await getAll(store, keys)) {
    for (const line of body.split('\n').filter(Boolean)) records.push(JSON.parse(line) as RawRecord);
  }
  return records.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
}

export async function readAuditEvents(store: ObjectStore): Promise<Array<{ event: string; payload: Record<string, unknown> }>> {
  const events: Array<{ event: string; payload: Record<string, unknown>; seq: number; host: string }> = [];
  for await (const info of listAll(store, 'audit/')) {
    const body = (await store.get(info.key)).body.toString('utf8');
    for (const line of body.split('\n').filter(Boolean)) events.push(JSON.parse(line));
  }
  return events.sort((a, b) => (a.host === b.host ? a.seq - b.seq : a.host < b.host ? -1 : 1));
}

/**
 * A collector stand-in: appends one record every `everyMs` to one stream at `epoch`, and every
 * `tickMs` ships segments, replaces the latest CSV, runs storage-probe and (when the schedule's
 * `when` says so) sync — the same calls the real collector and scheduler make.
 */
export function startTestWriter(runtime: Runtime, options: { id: StreamId; epoch: number; everyMs: number; tickMs: number; sync?: boolean }) {
  let appended = 0;
  let stopped = false;
  const errors: string[] = [];
  const syncSchedule = runtime.schedules.find((s) => s.fn === 'sync');
  const appendLoop = (async () => {
    while (!stopped) {
      try {
        const [record] = await runtime.streams.append(options.id, options.epoch, [{ ts: runtime.clock.now(), data: { n: appended } }]);
        if (record) appended++;
      } catch (err) {
        errors.push(`append: ${String(err)}`);
      }
      await sleep(options.everyMs);
    }
  })();
  const tickLoop = (async () => {
    while (!stopped) {
      await sleep(options.tickMs);
      try {
        await runtime.streams.ship(runtime.store);
        const csvKey = `latest/${options.id.exchange}/${options.id.topic}/BTC-USDT.csv`;
        await runtime.store.put(csvKey, `ts,price\n${runtime.clock.now()},50000\n`);
        await runtime.invoker.invoke('storage-probe', {}, 'cron');
        if (options.sync !== false && syncSchedule?.when?.(runtime.context())) await runtime.invoker.invoke('sync', {}, 'cron').catch((err) => errors.push(`sync: ${String(err)}`));
      } catch (err) {
        errors.push(`tick: ${String(err)}`);
      }
    }
  })();
  return {
    get appended() {
      return appended;
    },
    errors,
    async stop(): Promise<number> {
      stopped = true;
      await Promise.all([appendLoop, tickLoop]);
      return appended;
    },
  };
}

/** Bodies of many keys, 16 requests at a time (a loaded test machine makes 2,000 sequential GETs slow). */
async function getAll(store: ObjectStore, keys: string[]): Promise<string[]> {
  const bodies = new Array<string>(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      bodies[i] = (await store.get(keys[i]!)).body.toString('utf8');
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return bodies;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
