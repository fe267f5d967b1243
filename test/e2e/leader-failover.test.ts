// test/e2e/leader-failover.test.ts
// Two real runtimes on one real MinIO: one holder for a minute, kill -9 failover, handover, partition, SIGTERM, clock skew.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { leaseDocSchema } from '../../runtime/lease.ts';
import { readAllStatus } from '../../runtime/status.ts';
import { e2eCluster, type E2eCluster } from '../helpers/e2e-cluster.ts';
import { healthOf, sleep, waitFor, waitForAudit, waitForHolder, type LeaderHealth } from '../helpers/lease-probe.ts';
import type { RuntimeProcess } from '../helpers/runtime-process.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { LEASE_KEY } from '../../runtime/keys.ts';

const LEASE_S = 3;
const HEARTBEAT_S = 0.5;
/** The bound for a takeover after the holder dies: a whole lease plus two beats. */
const FAILOVER_BOUND_MS = (LEASE_S + 2 * HEARTBEAT_S) * 1000;
/** What we allow on top for polling, process start-up of the request and a shared 2-core machine. */
const SLACK_MS = 1_000;
const SKEW_MS = 10 * 60_000;

// Item 6 (clock skew) runs through every scenario: pc-a's wall clock is 10 minutes ahead, pc-b's
// 10 minutes behind. Any wall-clock comparison of the lease would fail the same bounds at once.
const minio = inject('minio');
let cluster: E2eCluster | undefined;
let proxy: TcpProxy;
let a: RuntimeProcess; // preferred leader, reaches MinIO through the proxy (item 5)
let b: RuntimeProcess;

const store = () => cluster!.store();
const readLease = async () => leaseDocSchema.parse(JSON.parse((await store().get(LEASE_KEY)).body.toString()));
const describeHealth = (h: LeaderHealth | null) => (h ? `${h.host}:${h.leader.self ? 'self' : '-'}@${h.leader.epoch}${h.leader.degraded ? '(degraded)' : ''}` : 'down');

beforeAll(async () => {
  const target = new URL(minio.endpoint);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  cluster = await e2eCluster({
    minio,
    name: 'lease-e2e',
    hosts: ['pc-a', 'pc-b'],
    start: 'parallel',
    timings: { leaseSeconds: LEASE_S, heartbeatSeconds: HEARTBEAT_S },
    env: { BTC_TS_PREFERRED_LEADER: 'pc-a' },
    hostEnv: {
      'pc-a': { BTC_TS_S3_ENDPOINT: proxy.url, BTC_TS_TEST_CLOCK_SKEW_MS: String(SKEW_MS) },
      'pc-b': { BTC_TS_TEST_CLOCK_SKEW_MS: String(-SKEW_MS) },
    },
  });
  [a, b] = cluster.runtimes as [RuntimeProcess, RuntimeProcess];
}, 300_000);

afterAll(async () => {
  try {
    await cluster?.dispose();
  } finally {
    await proxy?.close();
  }
});

describe('leader lease with two runtimes (lease 3 s, heartbeat 0.5 s, clocks ±10 min apart)', () => {
  it('1: exactly one holder at every poll of both /health for a whole minute', async () => {
    // Start-up: whoever wins first, the preferred pc-a ends up holding (maybe through a handover).
    await waitFor('pc-a to hold the lease, seen by pc-b', async () => (await healthOf(a))?.leader.self && (await healthOf(b))?.leader.host === 'pc-a', 20_000);
    const lease = await readLease();
    // The skew is really applied: pc-a writes its wall clock into heartbeat_ms, 10 minutes ahead.
    expect(Math.abs(lease.heartbeat_ms - (Date.now() + SKEW_MS))).toBeLessThan(60_000);

    let polls = 0;
    const bad: string[] = [];
    const end = performance.now() + 60_000;
    while (performance.now() < end) {
      const started = performance.now();
      const ha = await healthOf(a);
      const hb = await healthOf(b);
      polls++;
      const holders = [ha, hb].filter((h) => h?.leader.self).length;
      const agree = ha && hb && ha.leader.host === hb.leader.host && ha.leader.epoch === hb.leader.epoch;
      if (holders !== 1 || !agree) bad.push(`${describeHealth(ha)} ${describeHealth(hb)}`);
      await sleep(Math.max(0, 100 - (performance.now() - started)));
    }
    expect(bad).toEqual([]);
    expect(polls).toBeGreaterThan(300);
    // What `runtime status` shows, read from the NAS: the same single leader from both hosts.
    const { hosts } = await readAllStatus(store());
    const leaderOf = (host: string) => hosts.find((h) => h.host === host)?.leader;
    expect(leaderOf('pc-a')).toMatchObject({ host: 'pc-a', active: true, epoch: lease.epoch });
    expect(leaderOf('pc-b')).toMatchObject({ host: 'pc-a', active: false, epoch: lease.epoch });
    expect(Number.isNaN(Date.parse(leaderOf('pc-a')!.since!))).toBe(false);
  }, 90_000);

  let epochBeforeKill = 0;
  it('2: kill -9 of the holder: the other holds within lease + 2 × heartbeat, epoch + 1', async () => {
    epochBeforeKill = (await healthOf(b))!.leader.epoch;
    const killedAt = performance.now();
    await a.kill9();
    const taken = await waitForHolder(b, 15_000);
    const elapsed = performance.now() - killedAt;
    console.log(`[leader e2e] kill -9 → pc-b holds after ${Math.round(elapsed)} ms (bound ${FAILOVER_BOUND_MS} ms)`);
    expect(taken.leader.epoch).toBe(epochBeforeKill + 1);
    expect(elapsed).toBeLessThan(FAILOVER_BOUND_MS + SLACK_MS);
    // Not before the dead holder's lease could have run out on pc-b's own clock.
    expect(elapsed).toBeGreaterThan((LEASE_S - HEARTBEAT_S) * 1000 - 200);
    await waitForAudit(b, 'collector.leader.stale_detected', { host: 'pc-a', epoch: epochBeforeKill });
  }, 30_000);

  it('3: the preferred host restarts and gets the lease back through a handover, never two holders', async () => {
    await a.restart();
    const seen: string[] = [];
    let both = 0;
    await waitFor(
      'pc-a to hold again',
      async () => {
        // New holder first, old holder second: if pc-a already says self, pc-b must have let go before.
        const ha = await healthOf(a);
        const hb = await healthOf(b);
        seen.push(`${describeHealth(ha)} ${describeHealth(hb)}`);
        if (ha?.leader.self && hb?.leader.self) both++;
        return ha?.leader.self && ha;
      },
      20_000,
      100,
    );
    expect(both, seen.join('\n')).toBe(0);
    expect((await healthOf(a))!.leader.epoch).toBe(epochBeforeKill + 2);
    await waitForAudit(b, 'collector.leader.release', { epoch: epochBeforeKill + 1, reason: 'handover to pc-a' });
    await waitForAudit(a, 'collector.leader.acquire', { epoch: epochBeforeKill + 2, reason: 'handover', previous_host: 'pc-b' });
  }, 40_000);

  it('5: partition: the cut-off holder goes degraded, the other takes over after the lease, the old one steps down and audits the overlap', async () => {
    const held = (await healthOf(a))!.leader.epoch;
    const cutAt = performance.now();
    proxy.cut();
    await waitFor('pc-a degraded but still holding', async () => {
      const h = await healthOf(a);
      return h?.leader.self && h.leader.degraded;
    }, 10_000);
    const taken = await waitForHolder(b, 15_000);
    const elapsed = performance.now() - cutAt;
    console.log(`[leader e2e] partition → pc-b holds after ${Math.round(elapsed)} ms`);
    expect(taken.leader.epoch).toBe(held + 1);
    expect(elapsed).toBeLessThan(FAILOVER_BOUND_MS + SLACK_MS);
    // Still cut off, pc-a keeps its role: nobody could have told it otherwise through the NAS.
    expect((await healthOf(a))!.leader).toMatchObject({ self: true, degraded: true, epoch: held });

    proxy.restore();
    await waitFor('pc-a to step down', async () => (await healthOf(a))?.leader.self === false, 15_000);
    const overlap = await waitForAudit(a, 'collector.leader.overlap', { epoch: held, other_host: 'pc-b', other_epoch: held + 1 });
    expect(Date.parse(overlap.to as string)).toBeGreaterThan(Date.parse(overlap.from as string));
    await waitForAudit(a, 'collector.leader.release', { epoch: held, reason: /^lost: taken by pc-b/ });
    // Healed, the preferred host asks for the lease back and gets it.
    await waitFor('pc-a to hold after the partition', async () => (await healthOf(a))?.leader.self, 15_000);
    expect((await healthOf(b))!.leader.self).toBe(false);
  }, 60_000);

  it('SIGTERM: the holder releases on the way out, the standby takes over at its next beat, not after a lease', async () => {
    const holder = (await healthOf(a))!.leader;
    expect(holder.self).toBe(true);
    const held = holder.epoch;
    const stoppedAt = performance.now();
    await a.stop();
    const taken = await waitForHolder(b, 10_000);
    const elapsed = performance.now() - stoppedAt;
    console.log(`[leader e2e] SIGTERM → pc-b holds after ${Math.round(elapsed)} ms`);
    expect(taken.leader.epoch).toBe(held + 1);
    expect(elapsed).toBeLessThan(LEASE_S * 1000); // a wait-it-out failover could not be this fast
    await waitForAudit(a, 'collector.leader.release', { epoch: held, reason: 'shutdown' });
    await waitForAudit(b, 'collector.leader.acquire', { epoch: held + 1, reason: 'released', previous_host: 'pc-a' });
  }, 30_000);
});
