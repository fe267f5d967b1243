// test/e2e/leader-race.test.ts
// Three real runtimes started at the same instant on one MinIO, 20 rounds: exactly one wins the lease each round.

import { beforeAll, describe, expect, inject, it } from 'vitest';
import { LEASE_KEY } from '../../runtime/lease.ts';
import { createS3Store } from '../../runtime/store/s3.ts';
import { auditLines, freshBucket, healthOf, leaseEnv, sleep, waitFor } from '../helpers/lease-probe.ts';
import { spawnRuntime, type RuntimeProcess } from '../helpers/runtime-process.ts';

const ROUNDS = 20;
const SKEW_MS = 10 * 60_000;
const minio = inject('minio');
let bucket: string;

beforeAll(async () => {
  bucket = await freshBucket(minio, 'lease-race');
});

describe('three runtimes racing for the lease (lease 3 s, heartbeat 0.5 s)', () => {
  it(`one winner in each of ${ROUNDS} rounds, whether the lease is absent or released`, async () => {
    const store = createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
    const timings = { leaseSeconds: 3, heartbeatSeconds: 0.5 };
    const winners: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Even rounds race on create-only (absent lease); odd rounds on ifMatch of the lease the last
      // round's holder released at SIGTERM. One runtime per round runs 10 minutes off (item 6).
      if (round % 2 === 0) await store.delete(LEASE_KEY);
      const skew = round % 4 < 2 ? SKEW_MS : -SKEW_MS;
      const runtimes: RuntimeProcess[] = await Promise.all(
        ['r1', 'r2', 'r3'].map((name, i) =>
          spawnRuntime({
            host: `${name}-round${round}`,
            env: leaseEnv(minio, minio.endpoint, bucket, timings, i === round % 3 ? { BTC_TS_TEST_CLOCK_SKEW_MS: String(skew) } : {}),
          }),
        ),
      );
      try {
        await waitFor(`round ${round}: a holder`, async () => (await Promise.all(runtimes.map((r) => healthOf(r)))).some((h) => h?.leader.self), 15_000);
        // Let every candidate beat a few more times, then count holders and acquisitions.
        for (let poll = 0; poll < 5; poll++) {
          const health = await Promise.all(runtimes.map((r) => healthOf(r)));
          const holders = health.filter((h) => h?.leader.self).map((h) => h!.host);
          expect(holders, `round ${round} poll ${poll}`).toHaveLength(1);
          await sleep(100);
        }
        const acquiresNow = () => runtimes.flatMap((r) => auditLines(r, 'collector.leader.acquire').map(() => r.host));
        await waitFor(`round ${round}: the winner's acquire line`, async () => acquiresNow().length > 0, 5_000);
        const acquires = acquiresNow();
        expect(acquires, `round ${round}: acquire events`).toHaveLength(1);
        winners.push(acquires[0]!);
      } finally {
        await Promise.all(runtimes.map((r) => r.dispose()));
      }
    }
    console.log(`[leader race] winners: ${winners.map((w) => w.split('-')[0]).join(' ')}`);
    expect(winners).toHaveLength(ROUNDS);
  }, 420_000); // 60 process starts: ~75 s on an idle 2-core box, far more when it is shared
});
