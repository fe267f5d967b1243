// test/leader-shards.test.ts
// Shards of streams in-process: the stable stream → shard map, per-shard leases split by fair share, a survivor taking every shard after a lease, N refused while runtimes disagree.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../runtime/config.ts';
import { LEASE_KEY, leaseDocSchema } from '../runtime/lease.ts';
import { fnv1a, shardLeaseKey, shardMap, shardOfStream, shardStateOf } from '../runtime/leader/shards.ts';
import type { Runtime } from '../runtime/context.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import type { ObjectStore } from '../runtime/store/types.ts';
import { events, leaseRuntimes } from './helpers/lease-inproc.ts';

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
