// test/preflight-clock.test.ts
// whatif's clock sanity: this PC's wall clock vs the primary's LastModified, on FsStore and on the real MinIO.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { systemClock } from '../runtime/clock.ts';
import { loadConfig } from '../runtime/config.ts';
import { createRuntime } from '../runtime/context.ts';
import { silentLogger } from '../runtime/logger.ts';
import { clockSkewMs, runPreflight } from '../runtime/preflight.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function clockCheck(primary: 'fs' | 's3', skewMs: number, extraEnv: Record<string, string> = {}) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-clock-'));
  dirs.push(dataDir);
  const m = inject('minio');
  const s3 =
    primary === 's3'
      ? { BTC_TS_S3_ENDPOINT: m.endpoint, BTC_TS_S3_BUCKET: m.bucket, BTC_TS_S3_ACCESS_KEY: m.accessKey, BTC_TS_S3_SECRET_KEY: m.secretKey }
      : {};
  const env = { BTC_TS_HOST: `clock-${primary}-${skewMs}-${Date.now()}`, BTC_TS_DATA_DIR: dataDir, BTC_TS_LOGS_DIR: path.join(dataDir, 'logs'), ...s3, ...extraEnv };
  const runtime = await createRuntime(loadConfig({ env }), { log: silentLogger(), clock: systemClock(skewMs) });
  try {
    const results = await runPreflight(runtime);
    return results.find((r) => r.check === 'clock sanity')!;
  } finally {
    await runtime.shutdown();
  }
}

describe('preflight clock sanity', () => {
  it('measures how far the store time lies outside [before − 1 s, after]', () => {
    expect(clockSkewMs(10_500, 10_000, 10_100)).toBe(400); // store ahead: this clock is behind
    expect(clockSkewMs(9_500, 10_000, 10_100)).toBe(0); // inside the 1 s resolution
    expect(clockSkewMs(5_000, 10_000, 10_100)).toBe(-4_000); // this clock is ahead
  });

  it.each(['fs', 's3'] as const)('%s primary: passes in sync, warns at 20 s, fails past the limit', async (primary) => {
    const inSync = await clockCheck(primary, 0);
    expect(inSync).toMatchObject({ ok: true });
    expect(inSync.warn).toBeFalsy();
    const warned = await clockCheck(primary, -20_000);
    expect(warned).toMatchObject({ ok: true, warn: true });
    expect(warned.detail).toMatch(/this clock is (19|20|21)\.\ds behind/);
    const failed = await clockCheck(primary, 120_000, { BTC_TS_MAX_CLOCK_SKEW_SECONDS: '60' });
    expect(failed.ok).toBe(false);
    expect(failed.detail).toMatch(/ahead of .* \(limit 60s\): fix the time sync/);
  });
});
