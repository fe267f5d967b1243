// test/e2e/clock-skew.test.ts
// A real runtime whose wall clock is 20 minutes ahead (libfaketime, monotonic untouched): it holds the lease, ships to MinIO and says its clock is off.

import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { leaseDocSchema } from '../../runtime/lease.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { listAll } from '../../runtime/store/types.ts';
import { readAudit } from '../helpers/audit-read.ts';
import { ensureLibfaketime, faketimeEnv } from '../helpers/faketime.ts';
import { freshBucket, leaseEnv, waitFor, waitForHolder } from '../helpers/lease-probe.ts';
import { runCli } from '../helpers/run-cli.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';
import { LEASE_KEY } from '../../runtime/keys.ts';

const AHEAD_MS = 20 * 60_000;
/** How close the measured skew must be to the faked one (the issue's ±60 s). */
const TOLERANCE_MS = 60_000;
const minio = inject('minio');
const running: RuntimeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.dispose()));
});

interface SkewHealth {
  leader: { self: boolean; epoch: number };
  storage: { primary: string };
  clock_skew_ms: number | null;
  clock_skew_over_limit: boolean;
}

describe('a PC whose clock is 20 minutes ahead of the NAS (libfaketime)', () => {
  it('libfaketime shifts node\'s wall clock by +20 min here and leaves its monotonic clock alone', async () => {
    await ensureLibfaketime();
    const monoBefore = process.hrtime.bigint();
    const wallBefore = Date.now();
    const child = spawnSync(process.execPath, ['-e', 'console.log(JSON.stringify({ wall: Date.now(), mono: String(process.hrtime.bigint()) }))'], {
      env: { ...process.env, ...faketimeEnv('+20m') },
      encoding: 'utf8',
    });
    const monoAfter = process.hrtime.bigint();
    expect(child.status, child.stderr).toBe(0);
    const seen = JSON.parse(child.stdout) as { wall: number; mono: string };
    expect(Math.abs(seen.wall - wallBefore - AHEAD_MS)).toBeLessThan(TOLERANCE_MS);
    expect(BigInt(seen.mono) >= monoBefore && BigInt(seen.mono) <= monoAfter).toBe(true);
  });

  it('holds the lease, ships its audit to MinIO, shows clock_skew_ms ≈ +1.2e6 and audits collector.clock.skew; whatif fails the clock check naming the offset', async () => {
    await ensureLibfaketime();
    const bucket = await freshBucket(minio, 'skew-e2e');
    const env = leaseEnv(minio, minio.endpoint, bucket, { leaseSeconds: 3, heartbeatSeconds: 0.5 }, faketimeEnv('+20m'));
    const rt = await spawnRuntime({ host: 'pc-ahead', env });
    running.push(rt);

    // The lease is taken: every request reached MinIO signed with the NAS's time.
    await waitForHolder(rt, 30_000);
    const health = await rt.get<SkewHealth>('/health');
    expect(health.storage.primary).toBe('up');
    expect(health.clock_skew_ms).not.toBeNull();
    expect(Math.abs(health.clock_skew_ms! - AHEAD_MS)).toBeLessThan(TOLERANCE_MS);
    expect(health.clock_skew_over_limit).toBe(true);

    const store = createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
    // The lease object carries the runtime's own (skewed) wall clock: the fake really applies to it.
    const lease = leaseDocSchema.parse(JSON.parse((await store.get(LEASE_KEY)).body.toString()));
    expect(lease.host).toBe('pc-ahead');
    expect(Math.abs(lease.heartbeat_ms - (Date.now() + AHEAD_MS))).toBeLessThan(TOLERANCE_MS);

    // Its audit reaches MinIO (not only the local cache), with the acquire and the named clock skew.
    const events = await waitFor(
      'collector.clock.skew and collector.leader.acquire in the bucket',
      async () => {
        const all = await readAudit([store]);
        return all.some((e) => e.event === 'collector.clock.skew') && all.some((e) => e.event === 'collector.leader.acquire') && all;
      },
      30_000,
      250,
    );
    const skew = events.filter((e) => e.event === 'collector.clock.skew');
    expect(skew).toHaveLength(1);
    expect(skew[0]!.payload).toMatchObject({ state: 'over', limit_ms: 900_000 });
    expect(Math.abs((skew[0]!.payload as { skew_ms: number }).skew_ms - AHEAD_MS)).toBeLessThan(TOLERANCE_MS);
    const keys: string[] = [];
    for await (const o of listAll(store, 'audit/')) keys.push(o.key);
    expect(keys.some((k) => k.includes('/pc-ahead-'))).toBe(true);
    // Never "primary down": no switch to the cache happened.
    expect(events.filter((e) => e.event === 'collector.storage.switch')).toEqual([]);

    // The host status object in the bucket says it too.
    const status = JSON.parse((await store.get('collector/status/pc-ahead.json')).body.toString()) as { clock_skew_ms?: number };
    expect(Math.abs((status.clock_skew_ms ?? 0) - AHEAD_MS)).toBeLessThan(TOLERANCE_MS);

    // whatif under the same fake clock: the clock check fails and names the offset.
    const whatif = await runCli(['whatif'], { ...env, BTC_TS_HOST: 'pc-ahead-whatif' });
    expect(whatif.code).toBe(1);
    const clockLine = `${whatif.stdout}\n${whatif.stderr}`.split('\n').find((l) => l.includes('clock sanity'));
    expect(clockLine, whatif.stdout + whatif.stderr).toMatch(/FAIL/);
    expect(clockLine).toMatch(/this clock is 1[12]\d\d\.\ds ahead of s3:\/\/.*clock_skew_ms \+1[12]\d{5}.*\(limit 900s\)/);
  }, 180_000);
});
