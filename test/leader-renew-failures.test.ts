// test/leader-renew-failures.test.ts
// What a lease holder does when its renew fails (412, a real 4xx from MinIO) and after its PC slept (wall-clock jump), in-process on a real MinIO.

import { afterEach, describe, expect, inject, it } from 'vitest';
import { requireLease } from '../runtime/lease.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { events, leaseCallSpy, leaseDoc, leaseRuntimes } from './helpers/lease-inproc.ts';
import { freshBucket } from './helpers/lease-probe.ts';
import { LEASE_KEY } from '../runtime/keys.ts';

const LEASE_S = 3;
const HEARTBEAT_S = 0.5;
const LEASE_MS = LEASE_S * 1000;
const HOUR_MS = 3_600_000;
const { runtimeOn, dispose } = leaseRuntimes({ leaseSeconds: LEASE_S, heartbeatSeconds: HEARTBEAT_S });
const minio = inject('minio');

afterEach(dispose);

/** A fresh bucket on the test MinIO; `wrongSecret` gives a store whose every request MinIO refuses with a 403. */
async function primaryOnMinio() {
  const bucket = await freshBucket(minio, 'lease-fail');
  const s3 = (secretAccessKey = minio.secretKey) =>
    createS3Store({ endpoint: minio.endpoint, bucket, accessKeyId: minio.accessKey, secretAccessKey, maxAttempts: 1 });
  return { store: s3(), wrongSecret: () => s3(`${minio.secretKey}-rotated`) };
}

/** pc-a (its lease calls spied) holding epoch 1, pc-b following, both on one real MinIO bucket. */
async function holderAndFollower() {
  const primary = await primaryOnMinio();
  const spy = leaseCallSpy(primary.store);
  const a = await runtimeOn(spy.store, 'pc-a');
  spy.watch(a.runtime.lease);
  const b = await runtimeOn(primary.store, 'pc-b');
  expect((await a.beat()).action).toBe('acquired');
  a.clock.advance(500);
  expect((await a.beat()).action).toBe('renewed');
  expect((await b.beat()).action).toBe('following'); // pc-b's staleness clock starts on the latest ETag
  spy.take();
  return { primary, spy, a, b };
}

describe('lease renew failures (in-process, real MinIO)', () => {
  it('412 on renew (another host wrote the lease between renews): collection stops before the read, then the holder steps down', async () => {
    const { primary, spy, a } = await holderAndFollower();
    const ours = await leaseDoc(primary.store);
    // "Another host" rewrites the lease unconditionally (an operator, a PC with a broken clock):
    // our next If-Match renew gets MinIO's real 412.
    await primary.store.put(LEASE_KEY, JSON.stringify({ ...ours, host: 'pc-x', pid: 1, epoch: 2 }));
    a.clock.advance(500);
    expect(await a.beat()).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-x', epoch: 2 });
    // The renew went out while collecting (normal); the read that follows the 412 only after collection stopped.
    expect(spy.take()).toEqual([
      { op: 'put', holder: true },
      { op: 'get', holder: false },
    ]);
    expect(() => requireLease(a.runtime.lease)).toThrow(/not the lease holder/);
    expect(events(a.runtime, 'collector.leader.release')[0]!.payload).toMatchObject({ epoch: 1, reason: 'lost: taken by pc-x at epoch 2', cause: 'PreconditionFailed' });
    // Within its own lease nobody could have taken it by the stale rule: no overlap to report.
    expect(events(a.runtime, 'collector.leader.overlap')).toHaveLength(0);
  });

  it('412 on renew and the read that should say why is refused: collection stays stopped, the next beat reads again and steps down', async () => {
    const { primary, spy, a } = await holderAndFollower();
    const ours = await leaseDoc(primary.store);
    await primary.store.put(LEASE_KEY, JSON.stringify({ ...ours, host: 'pc-x', pid: 1, epoch: 2 }));
    spy.denyReadsWith(primary.wrongSecret());
    a.clock.advance(500);
    // The 412 proves the lease moved: no collecting on a guess while we cannot read who holds it.
    expect(await a.beat()).toMatchObject({ action: 'paused', holder: false, degraded: true, epoch: 1 });
    expect(events(a.runtime, 'collector.leader.degraded')[0]!.payload).toMatchObject({ epoch: 1, cause: 'SignatureDoesNotMatch' });
    spy.denyReadsWith(null);
    a.clock.advance(500);
    expect(await a.beat()).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-x', epoch: 2 });
    expect(spy.take().filter((c) => c.holder)).toEqual([{ op: 'put', holder: true }]); // only the first renew went out while collecting
    expect(events(a.runtime, 'collector.leader.resumed')).toHaveLength(0);
  });

  it('a holder stalled for a whole lease stops collecting before its renew; the 412 then steps it down and audits the overlap', async () => {
    const { spy, a, b } = await holderAndFollower();
    const lastRenewWall = a.clock.now();
    b.clock.advance(LEASE_MS);
    expect(await b.beat()).toMatchObject({ action: 'acquired', epoch: 2 });
    a.clock.advance(LEASE_MS); // the process stalled: both clocks moved, no beat ran
    expect(await a.beat()).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-b', epoch: 2 });
    expect(spy.take()).toEqual([
      { op: 'put', holder: false },
      { op: 'get', holder: false },
    ]);
    const overlap = events(a.runtime, 'collector.leader.overlap')[0]!.payload;
    expect(overlap).toMatchObject({ epoch: 1, other_host: 'pc-b', other_epoch: 2, cause: 'PreconditionFailed' });
    expect(Date.parse(overlap.from as string)).toBe(lastRenewWall + LEASE_MS);
    expect(overlap).not.toHaveProperty('suspended_from');
  });

  it('a renew refused with a real 403 from MinIO: degraded with the S3 code while the lease is still ours, steps down at once when another host holds a newer epoch', async () => {
    const { primary, spy, a, b } = await holderAndFollower();
    spy.denyPutsWith(primary.wrongSecret());
    a.clock.advance(500);
    const degraded = await a.beat();
    expect(degraded).toMatchObject({ action: 'degraded', holder: true, degraded: true, epoch: 1 });
    expect(degraded.detail).toMatch(/SignatureDoesNotMatch/);
    // Refused, not cut off: the holder reads the lease at once to see whether it is still its own.
    expect(spy.take()).toEqual([
      { op: 'put', holder: true },
      { op: 'get', holder: true },
    ]);
    expect(events(a.runtime, 'collector.leader.degraded')[0]!.payload).toMatchObject({ epoch: 1, cause: 'SignatureDoesNotMatch' });

    // Its renews keep failing, so pc-b sees the ETag stand still for a lease and takes epoch 2.
    b.clock.advance(LEASE_MS);
    expect(await b.beat()).toMatchObject({ action: 'acquired', epoch: 2 });
    // pc-a's very next beat (half a second later, nowhere near the end of its own lease) steps down.
    a.clock.advance(500);
    expect(await a.beat()).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-b', epoch: 2, degraded: false });
    expect([a.runtime.lease.holder, b.runtime.lease.holder]).toEqual([false, true]);
    expect(events(a.runtime, 'collector.leader.release')[0]!.payload).toMatchObject({ epoch: 1, reason: 'lost: taken by pc-b at epoch 2', cause: 'SignatureDoesNotMatch' });
    // It collected into the cache while degraded, so the window is reported.
    expect(events(a.runtime, 'collector.leader.overlap')[0]!.payload).toMatchObject({ epoch: 1, other_host: 'pc-b', other_epoch: 2, cause: 'SignatureDoesNotMatch' });
  });

  it('a renew refused with a 4xx while the lease is still ours: stays the degraded holder, recovers on the next good renew', async () => {
    const { primary, spy, a } = await holderAndFollower();
    spy.denyPutsWith(primary.wrongSecret());
    for (let i = 0; i < 3; i++) {
      a.clock.advance(500);
      expect(await a.beat()).toMatchObject({ action: 'degraded', holder: true, epoch: 1 });
    }
    expect(events(a.runtime, 'collector.leader.degraded')).toHaveLength(1); // once per cause, not per beat
    spy.denyPutsWith(null);
    a.clock.advance(500);
    expect(await a.beat()).toMatchObject({ action: 'renewed', holder: true, degraded: false });
    expect(events(a.runtime, 'collector.leader.recovered')[0]!.payload).toMatchObject({ epoch: 1, cause: 'SignatureDoesNotMatch' });
  });
});

describe('suspend and wall-clock jumps (in-process, real MinIO)', () => {
  it('a PC that slept an hour while the other took the lease: collection stops before the renew, the 412 overlap names the suspended range, never two holders', async () => {
    const { spy, a, b } = await holderAndFollower();
    const lastBeatWall = a.clock.now();
    const lastRenewWall = a.clock.now();
    // pc-a sleeps: its wall clock moves an hour, its monotonic clock stands still (as on a real
    // suspend). pc-b, awake, sees the ETag stand still for a lease and takes over.
    a.clock.advanceWall(HOUR_MS);
    b.clock.advance(LEASE_MS);
    expect(await b.beat()).toMatchObject({ action: 'acquired', epoch: 2 });
    const wokeWall = a.clock.now();

    const beat = a.beat();
    // Synchronously, before the heartbeat's first await: pc-a no longer collects.
    expect([a.runtime.lease.holder, b.runtime.lease.holder]).toEqual([false, true]);
    expect(await beat).toMatchObject({ action: 'stepped_down', holder: false, leader: 'pc-b', epoch: 2 });
    expect(spy.take()).toEqual([
      { op: 'put', holder: false },
      { op: 'get', holder: false },
    ]);
    expect([a.runtime.lease.holder, b.runtime.lease.holder]).toEqual([false, true]);
    const overlap = events(a.runtime, 'collector.leader.overlap')[0]!.payload;
    expect(overlap).toMatchObject({
      host: 'pc-a',
      epoch: 1,
      other_host: 'pc-b',
      other_epoch: 2,
      cause: 'PreconditionFailed',
      suspended_from: new Date(lastBeatWall).toISOString(),
      suspended_to: new Date(wokeWall).toISOString(),
    });
    expect(Date.parse(overlap.from as string)).toBe(lastRenewWall + LEASE_MS);
    expect(Date.parse(overlap.to as string)).toBe(wokeWall);
    // Afterwards pc-a follows pc-b's lease like any follower.
    a.clock.advance(500);
    b.clock.advance(500);
    expect((await b.beat()).action).toBe('renewed');
    expect(await a.beat()).toMatchObject({ action: 'following', holder: false, leader: 'pc-b' });
  });

  it('a PC that slept while nobody took the lease pauses collection until its renew succeeds, then resumes', async () => {
    const primary = await primaryOnMinio();
    const spy = leaseCallSpy(primary.store);
    const a = await runtimeOn(spy.store, 'pc-a');
    spy.watch(a.runtime.lease);
    await a.beat();
    const lastBeatWall = a.clock.now();
    a.clock.advanceWall(HOUR_MS);
    expect(await a.beat()).toMatchObject({ action: 'renewed', holder: true, epoch: 1 });
    expect(spy.take()).toEqual([
      { op: 'get', holder: false }, // the acquire's read of the absent lease
      { op: 'put', holder: false }, // the acquire
      { op: 'put', holder: false }, // the renew after waking, sent with collection stopped
    ]);
    expect(events(a.runtime, 'collector.leader.resumed')[0]!.payload).toMatchObject({
      epoch: 1,
      reason: 'suspended',
      suspended_from: new Date(lastBeatWall).toISOString(),
      suspended_to: new Date(lastBeatWall + HOUR_MS).toISOString(),
    });
    expect(events(a.runtime, 'collector.leader.release')).toHaveLength(0);
  });

  it('an NTP step smaller than the lease, forward or back, changes nothing', async () => {
    const { spy, a, b } = await holderAndFollower();
    for (const stepMs of [LEASE_MS - 500, -5 * 60_000, 2_000]) {
      a.clock.advance(500);
      a.clock.advanceWall(stepMs);
      b.clock.advance(500);
      expect(await a.beat()).toMatchObject({ action: 'renewed', holder: true, epoch: 1 });
      expect((await b.beat()).action).toBe('following');
    }
    expect(spy.take().every((c) => c.holder)).toBe(true);
    for (const event of ['collector.leader.resumed', 'collector.leader.overlap', 'collector.leader.release', 'collector.leader.degraded']) {
      expect(events(a.runtime, event), event).toHaveLength(0);
    }
  });
});
