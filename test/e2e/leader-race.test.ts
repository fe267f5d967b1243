// test/e2e/leader-race.test.ts
// Three real runtimes started at the same instant on one MinIO, 20 rounds: exactly one wins the lease each round.

import { describe, expect, inject, it } from 'vitest';
import { createS3Store } from '../../runtime/store/s3.ts';
import { auditLines, freshBucket, healthOf, leaseEnv, sleep, waitFor } from '../helpers/lease-probe.ts';
import { spawnRuntimes, type RuntimeProcess } from '../helpers/runtime-process.ts';
import { LEASE_KEY } from '../../runtime/keys.ts';

const ROUNDS = 20;
/** Per round: ms until all three answered /health, + ms until one said it holds (printed at the end). */
const timings: string[] = [];
/** Rounds run in two lanes at once, each on its own bucket: 60 process starts are the cost here. */
const LANES = 2;
const SKEW_MS = 10 * 60_000;
/**
 * Who wins a round never waits on the lease running out (an absent lease is created, a released one
 * taken at the next beat), so a longer lease costs nothing here. It only matters to a holder stalled
 * by a loaded machine (six starts on two shared cores): a renew timed out at a third of the lease,
 * or no beat for a whole lease, lets another runtime take over while the stalled one still says
 * self until its next beat. 6 s keeps such a stall from passing for a dead holder.
 */
const TIMINGS = { leaseSeconds: 6, heartbeatSeconds: 0.5 };
const minio = inject('minio');

/** One round: three runtimes started together on `bucket`; returns the one host that acquired. */
async function round(bucket: string, index: number, lease: 'absent' | 'released'): Promise<string> {
  const store = createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey });
  if (lease === 'absent') await store.delete(LEASE_KEY);
  // One runtime per round runs 10 minutes ahead or behind (item 6): nothing may change.
  const skew = index % 4 < 2 ? SKEW_MS : -SKEW_MS;
  const started = performance.now();
  const runtimes: RuntimeProcess[] = await spawnRuntimes(
    ['r1', 'r2', 'r3'].map((name, i) => ({
      host: `${name}-round${index}`,
      env: leaseEnv(minio, minio.endpoint, bucket, TIMINGS, i === index % 3 ? { BTC_TS_TEST_CLOCK_SKEW_MS: String(skew) } : {}),
    })),
  );
  try {
    const ready = performance.now();
    await waitFor(`round ${index}: a holder`, async () => (await Promise.all(runtimes.map((r) => healthOf(r)))).some((h) => h?.leader.self), 20_000);
    timings.push(`${index}${lease[0]}: ${Math.round(ready - started)}+${Math.round(performance.now() - ready)}`);
    // Let every candidate beat a few more times: still exactly one holder at each poll.
    for (let poll = 0; poll < 5; poll++) {
      const health = await Promise.all(runtimes.map((r) => healthOf(r)));
      const views = health.map((h, i) => (h ? `${h.host}: ${JSON.stringify(h.leader)}` : `${runtimes[i]!.host}: down`)).join('; ');
      expect(health.filter((h) => h?.leader.self).map((h) => h!.host), `round ${index} poll ${poll}: ${views}`).toHaveLength(1);
      await sleep(100);
    }
    const acquiresNow = () => runtimes.flatMap((r) => auditLines(r, 'collector.leader.acquire').map(() => r.host));
    await waitFor(`round ${index}: the winner's acquire line`, async () => acquiresNow().length > 0, 5_000);
    const acquires = acquiresNow();
    expect(acquires, `round ${index}: acquire events`).toHaveLength(1);
    return acquires[0]!;
  } finally {
    // SIGTERM: the holder releases, so the lane's next 'released' round races on ifMatch.
    await Promise.all(runtimes.map((r) => r.dispose()));
  }
}

describe('three runtimes racing for the lease (lease 6 s, heartbeat 0.5 s)', () => {
  it(`one winner in each of ${ROUNDS} rounds, whether the lease is absent or released`, async () => {
    const winners: string[] = [];
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        const bucket = await freshBucket(minio, `lease-race${lane}`);
        for (let index = lane; index < ROUNDS; index += LANES) {
          // Alternate within the lane: create-only race on an absent lease, then ifMatch race on
          // the lease the previous round's holder released at SIGTERM.
          const kind = ((index - lane) / LANES) % 2 === 0 ? 'absent' : 'released';
          winners[index] = await round(bucket, index, kind);
        }
      }),
    );
    console.log(`[leader race] winners: ${winners.map((w) => w.split('-')[0]).join(' ')}; start+holder ms per round (a: absent, r: released): ${timings.join(', ')}`);
    expect(winners.filter(Boolean)).toHaveLength(ROUNDS);
  }, 420_000); // 60 process starts: ~75 s on an idle 2-core box, far more when it is shared
});
