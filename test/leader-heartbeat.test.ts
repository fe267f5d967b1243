// test/leader-heartbeat.test.ts
// The lease state machine in-process: two or three runtimes on one real FsStore primary, clocks moved by hand.

import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { isBtcError } from '../runtime/errors.ts';
import { requireLease } from '../runtime/lease.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { leaseDoc, leaseRuntimes, events } from './helpers/lease-inproc.ts';
import { freshBucket } from './helpers/lease-probe.ts';
import { startTcpProxy } from './helpers/tcp-proxy.ts';
import { LEASE_KEY } from '../runtime/keys.ts';

const LEASE_S = 3;
const HEARTBEAT_S = 0.5;
const { runtimeOn, tempDir, dispose } = leaseRuntimes({ leaseSeconds: LEASE_S, heartbeatSeconds: HEARTBEAT_S });

afterEach(dispose);

describe('leader-heartbeat (in-process, FsStore primary)', () => {
  it('acquires an absent lease once, renews on its own ETag, and the other follows', async () => {
    const primary = createFsStore({ root: tempDir() });
    const a = await runtimeOn(primary, 'pc-a');
    const b = await runtimeOn(primary, 'pc-b');
    expect((await a.beat()).action).toBe('acquired');
    expect((await b.beat()).action).toBe('following');
    expect(a.runtime.lease).toMatchObject({ holder: true, epoch: 1, leaderHost: 'pc-a' });
    expect(b.runtime.lease).toMatchObject({ holder: false, epoch: 1, leaderHost: 'pc-a' });
    for (let i = 0; i < 5; i++) {
      a.clock.advance(500);
      b.clock.advance(500);
      expect((await a.beat()).action).toBe('renewed');
      expect((await b.beat()).action).toBe('following');
    }
    expect(requireLease(a.runtime.lease)).toBe(1);
    expect(() => requireLease(b.runtime.lease)).toThrow(/not the lease holder/);
    expect(events(a.runtime, 'collector.leader.acquire')[0]!.payload).toMatchObject({ host: 'pc-a', epoch: 1, reason: 'absent' });
    expect(a.runtime.status.current().leader).toMatchObject({ host: 'pc-a', active: true, epoch: 1 });
    expect(b.runtime.status.current().leader).toMatchObject({ host: 'pc-a', active: false, epoch: 1 });
  });

  it('takes over only after the ETag stood still for a whole lease on the candidate\'s own clock, whatever the wall clocks say', async () => {
    const primary = createFsStore({ root: tempDir() });
    // The holder's wall clock is 10 minutes ahead, the candidate's 10 minutes behind: a wall-clock
    // comparison would call the lease fresh for 20 minutes; the monotonic rule does not care.
    const a = await runtimeOn(primary, 'pc-a', { skewMs: 10 * 60_000 });
    const b = await runtimeOn(primary, 'pc-b', { skewMs: -10 * 60_000 });
    await a.beat();
    await b.beat(); // first sight of this ETag
    b.clock.advance(LEASE_S * 1000 - 1);
    expect((await b.beat()).action).toBe('following'); // one ms short of a lease: not stale
    b.clock.advance(1);
    const taken = await b.beat();
    expect(taken).toMatchObject({ action: 'acquired', holder: true, epoch: 2 });
    expect(events(b.runtime, 'collector.leader.stale_detected')[0]!.payload).toMatchObject({ host: 'pc-a', epoch: 1 });
    // The old holder's next renew is refused: it steps down at once.
    const lost = await a.beat();
    expect(lost).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-b', epoch: 2 });
    expect(events(a.runtime, 'collector.leader.release')[0]!.payload.reason).toMatch(/lost: taken by pc-b at epoch 2/);
    expect((await leaseDoc(primary)).epoch).toBe(2);
  });

  it('a renew that keeps the ETag moving keeps the lease, however long the candidate watches', async () => {
    const primary = createFsStore({ root: tempDir() });
    const a = await runtimeOn(primary, 'pc-a');
    const b = await runtimeOn(primary, 'pc-b');
    await a.beat();
    for (let i = 0; i < 40; i++) {
      a.clock.advance(500);
      b.clock.advance(500);
      await a.beat();
      expect((await b.beat()).action).toBe('following');
    }
  });

  it('hands over to the preferred leader: the holder stops, writes released, the preferred one takes epoch + 1', async () => {
    const primary = createFsStore({ root: tempDir() });
    const q = await runtimeOn(primary, 'pc-q', { preferred: 'pc-p' });
    const p = await runtimeOn(primary, 'pc-p', { preferred: 'pc-p' });
    await q.beat();
    const steps: string[] = [];
    const bothHold = () => q.runtime.lease.holder && p.runtime.lease.holder;
    for (let i = 0; i < 6 && !p.runtime.lease.holder; i++) {
      steps.push(`p:${(await p.beat()).action}`);
      expect(bothHold()).toBe(false);
      steps.push(`q:${(await q.beat()).action}`);
      expect(bothHold()).toBe(false);
    }
    expect(steps.slice(0, 4)).toEqual(['p:handover_requested', 'q:released', 'p:acquired', 'q:following']);
    expect(p.runtime.lease).toMatchObject({ holder: true, epoch: 2 });
    expect(events(q.runtime, 'collector.leader.release')[0]!.payload).toMatchObject({ host: 'pc-q', epoch: 1, reason: 'handover to pc-p' });
    expect(events(p.runtime, 'collector.leader.acquire')[0]!.payload).toMatchObject({ epoch: 2, reason: 'handover', previous_host: 'pc-q' });
    // The preferred holder keeps it: no further requests, plain renews.
    expect((await p.beat()).action).toBe('renewed');
    expect((await q.beat()).action).toBe('following');
  });

  it('releases on shutdown so the standby takes the lease at its next beat', async () => {
    const primary = createFsStore({ root: tempDir() });
    const a = await runtimeOn(primary, 'pc-a');
    const b = await runtimeOn(primary, 'pc-b');
    await a.beat();
    await b.beat();
    await a.runtime.shutdown();
    expect((await leaseDoc(primary)).released).toBe(true);
    expect(a.runtime.lease.holder).toBe(false);
    expect(await b.beat()).toMatchObject({ action: 'acquired', epoch: 2 });
    expect(events(b.runtime, 'collector.leader.acquire')[0]!.payload.reason).toBe('released');
  });

  it('three candidates racing for an absent lease: exactly one wins', async () => {
    const primary = createFsStore({ root: tempDir() });
    const all = await Promise.all(['pc-1', 'pc-2', 'pc-3'].map((h) => runtimeOn(primary, h)));
    const results = await Promise.all(all.map((r) => r.beat()));
    expect(results.filter((r) => r.action === 'acquired')).toHaveLength(1);
    expect(all.filter((r) => r.runtime.lease.holder)).toHaveLength(1);
  });

  it('a renew that timed out but landed is recognised as our own: resynced, not lost', async () => {
    const primary = createFsStore({ root: tempDir() });
    const a = await runtimeOn(primary, 'pc-a');
    await a.beat();
    // Simulate the late landing: the lease changes under us with our own host, pid and epoch.
    const doc = await leaseDoc(primary);
    await primary.put(LEASE_KEY, JSON.stringify({ ...doc, heartbeat_ms: doc.heartbeat_ms + 1 }));
    expect((await a.beat()).action).toBe('resynced');
    expect((await a.beat()).action).toBe('renewed');
    expect(events(a.runtime, 'collector.leader.release')).toHaveLength(0);
  });

  it('partition through a real TCP proxy to MinIO: degraded holder keeps the role, steps down on reconnect, audits the overlap', async () => {
    const minio = inject('minio');
    const bucket = await freshBucket(minio, 'lease-unit');
    const target = new URL(minio.endpoint);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    try {
      const s3 = (endpoint: string) => createS3Store({ endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey: minio.secretKey, maxAttempts: 1 });
      const a = await runtimeOn(s3(proxy.url), 'pc-a');
      const b = await runtimeOn(s3(minio.endpoint), 'pc-b');
      expect((await a.beat()).action).toBe('acquired');
      const lastRenewWall = a.clock.now();
      await b.beat();
      proxy.cut();
      a.clock.advance(500);
      expect(await a.beat()).toMatchObject({ action: 'degraded', holder: true, degraded: true });
      expect(a.runtime.lease).toMatchObject({ holder: true, degraded: true });
      b.clock.advance(LEASE_S * 1000);
      expect(await b.beat()).toMatchObject({ action: 'acquired', epoch: 2 });
      proxy.restore();
      a.clock.advance(LEASE_S * 1000);
      expect(await a.beat()).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-b', epoch: 2, degraded: false });
      const overlap = events(a.runtime, 'collector.leader.overlap')[0]!.payload;
      expect(overlap).toMatchObject({ host: 'pc-a', epoch: 1, other_host: 'pc-b', other_epoch: 2 });
      expect(Date.parse(overlap.from as string)).toBe(lastRenewWall + LEASE_S * 1000);
      expect(Date.parse(overlap.to as string)).toBe(a.clock.now());
      expect(events(a.runtime, 'collector.leader.degraded')).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a config whose lease is not more than two heartbeats, naming both keys', () => {
    try {
      loadConfig({ env: { BTC_TS_LEASE_SECONDS: '10', BTC_TS_HEARTBEAT_SECONDS: '5' } });
      expect.unreachable();
    } catch (err) {
      expect(isBtcError(err, 'InvalidInput')).toBe(true);
      expect((err as Error).message).toMatch(/lease\.leaseSeconds: leaseSeconds \(10\) must be more than 2 × lease\.heartbeatSeconds \(5\)/);
    }
  });
});
