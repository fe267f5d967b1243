// test/e2e/leader-suspend.test.ts
// Two real runtimes on one MinIO: the holder's PC "sleeps" (SIGSTOP while libfaketime moves its wall clock ahead); it stops collecting before its renew and names the suspended range.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ensureLibfaketime } from '../helpers/faketime.ts';
import { auditLines, freshBucket, healthOf, leaseEnv, waitFor, waitForAudit, waitForHolder } from '../helpers/lease-probe.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const LEASE_S = 3;
const HEARTBEAT_S = 0.5;
/** Less than S3's 15-minute signature window, far more than the lease: a suspend, not a skew. */
const SLEEP_JUMP_S = 120;

const minio = inject('minio');

describe('a holder whose PC sleeps (real processes, lease 3 s)', () => {
  it('wakes with its wall clock ahead: stops collecting before the renew, steps down on the 412, and the overlap names the suspended range', async () => {
    // Installed from Debian's `faketime` package when missing (never skipped).
    const LIBFAKETIME = await ensureLibfaketime();
    const bucket = await freshBucket(minio, 'lease-suspend');
    const timings = { leaseSeconds: LEASE_S, heartbeatSeconds: HEARTBEAT_S };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-suspend-'));
    // libfaketime re-reads this offset on every call: the test moves pc-a's wall clock while it
    // runs; its monotonic clock stays real (FAKETIME_DONT_FAKE_MONOTONIC), as on a real suspend
    // the two disagree.
    const offsetFile = path.join(dir, 'faketime');
    writeFileSync(offsetFile, '+0');
    let a: RuntimeProcess | undefined;
    let b: RuntimeProcess | undefined;
    try {
      a = await spawnRuntime({
        host: 'pc-a',
        env: leaseEnv(minio, minio.endpoint, bucket, timings, {
          LD_PRELOAD: LIBFAKETIME,
          FAKETIME_TIMESTAMP_FILE: offsetFile,
          FAKETIME_NO_CACHE: '1',
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
        }),
      });
      const held = (await waitForHolder(a, 20_000)).leader.epoch;
      b = await spawnRuntime({ host: 'pc-b', env: leaseEnv(minio, minio.endpoint, bucket, timings) });
      await waitFor('pc-b to follow pc-a', async () => (await healthOf(b!))?.leader.host === 'pc-a', 20_000);

      // Sleep: the process stops and its wall clock moves on; pc-b takes the lease meanwhile.
      a.child.kill('SIGSTOP');
      writeFileSync(offsetFile, `+${SLEEP_JUMP_S}`);
      const taken = await waitForHolder(b, 15_000);
      expect(taken.leader.epoch).toBe(held + 1);

      // Wake: from here on never two holders.
      a.child.kill('SIGCONT');
      const seen: string[] = [];
      await waitFor(
        'pc-a to step down',
        async () => {
          const [ha, hb] = [await healthOf(a!), await healthOf(b!)];
          seen.push(`${ha?.leader.self}/${hb?.leader.self}`);
          return ha && !ha.leader.self && ha.leader.host === 'pc-b' && ha;
        },
        15_000,
      );
      expect(seen.filter((s) => s === 'true/true')).toEqual([]);

      const overlap = await waitForAudit(a, 'collector.leader.overlap', { epoch: held, other_host: 'pc-b', other_epoch: held + 1, cause: 'PreconditionFailed' });
      const slept = Date.parse(overlap.suspended_to as string) - Date.parse(overlap.suspended_from as string);
      expect(slept).toBeGreaterThanOrEqual(SLEEP_JUMP_S * 1000);
      await waitForAudit(a, 'collector.leader.release', { epoch: held, reason: /^lost: taken by pc-b/, cause: 'PreconditionFailed' });
      // Collection stopped before the renew went out: the pause is logged before the step-down.
      const lines = a.output().split('\n');
      const pausedAt = lines.findIndex((l) => l.includes('collection paused'));
      expect(pausedAt).toBeGreaterThan(-1);
      expect(lines[pausedAt]).toMatch(/"reason":"suspended"/);
      expect(pausedAt).toBeLessThan(lines.findIndex((l) => l.includes('"audit":"collector.leader.overlap"')));
      expect(auditLines(a, 'collector.leader.degraded')).toEqual([]);
      expect((await healthOf(b))!.leader.self).toBe(true);
    } finally {
      a?.child.kill('SIGCONT'); // a stopped process would ignore the SIGTERM of dispose()
      await Promise.all([a?.dispose(), b?.dispose()]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
