// test/e2e/version-limit.test.ts
// A MinIO that refuses a PUT past 10 versions of one object: a holder renewing every 0.5 s stays on the primary; without the exclusions the cause is MaxVersionsExceeded.

import { afterEach, describe, expect, it } from 'vitest';
import { leaseDocSchema } from '../../runtime/lease.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { auditLines, healthOf, leaseEnv, waitFor, waitForAudit, waitForHolder } from '../helpers/lease-probe.ts';
import { startMinio, type MinioServer } from '../helpers/minio.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';
import { LEASE_KEY, statusKey } from '../../runtime/keys.ts';

/**
 * MINIO_API_OBJECT_MAX_VERSIONS: low, so a heartbeat of 0.5 s passes it every five seconds (the
 * second test proves MinIO really refuses at this limit, so the first one's 3× is not vacuous).
 */
const VERSION_LIMIT = 10;
const TIMINGS = { leaseSeconds: 3, heartbeatSeconds: 0.5 };
const HOST = 'pc-versions';

let minio: MinioServer | undefined;
let runtime: RuntimeProcess | undefined;
afterEach(async () => {
  await runtime?.dispose();
  await minio?.dispose();
  runtime = undefined;
  minio = undefined;
});

async function holderOn(server: MinioServer): Promise<RuntimeProcess> {
  return spawnRuntime({ host: HOST, env: leaseEnv(server, server.endpoint, server.bucket, TIMINGS, { BTC_TS_PROBE_SECONDS: '0.5' }) });
}

describe(`a MinIO with at most ${VERSION_LIMIT} versions per object`, () => {
  it('bootstrapped with the exclusions: the lease is written more than 3× the limit, no error, no switch to the cache, status written throughout', { timeout: 180_000 }, async () => {
    minio = await startMinio({ env: { MINIO_API_OBJECT_MAX_VERSIONS: String(VERSION_LIMIT) } });
    runtime = await holderOn(minio);
    const first = await waitForHolder(runtime, 30_000);
    const store = createS3Store({ endpoint: minio.endpoint, bucket: minio.bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });

    // Every lease ETag and status updated_at we see is a write that really happened (a lower bound:
    // polling may miss some), so the run lasts until the lease alone is well past the limit.
    const leaseEtags = new Set<string>();
    const statusWrites = new Set<string>();
    const problems: string[] = [];
    await waitFor(`> ${3 * VERSION_LIMIT} lease writes`, async () => {
      const lease = await store.get(LEASE_KEY);
      const doc = leaseDocSchema.parse(JSON.parse(lease.body.toString()));
      leaseEtags.add(lease.etag);
      if (doc.host !== HOST || doc.epoch !== first.leader.epoch) problems.push(`lease ${doc.host}@${doc.epoch}`);
      const status = JSON.parse((await store.get(statusKey(HOST))).body.toString()) as { updated_at: string; storage: { primary: string } };
      statusWrites.add(status.updated_at);
      if (status.storage.primary !== 'up') problems.push(`status primary ${status.storage.primary}`);
      const health = await healthOf(runtime!);
      if (!health?.leader.self || health.leader.degraded) problems.push(`health ${JSON.stringify(health?.leader)}`);
      return leaseEtags.size > 3 * VERSION_LIMIT;
    }, 120_000, 100);

    expect(problems).toEqual([]);
    expect(statusWrites.size).toBeGreaterThan(VERSION_LIMIT);
    // The probe key (put + delete every 0.5 s) is excluded too, or the probe would have failed.
    expect(auditLines(runtime, 'collector.storage.switch')).toEqual([]);
    expect(auditLines(runtime, 'collector.leader.degraded')).toEqual([]);
    expect(runtime.output()).not.toContain('MaxVersionsExceeded');
    expect(((await healthOf(runtime)) as { storage?: unknown } | null)?.storage).toMatchObject({ primary: 'up', secondary: 'idle', cause: null });
  });

  it('bootstrapped without the exclusions (the old set-up): the refusal shows as MaxVersionsExceeded in the switch audit, /health and the page', { timeout: 120_000 }, async () => {
    minio = await startMinio({ env: { MINIO_API_OBJECT_MAX_VERSIONS: String(VERSION_LIMIT) }, excludeChurny: false });
    runtime = await holderOn(minio);
    await waitForHolder(runtime, 30_000);
    const rt = runtime;
    const switched = await waitForAudit(rt, 'collector.storage.switch', { to: 'secondary', cause: 'MaxVersionsExceeded' }, 60_000);
    expect(String(switched.reason)).toContain('MaxVersionsExceeded');
    // The lease is the primary's alone: its renew is refused with the same code, never "unreachable".
    const degraded = await waitForAudit(rt, 'collector.leader.degraded', {}, 30_000);
    expect(String(degraded.reason)).toContain('MaxVersionsExceeded');
    // While down, the cause follows the newest failure; it is the S3 code, never a bare "down".
    const health = await waitFor('/health to say why the primary is down', async () => {
      const h = (await healthOf(rt)) as { storage: { primary: string; cause: string | null } } | null;
      return h?.storage.primary === 'down' && h;
    }, 10_000);
    expect(health.storage.cause).toBe('MaxVersionsExceeded');
    const page = await (await fetch(`${rt.url}/ui/partials/main`)).text();
    expect(page).toContain('MaxVersionsExceeded');
    for (const line of auditLines(rt, 'collector.storage.switch').filter((l) => l.to === 'secondary')) expect(line.cause).not.toBe('network');
  });
});
