// test/e2e/sync-kill.test.ts
// kill -9 of `runtime sync` half-way through a backlog, then a re-run: every record in the primary once, the cache empty.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, inject, it } from 'vitest';
import { createFsStore } from '../../runtime/store/fs.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listKeys } from '../../runtime/store/types.ts';
import { BTC, freshBucket, readAuditEvents, readRecords, runtimeEnv, segmentBody, sleep, writeIntoDir } from '../helpers/sync-fixtures.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SEGMENTS = 2_000;
const RECORDS_PER_SEGMENT = 5;

it('a sync killed with SIGKILL mid-way is finished by the next run without duplicates', { timeout: 180_000 }, async () => {
  const target = await freshBucket(inject('minio'), 'kill');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-kill-'));
  const cacheDir = path.join(dataDir, 'cache');
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < SEGMENTS; i++) {
    const seg = segmentBody(BTC, 5, i * RECORDS_PER_SEGMENT, RECORDS_PER_SEGMENT, t0 + i * 1_000, 200);
    writeIntoDir(cacheDir, seg.key, seg.body);
  }
  writeIntoDir(cacheDir, 'latest/binance/trades/BTC-USDT.csv', Buffer.from(`ts,price\n${t0 + SEGMENTS * 1_000},1\n`));
  const env = { ...process.env, ...runtimeEnv(target, dataDir) };
  const primary = createS3Store({ endpoint: target.endpoint, bucket: target.bucket, accessKeyId: target.accessKey, secretAccessKey: target.secretKey });
  const cache = createFsStore({ root: cacheDir });

  const child = spawn(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'sync', '--concurrency', '2'], { cwd: ROOT, env, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let uploadedBeforeKill = 0;
  for (let i = 0; i < 600 && uploadedBeforeKill < SEGMENTS / 5; i++) {
    await sleep(100);
    uploadedBeforeKill = (await listKeys(primary, 'raw/')).length;
  }
  child.kill('SIGKILL');
  expect(await exited).toBe(null); // it died by the signal, not by finishing
  const leftInCache = (await listKeys(cache, 'raw/')).length;
  expect(uploadedBeforeKill).toBeGreaterThan(0);
  expect(leftInCache).toBeGreaterThan(0);
  expect(leftInCache).toBeLessThan(SEGMENTS);

  // On a non-zero exit the summary and the error are kept, so a failure says what the re-run met.
  const rerun = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/runtime.mjs'), 'sync'], { cwd: ROOT, env, maxBuffer: 16 << 20 }).catch(
    (err: { code?: number; stdout?: string; stderr?: string }) => {
      throw new Error(`re-run exited ${err.code}\nstdout: ${err.stdout}\nstderr: ${err.stderr}`);
    },
  );
  const summary = JSON.parse(rerun.stdout) as { ok: boolean; issues: unknown[]; uploaded: number; already_present: number; pending: boolean };
  expect(summary).toMatchObject({ ok: true, issues: [], pending: false });
  expect(summary.uploaded + summary.already_present).toBe(leftInCache);

  const keys = await listKeys(primary, 'raw/');
  expect(keys).toHaveLength(SEGMENTS);
  const records = await readRecords(primary);
  expect(records).toHaveLength(SEGMENTS * RECORDS_PER_SEGMENT);
  expect(records.map((r) => r.seq)).toEqual(Array.from({ length: SEGMENTS * RECORDS_PER_SEGMENT }, (_, i) => i));
  expect(await listKeys(cache, 'raw/')).toEqual([]);
  expect(await listKeys(cache, 'latest/')).toEqual([]);
  expect((await primary.get('latest/binance/trades/BTC-USDT.csv')).body.toString()).toContain(String(t0 + SEGMENTS * 1_000));
  const names = (await readAuditEvents(primary)).map((e) => e.event);
  expect(names.filter((n) => n === 'collector.sync.plan').length).toBe(2); // the killed run's plan survived in the WAL
  expect(names.filter((n) => n === 'collector.sync.complete').length).toBe(1);
});
