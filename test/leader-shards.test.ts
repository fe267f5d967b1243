// test/leader-shards.test.ts
// Shards of streams in-process: the stable stream → shard map, per-shard leases split by fair share, a survivor taking every shard after a lease, N refused while runtimes disagree; preferred placement (lease.preferredShards): config, handover after the settle time, no bounce.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { leaseDocSchema } from '../runtime/lease.ts';
import { shardLine } from '../runtime/collector/plan.ts';
import { fnv1a, preferredHosts, shardMap, shardOfStream, shardPlacement } from '../runtime/leader/shard-map.ts';
import { shardStateOf } from '../runtime/leader/shard-state.ts';
import type { Runtime } from '../runtime/context.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import type { ObjectStore } from '../runtime/store/types.ts';
import { events, leaseRuntimes } from './helpers/lease-inproc.ts';
import { LEASE_KEY, shardLeaseKey } from '../runtime/keys.ts';

const LEASE_S = 3;
const HEARTBEAT_S = 0.5;
const SHARDS = 4;
const { runtimeOn, tempDir, dispose } = leaseRuntimes({ leaseSeconds: LEASE_S, heartbeatSeconds: HEARTBEAT_S });

afterEach(dispose);

const held = (r: Runtime) => (shardStateOf(r.local)?.slots ?? []).filter((s) => s.view.holder).map((s) => s.shard);

async function shardDoc(primary: ObjectStore, k: number) {
  return leaseDocSchema.parse(JSON.parse((await primary.get(shardLeaseKey(k))).body.toString()));
}

/** Never two runtimes collecting one shard, as their views say right now. */
function assertOneHolderPerShard(runtimes: Runtime[]) {
  for (let k = 0; k < SHARDS; k++) {
    const holders = runtimes.filter((r) => shardStateOf(r.local)?.slots[k]!.view.holder).map((r) => r.host);
    expect(holders.length, `shard ${k} held by ${holders.join(',')}`).toBeLessThanOrEqual(1);
  }
}

describe('shard map', () => {
  const config = (streams: string, shards = 6) => {
    const file = path.join(tempDir(), 'app.yaml');
    writeFileSync(file, `collector:\n  streams:\n${streams}`);
    return loadConfig({ env: { BTC_TS_SHARDS: String(shards) }, file }).config;
  };

  it('hashes (exchange, topic, symbol) stably, honours a pin, and is 0 with one shard', () => {
    // FNV-1a 32-bit reference values ("" and "a"): the hash never changes between versions.
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    const streams = '    - { exchange: binance, topic: trades, symbols: [BTC/USDT, ETH/USDT] }\n    - { exchange: binance, topic: ticker, symbols: [BTC/USDT], shard: 5 }\n';
    const c = config(streams);
    const map = shardMap(c);
    expect(map).toHaveLength(3);
    const trades = map.find((m) => m.topic === 'trades' && m.symbol === 'BTC/USDT')!;
    expect(trades.shard).toBe(fnv1a('binance\ntrades\nBTC/USDT') % 6);
    expect(map.find((m) => m.topic === 'ticker')).toMatchObject({ shard: 5, pinned: true });
    expect(shardOfStream(config(streams), { exchange: 'binance', topic: 'trades', symbol: 'BTC/USDT' })).toBe(trades.shard);
    expect(shardOfStream(config('    - { exchange: binance, topic: trades, symbols: [BTC/USDT] }\n', 1), trades)).toBe(0);
  });

  it('refuses a pin outside 0 … shards − 1', () => {
    expect(() => config('    - { exchange: binance, topic: ticker, symbols: [BTC/USDT], shard: 6 }\n')).toThrow(/shard 6 does not exist: collector.shards is 6/);
  });
});

describe('sharded leases (in-process, FsStore primary)', () => {
  const env = { BTC_TS_SHARDS: String(SHARDS) };

  it('two runtimes split four shards 2/2 by handover, never two holders; a survivor takes all four a lease after the other stops', async () => {
    const primary = createFsStore({ root: tempDir() });
    const a = await runtimeOn(primary, 'pc-a', { env });
    const b = await runtimeOn(primary, 'pc-b', { env });
    const all = [a.runtime, b.runtime];
    const step = async () => {
      for (const r of [a, b]) {
        r.clock.advance(HEARTBEAT_S * 1000);
        await r.beat();
        assertOneHolderPerShard(all);
      }
    };
    // a alone first: its share is all four.
    await a.beat();
    expect(held(a.runtime)).toEqual([0, 1, 2, 3]);
    // b joins: it asks for one shard at a time until the split is even.
    for (let i = 0; i < 20 && held(b.runtime).length < 2; i++) await step();
    await step();
    expect(held(a.runtime)).toHaveLength(2);
    expect(held(b.runtime)).toHaveLength(2);
    expect(new Set([...held(a.runtime), ...held(b.runtime)]).size).toBe(4);
    const handed = events(b.runtime, 'collector.leader.acquire').filter((e) => e.payload.reason === 'handover');
    expect(handed).toHaveLength(2);
    expect(events(a.runtime, 'collector.leader.release').filter((e) => String(e.payload.reason).startsWith('handover to pc-b'))).toHaveLength(2);
    // Epochs per shard: each handed-over shard moved to epoch 2, the others stay at 1.
    const bShards = held(b.runtime);
    for (const k of bShards) expect((await shardDoc(primary, k))).toMatchObject({ host: 'pc-b', epoch: 2 });
    for (const k of held(a.runtime)) expect((await shardDoc(primary, k))).toMatchObject({ host: 'pc-a', epoch: 1 });
    // The one-lease key is untouched with shards.
    expect(await primary.getOrNull(LEASE_KEY)).toBeNull();
    // Steady: more beats change nothing.
    for (let i = 0; i < 6; i++) await step();
    expect(held(b.runtime)).toEqual(bShards);

    // b stops renewing (a crashed PC): a keeps its share until b's leases stand still for a lease on a's clock.
    let beats = 0;
    const stoppedAt = a.clock.monotonicMs();
    while (held(a.runtime).length < 4 && beats++ < 40) {
      a.clock.advance(HEARTBEAT_S * 1000);
      await a.beat();
      if (a.clock.monotonicMs() - stoppedAt < LEASE_S * 1000) expect(held(a.runtime)).toHaveLength(2);
    }
    expect(held(a.runtime)).toEqual([0, 1, 2, 3]);
    const tookAfterMs = a.clock.monotonicMs() - stoppedAt;
    expect(tookAfterMs).toBeGreaterThanOrEqual(LEASE_S * 1000);
    expect(tookAfterMs).toBeLessThanOrEqual(LEASE_S * 1000 + 2 * HEARTBEAT_S * 1000);
    for (const k of bShards) expect((await shardDoc(primary, k))).toMatchObject({ host: 'pc-a', epoch: 3 });
    expect(events(a.runtime, 'collector.leader.acquire').filter((e) => e.payload.reason === 'stale').map((e) => e.payload.shard).sort()).toEqual([...bShards].sort());
    // b wakes: its renews are refused and it steps down from both, never collecting next to a.
    b.clock.advance(HEARTBEAT_S * 1000);
    await b.beat();
    expect(held(b.runtime)).toEqual([]);
    assertOneHolderPerShard(all);
    // The status names every shard's holder with its epoch.
    const status = a.runtime.status.current() as unknown as { shards: { rows: Array<{ shard: number; host: string; epoch: number; self: boolean }> } };
    expect(status.shards.rows.map((r) => [r.shard, r.host, r.self])).toEqual([0, 1, 2, 3].map((k) => [k, 'pc-a', true]));
  });

  it('refuses to bid while another live runtime runs another shard count', async () => {
    const primary = createFsStore({ root: tempDir() });
    const a = await runtimeOn(primary, 'pc-a', { env });
    const b = await runtimeOn(primary, 'pc-b', { env: { BTC_TS_SHARDS: '2' } });
    await b.beat(); // b first, holding its two shards
    await a.beat();
    expect(held(a.runtime)).toEqual([]);
    expect(events(a.runtime, 'collector.shards.refused')[0]!.payload.reason).toMatch(/pc-b runs 2 shard\(s\)/);
    // b's runtime goes away (graceful): a bids once b's heartbeat object stood still for a lease.
    await b.runtime.invoker.invoke('leader-heartbeat', { action: 'release' });
    a.clock.advance(HEARTBEAT_S * 1000);
    await a.beat();
    expect(held(a.runtime)).toEqual([0, 1, 2, 3]);
  });
});

describe('preferred placement config (lease.preferredShards)', () => {
  const empty = () => {
    const file = path.join(tempDir(), 'app.yaml');
    writeFileSync(file, '');
    return file;
  };
  const load = (env: NodeJS.ProcessEnv) => loadConfig({ env: { BTC_TS_SHARDS: '4', ...env }, file: empty() });
  const errorOf = (env: NodeJS.ProcessEnv) => {
    try {
      load(env);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected a config error');
  };
  it('reads BTC_TS_PREFERRED_SHARDS="host=k,k;host=k" and maps shards to hosts', () => {
    const { config } = load({ BTC_TS_PREFERRED_SHARDS: 'pc-a=0, 1; pc-b=3', BTC_TS_PREFERRED_SETTLE_SECONDS: '20' });
    expect(config.lease.preferredShards).toEqual({ 'pc-a': [0, 1], 'pc-b': [3] });
    expect(config.lease.preferredSettleSeconds).toBe(20);
    expect(preferredHosts(config)).toEqual(['pc-a', 'pc-a', null, 'pc-b']);
    // whatif's streams line names each shard's preferred host.
    expect(shardLine(config)).toEqual(['4 shards: shard 0 (prefers pc-a): no streams | shard 1 (prefers pc-a): no streams | shard 2: no streams | shard 3 (prefers pc-b): no streams']);
  });

  it('names the bad key: a shard that does not exist, a shard two hosts prefer, a malformed value', () => {
    expect(errorOf({ BTC_TS_PREFERRED_SHARDS: 'pc-a=0;pc-b=2,4' })).toMatch(
      /lease\.preferredShards\.pc-b\.1: shard 4 does not exist: collector\.shards is 4 \(shards are 0 … 3\) \(from environment BTC_TS_PREFERRED_SHARDS\)/,
    );
    expect(errorOf({ BTC_TS_PREFERRED_SHARDS: 'pc-a=0,1;pc-b=1' })).toMatch(/lease\.preferredShards\.pc-b\.0: shard 1 is already preferred by pc-a/);
    expect(errorOf({ BTC_TS_PREFERRED_SHARDS: 'pc-a:0,1' })).toMatch(/lease\.preferredShards: host → list of shard numbers/);
    expect(errorOf({ BTC_TS_PREFERRED_SHARDS: 'pc-a=0,one' })).toMatch(/lease\.preferredShards\.pc-a\.1: /);
    expect(errorOf({ BTC_TS_PREFERRED_SETTLE_SECONDS: '-1' })).toMatch(/lease\.preferredSettleSeconds: /);
  });

  it('keeps BTC_TS_PREFERRED_LEADER for the one lease and refuses it with shards (and preferredShards without them)', () => {
    expect(loadConfig({ env: { BTC_TS_PREFERRED_LEADER: 'pc-a' }, file: empty() }).config.lease.preferredLeader).toBe('pc-a');
    expect(errorOf({ BTC_TS_PREFERRED_LEADER: 'pc-a' })).toMatch(
      /lease\.preferredLeader: preferredLeader \(pc-a\) is for the one lease, but collector\.shards is 4: .*BTC_TS_PREFERRED_SHARDS="pc-a=0,1".*\(from environment BTC_TS_PREFERRED_LEADER\)/,
    );
    expect(errorOf({ BTC_TS_SHARDS: '1', BTC_TS_PREFERRED_SHARDS: 'pc-a=0' })).toMatch(/lease\.preferredShards: preferredShards needs collector\.shards > 1/);
  });
});

describe('preferred placement (in-process, FsStore primary)', () => {
  // pc-a prefers three of four shards: one more than its fair share of two, which only the preference gives it.
  const SETTLE_S = 3;
  const env = { BTC_TS_SHARDS: String(SHARDS), BTC_TS_PREFERRED_SHARDS: 'pc-a=0,1,2', BTC_TS_PREFERRED_SETTLE_SECONDS: String(SETTLE_S) };
  const epochOf = async (primary: ObjectStore, k: number) => (await shardDoc(primary, k)).epoch;

  it('a settled preferred host gets its shards by handover and keeps them; a dead one loses them after a lease; one that keeps dying and returning does not make them bounce', async () => {
    const primary = createFsStore({ root: tempDir() });
    const b = await runtimeOn(primary, 'pc-b', { env });
    let pid = 1000;
    let a = await runtimeOn(primary, 'pc-a', { env, pid: ++pid });
    /** One beat of each runtime that is up, checking after every beat that no shard has two holders among them. */
    const step = async (up: Array<typeof a>) => {
      for (const r of up) {
        r.clock.advance(HEARTBEAT_S * 1000);
        await r.beat();
        assertOneHolderPerShard(up.map((x) => x.runtime));
      }
    };
    // pc-b alone takes all four.
    await b.beat();
    expect(held(b.runtime)).toEqual([0, 1, 2, 3]);

    // pc-a joins: its fair share (2) comes by the ordinary rebalancing, its own preferred shards first;
    // shard 2 (beyond its share) only once it has been live for the settle time.
    const joinedAt = a.clock.monotonicMs();
    let shard2At: number | null = null;
    for (let i = 0; i < 40 && shard2At === null; i++) {
      await step([a, b]);
      if (held(a.runtime).includes(2)) shard2At = a.clock.monotonicMs();
      else if (a.clock.monotonicMs() - joinedAt < SETTLE_S * 1000 && held(a.runtime).length === 2) expect(held(a.runtime)).toEqual([0, 1]);
    }
    expect(shard2At).not.toBeNull();
    expect(shard2At! - joinedAt).toBeGreaterThanOrEqual(SETTLE_S * 1000);
    expect(shard2At! - joinedAt).toBeLessThanOrEqual(SETTLE_S * 1000 + 4 * HEARTBEAT_S * 1000);
    await step([a, b]);
    expect(held(a.runtime)).toEqual([0, 1, 2]);
    expect(held(b.runtime)).toEqual([3]);
    // Every move was a handover: pc-b released each shard to pc-a, pc-a took it at epoch 2.
    expect(events(b.runtime, 'collector.leader.release').filter((e) => e.payload.reason === 'handover to pc-a').map((e) => e.payload.shard).sort()).toEqual([0, 1, 2]);
    for (const k of [0, 1, 2]) expect(await shardDoc(primary, k)).toMatchObject({ host: 'pc-a', epoch: 2 });
    // Steady: pc-b is below its share (1 of 2) but never asks for a shard pc-a is preferred for.
    for (let i = 0; i < 3 * (LEASE_S / HEARTBEAT_S); i++) await step([a, b]);
    expect(held(a.runtime)).toEqual([0, 1, 2]);
    expect(events(b.runtime, 'collector.leader.handover_request')).toHaveLength(0);
    // The status rows name each shard's preferred host and holder; pc-a says it has settled.
    const status = a.runtime.status.current() as unknown as { shards: { rows: Array<{ shard: number; host: string; preferred: string | null }>; preference: { shards: number[]; settled: boolean; flaps: number } } };
    expect(status.shards.rows.map((r) => [r.shard, r.preferred, r.host])).toEqual([
      [0, 'pc-a', 'pc-a'],
      [1, 'pc-a', 'pc-a'],
      [2, 'pc-a', 'pc-a'],
      [3, null, 'pc-b'],
    ]);
    expect(status.shards.preference).toMatchObject({ shards: [0, 1, 2], settled: true, flaps: 0 });
    // runtime whatif's table: shard → preferred host → the holder its lease names now.
    expect((await shardPlacement(a.runtime.loaded.config, primary)).map((p) => [p.shard, p.preferred, p.holder, p.epoch, p.released])).toEqual([
      [0, 'pc-a', 'pc-a', 2, false],
      [1, 'pc-a', 'pc-a', 2, false],
      [2, 'pc-a', 'pc-a', 2, false],
      [3, null, 'pc-b', 1, false],
    ]);

    // pc-a dies (kill -9: it simply stops): pc-b takes its three shards by the stale rule within T + 2h on pc-b's clock.
    const diedAt = b.clock.monotonicMs();
    while (held(b.runtime).length < 4 && b.clock.monotonicMs() - diedAt < 3 * LEASE_S * 1000) await step([b]);
    expect(held(b.runtime)).toEqual([0, 1, 2, 3]);
    expect(b.clock.monotonicMs() - diedAt).toBeGreaterThanOrEqual(LEASE_S * 1000);
    expect(b.clock.monotonicMs() - diedAt).toBeLessThanOrEqual(LEASE_S * 1000 + 2 * HEARTBEAT_S * 1000);
    let shard2Epoch = await epochOf(primary, 2);

    /** pc-a comes back as a new process, lives 4 s, and dies; pc-b takes back what it held after a lease. */
    const lifeOf4s = async () => {
      a = await runtimeOn(primary, 'pc-a', { env, pid: ++pid });
      const bornAt = a.clock.monotonicMs();
      let took2 = false;
      while (a.clock.monotonicMs() - bornAt < 4000) {
        await step([a, b]);
        took2 ||= held(a.runtime).includes(2);
      }
      const gone = b.clock.monotonicMs();
      while (held(b.runtime).length < 4 && b.clock.monotonicMs() - gone < 3 * LEASE_S * 1000) await step([b]);
      expect(held(b.runtime)).toEqual([0, 1, 2, 3]);
      return { took2, flap: events(a.runtime, 'collector.shards.preferred_flap').at(-1)?.payload ?? null };
    };
    // Its first life was long and healthy (over 4 settle times): it is forgiven, so back within
    // 4 s it is settled after 3 s and takes shard 2 back — then dies with it.
    const first = await lifeOf4s();
    expect(first).toEqual({ took2: true, flap: null });
    expect(await epochOf(primary, 2)).toBe(shard2Epoch + 2);
    shard2Epoch += 2;
    // Every later process finds the heartbeat object its predecessor left (it died soon after taking
    // shards back): one flap more, the settle time doubles (6 s, 12 s, 24 s), so shard 2 — the one
    // only the preference moves — now stays with pc-b however often pc-a comes back.
    for (let flaps = 1; flaps <= 3; flaps++) {
      const life = await lifeOf4s();
      expect(life.took2).toBe(false);
      expect(life.flap).toMatchObject({ host: 'pc-a', flaps, settle_ms: SETTLE_S * 1000 * 2 ** flaps });
    }
    expect(await epochOf(primary, 2)).toBe(shard2Epoch);

    // It returns for good: after its doubled settle time (capped at 16 × the base) it asks for shard 2 again, once.
    a = await runtimeOn(primary, 'pc-a', { env, pid: ++pid });
    const backAt = a.clock.monotonicMs();
    const settleMs = SETTLE_S * 1000 * 16;
    await step([a, b]);
    expect(events(a.runtime, 'collector.shards.preferred_flap').at(-1)?.payload).toMatchObject({ flaps: 4, settle_ms: settleMs });
    while (!held(a.runtime).includes(2) && a.clock.monotonicMs() - backAt < settleMs + 10 * HEARTBEAT_S * 1000) {
      await step([a, b]);
      if (a.clock.monotonicMs() - backAt < settleMs) expect(held(a.runtime)).not.toContain(2);
    }
    expect(held(a.runtime)).toEqual([0, 1, 2]);
    expect(await epochOf(primary, 2)).toBe(shard2Epoch + 1);
  });

  it('two runtimes whose configs prefer the same shard never pull it back and forth: preferred by neither, reported', async () => {
    const primary = createFsStore({ root: tempDir() });
    const base = { BTC_TS_SHARDS: String(SHARDS), BTC_TS_PREFERRED_SETTLE_SECONDS: '1' };
    const a = await runtimeOn(primary, 'pc-a', { env: { ...base, BTC_TS_PREFERRED_SHARDS: 'pc-a=0,1,2' } });
    const b = await runtimeOn(primary, 'pc-b', { env: { ...base, BTC_TS_PREFERRED_SHARDS: 'pc-b=0' } });
    const all = [a, b];
    const step = async () => {
      for (const r of all) {
        r.clock.advance(HEARTBEAT_S * 1000);
        await r.beat();
        assertOneHolderPerShard(all.map((x) => x.runtime));
      }
    };
    await b.beat();
    for (let i = 0; i < 40; i++) await step();
    const epochs = await Promise.all([0, 1, 2, 3].map(async (k) => (await shardDoc(primary, k)).epoch));
    for (let i = 0; i < 40; i++) await step();
    expect(await Promise.all([0, 1, 2, 3].map(async (k) => (await shardDoc(primary, k)).epoch))).toEqual(epochs);
    // The uncontested preferences still hold: pc-a has its shards 1 and 2.
    expect(held(a.runtime)).toEqual(expect.arrayContaining([1, 2]));
    expect(events(a.runtime, 'collector.shards.preferred_conflict')[0]!.payload.conflicts).toEqual(['shard 0: pc-a, pc-b']);
    expect(events(b.runtime, 'collector.shards.preferred_conflict')[0]!.payload.conflicts).toEqual(['shard 0: pc-a, pc-b']);
  });
});
